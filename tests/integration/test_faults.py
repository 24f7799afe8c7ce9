"""Faults end to end (issue #8): a throwaway Samba AD DC, the phone-API
emulator and the real ringsyncd running as a daemon, one fault per test:
the DC stopped in the middle of a scan, failover to a second URI and a DC
with a new identity, the emulator's injected faults, an expired session,
SIGKILL at random points of a large sync, and a full state file system.

Every test ends with the same check (verify): nothing lost and nothing
doubled on either side. Phone side: exactly one enabled phone user per AD
user, its profile equal to AD's mapped values, exactly as many creates as
new users. AD side: the numbers written back with the default templates,
each attribute written exactly once (its version in replPropertyMetaData
is 1). Store: nothing left in the outbox or the write-back queue, no user
left failing.

RINGSYNC_FAULT_SEED=N reproduces the kill points of the SIGKILL test (each
run prints the seed it used).
"""
import base64
import errno
import json
import os
import random
import re
import signal
import struct
import subprocess
import sys
import time
import unittest

import rstest
import test_sync
from rstest import RINGSYNCD, RINGSYNCCTL

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "phone"))
import test_ctl_auth  # noqa: E402  (plays the browser of ringsyncctl auth login)

person = test_sync.person
summaries = test_sync.summaries

# replPropertyMetaData attribute ids (the prefix map every AD DC shares).
ATTID = {"telephoneNumber": 0x14, "ipPhone": 0x902d1}
AD_ATTRS = ["givenName", "sn", "mail", "st", "c", "l", "department",
            "telephoneNumber", "ipPhone"]
BULK = "/restapi/v1.0/account/~/extension-bulk-update"

# A restored DC (docs/behaviour.md): same data, a new invocationId. Run with
# samba stopped, through SamDB on the DC's own files.
NEW_INVOCATION_ID = r"""
import sys, uuid, ldb
sys.path.insert(0, sys.argv[1])
import sambadc
from samba.dcerpc import misc
from samba.ndr import ndr_pack
db = sambadc.open_samdb(sambadc.Paths(sys.argv[2]))
m = ldb.Message()
m.dn = ldb.Dn(db, db.get_dsServiceName())
m["invocationId"] = ldb.MessageElement(ndr_pack(misc.GUID(str(uuid.uuid4()))),
                                       ldb.FLAG_MOD_REPLACE, "invocationId")
db.modify(m)
"""


def attr_versions(blob_b64):
    """{attid: version} from a replPropertyMetaData value (MS-DRSR 5.166)."""
    data = base64.b64decode(blob_b64)
    count = struct.unpack_from("<I", data, 8)[0]
    return dict(struct.unpack_from("<II", data, 16 + 48 * i) for i in range(count))


def mdb_unescape(text):
    """A value of `mdb_dump -p` (printable, backslash escapes)."""
    out, i = bytearray(), 0
    while i < len(text):
        if text[i] == "\\" and text[i + 1] == "\\":
            out.append(0x5c)
            i += 2
        elif text[i] == "\\":
            out.append(int(text[i + 1:i + 3], 16))
            i += 3
        else:
            out += text[i].encode()
            i += 1
    return out.decode("utf-8", "replace")


class FaultTest(test_sync.SyncTest):
    """test_sync's fixtures (DC, emulator, configuration, helpers)."""

    def fconf(self, sync="", uri=None, state=None, jwt=True, phone_timeout=None,
              page_size=None):
        """A daemon configuration: 1 s cycles, and what a fault needs."""
        with open(self.conf(sync="interval = 1s\nimport_interval = 1s\n" + sync)) as f:
            text = f.read()
        lines = []
        for line in text.splitlines():
            key = line.split("=", 1)[0].strip()
            if key == "uri" and uri:
                line = "uri = " + uri
            elif key == "state_dir" and state:
                line = "state_dir = " + state
            elif key == "page_size" and page_size:
                line = "page_size = %d" % page_size
            elif key == "jwt_file" and not jwt:
                continue
            lines.append(line)
            if key == "client_id" and phone_timeout:
                lines.append("timeout = " + phone_timeout)
        return self.write("ringsyncd.conf", "\n".join(lines) + "\n", 0o644)

    def daemon(self, conf, name="ringsyncd"):
        return self.start([RINGSYNCD, "-f", "-c", conf], name)

    def state_dir(self):
        return getattr(self, "state", os.path.join(self.tmp, "state"))

    def dump(self, db):
        """{key: value} of one database of the store, read with mdb_dump."""
        r = subprocess.run(["mdb_dump", "-n", "-p", "-s", db,
                            os.path.join(self.state_dir(), "state.mdb")],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
        if r.returncode != 0:
            return None
        lines = r.stdout.decode().split("HEADER=END\n", 1)[1].splitlines()
        lines = lines[:lines.index("DATA=END")]
        return {mdb_unescape(k[1:]): mdb_unescape(v[1:])
                for k, v in zip(lines[0::2], lines[1::2])}

    def watermark(self):
        return (self.dump("watermark") or {}).get("current")

    def emu_fault(self, kind, count=1, path=None, delay=None):
        body = {"kind": kind, "count": count}
        if path:
            body["path_prefix"] = path
        if delay is not None:
            body["delay"] = delay
        self.emu.call("POST", "/_emu/fault", body)

    def creates(self, since=0):
        return [r for r in self.requests(since, "POST", "/scim/v2/Users")
                if r["status"] == 201]

    # ------------------------------------------------------------ the check

    def problems(self, cns):
        """What still differs between AD and the phone system for the users
        cns (their phone users, profiles and written-back numbers)."""
        out = []
        phone = self.emu.users_by_email()
        ad = {e["dn"][0].lower(): e for e in
              self.dc.search(self.ou, "(objectClass=user)", AD_ATTRS, scope="one")}
        for cn in cns:
            a = ad.get(self.dn(cn).lower())
            if a is None:
                out.append("%s: not in AD" % cn)
                continue
            get = lambda attr: (a.get(attr.lower()) or [None])[0]   # noqa: E731
            email = get("mail").lower()
            found = phone.get(email, [])
            if len(found) != 1:
                out.append("%s: %d phone users" % (email, len(found)))
                continue
            x = found[0]
            c = x.get("contact") or {}
            addr = c.get("businessAddress") or {}
            want = {"status": "Enabled", "firstName": get("givenName"),
                    "lastName": get("sn"), "email": email,
                    "department": get("department"), "city": get("l"),
                    "state": get("st"), "country": get("c")}
            have = {"status": x["status"], "firstName": c.get("firstName"),
                    "lastName": c.get("lastName"), "email": (c.get("email") or "").lower(),
                    "department": c.get("department"), "city": addr.get("city"),
                    "state": addr.get("state"), "country": addr.get("country")}
            if have != want:
                out.append("%s: phone profile %s, AD %s" % (email, have, want))
            direct = x["directNumbers"][0] if x["directNumbers"] else ""
            wb = {"telephoneNumber": "%s#%s" % (direct, x["extensionNumber"]),
                  "ipPhone": x["extensionNumber"]}
            got = {k: get(k) for k in wb}
            if got != wb:
                out.append("%s: AD has %s, the phone system %s" % (cn, got, wb))
        return out

    def wait_synced(self, cns, timeout=300):
        last = []

        def done():
            last[:] = self.problems(cns)
            return not last
        try:
            rstest.wait_for(done, timeout, "the sync")
        except AssertionError:
            self.fail("not in step after %d s: %s" % (timeout, "; ".join(last[:8])))

    def wait_faults_taken(self):
        """Every injected fault taken by a request (the retries that take
        the last ones may follow the moment both sides are in step)."""
        rstest.wait_for(lambda: self.emu.call("GET", "/_emu/fault")["faults"] == [], 120,
                        "every fault taken")

    def wait_drained(self, conf):
        """Nothing left in the outbox and the write-back queue (the last
        answers may still be on their way to the store when the emulator
        already shows them)."""
        status = [RINGSYNCCTL, "-c", conf, "status"]
        last = [""]

        def drained():
            last[0] = self.run_cmd(status)[1]
            return " outbox=0 writeback=0" in last[0].splitlines()[0]
        try:
            rstest.wait_for(drained, 120, "an empty outbox")
        except AssertionError:
            self.fail("work left in the store:\n" + last[0])

    def verify(self, cns, conf, creates):
        """The final state: nothing lost, nothing doubled, on both sides."""
        self.wait_drained(conf)
        self.assertEqual(self.problems(cns), [])
        # Phone: no phone user for anyone else, and each create sent once.
        ours = {e for e in self.emu.users_by_email() if e.endswith("@example.test")}
        self.assertEqual(ours, {cn + "@example.test" for cn in cns})
        self.assertEqual(len(self.creates()), creates)
        # AD: each written-back attribute changed once.
        for e in self.dc.search(self.ou, "(objectClass=user)", ["replPropertyMetaData"],
                                scope="one"):
            v = attr_versions(e["replpropertymetadata"][0])
            self.assertEqual({a: v.get(i) for a, i in ATTID.items()},
                             {a: 1 for a in ATTID}, e["dn"][0])
        # Store: nobody failing, nobody else.
        rc, out = self.run_cmd([RINGSYNCCTL, "-c", conf, "users", "--failed"])
        self.assertEqual((rc, out), (0, ""))
        rc, out = self.run_cmd([RINGSYNCCTL, "-c", conf, "users"])
        self.assertEqual(len(out.splitlines()), len(cns), out)

    # ------------------------------------------------------------ AD faults

    def test_dc_stopped_mid_scan(self):
        n = 200
        self.start_emulator({"free_extensions": {"count": n + 5, "start": 30000},
                             "inventory_numbers": {"count": n, "start": "+16505710000"}})
        cns = ["m%03d" % i for i in range(n)]
        self.add(*[person(cn, self.ou) for cn in cns])
        conf = self.fconf(page_size=1)   # a scan of 200 pages
        d = self.daemon(conf)
        # Stop the daemon as soon as the first page is durable (polled without
        # backoff: a slower poll may see the last page instead).
        deadline = time.monotonic() + 120 * rstest.TIMEOUT_SCALE
        while not self.dump("users"):
            self.assertLess(time.monotonic(), deadline, "the first page of the scan")
            time.sleep(0.005)
        d.signal(signal.SIGSTOP)
        try:
            self.assertIsNone(self.watermark(), "the scan ended before the DC stopped")
            seen = len(self.dump("users"))
            self.assertTrue(0 < seen < n, seen)
            self.dc.stop()
        finally:
            d.signal(signal.SIGCONT)
        try:
            d.wait_output("AD scan failed: the watermark stays", 120)
            mark = len(d.output())
            d.wait_output("cannot reach Active Directory: retrying", 60, start=mark)
            self.assertIsNone(self.watermark())
            self.assertIsNone(d.p.poll())
        finally:
            self.dc.start()
        self.wait_synced(cns)
        self.assertIsNotNone(self.watermark())
        self.verify(cns, conf, creates=n)
        d.stop()
        self.assertEqual(d.p.returncode, 0, d.output()[-3000:])

    def test_failover_then_new_dc_identity(self):
        n = 20
        self.start_emulator({"free_extensions": {"count": n + 5, "start": 31000},
                             "inventory_numbers": {"count": n + 5, "start": "+16505720000"}})
        cns = ["f%02d" % i for i in range(n)]
        self.add(*[person(cn, self.ou) for cn in cns])
        # The first URI is down (nothing listens there): the second serves.
        down = "ldaps://127.0.0.1:1"
        conf = self.fconf(uri=down + " " + self.dc.env["LDAP_URI"])
        d = self.daemon(conf)
        self.wait_synced(cns)
        first = summaries(d.output(), "incremental")[0]
        self.assertEqual((first["full"], first["dc"]), ("yes", "dc1.example.test"))
        before = self.dc.status()["invocationId"]
        self.assertIn('"invocationId":"%s"' % before, self.watermark())
        ids = {self.ext(cn + "@example.test")["id"] for cn in cns}
        versions = {x["id"]: x["version"] for x in self.emu.state()["extensions"]
                    if x["id"] in ids}

        # The DC comes back restored from a backup: a new identity (see
        # docs/behaviour.md). One user was added meanwhile, one is edited after.
        self.dc.stop()
        try:
            mark = len(d.output())
            d.wait_output("cannot reach Active Directory", 60, start=mark)
            # Both URIs were tried, in order.
            self.assertRegex(d.output()[mark:], r"cannot reach Active Directory: retrying "
                             r"at the next cycle error=.*127\.0\.0\.1:1.*; ldaps://127\.0\.0\.1")
            self.add(person("f-new", self.ou))
            r = subprocess.run(["/usr/bin/python3", "-c", NEW_INVOCATION_ID,
                                os.path.join(HERE, "samba"), self.dc.dir],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
            self.assertEqual(r.returncode, 0, r.stdout.decode())
        finally:
            mark = len(d.output())
            self.dc.start()
        after = self.dc.status()["invocationId"]
        self.assertNotEqual(after, before)
        d.wait_output("another DC, or a DC with a new identity: scanning everything", 60,
                      start=mark)
        self.set_attr("f03", "department", "After restore")
        cns.append("f-new")
        self.wait_synced(cns)
        full = [s for s in summaries(d.output()[mark:], "incremental") if s["full"] == "yes"]
        self.assertEqual(full[0]["scanned"], str(n + 1))
        self.assertIn('"invocationId":"%s"' % after, self.watermark())
        # The full scan changed nothing else on the phone side.
        now = {x["id"]: x["version"] for x in self.emu.state()["extensions"]
               if x["id"] in ids}
        f03 = self.ext("f03@example.test")["id"]
        self.assertEqual(now, {k: versions[k] + (k == f03) for k in versions})
        self.verify(cns, conf, creates=n + 1)

    # ------------------------------------------------------- phone faults

    def test_api_faults(self):
        n = 30
        pre = [{"id": 32000 + i, "extensionNumber": str(32000 + i), "status": "Enabled",
                "contact": {"firstName": "Old", "lastName": "Name",
                            "email": "A%02d@example.test" % i}} for i in range(3)]
        self.start_emulator({"free_extensions": {"count": n + 5, "start": 32100},
                             "inventory_numbers": {"count": n + 5, "start": "+16505730000"},
                             "extensions": pre})
        cns = ["a%02d" % i for i in range(n)]
        self.add(*[person(cn, self.ou) for cn in cns])
        # Phase 1: bursts and storms on everything the first sync uses.
        scim, numbers = "/scim/v2/Users", "/restapi/v1.0/account/~/directory"
        self.emu_fault("503", 2, "/restapi/oauth/token")
        self.emu_fault("503", 4, scim)
        self.emu_fault("reset", 2, scim)
        self.emu_fault("nonjson", 2, scim)
        self.emu_fault("429", 8, scim, delay=1)
        self.emu_fault("503", 2, numbers)
        self.emu_fault("truncated", 1, numbers)
        self.emu_fault("nonjson", 1, numbers)
        self.emu_fault("reset", 1, "/restapi/v1.0/account/~/extension")
        conf = self.fconf(phone_timeout="2s")
        d = self.daemon(conf)
        self.wait_synced(cns)
        self.wait_faults_taken()
        self.assertIn("is not answering: retrying in", d.output())

        # Phase 2: creates the server made but whose answer was lost (a
        # truncated response, then one past the timeout). The search before
        # each create gets a no-op fault (a delay of 0) to put them in line.
        for cn, kind, delay in (("a-trunc", "truncated", None), ("a-slow", "delay", 3.5)):
            seq = self.emu.last_seq()
            self.emu_fault("delay", 1, scim, delay=0)
            self.emu_fault(kind, 1, scim, delay=delay)
            self.add(person(cn, self.ou))
            cns.append(cn)
            self.wait_synced(cns)
            posts = self.requests(seq, "POST", scim)
            self.assertEqual([(r["status"], r["fault"]) for r in posts][:1],
                             [(201, kind)], posts)
            self.assertEqual(len(posts), 1, posts)   # found, not created again

        # Phase 3: bulk updates through 503s, a lost answer, HTML, a delay
        # past the timeout and a 429 storm on every path.
        seq = self.emu.last_seq()
        before = {x["id"]: x["version"] for x in self.emu.state()["extensions"]}
        self.emu_fault("503", 2, BULK)
        self.emu_fault("truncated", 1, BULK)
        self.emu_fault("nonjson", 1, BULK)
        self.emu_fault("delay", 1, BULK, delay=3.5)
        self.emu_fault("429", 10, delay=1)
        edited = cns[:10]
        for cn in edited:
            self.set_attr(cn, "department", "Faults")
        self.wait_synced(cns)
        # A lost answer (the truncated one) leaves the phone side in step
        # before the pusher knows: its retries take the faults still queued.
        self.wait_faults_taken()
        self.wait_synced(cns)
        after = {x["id"]: x["version"] for x in self.emu.state()["extensions"]}
        changed = {k for k in after if after[k] != before.get(k)}
        self.assertEqual(changed, {self.ext(cn + "@example.test")["id"] for cn in edited})
        self.assertEqual({after[k] - before[k] for k in changed}, {1})
        self.assertTrue(any(r["status"] == 429 for r in self.emu.log(seq)))
        self.verify(cns, conf, creates=n - 3 + 2)
        self.assertIsNone(d.p.poll())
        for secret in (rstest.FAKE_JWT, rstest.FAKE_CLIENT_SECRET):
            self.assertNotIn(secret, d.output())

    def login(self, conf):
        """ringsyncctl auth login, with the test as the browser."""
        p = self.start([RINGSYNCCTL, "-c", conf, "auth", "login", "--timeout", "120"],
                       "login-%d" % len(self.procs))
        url = rstest.wait_for(lambda: test_ctl_auth.URL_RE.search(p.output()), 60,
                              "the authorization URL").group(1)
        status, headers, _ = test_ctl_auth.fetch(url)
        self.assertEqual(status, 302)
        status, _, body = test_ctl_auth.fetch(headers["Location"])
        self.assertEqual(status, 200, body)
        self.assertEqual(p.wait(60), 0, p.output())

    def test_session_expired_keeps_outbox(self):
        self.start_emulator({"free_extensions": {"count": 20, "start": 33000}})
        cns = ["e%02d" % i for i in range(8)]
        self.add(*[person(cn, self.ou) for cn in cns[:5]])
        conf = self.fconf(jwt=False)   # the session comes from auth login
        self.login(conf)
        d = self.daemon(conf)
        self.wait_synced(cns[:5])
        # The access token expires mid-run: renewed with the refresh token.
        mark = len(d.output())
        self.emu.call("POST", "/_emu/tokens", {"expire_access": True})
        self.set_attr("e00", "department", "Renewed")
        d.wait_output("phone-system session renewed grant=refresh_token", 60, start=mark)
        self.wait_synced(cns[:5])
        self.wait_drained(conf)
        # Then the refresh token is revoked as well: an alert, and the work
        # stays in the outbox.
        mark = len(d.output())
        self.emu.call("POST", "/_emu/tokens", {"revoke_refresh": True})
        self.emu.call("POST", "/_emu/tokens", {"expire_access": True})
        self.add(*[person(cn, self.ou) for cn in cns[5:]])
        self.set_attr("e01", "department", "Waiting")
        d.wait_output("alert: The phone-system session expired: run `ringsyncctl auth "
                      "login`", 60, start=mark)
        status = [RINGSYNCCTL, "-c", conf, "status"]
        rstest.wait_for(lambda: " outbox=4 " in self.run_cmd(status)[1], 60,
                        "four entries in the outbox")
        for _ in range(3):   # cycles go on; the entries stay; one alert
            d.wait_output("cycle done kind=incremental", 30, start=len(d.output()))
        rc, out = self.run_cmd(status)
        self.assertEqual(rc, 2, out)
        self.assertRegex(out, r"^RINGSYNC CRITICAL: .*the phone system refused the session")
        self.assertIn(" outbox=4 ", out.splitlines()[0], out)
        self.assertEqual(d.output()[mark:].count("alert: "), 1, d.output()[mark:])
        self.assertEqual(set(self.emu.users_by_email()),
                         {cn + "@example.test" for cn in cns[:5]})
        self.assertIsNone(d.p.poll())
        # Re-authorised while ringsyncd runs: the outbox drains.
        self.login(conf)
        self.wait_synced(cns)
        self.verify(cns, conf, creates=len(cns))

    # ---------------------------------------------------- ringsyncd faults

    def test_sigkill_at_random_points(self):
        n = 300
        seed = int(os.environ.get("RINGSYNC_FAULT_SEED") or random.randrange(1 << 31))
        print("\ntest_sigkill_at_random_points: seed %d (RINGSYNC_FAULT_SEED=%d "
              "repeats these kill points)" % (seed, seed), file=sys.stderr, flush=True)
        rng = random.Random(seed)
        self.start_emulator({"free_extensions": {"count": n + 10, "start": 34000},
                             "inventory_numbers": {"count": n, "start": "+16505740000"}})
        cns = ["k%03d" % i for i in range(n)]
        self.add(*[person(cn, self.ou) for cn in cns])
        conf = self.fconf()
        points = []
        for k in range(20):
            # After a number of API requests (pushes, imports), or a time
            # (start-up, scan, write-back to AD).
            if rng.random() < 0.6:
                point = ("requests", rng.randint(1, 40))
            else:
                point = ("seconds", round(rng.uniform(0.0, 1.5), 2))
            points.append(point)
            seq = self.emu.last_seq()
            d = self.daemon(conf, "ringsyncd-%02d" % k)
            if point[0] == "requests":
                rstest.wait_for(lambda: len(self.emu.log(seq)) >= point[1] or
                                d.p.poll() is not None, 120, "kill point %r" % (point,))
            else:
                time.sleep(point[1] * rstest.TIMEOUT_SCALE)
            self.assertIsNone(d.p.poll(), d.output()[-2000:])
            d.signal(signal.SIGKILL)
            d.wait(30)
            d.stop()
        print("kill points: %s" % points, file=sys.stderr, flush=True)
        d = self.daemon(conf, "ringsyncd-final")
        self.wait_synced(cns, 600)
        self.verify(cns, conf, creates=n)
        d.stop()
        self.assertEqual(d.p.returncode, 0, d.output()[-3000:])

    # ------------------------------------------------------ the state disk

    def mount_small_fs(self, size):
        """A tmpfs of size bytes on a temp dir (we run as root)."""
        mnt = os.path.join(self.tmp, "statefs")
        os.mkdir(mnt, 0o700)
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%d,mode=0700" % size,
                            "tmpfs", mnt], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT)
        if r.returncode != 0:
            raise AssertionError("cannot mount a tmpfs (this test needs root): " +
                                 r.stdout.decode())

        def umount():
            self._stop_all()   # nothing may keep the file system busy
            subprocess.run(["umount", mnt], check=True)
        self.addCleanup(umount)
        return mnt

    def fill(self, mnt):
        """Fill the file system until the kernel says ENOSPC."""
        path = os.path.join(mnt, "filler")
        chunk = b"\0" * 4096
        with open(path, "wb", buffering=0) as f:
            try:
                while True:
                    f.write(chunk)
            except OSError as e:
                self.assertEqual(e.errno, errno.ENOSPC)
        return path

    def test_state_disk_full(self):
        n0, n1 = 10, 150
        self.start_emulator({"free_extensions": {"count": n0 + n1 + 5, "start": 35000},
                             "inventory_numbers": {"count": n0 + n1, "start": "+16505750000"}})
        mnt = self.mount_small_fs(2 << 20)
        self.state = os.path.join(mnt, "state")
        conf = self.fconf(state=self.state)
        cns = ["d%03d" % i for i in range(n0 + n1)]
        self.add(*[person(cn, self.ou) for cn in cns[:n0]])
        d = self.daemon(conf)
        self.wait_synced(cns[:n0])
        # Idle: the scans have seen the write-back too.
        top = self.dc.status()["highestCommittedUSN"]
        rstest.wait_for(lambda: json.loads(self.watermark() or "{}").get("usn") == top,
                        60, "an idle cycle")
        wm = self.watermark()

        filler = self.fill(mnt)
        full_error = (r"err: cannot commit to the state store error=\"cannot write the "
                      r"state store in %s: its file system is full \(\d+ bytes free; "
                      r"LMDB: [^)]*\): nothing was written; free space there\""
                      % re.escape(self.state))
        mark = len(d.output())
        self.add(*[person(cn, self.ou) for cn in cns[n0:]])
        d.wait_output("its file system is full", 60, start=mark)
        d.wait_output("cycle done kind=incremental", 60, start=len(d.output()))
        self.assertRegex(d.output()[mark:], full_error)
        # The cycle says its work is not all recorded.
        self.assertRegex(d.output()[mark:], r"cycle done kind=incremental .* "
                         r"failed=\d+ api_calls=\d+ ms=\d+ store_errors=[1-9]")
        self.assertEqual(len(self.creates()), n0)   # nothing sent unrecorded
        self.assertEqual(self.watermark(), wm)      # the scan did not count
        self.check_store()
        # Stopped and started again on the full disk: it stops cleanly,
        # opens its store and says the same.
        d.stop()
        self.assertEqual(d.p.returncode, 0, d.output()[-3000:])
        self.check_store()
        d = self.daemon(conf, "ringsyncd-2")
        d.wait_output("its file system is full", 60)
        self.assertRegex(d.output(), full_error)
        # Space again: the daemon resumes and syncs everything.
        os.unlink(filler)
        self.wait_synced(cns, 300)
        self.verify(cns, conf, creates=n0 + n1)
        d.stop()
        self.assertEqual(d.p.returncode, 0, d.output()[-3000:])
        self.check_store()

    def check_store(self):
        """No corrupt store: LMDB's own tools read every database."""
        path = os.path.join(self.state_dir(), "state.mdb")
        for argv in (["mdb_stat", "-n", "-a", path], ["mdb_dump", "-n", "-a", path]):
            r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               timeout=60)
            self.assertEqual(r.returncode, 0, r.stdout.decode()[-2000:])

def load_tests(loader, standard_tests, pattern):
    """Only this file's tests: SyncTest's own run from test_sync.py."""
    names = sorted(n for n in vars(FaultTest) if n.startswith("test_"))
    return unittest.TestSuite(FaultTest(n) for n in names)


if __name__ == "__main__":
    unittest.main()
