#!/usr/bin/python3
"""`mqbase sql`, the SQL shell (docs/cli.md#mqbase-sql), against a real server.

One server for the class, its HTTP API on an ephemeral loopback port (the harness's
[http] listen = "127.0.0.1:0"), rows written over MQTT (db/append/readings:ndjson, QoS 1: the
PUBACK waits until they are stored). Then:

  - `-e QUERY` in box, csv, json and ndjson, with --tz and --timeformat; an SQL error (exit 1,
    the server's reason and psql's LINE/caret on stderr); several statements in one -e;
  - a script on stdin: statements split at the ';' that end them (not those in quotes, dollar
    quotes, comments or parentheses), run in order, a last one without ';' run at the end, and
    the first error stops it (exit 1; the statements before it ran, those after did not);
  - no server: exit 2 and a message naming where it tried;
  - a fake HTTP server (a thread here) for what a real query cannot show on cue: a chunked
    answer prints as it arrives, an answer cut short is an error (exit 1), so is an error the
    server writes at the end of a streamed json or ndjson answer;
  - the interactive shell under tmux: send keys, read the screen (capture-pane): a query over
    three lines ("...>" prompts), the boxed table, an error and the shell going on, the up
    arrow recalling the query from the history, \\timing, Ctrl-C dropping a line, \\q leaving
    (exit 0) with the history in ~/.mqbase_sql_history.

mqbase only: mosquitto has no HTTP API.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (HOST, TIMEOUT, SANITIZER_PATTERNS, Broker, PahoClient, free_port,  # noqa: E402
                     is_mosquitto, mqbase_binary, run_tests, wait_for)

T0 = 1_700_000_000_000_000_000  # 2023-11-14T22:13:20Z in ns
SECOND = 1_000_000_000
TMUX = shutil.which("tmux") or "/usr/bin/tmux"

BOX = """\
+--------+-------+
| device | temp  |
+--------+-------+
| d1     |  21.5 |
| d2     |    19 |
| d3     | 25.25 |
+--------+-------+
(3 rows)
"""
AT_T0 = "time = '2023-11-14T22:13:20Z'"  # T0
QUERY = "SELECT device, temp FROM readings WHERE %s ORDER BY device" % AT_T0


def assert_no_sanitizer_report(testcase, text, what):
    for pattern in SANITIZER_PATTERNS:
        testcase.assertNotIn(pattern, text, "%s: sanitizer report\n%s" % (what, text[-5000:]))


class ShellCase(unittest.TestCase):
    """Runs `mqbase sql` as a child process."""

    maxDiff = 4000

    def sql(self, args, stdin="", url=None, timeout=60):
        """(exit code, stdout, stderr) of `mqbase sql --url URL ARGS` with `stdin` as a pipe."""
        cmd = [mqbase_binary(), "sql", "--url", url or self.url] + list(args)
        r = subprocess.run(cmd, input=stdin.encode(), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=timeout)
        out, err = r.stdout.decode("utf-8", "replace"), r.stderr.decode("utf-8", "replace")
        assert_no_sanitizer_report(self, err, " ".join(cmd))
        return r.returncode, out, err


class ServerFixture:
    """One server for the class, with readings from three devices written over MQTT."""

    broker = None

    @classmethod
    def setUpClass(cls):
        if is_mosquitto():
            raise unittest.SkipTest("mosquitto has no HTTP API")
        cls.broker = Broker()
        cls.broker.start()
        try:
            assert cls.broker.http_port, "the ready file names no HTTP port"
            cls.url = "http://%s:%d" % (HOST, cls.broker.http_port)
            pub = PahoClient(cls.broker.port)
            try:
                rows = [{"device": "d1", "time": T0, "temp": 21.5},
                        {"device": "d2", "time": T0, "temp": 19.0},
                        {"device": "d3", "time": T0, "temp": 25.25},
                        {"device": "d1", "time": T0 + 60 * SECOND, "temp": 22.0}]
                pub.publish("db/append/readings:ndjson", "\n".join(json.dumps(r) for r in rows) + "\n", qos=1)
            finally:
                pub.close()
        except BaseException:
            cls.broker.stop(check=False)
            raise

    @classmethod
    def tearDownClass(cls):
        if cls.broker:
            cls.broker.stop()


class SqlShell(ServerFixture, ShellCase):
    # -- -e ---------------------------------------------------------------------------------

    def test_execute_box(self):
        code, out, err = self.sql(["-e", QUERY])
        self.assertEqual((code, err), (0, ""))
        self.assertEqual(out, BOX)

    def test_execute_csv(self):
        code, out, err = self.sql(["-e", QUERY, "--format", "csv"])
        self.assertEqual((code, err), (0, ""))
        self.assertEqual(out, "device,temp\nd1,21.5\nd2,19\nd3,25.25\n")

    def test_execute_json(self):
        code, out, err = self.sql(["-e", QUERY, "--format", "json"])
        self.assertEqual((code, err), (0, ""))
        self.assertTrue(out.endswith("}\n"), out)
        doc = json.loads(out)
        self.assertTrue(doc["success"], doc)
        self.assertEqual(doc["data"]["columns"], ["device", "temp"])
        self.assertEqual(doc["data"]["rows"], [["d1", 21.5], ["d2", 19], ["d3", 25.25]])

    def test_execute_ndjson(self):
        code, out, err = self.sql(["-e", QUERY + " LIMIT 2", "--format", "ndjson"])
        self.assertEqual((code, err), (0, ""))
        self.assertEqual([json.loads(l) for l in out.splitlines()],
                         [{"device": "d1", "temp": 21.5}, {"device": "d2", "temp": 19}])

    def test_times_in_box_and_with_tz_and_timeformat(self):
        q = "SELECT time FROM readings WHERE device = 'd1' ORDER BY time"
        code, out, err = self.sql(["-e", q])
        self.assertEqual((code, err), (0, ""))
        self.assertIn("| 2023-11-14 22:13:20+00 |", out)
        self.assertIn("| 2023-11-14 22:14:20+00 |", out)
        code, out, err = self.sql(["-e", q, "--format", "csv"])  # the API's default: ns
        self.assertEqual(out, "time\n%d\n%d\n" % (T0, T0 + 60 * SECOND))
        code, out, err = self.sql(["-e", q, "--format", "csv", "--tz", "+09:00", "--timeformat", "rfc3339"])
        self.assertEqual((code, err), (0, ""))
        self.assertEqual(out, "time\n2023-11-15T07:13:20+09:00\n2023-11-15T07:14:20+09:00\n")
        code, out, err = self.sql(["-e", q, "--tz", "Asia/Seoul"])
        self.assertIn("| 2023-11-15 07:13:20+09 |", out)

    def test_execute_sql_error(self):
        code, out, err = self.sql(["-e", "SELECT *\nFORM readings"])
        self.assertEqual(code, 1, err)
        self.assertEqual(out, "")
        self.assertEqual(err, 'ERROR:  syntax error at or near "FORM" at character 10\n'
                              "LINE 2: FORM readings\n"
                              "        ^\n")
        for fmt in ("csv", "json", "ndjson"):  # the reason whatever the format
            code, out, err = self.sql(["-e", "SELECT * FORM readings", "--format", fmt])
            self.assertEqual((code, out), (1, ""), fmt)
            self.assertEqual(err, 'ERROR:  syntax error at or near "FORM" at character 10\n'
                                  "LINE 1: SELECT * FORM readings\n"
                                  "                 ^\n", fmt)
        code, out, err = self.sql(["-e", "SELECT nope FROM readings"])
        self.assertEqual(code, 1)
        self.assertIn('ERROR:  column "nope" does not exist at character 8\n'
                      "LINE 1: SELECT nope FROM readings\n"
                      "               ^\n", err)
        code, out, err = self.sql(["-e", "SELECT 1", "--tz", "Mars/Olympus"])
        self.assertEqual(code, 1)
        self.assertIn("Mars/Olympus", err)

    def test_execute_several_statements(self):
        code, out, err = self.sql(["-e", "SELECT 1 AS a; SELECT 'x;y' AS b", "--format", "csv"])
        self.assertEqual((code, err), (0, ""))
        self.assertEqual(out, "a\n1\nb\nx;y\n")
        code, out, err = self.sql(["-e", "SELECT 1 AS a; SELECT nope; SELECT 3 AS c", "--format", "csv"])
        self.assertEqual(code, 1)
        self.assertEqual(out, "a\n1\n")
        self.assertIn('column "nope" does not exist', err)

    # -- a script on stdin ------------------------------------------------------------------

    def test_script_splits_statements_as_postgresql_reads_them(self):
        script = (
            "-- a comment; not a statement\n"
            "SELECT 'a;b' AS s;\n"
            "SELECT $$c;d$$ AS s; SELECT $x$e;'f$x$ AS s;\n"
            "SELECT /* ; /* nested ; */ */ 'g' AS s;\n"
            "SELECT E'h\\';' AS s;\n"
            "SELECT \"s\" FROM (SELECT 'i;' AS \"s\") AS t;\n"
            "SELECT length('j\n;k') AS s;\n"
            ";;\n"
            "SELECT count(*) AS s\n"
            "  FROM readings\n"
            "  WHERE device IN ('d1', 'd2')\n"
            "  -- the last statement has no ';'\n")
        code, out, err = self.sql(["--format", "csv"], stdin=script)
        self.assertEqual((code, err), (0, ""))
        self.assertEqual(out.split("\n"),
                         ["s", "a;b", "s", "c;d", "s", "e;'f", "s", "g", "s", "h';", "s", "i;", "s", "4",
                          "s", "3", ""])

    def test_script_stops_at_the_first_error(self):
        table = "script_%d" % os.getpid()
        script = (
            "CREATE TABLE %(t)s (time TIMESTAMPTZ, name TAG, v DOUBLE PRECISION);\n"
            "INSERT INTO %(t)s VALUES ('2023-11-14T22:13:20Z', 'a', 1);\n"
            "\n"
            "SELECT v\n"
            "  FROM nosuch;\n"
            "INSERT INTO %(t)s VALUES ('2023-11-14T22:13:21Z', 'b', 2);\n" % {"t": table})
        code, out, err = self.sql([], stdin=script)
        self.assertEqual(code, 1, out + err)
        self.assertEqual(out, "CREATE TABLE\nINSERT 0 1\n")
        self.assertEqual(err, 'mqbase sql: <stdin>:4: ERROR:  relation "nosuch" does not exist at character 17\n'
                              "LINE 2:   FROM nosuch\n"
                              "               ^\n")
        code, out, err = self.sql(["-e", "SELECT name, v FROM %s" % table, "--format", "csv"])
        self.assertEqual((code, err), (0, ""))
        self.assertEqual(out, "name,v\na,1\n", "the statements before the error ran, those after did not")
        self.sql(["-e", "DROP TABLE %s" % table])

    def test_backslash_commands_in_a_script(self):
        code, out, err = self.sql([], stdin="\\timing\nSELECT 1 AS n;\n\\q\nSELECT nope;\n")
        self.assertEqual((code, err), (0, ""))
        self.assertIn("Timing is on.\n", out)
        self.assertRegex(out, r"\(1 row\)\nTime: \d+\.\d{3} ms\n")
        code, out, err = self.sql([], stdin="\\d\n")
        self.assertEqual(code, 0, err)
        self.assertIn("| readings ", out)
        code, out, err = self.sql([], stdin="\\d readings\n")
        self.assertEqual(code, 0, err)
        self.assertRegex(out, r"\| temp +\| DOUBLE +\| field +\|")
        code, out, err = self.sql([], stdin="\\nonsense\nSELECT 1;\n")
        self.assertEqual((code, out), (1, ""))
        self.assertIn("invalid command \\nonsense", err)

    # -- no server --------------------------------------------------------------------------

    def test_no_server_is_exit_2(self):
        port = free_port()
        url = "http://127.0.0.1:%d" % port
        for args, stdin in ((["-e", "SELECT 1"], ""), ([], "SELECT 1;\nSELECT 2;\n")):
            code, out, err = self.sql(args, stdin=stdin, url=url)
            self.assertEqual(code, 2, err)
            self.assertEqual(out, "")
            self.assertIn("cannot reach the server at %s: Connection refused" % url, err)
            self.assertIn("--url", err)
        code, out, err = self.sql(["-e", "SELECT 1"], url="http://[::1:x")
        self.assertEqual(code, 2)
        self.assertIn("--url", err)
        # The MQTT port is not the HTTP one: no HTTP answer there.
        code, out, err = self.sql(["-e", "SELECT 1"], url="http://127.0.0.1:%d" % self.broker.port)
        self.assertEqual(code, 2, err)
        self.assertIn("is this mqbase's HTTP port?", err)


# ------------------------------------------------------------------------------------------
# A fake server, for answers a real query cannot give on cue

class FakeHttpServer:
    """Answers GET /health itself and every other request with `script(conn)`, one
    connection at a time; what it received is in `requests`."""

    def __init__(self, script):
        self.script = script
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((HOST, 0))
        self.sock.listen(4)
        self.url = "http://%s:%d" % (HOST, self.sock.getsockname()[1])
        self.requests = []
        self.errors = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            try:
                self._answer(conn)
            except Exception as e:  # reported by the test
                self.errors.append(e)
            finally:
                conn.close()

    def _answer(self, conn):
        conn.settimeout(30)
        data = b""
        while b"\r\n\r\n" not in data:
            got = conn.recv(65536)
            if not got:
                return
            data += got
        head, _, body = data.partition(b"\r\n\r\n")
        if head.startswith(b"GET /health "):
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 15\r\n\r\n{\"status\":\"ok\"}")
            return
        length = [int(l.split(b":")[1]) for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")]
        while length and len(body) < length[0]:
            body += conn.recv(65536)
        self.requests.append((head, body))
        self.script(conn)

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the accept() (close() alone does not)
        except OSError:
            pass
        self.sock.close()
        self.thread.join(10)


def chunk(data):
    return b"%x\r\n%s\r\n" % (len(data), data)


HEAD_CSV = b"HTTP/1.1 200 OK\r\nContent-Type: text/csv; charset=utf-8\r\nTransfer-Encoding: chunked\r\n\r\n"
HEAD_JSON = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"


class SqlShellStreams(ShellCase):
    def setUp(self):
        if is_mosquitto():
            self.skipTest("mqbase only")

    def fake(self, script):
        server = FakeHttpServer(script)
        self.addCleanup(server.close)
        self.url = server.url
        return server

    def test_a_chunked_answer_prints_as_it_arrives(self):
        go_on = threading.Event()

        def script(conn):
            conn.sendall(HEAD_CSV + chunk(b"n\n1\n"))
            assert go_on.wait(30), "the first rows were never seen"
            conn.sendall(chunk(b"2\n") + b"0\r\n\r\n")

        server = self.fake(script)
        proc = subprocess.Popen([mqbase_binary(), "sql", "--url", self.url, "-e", "SELECT n FROM t",
                                 "--format", "csv"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        try:
            self.assertEqual(proc.stdout.readline(), b"n\n")
            self.assertEqual(proc.stdout.readline(), b"1\n")  # before the server sends the rest
            go_on.set()
            out, err = proc.communicate(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        self.assertEqual((proc.returncode, out, err), (0, b"2\n", b""))
        self.assertEqual(server.errors, [])
        head, body = server.requests[0]
        self.assertTrue(head.startswith(b"POST /db/query HTTP/1.1\r\n"), head)
        self.assertIn(b"q=SELECT+n+FROM+t", body)
        self.assertIn(b"format=csv", body)

    def test_an_answer_cut_short_is_an_error(self):
        def script(conn):
            conn.sendall(HEAD_CSV + chunk(b"n\n1\n"))  # and the close, without the last chunk

        self.fake(script)
        code, out, err = self.sql(["-e", "SELECT n FROM t", "--format", "csv"])
        self.assertEqual(code, 1)
        self.assertEqual(out, "n\n1\n")
        self.assertIn("ERROR:  the answer was cut short", err)

    def test_an_error_at_the_end_of_a_streamed_answer(self):
        def json_script(conn):
            conn.sendall(HEAD_JSON + chunk(b'{"data":{"columns":["n"],"types":["int64"],"rows":[[1]')
                         + chunk(b']},"success":false,"reason":"canceling statement due to statement timeout",'
                                 b'"elapse":"30s"}') + b"0\r\n\r\n")

        self.fake(json_script)
        code, out, err = self.sql(["-e", "SELECT n FROM t", "--format", "json"])
        self.assertEqual(code, 1)
        self.assertFalse(json.loads(out)["success"])
        self.assertEqual(err, "ERROR:  canceling statement due to statement timeout\n")

        def ndjson_script(conn):
            conn.sendall(HEAD_JSON + chunk(b'{"n":1}\n{"success":false,"reason":"out of memory \\"x\\"",'
                                           b'"elapse":"1s"}\n') + b"0\r\n\r\n")

        self.fake(ndjson_script)
        code, out, err = self.sql(["-e", "SELECT n FROM t", "--format", "ndjson"])
        self.assertEqual(code, 1)
        self.assertEqual(err, 'ERROR:  out of memory "x"\n')

    def test_an_answer_that_is_not_mqbase(self):
        def script(conn):
            conn.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nnot here\n")

        self.fake(script)
        code, out, err = self.sql(["-e", "SELECT 1"])
        self.assertEqual(code, 1)
        self.assertEqual(err, "ERROR:  HTTP 404: not here\n")


# ------------------------------------------------------------------------------------------
# The interactive shell under tmux

class Tmux:
    """A private tmux server (its own socket) running one command in a 200x50 window."""

    def __init__(self, command, env):
        self.dir = tempfile.mkdtemp(prefix="mqbase-tmux-")
        self.socket = os.path.join(self.dir, "tmux.sock")
        env_args = []
        for k, v in env.items():
            env_args += ["-e", "%s=%s" % (k, v)]
        # a shell command (sh -c); the pane stays after it ends, to be read
        self.run("-f", "/dev/null", "new-session", "-d", "-x", "200", "-y", "50", *env_args,
                 " ".join(command), ";", "set-option", "-g", "remain-on-exit", "on")

    def run(self, *args):
        r = subprocess.run([TMUX, "-S", self.socket] + list(args), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=30)
        if r.returncode != 0:
            raise AssertionError("tmux %s: %s" % (" ".join(args), r.stderr.decode()))
        return r.stdout.decode("utf-8", "replace")

    def keys(self, *keys):
        self.run("send-keys", "-t", "0", *keys)

    def type(self, text):
        # tmux reads an argument ending in ';' as a command separator: "\\;" is a literal one
        if text.endswith(";"):
            text = text[:-1] + "\\;"
        self.run("send-keys", "-t", "0", "-l", text)

    def screen(self):
        # -J joins wrapped lines; -S -: the scrollback too
        return self.run("capture-pane", "-p", "-J", "-S", "-", "-t", "0")

    def wait_screen(self, predicate, message, timeout=TIMEOUT * 4):
        last = [""]

        def check():
            last[0] = self.screen()
            return predicate(last[0])

        try:
            wait_for(check, timeout=timeout, message=message)
            return last[0]
        except AssertionError as e:
            raise AssertionError("%s\n--- screen ---\n%s" % (e, last[0])) from None

    def close(self):
        try:
            self.run("kill-server")
        except Exception:
            pass
        shutil.rmtree(self.dir, ignore_errors=True)


@unittest.skipUnless(os.path.exists(TMUX), "tmux is not installed (scripts/setup.sh installs it)")
class SqlShellInteractive(ServerFixture, unittest.TestCase):
    maxDiff = 4000

    def start_shell(self, home=None, url=None):
        home = home or tempfile.mkdtemp(prefix="mqbase-home-")
        self.addCleanup(shutil.rmtree, home, True)
        tmux = Tmux([mqbase_binary(), "sql", "--url", url or self.url, ";", "echo", "[exited with $?]"],
                    {"HOME": home, "TERM": "xterm", "LANG": "C.UTF-8"})
        self.addCleanup(tmux.close)
        tmux.wait_screen(lambda s: "mqbase> " in s, "the first prompt")
        return tmux, home

    def exit_status(self, tmux):
        """The shell's exit status, once the command after it printed it (tmux's own
        #{pane_dead_status} is not always filled in)."""
        screen = tmux.wait_screen(lambda s: "[exited with " in s, "the shell to exit")
        return int(screen.split("[exited with ")[1].split("]")[0])

    def test_a_multi_line_query_history_and_quit(self):
        tmux, home = self.start_shell()
        screen = tmux.screen()
        self.assertIn("Type \\? for help", screen)
        self.assertNotIn("warning", screen)
        tmux.type("SELECT device, temp")
        tmux.keys("Enter")
        tmux.wait_screen(lambda s: "...> " in s, "the continuation prompt")
        tmux.type("FROM readings WHERE " + AT_T0)
        tmux.keys("Enter")
        tmux.type("ORDER BY device;")
        tmux.keys("Enter")
        # The result, then the next prompt (drawn a moment after the last row).
        screen = tmux.wait_screen(lambda s: "(3 rows)" in s and s.rstrip().endswith("mqbase>"), "the result and the prompt")
        self.assertIn("mqbase> SELECT device, temp\n...> FROM readings WHERE " + AT_T0 + "\n...> ORDER BY device;\n"
                      + BOX, screen)

        # An error names the place, and the shell goes on.
        tmux.type("SELECT * FORM readings;")
        tmux.keys("Enter")
        screen = tmux.wait_screen(lambda s: "ERROR:" in s and s.rstrip().endswith("mqbase>"), "the error")
        self.assertIn('ERROR:  syntax error at or near "FORM" at character 10\n'
                      "LINE 1: SELECT * FORM readings\n"
                      "                 ^\n", screen)

        # Up twice: the three-line query, as one line; Enter runs it again.
        tmux.keys("Up")
        tmux.wait_screen(lambda s: s.rstrip().endswith("mqbase> SELECT * FORM readings;"), "the last entry")
        tmux.keys("Up")
        one_line = "SELECT device, temp FROM readings WHERE " + AT_T0 + " ORDER BY device;"
        tmux.wait_screen(lambda s: s.rstrip().endswith("mqbase> " + one_line), "the query recalled")
        tmux.keys("Enter")
        screen = tmux.wait_screen(lambda s: s.count("(3 rows)") == 2 and s.rstrip().endswith("mqbase>"),
                                  "the result again")
        self.assertIn("mqbase> " + one_line + "\n" + BOX, screen)

        # \timing
        tmux.type("\\timing")
        tmux.keys("Enter")
        tmux.wait_screen(lambda s: "Timing is on." in s, "timing on")
        tmux.type("SELECT count(*) AS n FROM readings;")
        tmux.keys("Enter")
        screen = tmux.wait_screen(lambda s: "Time: " in s and s.rstrip().endswith("mqbase>"), "the time")
        self.assertRegex(screen, r"\| 4 \|\n\+-+\+\n\(1 row\)\nTime: \d+\.\d{3} ms\n")

        # \q leaves, with status 0, and the history is on disk.
        tmux.type("\\q")
        tmux.keys("Enter")
        self.assertEqual(self.exit_status(tmux), 0)
        screen = tmux.screen()
        for pattern in SANITIZER_PATTERNS:
            self.assertNotIn(pattern, screen)
        with open(os.path.join(home, ".mqbase_sql_history"), encoding="utf-8", errors="replace") as f:
            history = f.read()
        self.assertIn("SELECT\\040device,\\040temp", history)  # libedit's file escapes blanks

        # A new shell with the same HOME recalls it.
        tmux2, _ = self.start_shell(home)
        tmux2.keys("Up")
        tmux2.wait_screen(lambda s: s.rstrip().endswith("mqbase> \\q"), "the history of the last shell")
        tmux2.keys("Up")
        tmux2.wait_screen(lambda s: s.rstrip().endswith("mqbase> SELECT count(*) AS n FROM readings;"),
                          "an older entry")

    def test_ctrl_c_drops_the_line_and_ctrl_d_leaves(self):
        tmux, _ = self.start_shell()
        tmux.type("SELECT 'never")
        tmux.keys("Enter")
        tmux.wait_screen(lambda s: "...> " in s, "the continuation prompt")
        tmux.type("sent")
        tmux.keys("C-c")
        tmux.wait_screen(lambda s: s.rstrip().endswith("mqbase>"), "a fresh prompt after Ctrl-C")
        tmux.type("SELECT 42 AS answer;")
        tmux.keys("Enter")
        screen = tmux.wait_screen(lambda s: "(1 row)" in s, "the result")
        self.assertIn("| answer |\n+--------+\n|     42 |\n", screen)
        self.assertNotIn("never", screen.split("SELECT 'never")[-1])
        tmux.keys("C-d")
        self.assertEqual(self.exit_status(tmux), 0)

    def test_ctrl_c_cancels_a_running_statement(self):
        received = threading.Event()
        closed = threading.Event()

        def slow(conn):  # the answer's header, then nothing until the shell goes away
            conn.sendall(HEAD_CSV)
            received.set()
            if conn.recv(1) == b"":
                closed.set()

        server = FakeHttpServer(slow)
        self.addCleanup(server.close)
        tmux, _ = self.start_shell(url=server.url)
        tmux.type("SELECT slow;")
        tmux.keys("Enter")
        self.assertTrue(received.wait(TIMEOUT * 4), "the statement never reached the server")
        tmux.keys("C-c")
        screen = tmux.wait_screen(lambda s: "cancelled" in s and s.rstrip().endswith("mqbase>"),
                                  "the statement cancelled")
        self.assertTrue(closed.wait(TIMEOUT), "the connection of the cancelled statement stays open")
        self.assertEqual(server.errors, [])
        tmux.type("\\q")
        tmux.keys("Enter")
        self.assertEqual(self.exit_status(tmux), 0, screen)

    def test_no_server_the_shell_says_so_and_goes_on(self):
        url = "http://127.0.0.1:%d" % free_port()
        tmux, _ = self.start_shell(url=url)
        screen = tmux.screen()
        self.assertIn("warning: cannot reach the server at %s (Connection refused)" % url, screen)
        tmux.type("SELECT 1;")
        tmux.keys("Enter")
        screen = tmux.wait_screen(lambda s: s.count("mqbase>") == 2, "the next prompt")
        self.assertIn("mqbase> SELECT 1;\ncannot reach the server at %s: Connection refused\nmqbase>" % url, screen)
        tmux.type("quit")
        tmux.keys("Enter")
        self.assertEqual(self.exit_status(tmux), 0)


if __name__ == "__main__":
    run_tests()
