#!/usr/bin/python3
"""MQTT 5.0 flow control and limits: Topic Alias (client to server and server to client),
Receive Maximum (the client's and the server's), Maximum Packet Size (the client's and the
server's), Server Keep Alive, and the reason codes of server DISCONNECTs (takeover 0x8E,
keep-alive timeout 0x8D, shutdown 0x8B, packet too large 0x95, protocol error 0x82)."""

import os
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (PUBACK, PUBCOMP, PUBREC, PUBREL,  # noqa: E402
                     MAXIMUM_PACKET_SIZE, RECEIVE_MAXIMUM, SERVER_KEEP_ALIVE,
                     TOPIC_ALIAS, TOPIC_ALIAS_MAXIMUM, V5TestCase, ack5_packet,
                     connect5_packet, parse_ack5, publish5_packet, subscribe5_packet,
                     run_tests, skip_if_mosquitto, sub_options, unique_id,
                     unique_topic)


class V5Flow(V5TestCase):

    def subscriber(self, topic, qos=1, port=None, **kwargs):
        s = self.raw5(port=port)
        s.connect(**kwargs)
        self.assertEqual(s.subscribe([(topic, sub_options(qos=qos))]), [qos])
        return s

    def publisher(self, port=None, **kwargs):
        p = self.raw5(port=port)
        p.connect(**kwargs)
        return p

    # -- Topic Alias: client to server --------------------------------------------------------

    def test_topic_alias_from_client(self):
        base = unique_topic("alias")
        x, y = base + "/x", base + "/y"
        s = self.paho5()
        s.subscribe(base + "/+", 1)
        pub = self.publisher()
        pub.publish(x, b"1", qos=1, props=[(TOPIC_ALIAS, 1)])       # set alias 1 = x
        pub.publish("", b"2", qos=1, props=[(TOPIC_ALIAS, 1)])      # use it
        pub.publish(y, b"3", qos=0, props=[(TOPIC_ALIAS, 1)])       # remap alias 1 = y
        pub.publish("", b"4", qos=1, props=[(TOPIC_ALIAS, 1)])
        pub.publish(x, b"5", qos=1, props=[(TOPIC_ALIAS, 10)])      # the maximum (10)
        pub.publish("", b"6", qos=2, props=[(TOPIC_ALIAS, 10)])
        got = [(m.topic, m.payload) for m in s.get_many(6)]
        self.assertEqual(got, [(x, b"1"), (x, b"2"), (y, b"3"), (y, b"4"), (x, b"5"), (x, b"6")])

    @skip_if_mosquitto("mosquitto 2.0.11 treats Topic Alias 0 as malformed (0x81)")
    def test_topic_alias_zero_is_invalid(self):
        # [MQTT-3.3.2-8] forbids alias 0; the spec names no reason code for it, the mqbase
        # contract says 0x94 (Topic Alias invalid)
        pub = self.publisher()
        pub.send(publish5_packet(unique_topic("a0"), b"x", props=[(TOPIC_ALIAS, 0)]))
        pub.expect_disconnect(0x94)

    def test_topic_alias_above_default_maximum_is_invalid(self):
        pub = self.publisher()
        pub.send(publish5_packet(unique_topic("a11"), b"x", qos=1, packet_id=1,
                                 props=[(TOPIC_ALIAS, 11)]))
        pub.expect_disconnect(0x94)

    def test_topic_alias_above_configured_maximum_is_invalid(self):
        broker = self.start_broker({"limits": {"topic_alias_maximum": 2}})
        pub = self.raw5(port=broker.port)
        self.assertEqual(pub.connect().props.get(TOPIC_ALIAS_MAXIMUM), 2)
        pub.publish(unique_topic("a2"), b"ok", qos=1, props=[(TOPIC_ALIAS, 2)])
        pub.send(publish5_packet(unique_topic("a3"), b"x", props=[(TOPIC_ALIAS, 3)]))
        pub.expect_disconnect(0x94)

    @skip_if_mosquitto("mosquitto 2.0.11 rejects max_topic_alias 0 in its config")
    def test_topic_alias_maximum_zero_disables_aliases(self):
        broker = self.start_broker({"limits": {"topic_alias_maximum": 0}})
        pub = self.raw5(port=broker.port)
        self.assertEqual(pub.connect().props.get(TOPIC_ALIAS_MAXIMUM, 0), 0)
        pub.send(publish5_packet(unique_topic("a1"), b"x", props=[(TOPIC_ALIAS, 1)]))
        pub.expect_disconnect(0x94)

    def test_unknown_topic_alias_is_protocol_error(self):
        pub = self.publisher()
        pub.send(publish5_packet("", b"x", qos=1, packet_id=1, props=[(TOPIC_ALIAS, 5)]))
        pub.expect_disconnect(0x82)

    def test_empty_topic_without_alias_is_protocol_error(self):
        pub = self.publisher()
        pub.send(publish5_packet("", b"x"))
        pub.expect_disconnect(0x82)

    def test_topic_aliases_are_per_connection(self):
        topic = unique_topic("perconn")
        s = self.paho5()
        s.subscribe(topic, 1)
        a = self.publisher()
        a.publish(topic, b"a", qos=1, props=[(TOPIC_ALIAS, 3)])
        self.assertEqual(s.get().payload, b"a")
        b = self.publisher()
        b.send(publish5_packet("", b"b", qos=1, packet_id=1, props=[(TOPIC_ALIAS, 3)]))
        b.expect_disconnect(0x82)

    # -- Topic Alias: server to client --------------------------------------------------------

    @skip_if_mosquitto("mosquitto 2.0.11 never sends topic aliases to clients")
    def test_server_sends_topic_aliases_when_client_allows(self):
        t1, t2 = unique_topic("sa") + "/one", unique_topic("sa") + "/two"
        s = self.raw5()
        s.connect(props=[(TOPIC_ALIAS_MAXIMUM, 5)])
        s.subscribe([(t1, sub_options(qos=1)), (t2, sub_options(qos=1))])
        pub = self.publisher()
        for i in range(3):
            pub.publish(t1, b"one-%d" % i, qos=1)
            pub.publish(t2, b"two-%d" % i, qos=0)
        aliases = {}
        for i in range(3):
            for topic, payload in ((t1, b"one-%d" % i), (t2, b"two-%d" % i)):
                m = s.receive_publish()
                self.assertEqual(m.payload, payload)
                alias = m.props.get(TOPIC_ALIAS)
                self.assertIsNotNone(alias, "no topic alias on %r" % (m,))
                self.assertTrue(1 <= alias <= 5, "alias %d outside 1..5" % alias)
                if i == 0:
                    self.assertEqual(m.topic, topic, "first message must carry the topic name")
                    aliases[topic] = alias
                else:
                    self.assertEqual(m.topic, "", "repeat message should use the alias only")
                    self.assertEqual(alias, aliases[topic])
        self.assertNotEqual(aliases[t1], aliases[t2])
        s.disconnect()

    @skip_if_mosquitto("mosquitto 2.0.11 never sends topic aliases to clients")
    def test_server_respects_client_topic_alias_maximum(self):
        base = unique_topic("samax")
        s = self.raw5()
        s.connect(props=[(TOPIC_ALIAS_MAXIMUM, 2)])
        s.subscribe([(base + "/#", sub_options(qos=1))])
        pub = self.publisher()
        topics = [base + "/%d" % i for i in range(6)]
        for rnd in range(2):
            for t in topics:
                pub.publish(t, t.encode(), qos=1)
        known = {}
        for rnd in range(2):
            for t in topics:
                m = s.receive_publish()
                self.assertEqual(m.payload, t.encode())
                alias = m.props.get(TOPIC_ALIAS)
                if alias is not None:
                    self.assertIn(alias, (1, 2))
                if m.topic:
                    self.assertEqual(m.topic, t)
                    if alias is not None:
                        known[alias] = t
                else:
                    self.assertIsNotNone(alias, "empty topic without alias")
                    self.assertEqual(known.get(alias), t, "alias %r maps to %r, not %r"
                                     % (alias, known.get(alias), t))
        s.disconnect()

    def test_no_server_aliases_without_client_maximum(self):
        topic = unique_topic("noalias")
        s = self.subscriber(topic)
        pub = self.publisher()
        for i in range(3):
            pub.publish(topic, b"%d" % i, qos=1)
        for i in range(3):
            m = s.receive_publish()
            self.assertEqual((m.topic, m.payload), (topic, b"%d" % i))
            self.assertFalse(m.props.has(TOPIC_ALIAS))

    # -- Receive Maximum ----------------------------------------------------------------------

    @skip_if_mosquitto("mosquitto 2.0.11 sends two more QoS 1 messages after one PUBACK, "
                       "three unacknowledged with Receive Maximum 2 [MQTT-3.3.4-9]")
    def test_client_receive_maximum_bounds_inflight(self):
        topic = unique_topic("rm")
        marker = unique_topic("rmmark")
        s = self.raw5()
        s.connect(props=[(RECEIVE_MAXIMUM, 2)])
        s.subscribe([(topic, sub_options(qos=1)), (marker, sub_options(qos=0))])
        pub = self.publisher()
        for i in range(5):
            pub.publish(topic, b"m%d" % i, qos=1)
        pub.publish(marker, b"marker", qos=0)  # QoS 0 is not bound by Receive Maximum
        seen = []
        while True:
            m = s.receive_publish(ack=False)
            if m.topic == marker:
                break
            seen.append(m)
        self.assertEqual([(m.payload, m.qos) for m in seen], [(b"m0", 1), (b"m1", 1)],
                         "more unacknowledged QoS 1 messages than Receive Maximum 2")
        # each PUBACK lets exactly one more through
        s.send(ack5_packet(PUBACK, seen[0].pid))
        m = s.receive_publish(ack=False)
        self.assertEqual(m.payload, b"m2")
        pub.publish(marker, b"marker2", qos=0)
        self.assertEqual(s.receive_publish(ack=False).payload, b"marker2")
        for pid in (seen[1].pid, m.pid):
            s.send(ack5_packet(PUBACK, pid))
        rest = s.receive_publishes(2)
        self.assertEqual([r.payload for r in rest], [b"m3", b"m4"])
        s.disconnect()

    def test_client_receive_maximum_with_qos2(self):
        topic = unique_topic("rm2")
        s = self.raw5()
        s.connect(props=[(RECEIVE_MAXIMUM, 1)])
        s.subscribe([(topic, sub_options(qos=2))])
        pub = self.publisher()
        for i in range(3):
            pub.publish(topic, b"m%d" % i, qos=2)
        m = s.receive_publish(ack=False)
        self.assertEqual(m.payload, b"m0")
        s.send(ack5_packet(PUBREC, m.pid))
        p = s.read_packet()
        self.assertEqual((p.type, parse_ack5(p)[0]), (PUBREL, m.pid))
        # the QoS 2 flow is still open until PUBCOMP: nothing else may arrive
        marker = unique_topic("rm2mark")
        s.subscribe([(marker, sub_options(qos=0))])
        pub.publish(marker, b"marker", qos=0)
        self.assertEqual(s.receive_publish(ack=False).payload, b"marker")
        s.send(ack5_packet(PUBCOMP, m.pid))
        self.assertEqual([r.payload for r in s.receive_publishes(2)], [b"m1", b"m2"])
        s.disconnect()

    @skip_if_mosquitto("mosquitto 2.0.11 answers the excess QoS 2 PUBLISH with PUBREC 0x97 "
                       "instead of DISCONNECT 0x93")
    def test_server_receive_maximum_exceeded(self):
        broker = self.start_broker({"limits": {"receive_maximum": 3}})
        topic = unique_topic("srm")
        pub = self.raw5(port=broker.port)
        self.assertEqual(pub.connect().props.get(RECEIVE_MAXIMUM), 3)
        for pid in (1, 2, 3):
            pub.send(publish5_packet(topic, b"x", qos=2, packet_id=pid))
            p = pub.read_packet()
            self.assertEqual(p.type, PUBREC)
            self.assertIn(parse_ack5(p)[:2], ((pid, 0x00), (pid, 0x10)))
        # completing one flow frees one slot
        pub.send(ack5_packet(PUBREL, 1))
        p = pub.read_packet()
        self.assertEqual((p.type, parse_ack5(p)[0]), (PUBCOMP, 1))
        pub.send(publish5_packet(topic, b"x", qos=2, packet_id=4))
        self.assertEqual(pub.read_packet().type, PUBREC)
        pub.send(publish5_packet(topic, b"x", qos=2, packet_id=5))  # the 4th open flow
        pub.expect_disconnect(0x93)

    @skip_if_mosquitto("mosquitto 2.0.11 answers the excess QoS 2 PUBLISH with PUBREC 0x97 "
                       "instead of DISCONNECT 0x93")
    def test_default_receive_maximum_is_advertised_and_enforced(self):
        # Before the fix no value was advertised (65,535) and the 129th open flow went unseen.
        topic = unique_topic("drm")
        pub = self.raw5()
        self.assertEqual(pub.connect().props.get(RECEIVE_MAXIMUM), 128)
        pub.send(b"".join(publish5_packet(topic, b"x", qos=2, packet_id=pid) for pid in range(1, 129)))
        for pid in range(1, 129):
            p = pub.read_packet()
            self.assertEqual((p.type, parse_ack5(p)[0]), (PUBREC, pid))
        pub.send(publish5_packet(topic, b"x", qos=2, packet_id=129))  # the 129th open flow
        pub.expect_disconnect(0x93)

    # -- Maximum Packet Size ------------------------------------------------------------------

    def test_client_maximum_packet_size(self):
        topic = unique_topic("cmps")
        small = self.subscriber(topic, props=[(MAXIMUM_PACKET_SIZE, 200)])
        big = self.paho5()
        big.subscribe(topic, 1)
        pub = self.publisher()
        pub.publish(topic, b"L" * 1000, qos=1)
        pub.publish(topic, b"l" * 1000, qos=0)
        pub.publish(topic, b"small", qos=1)
        got = big.get_many(3)
        self.assertEqual([len(m.payload) for m in got], [1000, 1000, 5])
        m = small.receive_publish()
        self.assertEqual(m.payload, b"small", "a packet over the client's maximum was sent")
        # the dropped QoS 1 message is not redelivered either
        pub.publish(topic, b"again", qos=1)
        self.assertEqual(small.receive_publish().payload, b"again")

    def test_server_maximum_packet_size(self):
        broker = self.start_broker({"limits": {"max_packet_size": 1000}})
        topic = unique_topic("smps")
        s = self.subscriber(topic, port=broker.port)
        pub = self.raw5(port=broker.port)
        self.assertEqual(pub.connect().props.get(MAXIMUM_PACKET_SIZE), 1000)
        pub.publish(topic, b"a" * 900, qos=1)
        self.assertEqual(len(s.receive_publish().payload), 900)
        pub.send(publish5_packet(topic, b"b" * 2000, qos=1, packet_id=7))
        pub.expect_disconnect(0x95)
        other = self.raw5(port=broker.port)
        other.connect()
        other.publish(topic, b"after", qos=1)
        self.assertEqual(s.receive_publish().payload, b"after", "oversized message was routed")

    # -- Keep Alive ---------------------------------------------------------------------------

    def test_server_keep_alive_announced(self):
        broker = self.start_broker({"limits": {"max_keep_alive": 10}})
        a = self.raw5(port=broker.port)
        self.assertEqual(a.connect(keepalive=60).props.get(SERVER_KEEP_ALIVE), 10)
        b = self.raw5(port=broker.port)
        self.assertFalse(b.connect(keepalive=5).props.has(SERVER_KEEP_ALIVE))
        c = self.raw5(port=broker.port)
        self.assertEqual(c.connect(keepalive=10).props.get(SERVER_KEEP_ALIVE, 10), 10)
        a.disconnect()
        b.disconnect()
        c.disconnect()

    @skip_if_mosquitto("mosquitto 2.0.11 accepts no max_keepalive below 10 and closes a "
                       "keep-alive timeout without a DISCONNECT")
    def test_server_keep_alive_enforced(self):
        broker = self.start_broker({"limits": {"max_keep_alive": 1}})
        c = self.raw5(port=broker.port)
        self.assertEqual(c.connect(keepalive=60).props.get(SERVER_KEEP_ALIVE), 1)
        start = time.monotonic()
        c.expect_disconnect(0x8D, timeout=6)
        self.assertGreaterEqual(time.monotonic() - start, 0.9)

    # -- server DISCONNECT reason codes -------------------------------------------------------

    @skip_if_mosquitto("mosquitto 2.0.11 closes a keep-alive timeout without a DISCONNECT")
    def test_keep_alive_timeout(self):
        c = self.raw5()
        c.connect(keepalive=1)
        # a PINGREQ within the keep-alive keeps the connection alive
        c.send(b"\xc0\x00")
        self.assertEqual(c.read_packet().raw, b"\xd0\x00")
        start = time.monotonic()
        c.expect_disconnect(0x8D, timeout=6)
        self.assertGreaterEqual(time.monotonic() - start, 1.0)

    @skip_if_mosquitto("mosquitto 2.0.11 closes the old connection without DISCONNECT 0x8E")
    def test_session_taken_over(self):
        cid = unique_id("take")
        first = self.raw5()
        first.connect(cid)
        second = self.raw5()
        second.connect(cid)
        first.expect_disconnect(0x8E)
        topic = unique_topic("take")
        second.subscribe([(topic, sub_options(qos=1))])
        second.publish(topic, b"still-here", qos=1)
        self.assertEqual(second.receive_publish().payload, b"still-here")
        second.disconnect()

    @skip_if_mosquitto("mosquitto 2.0.11 closes connections on SIGTERM without DISCONNECT")
    def test_server_shutting_down(self):
        c = self.raw5()
        c.connect()
        self.broker.stop()
        c.expect_disconnect(0x8B)

    def test_packet_too_large_in_subscribe(self):
        broker = self.start_broker({"limits": {"max_packet_size": 100}})
        c = self.raw5(port=broker.port)
        c.connect()
        c.send(subscribe5_packet(1, [("f/" + "x" * 200, 0)]))
        c.expect_disconnect(0x95)

    @skip_if_mosquitto("mosquitto 2.0.11 closes without DISCONNECT on a second CONNECT")
    def test_second_connect_is_protocol_error(self):
        c = self.raw5()
        c.connect()
        c.send(connect5_packet(unique_id("again")))
        c.expect_disconnect(0x82)

    def test_publish_qos3_is_malformed(self):
        c = self.raw5()
        c.connect()
        body = struct.pack("!H", 1) + b"t" + struct.pack("!H", 1) + b"\x00"
        c.send(bytes([0x36, len(body)]) + body)
        reason, _ = c.expect_disconnect()
        self.assertEqual(reason, 0x81)


if __name__ == "__main__":
    run_tests()
