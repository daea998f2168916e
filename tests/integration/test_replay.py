#!/usr/bin/python3
"""History replayed over MQTT (docs/replay.md): SUBSCRIBE with the user property replay-from,
and requests on db/replay, from an archive rule's table.

The real binary with two event loops; history is published in bursts with mosquitto_pub -l,
read back by paho (MQTT 5 and 3.1.1) and by raw MQTT 5 clients where the test needs the wire:
the in-flight window, the SUBACK's reason code. The seam test publishes while the subscriber
subscribes, several times, and wants every message exactly once and in order.
"""
import json
import os
import queue
import subprocess
import sys
import threading
import time
import unittest

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (CORRELATION_DATA, HOST, PUBACK, RECEIVE_MAXIMUM, REASON_STRING,  # noqa: E402
                     RESPONSE_TOPIC, SESSION_EXPIRY_INTERVAL, SUBACK, SUBSCRIPTION_IDENTIFIER,
                     USER_PROPERTY, V5TestCase, ack5_packet, parse_suback5, run_tests,
                     skip_if_mosquitto, sub_options, subscribe5_packet, unique_id, wait_for)

ARCHIVE = {"ingest": [{"topic": "plant/#", "table": "plant_archive", "archive": True}]}


def burst(port, topic, lines, qos=1):
    """seq-style burst: one message per line, QoS 1, one mosquitto_pub connection."""
    subprocess.run(["mosquitto_pub", "-h", HOST, "-p", str(port), "-t", topic, "-q", str(qos), "-l"],
                   input="".join("%s\n" % l for l in lines).encode(), check=True, timeout=60)


class Paho5:
    """A paho MQTT 5 client that collects what it receives."""

    def __init__(self, port, client_id=None, clean_start=True, expiry=None):
        self.messages = queue.Queue()
        self.subacks = queue.Queue()
        self.client = mqtt.Client(client_id=client_id or unique_id("rp"), protocol=mqtt.MQTTv5)
        self.client.on_message = lambda c, u, m: self.messages.put(m)
        self.client.on_subscribe = lambda c, u, mid, codes, props: self.subacks.put((codes, props))
        props = None
        if expiry is not None:
            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = expiry
        connected = threading.Event()
        self.client.on_connect = lambda *a: connected.set()
        self.client.connect(HOST, port, clean_start=clean_start, properties=props)
        self.client.loop_start()
        assert connected.wait(10), "no CONNACK"

    def subscribe(self, topic, qos=1, replay_from=None):
        props = None
        if replay_from is not None:
            props = Properties(PacketTypes.SUBSCRIBE)
            props.UserProperty = ("replay-from", replay_from)
        self.client.subscribe(topic, qos=qos, properties=props)
        return self.subacks.get(timeout=10)

    def get(self, n, timeout=30):
        out = []
        deadline = time.monotonic() + timeout
        while len(out) < n:
            try:
                out.append(self.messages.get(timeout=max(0.01, deadline - time.monotonic())))
            except queue.Empty:
                raise AssertionError("received %d of %d messages" % (len(out), n))
        return out

    def quiet(self, seconds=0.5):
        """Nothing more arrives within `seconds`."""
        try:
            m = self.messages.get(timeout=seconds)
        except queue.Empty:
            return True
        raise AssertionError("unexpected message %s %r" % (m.topic, m.payload))

    def close(self):
        self.client.disconnect()
        self.client.loop_stop()


@skip_if_mosquitto("mosquitto has no archive")
class Replay(V5TestCase):
    def setUp(self):
        self.broker = self.start_broker(ARCHIVE)
        self.port = self.broker.port

    def paho(self, **kw):
        c = Paho5(self.port, **kw)
        self.addCleanup(c.close)
        return c

    def test_replay_from_sends_the_history_then_the_live_messages(self):
        burst(self.port, "plant/a/x", ["a%d" % i for i in range(300)])
        burst(self.port, "plant/b/y", ["b%d" % i for i in range(200)])
        burst(self.port, "other/z", ["not archived"])
        sub = self.paho()
        codes, _ = sub.subscribe("plant/#", qos=1, replay_from="1h")
        self.assertEqual(codes[0].value, 1)
        got = sub.get(500)
        # In time order: all of a, then all of b (they were published one burst after the other).
        self.assertEqual([m.payload.decode() for m in got],
                         ["a%d" % i for i in range(300)] + ["b%d" % i for i in range(200)])
        self.assertEqual({m.topic for m in got}, {"plant/a/x", "plant/b/y"})
        self.assertTrue(all(m.qos == 1 and not m.retain for m in got))
        # Then the live ones.
        burst(self.port, "plant/a/x", ["live%d" % i for i in range(50)])
        self.assertEqual([m.payload.decode() for m in sub.get(50)], ["live%d" % i for i in range(50)])
        sub.quiet()

    def test_mosquitto_sub_asks_with_a_user_property(self):
        # The example of docs/replay.md, with Debian's mosquitto_sub.
        burst(self.port, "plant/m", ["1", "2", "3"])
        r = subprocess.run(["mosquitto_sub", "-h", HOST, "-p", str(self.port), "-V", "5", "-t", "plant/#", "-q", "1",
                            "-D", "subscribe", "user-property", "replay-from", "1h", "-v", "-C", "3", "-W", "20"],
                           capture_output=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.decode().splitlines(), ["plant/m 1", "plant/m 2", "plant/m 3"])

    def test_the_filter_selects_and_the_time_bounds(self):
        burst(self.port, "plant/a/x", ["old"])
        time.sleep(1.2)
        burst(self.port, "plant/a/x", ["new"])
        burst(self.port, "plant/b/x", ["b"])
        sub = self.paho()
        sub.subscribe("plant/a/+", qos=1, replay_from="1s")  # only what is less than a second old
        self.assertEqual([m.payload for m in sub.get(1)], [b"new"])
        sub.quiet()
        everything = self.paho()
        everything.subscribe("plant/+/x", qos=0, replay_from="0")  # epoch 0: all of it
        got = everything.get(3)
        self.assertEqual([(m.topic, m.payload, m.qos) for m in got],
                         [("plant/a/x", b"old", 0), ("plant/a/x", b"new", 0), ("plant/b/x", b"b", 0)])
        everything.quiet()

    def test_no_gap_and_no_duplicate_at_the_seam_while_publishing(self):
        # Publishers run flat out while subscribers join with replay-from one after the other.
        # Each subscriber reads from 200 ms before it joined to well after, and must see
        # every message of every publisher in that span once, and in order. The messages in
        # flight while a subscription is made are the ones that could come twice (archived and
        # live) or not at all; with many joins some usually are (with the seam's check turned
        # off, two runs of this test in three failed, on duplicates).
        publishers, n = 3, 20000
        topic = "plant/seam"
        counts = [0] * publishers
        finished = threading.Event()
        left = [publishers]
        lock = threading.Lock()

        def publish(k):
            pub = mqtt.Client(client_id=unique_id("seampub"), protocol=mqtt.MQTTv311)
            pub.max_inflight_messages_set(200)

            def acked(c, u, mid):
                counts[k] += 1  # acknowledged by the broker, so archived and routed

            pub.on_publish = acked
            pub.connect(HOST, self.port)
            pub.loop_start()
            infos = []
            for i in range(n):
                infos.append(pub.publish("%s/%d" % (topic, k), b"%d" % i, qos=1))
            for info in infos:
                info.wait_for_publish(60)
            pub.disconnect()
            pub.loop_stop()
            with lock:
                left[0] -= 1
                if left[0] == 0:
                    finished.set()

        for k in range(publishers):
            threading.Thread(target=publish, args=(k,), daemon=True).start()
        joins = 0
        while not finished.is_set() and max(counts) < n - 400:
            marks = list(counts)
            s = Paho5(self.port)
            s.subscribe(topic + "/#", qos=1, replay_from="200ms")
            seqs = [[] for _ in range(publishers)]
            until = [min(m + 300, n - 1) for m in marks]
            deadline = time.monotonic() + 60
            while any(not q or q[-1] < u for q, u in zip(seqs, until)):
                self.assertLess(time.monotonic(), deadline, "join %d: stalled at %r" % (joins, [q[-1:] for q in seqs]))
                try:
                    m = s.messages.get(timeout=1)
                except queue.Empty:
                    continue
                seqs[int(m.topic.rsplit("/", 1)[1])].append(int(m.payload))
            s.close()
            for k, q in enumerate(seqs):
                self.assertEqual(q, list(range(q[0], q[0] + len(q))),
                                 "join %d, publisher %d: a message missing or twice at the seam" % (joins, k))
            joins += 1
        self.assertTrue(finished.wait(120))
        self.assertGreaterEqual(joins, 5, "the publishers finished before enough subscribers joined")
        print("\nseam: %d subscribers joined while %d publishers ran" % (joins, publishers), file=sys.stderr)

    def test_the_replay_is_paced_by_the_in_flight_window(self):
        burst(self.port, "plant/w", ["%d" % i for i in range(100)])
        s = self.raw5()
        s.connect(props=[(RECEIVE_MAXIMUM, 5)])
        codes = s.subscribe([("plant/w", sub_options(qos=1))], props=[(USER_PROPERTY, ("replay-from", "1h")),
                                                                       (SUBSCRIPTION_IDENTIFIER, 7)])
        self.assertEqual(codes, [1])
        first = [s.receive_publish(ack=False) for _ in range(5)]
        self.assertEqual([m.payload for m in first], [b"%d" % i for i in range(5)])
        self.assertEqual(first[0].props.get(SUBSCRIPTION_IDENTIFIER), 7)
        with self.assertRaises(Exception):  # the window is full: nothing more until a PUBACK
            s.read_packet(timeout=0.5)
        s.send(ack5_packet(PUBACK, first[0].pid))
        self.assertEqual(s.receive_publish(ack=False).payload, b"5")
        for m in first[1:]:
            s.send(ack5_packet(PUBACK, m.pid))
        rest = [s.receive_publish(ack=True) for _ in range(94)]
        self.assertEqual([m.payload for m in rest], [b"%d" % i for i in range(6, 100)])
        s.disconnect()

    def test_a_replay_that_cannot_be_made_is_refused_in_the_suback(self):
        s = self.raw5()
        s.connect()
        for filt, since, why in (("elsewhere/#", "1h", "no archive rule covers"),
                                 ("plant/#", "yesterday-ish", "is not a time"),
                                 ("$share/g/plant/#", "1h", "not for shared subscriptions")):
            pid = s.new_id()
            s.send(subscribe5_packet(pid, [(filt, sub_options(qos=1))], [(USER_PROPERTY, ("replay-from", since))]))
            p = s.read_packet()
            self.assertEqual(p.type, SUBACK)
            _, props, codes = parse_suback5(p)
            self.assertEqual(codes, [0x83], filt)
            self.assertIn(why, props.get(REASON_STRING), filt)
        # The connection is fine, and so is a subscription without replay.
        self.assertEqual(s.subscribe([("elsewhere/#", sub_options(qos=1))]), [1])
        s.disconnect()

    def test_a_persistent_session_resumes_its_replay_after_a_reconnect(self):
        burst(self.port, "plant/r", ["%d" % i for i in range(1000)])
        cid = unique_id("resume")
        s = self.raw5()
        s.connect(client_id=cid, props=[(RECEIVE_MAXIMUM, 10), (SESSION_EXPIRY_INTERVAL, 300)])
        s.subscribe([("plant/r", sub_options(qos=1))], props=[(USER_PROPERTY, ("replay-from", "1h"))])
        seen = [int(s.receive_publish(ack=True).payload) for _ in range(100)]
        s.sock.close()  # gone without DISCONNECT, mid-replay
        s2 = self.raw5()
        ack = s2.connect(client_id=cid, clean_start=False, props=[(SESSION_EXPIRY_INTERVAL, 300)])
        self.assertTrue(ack.session_present)
        while len(set(seen)) < 1000:
            seen.append(int(s2.receive_publish(ack=True, timeout=10).payload))
        self.assertEqual(sorted(set(seen)), list(range(1000)))
        # What was in flight at the disconnect may come twice (QoS 1, DUP); nothing else does.
        self.assertLessEqual(len(seen) - 1000, 10)
        s2.disconnect()

    def test_db_replay_sends_a_range_to_the_requester_only_then_the_answer(self):
        burst(self.port, "plant/q/1", ["%d" % i for i in range(120)])
        bystander = self.paho()
        bystander.subscribe("#", qos=1)
        req = self.paho()
        req.subscribe("answers/#", qos=1)
        props = Properties(PacketTypes.PUBLISH)
        props.ResponseTopic = "answers/me"
        props.CorrelationData = b"corr-1"
        req.client.publish("db/replay", json.dumps({"filter": "plant/q/#", "from": "1h", "topic": "again"}),
                           qos=1, properties=props)
        got = req.get(121)
        self.assertEqual([(m.topic, m.payload.decode()) for m in got[:120]],
                         [("again/plant/q/1", "%d" % i) for i in range(120)])
        answer = got[120]
        self.assertEqual(answer.topic, "answers/me")
        self.assertEqual(answer.properties.CorrelationData, b"corr-1")
        body = json.loads(answer.payload)
        self.assertTrue(body["success"], body)
        self.assertEqual(body["messages"], 120)
        req.quiet()
        # The bystander saw the request, nothing of the replay.
        self.assertEqual([m.topic for m in bystander.get(1)], ["db/replay"])
        bystander.quiet()

    def test_db_replay_from_a_311_client_with_a_reply_member(self):
        burst(self.port, "plant/v3", ["x", "y"])
        c = mqtt.Client(client_id=unique_id("v3"), protocol=mqtt.MQTTv311)
        got = queue.Queue()
        c.on_message = lambda cl, u, m: got.put(m)
        c.connect(HOST, self.port)
        c.loop_start()
        self.addCleanup(c.loop_stop)
        c.subscribe("done/v3", qos=1)
        time.sleep(0.2)
        c.publish("db/replay", json.dumps({"filter": "plant/v3", "from": "0", "reply": "done/v3", "qos": 0}), qos=1)
        msgs = [got.get(timeout=10) for _ in range(3)]
        self.assertEqual([(m.topic, m.payload, m.qos) for m in msgs[:2]], [("plant/v3", b"x", 0), ("plant/v3", b"y", 0)])
        self.assertEqual(msgs[2].topic, "done/v3")
        self.assertTrue(json.loads(msgs[2].payload)["success"])
        c.disconnect()

    def test_db_replay_errors_are_answered_and_acknowledged_with_0x99(self):
        s = self.raw5()
        s.connect()
        for payload, why in ((b"{not json", "not a JSON object"),
                             (json.dumps({"from": "1h"}).encode(), "needs \"filter\""),
                             (json.dumps({"filter": "nope/#", "from": "1h"}).encode(), "no archive rule covers"),
                             (json.dumps({"filter": "plant/#", "from": "soon"}).encode(), "is not a time")):
            reason = s.publish("db/replay", payload, qos=1,
                               props=[(RESPONSE_TOPIC, "err/me"), (CORRELATION_DATA, b"c")], expect_reason=0x99)
            self.assertEqual(reason, 0x99)
            answer = s.receive_publish(ack=True)
            self.assertEqual(answer.topic, "err/me")
            body = json.loads(answer.payload)
            self.assertFalse(body["success"])
            self.assertIn(why, body["reason"])
        s.disconnect()

    def test_a_large_replay_at_qos_0_arrives_whole(self):
        n = 20000
        burst(self.port, "plant/big", ["%d-%s" % (i, "x" * 200) for i in range(n)])
        sub = self.paho()
        sub.subscribe("plant/big", qos=0, replay_from="1h")
        got = sub.get(n, timeout=120)
        self.assertEqual([int(m.payload.split(b"-")[0]) for m in got], list(range(n)))
        # The server kept serving meanwhile, and counts what it replayed.
        stats = self.paho()
        stats.subscribe("$SYS/broker/replay/messages", qos=0)
        self.assertGreaterEqual(int(stats.get(1)[0].payload), n)


@skip_if_mosquitto("mosquitto has no archive")
class ReplayRefusedByQuota(V5TestCase):
    """A replay whose subscription the quota refuses is dropped at once: the live messages of
    the session's other subscriptions do not wait behind it."""

    def setUp(self):
        self.broker = self.start_broker(dict(ARCHIVE, limits={"max_subscriptions_per_client": 1}))
        self.port = self.broker.port

    def test_live_messages_flow_after_a_replay_refused_by_the_quota(self):
        burst(self.port, "plant/q", ["old"])
        s = self.raw5()
        s.connect()
        self.assertEqual(s.subscribe([("live/#", sub_options(qos=1))]), [1])
        codes = s.subscribe([("plant/q", sub_options(qos=1))], props=[(USER_PROPERTY, ("replay-from", "1h"))])
        self.assertEqual(codes, [0x97])
        for i in range(3):
            burst(self.port, "live/x", ["m%d" % i])
        self.assertEqual([s.receive_publish(ack=True).payload for _ in range(3)], [b"m0", b"m1", b"m2"])
        s.disconnect()


@skip_if_mosquitto("mosquitto has no archive")
class ReplayUnderAnAcl(V5TestCase):
    """A replayed message meets the ACL as a live delivery does: the filter plant/# is granted,
    but a deny rule withholds plant/secret/# from the replay as from the live stream (here a
    rule added, with SIGHUP, after the secret messages were archived)."""

    def setUp(self):
        import shutil
        import tempfile
        files = tempfile.mkdtemp(prefix="mqbase-replay-acl-")
        self.addCleanup(shutil.rmtree, files, True)
        self.acl = os.path.join(files, "acl")
        self.write_acl("topic readwrite plant/#\n")
        config = dict(ARCHIVE)
        config["auth"] = {"acl_file": self.acl}
        self.broker = self.start_broker(config)
        self.port = self.broker.port

    def write_acl(self, text):
        with open(self.acl + ".tmp", "w") as f:
            f.write(text)
        os.rename(self.acl + ".tmp", self.acl)

    def test_denied_topics_are_not_replayed(self):
        burst(self.port, "plant/open/x", ["o%d" % i for i in range(50)])
        burst(self.port, "plant/secret/x", ["s%d" % i for i in range(20)])
        self.write_acl("topic readwrite plant/#\ntopic deny plant/secret/#\n")
        import signal
        os.kill(self.broker.pid, signal.SIGHUP)
        wait_for(lambda: "reloaded the authentication files" in self.broker.stderr_text(), message="the reload")
        c = Paho5(self.port)
        self.addCleanup(c.close)
        codes, _ = c.subscribe("plant/#", replay_from="1h")
        self.assertEqual(codes[0].value, 1)
        got = c.get(50)
        self.assertEqual([m.payload.decode() for m in got], ["o%d" % i for i in range(50)])
        c.quiet(1.0)


if __name__ == "__main__":
    run_tests()
