#!/bin/bash
# shellcheck disable=SC2016,SC2119,SC2120  # bash -c '...' _ args and arg-less helpers are deliberate
# Self-test of sambadc.py: brings up throwaway Samba AD DCs in a temp dir and checks
# what ringsync's integration tests rely on. Needs root (LDAP ports) and the Debian
# packages listed in README.md. Exits non-zero on any failure; the DCs are stopped by
# PID and the temp dir removed on exit, failure or interrupt.
set -u -o pipefail

# One DC session at a time machine-wide, as samba_fixture.py takes it: wait
# for the lock, then hold it (inherited descriptor) until this script ends.
if [ -z "${RINGSYNC_SAMBA_SESSION_HELD:-}" ]; then
  export RINGSYNC_SAMBA_SESSION_HELD=1
  exec flock /tmp/ringsync-samba-session.lock "$0" "$@"
fi

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SAMBADC=(/usr/bin/python3 "$HERE/sambadc.py")
T=$(mktemp -d /tmp/ringsync-samba-selftest.XXXXXX)
PASS=0
FAIL=0
T0=$(date +%s.%N)

cleanup() {
  local rc=$? d pid
  trap - EXIT INT TERM
  for d in "$T/d1" "$T/d2" "$T/d3" "$T/tmpl/dc"; do
    [ -f "$d/samba.pid" ] || continue
    if ! "${SAMBADC[@]}" stop --dir "$d" >/dev/null 2>&1; then
      pid=$(cat "$d/samba.pid" 2>/dev/null) && [ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null
    fi
  done
  rm -rf "$T"
  exit "$rc"
}
trap cleanup EXIT
trap 'echo "selftest: interrupted" >&2; exit 130' INT TERM

say() { printf '%s\n' "$*"; }
ok() { PASS=$((PASS + 1)); say "ok   $*"; }
bad() { FAIL=$((FAIL + 1)); say "FAIL $*"; }
# check NAME CMD...: runs CMD, passes when it exits 0
check() { local n=$1; shift; if "$@" >/dev/null; then ok "$n"; else bad "$n"; fi; }
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
elapsed() { secs "$T0" "$(now)"; }
die() { bad "$*"; say "$PASS passed, $FAIL failed ($(elapsed) s)"; exit 1; }

load_env() { # load D/env.sh into this shell (not exported)
  # shellcheck disable=SC1090,SC1091
  . "$1/env.sh"
}

# LDAP helpers: CA verified, libldap's config files do not matter.
lds() { # ldapsearch as the service account over LDAPS
  LDAPTLS_CACERT=$CA_CERT LDAPTLS_REQCERT=demand \
    ldapsearch -LLL -o ldif-wrap=no -o nettimeout=10 -x -H "$LDAP_URI" -D "$SVC_DN" -y "$SVC_PW_FILE" "$@"
}
lds_starttls() {
  LDAPTLS_CACERT=$CA_CERT LDAPTLS_REQCERT=demand \
    ldapsearch -LLL -o ldif-wrap=no -o nettimeout=10 -ZZ -x -H "$LDAP_URI_STARTTLS" -D "$SVC_DN" -y "$SVC_PW_FILE" "$@"
}
ldm_svc() {
  LDAPTLS_CACERT=$CA_CERT LDAPTLS_REQCERT=demand ldapmodify -x -H "$LDAP_URI" -D "$SVC_DN" -y "$SVC_PW_FILE" "$@"
}
ld_admin() { # ld_admin ldapdelete|ldapmodify ARGS
  local tool=$1; shift
  LDAPTLS_CACERT=$CA_CERT LDAPTLS_REQCERT=demand "$tool" -x -H "$LDAP_URI" -D "$ADMIN_DN" -y "$ADMIN_PW_FILE" "$@"
}
gss() { # a tool over SASL/GSSAPI with the service account's keytab, no kinit
  KRB5_CONFIG=$KRB5_CONFIG KRB5_CLIENT_KTNAME=$KEYTAB KRB5CCNAME=$KRB5CCNAME "$@"
}
count_dn() { grep -c '^dn:' || true; }
guid_of_b64() { /usr/bin/python3 -c 'import sys,uuid,base64; print(uuid.UUID(bytes_le=base64.b64decode(sys.argv[1])))' "$1"; }
attr() { sed -n "s/^$1: //p" | head -1; }
attr64() { sed -n "s/^$1:: //p" | head -1; }

say "selftest: temp dir $T"

# ---------------------------------------------------------------- 1. fresh provision
D1=$T/d1
t=$(now)
if "${SAMBADC[@]}" up --dir "$D1" --users 50 >"$T/up1.json" 2>"$T/up1.err"; then
  ok "up --dir d1 --users 50 ($(secs "$t" "$(now)") s: $(tr -d '\n' <"$T/up1.json" | sed 's/.*"timings": //'))"
else
  cat "$T/up1.err"; die "up --dir d1 --users 50"
fi
load_env "$D1"

missing=""
for k in LDAP_URI LDAP_URI_STARTTLS LDAP_URI_GSSAPI BASE_DN USERS_OU MOVED_OU ADMIN_DN ADMIN_PW_FILE \
  SVC_DN SVC_PW_FILE SVC_SID CA_CERT KRB5_CONFIG KEYTAB SAMBA_PID SMB_CONF; do
  [ -n "${!k:-}" ] || missing="$missing $k"
  /usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); sys.exit(0 if d.get(sys.argv[2]) else 1)' \
    "$D1/env.json" "$k" || missing="$missing json:$k"
done
check "env.sh and env.json hold all keys${missing:+ (missing:$missing)}" test -z "$missing"
check "SAMBA_PID matches samba.pid and is alive" \
  bash -c '[ "$1" = "$(cat "$2")" ] && kill -0 "$1"' _ "$SAMBA_PID" "$D1/samba.pid"
pwok=1
for f in "$ADMIN_PW_FILE" "$SVC_PW_FILE"; do
  [ "$(stat -c %a "$f")" = 600 ] || pwok=0
  [ -n "$(tail -c1 "$f" | tr -d '\n')" ] || pwok=0
done
check "password files are 0600 without trailing newline" test "$pwok" = 1
check "up did not print a password" \
  bash -c '! grep -qF -e "$(cat "$1")" -e "$(cat "$2")" "$3" "$4"' _ "$ADMIN_PW_FILE" "$SVC_PW_FILE" "$T/up1.json" "$T/up1.err"

# ---------------------------------------------------------------- 2. TLS, binds, reads
check "rootDSE anonymously over ldaps://127.0.0.1 with the CA verified" \
  bash -c 'LDAPTLS_CACERT=$1 LDAPTLS_REQCERT=demand ldapsearch -LLL -x -H ldaps://127.0.0.1 -b "" -s base dnsHostName | grep -q "^dnsHostName: dc1.example.test"' _ "$CA_CERT"
check "ldaps fails against the system CA bundle (verification is real)" \
  bash -c '! LDAPTLS_CACERT=/etc/ssl/certs/ca-certificates.crt LDAPTLS_REQCERT=demand ldapsearch -LLL -o nettimeout=5 -x -H ldaps://127.0.0.1 -b "" -s base dn >/dev/null 2>&1'
check "ldaps://[::1] verifies too" \
  bash -c 'LDAPTLS_CACERT=$1 LDAPTLS_REQCERT=demand ldapsearch -LLL -x -H "ldaps://[::1]" -b "" -s base dn >/dev/null' _ "$CA_CERT"

n=$(lds -b "$USERS_OU" -E pr=500/noprompt '(&(objectClass=user)(objectCategory=person))' dn | count_dn)
check "service account, LDAPS, paged 500: 50 users (got $n)" test "$n" = 50
n=$(lds -b "$BASE_DN" -E pr=7/noprompt '(&(objectClass=user)(mail=*@example.test))' dn | count_dn)
check "service account, LDAPS, paged 7 from the base DN: 50 users (got $n)" test "$n" = 50
n=$(lds_starttls -b "$USERS_OU" -E pr=500/noprompt '(objectClass=user)' dn | count_dn)
check "service account, StartTLS, paged: 50 users (got $n)" test "$n" = 50
out=$(ldapsearch -LLL -x -H ldap://127.0.0.1 -D "$SVC_DN" -y "$SVC_PW_FILE" -b "$BASE_DN" -s base dn 2>&1)
check "simple bind on plain 389 is refused" grep -q "Strong(er) authentication required" <<<"$out"

u7=$(lds -b "$USERS_OU" '(sAMAccountName=user7)' mail mobile st c postalCode userAccountControl)
check "sample user7 has mail, mobile, st, c, UAC 512" \
  bash -c 'grep -q "^mail: user7@example.test" <<<"$1" && grep -q "^mobile: " <<<"$1" && grep -q "^st: " <<<"$1" && grep -q "^c: " <<<"$1" && grep -q "^userAccountControl: 512" <<<"$1"' _ "$u7"

ds=$(LDAPTLS_CACERT=$CA_CERT ldapsearch -LLL -o ldif-wrap=no -x -H "$LDAP_URI" -b "" -s base dsServiceName | attr dsServiceName)
inv64=$(lds -b "$ds" -s base invocationId | attr64 invocationId)
inv1=""
[ -n "$inv64" ] && inv1=$(guid_of_b64 "$inv64")
st_inv=$("${SAMBADC[@]}" status --dir "$D1" --get invocationId 2>&1)
check "invocationId readable by the service account ($inv1) and equal to status ($st_inv)" \
  bash -c '[ -n "$1" ] && [ "$1" = "$2" ]' _ "$inv1" "$st_inv"
status_json=$("${SAMBADC[@]}" status --dir "$D1")
check "status prints highestCommittedUSN and dnsHostName" \
  bash -c 'grep -q "\"highestCommittedUSN\": [0-9]" <<<"$1" && grep -q "\"dnsHostName\": \"dc1.example.test\"" <<<"$1"' _ "$status_json"

# ---------------------------------------------------------------- 3. delegated writes
U3="CN=user3,$USERS_OU"
out=$(printf 'dn: %s\nchangetype: modify\nreplace: telephoneNumber\ntelephoneNumber: +1 650 555 9003\n-\nreplace: ipPhone\nipPhone: 9003\n-\n' "$U3" | ldm_svc 2>&1)
check "service account writes telephoneNumber and ipPhone" test $? = 0
tn=$(lds -b "$U3" -s base telephoneNumber | attr telephoneNumber)
check "telephoneNumber reads back ($tn)" test "$tn" = "+1 650 555 9003"
out=$(printf 'dn: %s\nchangetype: modify\nreplace: mail\nmail: hijack@example.test\n' "$U3" | ldm_svc 2>&1)
rc=$?
check "service account gets Insufficient access (50) on mail (rc $rc)" \
  bash -c '[ "$1" = 50 ] && grep -q "Insufficient access" <<<"$2"' _ "$rc" "$out"
out=$(printf 'dn: %s\nchangetype: modify\nreplace: mobile\nmobile: 1\n' "$U3" | ldm_svc 2>&1)
rc=$?
check "service account gets rc 50 on mobile (rc $rc)" test "$rc" = 50

# ---------------------------------------------------------------- 4. tombstones
U5="CN=user5,$USERS_OU"
g5=$(lds -b "$U5" -s base objectGUID | attr64 objectGUID)
ld_admin ldapdelete "$U5" >/dev/null 2>&1
check "admin deletes user5" test $? = 0
n=$(lds -b "$USERS_OU" '(sAMAccountName=user5)' dn | count_dn)
check "user5 gone from the OU" test "$n" = 0
tomb=$(lds -E '!1.2.840.113556.1.4.417' -E pr=500/noprompt -b "$DELETED_OBJECTS_DN" -s one \
  '(&(objectClass=user)(sAMAccountName=user5))' objectGUID isDeleted lastKnownParent uSNChanged)
check "service account sees user5's tombstone with Show Deleted (same objectGUID, isDeleted)" \
  bash -c '[ -n "$1" ] && grep -q "^objectGUID:: $1" <<<"$2" && grep -q "^isDeleted: TRUE" <<<"$2"' _ "$g5" "$tomb"
n=$(lds -b "$DELETED_OBJECTS_DN" -s one '(sAMAccountName=user5)' dn | count_dn)
check "without Show Deleted the tombstone is invisible" test "$n" = 0

# ---------------------------------------------------------------- 5. GSSAPI
out=$(gss ldapsearch -LLL -N -Y GSSAPI -H "$LDAP_URI_GSSAPI" -b "$BASE_DN" -s base dn 2>&1)
rc=$?
check "GSSAPI bind with the keytab (rc $rc)" \
  bash -c '[ "$1" = 0 ] && grep -q "SASL username: svc-ringsync@EXAMPLE.TEST" <<<"$2" && grep -q "^dn: DC=example,DC=test" <<<"$2"' _ "$rc" "$out"
out=$(printf 'dn: CN=user4,%s\nchangetype: modify\nreplace: otherTelephone\notherTelephone: 4444\n' "$USERS_OU" |
  gss ldapmodify -N -Y GSSAPI -H "$LDAP_URI_GSSAPI" 2>&1)
check "GSSAPI write of otherTelephone" test $? = 0

# ---------------------------------------------------------------- 6. exact users from a spec
cat >"$T/spec.json" <<EOF
[
 {"cn": "Zoë Ñúñez-Ørsted 🚀", "attrs": {"sAMAccountName": "zoe.n", "givenName": "Zoë", "sn": "Ñúñez-Ørsted", "mail": "zoe@example.test", "st": "Québec", "c": "CA", "mobile": "+1 (514) 555-0199 ext. 7"}},
 {"cn": "nomail", "attrs": {"givenName": "No", "sn": "Mail", "mobile": "650 555 0100"}},
 {"cn": "disabled.user", "disabled": true, "attrs": {"mail": "disabled.user@example.test"}},
 {"cn": "longvalues", "attrs": {"mail": "longvalues@example.test", "streetAddress": "$(printf 'x%.0s' $(seq 1 1000))", "description": "$(printf 'y%.0s' $(seq 1 1024))", "displayName": "$(printf 'Ü%.0s' $(seq 1 256))"}},
 {"cn": "moved, with comma", "ou": "OU=Moved,DC=example,DC=test", "attrs": {"mail": "comma@example.test"}}
]
EOF
out=$("${SAMBADC[@]}" add-users --dir "$D1" --spec "$T/spec.json" 2>&1)
check "add-users --spec (5 exact users): $out" grep -q '"count": 5' <<<"$out"
z=$(lds -b "$USERS_OU" '(sAMAccountName=zoe.n)' cn st)
check "odd UTF-8 reads back" bash -c 'grep -qF "cn:: $(printf "%s" "Zoë Ñúñez-Ørsted 🚀" | base64 -w0)" <<<"$1"' _ "$z"
check "user without mail exists and has no mail" \
  bash -c '[ "$(grep -c "^dn:" <<<"$1")" = 1 ] && ! grep -q "^mail:" <<<"$1"' _ "$(lds -b "$USERS_OU" '(cn=nomail)' mail dn)"
check "disabled user has UAC 514" \
  bash -c 'grep -q "^userAccountControl: 514" <<<"$1"' _ "$(lds -b "$USERS_OU" '(cn=disabled.user)' userAccountControl)"
check "cn with a comma lands in OU=Moved" \
  bash -c 'grep -q "^dn: CN=moved\\\\, with comma,OU=Moved" <<<"$1"' _ "$(lds -b "$MOVED_OU" '(mail=comma@example.test)' dn)"

check "values at the schema's rangeUpper are kept (streetAddress 1000, description 1024, displayName 256)" \
  bash -c 'grep -q "^description: y\{1024\}$" <<<"$1" && [ "$(grep -c "^streetAddress: x\{1000\}$" <<<"$1")" = 1 ]' _ \
  "$(lds -b "$USERS_OU" '(cn=longvalues)' description streetAddress)"
printf '[{"cn": "ok.one", "attrs": {"mail": "ok.one@example.test"}}, {"cn": "too.long", "attrs": {"st": "%s"}}]' \
  "$(printf 's%.0s' $(seq 1 129))" >"$T/bad.json"
out=$("${SAMBADC[@]}" add-users --dir "$D1" --spec "$T/bad.json" 2>&1)
rc=$?
check "a value over rangeUpper (st 129) fails the batch, names the user, adds nothing" \
  bash -c '[ "$1" != 0 ] && grep -q "too.long" <<<"$2" && [ -z "$3" ]' _ "$rc" "$out" \
  "$(lds -b "$USERS_OU" '(|(cn=ok.one)(cn=too.long))' dn)"
out=$("${SAMBADC[@]}" add-users --dir "$D1" --spec "$T/bad.json" --keep-going 2>&1)
check "--keep-going adds the good user and reports the bad one" \
  bash -c 'grep -q "\"count\": 1," <<<"$1" && grep -q "CN=too.long" <<<"$1" && [ "$(grep -c "^dn:" <<<"$2")" = 1 ]' _ "$out" \
  "$(lds -b "$USERS_OU" '(|(cn=ok.one)(cn=too.long))' dn)"

# ---------------------------------------------------------------- 7. one DC at a time
out=$("${SAMBADC[@]}" up --dir "$T/d2" 2>&1)
rc=$?
check "a second up while d1 runs fails, naming d1's pid file" \
  bash -c '[ "$1" != 0 ] && grep -qF "$2/samba.pid" <<<"$3"' _ "$rc" "$D1" "$out"
rm -rf "$T/d2"

# ---------------------------------------------------------------- 8. stop / start
t=$(now)
check "stop d1" "${SAMBADC[@]}" stop --dir "$D1"
tstop=$(secs "$t" "$(now)")
check "stop left no listener on 389/636 and removed samba.pid" \
  bash -c '! ss -ltnH "( sport = :389 or sport = :636 )" | grep -q . && [ ! -e "$1/samba.pid" ]' _ "$D1"
check "stop again is a no-op (rc 0)" "${SAMBADC[@]}" stop --dir "$D1"
t=$(now)
check "start d1" "${SAMBADC[@]}" start --dir "$D1"
tstart=$(secs "$t" "$(now)")
say "     (stop ${tstop} s, start ${tstart} s incl. rootDSE wait)"
load_env "$D1"
inv2=$("${SAMBADC[@]}" status --dir "$D1" --get invocationId)
check "restart keeps the invocationId ($inv2)" test "$inv1" = "$inv2"
check "start while running is idempotent (same pid)" \
  bash -c '[ "$("$@" start --dir "$0" 2>/dev/null)" = "$(cat "$0/samba.pid")" ]' "$D1" "${SAMBADC[@]}"
n=$(lds -b "$USERS_OU" -E pr=500/noprompt '(&(objectClass=user)(sAMAccountName=user*))' dn | count_dn)
check "users survive the restart (49 after the delete; got $n)" test "$n" = 49

# ---------------------------------------------------------------- 9. bulk users
out=$("${SAMBADC[@]}" add-users --dir "$D1" --count 2000 --prefix bulk 2>&1)
check "add-users --count 2000 (samba running): $out" grep -q '"count": 2000' <<<"$out"
n=$(lds -b "$USERS_OU" -E pr=500/noprompt '(sAMAccountName=bulk*)' dn | count_dn)
check "2000 bulk users served at once over LDAPS (got $n)" test "$n" = 2000
m=$(lds -b "CN=bulk1999,$USERS_OU" -s base mail | attr mail)
check "bulk1999 has mail bulk1999@example.test" test "$m" = bulk1999@example.test

check "down d1" "${SAMBADC[@]}" down --dir "$D1"

# ---------------------------------------------------------------- 10. template
TP=$T/tmpl
t=$(now)
if "${SAMBADC[@]}" up --dir "$T/d2" --template "$TP" >"$T/up2.json" 2>"$T/up2.err"; then
  ok "up --template (first use builds it) ($(secs "$t" "$(now)") s: $(tr -d '\n' <"$T/up2.json" | sed 's/.*"timings": //'))"
else
  cat "$T/up2.err"; die "up --template (build)"
fi
load_env "$T/d2"
inv_d2=$("${SAMBADC[@]}" status --dir "$T/d2" --get invocationId)
check "d2 status works" test -n "$inv_d2"
check "down d2" "${SAMBADC[@]}" down --dir "$T/d2" --rm
check "down --rm removed d2" test ! -e "$T/d2"

t=$(now)
if "${SAMBADC[@]}" up --dir "$T/d3" --template "$TP" --users 10 >"$T/up3.json" 2>"$T/up3.err"; then
  ok "up --template copy --users 10 ($(secs "$t" "$(now)") s: $(tr -d '\n' <"$T/up3.json" | sed 's/.*"timings": //'))"
else
  cat "$T/up3.err"; die "up --template (copy)"
fi
load_env "$T/d3"
check "the copy's smb.conf names only d3, not the template" \
  bash -c '! grep -qF "$1/dc" "$2" && grep -q "private dir = $3/private" "$2" && grep -q "tls keyfile = $3/tls/key.pem" "$2"' _ "$TP" "$SMB_CONF" "$T/d3"
check "the copy's env points into d3" test "$CA_CERT" = "$T/d3/tls/ca.pem"
n=$(lds -b "$USERS_OU" -E pr=500/noprompt '(objectClass=user)' dn | count_dn)
check "copy: service account, LDAPS, paged: 10 users (got $n)" test "$n" = 10
out=$(gss ldapsearch -LLL -N -Y GSSAPI -H "$LDAP_URI_GSSAPI" -b "$BASE_DN" -s base dn 2>&1)
check "copy: GSSAPI bind with the copied keytab" grep -q "^dn: DC=example,DC=test" <<<"$out"
tomb_ok=$(lds -E '!1.2.840.113556.1.4.417' -b "$DELETED_OBJECTS_DN" -s base dn | count_dn)
check "copy: service account can read CN=Deleted Objects" test "$tomb_ok" = 1
out=$(printf 'dn: CN=user1,%s\nchangetype: modify\nreplace: telephoneNumber\ntelephoneNumber: 1\n' "$USERS_OU" | ldm_svc 2>&1)
check "copy: service account writes telephoneNumber" test $? = 0
inv_d3=$("${SAMBADC[@]}" status --dir "$T/d3" --get invocationId)
check "copies of one template share its DC identity (invocationId $inv_d3)" test "$inv_d3" = "$inv_d2"
check "down d3 --rm" "${SAMBADC[@]}" down --dir "$T/d3" --rm

say "$PASS passed, $FAIL failed ($(elapsed) s)"
[ "$FAIL" = 0 ]
