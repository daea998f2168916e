#!/usr/bin/python3
"""The HTTP API behind the same door as MQTT (docs/security.md, "The HTTP API"): HTTP Basic
credentials checked against auth.password_file, http.allow_anonymous (default: allowed only on
a loopback address), the failed-login throttle (429 past it), and the ACL deciding each
endpoint as the same request over MQTT: a write = PUBLISH to db/write/<table>, a query =
PUBLISH to db/query, a watch = SUBSCRIBE to db/watch/<table>. Clients: curl and urllib."""

import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (BrokerTestCase, http_request as request, mqbase_binary, run_tests,  # noqa: E402
                     skip_if_mosquitto)

USERS = {"alice": "secret", "bob": "hunter2", "reader": "r3ad"}
ACL = """\
user alice
topic write db/write/metrics
topic write db/query

user reader
topic write db/query
topic read db/watch/#
"""


class HttpAuthCase(BrokerTestCase):
    acl = None
    http_anonymous = False

    def setUp(self):
        self.files = tempfile.mkdtemp(prefix="mqbase-http-auth-")
        self.addCleanup(shutil.rmtree, self.files, True)
        pwfile = os.path.join(self.files, "passwd")
        for i, (user, password) in enumerate(USERS.items()):
            subprocess.run([mqbase_binary(), "passwd"] + (["-c"] if i == 0 else []) +
                           ["-b", pwfile, user, password], check=True, capture_output=True, timeout=60)
        auth = {"password_file": pwfile, "failed_attempts": 3, "failed_delay_ms": 500}
        if self.acl:
            aclfile = os.path.join(self.files, "acl")
            with open(aclfile, "w") as f:
                f.write(self.acl)
            auth["acl_file"] = aclfile
        self.broker = self.start_broker({"auth": auth, "http": {"allow_anonymous": self.http_anonymous}})

    def query_url(self, sql="SELECT 1 AS one"):
        return self.broker.http_url("/db/query?" + urllib.parse.urlencode({"q": sql}))


@skip_if_mosquitto("the HTTP API is mqbase's")
class BasicCredentials(HttpAuthCase):

    def test_no_credentials_get_401_with_a_basic_challenge(self):
        status, headers, body = request(self.query_url())
        self.assertEqual(status, 401, body)
        self.assertIn('Basic realm="mqbase"', headers.get("WWW-Authenticate", ""))
        self.assertIn("authentication required", json.loads(body)["reason"])

    def test_right_password_answers_wrong_ones_do_not(self):
        status, _, body = request(self.query_url(), user="alice", password="secret")
        self.assertEqual(status, 200, body)
        self.assertEqual(json.loads(body)["data"]["rows"], [[1]])
        for user, password in [("alice", "Secret"), ("mallory", "secret")]:
            status, _, body = request(self.query_url(), user=user, password=password)
            self.assertEqual(status, 401, (user, body))

    def test_curl_user_flag_works(self):
        r = subprocess.run(["curl", "-sS", "-u", "bob:hunter2", self.query_url()], capture_output=True,
                           text=True, timeout=30)
        self.assertEqual(json.loads(r.stdout)["data"]["rows"], [[1]], r.stderr)
        r = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-u", "bob:nope",
                            self.query_url()], capture_output=True, text=True, timeout=30)
        self.assertEqual(r.stdout, "401")

    def test_other_schemes_and_malformed_basic_are_401(self):
        for value in ["Bearer abc", "Basic !!!notbase64", "Basic " + base64.b64encode(b"nocolon").decode()]:
            status, _, body = request(self.query_url(), headers={"Authorization": value})
            self.assertEqual(status, 401, (value, body))

    def test_health_needs_no_credentials(self):
        status, _, body = request(self.broker.http_url("/health"))
        self.assertEqual((status, json.loads(body)), (200, {"status": "ok"}))

    def test_repeated_failures_from_one_address_get_429(self):
        statuses = [request(self.query_url(), user="alice", password="guess%d" % i)[0] for i in range(6)]
        self.assertEqual(statuses[:3], [401, 401, 401], statuses)
        self.assertIn(429, statuses[3:], statuses)
        self.assertIn("refused", self.broker.stderr_text())


@skip_if_mosquitto("the HTTP API is mqbase's")
class AnonymousAllowed(HttpAuthCase):
    http_anonymous = True

    def test_no_credentials_pass_but_wrong_ones_do_not(self):
        status, _, body = request(self.query_url())
        self.assertEqual(status, 200, body)
        status, _, body = request(self.query_url(), user="alice", password="wrong")
        self.assertEqual(status, 401, body)


@skip_if_mosquitto("the HTTP API is mqbase's")
class AclOnEndpoints(HttpAuthCase):
    acl = ACL
    http_anonymous = True

    def write(self, table, user, password):
        return request(self.broker.http_url("/db/write/" + table), method="POST",
                       body='[["a", 1700000000000000000, 1.5]]', user=user, password=password,
                       headers={"Content-Type": "application/json"})

    def test_writes_follow_the_publish_rules(self):
        status, _, body = self.write("metrics", "alice", "secret")
        self.assertEqual(status, 200, body)
        status, _, body = self.write("other", "alice", "secret")
        self.assertEqual(status, 403, body)
        self.assertIn("db/write/other", json.loads(body)["reason"])
        status, _, body = self.write("metrics", "reader", "r3ad")
        self.assertEqual(status, 403, body)

    def test_queries_need_write_on_db_query(self):
        self.assertEqual(request(self.query_url(), user="alice", password="secret")[0], 200)
        self.assertEqual(request(self.query_url(), user="reader", password="r3ad")[0], 200)
        status, _, body = request(self.query_url(), user="bob", password="hunter2")
        self.assertEqual(status, 403, body)
        self.assertIn("db/query", json.loads(body)["reason"])
        status, _, body = request(self.query_url())  # anonymous: no rule for it
        self.assertEqual(status, 403, body)

    def test_watch_follows_the_subscribe_rules(self):
        self.assertEqual(self.write("metrics", "alice", "secret")[0], 200)
        status, _, body = request(self.broker.http_url("/db/watch/metrics"), user="bob", password="hunter2")
        self.assertEqual(status, 403, body)
        req = urllib.request.Request(self.broker.http_url("/db/watch/metrics"), headers={
            "Authorization": "Basic " + base64.b64encode(b"reader:r3ad").decode()})
        with urllib.request.urlopen(req, timeout=30) as r:
            self.assertEqual(r.status, 200)
            self.assertIn("text/event-stream", r.headers.get("Content-Type", ""))


if __name__ == "__main__":
    run_tests()
