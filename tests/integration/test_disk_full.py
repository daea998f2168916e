#!/usr/bin/python3
"""A disk that fills while clients publish: the store refuses new records and says why, the
clients hear of it, nothing that was acknowledged is lost, and the server resumes once space
returns.

The small disk is a file-size limit (RLIMIT_FSIZE) set on the running broker with prlimit: a
write past it fails with EFBIG just as a full disk fails with ENOSPC, with no root and no
mount. Raising the limit again is the space coming back.
"""

import os
import resource
import threading
import time
import unittest

from harness import (BrokerTestCase, RawClient, parse_ack5, publish5_packet,
                     publish_packet, raw5, skip_if_mosquitto, sub_options, unique_id)

SESSION_EXPIRY = 0x11
PAYLOAD = b"x" * 1000


@skip_if_mosquitto("mqbase's write-ahead log and its data directory")
class DiskFullTest(BrokerTestCase):

    def limit_file_size(self, nbytes):
        soft = resource.RLIM_INFINITY if nbytes is None else nbytes
        resource.prlimit(self.broker.pid, resource.RLIMIT_FSIZE, (soft, resource.RLIM_INFINITY))

    def active_segment_size(self):
        wal = os.path.join(self.broker.data_dir, "wal")
        segments = sorted(f for f in os.listdir(wal) if f.endswith(".log"))
        return os.path.getsize(os.path.join(wal, segments[-1]))

    def test_full_disk_refuses_then_resumes_and_loses_nothing_acknowledged(self):
        sub_id = unique_id("dfsub")
        sub = raw5(self)
        sub.connect(sub_id, clean_start=False, props=[(SESSION_EXPIRY, 3600)])
        sub.subscribe([("full/#", sub_options(qos=1))])
        sub.disconnect()

        # Room first: the segment grows past what the broker's stderr will ever hold, so the
        # limit below hits the log, not the log lines.
        pub = raw5(self)
        pub.connect(unique_id("dfpub"))
        acked = set()
        for i in range(200):
            self.assertEqual(pub.publish("full/a", b"%d:" % i + PAYLOAD, qos=1), 0)
            acked.add(b"%d" % i)

        # Persistent sessions connected before the disk fills, to subscribe while it is full.
        late5 = raw5(self)
        late5.connect(unique_id("dflate5"), clean_start=False, props=[(SESSION_EXPIRY, 3600)])
        late3 = RawClient(self.port)
        self.addCleanup(late3.close)
        late3.connect(unique_id("dflate3"), clean_session=False)

        self.limit_file_size(self.active_segment_size() + 30000)

        # Pipelined: the acknowledgements stop where the disk did.
        n = 150
        reasons = {}
        reader_errors = []

        def read_acks():
            try:
                while len(reasons) < n:
                    pid, reason, _ = parse_ack5(pub.read_packet(timeout=30))
                    reasons[pid] = reason
            except Exception as e:  # reported by the test's thread
                reader_errors.append(e)

        reader = threading.Thread(target=read_acks, daemon=True)
        reader.start()
        for i in range(n):
            pub.send(publish5_packet("full/b", b"%d:" % (1000 + i) + PAYLOAD, qos=1, packet_id=i + 1))
        deadline = time.monotonic() + 10
        last, still_since = -1, time.monotonic()
        while time.monotonic() < deadline and len(reasons) < n:
            if len(reasons) != last:
                last, still_since = len(reasons), time.monotonic()
            elif time.monotonic() - still_since > 1.5:
                break
            time.sleep(0.05)
        self.assertLess(len(reasons), n, "every acknowledgement came although the disk was full")

        # While the store refuses: a fresh MQTT 5 publisher hears 0x97 at once, and an MQTT
        # 3.1.1 publisher, which cannot be told, is closed without its PUBACK.
        other = raw5(self)
        other.connect(unique_id("dfp5"))
        self.assertEqual(other.publish("full/c", b"refused:" + PAYLOAD, qos=1), 0x97)
        v3 = RawClient(self.port)
        self.addCleanup(v3.close)
        v3.connect(unique_id("dfp3"))
        v3.send(publish_packet("full/d", b"refused3", qos=1, packet_id=1))
        self.assertEqual(v3.wait_closed(timeout=5), b"", "the 3.1.1 publisher got an answer")
        self.assertIn("File too large", self.broker.stderr_text())

        # Nor does a session or a subscription that would need a record: a CONNACK or SUBACK
        # granting it would be undone by the next restart. MQTT 5 hears 0x97, 3.1.1 CONNACK 3
        # (Server unavailable) and SUBACK 0x80. A clean session without a will needs no record.
        refused5 = raw5(self)
        refused5.connect(unique_id("dfc5"), clean_start=False, props=[(SESSION_EXPIRY, 3600)],
                         expect_reason=0x97)
        refused3 = RawClient(self.port)
        self.addCleanup(refused3.close)
        refused3_id = unique_id("dfc3")
        refused3.connect(refused3_id, clean_session=False, expect=b"\x20\x02\x00\x03")
        clean = raw5(self)
        clean.connect(unique_id("dfclean"))
        self.assertEqual(clean.subscribe([("full/clean", sub_options(qos=1))]), [1])
        self.assertEqual(late5.subscribe([("full/late5", sub_options(qos=1))]), [0x97])
        self.assertEqual(late3.subscribe([("full/late3", 1)]), [0x80])
        self.assertIn("refused CONNECT from '%s'" % refused3_id, self.broker.stderr_text())

        # Space returns: the writer's retry catches up, the held acknowledgements go out, and
        # new messages are taken again.
        self.limit_file_size(None)
        reader.join(15)
        self.assertEqual(reader_errors, [])
        self.assertEqual(len(reasons), n)
        for pid, reason in reasons.items():
            self.assertIn(reason, (0, 0x97), "packet %d" % pid)
            if reason == 0:
                acked.add(b"%d" % (1000 + pid - 1))
        self.assertEqual(other.publish("full/c", b"9999:" + PAYLOAD, qos=1), 0)
        acked.add(b"9999")
        self.assertEqual(late5.subscribe([("full/late5", sub_options(qos=1))]), [1])
        back = raw5(self)
        back.connect(unique_id("dfc5"), clean_start=False, props=[(SESSION_EXPIRY, 3600)])

        # And all of it was kept: kill -9, restart, the subscriber drains its session.
        self.broker.kill9()
        self.broker.restart()
        sub = raw5(self, port=self.broker.port)
        ack = sub.connect(sub_id, clean_start=False, props=[(SESSION_EXPIRY, 3600)])
        self.assertEqual(ack.session_present, 1)
        got = set()
        while True:
            try:
                m = sub.receive_publish(timeout=3)
            except Exception:
                break
            got.add(m.payload.split(b":")[0])
        missing = acked - got
        self.assertEqual(missing, set(), "%d acknowledged messages lost: %r"
                         % (len(missing), sorted(missing)[:10]))
        self.assertNotIn(b"refused", b"".join(got))


if __name__ == "__main__":
    unittest.main()
