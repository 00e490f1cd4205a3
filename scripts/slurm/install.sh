#!/usr/bin/env bash
# Install what scripts/slurm/start_cluster.sh needs: Debian's slurmctld, slurmd, slurm-client and
# munge (22.05 on bookworm). Part of `make cluster`; the tests themselves never install anything.
set -euo pipefail
have_all() {
  for tool in slurmctld slurmd sbatch squeue scontrol munged; do
    command -v "$tool" >/dev/null || return 1
  done
}
have_all && exit 0
[ "$(id -u)" = 0 ] || { echo "installing SLURM needs root: sudo $0" >&2; exit 1; }
command -v apt-get >/dev/null || { echo "no apt-get: install slurmctld, slurmd, slurm-client and munge by hand" >&2; exit 1; }
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends slurmctld slurmd slurm-client munge
have_all
