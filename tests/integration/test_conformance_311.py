#!/usr/bin/python3
"""MQTT 3.1.1 normative statements that no other test showed (docs/conformance.md names the
statement each test is for): the BOM kept in strings, no will without a Will Flag, UNSUBSCRIBE
of several filters and of a subscription with a QoS 2 delivery in flight, acknowledgements in
order, the DUP flag and packet identifier rules, retained-message replacement, and a
subscription replaced while messages flow.

Raw sockets wherever the order or the exact bytes on the wire are the point."""

import os
import random
import socket
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (publish_in_background, PUBACK, PUBCOMP, PUBLISH, PUBREC, PUBREL, SUBACK,  # noqa: E402
                     TIMEOUT, BrokerTestCase, ack_packet, packet, publish_packet, run_tests,
                     subscribe_packet, sync_marker, unique_id, unique_topic,
                     unsubscribe_packet)


def pid_of(p):
    return struct.unpack("!H", p.body[:2])[0]


class Conformance311(BrokerTestCase):

    def subscriber(self, filters, **kwargs):
        c = self.raw()
        c.connect(**kwargs)
        granted = [q for _, q in filters]
        self.assertEqual(c.subscribe(filters), granted)
        return c

    def assert_marker_next(self, sub, publisher, topic):
        """Publish a marker on `topic` (which `sub` subscribes to at QoS 1) from `publisher`;
        assert it is the next PUBLISH `sub` receives."""
        publisher.publish(topic, b"marker", qos=1)
        m = sub.receive_publish()
        self.assertEqual((m[0], m[1]), (topic, b"marker"), "unexpected message before the marker")

    # -- 1.5.3 --------------------------------------------------------------------------------

    def test_bom_is_kept_in_topic_and_payload(self):
        """[MQTT-1.5.3-3]: EF BB BF is U+FEFF wherever it appears; nothing strips it."""
        base = unique_topic("bom")
        with_bom = base + "/\ufeffx"
        without = base + "/x"
        marker = unique_topic("mark")
        sub = self.subscriber([(with_bom, 1), (without, 1), (marker, 1)])
        pub = self.raw()
        pub.connect()
        payload = "\ufeffpayload".encode("utf-8")
        pub.publish(with_bom, payload, qos=1)
        p = sub.read_packet()
        self.assertEqual(p.type, PUBLISH)
        topic, got, qos, _, _, pid = p.publish_fields()
        sub.send(ack_packet(PUBACK, pid))
        self.assertEqual(topic.encode("utf-8"), base.encode() + b"/\xef\xbb\xbfx")
        self.assertEqual(got, b"\xef\xbb\xbfpayload")
        # the filter without the BOM is another filter: it did not match
        self.assert_marker_next(sub, pub, marker)

    # -- 3.1.2 --------------------------------------------------------------------------------

    def test_no_will_when_none_was_set(self):
        """[MQTT-3.1.2-12]: Will Flag 0, the connection ends without DISCONNECT (EOF, reset,
        keep-alive timeout): nothing is published."""
        watcher = self.paho()
        watcher.subscribe("#", 1)
        for how in ("eof", "reset", "keepalive"):
            c = self.raw()
            c.connect(unique_id("nowill"), keepalive=1 if how == "keepalive" else 60)
            if how == "eof":
                c.sock.shutdown(socket.SHUT_WR)
                self.assertEqual(c.wait_closed(), b"")
            elif how == "reset":
                c.abort()
            else:
                self.assertEqual(c.wait_closed(timeout=8), b"")  # mosquitto: coarse
        # a client with a will, closed last, shows closes are being handled
        will_topic = unique_topic("ref")
        ref = self.raw()
        ref.connect(unique_id("ref"), will_topic=will_topic, will_payload=b"reference")
        ref.sock.shutdown(socket.SHUT_WR)
        ref.wait_closed()
        m = watcher.get()
        self.assertEqual((m.topic, m.payload), (will_topic, b"reference"))
        self.assertEqual(sync_marker(watcher, watcher, unique_topic("mark"), qos=1), [])

    # -- 3.3.1 --------------------------------------------------------------------------------

    def test_incoming_dup_is_not_forwarded(self):
        """[MQTT-3.3.1-3]: the outgoing DUP says only whether that PUBLISH is a resend."""
        topic = unique_topic("dup")
        sub = self.subscriber([(topic, 2)])
        pub = self.raw()
        pub.connect()
        pub.send(publish_packet(topic, b"first-try-dup", qos=1, dup=True, packet_id=3))
        self.assertEqual(pub.read_packet().raw, ack_packet(PUBACK, 3))
        pub.send(publish_packet(topic, b"q2-dup", qos=2, dup=True, packet_id=4))
        self.assertEqual(pub.read_packet().raw, ack_packet(PUBREC, 4))
        pub.send(ack_packet(PUBREL, 4))
        self.assertEqual(pub.read_packet().raw, ack_packet(PUBCOMP, 4))
        got = [(m[1], m[2], m[4]) for m in sub.receive_publishes(2)]
        self.assertEqual(got, [(b"first-try-dup", 1, 0), (b"q2-dup", 2, 0)])

    def test_qos0_retained_message_replaces_a_qos1_one(self):
        """[MQTT-3.3.1-7]: a QoS 0 RETAIN 1 message replaces whatever the topic retained."""
        topic = unique_topic("rq0")
        pub = self.raw()
        pub.connect()
        pub.publish(topic, b"qos1-retained", qos=1, retain=True)
        pub.publish(topic, b"qos0-retained", qos=0, retain=True)
        pub.publish(topic, b"marker-not-retained", qos=1)  # same publisher: routed after both
        sub = self.raw()
        sub.connect()
        self.assertEqual(sub.subscribe([(topic, 1)]), [1])
        m = sub.receive_publish()
        self.assertEqual((m[1], m[2], m[3]), (b"qos0-retained", 0, 1))

    def test_non_retained_publish_leaves_the_retained_message(self):
        """[MQTT-3.3.1-12]: RETAIN 0 neither stores nor removes nor replaces."""
        topic = unique_topic("r0")
        pub = self.raw()
        pub.connect()
        pub.publish(topic, b"kept", qos=1, retain=True)
        pub.publish(topic, b"live-only", qos=1, retain=False)
        pub.publish(topic, b"", qos=1, retain=False)  # empty, but not retained: no clearing
        sub = self.raw()
        sub.connect()
        self.assertEqual(sub.subscribe([(topic, 1)]), [1])
        m = sub.receive_publish()
        self.assertEqual((m[1], m[3]), (b"kept", 1))
        marker = unique_topic("mark")
        sub.subscribe([(marker, 1)])
        self.assert_marker_next(sub, pub, marker)

    # -- 3.8.4 --------------------------------------------------------------------------------

    def test_replacing_a_subscription_loses_no_message(self):
        """[MQTT-3.8.4-3]: SUBSCRIBE with the same filter replaces the subscription without a
        gap: messages published meanwhile all arrive, in order."""
        topic = unique_topic("resub")
        sub = self.subscriber([(topic, 1)])
        pub = self.raw()
        pub.connect()
        n = 300
        t, errors = publish_in_background(pub, topic, n)
        try:
            i = 0
            while t.is_alive() and i < 2000:  # replace the subscription while messages flow
                qos = 1 if i % 2 else 2
                pid = 100 + i
                sub.send(subscribe_packet(pid, [(topic, qos)]))
                while True:  # PUBLISHes arriving before the SUBACK wait in the stash
                    p = sub._read_ack(TIMEOUT)
                    if p.type == SUBACK:
                        break
                self.assertEqual(p.raw, packet(0x90, struct.pack("!HB", pid, qos)))
                i += 1
        finally:
            t.join(30)
        self.assertFalse(t.is_alive(), "publisher did not finish")
        self.assertEqual(errors, [])
        self.assertGreater(i, 1, "no SUBSCRIBE overlapped the publishing")
        got = [int(m[1]) for m in sub.receive_publishes(n, timeout=20)]
        self.assertEqual(got, list(range(n)))

    # -- 3.10.4 -------------------------------------------------------------------------------

    def test_unsubscribe_completes_a_qos2_delivery_in_flight(self):
        """[MQTT-3.10.4-3]: after UNSUBSCRIBE, a QoS 2 delivery already started completes
        (and a QoS 1 one is still resent to a persistent session)."""
        base = unique_topic("unsq")
        cid = unique_id("unsq")
        sub = self.subscriber([(base + "/+", 2)], client_id=cid, clean_session=False)
        pub = self.raw()
        pub.connect()
        pub.publish(base + "/two", b"qos2", qos=2)
        pub.publish(base + "/one", b"qos1", qos=1)
        m2 = sub.receive_publish(ack=False)
        m1 = sub.receive_publish(ack=False)
        self.assertEqual([(m2[1], m2[2]), (m1[1], m1[2])], [(b"qos2", 2), (b"qos1", 1)])
        sub.send(unsubscribe_packet(77, [base + "/+"]))
        self.assertEqual(sub.read_packet().raw, packet(0xB0, struct.pack("!H", 77)))
        # nothing new is added ...
        pub.publish(base + "/two", b"after", qos=2)
        # ... but the QoS 2 flow goes on
        sub.send(ack_packet(PUBREC, m2[5]))
        self.assertEqual(sub.read_packet().raw, ack_packet(PUBREL, m2[5]))
        sub.send(ack_packet(PUBCOMP, m2[5]))
        # and the unacknowledged QoS 1 message is still the session's to deliver
        sub.abort()
        sub = self.raw()
        sub.connect(cid, clean_session=False, expect=bytes([0x20, 0x02, 1, 0]))
        topic, payload, qos, _, dup, pid = sub.receive_publish()
        self.assertEqual((topic, payload, qos, dup, pid), (base + "/one", b"qos1", 1, 1, m1[5]))
        marker = unique_topic("mark")
        sub.subscribe([(marker, 1)])
        self.assert_marker_next(sub, pub, marker)
        sub.disconnect()

    def test_unsubscribe_with_two_filters_gets_one_unsuback(self):
        """[MQTT-3.10.4-6]: one UNSUBSCRIBE of two filters acts as two, with one UNSUBACK."""
        base = unique_topic("uns2")
        a, b, marker = base + "/a", base + "/+/b", unique_topic("mark")
        sub = self.subscriber([(a, 1), (b, 1), (marker, 1)])
        sub.send(unsubscribe_packet(0x4242, [a, b]))
        self.assertEqual(sub.read_packet().raw, b"\xb0\x02\x42\x42")
        pub = self.raw()
        pub.connect()
        pub.publish(a, b"to-a", qos=1)
        pub.publish(base + "/x/b", b"to-b", qos=1)
        pub.publish(marker, b"marker", qos=1)
        # neither filter delivers, and no second UNSUBACK comes: the marker is the next packet
        p = sub.read_packet()
        self.assertEqual(p.type, PUBLISH, "expected the marker, got %r" % (p.raw,))
        self.assertEqual(p.publish_fields()[:2], (marker, b"marker"))

    # -- 4.3.2 --------------------------------------------------------------------------------

    def test_packet_id_reused_after_puback_is_a_new_message(self):
        """[MQTT-4.3.2-2]: once PUBACK is sent, a PUBLISH with the same packet id is a new
        message (whatever its DUP flag)."""
        topic = unique_topic("reuse")
        sub = self.subscriber([(topic, 1)])
        pub = self.raw()
        pub.connect()
        for payload, dup in ((b"one", False), (b"two", True), (b"three", False)):
            pub.send(publish_packet(topic, payload, qos=1, dup=dup, packet_id=9))
            self.assertEqual(pub.read_packet().raw, ack_packet(PUBACK, 9))
        self.assertEqual([m[1] for m in sub.receive_publishes(3)], [b"one", b"two", b"three"])

    # -- 4.6.0 --------------------------------------------------------------------------------

    def test_pubacks_in_the_order_of_the_publishes(self):
        """[MQTT-4.6.0-2]: 50 QoS 1 PUBLISHes in one write, 50 PUBACKs in the same order."""
        pub = self.raw()
        pub.connect()
        ids = random.Random(1).sample(range(1, 65536), 50)
        topic = unique_topic("ord1")
        pub.send(b"".join(publish_packet(topic, b"%d" % i, qos=1, packet_id=i) for i in ids))
        got = [pub.read_packet() for _ in ids]
        self.assertEqual([p.type for p in got], [PUBACK] * len(ids))
        self.assertEqual([pid_of(p) for p in got], ids)

    def test_pubrecs_in_the_order_of_the_publishes(self):
        """[MQTT-4.6.0-3]: 50 QoS 2 PUBLISHes in one write, 50 PUBRECs in the same order; the
        PUBRELs, sent in another order, get their PUBCOMPs in that order."""
        pub = self.raw()
        pub.connect()
        rnd = random.Random(2)
        ids = rnd.sample(range(1, 65536), 50)
        topic = unique_topic("ord2")
        pub.send(b"".join(publish_packet(topic, b"%d" % i, qos=2, packet_id=i) for i in ids))
        got = [pub.read_packet() for _ in ids]
        self.assertEqual([p.type for p in got], [PUBREC] * len(ids))
        self.assertEqual([pid_of(p) for p in got], ids)
        rnd.shuffle(ids)
        pub.send(b"".join(ack_packet(PUBREL, i) for i in ids))
        got = [pub.read_packet() for _ in ids]
        self.assertEqual([p.type for p in got], [PUBCOMP] * len(ids))
        self.assertEqual([pid_of(p) for p in got], ids)

    def test_pubrels_in_the_order_of_the_pubrecs(self):
        """[MQTT-4.6.0-4]: the server's PUBRELs follow the order of the PUBRECs it received."""
        topic = unique_topic("ord3")
        sub = self.subscriber([(topic, 2)])
        pub = self.raw()
        pub.connect()
        for i in range(5):
            pub.publish(topic, b"%d" % i, qos=2)
        pids = [sub.receive_publish(ack=False)[5] for _ in range(5)]
        order = [pids[i] for i in (3, 0, 4, 2, 1)]
        sub.send(b"".join(ack_packet(PUBREC, p) for p in order))
        got = [sub.read_packet() for _ in order]
        self.assertEqual([p.type for p in got], [PUBREL] * 5)
        self.assertEqual([pid_of(p) for p in got], order)
        sub.send(b"".join(ack_packet(PUBCOMP, p) for p in order))
        marker = unique_topic("mark")
        sub.subscribe([(marker, 1)])
        self.assert_marker_next(sub, pub, marker)


if __name__ == "__main__":
    run_tests()
