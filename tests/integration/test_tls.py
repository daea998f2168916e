#!/usr/bin/python3
"""MQTT over TLS (docs/tls-websocket.md): listeners with tls_cert / tls_key, client
certificates, protocol versions and ciphers, abusive clients, SIGHUP reload, config mistakes.

The certificates are made for the module with the openssl CLI into a temp dir (make_pki): a CA,
a server certificate CN=localhost (SAN DNS:localhost, IP:127.0.0.1), a client certificate
CN=sensor-1 signed by the CA, and a client certificate CN=sensor-1 from a second CA the broker
does not trust. The clients are mosquitto_pub / mosquitto_sub with --cafile, paho with
tls_set(), `openssl s_client` (which shows the negotiated version, cipher and the server's
certificate subject) and raw sockets.

mosquitto is not a reference here: the harness writes no TLS configuration for it.
"""

import os
import random
import re
import shutil
import signal
import socket
import json
import ssl
import subprocess
import sys
import tempfile
import time
import tomllib
import unittest
import urllib.parse
import urllib.request
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import (HOST, MOSQUITTO_PUB, TIMEOUT, BrokerTestCase, MosquittoSub,  # noqa: E402
                     PahoClient, PahoV5Client, RawClient, connect_packet, is_mosquitto,
                     mqbase_binary, run_tests, to_toml, unique_id, unique_topic, wait_for)

OPENSSL = shutil.which("openssl") or "/usr/bin/openssl"
SKIP_MOSQUITTO = unittest.skipIf(is_mosquitto(), "the harness writes no TLS listener for mosquitto")
# paho 1.6's tls_set() asks for ssl.PROTOCOL_TLS, which Python 3.10+ calls deprecated.
warnings.filterwarnings("ignore", "ssl.PROTOCOL_TLS is deprecated", DeprecationWarning)


# --------------------------------------------------------------------------------------------
# Certificates, made with the openssl CLI (the recipe docs/tls-websocket.md shows)

def openssl(*args, cwd):
    r = subprocess.run([OPENSSL] + list(args), cwd=cwd, stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    if r.returncode != 0:
        raise AssertionError("openssl %s failed: %s" % (" ".join(args),
                                                         r.stderr.decode(errors="replace")))


def make_ca(directory, name, cn):
    """<name>.key and a self-signed <name>.crt."""
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", name + ".key", "-out", name + ".crt", "-subj", "/CN=" + cn,
            "-days", "30", cwd=directory)


def make_cert(directory, name, ca, cn, san=None):
    """<name>.key and <name>.crt signed by the CA <ca>.crt / <ca>.key."""
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", name + ".key", "-out", name + ".csr", "-subj", "/CN=" + cn, cwd=directory)
    args = ["x509", "-req", "-in", name + ".csr", "-CA", ca + ".crt", "-CAkey", ca + ".key",
            "-CAcreateserial", "-days", "30", "-out", name + ".crt"]
    if san:
        with open(os.path.join(directory, name + ".ext"), "w") as f:
            f.write("subjectAltName=%s\n" % san)
        args += ["-extfile", name + ".ext"]
    openssl(*args, cwd=directory)


SERVER_SAN = "DNS:localhost,IP:127.0.0.1"


class Pki:
    """The module's certificates: pki.path("server.crt") etc."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="mqbase-pki-")
        make_ca(self.dir, "ca", "mqbase test CA")
        make_cert(self.dir, "server", "ca", "localhost", SERVER_SAN)
        # The same names, another subject: what a SIGHUP reload swaps in.
        make_cert(self.dir, "server2", "ca", "reloaded.localhost", SERVER_SAN)
        make_cert(self.dir, "client", "ca", "sensor-1")
        make_ca(self.dir, "rogue-ca", "rogue CA")
        make_cert(self.dir, "rogue", "rogue-ca", "sensor-1")

    def path(self, name):
        return os.path.join(self.dir, name)

    def remove(self):
        shutil.rmtree(self.dir, ignore_errors=True)


_PKI = None


def pki():
    """The module's certificates, made on first use (test_websocket.py uses them too)."""
    global _PKI
    if _PKI is None:
        _PKI = Pki()
    return _PKI


def tearDownModule():
    if _PKI is not None:
        _PKI.remove()


def tls_listener(cert="server", **keys):
    """A [[listener]] on an ephemeral port with TLS (the server certificate unless `cert`
    names another pair of the Pki, or a path without extension)."""
    base = cert if os.path.isabs(cert) else pki().path(cert)
    listener = {"bind": HOST, "port": 0, "tls_cert": base + ".crt", "tls_key": base + ".key"}
    listener.update(keys)
    return listener


PLAIN_LISTENER = {"bind": HOST, "port": 0}


def install_pair(live, name, parts=(".crt", ".key")):
    """Copies the Pki's <name>.crt / .key over <live>.crt / .key, each file replaced whole (as
    an operator renewing a certificate would), for a SIGHUP to read."""
    for ext in parts:
        tmp = live + ext + ".new"
        shutil.copyfile(pki().path(name + ext), tmp)
        os.replace(tmp, live + ext)


def client_cert_args(name):
    """mosquitto_pub/sub arguments presenting the Pki's client certificate `name`."""
    return ["--cert", pki().path(name + ".crt"), "--key", pki().path(name + ".key")]


def run_mosquitto_pub(port, topic, message, extra=(), env=None):
    """mosquitto_pub -h 127.0.0.1 with --cafile; returns (exit code, stderr); never asserts."""
    cmd = [MOSQUITTO_PUB, "-h", HOST, "-p", str(port), "--cafile", pki().path("ca.crt"),
           "-t", topic, "-m", message, "-q", "1"] + list(extra)
    r = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=30,
                       env=dict(os.environ, **(env or {})))
    return r.returncode, r.stderr.decode(errors="replace")


def s_client(port, *args):
    """`openssl s_client` against 127.0.0.1:port (verifying the chain against the test CA and
    the name localhost), stdin closed so that it leaves after the handshake.
    Returns (exit code, output, (version, cipher) or None, subject or None)."""
    cmd = [OPENSSL, "s_client", "-connect", "%s:%d" % (HOST, port), "-servername", "localhost",
           "-CAfile", pki().path("ca.crt"), "-verify_hostname", "localhost",
           "-verify_return_error"] + list(args)
    r = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=30)
    out = r.stdout.decode(errors="replace")
    negotiated = re.search(r"^New, (TLSv[0-9.]+), Cipher is (\S+)", out, re.M)
    subject = re.search(r"^subject=(.*)$", out, re.M)
    return (r.returncode, out, negotiated.groups() if negotiated else None,
            subject.group(1).strip() if subject else None)


# MaxProtocol for the OpenSSL inside mosquitto_pub: mosquitto 2.0's `--tls-version tlsv1.2`
# only sets the floor, so on its own the client still speaks TLS 1.3.
TLS12_ONLY_CONF = """openssl_conf = openssl_init
[openssl_init]
ssl_conf = ssl_configuration
[ssl_configuration]
system_default = tls_system_default
[tls_system_default]
MaxProtocol = TLSv1.2
"""


class TlsTestCase(BrokerTestCase):
    """A broker whose listeners (broker_config) are built by listeners(); helpers for TLS
    clients that are closed before the broker stops."""

    extra_config = {}

    def listeners(self):
        return [tls_listener(), PLAIN_LISTENER]

    def setUp(self):
        self.broker_config = dict(self.extra_config, listener=self.listeners())
        super().setUp()

    def tls_paho(self, port, v5=False, cert=None, **kwargs):
        """A connected paho client over TLS, trusting the test CA (tls_set(ca_certs=...))."""
        c = (PahoV5Client if v5 else PahoClient)(port, connect=False, **kwargs)
        self.addCleanup(c.close)
        files = {"certfile": pki().path(cert + ".crt"), "keyfile": pki().path(cert + ".key")} \
            if cert else {}
        c.client.tls_set(ca_certs=pki().path("ca.crt"), **files)
        return c.connect()

    def log_count(self, text):
        return self.broker.stderr_text().count(text)

    def wait_log(self, text, count=1):
        """Waits until the broker's log holds `text` at least `count` times."""
        wait_for(lambda: self.log_count(text) >= count, message="%r in the broker's log" % text)

    def assert_serves_tls_client(self, port=None):
        """A new paho TLS client connects and gets its own QoS 1 message back."""
        c = self.tls_paho(port or self.broker.ports[0])
        topic = unique_topic("alive")
        c.subscribe(topic, 1)
        c.publish(topic, b"still serving", qos=1)
        self.assertEqual(c.get().payload, b"still serving")
        c.disconnect()


# --------------------------------------------------------------------------------------------

@SKIP_MOSQUITTO
class TlsClients(TlsTestCase):
    """Listener 0: TLS with the defaults; listener 1: plain TCP."""

    def test_mosquitto_pub_lines_over_tls_all_arrive_in_order(self):
        tls_port, plain_port = self.broker.ports
        topic = unique_topic("lines")
        sub = MosquittoSub(tls_port, topic, qos=1, extra=["--cafile", pki().path("ca.crt")])
        self.addCleanup(sub.close)
        sub.sync(self.paho(port=plain_port))
        lines = "".join("%d\n" % i for i in range(1, 5001)).encode()
        r = subprocess.run([MOSQUITTO_PUB, "-h", HOST, "-p", str(tls_port), "--cafile",
                            pki().path("ca.crt"), "-l", "-q", "1", "-t", topic], input=lines,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        got = [int(sub.get(timeout=30).payload) for _ in range(5000)]
        self.assertEqual(got, list(range(1, 5001)))

    def check_paho_qos_and_retained(self, v5):
        port = self.broker.ports[0]
        topic = unique_topic("paho-tls")
        for sub_qos in (1, 2):
            sub = self.tls_paho(port, v5=v5)
            self.assertEqual(sub.subscribe(topic + "/#", sub_qos), [sub_qos])
            pub = self.tls_paho(port, v5=v5)
            for pub_qos in (1, 2):
                payload = b"qos %d to %d" % (pub_qos, sub_qos)
                pub.publish("%s/%d" % (topic, pub_qos), payload, qos=pub_qos)
                m = sub.get()
                self.assertEqual((m.payload, m.qos), (payload, min(pub_qos, sub_qos)))
            sub.disconnect()
            pub.disconnect()
        pub = self.tls_paho(port, v5=v5)
        pub.publish(topic + "/retained", b"kept", qos=1, retain=True)
        late = self.tls_paho(port, v5=v5)
        late.subscribe(topic + "/retained", 2)
        m = late.get()
        self.assertEqual((m.payload, m.retain), (b"kept", 1))

    def test_paho_v311_qos1_qos2_and_retained(self):
        self.check_paho_qos_and_retained(v5=False)

    def test_paho_v5_qos1_qos2_and_retained(self):
        self.check_paho_qos_and_retained(v5=True)

    def test_tls_client_and_tcp_client_talk_to_each_other(self):
        tls_port, plain_port = self.broker.ports
        topic = unique_topic("mixed")
        secure = self.tls_paho(tls_port)
        plain = self.paho(port=plain_port)
        secure.subscribe(topic + "/to-tls", 1)
        plain.subscribe(topic + "/to-tcp", 1)
        plain.publish(topic + "/to-tls", b"from tcp", qos=1)
        secure.publish(topic + "/to-tcp", b"from tls", qos=1)
        self.assertEqual(secure.get().payload, b"from tcp")
        self.assertEqual(plain.get().payload, b"from tls")

    def test_default_listener_speaks_tls12_with_ecdhe_aead_and_tls13(self):
        port = self.broker.ports[0]
        rc, out, negotiated, subject = s_client(port, "-tls1_2")
        self.assertEqual(rc, 0, out)
        self.assertEqual(subject, "CN = localhost", out)
        self.assertEqual(negotiated[0], "TLSv1.2", out)
        self.assertRegex(negotiated[1], r"^ECDHE-(ECDSA|RSA)-(AES(128|256)-GCM-SHA(256|384)|"
                                        r"CHACHA20-POLY1305)$")
        self.assertIn("Verify return code: 0 (ok)", out)
        rc, out, negotiated, _ = s_client(port, "-tls1_3")
        self.assertEqual((rc, negotiated and negotiated[0]), (0, "TLSv1.3"), out)
        # The default list (ECDHE+AESGCM:ECDHE+CHACHA20) has no CBC cipher, which an ECDSA
        # certificate could otherwise use.
        rc, out, negotiated, _ = s_client(port, "-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-SHA256")
        self.assertNotEqual(rc, 0, out)
        self.assertIsNone(negotiated, out)

    def test_start_up_log_names_the_listener_and_its_certificate(self):
        log = self.broker.stderr_text()
        self.assertIn("MQTT listening on %s:%d (MQTT over TLS; anonymous clients allowed)"
                      % (HOST, self.broker.ports[0]), log)
        self.assertIn("MQTT listening on %s:%d (MQTT; anonymous clients allowed)"
                      % (HOST, self.broker.ports[1]), log)
        self.assertRegex(log, r'tls_cert "%s": subject "CN=localhost", expires \d{4}-\d\d-\d\d'
                         % re.escape(pki().path("server.crt")))


@SKIP_MOSQUITTO
class BenchOverTls(TlsTestCase):
    """`mqbase bench --cafile` (the TLS benchmarks' generator) against a TLS listener: every
    message accounted for, and the handshake rate reported."""

    def bench(self, *args):
        cmd = [mqbase_binary(), "bench"] + [str(a) for a in args] + \
            ["-h", "localhost", "-p", str(self.broker.ports[0]), "--cafile", pki().path("ca.crt"),
             "--json", "--quiet"]
        r = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=120)
        self.assertEqual(r.returncode, 0, r.stdout.decode() + r.stderr.decode(errors="replace"))
        return json.loads(r.stdout.decode().strip().splitlines()[-1])

    def test_qos1_fanin_over_tls_loses_nothing(self):
        d = self.bench("fanin", "-c", 4, "--qos", 1, "-d", 2)
        self.assertEqual(d["error"], "", d)
        self.assertGreater(d["sent"], 0, d)
        self.assertEqual((d["lost"], d["duplicates"], d["reordered"], d["lost_acked"]), (0, 0, 0, 0), d)
        self.assertEqual(d["received"], d["sent"], d)
        self.assertEqual(d["acked"], d["sent"], d)

    def test_conn_reports_handshakes_per_second(self):
        d = self.bench("conn", "-c", 100, "-d", 1, "--threads", 2)
        self.assertEqual((d["connected"], d["connect_failures"]), (100, 0), d)
        self.assertGreater(d["connects_per_sec"], 0, d)

    def test_wrong_ca_fails_with_the_reason(self):
        cmd = [mqbase_binary(), "bench", "conn", "-c", "1", "-d", "1", "-h", "localhost",
               "-p", str(self.broker.ports[0]), "--cafile", pki().path("rogue-ca.crt"),
               "--json", "--quiet"]
        r = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=60)
        self.assertEqual(r.returncode, 1, r.stdout)
        self.assertIn("certificate verify failed", json.loads(r.stdout.decode().strip())["error"])


@SKIP_MOSQUITTO
class TlsCiphersConfigured(TlsTestCase):

    def listeners(self):
        return [tls_listener(tls_ciphers="ECDHE-ECDSA-AES128-SHA256",
                             tls_ciphersuites="TLS_CHACHA20_POLY1305_SHA256")]

    def test_tls_ciphers_and_tls_ciphersuites_are_what_is_negotiated(self):
        port = self.broker.ports[0]
        rc, out, negotiated, _ = s_client(port, "-tls1_2")
        self.assertEqual((rc, negotiated), (0, ("TLSv1.2", "ECDHE-ECDSA-AES128-SHA256")), out)
        rc, out, negotiated, _ = s_client(port, "-tls1_3")
        self.assertEqual((rc, negotiated), (0, ("TLSv1.3", "TLS_CHACHA20_POLY1305_SHA256")), out)
        rc, out, _, _ = s_client(port, "-tls1_2", "-cipher", "ECDHE-ECDSA-AES256-GCM-SHA384")
        self.assertNotEqual(rc, 0, out)


@SKIP_MOSQUITTO
class TlsMinimumVersion13(TlsTestCase):

    def listeners(self):
        return [tls_listener(tls_min_version="1.3"), PLAIN_LISTENER]

    def test_tls12_clients_are_refused_tls13_clients_served(self):
        tls_port, plain_port = self.broker.ports
        topic = unique_topic("v13")
        watcher = self.paho(port=plain_port)
        watcher.subscribe(topic, 1)
        conf = os.path.join(self.broker.dir, "tls12-only.cnf")
        with open(conf, "w") as f:
            f.write(TLS12_ONLY_CONF)
        before = self.log_count("TLS handshake failed: unsupported protocol")
        rc, err = run_mosquitto_pub(tls_port, topic, "over 1.2", ["--tls-version", "tlsv1.2"],
                                    env={"OPENSSL_CONF": conf})
        self.assertNotEqual(rc, 0, err)
        self.wait_log("TLS handshake failed: unsupported protocol", before + 1)
        rc, err = run_mosquitto_pub(tls_port, topic, "over 1.3", ["--tls-version", "tlsv1.3"])
        self.assertEqual(rc, 0, err)
        self.assertEqual(watcher.get().payload, b"over 1.3")  # and not "over 1.2" first
        rc, out, negotiated, _ = s_client(tls_port, "-tls1_2")
        self.assertNotEqual(rc, 0, out)
        self.assertIsNone(negotiated, out)
        rc, out, negotiated, _ = s_client(tls_port, "-tls1_3")
        self.assertEqual((rc, negotiated and negotiated[0]), (0, "TLSv1.3"), out)


class ClientCertificateCases(TlsTestCase):
    """Listener 0 asks for client certificates (client_certificates); a plain-TCP watcher on
    listener 1 sees which publishes got through."""

    client_certificates = None

    def listeners(self):
        return [tls_listener(tls_ca=pki().path("ca.crt"),
                             tls_client_certificates=self.client_certificates), PLAIN_LISTENER]

    def setUp(self):
        super().setUp()
        self.topic = unique_topic("certs")
        self.watcher = self.paho(port=self.broker.ports[1])
        self.watcher.subscribe(self.topic, 1)

    def assert_publish_arrives(self, message, extra):
        rc, err = run_mosquitto_pub(self.broker.ports[0], self.topic, message, extra)
        self.assertEqual(rc, 0, err)
        self.assertEqual(self.watcher.get().payload, message.encode())

    def assert_refused(self, extra, reason):
        before = self.log_count(reason)
        rc, err = run_mosquitto_pub(self.broker.ports[0], self.topic, "refused", extra)
        self.assertNotEqual(rc, 0, err)
        self.wait_log(reason, before + 1)
        self.assertEqual(self.log_count("TLS handshake failed"), self.log_count(reason))


@SKIP_MOSQUITTO
class ClientCertificatesRequired(ClientCertificateCases):
    client_certificates = "required"

    def test_client_with_a_certificate_from_the_ca_connects(self):
        self.assert_publish_arrives("with cert", client_cert_args("client"))
        self.assertIn("client certificates required", self.broker.stderr_text())

    def test_client_without_a_certificate_is_refused_and_the_log_says_why(self):
        self.assert_refused([], "TLS handshake failed: peer did not return a certificate")
        self.assert_publish_arrives("after", client_cert_args("client"))  # first to arrive

    def test_certificate_from_an_untrusted_ca_is_refused(self):
        self.assert_refused(client_cert_args("rogue"), "TLS handshake failed: certificate verify failed")
        self.assert_publish_arrives("after", client_cert_args("client"))

    def test_paho_with_a_client_certificate(self):
        c = self.tls_paho(self.broker.ports[0], cert="client")
        c.publish(self.topic, b"paho with cert", qos=1)
        self.assertEqual(self.watcher.get().payload, b"paho with cert")


@SKIP_MOSQUITTO
class IdentityAsUsername(TlsTestCase):
    """use_identity_as_username: the client certificate's CN is the user name the ACL sees
    (sensor-1 may write only under sensors/sensor-1/), with no password file at all."""

    def listeners(self):
        return [tls_listener(tls_ca=pki().path("ca.crt"), tls_client_certificates="required",
                             use_identity_as_username=True), PLAIN_LISTENER]

    def setUp(self):
        self.acl_dir = tempfile.mkdtemp(prefix="mqbase-tls-acl-")
        self.addCleanup(shutil.rmtree, self.acl_dir, True)
        acl = os.path.join(self.acl_dir, "acl")
        with open(acl, "w") as f:
            f.write("topic read sensors/#\ntopic write db/query\n\nuser sensor-1\ntopic readwrite sensors/sensor-1/#\n")
        self.extra_config = {"auth": {"acl_file": acl}}
        super().setUp()

    def test_the_certificate_names_the_user_the_acl_sees(self):
        watcher = self.paho(port=self.broker.ports[1])
        watcher.subscribe("sensors/#", 1)
        cert = client_cert_args("client")  # CN=sensor-1
        for topic, message in [("sensors/sensor-1/t", "mine"), ("sensors/sensor-2/t", "theirs"),
                               ("sensors/sensor-1/m", "marker")]:
            rc, err = run_mosquitto_pub(self.broker.ports[0], topic, message, cert)
            self.assertEqual(rc, 0, err)  # 3.1.1: a denied PUBLISH is acknowledged and dropped
        self.assertEqual([watcher.get().payload for _ in range(2)], [b"mine", b"marker"])
        # Who the broker thinks the certificate is, while it is connected.
        c = self.tls_paho(self.broker.ports[0], cert="client")
        sql = "SELECT username FROM mqtt_clients WHERE client_id = '%s'" % c.client_id
        with urllib.request.urlopen(self.broker.http_url("/db/query?q=" + urllib.parse.quote(sql)),
                                    timeout=TIMEOUT) as r:
            self.assertEqual(json.loads(r.read())["data"]["rows"], [["sensor-1"]])
        c.disconnect()
        # Without a certificate there is no user name to take: the handshake refuses it.
        rc, _ = run_mosquitto_pub(self.broker.ports[0], "sensors/sensor-1/t", "anon")
        self.assertNotEqual(rc, 0)


@SKIP_MOSQUITTO
class ClientCertificatesOptional(ClientCertificateCases):
    client_certificates = "optional"

    def test_clients_with_and_without_a_certificate_connect(self):
        self.assert_publish_arrives("without cert", [])
        self.assert_publish_arrives("with cert", client_cert_args("client"))

    def test_a_certificate_that_is_given_must_verify(self):
        self.assert_refused(client_cert_args("rogue"), "TLS handshake failed: certificate verify failed")
        self.assert_publish_arrives("after", [])


# --------------------------------------------------------------------------------------------

def tls_handshake(port, timeout=TIMEOUT):
    """A TCP socket that has done the TLS handshake with the broker (trusting the test CA)."""
    context = ssl.create_default_context(cafile=pki().path("ca.crt"))
    sock = socket.create_connection((HOST, port), timeout=timeout)
    return context.wrap_socket(sock, server_hostname="localhost")


def wait_closed_tls(sock, timeout):
    """Reads from a TLS socket until the broker closes it; returns the seconds it took."""
    start = time.monotonic()
    sock.settimeout(timeout)
    try:
        while sock.recv(4096):
            pass
    except (ssl.SSLError, ConnectionResetError, BrokenPipeError):
        pass
    except socket.timeout:
        raise AssertionError("TLS connection still open after %.1f s" % timeout) from None
    return time.monotonic() - start


@SKIP_MOSQUITTO
class TlsAbuse(TlsTestCase):
    """What does not speak TLS on a TLS port is closed and logged; the broker serves on."""

    extra_config = {"limits": {"connect_timeout": 1}}

    def listeners(self):
        return [tls_listener()]

    def assert_closed_with_handshake_failure(self, data):
        before = self.log_count("TLS handshake failed")
        raw = RawClient(self.port)
        self.addCleanup(raw.close)
        raw.send(data)
        answer = raw.wait_closed(timeout=3)  # never a CONNACK
        self.assertTrue(answer == b"" or answer[0] == 0x15, "not a TLS alert: %r" % answer[:16])
        self.wait_log("TLS handshake failed", before + 1)
        self.assert_serves_tls_client()

    def test_plaintext_connect_on_the_tls_port_is_closed_and_logged(self):
        self.assert_closed_with_handshake_failure(connect_packet(unique_id("plain")))

    def test_garbage_before_a_handshake_is_closed_and_logged(self):
        garbage = bytes(random.Random(42).randrange(0x17, 0x100) for _ in range(512))
        self.assert_closed_with_handshake_failure(garbage)

    def test_http_request_on_the_tls_port_is_closed_and_logged(self):
        self.assert_closed_with_handshake_failure(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")

    def test_silent_clients_are_closed_by_the_connect_timeout(self):
        # Neither a ClientHello nor, after the handshake, a CONNECT: connect_timeout (1 s).
        raw = RawClient(self.port)
        self.addCleanup(raw.close)
        start = time.monotonic()
        raw.wait_closed(timeout=4)
        self.assertGreater(time.monotonic() - start, 0.5)
        sock = tls_handshake(self.port)
        self.addCleanup(sock.close)
        self.assertGreater(wait_closed_tls(sock, timeout=4), 0.5)
        self.assert_serves_tls_client()


# --------------------------------------------------------------------------------------------

@SKIP_MOSQUITTO
class TlsReload(TlsTestCase):
    """SIGHUP reloads the certificate from the listener's files (here copies the test owns)."""

    def listeners(self):
        self.live = os.path.join(tempfile.mkdtemp(prefix="mqbase-live-"), "live")
        self.addCleanup(shutil.rmtree, os.path.dirname(self.live), True)
        self.install("server")
        return [tls_listener(cert=self.live)]

    def install(self, name, parts=(".crt", ".key")):
        install_pair(self.live, name, parts)

    def sighup(self, outcome):
        """SIGHUP and wait until the log says the listener's outcome ("TLS reloaded" / "TLS not
        reloaded") once more."""
        before = self.log_count(outcome)
        os.kill(self.broker.pid, signal.SIGHUP)
        self.wait_log(outcome, before + 1)

    def served_subject(self):
        rc, out, _, subject = s_client(self.port)
        self.assertEqual(rc, 0, out)
        return subject

    def test_new_clients_get_the_new_certificate_old_connections_keep_working(self):
        topic = unique_topic("reload")
        sub = self.tls_paho(self.port)
        sub.subscribe(topic, 1)
        pub = self.tls_paho(self.port, v5=True)
        pub.publish(topic, b"before", qos=1)
        self.assertEqual(sub.get().payload, b"before")
        self.assertEqual(self.served_subject(), "CN = localhost")

        self.install("server2")
        self.sighup("TLS reloaded")
        self.assertIn('subject "CN=reloaded.localhost"', self.broker.stderr_text())
        self.assertEqual(self.served_subject(), "CN = reloaded.localhost")
        pub.publish(topic, b"after", qos=1)  # both connections predate the reload
        self.assertEqual(sub.get().payload, b"after")
        self.assert_serves_tls_client()

    def test_a_broken_file_on_reload_is_logged_and_the_old_certificate_stays(self):
        with open(self.live + ".crt", "w") as f:
            f.write("-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n")
        self.sighup("TLS not reloaded")
        self.assertRegex(self.broker.stderr_text(), r'TLS not reloaded, the certificate in use '
                         r'stays: tls_cert "%s": ' % re.escape(self.live + ".crt"))
        self.assertEqual(self.served_subject(), "CN = localhost")
        self.assert_serves_tls_client()
        # A certificate whose key was not swapped with it: refused as well.
        self.install("server2", parts=(".crt",))
        self.sighup("TLS not reloaded")
        self.assertIn('tls_key "%s.key" does not match' % self.live, self.broker.stderr_text())
        self.assertEqual(self.served_subject(), "CN = localhost")
        # Once both files are right, the next SIGHUP takes them.
        self.install("server2")
        self.sighup("TLS reloaded")
        self.assertEqual(self.served_subject(), "CN = reloaded.localhost")


# --------------------------------------------------------------------------------------------
# docs/tls-websocket.md: its examples, as they stand there

def doc_example(name):
    """The fenced block after `<!-- example: name -->` in docs/tls-websocket.md."""
    return harness.doc_example("tls-websocket.md", name)


def doc_listeners(name, tls_dir):
    """The [[listener]] tables of a TOML example, its /etc/mqbase/tls/ files taken from
    tls_dir and its ports made ephemeral."""
    listeners = tomllib.loads(doc_example(name).replace("/etc/mqbase/tls/", tls_dir + "/"))
    return [dict(l, port=0) for l in listeners["listener"]]


def doc_script(name, ports):
    """A shell example with each of its ports replaced by ports[port]."""
    script = doc_example(name)
    for doc_port, port in ports.items():
        script = re.sub(r"\b%d\b" % doc_port, str(port), script)
    return script


def run_shell(script, cwd):
    """bash -e -c script in cwd; the CompletedProcess, text output."""
    return subprocess.run(["bash", "-e", "-c", script], cwd=cwd, stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60, text=True,
                          errors="replace")


def run_doc_shell(name, cwd, ports):
    """Runs a shell example (doc_script) in cwd; returns its stdout; fails on a non-zero exit."""
    script = doc_script(name, ports)
    r = run_shell(script, cwd)
    if r.returncode != 0:
        raise AssertionError("example %s exited %d\n%s\n%s" % (name, r.returncode, script,
                                                                r.stderr))
    return r.stdout


@SKIP_MOSQUITTO
class DocTlsExamples(BrokerTestCase):
    """The doc's openssl recipe makes the files; its two listener examples run on one broker
    (plain, TLS, TLS with client certificates); its client commands run against it."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="mqbase-doc-tls-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        run_doc_shell("openssl-recipe", self.dir, {})
        self.broker_config = {"listener": doc_listeners("tls-listener", self.dir) +
                              doc_listeners("client-certificates-listener", self.dir)}
        super().setUp()
        self.doc_ports = dict(zip((1883, 8883, 8884), self.broker.ports))

    def test_mosquitto_pub_and_sub_over_tls(self):
        out = run_doc_shell("mosquitto-tls", self.dir, self.doc_ports)
        self.assertEqual(out, "sensors/temp 21.5\n")

    def test_mosquitto_pub_with_a_client_certificate(self):
        watcher = self.paho(port=self.doc_ports[1883])
        watcher.subscribe("sensors/temp", 1)
        run_doc_shell("mosquitto-client-certificate", self.dir, self.doc_ports)
        self.assertEqual(watcher.get().payload, b"22.0")
        # and without the certificate, the same command fails
        script = doc_script("mosquitto-client-certificate", self.doc_ports)
        r = run_shell(script.replace("--cert client.crt --key client.key", ""), self.dir)
        self.assertNotEqual(r.returncode, 0, r.stderr)

    def test_s_client_verifies_the_server(self):
        out = run_doc_shell("s-client", self.dir, self.doc_ports)
        self.assertIn("Verify return code: 0 (ok)", out)
        self.assertRegex(out, r"(?m)^subject=CN = localhost$")


# --------------------------------------------------------------------------------------------

@SKIP_MOSQUITTO
class TlsConfigErrors(unittest.TestCase):
    """A TLS mistake in the config stops `mqbase serve` before it is ready, naming the key (and
    the file)."""

    def serve_failing(self, listener):
        """Runs `mqbase serve` on a config with this one listener; asserts it exits non-zero
        without writing its ready file; returns its stderr."""
        directory = tempfile.mkdtemp(prefix="mqbase-it-tlsconf-")
        self.addCleanup(shutil.rmtree, directory, True)
        config = {"server": {"data_dir": os.path.join(directory, "data"), "threads": 2},
                  "http": {"listen": "%s:0" % HOST}, "listener": [listener]}
        path = os.path.join(directory, "mqbase.toml")
        with open(path, "w") as f:
            f.write(to_toml(config))
        ready = os.path.join(directory, "ready.json")
        r = subprocess.run([mqbase_binary(), "serve", "--config", path, "--ready-file", ready],
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=60, cwd=directory)
        err = r.stderr.decode(errors="replace")
        self.assertNotEqual(r.returncode, 0, err)
        self.assertFalse(os.path.exists(ready), err)
        for pattern in ("ERROR: AddressSanitizer", "runtime error:", "ERROR: LeakSanitizer"):
            self.assertNotIn(pattern, err)
        return err

    def test_tls_cert_without_tls_key(self):
        listener = tls_listener()
        del listener["tls_key"]
        err = self.serve_failing(listener)
        self.assertRegex(err, r"mqbase\.toml:\d+: listener: tls_cert and tls_key go together")

    def test_missing_certificate_file(self):
        missing = pki().path("no-such.crt")
        err = self.serve_failing(dict(tls_listener(), tls_cert=missing))
        self.assertIn('tls_cert "%s": No such file or directory' % missing, err)

    def test_key_that_does_not_match_the_certificate(self):
        err = self.serve_failing(dict(tls_listener(), tls_key=pki().path("client.key")))
        self.assertIn('tls_key "%s" does not match tls_cert "%s"'
                      % (pki().path("client.key"), pki().path("server.crt")), err)

    def test_client_certificates_without_tls_ca(self):
        err = self.serve_failing(tls_listener(tls_client_certificates="required"))
        self.assertRegex(err, r"mqbase\.toml:\d+: listener\.tls_client_certificates: needs tls_ca")

    def test_bad_tls_min_version(self):
        err = self.serve_failing(tls_listener(tls_min_version="1.1"))
        self.assertRegex(err, r'mqbase\.toml:\d+: listener\.tls_min_version: expected "1\.2" or '
                              r'"1\.3", got "1\.1"')

    def test_use_identity_as_username_without_required_client_certificates(self):
        err = self.serve_failing(tls_listener(use_identity_as_username=True))
        self.assertRegex(err, r"mqbase\.toml:\d+: listener\.use_identity_as_username: needs "
                              r'tls_client_certificates = "required"')


if __name__ == "__main__":
    run_tests()
