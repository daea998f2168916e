#!/usr/bin/python3
"""The web console (docs/console.md): its files as the binary serves them, and the console itself
in headless Chromium and headless Firefox.

ConsoleFiles asks for the embedded files over plain HTTP: types, caching, gzip, 404 for an unknown
name, and no credentials needed for them when the API wants some.

The browser tests run console/test/e2e.js (puppeteer-core driving Debian's /usr/bin/chromium over
the DevTools protocol, and /usr/bin/firefox-esr over WebDriver BiDi, all installed by
scripts/setup.sh) against a real server, one scenario per test and browser: every page loads
without a console error; a value published with mosquitto_pub shows in the topic tree within a
second; a query over a table draws a chart; the Disconnect button disconnects a mosquitto_sub; the
login form appears and works when the server wants a password. Screenshots are kept in
<build dir>/artifacts/console/ (beside the binary under test) and checked to be whole PNG images
of a real size, not compared pixel by pixel.
"""

import base64
import gzip
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (HOST, MOSQUITTO_SUB, BrokerTestCase, mqbase_binary, run_mosquitto_pub,  # noqa: E402
                     run_tests, skip_if_mosquitto, stop_process, unique_id, wait_for, _LIVE_PROCESSES)
from test_tls import pki, tearDownModule  # noqa: E402,F401

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
CONSOLE = os.path.join(ROOT, "console")
E2E = os.path.join(CONSOLE, "test", "e2e.js")
BROWSERS = {"chromium": "/usr/bin/chromium", "firefox": "/usr/bin/firefox-esr"}
# e2e.js bounds each of its waits (15 s); this catches a browser that hangs anyway.
NODE_TIMEOUT = 120


def get(url, headers=None, method="GET"):
    """(status, headers with lower-case names, body bytes); HTTP errors are answers too."""
    req = urllib.request.Request(url, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()


def artifacts_dir():
    """<build dir>/artifacts/console: the directory of the binary under test, so that `make test`
    leaves the screenshots in build/test/artifacts/console."""
    d = os.path.join(os.path.dirname(mqbase_binary()), "artifacts", "console")
    os.makedirs(d, exist_ok=True)
    return d


def check_png(path):
    """Fails unless `path` is a whole PNG: signature, chunks with right CRCs, an IHDR of a real
    size, and IDAT data that inflates to exactly the rows the header promises. Returns
    (width, height)."""
    with open(path, "rb") as f:
        data = f.read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "%s: not a PNG" % path
    pos, idat, ihdr = 8, b"", None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + length]
        crc, = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
        assert zlib.crc32(kind + body) == crc, "%s: bad CRC in %r" % (path, kind)
        if kind == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
        pos += 12 + length
    assert ihdr, "%s: no IHDR" % path
    width, height, depth, color = ihdr[:4]
    assert width >= 300 and height >= 300, "%s: %dx%d" % (path, width, height)
    channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[color]
    raw = zlib.decompress(idat)
    assert len(raw) == height * (1 + (width * channels * depth + 7) // 8), "%s: IDAT does not fill the image" % path
    # A blank page compresses to almost nothing: a page with text and charts does not.
    assert len(data) > 8000, "%s: %d bytes, too small for a drawn page" % (path, len(data))
    return width, height


def node_and_browser(browser):
    """node, with `browser` (chromium or firefox) installed, or a failure that says how to install
    them."""
    node = shutil.which("node")
    if node is None:
        raise AssertionError("node is not on PATH: run scripts/setup.sh")
    if not os.path.isfile(os.path.join(CONSOLE, "node_modules", "puppeteer-core", "package.json")):
        raise AssertionError("puppeteer-core is not installed in console/node_modules: run scripts/setup.sh "
                             "(it runs npm ci there)")
    if not os.access(BROWSERS[browser], os.X_OK):
        raise AssertionError("%s is missing: run scripts/setup.sh (it installs Debian's chromium and firefox-esr)"
                             % BROWSERS[browser])
    return node


@skip_if_mosquitto("the console is mqbase's")
class ConsoleFiles(BrokerTestCase):

    def assets(self):
        status, headers, body = get(self.broker.http_url("/"))
        self.assertEqual(status, 200)
        html = body.decode()
        names = sorted(set(re.findall(r'(?:src|href)="(/console/[^"]+)"', html)))
        self.assertTrue(any(n.endswith(".js") for n in names) and any(n.endswith(".css") for n in names), names)
        return headers, html, names

    def test_index_is_html_and_not_cached(self):
        headers, html, _ = self.assets()
        self.assertEqual(headers["content-type"], "text/html; charset=utf-8")
        self.assertEqual(headers["cache-control"], "no-cache")
        self.assertIn("default-src 'self'", headers["content-security-policy"])
        self.assertIn("<title>mqbase</title>", html)
        self.assertNotIn("http://", html.replace("http://www.w3.org", ""))  # nothing from elsewhere
        self.assertNotIn("https://", html)

    def test_assets_have_their_types_and_are_cached_for_good(self):
        _, _, names = self.assets()
        types = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}
        for name in names:
            status, headers, body = get(self.broker.http_url(name))
            self.assertEqual(status, 200, name)
            self.assertEqual(headers["content-type"], types[os.path.splitext(name)[1]], name)
            self.assertEqual(headers["cache-control"], "public, max-age=31536000, immutable", name)
            self.assertEqual(headers["x-content-type-options"], "nosniff", name)
            self.assertNotIn("content-encoding", headers, name)
            self.assertGreater(len(body), 100, name)
            # The bundle holds uPlot and MQTT.js itself: no CDN, no import from elsewhere.
            if name.endswith(".js"):
                self.assertIn(b"uplot", body.lower(), name)
                self.assertNotRegex(body.decode(), r'(?:import\(|src=)["\']https?://', name)

    def test_gzip_when_accepted_and_the_same_bytes(self):
        for name in ["/"] + self.assets()[2]:
            _, _, plain = get(self.broker.http_url(name))
            status, headers, body = get(self.broker.http_url(name), {"Accept-Encoding": "gzip, deflate, br"})
            self.assertEqual(status, 200)
            self.assertEqual(headers.get("vary"), "Accept-Encoding", name)
            self.assertEqual(headers.get("content-encoding"), "gzip", name)
            self.assertLess(len(body), len(plain), name)
            self.assertEqual(gzip.decompress(body), plain, name)
            # q=0 refuses gzip.
            _, headers, body = get(self.broker.http_url(name), {"Accept-Encoding": "gzip;q=0, identity"})
            self.assertNotIn("content-encoding", headers, name)
            self.assertEqual(body, plain, name)

    def test_unknown_names_are_404_and_other_methods_405(self):
        for path in ["/console/nope.js", "/console/", "/console/app.js", "/index.html"]:
            status, headers, body = get(self.broker.http_url(path))
            self.assertEqual(status, 404, path)
            self.assertEqual(headers["content-type"], "application/json", path)
            self.assertFalse(json.loads(body)["success"], path)
        status, headers, _ = get(self.broker.http_url("/"), method="POST")
        self.assertEqual(status, 405)
        self.assertEqual(headers["allow"], "GET")
        # The API's paths are not the console's.
        self.assertEqual(get(self.broker.http_url("/health"))[0], 200)
        self.assertEqual(get(self.broker.http_url("/db/query?q=SELECT%201"))[0], 200)


class AuthCase(BrokerTestCase):
    """A server whose HTTP API and MQTT want a password (alice / secret)."""

    user, password = "alice", "secret"

    def setUp(self):
        self.files = tempfile.mkdtemp(prefix="mqbase-console-")
        self.addCleanup(shutil.rmtree, self.files, True)
        pwfile = os.path.join(self.files, "passwd")
        subprocess.run([mqbase_binary(), "passwd", "-c", "-b", pwfile, self.user, self.password],
                       check=True, capture_output=True, timeout=60)
        self.broker = self.start_broker({
            "auth": {"password_file": pwfile},
            "listener": [{"bind": HOST, "port": 0, "allow_anonymous": False}],
            "http": {"allow_anonymous": False}})
        self.port = self.broker.port


@skip_if_mosquitto("the console is mqbase's")
class ConsoleFilesWithAuth(AuthCase):

    def test_the_page_needs_no_credentials_the_api_does(self):
        status, _, body = get(self.broker.http_url("/"))
        self.assertEqual(status, 200)
        for name in re.findall(r'(?:src|href)="(/console/[^"]+)"', body.decode()):
            self.assertEqual(get(self.broker.http_url(name))[0], 200, name)
        self.assertEqual(get(self.broker.http_url("/db/query?q=SELECT%201"))[0], 401)
        auth = "Basic " + base64.b64encode(b"alice:secret").decode()
        self.assertEqual(get(self.broker.http_url("/db/query?q=SELECT%201"), {"Authorization": auth})[0], 200)


class BrowserCase(BrokerTestCase):
    """Runs e2e.js scenarios against this test's broker, in `browser`."""
    browser = "chromium"

    def setUp(self):
        self.node = node_and_browser(self.browser)  # before a broker starts, so a missing install fails fast
        super().setUp()

    def scenario(self, name, **options):
        """Runs one scenario; its JSON result, after checking it passed and its screenshots."""
        out = artifacts_dir()
        prefix = ("" if self.browser == "chromium" else self.browser + "-") + name + "-"
        for old in os.listdir(out):
            if old.startswith(prefix):  # screenshots, and a downloads directory
                old = os.path.join(out, old)
                shutil.rmtree(old) if os.path.isdir(old) else os.unlink(old)
        cmd = [self.node, E2E, "--scenario", name, "--browser", self.browser, "--url", self.console_url(),
               "--mqtt-port", str(self.broker.port), "--out", out]
        for k, v in options.items():
            cmd += ["--" + k.replace("_", "-"), str(v)]
        r = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=NODE_TIMEOUT, cwd=CONSOLE)
        stdout = r.stdout.decode("utf-8", "replace")
        stderr = r.stderr.decode("utf-8", "replace")
        lines = stdout.strip().splitlines()
        self.assertTrue(lines, "e2e.js %s printed nothing (exit %d); stderr: %s" % (name, r.returncode, stderr))
        result = json.loads(lines[-1])
        self.assertTrue(result["ok"] and r.returncode == 0,
                        "scenario %s in %s failed (exit %d):\n%s\nstderr: %s\nserver: %s"
                        % (name, self.browser, r.returncode, "\n".join(result["errors"]), stderr[-3000:],
                           self.broker.stderr_tail(20)))
        self.assertTrue(result["screenshots"], result)
        for shot in result["screenshots"]:
            check_png(shot)
        return result

    def console_url(self):
        return self.broker.http_url("/")

    def write_rows(self, table, rows):
        """rows into `table` through db/append/<table> (docs/ingest.md), as a device would."""
        run_mosquitto_pub(self.broker.port, "db/append/" + table, json.dumps(rows), qos=1)
        wait_for(lambda: self.count(table) == len(rows), message="%d rows in %s" % (len(rows), table))

    def count(self, table):
        status, _, body = get(self.broker.http_url("/db/query?q=" + urllib.request.quote(
            "SELECT count(*) FROM " + table)))
        return json.loads(body)["data"]["rows"][0][0] if status == 200 else None


def sensor_rows(now_ms, minutes=60):
    """Two sensors, one row a minute each, over the last `minutes` minutes: a wave and a ramp, as
    rows of neo's tag table (name, time in ns, value)."""
    rows = []
    for i in range(minutes):
        t = (now_ms - (minutes - i) * 60000) * 1000000
        rows.append(["boiler.temp", t, round(60 + 8 * ((i % 20) / 10 - 1) ** 2, 2)])
        rows.append(["room.temp", t, round(19 + i / 20, 2)])
    return rows


@skip_if_mosquitto("the console is mqbase's")
class ConsolePages(BrowserCase):
    broker_config = {"sys": {"interval": 1}}

    def test_every_page_loads_without_errors(self):
        self.write_rows("sensors", sensor_rows(int(time.time() * 1000)))
        result = self.scenario("pages", table="sensors")
        self.assertEqual(result["overview_charts"], 6, result)
        self.assertEqual(result["tables_schema_rows"], 3, result)
        self.assertGreaterEqual(result["clients_rows"], 1, result)
        names = {os.path.basename(s) for s in result["screenshots"]}
        prefix = "" if self.browser == "chromium" else self.browser + "-"
        self.assertEqual(names, {prefix + "pages-%s.png" % p for p in
                                 ("overview", "topics", "clients", "tables", "sql", "phone-overview", "phone-topics")})

    def test_a_published_value_shows_in_the_topic_tree_within_a_second(self):
        result = self.scenario("topic", topic="plant/7/line/3/temp")
        self.assertLess(result["appeared_after_ms"], 1000, result)

    def test_a_query_draws_a_chart(self):
        self.write_rows("sensors", sensor_rows(int(time.time() * 1000)))
        result = self.scenario("chart", table="sensors")
        # One line per sensor (the text column's values, in order), the rows in a table, a CSV
        # download.
        self.assertEqual(result["series"][1:], ["boiler.temp", "room.temp"], result)
        self.assertEqual(result["table_rows"], 120, result)
        self.assertGreater(result["painted_pixels"], 1000, result)
        self.assertEqual(result["csv"][0], "name,time,value", result)
        # (ORDER BY time leaves the two sensors' order at one time open)
        self.assertRegex(result["csv"][1], r"^(boiler|room)\.temp,\d{4}-\d\d-\d\dT[\d:.]+Z,[\d.]+$", result)
        self.assertIn("SELECT name, time, value FROM sensors ORDER BY time", result["history"], result)


@skip_if_mosquitto("the console is mqbase's")
class ConsoleDisconnect(BrowserCase):

    def test_the_disconnect_button_disconnects_a_client(self):
        client_id = unique_id("victim")
        sub = subprocess.Popen([MOSQUITTO_SUB, "-h", HOST, "-p", str(self.broker.port), "-V", "5", "-i", client_id,
                                "-t", "plant/#", "-t", "alarms/+", "-d"],
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        _LIVE_PROCESSES.add(sub)
        self.addCleanup(stop_process, sub)
        wait_for(lambda: client_id in self.client_ids(), message="mosquitto_sub in mqtt_clients")
        result = self.scenario("disconnect", client_id=client_id)
        self.assertEqual(sorted(result["subscriptions"]), ["alarms/+", "plant/#"], result)
        self.assertNotIn(client_id, self.client_ids())
        # mosquitto_sub saw the server end its connection: it had a DISCONNECT, and exits.
        try:
            sub.wait(10)
        except subprocess.TimeoutExpired:
            self.fail("mosquitto_sub still runs after the disconnect")
        out = sub.stdout.read().decode("utf-8", "replace")
        self.assertIn("Received DISCONNECT (152)", out)  # 0x98: administrative action

    def client_ids(self):
        status, _, body = get(self.broker.http_url("/db/query?q=" + urllib.request.quote(
            "SELECT client_id FROM mqtt_clients")))
        self.assertEqual(status, 200, body)
        return [r[0] for r in json.loads(body)["data"]["rows"]]


@skip_if_mosquitto("the console is mqbase's")
class ConsoleLogin(AuthCase, BrowserCase):

    def setUp(self):
        self.node = node_and_browser(self.browser)
        AuthCase.setUp(self)

    def test_the_login_form_appears_and_works(self):
        result = self.scenario("login", user=self.user, password=self.password)
        self.assertIn("not accepted", result["wrong_password_message"], result)
        self.assertEqual(result["user_shown"], self.user, result)
        self.assertEqual(result["query_after_login"], "1", result)


@skip_if_mosquitto("the console is mqbase's")
class ConsoleOverHttps(BrowserCase):
    """The console from the HTTPS port ([http] tls_cert): its API calls over TLS, and its live
    MQTT connection over wss:// at /mqtt on the same port (relayed to the event loops). The
    browser accepts the test CA's certificate without knowing the CA (--insecure)."""

    def setUp(self):
        self.broker_config = {"http": {"tls_cert": pki().path("server.crt"), "tls_key": pki().path("server.key")}}
        super().setUp()

    def console_url(self):
        return "https://%s:%d/" % (HOST, self.broker.http_port)

    def test_the_topic_tree_over_wss(self):
        result = self.scenario("topic", topic="plant/9/line/1/temp", insecure=1)
        self.assertLess(result["appeared_after_ms"], 1000, result)


# The same scenarios in Firefox ESR, driven over WebDriver BiDi.
class FirefoxConsolePages(ConsolePages):
    browser = "firefox"


class FirefoxConsoleDisconnect(ConsoleDisconnect):
    browser = "firefox"


class FirefoxConsoleLogin(ConsoleLogin):
    browser = "firefox"


class FirefoxConsoleOverHttps(ConsoleOverHttps):
    browser = "firefox"


if __name__ == "__main__":
    run_tests()
