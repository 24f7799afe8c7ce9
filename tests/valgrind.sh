#!/bin/bash
# Valgrind memcheck over the integration tests of a plain build (issue #8):
# the Python tests start ringsyncd, ringsyncctl and ad_driver through
# RINGSYNC_WRAPPER (tests/integration/rstest.py), the C integration tests run
# under valgrind themselves. Every process writes its own report; any error
# (invalid access, uninitialised value, a definitely or indirectly lost
# block) fails the stage, also in a process whose exit status no test
# checks. Suppressions: tests/valgrind.supp (third-party libraries only).
#
#   tests/valgrind.sh BUILD_DIR [REGEX]
#
# About 5 minutes on 2 cores. By default integration_faults is left out (it
# would double that; its fault paths are checked with REGEX
# integration_faults); with REGEX, the integration tests whose names match.
set -uo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:?usage: tests/valgrind.sh BUILD_DIR [REGEX]}" && pwd)
only=${2:-}
logs=$build/valgrind
rm -rf "$logs"
mkdir -p "$logs"

export RINGSYNC_WRAPPER="valgrind --error-exitcode=99 --leak-check=full
  --errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect
  --num-callers=40 --suppressions=$top/tests/valgrind.supp
  --log-file=$logs/%p.log"
# Waits in the tests: valgrind makes our binaries 10 to 50 times slower.
export RINGSYNC_TIMEOUT_SCALE=${RINGSYNC_TIMEOUT_SCALE:-10}
status=0

# The C tests (the phone client against the emulator) are mostly waits on
# rate windows and timeouts: they run beside the Python ones.
c_tests() {
	local t rc=0
	for t in api faults pacing; do
		[ -n "$only" ] && ! [[ integration_phone_$t =~ $only ]] && continue
		echo "valgrind: integration_phone_$t"
		(cd "$build/tests/integration/phone" &&
			RINGSYNC_SOURCE_DIR=$top $RINGSYNC_WRAPPER ./test_phone_$t) \
			>"$logs/integration_phone_$t.out" 2>&1 ||
			{ echo "valgrind: integration_phone_$t failed:"; tail -40 \
				"$logs/integration_phone_$t.out"; rc=1; }
	done
	return $rc
}
c_tests &
c_pid=$!

# ctest runs the Python tests; the C ones run above, under valgrind.
skip='^integration_(phone_(api|faults|pacing)|faults)$'
[ -n "$only" ] && skip='^integration_phone_(api|faults|pacing)$'
(cd "$build" && ctest --output-on-failure -j 2 -L integration -E "$skip" \
	${only:+-R "$only"}) || status=1
wait $c_pid || status=1

# Every process's report: error summaries and lost blocks.
bad=$(grep -L "ERROR SUMMARY: 0 errors" "$logs"/*.log 2>/dev/null |
	xargs -r grep -l "ERROR SUMMARY")
n=$(ls "$logs"/*.log 2>/dev/null | wc -l)
if [ -n "$bad" ]; then
	for f in $bad; do
		echo "== valgrind: $f"
		cat "$f"
	done
	echo "valgrind: errors in $(echo "$bad" | wc -l) of $n processes (reports in $logs)"
	status=1
else
	echo "valgrind: $n processes, no errors (reports in $logs)"
fi
exit $status
