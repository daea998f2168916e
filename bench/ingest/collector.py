#!/usr/bin/python3
"""The "small collector" of bench/ingest_compare.sh: MQTT in, PostgreSQL out.

What a user writes today to keep telemetry from an MQTT broker in PostgreSQL: one process
that subscribes to db/append/# at QoS 1 with a persistent session (clean_session=False, so
the broker keeps what arrives while it is away), parses each JSON payload
([["truck_7",<ns time>,<value>], ...] or one such row) and COPYs the rows into
tag(name text, time timestamptz, value double precision) in batches: a batch goes when it
holds --batch-rows rows or its first row is --batch-ms old, whichever comes first, and is
committed on its own. No per-row INSERT; nothing exotic either: paho-mqtt's network thread
hands the payloads over a queue to the main thread, which parses, formats COPY text and
waits for PostgreSQL (psycopg2 lets go of the GIL meanwhile, so the two overlap).

At start it creates the table (if missing) and an index on (name, time) as users do for
time-series queries: a btree by default (--index brin or none for the others). Once
subscribed it writes --ready-file. It exits when it has committed --expect rows and prints
one line:

  rows=N messages=M batches=B seconds=S rows_per_sec=R first_unix=T0 last_commit_unix=T1
  cpu_s=C max_queue=Q index=btree(name,time)

seconds runs from the first message received to the last commit; first_unix and
last_commit_unix are wall-clock times (time.time()) for the caller to line up with its own.
With --timeout seconds and fewer rows, it prints the same line with error=timeout and exits 1.

Debian packages: python3-paho-mqtt (1.6.1), python3-psycopg2. Run it with /usr/bin/python3.

paho-mqtt 1.6 sends the PUBACK once on_message returns, before the rows are committed; a
collector that must not lose a message when it crashes needs manual acknowledgements
(paho-mqtt 2.x) or its own bookkeeping. That does not change the figures here.
"""

import argparse
import datetime
import io
import json
import queue
import resource
import sys
import threading
import time

import paho.mqtt.client as mqtt
import psycopg2

EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--mqtt-port", type=int, required=True)
    p.add_argument("--mqtt-host", default="127.0.0.1")
    p.add_argument("--topic", default="db/append/#")
    p.add_argument("--client-id", default="pg-collector")
    p.add_argument("--dsn", required=True, help="psycopg2 connection string")
    p.add_argument("--table", default="tag")
    p.add_argument("--index", choices=("btree", "brin", "none"), default="btree")
    p.add_argument("--batch-rows", type=int, default=10000)
    p.add_argument("--batch-ms", type=float, default=100.0)
    p.add_argument("--expect", type=int, required=True, help="rows to commit before exiting")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds from start before giving up")
    p.add_argument("--ready-file", help="written once subscribed")
    return p.parse_args()


def copy_text(s):
    """A text cell of COPY's text format."""
    if "\\" in s or "\t" in s or "\n" in s or "\r" in s:
        s = s.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
    return s


def timestamp(ns):
    """Nanoseconds since the epoch as timestamptz text (PostgreSQL keeps microseconds)."""
    return (EPOCH + datetime.timedelta(microseconds=ns // 1000)).isoformat()


def rows_of(payload):
    """COPY lines of one JSON payload: a row [name, time_ns, value] or an array of them."""
    rows = json.loads(payload, parse_float=str)  # the value's digits go to PostgreSQL as sent
    if rows and not isinstance(rows[0], list):
        rows = [rows]
    return ["%s\t%s\t%s\n" % (copy_text(name), timestamp(ns), "\\N" if value is None else value)
            for name, ns, value in rows]


def main():
    a = parse_args()
    started = time.monotonic()

    db = psycopg2.connect(a.dsn)
    with db.cursor() as cur:
        cur.execute("CREATE TABLE IF NOT EXISTS %s (name text, time timestamptz, value double precision)" % a.table)
        if a.index != "none":
            cur.execute("CREATE INDEX IF NOT EXISTS %s_name_time_idx ON %s USING %s (name, time)"
                        % (a.table, a.table, a.index))
    db.commit()

    payloads = queue.Queue()
    subscribed = threading.Event()
    first_received = []  # [monotonic, wall clock] of the first message

    def on_connect(client, userdata, flags, rc):
        if rc != 0:
            print("collector: CONNACK %d" % rc, file=sys.stderr)
            return
        client.subscribe(a.topic, qos=1)

    def on_subscribe(client, userdata, mid, granted_qos):
        subscribed.set()

    def on_message(client, userdata, msg):
        if not first_received:
            first_received.append((time.monotonic(), time.time()))
        payloads.put(msg.payload)

    client = mqtt.Client(client_id=a.client_id, clean_session=False, protocol=mqtt.MQTTv311)
    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_message = on_message
    client.connect(a.mqtt_host, a.mqtt_port, keepalive=60)
    client.loop_start()
    if not subscribed.wait(timeout=30):
        print("collector: not subscribed after 30 s", file=sys.stderr)
        client.loop_stop()
        return 1
    if a.ready_file:
        with open(a.ready_file, "w") as f:
            f.write("ready\n")

    rows_done = messages = batches = max_queue = 0
    lines = []
    batch_started = None
    last_commit_mono = last_commit_wall = None
    deadline = started + a.timeout
    cur = db.cursor()

    def flush():
        nonlocal rows_done, batches, lines, batch_started, last_commit_mono, last_commit_wall
        cur.copy_expert("COPY %s (name, time, value) FROM STDIN" % a.table, io.StringIO("".join(lines)))
        db.commit()
        rows_done += len(lines)
        batches += 1
        lines = []
        batch_started = None
        last_commit_mono, last_commit_wall = time.monotonic(), time.time()

    error = None
    while rows_done < a.expect:
        now = time.monotonic()
        if now > deadline:
            error = "timeout"
            break
        if batch_started is None:
            wait = min(1.0, deadline - now)
        else:
            wait = max(0.0, batch_started + a.batch_ms / 1000.0 - now)
        try:
            payload = payloads.get(timeout=wait) if wait > 0 else payloads.get_nowait()
        except queue.Empty:
            payload = None
        if payload is not None:
            max_queue = max(max_queue, payloads.qsize() + 1)
            messages += 1
            if batch_started is None:
                batch_started = time.monotonic()
            lines.extend(rows_of(payload))
        if lines and (len(lines) >= a.batch_rows or rows_done + len(lines) >= a.expect
                      or time.monotonic() >= batch_started + a.batch_ms / 1000.0):
            flush()

    client.disconnect()
    client.loop_stop()
    cur.close()
    db.close()

    usage = resource.getrusage(resource.RUSAGE_SELF)
    first_mono, first_wall = first_received[0] if first_received else (started, time.time())
    seconds = (last_commit_mono - first_mono) if last_commit_mono else 0.0
    print("rows=%d messages=%d batches=%d seconds=%.3f rows_per_sec=%.0f first_unix=%.6f last_commit_unix=%.6f "
          "cpu_s=%.2f max_queue=%d index=%s%s" % (
              rows_done, messages, batches, seconds, rows_done / seconds if seconds > 0 else 0.0, first_wall,
              last_commit_wall or 0.0, usage.ru_utime + usage.ru_stime, max_queue,
              "none" if a.index == "none" else "%s(name,time)" % a.index,
              " error=%s" % error if error else ""), flush=True)
    return 1 if error else 0


if __name__ == "__main__":
    sys.exit(main())
