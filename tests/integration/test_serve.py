#!/usr/bin/python3
"""`mqbase serve` itself: configuration errors stop it before it starts (naming the file, line
and key), flags override the file, SIGINT stops it cleanly with status 0, the data directory
and the ready file. mqbase only (mosquitto has its own configuration language)."""

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import HOST, free_port, is_mosquitto, mqbase_binary, run_tests, varint  # noqa: E402

TIMEOUT = 10


def connack_of(port, client_id=b"serve-test"):
    """CONNECT on a raw socket; return the 4 CONNACK bytes."""
    body = b"\x00\x04MQTT\x04\x02\x00\x3c" + len(client_id).to_bytes(2, "big") + client_id
    with socket.create_connection((HOST, port), timeout=TIMEOUT) as s:
        s.sendall(bytes([0x10, len(body)]) + body)
        data = b""
        while len(data) < 4:
            chunk = s.recv(4 - len(data))
            if not chunk:
                break
            data += chunk
        return data


@unittest.skipIf(is_mosquitto(), "mqbase's own configuration and flags")
class Serve(unittest.TestCase):

    def setUp(self):
        self.dir = tempfile.TemporaryDirectory(prefix="mqbase-serve-")
        self.addCleanup(self.dir.cleanup)

    def path(self, name):
        return os.path.join(self.dir.name, name)

    def write(self, name, text):
        with open(self.path(name), "w") as f:
            f.write(text)
        return self.path(name)

    def run_serve(self, args):
        return subprocess.run([mqbase_binary(), "serve"] + args, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, timeout=TIMEOUT)

    def start(self, args):
        ready = self.path("ready.json")
        proc = subprocess.Popen([mqbase_binary(), "serve", "--ready-file", ready] + args,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        def cleanup():
            if proc.poll() is None:
                proc.kill()
            proc.wait(TIMEOUT)
            proc.stderr.close()
        self.addCleanup(cleanup)
        deadline = time.monotonic() + TIMEOUT
        while not os.path.exists(ready):
            if proc.poll() is not None:
                self.fail("mqbase exited: %s" % proc.stderr.read().decode())
            self.assertLess(time.monotonic(), deadline, "no ready file")
            time.sleep(0.02)
        with open(ready) as f:
            return proc, json.load(f)

    def assert_config_error(self, toml, *expected):
        cfg = self.write("bad.toml", toml)
        r = self.run_serve(["--config", cfg, "--data-dir", self.path("data")])
        err = r.stderr.decode()
        self.assertEqual(r.returncode, 2, err)
        for e in expected:
            self.assertIn(e, err)
        self.assertFalse(os.path.exists(self.path("data")), "nothing is started or created")

    def test_unknown_key_names_the_key_and_line(self):
        self.assert_config_error("[limits]\nmax_queued_messages = 10\nmax_queued = 5\n",
                                 "bad.toml:3:", "limits.max_queued", "unknown key")

    def test_bad_value_names_the_key_and_line(self):
        self.assert_config_error("[[listener]]\nbind = \"127.0.0.1\"\nport = 70000\n",
                                 "bad.toml:3:", "listener.port", "between 0 and 65535")

    def test_wrong_type_and_unknown_section(self):
        self.assert_config_error("[sys]\ninterval = \"often\"\n", "bad.toml:2:", "sys.interval", "integer")
        self.assert_config_error("\n[limts]\n", "bad.toml:2:", "limts", "unknown section")

    def test_toml_syntax_error_names_the_line(self):
        self.assert_config_error("[server]\nthreads = = 2\n", "bad.toml:2:")

    def test_missing_config_file(self):
        r = self.run_serve(["--config", self.path("nope.toml")])
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("nope.toml", r.stderr.decode())

    def test_flags_override_the_file_and_ready_file_tells_the_port(self):
        cfg = self.write("ok.toml", "[[listener]]\nbind = \"127.0.0.1\"\nport = 1\n[server]\nthreads = 1\n")
        port = free_port()
        proc, ready = self.start(["--config", cfg, "--port", str(port), "--data-dir", self.path("data")])
        self.assertEqual(ready["pid"], proc.pid)
        self.assertEqual(ready["listeners"], [{"bind": "127.0.0.1", "port": port}])
        self.assertTrue(os.path.isdir(self.path("data")), "the data directory is created")
        self.assertEqual(connack_of(port), b"\x20\x02\x00\x00")
        proc.send_signal(signal.SIGTERM)
        self.assertEqual(proc.wait(TIMEOUT), 0)

    def test_sigint_stops_cleanly_with_clients_connected(self):
        proc, ready = self.start(["--port", "0", "--data-dir", self.path("data")])
        port = ready["listeners"][0]["port"]
        held = socket.create_connection((HOST, port), timeout=TIMEOUT)
        self.addCleanup(held.close)
        body = b"\x00\x04MQTT\x04\x02\x00\x3c\x00\x04held"
        held.sendall(bytes([0x10, len(body)]) + body)
        self.assertEqual(held.recv(4), b"\x20\x02\x00\x00")
        proc.send_signal(signal.SIGINT)
        self.assertEqual(proc.wait(TIMEOUT), 0)
        self.assertEqual(held.recv(16), b"", "the server closed the client's connection")
        err = proc.stderr.read().decode()
        self.assertNotIn("runtime error:", err)
        self.assertNotIn("AddressSanitizer", err)

    def test_stop_does_not_wait_for_ever_on_a_client_that_stopped_reading(self):
        # A subscriber that never reads: its socket and the broker's write buffer for it fill
        # up, so the server's goodbye can never be written. The server still exits, after a
        # grace period of 2 s, with status 0.
        proc, ready = self.start(["--port", "0", "--data-dir", self.path("data")])
        port = ready["listeners"][0]["port"]

        def connect(client_id, rcvbuf=None):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            if rcvbuf:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            sock.settimeout(TIMEOUT)
            sock.connect((HOST, port))
            self.addCleanup(sock.close)
            body = b"\x00\x04MQTT\x04\x02\x00\x3c" + len(client_id).to_bytes(2, "big") + client_id
            sock.sendall(bytes([0x10]) + varint(len(body)) + body)
            self.assertEqual(sock.recv(4), b"\x20\x02\x00\x00")
            return sock

        stalled = connect(b"stalled", rcvbuf=4096)
        topic = b"stall/t"
        sub = b"\x00\x01" + len(topic).to_bytes(2, "big") + topic + b"\x00"
        stalled.sendall(bytes([0x82]) + varint(len(sub)) + sub)
        self.assertEqual(stalled.recv(5), b"\x90\x03\x00\x01\x00")
        publisher = connect(b"flooder")
        body = len(topic).to_bytes(2, "big") + topic + b"x" * 65536
        packet = bytes([0x30]) + varint(len(body)) + body
        for _ in range(100):  # 6.5 MB: more than the socket buffers and the 1 MiB write limit
            publisher.sendall(packet)
        # A PINGREQ answered means every PUBLISH before it was handled.
        publisher.sendall(b"\xc0\x00")
        self.assertEqual(publisher.recv(2), b"\xd0\x00")
        began = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        self.assertEqual(proc.wait(TIMEOUT), 0)
        self.assertLess(time.monotonic() - began, 6.0)
        err = proc.stderr.read().decode()
        self.assertNotIn("runtime error:", err)
        self.assertNotIn("AddressSanitizer", err)

    def test_port_in_use_is_a_clear_error(self):
        blocker = socket.socket()
        self.addCleanup(blocker.close)
        blocker.bind((HOST, 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        r = self.run_serve(["--port", str(port), "--data-dir", self.path("data")])
        self.assertEqual(r.returncode, 1)
        self.assertIn("cannot listen on 127.0.0.1:%d" % port, r.stderr.decode())


if __name__ == "__main__":
    run_tests()
