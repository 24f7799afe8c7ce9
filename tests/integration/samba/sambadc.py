#!/usr/bin/python3
# -*- coding: utf-8 -*-
"""sambadc.py: a throwaway Samba AD DC on loopback for ringsync's integration
tests, benchmark and demo.

Runs with Debian's /usr/bin/python3 (it has the samba bindings). Every
subcommand takes --dir D, a state directory owned by the caller. See README.md.

    up        provision (or copy a template), start, create sample users, write env
    start     start samba from D and wait for the rootDSE over verified LDAPS
    stop      stop samba by the PID in D/samba.pid (idempotent)
    down      stop; --rm also removes D
    add-users bulk-create users through SamDB with batch_mode (samba may run)
    status    rootDSE highestCommittedUSN, dnsHostName, dsServiceName, invocationId
    env       rewrite D/env.sh and D/env.json

Passwords are never printed: they live in D/admin.pw and D/svc-ringsync.pw.
"""

import argparse
import base64
import errno
import fcntl
import json
import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid

REALM = "EXAMPLE.TEST"
DNS_DOMAIN = "example.test"
DOMAIN = "EXAMPLE"
HOST = "dc1"
DC_FQDN = HOST + "." + DNS_DOMAIN
BASE_DN = "DC=example,DC=test"
CORP_OU = "OU=Corp," + BASE_DN
USERS_OU = "OU=Users," + CORP_OU
MOVED_OU = "OU=Moved," + BASE_DN
STAFF_OU = "OU=Staff," + BASE_DN
DELETED_DN = "CN=Deleted Objects," + BASE_DN
ADMIN_DN = "CN=Administrator,CN=Users," + BASE_DN
SVC_NAME = "svc-ringsync"
SVC_DN = "CN=%s,CN=Users,%s" % (SVC_NAME, BASE_DN)
SVC_PRINCIPAL = SVC_NAME + "@" + REALM

LDAP_URI = "ldaps://127.0.0.1"
LDAP_URI_STARTTLS = "ldap://127.0.0.1"
LDAP_URI_GSSAPI = "ldap://localhost"

# TCP/UDP ports a DC with "server services = ldap kdc" listens on.
DC_TCP_PORTS = (88, 389, 464, 636, 3268, 3269)
DC_UDP_PORTS = (88, 464)

SELF = os.path.abspath(__file__)
GLOBAL_LOCK = "/tmp/ringsync-samba.lock"
START_DEADLINE = 60.0
STOP_GRACE = 15.0
BATCH = 2000

# Bump when the provisioned layout changes: templates of another format are rebuilt.
TEMPLATE_FORMAT = 1
MARKER = ".sambadc.json"

# schemaIDGUIDs (attributes) and the user class, for the delegated write ACEs.
GUID_USER_CLASS = "bf967aba-0de6-11d0-a285-00aa003049e2"
GUID_TELEPHONE_NUMBER = "bf967a49-0de6-11d0-a285-00aa003049e2"
GUID_IP_PHONE = "4d146e4a-48d4-11d1-a9c3-0000f80367c1"
GUID_OTHER_TELEPHONE = "f0f8ffa5-1191-11d0-a060-00aa006c33ed"

UF_NORMAL_ACCOUNT = 0x200
UF_ACCOUNTDISABLE = 0x2


class Fail(Exception):
    """A failure reported as one clear message on stderr, exit status 1."""


def log(msg):
    sys.stderr.write("sambadc: %s\n" % msg)
    sys.stderr.flush()


# ---------------------------------------------------------------- paths


class Paths(object):
    def __init__(self, d):
        self.dir = os.path.abspath(d)
        j = lambda *p: os.path.join(self.dir, *p)
        self.etc = j("etc")
        self.smb_conf = j("etc", "smb.conf")
        self.private = j("private")
        self.sam_ldb = j("private", "sam.ldb")
        self.run = j("run")
        self.logdir = j("log")
        self.samba_log = j("log", "samba.log")
        self.out_log = j("log", "samba.out")
        self.prov_log = j("log", "provision.log")
        self.tls = j("tls")
        self.ca_cert = j("tls", "ca.pem")
        self.ca_key = j("tls", "ca.key")
        self.cert = j("tls", "cert.pem")
        self.key = j("tls", "key.pem")
        self.admin_pw = j("admin.pw")
        self.svc_pw = j("svc-ringsync.pw")
        self.keytab = j("svc-ringsync.keytab")
        self.krb5_conf = j("krb5.conf")
        self.krb5_ccache = j("krb5cc_svc")
        self.pid_file = j("samba.pid")
        self.env_sh = j("env.sh")
        self.env_json = j("env.json")
        self.marker = j(MARKER)

    def provisioned(self):
        return os.path.exists(self.marker) and os.path.exists(self.smb_conf)


def read_marker(p):
    with open(p.marker) as f:
        return json.load(f)


def write_marker(p, data):
    tmp = p.marker + ".tmp"
    with open(tmp, "w") as f:
        json.dump(data, f, indent=1, sort_keys=True)
    os.rename(tmp, p.marker)


def write_secret(path, value):
    """Password file: mode 0600, no trailing newline."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(value)
    os.chmod(path, 0o600)


def read_secret(path):
    with open(path) as f:
        return f.read()


def gen_password():
    # Upper, lower, digit and punctuation: meets AD complexity whatever the random part.
    return "Rs1-" + secrets.token_urlsafe(18) + "x9!"


def tail(path, n=40):
    try:
        with open(path, "rb") as f:
            f.seek(0, 2)
            size = f.tell()
            f.seek(max(0, size - 65536))
            lines = f.read().decode("utf-8", "replace").splitlines()
        return "\n".join(lines[-n:])
    except OSError as e:
        return "(cannot read %s: %s)" % (path, e)


def run(cmd, logpath=None, env=None, check=True):
    """Run a command; its output goes to logpath (appended) or is captured."""
    if logpath:
        with open(logpath, "ab") as lf:
            lf.write(("\n$ %s\n" % " ".join(shlex.quote(c) for c in redact(cmd))).encode())
            lf.flush()
            rc = subprocess.call(cmd, stdin=subprocess.DEVNULL, stdout=lf,
                                 stderr=subprocess.STDOUT, env=env)
        if check and rc != 0:
            raise Fail("command failed (rc %d): %s\n--- tail of %s ---\n%s"
                       % (rc, " ".join(redact(cmd)), logpath, tail(logpath, 25)))
        return rc
    r = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, env=env)
    if check and r.returncode != 0:
        raise Fail("command failed (rc %d): %s\n%s" % (
            r.returncode, " ".join(redact(cmd)), r.stdout.decode("utf-8", "replace")[-3000:]))
    return r


def redact(cmd):
    out = []
    for c in cmd:
        if c.startswith("--adminpass=") or c.startswith("--password="):
            c = c.split("=", 1)[0] + "=***"
        out.append(c)
    return out


# ---------------------------------------------------------------- ports / processes


def _listening_inodes():
    """{inode: (proto, port)} for listening TCP sockets and bound UDP sockets on DC ports."""
    found = {}
    for proto, fname, ports, state in (("tcp", "/proc/net/tcp", DC_TCP_PORTS, "0A"),
                                       ("tcp", "/proc/net/tcp6", DC_TCP_PORTS, "0A"),
                                       ("udp", "/proc/net/udp", DC_UDP_PORTS, None),
                                       ("udp", "/proc/net/udp6", DC_UDP_PORTS, None)):
        try:
            with open(fname) as f:
                next(f)
                for line in f:
                    parts = line.split()
                    port = int(parts[1].rsplit(":", 1)[1], 16)
                    if port not in ports:
                        continue
                    if state is not None and parts[3] != state:
                        continue
                    found[parts[9]] = (proto, port)
        except (OSError, StopIteration):
            continue
    return found


def _pid_cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return [a.decode("utf-8", "replace") for a in f.read().split(b"\0") if a]
    except OSError:
        return None


def port_holders():
    """[(proto, port, pid or None, cmdline list or None)] for DC ports in use."""
    inodes = _listening_inodes()
    if not inodes:
        return []
    owners = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        fddir = "/proc/%s/fd" % name
        try:
            fds = os.listdir(fddir)
        except OSError:
            continue
        for fd in fds:
            try:
                link = os.readlink(os.path.join(fddir, fd))
            except OSError:
                continue
            if link.startswith("socket:["):
                ino = link[8:-1]
                if ino in inodes and ino not in owners:
                    owners[ino] = int(name)
    res = []
    for ino, (proto, port) in sorted(inodes.items(), key=lambda kv: kv[1]):
        pid = owners.get(ino)
        res.append((proto, port, pid, _pid_cmdline(pid) if pid else None))
    return res


def _readlink(path):
    try:
        return os.readlink(path)
    except OSError:
        return ""


def samba_dir_of(pid):
    """The sambadc directory a running samba serves, or None.

    samba overwrites its argv ("samba: root process"), so -s cannot be read back:
    sambadc starts it with cwd=D and stdout=D/log/samba.out, and samba writes
    D/run/samba.pid itself."""
    exe = _readlink("/proc/%d/exe" % pid)
    if os.path.basename(exe.split(" (deleted)")[0]) != "samba":
        return None
    cands = [_readlink("/proc/%d/cwd" % pid)]
    out = _readlink("/proc/%d/fd/1" % pid)
    if out.endswith("/log/samba.out"):
        cands.append(out[:-len("/log/samba.out")])
    for d in cands:
        if d and os.path.exists(os.path.join(d, MARKER)):
            return d
    return None


def describe_holder(pid, cmd):
    if pid is None:
        return "an unknown process (socket owner not found)"
    desc = "pid %d (%s, %s)" % (pid, " ".join(cmd or ["?"]), _readlink("/proc/%d/exe" % pid))
    d = samba_dir_of(pid)
    if d:
        pf = os.path.join(d, "samba.pid")
        ours = False
        try:
            ours = int(open(pf).read().strip()) == pid
        except (OSError, ValueError):
            pass
        if ours:
            desc += ("; it is the sambadc DC of %s (pid file %s); stop it with: %s stop --dir %s"
                     % (d, pf, SELF, d))
        else:
            desc += ("; it serves sambadc directory %s, but its pid file %s does not name it"
                     % (d, pf))
    return desc


def check_ports_free():
    holders = port_holders()
    if not holders:
        return
    by_pid = {}
    for proto, port, pid, cmd in holders:
        ent = by_pid.setdefault(pid, [cmd, set()])
        ent[1].add("%s/%d" % (proto, port))
    msg = "the Samba AD DC ports are already in use:"
    for pid, (cmd, ports) in by_pid.items():
        msg += "\n  %s held by %s" % (" ".join(sorted(ports, key=lambda x: (x[0], int(x[4:])))),
                                      describe_holder(pid, cmd))
    msg += ("\nOnly one Samba AD DC can listen on the LDAP/Kerberos ports at a time "
            "(a packaged samba/samba-ad-dc service may be running: stop it by its PID).")
    raise Fail(msg)


def pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie child of ours counts as dead
    try:
        with open("/proc/%d/stat" % pid) as f:
            st = f.read().rsplit(")", 1)[1].split()[0]
        return st != "Z"
    except OSError:
        return False


def our_samba_pid(p):
    """PID from D/samba.pid if that process is samba running D's smb.conf, else None."""
    try:
        pid = int(open(p.pid_file).read().strip())
    except (OSError, ValueError):
        return None
    if not pid_alive(pid):
        return None
    if samba_dir_of(pid) != p.dir:
        return None
    return pid


class GlobalLock(object):
    """flock on /tmp/ringsync-samba.lock for the duration of a start (serialises racing starts)."""

    def __init__(self, path=GLOBAL_LOCK, timeout=120.0):
        self.path, self.timeout, self.fd = path, timeout, None

    def __enter__(self):
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666)
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return self
            except OSError as e:
                if e.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
            if time.monotonic() > deadline:
                raise Fail("timed out waiting for the lock %s" % self.path)
            time.sleep(0.1)

    def __exit__(self, *a):
        os.close(self.fd)


# ---------------------------------------------------------------- LDAP via the CLI tools


def ldap_env(p):
    env = dict(os.environ)
    env["LDAPTLS_CACERT"] = p.ca_cert
    env["LDAPTLS_REQCERT"] = "demand"
    return env


def parse_ldif(text):
    """[(dn, {attr_lower: [str|bytes]})]; base64 values decoded to bytes."""
    entries = []
    lines = []
    for line in text.splitlines():
        if line.startswith(" ") and lines:
            lines[-1] += line[1:]
        else:
            lines.append(line)
    cur = None
    for line in lines:
        if not line or line.startswith("#"):
            if cur is not None and not line:
                entries.append(cur)
                cur = None
            continue
        if line.startswith("ref:") or line.startswith("search:") or line.startswith("result:"):
            continue
        k, _, rest = line.partition(":")
        if rest.startswith(":"):
            v = base64.b64decode(rest[1:].strip())
        else:
            v = rest.strip()
        k = k.strip()
        if k.lower() == "dn":
            if cur is not None:
                entries.append(cur)
            if isinstance(v, bytes):
                v = v.decode("utf-8", "replace")
            cur = (v, {})
        elif cur is not None:
            cur[1].setdefault(k.lower(), []).append(v)
    if cur is not None:
        entries.append(cur)
    return entries


def ldapsearch(p, base, scope, attrs, filt="(objectClass=*)", bind=None, timeout=5):
    cmd = ["ldapsearch", "-LLL", "-o", "ldif-wrap=no", "-o", "nettimeout=%d" % timeout,
           "-H", LDAP_URI, "-b", base, "-s", scope]
    if bind:
        cmd += ["-x", "-D", bind[0], "-y", bind[1]]
    else:
        cmd += ["-x"]
    cmd += [filt] + list(attrs)
    r = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, env=ldap_env(p), timeout=timeout + 5)
    return r.returncode, r.stdout.decode("utf-8", "replace"), r.stderr.decode("utf-8", "replace")


def rootdse(p, timeout=5):
    rc, out, err = ldapsearch(p, "", "base", ["highestCommittedUSN", "dnsHostName",
                                               "dsServiceName"], timeout=timeout)
    if rc != 0:
        return None, err.strip()
    ents = parse_ldif(out)
    return (ents[0][1] if ents else {}), ""


# ---------------------------------------------------------------- samba start / stop


def samba_logs(p):
    out = "\n--- tail of %s ---\n%s" % (p.out_log, tail(p.out_log))
    if os.path.exists(p.samba_log):
        out += "\n--- tail of %s ---\n%s" % (p.samba_log, tail(p.samba_log))
    return out


def wait_rootdse(p, proc_pid, deadline_s=START_DEADLINE):
    deadline = time.monotonic() + deadline_s
    last = ""
    while True:
        if proc_pid is not None and not pid_alive(proc_pid):
            raise Fail("samba (pid %d) exited during start-up%s" % (proc_pid, samba_logs(p)))
        attrs, err = rootdse(p, timeout=2)
        if attrs is not None and attrs.get("dnshostname"):
            return attrs
        last = err or last
        if time.monotonic() > deadline:
            raise Fail("samba did not answer the rootDSE over %s (CA %s) within %.0f s; "
                       "last error: %s%s" % (LDAP_URI, p.ca_cert, deadline_s, last, samba_logs(p)))
        time.sleep(0.1)


def start(p, quiet=False):
    if not p.provisioned():
        raise Fail("%s holds no provisioned DC (run: %s up --dir %s)" % (p.dir, SELF, p.dir))
    t0 = time.monotonic()
    with GlobalLock():
        pid = our_samba_pid(p)
        if pid is not None:
            wait_rootdse(p, pid)
            if not quiet:
                log("already running, pid %d" % pid)
            write_env(p)
            return pid
        check_ports_free()
        os.makedirs(p.run, exist_ok=True)
        os.makedirs(p.logdir, exist_ok=True)
        out = open(p.out_log, "ab")
        out.write(("=== sambadc start %s ===\n" % time.strftime("%Y-%m-%d %H:%M:%S")).encode())
        out.flush()
        # setsid (start_new_session): own session and process group, no controlling tty.
        proc = subprocess.Popen(["samba", "-i", "-M", "single", "-s", p.smb_conf],
                                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True, close_fds=True, cwd=p.dir)
        out.close()
        with open(p.pid_file + ".tmp", "w") as f:
            f.write("%d\n" % proc.pid)
        os.rename(p.pid_file + ".tmp", p.pid_file)
        try:
            wait_rootdse(p, proc.pid)
        except BaseException:
            stop(p, quiet=True)
            raise
    write_env(p)
    if not quiet:
        log("samba started, pid %d, rootDSE answered after %.2f s" % (proc.pid, time.monotonic() - t0))
    return proc.pid


def stop(p, quiet=False):
    try:
        pid = int(open(p.pid_file).read().strip())
    except (OSError, ValueError):
        if not quiet:
            log("not running (no pid file %s)" % p.pid_file)
        return False
    if not pid_alive(pid):
        os.unlink(p.pid_file)
        if not quiet:
            log("not running (stale pid %d removed)" % pid)
        return False
    if samba_dir_of(pid) != p.dir:
        os.unlink(p.pid_file)
        log("pid %d is not this directory's samba (%s): not signalled; stale pid file removed"
            % (pid, " ".join(_pid_cmdline(pid) or ["?"])))
        return False
    t0 = time.monotonic()
    os.kill(pid, signal.SIGTERM)
    deadline = t0 + STOP_GRACE
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    killed = False
    if pid_alive(pid):
        log("samba pid %d still alive after %.0f s: SIGKILL" % (pid, STOP_GRACE))
        try:
            os.killpg(pid, signal.SIGKILL)  # its own process group (setsid); pgid == pid
        except ProcessLookupError:
            pass
        killed = True
        d2 = time.monotonic() + 5
        while pid_alive(pid) and time.monotonic() < d2:
            time.sleep(0.05)
        if pid_alive(pid):
            raise Fail("samba pid %d survived SIGKILL" % pid)
    try:
        os.unlink(p.pid_file)
    except FileNotFoundError:
        pass
    if os.path.exists(p.env_sh):
        write_env(p)  # SAMBA_PID=''
    if not quiet:
        log("samba pid %d stopped in %.2f s%s" % (pid, time.monotonic() - t0,
                                                  " (killed)" if killed else ""))
    return True


# ---------------------------------------------------------------- provisioning


def smb_conf_globals(p):
    return [
        "pid directory = %s" % p.run,
        "ncalrpc dir = %s" % os.path.join(p.run, "ncalrpc"),
        "log file = %s" % p.samba_log,
        "max log size = 10000",
        "ldb:nosync = true",
        "tls enabled = yes",
        "tls keyfile = %s" % p.key,
        "tls certfile = %s" % p.cert,
        "tls cafile = %s" % p.ca_cert,
        "ldap server require strong auth = allow_sasl_over_tls",
    ]


def edit_smb_conf(p):
    with open(p.smb_conf) as f:
        lines = f.read().splitlines()
    drop = ("log file", "pid directory", "ncalrpc dir", "max log size")
    out = []
    in_global = False
    for line in lines:
        s = line.strip()
        if s.startswith("["):
            if in_global:
                while out and not out[-1].strip():
                    out.pop()
                out += ["\t" + l for l in smb_conf_globals(p)] + [""]
            in_global = s.lower() == "[global]"
            out.append(line)
            continue
        if in_global and "=" in s and s.split("=", 1)[0].strip().lower() in drop:
            continue
        out.append(line)
    if in_global:
        out += ["\t" + l for l in smb_conf_globals(p)]
    with open(p.smb_conf, "w") as f:
        f.write("\n".join(out) + "\n")


def make_tls(p):
    os.makedirs(p.tls, exist_ok=True)
    lg = p.prov_log
    run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650",
         "-keyout", p.ca_key, "-out", p.ca_cert, "-subj", "/CN=ringsync test CA",
         "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,keyCertSign,cRLSign"], logpath=lg)
    csr = os.path.join(p.tls, "cert.csr")
    ext = os.path.join(p.tls, "cert.ext")
    run(["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-keyout", p.key, "-out", csr,
         "-subj", "/CN=" + DC_FQDN], logpath=lg)
    sans = ["DNS:" + DC_FQDN, "DNS:localhost"]
    hn = socket.gethostname()
    if hn and hn not in (DC_FQDN, "localhost"):
        sans.append("DNS:" + hn)
    sans += ["IP:127.0.0.1", "IP:::1"]
    with open(ext, "w") as f:
        f.write("subjectAltName=%s\n" % ",".join(sans))
        f.write("extendedKeyUsage=serverAuth\n")
        f.write("basicConstraints=critical,CA:FALSE\n")
    run(["openssl", "x509", "-req", "-in", csr, "-CA", p.ca_cert, "-CAkey", p.ca_key,
         "-set_serial", "0x" + secrets.token_hex(8).lstrip("0").rjust(1, "1"),
         "-days", "3650", "-extfile", ext, "-out", p.cert], logpath=lg)
    os.chmod(p.key, 0o600)  # samba refuses a key others can read
    os.chmod(p.ca_key, 0o600)
    os.unlink(csr)


def write_krb5_conf(p):
    with open(p.krb5_conf, "w") as f:
        f.write("""[libdefaults]
	default_realm = %(realm)s
	dns_lookup_realm = false
	dns_lookup_kdc = false
	rdns = false
	dns_canonicalize_hostname = false
	ignore_acceptor_hostname = true

[realms]
	%(realm)s = {
		kdc = 127.0.0.1
		admin_server = 127.0.0.1
		default_domain = %(dom)s
	}

[domain_realm]
	.%(dom)s = %(realm)s
	%(dom)s = %(realm)s
	localhost = %(realm)s
""" % {"realm": REALM, "dom": DNS_DOMAIN})


def open_samdb(p, batch=False):
    from samba.samdb import SamDB
    from samba.param import LoadParm
    from samba.auth import system_session
    lp = LoadParm()
    lp.load(p.smb_conf)
    opts = ["batch_mode:1"] if batch else None
    return SamDB(url=p.sam_ldb, lp=lp, session_info=system_session(), options=opts)


def ensure_ou(db, dn):
    import ldb
    dn = str(dn)
    if not dn.upper().endswith(BASE_DN.upper()):
        raise Fail("OU %s is not below %s" % (dn, BASE_DN))
    rdns = []
    cur = dn
    while cur.upper() != BASE_DN.upper():
        rdn, cur = cur.split(",", 1)
        rdns.append((rdn, cur))
    for rdn, parent in reversed(rdns):
        full = rdn + "," + parent
        try:
            db.search(base=full, scope=ldb.SCOPE_BASE, attrs=["dn"])
            continue
        except ldb.LdbError as e:
            if e.args[0] != ldb.ERR_NO_SUCH_OBJECT:
                raise
        if not rdn.upper().startswith("OU="):
            raise Fail("%s does not exist and is not an OU" % full)
        db.add({"dn": full, "objectClass": "organizationalUnit",
                "ou": rdn.split("=", 1)[1]})


def setup_directory(p, svc_pw):
    """OUs, service account, ACEs (before any users). Samba must not run (or may: SamDB is safe)."""
    from samba.ndr import ndr_unpack
    from samba.dcerpc import security
    from samba.sd_utils import SDUtils
    import ldb
    db = open_samdb(p)
    for ou in (CORP_OU, USERS_OU, MOVED_OU, STAFF_OU):
        ensure_ou(db, ou)
    db.newuser(SVC_NAME, svc_pw, userou="CN=Users", givenname="ringsync",
               surname="service", description="ringsync sync daemon (non-admin)")
    # throwaway accounts: passwords must not expire while a template is reused for months
    db.setexpiry("(sAMAccountName=%s)" % SVC_NAME, 0, no_expiry_req=True)
    db.setexpiry("(sAMAccountName=Administrator)", 0, no_expiry_req=True)
    res = db.search(base=SVC_DN, scope=ldb.SCOPE_BASE, attrs=["objectSid"])
    sid = str(ndr_unpack(security.dom_sid, res[0]["objectSid"][0]))
    sdu = SDUtils(db)
    # List+Read on CN=Deleted Objects (samba-tool dsacl cannot open it)
    sdu.dacl_prepend_aces(DELETED_DN, "(A;;LCRP;;;%s)" % sid,
                          controls=["show_deleted:1", "sd_flags:1:%d" % security.SECINFO_DACL])
    # inherited write-property ACEs on user objects for the three phone attributes
    aces = "".join("(OA;CIIO;WP;%s;%s;%s)" % (g, GUID_USER_CLASS, sid)
                   for g in (GUID_TELEPHONE_NUMBER, GUID_IP_PHONE, GUID_OTHER_TELEPHONE))
    sdu.dacl_prepend_aces(BASE_DN, aces, controls=["sd_flags:1:%d" % security.SECINFO_DACL])
    # check they stuck
    got_del = sdu.get_sd_as_sddl(DELETED_DN, controls=["sd_flags:1:%d" % security.SECINFO_DACL])
    got_base = sdu.get_sd_as_sddl(BASE_DN, controls=["sd_flags:1:%d" % security.SECINFO_DACL])
    if sid not in got_del or got_base.count(sid) < 3:
        raise Fail("ACEs for %s were not stored (Deleted Objects: %s)" % (sid, got_del))
    return sid


def provision(p):
    """Provision a stopped, fully set-up DC in p.dir (no sample users)."""
    t0 = time.monotonic()
    for d in (p.dir, p.logdir, p.run, p.tls):
        os.makedirs(d, exist_ok=True)
    admin_pw, svc_pw = gen_password(), gen_password()
    write_secret(p.admin_pw, admin_pw)
    write_secret(p.svc_pw, svc_pw)
    if os.path.exists(p.smb_conf):
        raise Fail("%s already exists: directory half-provisioned? use an empty --dir" % p.smb_conf)
    run(["samba-tool", "domain", "provision", "--targetdir=" + p.dir, "--realm=" + REALM,
         "--domain=" + DOMAIN, "--host-name=" + HOST, "--adminpass=" + admin_pw,
         "--server-role=dc", "--dns-backend=NONE", "--use-rfc2307", "--backend-store=mdb",
         "--option=server services = ldap kdc", "--option=interfaces = lo",
         "--option=bind interfaces only = yes"], logpath=p.prov_log)
    t_prov = time.monotonic() - t0
    edit_smb_conf(p)
    make_tls(p)
    write_krb5_conf(p)
    sid = setup_directory(p, svc_pw)
    run(["samba_spnupdate", "-s", p.smb_conf], logpath=p.prov_log)
    run(["samba-tool", "spn", "add", "ldap/localhost", HOST.upper() + "$", "-s", p.smb_conf],
        logpath=p.prov_log)
    if os.path.exists(p.keytab):
        os.unlink(p.keytab)
    run(["samba-tool", "domain", "exportkeytab", p.keytab, "--principal=" + SVC_NAME,
         "-s", p.smb_conf], logpath=p.prov_log)
    os.chmod(p.keytab, 0o600)
    write_marker(p, {"format": TEMPLATE_FORMAT, "root": p.dir, "svc_sid": sid,
                     "hostname": socket.gethostname(), "created": time.time(),
                     "provision_seconds": round(t_prov, 2)})
    log("provisioned %s in %.1f s (samba-tool provision %.1f s)"
        % (p.dir, time.monotonic() - t0, t_prov))


def rewrite_root(p, old_root):
    """After cp -a: point every path in smb.conf (and the marker) at p.dir."""
    pat = re.compile(re.escape(old_root.rstrip("/")) + r"(?=/|$|\s)")
    with open(p.smb_conf) as f:
        text = f.read()
    new = pat.sub(p.dir.replace("\\", "\\\\"), text)
    with open(p.smb_conf, "w") as f:
        f.write(new)
    if old_root in new:
        raise Fail("%s still names the template path %s" % (p.smb_conf, old_root))
    m = read_marker(p)
    m["root"] = p.dir
    m["copied_from"] = old_root
    write_marker(p, m)


def template_valid(tp):
    if not tp.provisioned():
        return False
    try:
        m = read_marker(tp)
    except (OSError, ValueError):
        return False
    return (m.get("format") == TEMPLATE_FORMAT and m.get("hostname") == socket.gethostname()
            and m.get("root") == tp.dir and os.path.exists(os.path.join(tp.dir, ".ready")))


def copy_template(template, p):
    troot = os.path.abspath(template)
    os.makedirs(troot, exist_ok=True)
    tp = Paths(os.path.join(troot, "dc"))
    if os.path.realpath(tp.dir) == os.path.realpath(p.dir):
        raise Fail("--template must not contain --dir")
    lockfd = os.open(os.path.join(troot, "lock"), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(lockfd, fcntl.LOCK_EX)  # blocks while another process builds it
        if not template_valid(tp):
            if os.path.exists(tp.dir):
                if our_samba_pid(tp) is not None:
                    raise Fail("template %s has a running samba" % tp.dir)
                shutil.rmtree(tp.dir)
            log("building template in %s" % tp.dir)
            provision(tp)
            open(os.path.join(tp.dir, ".ready"), "w").close()
        if our_samba_pid(tp) is not None:
            raise Fail("template %s has a running samba: stop it first" % tp.dir)
        t0 = time.monotonic()
        os.makedirs(p.dir, exist_ok=True)
        run(["cp", "-a", tp.dir + "/.", p.dir + "/"])
    finally:
        os.close(lockfd)
    for f in (os.path.join(p.dir, ".ready"), p.pid_file, p.env_sh, p.env_json):
        try:
            os.unlink(f)
        except FileNotFoundError:
            pass
    rewrite_root(p, tp.dir)
    log("copied template %s into %s in %.2f s" % (tp.dir, p.dir, time.monotonic() - t0))


# ---------------------------------------------------------------- env files


def env_values(p):
    m = read_marker(p)
    pid = our_samba_pid(p)
    return [
        ("SAMBA_DIR", p.dir),
        ("LDAP_URI", LDAP_URI),
        ("LDAP_URI_STARTTLS", LDAP_URI_STARTTLS),
        ("LDAP_URI_GSSAPI", LDAP_URI_GSSAPI),
        ("BASE_DN", BASE_DN),
        ("USERS_OU", USERS_OU),
        ("MOVED_OU", MOVED_OU),
        ("STAFF_OU", STAFF_OU),
        ("DELETED_OBJECTS_DN", DELETED_DN),
        ("REALM", REALM),
        ("DOMAIN", DOMAIN),
        ("DC_HOSTNAME", DC_FQDN),
        ("ADMIN_DN", ADMIN_DN),
        ("ADMIN_PW_FILE", p.admin_pw),
        ("SVC_USER", SVC_NAME),
        ("SVC_DN", SVC_DN),
        ("SVC_PW_FILE", p.svc_pw),
        ("SVC_SID", m["svc_sid"]),
        ("SVC_PRINCIPAL", SVC_PRINCIPAL),
        ("CA_CERT", p.ca_cert),
        ("KRB5_CONFIG", p.krb5_conf),
        ("KEYTAB", p.keytab),
        ("KRB5_CLIENT_KTNAME", p.keytab),
        ("KRB5CCNAME", "FILE:" + p.krb5_ccache),
        ("SAMBA_PID", str(pid) if pid else ""),
        ("SAMBA_PID_FILE", p.pid_file),
        ("SMB_CONF", p.smb_conf),
        ("SAMBA_LOG", p.out_log),
    ]


def write_env(p):
    vals = env_values(p)
    sh = "".join("%s=%s\n" % (k, "'" + v.replace("'", "'\\''") + "'") for k, v in vals)
    for path, text in ((p.env_sh, "# generated by sambadc.py; source with: set -a; . %s; set +a\n"
                        % p.env_sh + sh),
                       (p.env_json, json.dumps(dict(vals), indent=1) + "\n")):
        with open(path + ".tmp", "w") as f:
            f.write(text)
        os.rename(path + ".tmp", path)


# ---------------------------------------------------------------- sample users

FIRST = ["Ada", "Alan", "Grace", "Linus", "Barbara", "Ken", "Margaret", "Dennis", "Frances",
         "Edsger", "Radia", "Donald", "Hedy", "Niklaus", "Katherine", "Tim", "Anita", "Bjarne",
         "Sophie", "John", "Mary", "Guido", "Shafi", "Vint"]
LAST = ["Lovelace", "Turing", "Hopper", "Torvalds", "Liskov", "Thompson", "Hamilton", "Ritchie",
        "Allen", "Dijkstra", "Perlman", "Knuth", "Lamarr", "Wirth", "Johnson", "Berners-Lee",
        "Borg", "Stroustrup", "Wilson", "McCarthy", "Jackson", "van Rossum", "Goldwasser", "Cerf"]
DEPTS = ["Engineering", "Sales", "Support", "Finance", "Marketing", "Operations", "Legal", "HR"]
STREETS = ["Main St", "Oak Ave", "University Ave", "Market St", "El Camino Real", "King St W",
           "Granville St", "Rue Sainte-Catherine", "Broadway", "Elm Street"]
# (code, name, city, postal prefix, country, area code)
REGIONS = [
    ("CA", "California", "Palo Alto", "943", "US", "650"),
    ("NY", "New York", "New York", "100", "US", "212"),
    ("TX", "Texas", "Austin", "787", "US", "512"),
    ("WA", "Washington", "Seattle", "981", "US", "206"),
    ("MA", "Massachusetts", "Boston", "021", "US", "617"),
    ("IL", "Illinois", "Chicago", "606", "US", "312"),
    ("CO", "Colorado", "Denver", "802", "US", "303"),
    ("FL", "Florida", "Miami", "331", "US", "305"),
    ("ON", "Ontario", "Toronto", "M5V", "CA", "416"),
    ("BC", "British Columbia", "Vancouver", "V6B", "CA", "604"),
    ("QC", "Quebec", "Montréal", "H2Y", "CA", "514"),
]
PHONE_FORMATS = ["+1 {a} {p} {l}", "({a}) {p}-{l}", "{a}-{p}-{l}", "+1-{a}-{p}-{l}",
                 "{a}.{p}.{l}", "+1{a}{p}{l}"]


def sample_user(i, prefix, ou):
    name = "%s%d" % (prefix, i)
    g = FIRST[i % len(FIRST)]
    s = LAST[(i // len(FIRST) + i * 7) % len(LAST)]
    code, stname, city, pfx, country, area = REGIONS[(i * 5 + i // 11) % len(REGIONS)]
    if country == "US":
        postal = "%s%02d" % (pfx, i % 100)
    else:
        postal = "%s %d%s%d" % (pfx, i % 10, "ABCEGHJKLMNPRSTVXY"[i % 18], (i // 10) % 10)
    mobile = PHONE_FORMATS[i % len(PHONE_FORMATS)].format(a=area, p="555", l="%04d" % (i % 10000))
    return {
        "dn": "CN=%s,%s" % (name, ou),
        "objectClass": "user",
        "cn": name,
        "sAMAccountName": name,
        "givenName": g,
        "sn": s,
        "displayName": "%s %s" % (g, s),
        "mail": "%s@%s" % (name, DNS_DOMAIN),
        "userPrincipalName": "%s@%s" % (name, DNS_DOMAIN),
        "mobile": mobile,
        "streetAddress": "%d %s" % (100 + (i * 37) % 9900, STREETS[i % len(STREETS)]),
        "l": city,
        "st": code if i % 2 == 0 else stname,
        "postalCode": postal,
        "c": country,
        "department": DEPTS[i % len(DEPTS)],
        "userAccountControl": str(UF_NORMAL_ACCOUNT),
    }


SAM_BAD = re.compile(r'["/\\\[\]:;|=,+*?<>@]')


def rdn_escape(v):
    out = []
    for i, ch in enumerate(v):
        if ch in ',+"\\<>;=' or (ch == "#" and i == 0) or (ch == " " and i in (0, len(v) - 1)):
            out.append("\\" + ch)
        else:
            out.append(ch)
    return "".join(out)


def spec_ou(item, default_ou):
    ou = (item.get("ou") if isinstance(item, dict) else None) or default_ou
    if not ou.upper().endswith(BASE_DN.upper()):
        ou = ou + "," + BASE_DN
    return ou


def spec_user(item, default_ou):
    if not isinstance(item, dict) or "cn" not in item:
        raise Fail("spec entries must be objects with at least \"cn\": %r" % (item,))
    cn = item["cn"]
    ou = spec_ou(item, default_ou)
    attrs = dict(item.get("attrs") or {})
    msg = {"dn": "CN=%s,%s" % (rdn_escape(cn), ou), "objectClass": "user", "cn": cn}
    lower = {k.lower(): k for k in attrs}
    if "samaccountname" not in lower and len(cn) <= 20 and not SAM_BAD.search(cn) \
            and cn.strip() == cn and cn:
        msg["sAMAccountName"] = cn
    uac = UF_NORMAL_ACCOUNT | (UF_ACCOUNTDISABLE if item.get("disabled") else 0)
    if "useraccountcontrol" not in lower:
        msg["userAccountControl"] = str(uac)
    for k, v in attrs.items():
        if v is None:
            continue
        if isinstance(v, list):
            msg[k] = [str(x) for x in v]
        else:
            msg[k] = str(v)
    if item.get("password") is not None:
        msg["unicodePwd"] = ('"%s"' % item["password"]).encode("utf-16-le")
    return msg


def add_users(p, count=0, ou=USERS_OU, prefix="user", start_i=0, spec=None, keep_going=False):
    import ldb
    t0 = time.monotonic()
    db = open_samdb(p, batch=True)
    if spec is not None:
        msgs = (spec_user(it, ou) for it in spec)
        ous = {spec_ou(it, ou) for it in spec}
    else:
        msgs = (sample_user(i, prefix, ou) for i in range(start_i, start_i + count))
        ous = {ou}
    for o in sorted(ous, key=len):
        ensure_ou(db, o)
    done = 0
    batch = []
    failed = []
    if keep_going:
        # one transaction per user: a rejected user (e.g. a value over the schema's
        # rangeUpper) is reported and the others are kept
        for m in msgs:
            db.transaction_start()
            try:
                db.add(m)
            except ldb.LdbError as e:
                db.transaction_cancel()
                failed.append({"dn": m["dn"], "error": e.args[1] if len(e.args) > 1 else str(e)})
                continue
            db.transaction_commit()
            done += 1
        msgs = ()

    def flush():
        nonlocal done
        if not batch:
            return
        db.transaction_start()
        try:
            for m in batch:
                try:
                    db.add(m)
                except ldb.LdbError as e:
                    raise Fail("adding %s failed: %s (the batch of %d was rolled back; "
                               "%d users were added before it)" % (m["dn"], e.args[1] if len(
                                   e.args) > 1 else e, len(batch), done))
        except BaseException:
            db.transaction_cancel()
            raise
        db.transaction_commit()
        done += len(batch)
        del batch[:]

    for m in msgs:
        batch.append(m)
        if len(batch) >= BATCH:
            flush()
    flush()
    secs = time.monotonic() - t0
    r = {"count": done, "seconds": round(secs, 3),
         "rate": round(done / secs, 1) if secs > 0 else None,
         "ou": ou if spec is None else sorted(ous)}
    if keep_going:
        r["failed"] = failed
    return r


# ---------------------------------------------------------------- status


def guid_from_le(b):
    return str(uuid.UUID(bytes_le=bytes(b)))


def status(p):
    attrs, err = rootdse(p)
    if attrs is None:
        raise Fail("rootDSE not readable over %s: %s" % (LDAP_URI, err))
    ds = attrs["dsservicename"][0]
    rc, out, err = ldapsearch(p, ds, "base", ["invocationId"], bind=(SVC_DN, p.svc_pw))
    if rc != 0:
        raise Fail("cannot read invocationId of %s as %s: %s" % (ds, SVC_DN, err.strip()))
    inv = parse_ldif(out)[0][1]["invocationid"][0]
    if isinstance(inv, str):
        inv = inv.encode("latin-1")
    return {
        "highestCommittedUSN": int(attrs["highestcommittedusn"][0]),
        "dnsHostName": attrs["dnshostname"][0],
        "dsServiceName": ds,
        "invocationId": guid_from_le(inv),
        "pid": our_samba_pid(p),
    }


# ---------------------------------------------------------------- commands


def cmd_up(a):
    p = Paths(a.dir)
    t0 = time.monotonic()
    timings = {}
    if p.provisioned():
        log("%s is already provisioned: starting it" % p.dir)
    else:
        if our_samba_pid(p) is None:
            check_ports_free()  # fail fast, before spending seconds on provisioning
        if os.path.exists(p.smb_conf) or os.path.exists(p.private):
            raise Fail("%s holds a half-provisioned DC: remove it first" % p.dir)
        t1 = time.monotonic()
        if a.template:
            copy_template(a.template, p)
            timings["template_copy"] = round(time.monotonic() - t1, 2)
        else:
            provision(p)
            timings["provision"] = round(time.monotonic() - t1, 2)
    t1 = time.monotonic()
    start(p, quiet=True)
    timings["start"] = round(time.monotonic() - t1, 2)
    if a.users:
        r = add_users(p, count=a.users)
        timings["users"] = r
    write_env(p)
    timings["total"] = round(time.monotonic() - t0, 2)
    log("up: %s" % json.dumps(timings))
    print(json.dumps({"dir": p.dir, "env": p.env_sh, "pid": our_samba_pid(p), "timings": timings}))


def cmd_start(a):
    p = Paths(a.dir)
    pid = start(p)
    print(pid)


def cmd_stop(a):
    stop(Paths(a.dir))


def cmd_down(a):
    p = Paths(a.dir)
    stop(p, quiet=not os.path.exists(p.pid_file))
    if a.rm and os.path.isdir(p.dir):
        if our_samba_pid(p) is not None:
            raise Fail("samba still running in %s: not removed" % p.dir)
        shutil.rmtree(p.dir)
        log("removed %s" % p.dir)


def cmd_add_users(a):
    p = Paths(a.dir)
    if not p.provisioned():
        raise Fail("%s holds no provisioned DC" % p.dir)
    spec = None
    if a.spec:
        with open(a.spec, encoding="utf-8") as f:
            spec = json.load(f)
        if not isinstance(spec, list):
            raise Fail("--spec must hold a JSON list")
    elif a.count is None:
        raise Fail("add-users needs --count N or --spec FILE")
    r = add_users(p, count=a.count or 0, ou=a.ou, prefix=a.prefix, start_i=a.start, spec=spec,
                  keep_going=a.keep_going)
    print(json.dumps(r))


def cmd_status(a):
    st = status(Paths(a.dir))
    if a.get:
        v = st.get(a.get)
        if v is None:
            raise Fail("no field %s (have: %s)" % (a.get, ", ".join(st)))
        print(v)
    else:
        print(json.dumps(st))


def cmd_env(a):
    write_env(Paths(a.dir))


def main(argv=None):
    ap = argparse.ArgumentParser(prog="sambadc.py", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)

    def sp(name, fn, helptext):
        s = sub.add_parser(name, help=helptext)
        s.add_argument("--dir", required=True, help="state directory (owned by the caller)")
        s.set_defaults(fn=fn)
        return s

    s = sp("up", cmd_up, "provision (or copy --template), start, add --users N")
    s.add_argument("--users", type=int, default=0, metavar="N")
    s.add_argument("--template", metavar="T",
                   help="directory caching a provisioned, stopped DC (built on first use)")
    sp("start", cmd_start, "start samba from --dir and wait for the rootDSE")
    sp("stop", cmd_stop, "stop samba by its pid file (idempotent)")
    s = sp("down", cmd_down, "stop; --rm also removes --dir")
    s.add_argument("--rm", action="store_true")
    s = sp("add-users", cmd_add_users, "bulk-create users (SamDB batch_mode)")
    s.add_argument("--count", type=int, metavar="N")
    s.add_argument("--ou", default=USERS_OU, metavar="DN")
    s.add_argument("--prefix", default="user")
    s.add_argument("--start", type=int, default=0)
    s.add_argument("--spec", metavar="FILE.json")
    s.add_argument("--keep-going", action="store_true",
                   help="one transaction per user; report rejected users in \"failed\" (exit 0)")
    s = sp("status", cmd_status, "rootDSE highestCommittedUSN, dnsHostName, invocationId as JSON")
    s.add_argument("--get", metavar="FIELD", help="print only this field")
    sp("env", cmd_env, "rewrite D/env.sh and D/env.json")
    a = ap.parse_args(argv)
    os.umask(0o022)
    try:
        a.fn(a)
    except Fail as e:
        log("error: %s" % e)
        return 1
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
