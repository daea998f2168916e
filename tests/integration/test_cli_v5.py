#!/usr/bin/python3
"""`mqbase pub` / `mqbase sub` with MQTT 5: -V 5, user properties, response topic,
correlation data, content type, message expiry, session expiry, --print-properties, and
shared subscriptions through `-t '$share/...'`. Observed end to end with paho v5 clients.
CliV5Errors: every MQTT 5 reason code the server answers with (CONNACK, PUBACK, PUBREC,
SUBACK, DISCONNECT) is printed with its name, code and reason string, and ends the command
with a non-zero exit status; 0x10 No matching subscribers is no error.
mqbase's own flags; skipped for the mosquitto flavor (mosquitto's clients spell them -D)."""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (HOST, PUBACK, PUBCOMP, PUBLISH, PUBREC, PUBREL, REASON_STRING,  # noqa: E402
                     SUBSCRIBE, V5TestCase,
                     ack5_packet, disconnect5_packet, encode_props, packet, run_tests,
                     skip_if_mosquitto, sync_marker, unique_topic)
from test_cli import FakeServerRun, SubProcess, run_cli, run_pub  # noqa: E402

CONNACK5_OK = b"\x20\x03\x00\x00\x00"


def connack5(reason, reason_string=None):
    props = [(REASON_STRING, reason_string)] if reason_string else []
    return packet(0x20, b"\x00" + bytes([reason]) + encode_props(props))


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


@skip_if_mosquitto("mqbase's own MQTT 5 flags")
class CliV5Errors(V5TestCase):
    """The server's MQTT 5 errors, each on stderr with its reason code, and a non-zero exit."""

    MAX_PACKET = 256
    broker_config = {"limits": {"max_packet_size": MAX_PACKET}}

    def base(self):
        return ["-h", HOST, "-p", str(self.port)]

    def connected(self, kind, args, input=b""):
        """A v5 `kind` command connected to a fake server that accepted it."""
        run = FakeServerRun(self, kind, ["-V", "5"] + args, input=input)
        conn, connect = run.accept()
        self.assertEqual(connect["protocol_level"], 5)
        conn.send(CONNACK5_OK)
        return run, conn

    def test_connack_refusal_exits_with_the_reason_code(self):
        for kind, args in (("pub", ["-t", "t", "-m", "x"]), ("sub", ["-t", "t"])):
            with self.subTest(kind=kind):
                run = FakeServerRun(self, kind, ["-V", "5"] + args)
                conn, _ = run.accept()
                conn.send(connack5(0x87, "no access from here"))
                status, err = run.finish()
                self.assertEqual(status, 0x87, err)
                self.assertIn("connection refused: not authorized (0x87): no access from here", err)

    def test_puback_with_an_error_reason_code(self):
        for reason, name in ((0x87, "not authorized"), (0x90, "topic name invalid"),
                             (0x97, "quota exceeded"), (0x80, "unspecified error")):
            with self.subTest(reason=hex(reason)):
                run, conn = self.connected("pub", ["-t", "t", "-m", "x", "-q", "1"])
                p = conn.read_packet()
                self.assertEqual(p.type, PUBLISH)
                conn.send(ack5_packet(PUBACK, p.publish_head()[2], reason, [(REASON_STRING, "see ACL")]))
                status, err = run.finish()
                self.assertEqual(status, 1, err)
                self.assertIn("publish to 't' refused: %s (0x%02X): see ACL" % (name, reason), err)

    def test_puback_no_matching_subscribers_is_success(self):
        run, conn = self.connected("pub", ["-t", "t", "-m", "x", "-q", "1"])
        p = conn.read_packet()
        conn.send(ack5_packet(PUBACK, p.publish_head()[2], 0x10))
        status, err = run.finish()
        self.assertEqual((status, err), (0, ""))

    def test_pubrec_with_an_error_reason_code(self):
        run, conn = self.connected("pub", ["-t", "t", "-m", "x", "-q", "2"])
        p = conn.read_packet()
        conn.send(ack5_packet(PUBREC, p.publish_head()[2], 0x97))
        status, err = run.finish()
        self.assertEqual(status, 1, err)
        self.assertIn("publish to 't' refused: quota exceeded (0x97)", err)
        self.assertEqual(conn.wait_closed(), b"", "no PUBREL after a refused PUBREC")

    def test_pubcomp_with_an_error_reason_code(self):
        run, conn = self.connected("pub", ["-t", "t", "-m", "x", "-q", "2"])
        pid = conn.read_packet().publish_head()[2]
        conn.send(ack5_packet(PUBREC, pid))
        self.assertEqual(conn.read_packet().type, PUBREL)
        conn.send(ack5_packet(PUBCOMP, pid, 0x92))
        status, err = run.finish()
        self.assertEqual(status, 1, err)
        self.assertIn("packet identifier not found (0x92)", err)

    def test_suback_with_an_error_reason_code(self):
        run, conn = self.connected("sub", ["-t", "ok", "-t", "secret/#", "-q", "1"])
        p = conn.read_packet()
        self.assertEqual(p.type, SUBSCRIBE)
        body = p.body[:2] + encode_props([(REASON_STRING, "ACL")]) + b"\x01\x87"
        conn.send(packet(0x90, body))
        status, err = run.finish()
        self.assertEqual(status, 1, err)
        self.assertIn("subscription to 'secret/#' refused: not authorized (0x87): ACL", err)

    def test_disconnect_from_the_server(self):
        run, conn = self.connected("sub", ["-t", "t"])
        p = conn.read_packet()
        self.assertEqual(p.type, SUBSCRIBE)
        conn.send(packet(0x90, p.body[:2] + b"\x00\x00"))
        conn.send(disconnect5_packet(0x98, [(REASON_STRING, "maintenance")]))
        status, err = run.finish()
        self.assertEqual(status, 1, err)
        self.assertIn("disconnected by server: administrative action (0x98): maintenance", err)

    def test_pub_lines_stop_at_a_refused_puback(self):
        """-l -q 1: the second line is refused; the third is never sent."""
        run, conn = self.connected("pub", ["-t", "t", "-l", "-q", "1"], input=b"a\nb\nc\n")
        conn.send(ack5_packet(PUBACK, conn.read_packet().publish_head()[2]))
        conn.send(ack5_packet(PUBACK, conn.read_packet().publish_head()[2], 0x97))
        status, err = run.finish()
        self.assertEqual(status, 1, err)
        self.assertIn("quota exceeded (0x97)", err)
        self.assertEqual(conn.wait_closed(), b"", "nothing sent after the refusal")

    def test_disconnect_packet_too_large_from_the_broker(self):
        """A payload above limits.max_packet_size: the broker sends DISCONNECT 0x95, at QoS 0
        too (where no acknowledgement would tell), and with -l the lines after it are not sent."""
        topic = unique_topic("cli5big")
        watcher = self.paho5()
        watcher.subscribe(topic + "/#", qos=1)
        big = "x" * (2 * self.MAX_PACKET)
        for qos in ("0", "1", "2"):
            with self.subTest(qos=qos):
                status, _, err = run_cli("pub", self.base() + ["-V", "5", "-t", topic + "/m", "-m", big, "-q", qos])
                self.assertEqual(status, 1, err)
                self.assertIn("disconnected by server: packet too large (0x95)", err)
                status, _, err = run_cli("pub", self.base() + ["-V", "5", "-t", topic + "/l" + qos, "-l", "-q", qos],
                                         input=b"one\n" + big.encode() + b"\nthree\n")
                self.assertEqual(status, 1, err)
                self.assertIn("packet too large (0x95)", err)
                self.assertEqual(watcher.get().payload, b"one")
        self.assertEqual(sync_marker(watcher, watcher, topic + "/marker"), [])


if __name__ == "__main__":
    run_tests()
