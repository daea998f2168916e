#!/usr/bin/python3
"""Differential test of mqbase's SQL against PostgreSQL 15 (issue 12).

The same data set (tests/unit/query/sql_dataset.cpp) goes into a private PostgreSQL 15 and
into a running mqbase: the tables as [[table]] entries of the config, the rows over MQTT
(db/write/{table}, neo's {"data":{"columns","rows"}} JSON, QoS 1). Then every case of
tests/unit/query/conformance/*.test that PostgreSQL answers runs on both -- verbatim for
cases marked `pg`, as its ----pg block (an equivalent query: date_bin for time_bucket,
array_agg for first/last, generate_series for gap filling) otherwise -- mqbase's over HTTP
(POST /db/query, format json, bind params as a JSON array) and PostgreSQL's over psycopg2, and
the answers must be the same: column names, types (PostgreSQL's mapped to mqbase's as
regen.py maps them: sum(bigint) is bigint, avg(bigint) double precision), rows (in order,
or sorted for `rowsort` cases), floats to 6 significant digits; errors by message and
position. PostgreSQL's answer must also still be the expectation written in the file.
Window functions are also compared over the whole data set (WHOLE_DATA_SET_WINDOWS: more rows
than window.test can hold), mqbase's answer against PostgreSQL's alone.

Cases that use now() are skipped here (the HTTP API has no fixed clock; the unit test
conformance_test.cpp covers them with one). The cases of a file run in order, each file on a
fresh mqbase and a fresh PostgreSQL database, statements without `pg` run on mqbase as written
and on PostgreSQL as their ----pg block (ddl.test's CREATE TABLE), so both see the same tables.

Needs: PostgreSQL 15 (/usr/lib/postgresql/15/bin) and python3-psycopg2 (scripts/setup.sh
installs them); without them the test fails, unless MQBASE_SKIP_PG=1. The data set comes from
the unit-test binary query_unit_tests (MQBASE_QUERY_UNIT_TESTS, else found next to MQBASE_BIN's
build tree). PostgreSQL runs as user postgres (when run as root) from a temp dir on an
ephemeral port of 127.0.0.1 and is stopped with pg_ctl stop.

    MQBASE_BIN=build/test/mqbase /usr/bin/python3 tests/integration/test_sql_postgres.py -v
"""

import datetime
import json
import os
import re
import shutil
import sys
import tempfile
import unittest
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "unit", "query", "conformance"))
import regen  # noqa: E402

HTTP_TIMEOUT = 60.0


def find_unit_tests():
    explicit = os.environ.get("MQBASE_QUERY_UNIT_TESTS")
    if explicit:
        return explicit
    candidates = []
    binary = os.environ.get("MQBASE_BIN")
    if binary:
        # build/<tree>/mqbase or build/<tree>/src/app/mqbase: walk up to the tree's root.
        d = os.path.dirname(os.path.abspath(binary))
        for _ in range(4):
            candidates.append(os.path.join(d, "tests", "unit", "query", "query_unit_tests"))
            d = os.path.dirname(d)
    for c in candidates:
        if os.access(c, os.X_OK):
            return c
    return regen.find_unit_tests()


# ---------------------------------------------------------------------------------------------
# Answers in one canonical form: (kind, header cells [(name, type)], rows [[cell text]]).

NEO_TYPES = {"boolean": "bool", "int64": "int8", "double": "float8", "string": "text",
             "datetime": "timestamptz", "interval": "interval", "json": "json",
             "unknown": "unknown"}


def format_ns_timestamp(ns):
    secs, frac = divmod(int(ns), 1_000_000_000)
    t = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc) + datetime.timedelta(seconds=secs)
    out = t.strftime("%Y-%m-%d %H:%M:%S")
    if frac:
        out += ("." + "%09d" % frac).rstrip("0")
    return out + "+00"


def format_ns_interval(ns):
    ns = int(ns)
    day = 86_400 * 1_000_000_000
    days = int(ns / day)  # toward zero, as the C++ runner does
    rest = ns - days * day
    out = ""
    if days:
        out = "%d %s" % (days, "day" if days == 1 else "days")
    if rest or not days:
        if out:
            out += " "
        if rest < 0:
            out += "-"
        elif days < 0:
            out += "+"
        a = abs(rest)
        secs, frac = divmod(a, 1_000_000_000)
        out += "%02d:%02d:%02d" % (secs // 3600, secs // 60 % 60, secs % 60)
        if frac:
            out += ("." + "%09d" % frac).rstrip("0")
    return out


def mqbase_cell(value, type_name):
    if value is None:
        return "NULL"
    if type_name == "bool":
        return "t" if value else "f"
    if type_name == "float8":
        return regen.float_text(float(value))
    if type_name == "int8":
        return str(int(value))
    if type_name == "timestamptz":
        if isinstance(value, (int, float)):
            return format_ns_timestamp(value)
        return str(value)
    if type_name == "interval":
        if isinstance(value, (int, float)):
            return format_ns_interval(value)
        return str(value)
    if type_name in ("text", "json"):
        if not isinstance(value, str):
            value = json.dumps(value, separators=(",", ":"))
        return regen.cell_text(value, "text")
    return str(value)


def split_error(reason):
    """'column "x" does not exist at character 8' -> 'column "x" does not exist @8'."""
    m = re.match(r"^(.*?)(?: at character (\d+))?$", reason or "", re.S)
    return m.group(1) + (" @" + m.group(2) if m.group(2) else "")


def json_params(case):
    out = []
    for p in case.params:
        low = p.lower()
        if low == "null":
            out.append(None)
        elif low in ("true", "false"):
            out.append(low == "true")
        elif p.startswith("'"):
            out.append(p[1:-1].replace("''", "'"))
        elif re.fullmatch(r"-?\d+", p):
            out.append(int(p))
        else:
            out.append(float(p))
    return out


def floats_equal(a, b):
    if a == b:
        return True
    try:
        x, y = float(a), float(b)
    except ValueError:
        return False
    if x != x or y != y:
        return x != x and y != y
    if "%.6g" % x == "%.6g" % y:
        return True
    return abs(x - y) <= 1e-6 * max(abs(x), abs(y)) or abs(x - y) < 1e-12


def rows_differ(case, header, want_rows, got_rows):
    """None when equal, else what differs."""
    is_float = [t == "float8" for _, t in header]

    def key(row):
        return "\t".join(("%.6g" % float(c)) if f and c not in ("NULL",) and _is_number(c) else c
                         for c, f in zip(row, is_float))
    want, got = list(want_rows), list(got_rows)
    if len(want) != len(got):
        return "PostgreSQL has %d rows, mqbase %d" % (len(want), len(got))
    if case.flags & {"rowsort"}:
        want.sort(key=key)
        got.sort(key=key)
    for r, (w, g) in enumerate(zip(want, got)):
        if len(w) != len(g):
            return "row %d: %d cells against %d" % (r + 1, len(w), len(g))
        for k, (a, b) in enumerate(zip(w, g)):
            same = floats_equal(a, b) if is_float[k] else a == b
            if not same:
                return "row %d, column %s: PostgreSQL %r, mqbase %r" % (r + 1, header[k][0], a, b)
    return None


def _is_number(s):
    try:
        float(s)
        return True
    except ValueError:
        return False


# ---------------------------------------------------------------------------------------------

class MqbaseSql:
    """A running mqbase with the data set loaded; SQL over HTTP."""

    def __init__(self, test, dataset):
        tables = [{"name": t["name"], "columns": t["columns"]} for t in dataset["tables"]]
        config = {"http": {"listen": "127.0.0.1:0"}, "table": tables}
        self.broker = test.start_broker(config)
        self.http_port = self._http_port()
        pub = harness.PahoClient(port=self.broker.port)
        test.addCleanup(pub.close)
        for t in dataset["tables"]:
            names = [c.split()[0] for c in t["columns"]]
            rows = t["rows"]
            for i in range(0, len(rows), 100):
                payload = json.dumps({"data": {"columns": names, "rows": rows[i:i + 100]}})
                pub.publish("db/write/" + t["name"], payload, qos=1)
        pub.disconnect()
        for t in dataset["tables"]:
            kind, header, rows = self.query("SELECT count(*) FROM " + t["name"])
            if kind != "query" or rows != [[str(len(t["rows"]))]]:
                raise AssertionError("mqbase holds %r rows of %s, the data set %d"
                                     % (rows, t["name"], len(t["rows"])))

    def _http_port(self):
        with open(self.broker.ready_path) as f:
            ready = json.load(f)
        http = ready.get("http")
        if isinstance(http, dict) and http.get("port"):
            return int(http["port"])
        if isinstance(http, list) and http and http[0].get("port"):
            return int(http[0]["port"])
        if isinstance(http, str) and ":" in http:
            return int(http.rsplit(":", 1)[1])
        for listener in ready.get("listeners") or []:
            if str(listener.get("protocol", listener.get("type", ""))).lower() == "http":
                return int(listener["port"])
        raise AssertionError("the ready file names no HTTP listener: %r" % (ready,))

    def query(self, sql, params=None):
        body = {"q": sql, "format": "json", "timeformat": "ns"}
        if params:
            body["params"] = params
        req = urllib.request.Request("http://127.0.0.1:%d/db/query" % self.http_port,
                                     data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=HTTP_TIMEOUT) as r:
                answer = json.loads(r.read())
        except urllib.error.HTTPError as e:
            answer = json.loads(e.read() or b"{}")
        if not answer.get("success"):
            return "error", None, [[split_error(answer.get("reason", ""))]]
        data = answer.get("data")
        if not data or "columns" not in data:
            return "statement", None, []
        types = [NEO_TYPES.get(t, t) for t in data.get("types", [])]
        header = list(zip(data["columns"], types))
        rows = [[mqbase_cell(v, t) for v, (_, t) in zip(row, header)] for row in data.get("rows", [])]
        return "query", header, rows


class PostgresSql:
    def __init__(self, port, template, name):
        self.conn = regen.fresh_database(port, template, name)

    def run(self, sql, position_map=None):
        kind, lines = regen.pg_answer(self.conn, sql, position_map)
        if kind != "query":
            return kind, None, [[lines[0]]] if kind == "error" else []
        header = [tuple(cell.rsplit(":", 1)) for cell in lines[0].split("\t")] if lines[0] else []
        rows = [line.split("\t") for line in lines[1:]]
        return kind, header, rows

    def close(self):
        self.conn.close()


# Window functions over the whole data set, as loaded over MQTT (not by the unit tests' store):
# too many rows to write into window.test, so compared here only, mqbase against PostgreSQL.
# Every window's ORDER BY is total within its partition, so the answers are deterministic.
WHOLE_DATA_SET_WINDOWS = [
    "SELECT device, time, temp, lag(temp) OVER (PARTITION BY device ORDER BY time) AS prev, "
    "lead(temp, 2, -1) OVER (PARTITION BY device ORDER BY time) AS next2, "
    "row_number() OVER (PARTITION BY site ORDER BY time, device) AS rn FROM readings ORDER BY device, time",
    "SELECT device, time, cnt, rank() OVER (PARTITION BY site ORDER BY cnt DESC NULLS LAST) AS r, "
    "dense_rank() OVER (ORDER BY cnt) AS dr, sum(cnt) OVER (PARTITION BY device ORDER BY time) AS running, "
    "avg(temp) OVER (PARTITION BY device) AS a, count(hum) OVER (ORDER BY time) AS hums, "
    "min(note) OVER (PARTITION BY ok) AS least_note FROM readings ORDER BY device, time",
    "SELECT name, time, value, first_value(value) OVER (PARTITION BY name ORDER BY time) AS f, "
    "last_value(value) OVER (PARTITION BY name ORDER BY time) AS l, "
    "min(value) OVER (PARTITION BY name ORDER BY time) AS lo, max(value) OVER (PARTITION BY name ORDER BY time) AS hi "
    "FROM tag ORDER BY name, time",
    "SELECT device, date_trunc('hour', time) AS h, avg(temp) AS a, "
    "avg(temp) - lag(avg(temp)) OVER (PARTITION BY device ORDER BY date_trunc('hour', time)) AS change, "
    "rank() OVER (PARTITION BY date_trunc('hour', time) ORDER BY avg(temp) DESC NULLS LAST, device) AS place "
    "FROM readings GROUP BY device, h ORDER BY device, h",
    "SELECT device, time, ok FROM (SELECT device, time, ok, lag(ok) OVER (PARTITION BY device ORDER BY time) AS was "
    "FROM readings) s WHERE ok IS DISTINCT FROM was ORDER BY device, time",
    "SELECT device, time, temp, avg(temp) OVER (PARTITION BY device ORDER BY time ROWS BETWEEN 5 PRECEDING AND CURRENT ROW) "
    "AS moving, max(hum) OVER (PARTITION BY device ORDER BY time ROWS BETWEEN 2 PRECEDING AND 2 FOLLOWING) AS around, "
    "count(cnt) OVER (PARTITION BY site ORDER BY time, device ROWS BETWEEN CURRENT ROW AND UNBOUNDED FOLLOWING) AS rest, "
    "last_value(note) OVER (PARTITION BY device ORDER BY time ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING) "
    "AS last_note FROM readings ORDER BY device, time",
]


class SqlAgainstPostgres(harness.BrokerTestCase):
    """One test per conformance file; each case a subTest."""

    pg = None
    template = None
    dataset = None
    tmp = None

    @classmethod
    def setUpClass(cls):
        server = regen.PgServer()
        try:
            server.start()
        except regen.PgMissing as e:
            if os.environ.get("MQBASE_SKIP_PG") == "1":
                raise unittest.SkipTest("MQBASE_SKIP_PG=1: " + str(e))
            raise AssertionError(str(e) + " (set MQBASE_SKIP_PG=1 to skip this test)")
        cls.pg = server
        cls.tmp = tempfile.mkdtemp(prefix="mqbase-sqlpg-")
        try:
            dataset_sql, dataset_json = regen.dump_dataset(find_unit_tests(), cls.tmp)
            with open(dataset_json) as f:
                cls.dataset = json.load(f)
            cls.template = regen.load_template(server.port, dataset_sql)
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

    def setUp(self):
        pass  # each file starts its own broker

    def run_file(self, stem):
        path = os.path.join(ROOT, "tests", "unit", "query", "conformance", stem + ".test")
        cases = regen.parse_file(path)
        mq = MqbaseSql(self, self.dataset)
        pg = PostgresSql(self.pg.port, self.template, "diff_" + stem)
        self.addCleanup(pg.close)
        compared = 0
        for c in cases:
            pg_sql, position_map = regen.pg_query(c)
            uses_now = re.search(r"\bnow\(\)", c.sql, re.I) is not None
            if pg_sql is None or uses_now or "contains" in c.flags:
                # Not compared; statements still run on both so that the tables stay the same.
                mq.query(c.sql, json_params(c))
                if pg_sql is not None and c.kind != "query":
                    pg.run(pg_sql, position_map)
                continue
            compared += 1
            with self.subTest(case=c.name, line=c.line):
                want_kind, want_header, want_rows = pg.run(pg_sql, position_map)
                got_kind, got_header, got_rows = mq.query(c.sql, json_params(c))
                # PostgreSQL still says what the file says (else regen.py has to be run).
                if want_kind == "query":
                    pg_lines = ["\t".join("%s:%s" % h for h in want_header)] + ["\t".join(r) for r in want_rows]
                    self.assertEqual(pg_lines, c.expected, "%s:%d: the file's expectation is not PostgreSQL's "
                                     "answer any more (run tests/unit/query/conformance/regen.py)" % (path, c.line))
                elif want_kind == "error":
                    self.assertEqual([want_rows[0][0]], c.expected, "%s:%d: the file's expectation is not "
                                     "PostgreSQL's error any more (regen.py)" % (path, c.line))
                self.assertEqual(got_kind, want_kind, "%s\nmqbase: %s\nPostgreSQL: %s"
                                 % (c.sql, got_rows, want_rows))
                if want_kind == "error":
                    self.assertEqual(got_rows[0][0], want_rows[0][0], c.sql)
                elif want_kind == "query":
                    self.assertEqual([n for n, _ in got_header], [n for n, _ in want_header],
                                     "column names\n" + c.sql)
                    self.assertEqual([t for _, t in got_header], [t for _, t in want_header],
                                     "column types\n" + c.sql)
                    diff = rows_differ(c, want_header, want_rows, got_rows)
                    self.assertIsNone(diff, "%s\n%s" % (c.sql, diff))
        self.assertGreater(compared, 0, "no case of %s ran on both" % stem)


def _test_window_whole_data_set(self):
    mq = MqbaseSql(self, self.dataset)
    pg = PostgresSql(self.pg.port, self.template, "diff_window_whole")
    self.addCleanup(pg.close)

    class InOrder:
        flags = set()
    for sql in WHOLE_DATA_SET_WINDOWS:
        with self.subTest(sql=sql):
            want_kind, want_header, want_rows = pg.run(sql)
            got_kind, got_header, got_rows = mq.query(sql)
            self.assertEqual(want_kind, "query", "PostgreSQL: %s\n%s" % (want_rows, sql))
            self.assertEqual(got_kind, "query", "mqbase: %s\n%s" % (got_rows, sql))
            self.assertEqual(got_header, want_header, sql)
            self.assertGreater(len(want_rows), 50, sql)
            diff = rows_differ(InOrder, want_header, want_rows, got_rows)
            self.assertIsNone(diff, "%s\n%s" % (sql, diff))


SqlAgainstPostgres.test_window_whole_data_set = _test_window_whole_data_set


def _add_file_tests():
    directory = os.path.join(ROOT, "tests", "unit", "query", "conformance")
    for path in regen.case_files(directory):
        stem = os.path.splitext(os.path.basename(path))[0]
        if not any(c.pg or c.pg_sql for c in regen.parse_file(path)):
            continue

        def test(self, stem=stem):
            self.run_file(stem)
        setattr(SqlAgainstPostgres, "test_" + re.sub(r"\W", "_", stem), test)


_add_file_tests()

if __name__ == "__main__":
    unittest.main()
