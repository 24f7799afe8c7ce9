"""The sync engine end to end (issue #5): a throwaway Samba AD DC, the
phone-API emulator and the real ringsyncd, asserting on both sides."""
import base64
import hashlib
import http.server
import json
import os
import pty
import re
import shutil
import signal
import ssl
import subprocess
import threading
import time
import unittest
import uuid

import rstest
import samba_fixture
from rstest import RINGSYNCD, RINGSYNCCTL

CORP = "OU=Corp,DC=example,DC=test"
FAST = ["--window", "1", "--limits", "Light=200,Medium=100,Heavy=100,Auth=20",
        "--penalty", "2", "--task-delay", "0.05"]
_seq = [0]


def person(cn, ou, **attrs):
    _seq[0] += 1
    a = {"givenName": cn.capitalize(), "sn": "Sync", "mail": cn + "@example.test",
         "st": "CA", "c": "US", "l": "Palo Alto", "department": "Eng",
         "sAMAccountName": ("y%d-%s" % (_seq[0], cn))[:20]}
    a.update(attrs)
    return {"cn": cn, "ou": ou, "attrs": {k: v for k, v in a.items() if v is not None}}


def summaries(out, kind=None):
    lines = [l for l in out.splitlines() if "cycle done" in l]
    if kind:
        lines = [l for l in lines if "kind=%s " % kind in l]
    return [dict(re.findall(r"(\w+)=(\S+)", l)) for l in lines]


class SyncTest(samba_fixture.DCTestCase, rstest.TestCase):

    def setUp(self):
        rstest.TestCase.setUp(self)
        self.ou = "OU=s-%s,%s" % (self._testMethodName.replace("_", "-"), CORP)

    def start_emulator(self, seed, args=FAST):
        self.emu = rstest.Emulator(self, seed=seed, args=args)

    def conf(self, sync="", extra="", feed="change_feed = no"):
        # The change feed only where a test is about it: the others count
        # the imports' calls, which events would make come earlier.
        env = self.dc.env
        return self.write("ringsyncd.conf", "\n".join([
            "[ldap]", "uri = " + env["LDAP_URI"], "base_dn = " + self.ou,
            "bind_dn = " + env["SVC_DN"], "bind_password_file = " + env["SVC_PW_FILE"],
            "tls_ca_cert = " + env["CA_CERT"], "page_size = 50",
            "[telephony]", "brand = TELUS Business Connect", "server = " + self.emu.url,
            "client_id = ringsync-test", "client_secret_file = " + self.emu.secret_file,
            "jwt_file = " + self.emu.jwt_file, feed,
            "[sync]", "state_dir = " + os.path.join(self.tmp, "state"), sync,
            extra]) + "\n", 0o644)

    def add(self, *people):
        self.dc.add_users(list(people), self.tmp)

    def dn(self, cn):
        return "CN=%s,%s" % (cn, self.ou)

    def ad(self, cn, *attrs):
        got = self.dc.search(self.dn(cn), attrs=list(attrs))[0]
        return {a: (got.get(a.lower()) or [None])[0] for a in attrs}

    def set_attr(self, cn, attr, value):
        self.dc.modify("dn: %s\nchangetype: modify\nreplace: %s\n%s: %s\n" %
                       (self.dn(cn), attr, attr, value))

    def ext(self, email):
        found = self.emu.users_by_email().get(email.lower(), [])
        self.assertEqual(len(found), 1, "phone users for %s: %s" % (email, found))
        return found[0]

    def requests(self, since, method=None, prefix=""):
        return [r for r in self.emu.log(since) if r["path"].startswith(prefix)
                and (method is None or r["method"] == method)]

    def busy_pusher(self, first_ext, news):
        """Heavy: 3 writes per 20 s. olga linked; then the news added and
        ringsyncd started until its first create: the pusher is busy with
        the rest for about a window. Returns (conf, emulator seq, daemon)."""
        self.start_emulator({"free_extensions": {"count": len(news) + 7, "start": first_ext}},
                            args=["--window", "20", "--limits", "Heavy=3",
                                  "--task-delay", "0.05"])
        self.add(person("olga", self.ou))
        conf = self.conf(sync="interval = 1s")
        self.once(conf)
        seq = self.emu.last_seq()
        self.add(*[person(n, self.ou) for n in news])
        d = self.start([RINGSYNCD, "-f", "-c", conf], "ringsyncd")
        rstest.wait_for(lambda: len([r for r in self.requests(seq, "POST", "/scim/v2/Users")
                                     if r["status"] == 201]) >= 1, 120, "the first create")
        return conf, seq, d

    # ------------------------------------------------------------------

    def test_create_link_writeback_and_idle(self):
        self.start_emulator({
            "free_extensions": {"count": 10, "start": 201},
            "inventory_numbers": {"count": 3, "start": "+16505551000"},
            "extensions": [{"id": 150, "extensionNumber": "150", "status": "Enabled",
                            "contact": {"firstName": "Old", "lastName": "Name",
                                        "email": "Linked.User@Example.test"}}],
            "numbers": [{"phoneNumber": "+16505550150", "extensionId": 150},
                        {"phoneNumber": "+16505550151", "extensionId": 150}]})
        self.add(person("alice", self.ou), person("bob", self.ou, st="Ontario", c="CA"),
                 person("carol", self.ou), person("dave", self.ou),
                 person("linked.user", self.ou, givenName="Linked"))
        conf = self.conf()
        out = self.once(conf)
        # Created, or linked by email instead of a duplicate.
        creates = self.requests(0, "POST", "/scim/v2/Users")
        self.assertEqual(len([r for r in creates if r["status"] == 201]), 4)
        linked = self.ext("linked.user@example.test")
        self.assertEqual(linked["id"], 150)
        self.assertEqual(linked["contact"]["firstName"], "Linked")
        bob = self.ext("bob@example.test")
        self.assertEqual(bob["contact"]["businessAddress"]["state"], "Ontario")
        self.assertEqual(bob["contact"]["businessAddress"]["country"], "CA")
        # Numbers written back with the default templates.
        no_number = 0
        for cn in ("alice", "bob", "carol", "dave"):
            x = self.ext(cn + "@example.test")
            got = self.ad(cn, "telephoneNumber", "ipPhone")
            direct = x["directNumbers"][0] if x["directNumbers"] else ""
            no_number += not direct
            self.assertEqual(got["ipPhone"], x["extensionNumber"])
            self.assertEqual(got["telephoneNumber"], "%s#%s" % (direct, x["extensionNumber"]))
        self.assertEqual(no_number, 1)          # three inventory numbers for four
        self.assertEqual(self.ad("linked.user", "telephoneNumber")["telephoneNumber"],
                         "+16505550150#150")   # the first of two direct numbers
        s = summaries(out, "incremental")[0]
        self.assertEqual((s["created"], s["linked"], s["failed"]), ("4", "1", "0"))

        # An idle cycle after the write-back: the scan sees the written users
        # (uSNChanged moved) and makes no API call.
        seq = self.emu.last_seq()
        out = self.once(conf)
        s = summaries(out, "incremental")[0]
        self.assertEqual(s["scanned"], "5")
        self.assertEqual((s["api_calls"], s["updated"], s["created"]), ("0", "0", "0"))
        self.assertEqual(self.requests(seq, "POST"), [])
        self.assertEqual(summaries(out, "import")[0]["written_back"], "0")

        # A number changed on the phone side reaches AD at the next import.
        self.emu.call("POST", "/_emu/extension/%d" % self.ext("alice@example.test")["id"],
                      {"extensionNumber": "299", "directNumbers": ["+16505559999"]})
        out = self.once(conf)
        self.assertEqual(self.ad("alice", "telephoneNumber", "ipPhone"),
                         {"telephoneNumber": "+16505559999#299", "ipPhone": "299"})
        self.assertEqual(summaries(out, "import")[0]["written_back"], "1")

    def test_first_day_links_from_the_list(self):
        """The usual first day: 600 AD users, 540 of them already on the
        phone side (emails in other cases, one disabled there, two with a
        second phone user of the same email). --once links from the
        extension list before any push: an email search only for a user
        the list did not have, no duplicate, every number written back in
        the same run. Then a new node (an empty store) on the synced
        account: no create, no search but the duplicates'."""
        cns = ["ad.%03d" % i for i in range(600)]
        exts, nums = [], []
        # What AD would push (person()'s attributes), except for one user in
        # ten (another last name) and a few emails in other cases.
        differ = {i for i in range(540) if i % 10 == 0 or i % 50 == 1} - {1, 2}
        for i in range(540):
            email = "%s@example.test" % cns[i]
            exts.append({"id": 5000 + i, "extensionNumber": str(5000 + i),
                         "status": "Disabled" if i == 0 else "Enabled",
                         "contact": {"firstName": cns[i].capitalize(),
                                     "lastName": "Old" if i % 10 == 0 else "Sync",
                                     "email": email.title() if i % 50 == 1 else email,
                                     "department": "Eng",
                                     "businessAddress": {"city": "Palo Alto", "state": "CA",
                                                         "country": "US"}}})
            nums.append({"phoneNumber": "+1650556%04d" % i, "extensionId": 5000 + i})
        # The import stages the list by a digest of the email, and joins it
        # 250 users a transaction, never splitting the users of one email:
        # ad.512's two phone users are the 250th and 251st in that order
        # (sha256 of the lower-cased email), on the first chunk's edge.
        dups = (1, 2, 512)
        order = sorted([(hashlib.sha256(("%s@example.test" % cns[i]).encode())
                         .hexdigest()[:32], "%020d" % (5000 + i), i) for i in range(540)] +
                       [(hashlib.sha256(("%s@example.test" % cns[i]).encode())
                         .hexdigest()[:32], "%020d" % (9000 + i), i) for i in dups])
        self.assertEqual((order[249][2], order[250][2]), (512, 512))
        for i in dups:
            exts.append({"id": 9000 + i, "extensionNumber": str(9000 + i),
                         "status": "Enabled",
                         "contact": {"firstName": "Other", "lastName": "User%d" % i,
                                     "email": "%s@example.test" % cns[i]}})
        self.start_emulator({"extensions": exts, "numbers": nums,
                             "free_extensions": {"count": 70, "start": 7001},
                             "inventory_numbers": {"count": 70, "start": "+16505570000"}})
        self.add(*[person(cn, self.ou) for cn in cns])
        conf = self.conf()
        out = self.once(conf, expect=1)           # the three duplicates fail
        self.assertIn("linking first from the extension list", out)
        creates = [r for r in self.requests(0, "POST", "/scim/v2/Users") if r["status"] == 201]
        searches = [r for r in self.requests(0, prefix="/scim/v2/Users")
                    if r["method"] == "GET" or r["path"].endswith("/.search")]
        self.assertEqual(len(creates), 60)
        # One search per user the list did not have (the 60 new ones), and
        # the duplicates' (the search is what tells the pusher so).
        self.assertLessEqual(len(searches), 63)
        by_email = self.emu.users_by_email()
        self.assertEqual(sorted(e for e, v in by_email.items() if len(v) > 1),
                         ["ad.001@example.test", "ad.002@example.test",
                          "ad.512@example.test"])
        self.assertEqual(len(by_email), 600)
        imp = summaries(out, "import")
        self.assertEqual(len(imp), 1, imp)       # one import cycle, read twice
        self.assertEqual(imp[0]["linked"], "537")
        for cn in ("ad.001", "ad.002", "ad.512"):  # each reported, linked to none
            self.assertRegex(out, r"more than one user record for the given email "
                             r"\[%s@example.test\] \(phone users \d+,\d+\)" % cn)
        # Reconciled: the linked users whose data differ are pushed, no other.
        scan = summaries(out, "incremental")[0]
        self.assertEqual((scan["created"], scan["updated"]), ("60", str(len(differ))))
        self.assertEqual(self.ext("ad.010@example.test")["contact"]["lastName"], "Sync")
        # Every number in AD at the end of the run, the created ones too.
        for i, cn in enumerate(cns):
            if i in dups:
                continue
            x = by_email["%s@example.test" % cn][0]
            self.assertEqual(self.ad(cn, "ipPhone")["ipPhone"], x["extensionNumber"], cn)
        self.assertEqual(by_email["ad.000@example.test"][0]["status"], "Enabled")

        # A new node: the store is gone, the account is synced.
        shutil.rmtree(os.path.join(self.tmp, "state"))
        seq = self.emu.last_seq()
        d = self.start([RINGSYNCD, "-f", "-c", conf], "ringsyncd")
        d.wait_output("linking first from the extension list: no import has succeeded", 60)
        d.wait_output("cycle done kind=import", 120)

        def settled():
            rc, text = self.run_cmd([RINGSYNCCTL, "-c", conf, "status", "--json"])
            return json.loads(text)["counts"]["outbox"] <= 3      # the duplicates
        rstest.wait_for(settled, 120, "the outbox pushed")
        d.signal(signal.SIGTERM)
        self.assertEqual(d.wait(15), 0, d.output()[-3000:])
        self.assertEqual([r for r in self.requests(seq, "POST", "/scim/v2/Users")
                          if r["status"] == 201], [])
        searches = [r for r in self.requests(seq, prefix="/scim/v2/Users")
                    if r["method"] == "GET" or r["path"].endswith("/.search")]
        self.assertLessEqual(len(searches), 3)
        # Nothing differs: no profile pushed again.
        self.assertEqual(self.requests(seq, "POST", "/restapi/v1.0/account/~/extension-bulk"),
                         [])
        self.assertEqual([r for r in self.requests(seq, prefix="/scim/v2/Users/")
                          if r["method"] in ("PUT", "PATCH")], [])
        self.assertEqual(len(self.emu.users_by_email()), 600)

    def test_import_reads_the_directory(self):
        """The import reads numbers from the company directory (Medium), not
        the account's number list (Heavy). What the directory does not show
        is unknown, not removed: a hidden user's numbers are read on their
        own (Light) and reach AD; a hidden number stays in AD; more hidden
        users than the one-by-one limit take one Heavy list instead."""
        acct = "/restapi/v1.0/account/~"
        self.start_emulator({"free_extensions": {"count": 130, "start": 401},
                             "inventory_numbers": {"count": 3, "start": "+16505553000"}})
        self.add(person("dir.a", self.ou), person("dir.b", self.ou),
                 person("dir.c", self.ou), person("dir.d", self.ou))
        conf = self.conf()
        self.once(conf)
        exts = {cn: self.ext(cn + "@example.test") for cn in ("dir.a", "dir.b", "dir.c", "dir.d")}
        for cn, x in exts.items():
            direct = (x["directNumbers"] or [""])[0]
            self.assertEqual(self.ad(cn, "telephoneNumber")["telephoneNumber"],
                             "%s#%s" % (direct, x["extensionNumber"]))
        self.assertEqual(self.requests(0, "GET", acct + "/phone-number"), [])
        self.assertEqual(len(self.requests(0, "GET", acct + "/directory/entries")), 1)
        # The one created without a number was asked on its own, once.
        lone = [cn for cn, x in exts.items() if not x["directNumbers"]]
        self.assertEqual(len(lone), 1)
        one_by_one = [r["path"] for r in self.requests(0, "GET", acct + "/extension/")
                      if r["path"].endswith("/phone-number")]
        self.assertEqual(one_by_one, ["%s/extension/%d/phone-number"
                                      % (acct, exts[lone[0]]["id"])])

        # One hidden with a new number, one whose number is hidden, one
        # whose number changed (the three that have numbers).
        seq = self.emu.last_seq()
        (na, a), (nb, b), (nc, c) = [(cn, x) for cn, x in sorted(exts.items())
                                     if x["directNumbers"]]
        self.emu.call("POST", "/_emu/extension/%d" % a["id"],
                      {"hidden": True, "directNumbers": ["+16505554001"]})
        self.emu.call("POST", "/_emu/extension/%d" % b["id"],
                      {"hiddenNumbers": b["directNumbers"]})
        self.emu.call("POST", "/_emu/extension/%d" % c["id"],
                      {"directNumbers": ["+16505554003"]})
        out = self.once(conf)
        self.assertEqual(self.ad(na, "telephoneNumber")["telephoneNumber"],
                         "+16505554001#%s" % a["extensionNumber"])
        self.assertEqual(self.ad(nb, "telephoneNumber")["telephoneNumber"],
                         "%s#%s" % (b["directNumbers"][0], b["extensionNumber"]))
        self.assertEqual(self.ad(nc, "telephoneNumber")["telephoneNumber"],
                         "+16505554003#%s" % c["extensionNumber"])
        self.assertEqual(summaries(out, "import")[0]["written_back"], "2")
        # Read on their own: the hidden user and the one whose number the
        # directory no longer shows; not the one that never had a number.
        asked = sorted(r["path"] for r in self.requests(seq, "GET", acct + "/extension/")
                       if r["path"].endswith("/phone-number"))
        self.assertEqual(asked, sorted("%s/extension/%d/phone-number" % (acct, x["id"])
                                       for x in (a, b)))
        self.assertEqual(self.requests(seq, "GET", acct + "/phone-number"), [])
        self.assertIn("read one by one (Light) count=2", out)

        # More hidden users than are read one by one: one Heavy list.
        news = ["dir.n%03d" % i for i in range(105)]
        self.add(*[person(cn, self.ou) for cn in news])
        self.once(conf)
        seq = self.emu.last_seq()
        for cn in news:
            self.emu.call("POST", "/_emu/extension/%d" % self.ext(cn + "@example.test")["id"],
                          {"hidden": True})
        x = self.ext("dir.n007@example.test")
        self.emu.call("POST", "/_emu/extension/%d" % x["id"], {"directNumbers": ["+16505554107"]})
        out = self.once(conf)
        self.assertEqual(len(self.requests(seq, "GET", acct + "/phone-number")), 1)
        self.assertEqual([r for r in self.requests(seq, "GET", acct + "/extension/")
                          if r["path"].endswith("/phone-number")], [])
        self.assertIn("from the account's number list (one Heavy list) count=", out)
        self.assertEqual(self.ad("dir.n007", "telephoneNumber")["telephoneNumber"],
                         "+16505554107#%s" % x["extensionNumber"])

    # -- the change feed ---------------------------------------------------

    def feed_daemon(self, people, sync="import_interval = 1h", args=FAST):
        """The emulator, people in AD, and a daemon with the change feed,
        once its first import has written every number back and its feed is
        subscribed. Returns (conf, daemon, {cn: extension})."""
        self.start_emulator({"free_extensions": {"count": len(people) + 5, "start": 501},
                             "inventory_numbers": {"count": len(people),
                                                   "start": "+16505556000"}}, args=args)
        self.add(*[person(cn, self.ou) for cn in people])
        conf = self.conf(sync="interval = 1h\n" + sync, feed="change_feed = yes",
                         extra="[log]\nlevel = debug")
        d = self.start([RINGSYNCD, "-f", "-c", conf], "ringsyncd")
        try:
            rstest.wait_for(lambda: d.output().count("cycle done kind=import") >= 1 and
                            all(self.ad(cn, "ipPhone")["ipPhone"] for cn in people),
                            60, "the first import's write-back")
        except AssertionError as exc:
            raise AssertionError("%s; the daemon's log ends:\n%s"
                                 % (exc, d.output()[-4000:])) from None
        self.feed_up()
        # The first subscription has a full read follow (for what changed
        # before it); the test begins once that read is done.
        rstest.wait_for(lambda: re.search(
            r"change feed: subscribed: .*?cycle start kind=import.*?cycle done kind=import",
            d.output(), re.S), 60, "the full read after the subscription")
        return conf, d, {cn: self.ext(cn + "@example.test") for cn in people}

    def feed_sessions(self):
        return self.emu.call("GET", "/_emu/ws")["sessions"]

    def feed_up(self, recoveries=0):
        rstest.wait_for(lambda: any(x["connected"] and x["filters"] and
                                    x["recoveries"] >= recoveries
                                    for x in self.feed_sessions()), 60,
                        "a subscribed change-feed session")

    def assertNoFeedSecrets(self, out):
        self.assertNotIn("access_token=", out)
        self.assertNotIn("wsc=", out)
        self.assertNotIn(rstest.FAKE_JWT, out)

    def test_change_feed_brings_numbers_in_seconds(self):
        """A number assigned on the phone side reaches AD by the change feed,
        without an import: from the directory's event (no call), or, when
        only the extension's event comes, from that extension's own reads
        (Light)."""
        acct = "/restapi/v1.0/account/~"
        conf, d, x = self.feed_daemon(["feed.a", "feed.b"])
        seq, start = self.emu.last_seq(), len(d.output())
        t0 = time.monotonic()
        self.emu.call("POST", "/_emu/extension/%d" % x["feed.a"]["id"],
                      {"directNumbers": ["+16505557001"]})
        rstest.wait_for(lambda: self.ad("feed.a", "telephoneNumber")["telephoneNumber"] ==
                        "+16505557001#%s" % x["feed.a"]["extensionNumber"], 60,
                        "the new number in AD")
        print("change feed: phone -> AD in %.2f s" % (time.monotonic() - t0))
        # Its summary follows the write (under valgrind, well after it).
        rstest.wait_for(lambda: "cycle done kind=changes" in d.output()[start:], 60,
                        "the changes cycle's summary")
        # No import. (An event of the number's release on the way, whose entry
        # shows no number, has that user's numbers read: at most that.)
        self.assertEqual(self.requests(seq, "GET", acct + "/directory/entries"), [])
        self.assertEqual([r["path"] for r in self.requests(seq, "GET", acct + "/extension")
                          if not r["path"].endswith("/phone-number")], [])
        cycles = summaries(d.output()[start:], "changes")
        self.assertEqual(sum(int(c["written_back"]) for c in cycles), 1, cycles)
        self.assertEqual([c["failed"] for c in cycles], ["0"] * len(cycles))

        # Only extension events: the extension and its numbers read (Light).
        self.emu.call("POST", "/_emu/behaviour", {"directory_events": False})
        seq = self.emu.last_seq()
        self.emu.call("POST", "/_emu/extension/%d" % x["feed.b"]["id"],
                      {"extensionNumber": "577", "directNumbers": ["+16505557002"]})
        rstest.wait_for(lambda: self.ad("feed.b", "telephoneNumber", "ipPhone") ==
                        {"telephoneNumber": "+16505557002#577", "ipPhone": "577"}, 60,
                        "the second user's numbers in AD")
        reads = sorted(r["path"] for r in self.requests(seq, "GET", acct + "/extension"))
        b = "%s/extension/%d" % (acct, x["feed.b"]["id"])
        self.assertEqual(reads, [b, b + "/phone-number"])
        self.assertEqual(self.requests(seq, "GET", acct + "/directory/entries"), [])
        # The other record shape of the extension events works alike.
        self.emu.call("POST", "/_emu/behaviour", {"ext_event_shape": "nested"})
        self.emu.call("POST", "/_emu/extension/%d" % x["feed.a"]["id"],
                      {"directNumbers": ["+16505557003"]})
        rstest.wait_for(lambda: self.ad("feed.a", "telephoneNumber")["telephoneNumber"] ==
                        "+16505557003#%s" % x["feed.a"]["extensionNumber"], 60,
                        "the number from a nested event in AD")
        d.signal(signal.SIGTERM)
        self.assertEqual(d.wait(15), 0, d.output()[-3000:])
        self.assertNoFeedSecrets(d.output())
        self.assertIn("change feed active", d.output())

    def test_change_feed_recovers_and_fills_gaps(self):
        """A session the server drops is recovered (missed events replayed,
        no import); one it cannot recover is a gap, and a full import reads
        what the lost events said; events lost without a close are caught by
        the periodic import."""
        acct = "/restapi/v1.0/account/~"
        conf, d, x = self.feed_daemon(["gap.a", "gap.b", "gap.c"])
        ext = lambda cn: x[cn]["extensionNumber"]
        # Dropped like a network failure: the change may come while the
        # daemon reconnects or after; either way by event, not an import.
        seq = self.emu.last_seq()
        self.emu.call("POST", "/_emu/ws/close", {"mode": "drop"})
        self.emu.call("POST", "/_emu/extension/%d" % x["gap.a"]["id"],
                      {"directNumbers": ["+16505558001"]})
        self.feed_up(recoveries=1)
        rstest.wait_for(lambda: self.ad("gap.a", "telephoneNumber")["telephoneNumber"] ==
                        "+16505558001#%s" % ext("gap.a"), 60, "the change after a drop")
        self.assertEqual(self.requests(seq, "GET", acct + "/directory/entries"), [])
        self.assertIn("change feed: session recovered", d.output())

        # An event lost, then a close the server will not recover: the gap
        # makes a full import, which finds the lost change.
        self.emu.call("POST", "/_emu/behaviour", {"ws_recovery": "fail"})
        seq = self.emu.last_seq()
        self.emu.call("POST", "/_emu/ws/drop", {"count": 2})
        self.emu.call("POST", "/_emu/extension/%d" % x["gap.b"]["id"],
                      {"directNumbers": ["+16505558002"]})
        self.emu.call("POST", "/_emu/ws/close", {"mode": "close", "code": "WSG-903"})
        rstest.wait_for(lambda: self.ad("gap.b", "telephoneNumber")["telephoneNumber"] ==
                        "+16505558002#%s" % ext("gap.b"), 90, "the lost change by the import")
        self.assertEqual(len(self.requests(seq, "GET", acct + "/directory/entries")), 1)
        self.assertIn("change feed: events may have been missed (the session could "
                      "not be recovered): reading the phone side in full", d.output())
        self.feed_up()
        d.signal(signal.SIGTERM)
        self.assertEqual(d.wait(15), 0, d.output()[-3000:])
        self.assertNoFeedSecrets(d.output())

    def test_change_feed_lost_events_and_a_burst(self):
        """Events lost on purpose are caught by the periodic import; a burst
        of phone-side changes is coalesced into a few short cycles that read
        nothing (the directory's events carry the entries)."""
        acct = "/restapi/v1.0/account/~"
        people = ["burst.%03d" % i for i in range(200)]
        conf, d, x = self.feed_daemon(people, sync="import_interval = 4s")
        # Lost: only the import writes it back.
        self.emu.call("POST", "/_emu/ws/drop", {"count": 2})
        seq = self.emu.last_seq()
        self.emu.call("POST", "/_emu/extension/%d" % x[people[0]]["id"],
                      {"directNumbers": ["+16505559000"]})
        rstest.wait_for(lambda: self.ad(people[0], "telephoneNumber")["telephoneNumber"] ==
                        "+16505559000#%s" % x[people[0]]["extensionNumber"], 90,
                        "the lost change by the periodic import")
        self.assertGreaterEqual(len(self.requests(seq, "GET", acct + "/directory/entries")), 1)

        # The burst: every user a new number, as fast as the test can.
        start = len(d.output())
        seq = self.emu.last_seq()
        want = {cn: "+1650555%04d" % (9100 + i) for i, cn in enumerate(people)}
        for cn in people:
            self.emu.call("POST", "/_emu/extension/%d" % x[cn]["id"],
                          {"directNumbers": [want[cn]]})
        rstest.wait_for(lambda: all(self.ad(cn, "telephoneNumber")["telephoneNumber"] ==
                                    "%s#%s" % (want[cn], x[cn]["extensionNumber"])
                                    for cn in people), 120, "the burst in AD")
        cycles = summaries(d.output()[start:], "changes")
        self.assertLess(len(cycles), len(people))
        # Reads of single extensions only where an entry came late (none
        # expected; a loaded machine may delay one past the hold).
        single = [r for r in self.requests(seq, "GET", acct + "/extension/")]
        self.assertLessEqual(len(single), 10, single)
        d.signal(signal.SIGTERM)
        self.assertEqual(d.wait(15), 0, d.output()[-3000:])

    def test_sigterm_while_dc_stalls_write_back(self):
        # The DC stops answering while a write-back is in flight (a proxy in
        # front of it holds the request); SIGTERM must still end ringsyncd
        # cleanly at its stop grace: the LDAP operations cancelled, no
        # callback into freed memory (this test runs under ASan+UBSan and
        # valgrind), and the write-back done at the next start.
        self.start_emulator({"free_extensions": {"count": 3, "start": 871},
                             "inventory_numbers": {"count": 2, "start": "+16505558700"}})
        self.add(person("stall.a", self.ou), person("stall.b", self.ou))
        proxy = rstest.StallProxy(self, 636)
        conf = self.conf(sync="interval = 1h\nimport_interval = 1s")
        with open(conf) as f:
            text = f.read()
        uri = "uri = " + self.dc.env["LDAP_URI"]
        self.assertIn(uri + "\n", text)
        conf = self.write("ringsyncd.conf", text.replace(
            uri + "\n", "%s:%d\n" % (uri, proxy.port)), 0o644)
        d = self.start([RINGSYNCD, "-f", "-c", conf], "ringsyncd")
        ext = rstest.wait_for(lambda: self.emu.users_by_email().get("stall.a@example.test"),
                              120, "stall.a created")[0]
        rstest.wait_for(lambda: self.ad("stall.a", "ipPhone")["ipPhone"] ==
                        ext["extensionNumber"], 120, "the first write-back")
        held = proxy.freeze()
        self.emu.call("POST", "/_emu/extension/%d" % ext["id"],
                      {"extensionNumber": "879", "directNumbers": ["+16505558799"]})
        proxy.wait_held(held, 60)
        mark = len(d.output())
        d.signal(signal.SIGTERM)
        # A stop takes at most 10 s (ringsyncd(8); the stop grace is 8 s).
        self.assertEqual(d.wait(10), 0, d.output()[-3000:])
        self.assertIn("stopping with work in flight", d.output()[mark:])
        self.assertEqual(self.ad("stall.a", "ipPhone")["ipPhone"], ext["extensionNumber"])
        # Nothing lost: the next start writes the new numbers back.
        proxy.thaw()
        d = self.start([RINGSYNCD, "-f", "-c", conf], "ringsyncd-again")
        rstest.wait_for(lambda: self.ad("stall.a", "telephoneNumber", "ipPhone") ==
                        {"telephoneNumber": "+16505558799#879", "ipPhone": "879"},
                        120, "the write-back after the restart")
        d.stop()
        self.assertEqual(d.p.returncode, 0, d.output()[-3000:])

    def ldap_ops(self, prom):
        """The LDAP requests the last ringsyncd run counted (metrics file)."""
        with open(prom) as f:
            text = f.read()
        return {op: int(float(v)) for op, v in re.findall(
            r'^ringsync_ldap_operations_total\{op="(\w+)"\} (\S+)$', text, re.M)}

    def test_writeback_modifies_without_reading(self):
        """The write-back modifies by the DN the scan saw, without a search
        per user: a first write-back of every user, AD already holding the
        wanted values (set by hand), a user moved to another OU after the
        scan (one read by objectGUID, then the modify), and an attribute
        the service account may not write (named)."""
        n = 8
        cns = ["wb.%03d" % i for i in range(n)] + ["wb.keeper"]
        exts = [{"id": 6000 + i, "extensionNumber": str(6000 + i), "status": "Enabled",
                 "contact": {"firstName": cn.capitalize(), "lastName": "Sync",
                             "email": cn + "@example.test"}} for i, cn in enumerate(cns)]
        nums = [{"phoneNumber": "+165055800%02d" % i, "extensionId": 6000 + i}
                for i in range(len(cns))]
        self.start_emulator({"extensions": exts, "numbers": nums})
        moved_ou = "OU=moved," + self.ou
        self.add(*[person(cn, self.ou) for cn in cns[:-1]], person("wb.keeper", moved_ou))
        prom = os.path.join(self.tmp, "ringsync.prom")
        log = "[log]\nlevel = debug\nmetrics_file = " + prom
        conf = self.conf(extra=log)

        def numbers(cn, dn=None):
            got = self.dc.search(dn or self.dn(cn), attrs=["telephoneNumber", "ipPhone"])[0]
            return (got.get("telephonenumber") or [None])[0], (got.get("ipphone") or [None])[0]

        # Every user written back: one modify each, no search for any.
        out = self.once(conf)
        self.assertEqual(sum(int(x["written_back"]) for x in summaries(out, "import")),
                         n + 1, out)
        self.assertNotIn("write-back read", out)
        self.assertEqual(self.ldap_ops(prom)["modify"], n + 1)
        for i, cn in enumerate(cns[:-1]):
            self.assertEqual(numbers(cn), ("+165055800%02d#%d" % (i, 6000 + i), str(6000 + i)))

        # New numbers on the phone side that AD already holds (set by hand):
        # the next scan sees them, and the writer makes no modify.
        self.emu.call("POST", "/_emu/extension/6001", {"extensionNumber": "6091",
                                                       "directNumbers": ["+16505589991"]})
        self.set_attr("wb.001", "telephoneNumber", "+16505589991#6091")
        self.set_attr("wb.001", "ipPhone", "6091")
        out = self.once(conf)
        self.assertNotIn("write-back read", out)
        self.assertNotIn("numbers written back", out)
        self.assertEqual(self.ldap_ops(prom)["modify"], 0)
        self.assertEqual(numbers("wb.001"), ("+16505589991#6091", "6091"))

        # Moved to another OU after the scan: the modify by the old DN finds
        # nothing, the user is read by objectGUID and still gets its numbers.
        conf = self.conf(sync="interval = 1h\nimport_interval = 1s", extra=log)
        d = self.start([RINGSYNCD, "-f", "-c", conf], "ringsyncd")
        d.wait_output("cycle done kind=import", 60)
        self.dc.tool(["ldapmodrdn", "-r", "-s", moved_ou, self.dn("wb.002"), "CN=wb.002"])
        self.emu.call("POST", "/_emu/extension/6002", {"extensionNumber": "6092",
                                                       "directNumbers": ["+16505589992"]})
        moved = "CN=wb.002," + moved_ou
        rstest.wait_for(lambda: numbers(None, moved) == ("+16505589992#6092", "6092"),
                        60, "the moved user's write-back")
        d.stop()
        reads = [l for l in d.output().splitlines() if "write-back read" in l]
        self.assertEqual(len(reads), 1, reads)
        self.assertRegex(reads[0], r'guid="?%s"? reason=dn_moved' % self.guid_at(moved))

        # An attribute the service account may not write (pager): named in
        # each user's error, with the value. A full scan reads the new
        # attribute: no read by objectGUID.
        wb = ("\n[writeback]\ntelephoneNumber = {directNumber}#{extensionNumber}\n"
              "ipPhone = {extensionNumber}\npager = {directNumber}")
        conf = self.conf(extra=log + wb)
        out = self.once(conf, "--full-resync", expect=1)
        self.assertNotIn("write-back read", out)
        failed = [l for l in out.splitlines() if "user failed: insufficient access "
                  "to write pager" in l]
        self.assertEqual(len(failed), n + 1, out[-3000:])
        self.assertTrue(any(self.dn("wb.003") in l and "attribute=pager" in l and
                            re.search(r'value="?\+16505580003"?', l) for l in failed), failed)
        self.assertEqual(self.ldap_ops(prom)["modify"], n + 1)
        # What a scan saw before a failed write-back is not trusted: read first.
        out = self.once(conf, expect=1)
        self.assertEqual(out.count("reason=not_scanned"), n + 1, out[-3000:])

    def guid_at(self, dn):
        raw = self.dc.search(dn, attrs=["objectGUID"])[0]["objectguid"][0]
        return str(uuid.UUID(bytes_le=base64.b64decode(raw)))

    def test_dc_that_stalls_the_tls_handshake(self):
        """A DC (or a middlebox) that accepts the connection and then says
        nothing: libldap bounds neither the ldaps:// handshake nor
        StartTLS's, so ringsync does ([ldap] timeout): a cycle, explain and
        a SIGTERM all end instead of hanging, and nothing is decided."""
        self.start_emulator({"free_extensions": {"count": 2, "start": 881}})
        self.add(person("stl", self.ou, sAMAccountName="stl.tls"))
        proxy = rstest.StallProxy(self, 636)
        conf = self.conf(sync="interval = 1h\nimport_interval = 1h")
        with open(conf) as f:
            text = f.read()
        uri = "uri = " + self.dc.env["LDAP_URI"]
        conf = self.write("ringsyncd.conf", text.replace(
            uri + "\n", "%s:%d\n" % (uri, proxy.port)).replace(
            "page_size = 50", "page_size = 50\ntimeout = 2s"), 0o644)
        self.once(conf)                                # through the proxy: fine
        ext = self.ext("stl@example.test")
        proxy.freeze()
        out = self.once(conf, expect=3)
        self.assertIn("cannot reach Active Directory", out)
        self.assertIn("cycle done kind=incremental", out)
        out = self.explain(conf, "stl@example.test", expect=3)
        self.assertIn("AD: cannot be asked: ", out)
        # The running daemon: its first cycle ends, and so does a SIGTERM.
        d = self.start([RINGSYNCD, "-f", "-c", conf], "ringsyncd")
        d.wait_output("cannot reach Active Directory", 60)
        d.signal(signal.SIGTERM)
        self.assertEqual(d.wait(30), 0, d.output()[-3000:])
        proxy.thaw()
        self.set_attr("stl", "department", "Ops")
        self.once(conf)
        self.assertEqual(self.ext("stl@example.test")["id"], ext["id"])
        self.assertEqual(self.ext("stl@example.test")["contact"]["department"], "Ops")

    def test_push_import_writeback_with_every_platform_switch(self):
        """Where the platform's definitions allow two behaviours, the
        emulator takes the other one everywhere at once: creates, a link,
        updates, a deactivation, the import and the write-back still end
        as they do with the defaults."""
        self.start_emulator({
            "free_extensions": {"count": 6, "start": 651},
            "extensions": [{"id": 640, "extensionNumber": "640", "status": "Enabled",
                            "contact": {"firstName": "Old", "lastName": "Name",
                                        "email": "sw.linked@example.test"}}]})
        self.emu.call("POST", "/_emu/behaviour", {
            "cmn101_status": 403, "empty_paging": "none", "bulk_ids": "string",
            "bulk_result_ids": "number", "state_mandatory": True,
            "refresh_ttl_app": 604800, "session_limit": 5, "scim_ids": "distinct",
            "directory_per_page": 2000})
        self.add(person("sw.one", self.ou), person("sw.two", self.ou),
                 person("sw.linked", self.ou))
        conf = self.conf()
        out = self.once(conf)       # no direct numbers at all: empty lists
        s = summaries(out, "incremental")[0]
        self.assertEqual((s["created"], s["linked"], s["failed"]), ("2", "1", "0"))
        self.assertEqual(self.ext("sw.linked@example.test")["id"], 640)
        for cn in ("sw.one", "sw.two", "sw.linked"):
            x = self.ext(cn + "@example.test")
            self.assertEqual(self.ad(cn, "ipPhone")["ipPhone"], x["extensionNumber"])
        self.set_attr("sw.one", "department", "Sales")
        self.set_attr("sw.two", "userAccountControl", "514")
        out = self.once(conf)
        s = summaries(out, "incremental")[0]
        self.assertEqual((s["updated"], s["deactivated"], s["failed"]), ("1", "1", "0"))
        self.assertEqual(self.ext("sw.one@example.test")["contact"]["department"], "Sales")
        self.assertEqual(self.ext("sw.two@example.test")["status"], "Disabled")
        seq = self.emu.last_seq()
        out = self.once(conf)
        self.assertEqual(self.requests(seq, "POST", "/restapi/v1.0"), [])
        self.assertEqual(self.requests(seq, "POST", "/scim"), [])

    def test_scim_ids_that_are_not_extension_ids(self):
        """The platform does not promise that a SCIM user's id is its
        extension's: with the emulator's distinct ids, every update and
        deactivation still reaches the right extension, the numbers of
        created users are written back, and a delete of a user the import
        linked finds its SCIM id first."""
        self.start_emulator({
            "free_extensions": {"count": 4, "start": 661},
            "extensions": [
                {"id": 670, "extensionNumber": "670", "status": "Enabled",
                 "contact": {"firstName": "Old", "lastName": "Name",
                             "email": "di.linked@example.test"}},
                {"id": 671, "extensionNumber": "671", "status": "Enabled",
                 "contact": {"firstName": "Dis", "lastName": "Sync",
                             "email": "di.dis@example.test"}}]})
        self.emu.call("POST", "/_emu/behaviour", {"scim_ids": "distinct"})
        self.add(person("di.one", self.ou), person("di.two", self.ou),
                 person("di.linked", self.ou),
                 person("di.dis", self.ou, st="Atlantis"))
        conf = self.conf(sync="deactivate = delete")
        out = self.once(conf, expect=1)
        s = summaries(out, "incremental")[0]
        self.assertEqual((s["created"], s["linked"], s["failed"]), ("2", "1", "1"), out)
        self.assertIn("phone user linked by import", out)       # di.dis: bad data in AD
        scim = {x["id"]: x["scimId"] for x in self.emu.state()["extensions"]}
        self.assertTrue(all(str(k) != v for k, v in scim.items()))
        # The link by email pushed AD's profile to the extension itself.
        self.assertEqual(self.ext("di.linked@example.test")["contact"]["firstName"],
                         "Di.linked")
        for cn in ("di.one", "di.two", "di.linked"):
            x = self.ext(cn + "@example.test")
            self.assertEqual(self.ad(cn, "ipPhone")["ipPhone"], x["extensionNumber"])
        rc, listed = self.run_cmd([RINGSYNCCTL, "-c", conf, "users"])
        one = self.ext("di.one@example.test")
        self.assertIn("ext_id=%d scim_id=%s" % (one["id"], scim[one["id"]]), listed)
        # An update and a deletion of created users: by extension id, by SCIM id.
        self.set_attr("di.one", "department", "Sales")
        self.set_attr("di.two", "userAccountControl", "514")
        out = self.once(conf, expect=1)     # di.dis still has its bad state
        s = summaries(out, "incremental")[0]
        self.assertEqual((s["updated"], s["deactivated"], s["failed"]), ("1", "1", "1"), out)
        self.assertEqual(self.ext("di.one@example.test")["contact"]["department"], "Sales")
        self.assertNotIn("di.two@example.test", self.emu.users_by_email())
        # The import's link knows the extension alone: updated through it
        # once AD's data is right, then deleted after a SCIM search for its
        # SCIM id.
        self.set_attr("di.dis", "st", "CA")
        out = self.once(conf)
        self.assertEqual(summaries(out, "incremental")[0]["failed"], "0", out)
        self.assertEqual(self.ext("di.dis@example.test")["contact"]["firstName"], "Di.dis")
        seq = self.emu.last_seq()
        self.set_attr("di.dis", "userAccountControl", "514")
        out = self.once(conf)
        self.assertIn("phone user deleted (deactivate = delete)", out)
        self.assertEqual([r["path"] for r in self.requests(seq, "DELETE")],
                         ["/scim/v2/Users/%s" % scim[671]])
        self.assertNotIn("di.dis@example.test", self.emu.users_by_email())
        self.assertEqual([r for r in self.requests(seq) if r["status"] == 404], [])

    def test_cmn101_as_403_is_a_data_error_and_the_push_goes_on(self):
        """CMN-101 (a bad value) comes as 400 or 403: as 403 it is still
        that request's data error, not an authorization failure that stops
        the push: the next round pushes the other users."""
        self.start_emulator({
            "free_extensions": {"count": 3, "start": 681},
            "extensions": [{"id": 680, "extensionNumber": "680", "status": "Enabled",
                            "contact": {"firstName": "Old", "lastName": "Name",
                                        "email": "cm.linked@example.test"}}]})
        self.add(person("cm.a", self.ou))
        conf = self.conf()
        self.once(conf)
        self.emu.call("POST", "/_emu/behaviour", {"cmn101_status": 403})
        self.emu.call("POST", "/_emu/fault", {
            "kind": "cmn101", "count": 1, "param": "contact.department",
            "path_prefix": "/restapi/v1.0/account/~/extension-bulk-update"})
        seq = self.emu.last_seq()
        self.set_attr("cm.a", "department", "Sales")
        self.add(person("cm.linked", self.ou))
        out = self.once(conf, expect=1)
        s = summaries(out, "incremental")[0]
        self.assertEqual((s["linked"], s["updated"], s["failed"]), ("1", "1", "1"), out)
        self.assertEqual([r["status"] for r in self.requests(
            seq, "POST", "/restapi/v1.0/account/~/extension-bulk-update")], [403, 202])
        self.assertEqual(self.requests(seq, "POST", "/restapi/oauth"), [])  # no new login
        self.assertEqual(self.ext("cm.linked@example.test")["contact"]["firstName"],
                         "Cm.linked")
        self.assertEqual(self.ext("cm.a@example.test")["contact"]["department"], "Eng")
        rc, failed = self.run_cmd([RINGSYNCCTL, "-c", conf, "users", "--failed"])
        self.assertEqual(rc, 0, failed)
        self.assertRegex(failed, r"email=cm\.a@example\.test .*error=.*department")
        self.assertNotIn("auth_failed", out)
        # The AD value changes again: pushed.
        self.set_attr("cm.a", "department", "Support")
        out = self.once(conf)
        self.assertEqual(self.ext("cm.a@example.test")["contact"]["department"], "Support")

    def test_updates_only_changed_users(self):
        self.start_emulator({"free_extensions": {"count": 5, "start": 301}})
        self.add(person("erin", self.ou), person("frank", self.ou), person("gina", self.ou))
        conf = self.conf()
        self.once(conf)
        before = {e: self.ext(e + "@example.test")["version"] for e in ("erin", "frank", "gina")}
        seq = self.emu.last_seq()
        self.set_attr("erin", "department", "Sales")
        self.set_attr("frank", "l", "Toronto")
        out = self.once(conf)
        posts = self.requests(seq, "POST")
        self.assertEqual([r["path"] for r in posts],
                         ["/restapi/v1.0/account/~/extension-bulk-update"])
        self.assertEqual(self.ext("erin@example.test")["contact"]["department"], "Sales")
        self.assertEqual(self.ext("frank@example.test")["contact"]["businessAddress"]["city"],
                         "Toronto")
        self.assertEqual(self.ext("gina@example.test")["version"], before["gina"])
        self.assertEqual(summaries(out, "incremental")[0]["updated"], "2")

    def test_edits_behind_rate_limit_become_one_push(self):
        # Five creates keep the pusher waiting for the budget while one
        # linked user is edited five times.
        conf, seq, d = self.busy_pusher(701, ["new%d" % i for i in range(5)])
        for i in range(5):
            mark = len(d.output())
            self.set_attr("olga", "department", "Edit %d" % i)
            d.wait_output("scanned=1 ", 60, start=mark)
        rstest.wait_for(lambda: self.ext("olga@example.test")["contact"]
                        .get("department") == "Edit 4", 180, "the final edit")
        bulk = [r for r in self.requests(seq, "POST", "/restapi/v1.0/account/~/"
                                         "extension-bulk-update") if r["status"] < 300]
        self.assertEqual(len(bulk), 1, d.output())
        self.assertEqual(len(self.emu.users_by_email()), 6)
        self.assertEqual([r for r in self.emu.log(seq) if r["status"] == 429], [])

    def test_changes_behind_rate_limit_follow_ad(self):
        # Five creates keep the pusher busy while AD changes its mind about three users. The outbox must end up
        # holding what AD wants now, whatever was queued or on its way.
        news = ["new%d" % i for i in range(5)]
        conf, seq, d = self.busy_pusher(731, news)
        # A create still on its way (sent, or waiting for the budget).
        have = self.emu.users_by_email()
        waiting = [n for n in news if n + "@example.test" not in have]
        self.assertGreaterEqual(len(waiting), 2, d.output())
        inflight = waiting[0]

        def scan(change):
            mark = len(d.output())
            change()
            d.wait_output("cycle done kind=incremental", 60, start=mark)
            d.wait_output("cycle done kind=incremental", 60,
                          start=len(d.output()))

        # Disabled, then enabled again before its deactivation goes out.
        scan(lambda: self.set_attr("olga", "userAccountControl", "514"))
        scan(lambda: self.set_attr("olga", "userAccountControl", "512"))
        # Disabled while its create is on its way: deactivated after it.
        scan(lambda: self.set_attr(inflight, "userAccountControl", "514"))
        # New, and disabled before its create went out: never created.
        scan(lambda: self.add(person("late", self.ou)))
        scan(lambda: self.set_attr("late", "userAccountControl", "514"))

        def settled():
            have = self.emu.users_by_email()
            return (all(n + "@example.test" in have for n in news) and
                    have[inflight + "@example.test"][0]["status"] == "Disabled")
        rstest.wait_for(settled, 240, "the creates and the deactivation")
        d.signal(signal.SIGTERM)
        d.wait(60)
        have = self.emu.users_by_email()
        self.assertEqual(self.ext("olga@example.test")["status"], "Enabled", d.output())
        for n in news:
            self.assertEqual(len(have[n + "@example.test"]), 1, n)
            self.assertEqual(have[n + "@example.test"][0]["status"],
                             "Disabled" if n == inflight else "Enabled", n)
        self.assertNotIn("late@example.test", have)
        self.assertIn("queued change dropped: Active Directory no longer wants it "
                      "dn=" + self.dn("late"), d.output())
        # The store agrees: nothing left in the outbox.
        rc, users = self.run_cmd([RINGSYNCCTL, "-c", conf, "status"])
        self.assertIn("outbox=0", users)
        self.assertEqual([r for r in self.emu.log(seq) if r["status"] == 429], [])

    def test_deactivate_delete_reenable(self):
        self.start_emulator({"free_extensions": {"count": 5, "start": 401}})
        self.add(person("hank", self.ou), person("ivy", self.ou), person("jo", self.ou))
        conf = self.conf()
        self.once(conf)
        self.set_attr("hank", "userAccountControl", "514")
        self.dc.tool(["ldapdelete", self.dn("ivy")])
        out = self.once(conf)
        self.assertEqual(self.ext("hank@example.test")["status"], "Disabled")
        self.assertEqual(self.ext("ivy@example.test")["status"], "Disabled")
        self.assertEqual(self.ext("jo@example.test")["status"], "Enabled")
        self.assertEqual(summaries(out, "incremental")[0]["deactivated"], "2")
        self.assertIn("reason=deleted", out)
        self.set_attr("hank", "userAccountControl", "512")
        self.once(conf)
        self.assertEqual(self.ext("hank@example.test")["status"], "Enabled")
        self.assertEqual(len(self.emu.users_by_email()), 3)   # nothing created twice

    def guid(self, cn):
        raw = self.dc.search(self.dn(cn), attrs=["objectGUID"])[0]["objectguid"][0]
        return str(uuid.UUID(bytes_le=base64.b64decode(raw)))

    def history(self, conf, user, expect=0):
        rc, out = self.run_cmd([RINGSYNCCTL, "-c", conf, "history", user])
        self.assertEqual(rc, expect, out)
        return out

    def test_history_of_a_user(self):
        self.start_emulator({
            "free_extensions": {"count": 5, "start": 601},
            "inventory_numbers": {"count": 2, "start": "+16505552000"},
            "extensions": [{"id": 650, "extensionNumber": "650", "status": "Enabled",
                            "contact": {"firstName": "Lee", "lastName": "Sync",
                                        "email": "lee@example.test"}}]})
        self.add(person("kim", self.ou, sAMAccountName="kim.hist"),
                 person("lee", self.ou, sAMAccountName="lee.hist"))
        conf = self.conf()
        self.once(conf)
        self.set_attr("kim", "department", "Sales")
        self.once(conf)
        self.set_attr("kim", "userAccountControl", "514")
        self.once(conf)
        kim = self.ext("kim@example.test")
        # The same history by sAMAccountName, mail, DN and objectGUID.
        out = self.history(conf, "kim.hist")
        for name in ("KIM@example.test", self.dn("kim").lower(), self.guid("kim").upper()):
            self.assertEqual(self.history(conf, name), out)
        events = [l.split()[1] for l in out.splitlines() if not l.startswith(" ")]
        self.assertEqual(events, ["created", "written", "updated", "deactivated"], out)
        lines = out.splitlines()
        created = lines.index([l for l in lines if " created " in l][0])
        self.assertIn("scim_id=%s" % kim["id"], lines[created])
        self.assertIn('    department: (none) -> "Eng"', lines[created + 1:])
        # The AD values before the first write-back are not known (the
        # writer compares, it does not keep them).
        self.assertIn('    telephoneNumber: ? -> "%s#%s"'
                      % ((kim["directNumbers"] or [""])[0], kim["extensionNumber"]), lines)
        self.assertIn('    ipPhone: ? -> "%s"' % kim["extensionNumber"], lines)
        updated = lines.index([l for l in lines if " updated " in l][0])
        self.assertEqual(lines[updated + 1:updated + 2], ['    department: "Eng" -> "Sales"'])
        self.assertRegex(lines[updated],
                         r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ updated ext_id=%s$" % kim["id"])
        self.assertIn("reason=disabled", [l for l in lines if " deactivated " in l][0])
        # Linked by email: no created line; what the phone user held before
        # ringsyncd's first update is not known, and the update says so.
        lee = self.history(conf, "lee@example.test").splitlines()
        self.assertEqual([l.split()[1] for l in lee if not l.startswith(" ")],
                         ["linked", "updated", "written"], lee)
        self.assertTrue(lee[0].endswith(" linked by email, scim_id=650"), lee)
        self.assertTrue(lee[1].endswith(" updated ext_id=650 (the values pushed "
                                        "before are not known)"), lee)
        self.assertIn('    department: ? -> "Eng"', lee)
        # Unknown user: exit 1, the message names it.
        rc, err = self.run_cmd([RINGSYNCCTL, "-c", conf, "history", "nobody.here"])
        self.assertEqual(rc, 1, err)
        self.assertIn("no user nobody.here", err)
        # A user in AD whom the store has never seen: known, nothing recorded.
        self.add(person("max", self.ou, sAMAccountName="max.hist"))
        self.assertIn("no change recorded for max.hist", self.history(conf, "max.hist"))
        # history = 0 keeps none, and a full cycle prunes what there was.
        conf = self.conf(sync="history = 0")
        out = self.once(conf, "--full-resync")
        self.assertIn("history pruned entries=", out)
        self.assertIn("[sync] history = 0 keeps none", self.history(conf, "kim.hist"))

    def explain(self, conf, user, expect=0):
        rc, out = self.run_cmd([RINGSYNCCTL, "-c", conf, "explain", user])
        self.assertEqual(rc, expect, out)
        return out

    def section(self, out, title):
        """The lines of one section of explain's output, its title first."""
        lines = out.splitlines()
        start = [i for i, l in enumerate(lines) if l.startswith(title)][0]
        end = start + 1
        while end < len(lines) and lines[end].startswith("    "):
            end += 1
        return lines[start:end]

    def test_explain_a_user(self):
        self.start_emulator({"free_extensions": {"count": 6, "start": 701}})
        outside = "OU=x-explain,%s" % CORP
        self.add(person("nia", self.ou, sAMAccountName="nia.expl"),
                 person("oto", self.ou, sAMAccountName="oto.expl"),
                 person("pat", self.ou, sAMAccountName="pat.expl", mail=None),
                 person("rex", self.ou, sAMAccountName="rex.expl", description="skip"),
                 person("dup1", self.ou, mail="same@example.test"),
                 person("dup2", self.ou, mail="same@example.test"),
                 person("sue", self.ou, sAMAccountName="sue.expl", st="Calif."),
                 person("uli", outside, sAMAccountName="uli.expl"))
        conf = self.conf(sync="max_deactivations = 1")
        with open(conf) as f:
            text = f.read()
        self.write("ringsyncd.conf", text.replace("page_size = 50", "page_size = 50\n"
                   "user_filter = (&(objectCategory=person)(objectClass=user)(mail=*)"
                   "(!(description=skip)))"), 0o644)
        self.once(conf, expect=1)                # sue and dup2 fail
        nia = self.ext("nia@example.test")

        # In scope, linked, up to date.
        out = self.explain(conf, "nia.expl")
        self.assertIn("    base_dn          yes: under " + self.ou, out)
        self.assertIn("    user_filter      matches: ", out)
        self.assertIn("    account          enabled", out)
        self.assertIn("Phone user: linked", out)
        self.assertIn('    ext_id           "%s"' % nia["id"], out)
        self.assertIn('    department       "Eng"   same', out)
        self.assertIn("Outbox: nothing waits", out)
        self.assertIn("Errors: none", out)
        wb = self.section(out, "Write-back")
        self.assertIn('    ipPhone          "%s" / "%s" / "%s"' % ((nia["extensionNumber"],) * 3),
                      wb)
        self.assertTrue(out.endswith("In short: in scope; linked; the profile last "
                                     "pushed is the one AD wants\n"), out)
        # The same user by mail, DN and objectGUID.
        for name in ("nia@example.test", self.dn("nia"), self.guid("nia")):
            self.assertEqual(self.explain(conf, name).splitlines()[1:],
                             out.splitlines()[1:])

        # AD changed, not pushed yet: field by field.
        self.set_attr("nia", "department", "Sales")
        out = self.explain(conf, "nia.expl")
        self.assertIn('    department       "Sales"   last pushed "Eng"', out)
        self.assertIn("AD wants a profile not pushed yet", out)

        # Each reason for being out of scope, named.
        self.assertIn("out of scope (user_filter does not match)",
                      self.explain(conf, "rex.expl"))
        self.assertIn("out of scope (user_filter does not match)",
                      self.explain(conf, "pat.expl"))    # no mail: (mail=*)
        out = self.explain(conf, "uli.expl")
        self.assertIn("    base_dn          no: not under " + self.ou, out)
        self.assertIn("the store does not know this user yet", out)
        # Of two users with one mail, the first scanned keeps it; the other
        # is out of scope, naming the first.
        outs = {cn: self.explain(conf, self.dn(cn)) for cn in ("dup1", "dup2")}
        losers = [cn for cn in outs if "is also the mail of" in outs[cn]]
        self.assertEqual(len(losers), 1, outs)
        other = self.dn("dup1" if losers[0] == "dup2" else "dup2")
        self.assertIn('"same@example.test" is also the mail of %s\n' % other,
                      outs[losers[0]])
        self.assertIn("in scope, but held back (its mail is also %s's); failed" % other,
                      outs[losers[0]])
        out = self.explain(conf, "sue.expl")
        self.assertIn("    data             st Calif.: state must be a standard", out)
        self.assertIn("In short: in scope, but held back (its st cannot be pushed); "
                      "failed", out)
        self.assertIn("Phone user: failed", out)
        self.assertIn("    AD data          The st is invalid", out)

        # Held deactivations: what waits, and why.
        self.set_attr("nia", "userAccountControl", "514")
        self.set_attr("oto", "userAccountControl", "514")
        self.assertIn("deactivations held", self.once(conf))
        out = self.explain(conf, "oto.expl")
        self.assertIn("    account          disabled (userAccountControl 514): "
                      "deactivate = disable", out)
        self.assertIn("Outbox: a deactivation waits (reason=disabled)", out)
        self.assertIn("    held: more deactivations than max_deactivations", out)
        self.assertIn("out of scope (disabled in AD); linked", out)

        # Unknown: exit 1. A deleted user is still explained by the store.
        rc, err = self.run_cmd([RINGSYNCCTL, "-c", conf, "explain", "nobody.here"])
        self.assertEqual(rc, 1, err)
        self.assertIn("no user nobody.here", err)
        self.dc.tool(["ldapdelete", self.dn("nia")])
        out = self.explain(conf, "nia@example.test")
        self.assertIn("AD: no such user in the domain (the store last saw it at %s)"
                      % self.dn("nia"), out)
        self.assertIn("In short: gone from AD; ", out)
        # AD unreachable: what the store knows, and exit 3.
        with open(conf) as f:
            text = f.read()
        bad = re.sub(r"uri = \S+", "uri = ldaps://127.0.0.1:9", text)
        self.write("ringsyncd.conf", bad, 0o644)
        out = self.explain(conf, "oto@example.test", expect=3)
        self.assertIn("AD: cannot be asked: ", out)
        self.assertIn("Outbox: a deactivation waits", out)
        self.assertIn("In short: AD could not be asked; linked", out)

    def sync_user(self, conf, user, *args, expect=0):
        rc, out = self.run_cmd([RINGSYNCCTL, "-c", conf, "sync"] + list(args) + [user])
        self.assertEqual(rc, expect, out)
        return out

    def test_sync_one_user(self):
        """ringsyncctl sync USER: the running daemon processes the user now
        (its next poll is an hour away), pushes it even when nothing
        changed, and answers once the push is done; without a daemon, or
        when the daemon cannot answer in time, it says so."""
        self.start_emulator({"free_extensions": {"count": 4, "start": 741}})
        outside = "OU=x-sync1,%s" % CORP
        self.add(person("ann", self.ou, sAMAccountName="ann.sync1"),
                 person("ben", self.ou, sAMAccountName="ben.sync1"),
                 person("vic", outside, sAMAccountName="vic.sync1"))
        conf = self.conf(sync="interval = 1h\nimport_interval = 1h")
        out = self.sync_user(conf, "ann.sync1", expect=3)
        self.assertIn("ringsyncd is not running for state_dir", out)
        self.once(conf)
        ann = self.ext("ann@example.test")
        d = self.start([RINGSYNCD, "-f", "-c", conf], "ringsyncd")
        d.wait_output("cycle done kind=incremental", 60)
        d.wait_output("cycle done kind=import", 60)
        sock = os.path.join(self.tmp, "state", "ringsyncd.sock")
        self.assertEqual(oct(os.stat(sock).st_mode), oct(0o140600))  # a socket, 0600

        # Changed in AD: pushed now, and the answer comes after the push.
        self.set_attr("ann", "department", "Sales")
        out = self.sync_user(conf, "ann.sync1")
        self.assertTrue(out.startswith("ringsyncd: processed\nUser ann.sync1 (objectGUID %s)\n"
                                       % self.guid("ann")), out)
        self.assertIn('    department       "Sales"   same', out)
        self.assertTrue(out.endswith("In short: in scope; linked; the profile last pushed "
                                     "is the one AD wants\n"), out)
        self.assertEqual(self.ext("ann@example.test")["contact"]["department"], "Sales")

        # Nothing changed: pushed again all the same (what the phone side
        # changed is set back), ann alone.
        seq, mark = self.emu.last_seq(), len(d.output())
        self.sync_user(conf, "ann@example.test")
        self.assertEqual([r["status"] for r in self.requests(
            seq, "POST", "/restapi/v1.0/account/~/extension-bulk-update")], [202])
        log = d.output()[mark:]
        self.assertIn("user sync requested (ringsyncctl sync) guid=" + self.guid("ann"), log)
        self.assertEqual(re.findall(r"phone user updated dn=.* email=\"?([^\s\"]+)", log),
                         ["ann@example.test"])
        self.assertEqual(self.ext("ann@example.test")["id"], ann["id"])

        # Disabled in AD: deactivated now (within max_deactivations).
        self.set_attr("ben", "userAccountControl", "514")
        out = self.sync_user(conf, "ben.sync1")
        self.assertEqual(self.ext("ben@example.test")["status"], "Disabled")
        self.assertIn("out of scope (disabled in AD); deactivated", out)

        # Outside base_dn: nothing done, and explain says why.
        out = self.sync_user(conf, "vic.sync1")
        self.assertIn("ringsyncd: not in scope", out)
        self.assertIn("    base_dn          no: not under " + self.ou, out)
        self.assertNotIn("vic@example.test", self.emu.users_by_email())
        # Unknown: exit 1, the daemon not asked.
        rc, err = self.run_cmd([RINGSYNCCTL, "-c", conf, "sync", "nobody.sync1"])
        self.assertEqual(rc, 1, err)
        self.assertIn("no user nobody.sync1", err)

        # A push behind the rate limit (one Heavy call an hour, used by the
        # first push below): no answer within --timeout (exit 1, and where
        # the user stands); the daemon forgets the client that left.
        self.emu.call("POST", "/_emu/limits", {"Heavy": 1, "window": 3600, "penalty": 600})
        self.set_attr("ann", "l", "Toronto")
        self.assertTrue(self.sync_user(conf, "ann@example.test").startswith(
            "ringsyncd: processed\n"))
        self.set_attr("ann", "l", "Ottawa")
        out = self.sync_user(conf, "ann@example.test", "--timeout", "1s", expect=1)
        self.assertIn("ringsyncd has not answered within 1 s", out)
        self.assertIn('    city             "Ottawa"   last pushed "Toronto"', out)
        self.assertIn("Outbox: a push waits (reason=changed)", out)
        d.stop()
        self.assertEqual(d.p.returncode, 0, d.output()[-3000:])
        self.assertFalse(os.path.exists(sock))
        self.assertIn("ringsyncd is not running", self.sync_user(conf, "ann@example.test",
                                                                 expect=3))
        # The next daemon pushes what waited.
        self.emu.call("POST", "/_emu/limits", {"Heavy": 100, "window": 1, "penalty": 2})
        d = self.start([RINGSYNCD, "-f", "-c", conf], "ringsyncd-again")
        rstest.wait_for(lambda: os.path.exists(sock), 60, "the control socket")
        out = self.sync_user(conf, "ann.sync1")
        self.assertTrue(out.startswith("ringsyncd: processed\n"), out)
        self.assertEqual(self.ext("ann@example.test")["contact"]["businessAddress"]["city"],
                         "Ottawa")
        d.stop()
        self.assertEqual(d.p.returncode, 0, d.output()[-3000:])

    def test_progress_of_a_rate_bound_push(self):
        """Long work reports itself: 16 creates at a compressed Heavy budget
        (2 a 4 s) give notice lines every tenth with an estimate from the
        budget, ringsyncctl status (and --json) shows them while they run,
        and --once on a terminal keeps one updating line on stderr."""
        limits = ["--window", "4", "--limits", "Light=200,Medium=100,Heavy=2,Auth=20",
                  "--penalty", "2", "--task-delay", "0.05"]
        self.start_emulator({"free_extensions": {"count": 30, "start": 301}}, args=limits)
        self.add(*[person("pg%02d" % i, self.ou) for i in range(16)])
        conf = self.conf(sync="interval = 1h\nimport_interval = 1h")
        d = self.start([RINGSYNCD, "-f", "-c", conf], "ringsyncd")
        pat = re.compile(r"progress: (\w+) (\d+) of (\d+), .* left phase=push done=(\d+) "
                         r"total=(\d+) per_minute=(\S+) left_s=(\d+)")

        def created():
            return len([e for e in self.emu.users_by_email() if e.startswith("pg")])

        seen = []                          # (monotonic time, match) as they come
        status = json_status = None
        while created() < 16:
            for m in pat.finditer(d.output()):
                if m.group(0) not in [x.group(0) for _, x in seen]:
                    seen.append((time.monotonic(), m))
            if status is None and any(int(m.group(4)) >= 4 for _, m in seen):
                rc, status = self.run_cmd([RINGSYNCCTL, "-c", conf, "status"])
                rc, json_status = self.run_cmd([RINGSYNCCTL, "-c", conf, "status",
                                                "--json"])
            time.sleep(0.1)
        t_end = time.monotonic()
        d.wait_output("progress: creating done phase=push done=16", 60)
        # A line every tenth (the first ones may come with the client's
        # default budget, before the server's headers taught it the real).
        dones = [int(m.group(4)) for _, m in seen]
        self.assertEqual(dones, sorted(dones))
        self.assertGreaterEqual(len({int(x) * 10 // 16 for x in dones}), 5, dones)
        self.assertEqual({m.group(5) for _, m in seen}, {"16"})
        self.assertIn("creating", {m.group(1) for _, m in seen})
        # ringsyncctl status while it ran.
        self.assertRegex(status, r"\nworking +creating \d+ of 16, 30 a minute, about "
                                 r"\d+ s left \(since ")
        prog = json.loads(json_status)["progress"]
        self.assertEqual((prog["phase"], prog["total"], prog["per_minute"]),
                         ("creating", 16, 30.0))
        # The estimate, from a line at a fifth or more of the way: within
        # 20% of the time it actually took (not under valgrind, which
        # slows the daemon itself more than the budget does).
        t, m = [(t, m) for t, m in seen if int(m.group(4)) >= 4][0]
        actual, estimate = t_end - t, float(m.group(7))
        if not os.environ.get("RINGSYNC_WRAPPER"):
            self.assertLess(abs(estimate - actual), 0.2 * actual + 1,
                            (estimate, actual, m.group(0)))
        rc, out = self.run_cmd([RINGSYNCCTL, "-c", conf, "status"])
        self.assertNotIn("\nworking ", out)
        self.assertIsNone(json.loads(self.run_cmd([RINGSYNCCTL, "-c", conf, "status",
                                                   "--json"])[1])["progress"])
        d.stop()

        # --once on a terminal: one line, rewritten in place, then cleared.
        self.add(*[person("pt%02d" % i, self.ou) for i in range(10)])
        master, slave = pty.openpty()
        p = subprocess.Popen(rstest.wrap([RINGSYNCD, "--once", "-c", conf]),
                             stdout=subprocess.DEVNULL, stderr=slave)
        os.close(slave)
        self.addCleanup(lambda: p.poll() is None and p.kill())
        tty = b""
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:                # the last writer closed the terminal
                break
            if not chunk:
                break
            tty += chunk
        os.close(master)
        self.assertEqual(p.wait(120), 0, tty[-2000:])
        self.assertRegex(tty.decode(), r"\r\x1b\[Kcreating \d+ of 10, ")
        self.assertIn(b"\r\x1b[Knotice: progress: creating done", tty)

    def hook_server(self):
        """An HTTPS listener on loopback (a certificate for 127.0.0.1 from a
        CA of the test's own) collecting what is POSTed to it; (url, CA
        file, the list of bodies)."""
        ca_key, ca = os.path.join(self.tmp, "hook-ca.key"), os.path.join(self.tmp, "hook-ca.pem")
        key, csr, cert = (os.path.join(self.tmp, n) for n in ("hook.key", "hook.csr", "hook.pem"))
        ext = self.write("hook.ext", "subjectAltName = IP:127.0.0.1\n")
        for argv in (["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                      "-keyout", ca_key, "-out", ca, "-subj", "/CN=ringsync test hook CA"],
                     ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr,
                      "-subj", "/CN=127.0.0.1"],
                     ["x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key,
                      "-CAcreateserial", "-days", "1", "-out", cert, "-extfile", ext]):
            subprocess.run(["openssl"] + argv, check=True, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
        got = []

        class Hook(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                got.append((self.headers.get("Content-Type"), self.rfile.read(n).decode()))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        self.addCleanup(srv.server_close)
        self.addCleanup(srv.shutdown)
        return "https://127.0.0.1:%d/hooks/ringsync" % srv.server_address[1], ca, got

    def test_notifications(self):
        """[notify]: each event through the command, the webhook and mail,
        raised once, resolved when it clears; a failing channel is logged
        and the sync goes on; no secret in any of them."""
        self.start_emulator({"free_extensions": {"count": 6, "start": 761}})
        self.add(*[person("nt%d" % i, self.ou) for i in range(4)])
        url, ca, posts = self.hook_server()
        cmd_out, mail_out = os.path.join(self.tmp, "events"), os.path.join(self.tmp, "mail")
        cmd = self.write("event.sh", "#!/bin/sh\ncat >> %s\n" % cmd_out, 0o755)
        sendmail = self.write("sendmail", "#!/bin/sh\n{ echo \"argv: $*\"; cat; "
                              "echo ----; } >> %s\n" % mail_out, 0o755)
        notify = ("[notify]\ncommand = %s\nwebhook = %s\ntls_ca_cert = %s\n"
                  "mail_to = phone-admins@example.test\nsendmail = %s\n"
                  "alert_after = 0s\nfailure_alert = 1\n" % (cmd, url, ca, sendmail))
        conf = self.conf(sync="max_deactivations = 1", extra=notify)

        def events():
            if not os.path.exists(cmd_out):
                return []
            with open(cmd_out) as f:
                return [json.loads(l) for l in f]

        def check_channels(n):
            """The command got n events; the webhook and mail the same."""
            ev = events()
            self.assertEqual(len(ev), n, ev)
            self.assertEqual([json.loads(b) for _, b in posts], ev)
            self.assertEqual({t for t, _ in posts}, {"application/json"})
            with open(mail_out) as f:
                mails = f.read().split("----\n")[:-1]
            self.assertEqual(len(mails), n)
            m = mails[-1]
            self.assertTrue(m.startswith("argv: -t -i\nTo: phone-admins@example.test\n"
                                         "Subject: [ringsync %s] %s%s\n" % (
                                             ev[-1]["host"], "resolved: " if
                                             ev[-1]["state"] == "resolved" else "",
                                             ev[-1]["summary"])), m)
            self.assertIn('"event": "%s"' % ev[-1]["event"], m)
            return ev[-1]

        out = self.once(conf)
        self.assertEqual(events(), [])                 # nothing failing, nothing sent
        # Held deactivations: raised once, on every channel.
        for i in range(2):
            self.set_attr("nt%d" % i, "userAccountControl", "514")
        out = self.once(conf)
        self.assertIn("notification raised event=deactivations_held", out)
        e = check_channels(1)
        self.assertEqual((e["source"], e["event"], e["state"], e["brand"]),
                         ("ringsync", "deactivations_held", "raised", "TELUS Business Connect"))
        self.assertTrue(e["summary"].startswith("2 deactivations are held"), e)
        self.assertRegex(e["time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        self.once(conf)                                # still held: not again
        check_channels(1)
        # Released and done: resolved.
        rc, text = self.run_cmd([RINGSYNCCTL, "-c", conf, "release-deactivations"])
        self.assertEqual(rc, 0, text)
        self.once(conf)
        e = check_channels(2)
        self.assertEqual((e["event"], e["state"]), ("deactivations_held", "resolved"))
        self.assertNotIn("since", e)

        # AD unreachable (alert_after = 0s: at once), the webhook's server
        # not trusted: that channel fails, logged; the others deliver.
        with open(conf) as f:
            text = f.read()
        bad = re.sub(r"uri = \S+", "uri = ldaps://127.0.0.1:9", text)
        bad = bad.replace("tls_ca_cert = %s\n" % ca, "")
        self.write("ringsyncd.conf", bad, 0o644)
        out = self.once(conf, expect=3)
        self.assertRegex(out, r"notification failed channel=webhook "
                              r"event=ad_unreachable error=.*(?i:certificate|SSL|TLS)")
        ev = events()
        self.assertEqual((ev[-1]["event"], ev[-1]["state"]), ("ad_unreachable", "raised"))
        self.assertEqual(len(posts), 2)                # refused at the handshake
        self.write("ringsyncd.conf", text, 0o644)
        self.once(conf)
        ev = events()
        self.assertEqual((ev[-1]["event"], ev[-1]["state"]), ("ad_unreachable", "resolved"))
        self.assertEqual(json.loads(posts[-1][1]), ev[-1])

        # More failing users than failure_alert (1): raised, naming the count.
        for i in (2, 3):
            self.set_attr("nt%d" % i, "st", "Calif.")
        self.once(conf, expect=1)
        ev = events()
        self.assertEqual((ev[-1]["event"], ev[-1]["state"]), ("users_failing", "raised"))
        self.assertTrue(ev[-1]["summary"].startswith("2 of 4 users fail"), ev[-1])
        # A restart repeats nothing: the state is in the store.
        self.once(conf, expect=0)
        self.assertEqual(len(events()), len(ev))

        # No secret in any payload.
        with open(self.dc.env["SVC_PW_FILE"]) as f:
            password = f.read().strip()
        everything = "".join(b for _, b in posts)
        for path in (cmd_out, mail_out):
            with open(path) as f:
                everything += f.read()
        for secret in (rstest.FAKE_JWT, rstest.FAKE_CLIENT_SECRET, password):
            self.assertNotIn(secret, everything)

    def test_deactivate_modes_delete_and_none(self):
        self.start_emulator({"free_extensions": {"count": 5, "start": 451}})
        self.add(person("pia", self.ou), person("quin", self.ou))
        conf = self.conf(sync="deactivate = delete")
        self.once(conf)
        pia = self.ext("pia@example.test")
        self.set_attr("pia", "userAccountControl", "514")
        out = self.once(conf)
        self.assertIn("phone user deleted (deactivate = delete)", out)
        after = {x["id"]: x for x in self.emu.state()["extensions"]}[pia["id"]]
        self.assertEqual(after["status"], "Unassigned")
        self.assertEqual(after["directNumbers"], [])
        self.assertNotIn("pia@example.test", self.emu.users_by_email())
        # deactivate = none: the phone user is left as it is.
        conf = self.conf(sync="deactivate = none")
        self.set_attr("quin", "userAccountControl", "514")
        out = self.once(conf)
        self.assertIn("phone user left as it is (deactivate = none)", out)
        self.assertEqual(self.ext("quin@example.test")["status"], "Enabled")

    def test_hold_release_and_out_of_scope(self):
        self.start_emulator({"free_extensions": {"count": 10, "start": 801}})
        self.add(*[person("h%d" % i, self.ou) for i in range(6)])
        conf = self.conf(sync="max_deactivations = 2")
        self.once(conf)
        for i in range(3):
            self.set_attr("h%d" % i, "userAccountControl", "514")
        out = self.once(conf)
        self.assertRegex(out, r"crit: deactivations held: this cycle would deactivate 3 "
                         r"phone users, more than max_deactivations allows \(2\)")
        self.assertEqual(summaries(out, "incremental")[0]["held"], "3")
        for i in range(3):
            self.assertEqual(self.ext("h%d@example.test" % i)["status"], "Enabled")
        # Held deactivations stay held at the next cycle.
        self.once(conf)
        self.assertEqual(self.ext("h0@example.test")["status"], "Enabled")
        rc, out = self.run_cmd([RINGSYNCCTL, "-c", conf, "release-deactivations"])
        self.assertEqual(rc, 0, out)
        self.assertIn("released 3 held deactivations", out)
        self.once(conf)
        for i in range(3):
            self.assertEqual(self.ext("h%d@example.test" % i)["status"], "Disabled")
        # Moved out of the base DN: deactivated at the full sync.
        self.dc.tool(["ldapmodrdn", "-r", "-s", self.dc.env["MOVED_OU"], self.dn("h4"),
                      "CN=h4"])
        # Mail removed: the filter (mail=*) no longer matches.
        self.dc.modify("dn: %s\nchangetype: modify\ndelete: mail\n" % self.dn("h3"))
        out = self.once(conf)
        self.assertEqual(self.ext("h4@example.test")["status"], "Enabled")
        self.assertEqual(self.ext("h3@example.test")["status"], "Enabled")
        out = self.once(conf, "--full-resync")
        self.assertEqual(len(re.findall(r"reason=out-of-scope", out)), 2, out)
        self.assertEqual(self.ext("h4@example.test")["status"], "Disabled")
        self.assertEqual(self.ext("h3@example.test")["status"], "Disabled")
        self.assertEqual(self.ext("h5@example.test")["status"], "Enabled")

    def test_raised_threshold_and_sighup_release_held(self):
        self.start_emulator({"free_extensions": {"count": 6, "start": 851}})
        self.add(*[person("g%d" % i, self.ou) for i in range(4)])
        conf = self.conf(sync="max_deactivations = 1\ninterval = 1h\nimport_interval = 1h")
        self.once(conf)
        for i in range(2):
            self.set_attr("g%d" % i, "userAccountControl", "514")
        d = self.start([RINGSYNCD, "-f", "-c", conf], "ringsyncd")
        d.wait_output("deactivations held", 60)
        self.assertEqual(self.ext("g0@example.test")["status"], "Enabled")
        rc, out = self.run_cmd([RINGSYNCCTL, "-c", conf, "status"])
        self.assertEqual(rc, 2, out)
        self.assertRegex(out.splitlines()[0], r"^RINGSYNC CRITICAL: .*2 deactivations held")
        self.assertIn("\nringsyncd        running (pid %d)\n" % d.p.pid, out)
        # Still above the limit after a reload: they stay held, and it says so.
        with open(conf) as f:
            text = f.read()
        self.write("ringsyncd.conf", text, 0o644)
        d.signal(signal.SIGHUP)
        d.wait_output("deactivations still held", 30)
        self.write("ringsyncd.conf", text.replace("max_deactivations = 1",
                                                  "max_deactivations = 2"), 0o644)
        d.signal(signal.SIGHUP)
        d.wait_output("held deactivations released", 30)
        rstest.wait_for(lambda: all(self.ext("g%d@example.test" % i)["status"] == "Disabled"
                                    for i in range(2)), 60, "the released deactivations")
        self.assertEqual(self.ext("g2@example.test")["status"], "Enabled")
        d.stop()
        rc, out = self.run_cmd([RINGSYNCCTL, "-c", conf, "status"])
        self.assertEqual(rc, 0, out)
        self.assertIn("held=0", out.splitlines()[0])

    def test_status_check(self):
        self.start_emulator({"free_extensions": {"count": 4, "start": 871}})
        self.add(person("sa", self.ou), person("sb", self.ou))
        conf = self.conf()
        status = [RINGSYNCCTL, "-c", conf, "status"]
        # No state yet: CRITICAL.
        rc, out = self.run_cmd(status)
        self.assertEqual(rc, 2, out)
        self.assertRegex(out, r"^RINGSYNC CRITICAL: no state yet")
        rc, out = self.run_cmd(status + ["--json"])
        self.assertEqual(rc, 2, out)
        self.assertRegex(json.loads(out)["summary"], r"^no state yet")
        # Healthy.
        self.once(conf)
        rc, out = self.run_cmd(status)
        self.assertEqual(rc, 0, out)
        first = out.splitlines()[0]
        self.assertRegex(first, r"^RINGSYNC OK: 2 users linked, last cycles \d+s \(scan\) "
                         r"and \d+s \(import\) ago \| scan_age=\d+s;900;3600 "
                         r"import_age=\d+s;900;3600 failed=0;1;10 linked=2 held=0 "
                         r"outbox=0 writeback=0$")
        self.assertRegex(out, r"\nscan cycle +\S+Z incremental full=yes result=ok .*scanned=2 "
                         r"created=2 ")
        self.assertRegex(out, r"\nfull sync +\S+Z incremental full=yes result=ok ")
        self.assertRegex(out, r"\nimport cycle +\S+Z import full=no result=ok .*written_back=2 ")
        self.assertRegex(out, r"\nlinked +2\n")
        self.assertIn("JWT credential", out)
        self.assertIn("\nringsyncd        not running\n", out)
        # The same facts as JSON, with the same exit status.
        rc, out = self.run_cmd(status + ["--json"])
        self.assertEqual(rc, 0, out)
        js = json.loads(out)
        self.assertEqual((js["status"], js["exit"]), ("OK", 0))
        self.assertEqual(js["counts"]["linked"], 2)
        self.assertEqual(js["counts"]["failing"], 0)
        self.assertEqual(js["cycles"]["scan"]["counts"]["created"], 2)
        self.assertEqual(js["cycles"]["import"]["counts"]["written_back"], 2)
        self.assertTrue(js["cycles"]["full"]["full"])
        self.assertEqual(js["session"], {"kind": "jwt"})
        self.assertFalse(js["daemon"]["running"])
        self.assertIsNone(js["scope"])
        self.assertEqual(js["watermark"]["dc"], self.dc.env["DC_HOSTNAME"])
        self.assertEqual(js["findings"][-1]["level"], "OK")
        # Stale: the age of the last successful cycle past the thresholds.
        rstest.wait_for(lambda: self.run_cmd(status + ["--crit-age", "1s"])[0] == 2, 30,
                        "the last cycle to be older than 1 s")
        rc, out = self.run_cmd(status + ["--crit-age", "1s"])
        self.assertRegex(out, r"^RINGSYNC CRITICAL: last successful scan cycle \d+ s ago")
        rc, out = self.run_cmd(status + ["--warn-age", "1s"])
        self.assertEqual(rc, 1, out)
        self.assertRegex(out, r"^RINGSYNC WARNING: last successful scan cycle")
        # A failing user: WARNING, CRITICAL from --crit-failed 1.
        self.set_attr("sb", "st", "Calif.")
        self.once(conf, expect=1)
        rc, out = self.run_cmd(status)
        self.assertEqual(rc, 1, out)
        self.assertRegex(out, r"^RINGSYNC WARNING: 1 failing user \|.* failed=1;1;10 ")
        self.assertRegex(out, r"\nscan cycle +\S+Z incremental full=no result=users_failed ")
        rc, out = self.run_cmd(status + ["--crit-failed", "1"])
        self.assertEqual(rc, 2, out)
        self.assertRegex(out, r"^RINGSYNC CRITICAL: 1 failing users")
        rc, out = self.run_cmd(status + ["--json", "--crit-failed", "1"])
        self.assertEqual(rc, 2, out)
        js = json.loads(out)
        self.assertEqual(js["status"], "CRITICAL")
        self.assertIn({"level": "CRITICAL", "message": "1 failing users"}, js["findings"])
        self.assertEqual(js["counts"]["failing"], 1)
        self.assertEqual(js["thresholds"]["crit_failed"], 1)
        # AD unreachable: the cycle says so; the last success still counts.
        with open(conf) as f:
            bad = self.write("bad.conf", f.read().replace(
                self.dc.env["LDAP_URI"], "ldaps://127.0.0.1:1"), 0o644)
        self.once(bad, expect=3)
        rc, out = self.run_cmd(status + ["--warn-failed", "0"])
        self.assertEqual(rc, 1, out)
        self.assertRegex(out, r"^RINGSYNC WARNING: the last scan cycle could not reach AD")
        # Bad arguments are usage errors.
        rc, out = self.run_cmd(status + ["--crit-age", "soon"])
        self.assertEqual(rc, 2, out)
        self.assertIn("--crit-age soon: expected a duration", out)

    def test_push_expressions(self):
        """[push] values as expressions: a default, a constant, a function;
        the result normalised and pushed; a bad one refused by -t with its
        line and a caret."""
        self.start_emulator({"free_extensions": {"count": 5, "start": 401},
                             "inventory_numbers": {"count": 2, "start": "+16505554400"}})
        self.add(person("expr.a", self.ou, givenName=None, displayName="Alex A",
                        c=None, st=None, department=" sales "),
                 person("expr.b", self.ou, c="CA", st="Ontario"))
        conf = self.conf(extra="[push]\nfirstName = coalesce(givenName, displayName)\n"
                               "country = coalesce(c, \"US\")\n"
                               "department = upper(trim(department))\n"
                               "jobTitle = join(\" / \", trim(department), \"Staff\")")
        rc, out = self.run_cmd([RINGSYNCD, "-t", "-c", conf])
        self.assertEqual(rc, 0, out)
        self.once(conf)
        a, b = self.ext("expr.a@example.test"), self.ext("expr.b@example.test")
        self.assertEqual((a["contact"]["firstName"], a["contact"]["department"],
                          a["contact"]["jobTitle"]),
                         ("Alex A", "SALES", "sales / Staff"))
        self.assertEqual(a["contact"]["businessAddress"]["country"], "US")
        self.assertEqual((b["contact"]["firstName"], b["contact"]["businessAddress"]["country"],
                          b["contact"]["department"], b["contact"]["jobTitle"]),
                         ("Expr.b", "CA", "ENG", "Eng / Staff"))
        # A bad expression: -t names the line and points at the place.
        with open(conf) as f:
            text = f.read()
        bad = self.write("bad.conf", text.replace("upper(trim(department))",
                                                  "uper(trim(department))"), 0o644)
        rc, out = self.run_cmd([RINGSYNCD, "-t", "-c", bad])
        self.assertEqual(rc, 2, out)
        line = text.splitlines().index("department = upper(trim(department))") + 1
        self.assertIn("bad.conf:%d: [push] department: unknown function uper" % line, out)
        self.assertIn("  uper(trim(department))\n  ^", out)

    def test_create_only_values(self):
        """[create] values go in the create only (SCIM create: the extension
        number by the bulk update right after); a number in use is the user's
        error naming the attribute and value, and nothing else waits; a
        create-only value changed later in AD is not pushed."""
        self.start_emulator({
            "extensions": [{"extensionNumber": "1234",
                            "contact": {"firstName": "Old", "lastName": "Owner",
                                        "email": "owner@example.test"}}],
            "free_extensions": {"count": 5, "start": 401}})
        self.add(person("mk.a", self.ou, ipPhone="+1 650 555-1777", department="Sales"),
                 person("mk.b", self.ou, ipPhone="x1234"),
                 person("mk.c", self.ou, department=None))
        conf = self.conf(extra="[push]\ndepartment =\n"
                               "[create]\nextensionNumber = right(digits(ipPhone), 4)\n"
                               "department = coalesce(department, \"New hires\")")
        rc, out = self.run_cmd([RINGSYNCD, "-t", "-c", conf])
        self.assertEqual(rc, 0, out)
        out = self.once(conf, "-n")
        self.assertIn("dry run: a create sets extensionNumber=1777 dn=CN=mk.a,", out)
        self.assertIn("dry run: a create sets department=\"New hires\" dn=CN=mk.c,", out)
        rc, out = self.run_cmd([RINGSYNCCTL, "-c", conf, "explain", "mk.a@example.test"])
        self.assertRegex(out, r"Set at create \(\[create\]\)\n    department +\"Sales\"\n"
                              r"    extensionNumber +\"1777\"\n")
        out = self.once(conf, expect=1)   # a user failed
        a, b, c = (self.ext("mk.%s@example.test" % n) for n in "abc")
        self.assertEqual((a["extensionNumber"], a["contact"].get("department")),
                         ("1777", "Sales"))
        self.assertEqual(c["contact"].get("department"), "New hires")
        self.assertTrue(c["extensionNumber"].startswith("40"), c)
        # mk.b: created with the number the platform gave, the rest pushed,
        # and the error names the attribute and the value.
        self.assertTrue(b["extensionNumber"].startswith("40"), b)
        self.assertEqual(b["contact"].get("department"), "Eng")
        self.assertRegex(out, r"user failed: Extension already in use: .*"
                              r"email=mk\.b@example\.test attribute=ipPhone value=1234")
        self.assertEqual(out.count("Extension already in use"), 1, out)
        # The write-back: the numbers the users have.
        self.assertEqual(self.ad("mk.a", "ipPhone")["ipPhone"], "1777")
        self.assertEqual(self.ad("mk.b", "ipPhone")["ipPhone"], b["extensionNumber"])
        # Create-only: a later AD change is not pushed, and nothing is
        # tried again for mk.b.
        self.set_attr("mk.a", "department", "Marketing")
        seq = self.emu.last_seq()
        out = self.once(conf)
        self.assertNotIn("user failed", out)
        self.assertEqual(self.ext("mk.a@example.test")["contact"].get("department"), "Sales")
        self.assertEqual([r for r in self.requests(seq, "POST")
                          if "bulk" in r["path"] or "/Users" in r["path"]], [])

    def test_create_by_rest_cmn406(self):
        self._create_by_rest("CMN-406")

    def test_create_by_rest_cmn101(self):
        self._create_by_rest("CMN-101")

    def _create_by_rest(self, code):
        """create_method = extension: one Medium call carries the contact, the
        custom field and the [create] extension number; a number in use
        (answered with code, one of the two the platform may use) creates
        nothing, names the attribute and value, blocks nobody else, and the
        user is created once AD gives a free number."""
        self.start_emulator({
            "custom_fields": [{"id": "7", "category": "User", "displayName": "Badge"}],
            "extensions": [{"extensionNumber": "1234",
                            "contact": {"firstName": "Old", "lastName": "Owner",
                                        "email": "owner@example.test"}}]})
        self.emu.call("POST", "/_emu/behaviour", {"duplicate_extension_code": code})
        self.add(person("rc.a", self.ou, ipPhone="x5551", employeeID="B-1"),
                 person("rc.b", self.ou, ipPhone="x1234"),
                 person("rc.c", self.ou, ipPhone="x123456"))
        conf = self.conf(feed="change_feed = no\ncreate_method = extension",
                         extra="[create]\nextensionNumber = digits(ipPhone)\n"
                               "custom.Badge = employeeID")
        rc, out = self.run_cmd([RINGSYNCCTL, "-c", conf, "schema"])
        self.assertEqual(rc, 0, out)
        seq = self.emu.last_seq()
        out = self.once(conf, expect=1)
        a = self.ext("rc.a@example.test")
        self.assertEqual(a["extensionNumber"], "5551")
        self.assertEqual(a["customFields"], [{"id": "7", "value": "B-1"}])
        creates = self.requests(seq, "POST", "/restapi/v1.0/account/~/extension")
        self.assertEqual([r["group"] for r in creates], ["Medium", "Medium"])
        self.assertEqual(self.requests(seq, "POST", "/scim/v2/Users"), [])
        self.assertEqual([r for r in self.requests(seq, "POST") if "bulk" in r["path"]], [])
        self.assertNotIn("rc.b@example.test", self.emu.users_by_email())
        self.assertRegex(out, r"user failed: Extension already in use: .*"
                              r"email=rc\.b@example\.test attribute=ipPhone value=1234")
        # Longer than the account's numbers (schema cached 5): the user's error.
        self.assertRegex(out, r"user failed: The ipPhone is invalid: '123456' is "
                              r"longer than the account's extension numbers \(5 digits at "
                              r"most\).* email=rc\.c@example\.test")
        # Not tried again while AD says the same; then AD gives a free one.
        seq = self.emu.last_seq()
        out = self.once(conf)
        self.assertNotIn("user failed", out)
        self.assertEqual(self.requests(seq, "POST", "/restapi/v1.0/account/~/extension"), [])
        self.set_attr("rc.b", "ipPhone", "x5552")
        self.once(conf)
        self.assertEqual(self.ext("rc.b@example.test")["extensionNumber"], "5552")

    def test_create_by_batch(self):
        """create_method = batch: 12 new users in two Heavy calls (10 + 2),
        each confirmed by email although the answer lists its results in
        another order; the profile follows by bulk update; a record refused
        in a batch whose answer does not say whose is tried alone, and its
        error then names the attribute and value."""
        self.start_emulator({
            "extensions": [{"extensionNumber": "1234",
                            "contact": {"firstName": "Old", "lastName": "Owner",
                                        "email": "owner@example.test"}}]})
        self.emu.call("POST", "/_emu/behaviour", {"batch_result_order": "reversed"})
        people = [person("bt.%02d" % i, self.ou, department="Dept %d" % i)
                  for i in range(11)]
        people.append(person("bt.xx", self.ou, ipPhone="x1234"))
        self.add(*people)
        conf = self.conf(feed="change_feed = no\ncreate_method = batch",
                         extra="[create]\nextensionNumber = digits(ipPhone)")
        seq = self.emu.last_seq()
        out = self.once(conf, expect=1)
        batches = self.requests(seq, "POST", "/restapi/v2/accounts/~/batch-provisioning")
        self.assertEqual([r["group"] for r in batches], ["Heavy"] * 3, batches)
        self.assertEqual(self.requests(seq, "POST", "/scim/v2/Users"), [])
        users = self.emu.users_by_email()
        for i in range(11):
            x = self.ext("bt.%02d@example.test" % i)
            self.assertEqual(x["contact"].get("department"), "Dept %d" % i)
        self.assertNotIn("bt.xx@example.test", users)
        self.assertIn("does not say whose; trying alone", out)
        self.assertRegex(out, r"user failed: Extension already in use: .*"
                              r"email=bt\.xx@example\.test attribute=ipPhone value=1234")
        self.assertEqual(out.count("user failed"), 1, out)
        # Linked by email, so the write-back has each user's own number.
        for i in range(11):
            self.assertEqual(self.ad("bt.%02d" % i, "ipPhone")["ipPhone"],
                             self.ext("bt.%02d@example.test" % i)["extensionNumber"])

    def test_schema_and_custom_field(self):
        self.start_emulator({
            "custom_fields": [{"id": "7", "category": "User", "displayName": "Cost Center"},
                              {"id": "8", "category": "User", "displayName": "Badge"}],
            "free_extensions": {"count": 4, "start": 881}})
        self.add(person("ca", self.ou, employeeID="CC-100"), person("cb", self.ou))
        push = "\n[push]\ncustom.cost center = employeeID\n"
        conf = self.conf(extra=push)
        rc, out = self.run_cmd([RINGSYNCD, "-t", "-c", conf])
        self.assertEqual(rc, 0, out)
        self.assertIn("no cached schema", out)
        rc, out = self.run_cmd([RINGSYNCCTL, "-c", conf, "schema"])
        self.assertEqual(rc, 0, out)
        self.assertRegex(out, r"\n  firstName +name.givenName +givenName\n")
        self.assertRegex(out, r"\n  custom.Cost Center +id=7 +employeeID\n")
        self.assertRegex(out, r"\n  custom.Badge +id=8 +-\n")
        self.assertRegex(out, r"AD attributes of class user \(\d+\):.* employeeID .*")
        self.assertRegex(out, r"SCIM user attributes \(\d+\):.* name.givenName ")
        rc, out = self.run_cmd([RINGSYNCD, "-t", "-c", conf])
        self.assertEqual(rc, 0, out)
        # -t checks [push] against the cache: custom names and AD attributes.
        bad = self.conf(extra="\n[push]\ncustom.Cost Centre = employeeID\n"
                        "department = departmnt\n")
        rc, out = self.run_cmd([RINGSYNCD, "-t", "-c", bad])
        self.assertEqual(rc, 2, out)
        self.assertRegex(out, r"ringsyncd.conf:\d+: \[push\] custom.Cost Centre: the phone "
                         r"system has no custom user field named 'Cost Centre' \(it has: "
                         r"Cost Center, Badge;")
        self.assertRegex(out, r"ringsyncd.conf:\d+: \[push\] department = departmnt: Active "
                         r"Directory has no attribute 'departmnt' for class user")
        conf = self.conf(extra=push)
        # The custom field is pushed through the bulk update's customFields.
        seq = self.emu.last_seq()
        self.once(conf)
        def custom(email):
            return {c["id"]: c["value"] for c in self.ext(email).get("customFields", [])}
        self.assertEqual(custom("ca@example.test").get("7"), "CC-100")
        self.assertEqual(custom("cb@example.test").get("7", ""), "")
        bulk = [r for r in self.requests(seq, "POST") if "bulk" in r["path"]]
        self.assertEqual(len(bulk), 1, bulk)
        self.set_attr("cb", "employeeID", "CC-200")
        self.once(conf)
        self.assertEqual(custom("cb@example.test").get("7"), "CC-200")
        self.assertEqual(custom("ca@example.test").get("7"), "CC-100")

    def test_schema_lists_the_account_offer(self):
        """ringsyncctl schema also lists the sites, roles, default role and
        cost centers and the longest extension number, caching them; what
        the app or the account does not allow is said, the rest goes on;
        -t checks [create] like [push]."""
        self.start_emulator({
            "company_name": "Example Corp",
            "sites": [{"id": "2001", "name": "Toronto", "code": "TOR",
                       "extensionNumber": "200"}],
            "roles": [{"id": "1", "displayName": "Standard"},
                      {"id": "3", "displayName": "Sales Agent"}],
            "default_role": "1",
            "cost_centers": [{"id": 17, "name": "R&D", "billingCode": "B-17"}],
            "max_extension_length": 4})
        self.add(person("sa", self.ou))
        conf = self.conf(extra="[create]\nextensionNumber = digits(ipPhone)")
        rc, out = self.run_cmd([RINGSYNCCTL, "-c", conf, "schema"])
        self.assertEqual(rc, 0, out)
        self.assertRegex(out, r"sites \(\[policy\] site: a name or code\):\n"
                              r"  Example Corp +id=main-site\n  Toronto +id=2001 code=TOR\n")
        self.assertRegex(out, r"user roles \(\[roles\]\):\n  Standard +id=1\n"
                              r"  Sales Agent +id=3\n")
        self.assertIn("default role: Standard\n", out)
        self.assertRegex(out, r"cost centers \(\[policy\] cost_center: a name\):\n"
                              r"  R&D +id=17 code=B-17\n")
        self.assertIn("longest extension number: 4 digits\n", out)
        groups = {r["path"].split("?")[0]: r["group"] for r in self.emu.log()}
        self.assertEqual(groups["/restapi/v1.0/account/~/sites"], "Light")
        self.assertEqual(groups["/restapi/v1.0/account/~/user-role"], "Medium")
        self.assertEqual(groups["/restapi/v2/accounts/~/cost-centers"], "Light")
        # Without RoleManagement and the cost-center feature: said, not fatal.
        self.emu.call("POST", "/_emu/behaviour", {"role_permission": False,
                                                  "cost_center_feature": False})
        rc, out = self.run_cmd([RINGSYNCCTL, "-c", conf, "schema"])
        self.assertEqual(rc, 0, out)
        self.assertIn("  Toronto", out)
        self.assertRegex(out, r"default role: \(not available: the app or the account "
                              r"does not allow it \(CMN-408: .*RoleManagement")
        self.assertRegex(out, r"cost centers \(\[policy\] cost_center: a name\):\n"
                              r"  \(not available: ")
        bad = self.conf(extra="[create]\ncustom.Nope = employeeID\n"
                              "department = departmnt\n[push]\ndepartment =")
        rc, out = self.run_cmd([RINGSYNCD, "-t", "-c", bad])
        self.assertEqual(rc, 2, out)
        self.assertRegex(out, r"\[create\] custom.Nope: the phone system has no custom "
                              r"user field named 'Nope'")
        self.assertRegex(out, r"\[create\] department = departmnt: Active Directory has "
                              r"no attribute 'departmnt'")

    def test_policy_site_and_cost_center(self):
        """[policy] site and cost_center resolved by name or code against the
        cached lists: set by the REST create, the site changed later by a bulk
        update when AD's value changes, the cost center at create only; an
        unknown site is the user's error naming the attribute and value."""
        self.start_emulator({
            "company_name": "Example Corp",
            "sites": [{"id": "2001", "name": "Toronto", "code": "TOR"},
                      {"id": "2002", "name": "Austin", "code": "AUS"}],
            "cost_centers": [{"id": 17, "name": "R&D"}, {"id": 18, "name": "Sales"}]})
        self.add(person("ps.a", self.ou, physicalDeliveryOfficeName="TOR", department="R&D"),
                 person("ps.b", self.ou, physicalDeliveryOfficeName="toronto",
                        department="Sales"),
                 person("ps.c", self.ou, department=None),
                 person("ps.d", self.ou, physicalDeliveryOfficeName="Mars"))
        conf = self.conf(feed="change_feed = no\ncreate_method = extension",
                         extra="[policy]\nsite = physicalDeliveryOfficeName\n"
                               "cost_center = department")
        # Without the cached lists ringsyncd says what to do.
        rc, out = self.run_cmd([RINGSYNCD, "-t", "-c", conf])
        self.assertEqual(rc, 2, out)
        self.assertIn("[policy] site needs the account's sites: run `ringsyncctl schema`",
                      out)
        out = self.once(conf, expect=2)
        self.assertIn("[policy] site needs the account's sites: run `ringsyncctl schema`",
                      out)
        rc, out = self.run_cmd([RINGSYNCCTL, "-c", conf, "schema"])
        self.assertEqual(rc, 0, out)
        out = self.once(conf, "-n", expect=1)   # ps.d's site is unknown
        self.assertIn("dry run: the site is site=2001 dn=CN=ps.a,", out)
        self.assertIn("dry run: a create sets costCenter=17 dn=CN=ps.a,", out)
        out = self.once(conf, expect=1)
        a, b, c = (self.ext("ps.%s@example.test" % n) for n in "abc")
        self.assertEqual((a["site"], str(a["costCenter"])), ("2001", "17"))
        self.assertEqual((b["site"], str(b["costCenter"])), ("2001", "18"))
        self.assertEqual((c["site"], c["costCenter"]), ("main-site", None))
        self.assertNotIn("ps.d@example.test", self.emu.users_by_email())
        self.assertRegex(out, r"user failed: The physicalDeliveryOfficeName is invalid: "
                              r"'Mars' is not a site of the account \(it has: Example Corp, "
                              r"Toronto, Austin; .*email=ps\.d@example\.test "
                              r"attribute=physicalDeliveryOfficeName value=Mars")
        # The site follows AD; the cost center does not (create only).
        self.set_attr("ps.b", "physicalDeliveryOfficeName", "AUS")
        self.set_attr("ps.a", "department", "Sales")
        seq = self.emu.last_seq()
        out = self.once(conf)
        self.assertRegex(out, r"notice: the cost center AD now gives is not the one the user "
                              r"was created with, .*email=ps\.a@example\.test cost_center=18 "
                              r"created_with=17 attribute=department")
        self.assertEqual(out.count("the cost center AD now gives"), 1, out)
        bulk = [r for r in self.requests(seq, "POST") if "bulk" in r["path"]]
        self.assertEqual(len(bulk), 1, bulk)
        self.assertEqual(self.ext("ps.b@example.test")["site"], "2002")
        self.assertEqual(str(self.ext("ps.a@example.test")["costCenter"]), "17")
        rc, out = self.run_cmd([RINGSYNCCTL, "-c", conf, "explain", "ps.b@example.test"])
        self.assertEqual(rc, 0, out)
        self.assertIn("the profile last pushed is the one AD wants", out)
        rc, out = self.run_cmd([RINGSYNCCTL, "-c", conf, "explain", "ps.d@example.test"])
        self.assertIn("'Mars' is not a site of the account", out)
        # Said once: another change of ps.a says nothing more of it.
        self.set_attr("ps.a", "title", "Lead")
        out = self.once(conf)
        self.assertNotIn("the cost center AD now gives", out)

    def test_policy_site_with_the_scim_create(self):
        """The SCIM create cannot set a site: the bulk update right after it
        does, in the same run."""
        self.start_emulator({
            "sites": [{"id": "2001", "name": "Toronto", "code": "TOR"}],
            "free_extensions": {"count": 3, "start": 501}})
        self.add(person("pz.a", self.ou, physicalDeliveryOfficeName="TOR"))
        conf = self.conf(extra="[policy]\nsite = physicalDeliveryOfficeName")
        rc, out = self.run_cmd([RINGSYNCCTL, "-c", conf, "schema"])
        self.assertEqual(rc, 0, out)
        seq = self.emu.last_seq()
        self.once(conf)
        self.assertEqual(self.ext("pz.a@example.test")["site"], "2001")
        self.assertEqual(len(self.requests(seq, "POST", "/scim/v2/Users")), 1)
        self.assertEqual(len([r for r in self.requests(seq, "POST") if "bulk" in r["path"]]),
                         1)

    ROLES = {"roles": [{"id": "1", "displayName": "Standard User"},
                       {"id": "2", "displayName": "Sales Agent"},
                       {"id": "3", "displayName": "Manager"}],
             "default_role": "1"}

    def group(self, cn, *members):
        dn = "CN=%s,%s" % (cn, self.ou)
        self.dc.modify("dn: %s\nchangetype: add\nobjectClass: group\n%s" % (
            dn, "".join("member: %s\n" % m for m in members)))
        return dn

    def member(self, op, group, *members):
        self.dc.modify("dn: %s\nchangetype: modify\n%s: member\n%s" % (
            group, op, "".join("member: %s\n" % m for m in members)))

    def assigns(self, since):
        return [r for r in self.requests(since, "POST") if r["path"].endswith("/bulk-assign")]

    def roles_of(self, *cns):
        return {cn: self.ext("%s@example.test" % cn)["roles"] for cn in cns}

    def test_roles_by_nested_group(self):
        """[roles]: the first rule whose group holds the user (nested too)
        gives the role, one bulk-assign per role; nothing is assigned again
        while nothing changes; with manage_roles a user who leaves every
        rule's group, directly or because a nested group left, goes back to
        the default role; users no rule names keep theirs."""
        self.start_emulator(dict(self.ROLES, free_extensions={"count": 6, "start": 601}))
        self.add(*(person("ro.%s" % n, self.ou) for n in "abcd"))
        inner = self.group("ro-inner", self.dn("ro.b"))
        sales = self.group("ro-sales", self.dn("ro.a"), inner)
        mgr = self.group("ro-mgr", self.dn("ro.b"), self.dn("ro.c"))
        conf = self.conf(extra="[policy]\nmanage_roles = yes\n[roles]\nManager = %s\n"
                               "Sales Agent = %s" % (mgr, sales))
        rc, out = self.run_cmd([RINGSYNCD, "-t", "-c", conf])
        self.assertEqual(rc, 2, out)
        self.assertIn("[roles] needs the account's roles: run `ringsyncctl schema`", out)
        rc, out = self.run_cmd([RINGSYNCCTL, "-c", conf, "schema"])
        self.assertEqual(rc, 0, out)
        rc, out = self.run_cmd([RINGSYNCD, "-t", "-c", conf])
        self.assertEqual(rc, 0, out)
        seq = self.emu.last_seq()
        out = self.once(conf, "-n")
        for role, group, cn in (("Manager", "ro-mgr", "ro.b"), ("Manager", "ro-mgr", "ro.c"),
                                ('"Sales Agent"', "ro-sales", "ro.a")):
            self.assertRegex(out, r'dry run: the role is role=%s rule="?CN=%s,\S* dn="?CN=%s,'
                             % (role, group, re.escape(cn)))
        self.assertNotIn("CN=ro.d,", "\n".join(l for l in out.splitlines()
                                              if "the role is" in l))
        self.assertEqual(self.assigns(seq), [])
        out = self.once(conf)
        self.assertEqual(self.roles_of("ro.a", "ro.b", "ro.c", "ro.d"),
                         {"ro.a": ["2"], "ro.b": ["3"], "ro.c": ["3"], "ro.d": ["1"]}, out)
        calls = self.assigns(seq)
        self.assertEqual(sorted(r["path"].split("/")[-2] for r in calls), ["2", "3"], calls)
        rc, out = self.run_cmd([RINGSYNCCTL, "-c", conf, "explain", "ro.b@example.test"])
        self.assertEqual(rc, 0, out)
        self.assertIn("Role ([roles])\n    Manager, by the rule \"Manager\"\n    assigned\n", out)
        rc, out = self.run_cmd([RINGSYNCCTL, "-c", conf, "explain", "ro.d@example.test"])
        self.assertIn("Role ([roles])\n    none: in no rule's group", out)
        # Nothing changed: nothing assigned.
        seq = self.emu.last_seq()
        self.once(conf)
        self.assertEqual(self.assigns(seq), [])
        # ro.b leaves Manager (Sales Agent through the nested group); ro.a
        # leaves every group: the default role.
        self.member("delete", mgr, self.dn("ro.b"))
        self.member("delete", sales, self.dn("ro.a"))
        seq = self.emu.last_seq()
        self.once(conf)
        self.assertEqual(self.roles_of("ro.a", "ro.b", "ro.c"),
                         {"ro.a": ["1"], "ro.b": ["2"], "ro.c": ["3"]})
        self.assertEqual(sorted(r["path"].split("/")[-2] for r in self.assigns(seq)),
                         ["1", "2"])
        # The nested group leaves: ro.b is in no rule's group any more.
        self.member("delete", sales, inner)
        seq = self.emu.last_seq()
        self.once(conf)
        self.assertEqual(self.roles_of("ro.b")["ro.b"], ["1"])
        self.assertEqual(len(self.assigns(seq)), 1)
        out = self.history(conf, "ro.b@example.test")
        self.assertRegex(out, r"role assigned\n    role: \(none\) -> \"Manager\"")
        self.assertRegex(out, r"role assigned\n    role: \"Manager\" -> \"Sales Agent\"")
        self.assertRegex(out, r"role assigned\n    role: \"Sales Agent\" -> \"Standard User\"")
        # A user back in a group after it left gets the rule's role again;
        # ro.a is never returned to the default twice.
        self.member("add", mgr, self.dn("ro.a"))
        seq = self.emu.last_seq()
        self.once(conf)
        self.assertEqual(self.roles_of("ro.a")["ro.a"], ["3"])
        self.assertEqual(len(self.assigns(seq)), 1)
        # -t names a role the account lacks and a group AD lacks; a group
        # that cannot be read changes no role, and the rest syncs.
        gone = "CN=ro-gone,%s" % self.ou
        conf = self.conf(extra="[policy]\nmanage_roles = yes\n[roles]\nNobody = %s\n"
                               "Manager = %s" % (mgr, gone))
        rc, out = self.run_cmd([RINGSYNCD, "-t", "-c", conf])
        self.assertEqual(rc, 2, out)
        self.assertRegex(out, r"ringsyncd.conf:\d+: \[roles\] Nobody: the account has no role "
                              r"of that name")
        self.assertRegex(out, r"ringsyncd.conf:\d+: \[roles\] Manager: .*ro-gone")
        conf = self.conf(extra="[policy]\nmanage_roles = yes\n[roles]\nManager = %s" % gone)
        self.set_attr("ro.c", "department", "Ops")
        seq = self.emu.last_seq()
        out = self.once(conf)
        self.assertEqual(out.count("the [roles] groups cannot be read"), 1, out)
        self.assertEqual(self.ext("ro.c@example.test")["contact"]["department"], "Ops")
        self.assertEqual(self.assigns(seq), [])
        self.assertEqual(self.roles_of("ro.a", "ro.b", "ro.c"),
                         {"ro.a": ["3"], "ro.b": ["1"], "ro.c": ["3"]})

    def test_roles_in_the_daemon(self):
        """The running daemon assigns the roles of the users it creates once
        the import gives their extension ids, and follows a membership change
        at a later cycle."""
        self.start_emulator(dict(self.ROLES, free_extensions={"count": 4, "start": 651}))
        self.add(person("rd.a", self.ou), person("rd.b", self.ou))
        sales = self.group("rd-sales", self.dn("rd.a"))
        conf = self.conf(sync="interval = 1s\nimport_interval = 1s",
                         extra="[policy]\nmanage_roles = yes\n[roles]\nSales Agent = %s"
                               % sales)
        rc, out = self.run_cmd([RINGSYNCCTL, "-c", conf, "schema"])
        self.assertEqual(rc, 0, out)
        d = self.start([RINGSYNCD, "-f", "-c", conf], "ringsyncd")

        def roles_are(want):
            def check():
                try:
                    return self.roles_of(*want) == want
                except AssertionError:
                    return False             # not created yet
            return check
        rstest.wait_for(roles_are({"rd.a": ["2"], "rd.b": ["1"]}), 120, "rd.a's role")
        self.member("add", sales, self.dn("rd.b"))
        self.member("delete", sales, self.dn("rd.a"))
        rstest.wait_for(roles_are({"rd.a": ["1"], "rd.b": ["2"]}), 120, "the roles moved")
        d.signal(signal.SIGTERM)
        self.assertEqual(d.wait(15), 0, d.output()[-3000:])
        self.assertEqual(d.output().count("role assigned role="), 3, d.output()[-3000:])

    def test_roles_permission_and_bulk_limit(self):
        """The bulk-assign's unverified limit is learnt from its answer; without
        RoleManagement one critical message says so and everything else
        syncs; without manage_roles a user who leaves keeps its role."""
        self.start_emulator(dict(self.ROLES, free_extensions={"count": 8, "start": 701}))
        self.emu.call("POST", "/_emu/behaviour", {"role_bulk_max": 2})
        names = ["rp.%s" % n for n in "abcde"]
        self.add(*(person(n, self.ou) for n in names))
        sales = self.group("rp-sales", *(self.dn(n) for n in names))
        conf = self.conf(extra="[roles]\nsales agent = %s" % sales)
        rc, out = self.run_cmd([RINGSYNCCTL, "-c", conf, "schema"])
        self.assertEqual(rc, 0, out)
        seq = self.emu.last_seq()
        out = self.once(conf)
        self.assertEqual(set(map(tuple, self.roles_of(*names).values())), {("2",)})
        self.assertIn("a role bulk-assign takes at most 2 users", out)
        # all 5 refused, then 2 + 2 + 1
        self.assertEqual([r["status"] for r in self.assigns(seq)], [400, 204, 204, 204])
        # Without manage_roles, leaving keeps the role.
        self.member("delete", sales, self.dn("rp.a"))
        seq = self.emu.last_seq()
        self.once(conf)
        self.assertEqual(self.roles_of("rp.a")["rp.a"], ["2"])
        self.assertEqual(self.assigns(seq), [])
        # Without the permission: one critical line; the profile still goes.
        self.emu.call("POST", "/_emu/behaviour", {"role_permission": False})
        self.add(person("rp.f", self.ou))
        self.member("add", sales, self.dn("rp.f"))
        self.set_attr("rp.b", "department", "Closers")
        out = self.once(conf)
        self.assertEqual(out.count("roles cannot be assigned: the app needs the "
                                   "RoleManagement permission"), 1, out)
        self.assertEqual(self.ext("rp.b@example.test")["contact"]["department"], "Closers")
        self.assertEqual(self.roles_of("rp.f")["rp.f"], ["1"])
        rc, out = self.run_cmd([RINGSYNCCTL, "-c", conf, "explain", "rp.f@example.test"])
        self.assertIn("Sales Agent, by the rule \"sales agent\"\n    waiting: assigned at the "
                      "pusher's next round\n", out)
        # The permission granted: the next run assigns what waited.
        self.emu.call("POST", "/_emu/behaviour", {"role_permission": True})
        self.once(conf)
        self.assertEqual(self.roles_of("rp.f")["rp.f"], ["2"])

    # ------------------------------------------------------------ photos

    @staticmethod
    def png(w, h, salt=b""):
        """A small PNG: its signature and an IHDR (the emulator reads the
        header only), then salt so that two images differ."""
        import struct
        import zlib
        ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
        chunk = struct.pack(">I", len(ihdr)) + b"IHDR" + ihdr + struct.pack(
            ">I", zlib.crc32(b"IHDR" + ihdr))
        return b"\x89PNG\r\n\x1a\n" + chunk + salt

    @staticmethod
    def jpeg(w, h):
        """SOI, a SOF0 segment with the size, EOI."""
        import struct
        sof = struct.pack(">BHHB", 8, h, w, 3) + b"\x01\x22\x00" * 3
        return (b"\xff\xd8\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00" + b"\x00" * 9 +
                b"\xff\xc0" + struct.pack(">H", len(sof) + 2) + sof + b"\xff\xd9")

    def set_photo(self, cn, data):
        if data is None:
            ldif = "dn: %s\nchangetype: modify\ndelete: thumbnailPhoto\n" % self.dn(cn)
        else:
            ldif = "dn: %s\nchangetype: modify\nreplace: thumbnailPhoto\nthumbnailPhoto:: %s\n" % (
                self.dn(cn), base64.b64encode(data).decode())
        self.dc.modify(ldif)

    def photos(self):
        return {(x.get("contact") or {}).get("email", "").split("@")[0]:
                (x.get("profileImage") or {}).get("sha256")
                for x in self.emu.state()["extensions"] if x["status"] != "Unassigned"}

    def photo_calls(self, since):
        return [(r["method"], r["path"].split("/")[-2], r["status"])
                for r in self.requests(since) if r["path"].endswith("/profile-image")]

    def test_photos_added_changed_removed_refused(self):
        """[push] photo = thumbnailPhoto: the AD photo becomes the profile
        image, uploaded only when its digest changed: added, changed,
        removed (the profile image deleted), refused by the platform (the
        user's error names the attribute, the rest goes on), and a phone
        side that already holds the same image (a new store) compared by
        one read, not uploaded again."""
        import hashlib
        cns = ["ph.ann", "ph.bob", "ph.cid", "ph.dee", "ph.eve"]
        same = self.png(64, 64, b"dee")
        exts = [{"id": 7100 + i, "extensionNumber": str(7100 + i), "status": "Enabled",
                 "contact": {"firstName": cn.capitalize(), "lastName": "Sync",
                             "email": cn + "@example.test"}} for i, cn in enumerate(cns)]
        exts[3]["profileImage"] = {"base64": base64.b64encode(same).decode()}
        self.start_emulator({"extensions": exts})
        self.add(*[person(cn, self.ou) for cn in cns])
        ann, bob = self.png(96, 96, b"ann"), self.jpeg(120, 80)
        self.set_photo("ph.ann", ann)
        self.set_photo("ph.bob", bob)
        self.set_photo("ph.dee", same)
        self.set_photo("ph.eve", b"this is not an image at all")
        conf = self.conf(extra="[push]\nphoto = thumbnailPhoto")
        ids = {cn: str(7100 + i) for i, cn in enumerate(cns)}
        sha = lambda b: hashlib.sha256(b).hexdigest()

        seq = self.emu.last_seq()
        out = self.once(conf, expect=1)  # eve's photo failed
        calls = self.photo_calls(seq)
        # ann and bob uploaded (after a read: the store knew no upload),
        # dee read and found equal, eve's refused, cid has none
        self.assertEqual(sorted(c for c in calls if c[0] == "PUT"),
                         sorted([("PUT", ids["ph.ann"], 204), ("PUT", ids["ph.bob"], 204),
                                 ("PUT", ids["ph.eve"], 415)]), calls)
        self.assertIn(("GET", ids["ph.dee"], 200), calls)
        self.assertNotIn(ids["ph.cid"], [c[1] for c in calls])
        self.assertNotIn(("PUT", ids["ph.dee"], 204), calls)
        got = self.photos()
        self.assertEqual(got["ph.ann"], sha(ann))
        self.assertEqual(got["ph.bob"], sha(bob))
        self.assertEqual(got["ph.dee"], sha(same))
        self.assertIsNone(got["ph.cid"])
        self.assertIsNone(got["ph.eve"])
        state = {x["id"]: x for x in self.emu.state()["extensions"]}
        self.assertEqual(state[7101]["profileImage"]["type"], "image/jpeg")
        self.assertEqual(state[7101]["profileImage"]["declaredType"], "image/jpeg")
        refused = [l for l in out.splitlines() if "refused the photo" in l]
        self.assertEqual(len(refused), 1, out)
        self.assertIn(self.dn("ph.eve"), refused[0])
        self.assertIn("thumbnailPhoto", refused[0])
        self.assertIn("27 bytes", refused[0])
        self.assertEqual(len(re.findall(r"photo uploaded dn=", out)), 2, out)
        photo = "\n".join(self.section(self.explain(conf, "ph.eve@example.test"), "Photo"))
        self.assertIn("refused: The phone system refused the photo in thumbnailPhoto", photo)
        photo = "\n".join(self.section(self.explain(conf, "ph.ann@example.test"), "Photo"))
        self.assertIn("the phone system's profile image is this photo", photo)
        photo = "\n".join(self.section(self.explain(conf, "ph.cid@example.test"), "Photo"))
        self.assertIn("none in AD", photo)

        # Nothing changed: no photo call at all, the refusal not retried.
        seq = self.emu.last_seq()
        out = self.once(conf)
        self.assertEqual(self.photo_calls(seq), [], out)

        # Changed, removed, corrected: one call each.
        ann2, eve = self.png(200, 100, b"ann2"), self.png(32, 32, b"eve")
        self.set_photo("ph.ann", ann2)
        self.set_photo("ph.bob", None)
        self.set_photo("ph.eve", eve)
        seq = self.emu.last_seq()
        out = self.once(conf)
        self.assertEqual(sorted(self.photo_calls(seq)), sorted([
            ("PUT", ids["ph.ann"], 204), ("DELETE", ids["ph.bob"], 204),
            ("PUT", ids["ph.eve"], 204)]), out)
        got = self.photos()
        self.assertEqual(got["ph.ann"], sha(ann2))
        self.assertIsNone(got["ph.bob"])
        self.assertEqual(got["ph.eve"], sha(eve))
        self.assertIn("photo removed: the AD user has none dn=", out)
        hist = self.history(conf, "ph.eve@example.test")
        self.assertIn("photo refused", hist)
        self.assertIn("photo uploaded", hist)

        # A new store on the synced account: each photo read and found
        # equal, none uploaded again.
        shutil.rmtree(os.path.join(self.tmp, "state"))
        seq = self.emu.last_seq()
        out = self.once(conf)
        calls = self.photo_calls(seq)
        self.assertEqual(sorted(calls), sorted([("GET", ids[c], 200) for c in
                                                ("ph.ann", "ph.dee", "ph.eve")]), out)

    def test_photos_in_the_daemon(self):
        """The running daemon uploads the photo of a user it creates once the
        import gives its extension id, and follows a changed photo at a later
        cycle, with one upload each."""
        import hashlib
        self.start_emulator({"free_extensions": {"count": 3, "start": 7201}})
        self.add(person("pd.a", self.ou))
        first, second = self.png(48, 48, b"first"), self.png(48, 48, b"second")
        self.set_photo("pd.a", first)
        conf = self.conf(sync="interval = 1s\nimport_interval = 1s",
                         extra="[push]\nphoto = thumbnailPhoto")
        d = self.start([RINGSYNCD, "-f", "-c", conf], "ringsyncd")
        has = lambda b: lambda: self.photos().get("pd.a") == hashlib.sha256(b).hexdigest()
        rstest.wait_for(has(first), 120, "pd.a's photo")
        self.set_photo("pd.a", second)
        rstest.wait_for(has(second), 120, "pd.a's new photo")
        d.signal(signal.SIGTERM)
        self.assertEqual(d.wait(15), 0, d.output()[-3000:])
        self.assertEqual(d.output().count("photo uploaded dn="), 2, d.output()[-3000:])
        puts = [r for r in self.requests(0, "PUT") if r["path"].endswith("/profile-image")]
        self.assertEqual(len(puts), 2, puts)

    def test_extension_range_per_site(self):
        """[policy] extension_range[.<site>]: each new user gets the lowest
        number of its site's range that no extension has (departments too)
        and no other create took; a full range is the user's error naming
        the range; the REST create carries the number."""
        self.start_emulator({
            "sites": [{"id": "2001", "name": "Toronto", "code": "TOR"}],
            "extensions": [
                {"id": 90001, "extensionNumber": "3000", "type": "Department",
                 "contact": {"firstName": "Sales queue"}},
                {"id": 90002, "extensionNumber": "3002", "type": "Department",
                 "contact": {"firstName": "Support queue"}}]})
        main = ["re.%s" % n for n in "abc"]
        tor = ["re.t%d" % i for i in range(1, 4)]
        self.add(*(person(n, self.ou) for n in main),
                 *(person(n, self.ou, physicalDeliveryOfficeName="TOR") for n in tor))
        conf = self.conf(feed="change_feed = no\ncreate_method = extension",
                         extra="[policy]\nsite = physicalDeliveryOfficeName\n"
                               "extension_range = 3000-3004\n"
                               "extension_range.toronto = 4000-4001")
        rc, out = self.run_cmd([RINGSYNCCTL, "-c", conf, "schema"])
        self.assertEqual(rc, 0, out)
        out = self.once(conf, "-n")
        self.assertIn("dry run: a create takes the lowest free extension number of 3000-3004 "
                      "dn=CN=re.a,", out)
        self.assertIn("dry run: a create takes the lowest free extension number of 4000-4001 "
                      "dn=CN=re.t1,", out)
        out = self.once(conf, expect=1)
        got = {n: self.ext(n + "@example.test")["extensionNumber"] for n in main}
        self.assertEqual(sorted(got.values()), ["3001", "3003", "3004"], out)
        created = {n: self.ext(n + "@example.test")["extensionNumber"]
                   for n in tor if self.emu.users_by_email().get(n + "@example.test")}
        self.assertEqual(sorted(created.values()), ["4000", "4001"], out)
        self.assertEqual(len(re.findall(
            r"user failed: no free extension number in 4000-4001, the range of site "
            r"toronto: every one is taken \(widen \[policy\] extension_range\.toronto", out)),
            1, out)
        # each number written back to its user
        for n, num in list(got.items()) + list(created.items()):
            self.assertEqual(self.ad(n, "ipPhone")["ipPhone"], num)
        # a wider range: the user waiting gets the next free number
        conf = self.conf(feed="change_feed = no\ncreate_method = extension",
                         extra="[policy]\nsite = physicalDeliveryOfficeName\n"
                               "extension_range = 3000-3004\n"
                               "extension_range.TOR = 4000-4009")
        left = [n for n in tor if n not in created]
        self.set_attr(left[0], "department", "Retry")
        self.once(conf)
        self.assertEqual(self.ext(left[0] + "@example.test")["extensionNumber"], "4002")
        # A number taken after the last listing: in use at the create, the
        # user gets the next one at once.
        self.emu.call("POST", "/_emu/seed", {"extensions": [
            {"id": 90003, "extensionNumber": "4003", "type": "Department",
             "contact": {"firstName": "Front desk"}}]})
        self.add(person("re.t4", self.ou, physicalDeliveryOfficeName="TOR"))
        out = self.once(conf)
        self.assertRegex(out, r"extension number in use: giving the next free one "
                              r"dn=CN=re\.t4,.* number=4003")
        self.assertEqual(self.ext("re.t4@example.test")["extensionNumber"], "4004")

    def test_adoption_with_a_site_policy(self):
        """A new store on an account whose users already have the site and
        profile AD gives them: linked from the list, nothing pushed; a user
        on another site than AD's is moved by one bulk update."""
        self.start_emulator({
            "sites": [{"id": "2001", "name": "Toronto", "code": "TOR"}],
            "extensions": [
                {"id": 70001 + i, "extensionNumber": str(7001 + i), "site": site,
                 "contact": {"firstName": "Ad.%s" % n.capitalize(), "lastName": "Sync",
                             "email": "ad.%s@example.test" % n, "department": "Eng",
                             "businessAddress": {"city": "Palo Alto", "state": "CA",
                                                 "country": "US"}}}
                for i, (n, site) in enumerate([("a", "2001"), ("b", "main-site"),
                                               ("c", "main-site")])]})
        self.add(person("ad.a", self.ou, physicalDeliveryOfficeName="TOR"),
                 person("ad.b", self.ou),
                 person("ad.c", self.ou, physicalDeliveryOfficeName="Toronto"))
        conf = self.conf(extra="[policy]\nsite = physicalDeliveryOfficeName")
        rc, out = self.run_cmd([RINGSYNCCTL, "-c", conf, "schema"])
        self.assertEqual(rc, 0, out)
        seq = self.emu.last_seq()
        out = self.once(conf)
        self.assertEqual(self.requests(seq, "POST", "/scim/v2/Users"), [])
        bulk = [r for r in self.requests(seq, "POST") if "bulk" in r["path"]]
        self.assertEqual(len(bulk), 1, out)
        self.assertEqual([self.ext("ad.%s@example.test" % n)["site"] for n in "abc"],
                         ["2001", "main-site", "2001"])
        # nothing differs any more: nothing pushed
        seq = self.emu.last_seq()
        self.once(conf)
        self.assertEqual([r for r in self.requests(seq, "POST") if "bulk" in r["path"]], [])

    def test_extension_range_with_the_scim_create(self):
        """The SCIM create takes an unassigned extension; the bulk update right
        after it gives the range's number."""
        self.start_emulator({
            "free_extensions": {"count": 2, "start": 801},
            "extensions": [{"id": 90001, "extensionNumber": "5000", "type": "Department",
                            "contact": {"firstName": "Queue"}}]})
        self.add(person("rs.a", self.ou))
        conf = self.conf(extra="[policy]\nextension_range = 5000-5009")
        self.once(conf)
        self.assertEqual(self.ext("rs.a@example.test")["extensionNumber"], "5001")
        self.assertEqual(self.ad("rs.a", "ipPhone")["ipPhone"], "5001")

    def test_dry_run_changes_nothing(self):
        self.start_emulator({"free_extensions": {"count": 6, "start": 901},
                             "inventory_numbers": {"count": 6, "start": "+16505570000"}})
        self.add(person("ra", self.ou), person("rb", self.ou), person("rc", self.ou))
        conf = self.conf()
        self.once(conf)
        self.add(person("rd", self.ou))
        self.set_attr("ra", "department", "Dry")
        self.set_attr("rb", "userAccountControl", "514")
        self.emu.call("POST", "/_emu/extension/%d" % self.ext("rc@example.test")["id"],
                      {"directNumbers": ["+16505579999"]})
        state = os.path.join(self.tmp, "state", "state.mdb")

        def snapshot():
            dump = subprocess.run(["mdb_dump", "-n", "-a", state], check=True,
                                  stdout=subprocess.PIPE).stdout
            ad = {cn: self.ad(cn, "telephoneNumber", "ipPhone", "uSNChanged")
                  for cn in ("ra", "rb", "rc", "rd")}
            emu = self.emu.state()
            emu.pop("tasks", None)
            return dump, ad, json.dumps(emu, sort_keys=True)

        before = snapshot()
        seq = self.emu.last_seq()
        out = self.once(conf, "--dry-run")
        self.assertEqual(snapshot(), before)
        # Reading needs a token (it is not stored); nothing else but reads.
        self.assertEqual([r for r in self.requests(seq) if r["method"] != "GET"
                          and not r["path"].startswith("/restapi/oauth/")], [])
        self.assertRegex(out, r"dry run: would link or create .*CN=rd,")
        self.assertRegex(out, r"dry run: would update .*CN=ra,")
        self.assertRegex(out, r"dry run: would deactivate .*CN=rb,")
        self.assertRegex(out, r"dry run: would write back dn=\"?CN=rc,.*direct_number=\+16505579999")
        # The real run afterwards does all of it.
        self.once(conf)
        self.assertEqual(self.ext("ra@example.test")["contact"]["department"], "Dry")
        self.assertEqual(self.ext("rb@example.test")["status"], "Disabled")
        self.assertIn("rd@example.test", self.emu.users_by_email())
        self.assertTrue(self.ad("rc", "telephoneNumber")["telephoneNumber"]
                        .startswith("+16505579999#"))

    def test_bad_data_duplicates_and_no_free_extension(self):
        self.start_emulator({
            "free_extensions": {"count": 2, "start": 501},
            "extensions": [
                {"id": 601, "extensionNumber": "601", "contact": {
                    "firstName": "Dup", "lastName": "One", "email": "dup@example.test"}},
                {"id": 602, "extensionNumber": "602", "contact": {
                    "firstName": "Dup", "lastName": "Two", "email": "dup@example.test"}}]})
        self.add(person("kim", self.ou), person("lou", self.ou, st="Calif."),
                 person("dup", self.ou), person("max", self.ou), person("ned", self.ou))
        conf = self.conf()
        out = self.once(conf, expect=1)
        # The invalid state: reported with the AD attribute and value.
        self.assertRegex(out, r"user failed: The st is invalid: state must be a standard "
                         r"state name \(California\) or code \(CA\).*dn=\"?CN=lou,.*"
                         r"attribute=st value=Calif\.")
        self.assertNotIn("lou@example.test", self.emu.users_by_email())
        # Duplicate phone emails: reported, neither touched.
        self.assertRegex(out, r"TELUS Business Connect has more than one user record for "
                         r"the given email \[dup@example.test\].*"
                         r"attribute=mail value=dup@example.test")
        dups = self.emu.users_by_email()["dup@example.test"]
        self.assertEqual(sorted(x["contact"]["lastName"] for x in dups), ["One", "Two"])
        self.assertIsNone(self.ad("dup", "telephoneNumber")["telephoneNumber"])
        # Two free extensions for three new users: one reported, the others synced.
        made = [c for c in ("kim", "max", "ned")
                if c + "@example.test" in self.emu.users_by_email()]
        self.assertEqual(len(made), 2)
        self.assertRegex(out, r"user failed: All phone extensions are in use")
        # ringsyncctl users --failed lists them, each with its last error.
        rc, out = self.run_cmd([RINGSYNCCTL, "-c", conf, "users", "--failed"])
        self.assertEqual(rc, 0, out)
        failed = {re.search(r"email=(\S+)", l).group(1): l for l in out.splitlines()}
        self.assertIn("lou@example.test", failed)
        self.assertIn("state must be a standard state name", failed["lou@example.test"])
        self.assertIn("state=failed", failed["lou@example.test"])
        self.assertNotIn("kim@example.test" if "kim" in made else "ned@example.test",
                         failed)
        rc, out = self.run_cmd([RINGSYNCCTL, "-c", conf, "users"])
        self.assertEqual(len(out.splitlines()), 5, out)
        self.assertRegex(out, r"email=%s@example.test .*state=linked extension=50\d"
                         % made[0])

    def test_sigkill_mid_push_no_duplicates(self):
        n = 300
        self.start_emulator({"free_extensions": {"count": n + 10, "start": 10000},
                             "inventory_numbers": {"count": n, "start": "+16505600000"}})
        self.add(*[person("k%03d" % i, self.ou) for i in range(n)])
        conf = self.conf()
        for kill_at in (20, 140, 260):
            d = self.start([RINGSYNCD, "--once", "-c", conf], "ringsyncd-%d" % kill_at)
            rstest.wait_for(
                lambda: len([r for r in self.requests(0, "POST", "/scim/v2/Users")
                             if r["status"] == 201]) >= kill_at or d.p.poll() is not None,
                300, "%d creates" % kill_at)
            d.signal(signal.SIGKILL)
            d.wait(30)
        self.once(conf)
        users = self.emu.users_by_email()
        for i in range(n):
            email = "k%03d@example.test" % i
            self.assertEqual(len(users.get(email, [])), 1, email)
        creates = [r for r in self.requests(0, "POST", "/scim/v2/Users") if r["status"] == 201]
        self.assertEqual(len(creates), n)
        x = users["k123@example.test"][0]
        self.assertEqual(self.ad("k123", "ipPhone")["ipPhone"], x["extensionNumber"])


if __name__ == "__main__":
    unittest.main()
