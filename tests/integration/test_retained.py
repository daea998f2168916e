#!/usr/bin/python3
"""Retained messages: set, replace, clear with an empty payload, delivery with the retain
flag on subscribe (exact and wildcard filters), nothing after a clear, retain=0 on messages
forwarded to established subscriptions."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (BrokerTestCase, run_mosquitto_pub, run_tests, sync_marker,  # noqa: E402
                     unique_topic)


class Retained(BrokerTestCase):

    def fresh_subscriber(self, topic, qos=2):
        """A new client subscribed to `topic`; returns (client, messages delivered on
        subscribe), proven complete with a marker the subscriber publishes itself after its
        SUBACK on a second, private topic."""
        sub = self.paho()
        sub.subscribe(topic, qos)
        marker_topic = unique_topic("marker")
        sub.subscribe(marker_topic, 0)
        return sub, sync_marker(sub, sub, marker_topic)

    def test_set_and_receive_with_retain_flag(self):
        pub = self.paho()
        topic = unique_topic("ret")
        pub.publish(topic, b"v1", qos=1, retain=True)
        sub, got = self.fresh_subscriber(topic, qos=1)
        self.assertEqual([(m.topic, m.payload, m.qos, m.retain) for m in got],
                         [(topic, b"v1", 1, 1)])

    def test_retained_qos_is_min_of_publish_and_subscription(self):
        pub = self.paho()
        for pub_qos in (0, 1, 2):
            topic = unique_topic("retq")
            pub.publish(topic, b"x%d" % pub_qos, qos=pub_qos, retain=True)
            for sub_qos in (0, 1, 2):
                with self.subTest(pub_qos=pub_qos, sub_qos=sub_qos):
                    sub, got = self.fresh_subscriber(topic, qos=sub_qos)
                    self.assertEqual([(m.payload, m.qos, m.retain) for m in got],
                                     [(b"x%d" % pub_qos, min(pub_qos, sub_qos), 1)])
                    sub.disconnect()

    def test_replace(self):
        pub = self.paho()
        topic = unique_topic("ret")
        pub.publish(topic, b"old", qos=1, retain=True)
        pub.publish(topic, b"new", qos=1, retain=True)
        sub, got = self.fresh_subscriber(topic)
        self.assertEqual([(m.payload, m.retain) for m in got], [(b"new", 1)])

    def test_clear_with_empty_payload(self):
        pub = self.paho()
        topic = unique_topic("ret")
        pub.publish(topic, b"v", qos=1, retain=True)
        sub1, got = self.fresh_subscriber(topic)
        self.assertEqual([m.payload for m in got], [b"v"])
        pub.publish(topic, b"", qos=1, retain=True)
        sub2, got = self.fresh_subscriber(topic)
        self.assertEqual(got, [], "a retained message was delivered after it was cleared")
        # a later non-retained publish does not bring anything back either
        pub.publish(topic, b"live", qos=1, retain=False)
        m = sub2.get()
        self.assertEqual((m.payload, m.retain), (b"live", 0))
        sub3, got = self.fresh_subscriber(topic)
        self.assertEqual(got, [])

    def test_clear_of_absent_topic_is_harmless(self):
        pub = self.paho()
        topic = unique_topic("ret")
        pub.publish(topic, b"", qos=2, retain=True)
        sub, got = self.fresh_subscriber(topic)
        self.assertEqual(got, [])

    def test_wildcard_subscribe_gets_all_matching_retained(self):
        pub = self.paho()
        base = unique_topic("retw")
        values = {base + "/a": b"1", base + "/b": b"2", base + "/a/deep": b"3",
                  base + "/c": b"4"}
        for t, v in values.items():
            pub.publish(t, v, qos=1, retain=True)
        pub.publish(base + "/c", b"", qos=1, retain=True)  # cleared: must not show up

        sub, got = self.fresh_subscriber(base + "/+")
        self.assertEqual(sorted((m.topic, m.payload, m.retain) for m in got),
                         [(base + "/a", b"1", 1), (base + "/b", b"2", 1)])

        sub, got = self.fresh_subscriber(base + "/#")
        self.assertEqual(sorted((m.topic, m.payload, m.retain) for m in got),
                         [(base + "/a", b"1", 1), (base + "/a/deep", b"3", 1),
                          (base + "/b", b"2", 1)])

        sub, got = self.fresh_subscriber("+/+/+/deep")
        self.assertEqual([(m.topic, m.payload) for m in got], [(base + "/a/deep", b"3")])

    def test_forwarded_publish_to_existing_subscriber_has_retain_0(self):
        pub = self.paho()
        topic = unique_topic("fwd")
        sub = self.paho()
        sub.subscribe(topic, 1)
        pub.publish(topic, b"plain", qos=1, retain=False)
        m = sub.get()
        self.assertEqual((m.payload, m.retain), (b"plain", 0))
        # [MQTT-3.3.1-9]: also a retained publish is forwarded with RETAIN 0 to a client whose
        # subscription was established before it arrived
        pub.publish(topic, b"kept", qos=1, retain=True)
        m = sub.get()
        self.assertEqual((m.payload, m.retain), (b"kept", 0))
        # ...while a new subscription gets it as retained
        sub2, got = self.fresh_subscriber(topic)
        self.assertEqual([(m.payload, m.retain) for m in got], [(b"kept", 1)])

    def test_resubscribe_delivers_retained_again(self):
        pub = self.paho()
        topic = unique_topic("resub")
        pub.publish(topic, b"r", qos=1, retain=True)
        sub, got = self.fresh_subscriber(topic)
        self.assertEqual([m.payload for m in got], [b"r"])
        sub.subscribe(topic, 1)  # [MQTT-3.8.4-3]: retained messages are re-sent
        m = sub.get()
        self.assertEqual((m.topic, m.payload, m.retain), (topic, b"r", 1))

    def test_mosquitto_pub_retained(self):
        topic = unique_topic("mret")
        run_mosquitto_pub(self.port, topic, "from-cli", qos=1, retain=True)
        sub, got = self.fresh_subscriber(topic)
        self.assertEqual([(m.payload, m.qos, m.retain) for m in got], [(b"from-cli", 1, 1)])
        run_mosquitto_pub(self.port, topic, None, qos=1, retain=True, extra=["-n"])
        sub, got = self.fresh_subscriber(topic)
        self.assertEqual(got, [])


if __name__ == "__main__":
    run_tests()
