#!/usr/bin/python3
"""Acknowledged means stored: what mqbase promised survives kill -9 (docs/durability.md).

Each test here SIGKILLs the broker (Broker.kill9) and starts it again on the same data
directory (Broker.restart), then checks that everything the broker acknowledged before the
kill is still there: QoS 1 and QoS 2 messages queued for persistent sessions (PUBACK / PUBREC
went out only after the record was fdatasync'd), sessions with their subscriptions and
options, QoS 2 packet ids not yet released, retained messages, wills. Then recovery itself:
a torn last record is truncated and the server starts; a flipped byte in the middle of the
log stops the start (naming file and offset) unless --recover-skip-corrupt; `mqbase check`
says the same offline; a second server refuses a data directory in use; and
durability = "none" keeps nothing.

The log format (docs/store-format.md): segments <data_dir>/wal/<16 hex>.log, a 32-byte file
header, then records: u32 masked crc32c, u32 payload length, u8 type, u64 LSN, payload, all
little-endian. The corruption tests find records with that layout (and check their crc32c,
so a test that misreads the format fails instead of damaging the wrong bytes).

mqbase only: mosquitto runs with persistence off in this harness and cannot be restarted on
a data directory.
"""

import collections
import os
import re
import struct
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (DISCONNECT_BYTES, HOST, MESSAGE_EXPIRY_INTERVAL,  # noqa: E402
                     MOSQUITTO_PUB, MOSQUITTO_SUB, PUBACK, PUBCOMP, PUBLISH, PUBREC, PUBREL,
                     SESSION_EXPIRY_INTERVAL, SUBSCRIPTION_IDENTIFIER, WILL_DELAY_INTERVAL,
                     BrokerTestCase, ConnectionClosed, RawClient, RawClient5, ack5_packet,
                     ack_packet, connack_bytes, disconnect5_packet, is_mosquitto, parse_ack5,
                     publish5_packet, publish_packet, run_tests, slow_disk_wrapper, sub_options,
                     unique_id, unsubscribe_packet, wait_for)

# Offline sessions queue without limit here: an offline session's full queue drops (and
# counts) by design, which is not what these tests are about.
UNLIMITED_QUEUES = {"max_queued_messages": 0, "max_queued_bytes": 0}


def durable_config(storage=None, **limits):
    """A config with unlimited queues and a [storage] section (default: sync, the default)."""
    return {"limits": dict(UNLIMITED_QUEUES, **limits), "storage": dict(storage or {})}


# --------------------------------------------------------------------------------------------
# The log on disk

SEGMENT_NAME = re.compile(r"^[0-9a-f]{16}\.log$")
FILE_HEADER = 32
RECORD_HEADER = 17


def _crc32c_table():
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    return table


_CRC32C = _crc32c_table()


def crc32c(data):
    c = 0xFFFFFFFF
    for b in data:
        c = _CRC32C[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


def masked_crc(data):
    c = crc32c(data)
    return (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF


Record = collections.namedtuple("Record", "offset length type lsn payload")


def segments(data_dir):
    """Paths of the log segments, oldest first."""
    wal = os.path.join(data_dir, "wal")
    return [os.path.join(wal, n) for n in sorted(os.listdir(wal)) if SEGMENT_NAME.match(n)]


def read_records(path):
    """The valid records of a segment, in order, up to the first one that is not (a torn
    tail, zeros). Asserts the file header's magic."""
    with open(path, "rb") as f:
        data = f.read()
    assert data[:8] == b"MQBWAL01", "%s: no segment magic: %r" % (path, data[:8])
    out = []
    pos = FILE_HEADER
    while pos + RECORD_HEADER <= len(data):
        crc, length, rtype, lsn = struct.unpack_from("<IIBQ", data, pos)
        end = pos + RECORD_HEADER + length
        if rtype == 0 or end > len(data) or masked_crc(data[pos + 4:end]) != crc:
            break
        out.append(Record(pos, length, rtype, lsn, data[pos + RECORD_HEADER:end]))
        pos = end
    return out


def last_segment_with_records(data_dir):
    for path in reversed(segments(data_dir)):
        records = read_records(path)
        if records:
            return path, records
    raise AssertionError("no segment in %s holds a record: %r"
                         % (data_dir, os.listdir(os.path.join(data_dir, "wal"))))


def names_offset(text, offsets):
    """Whether `text` mentions one of `offsets` in decimal or hex (a whole number)."""
    for o in offsets:
        for form in (r"\b%d\b" % o, r"\b0x%x\b" % o, r"\b0x%08x\b" % o):
            if re.search(form, text, re.IGNORECASE):
                return True
    return False


# --------------------------------------------------------------------------------------------
# Clients

def next_packet(stream, timeout):
    """The next packet from a PacketStream, or None when nothing came within `timeout`;
    raises ConnectionClosed when the peer closes."""
    deadline = time.monotonic() + timeout
    while True:
        p = stream.try_parse()
        if p is not None:
            return p
        try:
            stream._fill(deadline)
        except TimeoutError:
            return None


def parse_payload(payload):
    """b"p<publisher>-<seq>[|padding]" -> (publisher, seq)."""
    head = payload.split(b"|", 1)[0]
    assert head.startswith(b"p") and b"-" in head, "unexpected payload %r" % (payload[:40],)
    i, seq = head[1:].split(b"-")
    return int(i), int(seq)


class Tally:
    """What a subscriber received: arrivals per (publisher, seq), and the order of first
    arrivals per publisher."""

    def __init__(self):
        self.count = collections.Counter()
        self.first_order = collections.defaultdict(list)
        self.total = 0

    def add(self, payload):
        key = parse_payload(payload)
        if not self.count[key]:
            self.first_order[key[0]].append(key[1])
        self.count[key] += 1
        self.total += 1

    def duplicates(self):
        return sum(n - 1 for n in self.count.values())


def read_until_quiet(sub, handle, quiet=2.0, first_timeout=20.0):
    """Calls handle(packet) for each packet from the raw client `sub` until nothing arrives for
    `quiet` seconds (`first_timeout` for the first packet), or the connection closes."""
    timeout = first_timeout
    try:
        while True:
            p = next_packet(sub, timeout)
            if p is None:
                return
            timeout = quiet
            handle(p)
    except (ConnectionClosed, OSError):
        return


def drain(sub, tally, quiet=2.0, first_timeout=20.0):
    """Read PUBLISHes from the raw client `sub` (acknowledging each: PUBACK, or PUBREC and the
    PUBREL's PUBCOMP) into `tally` until quiet (read_until_quiet)."""
    def handle(p):
        if p.type == PUBREL:
            sub.send(ack_packet(PUBCOMP, struct.unpack("!H", p.body[:2])[0]))
            return
        assert p.type == PUBLISH, "subscriber got %r" % (p.raw[:16],)
        _, payload, qos, _, _, pid = p.publish_fields()
        if qos == 1:
            sub.send(ack_packet(PUBACK, pid))
        elif qos == 2:
            sub.send(ack_packet(PUBREC, pid))
        tally.add(payload)
    read_until_quiet(sub, handle, quiet, first_timeout)


class Publisher:
    """A raw MQTT 3.1.1 publisher pipelining QoS 1 or 2 PUBLISHes of b"p<index>-<seq>" on
    dur/p<index> (packet id = seq + 1) from a sender thread, while a reader thread records the
    acknowledged seqs: PUBACK (QoS 1) or PUBREC (QoS 2, answered with PUBREL; PUBCOMP
    counted). Both threads stop when the broker goes away."""

    def __init__(self, port, index, seqs, qos=1, padding=b"", chunk=25, counter=None, clean_session=True):
        self.index = index
        self.seqs = list(seqs)
        self.qos = qos
        self.padding = padding
        self.chunk = chunk
        self.acked = []  # seqs, in acknowledgement order
        self.completed = 0  # QoS 2: PUBCOMPs
        self.errors = []
        self.counter = counter  # a shared [int] of acknowledgements, guarded by its lock
        self.lock = threading.Lock()  # one writer on the socket at a time
        self.client = RawClient(port)
        self.client_id = "pub%d-%s" % (index, unique_id("d")[2:])
        self.client.connect(client_id=self.client_id, clean_session=clean_session)
        self.threads = [threading.Thread(target=self._send, daemon=True),
                        threading.Thread(target=self._read, daemon=True)]

    def start(self):
        for t in self.threads:
            t.start()
        return self

    def _send(self):
        topic = "dur/p%d" % self.index
        try:
            for start in range(0, len(self.seqs), self.chunk):
                data = b"".join(
                    publish_packet(topic, b"p%d-%d%s" % (self.index, seq, self.padding),
                                   qos=self.qos, packet_id=seq + 1)
                    for seq in self.seqs[start:start + self.chunk])
                with self.lock:
                    self.client.sock.settimeout(60)
                    self.client.sock.sendall(data)
        except OSError:
            pass  # the broker was killed

    def _read(self):
        want = len(self.seqs)
        try:
            while (self.completed if self.qos == 2 else len(self.acked)) < want:
                p = next_packet(self.client, 60)
                if p is None:
                    raise AssertionError("publisher %d: no acknowledgement for 60 s (%d of %d)"
                                         % (self.index, len(self.acked), want))
                (pid,) = struct.unpack("!H", p.body[:2])
                if p.type == (PUBACK if self.qos == 1 else PUBREC):
                    self.acked.append(pid - 1)
                    if self.counter is not None:
                        with self.counter[1]:
                            self.counter[0] += 1
                    if self.qos == 2:
                        with self.lock:
                            self.client.send(ack_packet(PUBREL, pid))
                elif p.type == PUBCOMP and self.qos == 2:
                    self.completed += 1
                else:
                    raise AssertionError("publisher %d got %r" % (self.index, p.raw[:16]))
        except (ConnectionClosed, OSError):
            pass  # the broker was killed
        except Exception as e:  # reported by the test's thread
            self.errors.append(e)

    def join(self, timeout=60):
        for t in self.threads:
            t.join(timeout)
            assert not t.is_alive(), "publisher %d: thread still running" % self.index

    def close(self):
        self.client.close()


def new_counter():
    return [0, threading.Lock()]


# --------------------------------------------------------------------------------------------

@unittest.skipIf(is_mosquitto(), "durability across kill -9 and restart is mqbase's")
class DurabilityTestCase(BrokerTestCase):
    def setUp(self):
        pass  # each test starts its own broker with its own config

    def durable_broker(self, storage=None, **limits):
        return self.start_broker(durable_config(storage, **limits))

    def raw_client(self, broker, cls=RawClient):
        c = cls(broker.port)
        self.addCleanup(c.close)
        return c

    def persistent_subscriber(self, broker, client_id, filters, present=0):
        """A 3.1.1 clean_session=0 raw client subscribed to `filters` ([(filter, qos)])."""
        c = self.raw_client(broker)
        c.connect(client_id=client_id, clean_session=False,
                  expect=connack_bytes(0, present))
        self.assertEqual(c.subscribe(filters), [q for _, q in filters])
        return c

    def reconnect(self, broker, client_id, present=1):
        c = self.raw_client(broker)
        c.connect(client_id=client_id, clean_session=False, expect=connack_bytes(0, present))
        return c

    def publish_retained(self, broker, items, qos=1):
        """Publish [(topic, payload)] retained, each acknowledged before the next."""
        c = self.raw_client(broker)
        c.connect()
        for topic, payload in items:
            c.publish(topic, payload, qos=qos, retain=True)
        c.disconnect()

    def retained_under(self, broker, prefix):
        """{topic: payload} of the retained messages under prefix/#, as a new subscriber gets
        them: subscribe, then publish a (non-retained) marker under the prefix; everything
        before it is retained."""
        c = self.raw_client(broker)
        c.connect()
        self.assertEqual(c.subscribe([(prefix + "/#", 1)]), [1])
        marker_topic = prefix + "/" + unique_id("marker")
        p = self.raw_client(broker)
        p.connect()
        p.publish(marker_topic, b"marker", qos=1)
        got = {}
        while True:
            topic, payload, _, retain, _, _ = c.receive_publish(timeout=10)
            if topic == marker_topic:
                break
            self.assertEqual(retain, 1, "non-retained %s before the marker" % topic)
            got[topic] = payload
        c.disconnect()
        p.disconnect()
        return got

    def kill(self, broker):
        """SIGKILL a broker that must still be running (one that died by itself fails the
        test here instead of being hidden by the kill)."""
        if not broker.alive():
            raise AssertionError("the broker exited by itself with %s before the kill\n%s"
                                 % (broker.proc.returncode, broker.stderr_tail()))
        broker.kill9()

    def publish_then_kill(self, broker, pubs, counter, at):
        """Starts the publishers, kills the broker once `at` acknowledgements have come (mid-
        stream), and waits for the publishers to stop; none may have failed otherwise."""
        for p in pubs:
            self.addCleanup(p.close)
            p.start()
        wait_for(lambda: counter[0] >= at, timeout=90, interval=0.001, message="%d acknowledgements" % at)
        self.kill(broker)
        for p in pubs:
            p.join()
            self.assertEqual(p.errors, [])

    def kill_and_restart(self, broker, extra_args=()):
        self.kill(broker)
        broker.restart(extra_args)
        return broker

    def check_dir(self, broker):
        """`mqbase check --data-dir` on the broker's data dir: (exit code, stdout + stderr)."""
        r = broker.run_binary(["check", "--data-dir", broker.data_dir])
        return r.returncode, r.stdout + r.stderr


# --------------------------------------------------------------------------------------------

class CrashUnderLoad(DurabilityTestCase):
    """16 publishers pipeline QoS 1 or 2 messages into a persistent offline subscriber; the
    broker is SIGKILLed mid-stream; after the restart every acknowledged message is there."""

    PUBLISHERS = 16
    TOTAL = 20000
    KILL_AT = 8000

    def crash_run(self, qos):
        broker = self.durable_broker()
        sub_id = unique_id("dsub%d" % qos)
        self.persistent_subscriber(broker, sub_id, [("dur/#", qos)]).disconnect()

        per = self.TOTAL // self.PUBLISHERS
        counter = new_counter()
        pubs = [Publisher(broker.port, i, range(per), qos=qos, counter=counter)
                for i in range(self.PUBLISHERS)]
        for p in pubs:
            self.addCleanup(p.close)
        t0 = time.monotonic()
        for p in pubs:
            p.start()
        wait_for(lambda: counter[0] >= self.KILL_AT, timeout=90, interval=0.002,
                 message="%d acknowledgements" % self.KILL_AT)
        at_kill = counter[0]
        elapsed = time.monotonic() - t0
        self.kill(broker)
        for p in pubs:
            p.join()
            self.assertEqual(p.errors, [])
        acked = {(p.index, s) for p in pubs for s in p.acked}

        broker.restart()
        sub = self.reconnect(broker, sub_id, present=1)
        tally = Tally()
        drain(sub, tally)
        lost = sorted(acked - set(tally.count))
        print("\nQoS %d crash: %d acknowledged (%d when the kill was sent, %.1f s in), "
              "%d received (%d distinct, %d not acknowledged), %d duplicates, %d lost"
              % (qos, len(acked), at_kill, elapsed, tally.total, len(tally.count),
                 len(set(tally.count) - acked), tally.duplicates(), len(lost)),
              file=sys.stderr)
        self.assertLess(len(acked), self.TOTAL,
                        "everything was acknowledged before the kill: not a mid-stream crash")
        self.assertEqual(lost[:20], [], "%d acknowledged messages lost (first 20 shown)"
                         % len(lost))
        for i, order in tally.first_order.items():
            self.assertEqual(order, sorted(order), "publisher %d: first arrivals out of order" % i)
        return tally

    def test_qos1_kill9_mid_stream_loses_nothing_acknowledged(self):
        self.crash_run(1)

    def test_qos2_kill9_mid_stream_delivers_every_pubreced_message_exactly_once(self):
        tally = self.crash_run(2)
        dups = sorted(k for k, n in tally.count.items() if n > 1)
        self.assertEqual(dups[:20], [], "%d QoS 2 messages delivered more than once" % len(dups))


class Qos2Receiver:
    """A QoS 2 subscriber as a client implements it: a message is delivered when its PUBLISH
    first arrives under a packet id not awaiting PUBREL ("method A"); a PUBLISH under an id
    still awaiting PUBREL is a resend and not delivered again. The ids awaiting PUBREL are
    the client's session state and survive its reconnects, as they do in a real client."""

    def __init__(self):
        self.tally = Tally()
        self.awaiting_pubrel = set()

    def run(self, sub, quiet=2.0, first_timeout=20.0):
        read_until_quiet(sub, lambda p: self.handle(sub, p), quiet, first_timeout)

    def handle(self, sub, p):
        if p.type == PUBREL:
            (pid,) = struct.unpack("!H", p.body[:2])
            self.awaiting_pubrel.discard(pid)
            sub.send(ack_packet(PUBCOMP, pid))
            return
        assert p.type == PUBLISH, "subscriber got %r" % (p.raw[:16],)
        _, payload, qos, _, _, pid = p.publish_fields()
        assert qos == 2, "QoS %d PUBLISH to a QoS 2 subscription" % qos
        if pid not in self.awaiting_pubrel:
            self.awaiting_pubrel.add(pid)
            self.tally.add(payload)
        sub.send(ack_packet(PUBREC, pid))


class Qos2ToAConnectedSubscriber(DurabilityTestCase):
    """QoS 2 exactly once on the way out too: a persistent subscriber is connected while 4
    publishers send to it; kill -9 mid-stream; it reconnects and finishes. A PUBLISH sent to it
    before its records were on disk would come again after the restart under another packet
    id (or, the publisher never acknowledged, be lost from the broker's view): taken twice."""

    def test_qos2_subscriber_connected_through_a_kill_takes_each_message_once(self):
        broker = self.durable_broker()
        sub_id = unique_id("dq2c")
        sub = self.persistent_subscriber(broker, sub_id, [("dur/#", 2)])
        receiver = Qos2Receiver()
        reading = threading.Thread(target=receiver.run, args=(sub,), kwargs={"quiet": 30}, daemon=True)
        reading.start()
        counter = new_counter()
        pubs = [Publisher(broker.port, i, range(1500), qos=2, counter=counter, clean_session=False)
                for i in range(4)]
        # Early, while the publishers still pour in: records then still wait in the writer.
        self.publish_then_kill(broker, pubs, counter, 300)
        reading.join(10)
        before = receiver.tally.total
        pubreced = sum(len(p.acked) for p in pubs)

        broker.restart()
        sub = self.reconnect(broker, sub_id, present=1)
        reading = threading.Thread(target=receiver.run, args=(sub,), kwargs={"quiet": 3}, daemon=True)
        reading.start()
        # The publishers come back as clients do: every PUBLISH not answered by PUBREC again,
        # with DUP and its packet id, and a PUBREL for every PUBREC.
        for p in pubs:
            c = self.reconnect(broker, p.client_id, present=1)
            acked = set(p.acked)
            data = b"".join(ack_packet(PUBREL, s + 1) for s in acked)
            data += b"".join(publish_packet("dur/p%d" % p.index, b"p%d-%d" % (p.index, s), qos=2,
                                            packet_id=s + 1, dup=True)
                             for s in p.seqs if s not in acked)
            c.send(data)
            completed = 0
            while completed < len(p.seqs):
                pkt = c.read_packet(timeout=20)
                (pid,) = struct.unpack("!H", pkt.body[:2])
                if pkt.type == PUBREC:
                    c.send(ack_packet(PUBREL, pid))
                    acked.add(pid - 1)
                elif pkt.type == PUBCOMP:
                    completed += 1
            p.acked = sorted(acked)
        reading.join(30)
        tally = receiver.tally
        lost = sorted({(p.index, s) for p in pubs for s in p.seqs} - set(tally.count))
        dups = sorted(k for k, n in tally.count.items() if n > 1)
        print("\nQoS 2 to a connected subscriber: %d PUBRECed and %d delivered before the kill, %d "
              "delivered in all, %d duplicates, %d lost" % (pubreced, before, tally.total, len(dups), len(lost)),
              file=sys.stderr)
        self.assertEqual(lost[:20], [], "%d messages lost" % len(lost))
        self.assertEqual(dups[:20], [], "%d messages delivered twice" % len(dups))


class Qos1ToAConnectedSubscriber(DurabilityTestCase):
    """A QoS 1 PUBACK in sync mode waits for the disk or, sooner, for every durable copy of the
    message to be acknowledged by its subscriber; a copy acknowledged before its record was
    written is never written (docs/durability.md). Either way nothing PUBACKed may be lost:
    16 publishers pipeline into a connected persistent subscriber that acknowledges as it
    reads, plus one that stays offline; kill -9 mid-stream. Every PUBACKed message reached
    the connected subscriber before the kill or reaches it after the restart, in order per
    publisher, and the offline one gets every PUBACKed message after the restart."""

    def run_through_a_kill(self, with_offline):
        # A window to the subscriber as wide as what the publishers pipeline, so that copies
        # go out (and come back acknowledged) while their records still wait for the disk.
        broker = self.durable_broker(max_inflight_messages=2000)
        online_id, offline_id = unique_id("d1on"), unique_id("d1off")
        if with_offline:
            self.persistent_subscriber(broker, offline_id, [("dur/#", 1)]).disconnect()
        sub = self.persistent_subscriber(broker, online_id, [("dur/#", 1)])
        before = Tally()
        reading = threading.Thread(target=drain, args=(sub, before), kwargs={"quiet": 30}, daemon=True)
        reading.start()
        counter = new_counter()
        pubs = [Publisher(broker.port, i, range(1000), counter=counter) for i in range(16)]
        self.publish_then_kill(broker, pubs, counter, 6000)
        reading.join(40)
        acked = {(p.index, s) for p in pubs for s in p.acked}
        self.assertLess(len(acked), 16000, "everything was acknowledged before the kill")

        broker.restart()
        after = Tally()
        drain(self.reconnect(broker, online_id, present=1), after)
        lost = sorted(acked - (set(before.count) | set(after.count)))
        report = ("%d PUBACKed, the connected subscriber received %d before the kill and %d after"
                  % (len(acked), before.total, after.total))
        self.assertEqual(lost[:20], [], "%d PUBACKed messages lost (connected subscriber)" % len(lost))
        for i, order in before.first_order.items():
            self.assertEqual(order, sorted(order), "publisher %d: out of order" % i)
        if with_offline:
            offline = Tally()
            drain(self.reconnect(broker, offline_id, present=1), offline)
            lost = sorted(acked - set(offline.count))
            report += "; the offline one %d after" % offline.total
            self.assertEqual(lost[:20], [], "%d PUBACKed messages lost (offline subscriber)" % len(lost))
            for i, order in offline.first_order.items():
                self.assertEqual(order, sorted(order), "publisher %d: out of order (offline)" % i)
        print("\nQoS 1 through a kill: " + report, file=sys.stderr)

    def test_qos1_pubacked_messages_reach_a_connected_subscriber_through_a_kill(self):
        self.run_through_a_kill(with_offline=False)

    def test_qos1_pubacked_messages_reach_a_connected_and_an_offline_subscriber_through_a_kill(self):
        self.run_through_a_kill(with_offline=True)


class KillAtSeveralPoints(DurabilityTestCase):
    """Small segments and checkpoints (rotation and compaction all the time), killed early, in
    recovery, in the middle and late, restarting on the same data dir each time."""

    PUBLISHERS = 4
    PER = 2000
    PADDING = b"|" + b"x" * 100  # so the 64 KiB segments fill
    STORAGE = {"segment_size": 65536, "checkpoint_bytes": 131072}

    def test_kill_at_several_points_with_rotation_and_checkpoints(self):
        broker = self.durable_broker(self.STORAGE)
        sub_id = unique_id("dsubk")
        self.persistent_subscriber(broker, sub_id, [("dur/#", 1)]).disconnect()
        total = self.PUBLISHERS * self.PER
        acked = set()
        tally = Tally()
        next_seq = [0] * self.PUBLISHERS
        report = []

        def run_round(kill_at, with_subscriber=False):
            """Publishers continue where their acknowledgements stopped; SIGKILL once
            `kill_at` messages in all have been acknowledged (None: let them finish)."""
            counter = new_counter()
            already = len(acked)
            pubs = [Publisher(broker.port, i, range(next_seq[i], self.PER), qos=1,
                              padding=self.PADDING, counter=counter)
                    for i in range(self.PUBLISHERS) if next_seq[i] < self.PER]
            for p in pubs:
                self.addCleanup(p.close)
            reader = None
            if with_subscriber:
                # Consuming while the kill comes: messages in flight to it must come back.
                sub = self.reconnect(broker, sub_id, present=1)
                reader = threading.Thread(target=drain, args=(sub, tally),
                                          kwargs={"quiet": 60}, daemon=True)
                reader.start()
            for p in pubs:
                p.start()
            if kill_at is None:
                for p in pubs:
                    p.join(120)
            else:
                wait_for(lambda: already + counter[0] >= kill_at, timeout=90, interval=0.002,
                         message="%d acknowledgements" % kill_at)
                self.kill(broker)
                for p in pubs:
                    p.join()
            for p in pubs:
                self.assertEqual(p.errors, [])
                acked.update((p.index, s) for s in p.acked)
                if p.acked:
                    next_seq[p.index] = max(next_seq[p.index], max(p.acked) + 1)
                p.close()
            if reader is not None:
                reader.join(30)
                self.assertFalse(reader.is_alive())
            report.append(len(acked))

        run_round(total // 10)                        # early
        broker.restart(wait=False)                    # in recovery: once the store is open
        wait_for(lambda: self.lock_pid(broker) == broker.pid or not broker.alive(),
                 timeout=30, interval=0.002, message="the restarted broker's pid in LOCK")
        self.kill(broker)
        broker.restart()
        self.kill(broker)                             # right after the restart, idle
        broker.restart()
        run_round(total // 2, with_subscriber=True)   # middle, subscriber reading
        broker.restart()
        run_round(total * 9 // 10)                    # late
        broker.restart()
        run_round(None)                               # the rest, no kill
        self.assertEqual(len(acked), total)
        # Every run so far was killed, so the log since the last checkpoint is all there; the
        # checkpointer (a low-priority thread) writes one in the background. Under TSan on a busy
        # machine that takes a while: wait for it rather than read the directory at once.
        wal_dir = os.path.join(broker.data_dir, "wal")
        wait_for(lambda: any(f.startswith("checkpoint-") and f.endswith(".ckpt")
                             for f in os.listdir(wal_dir)),
                 timeout=120, interval=0.1, message="a checkpoint in wal/")
        files = os.listdir(wal_dir)
        sub = self.reconnect(broker, sub_id, present=1)
        drain(sub, tally)
        lost = sorted(acked - set(tally.count))
        print("\nkilled at %s acknowledged; %d received (%d distinct), %d duplicates, %d lost; "
              "wal/ at the end: %s"
              % (report[:-1], tally.total, len(tally.count), tally.duplicates(), len(lost),
                 sorted(files)), file=sys.stderr)
        self.assertEqual(lost[:20], [], "%d acknowledged messages lost (first 20 shown)"
                         % len(lost))
        for i, order in tally.first_order.items():
            self.assertEqual(order, sorted(order), "publisher %d: first arrivals out of order" % i)
        self.assertTrue(any(f.startswith("checkpoint-") for f in files),
                        "no checkpoint was written: %r" % files)
        self.after_all_rounds(broker)

    def after_all_rounds(self, broker):
        pass

    @staticmethod
    def lock_pid(broker):
        try:
            with open(os.path.join(broker.data_dir, "LOCK")) as f:
                return int(f.read().strip() or 0)
        except (OSError, ValueError):
            return 0


class StateSurvivesKill(DurabilityTestCase):

    def test_retained_sessions_subscriptions_and_wills_survive_kill9(self):
        broker = self.durable_broker()
        # Retained: set, replaced, cleared.
        self.publish_retained(broker, [("dur/ret/a", b"A"), ("dur/ret/b", b"B"),
                                       ("dur/ret/c", b"C1"), ("dur/ret/c", b"C2"),
                                       ("dur/ret/b", b"")])
        # A persistent 3.1.1 subscription, connected at the kill (the SUBACK was the promise).
        ps_id = unique_id("dps")
        self.persistent_subscriber(broker, ps_id, [("dur/ps/x", 1)])
        # A persistent member of a shared subscription, disconnected before the kill.
        sh_id = unique_id("dsh")
        self.persistent_subscriber(broker, sh_id, [("$share/dg/dur/sh/#", 1)]).disconnect()
        # A persistent 3.1.1 session with nothing but its CONNACK, connected at the kill.
        cs_id = unique_id("dcs")
        self.reconnect(broker, cs_id, present=0)
        # MQTT 5: a 2 s session, disconnected before the kill.
        short_id = unique_id("dshort")
        c = self.raw_client(broker, RawClient5)
        c.connect(short_id, props=[(SESSION_EXPIRY_INTERVAL, 2)])
        c.subscribe([("dur/short", sub_options(qos=1))])
        c.disconnect()
        short_gone_at = time.monotonic()
        # MQTT 5: a long session subscribed with No Local and a Subscription Identifier.
        opt_id = unique_id("dopt")
        c = self.raw_client(broker, RawClient5)
        c.connect(opt_id, props=[(SESSION_EXPIRY_INTERVAL, 3600)])
        self.assertEqual(c.subscribe([("dur/opt/#", sub_options(qos=1, no_local=True))],
                                     props=[(SUBSCRIPTION_IDENTIFIER, 42)]), [1])
        c.disconnect()
        # MQTT 5 messages queued for an offline session: one expires while the server is down.
        mexp_id = unique_id("dmexp")
        c = self.raw_client(broker, RawClient5)
        c.connect(mexp_id, props=[(SESSION_EXPIRY_INTERVAL, 3600)])
        c.subscribe([("dur/mexp", sub_options(qos=1))])
        c.disconnect()
        p = self.raw_client(broker, RawClient5)
        p.connect()
        p.publish("dur/mexp", b"short-lived", qos=1, props=[(MESSAGE_EXPIRY_INTERVAL, 1)])
        p.publish("dur/mexp", b"long-lived", qos=1, props=[(MESSAGE_EXPIRY_INTERVAL, 3600)])
        mexp_published_at = time.monotonic()
        p.disconnect()
        # Wills of clients connected at the kill: a clean 3.1.1 one (retained, no delay) and
        # an MQTT 5 persistent one with a 1 s will delay (retained).
        w = self.raw_client(broker)
        w.connect(will_topic="dur/will/a", will_payload=b"gone-a", will_qos=1, will_retain=True)
        w5 = self.raw_client(broker, RawClient5)
        w5.connect(unique_id("dw5"), props=[(SESSION_EXPIRY_INTERVAL, 60)],
                   will_topic="dur/will/b", will_payload=b"gone-b", will_qos=1,
                   will_retain=True, will_props=[(WILL_DELAY_INTERVAL, 1)])

        self.kill(broker)
        # Let the 2 s session and the 1 s message expire while the server is down (and 2.5 s
        # of the other message's 3600).
        time.sleep(max(0.0, max(short_gone_at, mexp_published_at) + 2.5 - time.monotonic()))
        broker.restart()

        with self.subTest("retained"):
            self.assertEqual(self.retained_under(broker, "dur/ret"),
                             {"dur/ret/a": b"A", "dur/ret/c": b"C2"})
        with self.subTest("will without delay, retained"):
            c = self.raw_client(broker)
            c.connect()
            c.subscribe([("dur/will/a", 1)])
            self.assertEqual(c.receive_publish(timeout=10)[:4], ("dur/will/a", b"gone-a", 1, 1))
        with self.subTest("will after its 1 s delay"):
            c = self.raw_client(broker)
            c.connect()
            c.subscribe([("dur/will/b", 1)])
            self.assertEqual(c.receive_publish(timeout=10)[:3], ("dur/will/b", b"gone-b", 1))
        with self.subTest("persistent subscription"):
            p = self.raw_client(broker)
            p.connect()
            p.publish("dur/ps/x", b"after-restart", qos=1)
            c = self.reconnect(broker, ps_id, present=1)
            self.assertEqual(c.receive_publish(timeout=10)[:3], ("dur/ps/x", b"after-restart", 1))
        with self.subTest("shared subscription"):
            p = self.raw_client(broker)
            p.connect()
            p.publish("dur/sh/x", b"shared", qos=1)
            c = self.reconnect(broker, sh_id, present=1)
            self.assertEqual(c.receive_publish(timeout=10)[:3], ("dur/sh/x", b"shared", 1))
        with self.subTest("persistent session created by CONNACK only"):
            self.reconnect(broker, cs_id, present=1)
        with self.subTest("MQTT 5 session expired while the server was down"):
            c = self.raw_client(broker, RawClient5)
            ack = c.connect(short_id, clean_start=False, props=[(SESSION_EXPIRY_INTERVAL, 2)])
            self.assertEqual(ack.session_present, 0)
        with self.subTest("Message Expiry on the wall clock"):
            c = self.raw_client(broker, RawClient5)
            ack = c.connect(mexp_id, clean_start=False, props=[(SESSION_EXPIRY_INTERVAL, 3600)])
            self.assertEqual(ack.session_present, 1)
            m = c.receive_publish(timeout=10)
            self.assertEqual((m.topic, m.payload), ("dur/mexp", b"long-lived"))
            self.assertLessEqual(m.props.get(MESSAGE_EXPIRY_INTERVAL), 3598)
        with self.subTest("MQTT 5 subscription options"):
            c = self.raw_client(broker, RawClient5)
            ack = c.connect(opt_id, clean_start=False, props=[(SESSION_EXPIRY_INTERVAL, 3600)])
            self.assertEqual(ack.session_present, 1)
            c.publish("dur/opt/self", b"own", qos=1)  # No Local: not back to itself
            other = self.raw_client(broker)
            other.connect()
            other.publish("dur/opt/other", b"other", qos=1)
            m = c.receive_publish(timeout=10)
            self.assertEqual((m.topic, m.payload, m.qos), ("dur/opt/other", b"other", 1))
            self.assertEqual(m.props.all(SUBSCRIPTION_IDENTIFIER), [42])

    def test_what_was_removed_before_the_kill_stays_removed(self):
        broker = self.durable_broker()
        # An unsubscribed filter of a persistent session.
        unsub_id = unique_id("dunsub")
        c = self.persistent_subscriber(broker, unsub_id, [("dur/uns/a", 1), ("dur/uns/b", 1)])
        c.send(unsubscribe_packet(99, ["dur/uns/a"]))
        self.assertEqual(c.read_packet().raw, b"\xb0\x02\x00\x63")  # UNSUBACK 99
        c.disconnect()
        # A persistent session (with a queued message) discarded by a clean-session connect.
        gone_id = unique_id("dgone")
        self.persistent_subscriber(broker, gone_id, [("dur/gone", 1)]).disconnect()
        p = self.raw_client(broker)
        p.connect()
        p.publish("dur/gone", b"for the old session", qos=1)
        c = self.raw_client(broker)
        c.connect(client_id=gone_id, clean_session=True)
        c.disconnect()

        self.kill_and_restart(broker)
        with self.subTest("unsubscribed filter"):
            p = self.raw_client(broker)
            p.connect()
            p.publish("dur/uns/a", b"a", qos=1)
            p.publish("dur/uns/b", b"b", qos=1)
            c = self.reconnect(broker, unsub_id, present=1)
            self.assertEqual(c.receive_publish(timeout=10)[:2], ("dur/uns/b", b"b"))
        with self.subTest("discarded session"):
            c = self.reconnect(broker, gone_id, present=0)
            self.assertEqual(c.subscribe([("dur/gone", 1), ("dur/gone-marker", 1)]), [1, 1])
            p = self.raw_client(broker)
            p.connect()
            p.publish("dur/gone-marker", b"marker", qos=1)
            self.assertEqual(c.receive_publish(timeout=10)[:2], ("dur/gone-marker", b"marker"))

    def test_disconnect_discards_the_will_and_ends_the_session_before_the_close(self):
        # [MQTT-3.1.2-10]: a DISCONNECT removes the will from the stored session state; an MQTT 5
        # DISCONNECT with Session Expiry 0 ends the session. The broker has acted on both once
        # it closes the connection, so a crash after that close must not bring either back:
        # not the will of a client that left normally (a retained "gone" that sticks), nor the
        # session. The kill comes right after the broker's close, as a crash may.
        broker = self.durable_broker()
        zero_id = unique_id("dzero")
        z = self.raw_client(broker, RawClient5)
        z.connect(zero_id, props=[(SESSION_EXPIRY_INTERVAL, 3600)])
        z.subscribe([("dur/zero", sub_options(qos=1))])
        w = self.raw_client(broker)
        w.connect(will_topic="dur/nowill/x", will_payload=b"must not", will_qos=1,
                  will_retain=True)
        wp_id = unique_id("dwillp")
        wp = self.raw_client(broker)
        wp.connect(client_id=wp_id, clean_session=False, will_topic="dur/nowill/y",
                   will_payload=b"must not either", will_qos=1, will_retain=True)
        z.send(disconnect5_packet(0, [(SESSION_EXPIRY_INTERVAL, 0)]))
        w.send(DISCONNECT_BYTES)
        wp.send(DISCONNECT_BYTES)
        for c in (z, w, wp):
            c.wait_closed()  # the broker has taken the DISCONNECT and closed the connection

        self.kill_and_restart(broker)
        with self.subTest("wills of connections ended by DISCONNECT"):
            self.assertEqual(self.retained_under(broker, "dur/nowill"), {})
        with self.subTest("session ended by DISCONNECT with Session Expiry 0"):
            c = self.raw_client(broker, RawClient5)
            ack = c.connect(zero_id, clean_start=False, props=[(SESSION_EXPIRY_INTERVAL, 3600)])
            self.assertEqual(ack.session_present, 0)
        with self.subTest("the persistent session itself lives on"):
            self.reconnect(broker, wp_id, present=1)

    def test_qos2_incoming_resent_with_dup_after_restart_is_delivered_once(self):
        broker = self.durable_broker()
        sub_id, pub_id = unique_id("dq2s"), unique_id("dq2p")
        self.persistent_subscriber(broker, sub_id, [("dur/q2/#", 2)]).disconnect()
        pub = self.reconnect(broker, pub_id, present=0)
        pub.send(publish_packet("dur/q2/x", b"once", qos=2, packet_id=7))
        self.assertEqual(pub.read_packet().raw, ack_packet(PUBREC, 7))

        self.kill_and_restart(broker)
        pub = self.reconnect(broker, pub_id, present=1)
        pub.send(publish_packet("dur/q2/x", b"once", qos=2, dup=True, packet_id=7))
        self.assertEqual(pub.read_packet().raw, ack_packet(PUBREC, 7))
        pub.send(ack_packet(PUBREL, 7))
        self.assertEqual(pub.read_packet().raw, ack_packet(PUBCOMP, 7))
        pub.publish("dur/q2/marker", b"marker", qos=2)

        sub = self.reconnect(broker, sub_id, present=1)
        got = []
        while not got or got[-1] != b"marker":
            topic, payload, qos = sub.receive_publish(timeout=10)[:3]
            got.append(payload)
        self.assertEqual(got, [b"once", b"marker"])

    def test_qos2_pubrel_after_restart_completes_and_the_released_id_is_free(self):
        # MQTT 5, where a PUBCOMP says whether the id was known (0x92 if not).
        broker = self.durable_broker()
        sub_id, pub_id = unique_id("dq2s5"), unique_id("dq2p5")
        self.persistent_subscriber(broker, sub_id, [("dur/q25/#", 2)]).disconnect()
        pub = self.raw_client(broker, RawClient5)
        pub.connect(pub_id, props=[(SESSION_EXPIRY_INTERVAL, 300)])
        pub.send(publish5_packet("dur/q25/x", b"once", qos=2, packet_id=9))
        self.assertEqual(parse_ack5(pub.read_packet())[:2], (9, 0))

        self.kill_and_restart(broker)
        pub = self.raw_client(broker, RawClient5)
        ack = pub.connect(pub_id, clean_start=False, props=[(SESSION_EXPIRY_INTERVAL, 300)])
        self.assertEqual(ack.session_present, 1)
        pub.send(ack5_packet(PUBREL, 9))
        comp = pub.read_packet()
        self.assertEqual((comp.type,) + parse_ack5(comp)[:2], (PUBCOMP, 9, 0))

        # The release is stored too: after another crash, id 9 is a new message.
        self.kill_and_restart(broker)
        pub = self.raw_client(broker, RawClient5)
        pub.connect(pub_id, clean_start=False, props=[(SESSION_EXPIRY_INTERVAL, 300)])
        pub.send(publish5_packet("dur/q25/x", b"second", qos=2, packet_id=9))
        rec = pub.read_packet()
        self.assertEqual((rec.type,) + parse_ack5(rec)[:2], (PUBREC, 9, 0))
        pub.send(ack5_packet(PUBREL, 9))
        comp = pub.read_packet()
        self.assertEqual((comp.type,) + parse_ack5(comp)[:2], (PUBCOMP, 9, 0))
        pub.publish("dur/q25/marker", b"marker", qos=2)

        sub = self.reconnect(broker, sub_id, present=1)
        got = []
        while not got or got[-1] != b"marker":
            got.append(sub.receive_publish(timeout=10)[1])
        self.assertEqual(got, [b"once", b"second", b"marker"])

    def test_qos2_outgoing_in_flight_resumes_where_it_stopped(self):
        # A QoS 2 message past PUBREC comes back as its PUBREL only: once a PUBREL has gone
        # out the PUBLISH must not be sent again ([MQTT-4.3.3-1]; the receiver that got the
        # PUBREL takes a PUBLISH with that id for a new message: delivered twice). One not
        # yet PUBRECed comes back as the PUBLISH with DUP and its packet id. The kill comes
        # right after the PUBREL arrives, while other publishers keep the log busy (so a
        # "past PUBREC" record that the PUBREL did not wait for is still in the queue), a few
        # rounds over.
        broker = self.durable_broker()
        sub_id = unique_id("dq2o")
        sub = self.persistent_subscriber(broker, sub_id, [("dur/q2o/#", 2)])
        self.persistent_subscriber(broker, unique_id("dload"), [("dur/p99", 1)]).disconnect()
        for r in range(4):
            load = Publisher(broker.port, 99, range(60000), qos=1)
            self.addCleanup(load.close)
            load.start()
            p = self.raw_client(broker)
            p.connect()
            a, b = b"a%d" % r, b"b%d" % r
            p.publish("dur/q2o/a", a, qos=2)
            p.publish("dur/q2o/b", b, qos=2)
            _, payload, qos, _, dup, pid_a = sub.read_packet().publish_fields()
            self.assertEqual((payload, qos, dup), (a, 2, 0))
            _, payload, qos, _, dup, pid_b = sub.read_packet().publish_fields()
            self.assertEqual((payload, qos, dup), (b, 2, 0))
            sub.send(ack_packet(PUBREC, pid_a))
            self.assertEqual(sub.read_packet().raw, ack_packet(PUBREL, pid_a))
            # Neither the PUBCOMP for a nor the PUBREC for b is sent.
            self.kill(broker)
            load.join()
            broker.restart()

            sub = self.reconnect(broker, sub_id, present=1)
            got = [sub.read_packet(timeout=10), sub.read_packet(timeout=10)]
            shown = "round %d: got %r" % (r, [pk.raw for pk in got])
            self.assertEqual([pk.raw for pk in got if pk.type != PUBLISH],
                             [ack_packet(PUBREL, pid_a)], shown)
            resent = [pk.publish_fields() for pk in got if pk.type == PUBLISH]
            self.assertEqual(resent, [("dur/q2o/b", b, 2, 0, 1, pid_b)], shown)
            sub.send(ack_packet(PUBCOMP, pid_a))
            sub.send(ack_packet(PUBREC, pid_b))
            self.assertEqual(sub.read_packet().raw, ack_packet(PUBREL, pid_b))
            sub.send(ack_packet(PUBCOMP, pid_b))
        p = self.raw_client(broker)
        p.connect()
        p.publish("dur/q2o/marker", b"marker", qos=2)
        self.assertEqual(sub.receive_publish(timeout=10)[:2], ("dur/q2o/marker", b"marker"))

    def test_graceful_stop_in_batch_mode_keeps_everything(self):
        # batch: acknowledgements do not wait for the disk, but a SIGTERM stop flushes.
        broker = self.durable_broker({"durability": "batch"})
        sub_id = unique_id("dbat")
        self.persistent_subscriber(broker, sub_id, [("dur/bat", 1)]).disconnect()
        p = self.raw_client(broker)
        p.connect()
        for i in range(100):
            p.publish("dur/bat", b"%d" % i, qos=1)
        self.publish_retained(broker, [("dur/batr/a", b"kept")])
        p.disconnect()
        broker.stop(keep_dir=True)
        broker.restart()
        self.assertEqual(self.retained_under(broker, "dur/batr"), {"dur/batr/a": b"kept"})
        sub = self.reconnect(broker, sub_id, present=1)
        got = [int(m[1]) for m in sub.receive_publishes(100, timeout=20)]
        self.assertEqual(got, list(range(100)))


class AckMeansOnDisk(DurabilityTestCase):
    """Every log write of the broker starts 300 ms late (strace's fault injection), and the
    broker is killed at once after an acknowledgement: whatever that acknowledgement told the
    client must be what the restarted broker has. Without the delay the window between taking
    a change and writing it is well under a millisecond, and a kill lands in it only by chance
    (CI once caught a clean start's CONNACK sent before the delete of the session it
    discarded was written)."""

    DELAY_MS = 300

    def slow_broker(self, **limits):
        wrapper = slow_disk_wrapper(self.DELAY_MS)
        if wrapper is None:
            self.skipTest("strace cannot trace processes here")
        return self.start_broker(durable_config(**limits), wrapper=wrapper)

    def test_a_publisher_is_not_read_while_receive_maximum_acknowledgements_wait(self):
        # The input backpressure of sync mode: once limits.receive_maximum of a connection's
        # acknowledgements wait for the disk, its further packets are not read (nor routed)
        # until some have gone out; waiting stays bounded. A QoS 0 subscriber online sees
        # each message as it is routed: no more than receive_maximum before the first write
        # completes, then all of them, and the publisher every PUBACK in order.
        window, n = 8, 40
        broker = self.slow_broker(receive_maximum=window)
        self.persistent_subscriber(broker, unique_id("dholdp"), [("dur/hold", 1)]).disconnect()
        live = self.raw_client(broker)
        live.connect()
        self.assertEqual(live.subscribe([("dur/hold", 0)]), [0])
        pub = self.raw_client(broker)
        pub.connect()
        pub.send(b"".join(publish_packet("dur/hold", b"%d" % i, qos=1, packet_id=i + 1) for i in range(n)))
        # The first message's record is taken as it is routed; its write lands DELAY_MS later
        # at the earliest, and until then no acknowledgement can go: look for half that time
        # from the first message on (however slow the machine is to route it).
        routed = [live.receive_publish(timeout=10)[1]]
        deadline = time.monotonic() + self.DELAY_MS / 2000
        while time.monotonic() < deadline:
            try:
                routed.append(live.receive_publish(timeout=max(0.001, deadline - time.monotonic()))[1])
            except Exception:
                break
        self.assertLessEqual(len(routed), window, "read on past receive_maximum waiting acknowledgements")
        for i in range(n):
            self.assertEqual(pub.read_packet(timeout=20).raw, ack_packet(PUBACK, i + 1))
        routed += [m[1] for m in live.receive_publishes(n - len(routed), timeout=10)]
        self.assertEqual(routed, [b"%d" % i for i in range(n)])

    def kill_and_restart_slow(self, broker):
        self.kill(broker)
        broker.restart(wrapper=slow_disk_wrapper(self.DELAY_MS))

    def test_connack_of_a_clean_start_that_discards_a_stored_session(self):
        broker = self.slow_broker()
        gone_id = unique_id("dslowgone")
        self.persistent_subscriber(broker, gone_id, [("dur/slow/gone", 1)]).disconnect()
        p = self.raw_client(broker)
        p.connect()
        p.publish("dur/slow/gone", b"for the old session", qos=1)
        c = self.raw_client(broker)
        c.connect(client_id=gone_id, clean_session=True)  # CONNACK: no session present
        self.kill(broker)
        broker.restart()
        self.reconnect(broker, gone_id, present=0)

    def test_each_acknowledgement_then_a_kill(self):
        broker = self.slow_broker()
        sub_id = unique_id("dslowsub")
        self.persistent_subscriber(broker, sub_id, [("dur/slow/a", 1)]).disconnect()

        with self.subTest("PUBACK"):
            p = self.raw_client(broker)
            p.connect()
            p.publish("dur/slow/a", b"acked", qos=1)
            self.kill_and_restart_slow(broker)
        with self.subTest("SUBACK"):
            c = self.reconnect(broker, sub_id, present=1)
            self.assertEqual(c.receive_publish(timeout=10)[:3], ("dur/slow/a", b"acked", 1))
            self.assertEqual(c.subscribe([("dur/slow/b", 2)]), [2])
            self.kill_and_restart_slow(broker)
        with self.subTest("UNSUBACK"):
            c = self.reconnect(broker, sub_id, present=1)
            c.send(unsubscribe_packet(7, ["dur/slow/a"]))
            self.assertEqual(c.read_packet().raw, b"\xb0\x02\x00\x07")
            self.kill_and_restart_slow(broker)
        with self.subTest("PUBREC"):
            c = self.reconnect(broker, sub_id, present=1)
            c.disconnect()
            p = self.raw_client(broker)
            p.connect(client_id=unique_id("dslowpub"), clean_session=False)
            p.send(publish_packet("dur/slow/a", b"unsubscribed", qos=1, packet_id=1))
            self.assertEqual(p.read_packet().raw, ack_packet(PUBACK, 1))
            p.send(publish_packet("dur/slow/b", b"exactly once", qos=2, packet_id=2))
            self.assertEqual(p.read_packet().raw, ack_packet(PUBREC, 2))
            pub_id = p.client_id
            self.kill_and_restart_slow(broker)
        with self.subTest("after the PUBREL"):
            p = self.reconnect(broker, pub_id, present=1)
            p.send(publish_packet("dur/slow/b", b"exactly once", qos=2, packet_id=2, dup=True))
            self.assertEqual(p.read_packet().raw, ack_packet(PUBREC, 2))
            p.send(ack_packet(PUBREL, 2))
            self.assertEqual(p.read_packet().raw, ack_packet(PUBCOMP, 2))
            c = self.reconnect(broker, sub_id, present=1)
            self.assertEqual(c.receive_publish(timeout=10)[:3], ("dur/slow/b", b"exactly once", 2))
            p.publish("dur/slow/b", b"marker", qos=1)
            # Only the marker follows: the QoS 2 message came once, the QoS 1 one to the
            # filter unsubscribed before the kill not at all.
            self.assertEqual(c.receive_publish(timeout=10)[:2], ("dur/slow/b", b"marker"))


class Recovery(DurabilityTestCase):

    def test_torn_last_record_is_truncated_and_the_server_starts(self):
        broker = self.durable_broker()
        items = [("dur/torn/%d" % i, b"kept-%d" % i) for i in range(10)]
        self.publish_retained(broker, items + [("dur/torn/last", b"sacrificed")])
        self.kill(broker)
        rc, out = self.check_dir(broker)
        self.assertEqual(rc, 0, "check of an intact log:\n" + out)

        path, records = last_segment_with_records(broker.data_dir)
        last = records[-1]
        end = last.offset + RECORD_HEADER + last.length
        with open(path, "r+b") as f:
            f.truncate(end - 5)  # 5 bytes short: the last record is torn
        torn_away = {t for t, payload in items if payload in last.payload}
        name = os.path.basename(path)
        rc, out = self.check_dir(broker)
        self.assertEqual(rc, 0, "a torn tail is not corruption:\n" + out)
        self.assertIn(name, out)

        broker.restart()
        log = broker.stderr_of_run()
        self.assertIn("torn", log.lower())
        self.assertIn(name, log)
        self.assertTrue(names_offset(log, [last.offset]),
                        "the log names no offset %d:\n%s" % (last.offset, log))
        want = {t: p for t, p in items if t not in torn_away}
        got = self.retained_under(broker, "dur/torn")
        got.pop("dur/torn/last", None)  # its record was the torn one (or not): either is fine
        self.assertEqual(got, want)
        # The truncation left a log that goes on cleanly: write more, crash, recover again.
        self.publish_retained(broker, [("dur/torn/after", b"after")])
        self.kill_and_restart(broker)
        self.assertNotIn("corrupt", broker.stderr_of_run().lower())
        got = self.retained_under(broker, "dur/torn")
        got.pop("dur/torn/last", None)
        self.assertEqual(got, dict(want, **{"dur/torn/after": b"after"}))

    def test_flipped_byte_in_the_middle_of_the_log_stops_the_start(self):
        broker = self.durable_broker()
        items = [("dur/flip/%02d" % i, b"payload-%02d" % i) for i in range(20)]
        self.publish_retained(broker, items)
        self.kill(broker)
        path = segments(broker.data_dir)[0]
        records = read_records(path)
        victim = [r for r in records if b"payload-05" in r.payload]
        self.assertEqual(len(victim), 1, "payload-05 in %d records" % len(victim))
        victim = victim[0]
        self.assertIsNot(records[-1], victim, "no valid record after the victim")
        flip_at = victim.offset + RECORD_HEADER + victim.length // 2
        with open(path, "r+b") as f:
            f.seek(flip_at)
            b = f.read(1)
            f.seek(flip_at)
            f.write(bytes([b[0] ^ 0xFF]))
        name = os.path.basename(path)

        rc, err = broker.serve_expecting_failure()
        self.assertNotEqual(rc, 0)
        self.assertIn("corrupt", err.lower())
        self.assertIn(name, err)
        self.assertTrue(names_offset(err, [victim.offset, flip_at]),
                        "stderr names neither offset %d nor %d:\n%s"
                        % (victim.offset, flip_at, err))

        rc, out = self.check_dir(broker)
        self.assertEqual(rc, 1, "check of a corrupt log:\n" + out)
        self.assertIn(name, out)
        self.assertIn("corrupt", out.lower())

        broker.restart(["--recover-skip-corrupt"])
        log = broker.stderr_of_run()
        self.assertIn("skip", log.lower())
        self.assertIn(name, log)
        # What the damaged record held is lost; every record after it was applied.
        want = {t: p for t, p in items if p != b"payload-05"}
        self.assertEqual(self.retained_under(broker, "dur/flip"), want)
        # The skip sticks: what was recovered went into a checkpoint at once, and the damaged
        # segment is gone, so the next start (say, by systemd, without the flag) and even a
        # kill -9 before any further checkpoint find a clean log.
        self.assertIn("checkpoint", log.lower())
        self.assertNotIn(name, os.listdir(os.path.join(broker.data_dir, "wal")))
        self.kill_and_restart(broker)
        self.assertNotIn("skip", broker.stderr_of_run().lower())
        self.assertEqual(self.retained_under(broker, "dur/flip"), want)
        rc, out = self.check_dir(broker)
        self.assertEqual(rc, 0, "check after the skip:\n" + out)

    def test_second_server_on_the_same_data_dir_refuses(self):
        broker = self.durable_broker()
        rc, err = broker.serve_expecting_failure()
        self.assertNotEqual(rc, 0)
        self.assertIn("in use", err)
        # The first one is unharmed.
        self.publish_retained(broker, [("dur/lock/a", b"still here")])
        self.assertEqual(self.retained_under(broker, "dur/lock"), {"dur/lock/a": b"still here"})

    def test_durability_none_keeps_nothing(self):
        broker = self.durable_broker({"durability": "none"})
        sub_id = unique_id("dnone")
        self.persistent_subscriber(broker, sub_id, [("dur/none/q", 1)]).disconnect()
        self.publish_retained(broker, [("dur/none/r", b"volatile")])
        self.assertEqual(self.retained_under(broker, "dur/none"), {"dur/none/r": b"volatile"})
        self.kill_and_restart(broker)
        self.assertEqual(self.retained_under(broker, "dur/none"), {})
        self.reconnect(broker, sub_id, present=0)


class KillAtSeveralPointsWithPreallocatedSegments(KillAtSeveralPoints):
    """The same with storage.preallocate: segments are zero-filled ahead of time, so a kill
    leaves the active one at its full size with zeros after its last record, which recovery
    must read as the end of the log (and `mqbase check` as no problem)."""

    STORAGE = dict(KillAtSeveralPoints.STORAGE, preallocate=True)

    def after_all_rounds(self, broker):
        self.kill(broker)
        last = segments(broker.data_dir)[-1]
        full = os.path.getsize(last) == self.STORAGE["segment_size"]
        code, out = self.check_dir(broker)
        self.assertEqual(code, 0, out)
        self.assertIn("ok:", out)
        self.assertNotIn("torn", out)
        if full:  # the kill left a preallocated segment at its full size: zeros after the log
            self.assertIn("preallocated space from offset", out)
        broker.restart()
        self.assertNotIn("torn record", broker.stderr_of_run())


class CommandLineBurst(DurabilityTestCase):

    def test_mosquitto_pub_burst_into_offline_session_survives_kill9(self):
        broker = self.durable_broker()
        client_id = unique_id("dcli")

        def sub_cmd(*extra):
            return [MOSQUITTO_SUB, "-h", HOST, "-p", str(broker.port), "-c", "-i", client_id,
                    "-q", "1", "-t", "dur/burst"] + list(extra)

        r = subprocess.run(sub_cmd("-E"), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = "".join("%d\n" % i for i in range(1, 5001)).encode()
        r = subprocess.run([MOSQUITTO_PUB, "-h", HOST, "-p", str(broker.port), "-l", "-q", "1",
                            "-t", "dur/burst"], input=lines, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=90)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.kill_and_restart(broker)
        r = subprocess.run(sub_cmd("-C", "5000", "-W", "30"), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=60)
        got = r.stdout.decode().split()
        self.assertEqual(r.returncode, 0, "mosquitto_sub exited %d after %d messages: %s"
                         % (r.returncode, len(got), r.stderr.decode(errors="replace")))
        self.assertEqual(got, [str(i) for i in range(1, 5001)])


class QueueLargerThanMemory(DurabilityTestCase):
    """A persistent session's queue past its first storage.queue_in_memory messages lives in
    a spill file, <data_dir>/spill/<n>.spill (a copy of what the log holds, not itself
    durable), and is read back as the client drains the queue: the broker's memory does not
    grow with an offline subscriber's backlog. Shown with real bursts (mosquitto_pub -l, as
    users pipe lines into it) into a subscriber that is away: the spill file appears, every
    message comes back in order (the memory part first, then the file), the file is deleted
    once read back, and after kill -9 the recovery streams the long queue into a new spill
    file and still gives back everything in order, also when the queue was partly drained
    when the kill came. And the point of it all, measured: resident memory stays bounded
    with a 60 MB queue, where the same load without spilling grows by more than that."""

    IN_MEMORY = 100
    TOPIC = "dur/spill"

    def spill_broker(self, in_memory=IN_MEMORY, env=None, **limits):
        limits.setdefault("max_inflight_messages", 20)
        return self.start_broker(durable_config({"queue_in_memory": in_memory}, **limits), env=env)

    @staticmethod
    def spill_files(broker):
        """{name: size} of the *.spill files in <data_dir>/spill (a file deleted while listed
        is left out)."""
        d = os.path.join(broker.data_dir, "spill")
        out = {}
        for name in os.listdir(d):
            if name.endswith(".spill"):
                try:
                    out[name] = os.path.getsize(os.path.join(d, name))
                except FileNotFoundError:
                    pass
        return out

    def assert_spill_file_with_data(self, broker, when):
        files = self.spill_files(broker)
        self.assertTrue(any(size > 0 for size in files.values()),
                        "%s: no spill file with data in %s/spill: %r"
                        % (when, broker.data_dir, files))
        return files

    def assert_spill_files_deleted(self, broker):
        """Once the queue is read back, its spill file goes (read back as the client drained)."""
        try:
            wait_for(lambda: not self.spill_files(broker), timeout=10,
                     message="the spill files deleted")
        except AssertionError:
            raise AssertionError("spill files left after the queue was drained: %r"
                                 % self.spill_files(broker)) from None

    def burst(self, broker, n):
        """`seq 1 n | mosquitto_pub -l -q 1`: n QoS 1 messages "1".."n" on TOPIC; it exits 0
        once every one of them is acknowledged, that is queued for the offline session."""
        r = subprocess.run(["sh", "-c", 'seq 1 "$1" | "$2" -h "$3" -p "$4" -t "$5" -l -q 1',
                            "sh", str(n), MOSQUITTO_PUB, HOST, str(broker.port), self.TOPIC],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
        self.assertEqual(r.returncode, 0, "mosquitto_pub exited %d: %s"
                         % (r.returncode, r.stderr.decode(errors="replace")))

    def offline_subscriber(self, broker):
        sub_id = unique_id("dspill")
        self.persistent_subscriber(broker, sub_id, [(self.TOPIC, 1)]).disconnect()
        return sub_id

    @staticmethod
    def receive(sub, ack_count=None, quiet=1.0, first_timeout=20.0):
        """[(int(payload), dup)] of the PUBLISHes the raw client `sub` gets until quiet
        (read_until_quiet); the first `ack_count` of them (all: None) are PUBACKed, the rest
        not."""
        got = []

        def handle(p):
            assert p.type == PUBLISH, "subscriber got %r" % (p.raw[:16],)
            topic, payload, qos, _, dup, pid = p.publish_fields()
            assert (topic, qos) == (QueueLargerThanMemory.TOPIC, 1), "got %r" % (p.raw[:40],)
            got.append((int(payload), dup))
            if ack_count is None or len(got) <= ack_count:
                sub.send(ack_packet(PUBACK, pid))
        read_until_quiet(sub, handle, quiet, first_timeout)
        return got

    def assert_sequence(self, got, want, what):
        seqs = [s for s, _ in got]
        if seqs == want:
            return
        first_bad = next((i for i, (a, b) in enumerate(zip(seqs, want)) if a != b),
                         min(len(seqs), len(want)))
        self.fail("%s: %d received, %d expected; first difference at index %d: got %r, "
                  "expected %r" % (what, len(seqs), len(want), first_bad,
                                   seqs[first_bad:first_bad + 10], want[first_bad:first_bad + 10]))

    def test_long_offline_queue_goes_to_disk_and_comes_back_in_order(self):
        n = 5000
        broker = self.spill_broker()
        sub_id = self.offline_subscriber(broker)
        self.burst(broker, n)
        # All but the first 100 went to the spill file.
        self.assert_spill_file_with_data(broker, "after %d messages queued" % n)
        sub = self.reconnect(broker, sub_id, present=1)
        got = self.receive(sub)
        self.assert_sequence(got, list(range(1, n + 1)), "the queue read back")
        self.assertEqual([s for s, dup in got if dup], [], "first deliveries with DUP set")
        self.assert_spill_files_deleted(broker)
        # The session goes on normally once its spill file is gone: a new message comes next.
        self.burst(broker, 1)
        self.assertEqual(self.receive(sub, first_timeout=10), [(1, 0)])

    def test_spilled_queue_survives_kill9_and_restart(self):
        n = 3000
        broker = self.spill_broker()
        sub_id = self.offline_subscriber(broker)
        self.burst(broker, n)
        before = self.assert_spill_file_with_data(broker, "before the kill")
        # A file the restart must not take for the queue: the spill directory is wiped at
        # every start.
        with open(os.path.join(broker.data_dir, "spill", "999.spill"), "wb") as f:
            f.write(b"stale" * 1000)
        self.kill_and_restart(broker)
        # Recovery wrote the queue past the first 100 into a new file.
        after = self.assert_spill_file_with_data(broker, "after the restart (before: %r)" % before)
        self.assertNotIn("999.spill", after, "the spill directory was not wiped at the start")
        log = broker.stderr_of_run()
        m = re.search(r"recovered (\d+) sessions holding (\d+) messages", log)
        self.assertIsNotNone(m, "no 'recovered ... sessions holding ... messages' line:\n" + log)
        self.assertEqual(int(m.group(2)), n, m.group(0))
        sub = self.reconnect(broker, sub_id, present=1)
        got = self.receive(sub)
        # Nothing was in flight at the kill: each message comes once, in order.
        self.assert_sequence(got, list(range(1, n + 1)),
                             "the recovered queue read back (spill files after the restart: %r)"
                             % after)
        self.assert_spill_files_deleted(broker)

    def test_partly_drained_queue_then_kill_keeps_the_rest(self):
        # The subscriber takes and acknowledges the first 1000 (past the 100 in memory: the
        # broker has been reading its spill file back), then stops acknowledging: the broker
        # fills its window of 20 unacknowledged messages; the connection is dropped (RST)
        # and the broker killed. After the restart everything from the first unacknowledged
        # message on must come, in order; acknowledged messages may come again (a PUBACK the
        # broker had taken but not yet written), but only before the rest, in order too.
        n, acked = 3000, 1000
        broker = self.spill_broker()
        sub_id = self.offline_subscriber(broker)
        self.burst(broker, n)
        self.assert_spill_file_with_data(broker, "after %d messages queued" % n)
        sub = self.reconnect(broker, sub_id, present=1)
        first = self.receive(sub, ack_count=acked)
        self.assert_sequence(first, list(range(1, len(first) + 1)), "before the kill")
        self.assertGreater(len(first), acked, "the broker sent nothing past the acknowledged ones")
        sub.abort()
        time.sleep(0.5)  # let the broker take the close and the last PUBACKs
        self.kill_and_restart(broker)
        log = broker.stderr_of_run()
        m = re.search(r"recovered (\d+) sessions holding (\d+) messages", log)
        self.assertIsNotNone(m, "no 'recovered ... sessions holding ... messages' line:\n" + log)
        self.assert_spill_file_with_data(broker, "after the restart (%s)" % m.group(0))

        sub = self.reconnect(broker, sub_id, present=1)
        got = self.receive(sub)
        seqs = [s for s, _ in got]
        self.assertTrue(seqs, "nothing came after the restart (%s)" % m.group(0))
        start = seqs[0]
        print("\npartly drained: %d received before the kill (%d acknowledged); after the "
              "restart (%s) %d received, %d to %d, %d with DUP"
              % (len(first), acked, m.group(0), len(got), start, seqs[-1],
                 sum(dup for _, dup in got)), file=sys.stderr)
        self.assertLessEqual(start, acked + 1, "unacknowledged messages %d..%d lost"
                             % (acked + 1, start - 1))
        # Those that went out unacknowledged before the kill go again with DUP
        # ([MQTT-3.3.1-1]): the restart cannot tell them from the rest of the window, so it
        # sets DUP on the first window's worth.
        sent_before = {s for s, _ in first[acked:]}
        self.assertEqual([s for s, dup in got if s in sent_before and not dup], [],
                         "resent after the restart without DUP")
        self.assertEqual(int(m.group(2)), n - start + 1,
                         "messages held at the recovery, where the first to come is %d" % start)
        self.assert_sequence(got, list(range(start, n + 1)), "after the restart")
        self.assert_spill_files_deleted(broker)

    def test_resident_memory_stays_bounded_with_a_long_queue(self):
        if "TSAN_OPTIONS" in os.environ:  # set by ctest for the tsan.* runs (tests/CMakeLists.txt)
            self.skipTest("under ThreadSanitizer RSS counts its shadow memory too: the bound is "
                          "checked against the ASan build")
        # 30000 messages of 2000 bytes (60 MB of payload) for an offline subscriber. ASan's
        # quarantine would keep freed memory resident: off for these brokers.
        n, padding = 30000, b"|" + b"x" * 1999
        opts = os.environ.get("ASAN_OPTIONS", "")
        env = {"ASAN_OPTIONS": (opts + ":" if opts else "") + "quarantine_size_mb=0"}

        def load(broker):
            """RSS growth in kB over queueing the n messages for an offline subscriber."""
            sub_id = unique_id("dspillmem")
            self.persistent_subscriber(broker, sub_id, [("dur/p0", 1)]).disconnect()
            before = broker.rss_kb()
            pub = Publisher(broker.port, 0, range(n), qos=1, padding=padding, chunk=50)
            self.addCleanup(pub.close)
            pub.start()
            pub.join(90)
            self.assertEqual(pub.errors, [])
            self.assertEqual(len(pub.acked), n)
            pub.close()
            return broker.rss_kb() - before, sub_id

        t0 = time.monotonic()
        broker = self.spill_broker(1000, env=env, max_inflight_messages=100)
        growth, sub_id = load(broker)
        files = self.assert_spill_file_with_data(broker, "after %d messages queued" % n)
        t1 = time.monotonic()
        control = self.spill_broker(0, env=env, max_inflight_messages=100)
        control_growth, _ = load(control)
        control.stop()
        t2 = time.monotonic()
        print("\nRSS growth with %d x 2000-byte messages queued: %.1f MB with queue_in_memory "
              "1000 (spill files %r), %.1f MB with all in memory (%.1f s, %.1f s)"
              % (n, growth / 1024, files, control_growth / 1024, t1 - t0, t2 - t1),
              file=sys.stderr)
        self.assertLess(growth, 30 * 1024, "RSS grew by %.1f MB with queue_in_memory 1000"
                        % (growth / 1024))
        self.assertGreater(control_growth, 45 * 1024,
                           "the control (all in memory) grew by %.1f MB only: the load does not "
                           "show the bound" % (control_growth / 1024))

        sub = self.reconnect(broker, sub_id, present=1)
        tally = Tally()
        drain(sub, tally, quiet=1.0)
        self.assertEqual((tally.total, tally.duplicates()), (n, 0))
        self.assertEqual(tally.first_order[0], list(range(n)))
        self.assert_spill_files_deleted(broker)


if __name__ == "__main__":
    run_tests()
