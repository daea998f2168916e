#!/usr/bin/python3
"""The server's log and its configuration checker (docs/operations.md): JSON lines that a log
shipper can read, whatever a client puts in its id; a log file reopened on SIGHUP (logrotate)
and rotated by size; `mqbase config check` naming the line and key of every mistake, and
`mqbase serve` refusing such a file with the same list."""

import json
import os
import signal
import subprocess
import sys
import tempfile
import shutil

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import BrokerTestCase, mqbase_binary, run_tests, skip_if_mosquitto, wait_for  # noqa: E402


def read(path):
    with open(path) as f:
        return f.read()


@skip_if_mosquitto("mqbase's log and config")
class Logs(BrokerTestCase):
    def setUp(self):
        self.files = tempfile.mkdtemp(prefix="mqbase-logs-")
        self.addCleanup(shutil.rmtree, self.files, True)
        self.log = os.path.join(self.files, "mqbase.log")

    def test_json_lines_to_a_file_reopened_on_sighup(self):
        broker = self.start_broker({"server": {"threads": 2},
                                    "log": {"format": "json", "file": self.log, "level": "debug"}})
        # A client id with a quote, a backslash and a newline cannot break a line.
        import paho.mqtt.client as mqtt
        c = mqtt.Client(client_id='evil"\\\nid')
        c.connect("127.0.0.1", broker.port)
        c.loop_start()
        wait_for(c.is_connected, message="connected")
        c.disconnect()
        c.loop_stop()
        wait_for(lambda: "evil" in read(self.log), message="the client in the log")
        lines = read(self.log).splitlines()
        records = [json.loads(line) for line in lines]  # every line is one JSON object
        for r in records:
            self.assertEqual(set(r), {"time", "level", "thread", "msg"}, r)
            self.assertRegex(r["time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
        self.assertTrue(any("ready" in r["msg"] and r["level"] == "info" for r in records))
        self.assertTrue(any('evil"\\\nid' in r["msg"] for r in records), "the id as sent, decoded from JSON")
        # logrotate: move the file away, SIGHUP, and the next lines go to a new file.
        os.rename(self.log, self.log + ".1")
        broker.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: os.path.exists(self.log) and "reloaded" in read(self.log), message="a new file after SIGHUP")
        self.assertNotIn("reloaded", read(self.log + ".1"))
        self.assertEqual(broker.stderr_text().strip(), "", "nothing on stderr when the log has a file")

    def test_rotation_by_size(self):
        broker = self.start_broker({"server": {"threads": 2},
                                    "log": {"file": self.log, "level": "debug", "max_size": 4096, "max_files": 2}})
        for i in range(40):
            subprocess.run(["mosquitto_pub", "-h", "127.0.0.1", "-p", str(broker.port), "-t", "t", "-m", "x",
                            "-i", "rotating-%d" % i], check=True, timeout=30)
        wait_for(lambda: os.path.exists(os.path.join(self.files, "mqbase.1.log")), message="a rotated file")
        self.assertLessEqual(os.path.getsize(self.log), 4096)
        self.assertFalse(os.path.exists(os.path.join(self.files, "mqbase.3.log")), "max_files = 2")

    def test_an_unwritable_log_file_stops_the_start(self):
        conf = os.path.join(self.files, "c.toml")
        with open(conf, "w") as f:
            f.write('[log]\nfile = "/proc/no/such/dir/mqbase.log"\n')
        out = subprocess.run([mqbase_binary(), "serve", "--config", conf, "--port", "0", "--data-dir",
                              os.path.join(self.files, "data")], capture_output=True, text=True, timeout=60)
        self.assertEqual(out.returncode, 2, out.stderr)
        self.assertIn("log.file", out.stderr)
        self.assertIn("/proc/no/such/dir/mqbase.log", out.stderr)


BAD = """\
[server]
threads = "two"

[limits]
max_queued = 5

[log]
format = "xml"

[[listener]]
port = 99999
"""


@skip_if_mosquitto("mqbase config check")
class ConfigCheck(BrokerTestCase):
    def setUp(self):
        self.files = tempfile.mkdtemp(prefix="mqbase-conf-")
        self.addCleanup(shutil.rmtree, self.files, True)

    def write(self, name, text):
        path = os.path.join(self.files, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def check(self, path):
        return subprocess.run([mqbase_binary(), "config", "check", path], capture_output=True, text=True, timeout=60)

    def test_every_mistake_with_its_line_and_key(self):
        path = self.write("bad.toml", BAD)
        out = self.check(path)
        self.assertEqual(out.returncode, 2, out)
        errors = out.stderr.strip().splitlines()
        self.assertIn(path + ":2: server.threads", errors[0])
        self.assertTrue(any(e.startswith(path + ":5: limits.max_queued: unknown key") for e in errors), errors)
        self.assertTrue(any(e.startswith(path + ":8: log.format: must be text or json") for e in errors), errors)
        self.assertTrue(any(":11:" in e and "port" in e for e in errors), errors)
        self.assertEqual(errors[-1], path + ": 4 mistakes")
        # serve refuses the file with the same list, before touching anything.
        serve = subprocess.run([mqbase_binary(), "serve", "--config", path, "--data-dir",
                                os.path.join(self.files, "data")], capture_output=True, text=True, timeout=60)
        self.assertEqual(serve.returncode, 2)
        for e in errors[:-1]:
            self.assertIn(e, serve.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.files, "data")))

    def test_the_files_it_names_are_read(self):
        path = self.write("files.toml", '[auth]\npassword_file = "%s/missing-passwd"\n\n'
                          '[[listener]]\nport = 8883\ntls_cert = "%s/none.pem"\ntls_key = "%s/none.key"\n'
                          % (self.files, self.files, self.files))
        out = self.check(path)
        self.assertEqual(out.returncode, 2, out)
        self.assertIn("missing-passwd", out.stderr)
        self.assertIn("listener 1", out.stderr)
        self.assertIn("none.pem", out.stderr)

    def test_a_good_file_is_ok(self):
        path = self.write("good.toml", '[server]\nthreads = 2\n\n[[listener]]\nport = 1883\n\n[http]\n'
                          'listen = "127.0.0.1:8080"\n\n[log]\nformat = "json"\n')
        out = self.check(path)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(out.stdout.strip(), path + ": OK (1 listener, HTTP 127.0.0.1:8080)")
        missing = self.check(os.path.join(self.files, "nope.toml"))
        self.assertEqual(missing.returncode, 2)
        self.assertIn("cannot open", missing.stderr)


if __name__ == "__main__":
    run_tests()
