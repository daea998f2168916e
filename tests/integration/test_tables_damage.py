"""A table's block file damaged under the running server (docs/store-format.md): a query that
reads the damage fails with an error naming the file, and the broker keeps serving MQTT and
the other tables. The real binary with two event loops, HTTP and paho clients.

Block files are read through a read-only mapping. A file cut shorter than the mapping (by
something other than mqbase), or a page the disk fails to read, raises SIGBUS on the first
touch of the lost pages; before blocks were copied out of the mapping under a SIGBUS guard,
that signal ended the whole server (seen: the broker died of SIGBUS at this test's second
query)."""
import glob
import json
import os
import random
import sys
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BrokerTestCase, http_request, is_mosquitto, unique_topic  # noqa: E402

T0 = 1_700_000_000_000_000_000


@unittest.skipIf(is_mosquitto(), "tables are mqbase's")
class DamagedBlockFile(BrokerTestCase):
    def query(self, b, q):
        status, _, body = http_request(b.http_url("/db/query?" + urllib.parse.urlencode({"q": q})))
        return status, json.loads(body)

    def write(self, b, table, rows):
        status, _, body = http_request(b.http_url("/db/write/" + table), method="POST",
                                       body=json.dumps(rows), content_type="application/json")
        self.assertEqual(status, 200, body)

    # Small log segments and checkpoints: rows reach block files while the test writes.
    broker_config = {"storage": {"segment_size": 1 << 20, "checkpoint_bytes": 1 << 20}}

    def test_a_block_file_cut_short_fails_the_query_not_the_server(self):
        b = self.broker
        rng = random.Random(5)
        # 20 series of 1000 random values, in one request: one record, so the next checkpoint
        # flushes them all into one block file of well over a page (blocks of several KB), and
        # no later one adds another (no compaction either).
        self.write(b, "damaged", [["dev%d" % (i % 20), T0 + (i // 20) * 10**9, rng.uniform(-1e6, 1e6)]
                                  for i in range(20000)])
        self.write(b, "intact", [["x", T0, 2.5]])

        def damaged_files():
            files = glob.glob(os.path.join(b.data_dir, "tables", "**", "*.blk"), recursive=True)
            return [f for f in files if os.path.getsize(f) > 64 * 1024]
        def on_disk():
            # The file exists before its checkpoint has finished; the rows leave memory after.
            status, a = self.query(b, "EXPLAIN SELECT count(*) FROM damaged WHERE value > 0")
            plan = " ".join(r[0] for r in a["data"]["rows"])
            return damaged_files() and "rows in memory: 0" in plan and "block files: 0" not in plan
        # Filler (into a third table, tiny files) until a checkpoint has flushed them.
        for n in range(200):
            if on_disk():
                break
            self.write(b, "filler", [["f", T0 + n * 10**12 + i, 1.0] for i in range(20000)])
        self.assertTrue(on_disk(), b.stderr_tail())
        self.assertEqual(len(damaged_files()), 1, b.stderr_tail())
        damaged = damaged_files()
        # value > 0 decodes every block (no answer from block statistics); the file is mapped.
        q = "SELECT count(*) FROM damaged WHERE value > 0"
        status, a = self.query(b, q)
        self.assertTrue(a.get("success"), a)
        self.assertGreater(a["data"]["rows"][0][0], 5000)

        os.truncate(damaged[0], 4096)  # the mapping now ends in pages that raise SIGBUS
        for _ in range(2):
            status, a = self.query(b, q)
            self.assertFalse(a.get("success"), a)
            self.assertGreaterEqual(status, 400)
            self.assertIn("cannot be read", a.get("reason", ""))
            self.assertIn(os.path.basename(damaged[0]), a.get("reason", ""))
        self.assertTrue(b.alive(), b.stderr_tail())

        # Everything else goes on: the other table, new rows, and MQTT between two clients.
        status, a = self.query(b, "SELECT value FROM intact")
        self.assertEqual(a["data"]["rows"], [[2.5]], a)
        self.write(b, "intact", [["y", T0 + 1, 3.5]])
        status, a = self.query(b, "SELECT count(*) FROM intact")
        self.assertEqual(a["data"]["rows"], [[2]], a)
        topic = unique_topic("damage")
        sub = self.paho(port=b.port)
        sub.subscribe(topic, qos=1)
        pub = self.paho(port=b.port)
        for i in range(100):
            pub.publish(topic, str(i), qos=1)
        got = sub.get_many(100)
        self.assertEqual([m.payload.decode() for m in got], [str(i) for i in range(100)])


if __name__ == "__main__":
    unittest.main()
