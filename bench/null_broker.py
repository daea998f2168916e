#!/usr/bin/python3
"""A do-nothing MQTT "broker" for measuring `mqbase bench` itself, not a broker.

    bench/null_broker.py sink   --port 18883   # accept, CONNACK, then discard every byte
    bench/null_broker.py source --port 18883   # accept, CONNACK, SUBACK, then stream QoS 0
                                               # PUBLISHes with bench payload headers

`sink` answers CONNECT and swallows the rest unparsed: `mqbase bench pub -c 4 -p 18883`
then shows how fast the generator's publishers go. `source` answers SUBSCRIBE and floods
each subscriber with valid PUBLISH packets (64-byte payloads carrying publisher id and
sequence number, a fresh publisher id every 65,536 messages so nothing looks duplicated):
`mqbase bench sub -p 18883` then shows how fast the generator parses and accounts. Latency
figures are meaningless here (the send time is fixed per batch). QoS 0 only; pin it to
another core than the generator (taskset). Stops on Ctrl-C.
"""

import argparse
import selectors
import socket
import struct
import time

BATCH = 65536
TOPIC = b"bench/null/0"


def varint(n):
    out = bytearray()
    while True:
        b = n % 128
        n //= 128
        out.append(b | (0x80 if n else 0))
        if not n:
            return bytes(out)


def publish_batch(publisher_id, size):
    """BATCH QoS 0 PUBLISHes of `size`-byte payloads, sequences 0..BATCH-1."""
    body_len = 2 + len(TOPIC) + size
    head = b"\x30" + varint(body_len) + struct.pack(">H", len(TOPIC)) + TOPIC
    pkt = len(head) + size
    buf = bytearray(pkt * BATCH)
    now = time.monotonic_ns()
    pad = bytes(size - 16)
    for i in range(BATCH):
        off = i * pkt
        buf[off:off + len(head)] = head
        struct.pack_into("<IIQ", buf, off + len(head), publisher_id, i, now)
        buf[off + len(head) + 16:off + pkt] = pad
    return buf


class Conn:
    def __init__(self, sock):
        self.sock = sock
        self.buf = b""
        self.version = 4
        self.streaming = False  # source: SUBACK sent, now flooding
        self.discard = False    # sink: CONNACK sent, now swallowing
        self.out = memoryview(b"")
        self.publisher = 0


def parse(conn):
    """Yields (type, body) for whole packets at the front of conn.buf."""
    while len(conn.buf) >= 2:
        mult, length, i = 1, 0, 1
        while True:
            if i >= len(conn.buf):
                return
            b = conn.buf[i]
            length += (b & 0x7F) * mult
            mult *= 128
            i += 1
            if not b & 0x80:
                break
        if len(conn.buf) < i + length:
            return
        ptype, body = conn.buf[0] >> 4, conn.buf[i:i + length]
        conn.buf = conn.buf[i + length:]
        yield ptype, body


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=["sink", "source"])
    ap.add_argument("--port", type=int, default=18883)
    ap.add_argument("--size", type=int, default=64)
    args = ap.parse_args()

    lsock = socket.socket()
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(("127.0.0.1", args.port))
    lsock.listen(1024)
    lsock.setblocking(False)
    sel = selectors.DefaultSelector()
    sel.register(lsock, selectors.EVENT_READ, None)
    sink = bytearray(1 << 20)
    next_publisher = 0
    print("null broker (%s) on 127.0.0.1:%d" % (args.mode, args.port), flush=True)
    try:
        while True:
            for key, events in sel.select(1.0):
                if key.data is None:
                    s, _ = lsock.accept()
                    s.setblocking(False)
                    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    sel.register(s, selectors.EVENT_READ, Conn(s))
                    continue
                c = key.data
                if events & selectors.EVENT_READ:
                    try:
                        n = c.sock.recv_into(sink)
                    except BlockingIOError:
                        n = -1
                    except ConnectionError:
                        n = 0
                    if n == 0:
                        sel.unregister(c.sock)
                        c.sock.close()
                        continue
                    if n > 0 and not c.streaming and not c.discard:
                        c.buf += bytes(sink[:n])
                        for ptype, body in parse(c):
                            if ptype == 1:  # CONNECT: protocol level after the name
                                name_len = struct.unpack(">H", body[:2])[0]
                                c.version = body[2 + name_len]
                                c.sock.sendall(b"\x20\x03\x00\x00\x00" if c.version == 5 else b"\x20\x02\x00\x00")
                                if args.mode == "sink":
                                    c.discard = True
                                    break
                            elif ptype == 8 and args.mode == "source":  # SUBSCRIBE
                                pid = body[:2]
                                props = b"\x00" if c.version == 5 else b""
                                c.sock.sendall(b"\x90" + varint(3 + len(props)) + pid + props + b"\x00")
                                c.streaming = True
                                sel.modify(c.sock, selectors.EVENT_READ | selectors.EVENT_WRITE, c)
                            elif ptype == 12:  # PINGREQ
                                c.sock.sendall(b"\xd0\x00")
                if events & selectors.EVENT_WRITE and c.streaming:
                    if not c.out:
                        c.out = memoryview(publish_batch(next_publisher, args.size))
                        next_publisher += 1
                    try:
                        sent = c.sock.send(c.out)
                        c.out = c.out[sent:]
                    except BlockingIOError:
                        pass
                    except ConnectionError:
                        sel.unregister(c.sock)
                        c.sock.close()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
