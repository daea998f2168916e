#!/usr/bin/python3
"""Last will: published on abnormal close (FIN or RST without DISCONNECT) and on keep-alive
timeout, not published after a clean DISCONNECT; retained wills; will QoS."""

import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (BrokerTestCase, is_mosquitto, run_tests, sync_marker,  # noqa: E402
                     unique_topic)


class Will(BrokerTestCase):

    def subscriber(self, topic, qos=2):
        sub = self.paho()
        sub.subscribe(topic, qos)
        return sub

    def test_will_on_socket_close_without_disconnect(self):
        topic = unique_topic("will")
        sub = self.subscriber(topic)
        c = self.raw()
        c.connect(will_topic=topic, will_payload=b"gone-fin", will_qos=1)
        c.close()  # FIN, no DISCONNECT
        m = sub.get()
        self.assertEqual((m.topic, m.payload, m.qos, m.retain), (topic, b"gone-fin", 1, 0))

    def test_will_on_connection_reset(self):
        topic = unique_topic("will")
        sub = self.subscriber(topic)
        c = self.raw()
        c.connect(will_topic=topic, will_payload=b"gone-rst", will_qos=2)
        c.abort()  # RST
        m = sub.get()
        self.assertEqual((m.topic, m.payload, m.qos), (topic, b"gone-rst", 2))

    def test_will_of_paho_client_whose_socket_dies(self):
        topic = unique_topic("will")
        sub = self.subscriber(topic)
        dying = self.paho(will=(topic, b"paho-will", 1, False))
        dying.client.socket().shutdown(socket.SHUT_RDWR)
        m = sub.get()
        self.assertEqual((m.topic, m.payload, m.qos, m.retain), (topic, b"paho-will", 1, 0))

    def test_will_qos_is_min_of_will_and_subscription(self):
        for will_qos in (0, 1, 2):
            for sub_qos in (0, 1, 2):
                with self.subTest(will_qos=will_qos, sub_qos=sub_qos):
                    topic = unique_topic("willq")
                    sub = self.subscriber(topic, sub_qos)
                    c = self.raw()
                    c.connect(will_topic=topic, will_payload=b"w", will_qos=will_qos)
                    c.close()
                    m = sub.get()
                    self.assertEqual((m.payload, m.qos), (b"w", min(will_qos, sub_qos)))
                    sub.disconnect()

    def test_binary_and_empty_will_payloads(self):
        for payload in (bytes(range(256)), b""):
            topic = unique_topic("willp")
            sub = self.subscriber(topic)
            c = self.raw()
            c.connect(will_topic=topic, will_payload=payload, will_qos=1)
            c.close()
            m = sub.get()
            self.assertEqual((m.topic, m.payload), (topic, payload))

    def test_no_will_after_clean_disconnect(self):
        topic = unique_topic("will")
        sub = self.subscriber(topic)
        c = self.raw()
        c.connect(will_topic=topic, will_payload=b"must-not-appear", will_qos=1)
        c.send(b"\xe0\x00")  # DISCONNECT
        c.sock.shutdown(socket.SHUT_WR)
        # the broker has handled the DISCONNECT once it closes its side
        self.assertEqual(c.wait_closed(), b"")
        # anything the broker routed before that reaches `sub` before a later marker
        other = self.paho()
        self.assertEqual(sync_marker(other, sub, topic, qos=1), [])
        # and, to be sure, a little while longer
        self.assertEqual(sub.pending(), [])

    def test_will_on_keepalive_timeout(self):
        """keepalive 1 s, then silence: the broker closes after 1.5 x keepalive and publishes
        the will; not before 1 s."""
        topic = unique_topic("willka")
        sub = self.subscriber(topic)
        c = self.raw()
        c.connect(will_topic=topic, will_payload=b"timed-out", will_qos=1, keepalive=1)
        t0 = time.monotonic()
        # mosquitto 2.0.11 checks keep-alive coarsely: with keepalive 1 it takes 5-6 s, so
        # only the lower bound and the will itself are checked tightly for it
        upper = 8.0 if is_mosquitto() else 1.5 + 1.0
        m = sub.get(timeout=upper)
        elapsed = time.monotonic() - t0
        self.assertEqual((m.topic, m.payload, m.qos), (topic, b"timed-out", 1))
        self.assertGreaterEqual(elapsed, 1.0, "will published only %.2f s after CONNACK "
                                "with keepalive 1" % elapsed)
        self.assertLessEqual(elapsed, upper)
        # and the broker closed the silent connection
        c.wait_closed(timeout=2)

    def test_pingreq_keeps_connection_alive(self):
        """A client that sends PINGREQ every 0.5 s with keepalive 1 is not timed out."""
        topic = unique_topic("willka")
        sub = self.subscriber(topic)
        c = self.raw()
        c.connect(will_topic=topic, will_payload=b"should-not", will_qos=1, keepalive=1)
        deadline = time.monotonic() + 3.5
        while time.monotonic() < deadline:
            c.send(b"\xc0\x00")
            self.assertEqual(c.read_packet(timeout=1).raw, b"\xd0\x00")
            self.assertEqual(sub.pending(), [], "will published although pings were sent")
            time.sleep(0.5)  # pacing the pings is the point of this test
        c.send(b"\xe0\x00")
        c.close()

    def test_retained_will(self):
        topic = unique_topic("willr")
        c = self.raw()
        c.connect(will_topic=topic, will_payload=b"retained-will", will_qos=1, will_retain=True)
        live = self.subscriber(topic)
        c.close()
        m = live.get()
        self.assertEqual(m.payload, b"retained-will")
        # a subscriber arriving later gets it as a retained message
        late = self.paho()
        late.subscribe(topic, 1)
        m = late.get()
        self.assertEqual((m.topic, m.payload, m.qos, m.retain), (topic, b"retained-will", 1, 1))

    def test_non_retained_will_is_not_kept(self):
        topic = unique_topic("willnr")
        c = self.raw()
        c.connect(will_topic=topic, will_payload=b"fleeting", will_qos=1)
        live = self.subscriber(topic)
        c.close()
        self.assertEqual(live.get().payload, b"fleeting")
        late = self.paho()
        late.subscribe(topic, 1)
        self.assertEqual(sync_marker(late, late, topic), [])


if __name__ == "__main__":
    run_tests()
