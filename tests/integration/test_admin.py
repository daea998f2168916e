#!/usr/bin/python3
"""Administering users and ACLs without editing files by hand (docs/security.md):

  * `mqbase acl check|add|delete|test FILE ...`: a mosquitto acl_file edited in place (comments
    and the other lines kept, replaced atomically with its mode kept, created 0600 when
    missing), checked with the line of an error named, and asked what the broker would decide;
    after `mqbase acl add` and SIGHUP a client that is already connected meets the new rule at
    its next PUBLISH / SUBSCRIBE, without reconnecting;
  * the HTTP admin API: GET/PUT/DELETE /api/users[/{name}] rewriting the password file
    (mosquitto_pub logs in with the new password at once, a deleted user is refused), GET/PUT
    /api/acl (the new rules in force at once for connected clients; a file that does not parse
    is refused with its line and changes nothing), GET /api/acl/check; all of it behind real
    credentials (HTTP Basic or a JWT bearer) and the ACL's write right on
    $CONTROL/mqbase/users or $CONTROL/mqbase/acl, 409 when the file it edits is not configured.

Clients: mosquitto_pub / mosquitto_sub with -u/-P and paho 5.0 for MQTT, urllib for HTTP."""

import base64
import hashlib
import hmac
import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (HOST, MOSQUITTO_PUB, BrokerTestCase, MosquittoSub, http_request as request,  # noqa: E402
                     mqbase_binary, paho5, run_tests, skip_if_mosquitto, unique_id, wait_for)

NOT_AUTHORIZED = 0x87


# --------------------------------------------------------------------------------------------
# helpers

def acl_cli(*args):
    """`mqbase acl ARGS` to completion (text stdout/stderr; the exit code is the caller's)."""
    return subprocess.run([mqbase_binary(), "acl"] + list(args), stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=60)


def make_password_file(path, users):
    """A password file written by `mqbase passwd -b` ({user: password})."""
    for i, (user, password) in enumerate(users.items()):
        subprocess.run([mqbase_binary(), "passwd"] + (["-c"] if i == 0 else []) + ["-b", path, user, password],
                       check=True, capture_output=True, timeout=60)


def read(path):
    with open(path) as f:
        return f.read()


def write(path, text):
    with open(path, "w") as f:
        f.write(text)


def reason(body):
    return json.loads(body).get("reason", "")


def mosquitto_pub(port, user, password, topic, message, qos=1):
    """mosquitto_pub (MQTT 3.1.1) with -u/-P; the CompletedProcess (exit code not checked)."""
    return subprocess.run([MOSQUITTO_PUB, "-h", HOST, "-p", str(port), "-i", unique_id("mp"), "-t", topic,
                           "-m", message, "-q", str(qos), "-u", user, "-P", password],
                          capture_output=True, text=True, timeout=30)


def assert_refused(test, r):
    """A mosquitto_pub whose CONNECT was refused (CONNACK 4 or 5): exit code non-zero."""
    test.assertNotEqual(r.returncode, 0, r.stdout)
    test.assertIn("Connection Refused", r.stderr)


def rule_count(summary):
    m = re.search(r"(\d+) rules?\b", summary)
    assert m, "no rule count in %r" % summary
    return int(m.group(1))


def b64url(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


JWT_SECRET = b"0123456789abcdef0123456789abcdef-admin-api"
JWT_AUDIENCE, JWT_ISSUER = "mqbase", "https://login.example.com"


def jwt_token(user, secret=JWT_SECRET, **claims):
    """An HS256 access token for `user` (an hour to live), extra claims as given."""
    now = int(time.time())
    body = {"sub": user, "aud": JWT_AUDIENCE, "iss": JWT_ISSUER, "iat": now, "exp": now + 3600}
    body.update(claims)
    signing_input = "%s.%s" % (b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode()),
                               b64url(json.dumps(body).encode()))
    return "%s.%s" % (signing_input, b64url(hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()))


# --------------------------------------------------------------------------------------------
# mqbase acl (the command line)

ACL_FILE = """\
# site ACL
topic read public/#

user alice
topic readwrite alice/#
# alice's extra rules go here

user bob
topic read alice/#
"""


def positions(lines, wanted):
    """The index of each wanted line in lines (fails when one is missing)."""
    out = []
    for w in wanted:
        assert w in lines, "%r not in the file:\n%s" % (w, "\n".join(lines))
        out.append(lines.index(w))
    return out


@skip_if_mosquitto("`mqbase acl` is mqbase's")
class AclCommand(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="mqbase-acl-cli-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.path = os.path.join(self.dir, "acl")
        write(self.path, ACL_FILE)
        os.chmod(self.path, 0o640)

    def ok(self, *args):
        r = acl_cli(*args)
        self.assertEqual(r.returncode, 0, "mqbase acl %s: %s%s" % (" ".join(args), r.stdout, r.stderr))
        return r

    def check_count(self):
        r = self.ok("check", self.path)
        self.assertEqual(len(r.stdout.strip().splitlines()), 1, r.stdout)
        return rule_count(r.stdout)

    def decide(self, *args):
        """`mqbase acl test FILE ARGS`: "allowed" (exit 0) or "denied" (exit 1)."""
        r = acl_cli("test", self.path, *args)
        word = r.stdout.strip().split()[0] if r.stdout.strip() else ""
        self.assertIn((word, r.returncode), [("allowed", 0), ("denied", 1)],
                      "mqbase acl test %s: exit %d, %r %r" % (" ".join(args), r.returncode, r.stdout, r.stderr))
        return word

    def test_round_trip_add_check_test_delete(self):
        self.assertEqual(self.check_count(), 3)
        inode = os.stat(self.path).st_ino
        self.ok("add", self.path, "write", "public/anon")                     # anonymous
        # The file was replaced (temp file + rename): the temp file is made while the old one still
        # exists, so its inode differs. Checked after this one add only: once the old inode is freed,
        # a later add's temp file may be given that number again.
        self.assertNotEqual(os.stat(self.path).st_ino, inode)
        self.ok("add", self.path, "-u", "alice", "deny", "alice/secret")      # end of alice's section
        self.ok("add", self.path, "-u", "bob", "other/x")                     # readwrite by default
        self.ok("add", self.path, "-u", "carol", "read", "carol/#")           # a new section
        self.ok("add", self.path, "--pattern", "readwrite", "devices/%c/#")
        text = read(self.path)
        lines = text.splitlines()
        # Every replacement kept the file's mode; no temp file is left.
        self.assertEqual(stat.S_IMODE(os.stat(self.path).st_mode), 0o640)
        self.assertEqual(os.listdir(self.dir), ["acl"])
        # Every original line (comments too) is still there, in its order.
        original = ACL_FILE.splitlines()
        at = positions(lines, [l for l in original if l])
        self.assertEqual(at, sorted(at), text)
        # Each new rule where it belongs.
        anon, user_alice, alice_rw, alice_deny, user_bob, bob_rw, user_carol, carol_read, pattern = positions(
            lines, ["topic write public/anon", "user alice", "topic readwrite alice/#", "topic deny alice/secret",
                    "user bob", "topic readwrite other/x", "user carol", "topic read carol/#",
                    "pattern readwrite devices/%c/#"])
        self.assertLess(anon, user_alice, text)
        self.assertTrue(alice_rw < alice_deny < user_bob, text)
        self.assertLess(user_bob, bob_rw, text)
        self.assertNotIn("user", [l.split()[0] for l in lines[user_bob + 1:bob_rw] if l.split()], text)
        self.assertLess(user_carol, carol_read, text)
        self.assertEqual(lines.count("user carol"), 1, text)
        self.assertGreater(pattern, 0)
        self.assertEqual(self.check_count(), 8)

        # What the broker would decide.
        self.assertEqual(self.decide("write", "public/anon"), "allowed")
        self.assertEqual(self.decide("read", "public/x"), "allowed")
        self.assertEqual(self.decide("write", "public/x"), "denied")
        self.assertEqual(self.decide("-u", "alice", "write", "alice/x"), "allowed")
        self.assertEqual(self.decide("-u", "alice", "write", "alice/secret"), "denied")
        self.assertEqual(self.decide("-u", "alice", "subscribe", "alice/secret"), "denied")
        self.assertEqual(self.decide("-u", "alice", "subscribe", "alice/+/x"), "allowed")
        self.assertEqual(self.decide("-u", "bob", "write", "alice/x"), "denied")
        self.assertEqual(self.decide("-u", "bob", "write", "other/x"), "allowed")
        self.assertEqual(self.decide("-u", "carol", "subscribe", "carol/#"), "allowed")
        self.assertEqual(self.decide("-u", "carol", "write", "carol/x"), "denied")
        self.assertEqual(self.decide("-u", "carol", "subscribe", "#"), "denied")
        self.assertEqual(self.decide("-i", "dev1", "write", "devices/dev1/t"), "allowed")
        self.assertEqual(self.decide("-i", "dev1", "write", "devices/dev2/t"), "denied")
        self.assertEqual(self.decide("-u", "carol", "-i", "dev2", "read", "devices/dev2/t"), "allowed")

        # Delete: a rule that is not there (other access, other section) changes nothing.
        before = read(self.path)
        for args in (["-u", "alice", "read", "alice/#"], ["-u", "bob", "readwrite", "alice/#"],
                     ["read", "public/anon"], ["--pattern", "devices/%u/#"]):
            r = acl_cli("delete", self.path, *args)
            self.assertEqual(r.returncode, 1, (args, r.stdout, r.stderr))
            self.assertIn("Warning: no such rule", r.stderr, args)
            self.assertEqual(read(self.path), before, args)
        self.ok("delete", self.path, "-u", "alice", "deny", "alice/secret")
        self.assertEqual(self.decide("-u", "alice", "write", "alice/secret"), "allowed")
        self.ok("delete", self.path, "-u", "bob", "other/x")  # any access
        self.ok("delete", self.path, "write", "public/anon")
        self.ok("delete", self.path, "--pattern", "devices/%c/#")
        self.assertEqual(self.decide("write", "public/anon"), "denied")
        self.assertEqual(self.decide("-i", "dev1", "write", "devices/dev1/t"), "denied")
        text = read(self.path)
        for gone in ["topic deny alice/secret", "topic readwrite other/x", "topic write public/anon",
                     "pattern readwrite devices/%c/#"]:
            self.assertNotIn(gone, text.splitlines())
        at = positions(text.splitlines(), [l for l in original if l])
        self.assertEqual(at, sorted(at), text)
        self.assertEqual(self.check_count(), 4)
        r = acl_cli("delete", self.path, "-u", "alice", "deny", "alice/secret")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("Warning: no such rule", r.stderr)
        self.assertEqual(stat.S_IMODE(os.stat(self.path).st_mode), 0o640)
        self.assertEqual(os.listdir(self.dir), ["acl"])

    def test_add_refuses_bad_rules_and_keeps_a_present_one(self):
        for args in (["read", "a/#/b"], ["-u", "alice", "a/#/b"], ["sometimes", "a/b"], ["--pattern", "rw", "a/b"]):
            r = acl_cli("add", self.path, *args)
            self.assertEqual(r.returncode, 1, (args, r.stdout, r.stderr))
            self.assertTrue(r.stderr.startswith("Error:"), (args, r.stderr))
            self.assertEqual(read(self.path), ACL_FILE, args)
        inode = os.stat(self.path).st_ino
        for args in (["-u", "alice", "readwrite", "alice/#"], ["-u", "alice", "alice/#"], ["read", "public/#"]):
            r = self.ok("add", self.path, *args)
            self.assertIn("already", (r.stdout + r.stderr).lower(), args)
            self.assertEqual(read(self.path), ACL_FILE, args)
        self.assertEqual(os.stat(self.path).st_ino, inode)

    def test_add_creates_a_missing_file(self):
        path = os.path.join(self.dir, "new-acl")
        self.ok("add", path, "-u", "alice", "read", "alice/#")
        self.assertEqual(stat.S_IMODE(os.stat(path).st_mode), 0o600)
        lines = read(path).splitlines()
        user, rule = positions(lines, ["user alice", "topic read alice/#"])
        self.assertLess(user, rule)
        r = self.ok("check", path)
        self.assertEqual(rule_count(r.stdout), 1, r.stdout)
        r = acl_cli("test", path, "-u", "alice", "read", "alice/x")
        self.assertEqual((r.returncode, r.stdout.split()[:1]), (0, ["allowed"]), r.stdout + r.stderr)
        r = acl_cli("test", path, "-u", "alice", "write", "alice/x")
        self.assertEqual((r.returncode, r.stdout.split()[:1]), (1, ["denied"]), r.stdout + r.stderr)

    def test_check_names_the_line_of_an_error(self):
        write(self.path, "user alice\ntopic read alice/#\ntopic sometimes alice/x\n")
        r = acl_cli("check", self.path)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("Error: ACL file %s:3:" % self.path, r.stderr)
        write(self.path, "user alice\ntopic read alice/#/x\n")
        r = acl_cli("check", self.path)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("Error: ACL file %s:2:" % self.path, r.stderr)
        # A NUL byte is named, not cut short; a bad topic to test is an error, not "denied".
        write(self.path, "topic read a\x00b\n")
        r = acl_cli("check", self.path)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("a control character (0x00) in the line", r.stderr)
        write(self.path, "topic read a/#\n")
        for check, topic in (("subscribe", "a/#/b"), ("read", "a/+")):
            r = acl_cli("test", self.path, check, topic)
            self.assertEqual((r.returncode, r.stdout), (1, ""), r.stderr)
            self.assertIn("is not a valid topic", r.stderr)


# --------------------------------------------------------------------------------------------
# mqbase acl add + SIGHUP: a connected client meets the new rule without reconnecting

RELOAD_USERS = {"alice": "a-pw", "bob": "b-pw"}
RELOAD_ACL = """\
user alice
topic read shared/#

user bob
topic read bob/#

pattern readwrite sync/#
"""


@skip_if_mosquitto("`mqbase acl` is mqbase's")
class AclCommandAndSighup(BrokerTestCase):
    def setUp(self):
        self.files = tempfile.mkdtemp(prefix="mqbase-acl-hup-")
        self.addCleanup(shutil.rmtree, self.files, True)
        pwfile = os.path.join(self.files, "passwd")
        make_password_file(pwfile, RELOAD_USERS)
        self.aclfile = os.path.join(self.files, "acl")
        write(self.aclfile, RELOAD_ACL)
        self.broker = self.start_broker({"server": {"threads": 2},
                                         "auth": {"password_file": pwfile, "acl_file": self.aclfile}})
        self.port = self.broker.port

    def test_acl_add_then_sighup_applies_to_a_connected_client(self):
        alice = MosquittoSub(self.port, "shared/#", qos=1, extra=["-u", "alice", "-P", "a-pw"])
        self.addCleanup(alice.close)
        bob = paho5(self, unique_id("bob"), username="bob", password="b-pw")
        alice.sync(bob)
        # Refused: the publish is acknowledged (v5 PUBACK 0x87) and goes nowhere; the filter too.
        bob.publish("shared/x", b"before", qos=1)
        self.assertEqual(bob.subscribe("shared/#", qos=1), [NOT_AUTHORIZED])

        r = acl_cli("add", self.aclfile, "-u", "bob", "readwrite", "shared/#")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("topic readwrite shared/#", read(self.aclfile).splitlines())
        reloads = self.broker.stderr_text().count("reloaded the authentication files")
        os.kill(self.broker.pid, signal.SIGHUP)
        wait_for(lambda: self.broker.stderr_text().count("reloaded the authentication files") > reloads,
                 message="the reload on SIGHUP")

        # The same connection (no reconnect): its next SUBSCRIBE and PUBLISH meet the new rule.
        self.assertFalse(bob.disconnected.is_set())
        self.assertEqual(bob.subscribe("shared/#", qos=1), [1])
        bob.publish("shared/x", b"after", qos=1)
        m = alice.get()  # "before" would have come first (one publisher's order)
        self.assertEqual((m.topic, m.payload), ("shared/x", b"after"))
        m = bob.get()
        self.assertEqual((m.topic, m.payload), ("shared/x", b"after"))
        self.assertFalse(bob.disconnected.is_set())


# --------------------------------------------------------------------------------------------
# The HTTP admin API

USERS = {"admin": "admin-pw", "useradmin": "ua-pw", "plain": "plain-pw"}
ADMIN_ACL = """\
# administrators
user admin
topic write $CONTROL/mqbase/users
topic write $CONTROL/mqbase/acl
topic read users/#
topic read news/#
topic readwrite data/#

user useradmin
topic write $CONTROL/mqbase/users

user plain
topic readwrite data/#

pattern write users/%u/#
pattern readwrite sync/#
"""


class AdminCase(BrokerTestCase):
    """A broker with a password file (USERS) and an ACL file (ADMIN_ACL); http.allow_anonymous
    is true, which /api/users and /api/acl must not honour."""

    def setUp(self):
        self.files = tempfile.mkdtemp(prefix="mqbase-admin-")
        self.addCleanup(shutil.rmtree, self.files, True)
        self.pwfile = os.path.join(self.files, "passwd")
        make_password_file(self.pwfile, USERS)
        self.aclfile = os.path.join(self.files, "acl")
        write(self.aclfile, ADMIN_ACL)
        self.broker = self.start_broker({"server": {"threads": 2},
                                         "auth": {"password_file": self.pwfile, "acl_file": self.aclfile},
                                         "http": {"allow_anonymous": True}})
        self.port = self.broker.port

    def api(self, path, method="GET", body=None, as_user="admin", **kwargs):
        if as_user is not None:
            kwargs.update(user=as_user, password=USERS[as_user])
        return request(self.broker.http_url(path), method=method, body=body, **kwargs)

    def put_user(self, name, password, as_user="admin"):
        return self.api("/api/users/" + name, "PUT", json.dumps({"password": password}), as_user,
                        content_type="application/json")

    def password_lines(self):
        return {l.split(":", 1)[0]: l for l in read(self.pwfile).splitlines() if l}


@skip_if_mosquitto("the HTTP admin API is mqbase's")
class UsersApi(AdminCase):
    def test_credentials_and_the_acl_right_are_required(self):
        for path in ("/api/users", "/api/users/x", "/api/acl", "/api/acl/check?access=read&topic=a"):
            status, _, body = request(self.broker.http_url(path))
            self.assertEqual(status, 401, (path, body))
        status, _, body = request(self.broker.http_url("/api/users"), user="admin", password="wrong")
        self.assertEqual(status, 401, body)
        status, _, body = self.api("/api/users", as_user="plain")
        self.assertEqual(status, 403, body)
        self.assertIn("$CONTROL/mqbase/users", reason(body))
        status, _, body = self.api("/api/users")
        self.assertEqual(status, 200, body)
        self.assertEqual(json.loads(body), {"users": ["admin", "plain", "useradmin"]})
        self.assertNotIn("$7$", body)
        status, _, body = self.api("/api/users", as_user="useradmin")
        self.assertEqual(status, 200, body)

    def test_create_change_and_delete_a_user(self):
        before = self.password_lines()
        watcher = MosquittoSub(self.port, "users/#", qos=1, extra=["-u", "admin", "-P", USERS["admin"]])
        self.addCleanup(watcher.close)
        watcher.sync(paho5(self, unique_id("sync"), username="plain", password=USERS["plain"]))

        status, _, body = self.put_user("carol", "c-pw-1")
        self.assertEqual(status, 201, body)
        self.assertIs(json.loads(body)["success"], True)
        lines = self.password_lines()
        self.assertTrue(lines["carol"].startswith("carol:$7$"), lines["carol"])
        for name, line in before.items():
            self.assertEqual(lines[name], line)  # the others' lines untouched
        self.assertEqual(json.loads(self.api("/api/users")[2]), {"users": ["admin", "carol", "plain", "useradmin"]})
        # At once, no SIGHUP: carol logs in and publishes.
        r = mosquitto_pub(self.port, "carol", "c-pw-1", "users/carol/x", "hello")
        self.assertEqual(r.returncode, 0, r.stderr)
        m = watcher.get()
        self.assertEqual((m.topic, m.payload), ("users/carol/x", b"hello"))

        status, _, body = self.put_user("carol", "c-pw-2")
        self.assertEqual(status, 200, body)
        self.assertNotEqual(self.password_lines()["carol"], lines["carol"])
        assert_refused(self, mosquitto_pub(self.port, "carol", "c-pw-1", "users/carol/x", "old"))
        r = mosquitto_pub(self.port, "carol", "c-pw-2", "users/carol/x", "new")
        self.assertEqual(r.returncode, 0, r.stderr)
        m = watcher.get()
        self.assertEqual((m.topic, m.payload), ("users/carol/x", b"new"))

        status, _, body = self.api("/api/users/carol", "DELETE")
        self.assertEqual(status, 200, body)
        self.assertIs(json.loads(body)["success"], True)
        self.assertEqual(self.password_lines(), before)
        assert_refused(self, mosquitto_pub(self.port, "carol", "c-pw-2", "users/carol/x", "gone"))
        status, _, body = self.api("/api/users/carol", "DELETE")
        self.assertEqual(status, 404, body)
        self.assertEqual(json.loads(self.api("/api/users")[2]), {"users": ["admin", "plain", "useradmin"]})

    def test_bad_requests_change_nothing(self):
        before = read(self.pwfile)
        url = self.broker.http_url("/api/users/carol")
        auth = {"user": "admin", "password": USERS["admin"], "content_type": "application/json"}
        for body in ("{", "", "{}", '{"pass": "x"}', '{"password": ""}', "[1]"):
            status, _, answer = request(url, "PUT", body, **auth)
            self.assertEqual(status, 400, (body, answer))
            self.assertIs(json.loads(answer)["success"], False)
        status, _, answer = request(self.broker.http_url("/api/users/a:b"), "PUT", '{"password": "x"}', **auth)
        self.assertEqual(status, 400, answer)
        self.assertEqual(read(self.pwfile), before)
        self.assertEqual(json.loads(self.api("/api/users")[2]), {"users": ["admin", "plain", "useradmin"]})
        # Wrong methods: 405 with Allow.
        for path, method, allowed in (("/api/users", "POST", {"GET"}), ("/api/users", "DELETE", {"GET"}),
                                      ("/api/users/carol", "POST", {"PUT", "DELETE"}),
                                      ("/api/acl", "DELETE", {"GET", "PUT"}),
                                      ("/api/acl/check", "POST", {"GET"})):
            status, headers, answer = self.api(path, method, "" if method == "POST" else None)
            self.assertEqual(status, 405, (path, method, answer))
            allow = {m.strip() for m in headers.get("Allow", "").split(",") if m.strip()}
            self.assertTrue(allowed <= allow, (path, method, headers.get("Allow")))
            self.assertNotIn(method, allow, (path, method, headers.get("Allow")))
        self.assertEqual(read(self.pwfile), before)

    def test_without_the_acl_right_nothing_changes(self):
        pw_before, acl_before = read(self.pwfile), read(self.aclfile)
        status, _, body = self.put_user("mallory", "m-pw", as_user="plain")
        self.assertEqual(status, 403, body)
        self.assertIn("$CONTROL/mqbase/users", reason(body))
        status, _, body = self.put_user("admin", "taken-over", as_user="plain")
        self.assertEqual(status, 403, body)
        status, _, body = self.api("/api/users/admin", "DELETE", as_user="plain")
        self.assertEqual(status, 403, body)
        self.assertIn("$CONTROL/mqbase/users", reason(body))
        # useradmin may manage users but not the ACL.
        for who in ("plain", "useradmin"):
            status, _, body = self.api("/api/acl", "PUT", "user %s\ntopic readwrite #\n" % who, as_user=who,
                                       content_type="text/plain")
            self.assertEqual(status, 403, (who, body))
            self.assertIn("$CONTROL/mqbase/acl", reason(body))
            status, _, body = self.api("/api/acl", as_user=who)
            self.assertEqual(status, 403, (who, body))
            self.assertIn("$CONTROL/mqbase/acl", reason(body))
            status, _, body = self.api("/api/acl/check?access=read&topic=a", as_user=who)
            self.assertEqual(status, 403, (who, body))
        self.assertEqual((read(self.pwfile), read(self.aclfile)), (pw_before, acl_before))
        # The old passwords still work, mallory has none.
        self.assertEqual(mosquitto_pub(self.port, "admin", USERS["admin"], "data/x", "x").returncode, 0)
        assert_refused(self, mosquitto_pub(self.port, "mallory", "m-pw", "data/x", "x"))


NEW_ACL = """\
# administrators
user admin
topic write $CONTROL/mqbase/acl
topic read data/#
topic read news/#

user plain
topic readwrite news/#

pattern readwrite sync/#
"""


@skip_if_mosquitto("the HTTP admin API is mqbase's")
class AclApi(AdminCase):
    def test_get_returns_the_file(self):
        status, headers, body = self.api("/api/acl")
        self.assertEqual(status, 200, body)
        self.assertTrue(headers.get("Content-Type", "").startswith("text/plain"), headers)
        self.assertEqual(body, ADMIN_ACL)

    def test_put_is_in_force_at_once_for_connected_clients(self):
        watcher = MosquittoSub(self.port, ["data/#", "news/#"], qos=1, extra=["-u", "admin", "-P", USERS["admin"]])
        self.addCleanup(watcher.close)
        plain = paho5(self, unique_id("plain"), username="plain", password=USERS["plain"])
        watcher.sync(plain)
        self.assertEqual(plain.subscribe("news/#", qos=1), [NOT_AUTHORIZED])
        plain.publish("news/x", b"refused", qos=1)
        plain.publish("data/x", b"allowed", qos=1)
        m = watcher.get()
        self.assertEqual((m.topic, m.payload), ("data/x", b"allowed"))  # not news/x "refused"

        status, _, body = self.api("/api/acl", "PUT", NEW_ACL, content_type="text/plain")
        self.assertEqual(status, 200, body)
        self.assertIs(json.loads(body)["success"], True)
        self.assertEqual(read(self.aclfile), NEW_ACL)
        status, _, body = self.api("/api/acl")
        self.assertEqual((status, body), (200, NEW_ACL))
        # The same connection, no SIGHUP: news/# granted now, data/# withdrawn.
        self.assertFalse(plain.disconnected.is_set())
        self.assertEqual(plain.subscribe("news/#", qos=1), [1])
        plain.publish("data/x", b"withdrawn", qos=1)
        plain.publish("news/x", b"granted", qos=1)
        m = watcher.get()
        self.assertEqual((m.topic, m.payload), ("news/x", b"granted"))  # not data/x "withdrawn"
        m = plain.get()
        self.assertEqual((m.topic, m.payload), ("news/x", b"granted"))
        self.assertFalse(plain.disconnected.is_set())
        # admin lost $CONTROL/mqbase/users with the new file.
        status, _, body = self.api("/api/users")
        self.assertEqual(status, 403, body)
        self.assertIn("$CONTROL/mqbase/users", reason(body))

    def test_a_file_that_does_not_parse_changes_nothing(self):
        plain = paho5(self, unique_id("plain"), username="plain", password=USERS["plain"])
        bad = "user plain\ntopic readwrite data/#\ntopic sometimes news/#\n"
        status, _, body = self.api("/api/acl", "PUT", bad, content_type="text/plain")
        self.assertEqual(status, 400, body)
        self.assertIn(":3:", reason(body))
        self.assertIs(json.loads(body)["success"], False)
        bad2 = "user plain\ntopic readwrite news/#/x\n"
        status, _, body = self.api("/api/acl", "PUT", bad2, content_type="text/plain")
        self.assertEqual(status, 400, body)
        self.assertIn(":2:", reason(body))
        self.assertEqual(read(self.aclfile), ADMIN_ACL)
        status, _, body = self.api("/api/acl")
        self.assertEqual((status, body), (200, ADMIN_ACL))
        # The rules in force are the old ones.
        self.assertEqual(plain.subscribe("news/#", qos=1), [NOT_AUTHORIZED])
        self.assertEqual(plain.subscribe("data/#", qos=1), [1])

    def test_check(self):
        def check(**params):
            status, _, body = self.api("/api/acl/check?" + urllib.parse.urlencode(params))
            self.assertEqual(status, 200, (params, body))
            return json.loads(body)["allowed"]

        self.assertIs(check(access="write", topic="data/x", username="plain"), True)
        self.assertIs(check(access="write", topic="news/x", username="plain"), False)
        self.assertIs(check(access="subscribe", topic="data/#", username="plain"), True)
        self.assertIs(check(access="subscribe", topic="#", username="plain"), False)
        self.assertIs(check(access="read", topic="users/bob/x", username="admin"), True)
        self.assertIs(check(access="write", topic="users/bob/x", username="bob"), True)
        self.assertIs(check(access="write", topic="users/bob/x", username="carol"), False)
        self.assertIs(check(access="write", topic="$CONTROL/mqbase/acl", username="useradmin"), False)
        self.assertIs(check(access="write", topic="$CONTROL/mqbase/users", username="useradmin"), True)
        self.assertIs(check(access="write", topic="data/x"), False)  # anonymous: no rules
        self.assertIs(check(access="read", topic="sync/x", client_id="c1"), True)
        # After a PUT, the new rules answer; a client id fills %c.
        acl = "topic read public/#\n\nuser admin\ntopic write $CONTROL/mqbase/acl\n\npattern readwrite devices/%c/#\n"
        self.assertEqual(self.api("/api/acl", "PUT", acl, content_type="text/plain")[0], 200)
        self.assertIs(check(access="read", topic="public/x"), True)
        self.assertIs(check(access="write", topic="public/x"), False)
        self.assertIs(check(access="write", topic="data/x", username="plain"), False)
        self.assertIs(check(access="subscribe", topic="devices/d1/#", client_id="d1"), True)
        self.assertIs(check(access="subscribe", topic="devices/d1/#", client_id="d2"), False)
        for query in ("access=read", "topic=a/b", "access=delete&topic=a/b", "access=&topic=a/b",
                      "access=subscribe&topic=a/%23/b", "access=write&topic=a/%2B"):
            status, _, body = self.api("/api/acl/check?" + query)
            self.assertEqual(status, 400, (query, body))


# --------------------------------------------------------------------------------------------
# The file an endpoint edits is not configured; JWT bearer tokens as credentials

@skip_if_mosquitto("the HTTP admin API is mqbase's")
class NoAclFile(BrokerTestCase):
    def setUp(self):
        self.files = tempfile.mkdtemp(prefix="mqbase-admin-noacl-")
        self.addCleanup(shutil.rmtree, self.files, True)
        self.pwfile = os.path.join(self.files, "passwd")
        make_password_file(self.pwfile, {"admin": "admin-pw"})
        self.broker = self.start_broker({"server": {"threads": 2}, "auth": {"password_file": self.pwfile},
                                         "http": {"allow_anonymous": True}})
        self.port = self.broker.port

    def test_acl_endpoints_answer_409_users_work_for_any_login(self):
        auth = {"user": "admin", "password": "admin-pw"}
        for method, body in (("GET", None), ("PUT", "topic read #\n")):
            status, _, answer = request(self.broker.http_url("/api/acl"), method, body, **auth)
            self.assertEqual(status, 409, (method, answer))
            self.assertIn("acl_file", reason(answer))
        self.assertEqual(os.listdir(self.files), ["passwd"])
        status, _, answer = request(self.broker.http_url("/api/users"), **auth)
        self.assertEqual((status, answer and json.loads(answer)), (200, {"users": ["admin"]}))
        self.assertEqual(request(self.broker.http_url("/api/users"))[0], 401)


JWT_ACL = """\
user root
topic write $CONTROL/mqbase/users
topic write $CONTROL/mqbase/acl
"""


@skip_if_mosquitto("the HTTP admin API is mqbase's")
class NoPasswordFileJwt(BrokerTestCase):
    def setUp(self):
        self.files = tempfile.mkdtemp(prefix="mqbase-admin-jwt-")
        self.addCleanup(shutil.rmtree, self.files, True)
        key = os.path.join(self.files, "jwt.secret")
        with open(key, "wb") as f:
            f.write(JWT_SECRET)
        self.aclfile = os.path.join(self.files, "acl")
        write(self.aclfile, JWT_ACL)
        self.broker = self.start_broker({"server": {"threads": 2},
                                         "auth": {"acl_file": self.aclfile, "jwt_key_file": key,
                                                  "jwt_audience": JWT_AUDIENCE, "jwt_issuer": JWT_ISSUER},
                                         "http": {"allow_anonymous": True}})
        self.port = self.broker.port

    def test_users_answer_409_and_a_bearer_token_is_a_login(self):
        root = jwt_token("root")
        for method, path, body in (("GET", "/api/users", None), ("PUT", "/api/users/x", '{"password": "y"}'),
                                   ("DELETE", "/api/users/x", None)):
            status, _, answer = request(self.broker.http_url(path), method, body, token=root)
            self.assertEqual(status, 409, (method, path, answer))
            self.assertIn("auth.password_file", reason(answer))
        self.assertEqual(sorted(os.listdir(self.files)), ["acl", "jwt.secret"])
        status, _, answer = request(self.broker.http_url("/api/acl"), token=root)
        self.assertEqual((status, answer), (200, JWT_ACL))
        # A forged token is no login; a token whose grants lack the topic is refused.
        status, _, answer = request(self.broker.http_url("/api/acl"),
                                    token=jwt_token("root", secret=b"another secret that is long enough!!"))
        self.assertEqual(status, 401, answer)
        status, _, answer = request(self.broker.http_url("/api/acl"), token=jwt_token("root", mqtt_pub=["data/#"]))
        self.assertEqual(status, 403, answer)
        self.assertIn("$CONTROL/mqbase/acl", reason(answer))
        status, _, answer = request(self.broker.http_url("/api/acl"), token=jwt_token("someone"))
        self.assertEqual(status, 403, answer)
        # A token granting the topic may replace the file.
        new = JWT_ACL + "\nuser dash\ntopic read dash/#\n"
        status, _, answer = request(self.broker.http_url("/api/acl"), "PUT", new,
                                    token=jwt_token("ops", mqtt_pub=["$CONTROL/mqbase/acl"]), content_type="text/plain")
        self.assertEqual(status, 200, answer)
        self.assertEqual(read(self.aclfile), new)


if __name__ == "__main__":
    run_tests()
