#!/usr/bin/python3
"""A subscriber that stops reading must not make the broker grow without bound: with
max_queued_messages = 100 and queue_full_policy = "drop" the broker drops messages for it
(counted in $SYS/broker/publish/messages/dropped), its RSS stays bounded and other clients
keep being served. (Under the default policy, backpressure, the publisher is held back
instead: test_backpressure.py.)"""

import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (BrokerTestCase, RawClient, publish_packet, read_pubacks_in_background,  # noqa: E402
                     run_tests, skip_if_mosquitto, unique_topic)

MESSAGES = 20000
PAYLOAD = b"x" * 1024
RSS_GROWTH_LIMIT_KB = 100 * 1024


def _asan_options():
    # ASan's quarantine keeps up to 256 MB of freed memory resident by default, which would
    # swamp the measurement; a small quarantine still catches use-after-free.
    opts = os.environ.get("ASAN_OPTIONS", "")
    return (opts + ":" if opts else "") + "quarantine_size_mb=16"


class RssSampler(threading.Thread):
    def __init__(self, broker):
        super().__init__(daemon=True)
        self.broker = broker
        self.max_kb = broker.rss_kb()
        self.stop_event = threading.Event()

    def run(self):
        while not self.stop_event.wait(0.05):
            try:
                self.max_kb = max(self.max_kb, self.broker.rss_kb())
            except (OSError, AssertionError):
                return

    def stop(self):
        self.stop_event.set()
        self.join(5)


@skip_if_mosquitto("the RSS bound and drop accounting are mqbase's contract")
class SlowSubscriber(BrokerTestCase):
    broker_config = {"limits": {"max_queued_messages": 100, "queue_full_policy": "drop"},
                     "sys": {"interval": 1}}

    def setUp(self):
        self.broker = self.start_broker(self.broker_config, env={"ASAN_OPTIONS": _asan_options()})
        self.port = self.broker.port

    def round_trip(self, client, topic, timeout=5.0):
        t0 = time.monotonic()
        payload = b"ping-%f" % t0
        client.publish(topic, payload, qos=1, wait=False)
        while True:
            m = client.get(timeout=max(0.001, timeout - (time.monotonic() - t0)))
            if m.payload == payload:
                return time.monotonic() - t0

    def test_stalled_subscriber_bounded_memory_and_drops(self):
        topic = unique_topic("flood")
        # the stalled subscriber: tiny receive buffer, subscribes at QoS 1, never reads again
        stalled = RawClient(self.port, rcvbuf=4096)
        self.addCleanup(stalled.abort)
        stalled.connect(keepalive=0)
        self.assertEqual(stalled.subscribe([(topic, 1)]), [1])

        healthy = self.paho()
        health_topic = unique_topic("health")
        healthy.subscribe(health_topic, 1)
        self.round_trip(healthy, health_topic)

        sysc = self.paho()
        sysc.subscribe("$SYS/broker/publish/messages/dropped", 0)

        base_kb = self.broker.rss_kb()
        sampler = RssSampler(self.broker)
        sampler.start()
        self.addCleanup(sampler.stop)

        # the publisher: a raw socket pipelining everything, a thread reading the PUBACKs
        pub = RawClient(self.port)
        self.addCleanup(pub.close)
        pub.connect(keepalive=0)
        qos1_ids = set()
        reader, acked, ack_error = read_pubacks_in_background(pub, MESSAGES // 2)

        def send_all():
            chunk = []
            for i in range(MESSAGES):
                qos = i % 2
                pid = None
                if qos:
                    pid = i // 2 + 1
                    qos1_ids.add(pid)
                chunk.append(publish_packet(topic, PAYLOAD, qos=qos, packet_id=pid))
                if len(chunk) == 64:
                    pub.sock.sendall(b"".join(chunk))
                    chunk = []
            if chunk:
                pub.sock.sendall(b"".join(chunk))

        pub.sock.settimeout(60)
        sender = threading.Thread(target=send_all, daemon=True)
        t0 = time.monotonic()
        sender.start()
        # other clients keep being served while the flood is on
        latencies = []
        while sender.is_alive() and time.monotonic() - t0 < 40:
            latencies.append(self.round_trip(healthy, health_topic))
        sender.join(40)
        self.assertFalse(sender.is_alive(), "publisher could not send %d messages in 40 s"
                         % MESSAGES)
        reader.join(max(1.0, 45 - (time.monotonic() - t0)))
        self.assertEqual(ack_error, [])
        self.assertEqual(len(acked), MESSAGES // 2, "PUBACKs for QoS 1 publishes missing")
        self.assertEqual(set(acked), qos1_ids)
        latencies.append(self.round_trip(healthy, health_topic))
        sampler.stop()
        growth = sampler.max_kb - base_kb
        sys.stderr.write("\n  flood %.1f s, RSS %d kB -> max %d kB (+%d kB), %d health round "
                         "trips, max %.3f s\n" % (time.monotonic() - t0, base_kb,
                                                  sampler.max_kb, growth, len(latencies),
                                                  max(latencies)))
        self.assertLess(growth, RSS_GROWTH_LIMIT_KB,
                        "broker RSS grew by %d kB with one stalled subscriber" % growth)

        # the drops are counted
        deadline = time.monotonic() + 5
        dropped = 0
        while dropped == 0:
            m = sysc.get(timeout=max(0.001, deadline - time.monotonic()))
            dropped = int(m.payload)
        self.assertGreater(dropped, 0)

        # the stalled subscriber going away does not hurt anyone
        stalled.abort()
        self.round_trip(healthy, health_topic)
        self.assertTrue(self.broker.alive())


if __name__ == "__main__":
    run_tests()
