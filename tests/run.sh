#!/bin/bash
# The project's test entry point (README: `bash tests/run.sh`; CI: .ci/run).
#
# Run as root on a disposable Debian 12 machine or dev VM. It prepares the
# machine (packages, /dev/net/tun, shared mounts, the unprivileged user
# `burrowtest`), checks formatting and lints, builds every test target once
# as root, then runs each test executable AS `burrowtest`: a rootless engine
# tested as root proves nothing. Every step is idempotent.
#
# usage: bash tests/run.sh [--bench-deps] [--no-lint] [--no-setup] [-- TEST-ARGS...]
#   --bench-deps  also install what benches/ needs (hyperfine, time, curl, python3)
#   --no-lint     skip cargo fmt --check and cargo clippy
#   --no-setup    skip package installation and machine fixes
#   -- ARGS       passed to every test binary (a name filter, --exact, ...)
#
# Environment: TEST_USER (default burrowtest), CARGO_TARGET_DIR,
# BURROW_TEST_TIMEOUT (seconds per test binary, default 1800).
set -euo pipefail

bench_deps=0 lint=1 setup=1
test_args=()
while [ $# -gt 0 ]; do
    case "$1" in
        --bench-deps) bench_deps=1 ;;
        --no-lint) lint=0 ;;
        --no-setup) setup=0 ;;
        --) shift; test_args=("$@"); break ;;
        -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
        *) echo "tests/run.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done

log() { printf '\n==> %s\n' "$*" >&2; }
die() { printf 'tests/run.sh: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run me as root (I install packages and run the tests as the unprivileged user): sudo bash tests/run.sh"

repo=$(cd "$(dirname "$0")/.." && pwd -P)
cd "$repo"
user=${TEST_USER:-burrowtest}
timeout_s=${BURROW_TEST_TIMEOUT:-1800}
export PATH="/root/.cargo/bin:${PATH:-/usr/sbin:/usr/bin:/sbin:/bin}"
export DEBIAN_FRONTEND=noninteractive
umask 022

# ---------------------------------------------------------------- packages
packages=(uidmap passt slirp4netns fuse-overlayfs fuse3 busybox-static
          docker-registry skopeo golang-github-containers-common umoci
          apache2-utils bubblewrap zstd jq tmux gcc libc6-dev podman runc)
[ "$bench_deps" = 1 ] && packages+=(hyperfine time bc curl python3)

if [ "$setup" = 1 ]; then
    missing=()
    for p in "${packages[@]}"; do
        status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
        [ "$status" = "install ok installed" ] || missing+=("$p")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        log "installing ${missing[*]}"
        apt-get update -qq
        apt-get install -y -qq --no-install-recommends \
            -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
            "${missing[@]}" >/dev/null
    else
        log "packages already installed"
    fi
    # Debian's docker-registry package starts a system instance whose
    # default config points at a missing htpasswd file; the tests run their
    # own instances and need nothing from it.

    # ------------------------------------------------------ machine fixes
    # See ../shared/design/machine-notes.md: the VM ships /dev/net/tun 0600
    # (pasta and slirp4netns need 0666, as distributions ship it) and no
    # systemd to make / shared.
    log "machine fixes"
    if [ -c /dev/net/tun ]; then
        chmod 666 /dev/net/tun
    else
        echo "warning: /dev/net/tun missing; network tests will fail" >&2
    fi
    # /dev/fuse: this VM has no udev, whose default rules (like libfuse's
    # install) make it 0666; fuse-overlayfs runs inside the user namespace
    # (the fuse-overlayfs driver, --userns=keep-id) and must open it.
    if [ -c /dev/fuse ]; then
        chmod 666 /dev/fuse
    else
        echo "warning: /dev/fuse missing; fuse-overlayfs tests will fail" >&2
    fi
    mount --make-rshared / || echo "warning: mount --make-rshared / failed" >&2

    # ------------------------------------------------------ the test user
    if ! id -u "$user" >/dev/null 2>&1; then
        log "creating user $user"
        useradd -m -s /bin/bash "$user"
    fi
    # A range no other user has: from 100000, after every range in either
    # file (as `burrow system check` suggests).
    free_start() {
        awk -F: 'BEGIN { s = 100000 } NF >= 3 && $2 + $3 > s { s = $2 + $3 } END { print s }' \
            /etc/subuid /etc/subgid
    }
    if ! grep -q "^$user:" /etc/subuid || ! grep -q "^$user:" /etc/subgid; then
        first=$(free_start)
        last=$((first + 65535))
        grep -q "^$user:" /etc/subuid || usermod --add-subuids "$first-$last" "$user"
        grep -q "^$user:" /etc/subgid || usermod --add-subgids "$first-$last" "$user"
    fi
fi

id -u "$user" >/dev/null 2>&1 || die "user $user does not exist (run without --no-setup)"
for tool in docker-registry skopeo htpasswd busybox newuidmap newgidmap jq; do
    command -v "$tool" >/dev/null || [ -x "/usr/sbin/$tool" ] || die "$tool not installed (run without --no-setup)"
done
command -v cargo >/dev/null || die "cargo not found (expected in /root/.cargo/bin)"
uid=$(id -u "$user")
home=$(getent passwd "$user" | cut -d: -f6)

# The test user must reach the repository (fixtures, CARGO_MANIFEST_DIR) and
# the test executables: open the search bit on each parent that lacks it.
# The repo itself stays as git checked it out.
d=$repo
while [ "$d" != / ]; do
    if ! runuser -u "$user" -- test -x "$d"; then
        echo "chmod o+x $d (so $user can reach the repository)" >&2
        chmod o+x "$d"
    fi
    d=$(dirname "$d")
done
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$repo/target}
mkdir -p "$CARGO_TARGET_DIR"
runuser -u "$user" -- test -r "$CARGO_TARGET_DIR" -a -x "$CARGO_TARGET_DIR" \
    || die "$user cannot read $CARGO_TARGET_DIR; set CARGO_TARGET_DIR to a readable place"

# ---------------------------------------------------------------- lint
if [ "$lint" = 1 ]; then
    log "cargo fmt --check"
    cargo fmt --check
    log "cargo clippy --all-targets -- -D warnings"
    cargo clippy --quiet --all-targets -- -D warnings
fi

# ---------------------------------------------------------------- build
log "building tests"
build_json=$(mktemp)
trap 'rm -f "$build_json"' EXIT
if ! cargo test --no-run --all-targets --message-format=json-render-diagnostics >"$build_json"; then
    die "test build failed"
fi
# The examples as programs (the test build above makes them test
# harnesses): tests/engine_api.rs runs examples/run_container.
if ! cargo build --examples --quiet; then
    die "examples build failed"
fi
mapfile -t executables < <(jq -r 'select(.reason == "compiler-artifact" and .profile.test == true and .executable != null) | .executable' "$build_json" | sort -u)
bin_exe=$(jq -r 'select(.reason == "compiler-artifact" and .profile.test == false and (.target.kind | index("bin")) and .target.name == "burrow" and .executable != null) | .executable' "$build_json" | tail -n1)
[ ${#executables[@]} -gt 0 ] || die "no test executables were built"

# ---------------------------------------------------------------- run
# A fresh private runtime dir and TMPDIR per run, owned by the test user;
# short paths, because unix socket paths are limited to 108 bytes.
work=$(mktemp -d /tmp/burrow-ci.XXXXXX)
trap 'rm -f "$build_json"; rm -rf "$work"' EXIT
mkdir -p "$work/run" "$work/tmp"
chown -R "$user:" "$work"
chmod 700 "$work/run"
chmod 755 "$work"

total_pass=0 total_fail=0 broken=()

# Adds the counts of cargo's `test result:` lines in file $1 to the totals;
# a non-zero exit $2 with no failed test counted (crash, timeout 124, kill)
# or a run with no result line at all counts as one failure.
tally() {
    local file=$1 rc=$2 name=$3 p f pass=0 fail=0 seen=0
    while read -r p f; do
        pass=$((pass + p)) fail=$((fail + f)) seen=1
    done < <(sed -n 's/^test result: [A-Za-z]*\. \([0-9]*\) passed; \([0-9]*\) failed;.*/\1 \2/p' "$file")
    total_pass=$((total_pass + pass)) total_fail=$((total_fail + fail))
    if [ "$rc" != 0 ]; then
        [ "$fail" != 0 ] || total_fail=$((total_fail + 1))
        broken+=("$name (exit $rc)")
    elif [ "$seen" = 0 ]; then
        total_fail=$((total_fail + 1))
        broken+=("$name (no test result line)")
    fi
}

for exe in "${executables[@]}"; do
    name=$(basename "$exe")
    log "$name (as $user)"
    out="$work/$name.out"
    set +e
    runuser -u "$user" -- timeout --kill-after=30 "$timeout_s" env -i \
        HOME="$home" USER="$user" LOGNAME="$user" SHELL=/bin/sh \
        PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
        XDG_RUNTIME_DIR="$work/run" TMPDIR="$work/tmp" CI=true \
        RUST_BACKTRACE=1 CARGO_MANIFEST_DIR="$repo" CARGO_PKG_NAME=burrow \
        ${bin_exe:+CARGO_BIN_EXE_burrow="$bin_exe"} \
        "$exe" "${test_args[@]}" </dev/null 2>&1 | tee "$out"
    rc=${PIPESTATUS[0]}
    set -e
    tally "$out" "$rc" "$name"
done

# Doctests have no executable to hand to the test user; they only compile
# and run example code, so they run here, as root.
# (jq 1.6's -e reports on the last input only, hence the grep.)
pkg_id=$(cargo metadata --no-deps --format-version 1 | jq -r '.packages[0].id')
if jq -r --arg id "$pkg_id" 'select(.reason == "compiler-artifact" and .package_id == $id and (.target.kind | index("lib")) and .target.doctest == true) | "doctest"' "$build_json" | grep -q doctest; then
    log "doctests"
    out="$work/doctests.out"
    set +e
    cargo test --quiet --doc -- "${test_args[@]}" </dev/null 2>&1 | tee "$out"
    rc=${PIPESTATUS[0]}
    set -e
    tally "$out" "$rc" doctests
fi

echo
for b in "${broken[@]}"; do
    echo "FAILED: $b"
done
echo "$total_pass passed, $total_fail failed"
if [ "$total_fail" != 0 ] || [ ${#broken[@]} -gt 0 ]; then
    exit 1
fi
if [ "$total_pass" = 0 ]; then
    echo "tests/run.sh: no test ran (filter: ${test_args[*]:-none})" >&2
    exit 1
fi
