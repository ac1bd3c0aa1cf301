#!/usr/bin/env bash
# install-pg.sh MAJOR... — PostgreSQL server and client binaries for the majors a bookworm host
# does not carry, taken from Debian itself and kept in a cache, one bin directory per line on stdout.
#
#   15   the host's own package (postgresql-15, installed with apt-get if missing)
#   17   Debian trixie's postgresql-17
#   18   Debian sid's postgresql-18
#
# Nothing from trixie or sid is installed into the system: their .debs are fetched with an apt
# configuration private to the cache (same mirror the host's apt uses), unpacked with dpkg-deb -x
# under $WARDEN_PG_CACHE/MAJOR together with the libraries they need (their own libc included),
# and every executable is pointed at that libc's loader and those library folders with patchelf.
# The loader path written into the binaries is absolute: the cache cannot be moved afterwards.
# A cache entry that is complete and answers `postgres -V` with its major is used as it is.
#
# env: WARDEN_PG_CACHE  where the majors live (default /var/cache/warden/pg)
#      MIRROR           Debian mirror (default: the first Debian URI of the host's apt sources)
#      WARDEN_PG_JIT=1  keep LLVM and llvmjit.so (+180 MB a major); without it JIT is unavailable
# Needs root the first time (apt-get install patchelf on the host); later runs only read the cache.
set -euo pipefail

CACHE=${WARDEN_PG_CACHE:-/var/cache/warden/pg}
declare -A SUITE_OF=([17]=trixie [18]=sid)

say() { printf 'install-pg: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

(($#)) || die "usage: install-pg.sh MAJOR... (15, 17, 18)"

# shellcheck source=scripts/debian-host.sh
source "$(dirname "${BASH_SOURCE[0]}")/debian-host.sh"

# valid DIR MAJOR: a finished install whose postgres runs and is that major.
valid() {
	local dir=$1 major=$2 bin v
	[[ -f $dir/.installed ]] || return 1
	bin=$(<"$dir/.installed")
	v=$("$bin/postgres" -V 2>/dev/null) || return 1
	[[ $v =~ \(PostgreSQL\)\ $major\. ]] || return 1
	"$bin/initdb" -V >/dev/null 2>&1 && "$bin/pg_ctl" -V >/dev/null 2>&1
}

# apt_opts SUITE: options that make apt-get read and write only the cache's own state for SUITE.
apt_opts() {
	local d=$CACHE/.apt/$1
	mkdir -p "$d/lists/partial" "$d/archives/partial"
	[[ -f $d/sources.list ]] || echo "deb $MIRROR $1 main" >"$d/sources.list"
	: >"$d/status"
	APT=(-o Dir::Etc::sourcelist="$d/sources.list" -o Dir::Etc::sourceparts=/dev/null
		-o Dir::Etc::preferences=/dev/null -o Dir::Etc::preferencesparts=/dev/null
		-o Dir::State::Lists="$d/lists" -o Dir::State::status="$d/status"
		-o Dir::State::extended_states="$d/extended_states"
		-o Dir::Cache="$d" -o Dir::Cache::archives="$d/archives"
		-o Debug::NoLocking=1 -o APT::Sandbox::User=root -o Acquire::Retries=3
		-o APT::Install-Recommends=false -o APT::Get::AllowUnauthenticated=false)
}

# packages SUITE ROOT...: the names apt's own resolver installs for ROOT on an empty system, kept to
# the roots and the shared libraries (what a running postgres maps); scripts, perl and the
# postgresql-common wrappers are not needed to run the binaries from their own folder.
packages() {
	local suite=$1; shift
	apt-get "${APT[@]}" install --print-uris -qq "$@" |
		sed -n "s/^'[^']*' \([^_]*\)_.*/\1/p" |
		grep -E '^(lib|zlib1g$|postgresql-[0-9]+(-jit)?$|postgresql-client-[0-9]+$)' |
		{ if [[ ${WARDEN_PG_JIT:-} == 1 ]]; then cat; else grep -vE '^(libllvm|libz3|postgresql-[0-9]+-jit$)'; fi; }
}

is_elf() { [[ $(head -c4 "$1" 2>/dev/null) == $'\x7fELF' ]]; }

# patch DIR MAJOR: executables use the unpacked loader, and everything finds its libraries (also
# the modules postgres dlopen()s later, libpqwalreceiver.so) in the unpacked folders. DT_RPATH, not
# RUNPATH: only RPATH applies to a library's own dependencies and to dlopen().
patch() {
	local dir=$1 major=$2 f
	local loader=$dir/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2
	local libs=$dir/usr/lib/x86_64-linux-gnu:$dir/usr/lib/postgresql/$major/lib
	[[ -e $loader ]] || die "$major: no loader at $loader"
	for f in "$dir/usr/lib/postgresql/$major/bin"/*; do
		is_elf "$f" || continue
		patchelf --set-interpreter "$loader" --force-rpath --set-rpath "$libs" "$f"
	done
	# A library with a search path of its own would otherwise resolve its dependencies on the host.
	while IFS= read -r -d '' f; do
		readelf -d "$f" 2>/dev/null | grep -qE '\((RPATH|RUNPATH)\)' && patchelf --force-rpath --set-rpath "$libs" "$f"
	done < <(find "$dir/usr/lib" -type f -name '*.so*' ! -path '*/gconv/*' -print0)
	# Check: every executable's libraries resolve inside the prefix.
	for f in "$dir/usr/lib/postgresql/$major/bin"/*; do
		is_elf "$f" || continue
		if "$loader" --list "$f" 2>&1 | grep -E 'not found|=> /' | grep -v "=> $dir/" >&2; then
			die "$major: $f resolves libraries outside $dir"
		fi
	done
}

# fetch MAJOR: download, unpack, patch into $CACHE/MAJOR; marks it complete last.
fetch() {
	local major=$1 suite=${SUITE_OF[$1]} dir=$CACHE/$1 roots pkgs deb
	MIRROR=${MIRROR:-$(debian_mirror)}
	[[ -n $MIRROR ]] || die "no Debian mirror in the host's apt sources; set MIRROR"
	host_install patchelf binutils tzdata
	apt_opts "$suite"
	say "$major: apt-get update ($suite from $MIRROR)"
	apt-get "${APT[@]}" update -qq >&2
	roots=("postgresql-$major" "postgresql-client-$major" libpq5)
	if [[ ${WARDEN_PG_JIT:-} == 1 ]] && apt-cache "${APT[@]}" show "postgresql-$major-jit" >/dev/null 2>&1; then
		roots+=("postgresql-$major-jit")
	fi
	mapfile -t pkgs < <(packages "$suite" "${roots[@]}")
	((${#pkgs[@]} > 3)) || die "$major: could not resolve the packages of postgresql-$major in $suite"
	say "$major: ${#pkgs[@]} packages: ${pkgs[*]}"
	rm -f "$CACHE/.apt/$suite/archives"/*.deb
	(cd "$CACHE/.apt/$suite/archives" && apt-get "${APT[@]}" download -qq "${pkgs[@]}" >&2)
	rm -rf "$dir"
	mkdir -p "$dir"
	for deb in "$CACHE/.apt/$suite/archives"/*.deb; do dpkg-deb -x "$deb" "$dir"; done
	rm -f "$CACHE/.apt/$suite/archives"/*.deb
	rm -rf "$dir/usr/share/doc" "$dir/usr/share/man" "$dir/usr/share/lintian"
	[[ ${WARDEN_PG_JIT:-} == 1 ]] || rm -rf "$dir/usr/lib/postgresql/$major/lib/"{llvmjit.so,llvmjit_types.bc,bitcode}
	patch "$dir" "$major"
	echo "$dir/usr/lib/postgresql/$major/bin" >"$dir/.installed"
	valid "$dir" "$major" || die "$major: the unpacked postgres does not run"
	say "$major: $("$dir/usr/lib/postgresql/$major/bin/postgres" -V) in $dir ($(du -sh "$dir" | cut -f1))"
}

for major in "$@"; do
	case $major in
	15)
		host_install postgresql-15
		echo /usr/lib/postgresql/15/bin
		continue
		;;
	17 | 18) ;;
	*) die "PostgreSQL $major: this installer knows 15 (bookworm), 17 (trixie) and 18 (sid)" ;;
	esac
	mkdir -p "$CACHE"
	# One installer at a time per cache: parallel test jobs may ask for the same major.
	exec {lock}>"$CACHE/.lock"
	flock "$lock"
	if valid "$CACHE/$major" "$major"; then
		say "$major: cached in $CACHE/$major"
	else
		fetch "$major"
	fi
	cat "$CACHE/$major/.installed"
	exec {lock}>&-
done
