"""common/ad against a real Samba AD DC (issue #3), through ad_driver.

Each test works in an OU of its own with a state directory of its own, so
the tests do not see each other's changes; the DC is shared by the class.
"""
import json
import os
import shutil
import subprocess
import unittest

import rstest
import samba_fixture
from samba_fixture import DC

AD_DRIVER = os.environ.get("AD_DRIVER", "ad_driver")
CORP = "OU=Corp,DC=example,DC=test"


_seq = [0]


def user(cn, ou, **attrs):
    """A spec user; sAMAccountName is unique in the domain, cn per OU."""
    _seq[0] += 1
    a = {"givenName": cn.capitalize(), "sn": "Test", "mail": cn + "@example.test",
         "st": "CA", "c": "US", "sAMAccountName": ("s%d-%s" % (_seq[0], cn))[:20]}
    a.update(attrs)
    return {"cn": cn, "ou": ou, "attrs": {k: v for k, v in a.items() if v is not None}}


class ADTest(samba_fixture.DCTestCase, rstest.TestCase):

    def setUp(self):
        rstest.TestCase.setUp(self)
        self.ou = "OU=t-%s,%s" % (self._testMethodName.replace("_", "-"), CORP)

    def conf(self, name="ringsyncd.conf", ldap_extra="", uri=None, base=None,
             user_filter=None, state="state", bind=True):
        env = self.dc.env
        client = self.write("client.secret", "fake-client-secret")
        lines = ["[ldap]", "uri = %s" % (uri or env["LDAP_URI"]),
                 "base_dn = %s" % (base or self.ou),
                 "tls_ca_cert = %s" % env["CA_CERT"], "page_size = 10"]
        if bind:
            lines += ["bind_dn = %s" % env["SVC_DN"],
                      "bind_password_file = %s" % env["SVC_PW_FILE"]]
        if user_filter:
            lines.append("user_filter = " + user_filter)
        lines += [ldap_extra, "[telephony]", "client_id = test",
                  "client_secret_file = " + client,
                  "server = http://127.0.0.1:9", "[sync]",
                  "state_dir = " + os.path.join(self.tmp, state)]
        return self.write(name, "\n".join(lines) + "\n", 0o644)

    def driver(self, conf, *args, env=None):
        r = subprocess.run(rstest.wrap([AD_DRIVER, "-c", conf] + list(args)),
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           stdin=subprocess.DEVNULL,
                           timeout=300 * rstest.TIMEOUT_SCALE, env=env)
        events = [json.loads(l) for l in r.stdout.decode().splitlines() if l]
        return r.returncode, events, r.stderr.decode()

    def scan(self, conf, *args, expect_rc=0):
        rc, ev, err = self.driver(conf, "scan", *args)
        self.assertEqual(rc, expect_rc, "scan: %s %s" % (ev[-3:], err))
        plan = [e for e in ev if e["event"] == "plan"]
        entries = [e for e in ev if e["event"] == "entry"]
        done = [e for e in ev if e["event"] == "done"]
        return (plan[0] if plan else None), entries, (done[0] if done else None)

    def set_attr(self, dn, attr, value, as_svc=False):
        self.dc.modify("dn: %s\nchangetype: modify\nreplace: %s\n%s: %s\n" %
                       (dn, attr, attr, value), as_svc)

    def usn_of(self, dn):
        return int(self.dc.search(dn, attrs=["uSNChanged"])[0]["usnchanged"][0])

    def make_users(self, n, prefix="u", **attrs):
        spec = [user("%s%02d" % (prefix, i), self.ou, **attrs) for i in range(n)]
        self.dc.add_users(spec, self.tmp)
        return ["CN=%s,%s" % (u["cn"], self.ou) for u in spec]

    # ---- scans ----

    def test_full_then_incremental(self):
        dns = self.make_users(25)
        conf = self.conf()
        plan, entries, done = self.scan(conf)
        self.assertTrue(plan["full"])
        self.assertEqual(plan["reason"], "no-watermark")
        self.assertEqual(sorted(e["dn"] for e in entries), sorted(dns))
        self.assertEqual(len({e["guid"] for e in entries}), 25)
        self.assertGreaterEqual(done["pages"], 3)          # page_size 10
        e0 = [e for e in entries if e["dn"] == dns[0]][0]
        self.assertEqual(e0["attrs"]["mail"], "u00@example.test")
        self.assertEqual(e0["attrs"]["st"], "CA")
        self.assertFalse(e0["disabled"])
        self.assertIsNone(e0.get("problem"))

        # Idle: nothing of ours changed.
        plan, entries, _ = self.scan(conf)
        self.assertFalse(plan["full"])
        self.assertEqual(plan["reason"], "incremental")
        self.assertEqual(entries, [])

        # Exactly the edited users, each once, whatever else happened.
        for dn in dns[3:6]:
            self.set_attr(dn, "department", "Edited")
        self.set_attr(dns[4], "l", "Twice")
        plan, entries, _ = self.scan(conf)
        self.assertEqual(sorted(e["dn"] for e in entries), sorted(dns[3:6]))
        self.assertEqual(self.scan(conf)[1], [])

        # The watermark survives a DC restart: still incremental.
        self.dc.stop()
        self.dc.start()
        plan, entries, _ = self.scan(conf)
        self.assertEqual(plan["reason"], "incremental")
        self.assertEqual(entries, [])
        plan, entries, _ = self.scan(conf, "--full")
        self.assertEqual(plan["reason"], "forced")
        self.assertEqual(len(entries), 25)

    def test_deleted_disabled_renamed_moved(self):
        dns = self.make_users(6)
        sub = "OU=Sub," + self.ou
        self.dc.add_users([user("extra", sub)], self.tmp)
        conf = self.conf()
        _, entries, _ = self.scan(conf)
        guid = {e["dn"]: e["guid"] for e in entries}
        self.assertEqual(len(guid), 7)

        self.set_attr(dns[0], "userAccountControl", "514")
        self.dc.tool(["ldapdelete", dns[1]])
        self.dc.tool(["ldapmodrdn", "-r", dns[2], "CN=Renamed Person"])
        self.dc.tool(["ldapmodrdn", "-r", "-s", sub, dns[3], "CN=u03"])
        plan, entries, _ = self.scan(conf)
        self.assertEqual(plan["reason"], "incremental")
        self.assertEqual(plan["deleted_visible"], 1)
        by_guid = {e["guid"]: e for e in entries}
        self.assertEqual(len(entries), 4, entries)
        self.assertTrue(by_guid[guid[dns[0]]]["disabled"])
        self.assertFalse(by_guid[guid[dns[0]]]["deleted"])
        self.assertTrue(by_guid[guid[dns[1]]]["deleted"])
        self.assertIn("Deleted Objects", by_guid[guid[dns[1]]]["dn"])
        self.assertEqual(by_guid[guid[dns[2]]]["dn"], "CN=Renamed Person," + self.ou)
        self.assertEqual(by_guid[guid[dns[3]]]["dn"], "CN=u03," + sub)
        self.assertFalse(by_guid[guid[dns[3]]]["deleted"])

    def test_edit_during_paged_scan_not_lost(self):
        dns = self.make_users(35)
        conf = self.conf()
        pause = os.path.join(self.tmp, "pause")
        d = self.start([AD_DRIVER, "-c", conf, "scan", "--pause-after", "1",
                        "--pause-file", pause], "driver")
        rstest.wait_for(lambda: os.path.exists(pause), 60, "the first page")
        first_page = [json.loads(l) for l in d.output().splitlines()
                      if '"entry"' in l]
        self.assertEqual(len(first_page), 10)
        edited = [dn for dn in dns if dn not in {e["dn"] for e in first_page}][0]
        already = first_page[0]["dn"]
        self.set_attr(edited, "department", "During")
        self.set_attr(already, "department", "During")
        open(pause + ".go", "w").close()
        self.assertEqual(d.wait(120), 0)
        first = {json.loads(l)["dn"] for l in d.output().splitlines() if '"entry"' in l}
        # A full scan has no upper bound: the user edited during it is met
        # all the same (else the sweep would take it for out of scope), and
        # the next scan, above the watermark, has it again.
        self.assertEqual(first, set(dns))
        _, entries, _ = self.scan(conf)
        self.assertEqual(sorted(e["dn"] for e in entries), sorted([edited, already]))
        self.assertEqual(first | {e["dn"] for e in entries}, set(dns))
        for e in entries:
            self.assertEqual(e["attrs"]["department"], "During")

    def test_dc_stopped_mid_scan(self):
        self.make_users(30)
        conf = self.conf()
        pause = os.path.join(self.tmp, "pause")
        d = self.start([AD_DRIVER, "-c", conf, "scan", "--pause-after", "1",
                        "--pause-file", pause], "driver")
        rstest.wait_for(lambda: os.path.exists(pause), 60, "the first page")
        self.dc.stop()
        try:
            open(pause + ".go", "w").close()
            self.assertEqual(d.wait(120), 3)
            done = [json.loads(l) for l in d.output().splitlines() if '"done"' in l][0]
            self.assertFalse(done["ok"])
            self.assertIn("scan of", done["error"])
            rc, ev, _ = self.driver(conf, "watermark")
            self.assertIsNone(ev[0]["usn"])          # the watermark did not move
            rc, ev, _ = self.driver(conf, "scan")
            self.assertEqual(rc, 3)
            self.assertEqual(ev[0]["event"], "connect_failed")
        finally:
            self.dc.start()
        plan, entries, done = self.scan(conf)
        self.assertTrue(plan["full"])
        self.assertEqual(len(entries), 30)
        rc, ev, _ = self.driver(conf, "watermark")
        self.assertEqual(ev[0]["usn"], plan["upper"])

    def test_usn_rollback_forces_full(self):
        dns = self.make_users(3)
        conf = self.conf()
        self.scan(conf)
        backup = os.path.join(self.tmp, "dc-backup")
        self.dc.stop()
        subprocess.run(["cp", "-a", self.dc.dir, backup], check=True)
        self.dc.start()
        try:
            for i in range(5):
                self.set_attr(dns[0], "department", "Later %d" % i)
            plan, entries, _ = self.scan(conf)
            self.assertEqual(plan["reason"], "incremental")
            self.assertEqual(len(entries), 1)
        finally:
            # A file-level restore: same identity, older USNs.
            self.dc.stop()
            shutil.rmtree(self.dc.dir)
            subprocess.run(["cp", "-a", backup, self.dc.dir], check=True)
            self.dc.start()
        plan, entries, _ = self.scan(conf)
        self.assertTrue(plan["full"])
        self.assertEqual(plan["reason"], "usn-rollback")
        self.assertEqual(len(entries), 3)

    def test_other_dc_forces_full(self):
        self.make_users(2)
        conf = self.conf(base=CORP)
        self.scan(conf)
        before = self.dc.status()["invocationId"]
        self.dc.stop()
        other = None
        try:
            # A freshly provisioned DC of the same name: a new invocationId.
            other = DC(os.path.join(self.tmp, "dc2"), template=None)
            self.assertNotEqual(other.status()["invocationId"], before)
            # Its own CA and service password; the same state directory.
            text = open(conf).read()
            for k in ("CA_CERT", "SVC_PW_FILE"):
                text = text.replace(self.dc.env[k], other.env[k])
            conf = self.write("other.conf", text)
            plan, entries, _ = self.scan(conf)
            self.assertEqual(plan["reason"], "dc-changed")
            self.assertEqual(plan["invocation_id"], other.status()["invocationId"])
            self.assertEqual(plan["lower"], 0)
        finally:
            if other is not None:
                other.stop()
            self.dc.start()

    def test_bad_data_is_a_per_user_problem(self):
        odd = "Zoë \u200d👩‍💻 \u05e9\u05dc\u05d5\u05dd e\u0301"
        spec = [user("longaddr", self.ou, streetAddress="x" * 1024),
                user("oddutf8", self.ou, givenName=odd),
                user("nomail", self.ou, mail=None),
                user("fine", self.ou)]
        self.dc.add_users(spec, self.tmp)
        conf = self.conf(user_filter="(&(objectCategory=person)(objectClass=user))",
                         ldap_extra="", name="c.conf")
        plan, entries, done = self.scan(conf)
        by_cn = {e["dn"].split(",")[0][3:]: e for e in entries}
        self.assertEqual(len(by_cn), 4)
        self.assertEqual(by_cn["longaddr"]["attrs"]["streetAddress"], "x" * 1024)
        self.assertEqual(by_cn["oddutf8"]["attrs"]["givenName"], odd)
        self.assertEqual(by_cn["nomail"]["problem_attr"], "mail")
        self.assertEqual(by_cn["nomail"]["problem"], "attribute is missing")
        self.assertIsNone(by_cn["fine"].get("problem"))
        # A value beyond what ringsync accepts (wWWHomePage allows 2048).
        self.set_attr("CN=fine," + self.ou, "wWWHomePage", "h" * 1500)
        conf2 = self.write("c2.conf", open(conf).read() + "[push]\njobTitle = wWWHomePage\n")
        plan, entries, done = self.scan(conf2)
        self.assertEqual(len(entries), 1)
        self.assertEqual(entries[0]["problem_attr"], "wWWHomePage")
        self.assertIn("longer than 1024", entries[0]["problem"])
        self.assertTrue(done["ok"])

    # ---- connections ----

    def test_failover_starttls_gssapi_and_tls_errors(self):
        self.make_users(2)
        env = self.dc.env
        # The first URI refuses connections: the second one is used.
        conf = self.conf(uri="ldaps://127.0.0.1:1 " + env["LDAP_URI"], name="f.conf",
                         state="s1")
        plan, entries, _ = self.scan(conf)
        self.assertEqual(plan["uri"], env["LDAP_URI"])
        self.assertEqual(len(entries), 2)
        # StartTLS on 389.
        conf = self.conf(uri=env["LDAP_URI_STARTTLS"], ldap_extra="starttls = yes",
                         name="s.conf", state="s2")
        self.assertEqual(len(self.scan(conf)[1]), 2)
        # Kerberos with the service account's keytab.
        keytab = os.path.join(self.tmp, "svc.keytab")
        shutil.copy(env["KEYTAB"], keytab)
        os.chmod(keytab, 0o600)
        conf = self.conf(uri=env["LDAP_URI_GSSAPI"], bind=False, name="g.conf",
                         state="s3", ldap_extra="sasl_mech = GSSAPI\nkeytab = " + keytab)
        kenv = dict(os.environ, KRB5_CONFIG=env["KRB5_CONFIG"])
        kenv.pop("KRB5CCNAME", None)
        rc, ev, err = self.driver(conf, "scan", env=kenv)
        self.assertEqual(rc, 0, (ev, err))
        self.assertEqual(len([e for e in ev if e["event"] == "entry"]), 2)
        # A certificate from a CA we do not trust: a clear TLS failure.
        other_ca = os.path.join(self.tmp, "other-ca.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                        "-days", "1", "-keyout", os.path.join(self.tmp, "k.pem"),
                        "-out", other_ca, "-subj", "/CN=other CA"],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        text = open(self.conf(name="t.conf", state="s4")).read()
        conf = self.write("t.conf", text.replace(env["CA_CERT"], other_ca))
        rc, ev, _ = self.driver(conf, "scan")
        self.assertEqual(rc, 3)
        self.assertEqual(ev[0]["event"], "connect_failed")
        self.assertIn("127.0.0.1", ev[0]["error"])
        self.assertRegex(ev[0]["error"], "(?i)certificate|TLS")
        # A wrong password names the bind DN.
        bad = self.write("bad.pw", "not-the-password")
        conf = self.write("b.conf", open(self.conf(name="b.conf", state="s5")).read()
                          .replace(env["SVC_PW_FILE"], bad))
        rc, ev, _ = self.driver(conf, "scan")
        self.assertEqual(rc, 3)
        self.assertIn("Invalid credentials", ev[0]["error"])
        self.assertIn(env["SVC_DN"], ev[0]["error"])
        self.assertNotIn("not-the-password", json.dumps(ev))

    # ---- write-back ----

    def test_writeback_only_differences_as_delegated_account(self):
        dns = self.make_users(3, telephoneNumber="+16505550100#101")
        conf = self.conf()
        _, entries, _ = self.scan(conf)
        guid = {e["dn"]: e["guid"] for e in entries}
        usns = {dn: self.usn_of(dn) for dn in dns}

        # telephoneNumber already right, ipPhone missing: one change.
        rc, ev, _ = self.driver(conf, "writeback", guid[dns[0]],
                                "telephoneNumber=+16505550100#101", "ipPhone=101")
        self.assertEqual(rc, 0, ev)
        self.assertEqual(ev[0]["changed"], 1)
        got = self.dc.search(dns[0], attrs=["telephoneNumber", "ipPhone"])[0]
        self.assertEqual(got["ipphone"], ["101"])
        self.assertEqual(got["telephonenumber"], ["+16505550100#101"])
        # The same again changes nothing: uSNChanged stays.
        usn = self.usn_of(dns[0])
        rc, ev, _ = self.driver(conf, "writeback", guid[dns[0]],
                                "telephoneNumber=+16505550100#101", "ipPhone=101")
        self.assertEqual((rc, ev[0]["changed"]), (0, 0))
        self.assertEqual(self.usn_of(dns[0]), usn)
        for dn in dns[1:]:
            self.assertEqual(self.usn_of(dn), usns[dn])
        # An empty value deletes the attribute; by GUID after a rename.
        self.dc.tool(["ldapmodrdn", "-r", dns[0], "CN=Moved On"])
        rc, ev, _ = self.driver(conf, "writeback", guid[dns[0]], "ipPhone=")
        self.assertEqual((rc, ev[0]["changed"]), (0, 1))
        self.assertNotIn("ipphone", self.dc.search("CN=Moved On," + self.ou,
                                                    attrs=["ipPhone"])[0])
        # mobile is not delegated: the error names it, the rest is written.
        rc, ev, _ = self.driver(conf, "writeback", guid[dns[1]], "ipPhone=202",
                                "mobile=+16505550199")
        self.assertEqual(rc, 3)
        self.assertFalse(ev[0]["ok"])
        self.assertTrue(ev[0]["insufficient"])
        self.assertEqual(ev[0]["attr"], "mobile")
        self.assertIn("Write Property on mobile", ev[0]["error"])
        self.assertEqual(ev[0]["changed"], 1)
        self.assertEqual(self.dc.search(dns[1], attrs=["ipPhone"])[0]["ipphone"], ["202"])
        # An unknown GUID is a clear error.
        rc, ev, _ = self.driver(conf, "writeback", "00000000-0000-0000-0000-000000000001",
                                "ipPhone=1")
        self.assertEqual(rc, 3)
        self.assertIn("no user with objectGUID", ev[0]["error"])

    # ---- change notification ----

    def test_change_notification(self):
        dns = self.make_users(1)
        conf = self.conf()
        d = self.start([AD_DRIVER, "-c", conf, "notify", "--changes", "1",
                        "--timeout", "60"], "notify")
        d.wait_output('"kind":"active"', 60)
        t0 = __import__("time").time()
        self.set_attr(dns[0], "department", "Notified")
        self.assertEqual(d.wait(90), 0, d.output())
        change = [json.loads(l) for l in d.output().splitlines() if '"change"' in l][0]
        print("notification latency: %.3f s" % (change["t"] - t0))


if __name__ == "__main__":
    unittest.main()
