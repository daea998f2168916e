"""Ingest rules ([[ingest]] in the config): ordinary topics feed tables (docs/ingest.md#ingest-rules).

The real binary with two event loops; mosquitto_pub and paho publish; the rows are read back
with `mqbase tables dump` once the server is stopped.
"""
import csv
import io
import os
import subprocess
import tempfile
import sys
import threading
import unittest

import paho.mqtt.client as mqtt

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import BrokerTestCase, skip_if_mosquitto, unique_id  # noqa: E402

T0_MS = 1_700_000_000_000


def dump(broker, table, *args):
    r = broker.run_binary(["tables", "dump", table, "--data-dir", broker.data_dir, "--time", "ns", *args])
    assert r.returncode == 0, r.stderr
    rows = list(csv.reader(io.StringIO(r.stdout)))
    return rows[0], rows[1:]


def mosquitto_pub(port, topic, payload, qos=1, extra=()):
    subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(port), "-t", topic, "-q", str(qos), "-m", payload,
                    *extra], check=True, timeout=30)


@skip_if_mosquitto("mosquitto has no tables")
class IngestRules(BrokerTestCase):
    def config(self):
        return {
            "ingest": [
                {"topic": "plant/+line/+device/temp", "table": "temps", "tags.site": "$.site",
                 "fields.value": "$.v", "time": "$.ts", "timeformat": "ms"},
                {"topic": "plant/+/+device/hum", "table": "hums"},
                {"topic": "plant/#", "table": "plant_archive", "archive": True},
            ]
        }

    def test_topic_levels_and_json_paths_become_tags_fields_and_time(self):
        b = self.start_broker(self.config())
        for i in range(50):
            payload = '{"site":"north","v":%d.25,"ts":%d,"other":1}' % (i, T0_MS + i * 1000)
            mosquitto_pub(b.port, "plant/l%d/d%d/temp" % (i % 2, i % 5), payload)
        b.stop(keep_dir=True)
        header, rows = dump(b, "temps")
        self.assertEqual(header, ["line", "device", "site", "time", "value"])
        self.assertEqual(len(rows), 50)
        got = sorted((r[0], r[1], r[2], int(r[3]), float(r[4])) for r in rows)
        want = sorted(("l%d" % (i % 2), "d%d" % (i % 5), "north", (T0_MS + i * 1000) * 1_000_000, i + 0.25)
                      for i in range(50))
        self.assertEqual(got, want)
        # The tag index: one device's series only.
        _, d3 = dump(b, "temps", "--tag", "device=d3")
        self.assertEqual(len(d3), 10)
        self.assertTrue(all(r[1] == "d3" for r in d3))

    def test_plain_numbers_and_every_numeric_field(self):
        b = self.start_broker(self.config())
        mosquitto_pub(b.port, "plant/l1/d1/hum", "41.5")
        mosquitto_pub(b.port, "plant/l1/d2/hum", '{"hum": 40, "ok": true, "label": "x"}')
        b.stop(keep_dir=True)
        header, rows = dump(b, "hums")
        self.assertEqual(header[:3], ["time", "device", "value"])  # a time column first when the message has none
        by_device = {row["device"]: row for row in (dict(zip(header, r)) for r in rows)}
        self.assertEqual(float(by_device["d1"]["value"]), 41.5)
        self.assertEqual(float(by_device["d2"]["hum"]), 40.0)
        self.assertEqual(by_device["d2"]["ok"], "true")
        self.assertNotIn("label", header)  # strings are not "numeric fields"

    def test_the_archive_keeps_whole_messages_and_subscribers_still_get_them(self):
        b = self.start_broker(self.config())
        got = []
        sub = mqtt.Client(client_id=unique_id("sub"), protocol=mqtt.MQTTv5)
        subscribed = threading.Event()
        sub.on_subscribe = lambda *a: subscribed.set()
        sub.on_message = lambda c, u, m: got.append((m.topic, m.payload))
        sub.connect("127.0.0.1", b.port)
        sub.loop_start()
        sub.subscribe("plant/#", qos=1)
        self.assertTrue(subscribed.wait(10))
        pub = mqtt.Client(client_id=unique_id("pub"), protocol=mqtt.MQTTv5)
        pub.connect("127.0.0.1", b.port)
        pub.loop_start()
        from paho.mqtt.properties import Properties
        from paho.mqtt.packettypes import PacketTypes
        props = Properties(PacketTypes.PUBLISH)
        props.UserProperty = [("unit", "C")]
        infos = [pub.publish("plant/x/y/z", b"not json at all", qos=1, properties=props),
                 pub.publish("plant/l1/d1/temp", b'{"site":"s","v":1,"ts":%d}' % T0_MS, qos=1)]
        for info in infos:
            info.wait_for_publish(10)
        harness.wait_for(lambda: len(got) == 2, message="both messages delivered")
        pub.loop_stop()
        pub.disconnect()
        sub.loop_stop()
        sub.disconnect()
        b.stop(keep_dir=True)
        header, rows = dump(b, "plant_archive")
        self.assertEqual(header, ["time", "topic", "payload", "qos", "properties"])
        by_topic = {r[1]: r for r in rows}
        self.assertEqual(set(by_topic), {"plant/x/y/z", "plant/l1/d1/temp"})
        self.assertEqual(by_topic["plant/x/y/z"][2], "not json at all")
        self.assertEqual(by_topic["plant/x/y/z"][3], "1")
        self.assertIn('"unit":"C"', by_topic["plant/x/y/z"][4])
        _, temps = dump(b, "temps")
        self.assertEqual(len(temps), 1)

    def test_a_burst_of_changing_shapes_lands_in_the_right_columns(self):
        # One connection (one event loop, whose per-thread column plans are reused message to
        # message): keys in another order, a key set that grows and shrinks, a column first
        # all NULL (not made yet) and then given, two tables interleaved.
        b = self.start_broker(self.config())
        c = mqtt.Client(client_id=unique_id("shapes"))
        c.connect("127.0.0.1", b.port)
        c.loop_start()
        hums, rows = [], []
        for i in range(200):
            shape = i % 3
            if shape == 0:
                hums.append(('{"hum":%d}' % i, {"hum": i}))
            elif shape == 1:
                hums.append(('{"hum":%d,"pressure":%d}' % (i, 1000 + i), {"hum": i, "pressure": 1000 + i}))
            else:
                hums.append(('{"pressure":%d,"hum":%d}' % (2000 + i, i), {"hum": i, "pressure": 2000 + i}))
            extra = "null" if i < 100 else str(i)  # `extra` is made by the first message that gives one
            rows.append('{"data":{"columns":["name","time","value","extra"],"rows":[["n",%d,%d,%s]]}}'
                        % ((T0_MS + i) * 1_000_000, i, extra))
        infos = []
        for i in range(200):
            infos.append(c.publish("plant/l1/d%d/hum" % i, hums[i][0], qos=1))
            infos.append(c.publish("db/append/shapes", rows[i], qos=1))
        for info in infos:
            info.wait_for_publish(timeout=15)
            self.assertTrue(info.is_published())
        c.loop_stop()
        c.disconnect()
        b.stop(keep_dir=True)
        header, got_rows = dump(b, "hums")
        got = {}
        for r in got_rows:
            row = dict(zip(header, r))
            got[int(row["device"][1:])] = {k: float(row[k]) for k in ("hum", "pressure") if row.get(k)}
        self.assertEqual(got, {i: {n: float(v) for n, v in hums[i][1].items()} for i in range(200)})
        header, got_rows = dump(b, "shapes")
        extra = header.index("extra")
        got = sorted((int(r[header.index("time")]) // 1_000_000 - T0_MS, float(r[header.index("value")]),
                      float(r[extra]) if r[extra] else None) for r in got_rows)
        self.assertEqual(got, [(i, float(i), None if i < 100 else float(i)) for i in range(200)])

    def test_a_payload_a_rule_cannot_read_goes_to_the_dead_letter_table(self):
        b = self.start_broker(self.config())
        mosquitto_pub(b.port, "plant/l1/d1/temp", "{broken")
        b.stop(keep_dir=True)
        header, rows = dump(b, "_dead_letter")
        self.assertEqual(len(rows), 1)
        row = dict(zip(header, rows[0]))
        self.assertEqual(row["topic"], "plant/l1/d1/temp")
        self.assertEqual(row["payload"], "{broken")
        self.assertIn("temps", row["error"])

    def test_sys_counts_what_ingest_did(self):
        b = self.start_broker(dict(self.config(), sys={"interval": 1}))
        mosquitto_pub(b.port, "plant/l1/d1/temp", "{broken")
        mosquitto_pub(b.port, "db/append/t", '[["a", 1700000000000000000, 1.5], ["b", 1700000000000000000, 2.5]]')
        seen = {}
        done = threading.Event()

        def on_message(c, u, m):
            seen[m.topic] = m.payload.decode()
            if seen.get("$SYS/broker/ingest/rows") == "3" and seen.get("$SYS/broker/ingest/dead letters") == "1":
                done.set()
        sub = mqtt.Client(client_id=unique_id("sys"))
        sub.on_message = on_message
        sub.connect("127.0.0.1", b.port)
        sub.subscribe("$SYS/broker/#")
        sub.loop_start()
        # rows: 2 of db/append/t and the archive's row of the broken message.
        self.assertTrue(done.wait(15), seen)
        sub.loop_stop()
        sub.disconnect()
        self.assertEqual(seen.get("$SYS/broker/ingest/errors"), "1")

    def test_a_bad_rule_is_a_config_error_naming_it(self):
        with tempfile.TemporaryDirectory() as d:
            for rule, why in [('topic = "plant/+9x/temp"\ntable = "t"', "ingest rule 'plant/+9x/temp'"),
                              ('topic = "a/b"\ntable = "t"\nfields.v = "$..x"', "JSON path '$..x' is not valid"),
                              ('topic = "a/b"', "ingest rule 'a/b'")]:
                path = os.path.join(d, "bad.toml")
                with open(path, "w") as f:
                    f.write("[[ingest]]\n" + rule + "\n")
                r = subprocess.run([harness.mqbase_binary(), "serve", "-c", path, "--port", "0",
                                    "--data-dir", os.path.join(d, "data")],
                                   capture_output=True, text=True, timeout=30)
                self.assertEqual(r.returncode, 2, r.stderr)
                self.assertIn(why, r.stderr)
                self.assertIn("bad.toml:", r.stderr)


if __name__ == "__main__":
    unittest.main()
