#!/usr/bin/python3
"""Bytes on the wire, with raw sockets: CONNECT handling, protocol violations that must close
the connection, PINGREQ, $-topics, overlapping subscriptions, UNSUBSCRIBE, limits."""

import os
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (BrokerTestCase, connack_bytes, connect_packet,  # noqa: E402
                     mqtt_str, packet, publish_packet, run_tests, skip_if_mosquitto,
                     subscribe_packet, sync_marker, unique_id, unique_topic, unsubscribe_packet)


class Connect(BrokerTestCase):

    def test_mqtt311_connack_bytes(self):
        c = self.raw()
        self.assertEqual(c.connect(), b"\x20\x02\x00\x00")

    def test_mqisdp_level_3_accepted(self):
        c = self.raw()
        c.connect(unique_id("v31"), protocol_name="MQIsdp", protocol_level=3,
                  expect=b"\x20\x02\x00\x00")
        c.send(b"\xc0\x00")
        self.assertEqual(c.read_packet().raw, b"\xd0\x00")
        # and it can subscribe and receive
        topic = unique_topic("v31")
        self.assertEqual(c.subscribe([(topic, 1)]), [1])
        c.publish(topic, b"self", qos=1)
        self.assertEqual(c.receive_publish()[:3], (topic, b"self", 1))

    def test_unsupported_protocol_level_gets_connack_1_then_close(self):
        c = self.raw()
        c.send(connect_packet(unique_id("v7"), protocol_level=7))
        self.assertEqual(c.wait_closed(), b"\x20\x02\x00\x01")

    def test_wrong_protocol_name_closes_without_accepting(self):
        c = self.raw()
        c.send(connect_packet(unique_id("bad"), protocol_name="MQTX", protocol_level=4))
        got = c.wait_closed()
        # [MQTT-3.1.2-1]: the server MAY disconnect; it must not accept
        self.assertIn(got, (b"", b"\x20\x02\x00\x01"))

    def test_second_connect_closes(self):
        c = self.raw()
        c.connect()
        c.send(connect_packet(unique_id("again")))
        self.assertEqual(c.wait_closed(), b"")

    def test_publish_before_connect_closes(self):
        c = self.raw()
        c.send(publish_packet("a/b", b"early", qos=0))
        self.assertEqual(c.wait_closed(), b"")

    def test_subscribe_before_connect_closes(self):
        c = self.raw()
        c.send(subscribe_packet(1, [("a/b", 0)]))
        self.assertEqual(c.wait_closed(), b"")

    def test_pingreq_gets_pingresp(self):
        c = self.raw()
        c.connect()
        for _ in range(3):
            c.send(b"\xc0\x00")
            self.assertEqual(c.read_packet().raw, b"\xd0\x00")

    def test_disconnect_closes(self):
        c = self.raw()
        c.connect()
        c.send(b"\xe0\x00")
        self.assertEqual(c.wait_closed(), b"")


class ConnectTimeout(BrokerTestCase):
    broker_config = {"limits": {"connect_timeout": 1}}

    @skip_if_mosquitto("mosquitto has no connect_timeout setting")
    def test_silent_socket_closed_after_connect_timeout(self):
        c = self.raw()
        t0 = time.monotonic()
        self.assertEqual(c.wait_closed(timeout=5), b"")
        elapsed = time.monotonic() - t0
        self.assertGreaterEqual(elapsed, 0.8, "closed after %.2f s, connect_timeout is 1 s"
                                % elapsed)
        self.assertLessEqual(elapsed, 3.0)

    @skip_if_mosquitto("mosquitto has no connect_timeout setting")
    def test_partial_connect_closed_after_connect_timeout(self):
        c = self.raw()
        c.send(connect_packet(unique_id("part"))[:5])
        t0 = time.monotonic()
        self.assertEqual(c.wait_closed(timeout=5), b"")
        self.assertLessEqual(time.monotonic() - t0, 3.0)

    def test_connected_client_is_not_subject_to_connect_timeout(self):
        c = self.raw()
        c.connect(keepalive=0)
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            c.send(b"\xc0\x00")
            self.assertEqual(c.read_packet().raw, b"\xd0\x00")
            time.sleep(0.25)  # pacing: the point is to stay connected past connect_timeout
        c.send(b"\xc0\x00")
        self.assertEqual(c.read_packet().raw, b"\xd0\x00")


class Malformed(BrokerTestCase):
    """Protocol violations: the broker closes the connection (and sends nothing)."""

    def assert_closed_after(self, data, connect_first=True):
        c = self.raw()
        if connect_first:
            c.connect()
        c.send(data)
        self.assertEqual(c.wait_closed(), b"")
        return c

    def assert_broker_still_serves(self):
        c = self.raw()
        c.connect()
        c.send(b"\xc0\x00")
        self.assertEqual(c.read_packet().raw, b"\xd0\x00")
        c.disconnect()

    def test_connect_reserved_flag_bit(self):
        # [MQTT-3.1.2-3]: bit 0 of the connect flags is reserved and must be 0
        self.assert_closed_after(connect_packet(unique_id("rsv"), extra_flags=0x01),
                                 connect_first=False)
        self.assert_broker_still_serves()

    def test_connect_fixed_header_flags(self):
        # [MQTT-2.2.2-2]: CONNECT fixed-header flags are 0000
        self.assert_closed_after(connect_packet(unique_id("fh"), fixed_flags=0x01),
                                 connect_first=False)

    def test_connect_will_qos_without_will_flag(self):
        # [MQTT-3.1.2-13]: will flag 0 requires will QoS 0
        self.assert_closed_after(connect_packet(unique_id("wq"), extra_flags=0x08),
                                 connect_first=False)

    def test_connect_will_qos_3(self):
        # [MQTT-3.1.2-14]
        self.assert_closed_after(
            connect_packet(unique_id("wq3"), will_topic="w", will_payload=b"x", will_qos=3),
            connect_first=False)

    def test_connect_password_without_username(self):
        # [MQTT-3.1.2-22]
        self.assert_closed_after(connect_packet(unique_id("pw"), password=b"secret"),
                                 connect_first=False)

    def test_publish_qos_3(self):
        # [MQTT-3.3.1-4]
        self.assert_closed_after(packet(0x36, mqtt_str("a/b") + b"\x00\x01x"))
        self.assert_broker_still_serves()

    def test_publish_topic_with_plus_wildcard(self):
        # [MQTT-3.3.2-2]
        self.assert_closed_after(publish_packet("a/+/c", b"x"))

    def test_publish_topic_with_hash_wildcard(self):
        self.assert_closed_after(publish_packet("a/#", b"x", qos=1, packet_id=3))

    def test_publish_empty_topic(self):
        # [MQTT-4.7.3-1]
        self.assert_closed_after(publish_packet("", b"x"))

    def test_publish_topic_invalid_utf8(self):
        # [MQTT-1.5.3-1]
        self.assert_closed_after(packet(0x30, struct.pack("!H", 3) + b"a\xffb" + b"x"))

    def test_publish_topic_with_nul(self):
        # [MQTT-1.5.3-2]
        self.assert_closed_after(packet(0x30, struct.pack("!H", 3) + b"a\x00b" + b"x"))

    def test_subscribe_with_no_filters(self):
        # [MQTT-3.8.3-3]
        self.assert_closed_after(packet(0x82, struct.pack("!H", 1)))
        self.assert_broker_still_serves()

    def test_subscribe_wrong_fixed_header_flags(self):
        # [MQTT-3.8.1-1]: SUBSCRIBE flags are 0010
        self.assert_closed_after(packet(0x80, struct.pack("!H", 1) + mqtt_str("a") + b"\x00"))

    def test_subscribe_qos_3(self):
        # [MQTT-3.8.3-4]
        self.assert_closed_after(subscribe_packet(1, [("a/b", 3)]))

    def test_unsubscribe_with_no_filters(self):
        # [MQTT-3.10.3-2]
        self.assert_closed_after(packet(0xA2, struct.pack("!H", 1)))

    def test_remaining_length_over_4_bytes(self):
        self.assert_closed_after(b"\x30\xff\xff\xff\xff\x01")

    def test_reserved_packet_type_0(self):
        self.assert_closed_after(b"\x00\x00")

    @skip_if_mosquitto("mosquitto 2.0.11 accepts a PINGREQ with non-zero fixed-header flags")
    def test_pingreq_with_flags(self):
        # [MQTT-2.2.2-2]
        self.assert_closed_after(b"\xc1\x00")

    def test_invalid_subscription_filter_is_refused(self):
        # a/#/b is not a valid filter: SUBACK 0x80 for it, or close the connection
        c = self.raw()
        c.connect()
        c.send(subscribe_packet(9, [("a/#/b", 1)]))
        try:
            p = c.read_packet()
        except AssertionError:
            return  # closed
        self.assertEqual(p.raw, b"\x90\x03\x00\x09\x80")


class Subscriptions(BrokerTestCase):
    broker_config = {"sys": {"interval": 1}}

    def test_suback_bytes_for_several_filters(self):
        c = self.raw()
        c.connect()
        base = unique_topic("s")
        c.send(subscribe_packet(0x1234, [(base + "/0", 0), (base + "/1", 1), (base + "/2", 2),
                                         (base + "/+/x", 2), (base + "/#", 1)]))
        self.assertEqual(c.read_packet().raw, b"\x90\x07\x12\x34\x00\x01\x02\x02\x01")

    def test_dollar_topics_not_matched_by_hash_but_by_sys_filter(self):
        everything = self.raw()
        everything.connect()
        self.assertEqual(everything.subscribe([("#", 0)]), [0])
        plus = self.raw()
        plus.connect()
        self.assertEqual(plus.subscribe([("+/broker/uptime", 0)]), [0])
        sys_sub = self.raw()
        sys_sub.connect()
        self.assertEqual(sys_sub.subscribe([("$SYS/#", 0)]), [0])
        # wait for a periodic (non-retained, i.e. live) $SYS publication, routed while
        # `everything` and `plus` were subscribed
        deadline = time.monotonic() + 5
        topics = set()
        while True:
            t, payload, qos, retain, dup, pid = sys_sub.receive_publish(
                timeout=max(0.001, deadline - time.monotonic()))
            self.assertTrue(t.startswith("$SYS/"), t)
            topics.add(t)
            if not retain and t == "$SYS/broker/uptime":
                break
        self.assertIn("$SYS/broker/uptime", topics)
        marker = unique_topic("m")
        pub = self.raw()
        pub.connect()
        pub.publish(marker, b"marker", qos=0)
        self.assertEqual(everything.receive_publish()[:2], (marker, b"marker"))
        # `plus` would have got $SYS/broker/uptime before a marker it can match
        self.assertEqual(plus.subscribe([("marker-for-plus", 0)]), [0])
        pub.publish("marker-for-plus", b"m2", qos=0)
        self.assertEqual(plus.receive_publish()[:2], ("marker-for-plus", b"m2"))

    def test_client_published_dollar_topic(self):
        topic = "$test/" + unique_id("d")
        everything = self.paho()
        everything.subscribe("#", 1)
        plus = self.paho()
        plus.subscribe("+/" + topic.split("/")[1], 1)
        dollar = self.paho()
        dollar.subscribe("$test/#", 1)
        pub = self.paho()
        pub.publish(topic, b"dollar", qos=1)
        m = dollar.get()
        self.assertEqual((m.topic, m.payload), (topic, b"dollar"))
        marker = unique_topic("m")
        got = sync_marker(pub, everything, marker)
        self.assertEqual([m for m in got if m.topic.startswith("$")], [],
                         "'#' matched a topic starting with $")
        plus.subscribe(marker, 0)
        self.assertEqual(sync_marker(pub, plus, marker), [],
                         "'+/...' matched a topic starting with $")

    def overlapping(self):
        base = unique_topic("ov")
        c = self.raw()
        c.connect()
        self.assertEqual(c.subscribe([(base + "/+", 1), (base + "/#", 2)]), [1, 2])
        pub = self.raw()
        pub.connect()
        return base, c, pub

    def collect_until_marker(self, c, marker):
        got = []
        while True:
            t, payload, qos, retain, dup, pid = c.receive_publish()
            if payload == marker:
                return got
            got.append((t, payload, qos))

    def test_overlapping_subscriptions_deliver_one_copy(self):
        """a/+ (QoS 1) and a/# (QoS 2) from one client: one copy of each message."""
        base, c, pub = self.overlapping()
        pub.publish(base + "/x", b"once", qos=2)
        pub.publish(base + "/marker", b"marker", qos=0)
        got = self.collect_until_marker(c, b"marker")
        self.assertEqual([g[:2] for g in got], [(base + "/x", b"once")])
        pub.publish(base + "/y", b"twice?", qos=1)
        pub.publish(base + "/marker", b"marker2", qos=0)
        got = self.collect_until_marker(c, b"marker2")
        self.assertEqual([g[:2] for g in got], [(base + "/y", b"twice?")])
        # deeper topics match only a/#
        pub.publish(base + "/y/z", b"deep", qos=2)
        self.assertEqual(c.receive_publish()[:3], (base + "/y/z", b"deep", 2))

    @skip_if_mosquitto("mosquitto 2.0.11 sends the single copy at the QoS of the first "
                       "matching subscription (1), not the maximum")
    def test_overlapping_subscriptions_deliver_at_max_qos(self):
        """[MQTT-3.3.5-1]: a/+ (QoS 1) and a/# (QoS 2) from one client: one copy, QoS 2."""
        base, c, pub = self.overlapping()
        pub.publish(base + "/x", b"once", qos=2)
        pub.publish(base + "/marker", b"marker", qos=0)
        self.assertEqual(self.collect_until_marker(c, b"marker"), [(base + "/x", b"once", 2)])
        # QoS 1 publish: one copy at QoS 1 (min of publish QoS and the max subscription QoS)
        pub.publish(base + "/y", b"q1", qos=1)
        pub.publish(base + "/marker", b"marker2", qos=0)
        self.assertEqual(self.collect_until_marker(c, b"marker2"), [(base + "/y", b"q1", 1)])

    def test_resubscribe_replaces_qos(self):
        """[MQTT-3.8.4-3]: subscribing again to the same filter replaces the subscription."""
        topic = unique_topic("re")
        c = self.raw()
        c.connect()
        self.assertEqual(c.subscribe([(topic, 2)]), [2])
        self.assertEqual(c.subscribe([(topic, 0)]), [0])
        pub = self.raw()
        pub.connect()
        pub.publish(topic, b"x", qos=2)
        pub.publish(topic, b"marker", qos=0)
        self.assertEqual(c.receive_publish()[1:3], (b"x", 0))
        self.assertEqual(c.receive_publish()[1:3], (b"marker", 0))

    def test_unsubscribe_gets_unsuback_and_stops_delivery(self):
        base = unique_topic("un")
        c = self.raw()
        c.connect()
        self.assertEqual(c.subscribe([(base + "/a", 1), (base + "/b", 1)]), [1, 1])
        pub = self.raw()
        pub.connect()
        pub.publish(base + "/a", b"before", qos=1)
        self.assertEqual(c.receive_publish()[:2], (base + "/a", b"before"))
        c.send(unsubscribe_packet(0x0102, [base + "/a"]))
        self.assertEqual(c.read_packet().raw, b"\xb0\x02\x01\x02")
        pub.publish(base + "/a", b"after", qos=1)
        pub.publish(base + "/b", b"marker", qos=1)
        self.assertEqual(c.receive_publish()[:2], (base + "/b", b"marker"))
        # unsubscribing from a filter that is not subscribed still gets UNSUBACK
        c.send(unsubscribe_packet(7, ["never/subscribed"]))
        self.assertEqual(c.read_packet().raw, b"\xb0\x02\x00\x07")

    def test_publish_acks_bytes(self):
        c = self.raw()
        c.connect()
        topic = unique_topic("acks")
        c.send(publish_packet(topic, b"1", qos=1, packet_id=0x0A0B))
        self.assertEqual(c.read_packet().raw, b"\x40\x02\x0a\x0b")
        c.send(publish_packet(topic, b"2", qos=2, packet_id=0x0C0D))
        self.assertEqual(c.read_packet().raw, b"\x50\x02\x0c\x0d")
        c.send(b"\x62\x02\x0c\x0d")
        self.assertEqual(c.read_packet().raw, b"\x70\x02\x0c\x0d")

    def test_qos2_duplicate_publish_delivered_once(self):
        """A QoS 2 PUBLISH resent with DUP before PUBREL is delivered only once."""
        topic = unique_topic("dup2")
        sub = self.raw()
        sub.connect()
        sub.subscribe([(topic, 2)])
        c = self.raw()
        c.connect()
        c.send(publish_packet(topic, b"once", qos=2, packet_id=5))
        self.assertEqual(c.read_packet().raw, b"\x50\x02\x00\x05")
        c.send(publish_packet(topic, b"once", qos=2, packet_id=5, dup=True))
        self.assertEqual(c.read_packet().raw, b"\x50\x02\x00\x05")
        c.send(b"\x62\x02\x00\x05")
        self.assertEqual(c.read_packet().raw, b"\x70\x02\x00\x05")
        c.publish(topic, b"marker", qos=0)
        self.assertEqual(sub.receive_publish()[1:3], (b"once", 2))
        self.assertEqual(sub.receive_publish()[1], b"marker")


class PubrelDup(BrokerTestCase):
    """MQTT 3.1 let a client set DUP on a PUBREL it sends again (fixed-header flags 0x0A); 3.1.1
    made those flags exactly 0x02 ([MQTT-3.6.1-1]). A 3.1 client resuming a QoS 2 flow after a
    reconnect gets its PUBCOMP; a 3.1.1 client sending the same bytes is disconnected."""

    def test_mqtt31_pubrel_with_dup_after_reconnect_gets_pubcomp(self):
        topic = unique_topic("v31dup")
        sub = self.raw()
        sub.connect()
        self.assertEqual(sub.subscribe([(topic, 2)]), [2])
        cid = unique_id("v31")
        first = self.raw()
        first.connect(cid, protocol_name="MQIsdp", protocol_level=3, clean_session=False)
        first.send(publish_packet(topic, b"once", qos=2, packet_id=9))
        self.assertEqual(first.read_packet().raw, b"\x50\x02\x00\x09")
        first.close()  # the connection drops before the PUBREL
        again = self.raw()
        again.connect(cid, protocol_name="MQIsdp", protocol_level=3, clean_session=False)
        again.send(b"\x6a\x02\x00\x09")  # PUBREL, DUP set: a resend, as 3.1 allowed
        self.assertEqual(again.read_packet().raw, b"\x70\x02\x00\x09")
        again.send(b"\xc0\x00")
        self.assertEqual(again.read_packet().raw, b"\xd0\x00", "the connection is still open")
        again.publish(topic, b"marker", qos=0)
        self.assertEqual(sub.receive_publish()[1:3], (b"once", 2))
        self.assertEqual(sub.receive_publish()[1], b"marker", "delivered exactly once")

    def test_mqtt311_pubrel_with_dup_closes(self):
        c = self.raw()
        c.connect()
        c.send(publish_packet(unique_topic("v311dup"), b"x", qos=2, packet_id=3))
        self.assertEqual(c.read_packet().raw, b"\x50\x02\x00\x03")
        c.send(b"\x6a\x02\x00\x03")
        self.assertEqual(c.wait_closed(), b"")


class Limits(BrokerTestCase):
    broker_config = {"limits": {"max_packet_size": 1024, "max_connections": 3}}

    def test_packet_over_max_packet_size_closes(self):
        topic = unique_topic("big")
        sub = self.raw()
        sub.connect()
        sub.subscribe([(topic, 0)])
        c = self.raw()
        c.connect()
        c.publish(topic, b"s" * 500, qos=1)  # under the limit: fine
        self.assertEqual(sub.receive_publish()[1], b"s" * 500)
        c.send(publish_packet(topic, b"b" * 2000, qos=1, packet_id=2))
        self.assertEqual(c.wait_closed(), b"")

    def test_max_connections(self):
        clients = []
        for _ in range(3):
            c = self.raw()
            c.connect()
            clients.append(c)
        extra = self.raw()
        try:
            extra.send(connect_packet(unique_id("extra")))
        except OSError:
            pass
        got = extra.wait_closed()
        # refused: closed without CONNACK, or CONNACK 3 (server unavailable)
        self.assertIn(got, (b"", b"\x20\x02\x00\x03"))
        clients[0].disconnect()
        # a slot frees up once a client leaves (poll: the close is asynchronous)
        deadline = time.monotonic() + 5
        while True:
            c = self.raw()
            try:
                c.send(connect_packet(unique_id("later")))
                got = c.read_bytes(4, timeout=2)
            except (AssertionError, OSError):
                got = None
            if got == connack_bytes(0):
                break
            c.close()
            self.assertLess(time.monotonic(), deadline, "no connection slot after a disconnect")
            time.sleep(0.05)


if __name__ == "__main__":
    run_tests()
