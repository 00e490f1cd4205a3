#!/usr/bin/env bash
# Start a single-node SLURM cluster (slurmctld + slurmd + munged) in DIR, without systemd, on
# loopback addresses only; what `make cluster` runs after scripts/slurm/install.sh. Every client
# needs SLURM_CONF=DIR/slurm.conf in its environment (the script prints that path on success).
# A cluster already answering in DIR is left as it is. Stop it with scripts/slurm/stop_cluster.sh DIR.
#
#   scripts/slurm/start_cluster.sh DIR
#
# Exit 0: the node is idle and takes jobs. Other codes: see the message and DIR/*.log.
set -euo pipefail

[ $# -eq 1 ] || { echo "usage: $0 DIR" >&2; exit 2; }
DIR=$(realpath -m "$1")
[ "$(id -u)" = 0 ] || { echo "slurmd and munged need root here (this user is $(id -un))" >&2; exit 1; }
for tool in slurmctld slurmd sbatch squeue scontrol munged; do
  command -v "$tool" >/dev/null || { echo "$tool is missing: run scripts/slurm/install.sh (make cluster)" >&2; exit 1; }
done
if [ -f "$DIR"/slurm.conf ] && SLURM_CONF="$DIR"/slurm.conf timeout 10 sinfo -h -o %T 2>/dev/null | grep -qx idle; then
  echo "$DIR"/slurm.conf
  exit 0
fi
bash "$(dirname "$0")"/stop_cluster.sh "$DIR"  # the remains of one that died
rm -rf "$DIR"

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
