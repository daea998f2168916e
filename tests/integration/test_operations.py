#!/usr/bin/python3
"""What an operator reads off a running server (docs/operations.md): GET /metrics in the
Prometheus text format, read by Prometheus's own parser (python3-prometheus-client) while
mosquitto_pub bursts, paho clients and the ingest move its counters; GET /ready; the console's
GET /api/overview; POST /api/clients/disconnect; and all of them behind the password and ACL
files when authentication is on."""

import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (BrokerTestCase, http_request as request, mqbase_binary, paho5, run_tests,  # noqa: E402
                     skip_if_mosquitto, unique_id, unique_topic, wait_for)


def scrape(broker, **auth):
    """{family name: family} and {(sample name, frozenset(labels)): value} of one /metrics."""
    status, headers, body = request(broker.http_url("/metrics"), **auth)
    assert status == 200, (status, body)
    assert headers.get("Content-Type", "").startswith("text/plain; version=0.0.4"), headers
    families = {f.name: f for f in text_string_to_metric_families(body)}
    samples = {}
    for f in families.values():
        for s in f.samples:
            samples[(s.name, frozenset(s.labels.items()))] = s.value
    return families, samples


def value(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())), 0.0)


def burst(port, topic, count, qos=1):
    """seq 1 COUNT | mosquitto_pub -l: one connection publishing COUNT lines."""
    lines = "".join("%d\n" % i for i in range(1, count + 1))
    subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), "-t", topic, "-q", str(qos), "-l"],
                   input=lines.encode(), check=True, timeout=120)


@skip_if_mosquitto("/metrics is mqbase's")
class Metrics(BrokerTestCase):
    broker_config = {"server": {"threads": 2}}

    def test_parses_as_prometheus_text_with_the_documented_families(self):
        families, samples = scrape(self.broker)
        expected = {
            "mqbase_connections": "gauge", "mqbase_messages_received": "counter",
            "mqbase_messages_sent": "counter", "mqbase_payload_received_bytes": "counter",
            "mqbase_received_bytes": "counter", "mqbase_sent_bytes": "counter",
            "mqbase_messages_dropped": "counter", "mqbase_queued_messages": "gauge",
            "mqbase_inflight_messages": "gauge", "mqbase_wal_append_seconds": "histogram",
            "mqbase_wal_fsync_seconds": "histogram", "mqbase_checkpoint_seconds": "histogram",
            "mqbase_storage_bytes": "gauge", "mqbase_queries": "counter", "mqbase_query_seconds": "histogram",
            "process_cpu_seconds": "counter", "process_resident_memory_bytes": "gauge",
            "process_open_fds": "gauge", "mqbase_ready": "gauge",
        }
        for name, kind in expected.items():
            self.assertIn(name, families, "missing family %s" % name)
            self.assertEqual(families[name].type, kind, name)
        # Every documented family is in docs/operations.md.
        with open(os.path.join(os.path.dirname(__file__), "..", "..", "docs", "operations.md")) as f:
            doc = f.read()
        for name, f in families.items():
            exposed = name + "_total" if f.type == "counter" else name
            self.assertTrue("`%s`" % exposed in doc or "`%s{" % exposed in doc,
                            "docs/operations.md does not list %s" % exposed)
        self.assertEqual(value(samples, "mqbase_ready"), 1.0)
        self.assertGreater(value(samples, "process_resident_memory_bytes"), 1 << 20)
        # Histogram buckets are cumulative and end at +Inf = _count.
        fsync = [s for s in families["mqbase_wal_fsync_seconds"].samples if s.name.endswith("_bucket")]
        counts = [s.value for s in fsync]
        self.assertEqual(counts, sorted(counts))
        self.assertEqual(fsync[-1].labels["le"], "+Inf")
        self.assertEqual(counts[-1], value(samples, "mqbase_wal_fsync_seconds_count"))

    def test_counters_move_as_a_burst_flows(self):
        _, before = scrape(self.broker)
        topic = unique_topic("ops")
        sub = self.paho(unique_id("sub"))
        sub.subscribe(topic, qos=1)
        _, during = scrape(self.broker)
        self.assertEqual(value(during, "mqbase_connections"), value(before, "mqbase_connections") + 1)
        burst(self.port, topic, 2000, qos=1)
        for _ in range(2000):
            sub.get(timeout=30)
        burst(self.port, topic, 300, qos=0)
        wait_for(lambda: value(scrape(self.broker)[1], "mqbase_messages_sent_total", qos="0") >=
                 value(before, "mqbase_messages_sent_total", qos="0") + 300, message="300 QoS 0 sent")
        _, after = scrape(self.broker)
        self.assertEqual(value(after, "mqbase_messages_received_total", qos="1") -
                         value(before, "mqbase_messages_received_total", qos="1"), 2000)
        self.assertEqual(value(after, "mqbase_messages_received_total", qos="0") -
                         value(before, "mqbase_messages_received_total", qos="0"), 300)
        self.assertEqual(value(after, "mqbase_messages_sent_total", qos="1") -
                         value(before, "mqbase_messages_sent_total", qos="1"), 2000)
        payload = sum(len(str(i)) for i in range(1, 2001))
        self.assertEqual(value(after, "mqbase_payload_received_bytes_total", qos="1") -
                         value(before, "mqbase_payload_received_bytes_total", qos="1"), payload)
        self.assertGreater(value(after, "mqbase_received_bytes_total"),
                           value(before, "mqbase_received_bytes_total") + payload)
        self.assertGreater(value(after, "mqbase_sent_bytes_total"), value(before, "mqbase_sent_bytes_total"))

    def test_durable_writes_show_in_the_wal_histograms(self):
        _, before = scrape(self.broker)
        # A persistent session's messages are written to the log before they are acknowledged.
        sub = self.paho("keeper", clean_session=False)
        topic = unique_topic("kept")
        sub.subscribe(topic, qos=1)
        sub.close()
        burst(self.port, topic, 200, qos=1)
        _, after = scrape(self.broker)
        self.assertGreater(value(after, "mqbase_wal_records_total"), value(before, "mqbase_wal_records_total"))
        self.assertGreater(value(after, "mqbase_wal_fsync_seconds_count"),
                           value(before, "mqbase_wal_fsync_seconds_count"))
        self.assertGreater(value(after, "mqbase_wal_append_seconds_count"),
                           value(before, "mqbase_wal_append_seconds_count"))
        self.assertEqual(value(after, "mqbase_queued_messages"), 200.0)
        self.assertGreater(value(after, "mqbase_storage_bytes"), 0)

    def test_ingest_rows_and_errors_by_table_and_queries(self):
        _, before = scrape(self.broker)
        lines = "".join(json.dumps([["dev%d" % (i % 3), time.time_ns() + i, float(i)]]) + "\n" for i in range(100))
        subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(self.port), "-t", "db/append/ops_m",
                        "-q", "1", "-l"], input=lines.encode(), check=True, timeout=60)
        subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(self.port), "-t", "db/append/ops_m",
                        "-q", "1", "-m", "{not json"], check=True, timeout=60)
        for sql in ["SELECT count(*) FROM ops_m", "SELECT nonsense FROM nowhere"]:
            request(self.broker.http_url("/db/query?" + urllib.parse.urlencode({"q": sql})))
        families, after = scrape(self.broker)
        self.assertEqual(value(after, "mqbase_ingest_rows_total", table="ops_m"), 100)
        self.assertEqual(value(after, "mqbase_ingest_errors_total", table="ops_m"), 1)
        self.assertEqual(value(after, "mqbase_table_rows", table="ops_m"), 100)
        self.assertEqual(value(after, "mqbase_queries_total", result="ok") -
                         value(before, "mqbase_queries_total", result="ok"), 1)
        self.assertEqual(value(after, "mqbase_queries_total", result="error") -
                         value(before, "mqbase_queries_total", result="error"), 1)
        self.assertEqual(value(after, "mqbase_query_seconds_count") - value(before, "mqbase_query_seconds_count"), 2)

    def test_drops_are_counted_by_reason(self):
        # A PUBLISH to $SYS goes nowhere: not_authorized.
        subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(self.port), "-t", "$SYS/x", "-m", "1"],
                       check=True, timeout=60)
        wait_for(lambda: value(scrape(self.broker)[1], "mqbase_messages_dropped_total", reason="not_authorized") == 1,
                 message="a $SYS publish counted as not_authorized")
        _, samples = scrape(self.broker)
        for reason in ["queue_full", "slow_client", "too_large", "no_share_member"]:
            self.assertIn(("mqbase_messages_dropped_total", frozenset({"reason": reason}.items())), samples)

    def test_a_message_over_the_maximum_packet_size_counts_too_large(self):
        topic = unique_topic("big")
        sub = paho5(self, unique_id("small"), connect_props={"MaximumPacketSize": 200})
        sub.subscribe(topic, qos=0)
        _, before = scrape(self.broker)
        subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(self.port), "-t", topic, "-m", "x" * 1000],
                       check=True, timeout=60)
        subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(self.port), "-t", topic, "-m", "small"],
                       check=True, timeout=60)
        self.assertEqual(sub.messages.get(timeout=30).payload, b"small")
        _, after = scrape(self.broker)
        self.assertEqual(value(after, "mqbase_messages_dropped_total", reason="too_large") -
                         value(before, "mqbase_messages_dropped_total", reason="too_large"), 1)

    def test_a_shared_members_unacknowledged_messages_count_no_share_member_when_its_session_ends(self):
        # A raw v5 member (Session Expiry 0) takes QoS 1 messages and never acknowledges them; its
        # session ends with the connection and no other member exists: each is dropped, counted.
        topic = unique_topic("share")
        member = socket.create_connection(("127.0.0.1", self.port), timeout=30)
        member.sendall(mqtt_packet(0x10, mqtt_str(b"MQTT") + b"\x05\x02\x00\x3c\x00" + mqtt_str(b"m1")))
        self.assertEqual(read_packet(member)[0], 0x20)
        member.sendall(mqtt_packet(0x82, b"\x00\x01\x00" + mqtt_str(("$share/g/" + topic).encode()) + b"\x01"))
        self.assertEqual(read_packet(member), (0x90, b"\x00\x01\x00\x01"))
        _, before = scrape(self.broker)
        burst(self.port, topic, 5, qos=1)
        wait_for(lambda: value(scrape(self.broker)[1], "mqbase_inflight_messages") == 5,
                 message="5 messages in flight to the member")
        member.close()
        wait_for(lambda: value(scrape(self.broker)[1], "mqbase_messages_dropped_total", reason="no_share_member") -
                 value(before, "mqbase_messages_dropped_total", reason="no_share_member") == 5,
                 message="5 no_share_member drops")


def read_packet(sock):
    """(first byte, body) of the next MQTT packet on a blocking socket."""
    def exactly(n):
        data = b""
        while len(data) < n:
            chunk = sock.recv(n - len(data))
            if not chunk:
                raise EOFError("connection closed")
            data += chunk
        return data
    first = exactly(1)[0]
    length, shift = 0, 0
    while True:
        d = exactly(1)[0]
        length |= (d & 0x7F) << shift
        shift += 7
        if not d & 0x80:
            return first, exactly(length)


def mqtt_str(b):
    return struct.pack(">H", len(b)) + b


def mqtt_packet(first, body):
    n, length = len(body), b""
    while True:
        d, n = n % 128, n // 128
        length += bytes([d | (0x80 if n else 0)])
        if not n:
            return bytes([first]) + length + body


@skip_if_mosquitto("/metrics is mqbase's")
class SlowClientDrops(BrokerTestCase):
    broker_config = {"server": {"threads": 2}, "limits": {"max_write_buffer": 65536}}

    def test_qos0_to_a_subscriber_that_does_not_read_counts_slow_client(self):
        topic = unique_topic("slow")
        stalled = socket.socket()
        stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stalled.connect(("127.0.0.1", self.port))
        stalled.sendall(mqtt_packet(0x10, mqtt_str(b"MQTT") + b"\x04\x02\x00\x3c" + mqtt_str(b"stalled")))
        self.assertEqual(read_packet(stalled), (0x20, b"\x00\x00"))
        stalled.sendall(mqtt_packet(0x82, b"\x00\x01" + mqtt_str(topic.encode()) + b"\x00"))
        self.assertEqual(read_packet(stalled), (0x90, b"\x00\x01\x00"))
        self.addCleanup(stalled.close)
        # 20,000 messages of 1 KB: 20 MB, far over the 64 KB the broker may hold for it plus what
        # the kernel's socket buffers take (loopback autotunes them up to a few MB).
        lines = "".join(("%05d" % i)[:4] * 256 + "\n" for i in range(20000))
        subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(self.port), "-t", topic, "-l"],
                       input=lines.encode(), check=True, timeout=120)
        wait_for(lambda: value(scrape(self.broker)[1], "mqbase_messages_dropped_total", reason="slow_client") > 0,
                 timeout=30, message="slow_client drops")


@skip_if_mosquitto("/metrics is mqbase's")
class QueueFullDrops(BrokerTestCase):
    # In memory: a durable session's queue is bounded by the disk budget, not by the limits.
    broker_config = {"server": {"threads": 2}, "limits": {"max_queued_messages": 10},
                     "storage": {"durability": "none"}}

    def test_an_offline_queue_over_its_limit_counts_queue_full(self):
        sub = self.paho("offline", clean_session=False)
        topic = unique_topic("q")
        sub.subscribe(topic, qos=1)
        sub.close()
        _, before = scrape(self.broker)
        burst(self.port, topic, 50, qos=1)
        _, after = scrape(self.broker)
        dropped = value(after, "mqbase_messages_dropped_total", reason="queue_full") - \
            value(before, "mqbase_messages_dropped_total", reason="queue_full")
        queued = value(after, "mqbase_queued_messages")
        self.assertEqual(queued + dropped, 50, (queued, dropped))
        self.assertGreater(dropped, 0)


@skip_if_mosquitto("/ready and /api are mqbase's")
class ReadyOverviewDisconnect(BrokerTestCase):
    broker_config = {"server": {"threads": 2}}

    def test_ready(self):
        status, _, body = request(self.broker.http_url("/ready"))
        self.assertEqual((status, json.loads(body)), (200, {"status": "ready"}))
        status, headers, _ = request(self.broker.http_url("/ready"), method="POST", body="")
        self.assertEqual(status, 405)
        self.assertEqual(headers.get("Allow"), "GET")

    def test_overview_samples_move(self):
        status, _, body = request(self.broker.http_url("/api/overview"))
        self.assertEqual(status, 200, body)
        first = json.loads(body)
        self.assertEqual(first["interval_ms"], 5000)
        self.assertGreaterEqual(len(first["samples"]), 1)
        keys = {"time_ms", "clients", "messages_in", "messages_out", "bytes_in", "bytes_out", "dropped",
                "storage_bytes", "wal_fsyncs", "wal_fsync_seconds"}
        self.assertEqual(set(first["samples"][0]), keys)
        last = first["samples"][-1]["time_ms"]
        self.paho(unique_id("c"))
        burst(self.port, unique_topic("o"), 100, qos=1)

        def newer():
            s, _, b = request(self.broker.http_url("/api/overview?since=%d" % last))
            return json.loads(b)["samples"] if s == 200 else []
        wait_for(lambda: newer(), timeout=15, message="a sample after the first")
        s = newer()[-1]
        self.assertGreater(s["time_ms"], last)
        self.assertGreaterEqual(s["messages_in"], first["samples"][-1]["messages_in"] + 100)
        self.assertEqual(s["clients"], 1)
        status, _, body = request(self.broker.http_url("/api/overview?since=yesterday"))
        self.assertEqual(status, 400)
        self.assertIn("since", json.loads(body)["reason"])

    def kicked_sub(self, client_id, *args):
        """A mosquitto_sub -V 5 -d that prints the DISCONNECT it receives."""
        p = subprocess.Popen(["mosquitto_sub", "-V", "5", "-d", "-h", "127.0.0.1", "-p", str(self.port), "-t", "x",
                              "-i", client_id] + list(args), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.addCleanup(lambda: p.poll() is None and p.kill())
        return p

    def test_disconnect_a_client(self):
        # An MQTT 5 client hears DISCONNECT 0x98 (administrative action) and its will goes out.
        watcher = self.paho(unique_id("w"))
        watcher.subscribe("wills/#", qos=1)
        p = self.kicked_sub("victim", "--will-topic", "wills/victim", "--will-payload", "gone", "--will-qos", "1")
        url = self.broker.http_url("/api/clients/disconnect?client_id=victim")
        wait_for(lambda: request(url, method="POST", body="")[0] == 200, message="the client connected and kicked")
        out = p.communicate(timeout=10)[0].decode()
        self.assertIn("Received DISCONNECT (152)", out)
        self.assertEqual(watcher.get(timeout=10).payload, b"gone")
        status, _, body = request(url, method="POST", body="")
        self.assertEqual(status, 404, body)
        self.assertIn("victim", json.loads(body)["reason"])
        self.assertEqual(request(self.broker.http_url("/api/clients/disconnect"), method="POST", body="")[0], 400)
        self.assertEqual(request(url)[0], 405)
        self.assertEqual(request(self.broker.http_url("/api/nothing"))[0], 404)


ACL = """\
user ops
topic read $SYS/#
topic write $CONTROL/mqbase/#

user plain
topic readwrite data/#
"""


@skip_if_mosquitto("the HTTP API is mqbase's")
class BehindTheDoor(BrokerTestCase):
    def setUp(self):
        self.files = tempfile.mkdtemp(prefix="mqbase-ops-")
        self.addCleanup(shutil.rmtree, self.files, True)
        pwfile = os.path.join(self.files, "passwd")
        for i, user in enumerate(["ops", "plain"]):
            subprocess.run([mqbase_binary(), "passwd"] + (["-c"] if i == 0 else []) + ["-b", pwfile, user, "pw-" + user],
                           check=True, capture_output=True, timeout=60)
        aclfile = os.path.join(self.files, "acl")
        with open(aclfile, "w") as f:
            f.write(ACL)
        self.broker = self.start_broker({"server": {"threads": 2},
                                         "auth": {"password_file": pwfile, "acl_file": aclfile},
                                         "http": {"allow_anonymous": False}})
        self.port = self.broker.port

    def test_ready_is_open_metrics_need_credentials_and_the_acl(self):
        self.assertEqual(request(self.broker.http_url("/ready"))[0], 200)
        self.assertEqual(request(self.broker.http_url("/metrics"))[0], 401)
        self.assertEqual(request(self.broker.http_url("/metrics"), user="plain", password="pw-plain")[0], 403)
        scrape(self.broker, user="ops", password="pw-ops")
        self.assertEqual(request(self.broker.http_url("/api/overview"), user="plain", password="pw-plain")[0], 403)
        self.assertEqual(request(self.broker.http_url("/api/overview"), user="ops", password="pw-ops")[0], 200)

    def test_disconnect_needs_control_write(self):
        p = subprocess.Popen(["mosquitto_sub", "-V", "5", "-d", "-h", "127.0.0.1", "-p", str(self.port), "-t", "data/x",
                              "-i", "someone", "-u", "plain", "-P", "pw-plain"],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.addCleanup(lambda: p.poll() is None and p.kill())
        url = self.broker.http_url("/api/clients/disconnect?client_id=someone")
        # Until it is connected the answer is 404 for ops; plain is refused either way.
        status, _, body = request(url, method="POST", body="", user="plain", password="pw-plain")
        self.assertEqual(status, 403, body)
        self.assertIn("$CONTROL/mqbase/disconnect", json.loads(body)["reason"])
        wait_for(lambda: request(url, method="POST", body="", user="ops", password="pw-ops")[0] == 200,
                 message="ops kicked the client")
        self.assertIn("Received DISCONNECT (152)", p.communicate(timeout=10)[0].decode())


if __name__ == "__main__":
    run_tests()
