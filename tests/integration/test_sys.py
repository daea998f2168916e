#!/usr/bin/python3
"""$SYS topics, published every [sys] interval seconds (1 here), retained, like mosquitto."""

import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (PROTOCOLS, PUBCOMP, PUBREL, BrokerTestCase, V5TestCase,  # noqa: E402
                     ack5_packet, parse_ack5, run_tests, skip_if_mosquitto, sync_marker,
                     unique_topic)

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


DROPPED = "$SYS/broker/publish/messages/dropped"


class SysIsReadOnly(V5TestCase):
    """Clients cannot publish into $SYS: the broker owns that tree. MQTT 5 QoS 1/2 hear PUBACK /
    PUBREC 0x87 (Not authorized); QoS 0 and 3.x publishes are acknowledged as usual and dropped.
    Either way nothing is routed or retained, and the drop is counted in publish/messages/dropped."""

    broker_config = {"sys": {"interval": 1}}

    def spy(self, base):
        """A client subscribed to `base`/# and to a marker topic; returns (client, marker)."""
        c = self.paho()
        c.subscribe(base + "/#", 2)
        marker = unique_topic("marker")
        c.subscribe(marker, 0)
        return c, marker

    def assert_nothing_routed(self, spy, marker):
        self.assertEqual([(m.topic, m.payload) for m in sync_marker(spy, spy, marker)], [],
                         "a client's PUBLISH to $SYS was routed")

    @skip_if_mosquitto("it refuses every topic starting with '$SYS', '$SYSTEM/x' included")
    def test_v5_publish_to_sys_is_refused_with_0x87(self):
        w = SysWatcher(self.paho())
        w.fresh_cycle()
        dropped = w.number(DROPPED)
        base = "$SYS/" + unique_topic("v5")
        spy, marker = self.spy(base)
        pub = self.raw5()
        pub.connect()
        self.assertEqual(pub.publish(base + "/q1", b"x", qos=1), 0x87)
        self.assertEqual(pub.publish(base + "/q2", b"x", qos=2), 0x87)  # the flow ends there
        pub.publish(base + "/q0", b"x", qos=0)
        self.assertEqual(pub.publish(base + "/r", b"x", qos=1, retain=True), 0x87)
        self.assertEqual(pub.publish("$SYS", b"x", qos=1), 0x87)
        # Topics that only look like $SYS are ordinary ones.
        self.assertIn(pub.publish("$SYSTEM/x", b"x", qos=1), (0x00, 0x10))
        self.assertIn(pub.publish("a/$SYS/x", b"x", qos=1), (0x00, 0x10))
        # The connection is still usable, and the refused QoS 2 id is free again.
        self.assertEqual(pub.publish(base + "/q2", b"x", qos=2), 0x87)
        self.assert_nothing_routed(spy, marker)
        self.assertEqual(self.retained_under(base), [])
        w.wait_number(DROPPED, lambda v: v >= dropped + 6, "%s >= %d" % (DROPPED, dropped + 6))

    def test_v3_publish_to_sys_is_dropped(self):
        for version in ("3.1", "3.1.1"):
            with self.subTest(version=version):
                base = "$SYS/" + unique_topic("v3")
                spy, marker = self.spy(base)
                pub = self.paho(protocol=PROTOCOLS[version])
                for qos in (0, 1, 2):
                    pub.publish(base + "/q%d" % qos, b"x", qos=qos)  # flows complete as usual
                pub.publish(base + "/r", b"x", qos=1, retain=True)
                self.assert_nothing_routed(spy, marker)
                self.assertEqual(self.retained_under(base), [])
                self.assertTrue(pub.connected.is_set() and not pub.disconnected.is_set(),
                                "a 3.x client was disconnected for publishing to $SYS")

    def test_broker_values_cannot_be_overwritten(self):
        w = SysWatcher(self.paho())
        w.wait(lambda l: "$SYS/broker/version" in l, "$SYS/broker/version")
        version = w.latest["$SYS/broker/version"]
        evil = self.paho()
        evil.publish("$SYS/broker/version", b"hacked", qos=1, retain=True)
        evil.publish("$SYS/broker/clients/connected", b"999", qos=1, retain=True)
        got = dict(self.retained_under("$SYS/broker"))
        self.assertEqual(got.get("$SYS/broker/version"), version)
        self.assertNotEqual(got.get("$SYS/broker/clients/connected"), b"999")

    @skip_if_mosquitto("it answers that PUBREL with PUBCOMP 0x00")
    def test_v5_qos2_pubrel_after_refusal_is_answered(self):
        # A client that sends PUBREL anyway (it should not after a PUBREC >= 0x80) gets PUBCOMP
        # 0x92 (Packet Identifier not found): the refused flow kept nothing.
        pub = self.raw5()
        pub.connect()
        self.assertEqual(pub.publish("$SYS/x", b"x", qos=2), 0x87)
        pid = pub.next_id - 1
        pub.send(ack5_packet(PUBREL, pid))
        comp = pub._read_ack(5)
        self.assertEqual((comp.type, parse_ack5(comp)[:2]), (PUBCOMP, (pid, 0x92)))

    @skip_if_mosquitto("2.0.11 accepts a CONNECT whose will topic is under $SYS")
    def test_will_under_sys_is_refused_at_connect(self):
        # A will is a publish made in advance: the CONNECT carrying one for $SYS is refused.
        v3 = self.raw()
        v3.connect(will_topic="$SYS/broker/version", will_payload=b"hacked", will_retain=True,
                   expect=b"\x20\x02\x00\x05")  # 5: not authorized
        v5 = self.raw5()
        v5.connect(will_topic="$SYS/x", will_payload=b"x", expect_reason=0x87)
        ok = self.raw()
        ok.connect(will_topic="$SYSTEM/x", will_payload=b"x")  # not $SYS: accepted

    def retained_under(self, base):
        """(topic, payload) of the retained messages a new subscriber to `base`/# gets."""
        sub = self.paho()
        sub.subscribe(base + "/#", 0)
        marker = unique_topic("marker")
        sub.subscribe(marker, 0)
        return sorted((m.topic, m.payload) for m in sync_marker(sub, sub, marker))


@skip_if_mosquitto("2.0.11 has the same stale start-up values until its next interval")
class SysFreshOnSubscribe(BrokerTestCase):
    """Item 13: with the default interval (10 s) the $SYS values stored at start-up said
    clients/connected 0 to the very client reading them. A SUBSCRIBE to $SYS brings the
    retained values up to date before they are sent."""

    broker_config = None  # default sys.interval: nothing periodic happens during the test

    def retained_values(self, client, filter_):
        client.subscribe(filter_, 0)
        marker = unique_topic("marker")
        client.subscribe(marker, 0)
        return {m.topic: m.payload for m in sync_marker(client, client, marker) if m.retain}

    def test_clients_connected_counts_the_reader(self):
        reader = self.paho()
        got = self.retained_values(reader, "$SYS/broker/clients/connected")
        self.assertGreaterEqual(int(got["$SYS/broker/clients/connected"]), 1, got)

    def test_values_follow_each_subscribe(self):
        first = self.paho()
        self.retained_values(first, "$SYS/broker/clients/connected")
        others = [self.paho() for _ in range(3)]
        base = unique_topic("fresh")
        others[0].publish(base + "/r", b"kept", qos=1, retain=True)
        got = self.retained_values(others[1], "$SYS/broker/#")
        self.assertEqual(int(got["$SYS/broker/clients/connected"]), 4, got)
        self.assertGreaterEqual(int(got["$SYS/broker/clients/total"]), 4, got)
        self.assertGreaterEqual(int(got["$SYS/broker/subscriptions/count"]), 2, got)
        self.assertRegex(got["$SYS/broker/uptime"], UPTIME)


if __name__ == "__main__":
    run_tests()
