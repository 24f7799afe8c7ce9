"""Group scope ([ldap] groups) end to end: a throwaway Samba AD DC, the
phone-API emulator and the real ringsyncd. Membership changes (direct,
nested at depth 3, a nested group added and removed, a cycle between two
groups) take effect at the next incremental cycle; scope groups live
outside base_dn; a renamed, moved or deleted scope group, a missing one,
and a primary group are handled as docs/behaviour.md says."""
import json
import os
import re
import unittest

import rstest
import samba_fixture
import test_sync as ts
from rstest import RINGSYNCD, RINGSYNCCTL

DOMAIN = "DC=example,DC=test"


class GroupTest(samba_fixture.DCTestCase, rstest.TestCase):

    def setUp(self):
        rstest.TestCase.setUp(self)
        name = self._testMethodName.replace("_", "-")[5:25].strip("-")
        self.ou = "OU=g-%s,%s" % (name, ts.CORP)
        # The groups live outside base_dn, as they often do.
        self.gou = "OU=gg-%s,%s" % (name, DOMAIN)
        self.dc.modify("dn: %s\nchangetype: add\nobjectClass: organizationalUnit\n"
                       % self.gou)

    # -- AD --------------------------------------------------------------

    def add(self, *people):
        self.dc.add_users(list(people), self.tmp)

    def dn(self, cn):
        return "CN=%s,%s" % (cn, self.ou)

    def gdn(self, cn):
        return "CN=%s,%s" % (cn, self.gou)

    def group(self, cn, *members):
        self.dc.modify("dn: %s\nchangetype: add\nobjectClass: group\n%s" % (
            self.gdn(cn), "".join("member: %s\n" % m for m in members)))
        return self.gdn(cn)

    def member(self, op, group, *members):
        self.dc.modify("dn: %s\nchangetype: modify\n%s: member\n%s" % (
            group, op, "".join("member: %s\n" % m for m in members)))

    # -- ringsyncd -------------------------------------------------------

    def conf(self, groups, sync="", extra="", log=""):
        env = self.dc.env
        return self.write("ringsyncd.conf", "\n".join([
            "[ldap]", "uri = " + env["LDAP_URI"], "base_dn = " + self.ou,
            "bind_dn = " + env["SVC_DN"], "bind_password_file = " + env["SVC_PW_FILE"],
            "tls_ca_cert = " + env["CA_CERT"], "page_size = 50",
            "groups = " + " ; ".join(groups), extra,
            "[telephony]", "brand = TELUS Business Connect", "server = " + self.emu.url,
            "client_id = ringsync-test", "client_secret_file = " + self.emu.secret_file,
            "jwt_file = " + self.emu.jwt_file, "change_feed = no",
            "[sync]", "state_dir = " + os.path.join(self.tmp, "state"), sync,
            "[log]", log]) + "\n", 0o644)

    def emulator(self, count=20, start=300):
        self.emu = rstest.Emulator(self, seed={"free_extensions": {
            "count": count, "start": start}}, args=ts.FAST)

    def status(self, cn):
        """The phone user's status, or None when there is none."""
        found = self.emu.users_by_email().get(cn + "@example.test", [])
        self.assertLessEqual(len(found), 1, found)
        return found[0]["status"] if found else None

    def statuses(self, *cns):
        return {cn: self.status(cn) for cn in cns}

    def check_metrics(self, path, phones):
        """The metrics file after a first sync, read by Prometheus's own
        text-format parser."""
        from prometheus_client.parser import text_string_to_metric_families
        self.assertEqual(os.stat(path).st_mode & 0o777, 0o644)
        self.assertFalse(os.path.exists(path + ".tmp"))
        with open(path) as f:
            fams = {m.name: m for m in text_string_to_metric_families(f.read())}

        def value(name, **labels):
            for fam in fams.values():
                for s in fam.samples:
                    if s.name == name and all(s.labels.get(k) == v
                                              for k, v in labels.items()):
                        return s.value
            raise AssertionError("no %s %s" % (name, labels))

        self.assertEqual(fams["ringsync_cycles"].type, "counter")
        self.assertEqual(value("ringsync_cycles_total", kind="incremental", result="ok"), 1)
        self.assertEqual(value("ringsync_cycles_total", kind="import", result="ok"), 1)
        self.assertEqual(value("ringsync_cycles_total", kind="full", result="ok"), 0)
        self.assertEqual(value("ringsync_users", state="linked"), 5)
        self.assertEqual(value("ringsync_users", state="failing"), 0)
        self.assertEqual(value("ringsync_outbox_entries"), 0)
        self.assertGreaterEqual(value("ringsync_api_requests_total", group="Heavy"), 5)
        self.assertEqual(value("ringsync_api_rate_limited_total", group="Heavy"), 0)
        self.assertEqual(value("ringsync_ldap_operations_total", op="modify"), 5)
        self.assertGreaterEqual(value("ringsync_ldap_operations_total", op="bind"), 1)
        self.assertEqual(value("ringsync_scope_group_members", group=phones), 5)
        self.assertGreater(value("ringsync_last_success_timestamp_seconds", lane="scan"), 0)
        self.assertEqual(fams["ringsync_info"].samples[0].value, 1)

    @staticmethod
    def line(out, text):
        found = [l for l in out.splitlines() if text in l]
        assert len(found) == 1, (text, out)
        return found[0]

    def writes(self, since):
        return [r for r in self.emu.log(since) if r["method"] != "GET"
                and not r["path"].startswith("/restapi/oauth")]

    # ------------------------------------------------------------------

    def test_membership_changes_next_cycle(self):
        self.emulator()
        names = ["ann", "ben", "cat", "dan", "eve", "fay", "gus", "hal"]
        self.add(*[ts.person(n, self.ou) for n in names])
        n3 = self.group("Nested3", self.dn("cat"))
        n2 = self.group("Nested2", n3)
        n1 = self.group("Nested1", n2)
        cyc_a = self.group("CycleA")
        cyc_b = self.group("CycleB", cyc_a, self.dn("dan"))
        self.member("add", cyc_a, cyc_b)             # A in B and B in A
        phones = self.group("Phones", self.dn("ann"), self.dn("ben"), n1, cyc_a)
        other = self.group("Contractors", self.dn("gus"))
        self.member("add", phones, self.dn("gus"))   # gus in both scope groups
        prom = os.path.join(self.tmp, "ringsync.prom")
        conf = self.conf([phones, other], log="metrics_file = " + prom)
        self.once(conf)
        self.check_metrics(prom, phones)
        self.assertEqual(self.statuses(*names), {
            "ann": "Enabled", "ben": "Enabled", "cat": "Enabled", "dan": "Enabled",
            "eve": None, "fay": None, "gus": "Enabled", "hal": None})
        rc, out = self.run_cmd([RINGSYNCCTL, "-c", conf, "status"])
        self.assertRegex(out, r"scope group +%s members=5 " % re.escape(phones))
        self.assertRegex(out, r"scope group +%s members=1 " % re.escape(other))
        self.assertRegex(out, r"nested groups +5\n")
        rc, out = self.run_cmd([RINGSYNCCTL, "-c", conf, "users"])
        self.assertIn(" scope_group=%s" % phones, self.line(out, "ann@"))
        self.assertIn(" scope_group=%s" % phones, self.line(out, "cat@"))
        self.assertNotIn("eve@", out)
        # explain names the bringing group, or that none brings the user in.
        rc, out = self.run_cmd([RINGSYNCCTL, "-c", conf, "explain", "cat@example.test"])
        self.assertEqual(rc, 0, out)
        self.assertIn("    groups           member of %s\n" % phones, out)
        rc, out = self.run_cmd([RINGSYNCCTL, "-c", conf, "explain", "eve@example.test"])
        self.assertEqual(rc, 0, out)
        self.assertIn("    groups           no: a member of none of the scope groups", out)
        self.assertIn("In short: out of scope (in no scope group); ", out)
        # Direct add and remove; an add at depth 3; gus leaves one of his two.
        self.member("add", phones, self.dn("eve"))
        self.member("delete", phones, self.dn("ben"), self.dn("gus"))
        self.member("add", n2, self.dn("fay"))
        out = self.once(conf)
        self.assertEqual(ts.summaries(out, "incremental")[0]["full"], "no")
        self.assertIn("reason=left-scope-groups", out)
        self.assertEqual(self.statuses(*names), {
            "ann": "Enabled", "ben": "Disabled", "cat": "Enabled", "dan": "Enabled",
            "eve": "Enabled", "fay": "Enabled", "gus": "Enabled", "hal": None})
        # A nested group removed takes its members (at any depth) along.
        self.member("delete", phones, n1)
        self.once(conf)
        self.assertEqual(self.statuses("cat", "fay", "ann"),
                         {"cat": "Disabled", "fay": "Disabled", "ann": "Enabled"})
        # And added back, brings them back.
        self.member("add", phones, n1)
        self.once(conf)
        self.assertEqual(self.statuses("cat", "fay"), {"cat": "Enabled", "fay": "Enabled"})
        # The cycle's members left through it too.
        self.member("delete", cyc_b, self.dn("dan"))
        self.once(conf)
        self.assertEqual(self.status("dan"), "Disabled")
        # Idle after all of it: no write to the phone side, no change.
        seq = self.emu.last_seq()
        out = self.once(conf)
        out += self.once(conf)
        self.assertEqual(self.writes(seq), [])
        self.assertNotIn("left-scope-groups", out)

    def test_change_notify_sees_a_nested_group_outside_base_dn(self):
        """With change_notify, a member added to a nested group (outside
        base_dn) starts a cycle: the polling interval is an hour."""
        self.emulator()
        self.add(ts.person("nia", self.ou), ts.person("oto", self.ou))
        inner = self.group("Inner", self.dn("nia"))
        outer = self.group("Outer", inner)
        conf = self.conf([outer], sync="interval = 1h",
                         extra="change_notify = yes")
        d = self.start([RINGSYNCD, "-f", "-c", conf], "ringsyncd")
        # the first cycles of both lanes (in either order), then the watch
        d.wait_output("cycle done kind=incremental", 60)
        d.wait_output("cycle done kind=import", 60)
        d.wait_output("AD change notification active", 60)
        # A new store links first: the create follows the first import.
        rstest.wait_for(lambda: self.statuses("nia", "oto") ==
                        {"nia": "Enabled", "oto": None}, 60, "nia created")
        self.member("add", inner, self.dn("oto"))
        try:
            rstest.wait_for(lambda: self.status("oto") == "Enabled", 60,
                            "oto created after the notification")
        except AssertionError:
            raise AssertionError("oto not created:\n" + d.output()[-3000:])
        d.stop()

    def test_dry_run_and_many_members(self):
        """3,000 members: more than one ranged read of member (1,500 a
        read); brought in at once by a nested group, they are read in one
        scan of the users rather than by objectGUID."""
        self.emulator(count=5)
        self.dc.add_users([ts.person("m%04d" % i, self.ou) for i in range(3001)],
                          self.tmp)
        dns = [self.dn("m%04d" % i) for i in range(3000)]
        big = self.group("Big")
        for i in range(0, 3000, 500):
            self.member("add", big, *dns[i:i + 500])
        scope = self.group("Phones")
        conf = self.conf([scope])
        self.once(conf)                              # the scope is empty
        self.assertEqual(self.writes(0), [])
        self.member("add", scope, big)
        out = self.once(conf, "--dry-run", "-d")
        self.assertEqual(ts.summaries(out, "incremental")[0]["full"], "no")
        self.assertIn("scope groups bring in 3000 users: reading them from AD (one "
                      "scan of all users)", out)
        planned = re.findall(r"dry run: would link or create the phone user "
                             r"reason=new dn=CN=(m\d+),", out)
        self.assertEqual(len(planned), 3000)
        self.assertNotIn("m3000", planned)          # not a member
        self.assertIn("m2999", planned)             # from the second read
        m = re.search(r"scope groups read groups=1 nested=2 members=3000 searches=(\d+)",
                      out)
        self.assertIsNotNone(m, out[-2000:])
        # change check, Phones (member, nested), Big (0-1499, 1500-*, nested)
        self.assertGreaterEqual(int(m.group(1)), 6)
        self.assertEqual(self.writes(0), [])

    def test_group_renamed_moved_then_deleted(self):
        self.emulator()
        self.add(*[ts.person(n, self.ou) for n in ("ivy", "jon", "kim")])
        g = self.group("Phones", self.dn("ivy"), self.dn("jon"))
        conf = self.conf([g])
        self.once(conf)
        self.assertEqual(self.statuses("ivy", "jon", "kim"),
                         {"ivy": "Enabled", "jon": "Enabled", "kim": None})
        # Renamed: followed by objectGUID, and said.
        self.dc.tool(["ldapmodrdn", "-r", g, "CN=Phone Users"])
        self.member("add", self.gdn("Phone Users"), self.dn("kim"))
        out = self.once(conf)
        self.assertIn("scope group renamed or moved", out)
        self.assertIn(self.gdn("Phone Users"), out)
        self.assertEqual(self.status("kim"), "Enabled")
        # Moved to another OU: the same.
        self.dc.tool(["ldapmodrdn", "-r", "-s", self.dc.env["MOVED_OU"],
                      self.gdn("Phone Users"), "CN=Phone Users"])
        moved = "CN=Phone Users," + self.dc.env["MOVED_OU"]
        self.member("delete", moved, self.dn("kim"))
        out = self.once(conf)
        self.assertIn("now=" + moved, out.replace('"', ""))
        self.assertEqual(self.status("kim"), "Disabled")
        rc, out = self.run_cmd([RINGSYNCCTL, "-c", conf, "status"])
        self.assertIn(" now " + moved, out)
        # Deleted: its members' deactivations are held, at LOG_CRIT.
        self.dc.tool(["ldapdelete", moved])
        out = self.once(conf)
        self.assertIn("crit: scope group deleted in AD", out)
        self.assertEqual(self.statuses("ivy", "jon"), {"ivy": "Enabled", "jon": "Enabled"})
        rc, out = self.run_cmd([RINGSYNCCTL, "-c", conf, "status"])
        self.assertEqual(rc, 2, out)
        self.assertIn("deactivations held", out)
        self.assertIn("was deleted in AD", out)
        rc, out = self.run_cmd([RINGSYNCCTL, "-c", conf, "status", "--json"])
        self.assertEqual(rc, 2, out)
        scope = json.loads(out)["scope"]
        self.assertEqual([(g["dn"], g["deleted"]) for g in scope["groups"]], [(g, True)])
        self.once(conf)                              # held stays held
        self.assertEqual(self.status("ivy"), "Enabled")
        rc, out = self.run_cmd([RINGSYNCCTL, "-c", conf, "release-deactivations"])
        self.assertEqual(rc, 0, out)
        self.once(conf)
        self.assertEqual(self.statuses("ivy", "jon"),
                         {"ivy": "Disabled", "jon": "Disabled"})

    def test_missing_group_decides_nothing(self):
        self.emulator()
        self.add(*[ts.person(n, self.ou) for n in ("lou", "max")])
        g = self.group("Phones", self.dn("lou"), self.dn("max"))
        missing = self.gdn("No Such Group")
        conf = self.conf([missing])
        rc, out = self.run_cmd([RINGSYNCD, "-t", "-c", conf])
        self.assertEqual(rc, 2, out)
        self.assertIn("[ldap] groups: scope group %s not found in AD" % missing, out)
        # Missing at start: the sync stops, nothing is created.
        out = self.once(conf, expect=2)
        self.assertIn("the scope groups cannot be read", out)
        self.assertEqual(self.writes(0), [])
        rc, out = self.run_cmd([RINGSYNCCTL, "-c", conf, "status"])
        self.assertEqual(rc, 2, out)
        self.assertIn("scope group %s not found" % missing, out)
        # Configured right: synced; then a group vanishes from the
        # configuration's view (missing again): nobody is deactivated.
        self.once(self.conf([g]))
        self.assertEqual(self.statuses("lou", "max"), {"lou": "Enabled", "max": "Enabled"})
        seq = self.emu.last_seq()
        self.set_attr_all(["lou", "max"], "department", "Sales")
        out = self.once(self.conf([g, missing]), expect=2)
        self.assertEqual(self.writes(seq), [])
        # Back to the good configuration: the edits waited, and go through.
        self.once(self.conf([g]))
        self.assertEqual(self.statuses("lou", "max"), {"lou": "Enabled", "max": "Enabled"})
        self.assertEqual(self.emu.users_by_email()["lou@example.test"][0]["contact"]
                         ["department"], "Sales")

    def set_attr_all(self, cns, attr, value):
        for cn in cns:
            self.dc.modify("dn: %s\nchangetype: modify\nreplace: %s\n%s: %s\n" %
                           (self.dn(cn), attr, attr, value))

    def test_primary_group_and_memberof_filter_at_t(self):
        self.emulator()
        conf = self.conf(["CN=Domain Users,CN=Users," + DOMAIN])
        rc, out = self.run_cmd([RINGSYNCD, "-t", "-c", conf])
        self.assertEqual(rc, 2, out)
        self.assertIn("is the primary group (primaryGroupID) of users", out)
        self.assertIn("use base_dn and user_filter instead of groups", out)
        out = self.once(conf, expect=2)
        self.assertIn("is the primary group", out)
        g = self.group("Phones")
        conf = self.conf([g], extra="user_filter = (&(objectClass=user)(mail=*)"
                         "(memberOf:1.2.840.113556.1.4.1941:=%s))" % g)
        rc, out = self.run_cmd([RINGSYNCD, "-t", "-c", conf])
        self.assertEqual(rc, 0, out)
        self.assertIn("user_filter tests memberOf", out)


if __name__ == "__main__":
    unittest.main()
