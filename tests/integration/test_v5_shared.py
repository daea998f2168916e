#!/usr/bin/python3
"""MQTT 5.0 shared subscriptions ($share/{group}/{filter}): one member per group gets each
message (strategies round_robin, random, sticky, hash_client, hash_topic), groups are
independent, 3.1.1 clients can be members, unacknowledged messages of a member that leaves go
to another member, invalid share names get SUBACK 0x8F, No Local is a protocol error, and no
retained messages are sent on a shared subscribe."""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (SUBSCRIPTION_IDENTIFIER, V5TestCase,  # noqa: E402
                     is_mosquitto, run_tests, skip_if_mosquitto, sub_options, subscribe5_packet,
                     unique_id, unique_topic)


class SharedBase(V5TestCase):

    def member(self, share, qos=1, marker=None, **kwargs):
        """A raw v5 client subscribed to `share` (and to the non-shared `marker` topic)."""
        c = self.raw5()
        c.connect(**kwargs)
        filters = [(share, sub_options(qos=qos))]
        if marker:
            filters.append((marker, sub_options(qos=1)))
        self.assertEqual(c.subscribe(filters), [qos] + ([1] if marker else []))
        return c

    def until_marker(self, c, marker, timeout=10):
        """Payloads c received before the marker message (acknowledging them)."""
        out = []
        deadline = time.monotonic() + timeout
        while True:
            m = c.receive_publish(timeout=max(0.001, deadline - time.monotonic()))
            if m.topic == marker:
                return out
            out.append(m.payload)

    def spread(self, members, publish, marker):
        """Run publish() (which publishes the messages), then a marker on `marker`; return
        each member's payload list."""
        publish()  # with self.publisher, which then sends the marker
        self.publisher.publish(marker, b"marker", qos=1)
        return [self.until_marker(m, marker) for m in members]

    def setUp(self):
        super().setUp()
        self.publisher = self.raw5()
        self.publisher.connect()

    def publish_n(self, topic, n, prefix=b"m", qos=1, publisher=None):
        payloads = [prefix + b"%d" % i for i in range(n)]
        for p in payloads:
            (publisher or self.publisher).publish(topic, p, qos=qos)
        return payloads

    def assert_exactly_once(self, shares, payloads):
        got = [p for share in shares for p in share]
        self.assertEqual(sorted(got), sorted(payloads),
                         "each message must reach exactly one group member: %r" % (shares,))


class V5Shared(SharedBase):

    def test_each_message_to_exactly_one_member(self):
        topic, marker = unique_topic("sh"), unique_topic("mark")
        members = [self.member("$share/g/" + topic, marker=marker) for _ in range(3)]
        payloads = []
        shares = self.spread(members, lambda: payloads.extend(self.publish_n(topic, 30)),
                             marker)
        self.assert_exactly_once(shares, payloads)
        self.assertTrue(all(shares), "a member got nothing: %r" % ([len(s) for s in shares],))

    @skip_if_mosquitto("the mqbase default strategy is strict round robin")
    def test_default_round_robin_alternates(self):
        topic, marker = unique_topic("rr"), unique_topic("mark")
        members = [self.member("$share/g/" + topic, marker=marker) for _ in range(2)]
        payloads = []
        shares = self.spread(members, lambda: payloads.extend(self.publish_n(topic, 10)),
                             marker)
        self.assert_exactly_once(shares, payloads)
        self.assertEqual(sorted(len(s) for s in shares), [5, 5])
        # alternating: consecutive messages go to different members
        first = shares[0] if b"m0" in shares[0] else shares[1]
        self.assertEqual(first, [b"m0", b"m2", b"m4", b"m6", b"m8"])

    def test_two_groups_each_get_every_message(self):
        topic, marker = unique_topic("grp"), unique_topic("mark")
        g1 = [self.member("$share/one/" + topic, marker=marker) for _ in range(2)]
        g2 = [self.member("$share/two/" + topic, marker=marker)]
        plain = self.member(topic, marker=marker)
        payloads = self.publish_n(topic, 8)
        self.publisher.publish(marker, b"marker", qos=1)
        self.assert_exactly_once([self.until_marker(m, marker) for m in g1], payloads)
        self.assertEqual(self.until_marker(g2[0], marker), payloads)
        self.assertEqual(self.until_marker(plain, marker), payloads)

    def test_wildcard_filter_in_share(self):
        base, marker = unique_topic("shw"), unique_topic("mark")
        members = [self.member("$share/g/%s/+/t" % base, marker=marker) for _ in range(2)]
        payloads = []

        def publish():
            for i in range(6):
                payloads.append(b"w%d" % i)
                self.publisher.publish("%s/%d/t" % (base, i), b"w%d" % i, qos=1)
            self.publisher.publish("%s/x/other" % base, b"nomatch", qos=1)

        shares = self.spread(members, publish, marker)
        self.assert_exactly_once(shares, payloads)

    def test_mqtt311_member(self):
        topic, marker = unique_topic("sh311"), unique_topic("mark")
        v5 = self.member("$share/mixed/" + topic, marker=marker)
        old = self.paho()  # MQTT 3.1.1
        self.assertEqual(old.subscribe([("$share/mixed/" + topic, 1), (marker, 1)]), [1, 1])
        payloads = self.publish_n(topic, 10)
        self.publisher.publish(marker, b"marker", qos=1)
        got5 = self.until_marker(v5, marker)
        got311 = []
        while True:
            m = old.get()
            if m.topic == marker:
                break
            self.assertEqual((m.topic, m.qos), (topic, 1))
            got311.append(m.payload)
        self.assert_exactly_once([got5, got311], payloads)
        self.assertTrue(got5 and got311, "one member got nothing: %r" % ([got5, got311],))

    def test_qos_is_per_member(self):
        topic, marker = unique_topic("shq"), unique_topic("mark")
        m0 = self.member("$share/g/" + topic, qos=0, marker=marker)
        m2 = self.member("$share/g/" + topic, qos=2, marker=marker)
        for i in range(6):
            self.publisher.publish(topic, b"q%d" % i, qos=2)
        self.publisher.publish(marker, b"marker", qos=1)
        for member, want in ((m0, 0), (m2, 2)):
            while True:
                m = member.receive_publish()
                if m.topic == marker:
                    break
                self.assertEqual(m.qos, want)

    def test_unsubscribed_member_gets_nothing(self):
        topic, marker = unique_topic("shu"), unique_topic("mark")
        a = self.member("$share/g/" + topic, marker=marker)
        b = self.member("$share/g/" + topic, marker=marker)
        self.assertEqual(a.unsubscribe(["$share/g/" + topic]), [0])
        self.assertEqual(a.unsubscribe(["$share/g/" + topic]), [0x11])
        payloads = self.publish_n(topic, 6)
        self.publisher.publish(marker, b"marker", qos=1)
        self.assertEqual(self.until_marker(a, marker), [])
        self.assertEqual(self.until_marker(b, marker), payloads)

    def test_subscription_identifier_on_shared_subscription(self):
        topic = unique_topic("shsid")
        c = self.raw5()
        c.connect()
        c.subscribe([("$share/g/" + topic, sub_options(qos=1))],
                    props=[(SUBSCRIPTION_IDENTIFIER, 9)])
        self.publisher.publish(topic, b"x", qos=1)
        self.assertEqual(c.receive_publish().props.all(SUBSCRIPTION_IDENTIFIER), [9])

    @skip_if_mosquitto("mosquitto 2.0.11 sends retained messages on a shared subscribe")
    def test_no_retained_messages_on_shared_subscribe(self):
        topic, marker = unique_topic("shr"), unique_topic("mark")
        self.publisher.publish(topic, b"retained", qos=1, retain=True)
        c = self.member("$share/g/" + topic, marker=marker)
        self.publisher.publish(marker, b"marker", qos=1)
        self.assertEqual(self.until_marker(c, marker), [],
                         "retained message sent on a shared subscribe")
        self.publisher.publish(topic, b"live", qos=1)
        self.assertEqual(c.receive_publish().payload, b"live")

    @skip_if_mosquitto("mosquitto 2.0.11 keeps the message for the disconnected member's "
                       "session instead of handing it to another member")
    def test_unacked_messages_of_leaving_member_go_to_another(self):
        topic = unique_topic("shleave")
        quitter = self.raw5()
        quitter.connect()  # Session Expiry Interval 0: the session ends with the connection
        quitter.subscribe([("$share/g/" + topic, sub_options(qos=1))])
        stayer = self.member("$share/g/" + topic)
        payloads = self.publish_n(topic, 6)
        got_quitter, got_stayer = [], []
        deadline = time.monotonic() + 10
        while len(got_quitter) + len(got_stayer) < len(payloads):
            progressed = False
            for c, out, ack in ((quitter, got_quitter, False), (stayer, got_stayer, True)):
                try:
                    out.append(c.receive_publish(timeout=0.05, ack=ack).payload)
                    progressed = True
                except AssertionError:
                    pass
            if not progressed and time.monotonic() > deadline:
                self.fail("only %d of %d messages arrived"
                          % (len(got_quitter) + len(got_stayer), len(payloads)))
        self.assertTrue(got_quitter, "the quitting member got no message to leave unacked")
        quitter.close()  # no PUBACKs
        deadline = time.monotonic() + 10
        while sorted(got_stayer) != sorted(payloads):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.fail("messages of the departed member not redelivered: stayer got %r, "
                          "quitter left %r unacked" % (got_stayer, got_quitter))
            got_stayer.append(stayer.receive_publish(timeout=remaining).payload)
        self.assertEqual(sorted(got_stayer), sorted(payloads))

    # -- invalid forms ------------------------------------------------------------------------

    @skip_if_mosquitto("mosquitto 2.0.11 disconnects (0x81/0x82) on an invalid share name")
    def test_invalid_share_names(self):
        c = self.raw5()
        c.connect()
        codes = c.subscribe([("$share/g", sub_options(qos=1)), ("$share//t", sub_options(qos=1)),
                             ("$share/g+/t", sub_options(qos=1)),
                             ("$share/g#/t", sub_options(qos=1)),
                             ("$share/g/", sub_options(qos=1)),
                             ("$share/g/" + unique_topic("ok"), sub_options(qos=1))])
        self.assertEqual(codes[:4], [0x8F, 0x8F, 0x8F, 0x8F])
        self.assertIn(codes[4], (0x8F, 1))  # "$share/g/" + the empty filter "": invalid
        self.assertEqual(codes[5], 1)

    @skip_if_mosquitto("mosquitto 2.0.11 accepts No Local on a shared subscription")
    def test_no_local_on_shared_subscription_is_protocol_error(self):
        # [MQTT-3.8.3-4] It is a Protocol Error to set the No Local bit on a Shared Subscription
        c = self.raw5()
        c.connect()
        c.send(subscribe5_packet(1, [("$share/g/" + unique_topic("nl"),
                                      sub_options(qos=1, no_local=True))]))
        c.expect_disconnect(0x82)


class V5SharedStrategies(SharedBase):
    """[shared] strategy = ... (mqbase configuration)."""

    def start_with(self, strategy):
        broker = self.start_broker({"shared": {"strategy": strategy}})
        self.port = broker.port
        self.publisher = self.raw5()
        self.publisher.connect()

    def setUp(self):
        if is_mosquitto() and not os.environ.get("MQBASE_NO_SKIP"):
            self.skipTest("mqbase configuration ([shared] strategy)")
        # no default broker: each test starts its own with start_with()

    def members(self, topic, n, marker):
        return [self.member("$share/g/" + topic, marker=marker) for _ in range(n)]

    def test_round_robin(self):
        self.start_with("round_robin")
        topic, marker = unique_topic("rr"), unique_topic("mark")
        members = self.members(topic, 3, marker)
        payloads = self.publish_n(topic, 9)
        self.publisher.publish(marker, b"marker", qos=1)
        shares = [self.until_marker(m, marker) for m in members]
        self.assert_exactly_once(shares, payloads)
        self.assertEqual([len(s) for s in shares], [3, 3, 3])

    def test_random(self):
        self.start_with("random")
        topic, marker = unique_topic("rnd"), unique_topic("mark")
        members = self.members(topic, 3, marker)
        payloads = self.publish_n(topic, 60)
        self.publisher.publish(marker, b"marker", qos=1)
        shares = [self.until_marker(m, marker) for m in members]
        self.assert_exactly_once(shares, payloads)
        # 60 random picks among 3 leave a member empty with probability ~3 * (2/3)^60
        self.assertTrue(all(shares), [len(s) for s in shares])

    def test_sticky(self):
        self.start_with("sticky")
        topic, marker = unique_topic("stk"), unique_topic("mark")
        members = self.members(topic, 3, marker)
        payloads = self.publish_n(topic, 12)
        self.publisher.publish(marker, b"marker", qos=1)
        shares = [self.until_marker(m, marker) for m in members]
        self.assert_exactly_once(shares, payloads)
        self.assertEqual(sorted(len(s) for s in shares), [0, 0, 12])

    def test_hash_client(self):
        self.start_with("hash_client")
        topic, marker = unique_topic("hc"), unique_topic("mark")
        members = self.members(topic, 3, marker)
        publishers = []
        for i in range(6):
            p = self.raw5()
            p.connect(unique_id("hcpub%d" % i))
            publishers.append(p)
        payloads = []
        for rnd in range(3):
            for i, p in enumerate(publishers):
                payloads += self.publish_n(topic, 1, prefix=b"p%d-r%d-" % (i, rnd), publisher=p)
        for p in publishers:  # every publisher's messages are routed before its marker
            p.publish(marker, b"marker", qos=1)
        shares = []
        for m in members:
            got = []
            for _ in publishers:
                got += self.until_marker(m, marker)
            shares.append(got)
        self.assert_exactly_once(shares, payloads)
        for i in range(len(publishers)):
            owners = {k for k, s in enumerate(shares) for p in s if p.startswith(b"p%d-" % i)}
            self.assertEqual(len(owners), 1, "publisher %d's messages went to members %r"
                             % (i, owners))

    def test_hash_topic(self):
        self.start_with("hash_topic")
        base, marker = unique_topic("ht"), unique_topic("mark")
        members = [self.member("$share/g/%s/+" % base, marker=marker) for _ in range(3)]
        payloads = []
        for rnd in range(3):
            for t in range(8):
                payload = b"t%d-r%d" % (t, rnd)
                payloads.append(payload)
                self.publisher.publish("%s/%d" % (base, t), payload, qos=1)
        self.publisher.publish(marker, b"marker", qos=1)
        shares = [self.until_marker(m, marker) for m in members]
        self.assert_exactly_once(shares, payloads)
        for t in range(8):
            owners = {k for k, s in enumerate(shares) for p in s if p.startswith(b"t%d-" % t)}
            self.assertEqual(len(owners), 1, "topic %d went to members %r" % (t, owners))


if __name__ == "__main__":
    run_tests()
