#!/usr/bin/python3
"""Topics and filters with tens of thousands of levels ("/" * 60000: the most a 65535-byte
topic string can hold). By default (limits.max_topic_levels = 200, mosquitto's figure) they
are refused cleanly: 3.x PUBLISH closes the connection, MQTT 5 PUBLISH gets 0x90 (Topic Name
invalid), SUBSCRIBE gets 0x80 / 0x8F for that filter. With the limit off they are routed and
retained like any other topic, and nothing in the server overflows its stack."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (V5TestCase, connect_packet, publish_packet, run_tests,  # noqa: E402
                     skip_if_mosquitto, sub_options, sync_marker, unique_id, unique_topic)

DEEP_TOPIC = "/" * 60000            # 60001 levels
DEEP_FILTER = "+/" * 32000 + "#"    # 32001 levels, a '+' at each


def levels(n):
    """A topic of exactly n levels under a unique prefix."""
    return unique_topic("lv") + "/x" * (n - 2)


@skip_if_mosquitto("it allows 201 levels and closes the connection for deeper topics and "
                   "filters, MQTT 5 included, where mqbase answers with reason codes")
class DeepTopicsRefused(V5TestCase):

    def assert_alive(self):
        topic = unique_topic("alive")
        c = self.paho()
        c.subscribe(topic, 1)
        c.publish(topic, b"still here", qos=1)
        self.assertEqual(c.get().payload, b"still here")
        self.assertTrue(self.broker.alive())

    def test_v3_subscribe_deep_filter_gets_0x80(self):
        c = self.raw()
        c.connect()
        self.assertEqual(c.subscribe([(DEEP_TOPIC, 1), (DEEP_FILTER, 1), (levels(200), 1),
                                      (levels(201), 1)]), [0x80, 0x80, 1, 0x80])
        self.assert_alive()

    def test_v3_publish_deep_topic_closes(self):
        for topic in (DEEP_TOPIC, levels(201)):
            c = self.raw()
            c.connect()
            c.send(publish_packet(topic, b"x", qos=1, packet_id=1))
            self.assertEqual(c.wait_closed(), b"", "no PUBACK, the connection closes")
        c = self.raw()
        c.connect()
        c.publish(levels(200), b"x", qos=1)  # at the limit: fine
        self.assert_alive()

    def test_v5_publish_deep_topic_gets_0x90(self):
        c = self.raw5()
        c.connect()
        self.assertEqual(c.publish(DEEP_TOPIC, b"x", qos=1), 0x90)
        self.assertEqual(c.publish(levels(201), b"x", qos=2, retain=True), 0x90)
        self.assertIn(c.publish(levels(200), b"x", qos=1), (0x00, 0x10))
        c.publish(DEEP_TOPIC, b"x", qos=0)  # nothing to answer with but DISCONNECT
        c.expect_disconnect(0x90)
        self.assert_alive()

    def test_deep_will_topic_is_refused_at_connect(self):
        v3 = self.raw()
        v3.send(connect_packet(unique_id("w3"), will_topic=levels(201), will_payload=b"x"))
        self.assertEqual(v3.wait_closed(), b"", "3.x: closed without CONNACK")
        v5 = self.raw5()
        v5.connect(will_topic=DEEP_TOPIC, will_payload=b"x", expect_reason=0x90)
        ok = self.raw5()
        ok.connect(will_topic=levels(200), will_payload=b"x")
        self.assert_alive()

    def test_v5_subscribe_deep_filter_gets_0x8f(self):
        c = self.raw5()
        c.connect()
        self.assertEqual(c.subscribe([(DEEP_TOPIC, sub_options(1)), (DEEP_FILTER, sub_options(1)),
                                      (levels(200), sub_options(1))]), [0x8F, 0x8F, 1])
        self.assert_alive()


@skip_if_mosquitto("its 200-'/' limit cannot be turned off")
class DeepTopicsUnlimited(V5TestCase):
    """limits.max_topic_levels = 0: the trie code itself must take any depth."""

    broker_config = {"limits": {"max_topic_levels": 0}}

    def test_deep_topic_routed_and_retained(self):
        exact = self.raw()
        exact.connect()
        self.assertEqual(exact.subscribe([(DEEP_TOPIC, 1)]), [1])
        wild = self.raw()
        wild.connect()
        self.assertEqual(wild.subscribe([(DEEP_FILTER, 1)]), [1])
        pub = self.raw()
        pub.connect()
        pub.publish(DEEP_TOPIC, b"deep", qos=1, retain=True)
        self.assertEqual(exact.receive_publish()[:2], (DEEP_TOPIC, b"deep"))
        self.assertEqual(wild.receive_publish()[:2], (DEEP_TOPIC, b"deep"))
        for filter_ in (DEEP_TOPIC, DEEP_FILTER, "#"):
            late = self.paho()
            late.subscribe(filter_, 1)
            marker = unique_topic("marker")
            late.subscribe(marker, 0)
            got = [(m.topic, m.payload, m.retain) for m in sync_marker(late, late, marker)]
            self.assertIn((DEEP_TOPIC, b"deep", 1), got, filter_[:20])
            late.unsubscribe(filter_)
        exact.disconnect()
        wild.disconnect()
        # Clear the retained message: its 60001 trie nodes go one by one, then the broker's
        # stop (checked by the harness) destroys what is left.
        pub.publish(DEEP_TOPIC, b"", qos=1, retain=True)
        pub.publish("/" * 50000 + "kept", b"stays", qos=1, retain=True)


if __name__ == "__main__":
    run_tests()
