#!/usr/bin/python3
"""MQTT 5.0 SUBSCRIBE / UNSUBSCRIBE: Subscription Identifiers, subscription options (No Local,
Retain As Published, Retain Handling 0/1/2), SUBACK and UNSUBACK reason codes, malformed
options."""

import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (SUBSCRIPTION_IDENTIFIER, USER_PROPERTY, V5TestCase,  # noqa: E402
                     packet, run_tests, skip_if_mosquitto, sub_options, subscribe5_packet,
                     unique_topic)


class V5Subscribe(V5TestCase):

    def client(self, **kwargs):
        c = self.raw5()
        c.connect(**kwargs)
        return c

    def assert_nothing_before_marker(self, c, publisher, marker_topic):
        """Subscribe c to a marker topic, publish a marker from `publisher` and assert it is
        the next PUBLISH c receives."""
        self.assertEqual(c.subscribe([(marker_topic, sub_options(qos=1))]), [1])
        publisher.publish(marker_topic, b"marker", qos=1)
        m = c.receive_publish()
        self.assertEqual((m.topic, m.payload), (marker_topic, b"marker"),
                         "unexpected message before the marker")

    # -- Subscription Identifiers -------------------------------------------------------------

    def test_subscription_identifier_delivered(self):
        topic = unique_topic("sid")
        s = self.client()
        self.assertEqual(s.subscribe([(topic, sub_options(qos=1))],
                                     props=[(SUBSCRIPTION_IDENTIFIER, 7)]), [1])
        pub = self.client()
        pub.publish(topic, b"x", qos=1)
        m = s.receive_publish()
        self.assertEqual(m.props.all(SUBSCRIPTION_IDENTIFIER), [7])

    def test_subscription_identifier_with_paho(self):
        topic = unique_topic("sidp")
        s = self.paho5()
        s.subscribe(topic, 1, sub_id=123456)
        pub = self.paho5()
        pub.publish(topic, b"x", qos=1)
        self.assertEqual(s.get().props.get("SubscriptionIdentifier"), [123456])

    def test_largest_subscription_identifier(self):
        topic = unique_topic("sidmax")
        s = self.client()
        s.subscribe([(topic, sub_options(qos=0))], props=[(SUBSCRIPTION_IDENTIFIER, 268435455)])
        pub = self.client()
        pub.publish(topic, b"x", qos=1)
        self.assertEqual(s.receive_publish().props.all(SUBSCRIPTION_IDENTIFIER), [268435455])

    @skip_if_mosquitto("mosquitto 2.0.11 sends one copy per matching subscription, each with "
                       "its own identifier (3.3.4 allows both; mqbase sends one copy)")
    def test_overlapping_subscriptions_deliver_one_message_with_both_ids(self):
        base = unique_topic("sido")
        s = self.client()
        s.subscribe([(base + "/+", sub_options(qos=1))], props=[(SUBSCRIPTION_IDENTIFIER, 1)])
        s.subscribe([(base + "/b", sub_options(qos=1))], props=[(SUBSCRIPTION_IDENTIFIER, 2)])
        pub = self.client()
        pub.publish(base + "/b", b"both", qos=1)
        pub.publish(base + "/c", b"one", qos=1)
        m = s.receive_publish()
        self.assertEqual(m.payload, b"both")
        self.assertEqual(sorted(m.props.all(SUBSCRIPTION_IDENTIFIER)), [1, 2])
        m = s.receive_publish()
        self.assertEqual(m.payload, b"one", "the overlapping match was delivered twice")
        self.assertEqual(m.props.all(SUBSCRIPTION_IDENTIFIER), [1])

    def test_subscription_identifier_replaced_by_resubscribe(self):
        topic = unique_topic("sidr")
        s = self.client()
        pub = self.client()
        s.subscribe([(topic, sub_options(qos=1))], props=[(SUBSCRIPTION_IDENTIFIER, 5)])
        s.subscribe([(topic, sub_options(qos=1))], props=[(SUBSCRIPTION_IDENTIFIER, 6)])
        pub.publish(topic, b"six", qos=1)
        m = s.receive_publish()
        self.assertEqual((m.payload, m.props.all(SUBSCRIPTION_IDENTIFIER)), (b"six", [6]))
        s.subscribe([(topic, sub_options(qos=1))])  # no identifier any more
        pub.publish(topic, b"none", qos=1)
        m = s.receive_publish()
        self.assertEqual((m.payload, m.props.all(SUBSCRIPTION_IDENTIFIER)), (b"none", []))

    def test_subscription_identifier_on_retained_message(self):
        topic = unique_topic("sidret")
        pub = self.client()
        pub.publish(topic, b"kept", qos=1, retain=True)
        s = self.client()
        s.subscribe([(topic, sub_options(qos=1))], props=[(SUBSCRIPTION_IDENTIFIER, 42)])
        m = s.receive_publish()
        self.assertEqual((m.payload, m.retain), (b"kept", 1))
        self.assertEqual(m.props.all(SUBSCRIPTION_IDENTIFIER), [42])

    def test_subscription_identifier_zero_is_protocol_error(self):
        # [MQTT-3.8.2.1.2]: it is a Protocol Error if the Subscription Identifier is 0
        s = self.client()
        s.send(subscribe5_packet(1, [(unique_topic("sid0"), 0)],
                                 props=[(SUBSCRIPTION_IDENTIFIER, 0)]))
        reason, _ = s.expect_disconnect()
        self.assertIn(reason, (0x81, 0x82))  # mosquitto says malformed

    def test_subscribe_with_user_properties(self):
        topic = unique_topic("subup")
        s = self.client()
        self.assertEqual(s.subscribe([(topic, sub_options(qos=2))],
                                     props=[(USER_PROPERTY, ("k", "v"))]), [2])

    # -- No Local -----------------------------------------------------------------------------

    def test_no_local(self):
        topic = unique_topic("nolocal")
        marker = unique_topic("nlmark")
        c = self.client()
        c.subscribe([(topic, sub_options(qos=1, no_local=True)), (marker, sub_options(qos=1))])
        other = self.client()
        c.publish(topic, b"own", qos=1)
        c.publish(marker, b"marker", qos=1)   # same publisher: "own" would come first
        m = c.receive_publish()
        self.assertEqual(m.payload, b"marker", "No Local subscription received its own message")
        other.publish(topic, b"foreign", qos=1)
        self.assertEqual(c.receive_publish().payload, b"foreign")

    def test_without_no_local_own_messages_arrive(self):
        topic = unique_topic("local")
        c = self.client()
        c.subscribe([(topic, sub_options(qos=1))])
        c.publish(topic, b"own", qos=1)
        self.assertEqual(c.receive_publish().payload, b"own")

    # -- Retain As Published ------------------------------------------------------------------

    def test_retain_as_published(self):
        base = unique_topic("rap")
        rap, plain = self.client(), self.client()
        rap.subscribe([(base + "/#", sub_options(qos=1, retain_as_published=True))])
        plain.subscribe([(base + "/#", sub_options(qos=1))])
        pub = self.client()
        pub.publish(base + "/r", b"retained", qos=1, retain=True)
        pub.publish(base + "/n", b"normal", qos=1)
        got = [(m.payload, m.retain) for m in rap.receive_publishes(2)]
        self.assertEqual(got, [(b"retained", 1), (b"normal", 0)])
        got = [(m.payload, m.retain) for m in plain.receive_publishes(2)]
        self.assertEqual(got, [(b"retained", 0), (b"normal", 0)])

    def test_retained_on_subscribe_always_has_retain_flag(self):
        topic = unique_topic("rapsub")
        pub = self.client()
        pub.publish(topic, b"r", qos=1, retain=True)
        for rap in (False, True):
            s = self.client()
            s.subscribe([(topic, sub_options(qos=1, retain_as_published=rap))])
            m = s.receive_publish()
            self.assertEqual((m.payload, m.retain), (b"r", 1))

    # -- Retain Handling ----------------------------------------------------------------------

    def test_retain_handling_0_sends_on_every_subscribe(self):
        topic = unique_topic("rh0")
        pub = self.client()
        pub.publish(topic, b"r0", qos=1, retain=True)
        s = self.client()
        for _ in range(2):
            s.subscribe([(topic, sub_options(qos=1, retain_handling=0))])
            m = s.receive_publish()
            self.assertEqual((m.payload, m.retain), (b"r0", 1))

    def test_retain_handling_1_sends_only_for_new_subscription(self):
        topic = unique_topic("rh1")
        pub = self.client()
        pub.publish(topic, b"r1", qos=1, retain=True)
        s = self.client()
        s.subscribe([(topic, sub_options(qos=1, retain_handling=1))])
        m = s.receive_publish()
        self.assertEqual((m.payload, m.retain), (b"r1", 1))
        s.subscribe([(topic, sub_options(qos=1, retain_handling=1))])  # exists already
        self.assert_nothing_before_marker(s, pub, unique_topic("rh1m"))
        self.assertEqual(s.unsubscribe([topic]), [0])
        s.subscribe([(topic, sub_options(qos=1, retain_handling=1))])  # new again
        m = s.receive_publish()
        self.assertEqual((m.payload, m.retain), (b"r1", 1))

    def test_retain_handling_2_never_sends(self):
        topic = unique_topic("rh2")
        pub = self.client()
        pub.publish(topic, b"r2", qos=1, retain=True)
        s = self.client()
        s.subscribe([(topic, sub_options(qos=1, retain_handling=2))])
        self.assert_nothing_before_marker(s, pub, unique_topic("rh2m"))
        # live messages still arrive
        pub.publish(topic, b"live", qos=1)
        self.assertEqual(s.receive_publish().payload, b"live")

    def test_retain_handling_with_paho(self):
        topic = unique_topic("rhp")
        pub = self.paho5()
        pub.publish(topic, b"rp", qos=1, retain=True)
        s = self.paho5()
        s.subscribe(topic, 1, retain_handling=2)
        s.subscribe(topic + "/x", 1, retain_handling=1)
        pub.publish(topic + "/x", b"marker", qos=1)
        self.assertEqual([m.payload for m in s.get_many(1)], [b"marker"])

    # -- reason codes -------------------------------------------------------------------------

    def test_suback_granted_qos(self):
        base = unique_topic("grant")
        s = self.client()
        codes = s.subscribe([(base + "/0", sub_options(qos=0)), (base + "/1", sub_options(qos=1)),
                             (base + "/2", sub_options(qos=2)), (base + "/+/#", sub_options(qos=2))])
        self.assertEqual(codes, [0, 1, 2, 2])

    @skip_if_mosquitto("mosquitto 2.0.11 closes the connection on an invalid topic filter")
    def test_suback_topic_filter_invalid(self):
        base = unique_topic("inv")
        s = self.client()
        codes = s.subscribe([(base + "/ok", sub_options(qos=1)), ("a/#/b", sub_options(qos=1)),
                             ("a+/b", sub_options(qos=0)), ("a/b#", sub_options(qos=2)),
                             (base + "/ok2", sub_options(qos=2))])
        self.assertEqual(codes, [1, 0x8F, 0x8F, 0x8F, 2])
        # the valid ones work, the connection is still up
        pub = self.client()
        pub.publish(base + "/ok", b"fine", qos=1)
        self.assertEqual(s.receive_publish().payload, b"fine")

    def test_qos_downgraded_to_subscription(self):
        topic = unique_topic("down")
        s1, s0 = self.client(), self.client()
        s1.subscribe([(topic, sub_options(qos=1))])
        s0.subscribe([(topic, sub_options(qos=0))])
        pub = self.client()
        pub.publish(topic, b"q2", qos=2)
        self.assertEqual(s1.receive_publish().qos, 1)
        self.assertEqual(s0.receive_publish().qos, 0)

    def test_unsuback_reason_codes(self):
        base = unique_topic("unsub")
        s = self.client()
        s.subscribe([(base + "/a", sub_options(qos=1)), (base + "/+", sub_options(qos=0))])
        self.assertEqual(s.unsubscribe([base + "/a", base + "/none", base + "/+"]),
                         [0x00, 0x11, 0x00])
        self.assertEqual(s.unsubscribe([base + "/a"]), [0x11])
        pub = self.client()
        self.assertEqual(pub.publish(base + "/a", b"x", qos=1), 0x10)  # nobody left

    def test_unsuback_with_paho(self):
        topic = unique_topic("unsubp")
        s = self.paho5()
        s.subscribe(topic, 1)
        self.assertEqual(s.unsubscribe(topic), [0])
        self.assertEqual(s.unsubscribe(topic), [0x11])

    # -- malformed options --------------------------------------------------------------------

    def test_retain_handling_3_is_protocol_error(self):
        # "It is a Protocol Error to send a Retain Handling value of 3" (3.8.3.1)
        s = self.client()
        s.send(subscribe5_packet(1, [(unique_topic("rh3"), 0x30)]))
        reason, _ = s.expect_disconnect()
        self.assertIn(reason, (0x81, 0x82))

    def test_reserved_option_bits_are_malformed(self):
        # [MQTT-3.8.3-5]: non-zero reserved bits make the SUBSCRIBE malformed
        s = self.client()
        s.send(subscribe5_packet(1, [(unique_topic("resv"), 0xC1)]))
        s.expect_disconnect(0x81)

    def test_subscribe_without_filters_is_protocol_error(self):
        # [MQTT-3.8.3-2]: a SUBSCRIBE must contain at least one filter
        s = self.client()
        s.send(packet(0x82, struct.pack("!H", 1) + b"\x00"))
        reason, _ = s.expect_disconnect()
        self.assertIn(reason, (0x81, 0x82))


if __name__ == "__main__":
    run_tests()
