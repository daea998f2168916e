#!/usr/bin/python3
"""MQTT 3.1 (MQIsdp) and 3.1.1 clients on the same topics, both directions, QoS 0/1/2."""

import os
import sys

import paho.mqtt.client as mqtt

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (BrokerTestCase, MosquittoSub, run_mosquitto_pub, run_tests,  # noqa: E402
                     unique_id, unique_topic)

V31, V311 = mqtt.MQTTv31, mqtt.MQTTv311
NAMES = {V31: "3.1", V311: "3.1.1"}


class Mixed(BrokerTestCase):

    def check_direction(self, pub_proto, sub_proto):
        pub = self.paho(protocol=pub_proto)
        sub = self.paho(protocol=sub_proto)
        for sub_qos in (0, 1, 2):
            topic = unique_topic("mix")
            self.assertEqual(sub.subscribe(topic, sub_qos), [sub_qos])
            for pub_qos in (0, 1, 2):
                with self.subTest(pub=NAMES[pub_proto], sub=NAMES[sub_proto], pub_qos=pub_qos,
                                  sub_qos=sub_qos):
                    payload = b"%s->%s q%d/%d \x00\xff" % (NAMES[pub_proto].encode(),
                                                           NAMES[sub_proto].encode(),
                                                           pub_qos, sub_qos)
                    pub.publish(topic, payload, qos=pub_qos)
                    m = sub.get()
                    self.assertEqual((m.topic, m.payload, m.qos, m.retain),
                                     (topic, payload, min(pub_qos, sub_qos), 0))

    def test_v31_to_v311(self):
        self.check_direction(V31, V311)

    def test_v311_to_v31(self):
        self.check_direction(V311, V31)

    def test_v31_to_v31(self):
        self.check_direction(V31, V31)

    def test_conversation_on_shared_topic(self):
        """Both versions subscribed to one topic; each publishes at each QoS; everyone gets
        every message, in per-publisher order."""
        topic = unique_topic("chat")
        old = self.paho(protocol=V31)
        new = self.paho(protocol=V311)
        old.subscribe(topic, 2)
        new.subscribe(topic, 2)
        sent = []
        for qos in (0, 1, 2):
            for who, c in (("old", old), ("new", new)):
                payload = ("%s-q%d" % (who, qos)).encode()
                c.publish(topic, payload, qos=qos)
                sent.append((payload, qos))
        for c in (old, new):
            got = c.get_many(len(sent))
            self.assertEqual(sorted((m.payload, m.qos) for m in got), sorted(sent))
            for who in (b"old", b"new"):
                self.assertEqual([m.payload for m in got if m.payload.startswith(who)],
                                 [p for p, q in sent if p.startswith(who)])

    def test_retained_across_versions(self):
        for pub_proto, sub_proto in ((V31, V311), (V311, V31)):
            with self.subTest(pub=NAMES[pub_proto], sub=NAMES[sub_proto]):
                topic = unique_topic("mixr")
                pub = self.paho(protocol=pub_proto)
                pub.publish(topic, b"kept", qos=2, retain=True)
                sub = self.paho(protocol=sub_proto)
                sub.subscribe(topic, 2)
                m = sub.get()
                self.assertEqual((m.topic, m.payload, m.qos, m.retain), (topic, b"kept", 2, 1))

    def test_v31_will_to_v311_subscriber(self):
        topic = unique_topic("mixw")
        sub = self.paho(protocol=V311)
        sub.subscribe(topic, 1)
        c = self.raw()
        c.connect(unique_id("w31"), protocol_name="MQIsdp", protocol_level=3,
                  will_topic=topic, will_payload=b"old-will", will_qos=1)
        c.close()
        m = sub.get()
        self.assertEqual((m.topic, m.payload, m.qos), (topic, b"old-will", 1))

    def test_mosquitto_clients_v31_and_v311(self):
        pub = self.paho(protocol=V311)
        for sub_v, pub_v in (("mqttv31", "mqttv311"), ("mqttv311", "mqttv31")):
            with self.subTest(sub=sub_v, pub=pub_v):
                topic = unique_topic("mixc")
                msub = MosquittoSub(self.port, topic, qos=2, protocol=sub_v)
                self.addCleanup(msub.close)
                msub.sync(pub)
                for qos in (0, 1, 2):
                    run_mosquitto_pub(self.port, topic, "cli-q%d" % qos, qos=qos,
                                      protocol=pub_v)
                    m = msub.get()
                    self.assertEqual((m.topic, m.payload, m.qos), (topic, b"cli-q%d" % qos, qos))
                msub.close()


if __name__ == "__main__":
    run_tests()
