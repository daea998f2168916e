#!/usr/bin/python3
"""`mqbase pub` / `mqbase sub` with MQTT 5: -V 5, user properties, response topic,
correlation data, content type, message expiry, session expiry, --print-properties, and
shared subscriptions through `-t '$share/...'`. Observed end to end with paho v5 clients.
mqbase's own flags; skipped for the mosquitto flavor (mosquitto's clients spell them -D)."""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import HOST, V5TestCase, flavor, run_tests, skip_if_mosquitto, unique_topic  # noqa: E402
from test_cli import SubProcess, run_pub  # noqa: E402


@skip_if_mosquitto("mqbase's own MQTT 5 flags")
class CliV5(V5TestCase):

    def base(self):
        return ["-h", HOST, "-p", str(self.port)]

    def sub_process(self, args):
        s = SubProcess(args)
        self.addCleanup(s.close)
        return s

    def wait_subscribed(self, topic, sub, qos=1, timeout=10.0):
        """Publish probes until the command-line subscriber printed one."""
        probe = self.paho5()
        deadline = time.monotonic() + timeout
        while not sub.lines:
            self.assertLess(time.monotonic(), deadline, "the subscriber never got a probe")
            probe.publish(topic, b"probe", qos=qos)
            time.sleep(0.1)  # pacing of the probe, not a wait for a result

    def test_pub_v5_properties_reach_a_v5_subscriber(self):
        topic = unique_topic("clipub5")
        watcher = self.paho5()
        watcher.subscribe(topic, qos=1)
        run_pub(self.base() + ["-V", "5", "-t", topic, "-m", "hello", "-q", "1",
                               "--user-property", "unit=C", "--user-property", "unit=K",
                               "--user-property", "site=plant 1",
                               "--response-topic", "reply/me", "--correlation-data", "req-7",
                               "--content-type", "text/plain", "-e", "300"])
        m = watcher.get()
        self.assertEqual((m.topic, m.payload, m.qos), (topic, b"hello", 1))
        self.assertEqual(m.props.get("UserProperty"), [("unit", "C"), ("unit", "K"), ("site", "plant 1")])
        self.assertEqual(m.props.get("ResponseTopic"), "reply/me")
        self.assertEqual(m.props.get("CorrelationData"), b"req-7")
        self.assertEqual(m.props.get("ContentType"), "text/plain")
        self.assertTrue(0 < m.props.get("MessageExpiryInterval") <= 300)

    def test_sub_print_properties(self):
        topic = unique_topic("clisub5")
        sub = self.sub_process(self.base() + ["-V", "5", "-t", topic, "-v", "-q", "1",
                                              "--print-properties"])
        self.wait_subscribed(topic, sub)
        pub = self.paho5()
        pub.publish(topic, b"ask", qos=1, props={"ResponseTopic": "r/1", "CorrelationData": b"c1",
                                                 "UserProperty": [("a", "1")]})
        lines = sub.wait_lines(2)
        self.assertEqual(lines[-1].decode().rstrip("\n"),
                         "%s ask [a=1, response-topic=r/1, correlation-data=c1]" % topic)

    def test_message_expiry_drops_a_queued_message(self):
        topic = unique_topic("cliexp")
        # A persistent v5 session that goes away, then a message that expires before it returns.
        s = self.paho5("cli-exp", clean_start=True, session_expiry=60)
        s.subscribe(topic, qos=1)
        s.disconnect()
        run_pub(self.base() + ["-V", "5", "-t", topic, "-m", "short", "-q", "1", "-e", "1"])
        run_pub(self.base() + ["-V", "5", "-t", topic, "-m", "long", "-q", "1", "-e", "60"])
        time.sleep(2.2)  # nothing on the wire says a message expired
        back = self.paho5("cli-exp", clean_start=False, session_expiry=60)
        self.assertEqual(back.get().payload, b"long")
        self.assertTrue(back.messages.empty())

    def test_session_expiry_flag_keeps_the_session(self):
        topic = unique_topic("clisx")
        sub = self.sub_process(self.base() + ["-V", "5", "-i", "cli-sx", "-c", "-x", "60", "-t", topic,
                                              "-q", "1", "-C", "1"])
        self.wait_subscribed(topic, sub)
        self.assertEqual(sub.wait_exit(), 0)
        run_pub(self.base() + ["-t", topic, "-m", "while away", "-q", "1"])
        again = self.sub_process(self.base() + ["-V", "5", "-i", "cli-sx", "-c", "-x", "60", "-t", topic,
                                                "-q", "1", "-C", "1"])
        self.assertEqual(again.wait_exit(), 0)
        self.assertEqual(again.lines, [b"while away\n"])

    def test_shared_subscription_from_the_command_line(self):
        topic = unique_topic("clishare")
        a = self.sub_process(self.base() + ["-V", "5", "-t", "$share/g/" + topic, "-q", "1"])
        b = self.sub_process(self.base() + ["-t", "$share/g/" + topic, "-q", "1"])  # a 3.1.1 member
        pub = self.paho5()
        # Until both members have printed something, keep publishing probes.
        deadline = time.monotonic() + 10
        while not (a.lines and b.lines):
            self.assertLess(time.monotonic(), deadline, "both members should get messages")
            pub.publish(topic, b"probe", qos=1)
            time.sleep(0.05)
        before = len(a.lines) + len(b.lines)
        for i in range(10):
            pub.publish(topic, b"job %d" % i, qos=1)
        deadline = time.monotonic() + 10
        while len(a.lines) + len(b.lines) < before + 10:
            self.assertLess(time.monotonic(), deadline, "each job goes to one member")
            time.sleep(0.05)
        time.sleep(0.3)  # a duplicate would arrive within this
        jobs = [l for l in a.lines + b.lines if l.startswith(b"job")]
        self.assertEqual(sorted(jobs), sorted(b"job %d\n" % i for i in range(10)))

    def test_v5_flags_without_v5_are_refused(self):
        import subprocess
        from harness import mqbase_binary
        r = subprocess.run([mqbase_binary(), "pub"] + self.base() + ["-t", "x", "-m", "y", "--user-property", "a=b"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=10)
        self.assertEqual(r.returncode, 1)
        self.assertIn(b"-V 5", r.stderr)


if __name__ == "__main__":
    run_tests()
