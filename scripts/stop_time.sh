#!/bin/bash
# How long a joblib sweep with a long queue takes to stop: a 60-job XOR sweep (2 workers) gets
# one SIGINT (as Ctrl-C) after WAIT seconds; prints the seconds from the signal to its exit and
# its closing line. Usage: scripts/stop_time.sh [WAIT=20] (PY=python of the project's venv).
set -u
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
DLPROJ_OUTPUTS=$out DLPROJ_PROGRESS=0 "$PY" -m dlproj -m hydra/launcher=joblib \
    hydra.launcher.n_jobs=2 section=1 experiment=xor train.epochs=2000 \
    "seed=$(seq -s, 0 59)" >"$out/log" 2>&1 &
pid=$!
sleep "${1:-20}"
kill -INT "$pid"
t0=$(date +%s.%N)
wait "$pid"
rc=$?
t1=$(date +%s.%N)
echo "exit $rc, $(echo "$t1 - $t0" | bc) s after the SIGINT"
grep "^sweep:" "$out/log"
