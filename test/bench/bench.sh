#!/usr/bin/env bash
# bench.sh — `make bench`: how fast satchel builds, verifies and installs bundles of real
# binaries, next to the raw pipelines of the same work on the same bytes (issue 12). A
# measurement, not a test: it prints one table and exits 0 unless something could not run
# (or a bundle is not reproducible, or a warm rebuild downloads anything).
#
#   test/bench/bench.sh [--quick]        (or BENCH_QUICK=1; `make bench-quick`)
#
# Corpora (upstream-shaped archives of the real binaries test/e2e/realbins.sh built, served
# on loopback by test/bench/benchserve):
#   quick  runc, crictl and nerdctl only (~70 MB): --quick, one round; proves the bench works
#   small  the e2e "main" mirror (test/e2e/sources.sh; about 400 MB): containerd-static tgz,
#          Docker tgz, runc, gVisor's runsc + shim, nerdctl and crictl tgz, kata stand-in
#   large  small, with kata-static-3.1.3-x86_64.tar.xz replaced by a 1.5 GB-class tree (set
#          BENCH_LARGE=1): opt/kata/bin holds BENCH_LARGE_COPIES distinct copies (a different
#          trailer each) of every real binary, opt/kata/share a tree of thousands of small
#          files (Go's own sources); xz -1 (level 1 to make it in a minute; decoding speed
#          hardly depends on the level). Made once, kept in $BENCH_DIR/large.
#
# Rows (medians of BENCH_RUNS rounds; wall time, peak RSS and CPU from /usr/bin/time -v):
#   build cold              empty cache: downloads from the loopback mirror overlap packing
#   build cold +Nms         the same against a mirror adding BENCH_LATENCY_MS to every request
#   build warm              download cache filled; GOMAXPROCS = all cores. Must fetch 0 bytes
#   build warm serial       the same with GOMAXPROCS=1
#   verify                  satchel-bundle verify (signature, layout, every blob, every file)
#   apply                   satchel-install apply --no-start --root DIR (fresh DIR, fsyncs)
#   raw: decompress -P N    every archive (gzip -dc, xz -dc), N at once (N = nproc)
#   raw: sha256sum -P N     the files the bundle stores, N at once
#   raw: zstd -3 -T0        the same files compressed with all cores
#   raw: install 1 core     sha256sum of every blob, then zstd -dc of every blob
#   download +Nms           the largest artifact fetched alone from the delayed mirror (curl)
#   hauler add/save/load    when `hauler` is on PATH (store add file URL..., store save,
#                           store load), else a note
# Rounds interleave the rows (a shared machine's drifting load weighs on all alike); every
# cold, warm and serial bundle must be byte-identical to the first build's.
#
# Environment:
#   BENCH_DIR          work directory (default /var/tmp/satchel-bench; reused: the mirror
#                      comes from $SATCHEL_E2E_CACHE/e2e-mirror like the e2e run's)
#   BENCH_RUNS         rounds (default 3; quick: 1)
#   BENCH_LARGE=1      also the large corpus (about 5 GB of disk and several minutes)
#   BENCH_CORPORA      the corpora to measure, e.g. "large" (default: see above)
#   BENCH_APPEND=1     add to the results of an earlier run instead of starting afresh;
#                      the table then covers every corpus measured
#   BENCH_LARGE_RUNS   rounds on the large corpus (default 1: a round takes minutes)
#   BENCH_LARGE_COPIES copies of each real binary in the large kata tree (default 3)
#   BENCH_LATENCY_MS   latency of the delayed mirror (default 100)
#   BENCH_PROFILE=0|1  run the Go benchmarks under a CPU profile and print the top
#                      functions (default 1; quick: 0)
#   BENCH_BASELINE     a satchel-bundle binary to compare with (optional)
#   SATCHEL_E2E_SATCHEL_BIN  take satchel-bundle/-install from this directory, not bin/
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
QUICK=${BENCH_QUICK:-}
[ "${1:-}" = --quick ] && QUICK=1
RUNS=${BENCH_RUNS:-3}
[ -n "$QUICK" ] && RUNS=${BENCH_RUNS:-1}
LAT=${BENCH_LATENCY_MS:-100}
COPIES=${BENCH_LARGE_COPIES:-3}
PROFILE=${BENCH_PROFILE:-1}
[ -n "$QUICK" ] && PROFILE=${BENCH_PROFILE:-0}
W=${BENCH_DIR:-/var/tmp/satchel-bench}
NPROC=$(nproc)

die() { printf 'bench: %s\n' "$1" >&2; [ -n "${2:-}" ] && printf 'hint: %s\n' "$2" >&2; exit 1; }
log() { printf '[bench %s] %s\n' "$(date +%T)" "$*" >&2; }

for t in gzip xz zstd sha256sum xargs tar curl /usr/bin/time; do
	command -v "$t" >/dev/null || die "$t not found" "install it (Debian: gzip xz-utils zstd coreutils findutils tar curl time)"
done
env_out=$("$REPO/test/e2e/realbins.sh" --env-only) ||
	die "the real binaries are not built" "run test/e2e/realbins.sh as root first (about 17 min cold)"
eval "$env_out"

# shellcheck source=../e2e/lib.sh
. "$REPO/test/e2e/lib.sh"
# shellcheck source=../e2e/sources.sh
. "$REPO/test/e2e/sources.sh"

PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
	src_stop
	rm -rf "$W/root"
}
trap cleanup EXIT

mkdir -p "$W"
load0=$(cut -d' ' -f1-3 /proc/loadavg)
src_init "$W" || die "setup failed"
src_specs
rm -f "$W/mirror.addr"
src_mirror main || die "mirror failed" # generates $W/mirror (cached); its server is not used
src_stop
(cd "$REPO" && CGO_ENABLED=0 go build -trimpath -o "$W/bin/benchserve" ./test/bench/benchserve) >"$W/logs/benchserve-build.log" 2>&1 ||
	{ cat "$W/logs/benchserve-build.log" >&2; die "building test/bench/benchserve failed"; }

# The specs: the e2e main spec's components, no images (artifacts are what is measured).
spec() { # spec NAME COMPONENT-REGEX
	sed '/^  images:/,$d' "$W/main.yaml" | sed "s/^  name: satchel-e2e\$/  name: satchel-bench-$1/" |
		awk -v re="$2" '!/^    - \{name:/ || $0 ~ re' >"$W/$1.yaml"
}
if [ -n "$QUICK" ]; then
	CORPORA=(quick)
	spec quick 'name: (runc|crictl|nerdctl),'
else
	CORPORA=(small)
	spec small .
	if [ "${BENCH_LARGE:-}" = 1 ]; then
		CORPORA+=(large)
		spec large .
	fi
fi
if [ -n "${BENCH_CORPORA:-}" ]; then
	read -ra CORPORA <<<"$BENCH_CORPORA"
	for C in "${CORPORA[@]}"; do spec "$C" .; done
fi

# The large corpus's mirror: the small one (hard links), its kata archive replaced.
KATA=github.com/kata-containers/kata-containers/releases/download/3.1.3/kata-static-3.1.3-x86_64.tar.xz
make_large() {
	local key tree=$W/large/tree out=$W/large/kata.tar.xz
	key=$( (ls -l "$SATCHEL_E2E_BIN"; echo "copies $COPIES, static only"; go version) | sha256sum | cut -c1-16)
	if [ ! -s "$out" ] || [ "$(cat "$W/large/key" 2>/dev/null)" != "$key" ]; then
		log "making the large kata archive (once)"
		rm -rf "$W/large" && mkdir -p "$tree"
		tar -xJf "$W/mirror/$KATA" -C "$tree"
		local b c n=0
		for b in "$SATCHEL_E2E_BIN"/*; do
			# Static ones only: kata's binaries are static, and preflight refuses a
			# dynamic one for a target without glibc (an empty --root).
			file -b "$b" | grep -q 'statically linked' || continue
			for c in $(seq 1 "$COPIES"); do
				{ cat "$b"; printf 'satchel bench copy %d of %s\n' "$c" "${b##*/}"; } >"$tree/opt/kata/bin/${b##*/}-$c"
				chmod 755 "$tree/opt/kata/bin/${b##*/}-$c"
			done
		done
		local src
		src=$(go env GOROOT)/src
		mkdir -p "$tree/opt/kata/share/kata-containers/rootfs"
		(cd "$src" && find . -type f -name '*.go' | sort | head -n 4000 |
			tar -cf - -T - | tar -xf - -C "$tree/opt/kata/share/kata-containers/rootfs")
		n=$(find "$tree" -type f | wc -l)
		tar -C "$tree" --sort=name --owner=0 --group=0 --numeric-owner --mtime=@1743379200 -cf - . |
			xz -1 -T"$NPROC" >"$out.tmp" && mv "$out.tmp" "$out"
		echo "$key" >"$W/large/key"
		echo "$n files, $(du -sm "$tree" | cut -f1) MB" >"$W/large/about"
		rm -rf "$tree"
	fi
	rm -rf "$W/mirror-large" && cp -al "$W/mirror" "$W/mirror-large"
	rm -f "$W/mirror-large/$KATA" && ln "$out" "$W/mirror-large/$KATA"
}

# serve NAME DIR DELAY: start benchserve; sets SERVED to its base URL.
serve() {
	rm -f "$W/$1.addr"
	"$W/bin/benchserve" -dir "$2" -addr-file "$W/$1.addr" -delay "$3" >"$W/logs/serve-$1.log" 2>&1 &
	PIDS+=($!)
	local _
	for _ in $(seq 1 100); do [ -s "$W/$1.addr" ] && break; sleep 0.1; done
	[ -s "$W/$1.addr" ] || die "benchserve did not start" "see $W/logs/serve-$1.log"
	SERVED=$(cat "$W/$1.addr")
}
flags() { # flags BASEURL: the --mirror arguments
	local h
	FLAGS=()
	for h in download.docker.com github.com storage.googleapis.com; do FLAGS+=(--mirror "https://$h=$1/$h"); done
}
stats() { curl -fsS "$1/-/stats?reset=${2:-0}"; }

export SATCHEL_PASSWORD=satchel-bench SOURCE_DATE_EPOCH=1764201600
[ -f "$W/satchel.key" ] || "$SATCHEL_BUNDLE" keygen --output-prefix "$W/satchel" >/dev/null 2>&1 || die "keygen failed"

# timed NAME CMD...: run CMD under /usr/bin/time -v; append "NAME wall-s maxrss-KB cpu-s".
RESULTS=$W/results.tsv
[ "${BENCH_APPEND:-}" = 1 ] || : >"$RESULTS"
timed() {
	local name=$1
	shift
	/usr/bin/time -v -o "$W/time.out" "$@" >"$W/logs/last.log" 2>&1 ||
		{ tail -n 20 "$W/logs/last.log" >&2; die "$name failed: $*"; }
	awk -F': ' -v n="$name" '
		/Elapsed \(wall clock\)/ {k = split($2, t, ":"); w = (k == 3) ? t[1] * 3600 + t[2] * 60 + t[3] : t[1] * 60 + t[2]}
		/Maximum resident set size/ {m = $2}
		/User time/ {u = $2} /System time/ {s = $2}
		END {printf "%s\t%.2f\t%s\t%.2f\n", n, w, m, u + s}' "$W/time.out" >>"$RESULTS"
}
NOTES=$W/notes.txt
[ "${BENCH_APPEND:-}" = 1 ] || : >"$NOTES"
note() { printf '%s\n' "$*" >>"$NOTES"; }

for C in "${CORPORA[@]}"; do
	log "corpus $C"
	mdir=$W/mirror
	[ "$C" = large ] && make_large && mdir=$W/mirror-large
	serve "$C" "$mdir" 0
	base=$SERVED
	serve "$C-slow" "$mdir" "${LAT}ms"
	slowbase=$SERVED
	flags "$base"
	FAST=("${FLAGS[@]}")
	flags "$slowbase"
	SLOW=("${FLAGS[@]}")
	rm -rf "$W/lock-cache"
	"$SATCHEL_BUNDLE" lock -f "$W/$C.yaml" -o "$W/$C.lock" --cache "$W/lock-cache" "${FAST[@]}" >"$W/logs/$C-lock.log" 2>&1 ||
		{ cat "$W/logs/$C-lock.log" >&2; die "lock failed"; }
	bcmd() { # bcmd BIN CACHE OUT MIRROR-FLAGS...
		local bin=$1 cache=$2 out=$3
		shift 3
		CMD=("$bin" build -f "$W/$C.yaml" --lock "$W/$C.lock" --key "$W/satchel.key" --cache "$cache" "$@" -o "$out" --force)
	}
	# A first build fills the warm cache; its bundle is the reference for the others. The
	# raw pipelines' inputs are the same bytes: the archives in the download cache, the
	# bundle's blobs, and the files it stores (its zstd blobs, decompressed).
	log "$C: warm-up build"
	rm -rf "$W/cache-$C"
	bcmd "$SATCHEL_BUNDLE" "$W/cache-$C" "$W/$C-ref.satchel" "${FAST[@]}"
	"${CMD[@]}" >"$W/logs/$C-warm-up.log" 2>&1 || { tail -n 20 "$W/logs/$C-warm-up.log" >&2; die "build failed"; }
	RAW=$W/raw-$C
	rm -rf "$RAW" && mkdir -p "$RAW/bundle" "$RAW/files"
	tar -xf "$W/$C-ref.satchel" -C "$RAW/bundle"
	for b in "$RAW"/bundle/blobs/sha256/*; do # an OCI blob (not zstd) is not a file
		zstd -q -dc "$b" >"$RAW/files/${b##*/}" 2>/dev/null || rm -f "$RAW/files/${b##*/}"
	done
	archives=() decomp=()
	while IFS= read -r f; do
		case $(head -c6 "$f" | od -An -tx1 | tr -d ' \n') in
		1f8b*) archives+=("$f") decomp+=(gzip) ;;
		fd377a585a00) archives+=("$f") decomp+=(xz) ;;
		28b52ffd*) archives+=("$f") decomp+=(zstd) ;;
		esac
	done < <(find "$W/cache-$C/sha256" "$W/cache-$C/sha512" -type f 2>/dev/null | sort)
	: >"$RAW/decompress.list"
	for i in "${!archives[@]}"; do printf '%s\0%s\0' "${decomp[$i]}" "${archives[$i]}" >>"$RAW/decompress.list"; done
	# The largest artifact this corpus downloads.
	largest=$(awk '/^    url: /{print $2}' "$W/$C.lock" | sed 's|^https://||' |
		while read -r p; do printf '%s %s\n' "$(stat -c %s "$mdir/$p")" "$p"; done | sort -n | tail -1 | cut -d' ' -f2)

	rounds=$RUNS
	[ "$C" = large ] && rounds=${BENCH_LARGE_RUNS:-1}
	echo "$rounds" >"$W/rounds-$C"
	for i in $(seq 1 "$rounds"); do
		log "$C: round $i of $rounds"
		rm -rf "$W/cold-cache"
		stats "$base" 1 >/dev/null
		bcmd "$SATCHEL_BUNDLE" "$W/cold-cache" "$W/$C-cold.satchel" "${FAST[@]}" && timed "$C|build cold" "${CMD[@]}"
		note "$C|cold fetch|$(stats "$base" 1)"
		rm -rf "$W/cold-cache"
		stats "$slowbase" 1 >/dev/null
		bcmd "$SATCHEL_BUNDLE" "$W/cold-cache" "$W/$C-slow.satchel" "${SLOW[@]}" && timed "$C|build cold +${LAT}ms" "${CMD[@]}"
		note "$C|slow fetch|$(stats "$slowbase" 1)"
		timed "$C|download +${LAT}ms" curl -fsS -o /dev/null "$slowbase/$largest"
		rm -rf "$W/cold-cache"
		bcmd "$SATCHEL_BUNDLE" "$W/cache-$C" "$W/$C-warm.satchel" "${FAST[@]}" && timed "$C|build warm" "${CMD[@]}"
		note "$C|warm fetch|$(stats "$base" 1)"
		bcmd "$SATCHEL_BUNDLE" "$W/cache-$C" "$W/$C-serial.satchel" "${FAST[@]}" && timed "$C|build warm serial" env GOMAXPROCS=1 "${CMD[@]}"
		if [ -n "${BENCH_BASELINE:-}" ]; then
			bcmd "$BENCH_BASELINE" "$W/cache-$C" "$W/$C-baseline.satchel" "${FAST[@]}" && timed "$C|build warm baseline" "${CMD[@]}"
		fi
		timed "$C|verify" "$SATCHEL_BUNDLE" verify --key "$W/satchel.pub" "$W/$C-ref.satchel"
		rm -rf "$W/root" && mkdir -p "$W/root"
		timed "$C|apply" "$SATCHEL_INSTALL" apply "$W/$C-ref.satchel" --key "$W/satchel.pub" --no-start --root "$W/root"
		written_mb=$(du -sm "$W/root" | cut -f1)
		rm -rf "$W/root"
		timed "$C|raw: decompress -P $NPROC" sh -c 'xargs -0 -n2 -P '"$NPROC"' sh -c "\$0 -dc \"\$1\" >/dev/null" <"$1"' _ "$RAW/decompress.list"
		timed "$C|raw: sha256sum -P $NPROC" sh -c 'cd "$1" && ls | xargs -P '"$NPROC"' -n8 sha256sum >/dev/null' _ "$RAW/files"
		timed "$C|raw: zstd -3 -T0" sh -c 'cd "$1" && cat * | zstd -3 -T0 -q -c >/dev/null' _ "$RAW/files"
		timed "$C|raw: install 1 core" sh -c 'cd "$1" && ls | xargs sha256sum >/dev/null && ls "$2" | xargs zstd -q -dc >/dev/null' _ "$RAW/bundle/blobs/sha256" "$RAW/files" # zstd -dc only the zstd blobs (not the SBOM or OCI blobs)
		for b in cold slow warm serial; do
			cmp -s "$W/$C-ref.satchel" "$W/$C-$b.satchel" || die "$C-$b.satchel differs from $C-ref.satchel: the build is not reproducible"
		done
		grep -q "^$C|warm fetch|requests 0 bytes 0\$" "$NOTES" || die "the warm rebuild downloaded: $(grep "^$C|warm fetch" "$NOTES" | tail -1)"
	done
	if command -v hauler >/dev/null; then
		# Hauler fetches the same artifacts from the same loopback mirror.
		hs=$W/hauler-$C
		rm -rf "$hs" && mkdir -p "$hs"
		awk '/^    url: /{print $2}' "$W/$C.lock" | sed "s|^https://|$base/|" >"$hs/urls"
		timed "$C|hauler store add" sh -c 'cd "$1" && while read -r u; do hauler store add file "$u" --store store || exit 1; done <urls' _ "$hs"
		timed "$C|hauler store save" sh -c 'cd "$1" && hauler store save --store store --filename haul.tar.zst' _ "$hs"
		timed "$C|hauler store load" sh -c 'cd "$1" && hauler store load --store loaded --filename haul.tar.zst' _ "$hs"
		note "$C|hauler size|$(($(stat -c %s "$hs/haul.tar.zst") / 1048576))"
	fi
	# Go benchmarks under a CPU profile: where the build's and the installer's CPU goes
	# (bundler.BenchmarkBuildCorpus: a warm build; pack.BenchmarkReadBundle: apply's reading,
	# verifying and decompressing without the writes).
	if [ "$PROFILE" = 1 ]; then
		log "$C: CPU profiles (go test -bench -cpuprofile)"
		mkdir -p "$W/prof"
		(cd "$REPO" &&
			SATCHEL_BENCH_SPEC=$W/$C.yaml SATCHEL_BENCH_LOCK=$W/$C.lock SATCHEL_BENCH_CACHE=$W/cache-$C \
				SATCHEL_BENCH_KEY=$W/satchel.key SATCHEL_BENCH_MIRRORS="${FAST[*]/--mirror/}" \
				go test -run '^$' -bench BuildCorpus -benchtime 1x -cpuprofile "$W/prof/$C-build.cpu" \
				-o "$W/prof/bundler.test" ./bundler/ &&
			SATCHEL_BENCH_BUNDLE=$W/$C-ref.satchel SATCHEL_BENCH_PUB=$W/satchel.pub \
				go test -run '^$' -bench ReadBundle -benchtime 3x -cpuprofile "$W/prof/$C-read.cpu" \
				-o "$W/prof/pack.test" ./pack/) >"$W/logs/$C-gobench.log" 2>&1 ||
			{ tail -n 20 "$W/logs/$C-gobench.log" >&2; die "the Go benchmarks failed"; }
		for k in build read; do
			go tool pprof -top -nodecount 12 "$W/prof/$( [ $k = build ] && echo bundler || echo pack).test" "$W/prof/$C-$k.cpu" \
				2>/dev/null | awk '/^ *flat/ {on = 1; next} on {printf "  %6s %6s  %s\n", $1, $2, $6}' >"$W/prof/$C-$k.top"
		done
		note "$C|gobench|$(grep -h '^Benchmark' "$W/logs/$C-gobench.log" | tr -s ' \t' ' ' | paste -sd ';')"
	fi
	# Sizes.
	note "$C|archives MB|$(du -cm "${archives[@]}" /dev/null | tail -1 | cut -f1)"
	note "$C|download MB|$(du -cm "$W/cache-$C"/sha256 "$W/cache-$C"/sha512 2>/dev/null | tail -1 | cut -f1)"
	note "$C|files MB|$(du -sm "$RAW/files" | cut -f1)"
	note "$C|blobs MB|$(du -sm "$RAW/bundle/blobs" | cut -f1)"
	note "$C|bundle MB|$(( $(stat -c %s "$W/$C-ref.satchel") / 1048576 ))"
	note "$C|written MB|$written_mb"
	note "$C|files|$(find "$RAW/files" -type f | wc -l)"
	note "$C|largest|$largest $(( $(stat -c %s "$mdir/$largest") / 1048576 )) MB"
	[ "$C" = large ] && note "$C|kata tree|$(cat "$W/large/about")"
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
	PIDS=()
done

# The report: one table, then the ratios the issue's targets are stated in.
median() { sort -n | awk '{a[NR]=$1} END {if (NR) print a[int((NR+1)/2)]}'; }
col() { awk -F'\t' -v n="$1" -v c="$2" '$1==n {print $c}' "$RESULTS"; }
med() { col "$1" "$2" | median; }
nt() { grep "^$1|$2|" "$NOTES" | tail -1 | cut -d'|' -f3 || true; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b > 0) printf "%.2f", a / b; else print "-"}'; }
sum() { awk '{s += $1} END {printf "%.2f", s}'; }
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
mem=$(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)
printf '\nsatchel bench, %s: %s, %s cores (%s), %s; medians of the rounds\n' "$(date -u +%FT%RZ)" "$(uname -m)" "$NPROC" "$cpu" "$mem"
printf 'load average: %s at the start, %s at the end\n' "$load0" "$(cut -d' ' -f1-3 /proc/loadavg)"
mapfile -t REPORTED < <(cut -f1 "$RESULTS" | cut -d'|' -f1 | awk '!seen[$0]++')
for C in "${REPORTED[@]}"; do
	printf '\ncorpus %s (%s round(s)): %s MB downloaded (%s MB in archives), %s files stored (%s MB), bundle %s MB\n' "$C" "$(cat "$W/rounds-$C")" \
		"$(nt "$C" 'download MB')" "$(nt "$C" 'archives MB')" "$(nt "$C" files)" "$(nt "$C" 'files MB')" "$(nt "$C" 'bundle MB')"
	[ "$C" != large ] || printf 'large kata tree: %s\n' "$(nt "$C" 'kata tree')"
	printf '| %-28s | %8s | %8s | %11s | %7s |\n' step seconds 'min s' 'peak RSS MB' 'CPU s'
	printf '|%s|%s:|%s:|%s:|%s:|\n' ------------------------------ ---------- ---------- ------------- ---------
	while IFS= read -r name; do
		s=$(med "$C|$name" 2)
		[ -n "$s" ] || continue
		printf '| %-28s | %8s | %8s | %11s | %7s |\n' "$name" "$s" "$(col "$C|$name" 2 | sort -n | head -1)" \
			"$(($(med "$C|$name" 3) / 1024))" "$(med "$C|$name" 4)"
	done < <(cut -f1 "$RESULTS" | grep "^$C|" | cut -d'|' -f2- | awk '!seen[$0]++')
	rawb=$(for n in "raw: decompress -P $NPROC" "raw: sha256sum -P $NPROC" "raw: zstd -3 -T0"; do med "$C|$n" 2; done | sum)
	rawbcpu=$(for n in "raw: decompress -P $NPROC" "raw: sha256sum -P $NPROC" "raw: zstd -3 -T0"; do med "$C|$n" 4; done | sum)
	printf '| %-28s | %8s | %8s | %11s | %7s |\n' "raw build (sum of 3 stages)" "$rawb" "" "" "$rawbcpu"
	warm=$(med "$C|build warm" 2) warmcpu=$(med "$C|build warm" 4)
	apply=$(med "$C|apply" 2) applycpu=$(med "$C|apply" 4)
	rawi=$(med "$C|raw: install 1 core" 2) rawicpu=$(med "$C|raw: install 1 core" 4)
	written=$(nt "$C" 'written MB') files=$(nt "$C" 'files MB')
	printf '\n%s, against the targets of issue 12:\n' "$C"
	printf -- '- build warm / raw build pipeline: %s wall (target <= 1.3), %s CPU; serial / parallel %s\n' \
		"$(ratio "$warm" "$rawb")" "$(ratio "$warmcpu" "$rawbcpu")" "$(ratio "$(med "$C|build warm serial" 2)" "$warm")"
	hz=$(nt "$C" 'hauler size')
	printf -- '- bundle %s MB; Hauler haul: %s\n' "$(nt "$C" 'bundle MB')" "${hz:-not measured (no hauler on PATH)}${hz:+ MB}"
	# Per byte written: apply writes $written MB (files, units, configs, the installer's
	# copy); the raw pipeline decodes $files MB.
	aps=$(awk -v t="$apply" -v w="$written" 'BEGIN {printf "%.0f", w / t}')
	rps=$(awk -v t="$rawi" -v w="$files" 'BEGIN {printf "%.0f", w / t}')
	apc=$(awk -v t="$applycpu" -v w="$written" 'BEGIN {printf "%.0f", w / t}')
	rpc=$(awk -v t="$rawicpu" -v w="$files" 'BEGIN {printf "%.0f", w / t}')
	printf -- '- apply %s MB/s written (%s MB in %s s) vs raw install %s MB/s on 1 core: %s (target >= 1.3); per CPU-second %s vs %s MB: %s (target >= 1/1.2 = 0.83)\n' \
		"$aps" "$written" "$apply" "$rps" "$(ratio "$aps" "$rps")" "$apc" "$rpc" "$(ratio "$apc" "$rpc")"
	printf -- '- peak RSS: apply %s MB (target <= 64), build warm %s MB, cold %s MB (target <= 256)\n' \
		"$(($(med "$C|apply" 3) / 1024))" "$(($(med "$C|build warm" 3) / 1024))" "$(($(med "$C|build cold" 3) / 1024))"
	printf -- '- warm rebuild fetched: %s (target 0 bytes); cold build fetched: %s\n' "$(nt "$C" 'warm fetch')" "$(nt "$C" 'cold fetch')"
	printf -- '- cold build at +%s ms per request: %s s (%s) vs %s s at 0 ms: +%s s; the slowest single download (%s) alone %s s; the latencies summed %s s\n' \
		"$LAT" "$(med "$C|build cold +${LAT}ms" 2)" "$(nt "$C" 'slow fetch')" "$(med "$C|build cold" 2)" \
		"$(awk -v a="$(med "$C|build cold +${LAT}ms" 2)" -v b="$(med "$C|build cold" 2)" 'BEGIN {printf "%.2f", a - b}')" \
		"$(nt "$C" largest)" "$(med "$C|download +${LAT}ms" 2)" \
		"$(nt "$C" 'slow fetch' | awk -v l="$LAT" '{printf "%.1f", $2 * l / 1000}')"
	if [ -s "$W/prof/$C-build.top" ]; then
		printf -- '- Go benchmarks: %s\n' "$(nt "$C" gobench)"
		printf 'CPU profile of a warm build (bundler.BenchmarkBuildCorpus), top functions, flat:\n'
		cat "$W/prof/$C-build.top"
		printf "CPU profile of apply's reading (pack.BenchmarkReadBundle), top functions, flat:\n"
		cat "$W/prof/$C-read.top"
	fi
done
printf '\nbundles byte-identical: every cold, delayed-cold, warm (GOMAXPROCS=%s) and serial (GOMAXPROCS=1) build\n' "$NPROC"
command -v hauler >/dev/null || printf 'Hauler: not on PATH, not measured (go install github.com/hauler-dev/hauler/cmd/hauler@VERSION, or see BENCHMARKS.md)\n'
