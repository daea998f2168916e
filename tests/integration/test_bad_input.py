#!/usr/bin/python3
"""Bad input against the real binary (issue 13, "Hardening"): each case sends one kind of bad
input, asserts the outcome docs/mqtt.md, docs/conformance.md or docs/http.md give for it, and
then that the server still serves a normal client (a paho client round-trips a QoS 1 message).
The harness fails a test whose server exits non-zero after SIGTERM or leaves an ASan, LSan or
UBSan report on its stderr, so a leak or undefined behaviour the bad input caused fails its case.

| case | bad input | documented outcome |
| --- | --- | --- |
| v311_remaining_length_shorter_than_the_topic | PUBLISH whose remaining length (2) ends inside its topic | closed, nothing sent |
| v5_remaining_length_shorter_than_the_topic | the same from an MQTT 5 client | DISCONNECT 0x81, closed |
| v5_remaining_length_longer_than_what_comes | a PUBLISH that announces 100 bytes and sends 10, keep-alive 1 s | DISCONNECT 0x8D after 1.5 keep-alives: a partial packet is no activity |
| v5_five_byte_remaining_length | a 5-byte remaining length after CONNECT (MQTT 5) | DISCONNECT 0x81, closed |
| five_byte_remaining_length_instead_of_connect | a 5-byte remaining length as the first packet | closed, nothing sent |
| connect_trickled_one_byte_at_a_time | a 3.1.1 CONNECT one byte per write, 5 ms apart | CONNACK 0, served |
| v5_connect_and_publish_trickled | an MQTT 5 CONNECT with properties and a QoS 1 PUBLISH, one byte per write | CONNACK 0, PUBACK 0x10 |
| v311_client_sends_connack / suback / unsuback / pingresp | a packet only a server sends, from a 3.1.1 client | closed, nothing sent (4 cases) |
| v5_client_sends_connack / suback / unsuback / pingresp | the same from an MQTT 5 client | DISCONNECT 0x82 (protocol error), closed (4 cases) |
| v311_auth_packet | packet type 15 (AUTH, reserved in 3.1.1) | closed, nothing sent |
| v311_unsubscribe_flags_0 | UNSUBSCRIBE with fixed-header flags 0000 | closed, nothing sent |
| v311_pingreq_with_a_body | PINGREQ with remaining length 1 | closed, nothing sent |
| v311_subscribe_option_reserved_bits | SUBSCRIBE whose requested-QoS byte has bit 2 set | closed, nothing sent |
| v311_publish_dup_at_qos_0 / v5_publish_dup_at_qos_0 | DUP set on a QoS 0 PUBLISH [MQTT-3.3.1-2] | closed / DISCONNECT 0x81 |
| v311_packet_id_0_on_qos1 / qos2 / subscribe | packet id 0 where one is required [MQTT-2.3.1-1] | closed, nothing sent (3 cases) |
| v5_packet_id_0_on_qos1 | the same from an MQTT 5 client | DISCONNECT 0x81, closed |
| v311_pubrel_for_an_unknown_id | PUBREL 4242 with no QoS 2 flow | PUBCOMP 4242, the connection stays |
| v5_puback_for_an_unknown_id | PUBACK 4242 nobody sent a PUBLISH for | ignored, the connection stays (PINGRESP) |
| v5_100000_user_properties | a QoS 1 PUBLISH of 700 KB holding 100,000 user properties (no documented count limit; within max_packet_size) | PUBACK 0, delivered with all 100,000 in order; the server's RSS grows less than 256 MB |
| v5_unknown_property_identifier | property 0x7F on a PUBLISH | DISCONNECT 0x81 |
| v5_property_length_past_the_packet | a property length longer than the packet | DISCONNECT 0x81 |
| v5_duplicate_payload_format_indicator | two Payload Format Indicators | DISCONNECT 0x82 |
| v5_connect_receive_maximum_0 / maximum_packet_size_0 | CONNECT properties that may not be 0 | closed without CONNACK (a malformed CONNECT, [MQTT-3.1.4-1]; 2 cases) |
| v5_unsubscribe_with_no_filters | UNSUBSCRIBE with no filter (MQTT 5) | DISCONNECT 0x82 |
| v311_client_id_invalid_utf8 / v5_client_id_invalid_utf8 | the client id is not UTF-8 | closed without CONNACK (2 cases) |
| v311_will_topic_with_wildcard | will topic "w/#" (3.1.1) | closed without CONNACK |
| v311_will_retain_without_will / v5_will_retain_without_will | Will Retain 1 with Will Flag 0 | closed without CONNACK (2 cases) |
| v5_will_qos_3_with_a_good_topic | Will QoS 3 on an otherwise valid MQTT 5 CONNECT with properties | closed without CONNACK |
| huge_declared_length_does_not_grow_rss | 20 connections announce 256 MB PUBLISHes and send 64 KB each | RSS grows less than 64 MB; the connections stay open |
| subscription_churn | 1,000 SUBSCRIBE/UNSUBSCRIBE pairs pipelined | 1,000 SUBACKs and UNSUBACKs in order; afterwards a PUBLISH to the filter gets PUBACK 0x10 (no subscriber) |
| takeover_storm | 50 MQTT 5 clients with one client id connect at once | each gets CONNACK 0; every one but the last is ended with DISCONNECT 0x8E; the last stays |
| http_malformed_query_string | GET /db/query?q=%zz | 400 with a JSON reason |
| http_sql_syntax_error_has_a_position | SELECT 1 FROM WHERE | 400, the reason names the character position |

Covered elsewhere with the same assertion (not repeated here):

- second CONNECT: 3.1.1 closed (test_protocol.py Connect.test_second_connect_closes), MQTT 5
  DISCONNECT 0x82 (test_v5_flow.py test_second_connect_is_protocol_error);
- PUBLISH and SUBSCRIBE before CONNECT (test_protocol.py);
- 5-byte remaining length after a 3.1.1 CONNECT (test_protocol.py test_remaining_length_over_4_bytes);
- QoS 3 (test_protocol.py test_publish_qos_3, test_v5_flow.py test_publish_qos3_is_malformed);
- reserved flag bits: 3.1.1 CONNECT, SUBSCRIBE, PINGREQ (test_protocol.py); MQTT 5 PUBREL,
  PUBACK, SUBSCRIBE, UNSUBSCRIBE, PINGREQ, DISCONNECT, AUTH (test_conformance_v5.py
  test_reserved_fixed_header_flags_are_malformed);
- topic alias 0 and above the maximum (test_v5_flow.py test_topic_alias_zero_is_invalid,
  test_topic_alias_above_default_maximum_is_invalid, ..._configured_maximum_...);
- invalid UTF-8 in a topic (test_protocol.py, test_conformance_v5.py), in a user property
  (test_conformance_v5.py test_ill_formed_utf8_strings_are_malformed);
- 60,001-level topics and 32,001-level filters in PUBLISH and SUBSCRIBE (test_deep_topics.py);
- a NUL in a topic (test_protocol.py test_publish_topic_with_nul, test_conformance_v5.py);
- an empty topic without alias (test_protocol.py, test_v5_flow.py
  test_empty_topic_without_alias_is_protocol_error);
- a wildcard in a PUBLISH topic (test_protocol.py, test_conformance_v5.py
  test_wildcard_in_topic_name_is_refused);
- SUBSCRIBE with no filters (test_protocol.py, test_v5_subscribe.py), 3.1.1 UNSUBSCRIBE with no
  filters (test_protocol.py);
- No Local on a shared subscription (test_v5_shared.py
  test_no_local_on_shared_subscription_is_protocol_error);
- subscription identifier 0 (test_v5_subscribe.py test_subscription_identifier_zero_is_protocol_error);
- an MQTT 5 PUBREL for an unknown id: PUBCOMP 0x92 (test_conformance_v5.py, test_sys.py);
- will QoS 3 (test_protocol.py test_connect_will_qos_3, test_conformance_v5.py), MQTT 5 will
  topic with a wildcard (test_conformance_v5.py test_malformed_connect_is_closed_without_an_answer);
- a declared length the server must not reserve, by VmSize over 40 connections (test_limits.py);
- TLS garbage before the handshake (test_tls.py TlsAbuse.test_garbage_before_a_handshake_is_closed_and_logged);
- a WebSocket upgrade without Sec-WebSocket-Key: 400 (test_websocket.py
  CurlUpgrade.test_missing_key_is_400_with_a_reason); a frame over the size limit: close 1009
  (test_websocket.py test_frame_over_the_size_limit_is_closed_with_1009);
- HTTP: a 100 KB header is 431, a body over http.max_body is 413 (test_http.py
  test_a_huge_header_is_431, test_a_body_over_max_body_is_413);
- mutated packets and random bytes on 400 connections (test_garbage.py).
"""

import json
import os
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (CONNACK, DISCONNECT, PAYLOAD_FORMAT_INDICATOR, PINGREQ_BYTES,  # noqa: E402
                     PINGRESP_BYTES, PUBACK, PUBCOMP, RECEIVE_MAXIMUM,
                     MAXIMUM_PACKET_SIZE, SUBACK, UNSUBACK, USER_PROPERTY, RawClient5,
                     V5TestCase, ack_packet, connect5_packet, connect_packet,
                     mqtt_str, packet, parse_ack5, parse_suback5, publish5_packet,
                     publish_packet, run_tests, skip_if_mosquitto, sub_options,
                     subscribe5_packet, subscribe_packet, unique_id, unique_topic,
                     unsubscribe5_packet, unsubscribe_packet, varint, wait_for)
import test_deep_topics  # noqa: E402  (a module, so that its test classes do not run here)
from test_http import request  # noqa: E402

MALFORMED, PROTOCOL_ERROR = 0x81, 0x82
# Packets only a server sends (3.1.1 encodings; MQTT 5 adds an empty property block).
SERVER_ONLY = {
    "connack": (b"\x20\x02\x00\x00", b"\x20\x03\x00\x00\x00"),
    "suback": (b"\x90\x03\x00\x01\x00", b"\x90\x04\x00\x01\x00\x00"),
    "unsuback": (b"\xb0\x02\x00\x01", b"\xb0\x04\x00\x01\x00\x00"),
    "pingresp": (PINGRESP_BYTES, PINGRESP_BYTES),
}


@skip_if_mosquitto("mqbase's documented outcomes")
class BadInput(V5TestCase):

    # -- helpers ------------------------------------------------------------------------------

    # A normal client still gets through: paho round-trips a QoS 1 message.
    assert_serves = test_deep_topics.DeepTopicsRefused.assert_alive

    def assert_v311_closed(self, data):
        """`data` after a 3.1.1 CONNECT closes the connection with nothing sent back; then the
        server still serves."""
        c = self.raw()
        c.connect()
        c.send(data)
        self.assertEqual(c.wait_closed(), b"", "the server answered %r" % data[:32])
        self.assert_serves()

    def assert_v5_disconnect(self, data, *reasons, **connect_kwargs):
        """`data` after an MQTT 5 CONNECT gets DISCONNECT with one of `reasons`, then the close;
        then the server still serves."""
        c = self.raw5()
        c.connect(**connect_kwargs)
        c.send(data)
        reason, _ = c.expect_disconnect()
        self.assertIn(reason, reasons, "DISCONNECT 0x%02x for %r" % (reason, data[:32]))
        self.assert_serves()

    def assert_closed_without_connack(self, data):
        """A CONNECT (any version) that breaks section 3.1 is closed without CONNACK; then the
        server still serves."""
        c = self.raw5()
        c.send(data)
        self.assertEqual(c.wait_closed(), b"", "the server answered %r" % data[:32])
        self.assert_serves()

    def rss_kb(self):
        return self.broker.rss_kb()

    # -- framing ------------------------------------------------------------------------------

    def test_v311_remaining_length_shorter_than_the_topic(self):
        # The topic length says 10; the remaining length ends after the length field.
        self.assert_v311_closed(b"\x30\x02\x00\x0a" + publish_packet("a/b", b"next"))

    def test_v5_remaining_length_shorter_than_the_topic(self):
        self.assert_v5_disconnect(b"\x30\x02\x00\x0a" + publish5_packet("a/b", b"next"), MALFORMED)

    def test_v5_remaining_length_longer_than_what_comes(self):
        c = self.raw5()
        c.connect(keepalive=1)
        start = time.monotonic()
        c.send(b"\x30" + varint(100) + b"\x00\x03a/b" + b"x" * 5)
        c.expect_disconnect(0x8D, timeout=5)  # keep-alive timeout
        self.assertGreater(time.monotonic() - start, 1.0)
        self.assert_serves()

    def test_v5_five_byte_remaining_length(self):
        self.assert_v5_disconnect(b"\x30\xff\xff\xff\xff\x01", MALFORMED)

    def test_five_byte_remaining_length_instead_of_connect(self):
        self.assert_closed_without_connack(b"\x10\xff\xff\xff\xff\x01")

    def trickle(self, sock, data):
        for i in range(len(data)):
            sock.sendall(data[i:i + 1])
            time.sleep(0.005)

    def test_connect_trickled_one_byte_at_a_time(self):
        c = self.raw()
        self.trickle(c.sock, connect_packet(unique_id("slow")))
        self.assertEqual(c.read_bytes(4), b"\x20\x02\x00\x00")
        topic = unique_topic("slow")
        self.assertEqual(c.subscribe([(topic, 1)]), [1])
        self.assert_serves()

    def test_v5_connect_and_publish_trickled(self):
        c = self.raw5()
        self.trickle(c.sock, connect5_packet(unique_id("slow5"), props=[(RECEIVE_MAXIMUM, 10)]) +
                     publish5_packet(unique_topic("slow5"), b"x", qos=1, packet_id=1,
                                     props=[(USER_PROPERTY, ("k", "v"))]))
        p = c.read_packet()
        self.assertEqual((p.type, p.body[1]), (CONNACK, 0))
        ack = c.read_packet()
        self.assertEqual((ack.type,) + parse_ack5(ack)[:2], (PUBACK, 1, 0x10))  # no subscriber
        self.assert_serves()

    # -- packets in the wrong place -----------------------------------------------------------

    def test_v311_client_sends_connack(self):
        self.assert_v311_closed(SERVER_ONLY["connack"][0])

    def test_v311_client_sends_suback(self):
        self.assert_v311_closed(SERVER_ONLY["suback"][0])

    def test_v311_client_sends_unsuback(self):
        self.assert_v311_closed(SERVER_ONLY["unsuback"][0])

    def test_v311_client_sends_pingresp(self):
        self.assert_v311_closed(SERVER_ONLY["pingresp"][0])

    def test_v5_client_sends_connack(self):
        self.assert_v5_disconnect(SERVER_ONLY["connack"][1], PROTOCOL_ERROR)

    def test_v5_client_sends_suback(self):
        self.assert_v5_disconnect(SERVER_ONLY["suback"][1], PROTOCOL_ERROR)

    def test_v5_client_sends_unsuback(self):
        self.assert_v5_disconnect(SERVER_ONLY["unsuback"][1], PROTOCOL_ERROR)

    def test_v5_client_sends_pingresp(self):
        self.assert_v5_disconnect(SERVER_ONLY["pingresp"][1], PROTOCOL_ERROR)

    def test_v311_auth_packet(self):
        self.assert_v311_closed(b"\xf0\x00")

    # -- fixed-header flags and fields --------------------------------------------------------

    def test_v311_unsubscribe_flags_0(self):
        self.assert_v311_closed(b"\xa0" + unsubscribe_packet(1, ["a/b"])[1:])

    def test_v311_pingreq_with_a_body(self):
        self.assert_v311_closed(b"\xc0\x01\x00")

    def test_v311_subscribe_option_reserved_bits(self):
        self.assert_v311_closed(subscribe_packet(1, [("a/b", 0x04)]))

    def test_v311_publish_dup_at_qos_0(self):
        self.assert_v311_closed(publish_packet("a/b", b"x", qos=0, dup=True))

    def test_v5_publish_dup_at_qos_0(self):
        self.assert_v5_disconnect(publish5_packet("a/b", b"x", qos=0, dup=True), MALFORMED)

    def test_v311_packet_id_0_on_qos1(self):
        self.assert_v311_closed(publish_packet("a/b", b"x", qos=1, packet_id=0))

    def test_v311_packet_id_0_on_qos2(self):
        self.assert_v311_closed(publish_packet("a/b", b"x", qos=2, packet_id=0))

    def test_v311_packet_id_0_on_subscribe(self):
        self.assert_v311_closed(subscribe_packet(0, [("a/b", 1)]))

    def test_v5_packet_id_0_on_qos1(self):
        self.assert_v5_disconnect(publish5_packet("a/b", b"x", qos=1, packet_id=0), MALFORMED)

    def test_v311_pubrel_for_an_unknown_id(self):
        c = self.raw()
        c.connect()
        c.send(ack_packet(6, 4242))  # PUBREL
        self.assertEqual(c.read_packet().raw, ack_packet(PUBCOMP, 4242))
        c.send(PINGREQ_BYTES)
        self.assertEqual(c.read_packet().raw, PINGRESP_BYTES)
        self.assert_serves()

    def test_v5_puback_for_an_unknown_id(self):
        c = self.raw5()
        c.connect()
        c.send(b"\x40\x02\x10\x92" + PINGREQ_BYTES)
        self.assertEqual(c.read_packet().raw, PINGRESP_BYTES)
        self.assert_serves()

    # -- MQTT 5 properties --------------------------------------------------------------------

    def test_v5_100000_user_properties(self):
        topic = unique_topic("props")
        sub = self.raw5()
        sub.connect()
        self.assertEqual(sub.subscribe([(topic, sub_options(qos=1))]), [1])
        before = self.rss_kb()
        pairs = [("k", "%d" % i) for i in range(100_000)]
        # Built by hand: encode_props() concatenates one property at a time (quadratic).
        props = b"".join(bytes([USER_PROPERTY]) + mqtt_str(k) + mqtt_str(v) for k, v in pairs)
        data = packet(0x32, mqtt_str(topic) + b"\x00\x01" + varint(len(props)) + props + b"many")
        self.assertLess(len(data), 2 << 20)  # well within the default max_packet_size
        pub = self.raw5()
        pub.connect()
        pub.send(data)
        ack = pub.read_packet(timeout=30)
        self.assertEqual((ack.type,) + parse_ack5(ack)[:2], (PUBACK, 1, 0))
        m = sub.receive_publish(timeout=30)
        self.assertEqual(m.payload, b"many")
        self.assertEqual(m.props.user(), pairs)
        growth_mb = (self.rss_kb() - before) // 1024
        self.assertLess(growth_mb, 256, "RSS grew %d MB for one 700 KB packet" % growth_mb)
        self.assert_serves()

    def test_v5_unknown_property_identifier(self):
        body = mqtt_str("a/b") + b"\x02\x7f\x00" + b"x"
        self.assert_v5_disconnect(packet(0x30, body), MALFORMED)

    def test_v5_property_length_past_the_packet(self):
        body = mqtt_str("a/b") + varint(200) + b"\x01\x01"
        self.assert_v5_disconnect(packet(0x30, body), MALFORMED)

    def test_v5_duplicate_payload_format_indicator(self):
        data = publish5_packet("a/b", b"x", props=[(PAYLOAD_FORMAT_INDICATOR, 1),
                                                   (PAYLOAD_FORMAT_INDICATOR, 1)])
        self.assert_v5_disconnect(data, PROTOCOL_ERROR)

    def test_v5_connect_receive_maximum_0(self):
        self.assert_closed_without_connack(connect5_packet(unique_id("rm0"), props=[(RECEIVE_MAXIMUM, 0)]))

    def test_v5_connect_maximum_packet_size_0(self):
        self.assert_closed_without_connack(connect5_packet(unique_id("mp0"), props=[(MAXIMUM_PACKET_SIZE, 0)]))

    def test_v5_unsubscribe_with_no_filters(self):
        self.assert_v5_disconnect(unsubscribe5_packet(1, []), PROTOCOL_ERROR)

    # -- CONNECT fields -----------------------------------------------------------------------

    def test_v311_client_id_invalid_utf8(self):
        self.assert_closed_without_connack(connect_packet("x")[:-1] + b"\xff")  # the client id: 0xFF

    def test_v5_client_id_invalid_utf8(self):
        self.assert_closed_without_connack(connect5_packet("x")[:-1] + b"\xff")

    def test_v311_will_topic_with_wildcard(self):
        self.assert_closed_without_connack(connect_packet(unique_id("ww"), will_topic="w/#", will_payload=b"x"))

    def test_v311_will_retain_without_will(self):
        self.assert_closed_without_connack(connect_packet(unique_id("wr"), extra_flags=0x20))

    def test_v5_will_retain_without_will(self):
        data = bytearray(connect5_packet(unique_id("wr5")))
        data[9] |= 0x20  # Will Retain, no Will Flag
        self.assert_closed_without_connack(bytes(data))

    def test_v5_will_qos_3_with_a_good_topic(self):
        self.assert_closed_without_connack(connect5_packet(
            unique_id("wq3"), props=[(RECEIVE_MAXIMUM, 5)], will_topic="w/ok", will_payload=b"bye",
            will_qos=3, will_props=[(USER_PROPERTY, ("a", "b"))]))

    # -- memory and abuse ---------------------------------------------------------------------

    def test_huge_declared_length_does_not_grow_rss(self):
        before = self.rss_kb()
        clients = []
        for _ in range(20):
            c = self.raw()
            c.connect(keepalive=0)
            # the largest the default max_packet_size allows: 5 + 268435450 bytes
            c.sock.sendall(b"\x30" + varint(268435450) + b"\x00\x03a/b" + b"x" * 65536)
            clients.append(c)
        time.sleep(0.5)  # the server has read what was sent (nothing to wait on from outside)
        growth_mb = (self.rss_kb() - before) // 1024
        self.assertLess(growth_mb, 64, "RSS grew %d MB for 1.3 MB received" % growth_mb)
        for c in clients:
            self.assertFalse(c.is_closed_now())
        self.assert_serves()

    def test_subscription_churn(self):
        c = self.raw5()
        c.connect()
        topic = unique_topic("churn")
        n = 1000
        c.send(b"".join(subscribe5_packet(2 * i + 1, [(topic, sub_options(qos=1))]) +
                        unsubscribe5_packet(2 * i + 2, [topic]) for i in range(n)))
        for i in range(n):
            p = c.read_packet(timeout=20)
            self.assertEqual((p.type, parse_suback5(p)[0], parse_suback5(p)[2]), (SUBACK, 2 * i + 1, [1]))
            p = c.read_packet(timeout=20)
            self.assertEqual((p.type, parse_suback5(p)[0], parse_suback5(p)[2]), (UNSUBACK, 2 * i + 2, [0]))
        self.assertEqual(c.publish(topic, b"anyone?", qos=1), 0x10)  # no subscriber left
        self.assert_serves()

    def test_takeover_storm(self):
        cid = unique_id("storm")
        n = 50
        clients = [RawClient5(self.port) for _ in range(n)]
        for c in clients:
            self.addCleanup(c.close)
        barrier = threading.Barrier(n)
        acks, errors = [None] * n, []

        def connect(i):
            try:
                barrier.wait()
                acks[i] = clients[i].connect(cid, expect_reason=None, timeout=20).reason
            except Exception as e:  # reported by the test's thread
                errors.append(e)

        threads = [threading.Thread(target=connect, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        self.assertEqual(errors, [])
        self.assertEqual(acks, [0] * n)
        # All but one are taken over (DISCONNECT 0x8E); one stays and answers PINGREQ.
        wait_for(lambda: sum(c.is_closed_now() for c in clients) == n - 1, timeout=20,
                 message="%d of %d connections taken over" % (n - 1, n))
        survivors = [c for c in clients if not c.is_closed_now()]
        self.assertEqual(len(survivors), 1)
        survivors[0].send(PINGREQ_BYTES)
        self.assertEqual(survivors[0].read_packet().raw, PINGRESP_BYTES)
        for c in clients:
            if c is not survivors[0]:
                p = c.try_parse()
                self.assertIsNotNone(p, "a taken-over client got no DISCONNECT")
                self.assertEqual((p.type, p.body[:1]), (DISCONNECT, b"\x8e"))
        self.assert_serves()

    # -- HTTP ---------------------------------------------------------------------------------

    def test_http_malformed_query_string(self):
        status, _, body = request(self.broker.http_url("/db/query?q=%zz"))
        self.assertEqual(status, 400)
        doc = json.loads(body)
        self.assertFalse(doc["success"])
        self.assertTrue(doc["reason"])
        self.assert_serves()

    def test_http_sql_syntax_error_has_a_position(self):
        q = urllib.parse.quote("SELECT 1 FROM WHERE")
        status, _, body = request(self.broker.http_url("/db/query?q=" + q))
        self.assertEqual(status, 400)
        doc = json.loads(body)
        self.assertFalse(doc["success"])
        self.assertRegex(doc["reason"], r"syntax error.* at character \d+")
        self.assert_serves()


if __name__ == "__main__":
    run_tests()
