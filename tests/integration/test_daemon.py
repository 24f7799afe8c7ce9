"""ringsyncd and ringsyncctl as an administrator meets them: -t, start,
signals, the state-directory lock. Runs the real binaries."""
import json
import os
import re
import signal
import subprocess
import unittest

import rstest
from rstest import RINGSYNCD, RINGSYNCCTL, SOURCE_DIR

FAKE_SECRETS = ("fake-ldap-password-1", rstest.FAKE_CLIENT_SECRET, rstest.FAKE_JWT)


class DaemonTest(rstest.TestCase):

    def conf(self, extra="", name="ringsyncd.conf", mode=0o644):
        # No DC listens on port 1: AD is unreachable, quickly. The phone
        # side is the emulator.
        if not hasattr(self, "emu"):
            self.emu = rstest.Emulator(self)
        ldap = self.write("ldap.secret", FAKE_SECRETS[0] + "\n")
        state = os.path.join(self.tmp, "state")
        return self.write(name, (
            "[ldap]\n"
            "uri = ldaps://127.0.0.1:1\n"
            "base_dn = DC=example,DC=test\n"
            "bind_dn = CN=svc,DC=example,DC=test\n"
            "bind_password_file = %s\n"
            "[telephony]\n"
            "client_id = ringsync-test\n"
            "client_secret_file = %s\n"
            "jwt_file = %s\n"
            "server = %s\n"
            "[sync]\n"
            "state_dir = %s\n"
            "interval = 1h\n"
            "%s") % (ldap, self.emu.secret_file, self.emu.jwt_file, self.emu.url,
                     state, extra), mode)

    def assertNoSecrets(self, text):
        for s in FAKE_SECRETS:
            self.assertNotIn(s, text)

    def test_sample_config_names_missing_secret_files(self):
        sample = os.path.join(SOURCE_DIR, "etc", "ringsyncd.conf")
        rc, out = self.run_cmd([RINGSYNCD, "-t", "-c", sample])
        self.assertEqual(rc, 2, out)
        self.assertRegex(out, re.escape(sample) + r":\d+: bind_password_file "
                         r"/etc/ringsync/ldap.secret: No such file or directory")
        self.assertRegex(out, re.escape(sample) + r":\d+: client_secret_file "
                         r"/etc/ringsync/client.secret: No such file or directory")

    def test_valid_config_ok(self):
        rc, out = self.run_cmd([RINGSYNCD, "-t", "-c", self.conf()])
        self.assertEqual(rc, 0, out)
        self.assertIn("OK", out)
        # plain http to a loopback emulator is allowed, with a warning
        self.assertIn("telephony server uses plain http", out)

    def test_typo_reports_file_and_line(self):
        path = self.conf("intervall = 5m\n")
        rc, out = self.run_cmd([RINGSYNCD, "-t", "-c", path])
        self.assertEqual(rc, 2, out)
        self.assertIn("%s:14: unknown key 'intervall' in [sync] (did you mean "
                      "'interval'?)" % path, out)

    def test_world_readable_secret_refused(self):
        path = self.conf()
        os.chmod(os.path.join(self.tmp, "ldap.secret"), 0o644)
        for argv in ([RINGSYNCD, "-t", "-c", path], [RINGSYNCD, "-f", "-c", path]):
            rc, out = self.run_cmd(argv)
            self.assertEqual(rc, 2, out)
            self.assertIn("%s:5: bind_password_file %s/ldap.secret: mode 0644 is "
                          "accessible by others" % (path, self.tmp), out)
            self.assertNoSecrets(out)

    def test_bad_options(self):
        rc, out = self.run_cmd([RINGSYNCD, "--no-such-option"])
        self.assertEqual(rc, 2)
        self.assertIn("usage:", out)
        rc, out = self.run_cmd([RINGSYNCD, "-V"])
        self.assertEqual(rc, 0)
        self.assertRegex(out, r"^ringsyncd \d+\.\d+\.\d+")

    def test_once(self):
        # AD unreachable: exit status 3, the reason logged, no secret shown.
        rc, out = self.run_cmd([RINGSYNCD, "--once", "-c", self.conf()])
        self.assertEqual(rc, 3, out)
        self.assertIn("starting", out)
        self.assertIn("cannot reach Active Directory", out)
        self.assertIn("ldaps://127.0.0.1:1", out)
        self.assertRegex(out, r"cycle done kind=incremental .* api_calls=\d+")
        self.assertNoSecrets(out)
        self.assertTrue(os.path.exists(os.path.join(self.tmp, "state", "state.mdb")))
        self.assertEqual(os.stat(os.path.join(self.tmp, "state")).st_mode & 0o777, 0o700)

    def test_reload_during_import_then_stop(self):
        # The reload waits for the import and then replaces the phone client:
        # never from inside that client's own callback.
        path = self.conf("import_interval = 1h\n")
        self.emu.call("POST", "/_emu/fault", {"kind": "delay", "count": 1, "delay": 5,
                                             "path_prefix": "/restapi/v1.0/account/~/directory"})
        d = self.start([RINGSYNCD, "-f", "-d", "-c", path], "ringsyncd")
        # SIGHUP once the import's request has reached the emulator (the
        # delay fault is taken on arrival): the loop runs, the import waits.
        rstest.wait_for(lambda: self.emu.call("GET", "/_emu/fault")["faults"] == [], 60,
                        "the import's request to arrive")
        d.signal(signal.SIGHUP)
        d.wait_output("configuration reload waits for the running cycle")
        d.wait_output("cycle done kind=import", 60)
        d.wait_output("configuration reloaded", 30)
        d.signal(signal.SIGTERM)
        self.assertEqual(d.wait(10), 0, d.output())
        self.assertIn("stopped status=0", d.output())

    def test_import_interval_follows_read_share(self):
        # Medium 4 a 20 s: the import's reads take 30% of it, one a window
        # (the second waits for room), and one import (the extension list
        # and the directory, 2 Medium) may come every 34 s, not every
        # import_interval = 1s; the timer's ticks meanwhile import nothing.
        self.emu = rstest.Emulator(self, args=["--limits", "Medium=4", "--window", "20"])
        path = self.conf("import_interval = 1s\n")
        d = self.start([RINGSYNCD, "-f", "-d", "-c", path], "ringsyncd")
        d.wait_output("import every 34 s instead of import_interval: one import "
                      "makes 2 Medium requests, and read_share=30% of that group's "
                      "budget (4 a 20 s) allows no more often group=Medium calls=2 "
                      "interval_s=34", 120)
        medium = [r["t"] for r in self.emu.log() if r["group"] == "Medium"]
        self.assertEqual(len(medium), 2, medium)
        self.assertGreaterEqual(medium[1] - medium[0], 19.9, medium)   # one a window
        start = len(d.output())
        rstest.wait_for(lambda: d.output()[start:].count("import not due yet") >= 3, 60,
                        "three ticks of the import timer")
        dirs = [r for r in self.emu.log() if r["path"].endswith("/directory/entries")]
        self.assertEqual(len(dirs), 1, dirs)
        self.assertEqual(d.output().count("cycle done kind=import"), 1)
        d.signal(signal.SIGTERM)
        self.assertEqual(d.wait(10), 0, d.output())

    def test_change_feed_without_the_permission(self):
        # The app lacks the WebSocket permission: one notice, one token
        # request, and the daemon goes on (its import lane reads as before).
        self.emu = rstest.Emulator(self)
        self.emu.call("POST", "/_emu/behaviour", {"ws_permission": False})
        path = self.conf()
        d = self.start([RINGSYNCD, "-f", "-c", path], "ringsyncd")
        d.wait_output("change feed off: the app lacks the WebSocket Subscriptions "
                      "permission", 60)
        d.wait_output("cycle done kind=import", 60)
        self.assertEqual(d.output().count("change feed off"), 1)
        tokens = [r for r in self.emu.log() if r["path"] == "/restapi/oauth/wstoken"]
        self.assertEqual([r["status"] for r in tokens], [403])
        d.signal(signal.SIGTERM)
        self.assertEqual(d.wait(10), 0, d.output())

    def test_change_feed_subscribes_and_stops(self):
        # No AD needed: the feed is the phone side's. It subscribes to both
        # filters, answers the server's idle timer with heartbeats (the
        # emulator's idle timeout is 1.5 s: a session that sends nothing is
        # closed), and SIGTERM ends it.
        self.emu = rstest.Emulator(self, args=["--ws-idle", "1.5"])
        path = self.conf("[log]\nlevel = debug\n")
        d = self.start([RINGSYNCD, "-f", "-c", path], "ringsyncd")
        d.wait_output("change feed active", 60)
        rstest.wait_for(lambda: any(s["heartbeats"] >= 3 for s in
                                    self.emu.call("GET", "/_emu/ws")["sessions"]), 60,
                        "three heartbeats")
        sessions = self.emu.call("GET", "/_emu/ws")["sessions"]
        self.assertEqual(len(sessions), 1, sessions)       # never closed for idling
        self.assertEqual(sorted(sessions[0]["filters"]),
                         ["/restapi/v1.0/account/~/directory/entries",
                          "/restapi/v1.0/account/~/extension"])
        d.signal(signal.SIGTERM)
        self.assertEqual(d.wait(10), 0, d.output())
        self.assertNotIn("access_token=", d.output())
        self.assertNoSecrets(d.output())

    def test_status_shows_the_budget_by_group_and_lane(self):
        # The import's reads (Medium: the extension list and the directory)
        # count on the read lane, the session's token on the push lane
        # (Auth). The emulator's window is long, so they stay in it while
        # the test looks.
        self.emu = rstest.Emulator(self, args=["--window", "600"])
        path = self.conf()
        with open(path) as f:
            text = f.read()
        path = self.write("ringsyncd.conf", text.replace(
            "[telephony]\n", "[telephony]\nread_share = 25%\nchange_feed = no\n", 1), 0o644)
        d = self.start([RINGSYNCD, "-f", "-c", path], "ringsyncd")
        try:
            d.wait_output("cycle done kind=import", 60)
        except AssertionError:
            raise AssertionError(d.output()[-3000:]) from None
        reads = len([r for r in self.emu.log() if r["group"] == "Medium"])
        self.assertGreaterEqual(reads, 2)

        def shown():
            rc, out = self.run_cmd([RINGSYNCCTL, "-c", path, "status"])
            m = re.search(r"^budget Medium +40 a 600 s: push 0 \(queued 0\), "
                          r"read (\d+) of 10 \(queued 0\)$", out, re.M)
            return out if m and int(m.group(1)) == reads else None
        out = rstest.wait_for(shown, 60, "the import's reads in the status")
        self.assertRegex(out, r"(?m)^budget Auth +5 a 600 s: push 1 \(queued 0\), "
                              r"read 0 of 1 \(queued 0\)$")
        # A group not called yet shows the documented budget (the window the
        # server names is learnt from its first answer).
        self.assertRegex(out, r"(?m)^budget Heavy +10 a 60 s: push 0 \(queued 0\), "
                              r"read 0 of 2 \(queued 0\)$")
        rc, out = self.run_cmd([RINGSYNCCTL, "-c", path, "status", "--json"])
        b = json.loads(out)["budget"]
        self.assertEqual(b["read_share"], 25)
        self.assertEqual(b["groups"]["Medium"],
                         {"limit": 40, "window": 600, "push": {"sent": 0, "queued": 0},
                          "read": {"sent": reads, "queued": 0, "cap": 10}})
        d.signal(signal.SIGTERM)
        self.assertEqual(d.wait(10), 0, d.output())
        # No daemon, no budget: the figures were the running daemon's.
        rc, out = self.run_cmd([RINGSYNCCTL, "-c", path, "status", "--json"])
        self.assertIsNone(json.loads(out)["budget"])

    @unittest.skipUnless(os.geteuid() == 0, "needs root")
    def test_ctl_as_root_acts_as_state_owner(self):
        path = self.conf()
        rc, out = self.run_cmd([RINGSYNCD, "--once", "-c", path])
        self.assertEqual(rc, 3, out)
        os.chmod(self.tmp, 0o755)
        state = os.path.join(self.tmp, "state")
        nobody = 65534
        for name in [state] + [os.path.join(state, f) for f in os.listdir(state)]:
            os.chown(name, nobody, nobody)
        # The next writer creates LMDB's lock file anew: it must be nobody's.
        os.remove(os.path.join(state, "state.mdb-lock"))
        rc, out = self.run_cmd([RINGSYNCCTL, "-c", path, "release-deactivations"])
        self.assertEqual(rc, 0, out)
        rc, out = self.run_cmd([RINGSYNCCTL, "-c", path, "status"])
        self.assertEqual(rc, 2, out)
        owners = {f: os.stat(os.path.join(state, f)).st_uid for f in os.listdir(state)}
        self.assertEqual(set(owners.values()), {nobody}, owners)

    def test_store_of_schema_1_read_then_migrated(self):
        # tests/data/store-v1.dump: the store (its tokens left out) that the
        # release before schema 2 wrote in a sync of six users: four created,
        # one linked by email, one with bad data, two deactivations held by
        # max_deactivations. store-v1.users: what that release's
        # `ringsyncctl users` printed for it.
        data = os.path.join(SOURCE_DIR, "tests", "data")
        state = os.path.join(self.tmp, "state")
        os.mkdir(state, 0o700)
        subprocess.run(["mdb_load", "-n", "-f", os.path.join(data, "store-v1.dump"),
                        os.path.join(state, "state.mdb")], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        with open(os.path.join(data, "store-v1.users")) as f:
            users = f.read()
        path = self.conf()

        def dump(db):
            return subprocess.run(["mdb_dump", "-n", "-p", "-s", db,
                                   os.path.join(state, "state.mdb")], check=True,
                                  stdout=subprocess.PIPE).stdout.decode()

        # Read-only, as the old release left it: the same listing.
        # The listing has gained the link's ids since (ext_id, scim_id):
        # schema 1 knew the pusher's id alone, a SCIM user's.
        rc, listed = self.run_cmd([RINGSYNCCTL, "-c", path, "users"])
        self.assertEqual(rc, 0, listed)
        self.assertEqual(re.sub(r" (ext_id|scim_id)=[0-9]+", "", listed), users)
        self.assertIn("phone_id=3000000001 state=linked extension=601 "
                      "direct_number=+16505556000 scim_id=3000000001\n", listed)
        self.assertNotIn("ext_id=", listed)
        self.assertIn("schema_version\n 1\n", dump("meta"))
        rc, out = self.run_cmd([RINGSYNCCTL, "-c", path, "status"])
        self.assertEqual(rc, 2, out)
        self.assertRegex(out.splitlines()[0], r"2 deactivations held")
        rc, out = self.run_cmd([RINGSYNCCTL, "-c", path, "status", "--json"])
        self.assertEqual(rc, 2, out)
        js = json.loads(out)
        self.assertEqual((js["status"], js["counts"]["held"]), ("CRITICAL", 2))
        self.assertIn("2 deactivations held", js["summary"])
        self.assertNotIn("members", subprocess.run(
            ["mdb_stat", "-n", "-a", os.path.join(state, "state.mdb")],
            stdout=subprocess.PIPE).stdout.decode())
        # A write migrates it (one transaction), and nothing is lost.
        rc, out = self.run_cmd([RINGSYNCCTL, "-c", path, "release-deactivations"])
        self.assertEqual(rc, 0, out)
        self.assertIn("released 2 held deactivations", out)
        self.assertIn("schema_version\n 4\n", dump("meta"))
        self.assertRegex(dump("members"), r"HEADER=END\nDATA=END\n$")  # there, empty
        self.assertNotIn('"held":', dump("outbox"))
        self.assertRegex(dump("users"), r'"ad":\{"dn":')
        self.assertNotIn('"phone_id":', dump("users"))
        rc, after = self.run_cmd([RINGSYNCCTL, "-c", path, "users"])
        self.assertEqual((rc, after), (0, listed))
        rc, out = self.run_cmd([RINGSYNCCTL, "-c", path, "users", "--failed"])
        self.assertEqual(rc, 0, out)
        self.assertEqual([l.split()[0] for l in out.splitlines()],
                         ["email=v1.bad@example.test"])

    def test_signals_reload_and_lock(self):
        path = self.conf()
        d = self.start([RINGSYNCD, "-f", "-d", "-c", path], "ringsyncd")
        d.wait_output("starting version=")
        d.wait_output("cycle done kind=incremental")

        # A second daemon on the same state directory is refused.
        rc, out = self.run_cmd([RINGSYNCD, "-f", "-c", path])
        self.assertEqual(rc, 2, out)
        self.assertIn("is in use by another ringsyncd (pid %d)" % d.pid, out)

        # ringsyncctl reads the store while the daemon runs.
        # AD is unreachable: no successful cycle yet, a CRITICAL check.
        rc, out = self.run_cmd([RINGSYNCCTL, "-c", path, "status"])
        self.assertEqual(rc, 2, out)
        self.assertRegex(out, r"^RINGSYNC CRITICAL: .*no successful scan cycle yet")
        self.assertIn("none (no scan yet)", out)
        self.assertIn("running (pid %d)" % d.pid, out)

        # SIGUSR1 starts a cycle now.
        mark = len(d.output())
        d.signal(signal.SIGUSR1)
        d.wait_output("cycle requested signal=USR1", start=mark)
        d.wait_output("cycle done kind=incremental", start=mark)

        # A broken configuration is refused and the old one kept.
        with open(path, "a") as f:
            f.write("full_sync_interval = many\n")
        mark = len(d.output())
        d.signal(signal.SIGHUP)
        d.wait_output("configuration reload failed: keeping the running "
                      "configuration", start=mark)
        self.assertIn("full_sync_interval: 'many' is not a duration", d.output()[mark:])
        self.assertIsNone(d.p.poll())

        # A good one is taken; a state_dir change waits for a restart.
        text = open(path).read().replace("full_sync_interval = many\n", "")
        text = text.replace("state_dir = %s/state" % self.tmp,
                            "state_dir = %s/other" % self.tmp)
        with open(path, "w") as f:
            f.write(text)
        mark = len(d.output())
        d.signal(signal.SIGHUP)
        d.wait_output("configuration reloaded", start=mark)
        self.assertIn("configuration change needs a restart: keeping the running "
                      "value keys=state_dir", d.output()[mark:])

        d.signal(signal.SIGTERM)
        self.assertEqual(d.wait(10), 0)
        self.assertIn("stopping signal=Terminated", d.output())
        self.assertIn("stopped status=0", d.output())
        self.assertNoSecrets(d.output())

        # The lock went with the process: a new daemon may start.
        rc, out = self.run_cmd([RINGSYNCD, "--once", "-c", path])
        self.assertEqual(rc, 3, out)
        self.assertNotIn("in use by another ringsyncd", out)


if __name__ == "__main__":
    unittest.main()
