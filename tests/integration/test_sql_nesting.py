"""Queries that nest too deeply for the parser's stack (docs/sql.md, "Limits"): over HTTP and
over MQTT they fail with PostgreSQL's "stack depth limit exceeded" and the position, and the
server goes on serving both. The real binary with two event loops, urllib and paho.

Before the check, `SELECT 1+1+...+1` with 100,000 terms ended the server (SIGSEGV in
libpg_query's JSON output, on a query thread: seen with this test's first request), and
1,000 terms failed with "internal error: unreadable parse tree"."""
import json
import os
import sys
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BrokerTestCase, http_request, is_mosquitto, unique_topic  # noqa: E402


def sum_of_ones(n):
    return "SELECT " + "+".join(["1"] * n)


@unittest.skipIf(is_mosquitto(), "SQL is mqbase's")
class DeepQueries(BrokerTestCase):
    def query(self, q):
        status, _, body = http_request(self.broker.http_url("/db/query"), method="POST",
                                       body=urllib.parse.urlencode({"q": q}),
                                       content_type="application/x-www-form-urlencoded")
        return status, json.loads(body)

    def test_too_deep_is_an_error_over_http_and_mqtt_and_the_server_lives(self):
        for q in (sum_of_ones(100000), "SELECT " + "(" * 100000 + "1" + ")" * 100000, sum_of_ones(1001)):
            status, a = self.query(q)
            self.assertEqual(status, 400, a)
            self.assertFalse(a["success"])
            self.assertIn("stack depth limit exceeded", a["reason"])
            self.assertTrue(self.broker.alive(), self.broker.stderr_tail())
        # Deep, but within what every build's query threads hold.
        status, a = self.query(sum_of_ones(300))
        self.assertEqual(status, 200, a)
        self.assertEqual(a["data"]["rows"], [[300]])

        reply = unique_topic("reply")
        c = self.paho()
        c.subscribe(reply, 1)
        c.publish("db/query", json.dumps({"q": sum_of_ones(100000), "reply": reply}), qos=1)
        doc = json.loads(c.get(timeout=30).payload)
        self.assertFalse(doc["success"], doc)
        self.assertIn("stack depth limit exceeded", doc["reason"])
        c.publish("db/query", json.dumps({"q": "SELECT 2+2", "reply": reply}), qos=1)
        doc = json.loads(c.get(timeout=30).payload)
        self.assertEqual(doc["data"]["rows"], [[4]], doc)

        # MQTT between two clients goes on.
        topic = unique_topic("after")
        sub = self.paho()
        sub.subscribe(topic, 1)
        pub = self.paho()
        for i in range(100):
            pub.publish(topic, str(i), qos=1)
        self.assertEqual([m.payload.decode() for m in sub.get_many(100)], [str(i) for i in range(100)])


if __name__ == "__main__":
    unittest.main()
