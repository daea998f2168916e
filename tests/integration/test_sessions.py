#!/usr/bin/python3
"""Sessions: persistent sessions (clean_session=0) queue QoS 1/2 messages while offline and
keep subscriptions; clean sessions discard state; session takeover; empty client ids."""

import os
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (PUBLISH, PUBREL, BrokerTestCase, ack_packet, connack_bytes,  # noqa: E402
                     run_tests, sync_marker, unique_id, unique_topic, wait_for, PUBACK, PUBCOMP, PUBREC)

ACCEPTED = connack_bytes(0)
ACCEPTED_SESSION = connack_bytes(0, session_present=1)


class Sessions(BrokerTestCase):

    def persistent(self, client_id, expect=ACCEPTED, **kwargs):
        c = self.raw()
        c.connect(client_id, clean_session=False, expect=expect, **kwargs)
        return c

    def test_new_persistent_session_has_session_present_0(self):
        c = self.persistent(unique_id("s"), expect=ACCEPTED)
        c.disconnect()

    def test_offline_qos1_and_qos2_delivered_in_order(self):
        cid = unique_id("s")
        topic = unique_topic("offline")
        c = self.persistent(cid)
        self.assertEqual(c.subscribe([(topic, 2)]), [2])
        c.disconnect()

        pub = self.paho()
        for qos in (1, 2):
            for i in range(50):
                pub.publish(topic, b"q%d-%d" % (qos, i), qos=qos)
        pub.publish(topic, b"q0", qos=0)  # QoS 0 while offline: delivery optional

        c = self.persistent(cid, expect=ACCEPTED_SESSION)
        got = []
        while len(got) < 100:
            topic_, payload, qos, retain, dup, pid = c.receive_publish()
            if qos == 0:
                continue
            got.append((payload, qos, retain))
        self.assertEqual(got, [(b"q1-%d" % i, 1, 0) for i in range(50)] +
                         [(b"q2-%d" % i, 2, 0) for i in range(50)])
        c.disconnect()

    def test_offline_messages_with_paho(self):
        cid = unique_id("s")
        topic = unique_topic("offline")
        s = self.paho(cid, clean_session=False)
        self.assertEqual(s.session_present, 0)
        s.subscribe(topic, 1)
        s.disconnect()
        pub = self.paho()
        for i in range(20):
            pub.publish(topic, b"m%d" % i, qos=1)
        s = self.paho(cid, clean_session=False)
        self.assertEqual(s.session_present, 1)
        got = s.get_many(20)
        self.assertEqual([(m.payload, m.qos) for m in got], [(b"m%d" % i, 1) for i in range(20)])

    def test_subscriptions_survive_reconnect(self):
        cid = unique_id("s")
        topic = unique_topic("surv")
        c = self.persistent(cid)
        self.assertEqual(c.subscribe([(topic, 1)]), [1])
        c.disconnect()
        c = self.persistent(cid, expect=ACCEPTED_SESSION)
        pub = self.paho()
        pub.publish(topic, b"live", qos=1)  # no re-subscribe
        self.assertEqual(c.receive_publish()[:4], (topic, b"live", 1, 0))
        c.disconnect()

    def test_clean_session_discards_state(self):
        cid = unique_id("s")
        topic = unique_topic("clean")
        c = self.persistent(cid)
        c.subscribe([(topic, 1)])
        c.disconnect()
        pub = self.paho()
        for i in range(5):
            pub.publish(topic, b"queued%d" % i, qos=1)

        # reconnect with a clean session: no session, no queued messages
        s = self.paho(cid, clean_session=True)
        self.assertEqual(s.session_present, 0)
        marker_topic = unique_topic("marker")
        s.subscribe(marker_topic, 1)
        self.assertEqual(sync_marker(s, s, marker_topic, qos=1), [])
        # and no subscription to `topic` any more
        pub.publish(topic, b"after", qos=1)
        self.assertEqual(sync_marker(pub, s, marker_topic, qos=1), [])
        s.disconnect()

        # the clean session ended with the connection: a persistent connect starts fresh
        c = self.persistent(cid, expect=ACCEPTED)
        c.disconnect()

    def test_unacked_qos1_redelivered_with_dup_after_reconnect(self):
        cid = unique_id("s")
        topic = unique_topic("dup")
        c = self.persistent(cid)
        c.subscribe([(topic, 1)])
        pub = self.paho()
        pub.publish(topic, b"unacked", qos=1)
        t, payload, qos, retain, dup, pid = c.receive_publish(ack=False)
        self.assertEqual((t, payload, qos, dup), (topic, b"unacked", 1, 0))
        c.abort()  # no PUBACK
        c = self.persistent(cid, expect=ACCEPTED_SESSION)
        p = c.read_packet()
        self.assertEqual(p.type, PUBLISH)
        t, payload, qos, retain, dup, pid2 = p.publish_fields()
        self.assertEqual((t, payload, qos, dup, pid2), (topic, b"unacked", 1, 1, pid))
        c.send(ack_packet(PUBACK, pid2))
        c.disconnect()

    def test_qos2_pubrel_resent_after_reconnect(self):
        cid = unique_id("s")
        topic = unique_topic("rel")
        c = self.persistent(cid)
        c.subscribe([(topic, 2)])
        pub = self.paho()
        pub.publish(topic, b"exactly-once", qos=2)
        t, payload, qos, retain, dup, pid = c.receive_publish(ack=False)
        self.assertEqual((payload, qos), (b"exactly-once", 2))
        c.send(ack_packet(PUBREC, pid))
        p = c.read_packet()
        self.assertEqual(p.raw, ack_packet(PUBREL, pid))
        c.abort()  # no PUBCOMP
        c = self.persistent(cid, expect=ACCEPTED_SESSION)
        p = c.read_packet()
        # the message must not be delivered again; the broker resends PUBREL
        self.assertEqual(p.raw, ack_packet(PUBREL, pid))
        c.send(ack_packet(PUBCOMP, pid))
        c.subscribe([(unique_topic("x"), 0)])  # round trip: nothing else was pending
        c.disconnect()

    def test_takeover_closes_first_connection_and_publishes_its_will(self):
        cid = unique_id("s")
        will_topic = unique_topic("takeover")
        watcher = self.paho()
        watcher.subscribe(will_topic, 1)
        first = self.raw()
        first.connect(cid, will_topic=will_topic, will_payload=b"first-will", will_qos=1)
        second = self.raw()
        second.connect(cid)
        # the first connection is closed by the broker (no bytes for it in 3.1.1)
        self.assertEqual(first.wait_closed(), b"")
        m = watcher.get()
        self.assertEqual((m.topic, m.payload, m.qos), (will_topic, b"first-will", 1))
        # the second connection is fully functional
        topic = unique_topic("t")
        self.assertEqual(second.subscribe([(topic, 1)]), [1])
        watcher.publish(topic, b"to-second", qos=1)
        self.assertEqual(second.receive_publish()[:3], (topic, b"to-second", 1))
        second.disconnect()

    def test_takeover_of_paho_client(self):
        cid = unique_id("s")
        first = self.paho(cid)
        second = self.paho(cid)
        first.wait_disconnected()
        self.assertFalse(second.disconnected.is_set())

    def test_takeover_keeps_persistent_session(self):
        cid = unique_id("s")
        topic = unique_topic("tk")
        first = self.persistent(cid)
        first.subscribe([(topic, 1)])
        second = self.persistent(cid, expect=ACCEPTED_SESSION)
        first.wait_closed()
        pub = self.paho()
        pub.publish(topic, b"kept", qos=1)
        self.assertEqual(second.receive_publish()[:3], (topic, b"kept", 1))
        second.disconnect()

    def test_reconnects_and_takeovers_while_qos0_flows(self):
        """Two publishers flood QoS 0 to a persistent session's subscription while its client
        keeps coming back: by takeover (the old connection is closed under it) and by
        disconnect and reconnect. QoS 0 reaches a connected session without the session's
        lock: a returning client must still get its CONNACK before any of the flood
        (connect() asserts the first bytes are the CONNACK), and the server (built with
        AddressSanitizer in make test) must route on unharmed. That an old link outlives the
        publishes still using it is shown by the broker unit tests (BrokerLifetimeTest)."""
        cid = unique_id("flood")
        topic = unique_topic("flood")
        sub = self.persistent(cid)
        sub.subscribe([(topic, 0)])
        stop = threading.Event()
        pubs = [self.paho(), self.paho()]
        sent = [0, 0]

        def flood(k):
            while not stop.is_set():
                pubs[k].publish(topic, b"%d" % sent[k], qos=0, wait=False)
                sent[k] += 1
                if sent[k] % 100 == 0:
                    pubs[k].publish(topic, b"sync", qos=1)  # keeps paho's buffer bounded

        def let_flow(n=300):
            until = sum(sent) + n
            wait_for(lambda: sum(sent) >= until, message="the publishers to go on")

        threads = [threading.Thread(target=flood, args=(k,)) for k in range(2)]
        for t in threads:
            t.start()
        try:
            for round_ in range(30):
                let_flow()
                if round_ % 2:
                    nxt = self.persistent(cid, expect=ACCEPTED_SESSION)  # takeover
                    sub.wait_closed(timeout=10)
                else:
                    sub.disconnect()
                    nxt = self.persistent(cid, expect=ACCEPTED_SESSION)
                sub.close()
                sub = nxt
        finally:
            stop.set()
            for t in threads:
                t.join()
        self.assertGreater(sum(sent), 30 * 300)
        last = self.paho()
        last.publish(topic, b"last", qos=1)
        seen = []
        while not seen or seen[-1] != b"last":
            seen.append(sub.receive_publish(timeout=10)[1])
        sub.disconnect()

    def test_empty_client_id_with_clean_session_accepted(self):
        a = self.raw()
        a.connect("", clean_session=True, expect=ACCEPTED)
        b = self.raw()
        b.connect("", clean_session=True, expect=ACCEPTED)
        # two anonymous clients coexist (each gets its own id: no takeover)
        topic = unique_topic("anon")
        self.assertEqual(a.subscribe([(topic, 1)]), [1])
        self.assertEqual(b.subscribe([(topic, 1)]), [1])
        b.publish(topic, b"hi", qos=1)
        self.assertEqual(a.receive_publish()[:3], (topic, b"hi", 1))
        self.assertEqual(b.receive_publish()[:3], (topic, b"hi", 1))
        a.disconnect()
        b.disconnect()

    def test_empty_client_id_with_persistent_session_rejected(self):
        c = self.raw()
        c.connect("", clean_session=False, expect=connack_bytes(2))
        self.assertEqual(c.wait_closed(), b"")

    def test_mqtt31_empty_client_id_rejected(self):
        c = self.raw()
        c.connect("", clean_session=True, protocol_name="MQIsdp", protocol_level=3,
                  expect=connack_bytes(2))
        self.assertEqual(c.wait_closed(), b"")


if __name__ == "__main__":
    run_tests()
