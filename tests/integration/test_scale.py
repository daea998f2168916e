#!/usr/bin/python3
"""1,000 clients connected at once (raw sockets + selectors), all subscribed to one topic;
one publish reaches all of them."""

import os
import selectors
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (HOST, BrokerTestCase, PacketStream, ack_packet, connack_bytes,  # noqa: E402
                     connect_packet, raise_nofile_limit, run_tests, subscribe_packet,
                     unique_id, unique_topic, PUBACK, PUBLISH)

N = 1000
WAVE = 100          # connect in waves so the listen backlog never overflows
TOTAL_BUDGET = 30.0  # seconds for the whole test


def setUpModule():
    limit = raise_nofile_limit()  # before the broker starts, so it inherits it too
    if limit < N + 200:
        raise AssertionError("RLIMIT_NOFILE %d is too low for %d clients" % (limit, N))


class Many:
    """N raw MQTT connections driven together through one selector."""

    def __init__(self, port):
        self.port = port
        self.streams = []
        self.sel = selectors.DefaultSelector()

    def open(self, count, deadline):
        new = []
        for _ in range(count):
            s = socket.create_connection((HOST, self.port), timeout=5)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            st = PacketStream(s)
            st.client_id = unique_id("n")
            s.sendall(connect_packet(st.client_id, keepalive=120))
            new.append(st)
        self.streams.extend(new)
        got = self.collect(new, lambda st: len(st.buf) >= 4, deadline, "CONNACK")
        for st in new:
            if st.buf[:4] != connack_bytes(0):
                raise AssertionError("client %s: CONNACK %r" % (st.client_id, st.buf[:4]))
            st.buf = st.buf[4:]
        return got

    def collect(self, streams, done, deadline, what):
        """Read from `streams` (non-blocking, one selector) until done(stream) holds for
        each; fail at the deadline or if any connection closes."""
        pending = {st.sock.fileno(): st for st in streams if not done(st)}
        for st in pending.values():
            st.sock.setblocking(False)
            self.sel.register(st.sock, selectors.EVENT_READ, st)
        try:
            while pending:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError("%d of %d clients got no %s in time"
                                         % (len(pending), len(streams), what))
                for key, _ in self.sel.select(min(remaining, 1.0)):
                    st = key.data
                    try:
                        data = st.sock.recv(65536)
                    except BlockingIOError:
                        continue
                    except ConnectionError:
                        data = b""
                    if not data:
                        raise AssertionError("client %s closed while waiting for %s"
                                             % (st.client_id, what))
                    st.buf += data
                    if done(st):
                        self.sel.unregister(st.sock)
                        del pending[st.sock.fileno()]
        finally:
            for st in pending.values():
                self.sel.unregister(st.sock)
            for st in streams:
                st.sock.setblocking(True)
                st.sock.settimeout(5)
        return streams

    def send_all(self, data_fn):
        for st in self.streams:
            st.sock.sendall(data_fn(st))

    def close(self):
        for st in self.streams:
            try:
                st.sock.sendall(b"\xe0\x00")
            except OSError:
                pass
            st.close()
        self.sel.close()


class Scale(BrokerTestCase):

    def test_1000_subscribers_get_one_publish(self):
        start = time.monotonic()
        deadline = start + TOTAL_BUDGET
        many = Many(self.port)
        self.addCleanup(many.close)
        while len(many.streams) < N:
            many.open(min(WAVE, N - len(many.streams)), deadline)
        t_connected = time.monotonic() - start

        topic = unique_topic("fanout")
        many.send_all(lambda st: subscribe_packet(1, [(topic, 1)]))
        suback = b"\x90\x03\x00\x01\x01"
        many.collect(many.streams, lambda st: len(st.buf) >= len(suback), deadline, "SUBACK")
        for st in many.streams:
            self.assertEqual(st.buf[:len(suback)], suback, st.client_id)
            st.buf = st.buf[len(suback):]

        # all N are connected at the same time now; one publish reaches every one of them
        pub = self.paho()
        payload = b"to-all-" + os.urandom(8).hex().encode()
        pub.publish(topic, payload, qos=1)

        def has_packet(st):
            if getattr(st, "got", None) is None:
                st.got = st.try_parse()
            return st.got is not None

        many.collect(many.streams, has_packet, deadline, "PUBLISH")
        for st in many.streams:
            p = st.got
            self.assertEqual(p.type, PUBLISH, st.client_id)
            t, body, qos, retain, dup, pid = p.publish_fields()
            self.assertEqual((t, body, qos, retain, dup), (topic, payload, 1, 0, 0), st.client_id)
            st.sock.sendall(ack_packet(PUBACK, pid))

        # still all connected: every one answers a PINGREQ
        many.send_all(lambda st: b"\xc0\x00")
        many.collect(many.streams, lambda st: len(st.buf) >= 2, deadline, "PINGRESP")
        for st in many.streams:
            self.assertEqual(st.buf[:2], b"\xd0\x00", st.client_id)
            st.buf = st.buf[2:]
        sys.stderr.write("\n  %d clients connected in %.1f s, whole test %.1f s\n"
                         % (N, t_connected, time.monotonic() - start))
        # nothing else arrived (no duplicate deliveries)
        for st in many.streams:
            self.assertEqual(st.buf, b"", st.client_id)


if __name__ == "__main__":
    run_tests()
