#!/usr/bin/env bash
# install-patroni4.sh — Patroni 4.1 (Debian sid's `patroni` package) for the compatibility tests,
# kept in a cache; prints the folder holding `patroni` and `patronictl` on stdout.
#
# Patroni is architecture-independent Python, and 4.1 runs on bookworm's Python 3.11 with
# bookworm's python3-* libraries (the ones Debian's patroni 3.0.2 package pulls in; python3-cdiff
# stands in for ydiff). Nothing from sid is installed into the system: the one .deb is fetched
# with an apt configuration private to the cache, unpacked with dpkg-deb -x, and run through two
# small wrappers that put its modules ahead of bookworm's patroni 3.0.2 and call /usr/bin/python3
# (a python3 of a virtualenv or pyenv earlier on PATH would not see the python3-* packages).
#
# env: WARDEN_PATRONI_CACHE  where it lives (default /var/cache/warden/patroni4)
#      MIRROR                Debian mirror (default: the first Debian URI of the host's apt sources)
# Needs root the first time (apt-get install of the python3-* libraries); later runs only read the cache.
set -euo pipefail

CACHE=${WARDEN_PATRONI_CACHE:-/var/cache/warden/patroni4}
SUITE=sid
PYDEPS=(python3-psycopg2 python3-yaml python3-click python3-prettytable python3-dateutil
	python3-urllib3 python3-psutil python3-etcd python3-cdiff)

say() { printf 'install-patroni4: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

# shellcheck source=scripts/debian-host.sh
source "$(dirname "${BASH_SOURCE[0]}")/debian-host.sh"

# usable: a finished install whose patronictl answers with a 4.x version.
usable() {
	[[ -f $CACHE/.installed ]] || return 1
	"$CACHE/bin/patronictl" version 2>/dev/null | grep -qE 'patronictl version 4\.'
}

write_wrapper() {
	local tool=$1
	cat >"$CACHE/bin/$tool" <<EOF
#!/bin/sh
PYTHONPATH="$CACHE/root/usr/lib/python3/dist-packages\${PYTHONPATH:+:\$PYTHONPATH}" exec /usr/bin/python3 -s "$CACHE/root/usr/bin/$tool" "\$@"
EOF
	chmod 755 "$CACHE/bin/$tool"
}

fetch() {
	local apt=$CACHE/.apt deb
	MIRROR=${MIRROR:-$(debian_mirror)}
	[[ -n $MIRROR ]] || die "no Debian mirror in the host's apt sources; set MIRROR"
	host_install "${PYDEPS[@]}"
	mkdir -p "$apt/lists/partial" "$apt/archives/partial"
	echo "deb $MIRROR $SUITE main" >"$apt/sources.list"
	: >"$apt/status"
	local opts=(-o Dir::Etc::sourcelist="$apt/sources.list" -o Dir::Etc::sourceparts=/dev/null
		-o Dir::Etc::preferences=/dev/null -o Dir::Etc::preferencesparts=/dev/null
		-o Dir::State::Lists="$apt/lists" -o Dir::State::status="$apt/status"
		-o Dir::Cache="$apt" -o Dir::Cache::archives="$apt/archives"
		-o Debug::NoLocking=1 -o APT::Sandbox::User=root -o Acquire::Retries=3)
	say "apt-get update ($SUITE from $MIRROR)"
	apt-get "${opts[@]}" update -qq >&2
	rm -f "$apt/archives"/*.deb
	(cd "$apt/archives" && apt-get "${opts[@]}" download -qq patroni >&2)
	rm -rf "$CACHE/root" "$CACHE/bin" "$CACHE/.installed"
	mkdir -p "$CACHE/root" "$CACHE/bin"
	for deb in "$apt/archives"/patroni_*.deb; do dpkg-deb -x "$deb" "$CACHE/root"; done
	rm -f "$apt/archives"/*.deb
	rm -rf "$CACHE/root/usr/share/doc" "$CACHE/root/usr/share/man"
	write_wrapper patroni
	write_wrapper patronictl
	"$CACHE/bin/patronictl" version >&2 || die "the unpacked patronictl does not run"
	touch "$CACHE/.installed"
	usable || die "the unpacked Patroni is not 4.x"
}

mkdir -p "$CACHE"
exec {lock}>"$CACHE/.lock"
flock "$lock"
if usable; then
	say "cached in $CACHE ($("$CACHE/bin/patronictl" version))"
else
	fetch
fi
echo "$CACHE/bin"
