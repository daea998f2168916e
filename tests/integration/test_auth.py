#!/usr/bin/python3
"""Password authentication (docs/security.md): [auth] password_file in mosquitto's format, the
listener's allow_anonymous, the throttling of failed logins per source address, and
`mqbase passwd` writing files that mosquitto reads (and the other way round).

Clients: mosquitto_pub / mosquitto_sub with -u/-P, paho 3.1.1 and 5.0, raw sockets where the
exact CONNACK or the source address matters. Password files are made by mosquitto_passwd."""

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (HOST, MOSQUITTO, MOSQUITTO_PUB, TIMEOUT, Broker,  # noqa: E402
                     BrokerTestCase, MosquittoSub, PacketStream, PahoClient, PahoV5Client,
                     connack_bytes, connect_packet, free_port, is_mosquitto,
                     mqbase_binary, run_mosquitto_pub, run_tests,
                     skip_if_mosquitto, unique_id, unique_topic, wait_for)

MOSQUITTO_PASSWD = "/usr/bin/mosquitto_passwd"
USERS = {"alice": "secret", "bob": "hunter2"}
BAD_CREDENTIALS, NOT_AUTHORIZED = 4, 5              # 3.1.1 CONNACK return codes
BAD_USER_OR_PASSWORD, NOT_AUTHORIZED_5 = 0x86, 0x87  # 5.0 reason codes


def mosquitto_passwd_file(path, users, hash_type=None):
    """A password file made by mosquitto_passwd itself."""
    first = True
    for user, password in users.items():
        cmd = [MOSQUITTO_PASSWD] + (["-H", hash_type] if hash_type else []) + \
            (["-c"] if first else []) + ["-b", path, user, password]
        subprocess.run(cmd, check=True, capture_output=True, timeout=30)
        first = False


def readable_by_mosquitto(directory, *files):
    """The mosquitto flavor runs as root and reads its files as user mosquitto."""
    os.chmod(directory, 0o755)
    for f in files:
        os.chmod(f, 0o644)


def mqbase_passwd(args, input=None):
    """`mqbase passwd ARGS` (mqbase's binary even under the mosquitto flavor)."""
    return subprocess.run([mqbase_binary(), "passwd"] + list(args), input=input, capture_output=True,
                          text=True, timeout=60)


def pub_as(port, user, password, topic="t/auth", message="x"):
    """mosquitto_pub with -u/-P; the CompletedProcess (exit code not checked)."""
    cmd = [MOSQUITTO_PUB, "-h", HOST, "-p", str(port), "-t", topic, "-m", message, "-i", unique_id("mp")]
    if user is not None:
        cmd += ["-u", user]
    if password is not None:
        cmd += ["-P", password]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=15)


def raw_connect(port, source=HOST, **kwargs):
    """A raw 3.1.1 CONNECT from `source` (a local address); returns (stream, seconds to CONNACK
    or to the close, the 4 CONNACK bytes or None)."""
    s = socket.create_connection((HOST, port), timeout=TIMEOUT, source_address=(source, 0))
    stream = PacketStream(s)
    begin = time.monotonic()
    stream.send(connect_packet(unique_id("raw"), **kwargs))
    try:
        got = stream.read_bytes(4, timeout=TIMEOUT)
    except Exception:
        got = None
    return stream, time.monotonic() - begin, got


class AuthFiles:
    """A temp dir with the password file, for a test case's broker config."""

    def make_files(self):
        self.files = tempfile.mkdtemp(prefix="mqbase-auth-")
        self.addCleanup(shutil.rmtree, self.files, True)
        self.pwfile = os.path.join(self.files, "passwd")
        mosquitto_passwd_file(self.pwfile, USERS)
        readable_by_mosquitto(self.files, self.pwfile)


class PasswordLogin(AuthFiles, BrokerTestCase):
    """A loopback listener (anonymous clients allowed, as mosquitto's default listener on
    localhost) with a password file: user names must bring their password."""

    def setUp(self):
        self.make_files()
        self.broker = self.start_broker({"auth": {"password_file": self.pwfile}})
        self.port = self.broker.port

    def test_mosquitto_pub_sub_with_the_right_password(self):
        topic = unique_topic("auth")
        sub = MosquittoSub(self.port, topic, extra=["-u", "bob", "-P", "hunter2"])
        self.addCleanup(sub.close)
        pub = self.paho(username="alice", password="secret")
        sub.sync(pub)
        run_mosquitto_pub(self.port, topic, "hello", extra=["-u", "alice", "-P", "secret"])
        self.assertEqual(sub.get().payload, b"hello")

    @skip_if_mosquitto("mosquitto 2.0 answers a wrong password with 5 (not authorized), not 4")
    def test_mosquitto_pub_with_a_wrong_password_or_unknown_user(self):
        for user, password in [("alice", "Secret"), ("mallory", "secret"), ("alice", None)]:
            r = pub_as(self.port, user, password)
            self.assertNotEqual(r.returncode, 0, (user, password))
            self.assertIn("bad user name or password", r.stderr.lower(), (user, password, r.stderr))

    @skip_if_mosquitto("mosquitto 2.0 answers a wrong password with 5 (not authorized), not 4")
    def test_paho_311(self):
        PahoClient(self.port, username="alice", password="secret").close()
        for user, password in [("alice", "wrong"), ("carol", "secret"), ("bob", "")]:
            c = PahoClient(self.port, username=user, password=password, expect_rc=BAD_CREDENTIALS)
            c.close()
        # No user name: allowed on this listener.
        PahoClient(self.port).close()

    @skip_if_mosquitto("mosquitto 2.0 answers a wrong password with 0x87, not 0x86")
    def test_paho_v5(self):
        PahoV5Client(self.port, username="bob", password="hunter2").close()
        PahoV5Client(self.port, username="bob", password="nope", expect_rc=BAD_USER_OR_PASSWORD).close()
        PahoV5Client(self.port, username="nobody", password="x", expect_rc=BAD_USER_OR_PASSWORD).close()
        PahoV5Client(self.port).close()

    def test_refused_client_is_closed_and_logged(self):
        s, _, got = raw_connect(self.port, username="alice", password="wrong")
        self.assertIsNotNone(got)
        self.assertEqual(got[:3], bytes([0x20, 0x02, 0x00]))
        self.assertIn(got[3], (BAD_CREDENTIALS, NOT_AUTHORIZED))
        s.wait_closed()
        s.close()
        if not is_mosquitto():
            wait_for(lambda: "refused CONNECT" in self.broker.stderr_text(), message="the refusal logged")
            self.assertIn("on listener", self.broker.stderr_text())

    @skip_if_mosquitto("mqbase's SQL views")
    def test_mqtt_clients_shows_the_user_name(self):
        import json
        import urllib.parse
        import urllib.request
        c = self.paho(username="alice", password="secret")
        anon = self.paho()
        q = "SELECT client_id, username FROM mqtt_clients WHERE client_id IN ('%s', '%s') ORDER BY username" % (
            c.client_id, anon.client_id)
        url = self.broker.http_url("/db/query?" + urllib.parse.urlencode({"q": q, "format": "json"}))
        with urllib.request.urlopen(url, timeout=TIMEOUT * 2) as r:
            rows = json.loads(r.read().decode())["data"]["rows"]
        self.assertEqual(sorted(rows, key=lambda r: str(r[1])),
                         sorted([[c.client_id, "alice"], [anon.client_id, None]], key=lambda r: str(r[1])))


class AnonymousRefused(AuthFiles, BrokerTestCase):
    """allow_anonymous = false on the listener: a client without a user name is refused."""

    def setUp(self):
        self.make_files()
        self.broker = self.start_broker({"auth": {"password_file": self.pwfile},
                                         "listener": [{"bind": HOST, "port": 0, "allow_anonymous": False}]})
        self.port = self.broker.port

    def test_anonymous_refused_users_admitted(self):
        PahoClient(self.port, expect_rc=NOT_AUTHORIZED).close()
        PahoV5Client(self.port, expect_rc=NOT_AUTHORIZED_5).close()
        PahoClient(self.port, username="alice", password="secret").close()
        PahoV5Client(self.port, username="alice", password="secret").close()
        r = pub_as(self.port, None, None)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("not authori", r.stderr.lower())
        self.assertEqual(pub_as(self.port, "bob", "hunter2").returncode, 0)


class NoPasswordFile(BrokerTestCase):
    """Without a password file, a user name is admitted only where anonymous clients are
    (mosquitto 2 does the same)."""

    broker_config = {"listener": [{"bind": HOST, "port": 0, "allow_anonymous": False}]}

    def test_user_name_without_password_file_is_refused(self):
        PahoClient(self.port, username="alice", password="secret", expect_rc=NOT_AUTHORIZED).close()
        PahoClient(self.port, expect_rc=NOT_AUTHORIZED).close()


@skip_if_mosquitto("mosquitto has no throttling of failed logins")
class Throttling(AuthFiles, BrokerTestCase):
    """After auth.failed_attempts failures from one address within a minute, each further
    failed CONNACK waits auth.failed_delay_ms; other addresses are not slowed."""

    DELAY_MS = 1000

    def setUp(self):
        self.make_files()
        self.broker = self.start_broker({"auth": {"password_file": self.pwfile, "failed_attempts": 5,
                                                  "failed_delay_ms": self.DELAY_MS}})
        self.port = self.broker.port

    def attempt(self, source, password):
        s, took, got = raw_connect(self.port, source=source, username="alice", password=password)
        s.close()
        return took, got

    def test_sixth_failure_waits_and_another_address_does_not(self):
        for i in range(5):
            took, got = self.attempt(HOST, "wrong")
            self.assertEqual(got, connack_bytes(BAD_CREDENTIALS), "attempt %d" % (i + 1))
            self.assertLess(took, self.DELAY_MS / 1000.0, "attempt %d was delayed" % (i + 1))
        took, got = self.attempt(HOST, "wrong")
        self.assertEqual(got, connack_bytes(BAD_CREDENTIALS))
        self.assertGreaterEqual(took, self.DELAY_MS / 1000.0 * 0.95, "the 6th failure was not delayed")
        # 127.0.0.2 (Linux routes all of 127/8 to lo) has its own count.
        took, got = self.attempt("127.0.0.2", "secret")
        self.assertEqual(got, connack_bytes(0))
        self.assertLess(took, self.DELAY_MS / 1000.0 / 2)
        took, got = self.attempt("127.0.0.2", "wrong")
        self.assertEqual(got, connack_bytes(BAD_CREDENTIALS))
        self.assertLess(took, self.DELAY_MS / 1000.0 / 2)
        # The right password from the throttled address is not held back either.
        took, got = self.attempt(HOST, "secret")
        self.assertEqual(got, connack_bytes(0))
        self.assertLess(took, self.DELAY_MS / 1000.0 / 2)


@skip_if_mosquitto("`mqbase passwd` is mqbase's (it runs mosquitto itself)")
class PasswdCompatibility(unittest.TestCase):
    """Files written by `mqbase passwd` are read by mosquitto, and files written by
    mosquitto_passwd by mqbase (the PasswordLogin tests above use those)."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="mqbase-passwd-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.path = os.path.join(self.dir, "passwd")

    def run_mosquitto(self, pwfile):
        port = free_port()
        conf = os.path.join(self.dir, "mosquitto.conf")
        with open(conf, "w") as f:
            f.write("per_listener_settings false\nallow_anonymous false\npersistence false\n"
                    "user root\npassword_file %s\nlistener %d %s\n" % (pwfile, port, HOST))
        proc = subprocess.Popen([MOSQUITTO, "-c", conf], stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE)

        def stop():
            proc.terminate()
            proc.wait(10)
            proc.stderr.close()
        self.addCleanup(stop)

        def accepting():
            try:
                socket.create_connection((HOST, port), timeout=1).close()
                return True
            except OSError:
                return proc.poll() is not None
        wait_for(accepting, message="mosquitto listening")
        self.assertIsNone(proc.poll(), "mosquitto exited")
        return port

    def test_mqbase_passwd_file_accepted_by_mosquitto(self):
        self.assertEqual(mqbase_passwd(["-c", "-b", self.path, "alice", "secret"]).returncode, 0)
        self.assertEqual(os.stat(self.path).st_mode & 0o777, 0o600)
        r = mqbase_passwd(["-H", "sha512", "-b", self.path, "bob", "hunter2"])
        self.assertEqual(r.returncode, 0, r.stderr)
        r = mqbase_passwd(["-I", "1000", "-b", self.path, "carol", "pw3"])
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(self.path) as f:
            text = f.read()
        self.assertRegex(text, r"(?m)^alice:\$7\$101\$")
        self.assertRegex(text, r"(?m)^bob:\$6\$")
        self.assertRegex(text, r"(?m)^carol:\$7\$1000\$")
        port = self.run_mosquitto(self.path)
        for user, password in [("alice", "secret"), ("bob", "hunter2"), ("carol", "pw3")]:
            r = pub_as(port, user, password)
            self.assertEqual(r.returncode, 0, (user, r.stderr))
        self.assertNotEqual(pub_as(port, "alice", "hunter2").returncode, 0)

    def test_mosquitto_passwd_file_edited_by_mqbase_passwd(self):
        mosquitto_passwd_file(self.path, USERS)
        with open(self.path, "a") as f:
            f.write("# a comment that stays\n")
        # Interactive: the password twice on stdin (no terminal here, so no echo to turn off).
        r = mqbase_passwd([self.path, "alice"], input="new-one\nnew-one\n")
        self.assertEqual(r.returncode, 0, r.stderr)
        r = mqbase_passwd([self.path, "alice"], input="a\nb\n")
        self.assertEqual(r.returncode, 2)
        self.assertIn("Passwords do not match", r.stderr)
        self.assertEqual(mqbase_passwd(["-D", self.path, "bob"]).returncode, 0)
        r = mqbase_passwd(["-D", self.path, "bob"])
        self.assertEqual(r.returncode, 1)
        self.assertIn("not found", r.stderr)
        with open(self.path) as f:
            text = f.read()
        self.assertIn("# a comment that stays\n", text)
        self.assertNotIn("bob:", text)
        # mosquitto_passwd can still edit it, and mosquitto reads it.
        subprocess.run([MOSQUITTO_PASSWD, "-b", self.path, "dave", "pw4"], check=True, capture_output=True)
        port = self.run_mosquitto(self.path)
        self.assertEqual(pub_as(port, "alice", "new-one").returncode, 0)
        self.assertEqual(pub_as(port, "dave", "pw4").returncode, 0)
        self.assertNotEqual(pub_as(port, "bob", "hunter2").returncode, 0)

    def test_update_hashes_plain_passwords_in_place(self):
        with open(self.path, "w") as f:
            f.write("alice:secret\nbob:hunter2\n")
        r = mqbase_passwd(["-U", self.path])
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(self.path) as f:
            before = f.read()
        self.assertNotIn("secret", before)
        self.assertEqual(mqbase_passwd(["-U", self.path]).returncode, 0)  # hashes stay as they are
        with open(self.path) as f:
            self.assertEqual(f.read(), before)
        port = self.run_mosquitto(self.path)
        self.assertEqual(pub_as(port, "alice", "secret").returncode, 0)
        self.assertEqual(pub_as(port, "bob", "hunter2").returncode, 0)

    def test_usage_errors(self):
        self.assertEqual(mqbase_passwd(["-c", "-D", self.path, "a"]).returncode, 1)
        self.assertEqual(mqbase_passwd(["-H", "md5", "-b", self.path, "a", "b"]).returncode, 1)
        self.assertEqual(mqbase_passwd(["-b", self.path, "a:b", "pw"]).returncode, 1)
        r = mqbase_passwd(["-b", os.path.join(self.dir, "missing"), "a", "pw"])
        self.assertEqual(r.returncode, 1)
        self.assertIn("cannot open", r.stderr)


@skip_if_mosquitto("mqbase's configuration")
class BadFilesStopTheStart(unittest.TestCase):
    def test_bad_password_file(self):
        d = tempfile.mkdtemp(prefix="mqbase-auth-")
        self.addCleanup(shutil.rmtree, d, True)
        pw = os.path.join(d, "passwd")
        with open(pw, "w") as f:
            f.write("# users\nalice:plaintext\n")
        b = Broker({"auth": {"password_file": pw}})
        with self.assertRaises(AssertionError) as e:
            b.start()
        self.addCleanup(lambda: shutil.rmtree(b.dir, True))
        self.assertIn("%s:2" % pw, str(e.exception))
        self.assertEqual(b.proc.returncode, 2)


if __name__ == "__main__":
    run_tests()
