#!/usr/bin/python3
"""`mqbase bench`, the load generator, against the broker under test: each combined scenario
(fanin, fanout, p2p at QoS 0 and 1, latency at a low rate) runs for two seconds and must
account for every message: nothing lost, duplicated or reordered, received == expected > 0.
Also: `conn` holds connections, and a refused connection is reported with exit status 1; the
storm (`--storm`: clients connecting, subscribing and disconnecting next to the scenario) is
reported next to the undisturbed rate; messages a broker acknowledged and then dropped are
reported as `lost_acked`.

No throughput figure is asserted (the broker may be a sanitizer build); the JSON's
correctness fields are. For the mosquitto flavor the bench binary still comes from
MQBASE_BIN (or --binary); without one the tests skip.
"""

import json
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (BrokerTestCase, flavor, free_port, mqbase_binary, run_tests)  # noqa: E402

RUN_TIMEOUT = 60


def bench_binary():
    try:
        return mqbase_binary()
    except RuntimeError:
        if flavor() == "mosquitto":
            raise unittest.SkipTest("the mosquitto flavor needs MQBASE_BIN for the bench binary")
        raise


class BenchTest(BrokerTestCase):

    def bench(self, *args, expect_rc=0, port=None):
        cmd = [bench_binary(), "bench"] + [str(a) for a in args] + \
            ["-p", str(port or self.port), "--json", "--quiet"]
        r = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=RUN_TIMEOUT)
        out = r.stdout.decode()
        err = r.stderr.decode(errors="replace")
        self.assertEqual(r.returncode, expect_rc,
                         "%s exited %d\nstdout: %s\nstderr: %s" % (" ".join(cmd), r.returncode, out, err))
        lines = [line for line in out.splitlines() if line.strip()]
        self.assertEqual(len(lines), 1, "expected exactly one JSON line, got %r" % out)
        return json.loads(lines[0])

    def assert_accounted(self, d):
        summary = json.dumps(d)
        self.assertEqual(d["error"], "", summary)
        self.assertGreater(d["sent"], 0, summary)
        self.assertGreater(d["expected"], 0, summary)
        self.assertEqual(d["lost"], 0, summary)
        self.assertEqual(d["duplicates"], 0, summary)
        self.assertEqual(d["reordered"], 0, summary)
        self.assertEqual(d["received"], d["expected"], summary)
        self.assertEqual(d["expected"], d["sent"] * (d["subscribers"] if d["scenario"] == "fanout" else 1),
                         summary)
        if d["qos"] > 0:
            self.assertEqual(d["acked"], d["sent"], summary)
        self.assertGreater(d["msgs_per_sec"], 0, summary)
        for key in ("scenario", "qos", "size", "publishers", "subscribers", "sent", "received",
                    "expected", "lost", "duplicates", "reordered", "msgs_per_sec", "p50_us",
                    "p99_us", "p999_us", "duration_s"):
            self.assertIn(key, d)

    def test_fanin_qos0(self):
        d = self.bench("fanin", "-c", 8, "--duration", 2, "--qos", 0)
        self.assertEqual((d["publishers"], d["subscribers"]), (8, 1))
        self.assert_accounted(d)

    def test_fanin_qos1(self):
        # At a bounded rate: mosquitto reads one packet per client per loop pass, so at full
        # speed one subscriber's PUBACKs fall behind eight publishers' PUBLISHes and its queue
        # (max_queued_messages) overflows -- real loss, but not what this test is about.
        d = self.bench("fanin", "-c", 8, "--duration", 2, "--qos", 1, "--inflight", 16,
                       "--rate", 10000)
        self.assert_accounted(d)

    def test_fanout_qos0(self):
        d = self.bench("fanout", "-c", 8, "--duration", 2, "--qos", 0)
        self.assertEqual((d["publishers"], d["subscribers"]), (1, 8))
        self.assert_accounted(d)

    def test_fanout_qos1(self):
        d = self.bench("fanout", "-c", 8, "--duration", 2, "--qos", 1)
        self.assert_accounted(d)

    def test_p2p_qos0(self):
        d = self.bench("p2p", "-c", 8, "--duration", 2, "--qos", 0)
        self.assertEqual((d["publishers"], d["subscribers"]), (8, 8))
        self.assert_accounted(d)

    def test_p2p_qos1(self):
        d = self.bench("p2p", "-c", 8, "--duration", 2, "--qos", 1)
        self.assert_accounted(d)

    def test_latency_at_a_low_rate(self):
        d = self.bench("latency", "--rate", 500, "--duration", 2, "--size", 32)
        self.assert_accounted(d)
        # About 1000 messages at 500 msg/s; the rate limiter is not timed here, only bounded.
        self.assertLessEqual(d["sent"], 1100)
        self.assertGreater(d["p50_us"], 0)
        self.assertLessEqual(d["p50_us"], d["p99_us"])
        self.assertLessEqual(d["p99_us"], d["p999_us"])

    def test_conn_holds_connections(self):
        d = self.bench("conn", "-c", 50, "--duration", 1)
        self.assertEqual(d["connected"], 50, json.dumps(d))
        self.assertEqual(d["connect_failures"], 0)

    def assert_storm(self, d, rate, filters):
        summary = json.dumps(d)
        self.assertEqual(d["storm_rate"], rate, summary)
        self.assertEqual(d["storm_filters"], filters, summary)
        self.assertEqual(d["storm_failures"], 0, summary)
        self.assertGreater(d["storm_clients"], 0, summary)
        # Paced, not timed: never more clients than the rate allows over the storm half.
        self.assertLessEqual(d["storm_clients"], rate * d["duration_s"] / 2 + 8, summary)
        self.assertGreater(d["storm_clients_per_sec"], 0, summary)
        self.assertGreater(d["storm_subscribe_p50_us"], 0, summary)
        self.assertLessEqual(d["storm_subscribe_p50_us"], d["storm_subscribe_p99_us"], summary)
        self.assertGreater(d["calm_msgs_per_sec"], 0, summary)
        self.assertGreater(d["storm_msgs_per_sec"], 0, summary)
        self.assertAlmostEqual(d["storm_ratio"], d["storm_msgs_per_sec"] / d["calm_msgs_per_sec"], places=3)
        # The two halves make up the whole window's deliveries.
        self.assertAlmostEqual((d["calm_msgs_per_sec"] + d["storm_msgs_per_sec"]) / 2, d["msgs_per_sec"],
                               delta=d["msgs_per_sec"] * 0.01 + 1)

    def test_fanin_storm_reports_both_rates(self):
        # 1.5 s undisturbed, then 1.5 s while 400 clients/s connect, subscribe to 10 filters
        # and disconnect: the fan-in still accounts for every message.
        d = self.bench("fanin", "-c", 4, "--duration", 1.5, "--storm", 400, "--broker-pid", self.broker.pid)
        self.assert_accounted(d)
        self.assertAlmostEqual(d["duration_s"], 3.0, delta=0.05)
        self.assert_storm(d, 400, 10)
        if not self.broker.flavor == "mosquitto":
            self.assertGreaterEqual(d["calm_broker_cpu_pct"], 0, json.dumps(d))
            self.assertGreaterEqual(d["storm_broker_cpu_pct"], 0, json.dumps(d))

    def test_storm_over_two_loops_mqtt5_qos1(self):
        d = self.bench("p2p", "-c", 4, "--qos", 1, "-V", 5, "--threads", 2, "--duration", 1,
                       "--storm", 300, "--storm-filters", 3)
        self.assert_accounted(d)
        self.assert_storm(d, 300, 3)

    def test_refused_connection_is_reported(self):
        d = self.bench("fanin", "-c", 2, "--duration", 1, expect_rc=1, port=free_port())
        self.assertEqual(d["connect_failures"], 3, json.dumps(d))
        self.assertIn("refused", d["error"].lower())


class BenchStormRefusedTest(BrokerTestCase):
    """A broker at its connection limit refuses every storm client: each is counted as a
    failure, the first reason is the run's error, and the exit status is 1."""

    broker_config = {"limits": {"max_connections": 3}}
    bench = BenchTest.bench

    def test_refused_storm_clients_are_reported(self):
        d = self.bench("fanin", "-c", 2, "--duration", 0.5, "--storm", 40, expect_rc=1)
        summary = json.dumps(d)
        self.assertEqual(d["connected"], 3, summary)
        self.assertEqual(d["storm_clients"], 0, summary)
        self.assertGreater(d["storm_failures"], 0, summary)
        self.assertIn("storm client", d["error"], summary)
        self.assertEqual(d["lost"], 0, summary)  # the fan-in itself went on undisturbed


class BenchLossTest(BrokerTestCase):
    """A subscriber queue far smaller than what 16 publishers keep in flight, and a broker told
    to drop what does not fit: it acknowledges messages it never delivers, and the report must
    say so: lost_acked, the acknowledged ones that never arrived."""

    LIMITS = {"max_queued_messages": 10, "max_inflight_messages": 2}

    def setUp(self):
        self.broker = self.start_broker({"limits": dict(self.LIMITS, queue_full_policy="drop")})
        self.port = self.broker.port

    bench = BenchTest.bench

    def test_fanin_qos1_reports_acknowledged_and_lost(self):
        d = self.bench("fanin", "-c", 16, "--qos", 1, "--inflight", 32, "--duration", 1.5)
        summary = json.dumps(d)
        self.assertEqual(d["error"], "", summary)
        self.assertGreater(d["sent"], 0, summary)
        self.assertEqual(d["acked"], d["sent"], summary)
        self.assertEqual(d["expected"], d["sent"], summary)
        self.assertEqual(d["duplicates"], 0, summary)
        self.assertGreater(d["lost"], 0, summary)
        self.assertEqual(d["received"] + d["lost"], d["expected"], summary)
        # Everything was acknowledged, so everything lost was lost after its acknowledgement.
        self.assertEqual(d["lost_acked"], d["lost"], summary)

    def test_fanin_qos1_loses_nothing_under_backpressure(self):
        # The same queue under the default policy: the publishers are held back instead.
        broker = self.start_broker({"limits": self.LIMITS})
        d = self.bench("fanin", "-c", 16, "--qos", 1, "--inflight", 32, "--duration", 1.5,
                       port=broker.port)
        summary = json.dumps(d)
        self.assertEqual(d["error"], "", summary)
        self.assertGreater(d["received"], 0, summary)
        self.assertEqual(d["lost"], 0, summary)
        self.assertEqual(d["lost_acked"], 0, summary)


if __name__ == "__main__":
    run_tests()
