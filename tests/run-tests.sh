#!/bin/bash
# The whole test suite, from a clean clone on Debian 12 as root: installs
# the Debian packages it needs, builds twice (plain, and with ASan+UBSan),
# and runs every test of both builds with ctest; then a clang build runs
# the libFuzzer targets for a bounded number of inputs (tests/fuzz).
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
	skip=()
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
