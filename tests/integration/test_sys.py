#!/usr/bin/python3
"""$SYS topics, published every [sys] interval seconds (1 here), retained, like mosquitto."""

import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BrokerTestCase, run_tests, sync_marker, unique_topic  # noqa: E402

NUMERIC = [
    "$SYS/broker/clients/connected",
    "$SYS/broker/clients/total",
    "$SYS/broker/messages/received",
    "$SYS/broker/messages/sent",
    "$SYS/broker/bytes/received",
    "$SYS/broker/bytes/sent",
    "$SYS/broker/subscriptions/count",
    "$SYS/broker/retained messages/count",
    "$SYS/broker/publish/messages/dropped",
]
REQUIRED = ["$SYS/broker/version", "$SYS/broker/uptime"] + NUMERIC
UPTIME = re.compile(rb"^(\d+)( seconds)?$")


class SysWatcher:
    """A paho client subscribed to $SYS/#, remembering the latest value of each topic."""

    def __init__(self, client):
        self.client = client
        self.latest = {}
        client.subscribe("$SYS/#", 0)

    def drain(self, timeout):
        m = self.client.get(timeout=timeout)
        self.latest[m.topic] = m.payload
        return m

    def wait(self, predicate, what, timeout=4.0):
        """Read $SYS messages until predicate(self.latest) holds (bounded)."""
        deadline = time.monotonic() + timeout
        while not predicate(self.latest):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError("timed out waiting for %s; latest $SYS values: %r"
                                     % (what, {k: v for k, v in self.latest.items()
                                               if k in REQUIRED}))
            try:
                self.drain(remaining)
            except AssertionError:
                pass
        return self.latest

    def number(self, topic):
        return int(self.latest[topic])

    def wait_number(self, topic, predicate, what, timeout=4.0):
        self.wait(lambda l: topic in l and predicate(int(l[topic])), what, timeout)
        return int(self.latest[topic])

    def fresh_cycle(self, timeout=4.0):
        """Wait for a new periodic publication (a live uptime message) and the messages that
        follow it within the same cycle; afterwards latest[] reflects one recent cycle."""
        deadline = time.monotonic() + timeout
        while True:
            m = self.drain(max(0.001, deadline - time.monotonic()))
            if m.topic == "$SYS/broker/uptime" and not m.retain:
                break
        # the rest of this cycle
        while True:
            try:
                self.drain(0.3)
            except AssertionError:
                return self.latest


class Sys(BrokerTestCase):
    broker_config = {"sys": {"interval": 1}}

    def watcher(self):
        return SysWatcher(self.paho())

    def test_required_topics_are_published(self):
        w = self.watcher()
        w.wait(lambda l: all(t in l for t in REQUIRED), "all required $SYS topics")
        latest = w.fresh_cycle()  # values from a publication made while we are connected
        self.assertTrue(latest["$SYS/broker/version"].strip(), "empty $SYS/broker/version")
        self.assertRegex(latest["$SYS/broker/uptime"], UPTIME)
        for t in NUMERIC:
            self.assertRegex(latest[t], rb"^\d+$", t)
        self.assertGreaterEqual(w.number("$SYS/broker/clients/connected"), 1)
        self.assertGreaterEqual(w.number("$SYS/broker/clients/total"),
                                w.number("$SYS/broker/clients/connected"))
        self.assertGreaterEqual(w.number("$SYS/broker/subscriptions/count"), 1)

    def test_topics_are_retained(self):
        w = self.watcher()
        w.wait(lambda l: all(t in l for t in REQUIRED), "all required $SYS topics")
        late = self.paho()
        late.subscribe("$SYS/#", 0)
        marker = unique_topic("marker")
        late.subscribe(marker, 0)
        got = sync_marker(late, late, marker)
        retained = {m.topic for m in got if m.retain}
        self.assertEqual(sorted(t for t in REQUIRED if t not in retained), [],
                         "$SYS topics not delivered as retained on subscribe")

    def test_uptime_advances(self):
        w = self.watcher()
        first = int(UPTIME.match(w.wait(lambda l: "$SYS/broker/uptime" in l,
                                        "uptime")["$SYS/broker/uptime"]).group(1))
        w.wait(lambda l: int(UPTIME.match(l["$SYS/broker/uptime"]).group(1)) > first,
               "uptime to advance past %d" % first, timeout=4.5)

    def test_clients_connected_follows_connections(self):
        w = self.watcher()
        w.fresh_cycle()
        base = w.number("$SYS/broker/clients/connected")
        clients = []
        for _ in range(5):
            c = self.raw()
            c.connect()
            clients.append(c)
        w.wait_number("$SYS/broker/clients/connected", lambda v: v == base + 5,
                      "clients/connected == %d" % (base + 5))
        self.assertGreaterEqual(w.number("$SYS/broker/clients/total"), base + 5)
        for c in clients:
            c.disconnect()
        w.wait_number("$SYS/broker/clients/connected", lambda v: v == base,
                      "clients/connected back to %d" % base)

    def test_message_and_byte_counters_grow(self):
        w = self.watcher()
        w.fresh_cycle()
        received = w.number("$SYS/broker/messages/received")
        sent = w.number("$SYS/broker/messages/sent")
        bytes_received = w.number("$SYS/broker/bytes/received")
        bytes_sent = w.number("$SYS/broker/bytes/sent")
        topic = unique_topic("count")
        sub = self.paho()
        sub.subscribe(topic, 1)
        pub = self.paho()
        for i in range(20):
            pub.publish(topic, b"x" * 1000, qos=1)
        sub.get_many(20)
        w.wait_number("$SYS/broker/messages/received", lambda v: v >= received + 20,
                      "messages/received >= %d" % (received + 20))
        w.wait_number("$SYS/broker/messages/sent", lambda v: v >= sent + 20,
                      "messages/sent >= %d" % (sent + 20))
        w.wait_number("$SYS/broker/bytes/received", lambda v: v >= bytes_received + 20000,
                      "bytes/received >= %d" % (bytes_received + 20000))
        w.wait_number("$SYS/broker/bytes/sent", lambda v: v >= bytes_sent + 20000,
                      "bytes/sent >= %d" % (bytes_sent + 20000))

    def test_subscription_and_retained_counts(self):
        w = self.watcher()
        w.fresh_cycle()
        subs = w.number("$SYS/broker/subscriptions/count")
        retained = w.number("$SYS/broker/retained messages/count")
        c = self.paho()
        base = unique_topic("cnt")
        c.subscribe([(base + "/a", 0), (base + "/b", 1), (base + "/+", 2)])
        for i in range(3):
            c.publish("%s/r%d" % (base, i), b"keep", qos=1, retain=True)
        w.wait_number("$SYS/broker/subscriptions/count", lambda v: v >= subs + 3,
                      "subscriptions/count >= %d" % (subs + 3))
        w.wait_number("$SYS/broker/retained messages/count", lambda v: v >= retained + 3,
                      "retained messages/count >= %d" % (retained + 3))
        c.unsubscribe(base + "/a")
        w.wait_number("$SYS/broker/subscriptions/count", lambda v: v == subs + 2,
                      "subscriptions/count == %d" % (subs + 2))


if __name__ == "__main__":
    run_tests()
