#!/bin/bash
# Healthcheck benchmark: the CPU a healthcheck every second costs a
# container, over a minute. burrow has no daemon: the container's monitor
# forks a checker that execs each check into the container, so the cost is
# the checker's CPU (its own and that of every check process and checked
# command it reaped) plus whatever the monitor spends more than without a
# check. Measured as the unprivileged test user; never asserts on time.
#
# usage: bash benches/health.sh [-s SECONDS]
# Run as root (`bash tests/run.sh --bench-deps` prepares the machine).
set -euo pipefail

seconds=60 podman=0
while [ $# -gt 0 ]; do
    case "$1" in
        -s) seconds=$2; shift ;;
        -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
        *) echo "benches/health.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done

name=health.sh
. "$(dirname "$0")/lib.sh"
bench_setup

hz=$(getconf CLK_TCK)
# CPU ticks of a process: its own, and its reaped children's.
ticks() { awk '{print $14 + $15 + $16 + $17}' "/proc/$1/stat"; }
monitor_of() { as_user "$work/burrow" ps --format json | jq -r ".[] | select(.Names[0] == \"$1\") | .MonitorPid"; }

log "two containers, one checked every second, for $seconds s"
as_user "$work/burrow" run -d --name plain --network none "$image" sleep 100000 >/dev/null
as_user "$work/burrow" run -d --name checked --network none \
    --health-cmd 'test -e /etc/passwd' --health-interval 1s "$image" sleep 100000 >/dev/null
plain_mon=$(monitor_of plain)
checked_mon=$(monitor_of checked)
checker=$(pgrep -P "$checked_mon" -x burrow-health) || die "no checker process under monitor $checked_mon"
p0=$(ticks "$plain_mon")
m0=$(ticks "$checked_mon")
c0=$(ticks "$checker")
t0=$(date +%s.%N)
sleep "$seconds"
p1=$(ticks "$plain_mon")
m1=$(ticks "$checked_mon")
c1=$(ticks "$checker")
t1=$(date +%s.%N)
checks=$(as_user "$work/burrow" inspect --format '{{json .State.Health}}' checked | jq '.Log | length')
status=$(as_user "$work/burrow" inspect --format '{{.State.Health.Status}}' checked)
log_start=$(as_user "$work/burrow" inspect --format '{{json .State.Health}}' checked | jq -r '.Log[0].Start')
as_user "$work/burrow" rm -f plain checked >/dev/null

wall=$(echo "$t1 - $t0" | bc -l)
pct() { echo "scale=3; 100 * $1 / $hz / $wall" | bc -l; }
extra=$(( (c1 - c0) + (m1 - m0) - (p1 - p0) ))
echo
echo "health benchmark: $(nproc) cpus, kernel $(uname -r); ${seconds}s, a check every 1s (status $status, last 5 logged from $log_start, $checks kept)"
printf 'checker (checks and their commands): %6.3f %% of one CPU\n' "$(pct $((c1 - c0)))"
printf 'monitor with a check:                %6.3f %%\n' "$(pct $((m1 - m0)))"
printf 'monitor without one:                 %6.3f %%\n' "$(pct $((p1 - p0)))"
printf 'added by the healthcheck:            %6.3f %%   (target <= 1 %%)\n' "$(pct $extra)"
