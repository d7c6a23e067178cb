#!/usr/bin/env bash
# realbins.sh — install the Debian packages the end-to-end tests need and build the
# real upstream binaries (containerd, runc, gVisor, crictl, nerdctl, dockerd) from the
# Go module proxy into a cache that survives between runs.
#
# Usage:
#   test/e2e/realbins.sh                 install + build what is missing (progress on stderr)
#   test/e2e/realbins.sh --print-env     the same, then print shell assignments on stdout:
#                                        eval "$(test/e2e/realbins.sh --print-env)"
#   test/e2e/realbins.sh --env-only      print the assignments without installing or building
#                                        (exits 1 if a binary is missing)
#
# Environment:
#   SATCHEL_E2E_CACHE   cache root (default /var/cache/satchel-e2e)
#   SATCHEL_E2E_NO_APT  set to 1 to skip the apt step (packages installed some other way)
#
# Layout under the cache:
#   builds/<name>-<version>-r<recipe>/bin/   one build each; `.done` is written last, so an
#                                           interrupted build is redone, a finished one skipped
#   bin/                                    hard links to the current builds (what tests use)
#   test-only/bin/containerd-shim-runsc-v1  gVisor shim patched to ignore the OOM-score error;
#                                           TEST-ONLY, never ship it (see README.md)
#   logs/<build>.log                        build output and time
#
# Why build from source: the release downloads are not reachable from CI; the Go module
# proxy and Debian's archive are. Go's own caches (GOMODCACHE, GOCACHE) are left where
# `go env` puts them.
set -euo pipefail

CACHE=${SATCHEL_E2E_CACHE:-/var/cache/satchel-e2e}

# Pinned versions (E2E-NOTES.md). Each build also has a recipe number (BUILDS below):
# bump it when that build's flags change, so the cached output of the old recipe is not
# reused.
CONTAINERD_VERSION=v2.4.2
RUNC_VERSION=v1.5.2
GVISOR_VERSION=v0.0.0-20260905035102-160fafc42237
CRICTL_VERSION=v1.37.0
NERDCTL_VERSION=v2.2.2
MOBY_VERSION=v2.0.0-beta.24

APT_PACKAGES=(
	containerd runc docker.io docker-registry skopeo umoci
	qemu-system-x86 qemu-utils qemu-user-static debootstrap
	libseccomp-dev pkg-config gcc libc6-dev busybox-static file e2fsprogs iproute2 curl
	util-linux ca-certificates runsc ansible-core openssh-server openssh-client jq
)

log() { printf '[realbins %s] %s\n' "$(date +%T)" "$*" >&2; }
die() {
	printf 'realbins: %s\n' "$1" >&2
	[ -n "${2:-}" ] && printf 'hint: %s\n' "$2" >&2
	exit 1
}

# --- Debian packages ---------------------------------------------------------------
install_apt() {
	local missing=() p
	for p in "${APT_PACKAGES[@]}"; do
		if [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" != "install ok installed" ]; then
			missing+=("$p")
		fi
	done
	[ ${#missing[@]} -eq 0 ] && { log "apt: all ${#APT_PACKAGES[@]} packages present"; return; }
	log "apt: installing ${missing[*]}"
	local t0=$SECONDS
	# Keep maintainer scripts from starting docker, containerd or the registry on the
	# host: tests start their own daemons with their own configs.
	local policy=/usr/sbin/policy-rc.d made_policy=
	if [ ! -e "$policy" ]; then
		printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && made_policy=1
	fi
	apt-get update -q >&2
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >&2 ||
		{ [ -n "$made_policy" ] && rm -f "$policy"; die "apt-get install failed" "check the apt sources; only Debian's archive is reachable"; }
	[ -n "$made_policy" ] && rm -f "$policy"
	log "apt: done in $((SECONDS - t0)) s"
}

# --- Go builds ---------------------------------------------------------------------
export GOTOOLCHAIN=local # never download a toolchain: the installed Go must do
export GOFLAGS="${GOFLAGS:-} -trimpath"

# build NAME VERSION RECIPE FUNC BINARIES...: run FUNC OUTDIR unless
# builds/NAME-VERSION-rRECIPE/.done exists; FUNC must leave every named binary in OUTDIR.
build() {
	local name=$1 version=$2 recipe=$3 fn=$4
	shift 4
	local key="$name-$version-r$recipe"
	local dir="$CACHE/builds/$key"
	if [ -f "$dir/.done" ]; then
		log "$key: cached"
		return
	fi
	mkdir -p "$CACHE/logs" "$CACHE/builds"
	local tmp="$CACHE/builds/.tmp-$key"
	rm -rf "$tmp" "$dir"
	mkdir -p "$tmp/bin"
	local logf="$CACHE/logs/$key.log" t0=$SECONDS
	log "$key: building (log: $logf)"
	if ! (cd / && "$fn" "$tmp/bin") >"$logf" 2>&1; then
		tail -n 30 "$logf" >&2
		die "building $key failed" "see $logf"
	fi
	local b
	for b in "$@"; do
		[ -x "$tmp/bin/$b" ] || die "building $key did not produce $b" "see $logf"
	done
	echo "$((SECONDS - t0))" >"$tmp/.seconds"
	touch "$tmp/.done"
	mv "$tmp" "$dir"
	log "$key: built in $((SECONDS - t0)) s"
	echo "built in $((SECONDS - t0)) s" >>"$logf"
}

b_containerd() {
	local ld="-s -w -X github.com/containerd/containerd/v2/version.Version=$CONTAINERD_VERSION"
	GOBIN=$1 CGO_ENABLED=0 go install -ldflags "$ld" \
		github.com/containerd/containerd/v2/cmd/containerd@$CONTAINERD_VERSION \
		github.com/containerd/containerd/v2/cmd/ctr@$CONTAINERD_VERSION \
		github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2@$CONTAINERD_VERSION
}

b_runc() {
	# Static with seccomp: glibc + libseccomp.a (libseccomp-dev); netgo/osusergo keep
	# glibc's NSS out of the static link.
	GOBIN=$1 CGO_ENABLED=1 go install -tags "seccomp netgo osusergo" \
		-ldflags "-s -w -extldflags -static" \
		github.com/opencontainers/runc@$RUNC_VERSION
}

b_gvisor() {
	local ld="-s -w -X gvisor.dev/gvisor/runsc/version.version=$GVISOR_VERSION"
	GOBIN=$1 CGO_ENABLED=0 go install -ldflags "$ld" \
		gvisor.dev/gvisor/runsc@$GVISOR_VERSION gvisor.dev/gvisor/shim@$GVISOR_VERSION
	mv "$1/shim" "$1/containerd-shim-runsc-v1"
}

# TEST-ONLY: the gVisor shim sets its own oom_score_adj to -999 and fails without
# CAP_SYS_RESOURCE (missing on the CI host). This copy ignores that one error, silently:
# containerd parses the shim's stdout. The patch is applied to a throw-away copy of the
# module source at build time; it is never committed and never shipped.
b_gvisor_testonly_shim() {
	local src
	src=$(go mod download -json gvisor.dev/gvisor@$GVISOR_VERSION | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
	[ -d "$src" ] || { echo "module dir not found"; return 1; }
	local work="$1/../src"
	rm -rf "$work"
	cp -r "$src" "$work"
	chmod -R u+w "$work"
	local f="$work/pkg/shim/v1/manager.go"
	grep -q 'failed to set OOM Score on shim' "$f" || { echo "patch target moved in $f"; return 1; }
	# Turn `if err := sys.SetOOMScore(...); err != nil { return ..., fmt.Errorf("failed to set OOM Score ...") }`
	# into an ignored call.
	perl -0pi -e 's/if err := (sys\.SetOOMScore\(cmd\.Process\.Pid, oomScoreMax\)); err != nil \{\n\s*return shim\.BootstrapParams\{\}, fmt\.Errorf\("failed to set OOM Score on shim: %w", err\)\n\s*\}/_ = $1 \/\/ TEST-ONLY (satchel e2e): ignore EPERM without CAP_SYS_RESOURCE/' "$f"
	grep -q 'TEST-ONLY (satchel e2e)' "$f" || { echo "patch did not apply to $f"; return 1; }
	grep -n 'TEST-ONLY' "$f"
	# `-v` says what this is: the version string is containerd's (a library of the shim).
	local cv
	cv=$(sed -n 's/^\tgithub.com\/containerd\/containerd\/v2 \(v[^ ]*\)$/\1/p' "$work/go.mod")
	(cd "$work" && CGO_ENABLED=0 GOFLAGS="$GOFLAGS -mod=mod" go build \
		-ldflags "-s -w -X github.com/containerd/containerd/v2/version.Version=${cv#v}+satchel-e2e-TEST-ONLY" \
		-o "$1/containerd-shim-runsc-v1" ./shim)
	rm -rf "$work"
}

b_crictl() {
	GOBIN=$1 CGO_ENABLED=0 go install \
		-ldflags "-s -w -X sigs.k8s.io/cri-tools/pkg/version.Version=$CRICTL_VERSION" \
		sigs.k8s.io/cri-tools/cmd/crictl@$CRICTL_VERSION
}

b_nerdctl() {
	# `go install …@v2.2.2` fails: go.mod replaces mod/tigron with ./mod/tigron, a nested
	# module that the proxy's zip leaves out. Only pkg/testutil (linked through
	# cmd/nerdctl/helpers) needs it, for the test interface tig.T; a stub module
	# declaring that interface lets the real command build unchanged.
	local src
	src=$(go mod download -json github.com/containerd/nerdctl/v2@$NERDCTL_VERSION | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
	[ -d "$src" ] || { echo "module dir not found"; return 1; }
	local work="$1/../src"
	rm -rf "$work"
	cp -r "$src" "$work"
	chmod -R u+w "$work"
	mkdir -p "$work/mod/tigron/tig"
	printf 'module github.com/containerd/nerdctl/mod/tigron\n\ngo 1.24\n' >"$work/mod/tigron/go.mod"
	cat >"$work/mod/tigron/tig/tig.go" <<'EOF'
// Package tig is a build stub for nerdctl's nested mod/tigron module, which the module
// proxy's zip does not contain. It declares only the test interface nerdctl's
// non-test code refers to; satchel's e2e build uses it to link the real nerdctl.
package tig

// T is the subset of testing.TB that nerdctl's testutil uses.
type T interface {
	Helper()
	Fail()
	FailNow()
	Log(args ...any)
	Name() string
	TempDir() string
	Skip(args ...any)
}
EOF
	(cd "$work" && CGO_ENABLED=0 GOFLAGS="$GOFLAGS -mod=mod" go build \
		-ldflags "-s -w -X github.com/containerd/nerdctl/v2/pkg/version.Version=$NERDCTL_VERSION" \
		-o "$1/nerdctl" ./cmd/nerdctl)
	rm -rf "$work"
}

b_moby() {
	local ld="-s -w -X github.com/moby/moby/v2/dockerversion.Version=$MOBY_VERSION"
	GOBIN=$1 CGO_ENABLED=0 go install -ldflags "$ld" \
		github.com/moby/moby/v2/cmd/dockerd@$MOBY_VERSION \
		github.com/moby/moby/v2/cmd/docker-proxy@$MOBY_VERSION
}

# name|version|recipe|function|binaries (binaries land in bin/, except test-only ones)
BUILDS=(
	"containerd|$CONTAINERD_VERSION|1|b_containerd|containerd ctr containerd-shim-runc-v2"
	"runc|$RUNC_VERSION|1|b_runc|runc"
	"gvisor|$GVISOR_VERSION|1|b_gvisor|runsc containerd-shim-runsc-v1"
	"crictl|$CRICTL_VERSION|1|b_crictl|crictl"
	"nerdctl|$NERDCTL_VERSION|1|b_nerdctl|nerdctl"
	"moby|$MOBY_VERSION|1|b_moby|dockerd docker-proxy"
	"gvisor-shim-testonly|$GVISOR_VERSION|2|b_gvisor_testonly_shim|containerd-shim-runsc-v1"
)

# smoke: every binary must run and report its version (cheap; runs on warm runs too).
# The versions land in $CACHE/versions.txt.
smoke() {
	local b flag out all=""
	for b in containerd ctr containerd-shim-runc-v2 runc runsc containerd-shim-runsc-v1 crictl nerdctl dockerd docker-proxy test-only/containerd-shim-runsc-v1; do
		case "$b" in
		*containerd-shim-*) flag=-v ;;
		*) flag=--version ;;
		esac
		local path="$CACHE/bin/$b"
		[ "${b#test-only/}" != "$b" ] && path="$CACHE/test-only/bin/${b#test-only/}"
		out=$("$path" $flag 2>&1) || die "$path $flag failed: $out" "rebuild: remove $CACHE/builds and run realbins.sh"
		out=$(head -n 2 <<<"$out" | tr -s '\n\t ' '   ')
		[ -n "$out" ] || die "$path $flag printed no version" "rebuild: remove $CACHE/builds and run realbins.sh"
		all+="$b: $out"$'\n'
	done
	printf '%s' "$all" >"$CACHE/versions.txt"
	log "smoke: all $(grep -c . "$CACHE/versions.txt") binaries run (see $CACHE/versions.txt)"
}

# link_bins: refresh $CACHE/bin and $CACHE/test-only/bin from the builds (cheap, every run).
link_bins() {
	mkdir -p "$CACHE/bin" "$CACHE/test-only/bin"
	local entry name version recipe fn bins b dest
	for entry in "${BUILDS[@]}"; do
		IFS='|' read -r name version recipe fn bins <<<"$entry"
		dest="$CACHE/bin"
		[ "$name" = gvisor-shim-testonly ] && dest="$CACHE/test-only/bin"
		for b in $bins; do
			ln -f "$CACHE/builds/$name-$version-r$recipe/bin/$b" "$dest/$b"
		done
	done
	cat >"$CACHE/test-only/README" <<'EOF'
TEST-ONLY. containerd-shim-runsc-v1 here is gVisor's shim patched (at build time, by
satchel's test/e2e/realbins.sh) to ignore "failed to set OOM Score on shim", for hosts
without CAP_SYS_RESOURCE. Never ship it; the bundle carries the unmodified shim.
EOF
}

print_env() {
	local b var
	{
		echo "SATCHEL_E2E_CACHE=$CACHE"
		echo "SATCHEL_E2E_BIN=$CACHE/bin"
		echo "SATCHEL_E2E_TESTONLY_BIN=$CACHE/test-only/bin"
		echo "SATCHEL_E2E_RUNSC_SHIM_TESTONLY=$CACHE/test-only/bin/containerd-shim-runsc-v1"
		echo "SATCHEL_E2E_CONTAINERD_VERSION=$CONTAINERD_VERSION"
		echo "SATCHEL_E2E_RUNC_VERSION=$RUNC_VERSION"
		echo "SATCHEL_E2E_GVISOR_VERSION=$GVISOR_VERSION"
		echo "SATCHEL_E2E_CRICTL_VERSION=$CRICTL_VERSION"
		echo "SATCHEL_E2E_NERDCTL_VERSION=$NERDCTL_VERSION"
		echo "SATCHEL_E2E_MOBY_VERSION=$MOBY_VERSION"
		echo "SATCHEL_E2E_BUSYBOX=$(command -v busybox || echo /bin/busybox)"
		for b in containerd ctr containerd-shim-runc-v2 runc runsc containerd-shim-runsc-v1 crictl nerdctl dockerd docker-proxy; do
			var=$(echo "$b" | tr 'a-z-' 'A-Z_')
			echo "SATCHEL_E2E_$var=$CACHE/bin/$b"
		done
	} | sed "s/^\([A-Z0-9_]*\)=\(.*\)$/export \1='\2'/"
}

check_bins() {
	local entry name version recipe fn bins b ok=0
	for entry in "${BUILDS[@]}"; do
		IFS='|' read -r name version recipe fn bins <<<"$entry"
		for b in $bins; do
			[ -x "$CACHE/builds/$name-$version-r$recipe/bin/$b" ] || { echo "missing: $name $b" >&2; ok=1; }
		done
	done
	return $ok
}

main() {
	local mode=build
	case "${1:-}" in
	--print-env) mode=print ;;
	--env-only) mode=envonly ;;
	"") ;;
	-h | --help) sed -n '2,30p' "$0"; exit 0 ;;
	*) die "unknown argument $1" "usage: realbins.sh [--print-env|--env-only]" ;;
	esac
	if [ "$mode" = envonly ]; then
		check_bins || die "some binaries are not built" "run test/e2e/realbins.sh"
		print_env
		return
	fi
	[ "$(id -u)" = 0 ] || die "needs root (apt-get, cache under /var/cache)" "run as root"
	command -v go >/dev/null || die "go not found" "install Go 1.26 and put it on PATH"
	local t0=$SECONDS
	[ "${SATCHEL_E2E_NO_APT:-}" = 1 ] || install_apt
	local entry name version recipe fn bins
	for entry in "${BUILDS[@]}"; do
		IFS='|' read -r name version recipe fn bins <<<"$entry"
		# shellcheck disable=SC2086
		build "$name" "$version" "$recipe" "$fn" $bins
	done
	link_bins
	smoke
	log "all done in $((SECONDS - t0)) s; binaries in $CACHE/bin"
	[ "$mode" = print ] && print_env
	return 0
}

main "$@"
