#!/bin/bash
# What appending one event to the events log costs (target: <= 0.2 ms),
# measured through the library as the engine and the monitors append:
# open the lock and the log, flock, O_APPEND write, close; rotations at
# 1 MiB included. Run as root: the appends run as the unprivileged test
# user, on a tmpfs runtime directory (where $XDG_RUNTIME_DIR is) and on
# the disk (/var/tmp, where /tmp/burrow-UID may be).
#
# usage: bash benches/events.sh [-n COUNT]
set -euo pipefail

name=events
count=10000
while [ $# -gt 0 ]; do
    case "$1" in
        -n) count=$2; shift ;;
        *) echo "usage: bash benches/events.sh [-n COUNT]" >&2; exit 2 ;;
    esac
    shift
done

die() { printf 'benches/%s: %s\n' "$name" "$*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "run me as root (I run the appends as the unprivileged user)"
repo=$(cd "$(dirname "$0")/.." && pwd -P)
user=${TEST_USER:-burrowtest}
id -u "$user" >/dev/null 2>&1 || die "user $user missing: run bash tests/run.sh once (it creates it)"
export PATH="/root/.cargo/bin:$PATH"

echo "==> cargo build --release --example events_append" >&2
(cd "$repo" && cargo build --release --quiet --example events_append)
bin=${CARGO_TARGET_DIR:-$repo/target}/release/examples/events_append
work_tmpfs=$(mktemp -d /dev/shm/burrow-events.XXXXXX)
work_disk=$(mktemp -d /var/tmp/burrow-events.XXXXXX)
trap 'rm -rf "$work_tmpfs" "$work_disk"' EXIT
install -m 755 "$bin" "$work_disk/events_append"
chown "$user:" "$work_tmpfs" "$work_disk"

printf '%s, %s CPUs\n' "$(uname -r)" "$(nproc)"
for dir in "$work_tmpfs" "$work_disk"; do
    printf '%-24s ' "$(df --output=fstype "$dir" | tail -1):"
    runuser -u "$user" -- "$work_disk/events_append" "$dir" "$count"
done
echo "target: mean <= 200 us per append"
