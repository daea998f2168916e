#!/usr/bin/python3
"""Nothing acknowledged is lost to a full queue (issue 9, item 10).

Under the default queue_full_policy = "backpressure", a QoS 1/2 message the broker has
acknowledged is never dropped because a subscriber is slow: when a connected subscriber's
queue reaches limits.max_queued_messages, the broker stops reading the publishers feeding it
(so their acknowledgements wait) until the queue has drained to half. Acknowledgements from a
paused client are still read, so a client feeding itself, or two feeding each other, never
wait on each other forever. A stalled subscriber holds back only its own publishers.

Each test here lost messages (or hung) before the fix: the pipeline delivered 2,825 of 5,000
on the old broker, the fan-in about 85 %.
"""

import os
import socket
import subprocess
import sys
import threading
import time


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (HOST, MOSQUITTO_PUB, BrokerTestCase, MosquittoSub,  # noqa: E402
                     PahoClient, RawClient, publish_packet, read_pubacks_in_background,
                     read_sys_counter, run_tests,
                     unique_topic, wait_for)


class Backpressure(BrokerTestCase):
    # Small queues, so every test here really fills them.
    broker_config = {"limits": {"max_queued_messages": 50, "max_inflight_messages": 5},
                     "sys": {"interval": 1}}

    def test_mosquitto_pub_lines_into_mosquitto_sub_all_arrive_in_order(self):
        # The most common pipeline of all (the class's small queue makes the overflow certain
        # on any machine; with the default 1000 the old broker lost about a third here).
        broker = self.broker
        sub = MosquittoSub(broker.port, "lm/#", qos=1)
        self.addCleanup(sub.close)
        helper = PahoClient(broker.port)
        self.addCleanup(helper.close)
        sub.sync(helper)
        lines = "".join("%d\n" % i for i in range(1, 5001)).encode()
        r = subprocess.run([MOSQUITTO_PUB, "-h", HOST, "-p", str(broker.port), "-l", "-q", "1",
                            "-t", "lm/x"], input=lines, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        got = [int(sub.get(timeout=20).payload) for _ in range(5000)]
        self.assertEqual(got, list(range(1, 5001)))

    def test_fan_in_16_publishers_at_qos1_loses_nothing(self):
        topic = unique_topic("fanin")
        sub = self.paho()
        sub.subscribe(topic + "/#", 1)
        per_publisher = 500
        publishers = []
        for i in range(16):
            p = self.paho()
            p.client.max_inflight_messages_set(32)
            publishers.append(p)

        def flood(i, p):
            infos = [p.publish("%s/%d" % (topic, i), b"%d:%d" % (i, n), qos=1, wait=False)
                     for n in range(per_publisher)]
            for info in infos:
                p.wait_published(info, timeout=60)

        threads = [threading.Thread(target=flood, args=(i, p), daemon=True)
                   for i, p in enumerate(publishers)]
        for t in threads:
            t.start()
        got = sub.get_many(16 * per_publisher, timeout=90)
        for t in threads:
            t.join(60)
        seen = {}
        for m in got:
            i, n = map(int, m.payload.split(b":"))
            seen.setdefault(i, []).append(n)
        for i in range(16):
            self.assertEqual(seen.get(i), list(range(per_publisher)),
                             "publisher %d: lost or reordered messages" % i)
        self.assertEqual(read_sys_counter(self, "publish/messages/dropped"), 0)

    def test_a_client_feeding_itself_does_not_deadlock(self):
        # Its own subscription's queue fills; the broker pauses it, yet reads its PUBACKs.
        topic = unique_topic("self")
        c = self.paho()
        c.client.max_inflight_messages_set(32)
        c.subscribe(topic, 1)
        infos = [c.publish(topic, b"%d" % n, qos=1, wait=False) for n in range(2000)]
        got = c.get_many(2000, timeout=60)
        for info in infos:
            c.wait_published(info, timeout=30)
        self.assertEqual([int(m.payload) for m in got], list(range(2000)))

    def test_two_clients_feeding_each_other_do_not_deadlock(self):
        ta, tb = unique_topic("a"), unique_topic("b")
        a, b = self.paho(), self.paho()
        a.subscribe(tb, 1)
        b.subscribe(ta, 1)
        for c in (a, b):
            c.client.max_inflight_messages_set(32)
        n = 1500
        infos = []
        for i in range(n):
            infos.append(a.publish(ta, b"%d" % i, qos=1, wait=False))
            infos.append(b.publish(tb, b"%d" % i, qos=1, wait=False))
        got_b = b.get_many(n, timeout=60)
        got_a = a.get_many(n, timeout=60)
        for info in infos:
            a.wait_published(info, timeout=30)
        self.assertEqual([int(m.payload) for m in got_b], list(range(n)))
        self.assertEqual([int(m.payload) for m in got_a], list(range(n)))

    def test_stalled_subscriber_holds_back_its_publisher_only_and_releases_it(self):
        topic = unique_topic("stall")
        stalled = RawClient(self.broker.port, rcvbuf=4096)
        self.addCleanup(stalled.abort)
        stalled.connect(keepalive=0)
        self.assertEqual(stalled.subscribe([(topic, 1)]), [1])

        healthy = self.paho()
        health_topic = unique_topic("health")
        healthy.subscribe(health_topic, 1)

        pub = RawClient(self.broker.port)
        self.addCleanup(pub.close)
        # Keep-alive 2 s: the broker would time the publisher out after 3 s of silence, but not
        # while it is the one holding it back (docs/mqtt.md).
        pub.connect(keepalive=2)
        total = 3000
        reader, acked, errors = read_pubacks_in_background(pub, total)

        def send_all():
            try:
                pub.sock.settimeout(120)
                for start in range(0, total, 50):
                    pub.sock.sendall(b"".join(publish_packet(topic, b"x" * 512, qos=1,
                                                             packet_id=i % 65535 + 1)
                                              for i in range(start, min(total, start + 50))))
            except Exception as e:
                errors.append(e)

        sender = threading.Thread(target=send_all, daemon=True)
        sender.start()
        # The publisher is held back: its acknowledgements stop well short of the total...
        wait_for(lambda: len(acked) > 0, timeout=10, message="first PUBACK")
        stable = None
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            before = len(acked)
            time.sleep(0.5)
            if len(acked) == before:
                stable = before
                break
        self.assertIsNotNone(stable, "PUBACKs never stopped: the publisher was not held back")
        self.assertLess(stable, total)
        # ... while everyone else is served, for longer than the publisher's keep-alive allows
        # a silent client (1.5 x 2 s).
        t0 = time.monotonic()
        i = 0
        while time.monotonic() - t0 < 3.5:
            healthy.publish(health_topic, b"ping%d" % i, qos=1)
            self.assertEqual(healthy.get(timeout=5).payload, b"ping%d" % i)
            i += 1
            time.sleep(0.1)
        # Nothing was dropped, and the stalled subscriber leaving (its clean session ends)
        # releases the publisher: every message gets its PUBACK.
        self.assertEqual(read_sys_counter(self, "publish/messages/dropped"), 0)
        stalled.abort()
        sender.join(60)
        reader.join(60)
        self.assertEqual(errors, [])
        self.assertEqual(len(acked), total)

    def test_held_back_publisher_that_disconnects_and_closes_is_handled_in_full(self):
        # Everything a held-back client sent before closing its socket is handled, its
        # DISCONNECT included: all its messages arrive, and its will does not.
        topic, will_topic = unique_topic("eof"), unique_topic("will")
        sub = RawClient(self.broker.port, rcvbuf=4096)
        self.addCleanup(sub.abort)
        sub.connect(keepalive=0)
        self.assertEqual(sub.subscribe([(topic, 1), (will_topic, 0)]), [1, 0])
        pub = RawClient(self.broker.port)
        self.addCleanup(pub.abort)
        pub.connect(keepalive=0, will_topic=will_topic, will_payload=b"gone")
        total = 400
        pub.sock.sendall(b"".join(publish_packet(topic, b"%d" % i, qos=1, packet_id=i + 1)
                                  for i in range(total)) + b"\xe0\x00")  # + DISCONNECT
        pub.sock.shutdown(socket.SHUT_WR)
        marker = PahoClient(self.broker.port)
        self.addCleanup(marker.close)
        got = []
        while len(got) < total:
            t, payload = sub.receive_publish(timeout=20)[:2]
            self.assertNotEqual(t, will_topic, "the will went out despite DISCONNECT")
            got.append(int(payload))
        self.assertEqual(got, list(range(total)))
        marker.publish(will_topic, b"marker", qos=1)
        self.assertEqual(sub.receive_publish(timeout=10)[:2], (will_topic, b"marker"))

    def test_drop_policy_drops_and_counts_instead(self):
        broker = self.start_broker({"limits": {"max_queued_messages": 10,
                                               "max_inflight_messages": 1,
                                               "queue_full_policy": "drop"},
                                    "sys": {"interval": 1}})
        topic = unique_topic("drop")
        stalled = RawClient(broker.port, rcvbuf=4096)
        self.addCleanup(stalled.abort)
        stalled.connect(keepalive=0)
        self.assertEqual(stalled.subscribe([(topic, 1)]), [1])
        pub = PahoClient(broker.port)
        self.addCleanup(pub.close)
        for i in range(100):
            pub.publish(topic, b"%d" % i, qos=1)  # every one acknowledged at once
        c = PahoClient(broker.port)
        self.addCleanup(c.close)
        c.subscribe("$SYS/broker/publish/messages/dropped", 0)
        deadline = time.monotonic() + 10
        dropped = 0
        while dropped < 89 and time.monotonic() < deadline:
            dropped = int(c.get(timeout=5).payload)
        self.assertGreaterEqual(dropped, 89)


if __name__ == "__main__":
    run_tests()
