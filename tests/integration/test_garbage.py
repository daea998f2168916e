#!/usr/bin/python3
"""Bad input never crashes the server: 400 connections send mutated MQTT packets and random
bytes (a fixed seed, so a failure reproduces), after which the broker still serves a normal
client and exits 0 on SIGTERM with no sanitizer report (the harness checks both; the test
build has ASan+UBSan). The codec's own fuzzer (fuzz/) covers the decoder in depth; this
covers the connection and broker layers behind it."""

import os
import random
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import HOST, BrokerTestCase, run_tests  # noqa: E402

SEEDS = [bytes.fromhex(h) for h in (
    "100d00044d5154540402003c000161",            # CONNECT 3.1.1
    "101000044d5154540502003c032100 0a000161",    # CONNECT 5.0 with Receive Maximum
    "300700036120626869",                         # PUBLISH
    "3209000361 2f62 0001 6869",                  # PUBLISH QoS 1
    "820800010003 612f23 01",                     # SUBSCRIBE a/#
    "a2070001 0003 612f23",                       # UNSUBSCRIBE
    "62020001", "c000", "e000", "f000",
)]
SEEDS = [bytes.fromhex(h.replace(" ", "")) if isinstance(h, str) else h for h in SEEDS]


class Garbage(BrokerTestCase):

    def test_mutated_packets_do_not_hurt_the_server(self):
        rnd = random.Random(20261129)
        for _ in range(400):
            data = bytearray(rnd.choice(SEEDS[:2])) if rnd.random() < 0.5 else bytearray()
            for _ in range(rnd.randint(1, 6)):
                p = bytearray(rnd.choice(SEEDS))
                for _ in range(rnd.randint(0, 4)):
                    p[rnd.randrange(len(p))] = rnd.randrange(256)
                if rnd.random() < 0.3:
                    p += bytes(rnd.randrange(256) for _ in range(rnd.randint(1, 40)))
                data += p
            with socket.create_connection((HOST, self.port), timeout=2) as s:
                try:
                    s.sendall(bytes(data))
                    s.shutdown(socket.SHUT_WR)  # end of input: the server finishes and closes
                    while s.recv(4096):
                        pass
                except OSError:
                    pass  # the server may close on us at any point: that is its right
        # Still serving.
        body = b"\x00\x04MQTT\x04\x02\x00\x3c\x00\x02ok"
        with socket.create_connection((HOST, self.port), timeout=5) as s:
            s.sendall(bytes([0x10, len(body)]) + body)
            self.assertEqual(s.recv(4), b"\x20\x02\x00\x00")
        c = self.paho()
        c.subscribe("after/garbage", 1)
        c.publish("after/garbage", b"fine", qos=1)
        self.assertEqual(c.get().payload, b"fine")


if __name__ == "__main__":
    run_tests()
