#!/usr/bin/env bash
# make demo: a real three-node Warden cluster on this machine, shown working.
#
# Embedded etcd, three agents with PostgreSQL (15, or the major PG_BIN holds) on loopback, a write read back from a
# replica, kill -9 of the primary (agent and postmaster) with the failover time measured,
# and the old primary rejoining as a replica. Everything runs in a temporary directory
# under /tmp; the EXIT trap stops every process this script started, by PID, and removes
# the directory -- unless a step failed, then the directory (logs, data) is kept.
#
# Run as root (agents then run as the postgres user) or as an ordinary user.
# Environment: WARDEN_BIN (default bin/warden), PG_BIN (default /usr/lib/postgresql/15/bin;
# `make demo PG=17` sets it from scripts/install-pg.sh), DEMO_WAIT (seconds every wait is bounded by, default 60).
set -euo pipefail
cd "$(dirname "$0")/.."

WARDEN_BIN=${WARDEN_BIN:-bin/warden}
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
WAIT=${DEMO_WAIT:-60}
SCOPE=demo
SUPERUSER_PASSWORD=secretpw

T0=$EPOCHREALTIME
TMP=""
ETCD_PID=""
declare -A AGENT_PID=()   # node number -> warden agent PID
declare -a WRAPPERS=()    # PIDs of the runuser/sh wrappers started in the background
declare -a POSTMASTERS=() # postmaster PIDs seen during the run

if [ -t 1 ]; then BOLD=$'\033[1m' RED=$'\033[1;31m' GREEN=$'\033[1;32m' OFF=$'\033[0m'; else BOLD="" RED="" GREEN="" OFF=""; fi
elapsed() { awk -v a="$T0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%5.1fs", b - a }'; }
step() { printf '\n%s[%s] %s%s\n' "$BOLD" "$(elapsed)" "$*" "$OFF"; }
info() { printf '    %s\n' "$*"; }
die() {
	printf '\n%sdemo FAILED: %s%s\n' "$RED" "$1" "$OFF" >&2
	shift
	for log in "$@"; do
		[ -f "$log" ] || continue
		printf '\n--- last lines of %s ---\n' "$log" >&2
		tail -n 40 "$log" >&2
	done
	exit 1
}

# alive: the process exists and is not a zombie.
alive() {
	[ -r "/proc/$1/stat" ] || return 1
	local state
	state=$(sed -E 's/^[0-9]+ \(.*\) ([A-Za-z]).*/\1/' "/proc/$1/stat" 2>/dev/null) || return 1
	[ "$state" != Z ]
}

# wait_gone PID SECONDS: true once PID has exited.
wait_gone() {
	local pid=$1 deadline=$((SECONDS + $2))
	while alive "$pid"; do
		[ $SECONDS -lt "$deadline" ] || return 1
		sleep 0.2
	done
}

# postmaster_pid N: the PID in node N's postmaster.pid when that process is a live postgres.
postmaster_pid() {
	local f="$TMP/data$1/postmaster.pid" pid
	[ -r "$f" ] || return 1
	pid=$(head -n 1 "$f" 2>/dev/null) || return 1
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	alive "$pid" && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = postgres ] || return 1
	echo "$pid"
}

cleanup() {
	local rc=$?
	set +e
	trap - EXIT INT TERM
	if [ -z "$TMP" ]; then
		exit "$rc"
	fi
	step "Stopping everything"
	local n pid
	for n in "${!AGENT_PID[@]}"; do
		pid=${AGENT_PID[$n]}
		alive "$pid" && kill -TERM "$pid" 2>/dev/null
	done
	for n in "${!AGENT_PID[@]}"; do
		pid=${AGENT_PID[$n]}
		if ! wait_gone "$pid" 20; then
			info "pg-$n agent (pid $pid) did not stop in 20 s: kill -9"
			kill -KILL "$pid" 2>/dev/null
		fi
	done
	# Postmasters outlive a killed agent: stop every one found in a postmaster.pid or seen earlier.
	for n in 1 2 3; do
		pid=$(postmaster_pid "$n") && POSTMASTERS+=("$pid")
	done
	for pid in "${POSTMASTERS[@]}"; do
		if alive "$pid" && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = postgres ]; then
			kill -QUIT "$pid" 2>/dev/null
			wait_gone "$pid" 10 || kill -KILL "$pid" 2>/dev/null
		fi
	done
	if [ -n "$ETCD_PID" ] && alive "$ETCD_PID"; then
		kill -TERM "$ETCD_PID" 2>/dev/null
		wait_gone "$ETCD_PID" 10 || kill -KILL "$ETCD_PID" 2>/dev/null
	fi
	for pid in "${WRAPPERS[@]}"; do
		alive "$pid" && kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	if [ "$rc" -eq 0 ]; then
		rm -rf "$TMP"
		info "all processes stopped, $TMP removed"
		printf '\n%sdemo finished in %s%s\n' "$GREEN" "$(elapsed)" "$OFF"
	elif [ "$rc" -eq 130 ] || [ "$rc" -eq 143 ]; then
		rm -rf "$TMP"
		info "interrupted: all processes stopped, $TMP removed"
	else
		printf '\nLogs and data kept in %s (agent logs pg-N.log, etcd.log)\n' "$TMP" >&2
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------------------- prerequisites
[ -x "$WARDEN_BIN" ] || die "$WARDEN_BIN not found: run 'make demo' (it builds it) or 'make build'"
for tool in initdb pg_ctl postgres pg_basebackup pg_rewind; do
	[ -x "$PG_BIN/$tool" ] || die "$PG_BIN/$tool not found: install the PostgreSQL 15 server (apt-get install postgresql-15), or run make demo PG=17 / PG=18, or set PG_BIN"
done
command -v curl >/dev/null || die "curl is required"
PSQL=$PG_BIN/psql
[ -x "$PSQL" ] || PSQL=$(command -v psql) || die "psql not found in $PG_BIN or on PATH"
AS=()
if [ "$(id -u)" -eq 0 ]; then
	id postgres >/dev/null 2>&1 || die "running as root needs a 'postgres' OS user to run PostgreSQL (apt-get install postgresql-15 creates it)"
	command -v runuser >/dev/null || die "runuser (util-linux) is required when running as root"
	AS=(runuser -u postgres --)
fi

# ---------------------------------------------------------------------------- ports and files
# A port is free when no socket of any state uses it locally (ss), or at least nothing
# accepts a connection on it. Blocks are picked below the kernel's ephemeral range so that
# outgoing connections (which take ports from that range) cannot grab them meanwhile.
port_free() {
	if command -v ss >/dev/null; then
		[ -z "$(ss -Htuan "sport = :$1" 2>/dev/null)" ]
	else
		! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
	fi
}
EPHEMERAL_LOW=$(awk '{ print $1 }' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
BLOCKS=$(((EPHEMERAL_LOW - 20000) / 100))
[ "$BLOCKS" -ge 10 ] || BLOCKS=100
BASE=""
for _ in $(seq 1 30); do
	b=$((20000 + RANDOM % BLOCKS * 100))
	ok=1
	for off in 0 1 8 9 10 32 33 34; do
		port_free $((b + off)) || { ok=0; break; }
	done
	if [ $ok = 1 ]; then BASE=$b; break; fi
done
[ -n "$BASE" ] || die "no free block of loopback ports found"
ETCD_CLIENT=$BASE ETCD_PEER=$((BASE + 1))
api_port() { echo $((BASE + 7 + $1)); }  # pg-N REST API
pg_port() { echo $((BASE + 31 + $1)); }   # pg-N PostgreSQL

TMP=$(mktemp -d /tmp/warden-demo.XXXXXX)
chmod 755 "$TMP"
cp "$WARDEN_BIN" "$TMP/warden"
chmod 755 "$TMP/warden"
[ ${#AS[@]} -eq 0 ] || chown postgres: "$TMP"

for n in 1 2 3; do
	cat >"$TMP/pg-$n.yml" <<EOF
scope: $SCOPE
name: pg-$n
restapi:
  listen: 127.0.0.1:$(api_port "$n")
  connect_address: 127.0.0.1:$(api_port "$n")
etcd3:
  hosts: 127.0.0.1:$ETCD_CLIENT
bootstrap:
  dcs:
    ttl: 10
    loop_wait: 2
    retry_timeout: 3
    postgresql:
      use_pg_rewind: true
      use_slots: true
  initdb:
  - encoding: UTF8
  - data-checksums
  pg_hba:
  - host replication replicator 127.0.0.1/32 md5
  - host all all 127.0.0.1/32 md5
postgresql:
  listen: 127.0.0.1:$(pg_port "$n")
  connect_address: 127.0.0.1:$(pg_port "$n")
  data_dir: $TMP/data$n
  bin_dir: $PG_BIN
  pgpass: $TMP/pgpass$n
  authentication:
    superuser: {username: postgres, password: $SUPERUSER_PASSWORD}
    replication: {username: replicator, password: replpw}
    rewind: {username: rewinder, password: rewindpw}
  parameters:
    unix_socket_directories: $TMP
EOF
done
printf 'scope: %s\netcd3:\n  hosts: 127.0.0.1:%s\n' "$SCOPE" "$ETCD_CLIENT" >"$TMP/ctl.yml"

# spawn NAME LOG PIDVAR ARGS...: run ARGS as the postgres user (when root) in a clean
# environment; the real process PID (not the wrapper's) is stored in PIDVAR.
spawn() {
	local name=$1 log=$2 pidfile="$TMP/$1.pid"
	shift 2
	rm -f "$pidfile"
	"${AS[@]}" env -i PATH=/usr/local/bin:/usr/bin:/bin HOME="$TMP" TZ=UTC \
		sh -c 'cd "$1" && echo $$ >"$2" && shift 2 && exec "$@"' sh "$TMP" "$pidfile" "$@" \
		>>"$log" 2>&1 </dev/null &
	WRAPPERS+=($!)
	local deadline=$((SECONDS + 10))
	while [ ! -s "$pidfile" ]; do
		[ $SECONDS -lt $deadline ] || die "$name did not start" "$log"
		sleep 0.05
	done
	SPAWNED=$(cat "$pidfile")
}

start_agent() {
	spawn "pg-$1" "$TMP/pg-$1.log" "$TMP/warden" "$TMP/pg-$1.yml"
	AGENT_PID[$1]=$SPAWNED
	info "pg-$1: agent pid ${AGENT_PID[$1]}, REST API http://127.0.0.1:$(api_port "$1"), PostgreSQL 127.0.0.1:$(pg_port "$1"), log $TMP/pg-$1.log"
}

http_code() { curl -s -o /dev/null -m 2 -w '%{http_code}' "http://127.0.0.1:$(api_port "$1")$2" || true; }

# wait_role N PATH: bounded wait until GET PATH on pg-N's API answers 200.
wait_role() {
	local n=$1 path=$2 deadline=$((SECONDS + WAIT))
	until [ "$(http_code "$n" "$path")" = 200 ]; do
		alive "${AGENT_PID[$n]}" || die "pg-$n's agent exited while waiting for GET $path = 200" "$TMP/pg-$n.log"
		[ $SECONDS -lt $deadline ] || die "pg-$n: GET $path did not answer 200 within $WAIT s (last code $(http_code "$n" "$path"))" "$TMP/pg-$n.log"
		sleep 0.5
	done
}

show_table() {
	if command -v patronictl >/dev/null; then
		patronictl -c "$TMP/ctl.yml" list 2>&1 | sed 's/^/    /' || die "patronictl list failed"
		return
	fi
	local n json=""
	for n in 1 2 3; do
		json=$(curl -sf -m 3 "http://127.0.0.1:$(api_port "$n")/cluster") && break
	done
	[ -n "$json" ] || die "no node answered GET /cluster"
	if command -v jq >/dev/null; then
		{
			echo "Member Host Role State TL Lag_in_MB"
			jq -r '.members[] | [.name, "\(.host):\(.port)", .role, .state, (.timeline // "-"),
				(if .role == "leader" then "" elif (.lag | type) == "number" then (.lag / 1048576 | floor) else (.lag // "") end)]
				| map(tostring) | join(" ")' <<<"$json"
		} | column -t | sed 's/^/    /'
	else
		python3 - "$json" <<'PY'
import json, sys
rows = [("Member", "Host", "Role", "State", "TL", "Lag in MB")]
for m in json.loads(sys.argv[1])["members"]:
    lag = m.get("lag", "")
    lag = "" if m["role"] == "leader" else (lag // 1048576 if isinstance(lag, int) else lag)
    rows.append((m["name"], f'{m["host"]}:{m["port"]}', m["role"], m["state"], str(m.get("timeline", "-")), str(lag)))
w = [max(len(r[i]) for r in rows) for i in range(6)]
for r in rows:
    print("    " + "  ".join(c.ljust(w[i]) for i, c in enumerate(r)))
PY
	fi
}

# sql N SQL: run SQL on pg-N over TCP as the superuser; prints unaligned tuples.
sql() {
	PGPASSWORD=$SUPERUSER_PASSWORD PGCONNECT_TIMEOUT=2 "$PSQL" -X -q -At -v ON_ERROR_STOP=1 \
		-h 127.0.0.1 -p "$(pg_port "$1")" -U postgres -d postgres -c "$2"
}

primary_node() {
	local n
	for n in "$@"; do
		[ "$(http_code "$n" /primary)" = 200 ] && { echo "$n"; return 0; }
	done
	return 1
}

# ---------------------------------------------------------------------------- the demo
info "$("$PG_BIN/postgres" --version) from $PG_BIN"
step "Starting embedded etcd on 127.0.0.1:$ETCD_CLIENT"
spawn etcd "$TMP/etcd.log" "$TMP/warden" etcd --data-dir "$TMP/etcd" \
	--listen-client-urls "http://127.0.0.1:$ETCD_CLIENT" --listen-peer-urls "http://127.0.0.1:$ETCD_PEER"
ETCD_PID=$SPAWNED
deadline=$((SECONDS + WAIT))
until curl -sf -m 2 "http://127.0.0.1:$ETCD_CLIENT/health" | grep -q '"health":"true"'; do
	alive "$ETCD_PID" || die "embedded etcd exited" "$TMP/etcd.log"
	[ $SECONDS -lt $deadline ] || die "embedded etcd not healthy within $WAIT s" "$TMP/etcd.log"
	sleep 0.2
done
info "etcd pid $ETCD_PID is healthy; working directory $TMP"

step "Starting pg-1: it bootstraps the cluster (initdb) and takes the leader key"
start_agent 1
wait_role 1 /primary
info "pg-1 answers 200 on GET /primary"

step "Starting pg-2 and pg-3: they clone pg-1 with pg_basebackup and stream from it"
start_agent 2
start_agent 3
wait_role 2 /replica
wait_role 3 /replica
info "pg-2 and pg-3 answer 200 on GET /replica"

# Member keys are refreshed every loop_wait (2 s): wait until the replicas' published WAL
# positions have matched the leader's for 3 s, so the table shows their real lag (0) rather
# than a position published just before the WAL switch that ends a basebackup.
settle() {
	local deadline=$((SECONDS + 15)) clean=0 json
	while [ $SECONDS -lt $deadline ] && [ $clean -lt 6 ]; do
		json=$(curl -sf -m 2 "http://127.0.0.1:$(api_port 1)/cluster") || return 0
		if [[ $json =~ \"lag\":[1-9] ]]; then clean=0; else clean=$((clean + 1)); fi
		sleep 0.5
	done
}

step "Cluster status"
settle
show_table

step "Writing a row through the primary (pg-1), reading it back from pg-2"
sql 1 "CREATE TABLE IF NOT EXISTS demo (id serial PRIMARY KEY, note text, at timestamptz DEFAULT now())" \
	|| die "CREATE TABLE on pg-1 failed" "$TMP/pg-1.log"
sql 1 "INSERT INTO demo (note) VALUES ('written on pg-1')" || die "INSERT on pg-1 failed" "$TMP/pg-1.log"
deadline=$((SECONDS + WAIT))
until row=$(sql 2 "SELECT note || ' at ' || to_char(at, 'HH24:MI:SS') FROM demo WHERE note = 'written on pg-1'" 2>/dev/null) && [ -n "$row" ]; do
	[ $SECONDS -lt $deadline ] || die "the row written on pg-1 did not reach pg-2 within $WAIT s" "$TMP/pg-2.log"
	sleep 0.2
done
info "pg-2 returns: $row"

OLD=$(primary_node 1 2 3) || die "no node answers 200 on GET /primary"
OTHERS=()
for n in 1 2 3; do [ "$n" = "$OLD" ] || OTHERS+=("$n"); done
PM=$(postmaster_pid "$OLD") || die "no running postmaster found in $TMP/data$OLD/postmaster.pid" "$TMP/pg-$OLD.log"
POSTMASTERS+=("$PM")

step "Failover: kill -9 pg-$OLD's agent (pid ${AGENT_PID[$OLD]}) and postmaster (pid $PM) together"
kill -KILL "${AGENT_PID[$OLD]}" "$PM"
KILLED_AT=$EPOCHREALTIME
info "waiting for a write to succeed on pg-${OTHERS[0]} or pg-${OTHERS[1]} (the leader key expires after ttl = 10 s)"
NEW=""
deadline=$((SECONDS + WAIT))
while [ -z "$NEW" ]; do
	for n in "${OTHERS[@]}"; do
		if sql "$n" "INSERT INTO demo (note) VALUES ('written on pg-$n after the failover')" >/dev/null 2>&1; then
			NEW=$n
			break
		fi
	done
	[ -n "$NEW" ] && break
	[ $SECONDS -lt $deadline ] || die "no write succeeded on pg-${OTHERS[0]} or pg-${OTHERS[1]} within $WAIT s of the kill" \
		"$TMP/pg-${OTHERS[0]}.log" "$TMP/pg-${OTHERS[1]}.log"
	sleep 0.1
done
FAILOVER=$(awk -v a="$KILLED_AT" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
info "pg-$NEW is the new primary: first write accepted $FAILOVER s after the kill"
wait_gone "${AGENT_PID[$OLD]}" 5 || die "pg-$OLD's agent still alive after kill -9"
for n in "${OTHERS[@]}"; do
	[ "$n" = "$NEW" ] || wait_role "$n" /replica
done

step "Cluster status after the failover"
show_table

step "Restarting pg-$OLD: the old primary rejoins as a replica of pg-$NEW"
start_agent "$OLD"
wait_role "$OLD" /replica
if grep -q 'pg_rewind finished' "$TMP/pg-$OLD.log"; then
	info "pg-$OLD was rewound with pg_rewind and follows pg-$NEW"
elif grep -q 'moved the data directory aside' "$TMP/pg-$OLD.log"; then
	info "pg-$OLD was re-cloned from pg-$NEW (old data directory moved aside) and follows it"
else
	info "pg-$OLD follows pg-$NEW (no rewind was needed)"
fi
deadline=$((SECONDS + WAIT))
until row=$(sql "$OLD" "SELECT note || ' at ' || to_char(at, 'HH24:MI:SS') FROM demo WHERE note LIKE '%after the failover'" 2>/dev/null) && [ -n "$row" ]; do
	[ $SECONDS -lt $deadline ] || die "the row written on pg-$NEW did not reach pg-$OLD within $WAIT s" "$TMP/pg-$OLD.log"
	sleep 0.2
done
info "pg-$OLD returns the row written on pg-$NEW: $row"

step "Cluster status with pg-$OLD back"
show_table

printf '\n    failover (kill -9 of primary agent + postmaster -> first write on the new primary): %s s\n' "$FAILOVER"
