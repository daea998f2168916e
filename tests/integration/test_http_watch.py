#!/usr/bin/python3
"""GET /db/watch/{table} (docs/http.md#watch): new rows as server-sent events, on the real binary.

A watch is read with http.client on a thread of its own (Watch below), with curl -N, or with
a raw socket that stops reading. Rows come over MQTT (mosquitto_pub, paho), POST /db/write
and SQL INSERT.

  - every row written after the client read `: watching <table>` arrives as one `data:`
    event, values as /db/query shows them (time in ns by default, NULL as null), in order per
    series; text/event-stream, no-cache, chunked;
  - tag parameters filter (AND across tags, any of several values of one tag); a filter on
    a column that is not there or not a tag is 400, an unknown table 404; timeformat and tz;
  - a burst of 5000 rows (one write) and 2000 MQTT messages arrive whole;
  - several watchers at once; one that disconnects is taken off (GET /db/watch counts them);
  - a client that never reads while 60000 rows are written: MQTT round trips and /db/query
    stay quick, the stream is cut with `event: error` ("watcher too slow: N rows dropped")
    and counted;
  - DROP TABLE ends the table's streams with an error event; SIGTERM ends them at once.

mqbase only: mosquitto has no HTTP API.
"""

import http.client
import json
import os
import queue
import socket
import subprocess
import sys
import threading
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (HOST, TIMEOUT, BrokerTestCase, is_mosquitto, run_mosquitto_pub,  # noqa: E402
                     run_tests, unique_topic, wait_for)

T0 = 1_700_000_000_000_000_000  # 2023-11-14T22:13:20Z in ns
SECOND = 1_000_000_000
CURL = "/usr/bin/curl"
SCHEMA = "time TIMESTAMP, device TAG, site TAG, temp DOUBLE, ok BOOLEAN, n BIGINT, note VARCHAR"


class Watch:
    """A GET /db/watch/... stream. Once the server has said `: watching <table>` (read here,
    before the constructor returns), a thread reads the events into a queue: ("data", dict),
    ("error", dict), ("comment", text), and ("end", None) when the stream ends or breaks."""

    def __init__(self, port, path):
        self.conn = http.client.HTTPConnection(HOST, port, timeout=60)
        self.conn.request("GET", path)
        self.resp = self.conn.getresponse()
        self.status = self.resp.status
        self.headers = {k.lower(): v for k, v in self.resp.getheaders()}
        self.events = queue.Queue()
        self.thread = None
        if self.status != 200:
            self.body = json.loads(self.resp.read())
            return
        kind, text = self._read_event()
        assert kind == "comment" and text.startswith("watching "), (kind, text)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _read_event(self):
        kind, data, comment = "data", None, None
        while True:
            line = self.resp.readline()
            if not line:
                return "end", None
            line = line.decode().rstrip("\n")
            if line == "":
                if data is not None:
                    return kind, json.loads(data)
                if comment is not None:
                    return "comment", comment
                continue
            if line.startswith(":"):
                comment = line[1:].strip()
                continue
            field, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if field == "event":
                kind = value
            elif field == "data":
                data = value if data is None else data + "\n" + value

    def _run(self):
        try:
            while True:
                event = self._read_event()
                self.events.put(event)
                if event[0] == "end":
                    return
        except (OSError, ValueError, http.client.HTTPException):
            self.events.put(("end", None))

    def next(self, timeout=TIMEOUT, comments=False):
        """The next event (comments skipped unless asked for)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                event = self.events.get(timeout=max(0.001, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError("no event within %.1f s" % timeout) from None
            if comments or event[0] != "comment":
                return event

    def rows(self, n, timeout=TIMEOUT):
        """The next n rows; an error event or the end fails."""
        out = []
        deadline = time.monotonic() + timeout
        while len(out) < n:
            kind, data = self.next(max(0.001, deadline - time.monotonic()))
            if kind != "data":
                raise AssertionError("after %d of %d rows: %s %s" % (len(out), n, kind, data))
            out.append(data)
        return out

    def assert_quiet(self, seconds=0.3):
        """Nothing but comments for a while."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                event = self.events.get(timeout=max(0.001, deadline - time.monotonic()))
            except queue.Empty:
                return
            assert event[0] == "comment", "expected nothing, got %s" % (event,)

    def close(self):
        """Closes the connection (the reading thread sees the end first)."""
        try:
            if self.conn.sock:
                self.conn.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        if self.thread:
            self.thread.join(5)
        self.conn.close()


class WatchCase(BrokerTestCase):
    def setUp(self):
        if is_mosquitto():
            self.skipTest("mosquitto has no HTTP API")
        super().setUp()
        self.sql("CREATE TABLE sensors (%s)" % SCHEMA)

    def url(self, path):
        return self.broker.http_url(path)

    def request(self, path, method="GET", body=None):
        req = urllib.request.Request(self.url(path), data=body.encode() if body else None, method=method)
        try:
            with urllib.request.urlopen(req, timeout=TIMEOUT * 4) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def sql(self, q):
        status, body = self.request("/db/query?" + urllib.parse.urlencode({"q": q}))
        self.assertEqual(status, 200, body)
        return json.loads(body)

    def write(self, table, rows):
        """POST /db/write/{table} of rows (lists in column order)."""
        status, body = self.request("/db/write/" + table, "POST", json.dumps(rows))
        self.assertEqual(status, 200, body)

    def watch(self, path="/db/watch/sensors"):
        w = Watch(self.broker.http_port, path)
        self.addCleanup(w.close)
        return w

    def watchers(self):
        status, body = self.request("/db/watch")
        self.assertEqual(status, 200, body)
        return json.loads(body)

    def mqtt_round_trip(self, subscriber, topic):
        """Seconds from mosquitto_pub's start to its message at `subscriber` (of `topic`)."""
        began = time.monotonic()
        run_mosquitto_pub(self.port, topic, "ping", qos=1)
        self.assertEqual(subscriber.get().payload, b"ping")
        return time.monotonic() - began


def row(t, device, site="", temp=None, ok=None, n=None, note=None):
    return {"time": t, "device": device, "site": site, "temp": temp, "ok": ok, "n": n, "note": note}


class WatchRows(WatchCase):
    def test_rows_from_mqtt_http_and_insert_arrive_in_order(self):
        w = self.watch()
        self.assertTrue(w.headers["content-type"].startswith("text/event-stream"), w.headers)
        self.assertEqual(w.headers.get("cache-control"), "no-cache")
        self.assertEqual(w.headers.get("transfer-encoding"), "chunked")

        run_mosquitto_pub(self.port, "db/append/sensors", json.dumps(
            [[T0, "d1", "a", 21.5, True, 7, "x \"quoted\""], [T0 + 1, "d2", "b", None, False, None, None]]), qos=1)
        self.assertEqual(w.rows(2), [row(T0, "d1", "a", 21.5, True, 7, "x \"quoted\""),
                                     row(T0 + 1, "d2", "b", None, False)])

        pub = self.paho()
        for i in range(20):  # one series, many messages: in order
            pub.publish("db/append/sensors", json.dumps([T0 + 10 + i, "d1", "a", float(i), None, i, None]),
                        qos=1, wait=False)
        got = w.rows(20)
        self.assertEqual([r["n"] for r in got], list(range(20)))
        self.assertEqual([r["time"] for r in got], [T0 + 10 + i for i in range(20)])

        status, body = self.request("/db/write/sensors", "POST", json.dumps(
            {"data": {"columns": ["time", "device", "temp"], "rows": [[T0 + 100, "d3", 3.5]]}}))
        self.assertEqual(status, 200, body)
        self.assertEqual(w.rows(1), [row(T0 + 100, "d3", "", 3.5)])

        self.sql("INSERT INTO sensors (time, device, temp, note) VALUES ('2023-11-14 22:15:00', 'd4', -1, 'sql')")
        self.assertEqual(w.rows(1), [row(T0 + 100 * SECOND, "d4", "", -1, note="sql")])
        # The rows are in the table too, as /db/query shows them.
        self.assertEqual(self.sql("SELECT count(*) FROM sensors")["data"]["rows"], [[24]])
        w.assert_quiet()

    def test_curl_follows_a_watch(self):
        proc = subprocess.Popen([CURL, "-sN", self.url("/db/watch/sensors?device=d9")], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE)
        try:
            self.assertEqual(proc.stdout.readline(), b": watching sensors\n")
            self.assertEqual(proc.stdout.readline(), b"\n")
            run_mosquitto_pub(self.port, "db/append/sensors", json.dumps([T0, "d9", "s", 1.25, None, None, None]),
                              qos=1)
            self.assertEqual(proc.stdout.readline(),
                             b'data: {"time":1700000000000000000,"device":"d9","site":"s","temp":1.25,'
                             b'"ok":null,"n":null,"note":null}\n')
            self.assertEqual(proc.stdout.readline(), b"\n")
        finally:
            proc.terminate()
            proc.wait(5)
            proc.stdout.close()
            proc.stderr.close()
        wait_for(lambda: self.watchers()["active"] == 0, message="curl's watch taken off once curl is gone")

    def test_tag_filters_and_formats(self):
        d1 = self.watch("/db/watch/sensors?device=d1")
        d1a = self.watch("/db/watch/sensors?device=d1&site=a")
        d12 = self.watch("/db/watch/sensors?device=d1&DEVICE=d2")
        seoul = self.watch("/db/watch/sensors?device=d2&timeformat=rfc3339nano&tz=Asia/Seoul")
        empty_site = self.watch("/db/watch/sensors?site=")
        self.write("sensors", [[T0, "d1", "a", 1], [T0 + 1, "d1", "b", 2], [T0 + 2, "d2", "a", 3],
                               [T0 + 3, "d3", "a", 4], [T0 + 4, "d1", None, 5]])
        self.assertEqual([r["temp"] for r in d1.rows(3)], [1, 2, 5])
        self.assertEqual([r["temp"] for r in d1a.rows(1)], [1])
        self.assertEqual([r["temp"] for r in d12.rows(4)], [1, 2, 3, 5])
        self.assertEqual(seoul.rows(1), [row("2023-11-15T07:13:20.000000002+09:00", "d2", "a", 3)])
        self.assertEqual([r["temp"] for r in empty_site.rows(1)], [5])
        for w in (d1, d1a, d12, seoul, empty_site):
            w.assert_quiet(0.1)

    def test_bad_requests(self):
        cases = [
            ("/db/watch/nope", 404, "table 'nope' does not exist"),
            ("/db/watch/sensors?colour=red", 400,
             "column 'colour' does not exist in table 'sensors' (its tags: device, site)"),
            ("/db/watch/sensors?device=d1&temp=3", 400, "column 'temp' of table 'sensors' is not a tag"),
            ("/db/watch/sensors?timeformat=nonsense", 400, "unknown time format 'nonsense'"),
            ("/db/watch/sensors?tz=Mars/Olympus", 400, "Mars/Olympus"),
            ("/db/watch/sensors?format=csv", 400, "format 'csv' is not available here"),
            ("/db/watch/a/b", 404, "no such endpoint"),
        ]
        for path, status, reason in cases:
            w = self.watch(path)
            self.assertEqual(w.status, status, path)
            self.assertFalse(w.body["success"])
            self.assertIn(reason, w.body["reason"], path)
        status, body = self.request("/db/watch/sensors", "POST", "x")
        self.assertEqual(status, 405)
        self.assertEqual(self.watchers()["active"], 0)


class WatchLoad(WatchCase):
    def test_a_burst_arrives_whole(self):
        w = self.watch()
        n = 5000
        self.write("sensors", [[T0 + i, "d%d" % (i % 10), "s", float(i), None, i, None] for i in range(n)])
        got = w.rows(n, timeout=30)
        self.assertEqual([r["n"] for r in got], list(range(n)))
        # 2000 messages of one row each from two publishers, as fast as they go.
        pubs = [self.paho(), self.paho()]
        infos = []
        for i in range(2000):
            infos.append(pubs[i % 2].publish("db/append/sensors",
                                             json.dumps([T0 + n + i, "p%d" % (i % 2), "", None, None, i, None]),
                                             qos=1, wait=False))
        for p, info in enumerate(infos):
            pubs[p % 2].wait_published(info, timeout=30)
        got = w.rows(2000, timeout=30)
        for series in ("p0", "p1"):
            ns = [r["n"] for r in got if r["device"] == series]
            self.assertEqual(ns, list(range(0 if series == "p0" else 1, 2000, 2)), series)
        w.assert_quiet()

    def test_several_watchers_and_one_that_leaves(self):
        ws = [self.watch() for _ in range(4)]
        self.assertEqual(self.watchers()["active"], 4)
        self.write("sensors", [[T0, "d1", "a", 1.0]])
        for w in ws:
            self.assertEqual(w.rows(1)[0]["temp"], 1.0)
        ws[0].close()
        wait_for(lambda: self.watchers()["active"] == 3, message="the closed watch taken off")
        self.write("sensors", [[T0 + 1, "d1", "a", 2.0]])
        for w in ws[1:]:
            self.assertEqual(w.rows(1)[0]["temp"], 2.0)
        # A raw client that leaves without a word.
        s = socket.create_connection((HOST, self.broker.http_port))
        s.sendall(b"GET /db/watch/sensors HTTP/1.1\r\nHost: x\r\n\r\n")
        seen = b""
        while b": watching sensors" not in seen:
            seen += s.recv(4096)
        wait_for(lambda: self.watchers()["active"] == 4)
        s.close()
        wait_for(lambda: self.watchers()["active"] == 3, message="the raw client's watch taken off")
        for w in ws[1:]:
            w.close()
        wait_for(lambda: self.watchers()["active"] == 0)
        late = self.watch()
        self.write("sensors", [[T0 + 2, "d1", "a", 3.0]])
        self.assertEqual(late.rows(1)[0]["temp"], 3.0)
        self.assertEqual(self.watchers()["started"], 6)

    def test_a_watcher_that_never_reads_is_cut_and_nobody_waits_for_it(self):
        reader = self.watch("/db/watch/sensors?device=d0")
        hog = socket.socket()
        hog.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connect, to take effect
        hog.connect((HOST, self.broker.http_port))
        self.addCleanup(hog.close)
        hog.sendall(b"GET /db/watch/sensors HTTP/1.1\r\nHost: x\r\n\r\n")
        seen = b""
        while b": watching sensors" not in seen:
            seen += hog.recv(4096)
        alive = unique_topic("watch/alive")
        sub = self.paho()
        sub.subscribe(alive, 1)
        pad = "p" * 400
        slowest_write = 0.0
        for k in range(12):  # 60000 rows of ~500 bytes as events: far past the 4 MiB the stream may hold
            began = time.monotonic()
            self.write("sensors", [[T0 + k * 5000 + i, "d%d" % (i % 4), "", float(i), None, None, pad]
                                   for i in range(5000)])
            slowest_write = max(slowest_write, time.monotonic() - began)
            self.assertLess(self.mqtt_round_trip(sub, alive), 2.0)
        self.assertLess(slowest_write, 10.0)
        status, body = self.request("/db/query?q=" + urllib.parse.quote("SELECT count(*) FROM sensors"))
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(body)["data"]["rows"], [[60000]])
        stats = self.watchers()
        self.assertEqual(stats["cut_slow"], 1, stats)
        # The reader that reads got all of its rows.
        self.assertEqual(len(reader.rows(15000, timeout=30)), 15000)
        # The one that did not: what was queued, then the error event, the end of the stream
        # and the close (read with a window wide enough to take some MiB in a moment).
        hog.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        hog.settimeout(30)
        while True:
            b = hog.recv(1 << 20)
            if not b:
                break
            seen += b
        self.assertRegex(seen.decode(errors="replace"),
                         r'event: error\ndata: \{"reason":"watcher too slow: \d+ rows dropped"\}\n\n\r\n0\r\n\r\n$')
        self.assertEqual(self.watchers()["active"], 1)


class WatchEnds(WatchCase):
    def test_drop_table_ends_the_stream(self):
        w = self.watch()
        other = self.sql("CREATE TABLE other (time TIMESTAMP, v DOUBLE)")
        self.assertTrue(other["success"])
        o = self.watch("/db/watch/other")
        self.sql("DROP TABLE sensors")
        self.assertEqual(w.next(), ("error", {"reason": "table 'sensors' was dropped"}))
        self.assertEqual(w.next(), ("end", None))
        wait_for(lambda: self.watchers()["active"] == 1)
        self.write("other", [[T0, 1.5]])
        self.assertEqual(o.rows(1), [{"time": T0, "v": 1.5}])
        # A table of that name made again is a new table: watch it anew.
        self.sql("CREATE TABLE sensors (%s)" % SCHEMA)
        self.assertEqual(self.watch().status, 200)

    def test_sigterm_ends_every_stream_at_once(self):
        w = self.watch()
        hog = socket.socket()
        hog.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        hog.connect((HOST, self.broker.http_port))
        self.addCleanup(hog.close)
        hog.sendall(b"GET /db/watch/sensors HTTP/1.1\r\nHost: x\r\n\r\n")
        wait_for(lambda: self.watchers()["active"] == 2)
        self.write("sensors", [[T0 + i, "d1", "", 1.0, None, None, "q" * 200] for i in range(20000)])
        self.assertEqual(len(w.rows(20000, timeout=30)), 20000)
        began = time.monotonic()
        self.broker.stop()  # exit 0, nothing from the sanitizers
        self.assertLess(time.monotonic() - began, 8, "a watch holds the stop up no longer than 2 s")
        self.assertEqual(w.next(comments=True), ("comment", "server stopping"))
        self.assertEqual(w.next(comments=True), ("end", None))


if __name__ == "__main__":
    run_tests()
