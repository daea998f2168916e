"""Bytes on disk per row of (time, device, 3 floats): publishes 1,000 devices x 1,000 rows
(readings 10 s apart; temp, hum, pressure as random walks with two decimals) as CSV with a
header (MQTT 5 user property header=columns) to db/write/three:csv on 127.0.0.1:PORT, at QoS 1,
50 messages in flight. Then stop the server and read `mqbase tables list`: bytes on disk / rows
on disk. docs/benchmarks.md shows the run:

    mqbase serve -c small.toml --port 18996 --data-dir D --threads 1 &   # small.toml: [storage]
    /usr/bin/python3 bench/ingest/three_floats.py 18996                 # checkpoint_bytes and
    kill %1; mqbase tables list --data-dir D                            # segment_size = 1048576
"""
import random, sys, time
import paho.mqtt.client as mqtt
port = int(sys.argv[1])
devices, rows_per = 1000, 1000
t0 = 1_700_000_000_000_000_000
c = mqtt.Client(client_id="three", protocol=mqtt.MQTTv5)
c.connect("127.0.0.1", port)
c.loop_start()
from paho.mqtt.properties import Properties
from paho.mqtt.packettypes import PacketTypes
props = Properties(PacketTypes.PUBLISH)
props.UserProperty = [("header", "columns")]
rng = random.Random(1)
infos = []
for d in range(devices):
    a, b, cc = 2000, 5000, 10000
    lines = ["device,time,temp,hum,pressure"]
    for r in range(rows_per):
        a += rng.randint(-50, 50); b += rng.randint(-30, 30); cc += rng.randint(-10, 10)
        lines.append("dev%d,%d,%.2f,%.2f,%.2f" % (d, t0 + r * 10_000_000_000, a / 100, b / 100, cc / 100))
    infos.append(c.publish("db/write/three:csv", "\n".join(lines), qos=1, properties=props))
    if len(infos) > 50:
        infos.pop(0).wait_for_publish(60)
for i in infos: i.wait_for_publish(60)
c.loop_stop(); c.disconnect()
print("sent", devices * rows_per)
