# Debian 12 packages the build, the tests and the demo need. Sourced by
# tests/run-tests.sh and the demo; install_deps installs what is missing.

RINGSYNC_BUILD_DEPS="build-essential cmake pkg-config libldap2-dev
  libcurl4-openssl-dev libjansson-dev libev-dev liblmdb-dev libinih-dev
  libssl-dev libcmocka-dev libsystemd-dev libwebsockets-dev
  libwebsockets-evlib-ev"
RINGSYNC_TEST_DEPS="python3 openssl ldap-utils lmdb-utils curl
  samba samba-ad-dc samba-ad-provision krb5-user python3-ldb python3-samba
  libsasl2-modules-gssapi-mit valgrind python3-prometheus-client
  clang libclang-rt-14-dev llvm-14
  debhelper dpkg-dev fakeroot lintian man-db groff-base mandoc systemd
  pacemaker corosync resource-agents crmsh libxml2-utils"

install_deps() {
	local missing=""
	for p in $RINGSYNC_BUILD_DEPS $RINGSYNC_TEST_DEPS "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
			missing="$missing $p"
	done
	[ -z "$missing" ] && return 0
	if [ "$(id -u)" != 0 ]; then
		echo "missing Debian packages:$missing (run as root to install them)" >&2
		return 1
	fi
	echo "installing:$missing"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	# shellcheck disable=SC2086
	apt-get install -y -qq --no-install-recommends $missing >/dev/null
}
