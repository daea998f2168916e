#!/usr/bin/python3
"""QoS 0/1/2 delivery: effective QoS = min(publish QoS, subscription QoS), payloads intact
(binary, empty, 1 MB), per-publisher order for 1000 messages; with paho clients and with
Debian's mosquitto_pub / mosquitto_sub."""

import os
import random
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (BrokerTestCase, MosquittoSub, run_mosquitto_pub, run_tests,  # noqa: E402
                     skip_if_mosquitto, sync_marker, unique_topic)

BINARY = bytes(range(256)) * 4 + b"\x00\xff\r\n\x00"
ONE_MB = random.Random(1234).randbytes(1 << 20)


class PahoQoS(BrokerTestCase):

    def test_effective_qos_is_min_of_publish_and_subscription(self):
        pub = self.paho()
        sub = self.paho()
        for sub_qos in (0, 1, 2):
            topic = unique_topic("qos")
            self.assertEqual(sub.subscribe(topic, sub_qos), [sub_qos])
            for pub_qos in (0, 1, 2):
                with self.subTest(pub_qos=pub_qos, sub_qos=sub_qos):
                    payload = ("p%d-s%d" % (pub_qos, sub_qos)).encode()
                    pub.publish(topic, payload, qos=pub_qos)
                    m = sub.get()
                    self.assertEqual((m.topic, m.payload, m.qos, m.retain),
                                     (topic, payload, min(pub_qos, sub_qos), 0))

    def test_payloads_binary_empty_and_1mb(self):
        pub = self.paho()
        sub = self.paho()
        topic = unique_topic("payload")
        sub.subscribe(topic, 2)
        for qos in (0, 1, 2):
            for name, payload in (("binary", BINARY), ("empty", b""), ("1MB", ONE_MB)):
                with self.subTest(qos=qos, payload=name):
                    pub.publish(topic, payload, qos=qos, wait=True)
                    m = sub.get(timeout=10)
                    self.assertEqual(m.qos, qos)
                    self.assertEqual(len(m.payload), len(payload))
                    self.assertTrue(m.payload == payload, "payload corrupted")

    def check_order(self, qos, n=1000):
        pub = self.paho()
        sub = self.paho()
        topic = unique_topic("order")
        sub.subscribe(topic, qos)
        infos = [pub.publish(topic, b"%d" % i, qos=qos, wait=False) for i in range(n)]
        got = sub.get_many(n, timeout=30)
        self.assertEqual([m.payload for m in got], [b"%d" % i for i in range(n)])
        self.assertEqual({m.qos for m in got}, {qos})
        for info in infos:
            pub.wait_published(info)
        # nothing extra (no duplicates) before a marker published afterwards
        self.assertEqual(sync_marker(pub, sub, topic, qos=qos), [])

    def test_order_1000_qos1(self):
        self.check_order(1)

    def test_order_1000_qos2(self):
        self.check_order(2)

    @skip_if_mosquitto("mosquitto 2.0.11 reorders a QoS 1 stream on the wire when the same "
                       "QoS 2 subscriber also gets a QoS 2 stream (inflight window full)")
    def test_two_publishers_each_keep_order(self):
        """Two publishers (QoS 1 and QoS 2) to one QoS 2 subscriber: each publisher's
        messages leave the broker in order (checked on the wire with a raw subscriber, since
        paho hands QoS 2 messages to the application only at PUBREL)."""
        a = self.paho()
        b = self.paho()
        sub = self.raw()
        sub.connect()
        topic = unique_topic("order2")
        self.assertEqual(sub.subscribe([(topic, 2)]), [2])
        n = 300
        for i in range(n):
            a.publish(topic, b"a%d" % i, qos=1, wait=False)
            b.publish(topic, b"b%d" % i, qos=2, wait=False)
        got = sub.receive_publishes(2 * n, timeout=30)
        self.assertEqual([g[1] for g in got if g[2] == 1], [b"a%d" % i for i in range(n)])
        self.assertEqual([g[1] for g in got if g[2] == 2], [b"b%d" % i for i in range(n)])


    def test_mixed_qos_stream_keeps_order_across_loops(self):
        """One publisher alternating QoS 0 and QoS 1, another flooding QoS 0 beside it, one
        QoS 1 subscriber (connections alternate between the server's loops, so the publishers
        and the subscriber sit on different ones): on the wire, every message arrives, and
        each publisher's messages of one QoS arrive in the order sent. (Across QoS levels
        order is not promised, by mosquitto either: QoS 1 waits for the subscriber's
        in-flight window, QoS 0 does not.) QoS 0 is batched per loop, QoS 1 is not, and a
        QoS 1 send first flushes what its loop batched for that connection."""
        sub = self.raw()
        sub.connect()
        topic = unique_topic("mixedorder")
        self.assertEqual(sub.subscribe([(topic + "/#", 1)]), [1])
        a = self.paho()
        b = self.paho()
        n = 600
        for i in range(n):
            a.publish(topic + "/a", b"a%d" % i, qos=i % 2, wait=False)
            b.publish(topic + "/b", b"b%d" % i, qos=0, wait=False)
        got = sub.receive_publishes(2 * n, timeout=30)
        for qos in (0, 1):
            self.assertEqual([g[1] for g in got if g[0] == topic + "/a" and g[2] == qos],
                             [b"a%d" % i for i in range(qos, n, 2)])
        self.assertEqual([g[1] for g in got if g[0] == topic + "/b"], [b"b%d" % i for i in range(n)])

class MosquittoClientsQoS(BrokerTestCase):
    """The Debian command-line clients against the broker under test."""

    def test_mosquitto_pub_to_paho_qos_matrix(self):
        sub = self.paho()
        for sub_qos in (0, 1, 2):
            topic = unique_topic("mpub")
            sub.subscribe(topic, sub_qos)
            for pub_qos in (0, 1, 2):
                with self.subTest(pub_qos=pub_qos, sub_qos=sub_qos):
                    payload = "m%d-%d" % (pub_qos, sub_qos)
                    run_mosquitto_pub(self.port, topic, payload, qos=pub_qos)
                    m = sub.get()
                    self.assertEqual((m.topic, m.payload, m.qos, m.retain),
                                     (topic, payload.encode(), min(pub_qos, sub_qos), 0))

    def test_mosquitto_pub_payloads(self):
        sub = self.paho()
        topic = unique_topic("mpub")
        sub.subscribe(topic, 2)
        with tempfile.NamedTemporaryFile() as f:
            f.write(ONE_MB)
            f.flush()
            for qos in (0, 1, 2):
                with self.subTest(qos=qos):
                    run_mosquitto_pub(self.port, topic, BINARY, qos=qos)  # -s: stdin
                    run_mosquitto_pub(self.port, topic, None, qos=qos, extra=["-n"])  # empty
                    run_mosquitto_pub(self.port, topic, None, qos=qos, extra=["-f", f.name])
                    got = sub.get_many(3, timeout=10)
                    self.assertEqual([m.qos for m in got], [qos] * 3)
                    self.assertTrue(got[0].payload == BINARY, "binary payload corrupted")
                    self.assertEqual(got[1].payload, b"")
                    self.assertTrue(got[2].payload == ONE_MB, "1 MB payload corrupted")

    def test_mosquitto_pub_lines_keep_order(self):
        sub = self.paho()
        topic = unique_topic("mpubl")
        sub.subscribe(topic, 2)
        for qos in (1, 2):
            with self.subTest(qos=qos):
                lines = ["q%d-%d" % (qos, i) for i in range(1000)]
                run_mosquitto_pub(self.port, topic, None, qos=qos, extra=["-l"],
                                  input=("\n".join(lines) + "\n").encode(), timeout=30)
                got = sub.get_many(1000, timeout=30)
                self.assertEqual([m.payload.decode() for m in got], lines)
                self.assertEqual({m.qos for m in got}, {qos})

    def test_paho_to_mosquitto_sub_qos_matrix(self):
        pub = self.paho()
        for sub_qos in (0, 1, 2):
            topic = unique_topic("msub")
            msub = MosquittoSub(self.port, topic, qos=sub_qos)
            self.addCleanup(msub.close)
            msub.sync(pub)
            for pub_qos in (0, 1, 2):
                with self.subTest(pub_qos=pub_qos, sub_qos=sub_qos):
                    payload = ("s%d-%d" % (pub_qos, sub_qos)).encode()
                    pub.publish(topic, payload, qos=pub_qos)
                    m = msub.get()
                    self.assertEqual((m.topic, m.payload, m.qos, m.retain),
                                     (topic, payload, min(pub_qos, sub_qos), 0))
            msub.close()

    def test_paho_to_mosquitto_sub_payloads(self):
        pub = self.paho()
        topic = unique_topic("msub")
        msub = MosquittoSub(self.port, topic, qos=2)
        self.addCleanup(msub.close)
        msub.sync(pub)
        for qos in (0, 1, 2):
            for name, payload in (("binary", BINARY), ("empty", b""), ("1MB", ONE_MB)):
                with self.subTest(qos=qos, payload=name):
                    pub.publish(topic, payload, qos=qos)
                    m = msub.get(timeout=10)
                    self.assertEqual(m.qos, qos)
                    self.assertTrue(m.payload == payload, "payload corrupted (%d bytes, want %d)"
                                    % (len(m.payload), len(payload)))

    def test_mosquitto_pub_to_mosquitto_sub_order(self):
        pub = self.paho()
        topic = unique_topic("mm")
        msub = MosquittoSub(self.port, topic, qos=2)
        self.addCleanup(msub.close)
        msub.sync(pub)
        lines = ["%d" % i for i in range(1000)]
        run_mosquitto_pub(self.port, topic, None, qos=2, extra=["-l"],
                          input=("\n".join(lines) + "\n").encode(), timeout=30)
        got = [msub.get(timeout=10) for _ in lines]
        self.assertEqual([m.payload.decode() for m in got], lines)
        self.assertEqual({m.qos for m in got}, {2})


if __name__ == "__main__":
    run_tests()
