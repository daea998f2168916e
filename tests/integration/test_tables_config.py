"""Tables defined in the config ([[table]]): their options, and retention dropping whole
partitions past the table's TTL (docs/tables.md). The real binary with two event loops."""
import csv
import io
import os
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import BrokerTestCase, is_mosquitto  # noqa: E402

HOUR_NS = 3600 * 10**9


def mosquitto_pub_lines(port, topic, lines):
    subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), "-t", topic, "-q", "1", "-l"],
                   input="\n".join(lines) + "\n", text=True, check=True, timeout=120)


@unittest.skipIf(is_mosquitto(), "tables are mqbase's")
class TablesFromTheConfig(BrokerTestCase):
    def test_retention_drops_whole_partitions_past_the_ttl(self):
        config = {
            # Small segments and checkpoints: the rows reach block files within the test.
            "storage": {"segment_size": 65536, "checkpoint_bytes": 65536},
            "table": [{"name": "Sensors", "columns": ["name TAG", "time TIME", "value DOUBLE"],
                       "partition": "1h", "retention": "6h", "duplicates": "last"}],
        }
        b = self.start_broker(config)
        now = time.time_ns()
        start = now - 30 * HOUR_NS
        # One row every 5 minutes for 30 hours, in messages of 12 rows (one hour each).
        lines = []
        for h in range(30):
            rows = ",".join('["s1",%d,%d.5]' % (start + h * HOUR_NS + m * 300 * 10**9, h) for m in range(12))
            lines.append("[" + rows + "]")
        mosquitto_pub_lines(b.port, "db/append/sensors", lines)
        # Filler into another table until a checkpoint has flushed the rows and retention ran.
        filler = ['[["f",%d,%d]]' % (now + i, i) for i in range(2000)]
        deadline = time.monotonic() + 90
        while "past its retention" not in b.stderr_text():
            self.assertLess(time.monotonic(), deadline, "retention never dropped a partition:\n" + b.stderr_tail())
            mosquitto_pub_lines(b.port, "db/append/filler", filler)
            time.sleep(0.5)
        b.stop(keep_dir=True)
        r = b.run_binary(["tables", "dump", "sensors", "--data-dir", b.data_dir, "--time", "ns"])
        self.assertEqual(r.returncode, 0, r.stderr)
        rows = list(csv.reader(io.StringIO(r.stdout)))[1:]
        times = [int(row[1]) for row in rows]
        self.assertTrue(times, "every row went")
        # Partitions that ended before now - 6 h are gone (the check may have run a little
        # before `now`: allow one more hour), the rest are all there.
        limit = now - 6 * HOUR_NS
        self.assertGreaterEqual(min(times), (limit // HOUR_NS - 1) * HOUR_NS, "an expired partition remains")
        kept_hours = {int(row[2].split(".")[0]) for row in rows}
        newest = 29
        self.assertIn(newest, kept_hours)
        # Every hour after the oldest kept one is whole (the oldest may straddle a dropped partition).
        for h in range(min(kept_hours) + 1, newest + 1):
            self.assertEqual(sum(1 for row in rows if int(row[2].split(".")[0]) == h), 12, "hour %d" % h)
        self.assertLess(len(kept_hours), 30, "nothing was dropped")
        listing = b.run_binary(["tables", "list", "--data-dir", b.data_dir]).stdout
        self.assertIn("sensors (name TAG, time TIME, value DOUBLE)", listing)

    def test_a_bad_table_definition_names_the_key_and_line(self):
        with tempfile.TemporaryDirectory() as d:
            for body, why in [('name = "t"\ncolumns = ["time TIME", "v FLOAT128"]', "expected \"name TYPE\""),
                              ('name = "t"\ncolumns = ["time TIME", "v DOUBLE"]\nretention = "soon"', "table.retention"),
                              ('name = "t"\ncolumns = ["v DOUBLE"]', "exactly one TIME column"),
                              ('name = "t"\ncolumns = ["time TIME", "v DOUBLE"]\nduplicates = "most"',
                               "must be one of last, first, all")]:
                path = os.path.join(d, "bad.toml")
                with open(path, "w") as f:
                    f.write("[[table]]\n" + body + "\n")
                r = subprocess.run([harness.mqbase_binary(), "serve", "-c", path, "--port", "0",
                                    "--data-dir", os.path.join(d, "data")], capture_output=True, text=True, timeout=30)
                self.assertEqual(r.returncode, 2, r.stderr)
                self.assertIn(why, r.stderr)
                self.assertIn("bad.toml:", r.stderr)


if __name__ == "__main__":
    unittest.main()
