#!/usr/bin/python3
"""MQTT 5.0 sessions: CONNACK properties, Assigned Client Identifier, Session Expiry Interval
(0, N seconds, never, changed on DISCONNECT), Clean Start / Session Present, and wills (Will
Delay Interval, DISCONNECT 0x04, will properties).

Session expiry has no wire event of its own; a will with a long Will Delay Interval is
published when its session ends, so these tests await that will instead of sleeping."""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (ASSIGNED_CLIENT_IDENTIFIER, CONTENT_TYPE, CORRELATION_DATA,  # noqa: E402
                     MAXIMUM_PACKET_SIZE, MAXIMUM_QOS, PAYLOAD_FORMAT_INDICATOR,
                     RECEIVE_MAXIMUM, RESPONSE_TOPIC, RETAIN_AVAILABLE, SERVER_KEEP_ALIVE,
                     SESSION_EXPIRY_INTERVAL, SESSION_NEVER_EXPIRES,
                     SHARED_SUBSCRIPTION_AVAILABLE, SUBSCRIPTION_IDENTIFIER_AVAILABLE,
                     TOPIC_ALIAS_MAXIMUM, USER_PROPERTY,
                     WILDCARD_SUBSCRIPTION_AVAILABLE, WILL_DELAY_INTERVAL, V5TestCase,
                     run_tests, skip_if_mosquitto, sub_options, sync_marker, unique_id,
                     unique_topic)

# Session expiry is checked every 250 ms; allow for that and a sanitizer build.
EXPIRY_SLACK = 4.0


class V5Session(V5TestCase):

    # -- helpers ------------------------------------------------------------------------------

    def connect5(self, client_id, clean_start=True, expiry=None, expect_present=None,
                 **kwargs):
        props = list(kwargs.pop("props", []))
        if expiry is not None:
            props.append((SESSION_EXPIRY_INTERVAL, expiry))
        c = self.raw5()
        ack = c.connect(client_id, clean_start=clean_start, props=props, **kwargs)
        if expect_present is not None:
            self.assertEqual(ack.session_present, expect_present,
                             "session present for %s" % client_id)
        return c

    def watcher(self, *topics):
        w = self.paho5()
        for t in topics:
            w.subscribe(t, 1)
        return w

    def start_session_clock(self, watcher, seconds):
        """A reference client whose session expires `seconds` after this call; its will
        (delay far longer) is published when the session ends. Returns the will topic."""
        topic = unique_topic("clock")
        watcher.subscribe(topic, 1)
        c = self.raw5()
        c.connect(unique_id("clock"), props=[(SESSION_EXPIRY_INTERVAL, seconds)],
                  will_topic=topic, will_payload=b"tick",
                  will_props=[(WILL_DELAY_INTERVAL, 3600)])
        c.abort()
        return topic

    def await_will(self, watcher, topic, payload, timeout):
        deadline = time.monotonic() + timeout
        while True:
            m = watcher.get(timeout=max(0.001, deadline - time.monotonic()))
            if m.topic == topic:
                self.assertEqual(m.payload, payload)
                return m

    # -- CONNACK ------------------------------------------------------------------------------

    def test_connack_properties_defaults(self):
        c = self.raw5()
        ack = c.connect("")
        self.assertEqual((ack.session_present, ack.reason), (0, 0))
        p = ack.props
        assigned = p.get(ASSIGNED_CLIENT_IDENTIFIER)
        self.assertTrue(assigned, "empty client id: no Assigned Client Identifier in %r" % p)
        self.assertEqual(p.get(TOPIC_ALIAS_MAXIMUM), 10)
        # absent means available (1) / QoS 2
        self.assertEqual(p.get(RETAIN_AVAILABLE, 1), 1)
        self.assertEqual(p.get(WILDCARD_SUBSCRIPTION_AVAILABLE, 1), 1)
        self.assertEqual(p.get(SUBSCRIPTION_IDENTIFIER_AVAILABLE, 1), 1)
        self.assertEqual(p.get(SHARED_SUBSCRIPTION_AVAILABLE, 1), 1)
        self.assertEqual(p.get(MAXIMUM_QOS, 2), 2)
        self.assertFalse(p.has(SERVER_KEEP_ALIVE), "keep-alive 60 is not clamped: %r" % p)
        # each property at most once
        ids = [k for k, _ in p]
        self.assertEqual(len(ids), len(set(ids)), "duplicate CONNACK properties %r" % p)
        c.disconnect()

    def test_no_assigned_client_identifier_for_a_given_id(self):
        c = self.raw5()
        ack = c.connect(unique_id("given"))
        self.assertFalse(ack.props.has(ASSIGNED_CLIENT_IDENTIFIER), repr(ack.props))
        c.disconnect()

    @skip_if_mosquitto("mosquitto omits the availability properties whose value is the "
                       "default 1 and sends Receive Maximum = max_inflight_messages")
    def test_connack_properties_explicit(self):
        c = self.raw5()
        p = c.connect("").props
        for ident in (RETAIN_AVAILABLE, WILDCARD_SUBSCRIPTION_AVAILABLE,
                      SUBSCRIPTION_IDENTIFIER_AVAILABLE, SHARED_SUBSCRIPTION_AVAILABLE):
            self.assertEqual(p.get(ident), 1, "property 0x%02x in %r" % (ident, p))
        self.assertEqual(p.get(MAXIMUM_PACKET_SIZE), 268435455)
        # A Receive Maximum is always advertised (default 128), so a client cannot
        # legitimately leave 65,535 QoS 2 flows open.
        self.assertEqual(p.get(RECEIVE_MAXIMUM), 128)
        c.disconnect()

    def test_connack_properties_follow_limits(self):
        broker = self.start_broker({"limits": {"receive_maximum": 5, "max_packet_size": 1000,
                                               "topic_alias_maximum": 3,
                                               "max_keep_alive": 30}})
        c = self.raw5(port=broker.port)
        p = c.connect(unique_id("lim"), keepalive=60).props
        self.assertEqual(p.get(RECEIVE_MAXIMUM), 5)
        self.assertEqual(p.get(MAXIMUM_PACKET_SIZE), 1000)
        self.assertEqual(p.get(TOPIC_ALIAS_MAXIMUM), 3)
        self.assertEqual(p.get(SERVER_KEEP_ALIVE), 30)
        c.disconnect()

    def test_assigned_client_identifier_resumes_session(self):
        topic = unique_topic("assigned")
        c = self.raw5()
        ack = c.connect("", props=[(SESSION_EXPIRY_INTERVAL, 60)])
        assigned = ack.props.get(ASSIGNED_CLIENT_IDENTIFIER)
        self.assertTrue(assigned)
        self.assertEqual(c.subscribe([(topic, 1)]), [1])
        c.disconnect()
        pub = self.paho5()
        pub.publish(topic, b"for-assigned", qos=1)
        c = self.connect5(assigned, clean_start=False, expiry=60, expect_present=1)
        m = c.receive_publish()
        self.assertEqual((m.topic, m.payload, m.qos), (topic, b"for-assigned", 1))
        c.disconnect()

    def test_two_empty_ids_get_different_identifiers(self):
        a, b = self.raw5(), self.raw5()
        ida = a.connect("").props.get(ASSIGNED_CLIENT_IDENTIFIER)
        idb = b.connect("").props.get(ASSIGNED_CLIENT_IDENTIFIER)
        self.assertTrue(ida and idb)
        self.assertNotEqual(ida, idb)
        a.disconnect()
        b.disconnect()

    # -- Session Expiry Interval --------------------------------------------------------------

    def test_session_expiry_zero_ends_with_connection(self):
        cid = unique_id("s0")
        topic = unique_topic("s0")
        c = self.connect5(cid, clean_start=False, expect_present=0)  # no property: 0
        c.subscribe([(topic, 1)])
        c.disconnect()
        c = self.connect5(cid, clean_start=False, expiry=60, expect_present=0)
        pub = self.paho5()
        pub.publish(topic, b"nobody", qos=1)
        marker = unique_topic("marker")
        c.subscribe([(marker, 1)])
        pub.publish(marker, b"marker", qos=1)
        self.assertEqual(c.receive_publish().payload, b"marker")
        c.disconnect()

    def test_session_kept_within_expiry_and_messages_queued(self):
        cid = unique_id("s60")
        topic = unique_topic("s60")
        c = self.connect5(cid, expiry=60, expect_present=0)
        self.assertEqual(c.subscribe([(topic, 2)]), [2])
        c.disconnect()
        pub = self.paho5()
        pub.publish(topic, b"q1", qos=1)
        pub.publish(topic, b"q2", qos=2)
        c = self.connect5(cid, clean_start=False, expiry=60, expect_present=1)
        got = [(m.payload, m.qos) for m in c.receive_publishes(2)]
        self.assertEqual(got, [(b"q1", 1), (b"q2", 2)])
        c.disconnect()

    def test_session_removed_after_expiry(self):
        cid = unique_id("s1")
        topic = unique_topic("s1")
        will_topic = unique_topic("s1will")
        w = self.watcher(will_topic)
        c = self.raw5()
        c.connect(cid, props=[(SESSION_EXPIRY_INTERVAL, 1)], will_topic=will_topic,
                  will_payload=b"session-ended", will_props=[(WILL_DELAY_INTERVAL, 3600)])
        c.subscribe([(topic, 1)])
        start = time.monotonic()
        c.abort()
        # the will is published when the session ends (1 s), not after its 3600 s delay
        self.await_will(w, will_topic, b"session-ended", 1 + EXPIRY_SLACK)
        self.assertGreaterEqual(time.monotonic() - start, 0.9, "session ended too early")
        w.publish(topic, b"after-expiry", qos=1)
        c = self.connect5(cid, clean_start=False, expiry=60, expect_present=0)
        marker = unique_topic("marker")
        c.subscribe([(marker, 1)])
        w.publish(marker, b"marker", qos=1)
        self.assertEqual(c.receive_publish().payload, b"marker")
        c.disconnect()

    def test_session_not_removed_before_expiry(self):
        cid = unique_id("s3")
        w = self.paho5()
        c = self.connect5(cid, expiry=4)
        c.abort()
        clock = self.start_session_clock(w, 1)
        self.await_will(w, clock, b"tick", 1 + EXPIRY_SLACK)  # 1 s passed, 4 s not
        self.connect5(cid, clean_start=False, expiry=0, expect_present=1).disconnect()

    def test_session_that_never_expires(self):
        cid = unique_id("sinf")
        topic = unique_topic("sinf")
        w = self.paho5()
        c = self.connect5(cid, expiry=SESSION_NEVER_EXPIRES)
        c.subscribe([(topic, 1)])
        c.abort()
        clock = self.start_session_clock(w, 1)
        self.await_will(w, clock, b"tick", 1 + EXPIRY_SLACK)
        w.publish(topic, b"kept", qos=1)
        c = self.connect5(cid, clean_start=False, expiry=SESSION_NEVER_EXPIRES,
                          expect_present=1)
        self.assertEqual(c.receive_publish().payload, b"kept")
        c.disconnect(props=[(SESSION_EXPIRY_INTERVAL, 0)])
        self.connect5(cid, clean_start=False, expect_present=0).disconnect()

    def test_disconnect_sets_expiry_to_zero(self):
        cid = unique_id("sd0")
        c = self.connect5(cid, expiry=60)
        c.disconnect(props=[(SESSION_EXPIRY_INTERVAL, 0)])
        self.connect5(cid, clean_start=False, expiry=60, expect_present=0).disconnect()

    def test_disconnect_extends_expiry(self):
        cid = unique_id("sdx")
        w = self.paho5()
        c = self.connect5(cid, expiry=1)
        c.disconnect(props=[(SESSION_EXPIRY_INTERVAL, 60)])
        clock = self.start_session_clock(w, 2)
        self.await_will(w, clock, b"tick", 2 + EXPIRY_SLACK)  # the original 1 s has passed
        self.connect5(cid, clean_start=False, expiry=0, expect_present=1).disconnect()

    def test_disconnect_nonzero_expiry_after_zero_is_protocol_error(self):
        cid = unique_id("sdp")
        c = self.connect5(cid)  # Session Expiry Interval 0
        c.disconnect(props=[(SESSION_EXPIRY_INTERVAL, 30)], close=False, wait=False)
        c.expect_disconnect(0x82)
        # the session still ended with the connection
        self.connect5(cid, clean_start=False, expect_present=0).disconnect()

    # -- Clean Start --------------------------------------------------------------------------

    def test_clean_start_discards_existing_session(self):
        cid = unique_id("cs")
        topic = unique_topic("cs")
        c = self.connect5(cid, expiry=60)
        c.subscribe([(topic, 1)])
        c.disconnect()
        pub = self.paho5()
        pub.publish(topic, b"queued", qos=1)
        c = self.connect5(cid, clean_start=True, expiry=60, expect_present=0)
        marker = unique_topic("marker")
        c.subscribe([(marker, 1)])
        pub.publish(topic, b"no-longer-subscribed", qos=1)
        pub.publish(marker, b"marker", qos=1)
        self.assertEqual(c.receive_publish().payload, b"marker")
        c.disconnect()

    def test_clean_start_0_without_session(self):
        self.connect5(unique_id("cs0"), clean_start=False, expiry=60,
                      expect_present=0).disconnect()

    def test_paho_session_present(self):
        cid = unique_id("pcs")
        a = self.paho5(cid, clean_start=False, session_expiry=60)
        self.assertEqual(a.session_present, 0)
        a.disconnect()
        b = self.paho5(cid, clean_start=False, session_expiry=60)
        self.assertEqual(b.session_present, 1)
        b.disconnect()

    # -- wills --------------------------------------------------------------------------------

    def test_will_delay_interval(self):
        will_topic = unique_topic("wd")
        w = self.watcher(will_topic)
        c = self.raw5()
        c.connect(unique_id("wd"), props=[(SESSION_EXPIRY_INTERVAL, 60)],
                  will_topic=will_topic, will_payload=b"delayed", will_qos=1,
                  will_props=[(WILL_DELAY_INTERVAL, 2)])
        start = time.monotonic()
        c.abort()
        m = self.await_will(w, will_topic, b"delayed", 2 + EXPIRY_SLACK)
        self.assertEqual(m.qos, 1)
        self.assertGreaterEqual(time.monotonic() - start, 1.9, "will published before its delay")

    @skip_if_mosquitto("mosquitto 2.0.11 keeps waiting for the Will Delay Interval although "
                       "the session (expiry 0) ended with the connection")
    def test_will_published_at_once_when_session_ends_with_connection(self):
        will_topic = unique_topic("wd0")
        w = self.watcher(will_topic)
        c = self.raw5()
        c.connect(unique_id("wd0"), will_topic=will_topic, will_payload=b"session-over",
                  will_props=[(WILL_DELAY_INTERVAL, 3600)])  # Session Expiry Interval 0
        c.abort()
        self.await_will(w, will_topic, b"session-over", 1 + EXPIRY_SLACK)

    def test_will_cancelled_by_reconnect_within_delay(self):
        cancelled_topic = unique_topic("wcancel")
        reference_topic = unique_topic("wref")
        w = self.watcher(cancelled_topic, reference_topic)
        cid = unique_id("wcan")
        a = self.raw5()
        a.connect(cid, props=[(SESSION_EXPIRY_INTERVAL, 60)], will_topic=cancelled_topic,
                  will_payload=b"must-not-appear", will_props=[(WILL_DELAY_INTERVAL, 2)])
        a.abort()
        a = self.connect5(cid, clean_start=False, expiry=60, expect_present=1)
        # a reference will with a longer delay, started later: when it arrives, the
        # cancelled one would have been published already
        ref = self.raw5()
        ref.connect(unique_id("wref"), props=[(SESSION_EXPIRY_INTERVAL, 60)],
                    will_topic=reference_topic, will_payload=b"reference",
                    will_props=[(WILL_DELAY_INTERVAL, 3)])
        ref.abort()
        m = w.get(timeout=3 + EXPIRY_SLACK)
        self.assertEqual((m.topic, m.payload), (reference_topic, b"reference"))
        self.assertEqual(sync_marker(w, w, reference_topic, qos=1), [])
        a.disconnect()

    def test_disconnect_with_will_message_publishes_will(self):
        will_topic = unique_topic("w04")
        w = self.watcher(will_topic)
        c = self.raw5()
        c.connect(unique_id("w04"), will_topic=will_topic, will_payload=b"asked-for",
                  will_qos=1)
        c.disconnect(reason=0x04)
        m = w.get()
        self.assertEqual((m.topic, m.payload, m.qos), (will_topic, b"asked-for", 1))

    def test_normal_disconnect_discards_will(self):
        will_topic = unique_topic("w00")
        w = self.watcher(will_topic)
        c = self.raw5()
        c.connect(unique_id("w00"), will_topic=will_topic, will_payload=b"must-not-appear")
        c.disconnect(reason=0x00)  # returns once the server closed
        self.assertEqual(sync_marker(w, w, will_topic, qos=1), [])

    @skip_if_mosquitto("mosquitto 2.0.11 discards the will on any client DISCONNECT but 0x04")
    def test_disconnect_with_error_reason_publishes_will(self):
        # only DISCONNECT 0x00 deletes the will [MQTT-3.1.2-8], [MQTT-3.14.4-3]
        will_topic = unique_topic("w80")
        w = self.watcher(will_topic)
        c = self.raw5()
        c.connect(unique_id("w80"), will_topic=will_topic, will_payload=b"error-exit")
        c.disconnect(reason=0x80)  # Unspecified error; returns once the server closed
        self.assertEqual(w.get().payload, b"error-exit")

    def test_will_properties_forwarded(self):
        will_topic = unique_topic("wprops")
        w = self.watcher(will_topic)
        c = self.raw5()
        c.connect(unique_id("wp"), will_topic=will_topic, will_payload=b'{"state":"gone"}',
                  will_qos=1, will_retain=False,
                  will_props=[(PAYLOAD_FORMAT_INDICATOR, 1), (CONTENT_TYPE, "application/json"),
                              (RESPONSE_TOPIC, "reply/here"), (CORRELATION_DATA, b"\x00\x01"),
                              (USER_PROPERTY, ("k", "v1")), (USER_PROPERTY, ("k", "v2"))])
        c.abort()
        m = w.get()
        self.assertEqual((m.topic, m.payload), (will_topic, b'{"state":"gone"}'))
        self.assertEqual(m.props.get("PayloadFormatIndicator"), 1)
        self.assertEqual(m.props.get("ContentType"), "application/json")
        self.assertEqual(m.props.get("ResponseTopic"), "reply/here")
        self.assertEqual(m.props.get("CorrelationData"), b"\x00\x01")
        self.assertEqual(m.props.get("UserProperty"), [("k", "v1"), ("k", "v2")])

    def test_retained_will(self):
        will_topic = unique_topic("wret")
        c = self.raw5()
        c.connect(unique_id("wret"), will_topic=will_topic, will_payload=b"last",
                  will_qos=1, will_retain=True)
        c.disconnect(reason=0x04)  # returns once the server closed
        s = self.raw5()
        s.connect()
        s.subscribe([(will_topic, sub_options(qos=1))])
        m = s.receive_publish()
        self.assertEqual((m.topic, m.payload, m.retain), (will_topic, b"last", 1))
        s.disconnect()


if __name__ == "__main__":
    run_tests()
