#!/bin/bash
# Run benchmark: `burrow run --rm --network none IMG true` vs `podman run --rm --network
# none IMG true` vs `bwrap --unshare-all --ro-bind ROOTFS / ... true`, as the
# unprivileged test user, on a busybox-static image served by a loopback
# registry. Prints medians and ratios (hyperfine); never asserts on time.
#
# Then the first and the second `run --rm --userns=keep-id IMG true` of a
# freshly pulled 320 MB image of 20,000 files (Podman chowns a copy of the
# image on first use; burrow maps ids through fuse-overlayfs instead).
#
# usage: bash benches/run.sh [-n RUNS] [--no-podman] [--no-keep-id]
# Run as root (it builds burrow, starts a registry and runs everything as
# TEST_USER, default burrowtest; `bash tests/run.sh --bench-deps` prepares it).
set -euo pipefail

runs=30 podman=1 keepid=1
while [ $# -gt 0 ]; do
    case "$1" in
        -n) runs=$2; shift ;;
        --no-podman) podman=0 ;;
        --no-keep-id) keepid=0 ;;
        -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
        *) echo "benches/run.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done

die() { printf 'benches/run.sh: %s\n' "$*" >&2; exit 1; }
log() { printf '==> %s\n' "$*" >&2; }
[ "$(id -u)" = 0 ] || die "run me as root (I run the containers as the unprivileged user)"
repo=$(cd "$(dirname "$0")/.." && pwd -P)
user=${TEST_USER:-burrowtest}
id -u "$user" >/dev/null 2>&1 || die "user $user missing: run bash tests/run.sh once (it creates it)"
export PATH="/root/.cargo/bin:$PATH"
for tool in docker-registry skopeo umoci hyperfine bwrap busybox jq /usr/bin/time; do
    command -v "$tool" >/dev/null || die "$tool missing: bash tests/run.sh --bench-deps installs what benchmarks need"
done
if [ "$podman" = 1 ] && ! command -v podman >/dev/null; then
    echo "podman not installed: comparing with bwrap only" >&2
    podman=0
fi

work=$(mktemp -d /var/tmp/burrow-runbench.XXXXXX)
chmod 755 "$work"
reg_pid=""
cleanup() {
    [ -z "$reg_pid" ] || kill "$reg_pid" 2>/dev/null || true
    [ -f "$work/xdg/libpod/tmp/pause.pid" ] && kill "$(cat "$work/xdg/libpod/tmp/pause.pid")" 2>/dev/null
    runuser -u "$user" -- env BURROW_ROOT="$work/burrow-root" "$work/burrow" unshare rm -rf "$work/burrow-root" "$work/podman-root" 2>/dev/null || true
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
    # An applet named busybox would replace the binary with a symlink loop.
    [ "$applet" = busybox ] || ln -sf busybox "$rootfs/bin/$applet"
done
echo 'root:x:0:0:root:/root:/bin/sh' >"$rootfs/etc/passwd"
echo 'root:x:0:' >"$rootfs/etc/group"
chmod -R o+rX "$rootfs"
umoci init --layout "$work/oci" >/dev/null
umoci new --image "$work/oci:bb" >/dev/null
umoci insert --rootless --image "$work/oci:bb" "$rootfs" / >/dev/null
umoci config --image "$work/oci:bb" --config.env PATH=/bin --config.cmd sh >/dev/null

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for _ in 1 2 3 4 5; do
    port=$((20000 + (RANDOM % 30000)))
    port_free "$port" || continue
    printf 'version: 0.1\nlog: {level: warn, accesslog: {disabled: true}}\nstorage: {filesystem: {rootdirectory: %s/registry}}\nhttp: {addr: 127.0.0.1:%s}\n' "$work" "$port" >"$work/registry.yml"
    docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
    reg_pid=$!
    for _ in $(seq 100); do
        curl -fs "http://127.0.0.1:$port/v2/" >/dev/null 2>&1 && break
        sleep 0.05
    done
    curl -fs "http://127.0.0.1:$port/v2/" >/dev/null 2>&1 && break
    kill "$reg_pid" 2>/dev/null || true
    reg_pid=""
done
[ -n "$reg_pid" ] || die "could not start docker-registry (see $work/registry.log)"
image="127.0.0.1:$port/bench/busybox:latest"
skopeo --insecure-policy copy -q --dest-tls-verify=false "oci:$work/oci:bb" "docker://$image"

mkdir -p "$work/xdg" "$work/home"
chown -R "$user:" "$work"
chmod 700 "$work/xdg"
as_user() {
    runuser -u "$user" -- env -i HOME="$work/home" PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin \
        XDG_RUNTIME_DIR="$work/xdg" BURROW_ROOT="$work/burrow-root" BURROW_RUNROOT="$work/burrow-run" \
        CONTAINERS_CONF="$work/containers.conf" "$@"
}
# Podman 4.3 on this hybrid-cgroup host needs runc (crun refuses the layout).
printf '[engine]\nruntime = "runc"\n' >"$work/containers.conf"
podman_flags="--root $work/podman-root --runroot $work/podman-run --storage-driver overlay"

as_user "$work/burrow" pull -q --tls-verify=false "$image" >/dev/null
cmds=("$work/burrow run --rm --network none $image true")
names=(burrow)
if [ "$podman" = 1 ]; then
    as_user podman $podman_flags pull -q --tls-verify=false "$image" >/dev/null
    cmds+=("podman $podman_flags run --rm --network none $image true")
    names+=(podman)
fi
cmds+=("bwrap --unshare-all --ro-bind $rootfs / --proc /proc --dev /dev true")
names+=(bwrap)

log "timing ($runs runs each)"
as_user hyperfine -N -w 3 -r "$runs" --export-json "$work/result.json" "${cmds[@]}" >/dev/null 2>&1 \
    || as_user hyperfine -w 3 -r "$runs" --export-json "$work/result.json" "${cmds[@]}" >/dev/null
rss=$(as_user /usr/bin/time -f %M "$work/burrow" run --rm --network none "$image" true 2>&1 | tail -n1)

echo
echo "run benchmark: $(nproc) cpus, kernel $(uname -r); $runs runs each, medians"
printf '%-8s %10s\n' tool median_ms
for i in "${!names[@]}"; do
    printf '%-8s %10.1f\n' "${names[$i]}" "$(jq ".results[$i].median * 1000" "$work/result.json")"
done
b=$(jq '.results[0].median' "$work/result.json")
echo
if [ "$podman" = 1 ]; then
    p=$(jq '.results[1].median' "$work/result.json")
    echo "podman/burrow: $(jq -n "$p / $b" | xargs printf '%.1f')x   (target >= 20x)"
fi
w=$(jq '.results[-1].median' "$work/result.json")
echo "burrow/bwrap:  $(jq -n "$b / $w" | xargs printf '%.1f')x   (target <= 3x)"
echo "burrow median: $(jq -n "$b * 1000" | xargs printf '%.1f') ms   (target <= 15 ms)"
echo "burrow run peak RSS: $((rss / 1024)) MB   (target <= 16 MB)"

[ "$keepid" = 1 ] || exit 0

# ---------------------------------------------------------------- keep-id
log "keep-id: a 320 MB image of 20,000 files"
big=$work/big
mkdir -p "$big/data"
cp -a "$rootfs/." "$big/"
perl -e '
    my ($dir) = @ARGV;
    open(my $r, "<", "/dev/urandom") or die;
    for my $d (0..199) {
        mkdir "$dir/data/$d" or die;
        for my $f (0..99) {
            read($r, my $buf, 16384) == 16384 or die;
            open(my $o, ">", "$dir/data/$d/$f") or die; print $o $buf; close $o;
        }
    }' "$big"
chmod -R o+rX "$big"
umoci new --image "$work/oci:big" >/dev/null
umoci insert --rootless --image "$work/oci:big" "$big" / >/dev/null
umoci config --image "$work/oci:big" --config.env PATH=/bin --config.cmd sh >/dev/null
bigimage="127.0.0.1:$port/bench/big:latest"
skopeo --insecure-policy copy -q --dest-tls-verify=false "oci:$work/oci:big" "docker://$bigimage"
chown -R "$user:" "$work"

# Seconds of one command, as the test user.
timed() {
    local t0 t1
    t0=$(date +%s%N)
    as_user "$@" >/dev/null
    t1=$(date +%s%N)
    echo "scale=3; ($t1 - $t0) / 1000000000" | bc
}
as_user "$work/burrow" pull -q --tls-verify=false "$bigimage" >/dev/null
b1=$(timed "$work/burrow" run --rm --network none --userns=keep-id "$bigimage" true)
b2=$(timed "$work/burrow" run --rm --network none --userns=keep-id "$bigimage" true)
echo
echo "keep-id, first and second run of a fresh 320 MB image (seconds)"
printf '%-8s %8s %8s %8s\n' tool first second ratio
printf '%-8s %8.3f %8.3f %8.1f\n' burrow "$b1" "$b2" "$(echo "scale=3; $b1 / $b2" | bc)"
if [ "$podman" = 1 ]; then
    as_user podman $podman_flags pull -q --tls-verify=false "$bigimage" >/dev/null
    p1=$(timed podman $podman_flags run --rm --network none --userns=keep-id "$bigimage" true)
    p2=$(timed podman $podman_flags run --rm --network none --userns=keep-id "$bigimage" true)
    printf '%-8s %8.3f %8.3f %8.1f\n' podman "$p1" "$p2" "$(echo "scale=3; $p1 / $p2" | bc)"
fi
echo "(target: burrow first <= 2x second)"
