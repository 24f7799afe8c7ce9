"""A throwaway Samba AD DC for a test class (sambadc.py), and LDAP helpers.

The DC is provisioned from a cached template (RINGSYNC_SAMBA_TEMPLATE, under
the build directory), started in the class's temp dir, and stopped by PID
when the class ends, also after a failure.
"""
import atexit
import json
import os
import shutil
import subprocess
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SAMBADC = ["/usr/bin/python3", os.path.join(HERE, "samba", "sambadc.py")]
TEMPLATE = os.environ.get("RINGSYNC_SAMBA_TEMPLATE",
                          os.path.join(tempfile.gettempdir(), "ringsync-samba-template"))


def sambadc(*args, check=True):
    r = subprocess.run(SAMBADC + list(args), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, timeout=600)
    if check and r.returncode != 0:
        raise AssertionError("sambadc %s failed: %s" % (" ".join(args),
                                                        r.stderr.decode()[-2000:]))
    out = r.stdout.decode().strip()
    return json.loads(out) if out.startswith("{") else out


_running = set()   # DC directories to stop when the process exits
_session_fd = None

SESSION_LOCK = "/tmp/ringsync-samba-session.lock"


def _hold_session():
    """Waits for, then keeps, the machine-wide DC session lock.

    The DC's ports are fixed, so two test programs (or a test and the
    benchmark) must not run DCs at the same time: the first to get here
    owns the DC ports until its last DC is gone or the process exits."""
    global _session_fd
    if _session_fd is not None:
        return
    import fcntl
    fd = os.open(SESSION_LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        print("waiting for %s (another DC session runs)" % SESSION_LOCK, flush=True)
        fcntl.flock(fd, fcntl.LOCK_EX)
    _session_fd = fd


def _release_session():
    global _session_fd
    if _session_fd is not None and not _running:
        os.close(_session_fd)
        _session_fd = None


@atexit.register
def _stop_leftovers():
    for d in list(_running):
        sambadc("down", "--dir", d, check=False)
    _running.clear()
    _release_session()


class DC:
    """One running DC in directory d, with its env.json values."""

    def __init__(self, d, template=TEMPLATE):
        self.dir = d
        args = ["up", "--dir", d]
        if template:
            args += ["--template", template]
        _hold_session()
        _running.add(d)
        sambadc(*args)
        self.reload_env()

    def reload_env(self):
        with open(os.path.join(self.dir, "env.json")) as f:
            self.env = json.load(f)

    def stop(self):
        sambadc("stop", "--dir", self.dir)

    def start(self):
        sambadc("start", "--dir", self.dir)
        self.reload_env()

    def status(self):
        return sambadc("status", "--dir", self.dir)

    def add_users(self, spec, tmp):
        path = os.path.join(tmp, "spec-%d.json" % abs(hash(json.dumps(spec))))
        with open(path, "w") as f:
            json.dump(spec, f)
        return sambadc("add-users", "--dir", self.dir, "--spec", path)

    def _ldap_env(self):
        env = dict(os.environ)
        env["LDAPTLS_CACERT"] = self.env["CA_CERT"]
        env["LDAPTLS_REQCERT"] = "demand"
        return env

    def modify(self, ldif, as_svc=False):
        """ldapmodify as the administrator (or the service account)."""
        dn = self.env["SVC_DN"] if as_svc else self.env["ADMIN_DN"]
        pw = self.env["SVC_PW_FILE"] if as_svc else self.env["ADMIN_PW_FILE"]
        r = subprocess.run(["ldapmodify", "-x", "-H", self.env["LDAP_URI"], "-D", dn,
                            "-y", pw], input=ldif.encode(), stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, env=self._ldap_env(), timeout=60)
        if r.returncode != 0:
            raise AssertionError("ldapmodify failed: " + r.stdout.decode())

    def tool(self, argv):
        """Run an OpenLDAP tool (ldapdelete, ldapmodrdn) as the administrator."""
        r = subprocess.run([argv[0], "-x", "-H", self.env["LDAP_URI"], "-D",
                            self.env["ADMIN_DN"], "-y", self.env["ADMIN_PW_FILE"]]
                           + argv[1:], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           env=self._ldap_env(), timeout=60)
        if r.returncode != 0:
            raise AssertionError("%s failed: %s" % (argv[0], r.stdout.decode()))

    def search(self, base, filt="(objectClass=*)", attrs=(), scope="base"):
        """ldapsearch as the administrator; a list of {attr: [values]}."""
        r = subprocess.run(["ldapsearch", "-LLL", "-o", "ldif-wrap=no", "-x", "-H",
                            self.env["LDAP_URI"], "-D", self.env["ADMIN_DN"], "-y",
                            self.env["ADMIN_PW_FILE"], "-b", base, "-s", scope, filt]
                           + list(attrs), stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, env=self._ldap_env(), timeout=60)
        if r.returncode != 0:
            raise AssertionError("ldapsearch failed: " + r.stdout.decode())
        entries, cur = [], None
        for line in r.stdout.decode().splitlines():
            if not line.strip():
                cur = None
                continue
            k, _, v = line.partition(":")
            if cur is None:
                cur = {}
                entries.append(cur)
            cur.setdefault(k.lower(), []).append(v.lstrip(": ").strip())
        return entries


class DCTestCase(unittest.TestCase):
    """Starts one DC for the class; each test gets a private temp dir."""

    dc = None

    @classmethod
    def setUpClass(cls):
        cls.class_tmp = tempfile.mkdtemp(prefix="ringsync-dc.")
        try:
            cls.dc = DC(os.path.join(cls.class_tmp, "dc"))
        except BaseException:
            cls._teardown_dc()
            raise

    @classmethod
    def _teardown_dc(cls):
        d = os.path.join(cls.class_tmp, "dc")
        if os.path.isdir(d):
            sambadc("down", "--dir", d, check=False)
        _running.discard(d)
        _release_session()
        shutil.rmtree(cls.class_tmp, True)

    @classmethod
    def tearDownClass(cls):
        cls._teardown_dc()
