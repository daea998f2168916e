#!/usr/bin/python3
"""MQTT 5.0 message properties: Payload Format Indicator and Content Type, Message Expiry
Interval (queued, retained, remaining interval), Response Topic / Correlation Data
(request/response), User Properties (order and duplicates kept), payload format validation
(0x99) and PUBACK/PUBREC 0x10 (no matching subscribers)."""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (CONTENT_TYPE, CORRELATION_DATA, MESSAGE_EXPIRY_INTERVAL,  # noqa: E402
                     PAYLOAD_FORMAT_INDICATOR, RESPONSE_TOPIC, SESSION_EXPIRY_INTERVAL,
                     SUBSCRIPTION_IDENTIFIER, TOPIC_ALIAS, USER_PROPERTY, V5TestCase,
                     run_tests, skip_if_mosquitto, sub_options, sync_marker, unique_id,
                     unique_topic)

USER_PROPS = [("a", "1"), ("b", "2"), ("a", "3"), ("z", ""), ("ünï", "çødé"), ("a", "1")]


class V5Properties(V5TestCase):

    def subscriber(self, topic, qos=2, **kwargs):
        s = self.raw5()
        s.connect(**kwargs)
        self.assertEqual(s.subscribe([(topic, sub_options(qos=qos))]), [qos])
        return s

    # -- Payload Format Indicator, Content Type -----------------------------------------------

    def test_payload_format_and_content_type_forwarded(self):
        topic = unique_topic("pfi")
        s = self.paho5()
        s.subscribe(topic, 2)
        pub = self.paho5()
        for qos in (0, 1, 2):
            pub.publish(topic, "grüße %d" % qos, qos=qos,
                        props={"PayloadFormatIndicator": 1, "ContentType": "text/plain; q=%d"
                               % qos})
            m = s.get()
            self.assertEqual((m.topic, m.payload, m.qos), (topic, ("grüße %d" % qos).encode(), qos))
            self.assertEqual(m.props.get("PayloadFormatIndicator"), 1)
            self.assertEqual(m.props.get("ContentType"), "text/plain; q=%d" % qos)

    def test_explicit_payload_format_0_forwarded_unaltered(self):
        topic = unique_topic("pfi0")
        s = self.subscriber(topic, qos=1)
        pub = self.raw5()
        pub.connect()
        pub.publish(topic, b"\xff\xfe binary", qos=1,
                    props=[(PAYLOAD_FORMAT_INDICATOR, 0), (CONTENT_TYPE, "application/octet-stream")])
        m = s.receive_publish()
        self.assertEqual(m.payload, b"\xff\xfe binary")
        self.assertEqual(m.props.get(PAYLOAD_FORMAT_INDICATOR), 0)
        self.assertEqual(m.props.get(CONTENT_TYPE), "application/octet-stream")

    def test_message_without_properties_arrives_without_properties(self):
        topic = unique_topic("noprops")
        s = self.subscriber(topic, qos=1)
        pub = self.raw5()
        pub.connect()
        pub.publish(topic, b"plain", qos=1)
        m = s.receive_publish()
        self.assertEqual((m.payload, list(m.props)), (b"plain", []))

    def test_valid_utf8_with_format_indicator_accepted(self):
        topic = unique_topic("utf8ok")
        s = self.subscriber(topic, qos=1)
        pub = self.raw5()
        pub.connect()
        payload = "€ 漢字 😀 ok".encode("utf-8")
        self.assertEqual(pub.publish(topic, payload, qos=1,
                                     props=[(PAYLOAD_FORMAT_INDICATOR, 1)]), 0)
        m = s.receive_publish()
        self.assertEqual((m.payload, m.props.get(PAYLOAD_FORMAT_INDICATOR)), (payload, 1))

    @skip_if_mosquitto("mosquitto 2.0.11 does not validate payloads marked as UTF-8 (the spec "
                       "lets a server skip the check; mqbase checks)")
    def test_invalid_utf8_qos1_gets_puback_0x99_and_is_not_routed(self):
        topic = unique_topic("utf8bad")
        s = self.subscriber(topic, qos=1)
        pub = self.raw5()
        pub.connect()
        for bad in (b"\xff\xfe", b"\xc3\x28", b"ab\xed\xa0\x80", b"\xc0\xaf"):
            pub.publish(topic, bad, qos=1, props=[(PAYLOAD_FORMAT_INDICATOR, 1)],
                        expect_reason=0x99)
        pub.publish(topic, b"after", qos=1, expect_reason=0)  # connection still usable
        m = s.receive_publish()
        self.assertEqual(m.payload, b"after", "a payload that failed validation was routed")

    @skip_if_mosquitto("mosquitto 2.0.11 does not validate payloads marked as UTF-8")
    def test_invalid_utf8_qos2_gets_pubrec_0x99_and_is_not_routed(self):
        topic = unique_topic("utf8bad2")
        s = self.subscriber(topic, qos=2)
        pub = self.raw5()
        pub.connect()
        pub.publish(topic, b"\x80bad", qos=2, props=[(PAYLOAD_FORMAT_INDICATOR, 1)],
                    expect_reason=0x99)
        pub.publish(topic, b"after", qos=2, expect_reason=0)
        self.assertEqual(s.receive_publish().payload, b"after")

    @skip_if_mosquitto("mosquitto 2.0.11 does not validate payloads marked as UTF-8")
    def test_invalid_utf8_qos0_gets_disconnect_0x99(self):
        topic = unique_topic("utf8bad0")
        s = self.subscriber(topic, qos=0)
        pub = self.raw5()
        pub.connect()
        pub.publish(topic, b"\xfe", qos=0, props=[(PAYLOAD_FORMAT_INDICATOR, 1)])
        pub.expect_disconnect(0x99)
        other = self.raw5()
        other.connect()
        other.publish(topic, b"after", qos=1)
        self.assertEqual(s.receive_publish().payload, b"after")

    # -- PUBACK / PUBREC reason codes ---------------------------------------------------------

    def test_no_matching_subscribers(self):
        topic = unique_topic("nomatch")
        pub = self.raw5()
        pub.connect()
        self.assertEqual(pub.publish(topic, b"x", qos=1), 0x10)
        # PUBREC: 0x10 is a MAY (mosquitto answers 0x00); either way the flow completes
        self.assertIn(pub.publish(topic, b"x", qos=2), (0x00, 0x10))
        s = self.subscriber(topic, qos=1)
        self.assertEqual(pub.publish(topic, b"y", qos=1), 0x00)
        self.assertEqual(pub.publish(topic, b"y", qos=2), 0x00)
        self.assertEqual([m.payload for m in s.receive_publishes(2)], [b"y", b"y"])

    # -- Message Expiry Interval --------------------------------------------------------------

    def test_message_expiry_forwarded_on_live_delivery(self):
        topic = unique_topic("mexp")
        s = self.subscriber(topic, qos=1)
        pub = self.raw5()
        pub.connect()
        pub.publish(topic, b"live", qos=1, props=[(MESSAGE_EXPIRY_INTERVAL, 100)])
        m = s.receive_publish()
        self.assertEqual(m.payload, b"live")
        self.assertLessEqual(m.props.get(MESSAGE_EXPIRY_INTERVAL), 100)
        self.assertGreaterEqual(m.props.get(MESSAGE_EXPIRY_INTERVAL), 95)

    def test_expired_queued_message_not_delivered(self):
        cid = unique_id("mexq")
        topic = unique_topic("mexq")
        s = self.raw5()
        s.connect(cid, props=[(SESSION_EXPIRY_INTERVAL, 60)])
        s.subscribe([(topic, sub_options(qos=1))])
        s.disconnect()
        pub = self.raw5()
        pub.connect()
        pub.publish(topic, b"short", qos=1, props=[(MESSAGE_EXPIRY_INTERVAL, 1)])
        pub.publish(topic, b"long", qos=1, props=[(MESSAGE_EXPIRY_INTERVAL, 100)])
        pub.publish(topic, b"forever", qos=1)
        # nothing on the wire tells that a queued message expired: wait past its interval
        time.sleep(2.2)
        s = self.raw5()
        ack = s.connect(cid, clean_start=False, props=[(SESSION_EXPIRY_INTERVAL, 60)])
        self.assertEqual(ack.session_present, 1)
        got = s.receive_publishes(2)
        self.assertEqual([m.payload for m in got], [b"long", b"forever"])
        remaining = got[0].props.get(MESSAGE_EXPIRY_INTERVAL)
        self.assertIsNotNone(remaining, "no Message Expiry Interval on the queued message")
        self.assertLessEqual(remaining, 98, "interval not reduced by the 2 s spent queued")
        self.assertGreaterEqual(remaining, 90)
        self.assertFalse(got[1].props.has(MESSAGE_EXPIRY_INTERVAL))
        # and nothing else was queued
        marker = unique_topic("marker")
        s.subscribe([(marker, sub_options(qos=1))])
        pub.publish(marker, b"marker", qos=1)
        self.assertEqual(s.receive_publish().payload, b"marker")
        s.disconnect()

    def test_retained_message_expiry(self):
        short, long_ = unique_topic("rexs"), unique_topic("rexl")
        pub = self.raw5()
        pub.connect()
        pub.publish(short, b"short", qos=1, retain=True, props=[(MESSAGE_EXPIRY_INTERVAL, 1)])
        pub.publish(long_, b"long", qos=1, retain=True, props=[(MESSAGE_EXPIRY_INTERVAL, 100)])
        time.sleep(2.2)  # no event for an expiring retained message
        s = self.raw5()
        s.connect()
        s.subscribe([(short, sub_options(qos=1))])  # its retained message, if any, comes first
        s.subscribe([(long_, sub_options(qos=1))])
        m = s.receive_publish()
        self.assertEqual((m.topic, m.payload, m.retain), (long_, b"long", 1),
                         "expired retained message delivered")
        self.assertLessEqual(m.props.get(MESSAGE_EXPIRY_INTERVAL), 98)
        self.assertGreaterEqual(m.props.get(MESSAGE_EXPIRY_INTERVAL), 90)

    # -- request / response -------------------------------------------------------------------

    def test_request_response_round_trip(self):
        request_topic = unique_topic("req")
        response_topic = unique_topic("resp")
        responder = self.paho5()
        responder.subscribe(request_topic, 1)
        requester = self.paho5()
        requester.subscribe(response_topic, 1)
        for i in range(3):
            corr = b"\x00corr-%d\xff" % i
            requester.publish(request_topic, b"question %d" % i, qos=1,
                              props={"ResponseTopic": response_topic, "CorrelationData": corr})
            req = responder.get()
            self.assertEqual(req.payload, b"question %d" % i)
            self.assertEqual(req.props.get("ResponseTopic"), response_topic)
            self.assertEqual(req.props.get("CorrelationData"), corr)
            responder.publish(req.props["ResponseTopic"], b"answer %d" % i, qos=1,
                              props={"CorrelationData": req.props["CorrelationData"]})
            resp = requester.get()
            self.assertEqual((resp.topic, resp.payload), (response_topic, b"answer %d" % i))
            self.assertEqual(resp.props.get("CorrelationData"), corr)
            self.assertNotIn("ResponseTopic", resp.props)

    # -- User Properties ----------------------------------------------------------------------

    def test_user_properties_in_order_with_duplicates(self):
        topic = unique_topic("up")
        s = self.subscriber(topic, qos=2)
        pub = self.raw5()
        pub.connect()
        props = [(USER_PROPERTY, kv) for kv in USER_PROPS]
        for qos in (0, 1, 2):
            pub.publish(topic, b"u%d" % qos, qos=qos, props=props)
            m = s.receive_publish()
            self.assertEqual(m.payload, b"u%d" % qos)
            self.assertEqual(m.props.user(), USER_PROPS)

    def test_user_properties_interleaved_with_other_properties(self):
        topic = unique_topic("upmix")
        s = self.subscriber(topic, qos=1)
        pub = self.raw5()
        pub.connect()
        pub.publish(topic, b"mixed", qos=1,
                    props=[(USER_PROPERTY, ("first", "1")), (CONTENT_TYPE, "x/y"),
                           (USER_PROPERTY, ("second", "2")), (RESPONSE_TOPIC, "r/t"),
                           (USER_PROPERTY, ("first", "3"))])
        m = s.receive_publish()
        self.assertEqual(m.props.user(), [("first", "1"), ("second", "2"), ("first", "3")])
        self.assertEqual((m.props.get(CONTENT_TYPE), m.props.get(RESPONSE_TOPIC)), ("x/y", "r/t"))

    def test_user_properties_with_paho(self):
        topic = unique_topic("upp")
        s = self.paho5()
        s.subscribe(topic, 1)
        pub = self.paho5()
        pub.publish(topic, b"p", qos=1, props={"UserProperty": list(USER_PROPS)})
        self.assertEqual(s.get().props.get("UserProperty"), USER_PROPS)

    def test_properties_kept_on_queued_and_retained_messages(self):
        cid = unique_id("upq")
        topic = unique_topic("upq")
        s = self.raw5()
        s.connect(cid, props=[(SESSION_EXPIRY_INTERVAL, 60)])
        s.subscribe([(topic, sub_options(qos=1))])
        s.disconnect()
        pub = self.raw5()
        pub.connect()
        props = [(USER_PROPERTY, kv) for kv in USER_PROPS] + [
            (CONTENT_TYPE, "text/csv"), (PAYLOAD_FORMAT_INDICATOR, 1),
            (RESPONSE_TOPIC, "answers"), (CORRELATION_DATA, b"\x01\x02")]
        pub.publish(topic, b"a,b", qos=1, retain=True, props=props)

        def check(m):
            self.assertEqual(m.payload, b"a,b")
            self.assertEqual(m.props.user(), USER_PROPS)
            self.assertEqual(m.props.get(CONTENT_TYPE), "text/csv")
            self.assertEqual(m.props.get(PAYLOAD_FORMAT_INDICATOR), 1)
            self.assertEqual(m.props.get(RESPONSE_TOPIC), "answers")
            self.assertEqual(m.props.get(CORRELATION_DATA), b"\x01\x02")

        s = self.raw5()
        self.assertEqual(s.connect(cid, clean_start=False,
                                   props=[(SESSION_EXPIRY_INTERVAL, 60)]).session_present, 1)
        check(s.receive_publish())  # queued while offline
        late = self.raw5()
        late.connect()
        late.subscribe([(topic, sub_options(qos=1))])
        m = late.receive_publish()  # retained
        self.assertEqual(m.retain, 1)
        check(m)
        s.disconnect()

    def test_forwarded_message_has_no_topic_alias_or_foreign_subscription_id(self):
        topic = unique_topic("clean")
        s = self.subscriber(topic, qos=1)
        pub = self.raw5()
        pub.connect()
        pub.publish(topic, b"aliased", qos=1, props=[(TOPIC_ALIAS, 1)])
        m = s.receive_publish()
        self.assertEqual((m.topic, m.payload), (topic, b"aliased"))
        self.assertFalse(m.props.has(TOPIC_ALIAS), "publisher's topic alias forwarded")
        self.assertFalse(m.props.has(SUBSCRIPTION_IDENTIFIER))

    def test_qos0_properties_not_lost_with_marker(self):
        topic = unique_topic("q0p")
        s = self.paho5()
        s.subscribe(topic, 0)
        pub = self.paho5()
        pub.publish(topic, b"q0", qos=0, props={"ContentType": "c", "UserProperty": [("k", "v")]})
        before = sync_marker(pub, s, topic)
        self.assertEqual(len(before), 1)
        self.assertEqual(before[0].props.get("ContentType"), "c")
        self.assertEqual(before[0].props.get("UserProperty"), [("k", "v")])


    def test_qos0_messages_do_not_inherit_each_others_properties(self):
        # The broker reuses one in-memory message per loop for QoS 0: every property of one
        # message must be gone from the next, and payloads and topics must not mix.
        topic = unique_topic("q0reuse")
        s = self.paho5()
        s.subscribe(topic + "/#", 0)
        pub = self.paho5()
        pub.publish(topic + "/a", b"first, longer payload", qos=0,
                    props={"ContentType": "c", "PayloadFormatIndicator": 1, "ResponseTopic": "r",
                           "CorrelationData": b"x", "MessageExpiryInterval": 60,
                           "UserProperty": [("k", "v")]})
        pub.publish(topic + "/bb", b"2nd", qos=0)
        got = sync_marker(pub, s, topic + "/m")
        self.assertEqual([(m.topic, m.payload) for m in got],
                         [(topic + "/a", b"first, longer payload"), (topic + "/bb", b"2nd")])
        self.assertEqual(got[0].props.get("ContentType"), "c")
        self.assertEqual(got[0].props.get("UserProperty"), [("k", "v")])
        for name in ("ContentType", "PayloadFormatIndicator", "ResponseTopic", "CorrelationData",
                     "MessageExpiryInterval", "UserProperty"):
            self.assertIsNone(got[1].props.get(name), name)

if __name__ == "__main__":
    run_tests()
