#!/bin/bash
# ringsync's benchmark (docs/behaviour.md, performance targets): builds ringsyncd (RelWithDebInfo,
# no sanitizers) and the LDAP operation counter, runs every size against a
# throwaway Samba AD DC and the phone-API emulator, and writes the results
# into README.md's "## Performance" section. Debian 12, as root.
#
#   tests/bench/run-bench.sh [--sizes 1000,10000,100000] [--window 6]
#                            [--build DIR] [--out DIR] [--no-readme] [--keep]
#
# See tests/bench/README.md for the phases, the figures and the baselines.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"

sizes=1000,10000,100000
window=6
build="$top/build-bench"
out=
readme=yes
keep=()
while [ $# -gt 0 ]; do
	case "$1" in
	--sizes) sizes=$2; shift 2 ;;
	--window) window=$2; shift 2 ;;
	--build) build=$2; shift 2 ;;
	--out) out=$2; shift 2 ;;
	--no-readme) readme=no; shift ;;
	--keep) keep=(--keep); shift ;;
	-h|--help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "run-bench.sh: unknown argument $1" >&2; exit 2 ;;
	esac
done
out=${out:-$build/bench-results}

. tests/deps.sh
install_deps

jobs=$(nproc 2>/dev/null || echo 2)
[ "$jobs" -gt 2 ] && jobs=2
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRINGSYNC_SANITIZE=OFF \
	-DRINGSYNC_TESTS=OFF >/dev/null
cmake --build "$build" -j "$jobs"
cc -Wall -Wextra -Werror -O2 -shared -fPIC -o "$build/ldapcount.so" \
	tests/bench/ldapcount.c -ldl -llber

mkdir -p "$out"
/usr/bin/python3 tests/bench/bench.py run --build "$build" --sizes "$sizes" \
	--window "$window" --out "$out" --template "$build/samba-template" "${keep[@]}"
if [ "$readme" = yes ]; then
	/usr/bin/python3 tests/bench/bench.py report --out "$out" --readme "$top/README.md"
fi
