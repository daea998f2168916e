#!/usr/bin/python3
"""The TSBS IoT queries (bench/tsbs) give the same answers on mqbase and on PostgreSQL 15.

A small TSBS "iot" data set (6 trucks, 26 hours: about 100,000 rows with TSBS's missing rows,
NULL fields and NULL names) goes into a private PostgreSQL 15 (TSBS's TimescaleDB schema,
bench/tsbs/tsbs_pg.py) and into mqbase tables (`tsbs_bench load`, in process). Every query
runs once on each: TSBS's TimescaleDB SQL on PostgreSQL, the mqbase rewrite on mqbase
(`tsbs_bench query`), and the answers must be the same: column names, rows as multisets,
floats to 1e-9 relative. A query mqbase cannot ask must say why (none is left), and
still run on PostgreSQL. This keeps the benchmark's rewrites honest as the engine changes.

Needs: PostgreSQL 15 (/usr/lib/postgresql/15/bin) and python3-psycopg2 (scripts/setup.sh
installs them); without them the test fails, unless MQBASE_SKIP_PG=1. The binary: TSBS_BENCH,
else bench/micro/tsbs_bench in MQBASE_BIN's build tree. PostgreSQL runs as user postgres
(when run as root) from a temp dir on an ephemeral port of 127.0.0.1 and is stopped with
pg_ctl stop.

    TSBS_BENCH=build/release/bench/micro/tsbs_bench /usr/bin/python3 tests/integration/test_tsbs_postgres.py -v
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "bench", "tsbs"))
import tsbs_pg  # noqa: E402

DATA = ["--trucks", "6", "--hours", "26", "--seed", "7"]


def find_tsbs_bench():
    explicit = os.environ.get("TSBS_BENCH")
    if explicit:
        return explicit
    binary = os.environ.get("MQBASE_BIN")
    if binary:
        d = os.path.dirname(os.path.abspath(binary))
        for _ in range(4):
            c = os.path.join(d, "bench", "micro", "tsbs_bench")
            if os.access(c, os.X_OK):
                return c
            d = os.path.dirname(d)
    for tree in ("release", "test", "dev"):
        c = os.path.join(ROOT, "build", tree, "bench", "micro", "tsbs_bench")
        if os.access(c, os.X_OK):
            return c
    raise AssertionError("no tsbs_bench binary: set TSBS_BENCH (ninja -C build/release tsbs_bench)")


class TsbsAgainstPostgres(unittest.TestCase):
    pg = None
    tmp = None

    @classmethod
    def setUpClass(cls):
        cls.bench = find_tsbs_bench()
        cls.pg = tsbs_pg.PgCluster()
        try:
            cls.pg.start()
        except tsbs_pg.PgMissing as e:
            cls.pg = None
            if os.environ.get("MQBASE_SKIP_PG") == "1":
                raise unittest.SkipTest("MQBASE_SKIP_PG=1: " + str(e))
            raise AssertionError(str(e) + " (set MQBASE_SKIP_PG=1 to skip this test)")
        try:
            cls.tmp = tempfile.mkdtemp(prefix="mqbase-tsbs-test-")
            cls.loaded_pg = tsbs_pg.load(cls.pg.port, cls.bench, DATA)
            r = subprocess.run([cls.bench, "load", "--dir", os.path.join(cls.tmp, "mq")] + DATA,
                               capture_output=True, text=True, timeout=240)
            if r.returncode != 0:
                raise AssertionError("tsbs_bench load failed:\n" + r.stderr)
            cls.loaded_mq = json.loads(r.stdout)
            r = subprocess.run([cls.bench, "query", "--dir", os.path.join(cls.tmp, "mq"), "--runs", "1",
                                "--warmup", "0", "--answers"] + DATA, capture_output=True, text=True, timeout=240)
            if r.returncode != 0:
                raise AssertionError("tsbs_bench query failed:\n" + r.stderr)
            cls.mq = {d["query"]: d for d in map(json.loads, r.stdout.splitlines())}
            cls.queries = tsbs_pg.queries(cls.bench, DATA)
            cls.pgans = {d["query"]: d for d in tsbs_pg.run_queries(cls.pg.port, cls.queries, 1, 0, answers=True)}
        except Exception:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        if cls.pg:
            cls.pg.stop()
            cls.pg = None
        if cls.tmp:
            shutil.rmtree(cls.tmp, ignore_errors=True)
            cls.tmp = None

    def test_same_rows_loaded(self):
        self.assertEqual(self.loaded_mq["readings"], self.loaded_pg["readings"])
        self.assertEqual(self.loaded_mq["diagnostics"], self.loaded_pg["diagnostics"])
        expected = 2 * 6 * 26 * 360
        # TSBS drops about 10.9 % of the rows (missing batches and entries).
        self.assertGreater(self.loaded_mq["rows"], 0.85 * expected)
        self.assertLess(self.loaded_mq["rows"], 0.93 * expected)

    def test_all_tsbs_iot_queries_present(self):
        self.assertEqual([q["name"] for q in self.queries], [
            "last-loc", "single-last-loc", "low-fuel", "high-load", "stationary-trucks", "long-driving-sessions",
            "long-daily-sessions", "avg-vs-projected-fuel-consumption", "avg-daily-driving-duration",
            "avg-daily-driving-session", "avg-load", "daily-activity", "breakdown-frequency"])

    def test_same_answers(self):
        nonempty = 0
        for q in self.queries:
            name = q["name"]
            with self.subTest(query=name):
                pg = self.pgans[name]
                mq = self.mq[name]
                self.assertEqual(pg["status"], "ok", "PostgreSQL: %s\n%s" % (pg.get("error"), q["postgres"]))
                if q["mqbase"] is None:
                    self.assertEqual(mq["status"], "unsupported")
                    self.assertTrue(q["unsupported"], "an unsupported query says why")
                    continue
                self.assertEqual(mq["status"], "ok", "mqbase: %s\n%s" % (mq.get("error"), q["mqbase"]))
                diff = tsbs_pg.compare(mq, pg)
                self.assertIsNone(diff, "%s\nmqbase:\n%s\nPostgreSQL:\n%s" % (diff, q["mqbase"], q["postgres"]))
                if pg["rows"]:
                    nonempty += 1
        # The check means something only when the answers have rows.
        self.assertGreaterEqual(nonempty, 7)


if __name__ == "__main__":
    unittest.main()
