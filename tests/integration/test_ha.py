"""High availability (issue #20): the OCF resource agent
(packaging/ocf/ringsyncd) on its own and with ocf-tester, a real one-node
Pacemaker + Corosync cluster on loopback managing it, and a failover onto
a node with an empty store against a Samba AD DC and the emulator.

    test_ha.py -v AgentTest      ocf-tester and the agent's actions
    test_ha.py -v ClusterTest    Pacemaker starts, monitors, restarts, stops
    test_ha.py -v FailoverTest   node A killed mid-run, node B takes over

Each class needs root and its Debian packages (tests/deps.sh); without them
the program exits 77 (skipped)."""
import collections
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

import rstest
import samba_fixture
from rstest import RINGSYNCD, RINGSYNCCTL, SOURCE_DIR

AGENT = os.path.join(SOURCE_DIR, "packaging", "ocf", "ringsyncd")
OCF_ROOT = "/usr/lib/ocf"
RA_DTD = "/usr/share/resource-agents/ra-api-1.dtd"
# OCF return codes
OK, ERR_GENERIC, ERR_INSTALLED, ERR_CONFIGURED, NOT_RUNNING = 0, 1, 5, 6, 7


def program(name):
    """The absolute path of one of our binaries (RINGSYNCD may be a name)."""
    return os.path.abspath(shutil.which(name) or name)


def proc_comm(pid):
    try:
        with open("/proc/%d/comm" % pid) as f:
            return f.read().strip()
    except OSError:
        return None


def proc_alive(pid):
    """pid runs and is not a zombie waiting to be reaped."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return False


def lock_pid(state_dir):
    """The pid in state_dir/ringsyncd.lock when that process runs as
    ringsyncd and holds the lock file open (ours, not a reused pid)."""
    path = os.path.join(state_dir, "ringsyncd.lock")
    try:
        with open(path) as f:
            pid = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    if proc_comm(pid) != "ringsyncd" or not proc_alive(pid):
        return None
    try:
        fds = os.listdir("/proc/%d/fd" % pid)
    except OSError:
        return None
    for fd in fds:
        try:
            if os.readlink("/proc/%d/fd/%s" % (pid, fd)) == path:
                return pid
        except OSError:
            pass
    return None


def kill_daemon(state_dir):
    """Stop a detached daemon on state_dir by its pid (cleanup after a
    failure: the agent's daemons are no children of the test)."""
    pid = lock_pid(state_dir)
    if pid is None:
        return
    os.kill(pid, signal.SIGTERM)
    try:
        rstest.wait_for(lambda: not proc_alive(pid), 15, "ringsyncd %d to stop" % pid)
    except AssertionError:
        os.kill(pid, signal.SIGKILL)


class AgentBase(rstest.TestCase):
    """A ringsyncd configuration that starts without a DC: AD unreachable
    (port 1), the phone side the emulator; READY needs only the
    configuration and the store."""

    def daemon_conf(self, extra=""):
        self.emu = rstest.Emulator(self)
        ldap = self.write("ldap.secret", "fake-ldap-password-ha\n")
        self.state = os.path.join(self.tmp, "state")
        self.addCleanup(kill_daemon, self.state)
        return self.write("ringsyncd.conf", (
            "[ldap]\nuri = ldaps://127.0.0.1:1\nbase_dn = DC=example,DC=test\n"
            "bind_dn = CN=svc,DC=example,DC=test\nbind_password_file = %s\n"
            "[telephony]\nclient_id = ringsync-test\nclient_secret_file = %s\n"
            "jwt_file = %s\nserver = %s\nchange_feed = no\n"
            "[sync]\nstate_dir = %s\ninterval = 1h\n%s") % (
                ldap, self.emu.secret_file, self.emu.jwt_file, self.emu.url,
                self.state, extra), 0o644)

    def params(self, conf, **more):
        p = {"config": conf, "binary": program(RINGSYNCD), "ctl": program(RINGSYNCCTL),
             "user": ""}
        p.update(more)
        return p


class AgentTest(AgentBase):

    def agent(self, action, params):
        env = dict(os.environ, OCF_ROOT=OCF_ROOT)
        env.update({"OCF_RESKEY_" + k: v for k, v in params.items()})
        r = subprocess.run([AGENT, action], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                           timeout=120 * rstest.TIMEOUT_SCALE)
        return r.returncode, r.stdout.decode("utf-8", "replace")

    def test_meta_data(self):
        rc, xml = self.agent("meta-data", {})
        self.assertEqual(rc, OK, xml)
        path = self.write("meta.xml", xml)
        r = subprocess.run(["xmllint", "--noout", "--dtdvalid", RA_DTD, path],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.assertEqual(r.returncode, 0, r.stdout.decode())
        names = re.findall(r'<parameter name="([a-z_]+)"', xml)
        self.assertEqual(names, ["config", "binary", "ctl", "user", "critical_is_failure"])
        actions = dict(re.findall(r'<action name="([a-z-]+)" timeout="(\d+)s"', xml))
        self.assertEqual(sorted(actions), ["meta-data", "monitor", "start", "stop",
                                           "validate-all"])
        self.assertGreaterEqual(int(actions["start"]), 60)
        self.assertIn('default="/etc/ringsync/ringsyncd.conf"', xml)

    def test_ocf_tester(self):
        conf = self.daemon_conf()
        argv = ["ocf-tester", "-n", "ringsync"]
        for k, v in self.params(conf).items():
            argv += ["-o", "%s=%s" % (k, v)]
        # ocf-tester runs the agent as nobody too (its permission check):
        # a copy on a path anyone may traverse (a clone may be under a 0700
        # directory), removed with the test.
        public = tempfile.mkdtemp(prefix="ringsync-ocf.")
        self.addCleanup(shutil.rmtree, public, True)
        os.chmod(public, 0o755)
        agent = os.path.join(public, "ringsyncd")
        shutil.copy(AGENT, agent)
        os.chmod(agent, 0o755)
        rc, out = self.run_cmd(argv + [agent],
                               env=dict(os.environ, OCF_ROOT=OCF_ROOT))
        self.assertEqual(rc, 0, out)
        self.assertIn("passed all tests", out)
        self.assertIsNone(lock_pid(self.state))

    def test_actions(self):
        conf = self.daemon_conf()
        p = self.params(conf)
        self.assertEqual(self.agent("validate-all", p)[0], OK)
        self.assertEqual(self.agent("monitor", p)[0], NOT_RUNNING)
        self.assertEqual(self.agent("stop", p)[0], OK)        # stopped stays stopped
        rc, out = self.agent("start", p)
        self.assertEqual(rc, OK, out)
        pid = lock_pid(self.state)
        self.assertIsNotNone(pid)
        self.assertEqual(self.agent("start", p)[0], OK)       # already running
        self.assertEqual(lock_pid(self.state), pid)
        # A fresh daemon with AD unreachable is CRITICAL (no scan yet): running
        # by default, a failure with critical_is_failure.
        rc, out = self.agent("monitor", p)
        self.assertEqual(rc, OK, out)
        self.assertIn("status CRITICAL", out)
        rc, out = self.agent("monitor", dict(p, critical_is_failure="true"))
        self.assertEqual(rc, ERR_GENERIC, out)
        # A configuration broken under a running daemon: still running.
        with open(conf) as f:
            good = f.read()
        with open(conf, "a") as f:
            f.write("intervall = 5m\n")
        rc, out = self.agent("monitor", p)
        self.assertEqual(rc, OK, out)
        self.assertEqual(self.agent("validate-all", p)[0], ERR_CONFIGURED)
        with open(conf, "w") as f:
            f.write(good)
        # SIGKILL: not running (the lock file still names the dead pid).
        os.kill(pid, signal.SIGKILL)
        rstest.wait_for(lambda: not proc_alive(pid), 30, "the killed daemon to go")
        rc, out = self.agent("monitor", p)
        self.assertEqual(rc, NOT_RUNNING, out)
        self.assertEqual(self.agent("start", p)[0], OK)
        pid = lock_pid(self.state)
        t = time.monotonic()
        rc, out = self.agent("stop", p)
        self.assertEqual(rc, OK, out)
        self.assertLess(time.monotonic() - t, 12 * rstest.TIMEOUT_SCALE)
        self.assertFalse(proc_alive(pid))
        self.assertEqual(self.agent("monitor", p)[0], NOT_RUNNING)

    def test_errors(self):
        conf = self.daemon_conf()
        p = self.params(conf)
        with open(conf) as f:
            bad = self.write("bad.conf", f.read() + "intervall = 5m\n", 0o644)
        rc, out = self.agent("validate-all", dict(p, config=bad))
        self.assertEqual(rc, ERR_CONFIGURED, out)
        self.assertIn("unknown key 'intervall'", out)
        self.assertEqual(self.agent("start", dict(p, config=bad))[0], ERR_CONFIGURED)
        self.assertEqual(self.agent("validate-all", dict(p, binary="/nonexistent"))[0],
                         ERR_INSTALLED)
        missing = os.path.join(self.tmp, "missing.conf")
        self.assertEqual(self.agent("validate-all", dict(p, config=missing))[0],
                         ERR_INSTALLED)
        # A probe (monitor, interval 0) on a node without the file: not running.
        self.assertEqual(self.agent("monitor", dict(p, config=missing))[0], NOT_RUNNING)
        self.assertIsNone(lock_pid(self.state))


# --------------------------------------------------------------------------
# A one-node cluster on loopback.

# What corosync and Pacemaker write outside the test's directory (their
# paths are built in): saved before, restored after.
CLUSTER_STATE = ["/var/lib/pacemaker/cib", "/var/lib/pacemaker/pengine",
                 "/var/lib/pacemaker/blackbox", "/var/lib/pacemaker/cores",
                 "/var/lib/corosync"]
CRMSH_LOG = "/var/log/crmsh/crmsh.log"
RUN_DIR = "/run/crm"        # Pacemaker's runtime directory
PROVIDER_DIR = os.path.join(OCF_ROOT, "resource.d", "ringsync")
COROSYNC_CONF = """totem {
    version: 2
    cluster_name: ringsync-ha-test
    transport: knet
    crypto_cipher: none
    crypto_hash: none
}
nodelist {
    node {
        ring0_addr: 127.0.0.1
        name: %(node)s
        nodeid: 1
    }
}
quorum {
    provider: corosync_votequorum
}
logging {
    to_logfile: yes
    logfile: %(dir)s/corosync.log
    to_stderr: yes
    to_syslog: no
    timestamp: on
}
"""


def running_by_name(names):
    """pids of processes with these names (a cluster this test must not touch)."""
    found = []
    for d in os.listdir("/proc"):
        if d.isdigit() and proc_comm(int(d)) in names and proc_alive(int(d)):
            found.append(int(d))
    return found


class ClusterTest(AgentBase):

    def setUp(self):
        super().setUp()
        self.cdir = os.path.join(self.tmp, "cluster")
        os.makedirs(self.cdir)
        self.save_system_state()
        self.install_agent()
        self.start_cluster()

    # -- what the test changes outside its directory, put back after ------
    def save_system_state(self):
        backup = os.path.join(self.cdir, "saved")
        os.makedirs(backup)
        for i, d in enumerate(CLUSTER_STATE):
            if os.path.isdir(d):
                shutil.copytree(d, os.path.join(backup, str(i)), symlinks=True)
        log_size = os.path.getsize(CRMSH_LOG) if os.path.exists(CRMSH_LOG) else None
        had_run_dir = os.path.isdir(RUN_DIR)

        def restore():
            for i, d in enumerate(CLUSTER_STATE):
                saved = os.path.join(backup, str(i))
                if not os.path.isdir(saved) or not os.path.isdir(d):
                    continue
                for name in os.listdir(d):
                    path = os.path.join(d, name)
                    if os.path.isdir(path) and not os.path.islink(path):
                        shutil.rmtree(path, True)
                    else:
                        os.unlink(path)
                for name in os.listdir(saved):
                    src = os.path.join(saved, name)
                    if os.path.isdir(src) and not os.path.islink(src):
                        shutil.copytree(src, os.path.join(d, name), symlinks=True)
                    else:
                        shutil.copy2(src, os.path.join(d, name), follow_symlinks=False)
            if log_size is None:
                if os.path.exists(CRMSH_LOG):
                    os.unlink(CRMSH_LOG)
            elif os.path.exists(CRMSH_LOG):
                os.truncate(CRMSH_LOG, log_size)
            if not had_run_dir:
                shutil.rmtree(RUN_DIR, True)
        self.addCleanup(restore)

    def install_agent(self):
        """ocf:ringsync:ringsyncd is the source tree's agent for the test;
        an installed one is moved aside and put back."""
        target = os.path.join(PROVIDER_DIR, "ringsyncd")
        made_dir = not os.path.isdir(PROVIDER_DIR)
        aside = os.path.join(self.cdir, "installed-agent")
        if made_dir:
            os.makedirs(PROVIDER_DIR)
        elif os.path.lexists(target):
            shutil.move(target, aside)
        os.symlink(AGENT, target)

        def restore():
            if os.path.lexists(target):
                os.unlink(target)
            if os.path.lexists(aside):
                shutil.move(aside, target)
            if made_dir:
                os.rmdir(PROVIDER_DIR)
        self.addCleanup(restore)

    # -- the cluster ------------------------------------------------------
    def start_cluster(self):
        conf = os.path.join(self.cdir, "corosync.conf")
        with open(conf, "w") as f:
            f.write(COROSYNC_CONF % {"node": os.uname().nodename, "dir": self.cdir})
        self.env = dict(os.environ, HOME=self.cdir,
                        PCMK_logfile=os.path.join(self.cdir, "pacemaker.log"),
                        PCMK_logfacility="none")
        self.corosync = self.start(["corosync", "-f", "-c", conf], "corosync")
        self.addCleanup(self.stop_daemon, self.corosync, 60)
        self.pacemakerd = self.start(["pacemakerd", "-f"], "pacemakerd", env=self.env)
        self.addCleanup(self.stop_daemon, self.pacemakerd, 180)
        # The DC elects itself once its election timer runs out (about 20 s).
        rstest.wait_for(lambda: re.search(r'<current_dc present="true"[^>]*'
                                          r'with_quorum="true"', self.mon()), 120,
                        "a cluster with quorum")
        self.crm("configure", "property", "stonith-enabled=false")
        self.crm("configure", "property", "no-quorum-policy=ignore")

    def stop_daemon(self, proc, timeout):
        """SIGTERM by pid, then wait: pacemakerd stops its resources and
        children first."""
        if proc.p.poll() is None:
            proc.signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.signal(signal.SIGKILL)
                proc.wait(30)

    def crm(self, *args):
        r = subprocess.run(["crm"] + list(args), stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                           env=self.env, timeout=120)
        out = r.stdout.decode("utf-8", "replace")
        self.assertEqual(r.returncode, 0, "crm %s: %s" % (" ".join(args), out))
        return out

    def mon(self):
        # --inactive: a stopped resource is listed too (role Stopped).
        r = subprocess.run(["crm_mon", "-1", "--inactive", "--output-as=xml"], stdout=subprocess.PIPE,
                           stderr=subprocess.DEVNULL, env=self.env, timeout=60)
        return r.stdout.decode("utf-8", "replace")

    def resource(self):
        """(role, fail-count, monitor rc) of the resource rs from crm_mon."""
        xml = self.mon()
        role = re.search(r'<resource id="rs" [^>]*role="(\w+)"', xml)
        fails = re.search(r'<resource_history id="rs" [^>]*fail-count="(\d+)"', xml)
        mon = re.findall(r'task="monitor" rc="(\d+)"[^>]*interval="3000ms"', xml)
        return (role.group(1) if role else None, int(fails.group(1)) if fails else 0,
                mon[-1] if mon else None)

    def test_pacemaker_manages_the_daemon(self):
        conf = self.daemon_conf()
        params = ["%s=%s" % (k, v) for k, v in self.params(conf).items()]
        self.crm("configure", "primitive", "rs", "ocf:ringsync:ringsyncd", "params",
                 *params, "op", "monitor", "interval=3s", "timeout=30s",
                 "op", "start", "timeout=90s", "op", "stop", "timeout=30s")
        try:
            # Started, and a recurring monitor has seen it running.
            rstest.wait_for(lambda: self.resource()[0] == "Started" and
                            self.resource()[2] == "0", 120, "rs started and monitored")
            pid = rstest.wait_for(lambda: lock_pid(self.state), 30, "the daemon's pid")
            self.assertEqual(self.resource()[1], 0)
            # SIGKILL: the monitor finds it gone (7), Pacemaker stops and
            # starts it again on this node: a new pid, one failure counted.
            os.kill(pid, signal.SIGKILL)
            new = rstest.wait_for(lambda: (lambda p: p if p and p != pid else None)(
                lock_pid(self.state)), 120, "Pacemaker to restart the daemon")
            rstest.wait_for(lambda: self.resource()[1] == 1 and
                            self.resource()[0] == "Started", 60, "fail-count 1, started")
            self.assertRegex(self.mon(), r'<failure op_key="rs_monitor_3000" [^>]*'
                             r'exitcode="7"')
            # Stopped by Pacemaker: SIGTERM, the daemon gone.
            self.crm("-w", "resource", "stop", "rs")
            rstest.wait_for(lambda: self.resource()[0] == "Stopped", 60, "rs stopped")
            self.assertFalse(proc_alive(new))
            self.assertIsNone(lock_pid(self.state))
        finally:
            subprocess.run(["crm", "-w", "resource", "stop", "rs"], env=self.env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           timeout=120)
            rstest.wait_for(lambda: self.resource()[0] == "Stopped", 60, "rs stopped")
            self.crm("configure", "delete", "rs")
        print("pacemaker: started, monitored, restarted after SIGKILL (pid %d -> %d), "
              "stopped" % (pid, new), flush=True)


# --------------------------------------------------------------------------
# Failover onto a node with an empty store.

CORP = "OU=Corp,DC=example,DC=test"
N_USERS = 300


class FailoverTest(samba_fixture.DCTestCase, rstest.TestCase):
    """Node A and node B: the same AD (the class's DC) and account (one
    emulator), a state directory each."""

    def conf(self, state):
        env = self.dc.env
        return self.write("ringsyncd-%s.conf" % os.path.basename(state), "\n".join([
            "[ldap]", "uri = " + env["LDAP_URI"], "base_dn = " + self.ou,
            "bind_dn = " + env["SVC_DN"], "bind_password_file = " + env["SVC_PW_FILE"],
            "tls_ca_cert = " + env["CA_CERT"], "page_size = 100",
            "[telephony]", "brand = TELUS Business Connect", "server = " + self.emu.url,
            "client_id = ringsync-test", "client_secret_file = " + self.emu.secret_file,
            "jwt_file = " + self.emu.jwt_file, "change_feed = no",
            "[sync]", "state_dir = " + state, "interval = 1s"]) + "\n", 0o644)

    def creates(self, since=0, status=201):
        return [r for r in self.emu.log(since) if r["method"] == "POST" and
                r["path"] == "/scim/v2/Users" and r["status"] == status]

    def test_takeover_with_an_empty_store(self):
        self.ou = "OU=ha-failover,%s" % CORP
        # Heavy 10 a 2 s: 5 creates a second, a minute for all 300.
        self.emu = rstest.Emulator(self, seed={"free_extensions": {
            "count": N_USERS + 20, "start": 1001}}, args=[
                "--window", "2", "--limits", "Light=50,Medium=40,Heavy=10,Auth=20",
                "--penalty", "2", "--task-delay", "0.05"])
        names = ["ha%03d" % i for i in range(N_USERS)]
        self.dc.add_users([{"cn": n, "ou": self.ou, "attrs": {
            "givenName": n.capitalize(), "sn": "Failover", "mail": n + "@example.test",
            "department": "Eng", "sAMAccountName": "ha-" + n}} for n in names], self.tmp)
        state_a = os.path.join(self.tmp, "state-a")
        a = self.start([RINGSYNCD, "-f", "-c", self.conf(state_a)], "node-a")
        try:
            rstest.wait_for(lambda: len(self.creates()) >= 60, 300, "A's first 60 creates")
        except AssertionError:
            raise AssertionError(a.output()[-3000:]) from None
        # AD changes while A works: some of the users A created (pending
        # updates), some it has not reached yet (their creates carry them).
        made = set(self.emu.users_by_email())
        done = [n for n in names if n + "@example.test" in made][:15]
        todo = [n for n in reversed(names) if n + "@example.test" not in made][:15]
        changed = done + todo
        self.dc.modify("".join(
            "dn: CN=%s,%s\nchangetype: modify\nreplace: department\n"
            "department: Failover-%s\n\n" % (n, self.ou, n) for n in changed))
        start = len(a.output())
        rstest.wait_for(lambda: re.search(r"cycle done kind=incremental .*scanned=[1-9]",
                                          a.output()[start:]), 120,
                        "A's scan of the changes")
        # A create in flight when A dies: its request reaches the phone
        # system and is held there (the emulator's delay fault on the next
        # two SCIM user requests: a search and its create); A is killed
        # meanwhile and never hears the answer.
        self.emu.call("POST", "/_emu/fault", {"kind": "delay", "count": 2, "delay": 3,
                                             "path_prefix": "/scim/v2/Users"})
        rstest.wait_for(lambda: self.emu.call("GET", "/_emu/fault")["faults"] == [], 120,
                        "A's requests to take the delays")
        a.signal(signal.SIGKILL)
        a.wait(30)
        delayed = rstest.wait_for(lambda: [r for r in self.emu.log() if
                                           r.get("fault") == "delay"] if len(
            [r for r in self.emu.log() if r.get("fault") == "delay"]) == 2 else None,
            60, "the held requests to be answered")
        self.assertIn(("POST", "/scim/v2/Users", 201),
                      [(r["method"], r["path"], r["status"]) for r in delayed],
                      "a create was in flight when A was killed: %s" % delayed)
        created_by_a = len(self.creates())
        self.assertLess(created_by_a, N_USERS - 30, "A was killed mid-run")
        print("node A: killed after %d of %d creates, %d AD changes made meanwhile" %
              (created_by_a, N_USERS, len(changed)), flush=True)

        # Node B: an empty store of its own, the same AD and account. --once
        # runs until a run has nothing left to do.
        seq = self.emu.last_seq()
        state_b = os.path.join(self.tmp, "state-b")
        conf_b = self.conf(state_b)
        t = time.monotonic()
        runs = []
        for _ in range(6):
            out = self.once(conf_b)
            done_line = [l for l in out.splitlines() if "cycle done" in l]
            runs.append(done_line)
            counts = collections.Counter()
            for line in done_line:
                for k, v in re.findall(r"(created|updated|deactivated|linked|held|"
                                       r"failed)=(\d+)", line):
                    counts[k] += int(v)
            if not (counts["created"] or counts["updated"] or counts["linked"]):
                break
        else:
            self.fail("B still works after 6 runs: %s" % runs)
        took = time.monotonic() - t
        self.assertEqual(counts["failed"], 0, runs)
        self.assertEqual(counts["held"], 0, runs)

        # Every AD user exactly once, none deactivated, every change there.
        phone = self.emu.users_by_email()
        for n in names:
            found = phone.get(n + "@example.test", [])
            self.assertEqual(len(found), 1, "%s on the phone side: %s" % (n, found))
            self.assertIn(found[0]["status"], ("Enabled", "NotActivated"), found[0])
        self.assertEqual(len(phone), N_USERS, sorted(set(phone) - {
            n + "@example.test" for n in names}))
        for n in changed:
            self.assertEqual(phone[n + "@example.test"][0]["contact"].get("department"),
                             "Failover-" + n)
        b_log = self.emu.log(seq)
        self.assertEqual([r for r in b_log if r["method"] == "DELETE"], [])
        creates_b = len([r for r in b_log if r["method"] == "POST" and
                         r["path"] == "/scim/v2/Users" and r["status"] == 201])
        self.assertEqual(created_by_a + creates_b, N_USERS)

        by_group = collections.Counter(r["group"] for r in b_log if r["group"])
        by_call = collections.Counter("%s %s %s" % (r["group"], r["method"],
                                                    re.sub(r"/\d+", "/{id}", r["path"]))
                                      for r in b_log if r["group"])
        print("node B: %d runs in %.1f s, %d creates, calls %s" % (
            len(runs), took, creates_b, " ".join(
                "%s=%d" % (g, by_group[g]) for g in ("Light", "Medium", "Heavy", "Auth"))),
            flush=True)
        for call, n in sorted(by_call.items()):
            print("node B:   %4d %s" % (n, call), flush=True)
        for i, lines in enumerate(runs):
            for line in lines:
                print("node B: run %d: %s" % (i + 1, line.split("info: ", 1)[-1]),
                      flush=True)


# --------------------------------------------------------------------------

NEEDS = {
    "AgentTest": ["ocf-tester", "xmllint"],
    "ClusterTest": ["corosync", "pacemakerd", "crm", "crm_mon"],
    "FailoverTest": ["samba"],
}


def skip_reason(classes):
    if os.geteuid() != 0:
        return "needs root (the agent, ocf-tester and Pacemaker run as root)"
    for c in classes:
        missing = [p for p in NEEDS.get(c, []) if shutil.which(p) is None]
        if missing:
            return "%s needs %s (tests/deps.sh)" % (c, ", ".join(missing))
        if c == "AgentTest" and not os.path.exists(os.path.join(
                OCF_ROOT, "lib", "heartbeat", "ocf-shellfuncs")):
            return "no resource-agents (ocf-shellfuncs)"
        if c == "ClusterTest":
            others = running_by_name(("corosync", "pacemakerd"))
            if others:
                return "a cluster runs on this machine (pids %s): not touched" % others
    return None


if __name__ == "__main__":
    chosen = [a.split(".")[0] for a in sys.argv[1:] if not a.startswith("-")]
    reason = skip_reason(chosen or list(NEEDS))
    if reason:
        print("skipped: " + reason)
        sys.exit(77)
    unittest.main()
