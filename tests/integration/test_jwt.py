#!/usr/bin/python3
"""JWT bearer tokens and SCRAM-SHA-256 (docs/security.md, issue 13), end to end.

JWT: tokens made here (HS256 with hmac/hashlib; RS256 and ES256 signed by the openssl CLI, the
ES256 DER signature turned into raw r||s) as the CONNECT password of mosquitto_pub and paho
3.1.1/5.0 clients, and as the MQTT 5 AUTH method "JWT" (paho's AuthenticationMethod /
AuthenticationData); refusals (expired, audience, issuer: 0x86 / return code 4); the claims
as the connection's ACL; the expiry (DISCONNECT 0xA0) and re-authentication past it; a JWKS
with two keys chosen by kid, rotated by SIGHUP; bad key files stopping the start.

SCRAM-SHA-256: the client side of RFC 5802 written here with hashlib/hmac over raw MQTT 5
AUTH packets; a wrong password gets 0x86; the file comes from `mqbase passwd --scram -b`.

The examples of docs/security.md (`<!-- example: name -->` blocks) run as they stand there."""

import base64
import hashlib
import hmac
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import tomllib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import (AUTH, AUTHENTICATION_DATA, AUTHENTICATION_METHOD, HOST,  # noqa: E402
                     MOSQUITTO_PUB, PINGREQ_BYTES, PINGRESP_BYTES, REASON_STRING, BrokerTestCase,
                     PahoClient, PahoV5Client, auth_packet, connect5_packet, mqbase_binary,
                     parse_connack5, parse_reason_packet, raw5, run_tests, skip_if_mosquitto,
                     unique_id, unique_topic, wait_for)

OPENSSL = shutil.which("openssl") or "/usr/bin/openssl"
SECRET = b"0123456789abcdef0123456789abcdef-hs256"
AUDIENCE, ISSUER = "mqbase", "https://login.example.com"
BAD_CREDENTIALS, BAD_USER_OR_PASSWORD, NOT_AUTHORIZED_5 = 4, 0x86, 0x87
CONTINUE, REAUTHENTICATE, MAXIMUM_CONNECT_TIME = 0x18, 0x19, 0xA0


def b64url(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def claims_for(user, lifetime=3600, **extra):
    c = {"sub": user, "aud": AUDIENCE, "iss": ISSUER, "iat": int(time.time()),
         "exp": int(time.time()) + lifetime}
    c.update(extra)
    return c


def hs256(claims, secret=SECRET):
    head = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = b64url(json.dumps(claims).encode())
    sig = hmac.new(secret, ("%s.%s" % (head, body)).encode(), hashlib.sha256).digest()
    return "%s.%s.%s" % (head, body, b64url(sig))


def der_to_raw(der):
    """An ECDSA signature as DER (SEQUENCE of INTEGER r, s) -> 64 bytes r||s (JWS ES256)."""
    assert der[0] == 0x30
    pos = 2 if der[1] < 0x80 else 2 + (der[1] & 0x7f)
    out = b""
    for _ in range(2):
        assert der[pos] == 0x02
        n = der[pos + 1]
        out += der[pos + 2:pos + 2 + n].lstrip(b"\0").rjust(32, b"\0")
        pos += 2 + n
    return out


def openssl_signed(alg, key_path, claims, kid=None):
    """A RS256 / ES256 token signed by `openssl dgst -sha256 -sign`."""
    header = {"alg": alg, "typ": "JWT"}
    if kid:
        header["kid"] = kid
    signing_input = "%s.%s" % (b64url(json.dumps(header).encode()), b64url(json.dumps(claims).encode()))
    sig = subprocess.run([OPENSSL, "dgst", "-sha256", "-sign", key_path], input=signing_input.encode(),
                         capture_output=True, check=True, timeout=30).stdout
    if alg == "ES256":
        sig = der_to_raw(sig)
    return "%s.%s" % (signing_input, b64url(sig))


def openssl(*args):
    return subprocess.run([OPENSSL] + list(args), capture_output=True, check=True, timeout=60).stdout


def rsa_jwk(key_path, kid):
    modulus = openssl("rsa", "-in", key_path, "-noout", "-modulus").decode().strip().split("=", 1)[1]
    return {"kty": "RSA", "kid": kid, "alg": "RS256", "use": "sig",
            "n": b64url(bytes.fromhex(modulus)), "e": b64url((65537).to_bytes(3, "big"))}


def ec_jwk(key_path, kid):
    point = openssl("ec", "-in", key_path, "-pubout", "-outform", "DER")[-65:]
    assert point[0] == 4
    return {"kty": "EC", "kid": kid, "crv": "P-256", "x": b64url(point[1:33]), "y": b64url(point[33:])}


def doc_example(name):
    return harness.doc_example("security.md", name)


class Keys:
    """A temp dir with the HS256 secret, two RSA keys and an EC key, and a JWKS of k1 (RSA)
    and k2 (EC)."""

    def make_keys(self):
        self.dir = tempfile.mkdtemp(prefix="mqbase-jwt-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.secret_file = self.path("hs256.secret")
        with open(self.secret_file, "wb") as f:
            f.write(SECRET + b"\n")
        for name, args in [("rsa1", ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"]),
                           ("rsa3", ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"]),
                           ("ec2", ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"])]:
            openssl("genpkey", *args, "-out", self.path(name + ".pem"))
        self.jwks_file = self.path("jwks.json")
        self.write_jwks([rsa_jwk(self.path("rsa1.pem"), "k1"), ec_jwk(self.path("ec2.pem"), "k2")])

    def path(self, name):
        return os.path.join(self.dir, name)

    def write_jwks(self, keys):
        with open(self.jwks_file + ".tmp", "w") as f:
            json.dump({"keys": keys}, f)
        os.rename(self.jwks_file + ".tmp", self.jwks_file)


@skip_if_mosquitto("JWT logins are mqbase's")
class JwtLogin(Keys, BrokerTestCase):
    def setUp(self):
        self.make_keys()
        self.broker = self.start_broker({"auth": {
            "jwt_key_file": self.secret_file, "jwt_jwks_file": self.jwks_file, "jwt_audience": AUDIENCE,
            "jwt_issuer": ISSUER, "jwt_leeway": 1}})
        self.port = self.broker.port

    def v5(self, token, user=None, **kwargs):
        c = raw5(self)
        c.connect(username=user, password=token, **kwargs)
        return c

    # -- the token as the password ------------------------------------------------------------

    def test_mosquitto_pub_with_a_token(self):
        topic = unique_topic("jwt")
        watcher = self.paho(username="watcher", password=hs256(claims_for("watcher")))
        watcher.subscribe(topic, 1)
        r = subprocess.run([MOSQUITTO_PUB, "-h", HOST, "-p", str(self.port), "-t", topic, "-m", "21.5",
                            "-u", "dev1", "-P", hs256(claims_for("dev1")), "-i", unique_id("mp")],
                           capture_output=True, text=True, timeout=15)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(watcher.get().payload, b"21.5")

    def test_paho_311_and_v5_with_a_token_password(self):
        token = hs256(claims_for("dev1"))
        PahoClient(self.port, username="dev1", password=token).close()
        PahoV5Client(self.port, username="dev1", password=token).close()
        # The user name must be the token's.
        PahoClient(self.port, username="dev2", password=token, expect_rc=BAD_CREDENTIALS).close()
        PahoV5Client(self.port, username="dev2", password=token, expect_rc=BAD_USER_OR_PASSWORD).close()

    def test_expired_token_refused_and_logged(self):
        token = hs256(claims_for("dev1", lifetime=-60))
        PahoV5Client(self.port, username="dev1", password=token, expect_rc=BAD_USER_OR_PASSWORD).close()
        PahoClient(self.port, username="dev1", password=token, expect_rc=BAD_CREDENTIALS).close()
        wait_for(lambda: "token expired" in self.broker.stderr_text(), message="the refusal logged")
        line = [l for l in self.broker.stderr_text().splitlines() if "token expired" in l][0]
        self.assertIn("refused CONNECT", line)
        self.assertIn("on listener", line)
        self.assertIn("127.0.0.1:", line)

    def test_wrong_audience_or_issuer_or_signature_refused(self):
        for claims, secret in [(claims_for("dev1", aud="someone-else"), SECRET),
                               (claims_for("dev1", iss="https://evil.example.com"), SECRET),
                               (claims_for("dev1"), b"another-secret-of-at-least-32-bytes!")]:
            c = raw5(self)
            ack = c.connect(username="dev1", password=hs256(claims, secret), expect_reason=BAD_USER_OR_PASSWORD)
            self.assertIsNotNone(ack)
        PahoClient(self.port, username="dev1", password=hs256(claims_for("dev1", aud="x")),
                   expect_rc=BAD_CREDENTIALS).close()

    def test_rs256_and_es256_chosen_by_kid(self):
        rs = openssl_signed("RS256", self.path("rsa1.pem"), claims_for("dev1"), kid="k1")
        es = openssl_signed("ES256", self.path("ec2.pem"), claims_for("dev1"), kid="k2")
        PahoV5Client(self.port, username="dev1", password=rs).close()
        PahoClient(self.port, username="dev1", password=es).close()
        # A kid naming the other key's slot fails the signature; an unknown kid fails.
        wrong = openssl_signed("RS256", self.path("rsa1.pem"), claims_for("dev1"), kid="k2")
        PahoV5Client(self.port, username="dev1", password=wrong, expect_rc=BAD_USER_OR_PASSWORD).close()
        unknown = openssl_signed("RS256", self.path("rsa3.pem"), claims_for("dev1"), kid="k3")
        PahoV5Client(self.port, username="dev1", password=unknown, expect_rc=BAD_USER_OR_PASSWORD).close()

    # -- claims as the ACL --------------------------------------------------------------------

    def test_publish_claim_limits_publish(self):
        c = self.v5(hs256(claims_for("dev1", mqtt_pub=["sensors/#"])), user="dev1")
        self.assertLess(c.publish("sensors/dev1/temp", b"21", qos=1), 0x80)
        self.assertEqual(c.publish("actuators/valve", b"open", qos=1), NOT_AUTHORIZED_5)
        self.assertEqual(c.subscribe([("sensors/#", 1)]), [NOT_AUTHORIZED_5])  # no mqtt_sub: nothing

    def test_subscribe_claim_limits_subscribe_and_delivery(self):
        c = self.v5(hs256(claims_for("dev1", mqtt_sub="cmd/dev1/#", mqtt_pub=["cmd/#"])))
        self.assertEqual(c.subscribe([("cmd/dev1/#", 1), ("cmd/#", 1), ("#", 0)]),
                         [1, NOT_AUTHORIZED_5, NOT_AUTHORIZED_5])
        self.assertLess(c.publish("cmd/dev2/x", b"not for dev1", qos=1), 0x80)
        self.assertEqual(c.publish("cmd/dev1/x", b"for dev1", qos=1), 0)
        self.assertEqual(c.receive_publish().payload, b"for dev1")

    def test_token_without_claims_may_do_everything_without_an_acl_file(self):
        c = self.v5(hs256(claims_for("dev1")))
        self.assertEqual(c.subscribe([("#", 1)]), [1])
        self.assertLess(c.publish("any/where", b"x", qos=1), 0x80)

    def test_will_outside_the_publish_claim_refused(self):
        token = hs256(claims_for("dev1", mqtt_pub="sensors/#"))
        c = raw5(self)
        c.connect(username="dev1", password=token, will_topic="status/dev1", will_payload=b"gone",
                  expect_reason=NOT_AUTHORIZED_5)
        c = raw5(self)
        c.connect(username="dev1", password=token, will_topic="sensors/dev1/status", will_payload=b"gone")

    # -- the AUTH method JWT, expiry, re-authentication -----------------------------------------

    def test_auth_method_jwt_with_paho(self):
        token = hs256(claims_for("dev1", mqtt_pub="sensors/#"))
        c = PahoV5Client(self.port, connect_props={"AuthenticationMethod": "JWT",
                                                   "AuthenticationData": token.encode()})
        self.assertEqual(c.connack_props.get("AuthenticationMethod"), "JWT")
        c.close()
        bad = hs256(claims_for("dev1", lifetime=-100))
        c = PahoV5Client(self.port, connect_props={"AuthenticationMethod": "JWT",
                                                   "AuthenticationData": bad.encode()},
                         expect_rc=BAD_USER_OR_PASSWORD)
        c.close()

    def auth_jwt(self, token):
        c = raw5(self)
        c.send(connect5_packet(unique_id("jwt"), props=[(AUTHENTICATION_METHOD, "JWT"),
                                                       (AUTHENTICATION_DATA, token.encode())]))
        ack = parse_connack5(c.read_packet())
        self.assertEqual(ack.reason, 0)
        return c

    def ping(self, c):
        c.send(PINGREQ_BYTES)
        self.assertEqual(c.read_packet().raw, PINGRESP_BYTES)

    def test_expiry_disconnects_with_0xa0(self):
        c = self.v5(hs256(claims_for("dev1", lifetime=2)))  # + 1 s leeway
        begin = time.monotonic()
        reason, props = c.expect_disconnect(MAXIMUM_CONNECT_TIME, timeout=10)
        self.assertEqual(props.get(REASON_STRING), "token expired")
        self.assertGreater(time.monotonic() - begin, 1.0)

    def test_expiry_closes_a_311_connection(self):
        c = PahoClient(self.port, username="dev1", password=hs256(claims_for("dev1", lifetime=1)))
        self.addCleanup(c.close)
        c.wait_disconnected(timeout=10)

    def test_reauthentication_keeps_the_connection_past_the_first_expiry(self):
        c = self.auth_jwt(hs256(claims_for("dev1", lifetime=2)))
        fresh = hs256(claims_for("dev1", lifetime=60, mqtt_pub="fresh/#"))
        c.send(auth_packet(REAUTHENTICATE, [(AUTHENTICATION_METHOD, "JWT"), (AUTHENTICATION_DATA, fresh.encode())]))
        p = c.read_packet()
        self.assertEqual(p.type, AUTH)
        self.assertEqual(parse_reason_packet(p)[0], 0)
        time.sleep(4)  # past the first token's expiry and leeway
        self.ping(c)
        # The fresh token's grants are in force.
        self.assertLess(c.publish("fresh/x", b"x", qos=1), 0x80)
        self.assertEqual(c.publish("stale/x", b"x", qos=1), NOT_AUTHORIZED_5)

    def test_reauthentication_as_another_user_refused(self):
        c = self.auth_jwt(hs256(claims_for("dev1")))
        other = hs256(claims_for("dev2"))
        c.send(auth_packet(REAUTHENTICATE, [(AUTHENTICATION_METHOD, "JWT"), (AUTHENTICATION_DATA, other.encode())]))
        c.expect_disconnect(NOT_AUTHORIZED_5)

    # -- JWKS rotation ------------------------------------------------------------------------

    def test_jwks_rotation_on_sighup(self):
        k3 = openssl_signed("RS256", self.path("rsa3.pem"), claims_for("dev1"), kid="k3")
        k1 = openssl_signed("RS256", self.path("rsa1.pem"), claims_for("dev1"), kid="k1")
        PahoV5Client(self.port, username="dev1", password=k3, expect_rc=BAD_USER_OR_PASSWORD).close()
        self.write_jwks([rsa_jwk(self.path("rsa3.pem"), "k3"), ec_jwk(self.path("ec2.pem"), "k2")])
        os.kill(self.broker.pid, signal.SIGHUP)
        wait_for(lambda: "reloaded the authentication files" in self.broker.stderr_text(), message="the reload")
        PahoV5Client(self.port, username="dev1", password=k3).close()
        PahoV5Client(self.port, username="dev1", password=k1, expect_rc=BAD_USER_OR_PASSWORD).close()
        # A broken JWKS: logged, the keys in force stay.
        with open(self.jwks_file, "w") as f:
            f.write("{not json")
        os.kill(self.broker.pid, signal.SIGHUP)
        wait_for(lambda: "previous contents stay in force" in self.broker.stderr_text(), message="the failed reload")
        self.assertIn(self.jwks_file, self.broker.stderr_text())
        PahoV5Client(self.port, username="dev1", password=k3).close()

    def test_bad_key_files_stop_the_start(self):
        self.broker.stop(keep_dir=True)
        with open(self.path("short.secret"), "w") as f:
            f.write("too short\n")
        with open(self.path("bad.jwks"), "w") as f:
            f.write('{"keys": []}')
        for key, path in [("jwt_key_file", self.path("short.secret")), ("jwt_jwks_file", self.path("bad.jwks")),
                          ("jwt_key_file", self.path("missing.pem")), ("scram_file", self.path("missing.scram"))]:
            with open(self.broker.config_path, "w") as f:
                f.write('[auth]\n%s = "%s"\n' % (key, path))
            rc, err = self.broker.serve_expecting_failure()
            self.assertEqual(rc, 2, err)
            self.assertIn(path, err)


# --------------------------------------------------------------------------------------------
# SCRAM-SHA-256

def scram_client_first(user, nonce):
    bare = "n=%s,r=%s" % (user, nonce)
    return "n,," + bare, bare


def scram_client_final(password, bare, server_first):
    attrs = dict(a.split("=", 1) for a in server_first.split(","))
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(attrs["s"]), int(attrs["i"]))
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    without_proof = "c=biws,r=%s" % attrs["r"]
    auth_message = ("%s,%s,%s" % (bare, server_first, without_proof)).encode()
    signature = hmac.new(stored_key, auth_message, hashlib.sha256).digest()
    proof = bytes(a ^ b for a, b in zip(client_key, signature))
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    server_signature = hmac.new(server_key, auth_message, hashlib.sha256).digest()
    return "%s,p=%s" % (without_proof, base64.b64encode(proof).decode()), server_signature


def mqbase_passwd(*args):
    return subprocess.run([mqbase_binary(), "passwd"] + list(args), capture_output=True, text=True, timeout=60)


@skip_if_mosquitto("SCRAM-SHA-256 over MQTT 5 AUTH is mqbase's")
@skip_if_mosquitto("the HTTP API is mqbase's")
class HttpBearer(Keys, BrokerTestCase):
    """An OAuth 2.0 access token on the HTTP API: Authorization: Bearer <JWT>, verified as in
    an MQTT CONNECT, its grant claims deciding the endpoints as the same request over MQTT."""

    def setUp(self):
        self.make_keys()
        self.broker = self.start_broker({"auth": {
            "jwt_key_file": self.secret_file, "jwt_audience": AUDIENCE, "jwt_issuer": ISSUER},
            "http": {"allow_anonymous": False}})

    def get(self, token, sql="SELECT 1 AS one"):
        import urllib.error
        import urllib.parse
        import urllib.request
        url = self.broker.http_url("/db/query?" + urllib.parse.urlencode({"q": sql}))
        headers = {"Authorization": "Bearer " + token} if token is not None else {}
        try:
            with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=30) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def test_a_valid_token_is_a_login(self):
        status, body = self.get(hs256(claims_for("dash")))
        self.assertEqual(status, 200, body)
        self.assertEqual(json.loads(body)["data"]["rows"], [[1]])

    def test_expired_forged_and_missing_tokens_are_refused(self):
        status, body = self.get(hs256(claims_for("dash", lifetime=-60)))
        self.assertEqual(status, 401, body)
        self.assertIn("expired", json.loads(body)["reason"])
        status, body = self.get(hs256(claims_for("dash"), secret=b"another secret that is long enough!!"))
        self.assertEqual(status, 401, body)
        self.assertEqual(self.get("not-a-jwt")[0], 401)
        status, body = self.get(None)
        self.assertEqual(status, 401, body)
        self.assertIn("Bearer", json.loads(body)["reason"])

    def test_grant_claims_decide_the_endpoint(self):
        self.assertEqual(self.get(hs256(claims_for("q", mqtt_pub=["db/query"])))[0], 200)
        status, body = self.get(hs256(claims_for("s", mqtt_pub=["sensors/#"])))
        self.assertEqual(status, 403, body)
        self.assertIn("db/query", json.loads(body)["reason"])


class ScramLogin(BrokerTestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="mqbase-scram-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.scram_file = os.path.join(self.dir, "scram-users")
        r = mqbase_passwd("--scram", "-c", "-b", self.scram_file, "alice", "correct horse")
        self.assertEqual(r.returncode, 0, r.stderr)
        r = mqbase_passwd("--scram", "-b", self.scram_file, "bob", "battery staple")
        self.assertEqual(r.returncode, 0, r.stderr)
        acl = os.path.join(self.dir, "acl")
        with open(acl, "w") as f:
            f.write("user alice\ntopic readwrite alice/#\n")
        self.broker = self.start_broker({"auth": {"scram_file": self.scram_file, "acl_file": acl}})
        self.port = self.broker.port

    def scram(self, user, password, connect_user=None):
        """The whole exchange; returns (client, CONNACK)."""
        c = raw5(self)
        first, bare = scram_client_first(user, b64url(os.urandom(18)))
        c.send(connect5_packet(unique_id("scram"), username=connect_user,
                               props=[(AUTHENTICATION_METHOD, "SCRAM-SHA-256"),
                                      (AUTHENTICATION_DATA, first.encode())]))
        p = c.read_packet()
        self.assertEqual(p.type, AUTH, p.raw[:32])
        reason, props = parse_reason_packet(p)
        self.assertEqual(reason, CONTINUE)
        server_first = props.get(AUTHENTICATION_DATA).decode()
        final, server_signature = scram_client_final(password, bare, server_first)
        c.send(auth_packet(CONTINUE, [(AUTHENTICATION_METHOD, "SCRAM-SHA-256"),
                                      (AUTHENTICATION_DATA, final.encode())]))
        ack = parse_connack5(c.read_packet())
        if ack.reason == 0:
            self.assertEqual(ack.props.get(AUTHENTICATION_DATA).decode(),
                             "v=" + base64.b64encode(server_signature).decode())
        return c, ack

    def test_full_exchange_and_the_identity_is_the_acl_user(self):
        c, ack = self.scram("alice", "correct horse")
        self.assertEqual(ack.reason, 0)
        self.assertLess(c.publish("alice/x", b"x", qos=1), 0x80)
        self.assertEqual(c.publish("bob/x", b"x", qos=1), NOT_AUTHORIZED_5)

    def test_wrong_password_and_unknown_user_get_0x86(self):
        for user, password in [("alice", "wrong"), ("mallory", "correct horse")]:
            c, ack = self.scram(user, password)
            self.assertEqual(ack.reason, BAD_USER_OR_PASSWORD)
            c.wait_closed()
        wait_for(lambda: "wrong SCRAM proof" in self.broker.stderr_text(), message="the refusal logged")

    def test_connect_user_name_must_be_the_scram_one(self):
        c = raw5(self)
        first, _ = scram_client_first("alice", "abc")
        c.send(connect5_packet(unique_id("scram"), username="bob",
                               props=[(AUTHENTICATION_METHOD, "SCRAM-SHA-256"),
                                      (AUTHENTICATION_DATA, first.encode())]))
        self.assertEqual(parse_connack5(c.read_packet()).reason, NOT_AUTHORIZED_5)

    def test_passwd_scram_file_format_and_reload(self):
        with open(self.scram_file) as f:
            lines = f.read().splitlines()
        self.assertEqual([l.split(":", 1)[0] for l in lines], ["alice", "bob"])
        self.assertTrue(all(l.split(":", 1)[1].startswith("SCRAM-SHA-256$4096:") for l in lines))
        _, ack = self.scram("carol", "new")
        self.assertEqual(ack.reason, BAD_USER_OR_PASSWORD)
        self.assertEqual(mqbase_passwd("--scram", "-b", self.scram_file, "carol", "new").returncode, 0)
        os.kill(self.broker.pid, signal.SIGHUP)
        wait_for(lambda: "reloaded the authentication files" in self.broker.stderr_text(), message="the reload")
        _, ack = self.scram("carol", "new")
        self.assertEqual(ack.reason, 0)


# --------------------------------------------------------------------------------------------
# docs/security.md: its examples, as they stand there

def run_shell(script, cwd):
    env = dict(os.environ, PATH=os.path.dirname(mqbase_binary()) + os.pathsep + os.environ.get("PATH", ""))
    r = subprocess.run(["bash", "-e", "-c", script], cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, timeout=60, env=env)
    if r.returncode != 0:
        raise AssertionError("example exited %d\n%s\n%s" % (r.returncode, script, r.stderr))
    return r.stdout


@skip_if_mosquitto("the examples are mqbase's")
class DocExamples(BrokerTestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="mqbase-doc-jwt-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        run_shell(doc_example("jwt-secret"), self.dir)
        run_shell(doc_example("scram-passwd"), self.dir)
        auth = tomllib.loads(doc_example("jwt-config"))["auth"]
        auth.update(tomllib.loads(doc_example("scram-config"))["auth"])
        for key in ("jwt_key_file", "scram_file"):
            auth[key] = os.path.join(self.dir, auth[key])
        self.broker = self.start_broker({"auth": auth})
        self.port = self.broker.port

    def test_token_from_the_doc(self):
        topic = "sensors/dev1/temp"
        watcher = self.paho(username="watcher", password=hs256_from_file(self.dir, "watcher"))
        watcher.subscribe(topic, 1)
        run_shell(doc_example("jwt-token").replace("-p 1883", "-p %d" % self.port), self.dir)
        self.assertEqual(watcher.get().payload, b"21.5")

    def test_scram_user_from_the_doc(self):
        c = raw5(self)
        first, bare = scram_client_first("dev2", "nonce123")
        c.send(connect5_packet(unique_id("scram"), props=[(AUTHENTICATION_METHOD, "SCRAM-SHA-256"),
                                                          (AUTHENTICATION_DATA, first.encode())]))
        server_first = parse_reason_packet(c.read_packet())[1].get(AUTHENTICATION_DATA).decode()
        final, _ = scram_client_final("correct horse battery", bare, server_first)
        c.send(auth_packet(CONTINUE, [(AUTHENTICATION_METHOD, "SCRAM-SHA-256"), (AUTHENTICATION_DATA, final.encode())]))
        self.assertEqual(parse_connack5(c.read_packet()).reason, 0)


def hs256_from_file(directory, user):
    with open(os.path.join(directory, "jwt.secret"), "rb") as f:
        secret = f.read().strip()
    return hs256({"sub": user, "aud": "mqbase", "exp": int(time.time()) + 600}, secret)


if __name__ == "__main__":
    run_tests()
