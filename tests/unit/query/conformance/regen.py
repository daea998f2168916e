#!/usr/bin/python3
"""The expectations of the SQL conformance table, from PostgreSQL 15.

Reads the .test files next to this script (format: tests/unit/query/conformance_test.cpp),
loads the conformance data set (tests/unit/query/sql_dataset.cpp) into a private PostgreSQL 15,
and for every case that PostgreSQL can answer computes the expected block:

  * a case marked `pg` runs verbatim (now() becomes the fixed instant 2024-01-02 12:00:00+00 and
    $1, $2, ... the values of its `params:` line, as literals);
  * a case with a `----pg` block runs that block instead: an equivalent query in PostgreSQL's
    own functions for the time-series functions PostgreSQL lacks (time_bucket is date_bin from
    2000-01-03, first/last are array_agg ordered by time, gap filling is generate_series with
    a left join, ...);
  * other cases (DESCRIBE, SHOW TABLES, EXPLAIN, table options) are written by hand and left
    alone.

The cases of a file run in order on a database of their own, as the C++ runner runs them, so
a file's statements (ddl.test) change what PostgreSQL's later cases see too.

PostgreSQL's answers are rendered in the file's form, with its result types mapped to
mqbase's: int2/int4 -> int8, float4 -> float8, numeric -> int8 when every value is integral
without a fraction (sum of bigint: PostgreSQL says numeric, mqbase bigint) else float8 (avg of
bigint, a decimal literal), varchar/unknown/name -> text, jsonb -> json.

    /usr/bin/python3 tests/unit/query/conformance/regen.py             # check: print differences
    /usr/bin/python3 tests/unit/query/conformance/regen.py --write     # rewrite the expectations
    ... --unit-tests build/test/tests/unit/query/query_unit_tests      # where the data set comes from
    ... --port 5433                                                    # a running server instead

The data set is dumped by the unit test binary (SqlDataset.IsFixedAndDumps with
MQBASE_SQL_DATASET_DUMP=dir). A private server: initdb into a temp dir (as user postgres when
run as root), pg_ctl on an ephemeral port of 127.0.0.1 and a socket in the temp dir, session
TimeZone UTC; stopped with pg_ctl stop at the end. Never the system cluster.

tests/integration/test_sql_postgres.py imports this module for the parser and the server.
"""

import argparse
import glob
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", "..", ".."))
PG_BIN = "/usr/lib/postgresql/15/bin"
NOW_LITERAL = "'2024-01-02 12:00:00+00'::timestamptz"


# ---------------------------------------------------------------------------------------------
# Cases

class Case:
    def __init__(self, path, line):
        self.path = path
        self.file = os.path.splitext(os.path.basename(path))[0]
        self.line = line
        self.kind = None
        self.name = None
        self.flags = set()
        self.params = []       # the params line's values, as SQL literal text
        self.sql = ""
        self.pg_sql = ""
        self.expected = []
        self.first_expected_line = 0   # 0-based index into the file's lines
        self.end_expected_line = 0

    @property
    def pg(self):
        return "pg" in self.flags

    def __repr__(self):
        return "%s:%d %s" % (self.path, self.line, self.name)


def split_params(text):
    """'1, 'a,b', NULL' -> ["1", "'a,b'", "NULL"] (literal text)."""
    out, cur, quoted = [], "", False
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "'":
            if quoted and i + 1 < len(text) and text[i + 1] == "'":
                cur += "''"
                i += 2
                continue
            quoted = not quoted
            cur += ch
        elif ch == "," and not quoted:
            out.append(cur.strip())
            cur = ""
        else:
            cur += ch
        i += 1
    if cur.strip():
        out.append(cur.strip())
    return out


def parse_file(path):
    with open(path) as f:
        lines = f.read().split("\n")
    cases = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if not line.strip() or line.startswith("#"):
            i += 1
            continue
        c = Case(path, i + 1)
        words = line.split()
        c.kind = words[0]
        if c.kind not in ("query", "statement", "error"):
            raise ValueError("%s:%d: expected query, statement or error" % (path, i + 1))
        c.name = words[1]
        c.flags = set(words[2:])
        i += 1
        if i < len(lines) and lines[i].startswith("params:"):
            c.params = split_params(lines[i][len("params:"):])
            i += 1
        target = "sql"
        sql, pg_sql = [], []
        while i < len(lines) and lines[i].strip():
            if lines[i] == "----pg":
                target = "pg"
            elif lines[i] == "----":
                i += 1
                break
            else:
                (sql if target == "sql" else pg_sql).append(lines[i])
            i += 1
        c.sql = "\n".join(sql)
        c.pg_sql = "\n".join(pg_sql)
        c.first_expected_line = i
        while i < len(lines) and lines[i] != "":
            c.expected.append(lines[i])
            i += 1
        c.end_expected_line = i
        cases.append(c)
    return cases


def case_files(directory=HERE):
    return sorted(glob.glob(os.path.join(directory, "*.test")))


def pg_query(case):
    """(SQL, position map) that PostgreSQL runs for the case, or (None, None) when it cannot.
    The map takes a 1-based position in that SQL back to the case's own text (now() and $N
    are replaced by literals of another length)."""
    if case.pg_sql:
        return case.pg_sql, lambda pos: pos
    if not case.pg:
        return None, None
    out, shifts = [], []  # shifts: (0-based index in the new text just after a replacement, growth so far)
    pos = 0
    new_len = 0
    growth = 0
    for m in re.finditer(r"\bnow\(\)|\$(\d+)", case.sql, re.IGNORECASE):
        if m.group(1) is not None:
            n = int(m.group(1))
            if n > len(case.params):
                continue
            replacement = case.params[n - 1]
        else:
            replacement = NOW_LITERAL
        out.append(case.sql[pos:m.start()])
        new_len += m.start() - pos
        out.append(replacement)
        new_len += len(replacement)
        growth += len(replacement) - (m.end() - m.start())
        shifts.append((new_len, growth))
        pos = m.end()
    out.append(case.sql[pos:])

    def back(p):
        g = 0
        for after, growth_so_far in shifts:
            if p - 1 >= after:
                g = growth_so_far
        return p - g
    return "".join(out), back


def pg_query_text(case):
    """What PostgreSQL runs for the case, or None when it cannot."""
    return pg_query(case)[0]


# ---------------------------------------------------------------------------------------------
# A private PostgreSQL 15

class PgMissing(Exception):
    pass


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
    finally:
        s.close()


class PgServer:
    """initdb + pg_ctl start in a temp dir, 127.0.0.1 on an ephemeral port; stop() ends it."""

    def __init__(self):
        self.dir = None
        self.port = None
        self.started = False

    def _as_postgres(self, cmd):
        if os.geteuid() == 0:
            return ["runuser", "-u", "postgres", "--"] + cmd
        return cmd

    def start(self):
        if not os.access(os.path.join(PG_BIN, "initdb"), os.X_OK):
            raise PgMissing("PostgreSQL 15 is not installed (%s/initdb); scripts/setup.sh installs "
                            "postgresql-15 and python3-psycopg2" % PG_BIN)
        try:
            import psycopg2  # noqa: F401
        except ImportError:
            raise PgMissing("python3-psycopg2 is not installed (scripts/setup.sh installs it)")
        self.dir = tempfile.mkdtemp(prefix="mqbase-pg-")
        if os.geteuid() == 0:
            import pwd
            pw = pwd.getpwnam("postgres")
            os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        data = os.path.join(self.dir, "data")
        r = subprocess.run(self._as_postgres([os.path.join(PG_BIN, "initdb"), "-D", data, "-A", "trust",
                                              "-U", "postgres", "--no-sync", "-E", "UTF8",
                                              "--locale=C.UTF-8"]),
                           capture_output=True, text=True, timeout=120)
        if r.returncode != 0:
            raise RuntimeError("initdb failed:\n" + r.stdout + r.stderr)
        last = None
        for _ in range(3):  # the port may be taken between the probe and the bind
            self.port = free_port()
            opts = ("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off "
                    "-c full_page_writes=off -c TimeZone=UTC" % (self.port, self.dir))
            r = subprocess.run(self._as_postgres([os.path.join(PG_BIN, "pg_ctl"), "-D", data, "-l",
                                                  os.path.join(self.dir, "log"), "-o", opts, "-w",
                                                  "-t", "60", "start"]),
                               capture_output=True, text=True, timeout=120)
            if r.returncode == 0:
                self.started = True
                return self
            last = r.stdout + r.stderr
            try:
                with open(os.path.join(self.dir, "log")) as f:
                    last += f.read()[-2000:]
            except OSError:
                pass
        raise RuntimeError("pg_ctl start failed:\n" + (last or ""))

    def stop(self):
        if self.started:
            subprocess.run(self._as_postgres([os.path.join(PG_BIN, "pg_ctl"), "-D",
                                              os.path.join(self.dir, "data"), "-m", "fast", "-w",
                                              "stop"]),
                           capture_output=True, timeout=120)
            self.started = False
        if self.dir:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False


# Types by OID, and what mqbase calls the type of such a result.
PG_TYPES = {16: "bool", 20: "int8", 21: "int8", 23: "int8", 700: "float8", 701: "float8",
            1700: "numeric", 25: "text", 1043: "text", 1042: "text", 19: "text", 705: "text",
            18: "text", 1184: "timestamptz", 1114: "timestamp", 1186: "interval", 114: "json",
            3802: "json", 1082: "date", 1083: "time", 26: "int8"}


def raw_text_connection(port, dbname):
    """A connection whose every value comes back as PostgreSQL's text output."""
    import psycopg2
    import psycopg2.extensions as ext
    conn = psycopg2.connect(host="127.0.0.1", port=port, user="postgres", dbname=dbname)
    conn.autocommit = True
    raw = ext.new_type(tuple(PG_TYPES.keys()) + (2950, 17, 1266), "RAWTEXT", lambda v, cur: v)
    ext.register_type(raw, conn)
    with conn.cursor() as cur:
        cur.execute("SET TimeZone = 'UTC'; SET IntervalStyle = 'postgres'; SET DateStyle = 'ISO, MDY'; "
                    "SET extra_float_digits = 1")
    return conn


def float_text(x):
    """A double as PostgreSQL 15 prints float8 (shortest exact)."""
    if x != x:
        return "NaN"
    if x in (float("inf"), float("-inf")):
        return "Infinity" if x > 0 else "-Infinity"
    s = repr(x)
    if s.endswith(".0"):
        s = s[:-2]
    if "e" in s:
        mant, exp = s.split("e")
        if mant.endswith(".0"):
            mant = mant[:-2]
        sign = exp[0] if exp[0] in "+-" else "+"
        digits = exp.lstrip("+-").rjust(2, "0")
        s = "%se%s%s" % (mant, sign, digits)
    return s


def cell_text(value, type_name):
    if value is None:
        return "NULL"
    if type_name == "float8":
        return float_text(float(value))
    if type_name == "text" or type_name == "json":
        if value == "":
            return "(empty)"
        return value.replace("\t", "\\t").replace("\n", "\\n")
    return value


def pg_answer(conn, sql, position_map=None):
    """(kind, lines) for one statement: ("query", [header, rows...]), ("statement", [tag]) or
    ("error", ["message @pos"]; position_map takes the position back to the case's text)."""
    import psycopg2
    cur = conn.cursor()
    try:
        cur.execute(sql)
    except psycopg2.Error as e:
        msg = e.diag.message_primary or str(e).strip()
        pos = e.diag.statement_position
        if pos and position_map:
            pos = str(position_map(int(pos)))
        return "error", [msg + (" @" + pos if pos else "")]
    if cur.description is None:
        return "statement", [cur.statusmessage]
    rows = cur.fetchall()
    types = []
    for k, d in enumerate(cur.description):
        t = PG_TYPES.get(d.type_code, "oid%d" % d.type_code)
        if t == "numeric":
            values = [r[k] for r in rows if r[k] is not None]
            if values:
                t = "int8" if all("." not in v and "e" not in v.lower() and v not in ("NaN",) for v in values) else "float8"
            else:
                t = "int8" if d.name == "sum" else "float8"
        types.append(t)
    header = "\t".join("%s:%s" % (d.name, t) for d, t in zip(cur.description, types))
    out = [header]
    for r in rows:
        out.append("\t".join(cell_text(v, t) for v, t in zip(r, types)))
    return "query", out


def dump_dataset(unit_tests, into):
    """dataset.sql and dataset.json of the C++ builder, into the directory `into`."""
    env = dict(os.environ, MQBASE_SQL_DATASET_DUMP=into)
    r = subprocess.run([unit_tests, "--gtest_filter=SqlDataset.IsFixedAndDumps"], env=env,
                       capture_output=True, text=True, timeout=300)
    if not os.path.exists(os.path.join(into, "dataset.sql")):
        raise RuntimeError("%s wrote no dataset.sql:\n%s%s" % (unit_tests, r.stdout, r.stderr))
    return os.path.join(into, "dataset.sql"), os.path.join(into, "dataset.json")


def find_unit_tests(explicit=None):
    candidates = [explicit, os.environ.get("MQBASE_QUERY_UNIT_TESTS")]
    candidates += [os.path.join(ROOT, b, "tests/unit/query/query_unit_tests")
                   for b in ("build/test", "build", "build/release")]
    for c in candidates:
        if c and os.access(c, os.X_OK):
            return c
    raise RuntimeError("query_unit_tests not found: pass --unit-tests or set MQBASE_QUERY_UNIT_TESTS")


def load_template(port, dataset_sql, name="conformance_template"):
    """A database holding the data set, to CREATE DATABASE ... TEMPLATE from."""
    import psycopg2
    conn = psycopg2.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres")
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("DROP DATABASE IF EXISTS %s" % name)
        cur.execute("CREATE DATABASE %s" % name)
    conn.close()
    conn = psycopg2.connect(host="127.0.0.1", port=port, user="postgres", dbname=name)
    conn.autocommit = True
    with open(dataset_sql) as f, conn.cursor() as cur:
        cur.execute("SET TimeZone = 'UTC'")
        cur.execute(f.read())
    conn.close()
    return name


def fresh_database(port, template, name):
    import psycopg2
    conn = psycopg2.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres")
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("DROP DATABASE IF EXISTS %s" % name)
        cur.execute("CREATE DATABASE %s TEMPLATE %s" % (name, template))
    conn.close()
    return raw_text_connection(port, name)


# ---------------------------------------------------------------------------------------------
# Regeneration

def regenerate(port, template, files, write):
    """Returns the number of cases whose expectation differs from PostgreSQL's answer."""
    differing = 0
    answered = 0
    for path in files:
        cases = parse_file(path)
        with open(path) as f:
            lines = f.read().split("\n")
        stem = os.path.splitext(os.path.basename(path))[0]
        conn = fresh_database(port, template, "conf_" + re.sub(r"\W", "_", stem))
        replacements = []
        for c in cases:
            sql, position_map = pg_query(c)
            if sql is None:
                continue
            kind, got = pg_answer(conn, sql, position_map)
            answered += 1
            if kind != c.kind:
                print("%s:%d %s: PostgreSQL answers with a %s: %s" % (path, c.line, c.name, kind, got[0]))
                differing += 1
                continue
            if got != c.expected:
                differing += 1
                print("%s:%d %s:\n  file: %s\n  pg:   %s" % (path, c.line, c.name,
                                                            "\n        ".join(c.expected),
                                                            "\n        ".join(got)))
                replacements.append((c.first_expected_line, c.end_expected_line, got))
        conn.close()
        if write and replacements:
            for first, end, got in sorted(replacements, reverse=True):
                lines[first:end] = got
            with open(path, "w") as f:
                f.write("\n".join(lines))
    print("%d cases answered by PostgreSQL, %d differ%s" % (answered, differing,
                                                            " (rewritten)" if write and differing else ""))
    return differing


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--write", action="store_true", help="rewrite the expectations that differ")
    ap.add_argument("--unit-tests", help="the query_unit_tests binary (dumps the data set)")
    ap.add_argument("--dataset", help="a dataset.sql already dumped")
    ap.add_argument("--port", type=int, help="a running PostgreSQL on 127.0.0.1 (user postgres, trust)")
    ap.add_argument("files", nargs="*", help=".test files (default: all)")
    args = ap.parse_args()
    files = args.files or case_files()
    tmp = tempfile.mkdtemp(prefix="mqbase-regen-")
    server = None
    try:
        dataset_sql = args.dataset or dump_dataset(find_unit_tests(args.unit_tests), tmp)[0]
        port = args.port
        if not port:
            server = PgServer().start()
            port = server.port
        template = load_template(port, dataset_sql)
        differing = regenerate(port, template, files, args.write)
        return 1 if differing and not args.write else 0
    finally:
        if server:
            server.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
