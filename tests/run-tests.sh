#!/bin/bash
# The whole test suite, from a clean clone on Debian 12 as root: installs
# the Debian packages it needs, builds twice (plain, and with ASan+UBSan),
# runs the unit tests of both builds, the integration tests of the
# sanitized build, and those of the plain build (under valgrind memcheck);
# then a clang build runs the libFuzzer targets for a bounded number of
# inputs (tests/fuzz).
#
# Only one Samba AD DC can run at a time, so the tests that need one run
# one after the other, and they take most of the time: each integration
# test runs twice, not three times. The plain build's integration tests
# run under valgrind, all but integration_faults, which runs without it
# (20 times slower there); `ctest -L integration` in any build runs them
# all without valgrind.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
. tests/deps.sh
install_deps

jobs=$(nproc 2>/dev/null || echo 2)
status=0
for variant in plain sanitize; do
	dir="build-test-$variant"
	san=OFF
	[ "$variant" = sanitize ] && san=ON
	echo "== $variant build =="
	cmake -S . -B "$dir" -DRINGSYNC_SANITIZE=$san -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	cmake --build "$dir" -j "$jobs"
	echo "== $variant tests =="
	# Test harnesses written in Python exercise no C code, and the Debian
	# package is built from the sources, not this build: once is enough.
	# The plain build's integration tests run under valgrind below, all
	# but integration_faults (20 times slower there): it runs here.
	# The HA tests (label high_availability: the OCF agent, a cluster, a
	# failover) run in the sanitized build only, and not under valgrind.
	skip=(-E '^integration_(daemon|ad|sync|groups|phone_[a-z_]+|ha_[a-z]+)$')
	[ "$variant" = sanitize ] && skip=(-LE 'harness|packaging')
	(cd "$dir" && ctest --output-on-failure -j "$jobs" "${skip[@]}") || status=1
done
# The integration tests of the plain build again, our binaries under
# valgrind memcheck: no leaks, no invalid access (tests/valgrind.sh).
echo "== valgrind integration tests =="
tests/valgrind.sh build-test-plain || status=1
echo "== fuzz build (clang) =="
cmake -S . -B build-test-fuzz -DCMAKE_C_COMPILER=clang -DRINGSYNC_FUZZ=ON \
	-DRINGSYNC_TESTS=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build-test-fuzz -j "$jobs" --target fuzz
echo "== fuzz tests =="
(cd build-test-fuzz && ctest --output-on-failure -j "$jobs" -L fuzz) || status=1
exit $status
