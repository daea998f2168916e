#!/usr/bin/python3
"""The PostgreSQL 15 side of the TSBS IoT benchmark (bench/tsbs_compare.sh), and the check that
mqbase and PostgreSQL give the same answers (tests/integration/test_tsbs_postgres.py).

PostgreSQL gets TSBS's TimescaleDB schema on plain PostgreSQL: a `tags` table (id, the eight
tags; a unique index on all of them and one on name) and `readings` / `diagnostics` (time,
tags_id, the fields, additional_tags JSONB) with the indexes TSBS's loader makes by default,
(tags_id, time DESC) and (time DESC). TimescaleDB's time_bucket() is a SQL function over
date_bin() with TimescaleDB's origin (2000-01-03), which PostgreSQL inlines. The rows come from
`tsbs_bench gen` through COPY; then the indexes, VACUUM ANALYZE.

The cluster: initdb into a temp dir as the user postgres (runuser, when run as root), pg_ctl
start on an ephemeral port of 127.0.0.1 (Unix socket in the same dir), pg_ctl stop.

    tsbs_pg.py start --dir DIR [--bench-settings]     prints the port
    tsbs_pg.py stop --dir DIR                          pg_ctl stop, then removes DIR
    tsbs_pg.py load --port P --tsbs-bench BIN -- DATA  loads the data tsbs_bench DATA makes
    tsbs_pg.py query --port P --tsbs-bench BIN [--runs R] [--warmup W] [--only a,b] [--answers] -- DATA
    tsbs_pg.py settings --port P                       the settings that matter, one line
    tsbs_pg.py report RESULTS.jsonl                    medians, ratios and the answer check
"""

import datetime
import decimal
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

PG_BIN = os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin")
PG_USER = "postgres"
DBNAME = "tsbs"

TAGS = ["name", "fleet", "driver", "model", "device_version", "load_capacity", "fuel_capacity",
        "nominal_fuel_consumption"]
TAG_TYPES = ["TEXT"] * 5 + ["FLOAT"] * 3  # TSBS: string tags TEXT, float32 tags FLOAT
FIELDS = {
    "readings": ["latitude", "longitude", "elevation", "velocity", "heading", "grade", "fuel_consumption"],
    "diagnostics": ["fuel_state", "current_load", "status"],
}

# What a PostgreSQL user would set on this machine for an analytical load (23 GB of RAM, 2
# cores shared with others; the figures are stated with the results). fsync,
# synchronous_commit and full_page_writes are off: they only speed up the load, which is not
# measured; the queries only read.
BENCH_SETTINGS = {
    "shared_buffers": "4GB",
    "effective_cache_size": "12GB",
    "work_mem": "64MB",
    "maintenance_work_mem": "1GB",
    "max_wal_size": "16GB",
    "checkpoint_timeout": "30min",
    "random_page_cost": "1.1",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
}
# The test: defaults, but nothing it does needs to reach the disk.
TEST_SETTINGS = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}

SHOWN_SETTINGS = ["shared_buffers", "effective_cache_size", "work_mem", "maintenance_work_mem",
                  "max_parallel_workers_per_gather", "max_parallel_workers", "max_worker_processes", "jit",
                  "random_page_cost", "fsync", "synchronous_commit", "full_page_writes", "TimeZone"]


class PgMissing(Exception):
    pass


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def _as_postgres(cmd):
    if os.geteuid() == 0:
        return ["runuser", "-u", PG_USER, "--"] + cmd
    return cmd


def check_installed():
    if not os.access(os.path.join(PG_BIN, "initdb"), os.X_OK):
        raise PgMissing("PostgreSQL 15 is not installed (%s/initdb); scripts/setup.sh installs postgresql-15 and "
                        "python3-psycopg2" % PG_BIN)
    try:
        import psycopg2  # noqa: F401
    except ImportError:
        raise PgMissing("python3-psycopg2 is not installed (scripts/setup.sh installs it); run with /usr/bin/python3")


class PgCluster:
    """initdb + pg_ctl start in `directory` (a temp dir when None); stop() ends it and removes the dir."""

    def __init__(self, directory=None, settings=None):
        self.dir = directory
        self.settings = dict(settings or TEST_SETTINGS)
        self.port = None
        self.started = False

    @property
    def data(self):
        return os.path.join(self.dir, "data")

    def start(self):
        check_installed()
        if self.dir is None:
            self.dir = tempfile.mkdtemp(prefix="mqbase-tsbs-pg-")
        os.makedirs(self.dir, exist_ok=True)
        if os.geteuid() == 0:
            import pwd
            pw = pwd.getpwnam(PG_USER)
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        r = subprocess.run(_as_postgres([os.path.join(PG_BIN, "initdb"), "-D", self.data, "-A", "trust", "-U", PG_USER,
                                         "--no-sync", "-E", "UTF8", "--locale=C.UTF-8"]),
                           capture_output=True, text=True, timeout=300)
        if r.returncode != 0:
            raise RuntimeError("initdb failed:\n" + r.stdout + r.stderr)
        last = ""
        for _ in range(3):  # the port may be taken between the probe and the bind
            self.port = free_port()
            opts = "-p %d -k %s -c listen_addresses=127.0.0.1 -c TimeZone=UTC" % (self.port, self.dir)
            opts += "".join(" -c %s=%s" % kv for kv in self.settings.items())
            r = subprocess.run(_as_postgres([os.path.join(PG_BIN, "pg_ctl"), "-D", self.data, "-l",
                                             os.path.join(self.dir, "log"), "-o", opts, "-w", "-t", "120", "start"]),
                               capture_output=True, text=True, timeout=300)
            if r.returncode == 0:
                self.started = True
                conn = self.connect("postgres")
                conn.autocommit = True
                conn.cursor().execute("CREATE DATABASE " + DBNAME)
                conn.close()
                return self
            last = r.stdout + r.stderr
            try:
                with open(os.path.join(self.dir, "log")) as f:
                    last += f.read()[-2000:]
            except OSError:
                pass
        raise RuntimeError("pg_ctl start failed:\n" + last)

    def connect(self, dbname=DBNAME):
        return connect(self.port, dbname)

    def stop(self):
        if self.started:
            subprocess.run(_as_postgres([os.path.join(PG_BIN, "pg_ctl"), "-D", self.data, "-m", "fast", "-w",
                                         "-t", "300", "stop"]), capture_output=True, timeout=600)
            self.started = False
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None


def connect(port, dbname=DBNAME):
    import psycopg2
    return psycopg2.connect(host="127.0.0.1", port=port, user=PG_USER, dbname=dbname)


def stop_dir(directory):
    """pg_ctl stop for a cluster started by `start --dir` (from another process), then rm -rf."""
    data = os.path.join(directory, "data")
    if os.path.exists(os.path.join(data, "postmaster.pid")):
        subprocess.run(_as_postgres([os.path.join(PG_BIN, "pg_ctl"), "-D", data, "-m", "fast", "-w", "-t", "300",
                                     "stop"]), capture_output=True, timeout=600)
    shutil.rmtree(directory, ignore_errors=True)


# ---- schema and load -------------------------------------------------------------------------

SCHEMA = """
CREATE FUNCTION time_bucket(bucket_width interval, ts timestamptz) RETURNS timestamptz
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  AS $$ SELECT date_bin(bucket_width, ts, TIMESTAMPTZ '2000-01-03 00:00:00+00') $$;
CREATE TABLE tags(id INTEGER PRIMARY KEY, %(tags)s);
CREATE TABLE readings (time timestamptz, tags_id integer, %(readings)s, additional_tags JSONB DEFAULT NULL);
CREATE TABLE diagnostics (time timestamptz, tags_id integer, %(diagnostics)s, additional_tags JSONB DEFAULT NULL);
""" % {"tags": ", ".join("%s %s" % t for t in zip(TAGS, TAG_TYPES)),
       "readings": ", ".join("%s DOUBLE PRECISION" % f for f in FIELDS["readings"]),
       "diagnostics": ", ".join("%s DOUBLE PRECISION" % f for f in FIELDS["diagnostics"])}

INDEXES = [
    "CREATE UNIQUE INDEX uniq1 ON tags(%s)" % ", ".join(TAGS),
    "CREATE INDEX ON tags(name)",
    'CREATE INDEX ON readings(tags_id, "time" DESC)',
    'CREATE INDEX ON readings("time" DESC)',
    'CREATE INDEX ON diagnostics(tags_id, "time" DESC)',
    'CREATE INDEX ON diagnostics("time" DESC)',
]


def _copy(port, tsbs_bench, data_args, table):
    """tsbs_bench gen --table T | psql -c "COPY T FROM STDIN": a pipe, no file."""
    cols = ["id"] + TAGS if table == "tags" else ["time", "tags_id"] + FIELDS[table]
    gen = subprocess.Popen([tsbs_bench, "gen", "--table", table] + list(data_args), stdout=subprocess.PIPE)
    psql = subprocess.Popen([os.path.join(PG_BIN, "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1",
                             "-p", str(port), "-U", PG_USER, "-d", DBNAME, "-c",
                             "COPY %s(%s) FROM STDIN WITH (FORMAT csv)" % (table, ", ".join(cols))],
                            stdin=gen.stdout, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    gen.stdout.close()
    return gen, psql


def load(port, tsbs_bench, data_args, log=None):
    """Schema, COPY of the three tables (readings and diagnostics at once), indexes, VACUUM ANALYZE.
    Returns a dict of seconds and sizes."""
    out = {}
    conn = connect(port)
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute(SCHEMA)
    t0 = time.monotonic()
    procs = [_copy(port, tsbs_bench, data_args, t) for t in ("tags", "readings", "diagnostics")]
    for gen, psql in procs:
        _, err = psql.communicate()
        gen.wait()
        if psql.returncode != 0 or gen.returncode != 0:
            raise RuntimeError("COPY failed (gen %s, psql %s): %s" % (gen.returncode, psql.returncode,
                                                                     err.decode(errors="replace")[-2000:]))
    out["copy_s"] = time.monotonic() - t0
    if log:
        log("PostgreSQL: COPY took %.1f s" % out["copy_s"])
    t1 = time.monotonic()
    for sql in INDEXES:
        cur.execute(sql)
    out["index_s"] = time.monotonic() - t1
    t2 = time.monotonic()
    cur.execute("VACUUM ANALYZE")
    out["vacuum_analyze_s"] = time.monotonic() - t2
    if log:
        log("PostgreSQL: indexes %.1f s, VACUUM ANALYZE %.1f s" % (out["index_s"], out["vacuum_analyze_s"]))
    for table in ("readings", "diagnostics"):
        cur.execute("SELECT count(*), pg_table_size(%s), pg_indexes_size(%s) FROM " + table, (table, table))
        rows, heap, index = cur.fetchone()
        out[table] = rows
        out[table + "_heap_bytes"] = heap
        out[table + "_index_bytes"] = index
    out["rows"] = out["readings"] + out["diagnostics"]
    conn.close()
    return out


def settings_line(port):
    conn = connect(port)
    cur = conn.cursor()
    cur.execute("SELECT name, current_setting(name) FROM pg_settings WHERE name = ANY(%s) ORDER BY name",
                (SHOWN_SETTINGS,))
    line = " ".join("%s=%s" % r for r in cur.fetchall())
    cur.execute("SELECT version()")
    version = cur.fetchone()[0].split(" on ")[0]
    conn.close()
    return version, line


# ---- queries -------------------------------------------------------------------------------

def queries(tsbs_bench, data_args):
    r = subprocess.run([tsbs_bench, "queries"] + list(data_args), capture_output=True, text=True, check=True)
    return [json.loads(line) for line in r.stdout.splitlines() if line.strip()]


def _cell(v):
    """A PostgreSQL value as the JSON tsbs_bench writes: times and intervals in ns."""
    if isinstance(v, decimal.Decimal):
        return float(v)
    if isinstance(v, datetime.datetime):
        delta = v - datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
        return (delta.days * 86400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000
    if isinstance(v, datetime.timedelta):
        return (v.days * 86400 + v.seconds) * 1_000_000_000 + v.microseconds * 1000
    return v


_TICK = os.sysconf("SC_CLK_TCK")


def _ticks(pid, own_children=True):
    """CPU ticks of a process (with its reaped children's) and of its live children."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0
    t = sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
    if own_children:
        for task in os.listdir("/proc/%d/task" % pid):
            try:
                with open("/proc/%d/task/%s/children" % (pid, task)) as f:
                    t += sum(_ticks(int(c), False) for c in f.read().split())
            except OSError:
                pass
    return t


def run_queries(port, qs, runs, warmup, only=None, answers=False, emit=None):
    """Runs each query warmup times untimed, then runs times timed (execute + fetchall, client
    side). Returns one dict per query, as tsbs_bench query prints them; cpu_ms is the CPU time
    of the whole cluster over a run (the postmaster and every child: the backend, its parallel
    workers, and the background processes, which idle), in clock ticks (10 ms)."""
    conn = connect(port)
    conn.autocommit = True
    cur = conn.cursor()
    cur.execute("SELECT pg_backend_pid()")
    backend = cur.fetchone()[0]
    with open("/proc/%d/stat" % backend) as f:
        postmaster = int(f.read().rsplit(")", 1)[1].split()[1])
    out = []
    for q in qs:
        if only and q["name"] not in only:
            continue
        res = {"system": "postgres", "query": q["name"]}
        ms, cpu_ms = [], []
        rows = None
        try:
            for i in range(warmup + runs):
                c0 = _ticks(postmaster)
                t0 = time.perf_counter()
                cur.execute(q["postgres"])
                rows = cur.fetchall()
                took = (time.perf_counter() - t0) * 1000
                cpu = (_ticks(postmaster) - c0) * 1000.0 / _TICK
                if i >= warmup:
                    ms.append(took)
                    cpu_ms.append(cpu)
            res.update(status="ok", ms=ms, cpu_ms=cpu_ms, rows=len(rows))
            if answers:
                res["columns"] = [[d.name, str(d.type_code)] for d in cur.description]
                res["answer"] = [[_cell(v) for v in row] for row in rows]
        except Exception as e:  # a query error is a result, not the end of the run
            res.update(status="error", error=str(e).strip())
        out.append(res)
        if emit:
            emit(res)
    conn.close()
    return out


# ---- the answer check ----------------------------------------------------------------------

def _num(v):
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, (int, float)):
        return float(v)
    if v in ("NaN", "Infinity", "-Infinity"):
        return float(v.lower().replace("infinity", "inf"))
    return None


def _key(row):
    return [("0", "") if v is None else ("1", "%.6g" % _num(v)) if _num(v) is not None else ("2", str(v)) for v in row]


def _same(a, b):
    if a is None or b is None:
        return a is None and b is None
    x, y = _num(a), _num(b)
    if x is not None and y is not None:
        if x == y or (x != x and y != y):
            return True
        return abs(x - y) <= 1e-9 * max(abs(x), abs(y))
    return a == b


def compare(mq, pg):
    """None when the two answers are the same (column names; rows as multisets, floats to
    1e-9 relative), else what differs."""
    names_mq = [c[0] for c in mq.get("columns", [])]
    names_pg = [c[0] for c in pg.get("columns", [])]
    if names_mq != names_pg:
        return "columns: mqbase %s, PostgreSQL %s" % (names_mq, names_pg)
    a = sorted(mq["answer"], key=_key)
    b = sorted(pg["answer"], key=_key)
    if len(a) != len(b):
        return "mqbase %d rows, PostgreSQL %d" % (len(a), len(b))
    for i, (ra, rb) in enumerate(zip(a, b)):
        for k, (x, y) in enumerate(zip(ra, rb)):
            if not _same(x, y):
                return "row %d (sorted), column %s: mqbase %r, PostgreSQL %r" % (i + 1, names_pg[k], x, y)
    return None


# ---- report --------------------------------------------------------------------------------

def _fmt_ms(ms):
    if ms is None:
        return "–"
    if ms >= 100:
        return "{:,.0f}".format(ms)
    if ms >= 10:
        return "%.1f" % ms
    if ms >= 1:
        return "%.2f" % ms
    return "%.3f" % ms


def _fmt_ticks(ms):
    return "< 10" if ms < 10 else _fmt_ms(ms)


def _fmt_ratio(r):
    if r >= 10:
        return "%.0f" % r
    if r >= 1:
        return "%.1f" % r
    return "%.2g" % r


def report(lines, out=sys.stdout):
    """The markdown table of a run: per query the medians, PostgreSQL / mqbase, rows, same answer."""
    by = {}
    order = []
    meta = {}
    for d in lines:
        if d.get("kind"):
            meta[d["kind"]] = d
            continue
        if d["query"] not in by:
            order.append(d["query"])
        by.setdefault(d["query"], {})[d["system"]] = d
    print("| query | mqbase median ms | PostgreSQL median ms | PostgreSQL / mqbase | CPU ms mqbase / PostgreSQL | rows "
          "| same answer |", file=out)
    print("| --- | ---: | ---: | ---: | ---: | ---: | --- |", file=out)
    for name in order:
        m, p = by[name].get("mqbase", {}), by[name].get("postgres", {})
        mm = statistics.median(m["ms"]) if m.get("status") == "ok" else None
        pm = statistics.median(p["ms"]) if p.get("status") == "ok" else None
        if m.get("status") == "unsupported":
            mcell, ratio = "not supported", "–"
        elif m.get("status") == "error":
            mcell, ratio = "error: " + m.get("error", ""), "–"
        else:
            mcell = _fmt_ms(mm)
            ratio = _fmt_ratio(pm / mm) if mm and pm else "–"
        pcell = _fmt_ms(pm) if p.get("status") == "ok" else "error: " + p.get("error", "not run")
        rows = p.get("rows", m.get("rows", ""))
        same = "–"
        if m.get("status") == "ok" and p.get("status") == "ok" and "answer" in m and "answer" in p:
            diff = compare(m, p)
            same = "yes" if diff is None else "NO: " + diff
        cpu = "%s / %s" % (_fmt_ms(statistics.median(m["cpu_ms"])) if m.get("cpu_ms") else "–",
                           _fmt_ticks(statistics.median(p["cpu_ms"])) if p.get("cpu_ms") else "–")
        print("| %s | %s | %s | %s | %s | %s | %s |" % (name, mcell, pcell, ratio, cpu, rows, same), file=out)
    return by, order


# ---- CLI -----------------------------------------------------------------------------------

def _split_data_args(argv):
    if "--" in argv:
        i = argv.index("--")
        return argv[:i], argv[i + 1:]
    return argv, []


def main(argv):
    import argparse
    own, data_args = _split_data_args(argv)
    p = argparse.ArgumentParser(prog="tsbs_pg.py")
    p.add_argument("command", choices=["start", "stop", "load", "query", "settings", "report"])
    p.add_argument("file", nargs="?")
    p.add_argument("--dir")
    p.add_argument("--port", type=int)
    p.add_argument("--tsbs-bench")
    p.add_argument("--bench-settings", action="store_true")
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--only", default="")
    p.add_argument("--answers", action="store_true")
    a = p.parse_args(own)
    if a.command == "start":
        settings = dict(BENCH_SETTINGS) if a.bench_settings else dict(TEST_SETTINGS)
        for kv in os.environ.get("BENCH_PG_SETTINGS", "").split():
            k, v = kv.split("=", 1)
            settings[k] = v
        c = PgCluster(a.dir, settings)
        c.start()
        print(c.port)
    elif a.command == "stop":
        stop_dir(a.dir)
    elif a.command == "load":
        res = load(a.port, a.tsbs_bench, data_args, log=lambda s: print(s, file=sys.stderr, flush=True))
        print(json.dumps(res))
    elif a.command == "query":
        only = set(filter(None, a.only.split(",")))
        run_queries(a.port, queries(a.tsbs_bench, data_args), a.runs, a.warmup, only, a.answers,
                    emit=lambda r: print(json.dumps(r), flush=True))
    elif a.command == "settings":
        version, line = settings_line(a.port)
        print(version + "\t" + line)
    elif a.command == "report":
        with open(a.file) as f:
            report([json.loads(line) for line in f if line.strip()])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
