#!/usr/bin/python3
"""ringsync's benchmark (issue #8, docs/behaviour.md, performance targets).

For each size N: a throwaway Samba AD DC with N users, the phone-API
emulator with N matching phone users (each with an extension and a direct
number), and the real ringsyncd, measured phase by phase, each phase beside
a baseline taken in the same run. Results go to a JSON file per size;
`report` renders them as the README's performance table.

Run it through tests/bench/run-bench.sh (it builds what it needs); see
tests/bench/README.md for what each figure means.
"""
import argparse
import datetime
import http.client
import json
import math
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(SOURCE, "tests", "integration"))

import rstest           # noqa: E402  (Proc, Emulator, wait_for)
import samba_fixture    # noqa: E402  (DC, sambadc)

USERS_OU = "OU=Users,OU=Corp,DC=example,DC=test"
DEFAULT_LIMITS = {"Light": 50, "Medium": 40, "Heavy": 10, "Auth": 5}
FAST_LIMITS = {"Light": 1000000, "Medium": 1000000, "Heavy": 1000000, "Auth": 1000}
PER_PAGE = 1000          # the API's list page size (ringsyncd asks for 1000)
UPDATES = 1000           # the profile-update phase
POLL_FIRST = 1.0         # ringsyncd's first bulk-task poll (common/phone.c, opts_defaults)
SUMMARY = re.compile(r"cycle done kind=(\w+)")
KV = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|\S*)')
IDLE_CYCLES = 3
CREATES = 20             # new AD users created on the phone side
DEACTIVATIONS = 40       # below max_deactivations' default of 50
# the three create methods compared, this many new users each, at the
# smallest size of a run only (creates cost the same at any size)
CM_CREATES = int(os.environ.get("RINGSYNC_BENCH_CM_CREATES", "1000"))
CM_METHODS = ("scim", "extension", "batch")
EDITS = 40               # AD edits timed one at a time to the phone side, per case
GROUPS_OU = "OU=BenchGroups,DC=example,DC=test"   # outside base_dn
GROUP_ADDS = 100         # members added to the deepest nested group


def log(msg):
    print("[%s] %s" % (time.strftime("%H:%M:%S"), msg), flush=True)


def kv(line):
    out = {}
    for k, v in KV.findall(line):
        if v.startswith('"'):
            v = re.sub(r"\\(.)", r"\1", v[1:-1])
        out[k] = v
    return out


def proc_status(pid):
    """VmHWM, VmRSS, RssAnon, RssFile of a live process, in KiB."""
    out = {}
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("VmHWM", "VmRSS", "RssAnon", "RssFile"):
                    out[k] = int(v.split()[0])
    except OSError:
        pass
    return out


# ---------------------------------------------------------------------------
# Processes


class Run:
    """A measured process: stdout+stderr read line by line and time-stamped
    on arrival (ringsyncd's log and ldapcount's lines interleave in order),
    and /proc figures read the moment each cycle summary arrives.

    Not wait4()'s ru_maxrss: exec keeps the high-water mark of the memory
    the child had before it, a copy of this (large) Python process."""

    live = []

    def __init__(self, argv, log_path, env=None, stdout_path=None):
        self.argv = argv
        self.lines = []                       # (monotonic t, text)
        self.at_summary = None                # /proc figures at the first summary
        self.at_summaries = []                # ... and at every summary
        self.t0 = time.monotonic()
        out = open(stdout_path, "wb") if stdout_path else None
        self.p = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                  stdout=out or subprocess.PIPE,
                                  stderr=subprocess.PIPE if out else subprocess.STDOUT,
                                  env=env)
        if out:
            out.close()
        self.pid = self.p.pid
        self.rc = None
        self.rusage = None
        self.t1 = None
        Run.live.append(self)
        self.log = open(log_path, "w")
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        stream = self.p.stderr if self.p.stderr is not None else self.p.stdout
        for raw in stream:
            t = time.monotonic()
            line = raw.decode("utf-8", "replace").rstrip("\n")
            if SUMMARY.search(line):
                self.at_summaries.append(dict(proc_status(self.pid), t=t))
                if self.at_summary is None:
                    self.at_summary = self.at_summaries[0]
            self.lines.append((t, line))
            self.log.write(line + "\n")
        self.log.close()

    def wait(self):
        _, status, ru = os.wait4(self.pid, 0)
        self.t1 = time.monotonic()
        self.rc = os.waitstatus_to_exitcode(status)
        self.p.returncode = self.rc
        self.rusage = ru
        self.reader.join()
        Run.live.remove(self)
        return self

    def signal(self, sig):
        if self.rc is None:
            os.kill(self.pid, sig)

    def wait_line(self, pattern, start=0, timeout=3600):
        rx = re.compile(pattern)

        def found():
            for i in range(start, len(self.lines)):
                if rx.search(self.lines[i][1]):
                    return i + 1
            if self.p.poll() is not None and not self.reader.is_alive():
                raise AssertionError("pid %d exited waiting for %r" % (self.pid, pattern))
            return None
        return rstest.wait_for(found, timeout, repr(pattern)) - 1

    @property
    def wall(self):
        return self.t1 - self.t0

    @property
    def hwm_kib(self):
        """The run's peak RSS: VmHWM at its last summary line (a --once run
        exits right after it)."""
        return self.at_summaries[-1].get("VmHWM") if self.at_summaries else None

    @property
    def cpu_s(self):
        return round(self.rusage.ru_utime + self.rusage.ru_stime, 3) if self.rusage else None


def _stop_runs():
    for r in list(Run.live):
        try:
            r.signal(signal.SIGKILL)
            r.wait()
        except Exception:
            pass


class Ctx:
    """What rstest.Emulator expects of a test: tmp and start()."""

    def __init__(self, tmp):
        self.tmp = tmp
        self.procs = []

    def start(self, argv, name, env=None):
        p = rstest.Proc(argv, os.path.join(self.tmp, name + ".log"), env)
        self.procs.append(p)
        return p

    def stop_all(self):
        for p in reversed(self.procs):
            p.stop()


# ---------------------------------------------------------------------------
# Parsing a run


def ldapops(lines, t_from=None, t_to=None):
    ops = []
    for t, line in lines:
        if line.startswith("ldapop ") and (t_from is None or t >= t_from) \
                and (t_to is None or t <= t_to):
            op = kv(line[len("ldapop "):])
            op["_t"] = t
            ops.append(op)
    return ops


def op_counts(ops):
    out = {}
    for op in ops:
        out[op["op"]] = out.get(op["op"], 0) + 1
    return out


def summaries(lines):
    out = []
    for t, line in lines:
        if SUMMARY.search(line):
            s = kv(line[line.index("cycle done"):])
            s["_t"] = t
            out.append(s)
    return out


class EmuLog:
    """The emulator's request log file (--log-file), read by offset."""

    def __init__(self, path):
        self.path = path
        self.offset = 0

    def mark(self):
        self.offset = os.path.getsize(self.path) if os.path.exists(self.path) else 0
        return self.offset

    def since(self, offset=None):
        with open(self.path, "rb") as f:
            f.seek(self.offset if offset is None else offset)
            return [json.loads(l) for l in f.read().decode().splitlines() if l.strip()]


def api_figures(reqs):
    groups, s429 = {}, 0
    for r in reqs:
        groups[r["group"]] = groups.get(r["group"], 0) + 1
        s429 += r["status"] == 429
    return {"calls": len(reqs), "groups": groups, "429": s429}


def is_import_path(path):
    return path.startswith("/restapi/v1.0/account/~/phone-number") or \
        path.startswith("/restapi/v1.0/account/~/directory") or \
        path.startswith("/restapi/v1.0/account/~/extension") and \
        not path.startswith("/restapi/v1.0/account/~/extension-bulk-update")


def is_create_call(q):
    """A call of the push lane's links and creates: the email searches, the
    creates, the batch's confirmations (an extension listing by email) and
    the bulk updates; not the import's reads."""
    if q["method"] != "GET":
        return True
    return not is_import_path(q["path"]) or "email=" in str(q.get("query", ""))


# ---------------------------------------------------------------------------
# The bench for one size


class Bench:

    def __init__(self, args, n):
        self.args = args
        self.n = n
        self.build = args.build
        self.ringsyncd = os.path.join(self.build, "daemon", "ringsyncd")
        self.shim = os.path.join(self.build, "ldapcount.so")
        self.tmp = tempfile.mkdtemp(prefix="ringsync-bench.%d." % n)
        os.chmod(self.tmp, 0o700)
        self.ctx = Ctx(self.tmp)
        self.dc = None
        self.emu = None
        self.res = {"users": n, "phases": {}, "setup": {}, "notes": []}
        self.window = args.window
        self.compare_creates = n == min(int(x) for x in args.sizes.split(","))

    # -- setup

    def start_dc(self):
        log("N=%d: starting the DC (waits while another DC session runs)" % self.n)
        t = time.monotonic()
        self.dc = samba_fixture.DC(os.path.join(self.tmp, "dc"),
                                   template=self.args.template)
        self.res["setup"]["dc_up_s"] = round(time.monotonic() - t, 2)
        r = samba_fixture.sambadc("add-users", "--dir", self.dc.dir, "--count", str(self.n))
        self.res["setup"]["add_users"] = r
        log("N=%d: %d users added in %.1f s (%.0f/s, SamDB batch_mode)" %
            (self.n, r["count"], r["seconds"], r["rate"]))
        self.ldap_env = dict(os.environ, LDAPTLS_CACERT=self.dc.env["CA_CERT"],
                             LDAPTLS_REQCERT="demand")

    def stop_dc(self):
        if self.dc is None:
            return
        samba_fixture.sambadc("down", "--dir", self.dc.dir, "--rm", check=False)
        samba_fixture._running.discard(self.dc.dir)
        samba_fixture._release_session()
        self.dc = None

    def seed(self):
        exts, nums = [], []
        for i in range(self.n):
            ext_id = 3000000001 + i
            exts.append({"id": ext_id, "extensionNumber": str(100000 + i),
                         "status": "Enabled",
                         "contact": {"firstName": "Phone", "lastName": "User%d" % i,
                                     "email": "user%d@example.test" % i}})
            nums.append({"phoneNumber": "+1650%07d" % i,
                         "extensionId": ext_id})
        return {"extensions": exts, "numbers": nums, "main_number": "+16509990000",
                "free_extensions": {"count": CREATES + 10 + (
                    len(CM_METHODS) * CM_CREATES if self.compare_creates else 0),
                    "start": 900000},
                "inventory_numbers": {"count": CREATES + 10, "start": "+16519000000"}}

    def start_emulator(self):
        self.emu_log_path = os.path.join(self.tmp, "emu-requests.jsonl")
        t = time.monotonic()
        self.emu = rstest.Emulator(self.ctx, seed=self.seed(), args=[
            "--task-delay", "0", "--log-file", self.emu_log_path])
        self.res["setup"]["emulator_start_s"] = round(time.monotonic() - t, 2)
        self.emu_log = EmuLog(self.emu_log_path)
        log("N=%d: emulator seeded with %d phone users in %.1f s" %
            (self.n, self.n, time.monotonic() - t))

    def limits(self, fast=False):
        """Reset the emulator's rate windows: the default limits per
        `window` seconds, or practically none (bootstrap only)."""
        body = dict(FAST_LIMITS if fast else DEFAULT_LIMITS)
        body.update(window=1 if fast else self.window, penalty=1 if fast else self.window)
        self.emu.call("POST", "/_emu/limits", body)
        self.emu.call("DELETE", "/_emu/fault")

    # -- ringsyncd

    def conf(self, name, push="", sync="", tel=""):
        env = self.dc.env
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write("\n".join([
                "[ldap]", "uri = " + env["LDAP_URI"], "base_dn = " + USERS_OU,
                "bind_dn = " + env["SVC_DN"], "bind_password_file = " + env["SVC_PW_FILE"],
                "tls_ca_cert = " + env["CA_CERT"],
                "[telephony]", "brand = RingCentral", "server = " + self.emu.url,
                "client_id = ringsync-test", "client_secret_file = " + self.emu.secret_file,
                "jwt_file = " + self.emu.jwt_file, "change_feed = no", tel,
                "[sync]", "state_dir = " + os.path.join(self.tmp, "state"), sync,
                "[push]", push]) + "\n")
        return path

    def ringsyncd_run(self, name, conf, *args, expect=(0,)):
        env = dict(os.environ, LD_PRELOAD=self.shim)
        self.emu_log.mark()
        r = Run([self.ringsyncd, "-c", conf] + list(args),
                os.path.join(self.tmp, name + ".log"), env).wait()
        r.api = self.emu_log.since()
        if r.rc not in expect:
            tail = "\n".join(l for _, l in r.lines[-30:])
            raise AssertionError("%s: ringsyncd exited %d\n%s" % (name, r.rc, tail))
        return r

    def once(self, name, conf, *args, expect=(0,), hold_import=0.0):
        """ringsyncd --once. hold_import: the emulator delays the import's
        first request so that the scan lane's memory is read at its end,
        before the import starts."""
        if hold_import:
            self.emu.call("POST", "/_emu/fault", {
                "kind": "delay", "count": 1, "delay": hold_import,
                "path_prefix": "/restapi/v1.0/account/~/directory"})
        return self.ringsyncd_run(name, conf, "--once", *args, expect=expect)

    def lanes(self, r):
        """A --once run split into its scan lane (connect, scan, push: up
        to the first summary) and its import lane (import, write-back)."""
        sums = summaries(r.lines)
        scan_s = next(s for s in sums if s["kind"] in ("incremental", "full"))
        imp_s = next(s for s in sums if s["kind"] == "import")
        scan_ops = ldapops(r.lines, t_to=scan_s["_t"])
        imp_ops = ldapops(r.lines, t_from=scan_s["_t"])
        scan_api = [q for q in r.api if not is_import_path(q["path"])]
        imp_api = [q for q in r.api if is_import_path(q["path"])]
        # Lane times from the arrival of the summary lines: the scan lane
        # from the process's start (exec, configuration, store, connect and
        # bind included), the import lane from the scan lane's summary.
        return {
            "scan": {"summary": {k: v for k, v in scan_s.items() if k != "_t"},
                     "s": round(scan_s["_t"] - r.t0, 3), "ldap": op_counts(scan_ops),
                     "api": api_figures(scan_api), "rss_kib": r.at_summary},
            "import": {"summary": {k: v for k, v in imp_s.items() if k != "_t"},
                       "s": round(imp_s["_t"] - scan_s["_t"], 3), "ldap": op_counts(imp_ops),
                       "api": api_figures(imp_api)},
            "run": {"wall_s": round(r.wall, 3), "rc": r.rc, "hwm_kib": r.hwm_kib,
                    "end_rss_kib": r.at_summaries[-1] if r.at_summaries else None,
                    "cpu_s": r.cpu_s, "api": api_figures(r.api)},
            "_scan_ops": scan_ops, "_imp_ops": imp_ops, "_scan_t": scan_s["_t"],
        }

    # -- baselines

    def ldapsearch(self, name, op):
        """ldapsearch repeating one search of ringsyncd (base, scope,
        filter, attributes, page size, controls) as the same account."""
        env = dict(self.ldap_env, LD_PRELOAD=self.shim)
        argv = ["ldapsearch", "-x", "-H", self.dc.env["LDAP_URI"], "-D", self.dc.env["SVC_DN"],
                "-y", self.dc.env["SVC_PW_FILE"], "-LLL", "-o", "ldif-wrap=no",
                "-b", op["base"], "-s", op.get("scope", "sub")]
        if op.get("page"):
            argv += ["-E", "pr=%s/noprompt" % op["page"]]
        if op.get("control"):
            argv += ["-E", "!" + op["control"]]
        argv += [op.get("filter", "(objectClass=*)")] + \
            [a for a in op.get("attrs", "").split(",") if a]
        r = Run(argv, os.path.join(self.tmp, name + ".log"), env,
                stdout_path=os.path.join(self.tmp, name + ".ldif")).wait()
        if r.rc != 0:
            raise AssertionError("%s: ldapsearch exited %d: %s" %
                                 (name, r.rc, "\n".join(l for _, l in r.lines[-10:])))
        with open(os.path.join(self.tmp, name + ".ldif"), "rb") as f:
            data = f.read()
            entries = data.count(b"\ndn:") + data.startswith(b"dn:")
        os.unlink(os.path.join(self.tmp, name + ".ldif"))
        return {"wall_s": round(r.wall, 3), "ldap": op_counts(ldapops(r.lines)),
                "entries": entries, "cpu_s": r.cpu_s}

    def ldapsearch_same(self, name, ops, repeat=2):
        """Every scan search ringsyncd made (paged or with a uSNChanged
        range), `repeat` times; the fastest round counts."""
        scans, seen = [], set()
        for o in ops:
            key = tuple(o.get(k) for k in ("base", "scope", "filter", "control"))
            if o["op"] == "search" and key not in seen and \
                    (o.get("page") or "uSNChanged" in o.get("filter", "")):
                seen.add(key)     # a paged search sends one request per page
                scans.append(o)
        rounds = []
        for k in range(repeat):
            parts = [self.ldapsearch("%s-%d-%d" % (name, k, i), o) for i, o in enumerate(scans)]
            ldap = {}
            for p in parts:
                for op, c in p["ldap"].items():
                    ldap[op] = ldap.get(op, 0) + c
            rounds.append({"wall_s": round(sum(p["wall_s"] for p in parts), 3), "ldap": ldap,
                           "searches": len(scans),
                           "cpu_s": round(sum(p["cpu_s"] for p in parts), 3),
                           "entries": sum(p["entries"] for p in parts)})
        best = min(rounds, key=lambda x: x["wall_s"])
        return dict(best, rounds=[x["wall_s"] for x in rounds])


    def ldapmodify(self, name, ldif_text, as_admin=False):
        path = os.path.join(self.tmp, name + ".ldif")
        with open(path, "w") as f:
            f.write(ldif_text)
        env = dict(self.ldap_env, LD_PRELOAD=self.shim)
        dn = self.dc.env["ADMIN_DN" if as_admin else "SVC_DN"]
        pw = self.dc.env["ADMIN_PW_FILE" if as_admin else "SVC_PW_FILE"]
        r = Run(["ldapmodify", "-x", "-H", self.dc.env["LDAP_URI"], "-D", dn, "-y", pw,
                 "-f", path], os.path.join(self.tmp, name + ".log"), env,
                stdout_path=os.devnull).wait()
        if r.rc != 0:
            raise AssertionError("%s: ldapmodify exited %d: %s" %
                                 (name, r.rc, "\n".join(l for _, l in r.lines[-10:])))
        return {"wall_s": round(r.wall, 3), "ldap": op_counts(ldapops(r.lines)),
                "cpu_s": r.cpu_s}

    def api_client(self):
        return PlainClient(self.emu.port, self.emu.secret_file, self.emu.jwt_file)

    # -- phases

    def phase_initial(self):
        """The first run: the write-back baseline, then ringsyncd linking
        every phone user by import and writing every number back."""
        ldif = "".join(
            "dn: CN=user%d,%s\nchangetype: modify\nreplace: telephoneNumber\n"
            "telephoneNumber: +10000000000#0\n-\nreplace: ipPhone\nipPhone: 0\n-\n\n"
            % (i, USERS_OU) for i in range(self.n))
        log("N=%d: write-back baseline: ldapmodify of %d users (2 attributes each)" %
            (self.n, self.n))
        wb_base = self.ldapmodify("baseline-writeback", ldif)
        # Every profile fails on purpose in this run (firstName from an
        # attribute no user has), so the scan queues no push: the users are
        # recorded with their email, and the import links them in bulk.
        conf = self.conf("initial.conf", push="firstName = employeeNumber")
        self.limits()
        log("N=%d: initial run (full scan, import links all, write-back of all)" % self.n)
        r = self.once("initial", conf, expect=(1,))
        ln = self.lanes(r)
        imp = ln["import"]
        # The write-back starts with its first modify, or a read by
        # objectGUID: the writer reads only a user the scan did not see
        # with its [writeback] values or whose DN has gone, so the report's
        # searches (s) of this phase are those reads and should be 0.
        wb_ops = [o for o in ln["_imp_ops"] if o["op"] == "modify" or
                  o.get("base", "").startswith("<GUID=")]
        imp_end = summaries(r.lines)[-1]["_t"]
        wb_start = wb_ops[0]["_t"] if wb_ops else imp_end
        import_s = wb_start - ln["_scan_t"]
        write_s = imp_end - wb_start
        assert imp["summary"]["linked"] == str(self.n), imp["summary"]
        assert imp["summary"]["written_back"] == str(self.n), imp["summary"]
        self.limits()
        log("N=%d: import baseline: plain paging client" % self.n)
        imp_base = self.api_client().list_all()
        self.res["phases"]["import"] = {
            "ringsyncd_s": round(import_s, 3), "baseline_s": imp_base["wall_s"],
            "api": imp["api"], "baseline_api": imp_base["api"],
            "records": imp_base["records"], "summary": imp["summary"],
            "hwm_kib": ln["run"]["hwm_kib"], "run": ln["run"],
            "initial_scan": {"s": ln["scan"]["s"], "ldap": ln["scan"]["ldap"],
                             "rss_kib": ln["scan"]["rss_kib"]}}
        self.res["phases"]["writeback"] = {
            "ringsyncd_s": round(write_s, 3), "baseline_s": wb_base["wall_s"],
            "ldap": op_counts(wb_ops), "baseline_ldap": wb_base["ldap"],
            "written_back": int(imp["summary"]["written_back"])}
        self.state_conf = self.conf("ringsyncd.conf")
        # The first run with the real mapping pushes every profile once
        # (linked by import, never pushed): ceil(N/500) bulk updates.
        self.limits()
        log("N=%d: first push of every profile (bulk updates)" % self.n)
        r = self.once("first-push", self.state_conf)
        ln = self.lanes(r)
        assert ln["scan"]["summary"]["updated"] == str(self.n), ln["scan"]["summary"]
        self.res["phases"]["first_push"] = {
            "ringsyncd_s": ln["scan"]["s"], "api": ln["scan"]["api"],
            "summary": ln["scan"]["summary"], "ldap": ln["scan"]["ldap"],
            "hwm_kib": ln["run"]["hwm_kib"], "rss_kib": ln["scan"]["rss_kib"]}

    def phase_lost_store(self):
        """A node with an empty store on the synced account (a new machine,
        a failover without the store): a full scan, one listing that links
        every user by email, the comparison with what the phone side holds,
        and nothing pushed or written back, since nothing differs. The kept
        store comes back afterwards for the next phases."""
        state = os.path.join(self.tmp, "state")
        kept = os.path.join(self.tmp, "state-kept")
        os.rename(state, kept)
        try:
            self.limits()
            log("N=%d: a new node: empty store on the synced account (--once)" % self.n)
            r = self.once("lost-store", self.state_conf)
            ln = self.lanes(r)
        finally:
            shutil.rmtree(state, True)
            os.rename(kept, state)
        scan, imp = ln["scan"]["summary"], ln["import"]["summary"]
        assert scan["created"] == "0" and scan["updated"] == "0", scan
        assert int(imp["linked"]) + int(scan["linked"]) == self.n, (scan, imp)
        assert imp["written_back"] == "0", imp
        self.res["phases"]["lost_store"] = {
            "ringsyncd_s": ln["run"]["wall_s"], "api": ln["run"]["api"],
            "summary": {"scan": scan, "import": imp},
            "ldap": op_counts(ln["_scan_ops"] + ln["_imp_ops"]),
            "hwm_kib": ln["run"]["hwm_kib"], "rss_kib": ln["scan"]["rss_kib"]}

    def phase_full(self, repeat=2):
        """The full scan and its baseline, alternately, `repeat` times each;
        the fastest of each counts (the machine is shared)."""
        runs, bases = [], []
        for k in range(repeat):
            self.limits()
            log("N=%d: full scan (--once --full-resync), round %d" % (self.n, k + 1))
            r = self.once("full-%d" % k, self.state_conf, "--full-resync", hold_import=2.0)
            ln = self.lanes(r)
            s = ln["scan"]
            assert s["summary"]["full"] == "yes" and s["summary"]["scanned"] == str(self.n), \
                s["summary"]
            runs.append(ln)
            log("N=%d: full scan baseline (ldapsearch), round %d" % (self.n, k + 1))
            bases.append(self.ldapsearch_same("baseline-full-%d" % k, ln["_scan_ops"],
                                              repeat=1))
        ln = min(runs, key=lambda x: x["scan"]["s"])
        s = ln["scan"]
        base = min(bases, key=lambda x: x["wall_s"])
        self.res["phases"]["full_scan"] = {
            "ringsyncd_s": s["s"], "baseline_s": base["wall_s"],
            "ringsyncd_rounds": [x["scan"]["s"] for x in runs],
            "baseline_rounds": [x["wall_s"] for x in bases], "baseline_cpu_s": base["cpu_s"],
            "baseline_entries": base["entries"], "ldap": s["ldap"],
            "baseline_ldap": base["ldap"], "api": s["api"], "rss_kib": s["rss_kib"],
            "run": ln["run"], "summary": s["summary"],
            "store_bytes": os.path.getsize(os.path.join(self.tmp, "state", "state.mdb")),
            "searches": [{k: v for k, v in o.items() if k in ("scope", "page", "base",
                                                             "filter", "control")}
                         for o in ln["_scan_ops"] if o["op"] == "search"]}

    def phase_idle_once(self):
        self.limits()
        log("N=%d: idle run (--once)" % self.n)
        r = self.once("idle-once", self.state_conf, hold_import=2.0)
        ln = self.lanes(r)
        s = ln["scan"]
        assert s["summary"]["scanned"] == "0", s["summary"]
        base = self.ldapsearch("baseline-idle", {
            "base": "", "scope": "base", "attrs": "highestCommittedUSN"})
        self.res["phases"]["idle_once"] = {
            "ringsyncd_s": s["s"], "baseline_s": base["wall_s"],
            "ldap": s["ldap"], "baseline_ldap": base["ldap"], "api": s["api"],
            "rss_kib": s["rss_kib"], "summary": s["summary"]}

    def phase_idle_daemon(self):
        """Idle cycles of the running daemon (connection kept), each
        started by SIGUSR1."""
        conf = self.conf("daemon.conf", sync="interval = 1h\nimport_interval = 1h\n"
                         "full_sync_interval = 1d")
        self.limits(fast=True)    # the start-up import only
        log("N=%d: idle cycles of the running daemon" % self.n)
        env = dict(os.environ, LD_PRELOAD=self.shim)
        d = Run([self.ringsyncd, "-f", "-c", conf], os.path.join(self.tmp, "daemon.log"), env)
        try:
            d.wait_line(r"cycle done kind=incremental")
            d.wait_line(r"cycle done kind=import")
            self.limits()
            cycles = []
            for k in range(IDLE_CYCLES):
                start = len(d.lines)
                mark = self.emu_log.mark()
                t0 = time.monotonic()
                d.signal(signal.SIGUSR1)
                i = d.wait_line(r"cycle done kind=incremental", start)
                s = kv(d.lines[i][1][d.lines[i][1].index("cycle done"):])
                ops = ldapops(d.lines[start:i + 1])
                # from the signal to the summary's arrival
                cycles.append({"s": round(d.lines[i][0] - t0, 4), "ldap": op_counts(ops),
                               "api": api_figures(self.emu_log.since(mark)),
                               "scanned": s["scanned"], "ms": s["ms"]})
            rss = proc_status(d.pid)
        finally:
            d.signal(signal.SIGTERM)
            d.wait()
        base = self.ldapsearch("baseline-idle-d", {
            "base": "", "scope": "base", "attrs": "highestCommittedUSN"})
        median = sorted(c["s"] for c in cycles)[len(cycles) // 2]
        self.res["phases"]["idle_daemon"] = {
            "ringsyncd_s": median, "baseline_s": base["wall_s"], "cycles": cycles,
            "ldap": cycles[-1]["ldap"], "baseline_ldap": base["ldap"],
            "api": cycles[-1]["api"], "rss_kib": rss,
            "daemon_rc": d.rc}

    def modify_users(self, name, users, attr, value_fmt):
        ldif = "".join("dn: CN=user%d,%s\nchangetype: modify\nreplace: %s\n%s: %s\n-\n\n"
                       % (i, USERS_OU, attr, attr, value_fmt % i) for i in users)
        return self.ldapmodify(name, ldif, as_admin=True)

    def push_baseline(self, users, attr_value):
        """The same updates by a plain client: ceil(n/500) bulk updates,
        each task polled on ringsyncd's schedule (first after 1 s)."""
        ext = {i: 3000000001 + i for i in users}
        records = [{"id": str(ext[i]), "contact": {"department": attr_value % i}}
                   for i in users]
        return self.api_client().bulk(records)

    def phase_incremental(self):
        users = list(range(0, self.n, 100))
        mod = self.modify_users("change-1pct", users, "department", "Bench %d")
        self.limits()
        log("N=%d: incremental cycle, %d users changed (1%%)" % (self.n, len(users)))
        r = self.once("incremental", self.state_conf, hold_import=2.0)
        ln = self.lanes(r)
        s = ln["scan"]
        assert s["summary"]["updated"] == str(len(users)), s["summary"]
        log("N=%d: incremental baseline (ldapsearch + plain bulk client)" % self.n)
        base = self.ldapsearch_same("baseline-incr", ln["_scan_ops"])
        self.limits()
        push = self.push_baseline(users, "Bench %d")
        self.res["phases"]["incremental"] = {
            "changed": len(users), "ringsyncd_s": s["s"],
            "baseline_s": round(base["wall_s"] + push["wall_s"], 3),
            "baseline_ldap_s": base["wall_s"], "baseline_api_s": push["wall_s"],
            "ldap": s["ldap"], "baseline_ldap": base["ldap"], "api": s["api"],
            "baseline_api": push["api"], "rss_kib": s["rss_kib"], "summary": s["summary"],
            "ldapmodify_s": mod["wall_s"]}

    def phase_updates(self):
        users = list(range(min(UPDATES, self.n)))
        self.modify_users("change-1000", users, "department", "Update %d")
        self.limits()
        log("N=%d: %d profile updates" % (self.n, len(users)))
        r = self.once("updates", self.state_conf, hold_import=2.0)
        ln = self.lanes(r)
        s = ln["scan"]
        assert s["summary"]["updated"] == str(len(users)), s["summary"]
        heavy = s["api"]["groups"].get("Heavy", 0)
        per_user = len(users)
        self.res["phases"]["updates"] = {
            "updates": len(users), "ringsyncd_s": s["s"],
            "api": s["api"], "heavy": heavy, "per_user_heavy": per_user,
            "expected_heavy": math.ceil(len(users) / 500),
            # at the default limits (Heavy 10 per 60 s), the fewest minutes
            # each needs: the calls after the first window's 10 wait
            "min_minutes_default": (math.ceil(heavy / 10) - 1),
            "per_user_min_minutes_default": (math.ceil(per_user / 10) - 1),
            "summary": s["summary"]}

    def phase_creates(self):
        """New AD users: a search by email (Light) and a create (Heavy)
        each; more than one window of Heavy calls, so pacing shows."""
        samba_fixture.sambadc("add-users", "--dir", self.dc.dir, "--count", str(CREATES),
                              "--prefix", "new")
        self.limits()
        log("N=%d: %d new users created" % (self.n, CREATES))
        r = self.once("creates", self.state_conf, hold_import=2.0)
        ln = self.lanes(r)
        s = ln["scan"]
        assert s["summary"]["created"] == str(CREATES), s["summary"]
        self.res["phases"]["creates"] = {
            "creates": CREATES, "ringsyncd_s": s["s"], "api": s["api"],
            "summary": s["summary"], "ldap": s["ldap"]}

    def phase_create_methods(self):
        """CM_CREATES new AD users for each create_method, at the default
        limits: a search by email each (Light), then the SCIM create (1
        Heavy a user), the REST create (1 Medium a user) or the batch create
        (1 Heavy per 10, and an email listing per user to confirm it)."""
        out = {}
        for method in CM_METHODS:
            samba_fixture.sambadc("add-users", "--dir", self.dc.dir, "--count",
                                  str(CM_CREATES), "--prefix", "cm" + method[:3])
            conf = self.conf("ringsyncd-%s.conf" % method, tel="create_method = " + method)
            self.limits()
            log("N=%d: %d new users created with create_method = %s" %
                (self.n, CM_CREATES, method))
            r = self.once("create-" + method, conf, hold_import=2.0)
            s = self.lanes(r)["scan"]
            assert s["summary"]["created"] == str(CM_CREATES), s["summary"]
            out[method] = {"creates": CM_CREATES, "ringsyncd_s": s["s"],
                           "api": api_figures([q for q in r.api if is_create_call(q)]),
                           "summary": s["summary"]}
        self.res["phases"]["create_methods"] = out

    def phase_deactivations(self):
        users = list(range(self.n - DEACTIVATIONS, self.n))
        self.modify_users("disable", users, "userAccountControl", "514%.0s")
        self.limits()
        log("N=%d: %d users disabled" % (self.n, len(users)))
        r = self.once("deactivations", self.state_conf, hold_import=2.0)
        ln = self.lanes(r)
        s = ln["scan"]
        assert s["summary"]["deactivated"] == str(len(users)), s["summary"]
        self.res["phases"]["deactivations"] = {
            "deactivations": len(users), "ringsyncd_s": s["s"], "api": s["api"],
            "expected_heavy": math.ceil(len(users) / 500), "summary": s["summary"],
            "ldap": s["ldap"]}

    def edit_latencies(self, d, edits, tag):
        """One user's department edited in AD at a time; each timed from
        ldapmodify's return to the emulator holding the value (polled by
        its control call, which is rate-free), with the import's reads
        that were made meanwhile."""
        samples = []
        for k in range(edits):
            i = k % max(1, min(self.n, UPDATES))
            value = "Edit %s %d" % (tag, k)
            mark = self.emu_log.mark()
            self.ldapmodify("edit-%s-%d" % (tag, k),
                            "dn: CN=user%d,%s\nchangetype: modify\nreplace: department\n"
                            "department: %s\n-\n\n" % (i, USERS_OU, value), as_admin=True)
            t0 = time.monotonic()
            path = "/_emu/extension/%d" % (3000000001 + i)
            deadline = t0 + 600
            while self.emu.call("GET", path)["extension"]["contact"].get(
                    "department") != value:
                if time.monotonic() > deadline or d.p.poll() is not None:
                    raise AssertionError("edit %s %d never reached the phone side" % (tag, k))
                time.sleep(0.01)
            reads = [r for r in self.emu_log.since(mark) if is_import_path(r["path"])]
            samples.append({"s": round(time.monotonic() - t0, 4), "import_reads": len(reads)})
        return samples

    @staticmethod
    def percentiles(samples):
        v = sorted(x["s"] for x in samples)
        rank = lambda q: v[max(0, math.ceil(q * len(v)) - 1)]      # nearest rank
        return {"n": len(v), "p50_s": rank(0.5), "p99_s": rank(0.99), "max_s": v[-1]}

    def phase_edit_latency(self):
        """AD edit -> phone at the default limits (compressed window): the
        daemon with AD change notification, first with no import, then with
        imports back to back (import_interval = 1s, which the daemon
        stretches to what read_share of the budget allows): the figure the
        budget shares are for."""
        out = {}
        for tag, every in (("no_import", "1h"), ("import", "1s")):
            conf = self.conf("edit-%s.conf" % tag,
                             sync="interval = 1h\nimport_interval = %s\n"
                             "full_sync_interval = 1d" % every)
            with open(conf) as f:
                text = f.read()
            with open(conf, "w") as f:
                f.write(text.replace("[telephony]\n", "change_notify = yes\n[telephony]\n", 1))
            self.limits(fast=True)    # the start-up cycles only
            log("N=%d: AD edit -> phone, %s" % (self.n, tag.replace("_", " ")))
            env = dict(os.environ, LD_PRELOAD=self.shim)
            d = Run([self.ringsyncd, "-f", "-c", conf],
                    os.path.join(self.tmp, "edit-%s.log" % tag), env)
            try:
                d.wait_line(r"cycle done kind=incremental")
                d.wait_line(r"cycle done kind=import")
                d.wait_line(r"AD change notification active")
                self.limits()
                samples = self.edit_latencies(d, EDITS, tag)
                imports = sum(1 for _, l in d.lines if "cycle done kind=import" in l)
            finally:
                d.signal(signal.SIGTERM)
                d.wait()
            out[tag] = dict(self.percentiles(samples), samples=samples,
                            imports_done=imports,
                            edits_during_import_reads=sum(1 for x in samples
                                                          if x["import_reads"] > 0),
                            daemon_rc=d.rc)
        self.res["phases"]["edit_latency"] = out

    def phase_ldap_check(self):
        """Untimed: the operations ldapcount saw against those the DC
        logged (Samba at debug level 10) in one run with a write-back."""
        users = list(range(min(self.n, 10)))
        for i in users:
            self.emu.call("POST", "/_emu/extension/%d" % (3000000001 + i),
                          {"directNumbers": ["+1651%07d" % i]})
        ctl = ["smbcontrol", "--configfile=" + self.dc.env["SMB_CONF"],
               str(self.dc.env["SAMBA_PID"])]
        was = subprocess.run(ctl + ["debuglevel"], stdout=subprocess.PIPE).stdout.decode()
        level = re.search(r"\ball:(\d+)", was)
        samba_log = self.dc.env["SAMBA_LOG"]
        off = os.path.getsize(samba_log)
        subprocess.run(ctl + ["debug", "10"], check=True, stdout=subprocess.DEVNULL)
        try:
            self.limits()
            log("N=%d: LDAP operation counts checked against the DC's log" % self.n)
            r = self.once("ldap-check", self.state_conf)
        finally:
            subprocess.run(ctl + ["debug", level.group(1) if level else "0"],
                           stdout=subprocess.DEVNULL)
        with open(samba_log, "rb") as f:
            f.seek(off)
            text = f.read().decode("utf-8", "replace")
        with open(os.path.join(self.tmp, "samba-debug10.log"), "w") as f:
            f.write(text)
        ours = op_counts(ldapops(r.lines))
        dc = {"search": len(re.findall(r"^\s*ldb_request ", text, re.M)),
              "modify": len(re.findall(r"ModifyRequest: dn: ", text)),
              "bind": len(re.findall(r"\bAuth: \[LDAP,simple bind", text))}
        self.res["ldap_check"] = {"ldapcount": ours, "dc_log": dc,
                                  "written_back": summaries(r.lines)[-1]["written_back"]}
        if any(ours.get(k, 0) != v for k, v in dc.items()):
            self.res["notes"].append("LDAP counts differ from the DC's log: ldapcount %r, "
                                     "DC %r" % (ours, dc))
            log("N=%d: WARNING: ldapcount %r, DC log %r" % (self.n, ours, dc))

    # -- group scope

    def make_groups(self):
        """Half the users in a scope group nested 3 levels (a quarter at
        each level), the groups outside base_dn; returns (scope, deepest,
        members, users not in any group)."""
        members = list(range(0, self.n, 2))            # the even users
        names = ["BenchScope", "BenchL1", "BenchL2", "BenchL3"]
        dns = ["CN=%s,%s" % (g, GROUPS_OU) for g in names]
        ldif = ["dn: %s\nchangetype: add\nobjectClass: organizationalUnit\n\n" % GROUPS_OU]
        for i in reversed(range(len(dns))):   # the deepest first: a member must exist
            ldif.append("dn: %s\nchangetype: add\nobjectClass: group\n%s\n" % (
                dns[i], "member: %s\n" % dns[i + 1] if i + 1 < len(dns) else ""))
        quarter = [members[k::4] for k in range(4)]
        for dn, part in zip(dns, quarter):
            for i in range(0, len(part), 1000):
                ldif.append("dn: %s\nchangetype: modify\nadd: member\n%s-\n\n" % (
                    dn, "".join("member: CN=user%d,%s\n" % (u, USERS_OU)
                                for u in part[i:i + 1000])))
        t = time.monotonic()
        self.ldapmodify("groups-setup", "".join(ldif), as_admin=True)
        self.res["setup"]["groups_s"] = round(time.monotonic() - t, 2)
        outside = [u for u in range(1, self.n, 2)]
        return dns[0], dns[-1], members, outside

    def inchain(self, name, scope_dn, attrs):
        """The baseline: the in-chain matching rule asks the DC for every
        member at any depth, in one paged search of base_dn."""
        return self.ldapsearch(name, {
            "base": USERS_OU, "page": "500", "attrs": attrs,
            "filter": "(&(objectCategory=person)(objectClass=user)(mail=*)"
                      "(memberOf:1.2.840.113556.1.4.1941:=%s))" % scope_dn})

    def phase_groups(self):
        """[ldap] groups: the full scan, an incremental cycle after members
        were added to the deepest nested group, and the idle cycle, each
        beside an ldapsearch with the in-chain filter. deactivate = none:
        the users outside the group leave the scope without API calls."""
        scope, deepest, members, outside = self.make_groups()
        path = self.conf("groups.conf", sync="deactivate = none\n"
                         "max_deactivations = 100%")
        text = open(path).read().replace("[telephony]", "groups = %s\n[telephony]" % scope)
        with open(path, "w") as f:
            f.write(text)
        self.limits(fast=True)
        log("N=%d: group scope set up (%d members): the first cycle" % (self.n, len(members)))
        self.once("groups-first", path)
        self.limits()
        log("N=%d: group scope: full scan" % self.n)
        r = self.once("groups-full", path, "--full-resync", hold_import=2.0)
        ln = self.lanes(r)
        s = ln["scan"]
        attrs = next((o.get("attrs", "") for o in ln["_scan_ops"] if o["op"] == "search"
                      and o.get("page") and o.get("base") == USERS_OU), "")
        base = min((self.inchain("baseline-groups-full-%d" % k, scope, attrs)
                    for k in range(2)), key=lambda b: b["wall_s"])
        assert base["entries"] == len(members), (base["entries"], len(members))
        self.res["phases"]["groups_full"] = {
            "members": len(members), "ringsyncd_s": s["s"], "baseline_s": base["wall_s"],
            "ldap": s["ldap"], "baseline_ldap": base["ldap"], "api": s["api"],
            "rss_kib": s["rss_kib"], "run": ln["run"], "summary": s["summary"]}
        added = outside[:GROUP_ADDS]
        self.ldapmodify("groups-add", "dn: %s\nchangetype: modify\nadd: member\n%s-\n" % (
            deepest, "".join("member: CN=user%d,%s\n" % (u, USERS_OU) for u in added)),
            as_admin=True)
        self.limits()
        log("N=%d: group scope: incremental, %d members added at depth 3" %
            (self.n, len(added)))
        r = self.once("groups-incremental", path, hold_import=2.0)
        ln = self.lanes(r)
        s = ln["scan"]
        base = self.inchain("baseline-groups-incr", scope, attrs)
        assert base["entries"] == len(members) + len(added)
        self.res["phases"]["groups_incremental"] = {
            "added": len(added), "ringsyncd_s": s["s"], "baseline_s": base["wall_s"],
            "ldap": s["ldap"], "baseline_ldap": base["ldap"], "api": s["api"],
            "rss_kib": s["rss_kib"], "run": ln["run"], "summary": s["summary"]}
        self.once("groups-settle", path)      # the write-back's own changes
        self.limits()
        log("N=%d: group scope: idle run" % self.n)
        r = self.once("groups-idle", path, hold_import=2.0)
        ln = self.lanes(r)
        s = ln["scan"]
        base = self.ldapsearch("baseline-groups-idle", {
            "base": "", "scope": "base", "attrs": "highestCommittedUSN"})
        self.res["phases"]["groups_idle"] = {
            "ringsyncd_s": s["s"], "baseline_s": base["wall_s"], "ldap": s["ldap"],
            "baseline_ldap": base["ldap"], "api": s["api"], "rss_kib": s["rss_kib"],
            "summary": s["summary"]}

    # -- all

    def run(self):
        try:
            self.start_dc()
            self.start_emulator()
            self.phase_initial()
            self.phase_lost_store()
            self.phase_full()
            self.phase_idle_once()
            self.phase_idle_daemon()
            self.phase_incremental()
            self.phase_updates()
            self.phase_creates()
            if self.compare_creates:
                self.phase_create_methods()
            self.phase_deactivations()
            self.phase_edit_latency()
            self.phase_ldap_check()
            self.phase_groups()
        finally:
            _stop_runs()
            self.stop_dc()
            self.ctx.stop_all()
            if not self.args.keep:
                shutil.rmtree(self.tmp, True)
            else:
                log("kept %s" % self.tmp)
        return self.res


# ---------------------------------------------------------------------------
# A plain API client (the import and push baselines)


class PlainClient:
    """Sequential requests on one keep-alive connection; a 429 waits its
    Retry-After and retries (and is counted)."""

    def __init__(self, port, secret_file, jwt_file):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        with open(secret_file) as f:
            secret = f.read().strip()
        with open(jwt_file) as f:
            self.jwt = f.read().strip()
        import base64
        self.basic = "Basic " + base64.b64encode(
            ("ringsync-test:" + secret).encode()).decode()
        self.token = None
        self.reqs = []

    def request(self, method, path, body=None, headers=None):
        while True:
            h = dict(headers or {})
            if self.token:
                h["Authorization"] = "Bearer " + self.token
            self.conn.request(method, path, body=body, headers=h)
            r = self.conn.getresponse()
            data = r.read()
            group = r.getheader("X-Rate-Limit-Group", "?")
            self.reqs.append({"group": group, "status": r.status})
            if r.status == 429:
                time.sleep(float(r.getheader("Retry-After", "1")))
                continue
            if r.status >= 400:
                raise AssertionError("%s %s: %d %s" % (method, path, r.status, data[:300]))
            return json.loads(data) if data else None

    def login(self):
        body = urllib.parse.urlencode({
            "grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
            "assertion": self.jwt})
        j = self.request("POST", "/restapi/oauth/token", body, {
            "Authorization": self.basic,
            "Content-Type": "application/x-www-form-urlencoded"})
        self.token = j["access_token"]

    def pages(self, path):
        n, page = 0, 1
        while True:
            j = self.request("GET", "%s&page=%d&perPage=%d" % (path, page, PER_PAGE))
            n += len(j["records"])
            if "nextPage" not in j["navigation"]:
                return n
            page += 1

    def list_all(self):
        t = time.monotonic()
        self.login()
        nums = self.pages("/restapi/v1.0/account/~/phone-number?usageType=DirectNumber")
        exts = self.pages("/restapi/v1.0/account/~/extension?type=User")
        return {"wall_s": round(time.monotonic() - t, 3), "records": [nums, exts],
                "api": self.figures()}

    def bulk(self, records):
        t = time.monotonic()
        self.login()
        tasks = []
        for k in range(0, len(records), 500):
            j = self.request("POST", "/restapi/v1.0/account/~/extension-bulk-update",
                             json.dumps({"records": records[k:k + 500]}),
                             {"Content-Type": "application/json"})
            tasks.append(j["id"])
        for task in tasks:
            delay = POLL_FIRST
            while True:
                time.sleep(delay)
                j = self.request("GET", "/restapi/v1.0/account/~/extension-bulk-update/"
                                 "tasks/" + task)
                if j["status"] in ("Completed", "Failed"):
                    break
                delay = min(delay * 1.5, 5)
        return {"wall_s": round(time.monotonic() - t, 3), "api": self.figures()}

    def figures(self):
        groups, s429 = {}, 0
        for r in self.reqs:
            groups[r["group"]] = groups.get(r["group"], 0) + 1
            s429 += r["status"] == 429
        return {"calls": len(self.reqs), "groups": groups, "429": s429}


# ---------------------------------------------------------------------------
# Machine, report


def machine():
    with open("/proc/meminfo") as f:
        mem = int(next(l for l in f if l.startswith("MemTotal")).split()[1])
    with open("/proc/cpuinfo") as f:
        model = next((l.split(":", 1)[1].strip() for l in f if l.startswith("model name")),
                     platform.processor())
    samba = subprocess.run(["samba", "-V"], stdout=subprocess.PIPE).stdout.decode().strip()
    samba = samba.replace("Version ", "")
    return {"nproc": os.cpu_count(), "ram_gib": round(mem / 1048576, 1), "cpu": model,
            "kernel": platform.release(), "samba": samba,
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}


def cmd_run(args):
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(143))
    signal.signal(signal.SIGINT, lambda *a: sys.exit(130))
    os.makedirs(args.out, exist_ok=True)
    for n in [int(x) for x in args.sizes.split(",")]:
        res = Bench(args, n).run()
        res["machine"] = machine()
        res["window"] = args.window
        path = os.path.join(args.out, "bench-%d.json" % n)
        with open(path, "w") as f:
            json.dump(res, f, indent=1, sort_keys=True)
        log("N=%d: results in %s" % (n, path))
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="measure")
    r.add_argument("--build", required=True, help="build directory (ringsyncd, ldapcount.so)")
    r.add_argument("--sizes", default="1000,10000,100000")
    r.add_argument("--out", required=True, help="directory for bench-<N>.json")
    r.add_argument("--window", type=int, default=6,
                   help="rate-limit window in seconds for the default limits (60 = real time)")
    r.add_argument("--template", default=None, help="sambadc template directory")
    r.add_argument("--keep", action="store_true", help="keep the temporary directories")
    p = sub.add_parser("report", help="write the README's performance section")
    p.add_argument("--out", required=True)
    p.add_argument("--readme", default=os.path.join(SOURCE, "README.md"))
    a = ap.parse_args()
    if a.cmd == "run":
        return cmd_run(a)
    import report
    return report.main(a)


if __name__ == "__main__":
    sys.exit(main())
