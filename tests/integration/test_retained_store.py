#!/usr/bin/python3
"""The retained store as an operator sees it through $SYS: expired retained messages leave
the store (and `$SYS/broker/retained messages/count`) instead of staying until replaced; the
limits.max_retained_messages / max_retained_bytes caps refuse new retained messages (still
routed; MQTT 5 QoS 1/2 hear 0x97 Quota exceeded) and count the refusals in
`$SYS/broker/retained messages/refused`."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (MESSAGE_EXPIRY_INTERVAL, PUBCOMP, PUBREC, PUBREL,  # noqa: E402
                     V5TestCase, ack5_packet, parse_ack5, publish5_packet, run_tests,
                     skip_if_mosquitto, sync_marker, unique_topic)
from test_sys import SysWatcher  # noqa: E402

COUNT = "$SYS/broker/retained messages/count"
REFUSED = "$SYS/broker/retained messages/refused"


class RetainedStoreTestCase(V5TestCase):
    broker_config = {"sys": {"interval": 1}}

    def watcher(self):
        w = SysWatcher(self.paho())
        w.fresh_cycle()  # every $SYS topic is stored by now: the count is steady
        return w

    def retained_on_subscribe(self, filter_):
        """Topics and payloads a new subscriber to `filter_` gets (proven complete by a marker)."""
        sub = self.paho()
        sub.subscribe(filter_, 1)
        marker = unique_topic("marker")
        sub.subscribe(marker, 0)
        return sorted((m.topic, m.payload) for m in sync_marker(sub, sub, marker) if m.retain)


@skip_if_mosquitto("2.0.11 keeps counting an expired retained message")
class RetainedExpiry(RetainedStoreTestCase):

    def test_expired_retained_message_leaves_the_count(self):
        w = self.watcher()
        base = w.number(COUNT)
        pub = self.raw5()
        pub.connect()
        topic = unique_topic("exp")
        pub.publish(topic + "/short", b"short-lived", qos=1, retain=True,
                    props=[(MESSAGE_EXPIRY_INTERVAL, 1)])
        pub.publish(topic + "/kept", b"stays", qos=1, retain=True)
        w.wait_number(COUNT, lambda v: v == base + 2, "%s == %d" % (COUNT, base + 2))
        # Once it expires (1 s) the periodic sweep removes it, with no subscriber looking.
        w.wait_number(COUNT, lambda v: v == base + 1,
                      "%s back to %d after the expiry" % (COUNT, base + 1), timeout=6)
        self.assertEqual(self.retained_on_subscribe(topic + "/#"), [(topic + "/kept", b"stays")])


@skip_if_mosquitto("no cap on retained messages")
class RetainedCountCap(RetainedStoreTestCase):
    broker_config = {"sys": {"interval": 1}, "limits": {"max_retained_messages": 3}}

    def test_new_topics_past_the_cap_are_routed_but_not_stored(self):
        w = self.watcher()  # the $SYS topics are stored, and do not count against the cap
        refused = w.number(REFUSED)
        base = unique_topic("cap")
        live = self.paho()
        live.subscribe(base + "/#", 1)
        pub = self.raw5()
        pub.connect()
        for i in range(3):
            self.assertEqual(pub.publish("%s/%d" % (base, i), b"v", qos=1, retain=True), 0x00)
        self.assertEqual(pub.publish(base + "/3", b"v", qos=1, retain=True), 0x97)
        self.assertEqual(pub.publish(base + "/4", b"v", qos=2, retain=True), 0x97)
        refused_qos2_id = pub.next_id - 1
        pub.publish(base + "/5", b"v", qos=0, retain=True)
        v3 = self.paho()
        v3.publish(base + "/6", b"v", qos=1, retain=True)  # 3.1.1 cannot be told: plain PUBACK
        self.assertEqual(sorted(m.topic for m in live.get_many(7)),
                         ["%s/%d" % (base, i) for i in range(7)], "every message was routed")
        self.assertEqual(self.retained_on_subscribe(base + "/#"),
                         [("%s/%d" % (base, i), b"v") for i in range(3)])
        w.wait_number(REFUSED, lambda v: v == refused + 4, "%s == %d" % (REFUSED, refused + 4))

        # Replacing and clearing still work when full; a clear makes room.
        self.assertEqual(pub.publish(base + "/0", b"new", qos=1, retain=True), 0x00)
        self.assertEqual(pub.publish(base + "/1", b"", qos=1, retain=True), 0x00)
        self.assertEqual(pub.publish(base + "/3", b"v", qos=1, retain=True), 0x00)
        self.assertEqual(self.retained_on_subscribe(base + "/#"),
                         [(base + "/0", b"new"), (base + "/2", b"v"), (base + "/3", b"v")])

        # The PUBREC 0x97 ended that QoS 2 flow: its packet id is free for a new message.
        pub.send(publish5_packet(base + "/again", b"again", qos=2, packet_id=refused_qos2_id))
        ack = pub._read_ack(5)
        self.assertEqual((ack.type, parse_ack5(ack)[:2]), (PUBREC, (refused_qos2_id, 0)))
        pub.send(ack5_packet(PUBREL, refused_qos2_id))
        self.assertEqual(pub._read_ack(5).type, PUBCOMP)
        while live.get().payload != b"again":
            pass  # the new message is routed, not taken for a resend of the refused one


@skip_if_mosquitto("no cap on retained messages")
class RetainedBytesCap(RetainedStoreTestCase):
    broker_config = {"sys": {"interval": 1}, "limits": {"max_retained_bytes": 100}}

    def test_bytes_cap_counts_topic_and_payload(self):
        w = self.watcher()
        refused = w.number(REFUSED)
        base = unique_topic("capb")  # 17 characters; "/a" makes the topic 19
        pub = self.raw5()
        pub.connect()
        self.assertIn(pub.publish(base + "/a", b"x" * 50, qos=1, retain=True), (0x00, 0x10))
        self.assertEqual(pub.publish(base + "/b", b"x" * 50, qos=1, retain=True), 0x97)  # 138
        self.assertIn(pub.publish(base + "/a", b"y" * 80, qos=1, retain=True), (0x00, 0x10))  # 99
        self.assertEqual(pub.publish(base + "/a", b"z" * 90, qos=2, retain=True), 0x97)  # 109
        self.assertEqual(self.retained_on_subscribe(base + "/#"), [(base + "/a", b"y" * 80)],
                         "a refused replacement keeps what the topic had")
        w.wait_number(REFUSED, lambda v: v == refused + 2, "%s == %d" % (REFUSED, refused + 2))


if __name__ == "__main__":
    run_tests()
