#!/usr/bin/python3
"""HTTPS on the HTTP port (docs/security.md#https): [http] tls_cert / tls_key, with the
certificates of test_tls.py's PKI (made by openssl). curl and Python's urllib over TLS, openssl
s_client for the protocol and the certificate served, the admin API with Basic credentials over
it, a plain-HTTP client on the HTTPS port (refused, the server serves on), MQTT over wss:// at
/mqtt there (paho) meeting TCP clients, a SIGHUP swapping the certificate, and a key that does not
match its certificate (the start refused, naming the setting)."""

import base64
import json
import os
import queue
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import urllib.error
import urllib.parse
import urllib.request
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import HOST, BrokerTestCase, mqbase_binary, run_tests, skip_if_mosquitto, wait_for  # noqa: E402
from test_tls import install_pair, pki, s_client, tearDownModule  # noqa: E402,F401
import paho.mqtt.client as mqtt  # noqa: E402

CURL = shutil.which("curl") or "/usr/bin/curl"
# paho 1.6's tls_set() asks for ssl.PROTOCOL_TLS, which Python 3.10+ calls deprecated.
warnings.filterwarnings("ignore", "ssl.PROTOCOL_TLS is deprecated", DeprecationWarning)


def https_get(url, method="GET", body=None, user=None, password=None):
    """(status, body text) over TLS, trusting the test CA only."""
    ctx = ssl.create_default_context(cafile=pki().path("ca.crt"))
    headers = {}
    if user is not None:
        headers["Authorization"] = "Basic " + base64.b64encode(("%s:%s" % (user, password)).encode()).decode()
    req = urllib.request.Request(url, data=body.encode() if body is not None else None, method=method,
                                 headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30, context=ctx) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


class HttpsCase(BrokerTestCase):
    cert = "server"

    def setUp(self):
        self.files = tempfile.mkdtemp(prefix="mqbase-https-")
        self.addCleanup(shutil.rmtree, self.files, True)
        self.live = os.path.join(self.files, "live")
        self.install(self.cert)
        self.pwfile = os.path.join(self.files, "passwd")
        subprocess.run([mqbase_binary(), "passwd", "-c", "-b", self.pwfile, "admin", "s3cret"], check=True,
                       capture_output=True, timeout=60)
        self.broker = self.start_broker({"server": {"threads": 2},
                                         "auth": {"password_file": self.pwfile},
                                         "http": {"tls_cert": self.live + ".crt", "tls_key": self.live + ".key"}})
        self.port = self.broker.port
        self.http = self.broker.http_port

    def install(self, name, parts=(".crt", ".key")):
        install_pair(self.live, name, parts)

    def url(self, path):
        return "https://%s:%d%s" % (HOST, self.http, path)

    def curl(self, *args):
        r = subprocess.run([CURL, "-sS", "--cacert", pki().path("ca.crt"), "-w", "\n%{http_code}"] + list(args),
                           stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        body, _, status = r.stdout.rpartition("\n")
        return int(status), body


@skip_if_mosquitto("HTTPS is mqbase's HTTP API")
class Https(HttpsCase):

    def test_curl_and_urllib_over_tls(self):
        status, body = self.curl(self.url("/health"))
        self.assertEqual((status, json.loads(body)), (200, {"status": "ok"}))
        status, body = https_get(self.url("/db/query?q=SELECT%201%20AS%20one"))
        self.assertEqual(status, 200, body)
        self.assertEqual(json.loads(body)["data"]["rows"], [[1]])
        rc, out, negotiated, subject = s_client(self.http)
        self.assertEqual(rc, 0, out)
        self.assertEqual(negotiated[0], "TLSv1.3", out)
        self.assertEqual(subject, "CN = localhost")
        self.assertIn("HTTPS listening on", self.broker.stderr_text())

    def test_tls_1_1_is_refused(self):
        rc, out, negotiated, _ = s_client(self.http, "-tls1_1")
        self.assertNotEqual(rc, 0, out)
        self.assertIsNone(negotiated, out)
        self.assertEqual(self.curl(self.url("/health"))[0], 200)

    def test_a_plain_http_client_gets_no_answer_and_others_are_served(self):
        try:
            with urllib.request.urlopen("http://%s:%d/health" % (HOST, self.http), timeout=10) as r:
                self.fail("plain HTTP was answered over the HTTPS port: %d" % r.status)
        except (urllib.error.URLError, ConnectionError, OSError):
            pass
        # garbage where a ClientHello should be, then a handshake that stops half way
        for junk in (b"\x00" * 64, b"\x16\x03\x01\x02\x00"):
            s = socket.create_connection((HOST, self.http), timeout=10)
            s.sendall(junk)
            s.close()
        self.assertEqual(self.curl(self.url("/health"))[0], 200)

    def test_the_admin_api_over_https(self):
        status, body = https_get(self.url("/api/users/sensor-9"), method="PUT", body='{"password":"pw9"}',
                                 user="admin", password="s3cret")
        self.assertEqual(status, 201, body)
        status, body = https_get(self.url("/api/users"), user="admin", password="s3cret")
        self.assertEqual((status, json.loads(body)), (200, {"users": ["admin", "sensor-9"]}))
        self.assertEqual(https_get(self.url("/api/users"), user="admin", password="wrong")[0], 401)
        r = subprocess.run(["mosquitto_pub", "-h", HOST, "-p", str(self.port), "-u", "sensor-9", "-P", "pw9",
                            "-t", "x", "-m", "1"], capture_output=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_mqtt_over_wss_on_the_https_port(self):
        # paho over WebSocket + TLS at /mqtt, and mosquitto_pub / mosquitto_sub over TCP: one broker.
        got = queue.Queue()
        connected = threading.Event()
        c = mqtt.Client(client_id="wss-client", transport="websockets")
        c.ws_set_options(path="/mqtt")
        c.tls_set(ca_certs=pki().path("ca.crt"))
        c.username_pw_set("admin", "s3cret")
        c.on_connect = lambda client, userdata, flags, rc: rc == 0 and connected.set()
        c.on_message = lambda client, userdata, m: got.put(m.payload)
        c.connect(HOST, self.http, 60)
        c.loop_start()
        self.addCleanup(lambda: (c.disconnect(), c.loop_stop()))
        self.assertTrue(connected.wait(20), "no CONNACK over wss")
        # The broker names the client by its address, through the TLS relay's socket pair.
        status, body = https_get(self.url("/db/query?" + urllib.parse.urlencode(
            {"q": "SELECT address FROM mqtt_clients WHERE client_id = 'wss-client'"})), user="admin", password="s3cret")
        self.assertEqual(status, 200, body)
        self.assertEqual(json.loads(body)["data"]["rows"],
                         [["127.0.0.1:%d" % c.socket()._socket.getsockname()[1]]], body)
        subscribed = threading.Event()
        c.on_subscribe = lambda *a: subscribed.set()
        c.subscribe("wss/in", 1)
        self.assertTrue(subscribed.wait(20), "no SUBACK over wss")
        lines = "".join("m%d\n" % i for i in range(200))
        subprocess.run(["mosquitto_pub", "-h", HOST, "-p", str(self.port), "-u", "admin", "-P", "s3cret",
                        "-t", "wss/in", "-q", "1", "-l"], input=lines.encode(), check=True, timeout=60)
        self.assertEqual([got.get(timeout=20) for _ in range(200)], [b"m%d" % i for i in range(200)])
        # and out through the relay's other direction to a TCP subscriber
        sub = subprocess.Popen(["mosquitto_sub", "-h", HOST, "-p", str(self.port), "-u", "admin", "-P", "s3cret",
                                "-t", "wss/out", "-C", "1", "-W", "20"], stdout=subprocess.PIPE)
        self.addCleanup(lambda: sub.poll() is None and sub.kill())

        def delivered():
            c.publish("wss/out", b"from wss", qos=1).wait_for_publish()
            return sub.poll() is not None
        wait_for(delivered, timeout=20, message="mosquitto_sub got the wss client's message")
        self.assertEqual(sub.stdout.read().strip(), b"from wss")
        sub.stdout.close()
        self.assertEqual(self.curl(self.url("/health"))[0], 200)

    def test_sighup_swaps_the_certificate_for_new_connections(self):
        self.assertEqual(s_client(self.http)[3], "CN = localhost")
        self.install("server2")
        os.kill(self.broker.pid, signal.SIGHUP)
        wait_for(lambda: "HTTPS: reloaded" in self.broker.stderr_text(), message="the HTTPS reload")
        self.assertIn('subject "CN=reloaded.localhost"', self.broker.stderr_text())
        self.assertEqual(s_client(self.http)[3], "CN = reloaded.localhost")
        self.assertEqual(self.curl(self.url("/health"))[0], 200)
        # A certificate without its key: logged, the one in use stays.
        self.install("server", parts=(".crt",))
        os.kill(self.broker.pid, signal.SIGHUP)
        wait_for(lambda: "the previous certificate stays in force" in self.broker.stderr_text(),
                 message="the refused reload logged")
        self.assertEqual(s_client(self.http)[3], "CN = reloaded.localhost")


@skip_if_mosquitto("HTTPS is mqbase's HTTP API")
class HttpsKeyMismatch(HttpsCase):

    def test_a_key_that_does_not_match_stops_the_start(self):
        self.install("server2", parts=(".key",))
        self.broker.stop(keep_dir=True)
        rc, stderr = self.broker.serve_expecting_failure()
        self.assertEqual(rc, 2, stderr)
        self.assertIn("configuration error: http: tls_key", stderr)
        self.assertIn("does not match", stderr)


if __name__ == "__main__":
    run_tests()
