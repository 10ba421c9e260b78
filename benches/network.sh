#!/bin/bash
# Network benchmark: a 512 MB HTTP download from a container's busybox
# httpd through a published port on 127.0.0.1 (burrow with pasta, Podman
# with its default rootless networking, and plain loopback with the same
# server on the host), TCP connect latency through the published port, and
# `run --rm IMG true` with the default network vs `--network none`; the
# same for a container on a user network, and a download between two
# members over the network's bridge, by name. As the unprivileged test
# user; traffic stays on loopback and in burrow's namespaces. Never asserts
# on time.
#
# usage: bash benches/network.sh [-n RUNS] [--no-podman]
# Run as root (`bash tests/run.sh --bench-deps` prepares the machine).
set -euo pipefail

runs=10 podman=1
while [ $# -gt 0 ]; do
    case "$1" in
        -n) runs=$2; shift ;;
        --no-podman) podman=0 ;;
        -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
        *) echo "benches/network.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done

name=network.sh
. "$(dirname "$0")/lib.sh"
bench_setup pasta python3

# The file served: sparse, so the disk is not what is measured.
mkdir -p "$work/www"
truncate -s 512M "$work/www/big"
chown -R "$user:" "$work/www"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { for _ in $(seq 200); do curl -s -o /dev/null "http://127.0.0.1:$1/" && return 0; sleep 0.05; done; die "no HTTP server on port $1"; }
# Seconds for the download, best of $runs (throughput is what is measured).
download() {
    local best=999 t
    for _ in $(seq "$runs"); do
        t=$(curl -s -o /dev/null -w '%{time_total}' "http://127.0.0.1:$1/big")
        best=$(echo "if ($t < $best) $t else $best" | bc -l)
    done
    echo "$best"
}
# Median microseconds of 10x$runs TCP connects (and closes) through the port.
connects() {
    python3 - "$1" "$runs" <<'PY'
import socket, statistics, sys, time
port, n = int(sys.argv[1]), int(sys.argv[2])
times = []
for _ in range(n * 10):
    t = time.perf_counter()
    s = socket.create_connection(("127.0.0.1", port))
    times.append(time.perf_counter() - t)
    s.close()
print(f"{statistics.median(times) * 1e6:.1f}")
PY
}
server="httpd -f -p 8080 -h /www"

log "plain loopback (busybox httpd on the host)"
lport=$(free_port)
as_user busybox httpd -f -p "127.0.0.1:$lport" -h "$work/www" &
lpid=$!
wait_http "$lport"
loop_s=$(download "$lport")
loop_c=$(connects "$lport")
kill "$lpid"

log "burrow, pasta, published port"
bport=$(free_port)
as_user "$work/burrow" run -d --name web -p "127.0.0.1:$bport:8080" -v "$work/www:/www:ro" "$image" $server >/dev/null
wait_http "$bport"
burrow_s=$(download "$bport")
burrow_c=$(connects "$bport")
as_user "$work/burrow" rm -f web >/dev/null

log "burrow, user network: published port, and container to container over the bridge"
as_user "$work/burrow" network create benchnet >/dev/null
uport=$(free_port)
as_user "$work/burrow" run -d --name uweb --network benchnet -p "127.0.0.1:$uport:8080" -v "$work/www:/www:ro" "$image" $server >/dev/null
wait_http "$uport"
user_s=$(download "$uport")
user_c=$(connects "$uport")
as_user "$work/burrow" run -d --name uclient --network benchnet "$image" sleep 3600 >/dev/null
# Timed from the host around `exec` (a few ms of it in 512 MB).
bridge_s=999
for _ in $(seq "$runs"); do
    t0=$(date +%s.%N)
    as_user "$work/burrow" exec uclient wget -qO /dev/null http://uweb:8080/big
    t=$(echo "$(date +%s.%N) - $t0" | bc -l)
    bridge_s=$(echo "if ($t < $bridge_s) $t else $bridge_s" | bc -l)
done
as_user "$work/burrow" rm -f uclient >/dev/null

if [ "$podman" = 1 ]; then
    log "podman, default rootless network, published port"
    pport=$(free_port)
    as_user podman $podman_flags run -d --name web -p "127.0.0.1:$pport:8080" -v "$work/www:/www:ro" "$image" $server >/dev/null
    wait_http "$pport"
    podman_s=$(download "$pport")
    podman_c=$(connects "$pport")
    as_user podman $podman_flags rm -f -t 0 web >/dev/null
fi

log "run --rm true: default network vs none ($runs runs each)"
cmds=("$work/burrow run --rm $image true" "$work/burrow run --rm --network none $image true")
[ "$podman" = 1 ] && cmds+=("podman $podman_flags run --rm $image true" "podman $podman_flags run --rm --network none $image true")
bench_hyperfine "$work/run.json" "${cmds[@]}"
# On a user network, with uweb running (the shared namespace's holder is
# up, as it is while any member runs).
bench_hyperfine "$work/urun.json" "$work/burrow run --rm --network benchnet $image true"
as_user "$work/burrow" rm -f uweb >/dev/null

mbps() { echo "scale=2; 512 / 1024 / $1" | bc -l; }
med() { jq ".results[$1].median * 1000" "$work/run.json"; }
echo
echo "network benchmark: $(nproc) cpus, kernel $(uname -r), pasta from $(dpkg-query -W -f='${Version}' passt 2>/dev/null || echo '?'); best of $runs downloads, median connects"
printf '512 MB download, plain loopback:     %5.2f GB/s\n' "$(mbps "$loop_s")"
printf '512 MB download, burrow (pasta):     %5.2f GB/s\n' "$(mbps "$burrow_s")"
[ "$podman" = 1 ] && printf '512 MB download, podman:             %5.2f GB/s\n' "$(mbps "$podman_s")"
printf '512 MB download, burrow user network:%5.2f GB/s (published port)\n' "$(mbps "$user_s")"
printf '512 MB download, member to member:   %5.2f GB/s (over the bridge, by name)\n' "$(mbps "$bridge_s")"
printf 'TCP connect, plain loopback:         %6.1f us\n' "$loop_c"
printf 'TCP connect, burrow (pasta):         %6.1f us\n' "$burrow_c"
printf 'TCP connect, burrow user network:    %6.1f us\n' "$user_c"
[ "$podman" = 1 ] && printf 'TCP connect, podman:                 %6.1f us\n' "$podman_c"
printf 'burrow run --rm true, pasta:         %6.1f ms\n' "$(med 0)"
printf 'burrow run --rm true, none:          %6.1f ms   (target: pasta <= 2x none: %.2fx)\n' "$(med 1)" "$(echo "$(med 0) / $(med 1)" | bc -l)"
printf 'burrow run --rm true, user network:  %6.1f ms   (%.2fx none)\n' "$(jq '.results[0].median * 1000' "$work/urun.json")" "$(echo "$(jq '.results[0].median * 1000' "$work/urun.json") / $(med 1)" | bc -l)"
if [ "$podman" = 1 ]; then
    printf 'podman run --rm true, default:      %6.1f ms\n' "$(med 2)"
    printf 'podman run --rm true, none:         %6.1f ms\n' "$(med 3)"
    printf 'throughput burrow/podman: %.2f (target >= 1)\n' "$(echo "$podman_s / $burrow_s" | bc -l)"
fi
