#!/bin/bash
# The demo, from a clean clone on Debian 12 as root: installs the Debian
# packages it needs, builds ringsync, and runs tests/demo/demo.py (a
# throwaway Samba AD DC + the phone-API emulator + one bidirectional sync).
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
cd "$top"
. tests/deps.sh
install_deps
cmake -S . -B build-demo -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build-demo -j "$(nproc 2>/dev/null || echo 2)" >/dev/null
exec /usr/bin/python3 tests/demo/demo.py --build "$top/build-demo"
