#!/usr/bin/env bash
# build.sh — how fast satchel-bundle builds a bundle of real binaries, next to the raw
# pipeline of the same work on the same bytes (issue 12). A measurement, not a test: it
# prints a table and exits 0 unless something could not run.
#
#   test/bench/build.sh [--quick]
#
# Corpus: the real containerd, runc, runsc + shim, nerdctl, crictl, dockerd and docker that
# test/e2e/realbins.sh built (run it first; as root, it installs what is needed), packed by
# test/e2e/mkmirror into upstream-shaped archives (the e2e "main" mirror: containerd-static
# tgz, Docker tgz, runc, gVisor's two binaries, nerdctl and crictl tgz; kata is a small
# labelled stand-in), served on loopback. The bench spec is the e2e main spec without images.
#
# Rows (medians of BENCH_RUNS runs; wall time, peak RSS from /usr/bin/time):
#   build cold            empty cache: downloads from the loopback mirror overlap with packing
#   build warm            download cache filled (blob store too); GOMAXPROCS = all cores
#   build warm serial     the same with GOMAXPROCS=1 (one core for Go code)
#   build warm baseline   BENCH_BASELINE=/path/to/satchel-bundle (e.g. an older build), if set
#   raw: gzip -dc         every .tgz decompressed (what unpacking must read), one at a time
#   raw: gzip -dc -P N    the same, N at once (N = nproc)
#   raw: sha256sum        the files the bundle stores, N at once
#   raw: zstd -3 -T0      the same files compressed with all cores
#   raw pipeline          gzip -dc -P N + sha256sum + zstd -3 -T0 (sequential stages)
# Rounds interleave the rows (a shared machine's drifting load weighs on all alike); every
# cold, warm and serial bundle must be byte-identical to the first build's.
#
# Environment:
#   BENCH_DIR        work directory (default /var/tmp/satchel-bench; reused: the mirror is
#                    cached under $SATCHEL_E2E_CACHE/e2e-mirror like the e2e run's)
#   BENCH_RUNS       runs per row (default 3; --quick: 1)
#   BENCH_BASELINE   a satchel-bundle binary to compare with (optional)
#   SATCHEL_E2E_SATCHEL_BIN  take satchel-bundle from this directory instead of building bin/
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
RUNS=${BENCH_RUNS:-3}
[ "${1:-}" = --quick ] && RUNS=1
W=${BENCH_DIR:-/var/tmp/satchel-bench}
NPROC=$(nproc)

die() { printf 'bench: %s\n' "$1" >&2; [ -n "${2:-}" ] && printf 'hint: %s\n' "$2" >&2; exit 1; }
log() { printf '[bench %s] %s\n' "$(date +%T)" "$*" >&2; }

for t in gzip zstd sha256sum xargs tar /usr/bin/time; do
	command -v "$t" >/dev/null || die "$t not found" "install it (Debian: gzip zstd coreutils findutils tar time)"
done
env_out=$("$REPO/test/e2e/realbins.sh" --env-only) ||
	die "the real binaries are not built" "run test/e2e/realbins.sh as root first (about 17 min cold)"
eval "$env_out"

# shellcheck source=../e2e/lib.sh
. "$REPO/test/e2e/lib.sh"
# shellcheck source=../e2e/sources.sh
. "$REPO/test/e2e/sources.sh"
trap src_stop EXIT

mkdir -p "$W"
src_init "$W" || die "setup failed"
src_specs
rm -f "$W/mirror.addr" # a stale address from an earlier run would be read before the new one
src_mirror main || die "mirror failed"
# The bench spec: the e2e main spec's components, no images (artifacts are what is measured).
sed '/^  images:/,$d' "$W/main.yaml" | sed 's/^  name: satchel-e2e$/  name: satchel-bench/' >"$W/bench.yaml"

export SATCHEL_PASSWORD=satchel-bench SOURCE_DATE_EPOCH=1764201600
[ -f "$W/satchel.key" ] || "$SATCHEL_BUNDLE" keygen --output-prefix "$W/satchel" >/dev/null 2>&1 || die "keygen failed"
rm -rf "$W/lock-cache"
"$SATCHEL_BUNDLE" lock -f "$W/bench.yaml" -o "$W/bench.lock" --cache "$W/lock-cache" "${SRC_FLAGS[@]}" >"$W/logs/bench-lock.log" 2>&1 ||
	{ cat "$W/logs/bench-lock.log" >&2; die "lock failed"; }

# timed NAME CMD...: run CMD under /usr/bin/time; append "NAME wall-s maxrss-KB cpu-s" to results
# (CPU seconds, user + system, say how much work was done when the machine is shared).
RESULTS=$W/results.tsv
: >"$RESULTS"
timed() {
	local name=$1
	shift
	/usr/bin/time -f '%e %M %U %S' -o "$W/time.out" "$@" >"$W/logs/last.log" 2>&1 ||
		{ tail -n 20 "$W/logs/last.log" >&2; die "$name failed: $*"; }
	awk -v n="$name" '{printf "%s\t%s\t%s\t%.2f\n", n, $1, $2, $3 + $4}' "$W/time.out" >>"$RESULTS"
}

# bcmd BIN CACHE OUT: CMD becomes the build command line.
bcmd() {
	CMD=("$1" build -f "$W/bench.yaml" --lock "$W/bench.lock" --key "$W/satchel.key"
		--cache "$2" "${SRC_FLAGS[@]}" -o "$3" --force)
}

# A first build fills the warm cache; its bundle is the reference for the others. The raw
# pipeline's inputs are the same bytes: the archives in the download cache, and the files
# the bundle stores (its zstd blobs, decompressed).
log "warm-up build"
bcmd "$SATCHEL_BUNDLE" "$W/cache" "$W/ref.satchel"
"${CMD[@]}" >"$W/logs/warm-up.log" 2>&1 || { tail -n 20 "$W/logs/warm-up.log" >&2; die "build failed"; }
RAW=$W/raw
rm -rf "$RAW" && mkdir -p "$RAW/bundle" "$RAW/files"
tar -xf "$W/ref.satchel" -C "$RAW/bundle"
for b in "$RAW"/bundle/blobs/sha256/*; do
	[ "$(head -c4 "$b" | od -An -tx1 | tr -d ' ')" = 28b52ffd ] && zstd -q -dc "$b" >"$RAW/files/${b##*/}"
done
mapfile -t tgzs < <(find "$W/cache/sha256" -type f -exec sh -c 'head -c2 "$1" | od -An -tx1 | grep -q "1f 8b" && echo "$1"' _ {} \;)

# Rounds interleave every row, so that a machine shared with other work (its load drifts)
# weighs on all rows alike.
for i in $(seq 1 "$RUNS"); do
	log "round $i of $RUNS"
	rm -rf "$W/cold-cache"
	bcmd "$SATCHEL_BUNDLE" "$W/cold-cache" "$W/cold.satchel" && timed "build cold" "${CMD[@]}"
	bcmd "$SATCHEL_BUNDLE" "$W/cache" "$W/warm.satchel" && timed "build warm" "${CMD[@]}"
	bcmd "$SATCHEL_BUNDLE" "$W/cache" "$W/serial.satchel" && timed "build warm serial" env GOMAXPROCS=1 "${CMD[@]}"
	if [ -n "${BENCH_BASELINE:-}" ]; then
		bcmd "$BENCH_BASELINE" "$W/cache" "$W/baseline.satchel" && timed "build warm baseline" "${CMD[@]}"
	fi
	timed "raw: gzip -dc" sh -c 'for f; do gzip -dc "$f" >/dev/null; done' _ "${tgzs[@]}"
	timed "raw: gzip -dc -P $NPROC" sh -c 'printf "%s\0" "$@" | xargs -0 -P '"$NPROC"' -n1 sh -c "gzip -dc \"\$0\" >/dev/null"' _ "${tgzs[@]}"
	timed "raw: sha256sum" sh -c 'cd "$1" && ls | xargs -P '"$NPROC"' -n8 sha256sum >/dev/null' _ "$RAW/files"
	timed "raw: zstd -3 -T0" sh -c 'cd "$1" && cat * | zstd -3 -T0 -q -c >/dev/null' _ "$RAW/files"
	for b in cold warm serial; do
		cmp -s "$W/ref.satchel" "$W/$b.satchel" || die "$b.satchel differs from ref.satchel: the build is not reproducible"
	done
done
baseline_same=
if [ -n "${BENCH_BASELINE:-}" ]; then
	baseline_same=no
	cmp -s "$W/ref.satchel" "$W/baseline.satchel" && baseline_same=yes
fi

# Report.
median() { sort -n | awk '{a[NR]=$1} END {if (NR) print a[int((NR+1)/2)]}'; }
col() { awk -F'\t' -v n="$1" -v c="$2" '$1==n {print $c}' "$RESULTS"; }
archives_mb=$(du -cm "${tgzs[@]}" | tail -1 | cut -f1)
cache_mb=$(du -cm "$W"/cache/sha256 "$W"/cache/sha512 2>/dev/null | tail -1 | cut -f1)
files_mb=$(du -sm "$RAW/files" | cut -f1)
bundle_mb=$(( $(stat -c %s "$W/ref.satchel") / 1048576 ))
printf '\nsatchel build on %s (%s cores, %s), %s runs each, medians\n' "$(uname -m)" "$NPROC" \
	"$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')" "$RUNS"
printf 'corpus: %s MB of upstream artifacts (%s MB in .tgz), %s MB of files stored, bundle %s MB\n\n' \
	"$cache_mb" "$archives_mb" "$files_mb" "$bundle_mb"
printf '%-26s %10s %8s %14s %8s\n' step seconds 'min s' 'peak RSS MB' 'CPU s'
for name in "build cold" "build warm" "build warm serial" "build warm baseline" \
	"raw: gzip -dc" "raw: gzip -dc -P $NPROC" "raw: sha256sum" "raw: zstd -3 -T0"; do
	s=$(col "$name" 2 | median)
	[ -n "$s" ] || continue
	m=$(col "$name" 3 | median)
	c=$(col "$name" 4 | median)
	lo=$(col "$name" 2 | sort -n | head -1)
	printf '%-26s %10s %8s %14s %8s\n' "$name" "$s" "$lo" "$((m / 1024))" "$c"
done
sum() { awk '{s += $1} END {print s}'; }
raw=$(for n in "raw: gzip -dc -P $NPROC" "raw: sha256sum" "raw: zstd -3 -T0"; do col "$n" 2 | median; done | sum)
rawcpu=$(for n in "raw: gzip -dc -P $NPROC" "raw: sha256sum" "raw: zstd -3 -T0"; do col "$n" 4 | median; done | sum)
warm=$(col "build warm" 2 | median)
warmcpu=$(col "build warm" 4 | median)
serial=$(col "build warm serial" 2 | median)
printf '%-26s %10s %8s %14s %8s\n' "raw pipeline (all cores)" "$raw" "" "" "$rawcpu"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
printf '\nbuild warm / raw pipeline: %s (wall), %s (CPU)   serial / parallel: %s (wall)\n' \
	"$(ratio "$warm" "$raw")" "$(ratio "$warmcpu" "$rawcpu")" "$(ratio "$serial" "$warm")"
printf 'bundles byte-identical: every cold, warm (GOMAXPROCS=%s) and serial (GOMAXPROCS=1) build\n' "$NPROC"
[ -z "$baseline_same" ] || printf 'baseline bundle byte-identical to these: %s\n' "$baseline_same"
printf 'load average at the end: %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
