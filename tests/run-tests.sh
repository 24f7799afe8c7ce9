#!/bin/bash
# The whole test suite, from a clean clone on Debian 12 as root: installs
# the Debian packages it needs, builds twice (plain, and with ASan+UBSan),
# and runs every test of both builds with ctest.
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
	# Test harnesses written in Python exercise no C code: once is enough.
	skip=()
	[ "$variant" = sanitize ] && skip=(-LE harness)
	(cd "$dir" && ctest --output-on-failure -j "$jobs" "${skip[@]}") || status=1
done
exit $status
