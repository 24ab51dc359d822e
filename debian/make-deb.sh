#!/bin/sh
# make-deb.sh -- `make deb`: the Debian packages tq, libtq0 and libtq-dev.
#
#   sh debian/make-deb.sh VERSION COMMIT OUTDIR      (the Makefile passes them)
#
# Copies the source tree (what git tracks plus untracked files it does not
# ignore; without git, everything but build/ and .git) into
# OUTDIR/src/tq-VERSION, writes debian/changelog there from VERSION (the
# Makefile's one version, TQ_VERSION of include/tq/tq.h: no changelog to keep
# in sync) and debian/tq-commit from COMMIT, runs dpkg-buildpackage -us -uc -b
# in the copy, copies the .debs to OUTDIR and runs lintian on them
# (OUTDIR/lintian.txt). Nothing is written into the source tree itself.
# Exit 1 when a tool is missing (`sh .ci/deps` installs them as root) or the
# build fails.
set -eu

[ $# = 3 ] || { echo "usage: make-deb.sh VERSION COMMIT OUTDIR" >&2; exit 2; }
version=$1 commit=$2 out=$3
top=$(cd "$(dirname "$0")/.." && pwd)

for t in dpkg-buildpackage dh; do
    command -v "$t" >/dev/null 2>&1 ||
        { echo "tq: make deb needs $t (sh .ci/deps as root installs dpkg-dev, debhelper)" >&2; exit 1; }
done

mkdir -p "$out"
out=$(cd "$out" && pwd)
src=$out/src/tq-$version
rm -rf "$out/src"
mkdir -p "$src"
rm -f "$out"/*.deb "$out"/*.changes "$out"/*.buildinfo "$out/lintian.txt"

# the copy
cd "$top"
if git -C "$top" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git -C "$top" ls-files -z --cached --others --exclude-standard |
        xargs -0 sh -c 'for f; do [ -e "$f" ] && printf "%s\0" "$f"; done' sh |
        tar --null -T - -cf - | tar -xf - -C "$src"
    date=$(git -C "$top" log -1 --format=%aD 2>/dev/null || date -R)
else
    tar --exclude=./build --exclude=./.git -cf - . | tar -xf - -C "$src"
    date=$(date -R)
fi
printf '%s\n' "$commit" > "$src/debian/tq-commit"
cat > "$src/debian/changelog" <<CL
tq ($version) unstable; urgency=medium

  * Built from the tq source tree at commit $commit (make deb).

 -- tq developers <tq@example.org>  $date
CL

# the package's build is its own: none of the calling make's variables
# (BUILD, OPT, EXTRA_CFLAGS of make asan, ...) reach debian/rules
unset MAKEFLAGS MFLAGS MAKELEVEL MAKEOVERRIDES
echo "tq: dpkg-buildpackage in $src (log: $out/build.log)" >&2
if ! (cd "$src" && dpkg-buildpackage -us -uc -b -jauto) >"$out/build.log" 2>&1; then
    tail -n 40 "$out/build.log" >&2
    echo "tq: dpkg-buildpackage failed (whole log: $out/build.log)" >&2
    exit 1
fi
cp "$out"/src/*.deb "$out"/src/*.changes "$out"/src/*.buildinfo "$out"/
ls -1 "$out"/*.deb >&2

if command -v lintian >/dev/null 2>&1; then
    # the tags left are explained in README.md ("Install from the Debian packages")
    lintian --display-info --pedantic "$out"/*.deb >"$out/lintian.txt" 2>&1 || true
    if [ -s "$out/lintian.txt" ]; then
        echo "tq: lintian says ($out/lintian.txt):" >&2
        sed 's/^/  /' "$out/lintian.txt" >&2
    else
        echo "tq: lintian: no tags" >&2
    fi
else
    echo "tq: lintian is not installed: packages not checked" >&2
fi
