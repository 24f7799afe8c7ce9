"""The Debian package as an administrator meets it: build it with
packaging/build-deb.sh, lintian, install it with dpkg on this machine, check
the user, the modes and the conffile, run the installed ringsyncd as the
ringsync user (-t on the packaged configuration, --once, readiness through
sd_notify), verify the unit and render the manual pages, then remove and
purge it. Needs root; whatever happens, the package is purged and what the
test created is removed (tearDown, also on SIGTERM)."""
import grp
import os
import pwd
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import unittest

SOURCE_DIR = os.environ.get(
    "RINGSYNC_SOURCE_DIR",
    os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
PKG = "ringsync"
USER = "ringsync"
ETC = "/etc/ringsync"
CONF = ETC + "/ringsyncd.conf"
STATE = "/var/lib/ringsync"
UNIT = "/lib/systemd/system/ringsyncd.service"
# The OCF resource agent ocf:ringsync:ringsyncd (Pacemaker looks there) and
# the shell functions every agent sources (the resource-agents package).
OCF_AGENT = "/usr/lib/ocf/resource.d/ringsync/ringsyncd"
OCF_FUNCS = "/usr/lib/ocf/lib/heartbeat/ocf-shellfuncs"
MAN = ["/usr/share/man/man5/ringsyncd.conf.5.gz",
       "/usr/share/man/man8/ringsyncd.8.gz",
       "/usr/share/man/man8/ringsyncctl.8.gz"]
# the secret files the packaged configuration names; fake values
SECRETS = {ETC + "/ldap.secret": "fake-ldap-password-pkg\n",
           ETC + "/client.secret": "fake-client-secret-pkg\n"}
# configurations of the test's own runs, beside the packaged one
RUN_CONFS = [ETC + "/once.conf", ETC + "/notify.conf"]
# present while the test's build is installed: a run killed outright
# (SIGKILL) leaves it behind, and the next run purges what it left
MARKER = "/var/tmp/ringsync-deb-test.installed"
SKIP = 77  # ctest SKIP_RETURN_CODE

# ctest's timeout sends SIGTERM: leave through tearDown all the same.
signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))


def run(argv, env=None, stdin=subprocess.DEVNULL):
    """(exit status, stdout + stderr) of argv."""
    p = subprocess.run(argv, stdin=stdin, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, env=env, text=True)
    return p.returncode, p.stdout


def as_ringsync(argv):
    return ["runuser", "-u", USER, "--"] + argv


def package_status():
    rc, out = run(["dpkg-query", "-W", "-f=${db:Status-Abbrev}", PKG])
    return out.strip() if rc == 0 else ""


def mode_owner(path):
    """("0750", owner, group) of path."""
    st = os.lstat(path)
    return ("%04o" % stat.S_IMODE(st.st_mode), pwd.getpwuid(st.st_uid).pw_name,
            grp.getgrgid(st.st_gid).gr_name)


def user_exists():
    try:
        pwd.getpwnam(USER)
        return True
    except KeyError:
        return False


def group_exists():
    try:
        grp.getgrnam(USER)
        return True
    except KeyError:
        return False


def purge_and_clean():
    """The package purged (if installed) and what the test wrote into /etc
    removed, the directory with it when nothing else is left there."""
    if package_status() not in ("", "un"):
        run(["dpkg", "--purge", PKG])
    for path in list(SECRETS) + RUN_CONFS + [MARKER]:
        if os.path.exists(path):
            os.unlink(path)
    if os.path.isdir(ETC) and not os.listdir(ETC):
        os.rmdir(ETC)


def delete_user_and_group():
    if user_exists():
        run(["deluser", "--system", "--quiet", USER])
    if group_exists():
        run(["delgroup", "--system", "--quiet", USER])


class DebTest(unittest.TestCase):

    def setUp(self):
        self.out = tempfile.mkdtemp(prefix="ringsync-deb-test.")
        # A leftover ringsync user (an earlier purge keeps it, as Debian
        # does) is removed so that the postinst is seen creating it; the
        # test leaves the user and group as it found them.
        self.had_user = user_exists() or group_exists()
        if self.had_user:
            delete_user_and_group()

    def tearDown(self):
        purge_and_clean()
        shutil.rmtree(STATE, ignore_errors=True)
        if not self.had_user:
            delete_user_and_group()
        elif not user_exists():
            run(["adduser", "--system", "--quiet", "--group", "--home", STATE,
                 "--no-create-home", "--shell", "/usr/sbin/nologin", USER])
        shutil.rmtree(self.out, ignore_errors=True)

    def check(self, argv, rc=0, env=None):
        got, out = run(argv, env=env)
        self.assertEqual(got, rc, "%s exited %d, not %d:\n%s" % (
            " ".join(argv), got, rc, out))
        return out

    # -----------------------------------------------------------------
    def test_package(self):
        deb = self.build()
        self.lintian()
        self.install(deb)
        self.check_user()
        self.check_files()
        self.check_config_test()
        self.check_once()
        self.check_notify()
        self.check_unit()
        self.check_man_pages()
        self.install(deb)   # again, as an upgrade does: idempotent
        self.check_files()
        self.remove_and_purge()

    def build(self):
        out = self.check(["bash", os.path.join(SOURCE_DIR, "packaging",
                                               "build-deb.sh"), self.out])
        deb = out.strip().splitlines()[-1]
        self.assertTrue(deb.endswith(".deb") and os.path.isfile(deb), out)
        return deb

    def lintian(self):
        changes = [f for f in os.listdir(self.out) if f.endswith(".changes")]
        self.assertEqual(len(changes), 1, os.listdir(self.out))
        # no error and no warning that is not overridden (with its reason)
        out = self.check(["lintian", "--fail-on", "error,warning",
                          os.path.join(self.out, changes[0])])
        self.assertNotRegex(out, r"(?m)^[EW]: ", out)

    def install(self, deb):
        with open(MARKER, "w") as f:
            f.write(deb + "\n")
        self.check(["dpkg", "-i", deb], env=dict(
            os.environ, DEBIAN_FRONTEND="noninteractive"))
        self.assertEqual(package_status(), "ii")

    def check_user(self):
        pw = pwd.getpwnam(USER)
        gr = grp.getgrnam(USER)
        self.assertLess(pw.pw_uid, 1000, "not a system user: %r" % (pw,))
        self.assertLess(gr.gr_gid, 1000, "not a system group: %r" % (gr,))
        self.assertEqual(pw.pw_gid, gr.gr_gid)
        self.assertEqual(pw.pw_shell, "/usr/sbin/nologin")
        self.assertEqual(pw.pw_dir, STATE)
        out = self.check(["passwd", "-S", USER])
        self.assertRegex(out, r"^%s L " % USER, "the account has a password")

    def check_files(self):
        self.assertEqual(mode_owner(ETC), ("0750", "root", USER))
        self.assertEqual(mode_owner(CONF), ("0644", "root", "root"))
        self.assertEqual(mode_owner(STATE), ("0700", USER, USER))
        for prog in ("ringsyncd", "ringsyncctl"):
            self.assertEqual(mode_owner("/usr/sbin/" + prog),
                             ("0755", "root", "root"))
        self.assertTrue(os.path.isfile(UNIT))
        self.check_ocf_agent()
        out = self.check(["dpkg-query", "-W", "-f=${Conffiles}\n", PKG])
        self.assertEqual([line.split()[0] for line in out.split("\n")
                          if line.strip()], [CONF])
        # The package ships no secrets and makes up none.
        self.assertEqual(sorted(os.listdir(ETC)), sorted(["ringsyncd.conf"] + [
            os.path.basename(p) for p in SECRETS if os.path.exists(p)]))

    def check_ocf_agent(self):
        self.assertEqual(mode_owner(OCF_AGENT), ("0755", "root", "root"))
        if not os.path.exists(OCF_FUNCS):
            print("no resource-agents: the agent's meta-data not run", flush=True)
            return
        out = self.check([OCF_AGENT, "meta-data"],
                         env=dict(os.environ, OCF_ROOT="/usr/lib/ocf"))
        self.assertTrue(out.startswith('<?xml version="1.0"?>'), out)
        self.assertIn('<resource-agent name="ringsyncd"', out)
        self.assertIn('<action name="monitor"', out)

    def check_config_test(self):
        # As installed: the two secret files it names are missing.
        out = self.check(as_ringsync(["ringsyncd", "-t"]), rc=2)
        for key, path in (("bind_password_file", ETC + "/ldap.secret"),
                          ("client_secret_file", ETC + "/client.secret")):
            self.assertRegex(out, re.escape(CONF) + r":\d+: %s %s: No such "
                             r"file or directory" % (key, re.escape(path)))
        self.assertIn("2 problems in " + CONF, out)
        # The administrator creates them root:ringsync 0640.
        gid = grp.getgrnam(USER).gr_gid
        for path, value in SECRETS.items():
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            os.write(fd, value.encode())
            os.close(fd)
            os.chown(path, 0, gid)
            os.chmod(path, 0o640)
        out = self.check(as_ringsync(["ringsyncd", "-t"]))
        self.assertIn("ringsyncd: configuration %s OK" % CONF, out)
        # ... and root's check agrees (the group is ringsync's).
        self.assertIn("OK", self.check(["ringsyncd", "-t"]))
        # A secret that others may read is refused, naming file and mode.
        secret = ETC + "/ldap.secret"
        os.chmod(secret, 0o644)
        out = self.check(as_ringsync(["ringsyncd", "-t"]), rc=2)
        self.assertRegex(out, re.escape(CONF) + r":\d+: bind_password_file "
                         "%s: mode 0644 is accessible by others" %
                         re.escape(secret))
        os.chmod(secret, 0o640)
        for value in SECRETS.values():
            self.assertNotIn(value.strip(), out)

    def private_conf(self, name):
        """A configuration for a real run, root:ringsync 0640 in the
        package's directory: no DC listens on port 1 of loopback and no
        phone system either, so both sides are unreachable at once; the
        state is the packaged /var/lib/ringsync."""
        path = os.path.join(ETC, name)
        with open(path, "w") as f:
            f.write("[ldap]\n"
                    "uri = ldaps://127.0.0.1:1\n"
                    "base_dn = DC=example,DC=test\n"
                    "bind_dn = CN=svc,DC=example,DC=test\n"
                    "bind_password_file = %s/ldap.secret\n"
                    "[telephony]\n"
                    "client_id = ringsync-pkg-test\n"
                    "client_secret_file = %s/client.secret\n"
                    "server = http://127.0.0.1:1\n"
                    "[sync]\n"
                    "interval = 1h\n" % (ETC, ETC))
        os.chown(path, 0, grp.getgrnam(USER).gr_gid)
        os.chmod(path, 0o640)
        return path

    def check_once(self):
        conf = self.private_conf("once.conf")
        try:
            out = self.check(as_ringsync(["ringsyncd", "--once", "-c", conf]),
                             rc=3)
        finally:
            os.unlink(conf)
        self.assertIn("cannot reach Active Directory", out)
        # The store is ringsync's, private, in the packaged state directory.
        mode, owner, group = mode_owner(STATE + "/state.mdb")
        self.assertEqual((owner, group), (USER, USER))
        self.assertEqual(int(mode, 8) & 0o077, 0, mode)

    def check_notify(self):
        """ringsyncd -f as systemd runs it: READY=1 once it is up, STOPPING=1
        on SIGTERM, and nothing on stderr when stderr is the journal."""
        conf = self.private_conf("notify.conf")
        sockdir = tempfile.mkdtemp(dir=self.out)
        os.chmod(self.out, 0o711)
        os.chmod(sockdir, 0o711)
        path = os.path.join(sockdir, "notify")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(path)
        os.chmod(path, 0o666)
        sock.settimeout(60)
        errpath = os.path.join(self.out, "stderr")
        err = open(errpath, "w")
        st = os.fstat(err.fileno())
        env = dict(os.environ, NOTIFY_SOCKET=path,
                   JOURNAL_STREAM="%d:%d" % (st.st_dev, st.st_ino))
        # as the unit does: User=ringsync Group=ringsync, ringsyncd itself
        # (not a runuser in between) receives the signals
        proc = subprocess.Popen(
            ["/usr/sbin/ringsyncd", "-f", "-c", conf], env=env, user=USER,
            group=USER, extra_groups=[], stdin=subprocess.DEVNULL, stdout=err,
            stderr=err)
        try:
            self.assertEqual(sock.recv(4096), b"READY=1")
            proc.send_signal(signal.SIGTERM)
            self.assertEqual(sock.recv(4096), b"STOPPING=1")
            self.assertEqual(proc.wait(60), 0)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            sock.close()
            err.close()
            os.unlink(conf)
        with open(errpath) as f:
            text = f.read()
        self.assertNotIn("starting version=", text,
                         "logged to stderr although it is the journal")

    def check_unit(self):
        out = self.check(["systemd-analyze", "verify", UNIT])
        self.assertEqual(out.strip(), "")
        out = self.check(["systemd-analyze", "security", "--offline=yes",
                          "--no-pager", UNIT])
        m = re.search(r"Overall exposure level for ringsyncd.service: "
                      r"([0-9.]+)", out)
        self.assertIsNotNone(m, out)
        # README "Install from the Debian package" and the unit record 1.1.
        self.assertLessEqual(float(m.group(1)), 1.1, out)
        print("systemd-analyze security: exposure %s" % m.group(1))

    def check_man_pages(self):
        for page in MAN:
            self.assertTrue(os.path.isfile(page), page)
            out = self.check(["man", "--warnings", "-l", page],
                             env=dict(os.environ, MANWIDTH="80",
                                      LC_ALL="C.UTF-8", MAN_DISABLE_SECCOMP="1"))
            self.assertIn("ringsync", out)
            self.assertNotRegex(out, r"(?m)^(troff|groff|mandoc|man):",
                                "warnings rendering %s" % page)
            if shutil.which("mandoc"):
                self.check(["mandoc", "-T", "lint", "-W", "warning", page])
        # and man finds them by name once installed
        out = self.check(["man", "-w", "ringsyncd.conf"])
        self.assertEqual(out.strip(), MAN[0])

    def remove_and_purge(self):
        self.check(["dpkg", "-r", PKG])
        self.assertEqual(package_status(), "rc")
        for prog in ("ringsyncd", "ringsyncctl"):
            self.assertFalse(os.path.exists("/usr/sbin/" + prog))
        self.assertFalse(os.path.exists(UNIT))
        self.assertFalse(os.path.exists(OCF_AGENT))
        # removal keeps the configuration, the secrets and the state
        self.assertTrue(os.path.isfile(CONF))
        self.assertTrue(os.path.isfile(STATE + "/state.mdb"))
        self.assertTrue(user_exists())

        self.check(["dpkg", "-P", PKG])
        self.assertEqual(package_status(), "")
        self.assertFalse(os.path.exists(STATE), "purge keeps the state")
        self.assertFalse(os.path.exists(CONF), "purge keeps the conffile")
        # The secret files are the administrator's: they stay, and with
        # them the directory; so do the system user and group.
        self.assertEqual(sorted(os.listdir(ETC)), sorted(
            os.path.basename(p) for p in SECRETS))
        self.assertTrue(user_exists() and group_exists())


def main():
    if os.geteuid() != 0:
        print("SKIP: installing a package with dpkg needs root")
        return SKIP
    status = package_status()
    if status not in ("", "un") and os.path.exists(MARKER):
        print("purging the package an earlier, killed run left installed")
        purge_and_clean()
        status = package_status()
    if status not in ("", "un"):
        print("FAIL: ringsync is installed on this machine (%s): the test "
              "installs and purges its own build; remove it first" % status)
        return 1
    for path in (ETC, STATE):
        if os.path.exists(path):
            print("FAIL: %s exists but no ringsync package owns it (a cmake "
                  "--install?): the test will not touch it" % path)
            return 1
    result = unittest.main(exit=False, verbosity=2).result
    return 0 if result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
