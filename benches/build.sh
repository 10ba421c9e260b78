#!/bin/bash
# Build benchmark: the same Dockerfiles with `burrow build` and `podman
# build` (buildah), side by side, cold (--no-cache) and fully cached, and a
# push of a ≥ 300 MB image to a loopback registry. Medians of hyperfine runs
# as the unprivileged test user; ratios printed. Never asserts on time.
#
#   small: FROM busybox + WORKDIR + COPY + 5 RUN + CMD (the issue's case)
#   ten:   a 10-step Dockerfile, for the fully cached rebuild target
#
# usage: bash benches/build.sh [-n RUNS] [--no-podman]
# Run as root (`bash tests/run.sh --bench-deps` prepares the machine).
set -euo pipefail

runs=5 podman=1
while [ $# -gt 0 ]; do
    case "$1" in
        -n) runs=$2; shift ;;
        --no-podman) podman=0 ;;
        -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
        *) echo "benches/build.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done

name=build.sh
. "$(dirname "$0")/lib.sh"
bench_setup python3

ctx=$work/ctx
mkdir -p "$ctx/app"
for i in 1 2 3 4 5; do echo "file $i" >"$ctx/app/f$i.txt"; done
cat >"$ctx/Dockerfile.small" <<DF
FROM $image
WORKDIR /app
COPY app/ /app/
RUN echo one > /app/1
RUN echo two > /app/2
RUN mkdir -p /data && echo three > /data/3
RUN cat /app/f1.txt /app/f2.txt > /app/both
RUN rm /app/f5.txt
CMD ["cat", "/app/both"]
DF
cat >"$ctx/Dockerfile.ten" <<DF
FROM $image
ENV A=1 B=2
WORKDIR /app
COPY app/ /app/
RUN echo one > /app/1
RUN echo two > /app/2
LABEL purpose=bench
RUN echo three > /app/3
EXPOSE 8080
USER 0
CMD ["cat", "/app/1"]
DF
# A ≥ 300 MB image to push: 320 MB of incompressible data in one layer.
head -c 320M /dev/urandom >"$ctx/big.bin"
printf 'FROM %s\nCOPY big.bin /big.bin\n' "$image" >"$ctx/Dockerfile.big"
chown -R "$user:" "$ctx"

b() { echo "$work/burrow build -q --network none --pull=never -f $ctx/Dockerfile.$1 $2 $ctx"; }
p() { echo "podman $podman_flags build -q --network none --pull=never -f $ctx/Dockerfile.$1 $2 $ctx"; }

# What is timed must work: one build, run.
id=$(as_user $(b small --no-cache))
got=$(as_user "$work/burrow" run --rm --network none "$id")
[ "$got" = "$(printf 'file 1\nfile 2')" ] || die "the built image printed [$got]"
log "cold builds (--no-cache), $runs runs each"
cmds=("$(b small --no-cache)")
[ "$podman" = 1 ] && cmds+=("$(p small --no-cache)")
bench_hyperfine "$work/cold.json" "${cmds[@]}"

log "fully cached rebuilds, $runs runs each"
as_user $(b small "") >/dev/null
as_user $(b ten "") >/dev/null
cmds=("$(b small "")" "$(b ten "")")
if [ "$podman" = 1 ]; then
    as_user $(p small "") >/dev/null
    as_user $(p ten "") >/dev/null
    cmds+=("$(p small "")" "$(p ten "")")
fi
bench_hyperfine "$work/cached.json" "${cmds[@]}"

log "push of a 320 MB image to the loopback registry"
as_user "$work/burrow" build -q --network none --pull=never -t big -f "$ctx/Dockerfile.big" "$ctx" >/dev/null
t0=$(date +%s.%N)
as_user "$work/burrow" push -q --tls-verify=false big "127.0.0.1:$port/bench/big-burrow:1"
burrow_push=$(echo "$(date +%s.%N) - $t0" | bc -l)
if [ "$podman" = 1 ]; then
    as_user podman $podman_flags build -q --network none --pull=never -t big -f "$ctx/Dockerfile.big" "$ctx" >/dev/null
    t0=$(date +%s.%N)
    as_user podman $podman_flags push -q --tls-verify=false big "127.0.0.1:$port/bench/big-podman:1"
    podman_push=$(echo "$(date +%s.%N) - $t0" | bc -l)
fi

ms() { jq ".results[$2].median * 1000" "$work/$1.json"; }
echo
echo "build benchmark: $(nproc) cpus, kernel $(uname -r); medians of $runs runs"
printf 'cold build (small), burrow:          %8.1f ms\n' "$(ms cold 0)"
[ "$podman" = 1 ] && printf 'cold build (small), podman:          %8.1f ms   (burrow/podman %.2f, target <= 0.5)\n' "$(ms cold 1)" "$(echo "$(ms cold 0) / $(ms cold 1)" | bc -l)"
printf 'cached rebuild (small), burrow:      %8.1f ms\n' "$(ms cached 0)"
printf 'cached rebuild (10 steps), burrow:   %8.1f ms   (target <= 200 ms)\n' "$(ms cached 1)"
if [ "$podman" = 1 ]; then
    printf 'cached rebuild (small), podman:      %8.1f ms\n' "$(ms cached 2)"
    printf 'cached rebuild (10 steps), podman:   %8.1f ms\n' "$(ms cached 3)"
fi
printf 'push 320 MB, burrow:                 %8.1f ms\n' "$(echo "$burrow_push * 1000" | bc -l)"
[ "$podman" = 1 ] && printf 'push 320 MB, podman:                 %8.1f ms   (burrow/podman %.2f, target <= 1)\n' "$(echo "$podman_push * 1000" | bc -l)" "$(echo "$burrow_push / $podman_push" | bc -l)"
exit 0
