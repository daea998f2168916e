#!/usr/bin/python3
"""The retained store as an operator sees it through $SYS: expired retained messages leave
the store (and `$SYS/broker/retained messages/count`) instead of staying until replaced."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (MESSAGE_EXPIRY_INTERVAL, V5TestCase, run_tests, sync_marker,  # noqa: E402
                     unique_topic)
from test_sys import SysWatcher  # noqa: E402

COUNT = "$SYS/broker/retained messages/count"


class RetainedStoreTestCase(V5TestCase):
    broker_config = {"sys": {"interval": 1}}

    def watcher(self):
        w = SysWatcher(self.paho())
        w.fresh_cycle()  # every $SYS topic is stored by now: the count is steady
        return w

    def retained_on_subscribe(self, filter_):
        """Topics and payloads a new subscriber to `filter_` gets (proven complete by a marker)."""
        sub = self.paho()
        sub.subscribe(filter_, 1)
        marker = unique_topic("marker")
        sub.subscribe(marker, 0)
        return sorted((m.topic, m.payload) for m in sync_marker(sub, sub, marker) if m.retain)


class RetainedExpiry(RetainedStoreTestCase):

    def test_expired_retained_message_leaves_the_count(self):
        w = self.watcher()
        base = w.number(COUNT)
        pub = self.raw5()
        pub.connect()
        topic = unique_topic("exp")
        pub.publish(topic + "/short", b"short-lived", qos=1, retain=True,
                    props=[(MESSAGE_EXPIRY_INTERVAL, 1)])
        pub.publish(topic + "/kept", b"stays", qos=1, retain=True)
        w.wait_number(COUNT, lambda v: v == base + 2, "%s == %d" % (COUNT, base + 2))
        # Once it expires (1 s) the periodic sweep removes it, with no subscriber looking.
        w.wait_number(COUNT, lambda v: v == base + 1,
                      "%s back to %d after the expiry" % (COUNT, base + 1), timeout=6)
        self.assertEqual(self.retained_on_subscribe(topic + "/#"), [(topic + "/kept", b"stays")])


if __name__ == "__main__":
    run_tests()
