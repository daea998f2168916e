#!/usr/bin/python3
"""The broker driven by MQTT.js, the client most Node applications use.

MQTT.js behaves unlike paho or mosquitto_pub: an application's publish() calls all go to the
socket at once, without waiting for acknowledgements and without honouring the server's
Receive Maximum, so the broker sees a whole burst from one client. tests/js/burst.js runs one
subscriber and one publisher (see its header) and reports what arrived; each test here runs
it against its own broker and checks that every message arrived exactly once, in order.

Before backpressure (issue 9) the broker dropped what overflowed the subscriber's queue
although every publish had been acknowledged: the tiny-queue test got 80 to 95 of 2,000
messages through, and even the default queue of 1,000 let only 1,080 to 1,180 through.

MQTT.js lives in tests/js/node_modules, installed by scripts/setup.sh (`npm ci` in tests/js);
these tests fail, and say so, when node or that install is missing.
"""

import json
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BrokerTestCase, run_tests, skip_if_mosquitto, unique_topic  # noqa: E402

JS_DIR = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "js"))
BURST = os.path.join(JS_DIR, "burst.js")
COUNT = 2000
# burst.js bounds its own waits (60 s for the acknowledgements, 30 s for the deliveries);
# this only catches a node process that hangs anyway.
NODE_TIMEOUT = 150


def node_binary():
    """node, or a failure that says how to install it (CI's setup.sh always does)."""
    node = shutil.which("node")
    if node is None:
        raise AssertionError("node is not on PATH: run scripts/setup.sh (it installs Debian's "
                             "nodejs and npm, then MQTT.js into tests/js/node_modules)")
    if not os.path.isfile(os.path.join(JS_DIR, "node_modules", "mqtt", "package.json")):
        raise AssertionError("MQTT.js is not installed in %s/node_modules: run "
                             "scripts/setup.sh (it runs `npm ci` there)" % JS_DIR)
    return node


class MqttJsTestCase(BrokerTestCase):

    def setUp(self):
        self.node = node_binary()  # before a broker starts, so a missing install fails fast
        super().setUp()

    def burst(self, protocol, pub_qos=1, sub_qos=2, count=COUNT, reconnect_after=0):
        """Run burst.js against this test's broker; its JSON result as a dict."""
        cmd = [self.node, BURST, "--port", str(self.port), "--protocol", str(protocol),
               "--count", str(count), "--pub-qos", str(pub_qos), "--sub-qos", str(sub_qos),
               "--topic", unique_topic("mqttjs")]
        if reconnect_after:
            cmd += ["--reconnect-after", str(reconnect_after)]
        r = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=NODE_TIMEOUT, cwd=JS_DIR)
        out = r.stdout.decode("utf-8", "replace")
        err = r.stderr.decode("utf-8", "replace")
        self.assertEqual(r.returncode, 0, "burst.js exited %d\nstdout: %s\nstderr: %s"
                         % (r.returncode, out, err))
        lines = out.strip().splitlines()
        self.assertTrue(lines, "burst.js printed nothing; stderr: %s" % err)
        return json.loads(lines[-1])

    def assert_exactly_once_in_order(self, result, count=COUNT):
        self.assertEqual(result["errors"], [], result)
        self.assertEqual(result["published"], count, result)
        self.assertEqual((result["received"], result["distinct"], result["duplicates"]),
                         (count, count, 0), result)
        self.assertTrue(result["in_order"], result)


class MqttJsBurst(MqttJsTestCase):

    def test_v311_burst_of_qos1_publishes_arrives_once_in_order(self):
        self.assert_exactly_once_in_order(self.burst(protocol=4))

    def test_v5_burst_of_qos1_publishes_arrives_once_in_order(self):
        self.assert_exactly_once_in_order(self.burst(protocol=5))


class MqttJsTinyQueue(MqttJsTestCase):
    # 50 queued and 5 in flight: a 2,000-message burst overflows the subscriber's queue at once.
    broker_config = {"limits": {"max_queued_messages": 50, "max_inflight_messages": 5}}

    @skip_if_mosquitto("a connected subscriber's full queue drops messages (85 of 2,000 arrive)")
    def test_burst_through_a_tiny_queue_loses_nothing(self):
        for protocol in (4, 5):
            with self.subTest(protocol=protocol):
                self.assert_exactly_once_in_order(self.burst(protocol=protocol))


class MqttJsSessionResume(MqttJsTestCase):
    # While the subscriber is away its session queues the burst; an offline session's full
    # queue drops by design, so make room for the whole burst: this test is about the resume.
    broker_config = {"limits": {"max_queued_messages": 5000}}

    def test_v5_subscriber_reconnecting_mid_stream_gets_every_message(self):
        # The subscriber (clean: false, Session Expiry Interval 300) loses its connection
        # after 500 messages and MQTT.js reconnects it. Messages it had not acknowledged come
        # again, with DUP set; nothing may be missing, and first copies keep their order.
        result = self.burst(protocol=5, pub_qos=1, sub_qos=1, reconnect_after=500)
        self.assertEqual(result["errors"], [], result)
        self.assertEqual(result["published"], COUNT, result)
        self.assertGreaterEqual(result["reconnects"], 1, result)
        self.assertEqual(result["distinct"], COUNT, result)
        self.assertEqual(result["duplicates_without_dup"], 0, result)
        self.assertTrue(result["in_order"], result)


if __name__ == "__main__":
    run_tests()
