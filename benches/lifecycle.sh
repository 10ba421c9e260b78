#!/bin/bash
# Lifecycle benchmark: `burrow run -d` and `burrow exec` latency, the detached monitor's
# resident memory, and `burrow ps -a` over 1,000 containers, beside Podman
# when it is installed. Runs everything as the unprivileged test user on a
# busybox-static image served by a loopback registry; never asserts on time.
#
# usage: bash benches/lifecycle.sh [-n RUNS] [--no-podman]
# Run as root (`bash tests/run.sh --bench-deps` prepares the machine).
set -euo pipefail

runs=20 podman=1
while [ $# -gt 0 ]; do
    case "$1" in
        -n) runs=$2; shift ;;
        --no-podman) podman=0 ;;
        -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
        *) echo "benches/lifecycle.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done

name=lifecycle.sh
. "$(dirname "$0")/lib.sh"
bench_setup

log "run -d latency ($runs runs each)"
cmds=("$work/burrow run -d --rm --network none $image sleep 1")
[ "$podman" = 1 ] && cmds+=("podman $podman_flags run -d --rm --network none $image sleep 1")
bench_hyperfine "$work/rund.json" "${cmds[@]}"
sleep 2

log "monitor memory"
as_user "$work/burrow" run -d --name mon --network none "$image" sleep 30 >/dev/null
mpid=$(as_user "$work/burrow" ps --format json | jq '.[0].MonitorPid')
mrss=$(awk '/VmRSS/{print $2}' "/proc/$mpid/status")
as_user "$work/burrow" rm -f mon >/dev/null
if [ "$podman" = 1 ]; then
    as_user podman $podman_flags run -d --name mon --network none "$image" sleep 30 >/dev/null
    cpid=$(pgrep -u "$user" -n conmon || true)
    crss=$([ -n "$cpid" ] && awk '/VmRSS/{print $2}' "/proc/$cpid/status" || echo 0)
    as_user podman $podman_flags rm -f mon >/dev/null
fi

log "exec ($runs runs each)"
as_user "$work/burrow" run -d --name ex --network none "$image" sleep 600 >/dev/null
cmds=("$work/burrow exec ex true")
if [ "$podman" = 1 ]; then
    as_user podman $podman_flags run -d --name ex --network none "$image" sleep 600 >/dev/null
    cmds+=("podman $podman_flags exec ex true")
fi
bench_hyperfine "$work/exec.json" "${cmds[@]}"
as_user "$work/burrow" rm -f ex >/dev/null
[ "$podman" = 1 ] && as_user podman $podman_flags rm -f -t 0 ex >/dev/null

log "1,000 exited containers"
as_user sh -c "for i in \$(seq 1000); do $work/burrow run --network none --name c\$i $image true; done"
bench_hyperfine "$work/ps.json" "$work/burrow ps -a"

echo
echo "lifecycle benchmark: $(nproc) cpus, kernel $(uname -r); medians of $runs"
printf 'burrow run -d:      %7.1f ms\n' "$(jq '.results[0].median * 1000' "$work/rund.json")"
[ "$podman" = 1 ] && printf 'podman run -d:      %7.1f ms\n' "$(jq '.results[1].median * 1000' "$work/rund.json")"
printf 'burrow exec:        %7.1f ms   (target <= 10 ms)\n' "$(jq '.results[0].median * 1000' "$work/exec.json")"
[ "$podman" = 1 ] && printf 'podman exec:        %7.1f ms\n' "$(jq '.results[1].median * 1000' "$work/exec.json")"
printf 'burrow monitor RSS: %7.1f MB   (target <= 3 MB)\n' "$(echo "scale=1; $mrss / 1024" | bc)"
[ "$podman" = 1 ] && printf 'podman conmon RSS:  %7.1f MB\n' "$(echo "scale=1; ${crss:-0} / 1024" | bc)"
printf 'burrow ps -a (1,000 containers): %5.1f ms   (target <= 50 ms)\n' "$(jq '.results[0].median * 1000' "$work/ps.json")"
