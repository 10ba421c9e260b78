#!/bin/bash
# Pull benchmark: burrow vs Podman (and skopeo as a lower bound) pulling a
# large 4-layer image from a loopback registry, as the unprivileged test user,
# into a fresh store each run. Prints medians; never asserts on time.
#
# usage: bash benches/pull.sh [-n RUNS] [--no-podman] [--no-skopeo] [--cache DIR]
#   -n RUNS      runs per tool (default 3)
#   --cache DIR  where the generated image is kept between invocations
#                (default /var/tmp/burrow-bench-cache)
# Run as root (it builds burrow, starts a registry and runs the pulls as
# TEST_USER, default burrowtest; `bash tests/run.sh` creates that user).
set -euo pipefail

runs=3 podman=1 skopeo=1
cache=/var/tmp/burrow-bench-cache
while [ $# -gt 0 ]; do
    case "$1" in
        -n) runs=$2; shift ;;
        --no-podman) podman=0 ;;
        --no-skopeo) skopeo=0 ;;
        --cache) cache=$2; shift ;;
        -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
        *) echo "benches/pull.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
[[ "$runs" =~ ^[1-9][0-9]*$ ]] || { echo "benches/pull.sh: -n wants a positive number" >&2; exit 2; }

die() { printf 'benches/pull.sh: %s\n' "$*" >&2; exit 1; }
log() { printf '==> %s\n' "$*" >&2; }

[ "$(id -u)" = 0 ] || die "run me as root (I run the pulls as the unprivileged user)"
repo=$(cd "$(dirname "$0")/.." && pwd -P)
user=${TEST_USER:-burrowtest}
id -u "$user" >/dev/null 2>&1 || die "user $user missing: run bash tests/run.sh once (it creates it)"
home=$(getent passwd "$user" | cut -d: -f6)
export PATH="/root/.cargo/bin:$PATH" DEBIAN_FRONTEND=noninteractive

# Generator layout version: bump when gen-image.pl or the image shape changes.
gen_version=1
seed=20241122
# Uncompressed MiB per layer; with the mix below gzip gets ~2.5:1, so the
# compressed image is ~320 MiB (like the 326 MB reference image).
layer_mib=(40 320 280 160)
# Fraction of each file that is incompressible: the corpus gzips ~3.2:1,
# and r + (1-r)/3.2 = 1/2.5 gives r ~ 0.13.
random_fraction=0.127

need=()
for p in docker-registry skopeo jq time openssl; do
    [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)" = "install ok installed" ] || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
    log "installing ${need[*]}"
    apt-get update -qq && apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
if [ "$podman" = 1 ] && ! command -v podman >/dev/null; then
    echo "podman not installed: comparing with skopeo only (bash tests/run.sh --bench-deps installs it)" >&2
    podman=0
fi

work=$(mktemp -d /var/tmp/burrow-bench.XXXXXX)
chmod 755 "$work"
reg_pid=""
cleanup() {
    [ -z "$reg_pid" ] || kill "$reg_pid" 2>/dev/null || true
    # Rootless Podman leaves a pause process holding its user namespace; it
    # records its pid in the runtime dir we gave it.
    if [ -f "$work/xdg/libpod/tmp/pause.pid" ]; then
        kill "$(cat "$work/xdg/libpod/tmp/pause.pid")" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

# ------------------------------------------------------------ the image
image="$cache/v$gen_version/oci"
if [ ! -f "$image/complete" ]; then
    log "generating the benchmark image into $image (once)"
    rm -rf "$cache/v$gen_version"
    mkdir -p "$image/blobs/sha256"
    src="$cache/v$gen_version/src"
    perl "$repo/benches/gen-image.pl" "$src" "$seed" "$random_fraction" "${layer_mib[@]}"
    for i in "${!layer_mib[@]}"; do
        (
            tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@1700000000 --format=gnu \
                -C "$src/layer$i" -cf "$src/layer$i.tar" .
            sha256sum "$src/layer$i.tar" | cut -d' ' -f1 >"$src/layer$i.diffid"
            gzip -n -6 <"$src/layer$i.tar" >"$src/layer$i.tar.gz"
            rm "$src/layer$i.tar"
        ) &
    done
    wait
    diff_ids=() layers=()
    for i in "${!layer_mib[@]}"; do
        d=$(sha256sum "$src/layer$i.tar.gz" | cut -d' ' -f1)
        mv "$src/layer$i.tar.gz" "$image/blobs/sha256/$d"
        diff_ids+=("\"sha256:$(cat "$src/layer$i.diffid")\"")
        layers+=("{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"sha256:$d\",\"size\":$(stat -c %s "$image/blobs/sha256/$d")}")
    done
    rm -rf "$src"
    arch=$(dpkg --print-architecture)
    config="{\"architecture\":\"$arch\",\"os\":\"linux\",\"created\":\"2024-01-01T00:00:00Z\",\"config\":{\"Cmd\":[\"/bin/true\"]},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[$(IFS=,; echo "${diff_ids[*]}")]}}"
    printf '%s' "$config" >"$image/config.json"
    cd_=$(sha256sum "$image/config.json" | cut -d' ' -f1)
    mv "$image/config.json" "$image/blobs/sha256/$cd_"
    manifest="{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"sha256:$cd_\",\"size\":${#config}},\"layers\":[$(IFS=,; echo "${layers[*]}")]}"
    printf '%s' "$manifest" >"$image/manifest.json"
    md=$(sha256sum "$image/manifest.json" | cut -d' ' -f1)
    mv "$image/manifest.json" "$image/blobs/sha256/$md"
    printf '{"imageLayoutVersion":"1.0.0"}' >"$image/oci-layout"
    printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%d,"annotations":{"org.opencontainers.image.ref.name":"latest"}}]}' \
        "$md" "${#manifest}" >"$image/index.json"
    touch "$image/complete"
fi
compressed=$(jq '[.layers[].size] | add' "$image/blobs/sha256/$(jq -r '.manifests[0].digest | ltrimstr("sha256:")' "$image/index.json")")
uncompressed=$(( ($(IFS=+; echo "${layer_mib[*]}")) * 1024 * 1024 ))

# ------------------------------------------------------------ burrow
log "cargo build --release"
(cd "$repo" && cargo build --release --quiet --bin burrow)
install -m 755 "${CARGO_TARGET_DIR:-$repo/target}/release/burrow" "$work/burrow"

# ------------------------------------------------------------ registry
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
mkdir -p "$work/registry"
for attempt in 1 2 3 4 5; do
    port=$((20000 + (RANDOM % 30000)))
    port_free "$port" || continue
    cat >"$work/registry.yml" <<EOF
version: 0.1
log: {level: warn, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $work/registry}, delete: {enabled: true}}
http: {addr: 127.0.0.1:$port, secret: burrow-bench}
EOF
    docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
    reg_pid=$!
    for _ in $(seq 100); do
        port_free "$port" || break
        kill -0 "$reg_pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -0 "$reg_pid" 2>/dev/null && ! port_free "$port" && break
    kill "$reg_pid" 2>/dev/null || true
    reg_pid=""
done
[ -n "$reg_pid" ] || { cat "$work/registry.log" >&2; die "docker-registry did not start"; }
ref="127.0.0.1:$port/bench/big:latest"
log "pushing the image to $ref"
skopeo --insecure-policy copy -q --dest-tls-verify=false "oci:$image:latest" "docker://$ref"

# ------------------------------------------------------------ runs
mkdir -p "$work/xdg" "$work/stores" "$work/times"
chown "$user:" "$work/xdg" "$work/stores" "$work/times"
chmod 700 "$work/xdg"

# as_user TIMEFILE CMD...: runs CMD as the test user under GNU time.
as_user() {
    local tf=$1; shift
    runuser -u "$user" -- env -i HOME="$home" USER="$user" LOGNAME="$user" \
        PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        XDG_RUNTIME_DIR="$work/xdg" TMPDIR="$work/stores" \
        /usr/bin/time -f '%e %U %S %M' -o "$tf" "$@" </dev/null
}

declare -A results
run_one() {
    local tool=$1 i=$2 s="$work/stores/$1-$2" tf="$work/times/$1.$2"
    runuser -u "$user" -- mkdir -p "$s/root" "$s/run"
    case "$tool" in
        burrow) as_user "$tf" "$work/burrow" --root "$s/root" --runroot "$s/run" pull -q --tls-verify=false "$ref" ;;
        podman) as_user "$tf" podman --root "$s/root" --runroot "$s/run" --storage-driver overlay pull -q --tls-verify=false "$ref" ;;
        skopeo) as_user "$tf" skopeo --insecure-policy copy -q --src-tls-verify=false "docker://$ref" "oci:$s/root/oci:latest" ;;
    esac >"$work/out.$tool.$i" 2>&1 || { cat "$work/out.$tool.$i" >&2; die "$tool pull failed (run $i)"; }
    if [ "$i" = 1 ]; then
        results[$tool.store]=$(du -sb "$s/root" | cut -f1)
        # A pull that "succeeds" without storing the image measures nothing.
        [ "${results[$tool.store]}" -ge "$compressed" ] \
            || echo "warning: $tool stored only ${results[$tool.store]} bytes of a $compressed-byte image: did it pull?" >&2
    fi
    results[$tool.$i]=$(tail -n1 "$tf")
    rm -rf "$s"
    sync
}

tools=(burrow)
[ "$podman" = 1 ] && tools+=(podman)
[ "$skopeo" = 1 ] && tools+=(skopeo)
for i in $(seq "$runs"); do
    # Interleaved, so drift in the machine's state hits every tool alike.
    for t in "${tools[@]}"; do
        log "$t run $i/$runs"
        run_one "$t" "$i"
    done
done

median() { sort -g | awk '{a[NR]=$1} END {if (NR % 2) print a[(NR+1)/2]; else printf "%.3f\n", (a[NR/2]+a[NR/2+1])/2}'; }
declare -A wall cpu rss
for t in "${tools[@]}"; do
    wall[$t]=$(for i in $(seq "$runs"); do echo "${results[$t.$i]}" | awk '{print $1}'; done | median)
    cpu[$t]=$(for i in $(seq "$runs"); do echo "${results[$t.$i]}" | awk '{printf "%.2f\n", $2 + $3}'; done | median)
    rss[$t]=$(for i in $(seq "$runs"); do echo "${results[$t.$i]}" | awk '{printf "%.1f\n", $4 / 1024}'; done | median)
done

echo
echo "pull benchmark: $(nproc) cpus, kernel $(uname -r), $(. /etc/os-release && echo "$PRETTY_NAME")"
echo "image: ${#layer_mib[@]} layers, $((compressed / 1000000)) MB compressed, $((uncompressed / 1000000)) MB uncompressed; $runs runs each, medians"
printf '%-8s %9s %9s %12s %10s\n' tool wall_s cpu_s peak_rss_MB store_MB
for t in "${tools[@]}"; do
    printf '%-8s %9s %9s %12s %10s\n' "$t" "${wall[$t]}" "${cpu[$t]}" "${rss[$t]}" "$((results[$t.store] / 1000000))"
done
echo
if [ "$podman" = 1 ]; then
    ratio=$(awk -v b="${wall[burrow]}" -v p="${wall[podman]}" 'BEGIN {printf "%.2f", b / p}')
    echo "burrow/podman wall: $ratio   (target <= 0.33)"
fi
echo "burrow peak RSS: ${rss[burrow]} MB   (target <= 64 MB)"
[ "$skopeo" = 1 ] && echo "skopeo copy (download only, no unpack) is the lower bound: ${wall[skopeo]} s"
exit 0
