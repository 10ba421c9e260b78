# Shared setup of the benchmark scripts (sourced): checks, a work directory,
# (globals set: repo, user, work, rootfs, port, image, podman_flags)
# burrow built in release mode, a busybox-static image served by a loopback
# registry and pulled by burrow (and by Podman when it is installed), and
# `as_user` to run things as the unprivileged test user.
#
# The sourcing script sets: name (for messages and the work dir), podman
# (1 to compare with Podman), and calls `bench_setup TOOL...` with the
# tools it needs beyond the common ones.

die() { printf 'benches/%s: %s\n' "$name" "$*" >&2; exit 1; }
log() { printf '==> %s\n' "$*" >&2; }

as_user() {
    runuser -u "$user" -- env -i HOME="$work/home" PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin \
        XDG_RUNTIME_DIR="$work/xdg" BURROW_ROOT="$work/burrow-root" BURROW_RUNROOT="$work/burrow-run" \
        CONTAINERS_CONF="$work/containers.conf" "$@"
}

bench_cleanup() {
    as_user "$work/burrow" rm -f --all >/dev/null 2>&1 || true
    [ "$podman" = 1 ] && as_user podman $podman_flags rm -f --all >/dev/null 2>&1 || true
    [ -z "$reg_pid" ] || kill "$reg_pid" 2>/dev/null || true
    [ -f "$work/xdg/libpod/tmp/pause.pid" ] && kill "$(cat "$work/xdg/libpod/tmp/pause.pid")" 2>/dev/null
    as_user "$work/burrow" unshare rm -rf "$work/burrow-root" "$work/podman-root" 2>/dev/null || true
    rm -rf "$work"
}

bench_setup() {
    [ "$(id -u)" = 0 ] || die "run me as root (I run the containers as the unprivileged user)"
    repo=$(cd "$(dirname "$0")/.." && pwd -P)
    user=${TEST_USER:-burrowtest}
    id -u "$user" >/dev/null 2>&1 || die "user $user missing: run bash tests/run.sh once (it creates it)"
    export PATH="/root/.cargo/bin:$PATH"
    for tool in docker-registry skopeo umoci hyperfine busybox jq curl "$@"; do
        command -v "$tool" >/dev/null || die "$tool missing: bash tests/run.sh --bench-deps installs what benchmarks need"
    done
    if [ "$podman" = 1 ] && ! command -v podman >/dev/null; then
        echo "podman not installed: burrow only" >&2
        podman=0
    fi
    work=$(mktemp -d "/var/tmp/burrow-$name.XXXXXX")
    chmod 755 "$work"
    reg_pid=""
    podman_flags="--root $work/podman-root --runroot $work/podman-run --storage-driver overlay"
    trap bench_cleanup EXIT

    if [ -n "${BURROW_BENCH_BIN:-}" ]; then
        # Another build of burrow (an older commit, for a before/after).
        log "burrow from $BURROW_BENCH_BIN"
        install -m 755 "$BURROW_BENCH_BIN" "$work/burrow"
    else
        log "cargo build --release"
        (cd "$repo" && cargo build --release --quiet --bin burrow)
        install -m 755 "${CARGO_TARGET_DIR:-$repo/target}/release/burrow" "$work/burrow"
    fi

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
    # Podman 4.3 on a hybrid-cgroup host needs runc (crun refuses the layout).
    printf '[engine]\nruntime = "runc"\n' >"$work/containers.conf"
    as_user "$work/burrow" pull -q --tls-verify=false "$image" >/dev/null
    [ "$podman" = 1 ] && as_user podman $podman_flags pull -q --tls-verify=false "$image" >/dev/null
    return 0
}

# hyperfine as the user, without a shell where it can (-N).
bench_hyperfine() {
    local out=$1
    shift
    as_user hyperfine -N -w 2 -r "$runs" --export-json "$out" "$@" >/dev/null 2>&1 \
        || as_user hyperfine -w 2 -r "$runs" --export-json "$out" "$@" >/dev/null
}
