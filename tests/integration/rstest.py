"""Shared helpers for ringsync's integration tests (Python standard library).

Processes started here are tracked and stopped by PID when the test ends,
also when it fails; every wait polls for a condition with a deadline.
"""
import atexit
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.request

SOURCE_DIR = os.environ.get(
    "RINGSYNC_SOURCE_DIR",
    os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
RINGSYNCD = os.environ.get("RINGSYNCD", "ringsyncd")
RINGSYNCCTL = os.environ.get("RINGSYNCCTL", "ringsyncctl")

# RINGSYNC_WRAPPER (e.g. "valgrind --error-exitcode=99 ...") runs our own
# binaries through a tool; RINGSYNC_TIMEOUT_SCALE stretches every wait of
# the tests for it (valgrind makes them 10-50 times slower).
WRAPPER = shlex.split(os.environ.get("RINGSYNC_WRAPPER", ""))
TIMEOUT_SCALE = float(os.environ.get("RINGSYNC_TIMEOUT_SCALE") or 1)
_OURS = ("ringsyncd", "ringsyncctl", "ad_driver")


def wrap(argv):
    """argv through RINGSYNC_WRAPPER when it starts one of our binaries."""
    argv = list(argv)
    if WRAPPER and argv and os.path.basename(argv[0]) in _OURS:
        return WRAPPER + argv
    return argv


_live = []   # every Proc not yet stopped


def _stop_leftovers():
    for p in list(_live):
        p.stop()


# A test run stopped by SIGTERM (ctest's timeout) still stops what it started.
atexit.register(_stop_leftovers)
signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))


def wait_for(cond, timeout=30.0, what="condition"):
    """Poll cond() until it returns a true value; fail after timeout s."""
    deadline = time.monotonic() + timeout * TIMEOUT_SCALE
    delay = 0.01
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for " + what)
        time.sleep(delay)
        delay = min(delay * 2, 0.2)


class Proc:
    """A started program whose stdout+stderr go to a file we can poll."""

    def __init__(self, argv, log_path, env=None, stdin=False):
        self.log_path = log_path
        self.log = open(log_path, "ab")
        self.p = subprocess.Popen(wrap(argv), stdout=self.log, stderr=subprocess.STDOUT,
                                  stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                                  env=env)
        self.pid = self.p.pid
        _live.append(self)

    def output(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def wait_output(self, text, timeout=30.0, start=0):
        return wait_for(lambda: text in self.output()[start:], timeout,
                        "%r in the output of pid %d" % (text, self.pid))

    def send(self, text):
        """Type text on the program's standard input (start(stdin=True))."""
        self.p.stdin.write(text.encode())
        self.p.stdin.flush()

    def signal(self, sig):
        if self.p.poll() is None:
            os.kill(self.pid, sig)

    def wait(self, timeout=30.0):
        return self.p.wait(timeout * TIMEOUT_SCALE)

    def stop(self):
        """Stop by PID: TERM, then KILL after 10 s (scaled). Idempotent."""
        if self.p.poll() is None:
            os.kill(self.pid, signal.SIGTERM)
            try:
                self.p.wait(10 * TIMEOUT_SCALE)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                self.p.wait()
        if self.p.stdin is not None:
            self.p.stdin.close()
        self.log.close()
        if self in _live:
            _live.remove(self)


class TestCase(unittest.TestCase):
    """A test with a private temporary directory and process cleanup."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="ringsync-it.")
        os.chmod(self.tmp, 0o700)
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.procs = []
        self.addCleanup(self._stop_all)

    def _stop_all(self):
        for p in reversed(self.procs):
            p.stop()

    def start(self, argv, name, env=None, stdin=False):
        p = Proc(argv, os.path.join(self.tmp, name + ".log"), env, stdin)
        self.procs.append(p)
        return p

    def once(self, conf, *args, expect=0):
        """ringsyncd --once: its exit status is expect, its output holds
        no secret of the emulator's; the output."""
        rc, out = self.run_cmd([RINGSYNCD, "--once", "-c", conf] + list(args))
        self.assertEqual(rc, expect, out)
        for secret in (FAKE_JWT, FAKE_CLIENT_SECRET):
            self.assertNotIn(secret, out)
        return out

    def write(self, name, text, mode=0o600):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, mode)
        return path

    def run_cmd(self, argv, env=None):
        r = subprocess.run(wrap(argv), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           stdin=subprocess.DEVNULL, env=env, timeout=120 * TIMEOUT_SCALE)
        return r.returncode, r.stdout.decode("utf-8", "replace")


class StallProxy:
    """A TCP forwarder on loopback in front of a server (the DC) that a test
    can freeze: while frozen nothing is forwarded either way, so a request
    the client sends stays unanswered; `held` counts the bytes clients sent
    meanwhile (a request in flight). thaw() forwards what was held. Closed
    with the test."""

    def __init__(self, test, port, host="127.0.0.1"):
        self.target = (host, port)
        self.cond = threading.Condition()
        self.frozen = False
        self.closed = False
        self.held = 0
        self.socks = []
        self.listener = socket.create_server((host, 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()
        test.addCleanup(self.close)

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
                server = socket.create_connection(self.target, timeout=10)
                server.settimeout(None)
            except OSError:
                return
            with self.cond:
                self.socks += [client, server]
            threading.Thread(target=self._pump, args=(client, server, True),
                             daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, False),
                             daemon=True).start()

    def _pump(self, src, dst, upstream):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                with self.cond:
                    if self.frozen and upstream:
                        self.held += len(data)
                        self.cond.notify_all()
                    while self.frozen and not self.closed:
                        self.cond.wait()
                    if self.closed:
                        break
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def freeze(self):
        with self.cond:
            self.frozen = True
            return self.held

    def thaw(self):
        with self.cond:
            self.frozen = False
            self.cond.notify_all()

    def wait_held(self, more_than, timeout=30.0):
        """Wait until clients sent more than `more_than` bytes while frozen."""
        return wait_for(lambda: self.held > more_than, timeout,
                        "a request held by the frozen proxy")

    def close(self):
        with self.cond:
            self.closed = True
            self.cond.notify_all()
            socks, self.socks = self.socks, []
        self.listener.close()
        for s in socks:
            s.close()


EMULATOR = os.path.join(SOURCE_DIR, "tests", "emulator", "ringemu.py")
FAKE_CLIENT_SECRET = "fake-client-secret-emu"
FAKE_JWT = "fake.jwt.credential-emu"


class Emulator:
    """The phone-API emulator on loopback, stopped by PID with the test."""

    def __init__(self, test, name="emu", seed=None, args=()):
        d = os.path.join(test.tmp, name)
        os.makedirs(d, mode=0o700)
        self.secret_file = os.path.join(d, "client.secret")
        self.jwt_file = os.path.join(d, "jwt.secret")
        for path, text in ((self.secret_file, FAKE_CLIENT_SECRET),
                           (self.jwt_file, FAKE_JWT)):
            with open(path, "w") as f:
                f.write(text)
            os.chmod(path, 0o600)
        port_file = os.path.join(d, "port")
        argv = ["/usr/bin/python3", EMULATOR, "--listen", "127.0.0.1:0",
                "--port-file", port_file, "--client-id", "ringsync-test",
                "--client-secret-file", self.secret_file, "--jwt-file",
                self.jwt_file] + list(args)
        if seed is not None:
            seed_file = os.path.join(d, "seed.json")
            with open(seed_file, "w") as f:
                json.dump(seed, f)
            argv += ["--seed", seed_file]
        self.proc = test.start(argv, name)
        self.port = int(wait_for(lambda: _read(port_file), 30, "the emulator's port"))
        self.url = "http://127.0.0.1:%d" % self.port

    def call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read().decode() or "null")

    def state(self):
        return self.call("GET", "/_emu/state")

    def log(self, since=0):
        return self.call("GET", "/_emu/log?since=%d" % since)["requests"]

    def last_seq(self):
        log = self.log()
        return log[-1]["seq"] if log else 0

    def users_by_email(self):
        """Extensions that are users (not Unassigned), by lower-cased email."""
        out = {}
        for x in self.state()["extensions"]:
            email = (x.get("contact") or {}).get("email")
            if x["status"] != "Unassigned" and email:
                out.setdefault(email.lower(), []).append(x)
        return out


def _read(path):
    try:
        with open(path) as f:
            return f.read().strip() or None
    except FileNotFoundError:
        return None
