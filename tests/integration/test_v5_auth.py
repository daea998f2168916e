#!/usr/bin/python3
"""MQTT 5.0 enhanced authentication with the "MQBASE-HMAC-SHA256" challenge/response method
([auth] hmac_challenge_secret): CONNECT -> AUTH 0x18 (32-byte challenge) -> AUTH 0x18
(HMAC-SHA256(secret, challenge)) -> CONNACK; failures (0x87, 0x8C) and re-authentication
(AUTH 0x19). paho 1.6.1 cannot drive AUTH, so this is all raw sockets."""

import hashlib
import hmac
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (AUTH, AUTHENTICATION_DATA, AUTHENTICATION_METHOD, CONNACK,  # noqa: E402
                     DISCONNECT, V5TestCase, auth_packet, connect5_packet,
                     parse_connack5, parse_reason_packet, run_tests, skip_if_mosquitto,
                     sub_options, unique_id, unique_topic)

METHOD = "MQBASE-HMAC-SHA256"
SECRET = "s3cret"
CONTINUE, REAUTHENTICATE = 0x18, 0x19


def answer(challenge, secret=SECRET):
    return hmac.new(secret.encode(), challenge, hashlib.sha256).digest()


class V5Auth(V5TestCase):
    broker_config = {"auth": {"hmac_challenge_secret": SECRET}}

    def begin(self, client_id=None, method=METHOD, extra_props=()):
        """CONNECT with the method; return (client, challenge)."""
        c = self.raw5()
        c.send(connect5_packet(client_id or unique_id("auth"),
                               props=[(AUTHENTICATION_METHOD, method)] + list(extra_props)))
        return c, self.read_challenge(c)

    def read_challenge(self, c):
        p = c.read_packet()
        self.assertEqual(p.type, AUTH, "expected AUTH, got %r" % (p.raw[:32],))
        self.assertEqual(p.flags, 0)
        reason, props = parse_reason_packet(p)
        self.assertEqual(reason, CONTINUE)
        self.assertEqual(props.get(AUTHENTICATION_METHOD), METHOD)
        challenge = props.get(AUTHENTICATION_DATA)
        self.assertIsNotNone(challenge, "AUTH without Authentication Data")
        self.assertEqual(len(challenge), 32)
        return challenge

    def respond(self, c, data, reason=CONTINUE, method=METHOD):
        c.send(auth_packet(reason, [(AUTHENTICATION_METHOD, method), (AUTHENTICATION_DATA, data)]))

    def authenticated(self, client_id=None):
        c, challenge = self.begin(client_id)
        self.respond(c, answer(challenge))
        ack = parse_connack5(c.read_packet())
        self.assertEqual((ack.session_present, ack.reason), (0, 0))
        self.assertEqual(ack.props.get(AUTHENTICATION_METHOD), METHOD)
        return c

    def assert_works(self, c):
        topic = unique_topic("authok")
        self.assertEqual(c.subscribe([(topic, sub_options(qos=1))]), [1])
        c.publish(topic, b"hello", qos=1)
        self.assertEqual(c.receive_publish().payload, b"hello")

    # -- CONNECT ------------------------------------------------------------------------------

    @skip_if_mosquitto("MQBASE-HMAC-SHA256 is an mqbase method")
    def test_challenge_response_success(self):
        c = self.authenticated()
        self.assert_works(c)
        c.disconnect()

    @skip_if_mosquitto("MQBASE-HMAC-SHA256 is an mqbase method")
    def test_challenges_are_random(self):
        c1, ch1 = self.begin()
        c2, ch2 = self.begin()
        self.assertNotEqual(ch1, ch2)
        self.assertNotEqual(ch1, bytes(32))

    @skip_if_mosquitto("MQBASE-HMAC-SHA256 is an mqbase method")
    def test_wrong_response_rejected(self):
        c, challenge = self.begin()
        self.respond(c, answer(challenge, secret="wrong"))
        ack = parse_connack5(c.read_packet())
        self.assertEqual((ack.session_present, ack.reason), (0, 0x87))
        c.wait_closed()

    @skip_if_mosquitto("MQBASE-HMAC-SHA256 is an mqbase method")
    def test_response_to_another_challenge_rejected(self):
        c1, ch1 = self.begin()
        c2, ch2 = self.begin()
        self.respond(c2, answer(ch1))  # replay of the first connection's answer
        self.assertEqual(parse_connack5(c2.read_packet()).reason, 0x87)
        c2.wait_closed()
        self.respond(c1, answer(ch1))
        self.assertEqual(parse_connack5(c1.read_packet()).reason, 0)

    @skip_if_mosquitto("MQBASE-HMAC-SHA256 is an mqbase method")
    def test_empty_response_rejected(self):
        c, _ = self.begin()
        self.respond(c, b"")
        self.assertEqual(parse_connack5(c.read_packet()).reason, 0x87)
        c.wait_closed()

    def test_unknown_method_rejected(self):
        c = self.raw5()
        ack = c.connect(unique_id("unk"), expect_reason=None,
                        props=[(AUTHENTICATION_METHOD, "SCRAM-SHA-1024")])
        self.assertEqual((ack.session_present, ack.reason), (0, 0x8C))
        c.wait_closed()

    def test_connect_without_method_still_allowed(self):
        c = self.raw5()
        ack = c.connect(unique_id("plain"))
        self.assertFalse(ack.props.has(AUTHENTICATION_METHOD))
        self.assert_works(c)
        c.disconnect()

    @skip_if_mosquitto("MQBASE-HMAC-SHA256 is an mqbase method")
    def test_method_without_configured_secret_is_unknown(self):
        broker = self.start_broker({})
        c = self.raw5(port=broker.port)
        ack = c.connect(unique_id("nosecret"), expect_reason=None,
                        props=[(AUTHENTICATION_METHOD, METHOD)])
        self.assertEqual(ack.reason, 0x8C)
        c.wait_closed()

    # -- re-authentication --------------------------------------------------------------------

    @skip_if_mosquitto("MQBASE-HMAC-SHA256 is an mqbase method")
    def test_reauthentication_success(self):
        c = self.authenticated()
        for _ in range(2):
            c.send(auth_packet(REAUTHENTICATE, [(AUTHENTICATION_METHOD, METHOD)]))
            challenge = self.read_challenge(c)
            self.respond(c, answer(challenge))
            p = c.read_packet()
            self.assertEqual(p.type, AUTH, "expected AUTH 0x00, got %r" % (p.raw[:32],))
            reason, props = parse_reason_packet(p)
            self.assertEqual(reason, 0x00)
            self.assertEqual(props.get(AUTHENTICATION_METHOD), METHOD)
        self.assert_works(c)
        c.disconnect()

    @skip_if_mosquitto("MQBASE-HMAC-SHA256 is an mqbase method")
    def test_reauthentication_gets_a_fresh_challenge(self):
        c, first = self.begin()
        self.respond(c, answer(first))
        self.assertEqual(parse_connack5(c.read_packet()).reason, 0)
        c.send(auth_packet(REAUTHENTICATE, [(AUTHENTICATION_METHOD, METHOD)]))
        second = self.read_challenge(c)
        self.assertNotEqual(first, second)
        self.respond(c, answer(first))  # the old answer does not fit the new challenge
        c.expect_disconnect(0x87)

    @skip_if_mosquitto("MQBASE-HMAC-SHA256 is an mqbase method")
    def test_reauthentication_failure_disconnects(self):
        c = self.authenticated()
        c.send(auth_packet(REAUTHENTICATE, [(AUTHENTICATION_METHOD, METHOD)]))
        challenge = self.read_challenge(c)
        self.respond(c, answer(challenge, secret="nope"))
        c.expect_disconnect(0x87)

    @skip_if_mosquitto("MQBASE-HMAC-SHA256 is an mqbase method")
    def test_reauthentication_with_another_method_is_protocol_error(self):
        # the method must be the one used to authenticate (4.12.1)
        c = self.authenticated()
        c.send(auth_packet(REAUTHENTICATE, [(AUTHENTICATION_METHOD, "OTHER-METHOD")]))
        c.expect_disconnect(0x82)

    @skip_if_mosquitto("mosquitto 2.0.11 closes without a DISCONNECT")
    def test_auth_without_method_in_connect_is_protocol_error(self):
        # a client that did not authenticate with a method must not send AUTH (4.12)
        c = self.raw5()
        c.connect(unique_id("noauth"))
        c.send(auth_packet(REAUTHENTICATE, [(AUTHENTICATION_METHOD, METHOD)]))
        p = c.read_packet()
        self.assertEqual(p.type, DISCONNECT, "expected DISCONNECT, got %r" % (p.raw[:32],))
        self.assertEqual(parse_reason_packet(p)[0], 0x82)
        c.wait_closed()

    @skip_if_mosquitto("mosquitto 2.0.11 accepts Authentication Data without a method")
    def test_authentication_data_without_method_is_protocol_error(self):
        # "It is a Protocol Error to include Authentication Data if there is no
        # Authentication Method" (3.1.2.11.10); the server MUST close the connection
        # [MQTT-3.1.4-1], optionally after a CONNACK 0x82
        c = self.raw5()
        c.send(connect5_packet(unique_id("dataonly"), props=[(AUTHENTICATION_DATA, b"x")]))
        data = c.wait_closed()
        if data:
            self.assertEqual(data[0] >> 4, CONNACK, "expected CONNACK before close: %r" % data)
            self.assertEqual(data[3], 0x82, "CONNACK %r" % data)


if __name__ == "__main__":
    run_tests()
