#!/usr/bin/python3
"""The HTTP API (docs/http.md) and SQL over MQTT, on the real binary.

Every broker here runs its HTTP API on an ephemeral loopback port (the harness sets
[http] listen = "127.0.0.1:0" and reads the port from the ready file: Broker.http_port), with
two event loops for MQTT. Clients: Python's urllib and http.client, raw sockets for malformed
HTTP, curl, paho for MQTT 3.1.1 and 5.

  - /health, 404, 405 (with Allow), 426 on a plain GET /mqtt, keep-alive, pipelining, 413 past
    http.max_body (by Content-Length, chunked, and curl), 431 for a huge header, a header that
    never ends (closed at http.read_timeout), garbage bytes: none of them hurts the server, and
    MQTT keeps working.
  - POST /db/write/{table}: JSON, CSV, NDJSON, gzip (Content-Encoding and ?compress=gzip),
    timeformat/tz/header/delimiter parameters; neo's answer; a bad row stores nothing (400);
    the answer waits for the disk (with every write slowed down, it takes at least that long,
    and after kill -9 the rows are there).
  - InfluxDB line protocol on /metrics/write, /write and /api/v2/write (204), with precision.
  - /db/query (GET, POST form, POST JSON; json, csv, ndjson, box; gzip; bind parameters; 400
    with a reason) and db/query over MQTT (3.1.1 with a reply topic or db/reply; 5 with the
    Response Topic and Correlation Data). These need the SQL engine.

What was written is read back offline, the server stopped (or killed), with
`mqbase tables dump TABLE --time ns` on its data directory.

mqbase only: mosquitto has no HTTP API.
"""

import csv
import gzip
import http.client
import io
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (HOST, TIMEOUT, Broker, BrokerTestCase, is_mosquitto, paho5,  # noqa: E402
                     run_tests, slow_disk_wrapper, unique_topic, wait_for)

T0 = 1_700_000_000_000_000_000  # 2023-11-14T22:13:20Z in ns
SECOND = 1_000_000_000
CURL = "/usr/bin/curl"


def request(url, method="GET", body=None, headers=None, timeout=TIMEOUT * 2):
    """(status, headers as a dict with lower-case names, body bytes); HTTP errors included."""
    if isinstance(body, str):
        body = body.encode()
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()


def curl(args, timeout=30):
    """Run curl; returns (exit code, HTTP status, body bytes)."""
    r = subprocess.run([CURL, "-sS", "-o", "-", "-w", "\n%{http_code}"] + list(args),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    body, _, code = r.stdout.rpartition(b"\n")
    return r.returncode, int(code or 0), body


def raw_exchange(port, data, timeout=TIMEOUT, read=True):
    """Send raw bytes on a fresh connection; return what the server sends until it closes."""
    s = socket.create_connection((HOST, port), timeout=timeout)
    try:
        s.sendall(data)
        if not read:
            return b""
        out = b""
        while True:
            try:
                chunk = s.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not chunk:
                break
            out += chunk
        return out
    finally:
        s.close()


def status_of(raw):
    """The status code of the first response in raw bytes, or None."""
    line = raw.split(b"\r\n", 1)[0].split()
    return int(line[1]) if len(line) >= 2 and line[0].startswith(b"HTTP/") else None


def body_of(raw):
    return raw.split(b"\r\n\r\n", 1)[1] if b"\r\n\r\n" in raw else b""


class HttpCase(BrokerTestCase):
    """A broker with its HTTP API; helpers to write rows and read tables back offline."""

    def setUp(self):
        if is_mosquitto():
            self.skipTest("mosquitto has no HTTP API")
        super().setUp()
        self.assertTrue(self.broker.http_port, "the ready file names no HTTP port")

    def url(self, path):
        return self.broker.http_url(path)

    def post(self, path, body, headers=None, timeout=TIMEOUT * 2):
        return request(self.url(path), "POST", body, headers, timeout=timeout)

    def get_json(self, path):
        status, headers, body = request(self.url(path))
        return status, json.loads(body)

    def write_ok(self, path, body, headers=None, rows=None, timeout=TIMEOUT * 2):
        status, hdrs, answer = self.post(path, body, headers, timeout=timeout)
        self.assertEqual(status, 200, "POST %s: %s" % (path, answer[:500]))
        doc = json.loads(answer)
        self.assertTrue(doc["success"], doc)
        if rows is not None:
            self.assertEqual(doc["reason"], "success, %d record(s) inserted" % rows)
        self.assertIn("elapse", doc)
        return doc

    def dump(self, table, broker=None):
        """(header, rows) of `tables dump TABLE --time ns` (the broker stopped or killed)."""
        broker = broker or self.broker
        r = broker.run_binary(["tables", "dump", table, "--data-dir", broker.data_dir, "--time", "ns"])
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = list(csv.reader(io.StringIO(r.stdout)))
        return lines[0], lines[1:]

    def stop_and_dump(self, table):
        self.broker.stop(keep_dir=True)
        return self.dump(table)

    def assert_mqtt_works(self):
        """A publish reaches a subscriber over MQTT: the server is fine."""
        topic = unique_topic("http/alive")
        sub = self.paho()
        sub.subscribe(topic, 1)
        pub = self.paho()
        pub.publish(topic, b"still here", qos=1)
        self.assertEqual(sub.get().payload, b"still here")


# ------------------------------------------------------------------------------------------
# The server: routes, limits, malformed requests

class HttpServerBasics(HttpCase):
    broker_config = {"http": {"max_body": 4096, "read_timeout": 1}}

    def test_health(self):
        status, doc = self.get_json("/health")
        self.assertEqual((status, doc), (200, {"status": "ok"}))
        code, status, body = curl([self.url("/health")])
        self.assertEqual((code, status, json.loads(body)), (0, 200, {"status": "ok"}))

    def test_unknown_path_is_404_with_a_json_reason(self):
        status, headers, body = request(self.url("/nope"))
        self.assertEqual(status, 404)
        self.assertTrue(headers["content-type"].startswith("application/json"))
        doc = json.loads(body)
        self.assertFalse(doc["success"])
        self.assertIn("/nope", doc["reason"])

    def test_a_wrong_method_is_405_with_allow(self):
        status, headers, body = request(self.url("/health"), "POST", b"x")
        self.assertEqual(status, 405)
        self.assertEqual(headers.get("allow"), "GET")
        status, headers, body = request(self.url("/db/write/t"))
        self.assertEqual((status, headers.get("allow")), (405, "POST"))
        status, headers, body = request(self.url("/db/query"), "DELETE")
        self.assertEqual((status, headers.get("allow")), (405, "GET, POST"))
        self.assertFalse(json.loads(body)["success"])

    def test_plain_get_on_mqtt_asks_for_a_websocket_upgrade(self):
        status, headers, body = request(self.url("/mqtt"))
        self.assertEqual(status, 426)
        self.assertIn("WebSocket upgrade", json.loads(body)["reason"])

    def test_keep_alive_serves_several_requests_on_one_connection(self):
        conn = http.client.HTTPConnection(HOST, self.broker.http_port, timeout=TIMEOUT)
        try:
            for path in ("/health", "/nope", "/health"):
                conn.request("GET", path)
                r = conn.getresponse()
                r.read()
                self.assertEqual(r.status, 200 if path == "/health" else 404)
            sock = conn.sock
            conn.request("GET", "/health")
            r = conn.getresponse()
            r.read()
            self.assertIs(conn.sock, sock, "the same connection served every request")
        finally:
            conn.close()

    def test_pipelined_requests_are_answered_in_order(self):
        raw = raw_exchange(self.broker.http_port,
                           b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
                           b"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n"
                           b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        statuses = [int(code) for code in re.findall(rb"HTTP/1\.1 (\d{3}) ", raw)]
        self.assertEqual(statuses, [200, 404, 200])

    def test_a_body_over_max_body_is_413(self):
        status, _, body = self.post("/db/write/t", b"x" * 5000)
        self.assertEqual(status, 413)
        self.assertIn("http.max_body", json.loads(body)["reason"])
        # chunked: the limit counts the body as it arrives
        with tempfile.NamedTemporaryFile() as f:
            f.write(b"[" + b"1," * 4000 + b"1]")
            f.flush()
            code, status, body = curl(["-H", "Transfer-Encoding: chunked", "--data-binary", "@" + f.name,
                                       self.url("/db/write/t")])
            self.assertEqual(status, 413, body)
            code, status, body = curl(["--data-binary", "@" + f.name, self.url("/db/write/t")])
            self.assertEqual(status, 413, body)
        # a body within the limit still works on a fresh connection
        status, _, _ = self.post("/db/write/t", b'["a", %d, 1.5]' % T0)
        self.assertEqual(status, 200)

    def test_a_huge_header_is_431(self):
        raw = raw_exchange(self.broker.http_port,
                           b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100_000 + b"\r\n\r\n")
        self.assertEqual(status_of(raw), 431)
        self.assertEqual(request(self.url("/health"))[0], 200)

    def test_garbage_never_hurts_the_server(self):
        port = self.broker.http_port
        cases = [
            b"\x00\x01\x02\x03garbage\r\n\r\n",
            b"GET / HTTP/9.9\r\n\r\n",
            b"GET /health HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
            b"GET /health HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n",
            b"POST /db/write/t HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            b"GET /%zz HTTP/1.1\r\n\r\n",
            b"GET /db/query?q=%zz HTTP/1.1\r\n\r\n",
            b"GET health HTTP/1.1\r\n\r\n",
            bytes(range(256)) * 64,
            b"\r\n" * 10000,
        ]
        for data in cases:
            raw = raw_exchange(port, data)
            status = status_of(raw)
            if raw:
                self.assertIsNotNone(status, "not an HTTP answer to %r: %r" % (data[:40], raw[:100]))
                self.assertGreaterEqual(status, 400, "%r got %r" % (data[:40], raw[:200]))
        # Connections opened and dropped at once, or mid-request.
        for _ in range(20):
            s = socket.create_connection((HOST, port))
            s.sendall(b"POST /db/write/t HTTP/1.1\r\nContent-Length: 1000\r\n\r\nabc")
            s.close()
        self.assertEqual(request(self.url("/health"))[0], 200)
        self.assert_mqtt_works()
        self.assertTrue(self.broker.alive())

    def test_a_header_that_never_ends_is_cut_at_read_timeout(self):
        s = socket.create_connection((HOST, self.broker.http_port), timeout=10)
        try:
            s.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
            began = time.monotonic()
            out = b""
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                out += chunk
            took = time.monotonic() - began
        finally:
            s.close()
        self.assertEqual(out, b"", "closed without an answer (tcp_stream closes at its deadline)")
        self.assertLess(took, 8, "read_timeout is 1 s")
        # an idle connection is closed too, silently
        s = socket.create_connection((HOST, self.broker.http_port), timeout=10)
        try:
            self.assertEqual(s.recv(16), b"")
        finally:
            s.close()

    def test_http_1_0_is_answered_and_closed(self):
        raw = raw_exchange(self.broker.http_port, b"GET /health HTTP/1.0\r\n\r\n")
        self.assertTrue(raw.startswith(b"HTTP/1.0 200"), raw[:100])
        self.assertEqual(json.loads(body_of(raw)), {"status": "ok"})


class HttpDisabledAndFlags(unittest.TestCase):
    def setUp(self):
        if is_mosquitto():
            self.skipTest("mosquitto has no HTTP API")

    def test_enabled_false_has_no_http_listener(self):
        b = Broker({"http": {"enabled": False}})
        b.start()
        self.addCleanup(b.stop)
        self.assertIsNone(b.http_port)

    def test_a_taken_address_that_was_asked_for_stops_the_start(self):
        s = socket.socket()
        s.bind((HOST, 0))
        s.listen(1)
        self.addCleanup(s.close)
        b = Broker({"http": {"listen": "%s:%d" % (HOST, s.getsockname()[1])}})
        with self.assertRaises(AssertionError) as cm:
            b.start()
        self.assertIn("cannot listen on", str(cm.exception))
        b.stop(check=False)

    def test_http_listen_flag_overrides_the_file(self):
        taken = socket.socket()
        taken.bind((HOST, 0))
        taken.listen(1)
        self.addCleanup(taken.close)
        b = Broker({"http": {"listen": "%s:%d" % (HOST, taken.getsockname()[1])}})
        # Every run of this broker gets the flag, which wins over the (taken) address in the file.
        b._serve_command = lambda binary, ready, extra=(): Broker._serve_command(
            b, binary, ready, list(extra) + ["--http-listen", "%s:0" % HOST])
        b.start()
        self.addCleanup(b.stop)
        self.assertTrue(b.http_port and b.http_port != taken.getsockname()[1])
        self.assertEqual(request(b.http_url("/health"))[0], 200)


# ------------------------------------------------------------------------------------------
# Writes

NEO_ROWS = json.dumps({"data": {"columns": ["name", "time", "value"],
                                "rows": [["temp.1", T0, 21.5], ["temp.2", T0 + SECOND, 19.0]]}})


class HttpWrites(HttpCase):
    def test_json_rows_as_neo_writes_them(self):
        self.write_ok("/db/write/sensors", NEO_ROWS, {"Content-Type": "application/json"}, rows=2)
        self.write_ok("/db/write/sensors", json.dumps(["temp.1", T0 + 2 * SECOND, 21.7]), rows=1)
        header, rows = self.stop_and_dump("sensors")
        self.assertEqual(header, ["name", "time", "value"])
        self.assertEqual(sorted(rows), sorted([["temp.1", str(T0), "21.5"], ["temp.1", str(T0 + 2 * SECOND), "21.699999999999999"],
                                               ["temp.2", str(T0 + SECOND), "19"]]))

    def test_csv_with_a_header_line(self):
        body = "device,time,temp\nd1,%d,20.5\nd2,%d,18\n" % (T0, T0)
        self.write_ok("/db/write/climate?header=columns", body, {"Content-Type": "text/csv"}, rows=2)
        # format= wins over Content-Type; skip drops the first line; another delimiter
        body = "ignored;line\nd3;%d;17\n" % T0
        self.write_ok("/db/write/climate?format=csv&header=skip&delimiter=%3B", body,
                      {"Content-Type": "application/json"}, rows=1)
        header, rows = self.stop_and_dump("climate")
        self.assertEqual(sorted(header), ["device", "temp", "time"])
        got = {(r[header.index("device")], r[header.index("temp")]) for r in rows}
        self.assertEqual(got, {("d1", "20.5"), ("d2", "18"), ("d3", "17")})

    def test_ndjson(self):
        body = "\n".join(json.dumps(r) for r in [{"device": "a", "time": T0, "v": 1},
                                                  {"device": "b", "time": T0, "v": 2},
                                                  {"device": "a", "time": T0 + SECOND, "v": 3}])
        self.write_ok("/db/write/nd", body, {"Content-Type": "application/x-ndjson"}, rows=3)
        header, rows = self.stop_and_dump("nd")
        self.assertEqual(len(rows), 3)

    def test_gzip_by_content_encoding_and_by_parameter(self):
        body = gzip.compress(NEO_ROWS.encode())
        self.write_ok("/db/write/gz", body, {"Content-Encoding": "gzip"}, rows=2)
        self.write_ok("/db/write/gz2?compress=gzip", body, rows=2)
        status, _, answer = self.post("/db/write/gz4", body, {"Content-Encoding": "br"})
        self.assertEqual(status, 415)
        status, _, answer = self.post("/db/write/gz4", b"not gzip", {"Content-Encoding": "gzip"})
        self.assertEqual(status, 400)
        self.assertIn("gzip", json.loads(answer)["reason"])

    def test_curl_posts_a_csv_file(self):
        with tempfile.NamedTemporaryFile("w", suffix=".csv") as f:
            f.write("name,time,value\n")
            for i in range(1000):
                f.write("s%d,%d,%d\n" % (i % 10, T0 + i * SECOND, i))
            f.flush()
            code, status, body = curl(["-H", "Content-Type: text/csv", "--data-binary", "@" + f.name,
                                       self.url("/db/write/fromcurl?header=columns")])
        self.assertEqual((code, status), (0, 200), body)
        self.assertEqual(json.loads(body)["reason"], "success, 1000 record(s) inserted")

    def test_bad_json_is_400_with_the_reason_and_stores_nothing(self):
        status, headers, body = self.post("/db/write/bad", b'{"data": [1, 2')
        self.assertEqual(status, 400)
        doc = json.loads(body)
        self.assertFalse(doc["success"])
        self.assertTrue(doc["reason"])
        # one row that does not convert: none of the message is stored (atomic, as over MQTT)
        self.write_ok("/db/write/atomic", json.dumps([["a", T0, 1.0]]), rows=1)
        status, _, body = self.post("/db/write/atomic",
                                    json.dumps([["a", T0 + 1, 2.0], ["b", T0 + 2, "not a number"], ["c", T0 + 3, 3.0]]))
        self.assertEqual(status, 400)
        self.assertIn("row 2", json.loads(body)["reason"])
        status, _, body = self.post("/db/write/9bad", NEO_ROWS)
        self.assertEqual(status, 400)
        self.assertIn("table name", json.loads(body)["reason"])
        status, _, body = self.post("/db/write/atomic?format=xml", NEO_ROWS)
        self.assertEqual(status, 400)
        header, rows = self.stop_and_dump("atomic")
        self.assertEqual(rows, [["a", str(T0), "1"]])

    def test_timeformat_and_tz(self):
        body = "name,time,value\nx,2023-11-15 07:13:20,1\n"
        self.write_ok("/db/write/tf?header=columns&format=csv&timeformat=" +
                      urllib.parse.quote("2006-01-02 15:04:05") + "&tz=Asia/Seoul", body, rows=1)
        self.write_ok("/db/write/tf?timeformat=ms", json.dumps(["y", T0 // 1_000_000, 2]), rows=1)
        header, rows = self.stop_and_dump("tf")
        self.assertEqual(sorted(r[1] for r in rows), [str(T0), str(T0)])

    def test_line_protocol_endpoints(self):
        status, headers, body = self.post("/metrics/write?db=cpu",
                                          "cpu,host=a usage=0.5,procs=10i %d\ncpu,host=b usage=0.25 %d\n" % (T0, T0))
        self.assertEqual((status, body), (204, b""))
        status, _, body = self.post("/write?db=cpu&precision=s", "cpu,host=c usage=1 %d\n" % (T0 // SECOND))
        self.assertEqual(status, 204, body)
        status, _, body = self.post("/api/v2/write?org=o&bucket=mem&precision=ms",
                                    gzip.compress(b"mem,host=a used=42i %d\n" % (T0 // 1_000_000)),
                                    {"Content-Encoding": "gzip"})
        self.assertEqual(status, 204, body)
        status, headers, body = self.post("/api/v2/write?org=o", "mem used=1\n")
        self.assertEqual(status, 400)
        self.assertEqual(json.loads(body)["code"], "invalid")
        self.assertIn("bucket", json.loads(body)["message"])
        status, headers, body = self.post("/metrics/write?db=cpu", "cpu,host=a usage=abc\n")
        self.assertEqual(status, 400)
        self.assertIn("x-influxdb-error", headers)
        status, _, body = self.post("/write?db=cpu&precision=h", "cpu usage=1 1\n")
        self.assertEqual(status, 400)
        self.broker.stop(keep_dir=True)
        header, rows = self.dump("cpu")
        self.assertEqual(len(rows), 3)
        self.assertEqual({r[header.index("time")] for r in rows}, {str(T0)})
        header, rows = self.dump("mem")
        self.assertEqual([r[header.index("time")] for r in rows], [str(T0)])
        self.assertEqual([r[header.index("used")] for r in rows], ["42"])


class HttpDurableWrites(HttpCase):
    """The answer to a write waits for its rows to be on disk (durability sync, the default)."""

    DELAY_MS = 300

    def setUp(self):
        if is_mosquitto():
            self.skipTest("mosquitto has no HTTP API")
        wrapper = slow_disk_wrapper(self.DELAY_MS)
        if wrapper is None:
            self.skipTest("strace cannot slow the disk down here")
        self.broker = self.start_broker(None, wrapper=wrapper)
        self.port = self.broker.port

    def test_an_acknowledged_write_survives_kill9(self):
        body = json.dumps([["dev%d" % (i % 7), T0 + i, float(i)] for i in range(500)])
        began = time.monotonic()
        self.write_ok("/db/write/durable", body, rows=500)
        took = time.monotonic() - began
        # Every log write is held back DELAY_MS: an answer before the rows were written would come
        # sooner.
        self.assertGreaterEqual(took, self.DELAY_MS / 1000 * 0.9,
                                "the answer came %.3f s after the request, before the write" % took)
        self.broker.kill9()
        header, rows = self.dump("durable")
        self.assertEqual(len(rows), 500)
        self.broker.restart()
        self.write_ok("/db/write/durable", json.dumps(["dev0", T0 + 1000, 1.0]), rows=1)


# ------------------------------------------------------------------------------------------
# Queries (need the SQL engine)

class HttpQueries(HttpCase):
    def setUp(self):
        super().setUp()
        self.write_ok("/db/write/t", json.dumps({"data": {"columns": ["name", "time", "value"], "rows": [
            ["a", T0, 1.5], ["b", T0 + SECOND, 2.5], ["a", T0 + 2 * SECOND, 3.5]]}}), rows=3)

    def query(self, params, method="GET", body=None, headers=None):
        url = self.url("/db/query?" + urllib.parse.urlencode(params)) if params else self.url("/db/query")
        return request(url, method, body, headers)

    def test_count_over_get(self):
        status, headers, body = self.query({"q": "SELECT count(*) FROM t"})
        self.assertEqual(status, 200, body)
        self.assertTrue(headers["content-type"].startswith("application/json"))
        doc = json.loads(body)
        self.assertTrue(doc["success"], doc)
        self.assertEqual(doc["data"]["rows"], [[3]])
        self.assertEqual(len(doc["data"]["columns"]), 1)
        self.assertIn("elapse", doc)

    def test_curl_get_and_post(self):
        code, status, body = curl(["-G", "--data-urlencode", "q=SELECT count(*) FROM t", self.url("/db/query")])
        self.assertEqual((code, status), (0, 200), body)
        self.assertEqual(json.loads(body)["data"]["rows"], [[3]])
        code, status, body = curl(["--data-urlencode", "q=SELECT count(*) FROM t", "-d", "format=csv",
                                   "-d", "heading=false", self.url("/db/query")])
        self.assertEqual((code, status, body.strip()), (0, 200, b"3"))

    def test_post_json_body(self):
        status, headers, body = self.query(None, "POST", json.dumps({"q": "SELECT count(*) FROM t WHERE name = $1",
                                                                       "params": ["a"]}),
                                           {"Content-Type": "application/json"})
        self.assertEqual(status, 200, body)
        self.assertEqual(json.loads(body)["data"]["rows"], [[2]])

    def test_bind_params_in_the_query_string(self):
        status, _, body = self.query({"q": "SELECT count(*) FROM t WHERE value > $1", "params": "[2]"})
        self.assertEqual(status, 200, body)
        self.assertEqual(json.loads(body)["data"]["rows"], [[2]])
        status, _, body = self.query({"q": "SELECT 1", "params": "[1,"})
        self.assertEqual(status, 400)
        self.assertIn("params", json.loads(body)["reason"])

    def test_formats(self):
        status, headers, body = self.query({"q": "SELECT name, value FROM t ORDER BY time", "format": "csv"})
        self.assertEqual(status, 200, body)
        self.assertTrue(headers["content-type"].startswith("text/csv"))
        self.assertEqual(body.decode().splitlines(), ["name,value", "a,1.5", "b,2.5", "a,3.5"])
        status, headers, body = self.query({"q": "SELECT name, value FROM t ORDER BY time", "format": "ndjson"})
        self.assertEqual(status, 200, body)
        self.assertEqual([json.loads(l) for l in body.decode().splitlines()][:3],
                         [{"name": "a", "value": 1.5}, {"name": "b", "value": 2.5}, {"name": "a", "value": 3.5}])
        status, headers, body = self.query({"q": "SELECT name FROM t", "format": "box"})
        self.assertEqual(status, 200, body)
        self.assertIn(b"name", body)
        status, _, body = self.query({"q": "SELECT 1", "format": "xml"})
        self.assertEqual(status, 400)
        self.assertIn("xml", json.loads(body)["reason"])

    def test_gzip_answer(self):
        status, headers, body = self.query({"q": "SELECT count(*) FROM t", "compress": "gzip"})
        self.assertEqual(status, 200)
        self.assertEqual(headers.get("content-encoding"), "gzip")
        self.assertEqual(json.loads(gzip.decompress(body))["data"]["rows"], [[3]])

    def test_errors_before_any_row_are_400_with_a_reason(self):
        status, headers, body = self.query({"q": "SELECT * FROM no_such_table"})
        self.assertEqual(status, 400)
        doc = json.loads(body)
        self.assertFalse(doc["success"])
        self.assertIn("no_such_table", doc["reason"])
        status, headers, body = self.query({"q": "SELEC 1", "format": "csv"})
        self.assertEqual(status, 400)
        self.assertTrue(body.startswith(b"ERROR:  syntax error"), body)
        status, _, body = self.query({})
        self.assertEqual(status, 400)
        self.assertIn("no query", json.loads(body)["reason"])

    def test_a_large_result_streams_in_chunks(self):
        n = 50_000
        lines = ["name,time,value"] + ["s%d,%d,%d" % (i % 100, T0 + i * SECOND, i) for i in range(n)]
        # 200,000 rows: minutes under ThreadSanitizer on a busy 2-core machine (a timeout here is
        # the machine's, not the server's).
        self.write_ok("/db/write/big?header=columns&format=csv", "\n".join(lines), rows=n, timeout=300)
        conn = http.client.HTTPConnection(HOST, self.broker.http_port, timeout=30)
        try:
            conn.request("GET", "/db/query?" + urllib.parse.urlencode({"q": "SELECT * FROM big", "format": "csv"}))
            r = conn.getresponse()
            self.assertEqual(r.status, 200)
            self.assertEqual(r.getheader("Transfer-Encoding"), "chunked")
            body = r.read()
        finally:
            conn.close()
        self.assertEqual(len(body.decode().splitlines()), n + 1)


class HttpQueryLimits(HttpCase):
    """A query past its time limit or its memory limit (per request, and the server's cap on
    what a request may ask) stops with a clear error; the server keeps serving MQTT and SQL."""

    broker_config = {"http": {"query_memory_limit": 4 << 20}}

    def load_big(self):
        """200,000 rows in `big` (for the tests that need a heavy query)."""
        n = 200_000
        lines = ["name,time,value"] + ["s%d,%d,%d" % (i % 500, T0 + i * SECOND, (i * 7919) % 100_003) for i in range(n)]
        # Minutes under ThreadSanitizer on a busy 2-core machine: a timeout here would be the
        # machine's, not the server's.
        self.write_ok("/db/write/big?header=columns&format=csv", "\n".join(lines), rows=n, timeout=300)

    def query(self, params):
        return request(self.url("/db/query?" + urllib.parse.urlencode(params)))

    def test_a_query_past_its_time_limit_stops_and_the_server_goes_on(self):
        self.load_big()
        heavy = "SELECT name, time, value, value * 2 + 1 AS w FROM big ORDER BY value DESC, time"
        status, _, body = self.query({"q": heavy, "timeout": "1"})
        self.assertEqual(status, 400, body[:300])
        doc = json.loads(body)
        self.assertFalse(doc["success"])
        self.assertIn("canceling statement due to statement timeout", doc["reason"])
        self.assert_mqtt_works()
        status, _, body = self.query({"q": "SELECT count(*) FROM big"})
        self.assertEqual(json.loads(body)["data"]["rows"], [[200_000]])

    def test_a_query_past_its_memory_limit_stops_and_the_server_goes_on(self):
        self.load_big()
        sort_all = "SELECT * FROM big ORDER BY value"
        # The request asks for less than the server allows.
        status, _, body = self.query({"q": sort_all, "memory_limit": "100000", "format": "csv"})
        self.assertEqual(status, 400, body[:300])
        self.assertIn(b"memory limit of 100000 bytes", body)
        # More than the server allows (4 MiB) is capped: the same query still stops.
        status, _, body = self.query({"q": sort_all, "memory_limit": str(1 << 30)})
        self.assertEqual(status, 400, body[:300])
        self.assertIn("memory limit of 4 MiB", json.loads(body)["reason"])
        self.assert_mqtt_works()
        # A sort that keeps only what LIMIT needs fits where the whole sort does not.
        status, _, body = self.query({"q": sort_all, "memory_limit": str(1 << 20)})
        self.assertEqual(status, 400, body[:300])
        self.assertIn("memory limit of 1 MiB", json.loads(body)["reason"])
        status, _, body = self.query({"q": sort_all + " DESC LIMIT 3", "memory_limit": str(1 << 20)})
        self.assertEqual(status, 200, body[:300])
        self.assertEqual(len(json.loads(body)["data"]["rows"]), 3)

    def test_a_bad_limit_is_400_naming_the_parameter(self):
        for param, value in (("memory_limit", "lots"), ("timeout", "-5")):
            status, _, body = self.query({"q": "SELECT 1", param: value})
            self.assertEqual(status, 400)
            self.assertIn(param, json.loads(body)["reason"])


class HttpQueryPool(HttpCase):
    """One query thread and no queue: a query that waits for a client that does not read
    holds the thread, the next one gets 503; the client goes away, its query is cancelled and
    the thread serves again."""

    broker_config = {"http": {"query_threads": 1, "query_queue": 0}}

    def test_503_when_full_and_a_client_that_leaves_cancels_its_query(self):
        pad = "x" * 200
        lines = ["name,time,v,pad"] + ["s%d,%d,%d,%s" % (i % 50, T0 + i * SECOND, i, pad) for i in range(80_000)]
        self.write_ok("/db/write/wide?header=columns&format=csv", "\n".join(lines), rows=80_000)
        hog = socket.socket()
        hog.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect, to take effect
        hog.connect((HOST, self.broker.http_port))
        hog.sendall(b"GET /db/query?q=SELECT%20*%20FROM%20wide HTTP/1.1\r\nHost: x\r\n\r\n")

        def busy():
            status, headers, body = request(self.url("/db/query?q=SELECT%201"))
            if status == 503:
                self.assertIn("too many queries", json.loads(body)["reason"])
                self.assertEqual(headers.get("retry-after"), "1")
                return True
            return False

        wait_for(busy, timeout=20, message="a 503 while the only query thread is held")
        hog.close()
        wait_for(lambda: request(self.url("/db/query?q=SELECT%201"))[0] == 200, timeout=20,
                 message="the query thread free again after its client left")
        self.assert_mqtt_works()

    def test_sigterm_while_a_query_streams_to_a_client_that_does_not_read(self):
        pad = "y" * 200
        lines = ["name,time,v,pad"] + ["s%d,%d,%d,%s" % (i % 50, T0 + i * SECOND, i, pad) for i in range(80_000)]
        self.write_ok("/db/write/wide?header=columns&format=csv", "\n".join(lines), rows=80_000)
        hog = socket.socket()
        hog.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        hog.connect((HOST, self.broker.http_port))
        self.addCleanup(hog.close)
        hog.sendall(b"GET /db/query?q=SELECT%20*%20FROM%20wide HTTP/1.1\r\nHost: x\r\n\r\n")
        wait_for(lambda: request(self.url("/db/query?q=SELECT%201"))[0] == 503, timeout=20,
                 message="the only query thread held by the client that does not read")
        began = time.monotonic()
        self.broker.stop()  # exit 0, nothing from the sanitizers
        self.assertLess(time.monotonic() - began, 8, "the HTTP side gives an answer under way 2 s")


# ------------------------------------------------------------------------------------------
# SQL over MQTT (db/query)

class MqttQuery(HttpCase):
    def setUp(self):
        super().setUp()
        self.write_ok("/db/write/t", json.dumps([["a", T0, 1.5], ["b", T0 + SECOND, 2.5], ["a", T0 + 2, 3.5]]),
                      rows=3)

    def test_v311_reply_topic_in_the_payload(self):
        reply = unique_topic("reply")
        c = self.paho()
        c.subscribe(reply, 1)
        c.publish("db/query", json.dumps({"q": "SELECT count(*) FROM t", "reply": reply}), qos=1)
        m = c.get(timeout=15)
        self.assertEqual(m.topic, reply)
        doc = json.loads(m.payload)
        self.assertTrue(doc["success"], doc)
        self.assertEqual(doc["data"]["rows"], [[3]])

    def test_v311_without_a_reply_topic_answers_on_db_reply(self):
        c = self.paho()
        c.subscribe("db/reply", 0)
        c.publish("db/query", json.dumps({"q": "SELECT name FROM t WHERE value > 2 ORDER BY name",
                                          "format": "csv"}), qos=0)
        m = c.get(timeout=15)
        self.assertEqual(m.topic, "db/reply")
        self.assertEqual(m.payload.decode().splitlines(), ["name", "a", "b"])

    def test_v5_response_topic_and_correlation_data(self):
        c = paho5(self)
        reply = unique_topic("r5")
        c.subscribe(reply, 1)
        c.publish("db/query", json.dumps({"q": "SELECT count(*) FROM t"}), qos=1,
                  props={"ResponseTopic": reply, "CorrelationData": b"\x01corr"})
        m = c.messages.get(timeout=15)
        self.assertEqual(m.topic, reply)
        self.assertEqual(m.props.get("CorrelationData"), b"\x01corr")
        self.assertEqual(json.loads(m.payload)["data"]["rows"], [[3]])

    def test_errors_are_answered_too(self):
        c = paho5(self)
        reply = unique_topic("r5e")
        c.subscribe(reply, 1)
        c.publish("db/query", b"{not json", qos=1, props={"ResponseTopic": reply})
        doc = json.loads(c.messages.get(timeout=15).payload)
        self.assertFalse(doc["success"])
        self.assertIn("JSON", doc["reason"])
        c.publish("db/query", json.dumps({"q": "SELECT * FROM nope"}), qos=1, props={"ResponseTopic": reply})
        doc = json.loads(c.messages.get(timeout=15).payload)
        self.assertFalse(doc["success"])
        self.assertIn("nope", doc["reason"])
        self.assert_mqtt_works()


if __name__ == "__main__":
    run_tests()
