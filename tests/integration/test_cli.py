#!/usr/bin/python3
"""The built-in command-line clients: `mqbase pub` and `mqbase sub`, with mosquitto_pub /
mosquitto_sub compatible flags (-h -p -t -m -q -l -f -r -i -k -C -v --will-*).

For the mosquitto flavor the same tests run Debian's mosquitto_pub / mosquitto_sub, which
validates the tests themselves. Two kinds of checks:
  * end to end through the broker under test, observed with paho;
  * against a fake server on a local socket, to read the exact CONNECT/SUBSCRIBE/PUBLISH a
    client sends (client id, keep-alive, will fields), and to answer with refusals and
    errors no real broker sends on demand.
CliErrors checks that every mistake and every error from the server ends the command with a
message on stderr and a non-zero exit status (mosquitto's conventions: 1, or the CONNACK code
when the connection is refused). Where mosquitto's clients do less (no check of an empty
topic, exit 0 after a refused PUBACK), the test is mqbase's own and skipped for mosquitto.
"""

import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (DISCONNECT, HOST, MOSQUITTO_PUB, MOSQUITTO_SUB,  # noqa: E402
                     PUBLISH, SUBSCRIBE, BrokerTestCase, FakeServer, _LIVE_PROCESSES,
                     connack_bytes, flavor, is_mosquitto, mqbase_binary, parse_connect, publish_packet,
                     run_tests, skip_if_mosquitto, stop_process, sync_marker, unique_id,
                     PUBACK, ack_packet)

RUN_TIMEOUT = 15


def pub_cmd():
    return [mqbase_binary(), "pub"] if flavor() == "mqbase" else [MOSQUITTO_PUB]


def sub_cmd():
    return [mqbase_binary(), "sub"] if flavor() == "mqbase" else [MOSQUITTO_SUB]


def run_pub(args, input=None, timeout=RUN_TIMEOUT):
    cmd = pub_cmd() + list(args)
    r = subprocess.run(cmd, input=input, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=timeout)
    if r.returncode != 0:
        raise AssertionError("%s exited %d\nstdout: %r\nstderr: %s"
                             % (" ".join(cmd), r.returncode, r.stdout,
                                r.stderr.decode(errors="replace")))
    return r


def run_cli(kind, args, input=None, timeout=RUN_TIMEOUT):
    """Run `pub` or `sub` to its end, whatever its exit status: (status, stdout, stderr text)."""
    cmd = (pub_cmd() if kind == "pub" else sub_cmd()) + list(args)
    r = subprocess.run(cmd, input=input, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=timeout)
    return r.returncode, r.stdout, r.stderr.decode(errors="replace")


class FakeServerRun:
    """A `pub` or `sub` command connected to a FakeServer: the test plays the server (accept(),
    then packets through the returned PacketStream), then finish() gives the command's exit
    status and stderr."""

    def __init__(self, test, kind, args, input=b""):
        self.srv = FakeServer()
        test.addCleanup(self.srv.close)
        self.cmd = (pub_cmd() if kind == "pub" else sub_cmd()) + [
            "-h", HOST, "-p", str(self.srv.port)] + list(args)
        stdin = tempfile.TemporaryFile()
        stdin.write(input)
        stdin.seek(0)
        self.proc = subprocess.Popen(self.cmd, stdin=stdin, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        stdin.close()
        _LIVE_PROCESSES.add(self.proc)
        test.addCleanup(self._cleanup)

    def accept(self):
        """The client's connection and its CONNECT (a dict, see parse_connect)."""
        conn = self.srv.accept()
        return conn, parse_connect(conn.read_packet())

    def finish(self, timeout=RUN_TIMEOUT):
        """(exit status, stderr text) once the command has ended by itself."""
        try:
            _, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError("%s still running after %.0f s" % (" ".join(self.cmd), timeout)) \
                from None
        return self.proc.returncode, err.decode(errors="replace")

    def _cleanup(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.communicate(timeout=5)
        _LIVE_PROCESSES.discard(self.proc)


class SubProcess:
    """A `sub` client running in the background; stdout lines go to a list."""

    def __init__(self, args):
        self.cmd = sub_cmd() + list(args)
        self.proc = subprocess.Popen(self.cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        _LIVE_PROCESSES.add(self.proc)
        self.lines = []
        self.cond = threading.Condition()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        self.stderr = b""

    def _read(self):
        for line in self.proc.stdout:
            with self.cond:
                self.lines.append(line)
                self.cond.notify_all()

    def wait_lines(self, n, timeout=5.0):
        with self.cond:
            if not self.cond.wait_for(lambda: len(self.lines) >= n, timeout):
                raise AssertionError("%s printed %r, expected %d lines"
                                     % (" ".join(self.cmd), self.lines, n))
            return list(self.lines)

    def wait_exit(self, timeout=5.0):
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError("%s still running after %.1f s; printed %r"
                                 % (" ".join(self.cmd), timeout, self.lines)) from None
        self.reader.join(5)
        self.stderr = self.proc.stderr.read()
        _LIVE_PROCESSES.discard(self.proc)
        return rc

    def kill9(self):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        return self.wait_exit()

    def close(self):
        stop_process(self.proc)


class Cli(BrokerTestCase):

    def base_args(self, port=None):
        return ["-h", HOST, "-p", str(port or self.port)]

    def sub_process(self, args):
        s = SubProcess(args)
        self.addCleanup(s.close)
        return s

    def publish_until(self, publisher, topic, payload, done, qos=1, timeout=10.0):
        """Publish `payload` every 100 ms until done() (e.g. the sub printed or exited): the
        way to know a command-line subscriber is subscribed without peeking inside it."""
        deadline = time.monotonic() + timeout
        while not done():
            self.assertLess(time.monotonic(), deadline, "subscriber never got %r" % payload)
            publisher.publish(topic, payload, qos=qos)
            time.sleep(0.1)  # pacing of the probe, not a wait for a result

    # ---- pub -------------------------------------------------------------------------------

    def test_pub_message_with_qos(self):
        watcher = self.paho()
        watcher.subscribe("t", 2)
        for qos in (0, 1, 2):
            with self.subTest(qos=qos):
                run_pub(self.base_args() + ["-t", "t", "-m", "hello", "-q", str(qos)])
                m = watcher.get()
                self.assertEqual((m.topic, m.payload, m.qos, m.retain), ("t", b"hello", qos, 0))

    def test_pub_lines_from_stdin(self):
        watcher = self.paho()
        watcher.subscribe("lines", 1)
        run_pub(self.base_args() + ["-t", "lines", "-l", "-q", "1"],
                input=b"one\ntwo words\nthree\n")
        got = watcher.get_many(3)
        self.assertEqual([(m.payload, m.qos) for m in got],
                         [(b"one", 1), (b"two words", 1), (b"three", 1)])
        self.assertEqual(sync_marker(watcher, watcher, "lines"), [])

    def test_pub_file(self):
        watcher = self.paho()
        watcher.subscribe("file", 1)
        content = bytes(range(256)) + b"\nsecond line\n\x00end"
        with tempfile.NamedTemporaryFile() as f:
            f.write(content)
            f.flush()
            run_pub(self.base_args() + ["-t", "file", "-f", f.name, "-q", "1"])
        m = watcher.get()
        self.assertEqual(m.payload, content)

    def test_pub_retained(self):
        run_pub(self.base_args() + ["-t", "kept", "-m", "sticky", "-q", "1", "-r"])
        late = self.paho()
        late.subscribe("kept", 1)
        m = late.get()
        self.assertEqual((m.topic, m.payload, m.qos, m.retain), ("kept", b"sticky", 1, 1))

    def test_pub_client_id_takes_over(self):
        cid = unique_id("cli")
        holder = self.raw()
        holder.connect(cid)
        run_pub(self.base_args() + ["-t", "t", "-m", "x", "-i", cid])
        # the broker closed the older connection with the same client id
        self.assertEqual(holder.wait_closed(), b"")

    def test_pub_will_not_sent_on_normal_exit(self):
        watcher = self.paho()
        watcher.subscribe("will/pub", 1)
        run_pub(self.base_args() + ["-t", "t", "-m", "x", "--will-topic", "will/pub",
                                    "--will-payload", "nope", "--will-qos", "1"])
        self.assertEqual(sync_marker(watcher, watcher, "will/pub"), [])

    def test_pub_connect_fields_on_the_wire(self):
        """-i, -k and --will-* end up in the CONNECT exactly; -q 1 publish with PUBACK."""
        srv = FakeServer()
        self.addCleanup(srv.close)
        proc = subprocess.Popen(pub_cmd() + self.base_args(srv.port) + [
            "-t", "a/b", "-m", "payload", "-q", "1", "-i", "cli-id-17", "-k", "17",
            "--will-topic", "w/t", "--will-payload", "wp", "--will-qos", "1", "--will-retain"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        _LIVE_PROCESSES.add(proc)
        try:
            conn = srv.accept()
            c = parse_connect(conn.read_packet())
            self.assertEqual(c["client_id"], "cli-id-17")
            self.assertEqual(c["keepalive"], 17)
            self.assertEqual(c["will"], {"topic": "w/t", "payload": b"wp", "qos": 1,
                                         "retain": 1})
            self.assertIn(c["protocol_level"], (4, 5))
            conn.send(connack_bytes(0) if c["protocol_level"] == 4
                      else b"\x20\x03\x00\x00\x00")
            p = conn.read_packet()
            self.assertEqual(p.type, PUBLISH)
            topic, payload, qos, retain, dup, pid = p.publish_fields()
            self.assertEqual((topic, payload, qos, retain), ("a/b", b"payload", 1, 0))
            conn.send(ack_packet(PUBACK, pid))
            p = conn.read_packet()
            self.assertEqual(p.type, DISCONNECT)
            self.assertEqual(proc.wait(RUN_TIMEOUT), 0)
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait(5)
            _LIVE_PROCESSES.discard(proc)
            proc.stdout.close()
            proc.stderr.close()

    # ---- sub -------------------------------------------------------------------------------

    def test_sub_count_verbose_prints_topic_and_payload(self):
        sub = self.sub_process(self.base_args() + ["-t", "t", "-C", "1", "-v"])
        pub = self.paho()
        self.publish_until(pub, "t", b"hello", lambda: sub.proc.poll() is not None)
        self.assertEqual(sub.wait_exit(), 0)
        self.assertEqual(sub.lines, [b"t hello\n"])

    def test_sub_prints_payload_only_without_v(self):
        sub = self.sub_process(self.base_args() + ["-t", "plain/+", "-C", "1"])
        pub = self.paho()
        self.publish_until(pub, "plain/x", b"just the payload",
                           lambda: sub.proc.poll() is not None)
        self.assertEqual(sub.wait_exit(), 0)
        self.assertEqual(sub.lines, [b"just the payload\n"])

    def test_sub_count_stops_after_n_messages(self):
        pub = self.paho()
        # a retained message tells us when the subscription is in place: it is printed first
        pub.publish("n", b"first", qos=1, retain=True)
        sub = self.sub_process(self.base_args() + ["-t", "n", "-C", "3", "-v", "-q", "1"])
        sub.wait_lines(1)
        for payload in (b"second", b"third", b"fourth"):
            pub.publish("n", payload, qos=1)
        self.assertEqual(sub.wait_exit(), 0)
        self.assertEqual(sub.lines, [b"n first\n", b"n second\n", b"n third\n"])

    def test_sub_retained_message(self):
        pub = self.paho()
        pub.publish("r/t", b"was here", qos=1, retain=True)
        sub = self.sub_process(self.base_args() + ["-t", "r/t", "-C", "1", "-v"])
        self.assertEqual(sub.wait_exit(), 0)
        self.assertEqual(sub.lines, [b"r/t was here\n"])

    def test_sub_will_published_when_killed(self):
        watcher = self.paho()
        watcher.subscribe("will/sub", 1)
        sub = self.sub_process(self.base_args() + [
            "-t", "alive", "-v", "-i", unique_id("ws"), "-k", "30",
            "--will-topic", "will/sub", "--will-payload", "sub died", "--will-qos", "1",
            "--will-retain"])
        pub = self.paho()
        self.publish_until(pub, "alive", b"ping", lambda: len(sub.lines) >= 1)
        sub.kill9()
        m = watcher.get()
        self.assertEqual((m.topic, m.payload, m.qos), ("will/sub", b"sub died", 1))
        late = self.paho()
        late.subscribe("will/sub", 1)
        m = late.get()
        self.assertEqual((m.payload, m.retain), (b"sub died", 1))

    def test_sub_will_not_sent_after_count_exit(self):
        watcher = self.paho()
        watcher.subscribe("will/none", 1)
        sub = self.sub_process(self.base_args() + [
            "-t", "once", "-C", "1", "--will-topic", "will/none", "--will-payload", "x"])
        pub = self.paho()
        self.publish_until(pub, "once", b"go", lambda: sub.proc.poll() is not None)
        self.assertEqual(sub.wait_exit(), 0)
        self.assertEqual(sync_marker(watcher, watcher, "will/none"), [])

    def test_sub_connect_and_subscribe_on_the_wire(self):
        srv = FakeServer()
        self.addCleanup(srv.close)
        sub = self.sub_process(self.base_args(srv.port) + [
            "-t", "x/#", "-q", "2", "-C", "1", "-v", "-i", "sub-id-5", "-k", "5",
            "--will-topic", "lw", "--will-payload", "gone", "--will-qos", "2"])
        conn = srv.accept()
        c = parse_connect(conn.read_packet())
        self.assertEqual((c["client_id"], c["keepalive"]), ("sub-id-5", 5))
        self.assertEqual(c["will"], {"topic": "lw", "payload": b"gone", "qos": 2, "retain": 0})
        v5 = c["protocol_level"] == 5
        conn.send(b"\x20\x03\x00\x00\x00" if v5 else connack_bytes(0))
        p = conn.read_packet()
        self.assertEqual((p.type, p.flags), (SUBSCRIBE, 2))
        pid = p.body[:2]
        rest = p.body[3:] if v5 else p.body[2:]  # v5: empty properties
        self.assertEqual(rest, b"\x00\x03x/#\x02")
        conn.send(b"\x90" + (b"\x04" + pid + b"\x00\x02" if v5 else b"\x03" + pid + b"\x02"))
        # (v5: an empty property block sits between topic and payload)
        conn.send(publish_packet("x/y", (b"\x00" if v5 else b"") + b"from fake", qos=0))
        self.assertEqual(sub.wait_exit(), 0)
        self.assertEqual(sub.lines, [b"x/y from fake\n"])


class CliErrors(BrokerTestCase):
    """A mistake on the command line, or an error from the server: a message on stderr and a
    non-zero exit status, never a silent exit 0."""

    MAX_PACKET = 256
    broker_config = {"limits": {"max_packet_size": MAX_PACKET}}

    def base_args(self):
        return ["-h", HOST, "-p", str(self.port)]

    def assert_fails(self, status, stderr, *phrases, expect_status=1):
        self.assertEqual(status, expect_status, "exit status; stderr: %s" % stderr)
        for phrase in phrases:
            self.assertIn(phrase, stderr)

    def assert_nothing_published(self, watcher):
        self.assertEqual(sync_marker(watcher, watcher, "marker/after"), [])

    # ---- mistakes, found before anything is sent -------------------------------------------

    def test_pub_refuses_wildcards_in_the_topic(self):
        watcher = self.paho()
        watcher.subscribe("#", 1)
        for topic in ("bad/#", "#", "a/+", "+", "a/b+"):
            with self.subTest(topic=topic):
                status, _, err = run_cli("pub", self.base_args() + ["-t", topic, "-m", "x"])
                self.assert_fails(status, err, "Invalid publish topic '%s'" % topic)
        self.assert_nothing_published(watcher)

    @skip_if_mosquitto("mosquitto_pub sends an empty topic (and the broker closes the connection)")
    def test_pub_refuses_an_empty_topic(self):
        status, _, err = run_cli("pub", self.base_args() + ["-t", "", "-m", "x"])
        self.assert_fails(status, err, "Invalid publish topic ''")
        status, _, err = run_cli("pub", self.base_args() + ["-t", "", "-l", "-q", "1"], input=b"x\n")
        self.assert_fails(status, err, "Invalid publish topic ''")

    def test_pub_and_sub_refuse_malformed_utf8(self):
        bad = b"a/\xff/b"
        status, _, err = run_cli("pub", self.base_args() + [b"-t", bad, b"-m", b"x"])
        self.assertEqual(status, 1, err)
        self.assertIn("malformed utf-8", err.lower())
        status, _, err = run_cli("sub", self.base_args() + [b"-t", bad, b"-W", b"2"])
        self.assertEqual(status, 1, err)
        self.assertIn("malformed utf-8", err.lower())

    @skip_if_mosquitto("mosquitto's clients call a long topic malformed UTF-8")
    def test_pub_and_sub_refuse_a_topic_over_65535_bytes(self):
        longest = "a" * 65535
        too_long = longest + "b"
        status, _, err = run_cli("pub", self.base_args() + ["-t", too_long, "-m", "x"])
        self.assert_fails(status, err, "Invalid publish topic", "65536 bytes", "at most 65535")
        status, _, err = run_cli("sub", self.base_args() + ["-t", too_long, "-W", "2"])
        self.assert_fails(status, err, "Invalid subscription topic", "65536 bytes")

    def test_pub_refuses_wildcards_in_the_will_topic(self):
        status, _, err = run_cli("pub", self.base_args() + [
            "-t", "ok", "-m", "x", "--will-topic", "w/#", "--will-payload", "gone"])
        self.assert_fails(status, err, "Invalid will topic 'w/#'")

    def test_sub_refuses_malformed_filters(self):
        for topic in ("a/#/b", "a+", "a/b#", "#/a", "a/+b/c"):
            with self.subTest(filter=topic):
                status, _, err = run_cli("sub", self.base_args() + ["-t", topic, "-W", "2"])
                self.assert_fails(status, err, "Invalid subscription topic '%s'" % topic)
        # one bad filter among good ones refuses the whole command
        status, _, err = run_cli("sub", self.base_args() + ["-t", "ok/#", "-t", "a/#/b", "-W", "2"])
        self.assert_fails(status, err, "Invalid subscription topic 'a/#/b'")

    @skip_if_mosquitto("mosquitto_sub sends these to the broker")
    def test_sub_refuses_malformed_shared_subscriptions(self):
        for topic in ("$share/g", "$share/g/", "$share//a", "$share/g+/a", "$share/g#/a",
                      "$share/g/a/#/b", ""):
            with self.subTest(filter=topic):
                status, _, err = run_cli("sub", self.base_args() + ["-t", topic, "-W", "2"])
                self.assertEqual(status, 1, err)
                self.assertRegex(err, r"Invalid (shared subscription|subscription topic) '%s'"
                                 % re.escape(topic))

    # ---- the server says no -----------------------------------------------------------------

    @skip_if_mosquitto("mosquitto accepts a 3.1 client id of 24 characters")
    def test_connack_refusal_exits_with_the_return_code(self):
        cid = "x" * 24  # MQTT 3.1 allows 1 to 23 characters
        status, _, err = run_cli("pub", self.base_args() + ["-V", "31", "-i", cid, "-t", "t", "-m", "x"])
        self.assert_fails(status, err, "connection refused", "identifier rejected", expect_status=2)
        status, _, err = run_cli("sub", self.base_args() + ["-V", "31", "-i", cid, "-t", "t", "-W", "5"])
        self.assert_fails(status, err, "connection refused", "identifier rejected", expect_status=2)

    def test_connack_refusal_from_a_fake_server(self):
        for kind, args in (("pub", ["-t", "t", "-m", "x"]), ("sub", ["-t", "t"])):
            with self.subTest(kind=kind):
                run = FakeServerRun(self, kind, args)
                conn, _ = run.accept()
                conn.send(connack_bytes(5))  # not authorized
                status, err = run.finish()
                self.assertEqual(status, 5, err)
                self.assertIn("connection refused", err.lower())
                self.assertIn("not authori", err.lower())

    @skip_if_mosquitto("mosquitto_sub goes on after a refused subscription")
    def test_suback_failure(self):
        run = FakeServerRun(self, "sub", ["-t", "ok/1", "-t", "denied/#", "-q", "1"])
        conn, _ = run.accept()
        conn.send(connack_bytes(0))
        p = conn.read_packet()
        self.assertEqual(p.type, SUBSCRIBE)
        conn.send(b"\x90\x04" + p.body[:2] + b"\x01\x80")
        status, err = run.finish()
        self.assert_fails(status, err, "'denied/#'", "refused", "0x80")

    @skip_if_mosquitto("mosquitto_pub does not wait for a QoS 0 message to be taken")
    def test_connection_closed_after_a_qos0_publish(self):
        """A server that closes the connection at a QoS 0 PUBLISH has refused it: the
        publisher must notice before it reports success."""
        run = FakeServerRun(self, "pub", ["-t", "t", "-m", "x"])
        conn, _ = run.accept()
        conn.send(connack_bytes(0))
        self.assertEqual(conn.read_packet().type, PUBLISH)
        conn.close()
        status, err = run.finish()
        self.assert_fails(status, err, "connection closed by server")

    def test_connection_closed_before_connack(self):
        kinds = [("pub", ["-t", "t", "-m", "x"])]
        if not is_mosquitto():  # mosquitto_sub connects again, and again
            kinds.append(("sub", ["-t", "t"]))
        for kind, args in kinds:
            with self.subTest(kind=kind):
                run = FakeServerRun(self, kind, args)
                conn, _ = run.accept()
                conn.close()
                status, err = run.finish()
                self.assertNotEqual(status, 0, err)
                self.assertIn("connection", err.lower())

    @skip_if_mosquitto("mosquitto_pub reports success whatever a QoS 0 PUBLISH did")
    def test_pub_qos0_to_a_broker_that_refuses_the_packet(self):
        """The broker closes the connection at a PUBLISH above limits.max_packet_size (3.1.1
        has no DISCONNECT from the server): exit 1, and the message is not delivered."""
        watcher = self.paho()
        watcher.subscribe("big", 1)
        status, _, err = run_cli("pub", self.base_args() + ["-t", "big", "-m", "x" * (2 * self.MAX_PACKET)])
        self.assert_fails(status, err, "connection closed by server")
        self.assertEqual(sync_marker(watcher, watcher, "big"), [])

    @skip_if_mosquitto("mosquitto_pub -l goes on after the broker closed the connection")
    def test_pub_lines_stop_at_an_error(self):
        """-l: the second line is too large; the broker closes the connection there and the
        command exits 1. The line after it is never delivered."""
        lines = b"one\n" + b"x" * (2 * self.MAX_PACKET) + b"\nthree\n"
        for qos in ("0", "1"):
            with self.subTest(qos=qos):
                watcher = self.paho()
                watcher.subscribe("lines/" + qos, 1)
                status, _, err = run_cli("pub", self.base_args() + ["-t", "lines/" + qos, "-l", "-q", qos],
                                         input=lines)
                self.assertEqual(status, 1, err)
                self.assertIn("connection closed by server", err)
                self.assertEqual([m.payload for m in watcher.get_many(1)], [b"one"])
                self.assertEqual(sync_marker(watcher, watcher, "lines/" + qos), [])


if __name__ == "__main__":
    run_tests()
