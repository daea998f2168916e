#!/usr/bin/python3
"""ACLs (docs/security.md): [auth] acl_file in mosquitto's syntax, checked on PUBLISH (v5:
0x87), SUBSCRIBE (v5 0x87, 3.1.1 0x80), delivery, retained messages, the will, $SYS, patterns
with %c and %u (and client ids that try to widen them), shared subscriptions, db/... topics,
and a reload on SIGHUP."""

import os
import shutil
import signal
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (SESSION_EXPIRY_INTERVAL, WILL_DELAY_INTERVAL, MosquittoSub, V5TestCase,  # noqa: E402
                     is_mosquitto,
                     run_mosquitto_pub, run_tests,
                     skip_if_mosquitto, sub_options, wait_for)
from test_auth import mosquitto_passwd_file, readable_by_mosquitto  # noqa: E402

USERS = {"alice": "a-pw", "bob": "b-pw", "carol": "c-pw"}
NOT_AUTHORIZED = 0x87
NO_MATCHING_SUBSCRIBERS = 0x10

ACL = """# anonymous clients
topic read public/#
topic write public/anon

user alice
topic readwrite alice/#
topic deny alice/secret

user bob
topic read alice/#
topic read $SYS/#

user carol
topic write alice/#
topic write db/append/#

pattern readwrite devices/%c/#
pattern read users/%u/#
"""


class AclCase(V5TestCase):
    acl_text = ACL

    def setUp(self):
        self.files = tempfile.mkdtemp(prefix="mqbase-acl-")
        self.addCleanup(shutil.rmtree, self.files, True)
        self.pwfile = os.path.join(self.files, "passwd")
        mosquitto_passwd_file(self.pwfile, USERS)
        self.aclfile = os.path.join(self.files, "acl")
        self.write_acl(self.acl_text)
        readable_by_mosquitto(self.files, self.pwfile, self.aclfile)
        self.broker = self.start_broker({"auth": {"password_file": self.pwfile, "acl_file": self.aclfile},
                                         "sys": {"interval": 1}})
        self.port = self.broker.port

    def write_acl(self, text):
        tmp = self.aclfile + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o644)
        os.rename(tmp, self.aclfile)

    def client(self, make, user, client_id, kwargs):
        c = make()
        if user:
            kwargs.update(username=user, password=USERS[user])
        c.connect(client_id, **kwargs)
        return c

    def v5(self, user=None, client_id=None, **kwargs):
        return self.client(self.raw5, user, client_id, kwargs)

    def v3(self, user=None, client_id=None, **kwargs):
        return self.client(self.raw, user, client_id, kwargs)

    def assert_nothing(self, client, marker_topic, publisher):
        """Nothing before the marker: `publisher` sends marker_topic at QoS 1, `client` must
        see it as its next message."""
        publisher.publish(marker_topic, b"marker", qos=1)
        m = client.receive_publish()
        self.assertEqual((m.topic, m.payload), (marker_topic, b"marker"))


class Publish(AclCase):
    def test_publish_allowed_and_denied_v5(self):
        bob = self.v5("bob")
        self.assertEqual(bob.subscribe([("alice/#", sub_options(1))]), [1])
        alice = self.v5("alice")
        self.assertEqual(alice.publish("alice/x", b"ok", qos=1), 0)
        self.assertEqual(alice.publish("bob/x", b"no", qos=1), NOT_AUTHORIZED)
        self.assertEqual(alice.publish("bob/x", b"no", qos=2), NOT_AUTHORIZED)
        self.assertEqual(alice.publish("alice/secret", b"no", qos=1), NOT_AUTHORIZED)
        m = bob.receive_publish()
        self.assertEqual((m.topic, m.payload), ("alice/x", b"ok"))
        alice.publish("alice/secret", b"no", qos=0)  # dropped silently
        self.assert_nothing(bob, "alice/marker", alice)
        # Bob may read alice/# but not write there.
        self.assertEqual(bob.publish("alice/x", b"no", qos=1), NOT_AUTHORIZED)

    def test_v311_denied_publish_is_acknowledged_and_dropped(self):
        bob = self.v5("bob")
        bob.subscribe([("alice/#", sub_options(1))])
        alice = self.v3("alice")
        alice.publish("alice/secret", b"no", qos=1)  # a plain PUBACK: 3.1.1 cannot be told
        alice.publish("alice/secret", b"no", qos=2)
        alice.publish("alice/ok", b"yes", qos=1)
        m = bob.receive_publish()
        self.assertEqual((m.topic, m.payload), ("alice/ok", b"yes"))

    def test_anonymous_rules(self):
        anon = self.v5()
        self.assertEqual(anon.publish("public/anon", b"x", qos=1), NO_MATCHING_SUBSCRIBERS)
        self.assertEqual(anon.publish("public/other", b"x", qos=1), NOT_AUTHORIZED)
        self.assertEqual(anon.publish("alice/x", b"x", qos=1), NOT_AUTHORIZED)

    @skip_if_mosquitto("mqbase's db/... topics")
    def test_db_topics_are_publishes(self):
        anon = self.v5()
        self.assertEqual(anon.publish("db/append/acl_t", b'{"v": 1}', qos=1), NOT_AUTHORIZED)
        carol = self.v5("carol")
        self.assertEqual(carol.publish("db/append/acl_t", b'{"v": 1}', qos=1), 0)


@skip_if_mosquitto("mosquitto's acl_file grants every SUBSCRIBE and filters at delivery")
class Subscribe(AclCase):
    def test_filters_need_a_covering_read_rule(self):
        bob = self.v5("bob")
        self.assertEqual(bob.subscribe([("alice/#", 1), ("#", 1), ("alice/+/x", 0), ("bob/#", 0)]),
                         [1, NOT_AUTHORIZED, 0, NOT_AUTHORIZED])
        alice = self.v3("alice")
        self.assertEqual(alice.subscribe([("alice/#", 1), ("alice/secret", 1), ("+/x", 0)]), [1, 0x80, 0x80])

    def test_shared_subscriptions_are_checked_on_their_filter(self):
        bob = self.v5("bob")
        self.assertEqual(bob.subscribe([("$share/g/alice/#", 1), ("$share/g/#", 1)]), [1, NOT_AUTHORIZED])

    def test_sys_only_where_allowed(self):
        alice = self.v5("alice")
        self.assertEqual(alice.subscribe([("$SYS/#", 0)]), [NOT_AUTHORIZED])
        bob = self.v5("bob")
        self.assertEqual(bob.subscribe([("$SYS/broker/uptime", 0)]), [0])
        self.assertTrue(bob.receive_publish(timeout=5).topic.startswith("$SYS/broker/uptime"))

    def test_mosquitto_sub_with_a_refused_filter(self):
        run_mosquitto_pub(self.port, "alice/hello", "hi", qos=1, retain=True,
                          extra=["-u", "carol", "-P", "c-pw"])
        sub = MosquittoSub(self.port, ["alice/#", "bob/#"], qos=1, extra=["-u", "bob", "-P", "b-pw"])
        self.addCleanup(sub.close)
        m = sub.get()
        self.assertEqual((m.topic, m.payload, m.retain), ("alice/hello", b"hi", 1))


class Delivery(AclCase):
    def test_denied_topics_are_not_delivered(self):
        alice = self.v5("alice")
        self.assertEqual(alice.subscribe([("alice/#", sub_options(1))]), [1])
        carol = self.v5("carol")
        self.assertEqual(carol.publish("alice/secret", b"hidden", qos=1), 0)
        self.assertEqual(carol.publish("alice/open", b"seen", qos=1), 0)
        m = alice.receive_publish()
        self.assertEqual((m.topic, m.payload), ("alice/open", b"seen"))

    def test_retained_messages_go_through_the_read_check(self):
        carol = self.v5("carol")
        carol.publish("alice/secret", b"hidden", qos=1, retain=True)
        carol.publish("alice/open", b"seen", qos=1, retain=True)
        alice = self.v5("alice")
        alice.subscribe([("alice/#", sub_options(1))])
        m = alice.receive_publish()
        self.assertEqual((m.topic, m.payload, m.retain), ("alice/open", b"seen", 1))
        self.assert_nothing(alice, "alice/marker", carol)


@skip_if_mosquitto("mosquitto 2.0 accepts the CONNECT and drops the will when it is sent")
class Will(AclCase):
    def test_will_topic_checked_at_connect(self):
        c = self.raw5()
        c.connect(username="alice", password="a-pw", will_topic="bob/will", expect_reason=NOT_AUTHORIZED)
        c.wait_closed()
        c3 = self.raw()
        c3.connect(username="alice", password="a-pw", will_topic="bob/will", expect=bytes([0x20, 2, 0, 5]))
        # Allowed will topic: it is published when the client goes away.
        bob = self.v5("bob")
        bob.subscribe([("alice/#", 0)])
        w = self.raw()
        w.connect(username="alice", password="a-pw", will_topic="alice/will", will_payload=b"gone")
        w.abort()
        m = bob.receive_publish()
        self.assertEqual((m.topic, m.payload), ("alice/will", b"gone"))


@skip_if_mosquitto("checked here against mqbase's log of the refusal")
class WillAtPublication(AclCase):
    """The will is a PUBLISH made in advance: checked at CONNECT, and again when it goes out,
    against the ACL in force then (a SIGHUP may have withdrawn the right meanwhile)."""

    def deny_will_topic(self):
        self.write_acl(ACL.replace("topic deny alice/secret", "topic deny alice/secret\ntopic deny alice/will"))
        os.kill(self.broker.pid, signal.SIGHUP)
        wait_for(lambda: "reloaded the authentication files" in self.broker.stderr_text(), message="the reload")

    def test_an_immediate_will(self):
        bob = self.v5("bob")
        bob.subscribe([("alice/#", 0)])
        w = self.raw()
        w.connect(username="alice", password="a-pw", will_topic="alice/will", will_payload=b"gone")
        self.deny_will_topic()
        w.abort()
        time.sleep(0.5)  # the close is handled: a will would go out before the marker
        self.assert_nothing(bob, "alice/marker", self.v5("alice"))
        self.assertIn("will of client", self.broker.stderr_text())

    def test_a_delayed_will(self):
        bob = self.v5("bob")
        bob.subscribe([("alice/#", 0)])
        w = self.raw5()
        w.connect("delayed", username="alice", password="a-pw", will_topic="alice/will", will_payload=b"late",
                  will_props=[(WILL_DELAY_INTERVAL, 1)], props=[(SESSION_EXPIRY_INTERVAL, 60)])
        w.abort()
        self.deny_will_topic()  # while the will waits out its delay
        time.sleep(1.5)  # the delay has run out
        self.assert_nothing(bob, "alice/marker", self.v5("alice"))
        self.assertIn("will of client 'delayed'", self.broker.stderr_text())


@skip_if_mosquitto("a kill -9 and restart of mqbase's data directory")
class AcrossARestart(AclCase):
    """A persistent session keeps its user name across a restart: the messages queued for it
    while it is away go through the ACL as that user, not as an anonymous client."""

    def test_queued_for_a_user_after_kill9(self):
        alice = self.v5("alice", client_id="alice-p", props=[(SESSION_EXPIRY_INTERVAL, 3600)], clean_start=False)
        self.assertEqual(alice.subscribe([("alice/#", sub_options(1))]), [1])
        alice.disconnect()
        self.broker.kill9()
        self.broker.restart()
        self.port = self.broker.port
        carol = self.v5("carol")
        for i in range(20):
            self.assertEqual(carol.publish("alice/inbox", b"m%d" % i, qos=1), 0)
        back = self.v5("alice", client_id="alice-p", props=[(SESSION_EXPIRY_INTERVAL, 3600)], clean_start=False)
        got = [back.receive_publish().payload for _ in range(20)]
        self.assertEqual(got, [b"m%d" % i for i in range(20)])

    def crash_with_a_will(self, acl_after):
        """bob keeps a session on alice/#; alice is connected with a QoS 1 will on alice/will when
        the server is killed; it restarts with `acl_after`; bob comes back. Returns bob."""
        props = [(SESSION_EXPIRY_INTERVAL, 3600)]
        bob = self.v5("bob", client_id="bob-p", props=props, clean_start=False)
        self.assertEqual(bob.subscribe([("alice/#", sub_options(1))]), [1])
        bob.disconnect()
        self.v3("alice", client_id="alice-w", will_topic="alice/will", will_payload=b"gone", will_qos=1)
        self.broker.kill9()
        self.write_acl(acl_after)
        self.broker.restart()
        self.port = self.broker.port
        return self.v5("bob", client_id="bob-p", props=props, clean_start=False)

    def test_a_will_due_at_the_restart_goes_out_when_the_acl_allows_it(self):
        back = self.crash_with_a_will(ACL)
        m = back.receive_publish()
        self.assertEqual((m.topic, m.payload), ("alice/will", b"gone"))

    def test_a_will_due_at_the_restart_meets_the_acl_in_force_then(self):
        back = self.crash_with_a_will(ACL.replace("topic deny alice/secret",
                                                  "topic deny alice/secret\ntopic deny alice/will"))
        self.assert_nothing(back, "alice/marker", self.v5("alice"))
        self.assertIn("will of client 'alice-w' on 'alice/will' not published", self.broker.stderr_text())


@skip_if_mosquitto("mqbase checks a resumed session's queue again; mosquitto sends what it queued")
class QueuedAcrossAReload(AclCase):
    """Messages queued for a session while its client is away were checked when they were
    queued; an ACL reloaded meanwhile decides them again when the client comes back."""

    def test_queued_messages_meet_the_reloaded_acl(self):
        props = [(SESSION_EXPIRY_INTERVAL, 3600)]
        alice = self.v5("alice", client_id="alice-q", props=props, clean_start=False)
        self.assertEqual(alice.subscribe([("alice/#", sub_options(1))]), [1])
        alice.disconnect()
        carol = self.v5("carol")
        for i in range(10):
            self.assertEqual(carol.publish("alice/inbox" if i % 2 == 0 else "alice/later", b"m%d" % i, qos=1), 0)
        self.write_acl(ACL.replace("topic deny alice/secret", "topic deny alice/secret\ntopic deny alice/later"))
        os.kill(self.broker.pid, signal.SIGHUP)
        wait_for(lambda: "reloaded the authentication files" in self.broker.stderr_text(), message="the reload")
        back = self.v5("alice", client_id="alice-q", props=props, clean_start=False)
        got = [back.receive_publish().payload for _ in range(5)]
        self.assertEqual(got, [b"m0", b"m2", b"m4", b"m6", b"m8"])
        self.assert_nothing(back, "alice/marker", carol)


class Patterns(AclCase):
    @skip_if_mosquitto("mosquitto's acl_file grants every SUBSCRIBE")
    def test_client_id_and_user_name(self):
        d = self.v5(client_id="dev1")
        self.assertEqual(d.subscribe([("devices/dev1/#", 1), ("devices/dev2/#", 1)]), [1, NOT_AUTHORIZED])
        self.assertEqual(d.publish("devices/dev1/t", b"x", qos=1), 0)  # to itself
        self.assertEqual(d.publish("devices/dev2/t", b"x", qos=1), NOT_AUTHORIZED)
        alice = self.v5("alice")
        self.assertEqual(alice.subscribe([("users/alice/#", 0), ("users/bob/#", 0)]), [0, NOT_AUTHORIZED])

    @skip_if_mosquitto("mosquitto's acl_file grants every SUBSCRIBE")
    def test_wildcards_and_slashes_in_names_do_not_widen_patterns(self):
        for cid in ("#", "+", "dev1/#", "a/b"):
            c = self.v5(client_id=cid)
            self.assertEqual(c.subscribe([("devices/#", 0), ("devices/+/x", 0), ("devices/a/b/#", 0)]),
                             [NOT_AUTHORIZED] * 3, cid)
            self.assertEqual(c.publish("devices/dev1/t", b"x", qos=1), NOT_AUTHORIZED, cid)
            c.disconnect()


class Reload(AclCase):
    """SIGHUP reads the ACL file again (as mosquitto does); connected clients use the new
    rules at their next operation. A file that does not parse keeps the old rules."""

    def test_sighup_reload(self):
        bob = self.v5("bob")
        self.assertEqual(bob.publish("alice/x", b"no", qos=1), NOT_AUTHORIZED)
        self.write_acl(ACL.replace("user bob\ntopic read alice/#", "user bob\ntopic readwrite alice/#"))
        os.kill(self.broker.pid, signal.SIGHUP)
        wait_for(lambda: bob.publish("alice/x", b"yes", qos=1) != NOT_AUTHORIZED, message="the new ACL in force")
        # A broken file: logged, the rules in force stay.
        self.write_acl("topic sometimes alice/#\n")
        os.kill(self.broker.pid, signal.SIGHUP)
        if not is_mosquitto():
            wait_for(lambda: "previous contents stay in force" in self.broker.stderr_text(),
                     message="the failed reload logged")
            self.assertNotEqual(bob.publish("alice/x", b"still", qos=1), NOT_AUTHORIZED)


if __name__ == "__main__":
    run_tests()
