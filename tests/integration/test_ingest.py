#!/usr/bin/python3
"""Telemetry ingest: MQTT messages on db/... topics become rows of time-series tables.

Topics db/append/{table} and db/write/{table} take rows (JSON by default; :json, :csv, :ndjson,
then :gzip as topic suffixes, or the MQTT 5 user property `format`), db/metrics/{table} takes
InfluxDB line protocol. MQTT 5 user properties `timeformat`, `tz`, `header`, `delimiter` and
`reply` (or the Response Topic) refine a message. A table that does not exist is created from
the first message's shape. A message is atomic: when one of its rows does not convert, nothing
of it is stored; an MQTT 5 publisher hears why (PUBACK / PUBREC 0x99 with a reason string, a
reply on its reply topic), a message from an MQTT 3.1.1 publisher that cannot be told goes to
the table _dead_letter. Subscribers of db/# get every message as from any broker.

What was stored is read back offline, the server stopped, with `mqbase tables list` and
`mqbase tables dump TABLE --time ns` on its data directory (CSV: a header with the table's
columns, one line per row, series by series, sorted by time within a series; NULL is an empty
cell; doubles with %.17g, which reads back as the exact double).

mqbase only: mosquitto has no tables.
"""

import csv
import gzip
import io
import json
import os
import re
import sys
import threading
import time
import unittest
import urllib.parse
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (PUBACK, PUBCOMP, PUBREC, PUBREL, REASON_STRING,  # noqa: E402
                     TIMEOUT, BrokerTestCase, RawClient5, ack5_packet, http_request, is_mosquitto,
                     paho5, parse_ack5, publish5_packet, run_mosquitto_pub, run_tests,
                     unique_id, wait_for)

# 2023-11-14T22:13:20Z in ns since the epoch.
T0 = 1_700_000_000_000_000_000
SECOND = 1_000_000_000
DAY = 86_400 * SECOND

LIST_LINE = re.compile(r"^(\w+) \((.*)\)$")
LIST_ROWS = re.compile(r"^\s+rows (\d+) \(on disk (\d+), in the log (\d+)\), series (\d+), "
                       r"partitions (\d+), files (\d+), bytes on disk (\d+)")


def neo_rows(rows):
    """JSON for [[name, time, value], ...]."""
    return json.dumps(rows, separators=(",", ":"))


class TableInfo:
    """A table as `mqbase tables list` describes it."""

    def __init__(self, name, columns):
        self.name = name
        self.columns = columns  # [(column, TYPE)] in table order
        self.rows = self.on_disk = self.in_log = self.series = None
        self.partitions = self.files = self.bytes_on_disk = None

    @property
    def types(self):
        return dict(self.columns)


def _typed(value, type_name):
    """A dump cell as a Python value by column type; NULL (an empty field cell) is None."""
    if type_name == "TAG":
        return value
    if value == "":
        return None
    if type_name == "TIME" or type_name == "BIGINT":
        return int(value)
    if type_name == "DOUBLE":
        return float(value)
    if type_name == "BOOLEAN":
        if value not in ("true", "false"):
            raise AssertionError("BOOLEAN cell %r is neither true nor false" % value)
        return value == "true"
    return value  # VARCHAR, JSON


@unittest.skipIf(is_mosquitto(), "telemetry tables (db/... ingest) are mqbase's: mosquitto has "
                 "none")
class IngestTestCase(BrokerTestCase):
    """A broker per test (broker_config); helpers to publish and to read the tables back."""

    # -- publishing ----------------------------------------------------------------------------

    def v5(self, **kwargs):
        return paho5(self, port=self.broker.port, **kwargs)

    def raw_v5(self):
        c = RawClient5(self.broker.port)
        self.addCleanup(c.close)
        c.connect()
        return c

    def publish_v5(self, client, topic, payload, qos=1, props=()):
        """Publish on a RawClient5 and complete the flow; returns (reason code, reason string
        or None) of the PUBACK (QoS 1) or PUBREC (QoS 2). (paho 1.6 drops both: its
        on_publish gets only the packet id.)"""
        pid = client.new_id()
        client.send(publish5_packet(topic, payload, qos, packet_id=pid, props=props))
        ack = client._read_ack(TIMEOUT)
        got_pid, reason, aprops = parse_ack5(ack)
        want = PUBACK if qos == 1 else PUBREC
        self.assertEqual((ack.type, got_pid), (want, pid), "expected %s for packet id %d, got %r"
                         % ("PUBACK" if qos == 1 else "PUBREC", pid, ack.raw))
        if qos == 2 and reason < 0x80:
            client.send(ack5_packet(PUBREL, pid))
            comp = client._read_ack(TIMEOUT)
            self.assertEqual((comp.type, parse_ack5(comp)[:2]), (PUBCOMP, (pid, 0)))
        return reason, aprops.get(REASON_STRING)

    def ingest_log(self):
        """What the broker logged about messages it did not store (for failure messages)."""
        lines = [l for l in self.broker.stderr_text().splitlines() if "ingest:" in l]
        return "\n".join(lines[-20:]) or "(nothing about ingest in the broker's log)"

    # -- reading back (the broker stopped) -----------------------------------------------------

    def stop_broker(self):
        """SIGTERM the broker, keeping its data directory for the offline tools."""
        self.broker.stop(keep_dir=True)

    def run_tool(self, args):
        r = self.broker.run_binary(args)
        self.assertEqual(r.returncode, 0, "mqbase %s exited %d\nstdout:\n%s\nstderr:\n%s"
                         % (" ".join(args), r.returncode, r.stdout[-4000:], r.stderr[-4000:]))
        return r.stdout

    def tables(self):
        """{table: TableInfo} from `mqbase tables list`."""
        out = self.run_tool(["tables", "list", "--data-dir", self.broker.data_dir])
        tables, last = {}, None
        for line in out.splitlines():
            m = LIST_LINE.match(line)
            if m:
                columns = []
                for col in m.group(2).split(", "):
                    name, _, type_name = col.rpartition(" ")
                    columns.append((name, type_name))
                last = tables[m.group(1)] = TableInfo(m.group(1), columns)
                continue
            m = LIST_ROWS.match(line)
            if m and last is not None:
                (last.rows, last.on_disk, last.in_log, last.series, last.partitions, last.files,
                 last.bytes_on_disk) = (int(x) for x in m.groups())
        return tables

    def table_info(self, table):
        tables = self.tables()
        self.assertIn(table, tables, "table %s not in `tables list` (%s)\n%s"
                      % (table, sorted(tables), self.ingest_log()))
        return tables[table]

    def dump(self, table, extra=()):
        """(header, [rows as lists of strings]) of `tables dump TABLE --time ns`."""
        out = self.run_tool(["tables", "dump", table, "--data-dir", self.broker.data_dir,
                             "--time", "ns"] + list(extra))
        lines = list(csv.reader(io.StringIO(out)))
        self.assertTrue(lines, "tables dump %s printed no header" % table)
        return lines[0], lines[1:]

    def read_table(self, table, extra=()):
        """(TableInfo, rows as tuples of typed values in table column order). Also checks the
        dump's header and its order: each series' rows together, sorted by time."""
        info = self.table_info(table)
        header, rows = self.dump(table, extra)
        self.assertEqual(header, [c for c, _ in info.columns],
                         "tables dump %s header vs the columns `tables list` shows" % table)
        types = [t for _, t in info.columns]
        typed = []
        for r in rows:
            self.assertEqual(len(r), len(types), "dump row %r has %d cells, the table %d columns"
                             % (r, len(r), len(types)))
            typed.append(tuple(_typed(v, t) for v, t in zip(r, types)))
        self.check_series_order(table, types, typed)
        return info, typed

    def check_series_order(self, table, types, rows):
        tag_cols = [i for i, t in enumerate(types) if t == "TAG"]
        time_col = types.index("TIME")
        seen, current, last_time = set(), None, None
        for r in rows:
            key = tuple(r[i] for i in tag_cols)
            if key != current:
                self.assertNotIn(key, seen, "%s: series %r appears in two runs of the dump"
                                 % (table, key))
                seen.add(key)
                current, last_time = key, None
            if last_time is not None:
                self.assertLessEqual(last_time, r[time_col], "%s: series %r not sorted by time"
                                     % (table, key))
            last_time = r[time_col]

    def assertRows(self, table, got, want):
        """Exact row sets (as multisets: a duplicate row is an error too)."""
        got_sorted, want_sorted = sorted(got, key=repr), sorted(want, key=repr)
        if got_sorted != want_sorted:
            missing = [r for r in want_sorted if r not in got]
            extra = [r for r in got_sorted if r not in want]
            self.fail("%s: %d rows, expected %d; missing (first 10) %r; unexpected (first 10) %r"
                      "\n%s" % (table, len(got), len(want), missing[:10], extra[:10],
                                self.ingest_log()))


# --------------------------------------------------------------------------------------------

class JsonThroughMosquittoPub(IngestTestCase):

    def test_2000_messages_qos1_v311_from_mosquitto_pub_lines(self):
        """mosquitto_pub -l at QoS 1, MQTT 3.1.1: one message a line, each [[name, ns, value]];
        every row there with its exact value, 10 series."""
        n = 2000
        want, lines = [], []
        for i in range(n):
            row = ("dev%d" % (i % 10), T0 + i * 1000, i * 0.25 + 1 / 3)
            want.append(row)
            lines.append(neo_rows([list(row)]))
        run_mosquitto_pub(self.broker.port, "db/append/sensors", qos=1, protocol="mqttv311",
                          extra=["-l", "-i", unique_id("mpub")],
                          input=("\n".join(lines) + "\n").encode(), timeout=120)
        self.stop_broker()
        info, rows = self.read_table("sensors")
        self.assertEqual(info.columns, [("name", "TAG"), ("time", "TIME"), ("value", "DOUBLE")])
        self.assertRows("sensors", rows, want)
        self.assertEqual(sorted({r[0] for r in rows}), ["dev%d" % i for i in range(10)])
        self.assertEqual(info.series, 10)


class NeoShapes(IngestTestCase):

    def test_neo_payload_shapes_and_time_formats(self):
        """Through paho (MQTT 5, QoS 1): neo's {"data":{"columns","rows"}} with 1,000 rows;
        NDJSON with a missing key; CSV named by a header line (header=columns, format=csv);
        CSV positional into an existing table (and header=skip); gzip (JSON and CSV); the
        timeformat property (ms, us, s, rfc3339, a Go layout with tz)."""
        c = self.v5()
        expected = {}

        # neo's shape: 1,000 rows in one message
        neo = [["n%d" % (i % 7), T0 + i * 1_000_000, i * 0.5 - 100] for i in range(1000)]
        c.publish("db/write/neo", json.dumps({"data": {"columns": ["name", "time", "value"],
                                                       "rows": neo}}), qos=1)
        expected["neo"] = [tuple(r) for r in neo]
        # CSV positional rows into the table that exists now, one with a header to skip
        c.publish("db/append/neo:csv", "p1,%d,7.25\np2,%d,-8.5\n" % (T0 + 5 * SECOND,
                                                                      T0 + 6 * SECOND), qos=1)
        c.publish("db/append/neo:csv", "name,time,value\np3,%d,9\n" % (T0 + 7 * SECOND), qos=1,
                  props={"UserProperty": [("header", "skip")]})
        expected["neo"] += [("p1", T0 + 5 * SECOND, 7.25), ("p2", T0 + 6 * SECOND, -8.5),
                            ("p3", T0 + 7 * SECOND, 9.0)]

        # NDJSON: three lines, the second without "hum" (NULL)
        nd = [{"dev": "a", "time": T0, "temp": 21.5, "hum": 40},
              {"dev": "b", "time": T0 + 1000, "temp": 22.5},
              {"dev": "a", "time": T0 + 2000, "temp": 23.5, "hum": 41.5}]
        c.publish("db/append/nd:ndjson", "\n".join(json.dumps(o) for o in nd) + "\n", qos=1)
        expected["nd"] = [("a", T0, 21.5, 40.0), ("b", T0 + 1000, 22.5, None),
                          ("a", T0 + 2000, 23.5, 41.5)]

        # CSV with a header line naming the columns (format and header as user properties)
        c.publish("db/write/csvh", "site,time,level,ok\nnorth,%d,1.5,true\nsouth,%d,2.5,false\n"
                  % (T0, T0 + 1), qos=1,
                  props={"UserProperty": [("format", "csv"), ("header", "columns")]})
        expected["csvh"] = [("north", T0, 1.5, True), ("south", T0 + 1, 2.5, False)]

        # gzip: JSON (the default format) and CSV
        c.publish("db/write/gz:gzip", gzip.compress(neo_rows([["g1", T0, 1.5],
                                                              ["g2", T0 + 1, 2.5]]).encode()),
                  qos=1)
        c.publish("db/write/gz:csv:gzip", gzip.compress(b"g3,%d,3.5\n" % (T0 + 2)), qos=1)
        expected["gz"] = [("g1", T0, 1.5), ("g2", T0 + 1, 2.5), ("g3", T0 + 2, 3.5)]

        # timeformat (and tz for a layout without an offset)
        for payload, props, row in [
                ([["ms", 1_700_000_000_123, 1]], [("timeformat", "ms")],
                 ("ms", T0 + 123_000_000, 1.0)),
                ([["us", 1_700_000_000_000_001, 2]], [("timeformat", "us")],
                 ("us", T0 + 1000, 2.0)),
                ([["s", 1_700_000_001, 3]], [("timeformat", "s")], ("s", T0 + SECOND, 3.0)),
                ([["rfc", "2023-11-15T00:13:20.25+02:00", 4]], [("timeformat", "rfc3339")],
                 ("rfc", T0 + 250_000_000, 4.0)),
                ([["rfcz", "2023-11-14T22:13:22.000000007Z", 5]], [("timeformat", "rfc3339")],
                 ("rfcz", T0 + 2 * SECOND + 7, 5.0)),
                ([["go", "2023-11-15 07:13:23", 6]],
                 [("timeformat", "2006-01-02 15:04:05"), ("tz", "+09:00")],
                 ("go", T0 + 3 * SECOND, 6.0))]:
            c.publish("db/append/tf", neo_rows(payload), qos=1, props={"UserProperty": props})
            expected.setdefault("tf", []).append(row)
        c.disconnect()

        self.stop_broker()
        columns = {"neo": [("name", "TAG"), ("time", "TIME"), ("value", "DOUBLE")],
                   "nd": [("dev", "TAG"), ("time", "TIME"), ("temp", "DOUBLE"), ("hum", "DOUBLE")],
                   "csvh": [("site", "TAG"), ("time", "TIME"), ("level", "DOUBLE"),
                            ("ok", "BOOLEAN")],
                   "gz": [("name", "TAG"), ("time", "TIME"), ("value", "DOUBLE")],
                   "tf": [("name", "TAG"), ("time", "TIME"), ("value", "DOUBLE")]}
        problems = []
        for table in ("neo", "nd", "csvh", "gz", "tf"):
            try:
                info, rows = self.read_table(table)
                self.assertEqual(info.columns, columns[table], "%s: columns" % table)
                self.assertRows(table, rows, expected[table])
            except AssertionError as e:  # check every shape, then report all that failed
                problems.append(str(e))
        if problems:
            self.fail("\n\n".join(problems))


class LineProtocol(IngestTestCase):

    def test_metrics_topic_takes_line_protocol(self):
        """db/metrics/cpu: measurement and tags are TAG columns; 1.5 DOUBLE, 2i BIGINT,
        "x" VARCHAR, t/f BOOLEAN; explicit ns timestamps."""
        lines = ('cpu,host=a usage=1.5,count=2i,label="x",ok=t %d\n'
                 'cpu,host=b usage=2.25,count=3i,label="y y",ok=f %d\n'
                 'cpu,host=a usage=0.5,count=-4i,label="z",ok=true %d\n'
                 % (T0, T0 + 1, T0 + SECOND))
        c = self.v5()
        c.publish("db/metrics/cpu", lines, qos=1)
        c.disconnect()
        self.stop_broker()
        info, rows = self.read_table("cpu")
        names = [n for n, _ in info.columns]
        got = [dict(zip(names, r)) for r in rows]
        want = [{"measurement": "cpu", "host": "a", "usage": 1.5, "count": 2, "label": "x",
                 "ok": True, "time": T0},
                {"measurement": "cpu", "host": "b", "usage": 2.25, "count": 3, "label": "y y",
                 "ok": False, "time": T0 + 1},
                {"measurement": "cpu", "host": "a", "usage": 0.5, "count": -4, "label": "z",
                 "ok": True, "time": T0 + SECOND}]
        key = lambda d: (d.get("host"), d.get("time"))  # noqa: E731
        self.assertEqual(sorted(got, key=key), sorted(want, key=key), self.ingest_log())
        self.assertEqual(info.types, {"measurement": "TAG", "host": "TAG", "usage": "DOUBLE",
                                      "count": "BIGINT", "label": "VARCHAR", "ok": "BOOLEAN",
                                      "time": "TIME"},
                         "cpu: column types (table order %r)" % (info.columns,))
        self.assertEqual(info.series, 2)


class Errors(IngestTestCase):

    def test_bad_row_fails_the_whole_message_and_the_publisher_is_told(self):
        """A 3-row message whose row 2 has a string where the table has DOUBLE: PUBACK (QoS 1)
        or PUBREC (QoS 2) 0x99 with a reason string naming row 2; a reply on the Response
        Topic with success false and the correlation data; none of its rows stored. A good
        message's reply says "success, 3 record(s) inserted"."""
        raw = self.raw_v5()
        self.assertEqual(self.publish_v5(raw, "db/append/errs", neo_rows([["ok", T0, 1.0]])),
                         (0, None), self.ingest_log())

        bad = neo_rows([["bad1a", T0 + 1, 1.5], ["bad1b", T0 + 2, "abc"], ["bad1c", T0 + 3, 2.5]])
        reason, text = self.publish_v5(raw, "db/append/errs", bad, qos=1)
        self.assertEqual(reason, 0x99, "PUBACK reason for a row that does not convert")
        self.assertIsNotNone(text, "PUBACK 0x99 without a reason string")
        self.assertIn("row 2", text)
        self.assertIn("'value'", text)

        bad2 = neo_rows([["bad2a", T0 + 1, 1.5], ["bad2b", T0 + 2, "xyz"], ["bad2c", T0 + 3, 2.5]])
        reason, text = self.publish_v5(raw, "db/append/errs", bad2, qos=2)
        self.assertEqual(reason, 0x99, "PUBREC reason for a row that does not convert")
        self.assertIsNotNone(text, "PUBREC 0x99 without a reason string")
        self.assertIn("row 2", text)

        # replies: a subscriber on the reply topic, a paho MQTT 5 publisher naming it
        reply_topic = "replies/%s" % uuid.uuid4().hex[:12]
        listener = self.v5()
        listener.subscribe(reply_topic, 1)
        pub = self.v5()
        bad3 = neo_rows([["bad3a", T0 + 1, 1.5], ["bad3b", T0 + 2, "abc"], ["bad3c", T0 + 3, 2.5]])
        pub.publish("db/append/errs", bad3, qos=1,
                    props={"ResponseTopic": reply_topic, "CorrelationData": b"corr-bad"})
        m = listener.get()
        self.assertEqual(m.topic, reply_topic)
        self.assertEqual(m.props.get("CorrelationData"), b"corr-bad")
        body = json.loads(m.payload)
        self.assertIs(body.get("success"), False, body)
        self.assertIn("row 2", body.get("reason", ""), body)
        self.assertRegex(body.get("elapse", ""), r"^\d+(\.\d+)?ms$", body)

        good = [["good%d" % i, T0 + 10 + i, i + 0.5] for i in range(3)]
        pub.publish("db/append/errs", neo_rows(good), qos=1,
                    props={"ResponseTopic": reply_topic, "CorrelationData": b"corr-good"})
        m = listener.get()
        self.assertEqual(m.props.get("CorrelationData"), b"corr-good")
        body = json.loads(m.payload)
        self.assertIs(body.get("success"), True, body)
        self.assertEqual(body.get("reason"), "success, 3 record(s) inserted", body)
        self.assertRegex(body.get("elapse", ""), r"^\d+(\.\d+)?ms$", body)

        # the `reply` user property names a reply topic too
        pub.publish("db/append/errs", neo_rows([["viaprop", T0 + 20, 7.0]]), qos=1,
                    props={"UserProperty": [("reply", reply_topic)]})
        body = json.loads(listener.get().payload)
        self.assertEqual((body.get("success"), body.get("reason")),
                         (True, "success, 1 record(s) inserted"), body)
        pub.disconnect()
        listener.disconnect()
        raw.disconnect()

        self.stop_broker()
        _, rows = self.read_table("errs")
        self.assertRows("errs", rows, [("ok", T0, 1.0), ("viaprop", T0 + 20, 7.0)]
                        + [tuple(r) for r in good])


class DeadLetter(IngestTestCase):

    def test_v311_garbage_is_acknowledged_and_kept_in_dead_letter(self):
        """An MQTT 3.1.1 publisher cannot hear a refusal: its bad message is PUBACKed and kept
        as a row of _dead_letter (time, client, topic, payload, error); the connection goes on
        and its next good message is stored."""
        client_id = unique_id("dead")
        c = self.paho(client_id=client_id)  # MQTT 3.1.1
        garbage = 'garbage, "not json" {['
        before = time.time_ns()
        c.publish("db/append/t", garbage, qos=1)  # waits for the PUBACK
        after = time.time_ns()
        c.publish("db/append/t", neo_rows([["fine", T0, 2.5]]), qos=1)
        c.disconnect()

        self.stop_broker()
        info, rows = self.read_table("_dead_letter")
        self.assertEqual([n for n, _ in info.columns], ["time", "client", "topic", "payload",
                                                        "error"])
        self.assertEqual(len(rows), 1, "dead letters: %r" % (rows,))
        names = [n for n, _ in info.columns]
        row = dict(zip(names, rows[0]))
        self.assertEqual((row["client"], row["topic"], row["payload"]),
                         (client_id, "db/append/t", garbage))
        self.assertTrue(row["error"], "dead letter without an error: %r" % (row,))
        self.assertTrue(before <= row["time"] <= after + 10 * SECOND,
                        "dead letter time %d not the receive time (%d .. %d)"
                        % (row["time"], before, after))
        _, rows = self.read_table("t")
        self.assertRows("t", rows, [("fine", T0, 2.5)])


class TableLimit(IngestTestCase):
    """tables.max_tables: a client cannot make tables without end by publishing to
    db/append/t1, t2, ... At the limit a v5 publisher gets PUBACK 0x97 Quota exceeded with
    the reason, a v3.1.1 publisher's message goes to _dead_letter (made even at the limit,
    and counted), CREATE TABLE fails with the same words, and DROP TABLE makes room."""

    broker_config = {"tables": {"max_tables": 3}}

    def sql(self, q):
        status, _, body = http_request(self.broker.http_url("/db/query?" + urllib.parse.urlencode({"q": q})))
        return status, json.loads(body)

    def test_tables_past_the_limit_are_refused_with_quota_exceeded(self):
        raw = self.raw_v5()
        for i in (1, 2, 3):
            self.assertEqual(self.publish_v5(raw, "db/append/t%d" % i, neo_rows([["a", T0 + i, 1.0 * i]])),
                             (0, None), self.ingest_log())
        reason, text = self.publish_v5(raw, "db/append/t4", neo_rows([["a", T0, 4.0]]))
        self.assertEqual(reason, 0x97, "PUBACK reason past tables.max_tables")
        self.assertEqual(text, "table 't4' cannot be created: the server is at its limit of 3 "
                               "tables (tables.max_tables)")
        reason, _ = self.publish_v5(raw, "db/append/t4", neo_rows([["a", T0, 4.0]]), qos=2)
        self.assertEqual(reason, 0x97, "PUBREC reason past tables.max_tables")
        # Existing tables take rows as before.
        self.assertEqual(self.publish_v5(raw, "db/append/t1", neo_rows([["b", T0 + 9, 9.0]])), (0, None))

        old = self.paho(client_id=unique_id("old"))  # MQTT 3.1.1: acknowledged, dead-lettered
        old.publish("db/append/t5", neo_rows([["a", T0, 5.0]]), qos=1)
        old.disconnect()

        status, body = self.sql("CREATE TABLE t6 (name TAG, time TIMESTAMP, value DOUBLE)")
        self.assertEqual(status, 400, body)
        self.assertIs(body.get("success"), False, body)
        self.assertIn("the server is at its limit of 3 tables (tables.max_tables)", body.get("reason", ""))

        status, _, text = http_request(self.broker.http_url("/db/write/t7"), method="POST",
                                       body=neo_rows([["a", T0, 7.0]]), content_type="application/json")
        self.assertEqual(status, 400, text)
        self.assertIn("the server is at its limit of 3 tables (tables.max_tables)", text)

        # t1, t2, t3 and _dead_letter: two must go for one more.
        self.assertEqual(self.sql("DROP TABLE t2")[0], 200)
        self.assertEqual(self.publish_v5(raw, "db/append/t4", neo_rows([["a", T0, 4.0]]))[0], 0x97)
        status, body = self.sql("DROP TABLE t3")
        self.assertEqual(status, 200, body)
        self.assertEqual(self.publish_v5(raw, "db/append/t4", neo_rows([["a", T0, 4.0]])), (0, None),
                         self.ingest_log())
        raw.disconnect()

        self.stop_broker()
        self.assertEqual(sorted(self.tables()), ["_dead_letter", "t1", "t4"])
        info, rows = self.read_table("_dead_letter")
        row = dict(zip([n for n, _ in info.columns], rows[0]))
        self.assertEqual((len(rows), row["topic"]), (1, "db/append/t5"), rows)
        self.assertIn("tables.max_tables", row["error"])
        _, rows = self.read_table("t4")
        self.assertRows("t4", rows, [("a", T0, 4.0)])


class Routing(IngestTestCase):

    def test_db_subscribers_get_the_messages_and_no_subscriber_is_success(self):
        """A stored message is routed as by any broker (subscribers of db/# get it, the dead-
        lettered one too); an MQTT 5 QoS 1 publish to a db/ table topic that nobody
        subscribes to gets PUBACK 0x00 (stored), not 0x10 (no matching subscribers)."""
        raw = self.raw_v5()
        self.assertEqual(self.publish_v5(raw, "db/append/lonely", neo_rows([["l", T0, 1.0]])),
                         (0, None))

        sub = self.paho()  # MQTT 3.1.1
        self.assertEqual(sub.subscribe("db/#", 1), [1])
        pub = self.v5()
        msgs = [("db/append/routed", neo_rows([["r1", T0, 1.0]])),
                ("db/write/routed:csv", "r2,%d,2\n" % T0),
                ("db/metrics/m", "m,host=h v=1 %d\n" % T0)]
        for topic, payload in msgs:
            pub.publish(topic, payload, qos=1)
        p311 = self.paho()
        p311.publish("db/append/routed", "garbage", qos=1)
        got = [(m.topic, m.payload.decode()) for m in sub.get_many(4)]
        self.assertEqual(sorted(got), sorted(msgs + [("db/append/routed", "garbage")]))
        self.assertEqual([g for g in got if g in msgs], msgs, "one publisher's order")
        for c in (pub, p311, sub):
            c.disconnect()
        raw.disconnect()

        self.stop_broker()
        _, rows = self.read_table("lonely")
        self.assertRows("lonely", rows, [("l", T0, 1.0)])
        _, rows = self.read_table("routed")
        self.assertRows("routed", rows, [("r1", T0, 1.0), ("r2", T0, 2.0)])


class KillMidIngest(IngestTestCase):

    MESSAGES = 300
    ROWS = 100
    KILL_AFTER = 100

    def test_kill9_mid_ingest_keeps_every_acknowledged_message_whole(self):
        """300 messages of 100 rows at QoS 1 from paho (MQTT 5) in a thread; kill -9 after
        about 100 PUBACKs. After the restart every acknowledged message's 100 rows are there,
        and no message is partial. A row's value is message * 1000 + row."""
        acked, lock, enough = set(), threading.Lock(), threading.Event()
        c = self.v5()

        def on_publish(client, userdata, mid):
            with lock:
                acked.add(mid)
                if len(acked) >= self.KILL_AFTER:
                    enough.set()

        c.client.on_publish = on_publish
        c.client.max_inflight_messages_set(20)

        def rows_of(n):
            return [["s%d" % (k % 10), T0 + n * self.ROWS + k, float(n * 1000 + k)]
                    for k in range(self.ROWS)]

        infos, errors = {}, []

        def publish_all():
            try:
                for n in range(self.MESSAGES):
                    info = c.client.publish("db/append/crash", neo_rows(rows_of(n)), qos=1)
                    infos[n] = info.mid
            except Exception as e:  # reported by the test's thread
                errors.append(e)

        t = threading.Thread(target=publish_all)
        t.start()
        self.assertTrue(enough.wait(90), "no %d PUBACKs within 90 s (%d)\n%s"
                        % (self.KILL_AFTER, len(acked), self.broker.stderr_tail()))
        self.assertTrue(self.broker.alive(), "the broker exited by itself")
        self.broker.kill9()
        t.join(30)
        self.assertFalse(t.is_alive())
        self.assertEqual(errors, [])
        c.wait_disconnected(10)
        c.stop_loop()
        with lock:
            acked_mids = set(acked)
        mid_to_n = {mid: n for n, mid in infos.items()}
        acked_ns = {mid_to_n[mid] for mid in acked_mids}
        self.assertLess(len(acked_ns), self.MESSAGES,
                        "every message was acknowledged before the kill: not mid-stream")

        self.broker.restart()
        self.stop_broker()
        _, rows = self.read_table("crash")
        by_message = {}
        for r in rows:
            by_message.setdefault(int(r[2]) // 1000, []).append(r)
        partial = {n: len(rs) for n, rs in by_message.items() if len(rs) != self.ROWS}
        self.assertEqual(partial, {}, "messages stored in part (message: rows)")
        lost = sorted(acked_ns - set(by_message))
        self.assertEqual(lost, [], "%d acknowledged messages lost" % len(lost))
        for n, rs in sorted(by_message.items()):
            self.assertEqual(sorted(rs), sorted(tuple(r) for r in rows_of(n)),
                             "message %d's rows" % n)
        print("\nkill -9 mid-ingest: %d messages acknowledged, %d stored"
              % (len(acked_ns), len(by_message)), file=sys.stderr)


class QoS0ThenKill(IngestTestCase):

    def test_qos0_rows_the_broker_took_survive_kill9(self):
        """5000 QoS 0 messages of one row from mosquitto_pub -l (nothing waits for their
        fdatasync: they are written in gathered batches and synced later). Once SQL counts
        them all in the table and a moment has passed, kill -9: every row is there after the
        restart, since a write survives a killed process whether or not it was synced."""
        n = 5000
        want, lines = [], []
        for i in range(n):
            row = ("q%d" % (i % 7), T0 + i * SECOND, i * 0.5)
            want.append(row)
            lines.append(neo_rows([list(row)]))
        run_mosquitto_pub(self.broker.port, "db/append/q0", qos=0, protocol="mqttv311",
                          extra=["-l", "-i", unique_id("q0pub")],
                          input=("\n".join(lines) + "\n").encode(), timeout=120)
        url = self.broker.http_url("/db/query?" + urllib.parse.urlencode({"q": "SELECT count(*) FROM q0"}))

        def all_in():
            status, _, body = http_request(url)
            return status == 200 and json.loads(body)["data"]["rows"] == [[n]]

        wait_for(all_in, timeout=60, message="%d rows in the table q0" % n)
        time.sleep(0.2)  # more than the 1 ms records gather for before they are written
        self.broker.kill9()
        self.broker.restart()
        self.stop_broker()
        _, rows = self.read_table("q0")
        self.assertRows("q0", rows, want)


class QoS0WithReply(IngestTestCase):
    """A QoS 0 message with a reply topic is waited for: its record is fdatasync'd at once,
    like a QoS 1 message's, not batch_interval_ms later like plain QoS 0 telemetry."""

    broker_config = {"storage": {"durability": "sync", "batch_interval_ms": 30000}}

    def test_reply_comes_at_once_not_after_the_batch_interval(self):
        reply_topic = "replies/%s" % uuid.uuid4().hex[:12]
        listener = self.v5()
        listener.subscribe(reply_topic, 1)
        pub = self.v5()
        for i, props in enumerate([{"ResponseTopic": reply_topic, "CorrelationData": b"q0-a"},
                                   {"UserProperty": [("reply", reply_topic)]}]):
            started = time.monotonic()
            pub.publish("db/append/q0reply", neo_rows([["r%d" % i, T0 + i, i + 0.5]]), qos=0,
                        props=props)
            # Treated as unwaited, the reply would wait for the 30 s batch interval's fdatasync.
            m = listener.get(timeout=5)
            took = time.monotonic() - started
            body = json.loads(m.payload)
            self.assertEqual((body.get("success"), body.get("reason")),
                             (True, "success, 1 record(s) inserted"), body)
            self.assertLess(took, 5, "reply %d took %.1f s" % (i, took))
        pub.disconnect()
        listener.disconnect()
        self.stop_broker()
        _, rows = self.read_table("q0reply")
        self.assertRows("q0reply", rows, [("r0", T0, 0.5), ("r1", T0 + 1, 1.5)])


class RestartAndWriteOn(IngestTestCase):

    def test_rows_survive_a_restart_and_writes_continue(self):
        """Rows written, SIGTERM and restart, more rows written (to the table that exists and
        to a new one), stop: all there."""
        c = self.v5()
        first = [["a%d" % (i % 3), T0 + i, float(i)] for i in range(50)]
        c.publish("db/append/keep", neo_rows(first), qos=1)
        c.disconnect()
        self.broker.stop(keep_dir=True)
        self.broker.restart()
        c = self.v5()
        second = [["a%d" % (i % 3), T0 + 1000 + i, float(-i)] for i in range(50)]
        c.publish("db/append/keep", neo_rows(second), qos=1)
        c.publish("db/append/later", neo_rows([["z", T0, 0.5]]), qos=1)
        c.disconnect()
        self.stop_broker()
        _, rows = self.read_table("keep")
        self.assertRows("keep", rows, [tuple(r) for r in first + second])
        _, rows = self.read_table("later")
        self.assertRows("later", rows, [("z", T0, 0.5)])


class CheckpointsThenKill(IngestTestCase):

    # 64 KiB log segments, a checkpoint once 64 KiB of them are closed: the rows go to the
    # tables' block files (each checkpoint flushes them first) while they come.
    broker_config = {"storage": {"segment_size": 65536, "checkpoint_bytes": 65536}}
    MESSAGES = 40
    ROWS = 1000

    def checkpoint_number(self):
        """N of the newest wal/checkpoint-N.ckpt (docs/store-format.md), or -1."""
        names = os.listdir(os.path.join(self.broker.data_dir, "wal"))
        found = [int(m.group(1), 16) for m in
                 (re.match(r"^checkpoint-([0-9a-f]{16})\.ckpt$", n) for n in names) if m]
        return max(found, default=-1)

    def test_rows_in_block_files_and_in_the_log_read_back_whole_after_kill9(self):
        """40,000 rows over 3 days (several partitions) in two halves, each followed by a
        checkpoint; one more message (in the log); kill -9: rows are in block files; after
        restart and stop every row reads back (whole, by tag and time range too), and writing
        goes on."""
        total = self.MESSAGES * self.ROWS
        step = 3 * DAY // total
        want = []
        c = self.v5()

        def write(messages):
            infos = []
            for n in messages:
                rows = []
                for k in range(self.ROWS):
                    i = n * self.ROWS + k
                    rows.append(["dev%d" % (i % 16), T0 + i * step, i * 0.125])
                infos.append(c.publish("db/append/bulk", neo_rows(rows), qos=1, wait=False))
                want.extend(tuple(r) for r in rows)
            for info in infos:
                c.wait_published(info, timeout=60)

        half = self.MESSAGES // 2
        for part in (range(half), range(half, self.MESSAGES)):
            before = self.checkpoint_number()
            write(part)
            wait_for(lambda: self.checkpoint_number() > before, timeout=60,
                     message="a checkpoint after %d more rows (newest checkpoint %d)"
                     % (len(part) * self.ROWS, before))
        last = [["dev1", T0 + 3 * DAY, -1.0]]
        c.publish("db/append/bulk", neo_rows(last), qos=1)
        want.extend(tuple(r) for r in last)
        c.disconnect()
        self.broker.kill9()

        info = self.table_info("bulk")
        print("\nafter kill -9: %d rows, %d on disk, %d in the log, %d files, %d partitions"
              % (info.rows, info.on_disk, info.in_log, info.files, info.partitions),
              file=sys.stderr)
        self.assertEqual(info.rows, total + 1, "rows `tables list` counts after kill -9")
        self.assertGreater(info.files, 0, "no block file after two checkpoints: %s" % (vars(info),))
        self.assertGreater(info.on_disk, 0, "no row on disk: %s" % (vars(info),))
        self.assertGreaterEqual(info.partitions, 2, "partitions: %s" % (vars(info),))

        self.broker.restart()
        c = self.v5()
        extra = [["dev0", T0 + 3 * DAY + 1, 99.5]]
        c.publish("db/append/bulk", neo_rows(extra), qos=1)
        c.disconnect()
        self.stop_broker()
        info, rows = self.read_table("bulk")
        self.assertEqual(info.series, 16)
        self.assertRows("bulk", rows, want + [tuple(r) for r in extra])
        # a tag and a time range read the same rows, from blocks and log alike
        lo, hi = T0 + DAY, T0 + 2 * DAY
        _, part = self.dump("bulk", ["--tag", "name=dev3", "--from", str(lo), "--to", str(hi)])
        got = sorted((r[0], int(r[1]), float(r[2])) for r in part)
        self.assertEqual(got, sorted(r for r in want if r[0] == "dev3" and lo <= r[1] < hi))


class Duplicates(IngestTestCase):

    def test_same_series_and_time_keeps_the_last_row(self):
        """keep-last: the same (name, time) in two messages, in one message, and on both sides
        of a restart, keeps the row written last."""
        c = self.v5()
        c.publish("db/append/dup", neo_rows([["d", T0, 1.0]]), qos=1)
        c.publish("db/append/dup", neo_rows([["d", T0, 2.0]]), qos=1)
        c.publish("db/append/dup", neo_rows([["e", T0, 1.0], ["e", T0, 3.0], ["e", T0 + 1, 4.0]]),
                  qos=1)
        c.publish("db/append/dup", neo_rows([["f", T0, 1.0]]), qos=1)
        c.disconnect()
        self.broker.stop(keep_dir=True)
        self.broker.restart()
        c = self.v5()
        c.publish("db/append/dup", neo_rows([["f", T0, 5.0]]), qos=1)
        c.disconnect()
        self.stop_broker()
        _, rows = self.read_table("dup")
        self.assertRows("dup", rows, [("d", T0, 2.0), ("e", T0, 3.0), ("e", T0 + 1, 4.0),
                                      ("f", T0, 5.0)])


class SchemaFromMessages(IngestTestCase):

    def test_named_columns_make_and_grow_the_table(self):
        """Named columns: `ts` is the time, strings TAG, numbers DOUBLE, booleans BOOLEAN,
        objects JSON; a later message's new columns become fields (a string VARCHAR), NULL in
        the older rows; a row without a time column takes the receive time."""
        c = self.v5()
        c.publish("db/write/grow", json.dumps({"dev": "x", "ts": T0, "temp": 1.5, "on": True,
                                               "meta": {"a": 1}}), qos=1)
        c.publish("db/write/grow", json.dumps({"dev": "x", "ts": T0 + 1, "temp": 2.5,
                                               "note": "hello", "count": 7}), qos=1)
        before = time.time_ns()
        c.publish("db/write/notime", json.dumps({"dev": "y", "v": 1}), qos=1)
        after = time.time_ns()
        c.disconnect()
        self.stop_broker()
        info, rows = self.read_table("grow")
        self.assertEqual(info.types, {"dev": "TAG", "ts": "TIME", "temp": "DOUBLE",
                                      "on": "BOOLEAN", "meta": "JSON", "note": "VARCHAR",
                                      "count": "DOUBLE"}, "grow: columns %r" % (info.columns,))
        names = ["dev", "ts", "temp", "on", "meta", "note", "count"]
        got = []
        for r in rows:
            d = dict(zip([n for n, _ in info.columns], r))
            d["meta"] = None if d["meta"] is None else json.loads(d["meta"])
            got.append(tuple(d[n] for n in names))
        self.assertRows("grow", got, [("x", T0, 1.5, True, {"a": 1}, None, None),
                                      ("x", T0 + 1, 2.5, None, None, "hello", 7.0)])
        info, rows = self.read_table("notime")
        types = info.types
        self.assertEqual(sorted(types.values()), ["DOUBLE", "TAG", "TIME"],
                         "notime: columns %r" % (info.columns,))
        self.assertEqual((types.get("dev"), types.get("v")), ("TAG", "DOUBLE"))
        self.assertEqual(len(rows), 1)
        row = dict(zip([t for _, t in info.columns], rows[0]))
        self.assertEqual((row["TAG"], row["DOUBLE"]), ("y", 1.0))
        self.assertTrue(before <= row["TIME"] <= after + 10 * SECOND,
                        "receive time %d not in %d .. %d" % (row["TIME"], before, after))


if __name__ == "__main__":
    run_tests()
