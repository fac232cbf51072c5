#!/usr/bin/env bash
# Run the hostile suite several times in a row while stress-ng keeps every CPU busy
# (issue 13, item 4: a grade must not depend on the machine's load).
#
#   tools/hostile_under_load.sh [RUNS] [pytest targets and options...]
#   tools/hostile_under_load.sh 3                                  # all of tests/hostile
#   tools/hostile_under_load.sh 3 tests/hostile/test_hostile_cli.py tests/hostile/test_hostile_sandbox.py
#
# Needs stress-ng (Debian: apt-get install -y stress-ng). The load is bounded: stress-ng runs
# in 60 s slices (restarted if one is killed) only while a run is in progress, and is stopped
# when the run ends. Logs: /tmp/hostile-under-load-<run>.log. Prints one summary line per run
# and exits non-zero if any run failed.
set -uo pipefail
cd "$(dirname "$0")/.."
runs=${1:-3}
shift || true
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(tests/hostile)
command -v stress-ng >/dev/null || { echo "needs stress-ng: apt-get install -y stress-ng" >&2; exit 2; }
cpus=$(nproc)
failed=0
load=""
stop_load() { [ -n "$load" ] && { kill "$load" 2>/dev/null; wait "$load" 2>/dev/null; }; load=""; }
trap stop_load EXIT
for i in $(seq 1 "$runs"); do
  ( trap 'kill $(jobs -p) 2>/dev/null; exit 0' TERM
    while true; do stress-ng --cpu "$cpus" --timeout 60s --quiet & wait $!; done ) &
  load=$!
  start=$(date +%s)
  .venv/bin/python -m pytest "${targets[@]}" -q -p no:cacheprovider -rf \
    > "/tmp/hostile-under-load-$i.log" 2>&1
  rc=$?
  stop_load
  echo "run $i/$runs under stress-ng --cpu $cpus: exit $rc in $(( $(date +%s) - start )) s;" \
       "$(tail -1 "/tmp/hostile-under-load-$i.log")"
  grep -E '^FAILED' "/tmp/hostile-under-load-$i.log" || true
  [ "$rc" -ne 0 ] && failed=1
done
exit "$failed"
