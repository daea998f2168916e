#!/usr/bin/python3
"""Integration-test harness for mqbase.

The tests drive a real broker process over TCP on 127.0.0.1. The broker is either

  * "mqbase": ``<binary> serve --config <file.toml> --ready-file <path>``; the binary comes
    from ``--binary PATH`` on the command line or from the environment variable MQBASE_BIN;
  * "mosquitto": Debian's /usr/sbin/mosquitto with a generated mosquitto.conf, used as the
    reference implementation to validate the tests themselves.

The flavor comes from the environment variable MQBASE_FLAVOR (default "mqbase").

Run a file with /usr/bin/python3 (the only interpreter that sees Debian's python3-paho-mqtt):

    MQBASE_FLAVOR=mosquitto /usr/bin/python3 tests/integration/test_qos.py
    MQBASE_BIN=build/test/mqbase /usr/bin/python3 tests/integration/test_qos.py

Everything here waits for events with bounded timeouts; nothing sleeps blindly.
"""

import atexit
import base64
import collections
import json
import os
import queue
import re
import resource
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.request
import uuid

import paho.mqtt.client as mqtt

HOST = "127.0.0.1"
# Default bound for a single wait (a CONNACK, a message, a close). The broker under test may
# be built with ASan+UBSan, so leave some room; passing tests never wait this long.
TIMEOUT = 5.0
MOSQUITTO = "/usr/sbin/mosquitto"
MOSQUITTO_PUB = "/usr/bin/mosquitto_pub"
MOSQUITTO_SUB = "/usr/bin/mosquitto_sub"
# A report of any sanitizer the broker may be built with (ASan+UBSan in build/test, TSan in
# build/tsan) on its stderr fails the test that ran it.
SANITIZER_PATTERNS = ("ERROR: AddressSanitizer", "runtime error:", "ERROR: LeakSanitizer",
                      "WARNING: ThreadSanitizer")


# --------------------------------------------------------------------------------------------
# Command line: accept --binary PATH / --binary=PATH (and --flavor) before unittest sees argv.

def _take_arg(name):
    value = None
    argv = sys.argv
    i = 1
    while i < len(argv):
        if argv[i] == name and i + 1 < len(argv):
            value = argv[i + 1]
            del argv[i:i + 2]
            continue
        if argv[i].startswith(name + "="):
            value = argv[i].split("=", 1)[1]
            del argv[i]
            continue
        i += 1
    return value


_BINARY_ARG = _take_arg("--binary")
_FLAVOR_ARG = _take_arg("--flavor")


def flavor():
    """The broker flavor under test: "mqbase" (default) or "mosquitto"."""
    f = _FLAVOR_ARG or os.environ.get("MQBASE_FLAVOR", "mqbase")
    if f not in ("mqbase", "mosquitto"):
        raise RuntimeError("MQBASE_FLAVOR must be 'mqbase' or 'mosquitto', not %r" % f)
    return f


def is_mosquitto():
    return flavor() == "mosquitto"


def http_request(url, method="GET", body=None, user=None, password=None, token=None, headers=None,
                 content_type=None):
    """(status, headers, body text) of one HTTP request; HTTP errors are answers too.
    user/password: HTTP Basic; token: Authorization: Bearer; body: str or bytes."""
    h = dict(headers or {})
    if user is not None:
        h["Authorization"] = "Basic " + base64.b64encode(("%s:%s" % (user, password)).encode()).decode()
    if token is not None:
        h["Authorization"] = "Bearer " + token
    if content_type is not None:
        h["Content-Type"] = content_type
    data = body.encode() if isinstance(body, str) else body
    req = urllib.request.Request(url, data=data, method=method, headers=h)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, dict(r.headers), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read().decode()


def mqbase_binary():
    path = _BINARY_ARG or os.environ.get("MQBASE_BIN")
    if not path:
        raise RuntimeError("flavor mqbase needs the broker binary: pass --binary PATH or set "
                           "MQBASE_BIN (or set MQBASE_FLAVOR=mosquitto)")
    path = os.path.abspath(path)
    if not os.access(path, os.X_OK):
        raise RuntimeError("mqbase binary %s is not executable" % path)
    return path


def skip_if_mosquitto(reason):
    """Skip a test for the mosquitto flavor (where mosquitto legitimately differs from the
    mqbase contract). MQBASE_NO_SKIP=1 runs it anyway, to see how mosquitto behaves."""
    return unittest.skipIf(is_mosquitto() and not os.environ.get("MQBASE_NO_SKIP"),
                           "mosquitto differs from the mqbase contract: " + reason)


def unique_id(prefix="c"):
    """A fresh client id, at most 23 characters (the MQTT 3.1 limit)."""
    return "%s-%s" % (prefix[:8], uuid.uuid4().hex[:12])


def unique_topic(prefix="t"):
    return "%s/%s" % (prefix, uuid.uuid4().hex[:12])


def raise_nofile_limit():
    """Raise the soft RLIMIT_NOFILE to the hard limit; return the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = 1 << 20
    if soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError):
            pass
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def doc_example(doc, name):
    """The fenced block after `<!-- example: name -->` in the Markdown file `doc` (a path under
    docs/, e.g. "security.md"): tests run the docs' examples as they stand there."""
    path = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "docs", doc))
    with open(path) as f:
        text = f.read()
    m = re.search(r"<!-- example: %s -->\n```\w*\n(.*?)```" % re.escape(name), text, re.S)
    if not m:
        raise AssertionError("docs/%s has no example %r" % (doc, name))
    return m.group(1)


def free_port():
    """A port that was free a moment ago (bind port 0, read it, close)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind((HOST, 0))
        return s.getsockname()[1]
    finally:
        s.close()


def wait_for(predicate, timeout=TIMEOUT, interval=0.02, message="condition"):
    """Poll predicate() until it returns a truthy value or the timeout passes."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %.1f s waiting for %s" % (timeout, message))
        time.sleep(interval)


# --------------------------------------------------------------------------------------------
# Broker process

def _toml_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)  # a JSON string is a valid TOML basic string
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise TypeError("cannot write %r as TOML" % (v,))


def to_toml(config):
    """config: {"server": {...}, "limits": {...}, "listener": [{...}, ...], ...}."""
    lines = []
    for section, body in config.items():
        if isinstance(body, list):
            for item in body:
                lines.append("[[%s]]" % section)
                for k, v in item.items():
                    lines.append("%s = %s" % (k, _toml_value(v)))
                lines.append("")
        else:
            lines.append("[%s]" % section)
            for k, v in body.items():
                lines.append("%s = %s" % (k, _toml_value(v)))
            lines.append("")
    return "\n".join(lines)


_LIVE_PROCESSES = set()


@atexit.register
def _kill_leftovers():
    # Only processes this harness started, by their own pid.
    for proc in list(_LIVE_PROCESSES):
        if proc.poll() is None:
            try:
                proc.kill()
                proc.wait(5)
            except Exception:
                pass


_SLOW_DISK_PROBE = None


def slow_disk_wrapper(delay_ms):
    """A Broker wrapper under which every pwrite of the broker (the store's log writes) starts
    delay_ms late: the window between taking a change and having it in the file (which a
    kill -9 loses; what is in the file survives it) is widened so that a test can kill inside
    it every time. strace -D leaves the broker in the process it was started as; the seccomp
    filter stops only pwrite64. None when strace or ptrace is not available here."""
    global _SLOW_DISK_PROBE
    cmd = ["strace", "-D", "-f", "--seccomp-bpf", "-qq", "-o", "/dev/null", "-e", "trace=pwrite64",
           "-e", "inject=pwrite64:delay_enter=%d" % (delay_ms * 1000)]
    if _SLOW_DISK_PROBE is None:
        try:
            r = subprocess.run(cmd + ["true"], capture_output=True, timeout=10)
            _SLOW_DISK_PROBE = r.returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            _SLOW_DISK_PROBE = False
    return cmd if _SLOW_DISK_PROBE else None


class Broker:
    """A broker process. Use as a context manager, or call start()/stop().

    config is a dict of TOML sections, e.g.
        {"limits": {"connect_timeout": 1}, "sys": {"interval": 1}}
    Listener: one on 127.0.0.1 with an ephemeral port unless config["listener"] says otherwise.
    """

    def __init__(self, config=None, flavor_name=None, binary=None, env=None,
                 start_timeout=15.0, stop_timeout=10.0, wrapper=None):
        self.flavor = flavor_name or flavor()
        self.config = {k: (list(v) if isinstance(v, list) else dict(v))
                       for k, v in (config or {}).items()}
        self.binary = binary
        self.extra_env = dict(env or {})
        # A command the broker runs under, e.g. slow_disk_wrapper(); it must exec the broker
        # in the process it was started as (the ready file's pid is checked against it).
        # restart() runs without it unless given one again.
        self.wrapper = list(wrapper or [])
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.proc = None
        self.port = None
        self.ports = []
        self.http_port = None  # mqbase's HTTP API ([http] listen, ephemeral by default here)
        self.dir = None
        self.killed = False
        self.stopped = False
        self.returncode = None
        self.kept_dir = False  # stop(keep_dir=True) left the temp dir for a restart()
        self.run_stderr_offset = 0  # where the current run's stderr starts in stderr.log
        self.runs = 0  # processes started on this temp dir (start, restarts, failing runs)

    # -- lifecycle --------------------------------------------------------------------------

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, exc_type, exc, tb):
        self.stop(check=exc_type is None)
        return False

    @property
    def pid(self):
        return self.proc.pid

    def start(self):
        if self.flavor == "mqbase":
            self.binary = self.binary or mqbase_binary()  # fail before making a temp dir
        self.dir = tempfile.mkdtemp(prefix="mqbase-it-")
        self.stdout_path = os.path.join(self.dir, "stdout.log")
        self.stderr_path = os.path.join(self.dir, "stderr.log")
        env = self._env()
        if self.flavor == "mqbase":
            self._start_mqbase(env)
        else:
            last_error = None
            for _ in range(3):  # the free port may be taken between probe and bind: retry
                try:
                    self._start_mosquitto(env)
                    last_error = None
                    break
                except _StartFailed as e:
                    last_error = e
            if last_error:
                raise AssertionError(str(last_error))
        return self

    def _env(self):
        env = dict(os.environ)
        env.update(self.extra_env)
        return env

    def _popen(self, cmd, env):
        out = open(self.stdout_path, "ab")
        err = open(self.stderr_path, "ab")
        try:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                         cwd=self.dir, env=env)
        finally:
            out.close()
            err.close()
        _LIVE_PROCESSES.add(self.proc)

    def _start_mqbase(self, env):
        binary = self.binary or mqbase_binary()
        config = self.config
        config.setdefault("server", {})
        config["server"].setdefault("data_dir", os.path.join(self.dir, "data"))
        # Two event loops at least, even on a 1-core machine: connections are spread over the
        # loops in turn, so every test with two clients or more crosses loops.
        config["server"].setdefault("threads", 2)
        config.setdefault("listener", [{"bind": HOST, "port": 0}])
        # The HTTP API on an ephemeral port too (its default, 127.0.0.1:8080, would collide
        # between tests running at once); the ready file says which.
        config.setdefault("http", {})
        config["http"].setdefault("listen", "%s:0" % HOST)
        self.config_path = os.path.join(self.dir, "mqbase.toml")
        with open(self.config_path, "w") as f:
            f.write(to_toml(config))
        self.ready_path = os.path.join(self.dir, "ready.json")
        self._launch_mqbase(binary, env)

    def _serve_command(self, binary, ready_path, extra_args=()):
        return self.wrapper + [binary, "serve", "--config", self.config_path,
                               "--ready-file", ready_path] + list(extra_args)

    def _launch_mqbase(self, binary, env, extra_args=(), wait=True, timeout=None):
        """Start `mqbase serve` on the config already written; with wait=True wait for the
        ready file and take the ports from it."""
        self.runs += 1
        if self.wrapper:  # LeakSanitizer's check at exit needs ptrace, which the wrapper may hold
            env = dict(env)
            env["ASAN_OPTIONS"] = ":".join(filter(None, [env.get("ASAN_OPTIONS"), "detect_leaks=0"]))
        self._popen(self._serve_command(binary, self.ready_path, extra_args), env)
        if wait:
            self._wait_ready(timeout or self.start_timeout)

    def _wait_ready(self, timeout):
        deadline = time.monotonic() + timeout
        while not os.path.exists(self.ready_path):
            if self.proc.poll() is not None:
                raise AssertionError("mqbase exited with %s before it was ready\n%s"
                                     % (self.proc.returncode, self.stderr_tail()))
            if time.monotonic() > deadline:
                self.kill9()
                raise AssertionError("mqbase wrote no ready file within %.0f s\n%s"
                                     % (timeout, self.stderr_tail()))
            time.sleep(0.01)
        with open(self.ready_path) as f:
            ready = json.load(f)
        assert ready.get("pid") == self.proc.pid, \
            "ready file pid %r is not the broker's pid %d" % (ready.get("pid"), self.proc.pid)
        listeners = ready.get("listeners") or []
        assert listeners, "ready file lists no listeners: %r" % (ready,)
        self.ports = [int(l["port"]) for l in listeners]
        assert all(p > 0 for p in self.ports), "ready file has port 0: %r" % (ready,)
        self.port = self.ports[0]
        http = ready.get("http")
        self.http_port = int(http["port"]) if http else None

    def mosquitto_conf(self, port):
        sysc = self.config.get("sys", {})
        limits = self.config.get("limits", {})
        auth = self.config.get("auth", {})
        listener = (self.config.get("listener") or [{}])[0]
        lines = [
            "per_listener_settings false",
            "allow_anonymous %s" % ("true" if listener.get("allow_anonymous", True) else "false"),
            "persistence false",
            "log_dest stderr",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type information",
            "sys_interval %d" % int(sysc.get("interval", 10)),
            "max_queued_messages %d" % int(limits.get("max_queued_messages", 1000)),
            # an MQTT 5 test's limits.receive_maximum is mosquitto's max_inflight_messages (which
            # mosquitto announces as its Receive Maximum)
            "max_inflight_messages %d" % int(limits.get("receive_maximum",
                                                        limits.get("max_inflight_messages", 20))),
        ]
        if "max_keep_alive" in limits:
            lines.append("max_keepalive %d" % int(limits["max_keep_alive"]))
        if "max_packet_size" in limits:
            lines.append("max_packet_size %d" % int(limits["max_packet_size"]))
        lines.append("listener %d %s" % (port, HOST))
        if "password_file" in auth:
            lines.append("password_file %s" % auth["password_file"])
        if "acl_file" in auth:
            lines.append("acl_file %s" % auth["acl_file"])
        if "topic_alias_maximum" in limits:
            lines.append("max_topic_alias %d" % int(limits["topic_alias_maximum"]))
        if int(limits.get("max_connections", 0)) > 1:
            # mosquitto 2.0.11 admits one connection more than its max_connections says
            lines.append("max_connections %d" % (int(limits["max_connections"]) - 1))
        # connect_timeout has no mosquitto equivalent; tests depending on it skip mosquitto.
        return "\n".join(lines) + "\n"

    def _start_mosquitto(self, env):
        port = free_port()
        self.config_path = os.path.join(self.dir, "mosquitto.conf")
        with open(self.config_path, "w") as f:
            f.write(self.mosquitto_conf(port))
        self._popen([MOSQUITTO, "-c", self.config_path], env)
        deadline = time.monotonic() + self.start_timeout
        while True:
            if self.proc.poll() is not None:
                _LIVE_PROCESSES.discard(self.proc)
                raise _StartFailed("mosquitto exited with %s before it was ready\n%s"
                                   % (self.proc.returncode, self.stderr_tail()))
            try:
                s = socket.create_connection((HOST, port), timeout=1)
                s.close()
                break
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.kill9()
                raise AssertionError("mosquitto did not accept on port %d within %.0f s"
                                     % (port, self.start_timeout))
            time.sleep(0.01)
        self.port = port
        self.ports = [port]

    def http_url(self, path="/"):
        """http://127.0.0.1:<HTTP port><path> of this mqbase (its [http] listener)."""
        assert self.http_port, "this broker has no HTTP listener (ready file without \"http\")"
        return "http://%s:%d%s" % (HOST, self.http_port, path)

    @property
    def data_dir(self):
        """The mqbase data directory (server.data_dir; by default <temp dir>/data)."""
        return self.config["server"]["data_dir"]

    def restart(self, extra_args=(), wait=True, timeout=None, wrapper=None):
        """Start mqbase again on the same temp dir, config and data dir, after kill9() or
        stop(keep_dir=True); extra_args go to `mqbase serve` (e.g. ["--recover-skip-corrupt"]).

        The old ready file is deleted first and the new one awaited (wait=False: return once
        the process is spawned, e.g. to kill it during recovery; the ports are then unknown).
        wrapper: as Broker's, for this run (none by default).
        self.port / self.ports are the new run's (a port-0 listener gets a new ephemeral port).
        stop() afterwards checks the new run as it checks a first start; stderr.log collects
        every run, and stderr_of_run() is the current run's part.
        """
        if self.flavor != "mqbase":
            raise RuntimeError("restart() is for the mqbase flavor only")
        if self.proc is None or self.dir is None:
            raise RuntimeError("restart() needs a broker that was started")
        if self.proc.poll() is None:
            raise AssertionError("restart(): broker pid %d is still running; kill9() or "
                                 "stop(keep_dir=True) first" % self.proc.pid)
        if not os.path.isdir(self.dir):
            raise AssertionError("restart(): temp dir %s is gone (stop() without keep_dir=True "
                                 "removes it)" % self.dir)
        _LIVE_PROCESSES.discard(self.proc)
        self.wrapper = list(wrapper or [])
        try:
            os.unlink(self.ready_path)
        except FileNotFoundError:
            pass
        self.killed = False
        self.stopped = False
        self.kept_dir = False
        self.returncode = None
        self.port = None
        self.ports = []
        self.http_port = None
        self.run_stderr_offset = self._stderr_size()
        self._launch_mqbase(self.binary or mqbase_binary(), self._env(), extra_args, wait=wait,
                            timeout=timeout)
        return self

    def wait_ready(self, timeout=None):
        """After restart(wait=False): wait for the ready file and take the ports from it."""
        self._wait_ready(timeout or self.start_timeout)
        return self

    def _stderr_size(self):
        try:
            return os.path.getsize(self.stderr_path)
        except OSError:
            return 0

    def stderr_of_run(self):
        """The current (or last) run's stderr: what it wrote since the last restart()."""
        try:
            with open(self.stderr_path, "rb") as f:
                f.seek(self.run_stderr_offset)
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def run_binary(self, args, timeout=60.0):
        """Run the mqbase binary with `args` (e.g. ["check", "--data-dir", broker.data_dir])
        to completion in the temp dir; returns the CompletedProcess (text stdout/stderr).
        Fails on a sanitizer report in its stderr. The exit code is the caller's to check."""
        binary = self.binary or mqbase_binary()
        r = subprocess.run([binary] + list(args), stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=self.dir,
                           env=self._env(), timeout=timeout)
        r.stdout = r.stdout.decode("utf-8", "replace")
        r.stderr = r.stderr.decode("utf-8", "replace")
        _assert_no_sanitizer_report(r.stderr, " ".join([binary] + list(args)))
        return r

    def serve_expecting_failure(self, extra_args=(), timeout=30.0):
        """Run a second `mqbase serve` on this broker's config (so its data dir) with
        extra_args, expecting it to exit without becoming ready. Returns (exit code, stderr).
        Fails if it writes its ready file (it is killed then) or has not exited within
        `timeout`, or if its stderr carries a sanitizer report. self.proc is not touched: the
        broker may be running (a lock test) or stopped (a recovery test)."""
        if self.flavor != "mqbase":
            raise RuntimeError("serve_expecting_failure() is for the mqbase flavor only")
        binary = self.binary or mqbase_binary()
        self.runs += 1
        tag = "failing-%d" % self.runs
        ready = os.path.join(self.dir, tag + "-ready.json")
        out_path = os.path.join(self.dir, tag + "-stdout.log")
        err_path = os.path.join(self.dir, tag + "-stderr.log")
        with open(out_path, "wb") as out, open(err_path, "wb") as err:
            proc = subprocess.Popen(self._serve_command(binary, ready, extra_args),
                                    stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                    cwd=self.dir, env=self._env())
        _LIVE_PROCESSES.add(proc)
        try:
            deadline = time.monotonic() + timeout
            while proc.poll() is None:
                if os.path.exists(ready):
                    raise AssertionError("mqbase serve %s started (wrote its ready file) where it "
                                         "should have refused" % " ".join(extra_args))
                if time.monotonic() > deadline:
                    raise AssertionError("mqbase serve %s still running after %.0f s where it "
                                         "should have refused" % (" ".join(extra_args), timeout))
                time.sleep(0.01)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(self.stop_timeout)
            _LIVE_PROCESSES.discard(proc)
        with open(err_path, "rb") as f:
            stderr = f.read().decode("utf-8", "replace")
        _assert_no_sanitizer_report(stderr, "mqbase serve %s" % " ".join(extra_args))
        return proc.returncode, stderr

    def kill9(self):
        """SIGKILL the broker (its own pid only) and reap it."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(self.stop_timeout)
        self.killed = True
        if self.proc is not None:
            self.returncode = self.proc.returncode
            _LIVE_PROCESSES.discard(self.proc)

    def stop(self, check=True, keep_dir=False):
        """SIGTERM the broker's own pid, wait, and check the exit.

        mqbase must exit 0 and its stderr must carry no sanitizer report. keep_dir=True keeps
        the temp dir (config, data dir, logs) for a restart(); a later stop() without it
        removes the dir.
        """
        if self.stopped or self.proc is None:
            if self.kept_dir and not keep_dir:
                self.kept_dir = False
                if self.dir and not os.environ.get("MQBASE_KEEP_TMP"):
                    shutil.rmtree(self.dir, ignore_errors=True)
            return
        self.stopped = True
        problems = []
        try:
            if self.proc.poll() is None:
                os.kill(self.proc.pid, signal.SIGTERM)
                try:
                    self.proc.wait(self.stop_timeout)
                except subprocess.TimeoutExpired:
                    problems.append("did not exit within %.0f s of SIGTERM (killed)"
                                    % self.stop_timeout)
                    self.kill9()
            elif not self.killed:
                problems.append("had already exited with %s before SIGTERM"
                                % self.proc.returncode)
            self.returncode = self.proc.returncode
            _LIVE_PROCESSES.discard(self.proc)
            if self.flavor == "mqbase" and not self.killed and self.returncode != 0:
                problems.append("exited with code %s after SIGTERM, expected 0" % self.returncode)
            stderr = self.stderr_text()
            for pattern in SANITIZER_PATTERNS:
                if pattern in stderr:
                    problems.append("stderr contains %r" % pattern)
            if problems and check:
                raise AssertionError("%s broker (pid %d): %s\n--- stderr ---\n%s"
                                     % (self.flavor, self.proc.pid, "; ".join(problems),
                                        self.stderr_tail(200)))
        finally:
            # The dir (logs, data) stays for a look after a failure; check=False means the
            # caller expected the problems, so nothing is left behind then.
            if keep_dir and not problems:
                self.kept_dir = True
            elif self.dir and not os.environ.get("MQBASE_KEEP_TMP") and (not problems or not check):
                shutil.rmtree(self.dir, ignore_errors=True)

    # -- inspection -------------------------------------------------------------------------

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stderr_text(self):
        try:
            with open(self.stderr_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def stderr_tail(self, lines=60):
        return "\n".join(self.stderr_text().splitlines()[-lines:])

    def rss_kb(self):
        """VmRSS of the broker process in kB (from /proc/<pid>/status)."""
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        raise AssertionError("no VmRSS in /proc/%d/status" % self.proc.pid)


class _StartFailed(Exception):
    pass


def _assert_no_sanitizer_report(stderr, what):
    found = [p for p in SANITIZER_PATTERNS if p in stderr]
    if found:
        raise AssertionError("%s: stderr contains %s\n--- stderr ---\n%s"
                             % (what, ", ".join(repr(p) for p in found), stderr[-20000:]))


class BrokerTestCase(unittest.TestCase):
    """Each test gets its own broker (self.broker, self.port), stopped and checked afterwards.

    Subclasses set broker_config (a dict of TOML sections) to configure it.
    """

    broker_config = None
    maxDiff = 4000

    def setUp(self):
        self.broker = self.start_broker(self.broker_config)
        self.port = self.broker.port

    def start_broker(self, config=None, **kwargs):
        broker = Broker(config=config, **kwargs)
        broker.start()
        self.addCleanup(broker.stop)
        return broker

    # clients are closed before the broker (cleanups run last-in first-out)
    def paho(self, client_id=None, **kwargs):
        kwargs.setdefault("port", self.port)
        c = PahoClient(client_id=client_id, **kwargs)
        self.addCleanup(c.close)
        return c

    def raw(self, port=None, **kwargs):
        c = RawClient(port or self.port, **kwargs)
        self.addCleanup(c.close)
        return c


# --------------------------------------------------------------------------------------------
# paho clients

Msg = collections.namedtuple("Msg", "topic payload qos retain dup mid")

PROTOCOLS = {"3.1": mqtt.MQTTv31, "3.1.1": mqtt.MQTTv311}


class PahoClient:
    """A paho client running its network loop in a thread; messages go to a queue.

    connect=True (default) connects at once and waits for a successful CONNACK.
    """

    def __init__(self, port, client_id=None, protocol=mqtt.MQTTv311, clean_session=True,
                 keepalive=60, will=None, connect=True, expect_rc=0, timeout=TIMEOUT,
                 username=None, password=None):
        self.port = port
        self.client_id = unique_id("p") if client_id is None else client_id
        self.timeout = timeout
        self.messages = queue.Queue()
        self.connected = threading.Event()
        self.disconnected = threading.Event()
        self.connack_flags = None
        self.connack_rc = None
        self.disconnect_rc = None
        self._acks = {}
        self._lock = threading.Lock()
        self._loop_started = False
        self.client = mqtt.Client(client_id=self.client_id, clean_session=clean_session,
                                  protocol=protocol, reconnect_on_failure=False)
        if username is not None:
            self.client.username_pw_set(username, password)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe
        self.client.on_unsubscribe = self._on_unsubscribe
        if will is not None:
            # will = (topic, payload, qos, retain)
            self.client.will_set(*will)
        self.keepalive = keepalive
        if connect:
            self.connect(expect_rc=expect_rc)

    # callbacks run in paho's network thread
    def _on_connect(self, client, userdata, flags, rc):
        self.connack_flags = dict(flags)
        self.connack_rc = rc
        self.connected.set()

    def _on_disconnect(self, client, userdata, rc):
        self.disconnect_rc = rc
        self.disconnected.set()

    def _on_message(self, client, userdata, m):
        self.messages.put(Msg(m.topic, bytes(m.payload), m.qos, int(bool(m.retain)),
                              int(bool(m.dup)), m.mid))

    def _ack_event(self, mid):
        with self._lock:
            return self._acks.setdefault(mid, [threading.Event(), None])


    def _wait_ack(self, rc, mid, what):
        """Waits for the SUBACK / UNSUBACK of request `mid`; returns what it carried."""
        assert rc == mqtt.MQTT_ERR_SUCCESS, "%s request failed locally: rc=%s" % (what, rc)
        ev = self._ack_event(mid)
        if not ev[0].wait(self.timeout):
            raise AssertionError("client %s: no %s within %.1f s" % (self.client_id, what, self.timeout))
        return ev[1]
    def _on_subscribe(self, client, userdata, mid, granted_qos):
        ev = self._ack_event(mid)
        ev[1] = list(granted_qos)
        ev[0].set()

    def _on_unsubscribe(self, client, userdata, mid):
        self._ack_event(mid)[0].set()

    # actions
    def connect(self, expect_rc=0):
        self.connected.clear()
        self.disconnected.clear()
        self.client.connect(HOST, self.port, self.keepalive)
        self.client.loop_start()
        self._loop_started = True
        if not self.connected.wait(self.timeout):
            raise AssertionError("client %s: no CONNACK within %.1f s"
                                 % (self.client_id, self.timeout))
        if expect_rc is not None and self.connack_rc != expect_rc:
            raise AssertionError("client %s: CONNACK rc %s, expected %s"
                                 % (self.client_id, self.connack_rc, expect_rc))
        return self

    @property
    def session_present(self):
        return int(self.connack_flags.get("session present", 0))

    def subscribe(self, topic, qos=0):
        """Subscribe to a filter (or a list of (filter, qos)); wait for SUBACK; return the
        granted QoS list."""
        rc, mid = self.client.subscribe(topic, qos) if isinstance(topic, str) \
            else self.client.subscribe(list(topic))
        return self._wait_ack(rc, mid, "SUBACK")

    def unsubscribe(self, topic):
        rc, mid = self.client.unsubscribe(topic)
        self._wait_ack(rc, mid, "UNSUBACK")

    def publish(self, topic, payload=b"", qos=0, retain=False, wait=True):
        """Publish; with wait=True block until the QoS flow completed (PUBACK/PUBCOMP) or,
        for QoS 0, the packet was written."""
        info = self.client.publish(topic, payload, qos, retain)
        assert info.rc == mqtt.MQTT_ERR_SUCCESS, "publish failed locally: rc=%s" % info.rc
        if wait:
            self.wait_published(info)
        return info

    def wait_published(self, info, timeout=None):
        info.wait_for_publish(timeout or self.timeout)
        if not info.is_published():
            raise AssertionError("client %s: publish mid %s not completed within %.1f s"
                                 % (self.client_id, info.mid, timeout or self.timeout))

    def get(self, timeout=None):
        """The next received message (a Msg); fail if none arrives in time."""
        try:
            return self.messages.get(timeout=timeout or self.timeout)
        except queue.Empty:
            raise AssertionError("client %s: no message within %.1f s"
                                 % (self.client_id, timeout or self.timeout)) from None

    def get_many(self, n, timeout=None):
        """n messages; the timeout bounds the whole batch."""
        deadline = time.monotonic() + (timeout or self.timeout)
        out = []
        while len(out) < n:
            remaining = deadline - time.monotonic()
            try:
                out.append(self.messages.get(timeout=max(0.001, remaining)))
            except queue.Empty:
                raise AssertionError("client %s: got %d of %d messages in time"
                                     % (self.client_id, len(out), n)) from None
        return out

    def pending(self):
        """Messages received so far and not yet consumed (non-blocking)."""
        out = []
        while True:
            try:
                out.append(self.messages.get_nowait())
            except queue.Empty:
                return out

    def wait_disconnected(self, timeout=None):
        if not self.disconnected.wait(timeout or self.timeout):
            raise AssertionError("client %s: still connected after %.1f s"
                                 % (self.client_id, timeout or self.timeout))
        return self.disconnect_rc

    def disconnect(self):
        """Clean DISCONNECT, wait until the socket is closed, stop the loop."""
        if self.connected.is_set() and not self.disconnected.is_set():
            self.client.disconnect()
            self.disconnected.wait(self.timeout)
        self.stop_loop()

    def stop_loop(self):
        if self._loop_started:
            self.client.loop_stop()
            self._loop_started = False

    def close(self):
        try:
            self.disconnect()
        except Exception:
            self.stop_loop()


def read_pubacks_in_background(client, total, timeout=60):
    """Starts a thread that reads `total` PUBACKs from the raw client `client` (a publisher
    pipelining QoS 1 PUBLISHes from another thread). Returns (thread, acked, errors): acked
    fills with the packet ids in arrival order; errors gets what went wrong (anything but a
    PUBACK, or a timeout), for the test's thread to assert on."""
    acked, errors = [], []

    def run():
        try:
            while len(acked) < total:
                p = client.read_packet(timeout=timeout)
                if p.type != PUBACK:
                    raise AssertionError("publisher got %r" % (p.raw[:8],))
                acked.append(struct.unpack("!H", p.body)[0])
        except Exception as e:  # reported by the test's thread
            errors.append(e)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, acked, errors


def read_sys_counter(test, name, timeout=10.0):
    """The value of the $SYS counter $SYS/broker/<name>, read from a fresh subscription (the
    broker retains its $SYS messages). `test` is a BrokerTestCase."""
    c = test.paho()
    try:
        c.subscribe("$SYS/broker/" + name, 0)
        return int(c.get(timeout=timeout).payload)
    finally:
        c.close()


def sync_marker(publisher, subscriber, topic, qos=0, timeout=None):
    """Publish a marker on `topic` (which `subscriber` is subscribed to) and return the
    messages `subscriber` received before the marker. Used to prove a message was NOT
    delivered without sleeping: the broker keeps per-publisher order, so anything routed
    before the marker arrives before it."""
    marker = ("marker-" + uuid.uuid4().hex).encode()
    publisher.publish(topic, marker, qos=qos)
    before = []
    deadline = time.monotonic() + (timeout or TIMEOUT)
    while True:
        m = subscriber.get(timeout=max(0.001, deadline - time.monotonic()))
        if m.payload == marker:
            return before
        before.append(m)


def publish_in_background(pub, topic, n, qos=1):
    """Publish payloads b"0" .. b"<n-1>" on `topic` from a thread, so the test can act while
    they flow. Returns (thread, errors): join the thread, then assert errors == []."""
    errors = []

    def publish_all():
        try:
            for i in range(n):
                pub.publish(topic, b"%d" % i, qos=qos)
        except Exception as e:  # reported by the test's thread
            errors.append(e)

    t = threading.Thread(target=publish_all)
    t.start()
    return t, errors

# --------------------------------------------------------------------------------------------
# Raw MQTT on a socket: exact bytes on the wire

CONNECT, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP = 1, 2, 3, 4, 5, 6, 7
SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK, PINGREQ, PINGRESP, DISCONNECT = 8, 9, 10, 11, 12, 13, 14


def varint(n):
    out = bytearray()
    while True:
        b = n % 128
        n //= 128
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def mqtt_str(s):
    if isinstance(s, str):
        s = s.encode("utf-8")
    return struct.pack("!H", len(s)) + s


def packet(first_byte, body=b""):
    return bytes([first_byte]) + varint(len(body)) + body


def connect_packet(client_id="", clean_session=True, keepalive=60, will_topic=None,
                   will_payload=b"", will_qos=0, will_retain=False, username=None,
                   password=None, protocol_name="MQTT", protocol_level=4, extra_flags=0,
                   fixed_flags=0):
    flags = extra_flags
    if clean_session:
        flags |= 0x02
    payload = mqtt_str(client_id)
    if will_topic is not None:
        flags |= 0x04 | (will_qos << 3) | (0x20 if will_retain else 0)
        payload += mqtt_str(will_topic) + mqtt_str(will_payload)
    if username is not None:
        flags |= 0x80
        payload += mqtt_str(username)
    if password is not None:
        flags |= 0x40
        payload += mqtt_str(password)
    body = mqtt_str(protocol_name) + bytes([protocol_level, flags]) + \
        struct.pack("!H", keepalive) + payload
    return packet(0x10 | fixed_flags, body)


def publish_packet(topic, payload=b"", qos=0, retain=False, dup=False, packet_id=None):
    if isinstance(payload, str):
        payload = payload.encode()
    first = 0x30 | (qos << 1) | (0x01 if retain else 0) | (0x08 if dup else 0)
    body = mqtt_str(topic)
    if qos > 0:
        body += struct.pack("!H", packet_id if packet_id is not None else 1)
    return packet(first, body + payload)


def subscribe_packet(packet_id, filters):
    body = struct.pack("!H", packet_id)
    for f, q in filters:
        body += mqtt_str(f) + bytes([q])
    return packet(0x82, body)


def unsubscribe_packet(packet_id, filters):
    body = struct.pack("!H", packet_id)
    for f in filters:
        body += mqtt_str(f)
    return packet(0xA2, body)


def ack_packet(ptype, packet_id):
    first = {PUBACK: 0x40, PUBREC: 0x50, PUBREL: 0x62, PUBCOMP: 0x70}[ptype]
    return packet(first, struct.pack("!H", packet_id))


PINGREQ_BYTES = b"\xc0\x00"
PINGRESP_BYTES = b"\xd0\x00"
DISCONNECT_BYTES = b"\xe0\x00"


def connack_bytes(rc, session_present=0):
    return bytes([0x20, 0x02, session_present, rc])


class Packet(collections.namedtuple("Packet", "type flags body raw")):
    """A decoded MQTT control packet (type 1..15, fixed-header flags, body, raw bytes)."""

    def publish_head(self):
        """(topic, qos, packet_id, offset of what follows) of a PUBLISH, any version."""
        assert self.type == PUBLISH, "not a PUBLISH: %r" % (self.raw[:16],)
        qos = (self.flags >> 1) & 3
        (tlen,) = struct.unpack("!H", self.body[:2])
        topic = self.body[2:2 + tlen].decode("utf-8")
        pos = 2 + tlen
        pid = None
        if qos:
            (pid,) = struct.unpack("!H", self.body[pos:pos + 2])
            pos += 2
        return topic, qos, pid, pos

    def publish_fields(self):
        """(topic, payload, qos, retain, dup, packet_id) of a 3.x PUBLISH."""
        topic, qos, pid, pos = self.publish_head()
        return topic, self.body[pos:], qos, self.flags & 1, (self.flags >> 3) & 1, pid


class ConnectionClosed(Exception):
    pass


class PacketStream:
    """MQTT packet framing over a connected socket (client or server side)."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""
        self.eof = False

    def fileno(self):
        return self.sock.fileno()

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self, deadline):
        """Read more bytes; raise ConnectionClosed on EOF/reset, TimeoutError at deadline."""
        if self.eof:
            raise ConnectionClosed("closed")
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError()
        self.sock.settimeout(remaining)
        try:
            data = self.sock.recv(1 << 20)
        except socket.timeout:
            raise TimeoutError() from None
        except (ConnectionResetError, ConnectionAbortedError, BrokenPipeError):
            self.eof = True
            raise ConnectionClosed("reset") from None
        if not data:
            self.eof = True
            raise ConnectionClosed("eof")
        self.buf += data

    def try_parse(self):
        """A complete packet from the buffer, or None."""
        if len(self.buf) < 2:
            return None
        length, mult, i = 0, 1, 1
        while True:
            if i >= len(self.buf):
                return None
            b = self.buf[i]
            length += (b & 0x7F) * mult
            mult *= 128
            i += 1
            if not b & 0x80:
                break
            if i > 4:
                raise AssertionError("malformed remaining length from peer: %r" % self.buf[:8])
        if len(self.buf) < i + length:
            return None
        raw = self.buf[:i + length]
        self.buf = self.buf[i + length:]
        return Packet(raw[0] >> 4, raw[0] & 0x0F, raw[i:], raw)

    def read_packet(self, timeout=TIMEOUT):
        """The next packet. AssertionError on timeout or if the peer closes first."""
        deadline = time.monotonic() + timeout
        while True:
            p = self.try_parse()
            if p is not None:
                return p
            try:
                self._fill(deadline)
            except TimeoutError:
                raise AssertionError("no packet within %.1f s (buffered %r)"
                                     % (timeout, self.buf[:32])) from None
            except ConnectionClosed as e:
                raise AssertionError("connection closed (%s) while waiting for a packet "
                                     "(buffered %r)" % (e, self.buf[:32])) from None

    def read_bytes(self, n, timeout=TIMEOUT):
        deadline = time.monotonic() + timeout
        while len(self.buf) < n:
            try:
                self._fill(deadline)
            except TimeoutError:
                raise AssertionError("got %r, wanted %d bytes within %.1f s"
                                     % (self.buf, n, timeout)) from None
            except ConnectionClosed as e:
                raise AssertionError("connection closed (%s) after %r, wanted %d bytes"
                                     % (e, self.buf, n)) from None
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def wait_closed(self, timeout=TIMEOUT):
        """Wait for the peer to close; return all bytes received before the close (including
        bytes already buffered). AssertionError if still open at the timeout."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self._fill(deadline)
            except ConnectionClosed:
                data, self.buf = self.buf, b""
                return data
            except TimeoutError:
                raise AssertionError("connection still open after %.1f s (received %r)"
                                     % (timeout, self.buf[:64])) from None

    def is_closed_now(self):
        """Non-blocking: has the peer closed (data received so far stays buffered)?"""
        if self.eof:
            return True
        try:
            self._fill(time.monotonic() + 0.001)
        except (ConnectionClosed,):
            return True
        except TimeoutError:
            return False
        return self.eof

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def abort(self):
        """Close with RST (SO_LINGER 0): an abnormal network close."""
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        self.close()


class RawClient(PacketStream):
    """A raw TCP client to the broker that speaks MQTT by hand."""

    def __init__(self, port, timeout=TIMEOUT, rcvbuf=None):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        s.settimeout(timeout)
        s.connect((HOST, port))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().__init__(s)
        self.next_id = 1
        self.stash = collections.deque()

    def new_id(self):
        pid = self.next_id
        self.next_id = self.next_id % 65535 + 1
        return pid

    def connect(self, client_id=None, expect=None, timeout=TIMEOUT, **kwargs):
        """Send CONNECT, read the CONNACK, assert its exact bytes (default: accepted, session
        present 0). Returns the CONNACK bytes."""
        if client_id is None:
            client_id = unique_id("r")
        self.client_id = client_id
        self.send(connect_packet(client_id, **kwargs))
        got = self.read_bytes(4, timeout)
        want = connack_bytes(0) if expect is None else expect
        if got != want:
            raise AssertionError("CONNACK %s, expected %s" % (got.hex(" "), want.hex(" ")))
        return got

    def subscribe(self, filters, timeout=TIMEOUT):
        """filters: [(filter, qos)] or a single filter string (QoS 0). Returns granted codes."""
        if isinstance(filters, str):
            filters = [(filters, 0)]
        pid = self.new_id()
        self.send(subscribe_packet(pid, filters))
        p = self.read_packet(timeout)
        assert p.type == SUBACK and p.flags == 0, "expected SUBACK, got %r" % (p.raw,)
        assert p.body[:2] == struct.pack("!H", pid), "SUBACK for wrong packet id: %r" % (p.raw,)
        return list(p.body[2:])

    def publish(self, topic, payload=b"", qos=0, retain=False, timeout=TIMEOUT):
        """Publish and complete the QoS flow. PUBLISH/PUBREL packets that arrive meanwhile
        (e.g. our own message echoed back) are kept for receive_publish()."""
        pid = self.new_id() if qos else None
        self.send(publish_packet(topic, payload, qos, retain, packet_id=pid))
        if qos == 1:
            p = self._read_ack(timeout)
            assert p.raw == ack_packet(PUBACK, pid), "expected PUBACK, got %r" % (p.raw,)
        elif qos == 2:
            p = self._read_ack(timeout)
            assert p.raw == ack_packet(PUBREC, pid), "expected PUBREC, got %r" % (p.raw,)
            self.send(ack_packet(PUBREL, pid))
            p = self._read_ack(timeout)
            assert p.raw == ack_packet(PUBCOMP, pid), "expected PUBCOMP, got %r" % (p.raw,)

    def _read_ack(self, timeout):
        deadline = time.monotonic() + timeout
        while True:
            p = PacketStream.read_packet(self, max(0.001, deadline - time.monotonic()))
            if p.type in (PUBLISH, PUBREL):
                self.stash.append(p)
                continue
            return p

    def read_packet(self, timeout=TIMEOUT):
        if self.stash:
            return self.stash.popleft()
        return PacketStream.read_packet(self, timeout)

    def receive_publish(self, timeout=TIMEOUT, ack=True):
        """The next PUBLISH as (topic, payload, qos, retain, dup, pid). With ack=True it
        acknowledges QoS 1 with PUBACK and QoS 2 with PUBREC, and answers any PUBREL met on
        the way with PUBCOMP (QoS 2 flows may interleave with later PUBLISHes)."""
        deadline = time.monotonic() + timeout
        while True:
            p = self.read_packet(max(0.001, deadline - time.monotonic()))
            if p.type == PUBREL and ack:
                assert p.flags == 2 and len(p.body) == 2, "malformed PUBREL %r" % (p.raw,)
                self.send(ack_packet(PUBCOMP, struct.unpack("!H", p.body)[0]))
                continue
            fields = p.publish_fields()
            qos, pid = fields[2], fields[5]
            if ack and qos == 1:
                self.send(ack_packet(PUBACK, pid))
            elif ack and qos == 2:
                self.send(ack_packet(PUBREC, pid))
            return fields

    def receive_publishes(self, n, timeout=TIMEOUT):
        """n PUBLISHes (acknowledged); the timeout bounds the whole batch."""
        deadline = time.monotonic() + timeout
        return [self.receive_publish(max(0.001, deadline - time.monotonic())) for _ in range(n)]

    def disconnect(self):
        try:
            self.send(DISCONNECT_BYTES)
        except OSError:
            pass
        self.close()


class FakeServer:
    """A listening socket on 127.0.0.1 that accepts one client and hands back a PacketStream;
    used to look at the exact CONNECT a command-line client sends."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((HOST, 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.conns = []

    def accept(self, timeout=TIMEOUT):
        self.sock.settimeout(timeout)
        try:
            s, _ = self.sock.accept()
        except socket.timeout:
            raise AssertionError("no client connected within %.1f s" % timeout) from None
        stream = PacketStream(s)
        self.conns.append(stream)
        return stream

    def close(self):
        for c in self.conns:
            c.close()
        self.sock.close()


def parse_connect(p):
    """Decode a CONNECT packet into a dict."""
    assert p.type == CONNECT, "expected CONNECT, got %r" % (p.raw[:16],)
    body = p.body
    pos = 0

    def take_str():
        nonlocal pos
        (n,) = struct.unpack("!H", body[pos:pos + 2])
        s = body[pos + 2:pos + 2 + n]
        pos += 2 + n
        return s

    out = {"protocol_name": take_str().decode()}
    out["protocol_level"] = body[pos]
    flags = body[pos + 1]
    (out["keepalive"],) = struct.unpack("!H", body[pos + 2:pos + 4])
    pos += 4
    if out["protocol_level"] == 5:
        plen, mult = 0, 1
        while True:
            b = body[pos]
            pos += 1
            plen += (b & 0x7F) * mult
            mult *= 128
            if not b & 0x80:
                break
        pos += plen  # skip properties
    out["flags"] = flags
    out["clean_session"] = bool(flags & 0x02)
    out["client_id"] = take_str().decode()
    out["will"] = None
    if flags & 0x04:
        if out["protocol_level"] == 5:
            plen, mult = 0, 1
            while True:
                b = body[pos]
                pos += 1
                plen += (b & 0x7F) * mult
                mult *= 128
                if not b & 0x80:
                    break
            pos += plen
        topic = take_str().decode()
        payload = take_str()
        out["will"] = {"topic": topic, "payload": payload, "qos": (flags >> 3) & 3,
                       "retain": int(bool(flags & 0x20))}
    if flags & 0x80:
        out["username"] = take_str().decode()
    if flags & 0x40:
        out["password"] = take_str()
    return out


# --------------------------------------------------------------------------------------------
# mosquitto_pub / mosquitto_sub (Debian mosquitto-clients) as subprocesses

def run_mosquitto_pub(port, topic, message=None, qos=0, retain=False, extra=(), input=None,
                      timeout=15, protocol=None):
    """Run mosquitto_pub to completion; assert exit 0; return the CompletedProcess.
    message: str/bytes for -m (bytes are passed via -s on stdin to keep them exact)."""
    cmd = [MOSQUITTO_PUB, "-h", HOST, "-p", str(port), "-t", topic, "-q", str(qos)]
    if protocol:
        cmd += ["-V", protocol]
    if retain:
        cmd.append("-r")
    if isinstance(message, bytes):
        if input is not None:
            raise ValueError("bytes message and input are exclusive")
        cmd.append("-s")
        input = message
    elif message is not None:
        cmd += ["-m", message]
    cmd += list(extra)
    r = subprocess.run(cmd, input=input, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=timeout)
    if r.returncode != 0:
        raise AssertionError("%s exited %d: %s" % (" ".join(cmd), r.returncode,
                                                   r.stderr.decode(errors="replace")))
    return r


def stop_process(proc):
    """Terminates a client process the test started (by its own handle), then closes its pipes."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    _LIVE_PROCESSES.discard(proc)
    proc.stdout.close()
    proc.stderr.close()


class MosquittoSub:
    """mosquitto_sub as a subprocess printing one line per message ("%t %q %r %l %x") into a
    queue. It also subscribes to a private sync topic so that sync() can prove the
    subscription is in place before the test publishes (no sleeping)."""

    FORMAT = "%t %q %r %l %x"

    def __init__(self, port, topics, qos=0, extra=(), protocol=None):
        if isinstance(topics, str):
            topics = [topics]
        self.port = port
        self.sync_topic = unique_topic("sync")
        self.messages = queue.Queue()
        cmd = [MOSQUITTO_SUB, "-h", HOST, "-p", str(port), "-q", str(qos), "-F", self.FORMAT,
               "-i", unique_id("msub")]
        if protocol:
            cmd += ["-V", protocol]
        for t in list(topics) + [self.sync_topic]:
            cmd += ["-t", t]
        cmd += list(extra)
        self.cmd = cmd
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        _LIVE_PROCESSES.add(self.proc)
        self.thread = threading.Thread(target=self._reader, daemon=True)
        self.thread.start()

    def _reader(self):
        for line in self.proc.stdout:
            line = line.rstrip(b"\n").decode()
            topic, qos, retain, length, hexpayload = line.rsplit(" ", 4)
            payload = bytes.fromhex(hexpayload)
            assert len(payload) == int(length)
            self.messages.put(Msg(topic, payload, int(qos), int(retain), 0, None))
        self.messages.put(None)  # EOF

    def sync(self, publisher, timeout=TIMEOUT):
        """Publish to the sync topic with `publisher` (a PahoClient) until mosquitto_sub shows
        it; messages on other topics seen meanwhile stay queued."""
        deadline = time.monotonic() + timeout
        held = []
        try:
            while time.monotonic() < deadline:
                publisher.publish(self.sync_topic, b"sync", qos=0)
                try:
                    m = self.messages.get(timeout=0.1)
                except queue.Empty:
                    continue
                if m is None:
                    raise AssertionError("mosquitto_sub exited: %s" % self.stderr())
                if m.topic == self.sync_topic:
                    return
                held.append(m)
            raise AssertionError("mosquitto_sub not subscribed within %.1f s" % timeout)
        finally:
            # keep non-sync messages, drop any further sync echoes lazily in get()
            with self.messages.mutex:
                for m in reversed(held):
                    self.messages.queue.appendleft(m)

    def get(self, timeout=TIMEOUT):
        deadline = time.monotonic() + timeout
        while True:
            try:
                m = self.messages.get(timeout=max(0.001, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError("mosquitto_sub: no message within %.1f s" % timeout) \
                    from None
            if m is None:
                self.messages.put(None)
                raise AssertionError("mosquitto_sub exited: %s" % self.stderr())
            if m.topic != self.sync_topic:
                return m

    def stderr(self):
        if self.proc.poll() is None:
            return "(still running)"
        return self.proc.stderr.read().decode(errors="replace")

    def close(self):
        stop_process(self.proc)


# --------------------------------------------------------------------------------------------
# MQTT 5.0: properties, raw packet builders and parsers, a raw v5 client, a paho v5 client

AUTH = 15

# property identifiers
PAYLOAD_FORMAT_INDICATOR = 0x01
MESSAGE_EXPIRY_INTERVAL = 0x02
CONTENT_TYPE = 0x03
RESPONSE_TOPIC = 0x08
CORRELATION_DATA = 0x09
SUBSCRIPTION_IDENTIFIER = 0x0B
SESSION_EXPIRY_INTERVAL = 0x11
ASSIGNED_CLIENT_IDENTIFIER = 0x12
SERVER_KEEP_ALIVE = 0x13
AUTHENTICATION_METHOD = 0x15
AUTHENTICATION_DATA = 0x16
REQUEST_PROBLEM_INFORMATION = 0x17
WILL_DELAY_INTERVAL = 0x18
REQUEST_RESPONSE_INFORMATION = 0x19
RESPONSE_INFORMATION = 0x1A
SERVER_REFERENCE = 0x1C
REASON_STRING = 0x1F
RECEIVE_MAXIMUM = 0x21
TOPIC_ALIAS_MAXIMUM = 0x22
TOPIC_ALIAS = 0x23
MAXIMUM_QOS = 0x24
RETAIN_AVAILABLE = 0x25
USER_PROPERTY = 0x26
MAXIMUM_PACKET_SIZE = 0x27
WILDCARD_SUBSCRIPTION_AVAILABLE = 0x28
SUBSCRIPTION_IDENTIFIER_AVAILABLE = 0x29
SHARED_SUBSCRIPTION_AVAILABLE = 0x2A

_PROP_TYPES = {
    0x01: "byte", 0x02: "u32", 0x03: "str", 0x08: "str", 0x09: "bin", 0x0B: "varint",
    0x11: "u32", 0x12: "str", 0x13: "u16", 0x15: "str", 0x16: "bin", 0x17: "byte",
    0x18: "u32", 0x19: "byte", 0x1A: "str", 0x1C: "str", 0x1F: "str", 0x21: "u16",
    0x22: "u16", 0x23: "u16", 0x24: "byte", 0x25: "byte", 0x26: "pair", 0x27: "u32",
    0x28: "byte", 0x29: "byte", 0x2A: "byte",
}

SESSION_NEVER_EXPIRES = 0xFFFFFFFF


class Props(list):
    """MQTT 5 properties as a list of (identifier, value) pairs in wire order. Values: int,
    str (UTF-8 string), bytes (binary data) or (str, str) (user property)."""

    def get(self, ident, default=None):
        for k, v in self:
            if k == ident:
                return v
        return default

    def all(self, ident):
        return [v for k, v in self if k == ident]

    def has(self, ident):
        return any(k == ident for k, _ in self)

    def user(self):
        return self.all(USER_PROPERTY)


def _varint_decode(buf, pos):
    value, mult = 0, 1
    for i in range(4):
        if pos >= len(buf):
            raise AssertionError("truncated variable byte integer in %r" % (buf,))
        b = buf[pos]
        pos += 1
        value += (b & 0x7F) * mult
        mult *= 128
        if not b & 0x80:
            return value, pos
    raise AssertionError("malformed variable byte integer in %r" % (buf,))


def encode_props(props=()):
    """props: a list of (identifier, value) pairs (or a dict). Returns length + properties."""
    items = props.items() if isinstance(props, dict) else props
    out = b""
    for ident, value in items:
        kind = _PROP_TYPES[ident]
        out += varint(ident)
        if kind == "byte":
            out += bytes([value])
        elif kind == "u16":
            out += struct.pack("!H", value)
        elif kind == "u32":
            out += struct.pack("!I", value)
        elif kind == "varint":
            out += varint(value)
        elif kind == "bin":
            out += struct.pack("!H", len(value)) + bytes(value)
        elif kind == "str":
            out += mqtt_str(value)
        else:
            out += mqtt_str(value[0]) + mqtt_str(value[1])
    return varint(len(out)) + out


def decode_props(buf, pos=0):
    """Decode a property block at buf[pos:]; returns (Props, position after it)."""
    length, pos = _varint_decode(buf, pos)
    end = pos + length
    if end > len(buf):
        raise AssertionError("property length %d overruns the packet %r" % (length, buf))
    out = Props()

    def take_bin():
        nonlocal pos
        (n,) = struct.unpack("!H", buf[pos:pos + 2])
        v = bytes(buf[pos + 2:pos + 2 + n])
        pos += 2 + n
        return v

    while pos < end:
        ident, pos = _varint_decode(buf, pos)
        kind = _PROP_TYPES.get(ident)
        if kind is None:
            raise AssertionError("unknown property identifier 0x%02x in %r" % (ident, buf))
        if kind == "byte":
            v = buf[pos]
            pos += 1
        elif kind == "u16":
            (v,) = struct.unpack("!H", buf[pos:pos + 2])
            pos += 2
        elif kind == "u32":
            (v,) = struct.unpack("!I", buf[pos:pos + 4])
            pos += 4
        elif kind == "varint":
            v, pos = _varint_decode(buf, pos)
        elif kind == "bin":
            v = take_bin()
        elif kind == "str":
            v = take_bin().decode("utf-8")
        else:
            v = (take_bin().decode("utf-8"), take_bin().decode("utf-8"))
        out.append((ident, v))
    if pos != end:
        raise AssertionError("properties overrun their length in %r" % (buf,))
    return out, end


def connect5_packet(client_id="", clean_start=True, keepalive=60, props=(), will_topic=None,
                    will_payload=b"", will_qos=0, will_retain=False, will_props=(),
                    username=None, password=None):
    flags = 0x02 if clean_start else 0
    payload = mqtt_str(client_id)
    if will_topic is not None:
        flags |= 0x04 | (will_qos << 3) | (0x20 if will_retain else 0)
        payload += encode_props(will_props) + mqtt_str(will_topic) + mqtt_str(will_payload)
    if username is not None:
        flags |= 0x80
        payload += mqtt_str(username)
    if password is not None:
        flags |= 0x40
        payload += mqtt_str(password)
    body = mqtt_str("MQTT") + bytes([5, flags]) + struct.pack("!H", keepalive) + \
        encode_props(props) + payload
    return packet(0x10, body)


def publish5_packet(topic, payload=b"", qos=0, retain=False, dup=False, packet_id=None,
                    props=()):
    if isinstance(payload, str):
        payload = payload.encode()
    first = 0x30 | (qos << 1) | (0x01 if retain else 0) | (0x08 if dup else 0)
    body = mqtt_str(topic)
    if qos > 0:
        body += struct.pack("!H", packet_id if packet_id is not None else 1)
    return packet(first, body + encode_props(props) + payload)


def sub_options(qos=0, no_local=False, retain_as_published=False, retain_handling=0):
    """The subscription options byte of a v5 SUBSCRIBE."""
    return qos | (0x04 if no_local else 0) | (0x08 if retain_as_published else 0) | \
        (retain_handling << 4)


def subscribe5_packet(packet_id, filters, props=()):
    """filters: [(filter, options byte)] (see sub_options)."""
    body = struct.pack("!H", packet_id) + encode_props(props)
    for f, opts in filters:
        body += mqtt_str(f) + bytes([opts])
    return packet(0x82, body)


def unsubscribe5_packet(packet_id, filters, props=()):
    body = struct.pack("!H", packet_id) + encode_props(props)
    for f in filters:
        body += mqtt_str(f)
    return packet(0xA2, body)


def ack5_packet(ptype, packet_id, reason=0, props=()):
    """PUBACK/PUBREC/PUBREL/PUBCOMP; the short form when reason is 0 and there are no
    properties."""
    first = {PUBACK: 0x40, PUBREC: 0x50, PUBREL: 0x62, PUBCOMP: 0x70}[ptype]
    body = struct.pack("!H", packet_id)
    if reason or props:
        body += bytes([reason]) + (encode_props(props) if props else b"")
    return packet(first, body)


def disconnect5_packet(reason=0, props=()):
    if not reason and not props:
        return DISCONNECT_BYTES
    return packet(0xE0, bytes([reason]) + (encode_props(props) if props else b""))


def auth_packet(reason=0, props=()):
    return packet(0xF0, bytes([reason]) + encode_props(props))


Connack5 = collections.namedtuple("Connack5", "session_present reason props")
Publish5 = collections.namedtuple("Publish5", "topic payload qos retain dup pid props")


def parse_connack5(p):
    assert p.type == CONNACK and p.flags == 0, "expected CONNACK, got %r" % (p.raw[:32],)
    assert len(p.body) >= 2, "short CONNACK %r" % (p.raw,)
    assert p.body[0] in (0, 1), "CONNACK flags %r" % (p.raw,)
    props = Props()
    if len(p.body) > 2:
        props, end = decode_props(p.body, 2)
        assert end == len(p.body), "trailing bytes in CONNACK %r" % (p.raw,)
    return Connack5(p.body[0], p.body[1], props)


def parse_publish5(p):
    topic, qos, pid, pos = p.publish_head()
    props, pos = decode_props(p.body, pos)
    return Publish5(topic, bytes(p.body[pos:]), qos, p.flags & 1, (p.flags >> 3) & 1, pid, props)


def parse_ack5(p):
    """(packet id, reason code, Props) of a PUBACK/PUBREC/PUBREL/PUBCOMP."""
    assert p.type in (PUBACK, PUBREC, PUBREL, PUBCOMP), "expected an ack, got %r" % (p.raw,)
    (pid,) = struct.unpack("!H", p.body[:2])
    reason = p.body[2] if len(p.body) > 2 else 0
    props = decode_props(p.body, 3)[0] if len(p.body) > 3 else Props()
    return pid, reason, props


def parse_suback5(p):
    """(packet id, Props, [reason codes]) of a SUBACK or UNSUBACK."""
    assert p.type in (SUBACK, UNSUBACK), "expected SUBACK/UNSUBACK, got %r" % (p.raw,)
    (pid,) = struct.unpack("!H", p.body[:2])
    props, pos = decode_props(p.body, 2)
    return pid, props, list(p.body[pos:])


def parse_reason_packet(p):
    """(reason code, Props) of a DISCONNECT or AUTH (remaining length 0 means reason 0)."""
    assert p.type in (DISCONNECT, AUTH), "expected DISCONNECT/AUTH, got %r" % (p.raw[:32],)
    if not p.body:
        return 0, Props()
    props = decode_props(p.body, 1)[0] if len(p.body) > 1 else Props()
    return p.body[0], props


class RawClient5(RawClient):
    """A raw TCP client speaking MQTT 5.0 by hand."""

    def connect(self, client_id=None, expect_reason=0, timeout=TIMEOUT, **kwargs):
        """Send CONNECT (connect5_packet kwargs), read the CONNACK and return it as Connack5;
        assert its reason code unless expect_reason is None."""
        if client_id is None:
            client_id = unique_id("r5")
        self.client_id = client_id
        self.send(connect5_packet(client_id, **kwargs))
        p = self.read_packet(timeout)
        ack = parse_connack5(p)
        if expect_reason is not None and ack.reason != expect_reason:
            raise AssertionError("CONNACK reason 0x%02x, expected 0x%02x (%r)"
                                 % (ack.reason, expect_reason, p.raw))
        return ack

    def _expect(self, ptype, pid, timeout):
        p = self._read_ack(timeout)
        assert p.type == ptype, "expected packet type %d, got %r" % (ptype, p.raw[:32])
        return p

    def subscribe(self, filters, props=(), timeout=TIMEOUT):
        """filters: a filter string (QoS 0) or [(filter, options byte)]. Returns the SUBACK
        reason codes."""
        if isinstance(filters, str):
            filters = [(filters, 0)]
        pid = self.new_id()
        self.send(subscribe5_packet(pid, filters, props))
        got_pid, _, codes = parse_suback5(self._expect(SUBACK, pid, timeout))
        assert got_pid == pid, "SUBACK for packet id %d, sent %d" % (got_pid, pid)
        return codes

    def unsubscribe(self, filters, props=(), timeout=TIMEOUT):
        if isinstance(filters, str):
            filters = [filters]
        pid = self.new_id()
        self.send(unsubscribe5_packet(pid, filters, props))
        got_pid, _, codes = parse_suback5(self._expect(UNSUBACK, pid, timeout))
        assert got_pid == pid, "UNSUBACK for packet id %d, sent %d" % (got_pid, pid)
        return codes

    def publish(self, topic, payload=b"", qos=0, retain=False, props=(), timeout=TIMEOUT,
                expect_reason=None):
        """Publish and complete the QoS flow; returns the PUBACK/PUBREC reason code (None for
        QoS 0). With expect_reason set, assert it. A PUBREC reason >= 0x80 ends the flow."""
        pid = self.new_id() if qos else None
        self.send(publish5_packet(topic, payload, qos, retain, packet_id=pid, props=props))
        if qos == 0:
            return None
        ack = self._read_ack(timeout)
        got_pid, reason, _ = parse_ack5(ack)
        assert ack.type == (PUBACK if qos == 1 else PUBREC) and got_pid == pid, \
            "expected %s for %d, got %r" % ("PUBACK" if qos == 1 else "PUBREC", pid, ack.raw)
        if expect_reason is not None:
            assert reason == expect_reason, "%s reason 0x%02x, expected 0x%02x" % (
                "PUBACK" if qos == 1 else "PUBREC", reason, expect_reason)
        if qos == 2 and reason < 0x80:
            self.send(ack5_packet(PUBREL, pid))
            comp = self._read_ack(timeout)
            assert comp.type == PUBCOMP and parse_ack5(comp)[:2] == (pid, 0), \
                "expected PUBCOMP for %d, got %r" % (pid, comp.raw)
        return reason

    def receive_publish(self, timeout=TIMEOUT, ack=True):
        """The next PUBLISH as a Publish5; with ack=True acknowledge it (PUBACK / PUBREC) and
        answer PUBRELs met on the way with PUBCOMP."""
        deadline = time.monotonic() + timeout
        while True:
            p = self.read_packet(max(0.001, deadline - time.monotonic()))
            if p.type == PUBREL and ack:
                assert p.flags == 2, "malformed PUBREL %r" % (p.raw,)
                self.send(ack5_packet(PUBCOMP, parse_ack5(p)[0]))
                continue
            m = parse_publish5(p)
            if ack and m.qos == 1:
                self.send(ack5_packet(PUBACK, m.pid))
            elif ack and m.qos == 2:
                self.send(ack5_packet(PUBREC, m.pid))
            return m

    def receive_publishes(self, n, timeout=TIMEOUT, ack=True):
        deadline = time.monotonic() + timeout
        return [self.receive_publish(max(0.001, deadline - time.monotonic()), ack=ack)
                for _ in range(n)]

    def expect_disconnect(self, reason=None, timeout=TIMEOUT):
        """Read until the server's DISCONNECT (PUBLISH packets before it are skipped), then
        wait for the close. Returns (reason, Props); asserts the reason when given."""
        deadline = time.monotonic() + timeout
        while True:
            p = self.read_packet(max(0.001, deadline - time.monotonic()))
            if p.type != PUBLISH:
                break
        assert p.type == DISCONNECT, "expected DISCONNECT, got %r" % (p.raw[:32],)
        got = parse_reason_packet(p)
        if reason is not None and got[0] != reason:
            raise AssertionError("DISCONNECT reason 0x%02x, expected 0x%02x (%r)"
                                 % (got[0], reason, p.raw))
        self.wait_closed(max(0.001, deadline - time.monotonic()))
        return got

    def disconnect(self, reason=0, props=(), close=True, wait=True):
        """Send DISCONNECT. With wait=True (default) wait until the server closes the
        connection, so that it has processed the DISCONNECT before the test goes on (a
        publish right after could otherwise still go to this connection). Then close the
        socket unless close=False."""
        try:
            self.send(disconnect5_packet(reason, props))
            if wait:
                self.wait_closed()
        except OSError:
            pass
        if close:
            self.close()


def raw5(testcase, port=None, **kwargs):
    """A RawClient5 closed at the end of the test (BrokerTestCase helper)."""
    c = RawClient5(port or testcase.port, **kwargs)
    testcase.addCleanup(c.close)
    return c


# paho (MQTT 5)

from paho.mqtt.packettypes import PacketTypes  # noqa: E402
from paho.mqtt.properties import Properties  # noqa: E402
from paho.mqtt.reasoncodes import ReasonCodes  # noqa: E402
from paho.mqtt.subscribeoptions import SubscribeOptions  # noqa: E402

MsgV5 = collections.namedtuple("MsgV5", "topic payload qos retain dup mid props")


def paho_props(packet_type, values):
    """A paho Properties from a dict {"ContentType": "x", "UserProperty": [("k", "v")], ...}."""
    if values is None:
        return None
    p = Properties(packet_type)
    for name, value in values.items():
        setattr(p, name, value)
    return p


def props_dict(properties):
    """paho Properties -> {"ContentType": ..., "UserProperty": [(k, v), ...], ...}."""
    if properties is None:
        return {}
    return {k: (list(v) if isinstance(v, list) else v) for k, v in properties.json().items()
            if k != "CorrelationData"} | (
        {"CorrelationData": bytes(properties.CorrelationData)}
        if hasattr(properties, "CorrelationData") else {})


class PahoV5Client(PahoClient):
    """A paho MQTT 5.0 client (loop in a thread); messages arrive as MsgV5 with a props dict.

    connect_props / will props are dicts of paho property names (see paho_props).
    will = (topic, payload, qos, retain) or (topic, payload, qos, retain, props dict).
    """

    def __init__(self, port, client_id=None, clean_start=True, keepalive=60,
                 session_expiry=None, connect_props=None, will=None, connect=True,
                 expect_rc=0, timeout=TIMEOUT, username=None, password=None):
        self.port = port
        self.client_id = unique_id("p5") if client_id is None else client_id
        self.timeout = timeout
        self.messages = queue.Queue()
        self.connected = threading.Event()
        self.disconnected = threading.Event()
        self.connack_flags = None
        self.connack_rc = None
        self.connack_props = {}
        self.disconnect_rc = None
        self.disconnect_props = {}
        self._acks = {}
        self._lock = threading.Lock()
        self._loop_started = False
        self.clean_start = clean_start
        self.connect_props = dict(connect_props or {})
        if session_expiry is not None:
            self.connect_props["SessionExpiryInterval"] = session_expiry
        self.client = mqtt.Client(client_id=self.client_id, protocol=mqtt.MQTTv5,
                                  reconnect_on_failure=False)
        if username is not None:
            self.client.username_pw_set(username, password)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe
        self.client.on_unsubscribe = self._on_unsubscribe
        if will is not None:
            topic, payload, qos, retain = will[:4]
            wprops = paho_props(PacketTypes.WILLMESSAGE, will[4]) if len(will) > 4 else None
            self.client.will_set(topic, payload, qos, retain, properties=wprops)
        self.keepalive = keepalive
        if connect:
            self.connect(expect_rc=expect_rc)

    def _on_connect(self, client, userdata, flags, reason, properties=None):
        self.connack_flags = dict(flags)
        self.connack_props = props_dict(properties)
        self.connack_rc = getattr(reason, "value", reason)
        self.connected.set()

    def _on_disconnect(self, client, userdata, rc, properties=None):
        self.disconnect_rc = getattr(rc, "value", rc)
        self.disconnect_props = props_dict(properties)
        self.disconnected.set()

    def _on_message(self, client, userdata, m):
        self.messages.put(MsgV5(m.topic, bytes(m.payload), m.qos, int(bool(m.retain)),
                                int(bool(m.dup)), m.mid,
                                props_dict(getattr(m, "properties", None))))

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties=None):
        ev = self._ack_event(mid)
        ev[1] = [getattr(rc, "value", rc) for rc in reason_codes]
        ev[0].set()

    def _on_unsubscribe(self, client, userdata, mid, properties=None, reason_codes=None):
        ev = self._ack_event(mid)
        if reason_codes is not None and not isinstance(reason_codes, list):
            reason_codes = [reason_codes]
        ev[1] = [getattr(rc, "value", rc) for rc in (reason_codes or [])]
        ev[0].set()

    def connect(self, expect_rc=0):
        self.connected.clear()
        self.disconnected.clear()
        self.client.connect(HOST, self.port, self.keepalive, clean_start=self.clean_start,
                            properties=paho_props(PacketTypes.CONNECT, self.connect_props or None))
        self.client.loop_start()
        self._loop_started = True
        if not self.connected.wait(self.timeout):
            raise AssertionError("client %s: no CONNACK within %.1f s"
                                 % (self.client_id, self.timeout))
        if expect_rc is not None and self.connack_rc != expect_rc:
            raise AssertionError("client %s: CONNACK reason %s, expected %s"
                                 % (self.client_id, self.connack_rc, expect_rc))
        return self

    def subscribe(self, topic, qos=0, no_local=False, retain_as_published=False,
                  retain_handling=0, sub_id=None, props=None):
        """Subscribe to one filter (or a list of (filter, SubscribeOptions)); wait for the
        SUBACK; return its reason codes."""
        sp = dict(props or {})
        if sub_id is not None:
            sp["SubscriptionIdentifier"] = sub_id
        properties = paho_props(PacketTypes.SUBSCRIBE, sp) if sp else None
        if isinstance(topic, str):
            opts = SubscribeOptions(qos=qos, noLocal=no_local,
                                    retainAsPublished=retain_as_published,
                                    retainHandling=retain_handling)
            rc, mid = self.client.subscribe(topic, options=opts, properties=properties)
        else:
            rc, mid = self.client.subscribe(list(topic), properties=properties)
        return self._wait_ack(rc, mid, "SUBACK")

    def unsubscribe(self, topic):
        """Unsubscribe (a filter or a list); return the UNSUBACK reason codes."""
        rc, mid = self.client.unsubscribe(topic)
        return self._wait_ack(rc, mid, "UNSUBACK")

    def publish(self, topic, payload=b"", qos=0, retain=False, wait=True, props=None):
        """Publish with a dict of paho PUBLISH property names (see paho_props)."""
        info = self.client.publish(topic, payload, qos, retain,
                                   properties=paho_props(PacketTypes.PUBLISH, props))
        assert info.rc == mqtt.MQTT_ERR_SUCCESS, "publish failed locally: rc=%s" % info.rc
        if wait:
            self.wait_published(info)
        return info

    def disconnect(self, reason=0, props=None):
        """DISCONNECT with a reason code (and a dict of properties), wait for the close."""
        if self.connected.is_set() and not self.disconnected.is_set():
            rc = ReasonCodes(PacketTypes.DISCONNECT, identifier=reason) if reason else None
            self.client.disconnect(reasoncode=rc,
                                   properties=paho_props(PacketTypes.DISCONNECT, props))
            self.disconnected.wait(self.timeout)
        self.stop_loop()


def paho5(testcase, client_id=None, **kwargs):
    """A PahoV5Client closed at the end of the test (BrokerTestCase helper)."""
    kwargs.setdefault("port", testcase.port)
    c = PahoV5Client(client_id=client_id, **kwargs)
    testcase.addCleanup(c.close)
    return c


class V5TestCase(BrokerTestCase):
    """BrokerTestCase with MQTT 5 client helpers (closed before the broker stops)."""

    def raw5(self, port=None, **kwargs):
        return raw5(self, port, **kwargs)

    def paho5(self, client_id=None, **kwargs):
        return paho5(self, client_id, **kwargs)


def run_tests():
    """unittest.main for a test file, printing the flavor first."""
    sys.stderr.write("broker flavor: %s\n" % flavor())
    unittest.main(verbosity=2)
