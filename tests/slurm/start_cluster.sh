#!/usr/bin/env bash
# Start a single-node SLURM cluster (slurmctld + slurmd + munged) in DIR, without systemd, on
# loopback addresses only. Installs Debian's slurmctld, slurmd, slurm-client and munge when they
# are missing. Every client needs SLURM_CONF=DIR/slurm.conf in its environment (the script prints
# that path on success). Stop it with tests/slurm/stop_cluster.sh DIR.
#
#   tests/slurm/start_cluster.sh DIR
#
# Exit 0: the node is idle and takes jobs. Exit 77: this machine cannot run it (no root, no
# apt-get, install failed); the reason is on stderr. Other codes: it should have worked; see
# DIR/*.log.
set -euo pipefail

skip() { echo "SKIP: $*" >&2; exit 77; }

[ $# -eq 1 ] || { echo "usage: $0 DIR" >&2; exit 2; }
DIR=$(realpath -m "$1")
[ "$(id -u)" = 0 ] || skip "slurmd and munged need root here (this user is $(id -un))"

have_all() {
  for tool in slurmctld slurmd sbatch squeue scontrol munged; do
    command -v "$tool" >/dev/null || return 1
  done
}
if ! have_all; then
  command -v apt-get >/dev/null || skip "SLURM is not installed and there is no apt-get"
  export DEBIAN_FRONTEND=noninteractive
  { apt-get update -qq && apt-get install -y -qq --no-install-recommends \
      slurmctld slurmd slurm-client munge; } >"${TMPDIR:-/tmp}/dlproj-slurm-apt.log" 2>&1 \
    || skip "apt-get install slurmctld slurmd slurm-client munge failed (${TMPDIR:-/tmp}/dlproj-slurm-apt.log)"
  have_all || skip "SLURM tools still missing after apt-get install"
fi

mkdir -p "$DIR"/munge "$DIR"/state "$DIR"/spool
# munged refuses a socket directory others can write to, and clients must be able to reach it.
chmod 755 "$DIR" "$DIR"/munge
dd if=/dev/urandom of="$DIR"/munge/munge.key bs=1024 count=1 status=none
chmod 400 "$DIR"/munge/munge.key
SOCKET="$DIR"/munge/munge.socket
munged --force --key-file="$DIR"/munge/munge.key --socket="$SOCKET" \
  --pid-file="$DIR"/munge/munged.pid --log-file="$DIR"/munge/munged.log \
  --seed-file="$DIR"/munge/munged.seed

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
CTLD_PORT=$(free_port)
SLURMD_PORT=$(free_port)
while [ "$SLURMD_PORT" = "$CTLD_PORT" ]; do SLURMD_PORT=$(free_port); done
HOST=$(hostname -s)
# The node's real CPUs and memory, as slurmd sees them ("NodeName=... CPUs=... RealMemory=...").
NODE_LINE=$(slurmd -C | head -n 1)

cat >"$DIR"/slurm.conf <<CONF
ClusterName=dlprojtest
SlurmctldHost=$HOST(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$SOCKET
CredType=cred/munge
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/slurmctld.pid
SlurmdPidFile=$DIR/slurmd.pid
SlurmctldLogFile=$DIR/slurmctld.log
SlurmdLogFile=$DIR/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
MpiDefault=none
# Listen on the loopback address of the host name (see NodeAddr), not on every interface.
CommunicationParameters=NoInAddrAny
ReturnToService=2
SlurmctldTimeout=30
SlurmdTimeout=30
KillWait=5
MinJobAge=600
$NODE_LINE NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF

export SLURM_CONF="$DIR"/slurm.conf
slurmctld -i
slurmd

# Wait (up to a minute) for the node to be idle; resume it if it came up down.
for _ in $(seq 1 60); do
  state=$(sinfo -h -o %T 2>/dev/null | head -n 1 || true)
  case "$state" in
    idle) echo "$SLURM_CONF"; exit 0 ;;
    down*|drain*|unknown*) scontrol update NodeName="$HOST" State=RESUME >/dev/null 2>&1 || true ;;
  esac
  sleep 1
done
echo "SLURM node not idle after 60 s (state: ${state:-none}); see $DIR/slurmctld.log and $DIR/slurmd.log" >&2
exit 1
