#!/usr/bin/python3
"""ringsync demo: a throwaway Samba AD DC with sample users, the phone-API
emulator with free extensions and numbers, one full bidirectional sync by
the real ringsyncd, and a before/after table. Everything it starts is
stopped by PID when it ends, also on Ctrl-C.

    tests/demo/demo.py --build BUILD_DIR
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
import rstest            # noqa: E402  (process handling, emulator)
import samba_fixture     # noqa: E402  (the throwaway DC)

OU = "OU=Demo,OU=Corp,DC=example,DC=test"
PEOPLE = [  # cn, given, sn, state, country, department
    ("ann.lee", "Ann", "Lee", "CA", "US", "Sales"),
    ("bo.chen", "Bo", "Chen", "California", "US", "Sales"),
    ("cara.diaz", "Cara", "Diaz", "NY", "US", "Support"),
    ("dev.patel", "Dev", "Patel", "Texas", "US", "Engineering"),
    ("eve.martin", "Eve", "Martin", "ON", "CA", "Engineering"),
    ("finn.roy", "Finn", "Roy", "Quebec", "CA", "Finance"),
    ("gail.kim", "Gail", "Kim", "WA", "US", "Finance"),
    ("hugo.silva", "Hugo", "Silva", "FL", "US", "Marketing"),
    ("iris.novak", "Iris", "Novak", "IL", "US", "Marketing"),
    ("jon.berg", "Jon", "Berg", "MA", "US", "Engineering"),
    ("kai.ito", "Kai", "Ito", "BC", "CA", "Support"),
    ("lena.voss", "Lena", "Voss", "Oregon", "US", "Legal"),
    ("mo.ali", "Mo", "Ali", "GA", "US", "Legal"),
    ("nia.okafor", "Nia", "Okafor", "CO", "US", "Sales"),
    ("omar.haddad", "Omar", "Haddad", "AZ", "US", "Operations"),
    ("pia.larsen", "Pia", "Larsen", "MN", "US", "Operations"),
    ("quinn.ross", "Quinn", "Ross", "Alberta", "CA", "Support"),
    ("raj.iyer", "Raj", "Iyer", "NJ", "US", "Engineering"),
    ("sara.cohen", "Sara", "Cohen", "PA", "US", "Finance"),
    ("tom.wu", "Tom", "Wu", "CA", "US", "Engineering"),
    ("uma.rao", "Uma", "Rao", "VA", "US", "HR"),
    # bad data
    ("vic.bad", "Vic", "Bad", "Calif.", "US", "Sales"),       # invalid state
    ("wes.dup", "Wes", "Dup", "CA", "US", "Sales"),           # two phone users share the email
    ("xena.nomail", "Xena", "Nomail", "CA", "US", "HR"),     # no mail
    ("yuri.linked", "Yuri", "Linked", "CA", "US", "Support"),  # exists on the phone side
]


def ad_users(dc):
    rows = dc.search(OU, "(objectClass=user)", ["cn", "mail", "telephoneNumber",
                                                "ipPhone"], scope="one")
    return {r["cn"][0]: {k: (r.get(k.lower()) or [""])[0]
                         for k in ("mail", "telephoneNumber", "ipPhone")} for r in rows}


def table(title, rows, header):
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
    line = "  ".join("-" * w for w in widths)
    print("\n" + title)
    print("  ".join(h.ljust(w) for h, w in zip(header, widths)))
    print(line)
    for r in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(r, widths)))


class Demo(rstest.TestCase):
    """Borrows the test helpers' process handling; not a test."""

    def runTest(self):
        pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    args = ap.parse_args()
    ringsyncd = os.path.join(args.build, "daemon", "ringsyncd")
    demo = Demo()
    demo.setUp()
    try:
        run(demo, ringsyncd, args.build)
    finally:
        samba_fixture._stop_leftovers()   # the DC first: its files go next
        demo.doCleanups()


def run(demo, ringsyncd, build):
    print("starting a throwaway Samba AD DC on loopback ...")
    dc = samba_fixture.DC(os.path.join(demo.tmp, "dc"),
                          template=os.path.join(build, "samba-template"))
    spec = []
    for cn, given, sn, st, c, dept in PEOPLE:
        attrs = {"givenName": given, "sn": sn, "st": st, "c": c, "department": dept,
                 "l": "Springfield", "mobile": "(650) 555-%04d" % (len(spec) + 100),
                 "mail": cn + "@example.test", "sAMAccountName": cn[:20]}
        if cn == "xena.nomail":
            del attrs["mail"]
        spec.append({"cn": cn, "ou": OU, "attrs": attrs})
    dc.add_users(spec, demo.tmp)
    print("starting the phone-API emulator ...")
    emu = rstest.Emulator(demo, seed={
        "free_extensions": {"count": 30, "start": 201},
        "inventory_numbers": {"count": 20, "start": "+16505550100"},
        "main_number": "+16505550000",
        "extensions": [
            {"id": 101, "extensionNumber": "101", "contact": {
                "firstName": "Yuri", "lastName": "L.", "email": "Yuri.Linked@example.test"}},
            {"id": 102, "extensionNumber": "102", "contact": {
                "firstName": "Wes", "lastName": "One", "email": "wes.dup@example.test"}},
            {"id": 103, "extensionNumber": "103", "contact": {
                "firstName": "Wes", "lastName": "Two", "email": "wes.dup@example.test"}}],
        "numbers": [{"phoneNumber": "+16505559101", "extensionId": 101}]},
        args=["--window", "2"])
    env = dc.env
    conf = demo.write("ringsyncd.conf", "\n".join([
        "[ldap]", "uri = " + env["LDAP_URI"], "base_dn = " + OU,
        "user_filter = (&(objectCategory=person)(objectClass=user))",
        "bind_dn = " + env["SVC_DN"], "bind_password_file = " + env["SVC_PW_FILE"],
        "tls_ca_cert = " + env["CA_CERT"],
        "[telephony]", "brand = RingCentral", "server = " + emu.url,
        "client_id = ringsync-test", "client_secret_file = " + emu.secret_file,
        "jwt_file = " + emu.jwt_file,
        "[sync]", "state_dir = " + os.path.join(demo.tmp, "state")]) + "\n", 0o644)
    before = ad_users(dc)
    phone_before = emu.users_by_email()
    print("\nbefore: %d AD users in %s, %d phone users, %d free extensions"
          % (len(before), OU, sum(len(v) for v in phone_before.values()),
             len([x for x in emu.state()["extensions"] if x["status"] == "Unassigned"])))
    print("running: ringsyncd --once (AD scan, import and link, push, write-back) ...")
    rc, out = demo.run_cmd([ringsyncd, "--once", "-c", conf])
    after = ad_users(dc)
    phone = emu.users_by_email()
    failures = {}
    for line in out.splitlines():
        m = re.search(r"user failed: (.*?) dn=\"?CN=([^,]+),", line)
        if m:
            failures.setdefault(m.group(2), m.group(1))
    created = {m.group(1) for m in re.finditer(r"phone user created dn=CN=([^,]+),", out)}
    linked = {m.group(1) for m in re.finditer(r"phone user linked by (?:email|import) "
                                                r"dn=\"?CN=([^,]+),", out)}
    rows = []
    for cn, *_ in PEOPLE:
        b, a = before.get(cn, {}), after.get(cn, {})
        email = a.get("mail") or ""
        accts = phone.get(email.lower(), []) if email else []
        acct = "created" if cn in created else "linked" if cn in linked else "-"
        ext = ",".join(x["extensionNumber"] for x in accts) if acct != "-" else ""
        rows.append((cn, email or "(no mail)", acct, ext, b.get("telephoneNumber") or "-",
                     a.get("telephoneNumber") or "-", a.get("ipPhone") or "-"))
    table("after one bidirectional sync (exit status %d):" % rc, rows,
          ("AD user", "mail", "phone account", "ext", "telephoneNumber before",
           "telephoneNumber after", "ipPhone after"))
    table("users that failed, as ringsyncd logged them:",
          [(cn, msg[:110]) for cn, msg in sorted(failures.items())] or [("-", "-")],
          ("AD user", "message"))
    summary = [l for l in out.splitlines() if "cycle done" in l]
    print("\nringsyncd's cycle summaries:")
    for l in summary:
        print("  " + l.split(": ", 1)[-1])
    print("\nthe demo stops what it started and removes %s" % demo.tmp)


if __name__ == "__main__":
    main()
