#!/usr/bin/python3
"""SQL over the broker itself and over the tables' life, on the real binary through HTTP
(docs/sql.md#views-of-the-broker, docs/sql.md#statements):

  - mqtt_sessions, mqtt_clients, mqtt_subscriptions and mqtt_retained show what paho and
    mosquitto clients did: a persistent session that went away (disconnected_at, its queue
    filling), a shared subscription, v5 subscription options, retained messages;
  - DELETE FROM t WHERE time < x hides the rows at once and survives kill -9;
  - the shortcuts (block statistics, latest row per series, groups one after another) answer
    as the rows do, end to end.

mqbase only (mosquitto has no SQL).
"""

import json
import os
import subprocess
import sys
import time
import unittest
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (HOST, TIMEOUT, BrokerTestCase, skip_if_mosquitto,  # noqa: E402
                     unique_id, unique_topic, wait_for)

import paho.mqtt.client as mqtt  # noqa: E402


def query(broker, q, fmt="json"):
    url = broker.http_url("/db/query?" + urllib.parse.urlencode({"q": q, "format": fmt}))
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT * 2) as r:
            body = r.read().decode()
    except urllib.error.HTTPError as e:
        body = e.read().decode()
    return json.loads(body) if fmt == "json" else body


def rows(broker, q):
    a = query(broker, q)
    assert a.get("success"), (q, a)
    return a["data"]["rows"]


@skip_if_mosquitto("mqbase's SQL")
class ViewsTest(BrokerTestCase):
    def test_sessions_clients_subscriptions_retained(self):
        port = self.port
        gone = unique_id("gone")
        live = unique_id("live")
        topic = unique_topic("v")
        # A persistent 3.1.1 session that subscribes and leaves: its queue fills while away.
        c = mqtt.Client(client_id=gone, clean_session=False, protocol=mqtt.MQTTv311)
        c.connect(HOST, port)
        c.loop_start()
        c.subscribe(topic + "/#", qos=1)
        time.sleep(0.3)
        c.disconnect()
        c.loop_stop()
        # A v5 client with a shared subscription and options, still connected.
        v5 = mqtt.Client(client_id=live, protocol=mqtt.MQTTv5)
        v5.connect(HOST, port, clean_start=True)
        v5.loop_start()
        v5.subscribe("$share/grp/" + topic + "/s", options=mqtt.SubscribeOptions(qos=2))
        v5.subscribe(topic + "/n", options=mqtt.SubscribeOptions(qos=0, noLocal=True, retainAsPublished=True, retainHandling=1))
        time.sleep(0.3)
        # Three messages for the absent session, and two retained ones (mosquitto_pub).
        for k in range(3):
            subprocess.run(["mosquitto_pub", "-h", HOST, "-p", str(port), "-q", "1", "-t", topic + "/m", "-m", str(k)],
                           check=True, timeout=30)
        for k, payload in enumerate(["on", "21.5"]):
            subprocess.run(["mosquitto_pub", "-h", HOST, "-p", str(port), "-r", "-t", "%s/r%d" % (topic, k), "-m", payload],
                           check=True, timeout=30)

        wait_for(lambda: rows(self.broker, "SELECT queued + inflight FROM mqtt_sessions WHERE client_id = '%s'" % gone)
                 == [[3]], message="the absent session holds 3 messages")
        s = rows(self.broker, "SELECT client_id, connected, protocol, expiry_interval, subscriptions, disconnected_at IS NOT NULL "
                              "FROM mqtt_sessions WHERE client_id IN ('%s', '%s') ORDER BY client_id" % (gone, live))
        self.assertEqual(s, [[gone, False, "3.1.1", 4294967295, 1, True], [live, True, "5.0", 0, 2, False]])

        c = rows(self.broker, "SELECT client_id, address FROM mqtt_clients WHERE client_id IN ('%s', '%s')" % (gone, live))
        self.assertEqual(len(c), 1)
        self.assertEqual(c[0][0], live)
        # The address accept4() gave: the client's own end of the connection.
        self.assertEqual(c[0][1], "127.0.0.1:%d" % v5.socket().getsockname()[1], c)

        subs = rows(self.broker, "SELECT client_id, filter, share_group, qos, no_local, retain_as_published, retain_handling "
                                 "FROM mqtt_subscriptions WHERE client_id IN ('%s', '%s') ORDER BY client_id, filter" % (gone, live))
        self.assertEqual(subs, [[gone, topic + "/#", None, 1, False, False, 0],
                                [live, topic + "/n", None, 0, True, True, 1],
                                [live, topic + "/s", "grp", 2, False, False, 0]])

        ret = rows(self.broker, "SELECT topic, payload, bytes FROM mqtt_retained WHERE topic LIKE '%s/%%' ORDER BY topic" % topic)
        self.assertEqual(ret, [[topic + "/r0", "on", 2], [topic + "/r1", "21.5", 4]])
        # Views take SQL like tables: aggregates, and an error for writing to them.
        n = rows(self.broker, "SELECT count(*) FROM mqtt_subscriptions WHERE client_id IN ('%s', '%s')" % (gone, live))
        self.assertEqual(n, [[3]])
        v5.loop_stop()
        v5.disconnect()

    def test_delete_before_a_time_survives_kill9(self):
        t0 = 1_700_000_000 * 10**9
        body = "\n".join(json.dumps({"time": t0 + k * 10**9, "dev": "d%d" % (k % 3), "v": k}) for k in range(300))
        req = urllib.request.Request(self.broker.http_url("/db/write/del_t?format=ndjson"), data=body.encode(), method="POST")
        with urllib.request.urlopen(req, timeout=TIMEOUT * 2) as r:
            self.assertEqual(json.loads(r.read())["success"], True)
        self.assertEqual(rows(self.broker, "SELECT count(*) FROM del_t"), [[300]])
        a = query(self.broker, "DELETE FROM del_t WHERE time < %d::bigint" % 0)  # not a timestamp: refused
        self.assertFalse(a["success"])
        cut = "to_timestamp(%d)" % (1_700_000_000 + 100)
        # DELETE takes a constant timestamp: to_timestamp() folds to one.
        a = query(self.broker, "DELETE FROM del_t WHERE time < " + cut)
        self.assertTrue(a["success"], a)
        self.assertEqual(rows(self.broker, "SELECT count(*), min(v) FROM del_t"), [[200, 100.0]])
        self.assertFalse(query(self.broker, "DELETE FROM del_t WHERE v < 5")["success"])
        self.broker.kill9()
        self.broker.restart()
        self.assertEqual(rows(self.broker, "SELECT count(*), min(v) FROM del_t"), [[200, 100.0]])
        # The shortcuts answer as the rows do: forced off by a condition the scan cannot take.
        fast = rows(self.broker, "SELECT dev, count(*), sum(v), min(v), max(v) FROM del_t WHERE time >= '2023-01-01' GROUP BY dev ORDER BY dev")
        slow = rows(self.broker, "SELECT dev, count(*), sum(v), min(v), max(v) FROM del_t WHERE v = v AND time >= '2023-01-01' GROUP BY dev ORDER BY dev")
        self.assertEqual(fast, slow)
        self.assertEqual([r[1] for r in fast], [66, 67, 67])
        latest = rows(self.broker, "SELECT DISTINCT ON (dev) dev, v FROM del_t ORDER BY dev, time DESC")
        self.assertEqual(latest, [["d0", 297.0], ["d1", 298.0], ["d2", 299.0]])

    def test_groups_one_after_another_as_docs_sql_shows(self):
        # docs/sql.md's example: keys of every tag and a time bucket; EXPLAIN names the shortcut,
        # and the rows are those of the table of groups (a key it cannot see through).
        t0 = 1_700_000_000 * 10**9
        body = "\n".join(json.dumps({"time": t0 + k * 7 * 10**9, "name": "truck_%d" % (k % 5), "fleet": "f%d" % (k % 2),
                                     "velocity": k % 37}) for k in range(3000))
        req = urllib.request.Request(self.broker.http_url("/db/write/readings?format=ndjson"), data=body.encode(),
                                     method="POST")
        with urllib.request.urlopen(req, timeout=TIMEOUT * 2) as r:
            self.assertEqual(json.loads(r.read())["success"], True)
        q = ("SELECT time_bucket('10 minutes', time) AS t, name, fleet, avg(velocity) FROM readings "
             "GROUP BY t, name, fleet")
        plan = "\n".join(r[0] for r in rows(self.broker, "EXPLAIN " + q))
        self.assertIn("(groups one after another: each put out as the next begins)", plan)
        hashed_q = (q.replace("name, fleet, avg", "name, fleet || '' AS fleet, avg")
                    .replace("GROUP BY t, name, fleet", "GROUP BY t, name, fleet || ''"))
        got = rows(self.broker, q + " ORDER BY name, fleet, t")
        hashed = rows(self.broker, hashed_q + " ORDER BY name, fleet, t")
        self.assertNotIn("groups one after another", "\n".join(r[0] for r in rows(self.broker, "EXPLAIN " + hashed_q)))
        self.assertEqual(got, hashed)
        self.assertEqual(len(got), len({((1_700_000_000 + k * 7) // 600, k % 5, k % 2) for k in range(3000)}))


if __name__ == "__main__":
    unittest.main()
