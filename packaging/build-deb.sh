#!/bin/bash
# Build the ringsync Debian package from this source tree:
#
#   packaging/build-deb.sh [OUTDIR]
#
# dpkg-buildpackage wants debian/ at the top of the source, so the tree
# (the files git knows of, or without git every file but the build
# directories) is copied to OUTDIR/ringsync-VERSION with packaging/debian
# as its debian/. The source and binary packages, the .changes and the
# build log (build.log) land in OUTDIR (default: a new directory under
# /tmp); the copy is removed. Prints the path of the .deb on stdout.
# Needs the Build-Depends of packaging/debian/control and dpkg-dev.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$(mktemp -d /tmp/ringsync-deb.XXXXXX)}
mkdir -p "$out"
out=$(cd "$out" && pwd)

die() {
	echo "build-deb.sh: $*" >&2
	exit 1
}

# The package version is the project's: they must not drift apart.
version=$(sed -n 's/^project(ringsync VERSION \([0-9.]*\).*/\1/p' \
	"$top/CMakeLists.txt")
[ -n "$version" ] || die "no project(ringsync VERSION ...) in CMakeLists.txt"
changelog_version=$(dpkg-parsechangelog -l "$top/packaging/debian/changelog" \
	-S Version)
[ "$changelog_version" = "$version" ] ||
	die "packaging/debian/changelog is at $changelog_version, CMakeLists.txt" \
		"at $version: add a changelog entry (dch -v $version)"

src="$out/ringsync-$version"
rm -rf "$src"
mkdir "$src"
cd "$top"
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	# Tracked and new files, not ignored ones (build directories), and not
	# files deleted from the working tree.
	git ls-files -z --cached --others --exclude-standard |
		while IFS= read -r -d '' f; do
			[ -e "$f" ] && printf '%s\0' "$f"
		done |
		tar --null -T - -cf - | tar -xf - -C "$src"
else
	tar --exclude='./build*' --exclude='./.git' -cf - . | tar -xf - -C "$src"
fi
rm -rf "$src/debian"
cp -a "$top/packaging/debian" "$src/debian"

# At most two compile jobs (a shared 2-core machine), whatever else the
# caller asks of the build.
export DEB_BUILD_OPTIONS="parallel=2${DEB_BUILD_OPTIONS:+ $DEB_BUILD_OPTIONS}"
if ! (cd "$src" && dpkg-buildpackage -us -uc) >"$out/build.log" 2>&1; then
	tail -n 40 "$out/build.log" >&2
	die "dpkg-buildpackage failed; the whole log is $out/build.log"
fi
rm -rf "$src"

arch=$(dpkg-architecture -qDEB_HOST_ARCH)
deb="$out/ringsync_${version}_${arch}.deb"
[ -f "$deb" ] || die "dpkg-buildpackage made no $deb"
echo "$deb"
