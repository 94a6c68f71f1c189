#!/usr/bin/env bash
# The network services larder's multi-machine features are tested against
# (issue 11), installed from Debian's packages and started on 127.0.0.1 only,
# each with its own port (never a default one, so a system redis or
# PostgreSQL is left alone) and its data under .services/ in the repo
# (gitignored; or $LARDER_SERVICES_DIR):
#
#   redis-server   no persistence
#   PostgreSQL     a throwaway cluster (initdb + pg_ctl as the postgres user),
#                  trust auth on loopback, database "larder"
#   Ceph radosgw   S3 on a one-node Ceph: a monitor and one in-memory
#                  (memstore) OSD, auth off, pools of size 1, and an S3 user
#                  with fixed test keys
#
#   bash scripts/services.sh start          install what's missing, start what isn't running, wait
#                                           until each answers, write .services/env
#   bash scripts/services.sh status         what is running (exit 1 if not everything)
#   bash scripts/services.sh env            print the connection settings as shell exports:
#                                           eval "$(bash scripts/services.sh env)"
#   bash scripts/services.sh stop [--wipe]  stop what this script started (found by the pid
#                                           files under .services/); --wipe also deletes .services/
#
# Ports (used when a service is first started; a running one keeps its own):
# LARDER_REDIS_PORT (16379), LARDER_POSTGRES_PORT (15432), LARDER_S3_PORT
# (17480), LARDER_CEPH_MON_PORT (13300; the OSD binds within 16800-16899).
# LARDER_CEPH_MEMSTORE_BYTES sizes the in-memory OSD (2 GiB).
#
# Redis and S3 hold no data across a stop (Ceph is recreated whenever it is
# not fully running); PostgreSQL keeps its cluster until `stop --wipe`.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DIR="${LARDER_SERVICES_DIR:-$ROOT/.services}"
MARKER=".larder-services"
S3_ACCESS_KEY="LARDERTESTACCESSKEY0"
S3_SECRET_KEY="larder-test-secret-key-not-a-secret-000"
S3_REGION="us-east-1"
S3_USER="larder-test"

say() { echo "services: $*" >&2; }
die() { say "$*"; exit 1; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f s", b - a }'; }
# The last lines of a log, shown when something does not come up.
log_tail() { # file [lines]
  if [ -f "$1" ]; then
    echo "---- last lines of $1 ----" >&2
    tail -n "${2:-40}" "$1" >&2
    echo "----" >&2
  else
    say "(no log at $1)"
  fi
}
# Polls a command until it succeeds or the deadline passes.
wait_for() { # seconds command...
  local deadline=$((SECONDS + $1))
  shift
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 0.2
  done
}
# A pid from a file, if that process is alive and runs the expected program
# (a pid file left by a dead process may name an unrelated, reused pid).
live_pid() { # pidfile program-name
  local pid
  [ -f "$1" ] || return 1
  pid="$(head -1 "$1" 2>/dev/null | tr -dc 0-9)"
  [ -n "$pid" ] && [ -d "/proc/$pid" ] || return 1
  # The process name, not the binary: Debian's redis-server is a link to
  # redis-check-rdb. A zombie counts as gone.
  [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$2" ] || return 1
  grep -q '^State:.*Z' "/proc/$pid/status" 2>/dev/null && return 1
  echo "$pid"
}
# Something already listens on a loopback port (bash's /dev/tcp connect).
port_taken() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
need_port() { # port what env-var
  if port_taken "$1"; then die "port $1 (for $2) is taken by another process: set $3 to a free port"; fi
}
# Sends TERM and waits for the process to end (KILL after a while).
stop_pid() { # pid name [seconds]
  kill -TERM "$1" 2>/dev/null || return 0
  local i
  for i in $(seq 1 $((${3:-15} * 10))); do
    [ -d "/proc/$1" ] && ! grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null || { say "stopped $2 (pid $1)"; return 0; }
    sleep 0.1
  done
  say "$2 (pid $1) did not stop in ${3:-15} s: killing it"
  kill -KILL "$1" 2>/dev/null || true
}
port_of() { # service default-from-env
  if [ -f "$DIR/$1/port" ]; then cat "$DIR/$1/port"; else echo "$2"; fi
}
# Makes the data folder, and marks it as this script's (stop --wipe deletes
# only a folder carrying the marker).
ensure_dir() {
  mkdir -p "$DIR"
  if [ ! -f "$DIR/$MARKER" ]; then
    if [ -n "$(ls -A "$DIR")" ]; then die "$DIR is not empty and is not a services folder: choose another LARDER_SERVICES_DIR"; fi
    echo "data of scripts/services.sh; deleted by 'services.sh stop --wipe'" >"$DIR/$MARKER"
  fi
}

# One start or stop at a time (two test runs may both call start). A lock
# folder holding the owner's pid, not flock: the daemons started here would
# inherit a flock's descriptor and hold the lock for as long as they run.
lock() {
  local deadline=$((SECONDS + 600)) holder
  until mkdir "$DIR/.lock" 2>/dev/null; do
    holder="$(cat "$DIR/.lock/pid" 2>/dev/null || true)"
    if [ -n "$holder" ] && ! kill -0 "$holder" 2>/dev/null; then rm -rf "$DIR/.lock"; continue; fi
    [ "$SECONDS" -lt "$deadline" ] || die "another services.sh start/stop (pid ${holder:-?}) has held $DIR/.lock for 10 minutes"
    sleep 0.2
  done
  echo "$$" >"$DIR/.lock/pid"
  trap 'rm -rf "$DIR/.lock"' EXIT
}

# ---------------------------------------------------------------- install
pg_bin() { # the newest installed PostgreSQL's bin folder
  local d
  d="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
  [ -n "$d" ] && [ -x "$d/initdb" ] && echo "$d"
}
install_missing() {
  local missing=()
  command -v redis-server >/dev/null && command -v redis-cli >/dev/null || missing+=(redis-server)
  pg_bin >/dev/null || missing+=(postgresql)
  command -v psql >/dev/null || missing+=(postgresql-client)
  command -v ceph-mon >/dev/null || missing+=(ceph-mon)
  command -v ceph-osd >/dev/null || missing+=(ceph-osd)
  command -v ceph >/dev/null && command -v radosgw-admin >/dev/null && command -v monmaptool >/dev/null || missing+=(ceph-common)
  command -v radosgw >/dev/null || missing+=(radosgw)
  command -v curl >/dev/null || missing+=(curl)
  [ "${#missing[@]}" -gt 0 ] || return 0
  [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null ||
    die "missing packages: ${missing[*]} (install them, or run this script as root on Debian to have it install them)"
  local t0
  t0="$(now)"
  say "installing ${missing[*]}"
  # Wait for the dpkg lock rather than fail when another apt run holds it.
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  say "installed in $(since "$t0")"
}

# ---------------------------------------------------------------- redis
REDIS="$DIR/redis"
redis_pid() { live_pid "$REDIS/redis.pid" redis-server; }
redis_ok() { [ "$(redis-cli -h 127.0.0.1 -p "$(port_of redis 0)" ping 2>/dev/null)" = PONG ]; }
redis_start() {
  local t0 port pid
  t0="$(now)"
  if redis_pid >/dev/null && redis_ok; then say "redis already running on port $(port_of redis 0)"; return; fi
  if pid="$(redis_pid)"; then stop_pid "$pid" redis-server; fi
  rm -rf "$REDIS" && mkdir -p "$REDIS"
  port="${LARDER_REDIS_PORT:-16379}"
  need_port "$port" redis LARDER_REDIS_PORT
  echo "$port" >"$REDIS/port"
  # No RDB snapshots, no AOF: a test server that starts empty.
  redis-server --bind 127.0.0.1 --port "$port" --protected-mode yes --daemonize yes \
    --pidfile "$REDIS/redis.pid" --logfile "$REDIS/redis.log" --dir "$REDIS" \
    --save '' --appendonly no ||
    { log_tail "$REDIS/redis.log"; die "redis-server did not start"; }
  wait_for 20 redis_up || { log_tail "$REDIS/redis.log"; die "redis on port $port does not answer PING"; }
  say "redis up on 127.0.0.1:$port in $(since "$t0")"
}
redis_up() { redis_pid >/dev/null && redis_ok; }
redis_stop() {
  local pid
  if pid="$(redis_pid)"; then stop_pid "$pid" redis-server; fi
}

# ---------------------------------------------------------------- postgres
PG="$DIR/postgres"
# initdb and the server refuse to run as root: as root they run as the
# postgres user (the one Debian's package makes), otherwise as the caller.
as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
pg_pid() { live_pid "$PG/data/postmaster.pid" postgres; }
pg_ok() {
  local bin
  bin="$(pg_bin)"
  "$bin/pg_isready" -q -h 127.0.0.1 -p "$(port_of postgres 0)" -d larder &&
    [ "$(psql -X -A -t -h 127.0.0.1 -p "$(port_of postgres 0)" -U postgres -d larder -c 'select 1' 2>/dev/null)" = 1 ]
}
pg_start() {
  local t0 port bin
  t0="$(now)"
  bin="$(pg_bin)" || die "PostgreSQL's initdb was not found under /usr/lib/postgresql/*/bin"
  if pg_pid >/dev/null; then
    # Running: perhaps still starting up (or recovering) after a crash.
    wait_for 30 pg_ok || { log_tail "$PG/postgres.log"; die "PostgreSQL runs (pid $(pg_pid)) but does not answer select 1: 'services.sh stop' it first"; }
    say "postgres already running on port $(port_of postgres 0)"
    return
  fi
  if [ ! -f "$PG/data/PG_VERSION" ]; then
    rm -rf "$PG" && mkdir -p "$PG/run"
    port="${LARDER_POSTGRES_PORT:-15432}"
    echo "$port" >"$PG/port"
    if [ "$(id -u)" = 0 ]; then
      chown -R postgres: "$PG"
      as_pg test -w "$PG" || die "the postgres user cannot write $PG (a parent folder closed to other users?): set LARDER_SERVICES_DIR to a folder it can reach"
    fi
    # A throwaway cluster: trust auth (it listens on loopback only), no fsync.
    as_pg "$bin/initdb" -D "$PG/data" -U postgres --auth=trust --encoding=UTF8 --no-sync >"$PG/initdb.log" 2>&1 ||
      { log_tail "$PG/initdb.log"; die "initdb failed"; }
  fi
  port="$(port_of postgres 15432)"
  need_port "$port" postgres LARDER_POSTGRES_PORT
  # pg_ctl start exits when the server accepts connections (or fails).
  as_pg "$bin/pg_ctl" -D "$PG/data" -l "$PG/postgres.log" -w -t 60 start \
    -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$PG/run -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
    >/dev/null || { log_tail "$PG/postgres.log"; die "PostgreSQL did not start"; }
  if ! psql -X -A -t -h 127.0.0.1 -p "$port" -U postgres -d postgres -c "select 1 from pg_database where datname = 'larder'" | grep -q 1; then
    psql -X -q -h 127.0.0.1 -p "$port" -U postgres -d postgres -c 'create database larder' >/dev/null ||
      { log_tail "$PG/postgres.log"; die "could not create the database larder"; }
  fi
  wait_for 30 pg_up || { log_tail "$PG/postgres.log"; die "PostgreSQL on port $port does not answer select 1"; }
  say "postgres up on 127.0.0.1:$port in $(since "$t0")"
}
pg_up() { pg_pid >/dev/null && pg_ok; }
pg_stop() {
  local bin
  if pg_pid >/dev/null; then
    bin="$(pg_bin)"
    as_pg "$bin/pg_ctl" -D "$PG/data" -m fast -w -t 30 stop >/dev/null || { log_tail "$PG/postgres.log"; die "pg_ctl stop failed"; }
    say "stopped postgres"
  fi
}

# ---------------------------------------------------------------- ceph + radosgw
CEPH="$DIR/ceph"
CONF="$CEPH/ceph.conf"
ceph_cli() { timeout 30 ceph -c "$CONF" "$@"; }
mon_pid() { live_pid "$CEPH/run/mon.a.pid" ceph-mon; }
osd_pid() { live_pid "$CEPH/run/osd.0.pid" ceph-osd; }
rgw_pid() { live_pid "$CEPH/run/client.rgw.a.pid" radosgw; }
s3_url() { echo "http://127.0.0.1:$(port_of ceph 0)"; }
# A signed S3 request (curl's SigV4; the payload is declared unsigned, which
# S3 and radosgw accept over plain HTTP).
s3_curl() { # method path [curl args...]
  local method="$1" path="$2"
  shift 2
  curl -sS --fail-with-body --max-time 20 -X "$method" \
    --aws-sigv4 "aws:amz:$S3_REGION:s3" --user "$S3_ACCESS_KEY:$S3_SECRET_KEY" \
    -H 'x-amz-content-sha256: UNSIGNED-PAYLOAD' "$@" "$(s3_url)$path"
}
# A bucket, an object put and read back, both removed again.
s3_roundtrip() {
  local bucket="larder-services-check" body
  body="larder services check $$ $(date +%s%N)"
  s3_curl PUT "/$bucket" >/dev/null &&
    s3_curl PUT "/$bucket/check.txt" --data-binary "$body" >/dev/null &&
    [ "$(s3_curl GET "/$bucket/check.txt")" = "$body" ] &&
    s3_curl DELETE "/$bucket/check.txt" >/dev/null &&
    s3_curl DELETE "/$bucket" >/dev/null
}
# A signed list of the user's buckets: radosgw serves and knows the keys.
s3_ok() { s3_curl GET / | grep -q "<ID>$S3_USER</ID>"; }
ceph_running() { mon_pid >/dev/null && osd_pid >/dev/null && rgw_pid >/dev/null; }
ceph_stop() {
  local pid
  # radosgw first, then the OSD, then the monitor (each needs the next).
  # Nothing of this cluster is reused, so a daemon stuck on a dead peer
  # (radosgw waits on a killed OSD) is killed after 3 s.
  if pid="$(rgw_pid)"; then stop_pid "$pid" radosgw 3; fi
  if pid="$(osd_pid)"; then stop_pid "$pid" ceph-osd 3; fi
  if pid="$(mon_pid)"; then stop_pid "$pid" ceph-mon 3; fi
}
# Shows the logs, stops the half-started cluster (its logs stay) and exits.
ceph_fail() { # message
  local f
  for f in "$CEPH"/log/*.log; do [ -f "$f" ] && log_tail "$f" 25; done
  ceph_stop
  die "$1"
}
ceph_start() {
  local t0 mon_port rgw_port fsid osd_uuid osd_id bytes
  t0="$(now)"
  if ceph_running && s3_ok; then say "radosgw (S3) already running on port $(port_of ceph 0)"; return; fi
  # A one-node throwaway cluster: whatever is left of an earlier one goes.
  ceph_stop
  rm -rf "$CEPH" && mkdir -p "$CEPH"/{run,log,mon/ceph-a,osd/ceph-0,rgw}
  mon_port="${LARDER_CEPH_MON_PORT:-13300}"
  rgw_port="${LARDER_S3_PORT:-17480}"
  bytes="${LARDER_CEPH_MEMSTORE_BYTES:-2147483648}"
  need_port "$mon_port" "the Ceph monitor" LARDER_CEPH_MON_PORT
  need_port "$rgw_port" radosgw LARDER_S3_PORT
  echo "$rgw_port" >"$CEPH/port"
  fsid="$(cat /proc/sys/kernel/random/uuid)"
  osd_uuid="$(cat /proc/sys/kernel/random/uuid)"
  cat >"$CONF" <<EOF
# Written by scripts/services.sh: a one-node Ceph for tests, on loopback.
[global]
fsid = $fsid
mon host = [v2:127.0.0.1:$mon_port]
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind ipv6 = false
ms bind port min = 16800
ms bind port max = 16899
auth cluster required = none
auth service required = none
auth client required = none
keyring = $CEPH/keyring
run dir = $CEPH/run
pid file = $CEPH/run/\$name.pid
admin socket = $CEPH/run/\$name.asok
log file = $CEPH/log/\$name.log
# One OSD: pools of one replica, placement that needs no second host.
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
# A monitor stops itself when its disk is nearly full (5%): not this one.
mon data avail warn = 1
mon data avail crit = 0
mon warn on insecure global id reclaim allowed = false
# Commit monitor changes (pool creation, the OSD's boot) at once rather
# than batched over a second: radosgw creates its pools one by one.
paxos propose interval = 0.05
paxos min wait = 0.01

[mon]
mon data = $CEPH/mon/\$cluster-\$id

[osd]
osd data = $CEPH/osd/\$cluster-\$id
osd objectstore = memstore
memstore device bytes = $bytes

[client.rgw.a]
rgw frontends = beast endpoint=127.0.0.1:$rgw_port
rgw data = $CEPH/rgw
# Without it radosgw loops on "get_initial_auth_request returned -13".
ms mon client mode = crc secure
EOF
  ceph-authtool --create-keyring "$CEPH/keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
  ceph-authtool "$CEPH/keyring" --gen-key -n client.admin --cap mon 'allow *' --cap osd 'allow *' --cap mgr 'allow *' >/dev/null
  monmaptool --create --fsid "$fsid" --addv a "[v2:127.0.0.1:$mon_port]" "$CEPH/monmap" >"$CEPH/log/monmaptool.out" 2>&1 ||
    { cat "$CEPH/log/monmaptool.out" >&2; die "monmaptool failed"; }
  ceph-mon -c "$CONF" --mkfs -i a --monmap "$CEPH/monmap" --keyring "$CEPH/keyring" >"$CEPH/log/mon-mkfs.out" 2>&1 ||
    { cat "$CEPH/log/mon-mkfs.out" >&2; ceph_fail "ceph-mon --mkfs failed"; }
  # The daemons fork into the background only once they have reached the
  # monitor: until then they block, so each start has a time limit.
  timeout 60 ceph-mon -c "$CONF" -i a 2>>"$CEPH/log/mon.a.stderr" || ceph_fail "ceph-mon did not start"
  wait_for 30 mon_up || ceph_fail "the Ceph monitor on port $mon_port does not answer"
  say "ceph monitor up in $(since "$t0")"

  osd_id="$(ceph_cli osd new "$osd_uuid")" || ceph_fail "ceph osd new failed"
  ceph-osd -c "$CONF" -i "$osd_id" --mkfs --osd-uuid "$osd_uuid" >"$CEPH/log/osd-mkfs.out" 2>&1 ||
    { cat "$CEPH/log/osd-mkfs.out" >&2; ceph_fail "ceph-osd --mkfs failed"; }
  timeout 60 ceph-osd -c "$CONF" -i "$osd_id" 2>>"$CEPH/log/osd.$osd_id.stderr" || ceph_fail "ceph-osd did not start"
  wait_for 60 osd_up || ceph_fail "the OSD did not come up"
  say "ceph osd up in $(since "$t0")"

  timeout 60 radosgw -c "$CONF" -n client.rgw.a 2>>"$CEPH/log/client.rgw.a.stderr" || ceph_fail "radosgw did not start"
  wait_for 60 rgw_up || ceph_fail "radosgw does not answer on port $rgw_port"
  say "radosgw answers in $(since "$t0")"
  timeout 60 radosgw-admin -c "$CONF" user create --uid="$S3_USER" --display-name="larder tests" \
    --access-key="$S3_ACCESS_KEY" --secret-key="$S3_SECRET_KEY" >"$CEPH/log/user-create.out" 2>&1 ||
    { cat "$CEPH/log/user-create.out" >&2; ceph_fail "radosgw-admin user create failed"; }
  wait_for 60 s3_roundtrip || { s3_roundtrip || true; ceph_fail "an S3 put/get through radosgw failed"; }
  say "radosgw (S3) up on 127.0.0.1:$rgw_port in $(since "$t0")"
}
mon_up() { mon_pid >/dev/null && ceph_cli mon stat; }
osd_up() { osd_pid >/dev/null && ceph_cli osd stat -f json | grep -q '"num_up_osds":1'; }
# Anonymous GET / answers (an empty bucket list) once radosgw serves.
rgw_up() { rgw_pid >/dev/null && curl -sf --max-time 5 -o /dev/null "$(s3_url)/"; }

# ---------------------------------------------------------------- env, status
env_text() {
  cat <<EOF
export LARDER_TEST_REDIS_URL='redis://127.0.0.1:$(port_of redis 0)'
export LARDER_TEST_POSTGRES_URL='postgres://postgres@127.0.0.1:$(port_of postgres 0)/larder'
export AWS_ENDPOINT_URL_S3='$(s3_url)'
export AWS_ACCESS_KEY_ID='$S3_ACCESS_KEY'
export AWS_SECRET_ACCESS_KEY='$S3_SECRET_KEY'
export AWS_REGION='$S3_REGION'
EOF
}
status() {
  local all=0 pid
  if pid="$(redis_pid)"; then echo "redis     running  pid $pid  127.0.0.1:$(port_of redis 0)"; else echo "redis     stopped"; all=1; fi
  if pid="$(pg_pid)"; then echo "postgres  running  pid $pid  127.0.0.1:$(port_of postgres 0)"; else echo "postgres  stopped"; all=1; fi
  if pid="$(mon_pid)"; then echo "ceph-mon  running  pid $pid"; else echo "ceph-mon  stopped"; all=1; fi
  if pid="$(osd_pid)"; then echo "ceph-osd  running  pid $pid"; else echo "ceph-osd  stopped"; all=1; fi
  if pid="$(rgw_pid)"; then echo "radosgw   running  pid $pid  $(s3_url)"; else echo "radosgw   stopped"; all=1; fi
  return "$all"
}

case "${1:-}" in
  start)
    t_all="$(now)"
    install_missing
    ensure_dir
    lock
    redis_start
    pg_start
    ceph_start
    env_text >"$DIR/env"
    say "all services up in $(since "$t_all"); settings in $DIR/env"
    ;;
  stop)
    case "${2:-}" in "" | --wipe) ;; *) die "unknown option ${2}: usage: services.sh stop [--wipe]" ;; esac
    [ -d "$DIR" ] || { say "nothing to stop ($DIR does not exist)"; exit 0; }
    [ -f "$DIR/$MARKER" ] || die "$DIR has no $MARKER marker: not a folder of this script's, leaving it alone"
    lock
    ceph_stop
    pg_stop
    redis_stop
    rm -f "$DIR/env"
    if [ "${2:-}" = --wipe ]; then
      rm -rf "$DIR"
      say "deleted $DIR"
    fi
    ;;
  status)
    status
    ;;
  env)
    [ -f "$DIR/env" ] || die "no settings: run 'bash scripts/services.sh start' first"
    cat "$DIR/env"
    ;;
  *)
    echo "usage: services.sh start | stop [--wipe] | status | env" >&2
    exit 2
    ;;
esac
