"""The reply topic of a db/... message named inside its JSON payload, machbase-neo's third way
({"data":{...},"reply":"topic"}), for publishers without MQTT 5 (docs/ingest.md)."""
import json
import os
import subprocess
import sys
import threading
import unittest

import paho.mqtt.client as mqtt

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BrokerTestCase, is_mosquitto, unique_id  # noqa: E402


@unittest.skipIf(is_mosquitto(), "tables are mqbase's")
class ReplyInThePayload(BrokerTestCase):
    def test_a_v311_publisher_hears_success_and_failure_on_the_topic_its_json_names(self):
        b = self.start_broker()
        got = []
        both = threading.Event()
        subscribed = threading.Event()
        sub = mqtt.Client(client_id=unique_id("r"))
        sub.on_subscribe = lambda *a: subscribed.set()

        def on_message(c, u, m):
            got.append(json.loads(m.payload))
            if len(got) == 2:
                both.set()
        sub.on_message = on_message
        sub.connect("127.0.0.1", b.port)
        sub.loop_start()
        sub.subscribe("app/replies", qos=1)
        self.assertTrue(subscribed.wait(10))
        good = {"data": {"columns": ["name", "time", "value"], "rows": [["a", 1700000000000000000, 1.5],
                                                                        ["b", 1700000000000000000, 2.5]]},
                "reply": "app/replies"}
        bad = {"data": {"columns": ["name", "time", "value"], "rows": [["a", 1700000001000000000, "x"]]},
               "reply": "app/replies"}
        for payload in (good, bad):
            subprocess.run(["mosquitto_pub", "-V", "mqttv311", "-h", "127.0.0.1", "-p", str(b.port), "-q", "1",
                            "-t", "db/write/t", "-m", json.dumps(payload)], check=True, timeout=30)
        self.assertTrue(both.wait(15), got)
        sub.loop_stop()
        sub.disconnect()
        self.assertEqual(got[0]["success"], True)
        self.assertEqual(got[0]["reason"], "success, 2 record(s) inserted")
        self.assertEqual(got[1]["success"], False)
        self.assertIn("row 1, column 'value'", got[1]["reason"])


if __name__ == "__main__":
    unittest.main()
