#!/usr/bin/python3
"""MQTT 5.0 normative statements that the test_v5_*.py files do not show (docs/conformance.md
names the statement each test is for): UTF-8 and reserved-bit refusals, what a refused or
malformed CONNECT is answered with, the properties acknowledgements and server DISCONNECTs may
carry (Request Problem Information, the client's Maximum Packet Size), DUP and packet
identifier rules in both directions, resends after a reconnect, negative acknowledgements,
topic aliases across connections, overlapping and shared subscriptions, and ordering.

Tests marked expectedFailure show a statement mqbase does not meet yet; the comment above each
names it. Raw sockets throughout: the bytes on the wire are the point."""

import hashlib
import hmac
import os
import random
import socket
import string
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (publish_in_background, AUTH, AUTHENTICATION_DATA, AUTHENTICATION_METHOD,  # noqa: E402
                     ASSIGNED_CLIENT_IDENTIFIER, CONTENT_TYPE, DISCONNECT,
                     MAXIMUM_PACKET_SIZE, MESSAGE_EXPIRY_INTERVAL, PAYLOAD_FORMAT_INDICATOR,
                     PUBACK, PUBCOMP, PUBLISH, PUBREC, PUBREL, REASON_STRING,
                     REQUEST_PROBLEM_INFORMATION, REQUEST_RESPONSE_INFORMATION,
                     RESPONSE_INFORMATION, RESPONSE_TOPIC, SESSION_EXPIRY_INTERVAL, SUBACK,
                     SUBSCRIPTION_IDENTIFIER, TIMEOUT, TOPIC_ALIAS, TOPIC_ALIAS_MAXIMUM,
                     UNSUBACK, USER_PROPERTY, V5TestCase, ack5_packet, auth_packet,
                     connect5_packet, disconnect5_packet, is_mosquitto, parse_ack5,
                     parse_connack5, parse_publish5, parse_reason_packet, parse_suback5,
                     publish5_packet, run_tests, skip_if_mosquitto, sub_options,
                     subscribe5_packet, unique_id, unique_topic, unsubscribe5_packet)

# Sessions are checked for expiry every 250 ms; leave room for a sanitizer build.
EXPIRY_SLACK = 2.0
# How long a test watches for a message that must not come after a close: the broker runs
# Client::on_closed (which publishes wills and hands shared messages on) right after closing its
# socket, so anything that close sends arrives well within this.
QUIET = 1.0


class ConformanceV5(V5TestCase):

    # -- helpers ------------------------------------------------------------------------------

    def client(self, client_id=None, port=None, **kwargs):
        c = self.raw5(port=port)
        c.connect(client_id, **kwargs)
        return c

    def subscriber(self, filters, client_id=None, **kwargs):
        """A raw v5 client subscribed to [(filter, qos)]."""
        c = self.client(client_id, **kwargs)
        self.assertEqual(c.subscribe([(f, sub_options(qos=q)) for f, q in filters]),
                         [q for _, q in filters])
        return c

    def until_marker(self, c, marker, timeout=TIMEOUT, ack=True):
        """The PUBLISHes (Publish5) c receives before the one on topic `marker`."""
        out = []
        deadline = time.monotonic() + timeout
        while True:
            m = c.receive_publish(timeout=max(0.001, deadline - time.monotonic()), ack=ack)
            if m.topic == marker:
                return out
            out.append(m)

    def assert_marker_next(self, c, publisher, marker):
        """c subscribes to `marker`; `publisher` publishes on it; it must be c's next PUBLISH."""
        self.assertEqual(c.subscribe([(marker, sub_options(qos=1))]), [1])
        publisher.publish(marker, b"marker", qos=1)
        self.assertEqual(self.until_marker(c, marker), [], "unexpected message before the marker")

    def expect_malformed_close(self, packet_bytes, reasons=(0x81,)):
        """A connected client sends packet_bytes: the server answers DISCONNECT with one of
        `reasons` and closes."""
        c = self.client()
        c.send(packet_bytes)
        if is_mosquitto():  # mosquitto 2.0.11 often closes without a DISCONNECT
            data = c.wait_closed()
            if not data:
                return
            c.buf = data
        reason, _ = c.expect_disconnect()
        self.assertIn(reason, reasons, "DISCONNECT reason 0x%02x after %r" % (reason, packet_bytes))

    def assert_quiet(self, c, seconds=QUIET):
        """c receives no PUBLISH for `seconds`."""
        try:
            m = c.receive_publish(timeout=seconds)
        except AssertionError:
            return
        self.fail("unexpected message %r" % (m,))

    def holder_of_one(self, members, timeout=TIMEOUT):
        """Which of `members` received the next PUBLISH (unacknowledged)? Returns
        (index, Publish5)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for i, c in enumerate(members):
                try:
                    return i, c.receive_publish(timeout=0.05, ack=False)
                except AssertionError:
                    pass
        self.fail("no member received the message")

    def leave_holding_qos2(self, pub, members, topic):
        """`pub` publishes one QoS 2 message to the two `members` of a shared subscription; the
        one that gets it leaves without PUBREC. Returns (its index, the Publish5 it got)."""
        pub.publish(topic, b"qos2", qos=2)
        i, m = self.holder_of_one(members)
        members[i].sock.shutdown(socket.SHUT_WR)  # no PUBREC
        members[i].wait_closed()
        return i, m

    # -- 1.5 Data representation --------------------------------------------------------------

    def test_bom_is_kept_in_strings(self):
        """[MQTT-1.5.4-3]: EF BB BF is U+FEFF wherever it appears; nothing strips it."""
        base = unique_topic("bom")
        with_bom, without, marker = base + "/\ufeffx", base + "/x", unique_topic("mark")
        sub = self.subscriber([(with_bom, 1), (without, 1)])
        pub = self.client()
        pub.publish(with_bom, "\ufeffpayload".encode(), qos=1,
                    props=[(CONTENT_TYPE, "\ufefftext/plain"),
                           (USER_PROPERTY, ("\ufeffk", "v\ufeff"))])
        m = sub.receive_publish()
        self.assertEqual(m.topic.encode(), base.encode() + b"/\xef\xbb\xbfx")
        self.assertEqual(m.payload, b"\xef\xbb\xbfpayload")
        self.assertEqual(m.props.get(CONTENT_TYPE), "\ufefftext/plain")
        self.assertEqual(m.props.user(), [("\ufeffk", "v\ufeff")])
        self.assert_marker_next(sub, pub, marker)  # the filter without the BOM did not match

    def test_ill_formed_utf8_strings_are_malformed(self):
        """[MQTT-1.5.4-1], [MQTT-1.5.4-2], [MQTT-1.5.7-1], [MQTT-3.3.2-1], [MQTT-3.3.2-13],
        [MQTT-3.3.2-19]: a Topic Name, Response Topic, Content Type or User Property that is not
        well-formed UTF-8 (or holds U+0000) makes the PUBLISH malformed: DISCONNECT 0x81."""
        cases = {
            "topic_invalid": publish5_packet(b"a/\xff", b"x"),
            "topic_surrogate": publish5_packet(b"a/\xed\xa0\x80", b"x"),
            "topic_overlong": publish5_packet(b"a/\xc0\xaf", b"x"),
            "topic_nul": publish5_packet(b"a\x00b", b"x"),
            "response_topic": publish5_packet("t", b"x", props=[(RESPONSE_TOPIC, b"r/\xfe")]),
            "content_type": publish5_packet("t", b"x", props=[(CONTENT_TYPE, b"\xc3\x28")]),
            "user_property_name": publish5_packet("t", b"x",
                                                  props=[(USER_PROPERTY, (b"\xff", "v"))]),
            "user_property_value": publish5_packet("t", b"x",
                                                   props=[(USER_PROPERTY, ("k", b"\x00"))]),
        }
        for name, data in cases.items():
            with self.subTest(name):
                self.expect_malformed_close(data)

    # -- 2.1.3 / 3.x.1 Reserved fixed-header bits ---------------------------------------------

    @skip_if_mosquitto("mosquitto 2.0.11 ignores reserved flags on PUBACK and PINGREQ")
    def test_reserved_fixed_header_flags_are_malformed(self):
        """[MQTT-2.1.3-1], [MQTT-3.6.1-1], [MQTT-3.8.1-1], [MQTT-3.10.1-1], [MQTT-3.14.1-1],
        [MQTT-3.15.1-1]: other flag values than Table 2-2 makes the packet malformed; the server
        answers DISCONNECT 0x81 and closes."""
        cases = {
            "pubrel_0": b"\x60\x02\x00\x01",
            "puback_2": b"\x42\x02\x00\x01",
            "subscribe_0": b"\x80" + subscribe5_packet(1, [("t", 0)])[1:],
            "unsubscribe_0": b"\xa0" + unsubscribe5_packet(1, ["t"])[1:],
            "pingreq_1": b"\xc1\x00",
            "disconnect_1": b"\xe1\x00",
            "auth_1": b"\xf1\x00",
        }
        for name, data in cases.items():
            with self.subTest(name):
                self.expect_malformed_close(data)

    # -- 3.1 CONNECT ----------------------------------------------------------------------------

    def test_malformed_connect_is_closed_without_an_answer(self):
        """[MQTT-3.1.4-1], [MQTT-3.1.2-3], [MQTT-3.1.2-12], [MQTT-3.14.0-1]: a CONNECT that breaks
        section 3.1 closes the connection; no CONNACK came, so no DISCONNECT either."""
        reserved = bytearray(connect5_packet(unique_id("rsv")))
        reserved[9] |= 0x01  # the CONNECT flags' reserved bit
        cases = {
            "reserved_flag": bytes(reserved),
            "will_qos_3": connect5_packet(unique_id("wq3"), will_topic="w", will_qos=3),
            "property_not_for_connect": connect5_packet(unique_id("prop"),
                                                        props=[(TOPIC_ALIAS, 1)]),
            "will_topic_wildcard": connect5_packet(unique_id("wwc"), will_topic="w/#"),
        }
        for name, data in cases.items():
            with self.subTest(name):
                c = self.raw5()
                c.send(data)
                self.assertEqual(c.wait_closed(), b"", "answered a malformed CONNECT")

    def test_will_qos_0_1_2_and_will_retain(self):
        """[MQTT-3.1.2-12]: Will QoS 0, 1 and 2 are accepted; [MQTT-3.1.2-14]: Will Retain 0
        publishes a non-retained message; [MQTT-3.1.2-15]: Will Retain 1 a retained one."""
        base = unique_topic("willq")
        watcher = self.subscriber([(base + "/#", 2)])
        for qos in (0, 1, 2):
            c = self.client(unique_id("w%d" % qos), will_topic="%s/%d" % (base, qos),
                            will_payload=b"will-%d" % qos, will_qos=qos)
            c.abort()
            m = watcher.receive_publish()
            self.assertEqual((m.topic, m.payload, m.qos, m.retain),
                             ("%s/%d" % (base, qos), b"will-%d" % qos, qos, 0))
        c = self.client(unique_id("wr"), will_topic=base + "/kept", will_payload=b"kept",
                        will_qos=1, will_retain=True)
        c.abort()
        self.assertEqual(watcher.receive_publish().payload, b"kept")
        # a new subscriber finds only the retained will
        late = self.client()
        late.subscribe([(base + "/#", sub_options(qos=2))])
        m = late.receive_publish()
        self.assertEqual((m.topic, m.payload, m.retain), (base + "/kept", b"kept", 1))
        self.assert_marker_next(late, watcher, unique_topic("mark"))

    @skip_if_mosquitto("mosquitto 2.0.11 does not validate payloads marked as UTF-8")
    def test_will_payload_not_utf8_is_refused(self):
        """[MQTT-3.2.2-8], [MQTT-3.2.2-7]: a will whose Payload Format Indicator says UTF-8 but
        whose payload is not: CONNACK 0x99 (a CONNECT reason code), then the close."""
        c = self.raw5()
        ack = c.connect(unique_id("wpf"), expect_reason=None, will_topic="w", will_payload=b"\xff",
                        will_props=[(PAYLOAD_FORMAT_INDICATOR, 1)])
        self.assertEqual((ack.session_present, ack.reason), (0, 0x99))
        self.assertEqual(c.wait_closed(), b"")

    def test_client_identifier_of_23_alphanumerics(self):
        """[MQTT-3.1.3-5]: 1 to 23 characters of 0-9a-zA-Z are allowed."""
        rnd = random.Random()
        for n in (1, 23):
            cid = "".join(rnd.choice(string.ascii_letters + string.digits) for _ in range(n))
            c = self.raw5()
            ack = c.connect(cid)
            self.assertEqual((ack.session_present, ack.reason), (0, 0))
            self.assertFalse(ack.props.has(ASSIGNED_CLIENT_IDENTIFIER))
            c.disconnect()

    def test_no_response_information(self):
        """[MQTT-3.1.2-28]: Request Response Information 0: no Response Information (mqbase
        sends none when asked either, which the spec allows)."""
        for rri in (0, 1):
            c = self.raw5()
            ack = c.connect(props=[(REQUEST_RESPONSE_INFORMATION, rri)])
            self.assertFalse(ack.props.has(RESPONSE_INFORMATION), repr(ack.props))
            c.disconnect()

    def test_refused_connect_processes_nothing_after_it(self):
        """[MQTT-3.1.4-6]: nothing sent after a refused CONNECT is processed; [MQTT-3.2.2-6]:
        Session Present 0 with a non-zero reason, even though a session exists;
        [MQTT-3.2.2-7], [MQTT-4.13.2-1]: the connection closes; [MQTT-3.14.0-1]: no DISCONNECT
        after a refusing CONNACK; [MQTT-3.2.2-20]: no User Property on it; [MQTT-4.12.0-1]: an
        unsupported Authentication Method is refused and closed."""
        cid = unique_id("ref")
        topic = unique_topic("ref")
        self.client(cid, props=[(SESSION_EXPIRY_INTERVAL, 60)]).disconnect()
        watcher = self.subscriber([(topic, 1)])
        c = self.raw5()
        c.send(connect5_packet(cid, clean_start=False,
                               props=[(SESSION_EXPIRY_INTERVAL, 60),
                                      (AUTHENTICATION_METHOD, "NO-SUCH-METHOD")])
               + publish5_packet(topic, b"after-refusal", retain=True)
               + b"\xc0\x00")  # PINGREQ
        ack = parse_connack5(c.read_packet())
        self.assertEqual((ack.session_present, ack.reason), (0, 0x8C))
        self.assertFalse(ack.props.has(USER_PROPERTY))
        self.assertEqual(c.wait_closed(), b"", "a PINGRESP or DISCONNECT after the refusal")
        self.assert_marker_next(watcher, watcher, unique_topic("mark"))
        late = self.client()
        late.subscribe([(topic, sub_options(qos=1))])
        self.assert_marker_next(late, watcher, unique_topic("mark2"))  # nothing retained

    # -- properties the server sends: Request Problem Information, Maximum Packet Size --------

    def exercise_acks(self, c):
        """Make the server send every kind of acknowledgement to c, with success and failure
        reason codes. Returns [(name, Packet)]."""
        out = []
        pid = c.new_id()
        c.send(subscribe5_packet(pid, [("q", sub_options(qos=2)), ("a/#/b", sub_options(qos=0))]))
        p = c._expect(SUBACK, pid, TIMEOUT)
        self.assertEqual(parse_suback5(p)[0::2], (pid, [2, 0x8F]))
        out.append(("SUBACK", p))
        pid = c.new_id()
        c.send(unsubscribe5_packet(pid, ["never", "a/#/b"]))
        p = c._expect(UNSUBACK, pid, TIMEOUT)
        self.assertEqual(parse_suback5(p)[0::2], (pid, [0x11, 0x8F]))
        out.append(("UNSUBACK", p))
        for name, qos, payload, props, want in (
                ("PUBACK 0x10", 1, b"x", [], (PUBACK, 0x10)),
                ("PUBACK 0x99", 1, b"\xff", [(PAYLOAD_FORMAT_INDICATOR, 1)], (PUBACK, 0x99)),
                ("PUBREC 0x99", 2, b"\xff", [(PAYLOAD_FORMAT_INDICATOR, 1)], (PUBREC, 0x99))):
            pid = c.new_id()
            c.send(publish5_packet("n", payload, qos=qos, packet_id=pid, props=props))
            p = c._read_ack(TIMEOUT)
            self.assertEqual((p.type,) + parse_ack5(p)[:2], (want[0], pid, want[1]))
            out.append((name, p))
        c.send(ack5_packet(PUBREL, 999))  # an id the server does not know
        p = c._read_ack(TIMEOUT)
        self.assertEqual((p.type,) + parse_ack5(p)[:2], (PUBCOMP, 999, 0x92))
        out.append(("PUBCOMP 0x92", p))
        # a QoS 2 flow in each direction: c publishes to "q", which it subscribes to
        pid = c.new_id()
        c.send(publish5_packet("q", b"x", qos=2, packet_id=pid))
        p = c._read_ack(TIMEOUT)  # the PUBLISH coming back waits in the stash
        self.assertEqual((p.type,) + parse_ack5(p)[:2], (PUBREC, pid, 0))
        out.append(("PUBREC", p))
        c.send(ack5_packet(PUBREL, pid))
        p = c._read_ack(TIMEOUT)
        self.assertEqual((p.type,) + parse_ack5(p)[:2], (PUBCOMP, pid, 0))
        out.append(("PUBCOMP", p))
        m = c.receive_publish(ack=False)
        self.assertEqual((m.topic, m.qos), ("q", 2))
        c.send(ack5_packet(PUBREC, m.pid))
        p = c.read_packet()
        self.assertEqual((p.type, p.flags) + parse_ack5(p)[:2], (PUBREL, 2, m.pid, 0))
        out.append(("PUBREL", p))
        c.send(ack5_packet(PUBCOMP, m.pid))
        return out

    @skip_if_mosquitto("mosquitto 2.0.11 closes the connection on an invalid topic filter")
    def test_no_reason_string_or_user_property_without_problem_information(self):
        """[MQTT-3.1.2-29]: Request Problem Information 0: no Reason String or User Property on
        anything but PUBLISH, CONNACK and DISCONNECT, failures included. The reason codes are
        the packets' own ([MQTT-3.4.2-1], [MQTT-3.5.2-1], [MQTT-3.6.2-1], [MQTT-3.7.2-1],
        [MQTT-3.9.3-2], [MQTT-3.11.3-2])."""
        c = self.client(props=[(REQUEST_PROBLEM_INFORMATION, 0)])
        for name, p in self.exercise_acks(c):
            with self.subTest(name):
                props = (parse_suback5(p)[1] if p.type in (SUBACK, UNSUBACK) else parse_ack5(p)[2])
                self.assertFalse(props.has(REASON_STRING) or props.has(USER_PROPERTY), repr(p.raw))

    @skip_if_mosquitto("mosquitto 2.0.11 closes the connection on an invalid topic filter")
    def test_acknowledgements_fit_the_client_maximum_packet_size(self):
        """[MQTT-3.4.2-2/3], [MQTT-3.5.2-2/3], [MQTT-3.6.2-2/3], [MQTT-3.7.2-2/3],
        [MQTT-3.9.2-1/2], [MQTT-3.11.2-1/2]: with a Maximum Packet Size of 16 the server still
        answers everything, and no Reason String or User Property makes an ack larger."""
        c = self.client(props=[(MAXIMUM_PACKET_SIZE, 16)])
        for name, p in self.exercise_acks(c):
            with self.subTest(name):
                self.assertLessEqual(len(p.raw), 16, repr(p.raw))

    # [MQTT-3.2.2-19] (and [MQTT-3.1.2-24]): the Reason String is left out of a refusing
    # CONNACK that would exceed the client's Maximum Packet Size.
    def test_connack_reason_string_fits_the_client_maximum_packet_size(self):
        """[MQTT-3.2.2-19]: no Reason String on CONNACK if it would exceed the client's
        Maximum Packet Size."""
        c = self.raw5()
        c.send(connect5_packet(unique_id("mps"), props=[(MAXIMUM_PACKET_SIZE, 20),
                                                        (AUTHENTICATION_METHOD, "NO-SUCH-METHOD")]))
        p = c.read_packet()
        self.assertEqual(parse_connack5(p).reason, 0x8C)
        self.assertLessEqual(len(p.raw), 20, "CONNACK of %d bytes: %r" % (len(p.raw), p.raw))

    # [MQTT-3.14.2-3] (and [MQTT-3.1.2-24]): the Reason String is left out of a DISCONNECT
    # that would exceed the client's Maximum Packet Size.
    def test_disconnect_reason_string_fits_the_client_maximum_packet_size(self):
        """[MQTT-3.14.2-3]: no Reason String on DISCONNECT if it would exceed the client's
        Maximum Packet Size."""
        c = self.client(props=[(MAXIMUM_PACKET_SIZE, 40)])  # Session Expiry Interval 0
        c.send(disconnect5_packet(0, [(SESSION_EXPIRY_INTERVAL, 30)]))  # a protocol error
        p = c.read_packet()
        self.assertEqual((p.type, parse_reason_packet(p)[0]), (DISCONNECT, 0x82))
        self.assertLessEqual(len(p.raw), 40, "DISCONNECT of %d bytes: %r" % (len(p.raw), p.raw))

    @skip_if_mosquitto("mosquitto 2.0.11 closes without DISCONNECT on a second CONNECT")
    def test_server_disconnect(self):
        """[MQTT-3.14.2-2]: no Session Expiry Interval on a server DISCONNECT; [MQTT-3.14.2-4]:
        no User Property; [MQTT-3.14.4-1]: nothing after it; [MQTT-3.14.4-2]: then the close;
        [MQTT-3.14.2-1]: its reason codes (0x8E takeover, 0x82 protocol error)."""
        cid = unique_id("sd")
        first = self.client(cid, props=[(SESSION_EXPIRY_INTERVAL, 60)])
        second = self.client(cid, clean_start=False, props=[(SESSION_EXPIRY_INTERVAL, 60)])
        third = self.client()
        third.send(connect5_packet(unique_id("again")))
        for c, want in ((first, 0x8E), (third, 0x82)):
            p = c.read_packet()
            self.assertEqual(p.type, DISCONNECT, repr(p.raw))
            reason, props = parse_reason_packet(p)
            self.assertEqual(reason, want)
            self.assertFalse(props.has(SESSION_EXPIRY_INTERVAL), repr(props))
            self.assertFalse(props.has(USER_PROPERTY), repr(props))
            self.assertEqual(c.wait_closed(), b"", "bytes after the DISCONNECT")
        second.disconnect()

    @skip_if_mosquitto("MQBASE-HMAC-SHA256 is an mqbase method")
    def test_auth_packets_carry_method_and_data_only(self):
        """[MQTT-3.15.2-1]: AUTH reason codes 0x18 and 0x00; [MQTT-3.15.2-2/3]: no Reason String
        or User Property on AUTH (so none to push it past the Maximum Packet Size);
        [MQTT-4.12.0-5]: every AUTH names the CONNECT's method."""
        secret = "conformance"
        broker = self.start_broker({"auth": {"hmac_challenge_secret": secret}})
        method = "MQBASE-HMAC-SHA256"
        c = self.raw5(port=broker.port)
        c.send(connect5_packet(unique_id("auth"), props=[(AUTHENTICATION_METHOD, method),
                                                         (MAXIMUM_PACKET_SIZE, 100)]))

        def step(expect_reason):
            p = c.read_packet()
            self.assertEqual((p.type, p.flags), (AUTH, 0), repr(p.raw))
            self.assertLessEqual(len(p.raw), 100)
            reason, props = parse_reason_packet(p)
            self.assertEqual(reason, expect_reason)
            self.assertEqual(props.get(AUTHENTICATION_METHOD), method)
            self.assertTrue({k for k, _ in props} <= {AUTHENTICATION_METHOD, AUTHENTICATION_DATA},
                            repr(props))
            return props.get(AUTHENTICATION_DATA)

        def answer(challenge):
            mac = hmac.new(secret.encode(), challenge, hashlib.sha256).digest()
            c.send(auth_packet(0x18, [(AUTHENTICATION_METHOD, method), (AUTHENTICATION_DATA, mac)]))

        answer(step(0x18))
        ack = parse_connack5(c.read_packet())
        self.assertEqual((ack.reason, ack.props.get(AUTHENTICATION_METHOD)), (0, method))
        c.send(auth_packet(0x19, [(AUTHENTICATION_METHOD, method)]))
        answer(step(0x18))
        step(0x00)
        c.disconnect()

    # -- 3.3 PUBLISH ----------------------------------------------------------------------------

    def test_wildcard_in_topic_name_is_refused(self):
        """[MQTT-3.3.2-2], [MQTT-4.7.0-1]: no wildcard in a Topic Name: the server closes
        (mqbase: DISCONNECT 0x90 Topic Name invalid)."""
        for topic in ("a/+", "a/#", "+", "#/a"):
            with self.subTest(topic):
                # the spec names no reason code here; mosquitto says 0x81 or 0x82
                self.expect_malformed_close(publish5_packet(topic, b"x"),
                                            (0x81, 0x82, 0x90) if is_mosquitto() else (0x90,))

    @skip_if_mosquitto("mosquitto 2.0.11 accepts a Subscription Identifier from a client")
    def test_client_publish_with_subscription_identifier_is_refused(self):
        """[MQTT-3.3.4-6] binds the client; mqbase treats a breach as a protocol error."""
        self.expect_malformed_close(
            publish5_packet("t", b"x", qos=1, packet_id=1, props=[(SUBSCRIPTION_IDENTIFIER, 5)]),
            (0x82,))

    # [MQTT-3.3.2-14]: a Response Topic containing wildcards is refused, never forwarded.
    def test_response_topic_with_wildcards_is_never_sent(self):
        """[MQTT-3.3.2-14]: a Response Topic holds no wildcard, in the PUBLISH the server sends
        too. (Refusing the publisher's PUBLISH or closing its connection both meet it.)"""
        topic, marker = unique_topic("rtw"), unique_topic("mark")
        sub = self.subscriber([(topic, 1), (marker, 1)])
        for rt in ("reply/+", "reply/#"):
            pub = self.client()
            pub.send(publish5_packet(topic, b"x", qos=1, packet_id=1,
                                     props=[(RESPONSE_TOPIC, rt)]))
            # a PUBACK (any reason) or a DISCONNECT: either way the PUBLISH has been handled
            self.assertIn(pub.read_packet().type, (PUBACK, DISCONNECT))
        self.client().publish(marker, b"marker", qos=1)
        got = [m.props.get(RESPONSE_TOPIC) for m in self.until_marker(sub, marker)]
        self.assertEqual([rt for rt in got if rt and ("+" in rt or "#" in rt)], [])

    def test_outgoing_dup_is_independent_of_incoming(self):
        """[MQTT-3.3.1-3]: the DUP the server sends says only whether its PUBLISH is a resend;
        [MQTT-3.3.1-2], [MQTT-4.3.1-1]: QoS 0 with DUP 0; [MQTT-4.3.2-2], [MQTT-4.3.3-2]: a
        first QoS 1 or 2 PUBLISH has DUP 0."""
        topic = unique_topic("dup")
        sub = self.subscriber([(topic, 2)])
        pub = self.client()
        pub.send(publish5_packet(topic, b"q0", qos=0))
        pub.send(publish5_packet(topic, b"q1", qos=1, dup=True, packet_id=3))
        self.assertEqual(parse_ack5(pub.read_packet())[:2], (3, 0))
        pub.publish(topic, b"q2-first", qos=2)
        pub.send(publish5_packet(topic, b"q2", qos=2, dup=True, packet_id=4))
        self.assertEqual(parse_ack5(pub.read_packet())[:2], (4, 0))
        pub.send(ack5_packet(PUBREL, 4))
        self.assertEqual(parse_ack5(pub.read_packet())[:2], (4, 0))
        got = [(m.payload, m.qos, m.dup) for m in sub.receive_publishes(4)]
        self.assertEqual(got, [(b"q0", 0, 0), (b"q1", 1, 0), (b"q2-first", 2, 0), (b"q2", 2, 0)])

    def test_unacknowledged_messages_are_resent_on_reconnect(self):
        """[MQTT-4.4.0-1], [MQTT-3.3.1-1]: a reconnect with a session resends unacknowledged
        PUBLISHes with DUP 1 and their packet ids, in their order, and the PUBREL awaiting
        PUBCOMP; [MQTT-4.3.2-3], [MQTT-4.3.3-5]: unacknowledged until PUBACK / PUBCOMP;
        [MQTT-4.3.3-6]: no PUBLISH again once PUBREL went; [MQTT-4.3.3-7]: a QoS 2 message sent
        before its expiry is resent after it."""
        cid, topic = unique_id("resend"), unique_topic("resend")
        expiry = [(SESSION_EXPIRY_INTERVAL, 60)]
        sub = self.subscriber([(topic, 2)], cid, props=expiry)
        pub = self.client()
        pub.publish(topic, b"a-qos1", qos=1)
        pub.publish(topic, b"b-qos2", qos=2, props=[(MESSAGE_EXPIRY_INTERVAL, 1)])
        pub.publish(topic, b"c-qos2", qos=2)
        a, b, c = sub.receive_publishes(3, ack=False)
        self.assertEqual([(m.payload, m.dup) for m in (a, b, c)],
                         [(b"a-qos1", 0), (b"b-qos2", 0), (b"c-qos2", 0)])
        sub.send(ack5_packet(PUBREC, c.pid))
        p = sub.read_packet()
        self.assertEqual((p.type, parse_ack5(p)[0]), (PUBREL, c.pid))
        sub.abort()
        time.sleep(1.5)  # b's Message Expiry Interval has passed
        sub = self.raw5()
        self.assertEqual(sub.connect(cid, clean_start=False, props=expiry).session_present, 1)
        got = [sub.read_packet() for _ in range(3)]
        self.assertEqual([p.type for p in got], [PUBLISH, PUBLISH, PUBREL])
        ra, rb = parse_publish5(got[0]), parse_publish5(got[1])
        self.assertEqual((ra.payload, ra.qos, ra.dup, ra.pid), (b"a-qos1", 1, 1, a.pid))
        self.assertEqual((rb.payload, rb.qos, rb.dup, rb.pid), (b"b-qos2", 2, 1, b.pid))
        self.assertEqual(parse_ack5(got[2])[0], c.pid)
        sub.send(ack5_packet(PUBACK, a.pid) + ack5_packet(PUBREC, b.pid))
        p = sub.read_packet()
        self.assertEqual((p.type, parse_ack5(p)[0]), (PUBREL, b.pid))
        sub.send(ack5_packet(PUBCOMP, b.pid) + ack5_packet(PUBCOMP, c.pid))
        self.assert_marker_next(sub, pub, unique_topic("mark"))

    def test_negative_acknowledgements_end_the_flow(self):
        """[MQTT-4.4.0-2]: after PUBACK or PUBREC >= 0x80 the message is acknowledged: no
        PUBREL ([MQTT-4.3.3-4]) and no resend on reconnect."""
        cid, topic = unique_id("nack"), unique_topic("nack")
        expiry = [(SESSION_EXPIRY_INTERVAL, 60)]
        sub = self.subscriber([(topic, 2)], cid, props=expiry)
        pub = self.client()
        pub.publish(topic, b"q1", qos=1)
        pub.publish(topic, b"q2", qos=2)
        m1, m2 = sub.receive_publishes(2, ack=False)
        sub.send(ack5_packet(PUBACK, m1.pid, 0x80) + ack5_packet(PUBREC, m2.pid, 0x80))
        self.assert_marker_next(sub, pub, unique_topic("mark"))  # no PUBREL came first
        sub.abort()
        sub = self.raw5()
        self.assertEqual(sub.connect(cid, clean_start=False, props=expiry).session_present, 1)
        self.assert_marker_next(sub, pub, unique_topic("mark2"))  # nothing resent

    def test_packet_id_reused_after_puback_is_a_new_message(self):
        """[MQTT-4.3.2-5]: after PUBACK, a PUBLISH with the same id is new, whatever its DUP."""
        topic = unique_topic("reuse")
        sub = self.subscriber([(topic, 1)])
        pub = self.client()
        for payload, dup in ((b"one", False), (b"two", True), (b"three", True)):
            pub.send(publish5_packet(topic, payload, qos=1, dup=dup, packet_id=9))
            self.assertEqual(parse_ack5(pub.read_packet())[:2], (9, 0))
        self.assertEqual([m.payload for m in sub.receive_publishes(3)], [b"one", b"two", b"three"])

    @skip_if_mosquitto("mosquitto 2.0.11 does not validate payloads marked as UTF-8")
    def test_qos2_receiver_packet_id_lifecycle(self):
        """[MQTT-4.3.3-8]: PUBREC with the PUBLISH's id; [MQTT-4.3.3-9]: after a PUBREC >= 0x80
        the id is new; [MQTT-4.3.3-10]: a resend before PUBREL gets PUBREC and is not routed
        again; [MQTT-4.3.3-11]: PUBCOMP with the PUBREL's id; [MQTT-4.3.3-12]: after PUBCOMP the
        id is new."""
        topic, marker = unique_topic("q2id"), unique_topic("mark")
        sub = self.subscriber([(topic, 2), (marker, 1)])
        pub = self.client()

        def send(data, want_type, want_reason=0):
            pub.send(data)
            p = pub.read_packet()
            self.assertEqual((p.type,) + parse_ack5(p)[:2], (want_type, 9, want_reason))

        send(publish5_packet(topic, b"\xff", qos=2, packet_id=9,
                             props=[(PAYLOAD_FORMAT_INDICATOR, 1)]), PUBREC, 0x99)
        send(publish5_packet(topic, b"one", qos=2, packet_id=9), PUBREC)
        send(publish5_packet(topic, b"one", qos=2, packet_id=9, dup=True), PUBREC)
        send(ack5_packet(PUBREL, 9), PUBCOMP)
        send(publish5_packet(topic, b"two", qos=2, packet_id=9), PUBREC)
        send(ack5_packet(PUBREL, 9), PUBCOMP)
        pub.publish(marker, b"marker", qos=1)
        self.assertEqual([m.payload for m in self.until_marker(sub, marker)], [b"one", b"two"])

    def test_qos2_flow_completes_after_message_expiry(self):
        """[MQTT-4.3.3-13]: the receiver goes on with the QoS 2 acknowledgements even when the
        message has expired."""
        pub = self.client()
        pub.send(publish5_packet(unique_topic("q2exp"), b"x", qos=2, packet_id=5,
                                 props=[(MESSAGE_EXPIRY_INTERVAL, 1)]))
        p = pub.read_packet()
        self.assertEqual((p.type, parse_ack5(p)[0]), (PUBREC, 5))
        time.sleep(1.5)
        pub.send(ack5_packet(PUBREL, 5))
        p = pub.read_packet()
        self.assertEqual((p.type,) + parse_ack5(p)[:2], (PUBCOMP, 5, 0))

    @skip_if_mosquitto("mosquitto 2.0.11 never sends topic aliases to clients")
    def test_topic_aliases_end_with_the_connection(self):
        """[MQTT-3.3.2-7]: no Topic Alias mapping is carried to another connection of the
        same session, in either direction."""
        topic = unique_topic("alias")
        expiry = [(SESSION_EXPIRY_INTERVAL, 60)]
        # client to server
        cid = unique_id("apub")
        pub = self.client(cid, props=expiry)
        pub.publish(topic, b"set", qos=1, props=[(TOPIC_ALIAS, 1)])
        pub.abort()
        pub = self.raw5()
        self.assertEqual(pub.connect(cid, clean_start=False, props=expiry).session_present, 1)
        pub.send(publish5_packet("", b"use", qos=1, packet_id=1, props=[(TOPIC_ALIAS, 1)]))
        pub.expect_disconnect(0x82)
        # server to client
        cid = unique_id("asub")
        props = expiry + [(TOPIC_ALIAS_MAXIMUM, 5)]
        sub = self.subscriber([(topic, 1)], cid, props=props)
        other = self.client()
        other.publish(topic, b"first", qos=1)
        other.publish(topic, b"second", qos=1)
        m1, m2 = sub.receive_publishes(2)
        self.assertEqual((m1.topic, m2.topic), (topic, ""))
        self.assertEqual(m1.props.get(TOPIC_ALIAS), m2.props.get(TOPIC_ALIAS))
        sub.abort()
        sub = self.raw5()
        self.assertEqual(sub.connect(cid, clean_start=False, props=props).session_present, 1)
        other.publish(topic, b"third", qos=1)
        m3 = sub.receive_publish()
        self.assertEqual((m3.topic, m3.payload), (topic, b"third"),
                         "the alias of the earlier connection was relied on")

    @skip_if_mosquitto("mosquitto 2.0.11 sends one copy per matching subscription "
                       "(3.3.4 allows both)")
    def test_overlapping_subscriptions_deliver_once_at_the_highest_qos(self):
        """[MQTT-3.3.4-2]: one client, two matching subscriptions: the highest QoS."""
        base = unique_topic("over")
        sub = self.client()
        sub.subscribe([(base + "/+", sub_options(qos=0))])
        sub.subscribe([(base + "/b", sub_options(qos=2))])
        pub = self.client()
        pub.publish(base + "/b", b"x", qos=2)
        m = sub.receive_publish()
        self.assertEqual((m.payload, m.qos), (b"x", 2))
        self.assert_marker_next(sub, pub, unique_topic("mark"))

    def test_each_copy_has_its_subscription_identifier(self):
        """[MQTT-3.3.4-5]: when a client gets several copies (an ordinary and a shared
        subscription), each carries the identifier of its own subscription."""
        topic = unique_topic("twocopies")
        sub = self.client()
        sub.subscribe([(topic, sub_options(qos=1))], props=[(SUBSCRIPTION_IDENTIFIER, 1)])
        sub.subscribe([("$share/g/" + topic, sub_options(qos=1))],
                      props=[(SUBSCRIPTION_IDENTIFIER, 2)])
        self.client().publish(topic, b"x", qos=1)
        ids = sorted(m.props.all(SUBSCRIPTION_IDENTIFIER) for m in sub.receive_publishes(2))
        self.assertEqual(ids, [[1], [2]])

    # -- 3.8 SUBSCRIBE, 3.10 UNSUBSCRIBE --------------------------------------------------------

    def test_replacing_a_subscription_loses_no_message(self):
        """[MQTT-3.8.4-4]: replacing a subscription loses no application message: messages
        published while the same filter is subscribed again and again all arrive, in order."""
        topic = unique_topic("resub")
        sub = self.subscriber([(topic, 1)])
        pub = self.client()
        n = 300
        t, errors = publish_in_background(pub, topic, n)
        i = 0
        try:
            while t.is_alive() and i < 2000:
                qos = 1 + i % 2
                self.assertEqual(sub.subscribe([(topic, sub_options(qos=qos))]), [qos])
                i += 1
        finally:
            t.join(30)
        self.assertFalse(t.is_alive(), "publisher did not finish")
        self.assertEqual(errors, [])
        self.assertGreater(i, 1, "no SUBSCRIBE overlapped the publishing")
        self.assertEqual([int(m.payload) for m in sub.receive_publishes(n, timeout=20)],
                         list(range(n)))

    def test_unsubscribe_completes_a_qos2_delivery_in_flight(self):
        """[MQTT-3.10.4-3]: a QoS 2 delivery started before UNSUBSCRIBE completes after it."""
        topic = unique_topic("unsq")
        sub = self.subscriber([(topic, 2)])
        pub = self.client()
        pub.publish(topic, b"in-flight", qos=2)
        m = sub.receive_publish(ack=False)
        self.assertEqual(sub.unsubscribe([topic]), [0])
        sub.send(ack5_packet(PUBREC, m.pid))
        p = sub.read_packet()
        self.assertEqual((p.type,) + parse_ack5(p)[:2], (PUBREL, m.pid, 0))
        sub.send(ack5_packet(PUBCOMP, m.pid))
        self.assert_marker_next(sub, pub, unique_topic("mark"))

    # -- 4.1 sessions, 4.6 order ----------------------------------------------------------------

    def test_session_kept_while_connected(self):
        """[MQTT-4.1.0-1]: the session is not discarded while its connection is open, however
        long past its Session Expiry Interval."""
        topic = unique_topic("keep")
        sub = self.subscriber([(topic, 1)], props=[(SESSION_EXPIRY_INTERVAL, 1)])
        time.sleep(1 + EXPIRY_SLACK / 2)
        self.client().publish(topic, b"still-subscribed", qos=1)
        self.assertEqual(sub.receive_publish().payload, b"still-subscribed")

    def test_order_kept_per_publisher_and_qos(self):
        """[MQTT-4.6.0-5], [MQTT-4.6.0-6]: messages of one client on one topic and QoS reach a
        (non-shared) subscriber in the order sent; two publishers pipelining at QoS 0 and 1."""
        topic = unique_topic("order")
        sub = self.subscriber([(topic, 2)])
        pubs = [self.client(), self.client()]
        n = 150
        for qos, p in enumerate(pubs):
            p.send(b"".join(publish5_packet(topic, b"%d:%d" % (qos, i), qos=qos,
                                            packet_id=i + 1 if qos else None) for i in range(n)))
        got = {0: [], 1: []}
        for m in sub.receive_publishes(2 * n, timeout=20):
            q, i = m.payload.split(b":")
            got[int(q)].append(int(i))
        self.assertEqual(got, {0: list(range(n)), 1: list(range(n))})

    # -- 4.8 shared subscriptions ---------------------------------------------------------------

    def test_refused_shared_message_goes_to_no_other_member(self):
        """[MQTT-4.8.2-6]: a member answers PUBACK or PUBREC >= 0x80: the message is discarded,
        not sent to another member (even when that member then leaves)."""
        for qos, ack in ((1, PUBACK), (2, PUBREC)):
            with self.subTest(qos=qos):
                topic, marker = unique_topic("shref"), unique_topic("mark")
                members = [self.subscriber([("$share/g/" + topic, qos), (marker, 1)])
                           for _ in range(2)]
                pub = self.client()
                pub.publish(topic, b"refused", qos=qos)
                i, m = self.holder_of_one(members)
                holder, other = members[i], members[1 - i]
                holder.send(ack5_packet(ack, m.pid, 0x80))
                holder.sock.shutdown(socket.SHUT_WR)
                holder.wait_closed()
                self.assert_quiet(other)
                pub.publish(marker, b"marker", qos=1)
                self.assertEqual(self.until_marker(other, marker), [])

    # [MQTT-4.8.2-4]: a QoS 2 message sent to a member and not yet PUBREC'd stays with that
    # member when its connection ends, and is completed when it returns.
    def test_shared_qos2_in_flight_is_completed_with_the_same_member(self):
        """[MQTT-4.8.2-4]: a QoS 2 message in flight to a member whose connection breaks is
        delivered to that member when it reconnects, not to another."""
        topic, marker = unique_topic("shq2"), unique_topic("mark")
        expiry = [(SESSION_EXPIRY_INTERVAL, 60)]
        ids = [unique_id("m0"), unique_id("m1")]
        members = [self.subscriber([("$share/g/" + topic, 2), (marker, 1)], ids[k], props=expiry)
                   for k in range(2)]
        pub = self.client()
        i, m = self.leave_holding_qos2(pub, members, topic)
        other = members[1 - i]
        self.assert_quiet(other)
        pub.publish(marker, b"marker", qos=1)
        self.assertEqual([x.payload for x in self.until_marker(other, marker)], [],
                         "the other member got the QoS 2 message in flight")
        holder = self.raw5()
        self.assertEqual(holder.connect(ids[i], clean_start=False, props=expiry).session_present, 1)
        again = holder.receive_publish()
        self.assertEqual((again.payload, again.qos, again.dup, again.pid), (b"qos2", 2, 1, m.pid))

    # [MQTT-4.8.2-5]: and when the member's session ends, no other member gets it.
    def test_shared_qos2_in_flight_goes_to_no_other_member_when_the_session_ends(self):
        """[MQTT-4.8.2-5]: the member's session ends before it reconnects: the QoS 2 message it
        had in flight goes to no other member."""
        topic, marker = unique_topic("shq2e"), unique_topic("mark")
        members = [self.subscriber([("$share/g/" + topic, 2), (marker, 1)],
                                   props=[(SESSION_EXPIRY_INTERVAL, 1)]) for _ in range(2)]
        pub = self.client()
        i, m = self.leave_holding_qos2(pub, members, topic)
        other = members[1 - i]
        time.sleep(1 + EXPIRY_SLACK)  # the holder's session has ended
        pub.publish(marker, b"marker", qos=1)
        self.assertEqual([x.payload for x in self.until_marker(other, marker)], [],
                         "another member got the QoS 2 message in flight")


if __name__ == "__main__":
    if is_mosquitto():
        sys.stderr.write("note: reference run; mosquitto differs where a test says so\n")
    run_tests()
