#!/usr/bin/python3
"""MQTT 3.1.1 and 5.0 clients on the same topics: messages in both directions at QoS 0/1/2,
retained messages, wills and topic aliases cross protocol versions, and v5 properties never
leak into the 3.1.1 wire format (checked byte for byte)."""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (CONTENT_TYPE, CORRELATION_DATA, DISCONNECT_BYTES,  # noqa: E402
                     MESSAGE_EXPIRY_INTERVAL,
                     PAYLOAD_FORMAT_INDICATOR, PUBLISH, RESPONSE_TOPIC,
                     SESSION_EXPIRY_INTERVAL, TOPIC_ALIAS, TOPIC_ALIAS_MAXIMUM, USER_PROPERTY,
                     WILL_DELAY_INTERVAL, V5TestCase, ack_packet, PUBACK, PUBREC,
                     publish_packet, run_tests, skip_if_mosquitto, sub_options, unique_id,
                     unique_topic)

V5_PROPS = [(PAYLOAD_FORMAT_INDICATOR, 1), (MESSAGE_EXPIRY_INTERVAL, 3600),
            (CONTENT_TYPE, "text/plain"), (RESPONSE_TOPIC, "reply/to"),
            (CORRELATION_DATA, b"\x00\x01"), (USER_PROPERTY, ("k", "v")),
            (USER_PROPERTY, ("k", "w"))]


class V5Mixed(V5TestCase):

    def v311(self, topics=(), qos=2, **kwargs):
        c = self.raw()
        c.connect(**kwargs)
        if topics:
            self.assertEqual(c.subscribe([(t, qos) for t in topics]), [qos] * len(topics))
        return c

    def v5(self, topics=(), qos=2, **kwargs):
        c = self.raw5()
        c.connect(**kwargs)
        if topics:
            self.assertEqual(c.subscribe([(t, sub_options(qos=qos)) for t in topics]),
                             [qos] * len(topics))
        return c

    def go_offline_311(self, c):
        """Clean 3.1.1 DISCONNECT, and wait until the broker has closed the connection."""
        c.send(DISCONNECT_BYTES)
        c.wait_closed()
        c.close()

    def receive_exact_311(self, c, topic, payload, qos, retain=False):
        """The next packet on the 3.1.1 client must be exactly this PUBLISH; acknowledge it."""
        p = c.read_packet()
        self.assertEqual(p.type, PUBLISH)
        pid = p.publish_fields()[5]
        self.assertEqual(p.raw, publish_packet(topic, payload, qos, retain, packet_id=pid),
                         "3.1.1 PUBLISH is not byte-exact (v5 properties leaked?)")
        if qos == 1:
            c.send(ack_packet(PUBACK, pid))
        elif qos == 2:
            c.send(ack_packet(PUBREC, pid))
        return p

    def test_311_to_v5_all_qos(self):
        topic = unique_topic("m311to5")
        sub = self.v5([topic])
        pub = self.v311()
        for qos in (0, 1, 2):
            pub.publish(topic, b"from-311-q%d" % qos, qos=qos)
            m = sub.receive_publish()
            self.assertEqual((m.topic, m.payload, m.qos, m.retain), (topic, b"from-311-q%d" % qos,
                                                                     qos, 0))
            self.assertEqual(list(m.props), [])

    def test_v5_to_311_all_qos_without_properties(self):
        topic = unique_topic("m5to311")
        sub = self.v311([topic])
        pub = self.v5()
        for qos in (0, 1, 2):
            pub.publish(topic, b"from-v5-q%d" % qos, qos=qos, props=V5_PROPS)
            self.receive_exact_311(sub, topic, b"from-v5-q%d" % qos, qos)
        sub.disconnect()

    def test_both_versions_subscribed_to_one_topic(self):
        topic = unique_topic("both")
        s311 = self.paho()
        s311.subscribe(topic, 2)
        s5 = self.paho5()
        s5.subscribe(topic, 2)
        p311 = self.paho()
        p5 = self.paho5()
        for i in range(30):
            qos = i % 3
            (p311 if i % 2 else p5).publish(topic, b"%d" % i, qos=qos,
                                              **({} if i % 2 else {"props": {"ContentType": "c"}}))
        for sub in (s311, s5):
            got = sub.get_many(30)
            # per-publisher order holds for each QoS (paho hands a QoS 2 message to the
            # application only at PUBREL, so order across QoS levels is not observable)
            for parity in (0, 1):
                for qos in (0, 1, 2):
                    seq = [int(m.payload) for m in got
                           if int(m.payload) % 2 == parity and m.qos == qos]
                    self.assertEqual(seq, [i for i in range(parity, 30, 2) if i % 3 == qos])
            self.assertEqual(sorted((int(m.payload), m.qos) for m in got),
                             [(i, i % 3) for i in range(30)])

    def test_retained_set_by_311_read_by_v5(self):
        topic = unique_topic("r311")
        pub = self.v311()
        pub.publish(topic, b"retained-by-311", qos=1, retain=True)
        sub = self.v5()
        sub.subscribe([(topic, sub_options(qos=1))])
        m = sub.receive_publish()
        self.assertEqual((m.topic, m.payload, m.qos, m.retain), (topic, b"retained-by-311", 1, 1))

    def test_retained_set_by_v5_read_by_311(self):
        topic = unique_topic("r5")
        pub = self.v5()
        pub.publish(topic, b"retained-by-v5", qos=2, retain=True, props=V5_PROPS)
        sub = self.v311()
        self.assertEqual(sub.subscribe([(topic, 2)]), [2])
        self.receive_exact_311(sub, topic, b"retained-by-v5", 2, retain=True)
        # and a v5 reader sees the properties
        sub5 = self.v5()
        sub5.subscribe([(topic, sub_options(qos=1))])
        m = sub5.receive_publish()
        self.assertEqual((m.payload, m.retain), (b"retained-by-v5", 1))
        self.assertEqual(m.props.get(CONTENT_TYPE), "text/plain")
        self.assertEqual(m.props.user(), [("k", "v"), ("k", "w")])

    def test_retained_cleared_across_versions(self):
        topic = unique_topic("rclear")
        self.v5().publish(topic, b"x", qos=1, retain=True)
        self.v311().publish(topic, b"", qos=1, retain=True)  # 3.1.1 clears the v5 retained
        marker = unique_topic("mark")
        sub = self.v5([topic, marker], qos=1)
        self.v311().publish(marker, b"marker", qos=1)
        self.assertEqual(sub.receive_publish().payload, b"marker")

    def test_v5_will_to_311_subscriber(self):
        will_topic = unique_topic("w5")
        sub = self.v311([will_topic], qos=1)
        c = self.raw5()
        c.connect(unique_id("w5"), will_topic=will_topic, will_payload=b"v5-will", will_qos=1,
                  will_props=[(CONTENT_TYPE, "x"), (USER_PROPERTY, ("a", "b"))])
        c.abort()
        self.receive_exact_311(sub, will_topic, b"v5-will", 1)

    def test_311_will_to_v5_subscriber(self):
        will_topic = unique_topic("w311")
        sub = self.v5([will_topic], qos=1)
        c = self.raw()
        c.connect(unique_id("w311"), will_topic=will_topic, will_payload=b"311-will", will_qos=1)
        c.abort()
        m = sub.receive_publish()
        self.assertEqual((m.topic, m.payload, m.qos), (will_topic, b"311-will", 1))

    def test_v5_topic_alias_reaches_311_as_topic_name(self):
        topic = unique_topic("alias311")
        sub = self.v311([topic], qos=1)
        pub = self.v5()
        pub.publish(topic, b"one", qos=1, props=[(TOPIC_ALIAS, 4)])
        pub.publish("", b"two", qos=1, props=[(TOPIC_ALIAS, 4)])
        self.receive_exact_311(sub, topic, b"one", 1)
        self.receive_exact_311(sub, topic, b"two", 1)

    @skip_if_mosquitto("mosquitto 2.0.11 never sends topic aliases to clients")
    def test_outgoing_aliases_only_for_the_v5_client(self):
        topic = unique_topic("variants")
        s311 = self.v311([topic], qos=1)
        s5 = self.v5([topic], qos=1, props=[(TOPIC_ALIAS_MAXIMUM, 3)])
        pub = self.v311()
        for i in range(3):
            pub.publish(topic, b"v%d" % i, qos=1)
        for i in range(3):
            self.receive_exact_311(s311, topic, b"v%d" % i, 1)
            m = s5.receive_publish()
            self.assertEqual(m.payload, b"v%d" % i)
            self.assertEqual(m.topic, topic if i == 0 else "")
            self.assertIsNotNone(m.props.get(TOPIC_ALIAS))

    def test_offline_311_session_gets_v5_messages(self):
        cid = unique_id("off311")
        topic = unique_topic("off311")
        s = self.raw()
        s.connect(cid, clean_session=False)
        s.subscribe([(topic, 2)])
        self.go_offline_311(s)
        pub = self.v5()
        for qos in (1, 2):
            pub.publish(topic, b"queued-q%d" % qos, qos=qos, props=V5_PROPS)
        s = self.raw()
        s.connect(cid, clean_session=False, expect=bytes([0x20, 0x02, 1, 0]))
        self.receive_exact_311(s, topic, b"queued-q1", 1)
        self.receive_exact_311(s, topic, b"queued-q2", 2)
        s.disconnect()

    def test_expired_message_not_delivered_to_offline_311_session(self):
        cid = unique_id("exp311")
        topic = unique_topic("exp311")
        s = self.raw()
        s.connect(cid, clean_session=False)
        s.subscribe([(topic, 1)])
        self.go_offline_311(s)
        pub = self.v5()
        pub.publish(topic, b"expires", qos=1, props=[(MESSAGE_EXPIRY_INTERVAL, 1)])
        pub.publish(topic, b"stays", qos=1)
        time.sleep(2.2)  # no event tells that a queued message expired
        s = self.raw()
        s.connect(cid, clean_session=False, expect=bytes([0x20, 0x02, 1, 0]))
        self.receive_exact_311(s, topic, b"stays", 1)
        s.disconnect()

    def test_v5_session_expiry_and_311_publisher(self):
        cid = unique_id("s5")
        topic = unique_topic("s5")
        s = self.v5([topic], qos=1, client_id=cid, props=[(SESSION_EXPIRY_INTERVAL, 60)])
        s.disconnect()
        self.v311().publish(topic, b"while-away", qos=1)
        s = self.raw5()
        ack = s.connect(cid, clean_start=False, props=[(SESSION_EXPIRY_INTERVAL, 60)])
        self.assertEqual(ack.session_present, 1)
        self.assertEqual(s.receive_publish().payload, b"while-away")
        s.disconnect()

    def test_v5_will_delay_seen_by_311(self):
        will_topic = unique_topic("wd311")
        sub = self.v311([will_topic], qos=1)
        c = self.raw5()
        c.connect(unique_id("wd"), props=[(SESSION_EXPIRY_INTERVAL, 30)],
                  will_topic=will_topic, will_payload=b"late", will_qos=1,
                  will_props=[(WILL_DELAY_INTERVAL, 1)])
        start = time.monotonic()
        c.abort()
        p = sub.read_packet(timeout=6)
        self.assertGreaterEqual(time.monotonic() - start, 0.9)
        self.assertEqual(p.publish_fields()[:3], (will_topic, b"late", 1))


if __name__ == "__main__":
    run_tests()
