# debian-host.sh — sourced by the installers: the host's Debian mirror and apt-get installs of
# what the host lacks. The caller defines say and die.

# The first Debian archive URI the host already uses (the security archive does not carry these).
host_mirror() {
	local f
	for f in /etc/apt/sources.list.d/*.sources; do
		[[ -f $f ]] && sed -n 's/^URIs:[[:space:]]*//p' "$f" | tr ' ' '\n'
	done
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[[ -f $f ]] && awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /:\/\//) { print $i; break } }' "$f"
	done
}

debian_mirror() { host_mirror | grep -i debian | grep -v -- -security | head -n1 || true; }

host_has() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'ok installed'; }

host_install() {
	local missing=() p
	for p in "$@"; do host_has "$p" || missing+=("$p"); done
	((${#missing[@]})) || return 0
	(($(id -u) == 0)) || die "needs root to apt-get install ${missing[*]}"
	say "apt-get install ${missing[*]} (host)"
	local log
	log=$(mktemp)
	{ apt-get update -qq || true; } >"$log" 2>&1
	if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >>"$log" 2>&1; then
		cat "$log" >&2
		rm -f "$log"
		die "apt-get install ${missing[*]} failed"
	fi
	rm -f "$log"
}
