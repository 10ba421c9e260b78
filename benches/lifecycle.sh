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

die() { printf 'benches/lifecycle.sh: %s\n' "$*" >&2; exit 1; }
log() { printf '==> %s\n' "$*" >&2; }
[ "$(id -u)" = 0 ] || die "run me as root (I run the containers as the unprivileged user)"
repo=$(cd "$(dirname "$0")/.." && pwd -P)
user=${TEST_USER:-burrowtest}
id -u "$user" >/dev/null 2>&1 || die "user $user missing: run bash tests/run.sh once (it creates it)"
export PATH="/root/.cargo/bin:$PATH"
for tool in docker-registry skopeo umoci hyperfine busybox jq; do
    command -v "$tool" >/dev/null || die "$tool missing: bash tests/run.sh --bench-deps installs what benchmarks need"
done
if [ "$podman" = 1 ] && ! command -v podman >/dev/null; then
    echo "podman not installed: burrow only" >&2
    podman=0
fi

work=$(mktemp -d /var/tmp/burrow-lifebench.XXXXXX)
chmod 755 "$work"
reg_pid=""
as_user() {
    runuser -u "$user" -- env -i HOME="$work/home" PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin \
        XDG_RUNTIME_DIR="$work/xdg" BURROW_ROOT="$work/burrow-root" BURROW_RUNROOT="$work/burrow-run" \
        CONTAINERS_CONF="$work/containers.conf" "$@"
}
podman_flags="--root $work/podman-root --runroot $work/podman-run --storage-driver overlay"
cleanup() {
    as_user "$work/burrow" rm -f --all >/dev/null 2>&1 || true
    [ "$podman" = 1 ] && as_user podman $podman_flags rm -f --all >/dev/null 2>&1 || true
    [ -z "$reg_pid" ] || kill "$reg_pid" 2>/dev/null || true
    as_user "$work/burrow" unshare rm -rf "$work/burrow-root" "$work/podman-root" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

log "cargo build --release"
(cd "$repo" && cargo build --release --quiet --bin burrow)
install -m 755 "${CARGO_TARGET_DIR:-$repo/target}/release/burrow" "$work/burrow"

log "busybox-static image"
rootfs=$work/rootfs
mkdir -p "$rootfs"/{bin,etc,tmp,proc,sys,dev,root}
cp /bin/busybox "$rootfs/bin/busybox"
for applet in $(/bin/busybox --list); do
    [ "$applet" = busybox ] || ln -sf busybox "$rootfs/bin/$applet"
done
echo 'root:x:0:0:root:/root:/bin/sh' >"$rootfs/etc/passwd"
echo 'root:x:0:' >"$rootfs/etc/group"
chmod -R o+rX "$rootfs"
umoci init --layout "$work/oci" >/dev/null
umoci new --image "$work/oci:bb" >/dev/null
umoci insert --rootless --image "$work/oci:bb" "$rootfs" / >/dev/null
port=$((20000 + (RANDOM % 30000)))
printf 'version: 0.1\nlog: {level: warn, accesslog: {disabled: true}}\nstorage: {filesystem: {rootdirectory: %s/registry}}\nhttp: {addr: 127.0.0.1:%s}\n' "$work" "$port" >"$work/registry.yml"
docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
reg_pid=$!
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/v2/" >/dev/null 2>&1 && break; sleep 0.05; done
image="127.0.0.1:$port/bench/busybox:latest"
skopeo --insecure-policy copy -q --dest-tls-verify=false "oci:$work/oci:bb" "docker://$image"
mkdir -p "$work/xdg" "$work/home"
chown -R "$user:" "$work"
chmod 700 "$work/xdg"
printf '[engine]\nruntime = "runc"\n' >"$work/containers.conf"
as_user "$work/burrow" pull -q "$image" >/dev/null
[ "$podman" = 1 ] && as_user podman $podman_flags pull -q --tls-verify=false "$image" >/dev/null

log "run -d latency ($runs runs each)"
cmds=("$work/burrow run -d --rm $image sleep 1")
[ "$podman" = 1 ] && cmds+=("podman $podman_flags run -d --rm --network none $image sleep 1")
as_user hyperfine -N -w 2 -r "$runs" --export-json "$work/rund.json" "${cmds[@]}" >/dev/null 2>&1 \
    || as_user hyperfine -w 2 -r "$runs" --export-json "$work/rund.json" "${cmds[@]}" >/dev/null
sleep 2

log "monitor memory"
as_user "$work/burrow" run -d --name mon "$image" sleep 30 >/dev/null
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
as_user "$work/burrow" run -d --name ex "$image" sleep 600 >/dev/null
cmds=("$work/burrow exec ex true")
if [ "$podman" = 1 ]; then
    as_user podman $podman_flags run -d --name ex --network none "$image" sleep 600 >/dev/null
    cmds+=("podman $podman_flags exec ex true")
fi
as_user hyperfine -N -w 2 -r "$runs" --export-json "$work/exec.json" "${cmds[@]}" >/dev/null 2>&1 \
    || as_user hyperfine -w 2 -r "$runs" --export-json "$work/exec.json" "${cmds[@]}" >/dev/null
as_user "$work/burrow" rm -f ex >/dev/null
[ "$podman" = 1 ] && as_user podman $podman_flags rm -f -t 0 ex >/dev/null

log "1,000 exited containers"
as_user sh -c "for i in \$(seq 1000); do $work/burrow run --name c\$i $image true; done"
as_user hyperfine -N -w 2 -r "$runs" --export-json "$work/ps.json" "$work/burrow ps -a" >/dev/null 2>&1 \
    || as_user hyperfine -w 2 -r "$runs" --export-json "$work/ps.json" "$work/burrow ps -a" >/dev/null

echo
echo "lifecycle benchmark: $(nproc) cpus, kernel $(uname -r); medians of $runs"
printf 'burrow run -d:      %7.1f ms\n' "$(jq '.results[0].median * 1000' "$work/rund.json")"
[ "$podman" = 1 ] && printf 'podman run -d:      %7.1f ms\n' "$(jq '.results[1].median * 1000' "$work/rund.json")"
printf 'burrow exec:        %7.1f ms   (target <= 10 ms)\n' "$(jq '.results[0].median * 1000' "$work/exec.json")"
[ "$podman" = 1 ] && printf 'podman exec:        %7.1f ms\n' "$(jq '.results[1].median * 1000' "$work/exec.json")"
printf 'burrow monitor RSS: %7.1f MB   (target <= 3 MB)\n' "$(echo "scale=1; $mrss / 1024" | bc)"
[ "$podman" = 1 ] && printf 'podman conmon RSS:  %7.1f MB\n' "$(echo "scale=1; ${crss:-0} / 1024" | bc)"
printf 'burrow ps -a (1,000 containers): %5.1f ms   (target <= 50 ms)\n' "$(jq '.results[0].median * 1000' "$work/ps.json")"
