#!/usr/bin/env bash
# A throwaway single-node Ceph cluster with an S3 gateway, for the S3 blob store's tests and
# benchmarks: one mon, one bluestore OSD on a sparse file, radosgw (beast), all on 127.0.0.1.
# No systemd, no Docker; the daemons detach (own session, stdio to logs), so this returns
# promptly even when stdout is a CI pipe.
#
#   scripts/ceph.sh start DIR            install the packages if missing, start what is not
#                                        running, create the S3 user, write DIR/env
#   scripts/ceph.sh stop DIR [--purge]   stop by PID (gateway and OSD first, then the mon);
#                                        --purge also deletes DIR
#
# DIR/env exports COFFER_TEST_S3_URL, AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY. The keys are
# random per DIR (kept in DIR/s3-keys, mode 0600).
#
# Environment:
#   COFFER_CEPH_MON_PORT (13300)   the mon; the OSD (and mgr) bind MON_PORT+100..MON_PORT+199
#   COFFER_RGW_PORT (17480)        the S3 endpoint, http://127.0.0.1:PORT
#   COFFER_CEPH_BLOCK_BYTES        size of the sparse OSD block file (10 GiB; ~50 MB really used)
#   COFFER_CEPH_WITH_MGR=1         also start ceph-mgr (about 300 MiB; nothing here needs it)
#   COFFER_S3_TEST_BUCKET          the bucket named in COFFER_TEST_S3_URL (coffer-test)
#
# Ports and the fsid are fixed when DIR is first created; start on an existing DIR reuses its
# data (bluestore keeps the objects). A cluster whose first start failed half way is best
# removed with `stop DIR --purge`.
set -euo pipefail

usage() {
  echo "usage: $0 start DIR | $0 stop DIR [--purge]" >&2
  exit 2
}
[ $# -ge 2 ] || usage
ACTION=$1
DIR=$2
[ -n "$DIR" ] || usage

# ---- stop ------------------------------------------------------------------------------------
# Sends SIGTERM to the daemons named, waits up to 15 s, then SIGKILLs what is left. Only PIDs
# from DIR/run are touched, and only if the process still is the daemon we started.
stop_daemons() {
  local pids=() name pidfile pid
  for name in "$@"; do
    pidfile="$DIR/run/$name.pid"
    [ -f "$pidfile" ] || continue
    pid=$(cat "$pidfile")
    if [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null &&
       tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$DIR\|ceph\|radosgw"; then
      kill "$pid" 2>/dev/null || true
      pids+=("$pid")
    fi
    rm -f "$pidfile"
  done
  [ ${#pids[@]} -gt 0 ] || return 0
  local waited left p
  for waited in $(seq 1 60); do
    left=0
    for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && left=1; done
    [ $left = 0 ] && return 0
    sleep 0.25
  done
  for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && kill -9 "$p" 2>/dev/null; done
  return 0
}

if [ "$ACTION" = stop ]; then
  [ -d "$DIR" ] || exit 0
  DIR=$(cd "$DIR" && pwd)
  # The OSD goes down before the mon, so that the mon records it as down: a later start on
  # the same data is then about 6 s instead of about 19 s.
  stop_daemons client.rgw.0 osd.0
  stop_daemons mgr.x mon.a
  if [ "${3:-}" = --purge ]; then rm -rf "$DIR"; fi
  exit 0
fi
[ "$ACTION" = start ] || usage

# ---- install ---------------------------------------------------------------------------------
# ceph-mgr is installed but only started with COFFER_CEPH_WITH_MGR=1; curl polls the gateway.
CEPH_PACKAGES=(ceph-mon ceph-mgr ceph-osd radosgw ceph-common curl)
missing=()
for p in "${CEPH_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  echo "ceph.sh: installing ${missing[*]} (about 300 MB, once)"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

MON_PORT=${COFFER_CEPH_MON_PORT:-13300}
RGW_PORT=${COFFER_RGW_PORT:-17480}
BLOCK_BYTES=${COFFER_CEPH_BLOCK_BYTES:-10737418240}
BUCKET=${COFFER_S3_TEST_BUCKET:-coffer-test}
S3_USER=coffer-test

mkdir -p "$DIR"/{log,run,mon.a,osd.0,rgw}
DIR=$(cd "$DIR" && pwd)
export CEPH_CONF="$DIR/ceph.conf"
CEPH=(ceph --connect-timeout 10)

# One start at a time per DIR. The lock's descriptor is closed for every daemon (9>&-), or
# the detached daemons would hold the lock for their whole life.
exec 9>"$DIR/.start.lock"
flock 9

# A PID file left by a crash may name a PID that now belongs to something else.
alive() {
  local pid
  pid=$(cat "$DIR/run/$1.pid" 2>/dev/null) || return 1
  [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null &&
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'ceph-\|radosgw'
}

# wait_for SECONDS WHAT COMMAND...: polls COMMAND every 0.5 s.
wait_for() {
  local seconds=$1 what=$2
  shift 2
  for _ in $(seq 1 $((seconds * 2))); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  echo "ceph.sh: timed out after ${seconds}s waiting for $what; logs in $DIR/log" >&2
  return 1
}

rgw_answers() { curl -sf -o /dev/null --max-time 2 "http://127.0.0.1:$RGW_PORT/"; }
osd_is_up() { "${CEPH[@]}" osd dump 2>/dev/null | grep -q '^osd.0 up'; }

if [ ! -f "$DIR/ceph.conf" ]; then
  FSID=$(cat /proc/sys/kernel/random/uuid)
  cat >"$DIR/ceph.conf.tmp" <<EOF
# Generated by scripts/ceph.sh: a throwaway test cluster, no authentication, loopback only.
[global]
fsid = $FSID
mon host = [v2:127.0.0.1:$MON_PORT]
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind msgr1 = false
ms bind port min = $((MON_PORT + 100))
ms bind port max = $((MON_PORT + 199))
auth cluster required = none
auth service required = none
auth client required = none
run dir = $DIR/run
pid file = $DIR/run/\$name.pid
log file = $DIR/log/\$name.log
admin socket = $DIR/run/\$name.asok
keyring = /dev/null
# One OSD: pools of size 1, few placement groups (rgw creates 5+ pools; the default 32 PGs
# each would exceed mon_max_pg_per_osd).
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon max pg per osd = 1000
mon warn on pool no redundancy = false
mon data avail warn = 2
mon data avail crit = 1
mon warn on insecure global id reclaim allowed = false
[mon]
mon data = $DIR/mon.\$id
mon cluster log file = $DIR/log/mon-cluster.log
[mgr]
mgr data = $DIR/mgr.\$id
[osd]
osd data = $DIR/osd.\$id
osd objectstore = bluestore
# Leave "bluestore block path" unset: bluestore makes osd.N/block a symlink to it and mkfs
# then fails with ELOOP. "block create" makes a sparse file there instead.
bluestore block create = true
bluestore block size = $BLOCK_BYTES
bluestore fsck on mount = false
osd memory target = 1073741824
osd class load list = *
osd class default list = *
[client]
log file = $DIR/log/\$name.log
[client.rgw.0]
rgw frontends = beast endpoint=127.0.0.1:$RGW_PORT
rgw data = $DIR/rgw
rgw enable usage log = false
rgw thread pool size = 64
# radosgw switches its own defaults to cephx and a secure mon connection; with auth none it
# would then loop on "get_initial_auth_request returned -13" and never come up.
auth client required = none
ms mon client mode = crc
EOF
  mv "$DIR/ceph.conf.tmp" "$DIR/ceph.conf"
fi

# An existing DIR keeps the ports it was created with, whatever the environment says now:
# polling (or writing into DIR/env) another port could find someone else's cluster there.
conf_mon_port=$(sed -n 's/^mon host = \[v2:127\.0\.0\.1:\([0-9]*\)\]$/\1/p' "$DIR/ceph.conf")
conf_rgw_port=$(sed -n 's/^rgw frontends = beast endpoint=127\.0\.0\.1:\([0-9]*\)$/\1/p' "$DIR/ceph.conf")
if [ -z "$conf_mon_port" ] || [ -z "$conf_rgw_port" ]; then
  echo "ceph.sh: cannot read the ports from $DIR/ceph.conf; run '$0 stop $DIR --purge' and start again" >&2
  exit 1
fi
if { [ -n "${COFFER_CEPH_MON_PORT:-}" ] && [ "$conf_mon_port" != "$MON_PORT" ]; } ||
   { [ -n "${COFFER_RGW_PORT:-}" ] && [ "$conf_rgw_port" != "$RGW_PORT" ]; }; then
  echo "ceph.sh: $DIR was created with mon port $conf_mon_port and S3 port $conf_rgw_port; using those" >&2
fi
MON_PORT=$conf_mon_port
RGW_PORT=$conf_rgw_port

# ---- mon ---------------------------------------------------------------------------------------
if [ ! -f "$DIR/mon.a/store.db/CURRENT" ]; then
  FSID=$(awk -F' = ' '/^fsid/{print $2}' "$DIR/ceph.conf")
  monmaptool --create --clobber --fsid "$FSID" --addv a "[v2:127.0.0.1:$MON_PORT]" "$DIR/monmap" \
    >"$DIR/log/monmap.log" 2>&1
  ceph-mon --mkfs -i a --monmap "$DIR/monmap" --keyring /dev/null >"$DIR/log/mon-mkfs.log" 2>&1
  touch "$DIR/mon.a/keyring"
fi
alive mon.a || ceph-mon -i a </dev/null >>"$DIR/log/mon-start.log" 2>&1 9>&-
wait_for 60 "the mon on 127.0.0.1:$MON_PORT" "${CEPH[@]}" mon stat

if [ "${COFFER_CEPH_WITH_MGR:-0}" = 1 ]; then
  mkdir -p "$DIR/mgr.x"
  alive mgr.x || ceph-mgr -i x </dev/null >>"$DIR/log/mgr-start.log" 2>&1 9>&-
fi

# ---- osd ---------------------------------------------------------------------------------------
if [ ! -f "$DIR/osd.0/whoami" ]; then
  OSD_UUID=$(cat /proc/sys/kernel/random/uuid)
  OSD_ID=$("${CEPH[@]}" osd new "$OSD_UUID")
  if [ "$OSD_ID" != 0 ]; then
    echo "ceph.sh: the mon allocated osd.$OSD_ID, expected osd.0: an earlier start failed half way." >&2
    echo "ceph.sh: run '$0 stop $DIR --purge' and start again." >&2
    exit 1
  fi
  ceph-osd -i 0 --mkfs --osd-uuid "$OSD_UUID" </dev/null >"$DIR/log/osd-mkfs.log" 2>&1 ||
    { echo "ceph.sh: OSD mkfs failed, see $DIR/log/osd-mkfs.log" >&2; exit 1; }
fi
alive osd.0 || ceph-osd -i 0 </dev/null >>"$DIR/log/osd-start.log" 2>&1 9>&-
wait_for 120 "osd.0 to come up" osd_is_up

# ---- radosgw -----------------------------------------------------------------------------------
# radosgw forks only once it has reached the mon, so a broken configuration would hang here
# without the timeout. Its first start creates its pools (about 10 s).
if ! alive client.rgw.0; then
  timeout 120 radosgw -n client.rgw.0 </dev/null >>"$DIR/log/rgw-start.log" 2>&1 9>&- ||
    { echo "ceph.sh: radosgw did not start, see $DIR/log/rgw-start.log and $DIR/log/client.rgw.0.log" >&2; exit 1; }
fi
wait_for 120 "radosgw on 127.0.0.1:$RGW_PORT" rgw_answers

# ---- S3 user -----------------------------------------------------------------------------------
if [ ! -s "$DIR/s3-keys" ]; then
  umask 077
  # od reads exactly what it needs (a `tr </dev/urandom | head` pipe dies of SIGPIPE under
  # pipefail).
  ACCESS_KEY=$(od -An -N10 -tx1 /dev/urandom | tr -d ' \n' | tr a-f A-F)
  SECRET_KEY=$(od -An -N20 -tx1 /dev/urandom | tr -d ' \n')
  printf '%s %s\n' "$ACCESS_KEY" "$SECRET_KEY" >"$DIR/s3-keys.tmp"
  mv "$DIR/s3-keys.tmp" "$DIR/s3-keys"
  umask 022
fi
read -r ACCESS_KEY SECRET_KEY <"$DIR/s3-keys"
if ! radosgw-admin user info --uid "$S3_USER" >/dev/null 2>&1; then
  radosgw-admin user create --uid "$S3_USER" --display-name "Coffer tests" \
    --access-key "$ACCESS_KEY" --secret-key "$SECRET_KEY" >"$DIR/log/user-create.log" 2>&1 ||
    { echo "ceph.sh: could not create the S3 user, see $DIR/log/user-create.log" >&2; exit 1; }
fi

umask 077
cat >"$DIR/env.tmp" <<EOF
# Written by scripts/ceph.sh: the throwaway Ceph RGW in $DIR.
export COFFER_TEST_S3_URL='s3://$BUCKET?endpoint=http://127.0.0.1:$RGW_PORT&region=us-east-1'
export AWS_ACCESS_KEY_ID='$ACCESS_KEY'
export AWS_SECRET_ACCESS_KEY='$SECRET_KEY'
EOF
mv "$DIR/env.tmp" "$DIR/env"
echo "ceph.sh: S3 (Ceph RGW) on http://127.0.0.1:$RGW_PORT, region us-east-1; source $DIR/env"
