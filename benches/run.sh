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

name=run.sh
. "$(dirname "$0")/lib.sh"
bench_setup bwrap /usr/bin/time

cmds=("$work/burrow run --rm --network none $image true")
names=(burrow)
if [ "$podman" = 1 ]; then
    cmds+=("podman $podman_flags run --rm --network none $image true")
    names+=(podman)
fi
cmds+=("bwrap --unshare-all --ro-bind $rootfs / --proc /proc --dev /dev true")
names+=(bwrap)

log "timing ($runs runs each)"
bench_hyperfine "$work/result.json" "${cmds[@]}"
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
