"""ringsyncctl auth login, auth logout and auth status, as an administrator
meets them, against the API emulator. The test plays the browser: it opens the printed
address (the emulator's authorization page approves at once and redirects to
the loopback listener) and follows the redirect."""
import fcntl
import json
import os
import re
import socket
import subprocess
import sys
import unittest
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import rstest  # noqa: E402
from rstest import RINGSYNCCTL  # noqa: E402

BRAND = "TELUS Business Connect"
ELSEWHERE = "https://ringsync.example.test/oauth/callback"  # not this machine
URL_RE = re.compile(r"^  (http://127\.0\.0\.1:\d+/restapi/oauth/authorize\?\S+)$", re.M)


def free_port(first):
    for port in range(first, 32768):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
                return port
            except OSError:
                continue
    raise AssertionError("no free port from %d" % first)


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


def fetch(url, follow=False):
    """(status, headers, body) of a GET, without following redirects."""
    opener = urllib.request.build_opener() if follow else \
        urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(url, timeout=30) as r:
            return r.status, r.headers, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode()


class CtlAuthTest(rstest.TestCase):

    def setUp(self):
        super().setUp()
        # The app's registered redirect URI: a free loopback port of this
        # test, below the kernel's ephemeral range (32768 and up), so that no
        # socket of the emulator or of a client is given it meanwhile.
        self.port = free_port(20000 + os.getpid() % 6000 * 2)
        self.redirect = "http://127.0.0.1:%d/callback" % self.port
        self.emu = rstest.Emulator(self, args=self.emu_args() + [
            "--redirect-uri", self.redirect, "--redirect-uri", ELSEWHERE])

    def emu_args(self):
        return ["--window", "2"]

    def conf(self, jwt=False, redirect=None):
        ldap = self.write("ldap.secret", "fake-ldap-password-9\n")
        self.state = os.path.join(self.tmp, "state")
        return self.write("ringsyncd.conf", (
            "[ldap]\nuri = ldaps://127.0.0.1:1\nbase_dn = DC=example,DC=test\n"
            "bind_dn = CN=svc,DC=example,DC=test\nbind_password_file = %s\n"
            "[telephony]\nbrand = %s\nserver = %s\nclient_id = ringsync-test\n"
            "client_secret_file = %s\n%sredirect_uri = %s\n"
            "[sync]\nstate_dir = %s\n") % (
                ldap, BRAND, self.emu.url, self.emu.secret_file,
                "jwt_file = %s\n" % self.emu.jwt_file if jwt else "",
                redirect or self.redirect, self.state))

    def ctl(self, conf, *args):
        return self.run_cmd([RINGSYNCCTL, "-c", conf] + list(args))

    def stored_tokens(self):
        """The tokens record, read with LMDB's own tool (never printed)."""
        out = subprocess.run(["mdb_dump", "-n", "-p", "-s", "tokens",
                              os.path.join(self.state, "state.mdb")],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                             check=True).stdout.decode()
        lines = out.split("HEADER=END\n", 1)[1].splitlines()
        if lines[0] == "DATA=END":
            return {}
        self.assertEqual(lines[0].strip(), "oauth")
        return json.loads(lines[1].strip())

    def has_tokens(self):
        try:
            return bool(self.stored_tokens().get("access_token"))
        except (subprocess.CalledProcessError, IndexError):
            return False

    def assertNoSecrets(self, text):
        for s in (rstest.FAKE_CLIENT_SECRET, rstest.FAKE_JWT):
            self.assertNotIn(s, text)
        if os.path.exists(os.path.join(self.state, "state.mdb")):
            try:
                tok = self.stored_tokens()
            except (subprocess.CalledProcessError, IndexError):
                return
            for key in ("access_token", "refresh_token"):
                if tok.get(key):
                    self.assertNotIn(tok[key], text, "a token was printed")

    def start_login(self, conf, timeout="60s", stdin=False):
        p = self.start([RINGSYNCCTL, "-c", conf, "auth", "login", "--timeout",
                        timeout], "login-%d" % len(self.procs), stdin=stdin)
        m = rstest.wait_for(lambda: URL_RE.search(p.output()), 30,
                            "the authorization URL")
        return p, m.group(1)

    def browse(self, url):
        """The browser: the authorization page, then its redirect."""
        status, headers, _ = fetch(url)
        self.assertEqual(status, 302)
        location = headers["Location"]
        self.assertRegex(location, r"^http://127\.0\.0\.1:\d+/callback\?code=")
        return fetch(location)

    def login(self, conf):
        p, url = self.start_login(conf)
        self.assertIn("code_challenge_method=S256", url)
        self.assertIn("redirect_uri=http%%3a%%2f%%2f127.0.0.1%%3a%d%%2fcallback&" %
                      self.port, url.lower())
        status, _, body = self.browse(url)
        self.assertEqual(status, 200, body)
        self.assertIn("you can close this window", body)
        self.assertEqual(p.wait(30), 0, p.output())
        return p.output()

    def test_status_then_login_then_status(self):
        conf = self.conf()
        rc, out = self.ctl(conf, "auth", "status")
        self.assertEqual(rc, 3, out)
        self.assertIn("access token     absent", out)
        self.assertIn("run `ringsyncctl auth login`", out)

        seq = self.emu.last_seq()
        out = self.login(conf)
        self.assertRegex(out, r"logged in to %s: access token valid until "
                         r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ, refresh token valid "
                         r"until \d{4}-" % BRAND)
        self.assertNoSecrets(out)
        log = self.emu.log(seq)
        self.assertEqual([(e["method"], e["path"], e["status"]) for e in log],
                         [("GET", "/restapi/oauth/authorize", 302),
                          ("POST", "/restapi/oauth/token", 200)])

        rc, out = self.ctl(conf, "auth", "status")
        self.assertEqual(rc, 0, out)
        self.assertRegex(out, r"access token     valid until \S+ \(\d+ min left\)")
        self.assertRegex(out, r"refresh token    valid until \S+ \((29 d 23|30 d 0) h left\)")
        self.assertNoSecrets(out)

        # the stored token is a real one
        tok = self.stored_tokens()
        req = urllib.request.Request(
            self.emu.url + "/restapi/v1.0/account/~/custom-fields",
            headers={"Authorization": "Bearer " + tok["access_token"]})
        with urllib.request.urlopen(req, timeout=30) as r:
            self.assertEqual(r.status, 200)

    def test_pasted_address(self):
        """A headless server: the browser ends on the redirect URI on another
        machine, where nothing answers; its address is pasted. A pasted
        address of another login is refused."""
        conf = self.conf()
        p, url = self.start_login(conf, stdin=True)
        self.assertIn("paste it here", p.output())
        status, headers, _ = fetch(url)
        self.assertEqual(status, 302)
        location = headers["Location"]
        code = re.search(r"[?&]code=([^&]+)", location).group(1)
        p.send("\n  %s/callback?code=stolen&state=not-ours\n" % self.redirect)
        p.wait_output("ignored a pasted redirect that does not belong to this login")
        p.send("  %s  \n" % location)
        self.assertEqual(p.wait(30), 0, p.output())
        out = p.output()
        self.assertIn("logged in to %s" % BRAND, out)
        self.assertNotIn(code, out)
        self.assertNoSecrets(out)
        self.assertTrue(self.has_tokens())
        # the code was exchanged with the registered redirect URI
        grants = [e for e in self.emu.log() if e["path"] == "/restapi/oauth/token"]
        self.assertEqual([e["status"] for e in grants], [200])

    def test_paste_only_for_another_host(self):
        """A redirect URI that is not this machine: nothing listens, the
        address is pasted."""
        conf = self.conf(redirect=ELSEWHERE)
        p, url = self.start_login(conf, stdin=True)
        self.assertIn("After signing in, copy the address the browser ends on "
                      "(it starts with %s)" % ELSEWHERE, p.output())
        self.assertNotIn("Waiting for the browser at", p.output())
        status, headers, _ = fetch(url)
        self.assertEqual(status, 302)
        self.assertTrue(headers["Location"].startswith(ELSEWHERE + "?code="))
        p.send(headers["Location"] + "\n")
        self.assertEqual(p.wait(30), 0, p.output())
        self.assertTrue(self.has_tokens())

    def test_unregistered_redirect_uri_refused(self):
        """The platform takes only a registered redirect URI, exactly: a
        port of its own is refused (OAU-109); the login runs out."""
        conf = self.conf(redirect="http://127.0.0.1:%d/callback" % (self.port ^ 1))
        p, url = self.start_login(conf, "3s")
        status, _, body = fetch(url)
        self.assertEqual(status, 400)
        self.assertIn("OAU-109", body)
        self.assertEqual(p.wait(30), 3, p.output())
        self.assertFalse(self.has_tokens())

    def test_login_while_ringsyncd_holds_the_store(self):
        conf = self.conf()
        self.login(conf)
        before = self.stored_tokens()
        # ringsyncd's lock: the store can only be written around it
        with open(os.path.join(self.state, "ringsyncd.lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            out = self.login(conf)
            self.assertIn("logged in to", out)
            after = self.stored_tokens()
            self.assertNotEqual(before["access_token"], after["access_token"])
            self.assertNotEqual(before["refresh_token"], after["refresh_token"])
            rc, out = self.ctl(conf, "auth", "status")
            self.assertEqual(rc, 0, out)
        # The store reads fine after the shared write; no cycle has run yet,
        # which the monitoring check calls CRITICAL.
        rc, out = self.ctl(conf, "status")
        self.assertEqual(rc, 2, out)
        self.assertRegex(out, r"^RINGSYNC CRITICAL: no scan cycle recorded yet")
        self.assertRegex(out, r"refresh token +valid until ")

    def test_foreign_redirect_ignored_then_timeout(self):
        conf = self.conf()
        p, url = self.start_login(conf, "3s")
        port = re.search(r"redirect_uri=http%3a%2f%2f127.0.0.1%3a(\d+)", url).group(1)
        base = "http://127.0.0.1:%s" % port
        status, _, _ = fetch(base + "/callback?code=stolen&state=not-ours")
        self.assertEqual(status, 400)
        status, _, _ = fetch(base + "/favicon.ico")
        self.assertEqual(status, 404)
        self.assertEqual(p.wait(30), 3, p.output())
        out = p.output()
        self.assertIn("state mismatch", out)
        self.assertIn("no answer from the browser within 3 s", out)
        self.assertFalse(self.has_tokens())
        # nothing was exchanged
        self.assertEqual([e for e in self.emu.log() if e["path"] ==
                          "/restapi/oauth/token"], [])

    def test_refused_authorization(self):
        conf = self.conf()
        p, url = self.start_login(conf)
        state = re.search(r"[?&]state=([^&]+)", url).group(1)
        port = re.search(r"redirect_uri=http%3a%2f%2f127.0.0.1%3a(\d+)", url).group(1)
        status, _, body = fetch("http://127.0.0.1:%s/callback?state=%s&error="
                                "access_denied" % (port, state))
        self.assertEqual(status, 400)
        self.assertEqual(p.wait(30), 3, p.output())
        self.assertIn("the authorization was refused: access_denied", p.output())

    def test_bad_code_refused(self):
        conf = self.conf()
        p, url = self.start_login(conf)
        state = re.search(r"[?&]state=([^&]+)", url).group(1)
        port = re.search(r"redirect_uri=http%3a%2f%2f127.0.0.1%3a(\d+)", url).group(1)
        status, _, _ = fetch("http://127.0.0.1:%s/callback?state=%s&code=bogus"
                             % (port, state))
        self.assertEqual(status, 200)
        self.assertEqual(p.wait(30), 3, p.output())
        self.assertIn("the login was refused", p.output())
        self.assertIn("invalid_grant", p.output())

    def test_bad_timeout_option(self):
        rc, out = self.ctl(self.conf(), "auth", "login", "--timeout", "soon")
        self.assertEqual(rc, 2, out)
        rc, out = self.ctl(self.conf(), "auth", "logout", "now")
        self.assertEqual(rc, 2, out)
        self.assertIn("usage:", out)

    def api_status(self, token):
        """The status of an API call made with an access token."""
        req = urllib.request.Request(
            self.emu.url + "/restapi/v1.0/account/~/custom-fields",
            headers={"Authorization": "Bearer " + token})
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status
        except urllib.error.HTTPError as e:
            return e.code

    def sessions(self):
        return self.emu.call("GET", "/_emu/sessions")["sessions"]

    def many_logins(self):
        """Room for many grants: each ringsyncctl starts with no pacing memory."""
        self.emu.call("POST", "/_emu/limits", {"Auth": 1000})

    def test_login_ends_the_session_it_replaces(self):
        self.many_logins()
        # the platform allows few parallel sessions: five here
        self.emu.call("POST", "/_emu/behaviour", {"session_limit": 5})
        conf = self.conf()
        self.login(conf)
        first = self.stored_tokens()
        self.assertEqual(len(self.sessions()), 1)
        seq = self.emu.last_seq()
        out = self.login(conf)
        self.assertIn("the session it replaces was ended", out)
        self.assertNoSecrets(out)
        self.assertEqual([(e["method"], e["path"], e["status"]) for e in self.emu.log(seq)],
                         [("GET", "/restapi/oauth/authorize", 302),
                          ("POST", "/restapi/oauth/token", 200),
                          ("POST", "/restapi/oauth/revoke", 200)])
        self.assertEqual(self.api_status(first["access_token"]), 401)
        for _ in range(5):
            self.login(conf)
        self.assertEqual(len(self.sessions()), 1)
        self.assertEqual(self.api_status(self.stored_tokens()["access_token"]), 200)
        # the old session cannot be ended (its revocation is sent elsewhere):
        # a warning, and the login still counts
        self.emu.call("POST", "/_emu/fault", {
            "kind": "redirect", "path_prefix": "/restapi/oauth/revoke",
            "location": "http://localhost:%d" % self.emu.port})
        out = self.login(conf)
        self.assertIn("warning: the session this login replaces could not be "
                      "ended", out)
        self.assertIn("it lasts until its tokens expire", out)
        self.assertNoSecrets(out)
        self.assertEqual(len(self.sessions()), 2)

    def test_logout(self):
        self.many_logins()
        conf = self.conf()
        rc, out = self.ctl(conf, "auth", "logout")
        self.assertEqual((rc, out.strip()), (0, "no session stored: nothing to end"))
        self.login(conf)
        tok = self.stored_tokens()
        # refused (other client credentials): nothing changes
        wrong = self.write("wrong.secret", "fake-wrong-secret-77\n")
        bad = self.write("bad.conf", open(conf).read().replace(
            self.emu.secret_file, wrong))
        rc, out = self.ctl(bad, "auth", "logout")
        self.assertEqual(rc, 3, out)
        self.assertIn("the session was not ended", out)
        self.assertEqual(self.stored_tokens(), tok)
        self.assertEqual(self.api_status(tok["access_token"]), 200)
        seq = self.emu.last_seq()
        rc, out = self.ctl(conf, "auth", "logout")
        self.assertEqual(rc, 0, out)
        self.assertIn("logged out of %s: the session was ended and its tokens "
                      "removed" % BRAND, out)
        self.assertNoSecrets(out)
        self.assertEqual([(e["method"], e["path"], e["status"]) for e in self.emu.log(seq)],
                         [("POST", "/restapi/oauth/revoke", 200)])
        self.assertEqual(self.sessions(), [])
        self.assertEqual(self.api_status(tok["access_token"]), 401)
        self.assertFalse(self.has_tokens())
        rc, out = self.ctl(conf, "auth", "status")
        self.assertEqual(rc, 3, out)
        rc, out = self.ctl(conf, "auth", "logout")
        self.assertEqual((rc, out.strip()), (0, "no session stored: nothing to end"))
        # with a JWT, ringsyncd logs in again by itself: said so
        self.login(conf)
        rc, out = self.ctl(self.conf(jwt=True), "auth", "logout")
        self.assertEqual(rc, 0, out)
        self.assertIn("ringsyncd starts a new session by itself", out)


class CtlAuthShortTokens(CtlAuthTest):
    """Access tokens that live 2 s: status says ringsyncd renews them."""

    def emu_args(self):
        return ["--window", "2", "--access-ttl", "2"]

    def test_status_after_access_expiry(self):
        conf = self.conf(jwt=False)
        self.login(conf)

        def renewable():
            rc, out = self.ctl(conf, "auth", "status")
            return (rc, out) if rc != 0 else None
        rc, out = rstest.wait_for(renewable, 30, "the access token to expire")
        self.assertEqual(rc, 1, out)
        self.assertIn("access token     expired at", out)
        self.assertIn("ringsyncd renews the session by itself", out)
        # with a JWT and no session at all: renewable as well
        os.remove(os.path.join(self.state, "state.mdb"))
        rc, out = self.ctl(self.conf(jwt=True), "auth", "status")
        self.assertEqual(rc, 1, out)
        self.assertIn("jwt credential   configured", out)

    # the inherited tests need nothing from short tokens
    test_login_while_ringsyncd_holds_the_store = None
    test_foreign_redirect_ignored_then_timeout = None
    test_refused_authorization = None
    test_bad_code_refused = None
    test_bad_timeout_option = None
    test_status_then_login_then_status = None
    test_login_ends_the_session_it_replaces = None
    test_logout = None


if __name__ == "__main__":
    unittest.main()
