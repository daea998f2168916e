#!/usr/bin/python3
"""`make install` (scripts/install.sh) into a staging root (DESTDIR): the binary, the man page
generated from its help, the default configuration (which `mqbase config check` accepts, and
which a second install keeps), and the systemd unit, which `systemd-analyze verify` accepts
without a warning (docs/operations.md)."""

import gzip
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import mqbase_binary, run_tests, skip_if_mosquitto  # noqa: E402

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")


@skip_if_mosquitto("make install is mqbase's")
class Install(unittest.TestCase):
    # One install for the class (each makes the man page from ~40 runs of the binary's --help);
    # the first test installs a second time over it.
    @classmethod
    def setUpClass(cls):
        cls.dest = tempfile.mkdtemp(prefix="mqbase-install-")
        cls.install()

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dest, True)

    @classmethod
    def install(cls):
        return subprocess.run([os.path.join(ROOT, "scripts", "install.sh"), "--binary", mqbase_binary(),
                               "--destdir", cls.dest], capture_output=True, text=True, timeout=120, check=True)

    def path(self, p):
        return os.path.join(self.dest, p.lstrip("/"))

    def test_installs_binary_man_page_config_and_unit(self):
        binary = self.path("/usr/local/bin/mqbase")
        self.assertTrue(os.access(binary, os.X_OK))
        self.assertIn("mqbase", subprocess.run([binary, "--version"], capture_output=True, text=True).stdout)
        # The man page: every subcommand of `mqbase --help` has its section.
        with gzip.open(self.path("/usr/local/share/man/man1/mqbase.1.gz"), "rt") as f:
            man = f.read()
        self.assertTrue(man.startswith(".TH MQBASE 1"), man[:80])
        top = subprocess.run([binary, "--help"], capture_output=True, text=True).stdout
        commands = re.findall(r"^  ([a-z]+)\s", top.split("Subcommands:")[1], re.M)
        self.assertIn("serve", commands)
        self.assertIn("config", commands)
        for c in commands:
            self.assertIn(".SH " + c.upper(), man)
        self.assertIn(".SS config check", man)
        self.assertNotIn(self.dest, man)
        if shutil.which("groff"):
            out = subprocess.run(["groff", "-man", "-Tutf8"], input=man, capture_output=True, text=True)
            self.assertEqual(out.returncode, 0, out.stderr)
        # The default configuration is valid.
        conf = self.path("/etc/mqbase/mqbase.toml")
        check = subprocess.run([binary, "config", "check", conf], capture_output=True, text=True)
        self.assertEqual(check.returncode, 0, check.stderr)
        self.assertIn("OK", check.stdout)
        # A second install keeps an edited configuration.
        with open(conf, "a") as f:
            f.write("\n# edited by the operator\n")
        out = self.install()
        self.assertIn("keeping the existing", out.stdout)
        with open(conf) as f:
            self.assertIn("edited by the operator", f.read())

    def test_the_unit_is_hardened_and_systemd_accepts_it(self):
        with open(self.path("/etc/systemd/system/mqbase.service")) as f:
            unit = f.read()
        self.assertIn("ExecStart=/usr/local/bin/mqbase serve --config /etc/mqbase/mqbase.toml", unit)
        for line in ["DynamicUser=yes", "StateDirectory=mqbase", "ProtectSystem=strict", "ProtectHome=yes",
                     "NoNewPrivileges=yes", "PrivateTmp=yes", "ExecReload=/bin/kill -HUP $MAINPID"]:
            self.assertIn(line + "\n", unit)
        if not shutil.which("systemd-analyze"):
            self.skipTest("systemd-analyze is not installed")
        # verify checks that the commands exist: point them at the staged binary.
        staged = os.path.join(self.dest, "verify", "mqbase.service")
        os.makedirs(os.path.dirname(staged), exist_ok=True)
        with open(staged, "w") as f:
            f.write(unit.replace("/usr/local/bin/mqbase", self.path("/usr/local/bin/mqbase")))
        out = subprocess.run(["systemd-analyze", "verify", "--man=no", staged], capture_output=True, text=True,
                             timeout=60)
        self.assertEqual(out.returncode, 0, out.stderr)
        # Warnings (an unknown key, a bad value) are printed but do not fail verify: none allowed.
        self.assertEqual(out.stderr.strip(), "", out.stderr)
        # And verify does catch a mistake, so the check above can fail.
        with open(staged, "a") as f:
            f.write("ProtectSystm=strict\n")
        bad = subprocess.run(["systemd-analyze", "verify", "--man=no", staged], capture_output=True, text=True,
                             timeout=60)
        self.assertIn("ProtectSystm", bad.stderr)


if __name__ == "__main__":
    run_tests()
