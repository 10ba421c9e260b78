#!/bin/bash
# Volume benchmark: `burrow run --rm -v vol:/d IMG true` (a named volume,
# made by the first run) against `burrow run --rm IMG true`, and the same
# with a fresh anonymous volume made and removed by each run (`-v /d`).
# Runs as the unprivileged test user on a busybox-static image served by a
# loopback registry; never asserts on time.
#
# usage: bash benches/volumes.sh [-n RUNS]
# Run as root (`bash tests/run.sh --bench-deps` prepares the machine).
set -euo pipefail

runs=30 podman=0
while [ $# -gt 0 ]; do
    case "$1" in
        -n) runs=$2; shift ;;
        -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
        *) echo "benches/volumes.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done

name=volumes.sh
. "$(dirname "$0")/lib.sh"
bench_setup

# The volume exists before the measured runs (hyperfine's warm-up would
# make it anyway): the runs measure mounting it, not making it.
as_user "$work/burrow" volume create vol >/dev/null
# In rounds: hyperfine runs one command's runs back to back, and on a busy
# machine a load change between commands would show up as their ratio.
rounds=5 per_round=$(( (runs + 4) / 5 ))
log "run --rm with and without a volume ($runs runs each, in $rounds rounds)"
for r in $(seq $rounds); do
    runs=$per_round bench_hyperfine "$work/vol$r.json" \
        "$work/burrow run --rm --network none $image true" \
        "$work/burrow run --rm --network none -v vol:/d $image true" \
        "$work/burrow run --rm --network none -v /d $image true"
done
left=$(as_user "$work/burrow" volume ls -q | wc -l)

# The median of command $1's times over every round, in ms.
median() {
    jq -s "[.[].results[$1].times[]] | sort | .[length / 2 | floor] * 1000" "$work"/vol[0-9]*.json
}
plain=$(median 0) named=$(median 1) anon=$(median 2)
echo
echo "volumes benchmark: $(nproc) cpus, kernel $(uname -r); medians of $((rounds * per_round)) runs in $rounds rounds"
printf 'burrow run --rm IMG true:            %6.1f ms\n' "$plain"
printf 'burrow run --rm -v vol:/d IMG true:  %6.1f ms   %.2fx   (target <= 1.1x)\n' "$named" "$(echo "scale=3; $named / $plain" | bc)"
printf 'burrow run --rm -v /d IMG true:      %6.1f ms   %.2fx   (an anonymous volume made and removed each run)\n' "$anon" "$(echo "scale=3; $anon / $plain" | bc)"
echo "volumes left after the runs: $left (vol only: 1)"
