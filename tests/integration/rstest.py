"""Shared helpers for ringsync's integration tests (Python standard library).

Processes started here are tracked and stopped by PID when the test ends,
also when it fails; every wait polls for a condition with a deadline.
"""
import os
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

SOURCE_DIR = os.environ.get(
    "RINGSYNC_SOURCE_DIR",
    os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
RINGSYNCD = os.environ.get("RINGSYNCD", "ringsyncd")
RINGSYNCCTL = os.environ.get("RINGSYNCCTL", "ringsyncctl")


def wait_for(cond, timeout=30.0, what="condition"):
    """Poll cond() until it returns a true value; fail after timeout s."""
    deadline = time.monotonic() + timeout
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

    def __init__(self, argv, log_path, env=None):
        self.log_path = log_path
        self.log = open(log_path, "ab")
        self.p = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT,
                                  stdin=subprocess.DEVNULL, env=env)
        self.pid = self.p.pid

    def output(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def wait_output(self, text, timeout=30.0, start=0):
        return wait_for(lambda: text in self.output()[start:], timeout,
                        "%r in the output of pid %d" % (text, self.pid))

    def signal(self, sig):
        if self.p.poll() is None:
            os.kill(self.pid, sig)

    def wait(self, timeout=30.0):
        return self.p.wait(timeout)

    def stop(self):
        """Stop by PID: TERM, then KILL after 10 s. Idempotent."""
        if self.p.poll() is None:
            os.kill(self.pid, signal.SIGTERM)
            try:
                self.p.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                self.p.wait()
        self.log.close()


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

    def start(self, argv, name, env=None):
        p = Proc(argv, os.path.join(self.tmp, name + ".log"), env)
        self.procs.append(p)
        return p

    def write(self, name, text, mode=0o600):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write(text)
        os.chmod(path, mode)
        return path

    def run_cmd(self, argv, env=None):
        r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           stdin=subprocess.DEVNULL, env=env, timeout=120)
        return r.returncode, r.stdout.decode("utf-8", "replace")
