#!/usr/bin/env bash
# Stop the cluster scripts/slurm/start_cluster.sh DIR started: cancel its jobs, stop slurmd,
# slurmctld and munged by their pid files, then end any process still carrying this cluster's
# SLURM_CONF (job steps, a submitter that was left waiting). Touches no other process.
set -uo pipefail
[ $# -eq 1 ] || { echo "usage: $0 DIR" >&2; exit 2; }
DIR=$(realpath -m "$1")
CONF="$DIR"/slurm.conf
[ -f "$CONF" ] || exit 0

SLURM_CONF="$CONF" scancel --quiet --user="$(id -un)" >/dev/null 2>&1 || true

stop_pidfile() {
  local pidfile=$1 pid
  [ -f "$pidfile" ] || return 0
  pid=$(cat "$pidfile" 2>/dev/null) || return 0
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
  kill "$pid" 2>/dev/null
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.2; done
  kill -9 "$pid" 2>/dev/null || true
}
stop_pidfile "$DIR"/slurmd.pid
stop_pidfile "$DIR"/slurmctld.pid

# Job steps and their children inherited SLURM_CONF=$CONF from slurmd or the submitter.
for environ in /proc/[0-9]*/environ; do
  pid=${environ#/proc/}; pid=${pid%/environ}
  [ "$pid" = "$$" ] && continue
  if { tr '\0' '\n' <"$environ"; } 2>/dev/null | grep -qxF "SLURM_CONF=$CONF"; then
    kill -9 "$pid" 2>/dev/null || true
  fi
done
stop_pidfile "$DIR"/munge/munged.pid
exit 0
