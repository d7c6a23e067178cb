#!/usr/bin/env bash
# realbins.sh — install the Debian packages the end-to-end tests need and build the
# real upstream binaries (containerd, runc, gVisor, crictl, nerdctl, dockerd, cosign,
# the CNI plugins, BuildKit) from the Go module proxy into a cache that survives between
# runs; plus a real virtiofsd >= 1.4 taken from Debian trixie's package (bookworm has none).
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
#   cni/bin/                                the CNI plugins (a directory like /opt/cni/bin)
#   test-only/bin/containerd-shim-runsc-v1  gVisor shim patched to ignore the OOM-score error;
#                                           TEST-ONLY, never ship it (see README.md)
#   logs/<build>.log                        build output and time
#   timings.txt                             the last run's phases and seconds
#
# Why build from source: the release downloads are not reachable from CI; the Go module
# proxy and Debian's archive are. Go's own caches (GOMODCACHE, GOCACHE) are left where
# `go env` puts them.
set -euo pipefail

CACHE=${SATCHEL_E2E_CACHE:-/var/cache/satchel-e2e}

# Pinned versions (E2E-NOTES.md). Each build also has a recipe number (BUILDS below):
# bump it when that build's flags change, so the cached output of the old recipe is not
# reused.
CONTAINERD_VERSION=v2.3.4
RUNC_VERSION=v1.4.3
GVISOR_VERSION=v0.0.0-20260905035102-160fafc42237
CRICTL_VERSION=v1.36.0
NERDCTL_VERSION=v2.2.2
MOBY_VERSION=v2.0.0-beta.24
COSIGN_VERSION=v2.6.5
CNI_PLUGINS_VERSION=v1.9.1
BUILDKIT_VERSION=v0.34.2
# virtiofsd (the Rust one, >= 1.4: it enters its sandbox through pidfd_open) is not
# packaged for bookworm, not even in backports; trixie's package is the real program,
# linked against trixie's glibc 2.41, so its libraries come along (b_virtiofsd).
VIRTIOFSD_SUITE=trixie

# The CNI plugins upstream's release tgz holds: build_linux.sh builds every directory
# under plugins/meta, plugins/main and plugins/ipam except windows (v1.9.0);
# b_cni_plugins checks that the module still has exactly these.
CNI_PLUGINS="bandwidth firewall portmap sbr tuning vrf bridge dummy host-device ipvlan loopback macvlan ptp tap vlan dhcp host-local static"

APT_PACKAGES=(
	containerd runc docker.io docker-registry skopeo umoci
	qemu-system-x86 qemu-utils qemu-user-static debootstrap
	libseccomp-dev pkg-config gcc libc6-dev busybox-static file e2fsprogs iproute2 curl
	util-linux ca-certificates runsc
	systemd time zstd xz-utils iptables openssh-server openssh-client ansible-core apache2-utils openssl patchelf jq
)

log() { printf '[realbins %s] %s\n' "$(date +%T)" "$*" >&2; }
# timing PHASE SECONDS [NOTE]: one line of $CACHE/timings.txt (this run's phases).
TIMINGS=
timing() {
	TIMINGS+="$(printf '%-66s %5s s  %s' "$1" "$2" "${3:-}")"$'\n'
}
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
		timing "build $key" 0 cached
		return
	fi
	mkdir -p "$CACHE/logs" "$CACHE/builds"
	local tmp="$CACHE/builds/.tmp-$key"
	rm -rf "$tmp" "$dir"
	mkdir -p "$tmp/bin"
	local logf="$CACHE/logs/$key.log" t0=$SECONDS
	log "$key: building (log: $logf)"
	# BUILD_DIR: where the build will live once done (for a binary that must name
	# its own files by absolute path: virtiofsd's loader).
	if ! (cd / && BUILD_DIR="$dir" "$fn" "$tmp/bin") >"$logf" 2>&1; then
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
	timing "build $key" $((SECONDS - t0)) built
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

b_cosign() {
	# As upstream's Makefile builds the release binary: CGO_ENABLED=0, the version in
	# sigs.k8s.io/release-utils/version.gitVersion.
	GOBIN=$1 CGO_ENABLED=0 go install \
		-ldflags "-s -w -buildid= -X sigs.k8s.io/release-utils/version.gitVersion=$COSIGN_VERSION" \
		github.com/sigstore/cosign/v2/cmd/cosign@$COSIGN_VERSION
}

b_cni_plugins() {
	# Upstream's scripts/release.sh: CGO_ENABLED=0, -ldflags "-extldflags -static -X
	# …/pkg/utils/buildversion.BuildVersion=$TAG" (the static flag is moot without cgo),
	# build_linux.sh's plugin list. The module zip has no vendor/: module mode.
	local src
	src=$(go mod download -json github.com/containernetworking/plugins@$CNI_PLUGINS_VERSION | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
	[ -d "$src" ] || { echo "module dir not found"; return 1; }
	local have want d p pkgs=() # (errexit is off here: each step checks its status)
	have=$(cd "$src" && for d in plugins/meta/* plugins/main/* plugins/ipam/*; do
		[ -d "$d" ] && [ "$(basename "$d")" != windows ] && basename "$d"; done | sort | tr '\n' ' ')
	want=$(tr ' ' '\n' <<<"$CNI_PLUGINS" | sort | tr '\n' ' ')
	[ "$have" = "$want" ] || { echo "plugin list changed: module has [$have], CNI_PLUGINS [$want]: update CNI_PLUGINS"; return 1; }
	for d in plugins/meta plugins/main plugins/ipam; do
		for p in $CNI_PLUGINS; do
			[ -d "$src/$d/$p" ] && pkgs+=("github.com/containernetworking/plugins/$d/$p@$CNI_PLUGINS_VERSION")
		done
	done
	GOBIN=$1 CGO_ENABLED=0 go install \
		-ldflags "-s -w -X github.com/containernetworking/plugins/pkg/utils/buildversion.BuildVersion=$CNI_PLUGINS_VERSION" \
		"${pkgs[@]}"
}

b_buildkit() {
	# Upstream's Dockerfile: CGO_ENABLED=0; buildkitd with the tags "osusergo netgo
	# static_build seccomp"; version and package in github.com/moby/buildkit/version.
	# `go install …@version` refuses the module (its go.mod has exclude directives), so
	# it is built as the main module, from a writable copy of the module cache's tree.
	local src
	src=$(go mod download -json github.com/moby/buildkit@$BUILDKIT_VERSION | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
	[ -d "$src" ] || { echo "module dir not found"; return 1; }
	local work="$1/../src"
	rm -rf "$work" && cp -r "$src" "$work" && chmod -R u+w "$work" || return 1
	local ld="-s -w -X github.com/moby/buildkit/version.Version=$BUILDKIT_VERSION -X github.com/moby/buildkit/version.Package=github.com/moby/buildkit"
	(cd "$work" && CGO_ENABLED=0 go build -ldflags "$ld" -tags "osusergo netgo static_build seccomp" -o "$1/buildkitd" ./cmd/buildkitd) || return 1
	(cd "$work" && CGO_ENABLED=0 go build -ldflags "$ld" -o "$1/buildctl" ./cmd/buildctl) || return 1
	rm -rf "$work"
}

# virtiofsd from Debian $VIRTIOFSD_SUITE, with that suite's libc6, libcap-ng0, libgcc-s1
# and libseccomp2 unpacked beside it (nothing is installed into the system; apt checks
# every .deb against the suite's signed Release file). Its ELF interpreter and library
# path point (patchelf) at those copies under BUILD_DIR, so the program itself, not a
# loader, is what runs (/proc/self/exe stays virtiofsd).
b_virtiofsd() {
	[ -n "${BUILD_DIR:-}" ] && [ -n "${1:-}" ] || { echo "b_virtiofsd: no BUILD_DIR/OUTDIR"; return 1; }
	local out=$1 work="$1/../deb" root="$1/../root"
	rm -rf "$work" && mkdir -p "$work/lists/partial" "$work/cache/archives/partial" "$work/debs" "$root"
	# (The caller runs this with errexit off: every step checks its own status.)
	cat >"$work/suite.sources" <<EOF
Types: deb
URIs: ${SATCHEL_E2E_DEBIAN_MIRROR:-http://deb.debian.org/debian}
Suites: $VIRTIOFSD_SUITE
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
	local apt=(-o "Dir::Etc::sourcelist=$work/suite.sources" -o Dir::Etc::sourceparts=- -o "Dir::State::Lists=$work/lists"
		-o "Dir::Cache=$work/cache" -o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache= -o APT::Get::List-Cleanup=0
		-o APT::Sandbox::User=root)
	apt-get "${apt[@]}" update -q || return 1
	(cd "$work/debs" && apt-get "${apt[@]}" download virtiofsd libc6 libcap-ng0 libgcc-s1 libseccomp2) || return 1
	local deb
	for deb in "$work"/debs/*.deb; do
		dpkg-deb -x "$deb" "$root" || return 1
		dpkg-deb -f "$deb" Package Version Architecture | paste -sd' ' >>"$out/../DEBS"
	done
	cat "$out/../DEBS"
	local exe="$root/usr/libexec/virtiofsd"
	[ -x "$exe" ] || { echo "no /usr/libexec/virtiofsd in the package"; return 1; }
	local interp libdir final_libdir
	interp=$(basename "$(patchelf --print-interpreter "$exe")")
	libdir=$(dirname "$(find "$root" -name "$interp" | head -n1)")
	[ -e "$libdir/$interp" ] || { echo "no $interp in $VIRTIOFSD_SUITE's libc6"; return 1; }
	final_libdir="$BUILD_DIR/root/${libdir#"$root"/}"
	cp "$exe" "$out/virtiofsd" || return 1
	patchelf --set-interpreter "$final_libdir/$interp" --set-rpath "$final_libdir" "$out/virtiofsd" || return 1
	echo "virtiofsd: interpreter $(patchelf --print-interpreter "$out/virtiofsd"), rpath $(patchelf --print-rpath "$out/virtiofsd")"
	rm -rf "$work"
}

# name|version|recipe|function|binaries|dest (under the cache: where link_bins puts them)
BUILDS=(
	"containerd|$CONTAINERD_VERSION|1|b_containerd|containerd ctr containerd-shim-runc-v2|bin"
	"runc|$RUNC_VERSION|1|b_runc|runc|bin"
	"gvisor|$GVISOR_VERSION|1|b_gvisor|runsc containerd-shim-runsc-v1|bin"
	"crictl|$CRICTL_VERSION|1|b_crictl|crictl|bin"
	"nerdctl|$NERDCTL_VERSION|1|b_nerdctl|nerdctl|bin"
	"moby|$MOBY_VERSION|1|b_moby|dockerd docker-proxy|bin"
	"gvisor-shim-testonly|$GVISOR_VERSION|2|b_gvisor_testonly_shim|containerd-shim-runsc-v1|test-only/bin"
	"cosign|$COSIGN_VERSION|1|b_cosign|cosign|bin"
	"cni-plugins|$CNI_PLUGINS_VERSION|1|b_cni_plugins|$CNI_PLUGINS|cni/bin"
	"buildkit|$BUILDKIT_VERSION|1|b_buildkit|buildkitd buildctl|bin"
	"virtiofsd|$VIRTIOFSD_SUITE|1|b_virtiofsd|virtiofsd|bin"
)

# Debian programs the tests use, by the name of their SATCHEL_E2E_ variable.
DEBIAN_TOOLS=(
	"SKOPEO=/usr/bin/skopeo"
	"DOCKER_REGISTRY=/usr/bin/docker-registry"
	"IPTABLES=/usr/sbin/iptables"
	"SSHD=/usr/sbin/sshd"
	"SSH_KEYGEN=/usr/bin/ssh-keygen"
	"ANSIBLE_PLAYBOOK=/usr/bin/ansible-playbook"
	"HTPASSWD=/usr/bin/htpasswd"
	"OPENSSL=/usr/bin/openssl"
)

# smoke: every binary must run and report its version (cheap; runs on warm runs too).
# The versions land in $CACHE/versions.txt.
smoke() {
	local b flag out all="" path
	for b in containerd ctr containerd-shim-runc-v2 runc runsc containerd-shim-runsc-v1 crictl nerdctl dockerd docker-proxy \
		cosign buildkitd buildctl virtiofsd test-only/containerd-shim-runsc-v1; do
		case "$b" in
		*containerd-shim-*) flag=-v ;;
		cosign) flag=version ;;
		*) flag=--version ;;
		esac
		path="$CACHE/bin/$b"
		[ "${b#test-only/}" != "$b" ] && path="$CACHE/test-only/bin/${b#test-only/}"
		out=$("$path" $flag 2>&1) || die "$path $flag failed: $out" "rebuild: remove $CACHE/builds and run realbins.sh"
		[ "$b" = cosign ] && out=$(grep -E '^GitVersion:' <<<"$out")
		out=$(head -n 2 <<<"$out" | tr -s '\n\t ' '   ')
		[ -n "$out" ] || die "$path $flag printed no version" "rebuild: remove $CACHE/builds and run realbins.sh"
		all+="$b: $out"$'\n'
	done
	# virtiofsd must be the Rust one, >= 1.4 (the version whose default sandbox needs
	# pidfd_open): "virtiofsd 1.13.2".
	local vv
	vv=$(sed -n 's/^virtiofsd: virtiofsd \([0-9][0-9.]*\).*/\1/p' <<<"$all")
	[ -n "$vv" ] && [ "$(printf '%s\n1.4\n' "$vv" | sort -V | head -n1)" = 1.4 ] ||
		die "virtiofsd is not >= 1.4: ${vv:-no version}" "see $CACHE/logs/virtiofsd-$VIRTIOFSD_SUITE-r1.log"
	# CNI plugins: the VERSION command answers (JSON on stdout), and without a command
	# each names itself and the pinned release on stderr ("CNI bridge plugin v1.9.0").
	for b in $CNI_PLUGINS; do
		path="$CACHE/cni/bin/$b"
		out=$(CNI_COMMAND=VERSION "$path" </dev/null 2>&1) || die "$path VERSION failed: $out" "rebuild: remove $CACHE/builds/cni-plugins-* and run realbins.sh"
		grep -q supportedVersions <<<"$out" || die "$path VERSION: $out"
		out=$(env -u CNI_COMMAND "$path" </dev/null 2>&1 || true) # exits 1: no command given
		out=${out%%$'\n'*}
		grep -q "$CNI_PLUGINS_VERSION" <<<"$out" || die "$path does not say $CNI_PLUGINS_VERSION: $out"
		all+="cni/$b: $out"$'\n'
	done
	local kv
	for kv in "${DEBIAN_TOOLS[@]}"; do
		[ -x "${kv#*=}" ] || die "${kv#*=} missing" "apt-get install the package that has it (APT_PACKAGES in $0)"
	done
	all+="debian: $(dpkg-query -W -f='${Package} ${Version}, ' skopeo docker-registry iptables openssh-server ansible-core apache2-utils openssl 2>/dev/null)"$'\n'
	printf '%s' "$all" >"$CACHE/versions.txt"
	log "smoke: all $(grep -c . "$CACHE/versions.txt") binaries run (see $CACHE/versions.txt)"
}

# link_bins: refresh $CACHE/bin, cni/bin and test-only/bin from the builds (cheap, every run).
link_bins() {
	local entry name version recipe fn bins dest b
	for entry in "${BUILDS[@]}"; do
		IFS='|' read -r name version recipe fn bins dest <<<"$entry"
		mkdir -p "$CACHE/$dest"
		for b in $bins; do
			ln -f "$CACHE/builds/$name-$version-r$recipe/bin/$b" "$CACHE/$dest/$b"
		done
	done
	cat >"$CACHE/test-only/README" <<'EOF'
TEST-ONLY. containerd-shim-runsc-v1 here is gVisor's shim patched (at build time, by
satchel's test/e2e/realbins.sh) to ignore "failed to set OOM Score on shim", for hosts
without CAP_SYS_RESOURCE. Never ship it; the bundle carries the unmodified shim.
EOF
}

print_env() {
	local b var kv
	{
		echo "SATCHEL_E2E_CACHE=$CACHE"
		echo "SATCHEL_E2E_BIN=$CACHE/bin"
		echo "SATCHEL_E2E_TESTONLY_BIN=$CACHE/test-only/bin"
		echo "SATCHEL_E2E_CNI_BIN=$CACHE/cni/bin"
		echo "SATCHEL_E2E_RUNSC_SHIM_TESTONLY=$CACHE/test-only/bin/containerd-shim-runsc-v1"
		echo "SATCHEL_E2E_CONTAINERD_VERSION=$CONTAINERD_VERSION"
		echo "SATCHEL_E2E_RUNC_VERSION=$RUNC_VERSION"
		echo "SATCHEL_E2E_GVISOR_VERSION=$GVISOR_VERSION"
		echo "SATCHEL_E2E_CRICTL_VERSION=$CRICTL_VERSION"
		echo "SATCHEL_E2E_NERDCTL_VERSION=$NERDCTL_VERSION"
		echo "SATCHEL_E2E_MOBY_VERSION=$MOBY_VERSION"
		echo "SATCHEL_E2E_COSIGN_VERSION=$COSIGN_VERSION"
		echo "SATCHEL_E2E_CNI_PLUGINS_VERSION=$CNI_PLUGINS_VERSION"
		echo "SATCHEL_E2E_CNI_PLUGINS=$CNI_PLUGINS"
		echo "SATCHEL_E2E_BUILDKIT_VERSION=$BUILDKIT_VERSION"
		echo "SATCHEL_E2E_BUSYBOX=$(command -v busybox || echo /bin/busybox)"
		for b in containerd ctr containerd-shim-runc-v2 runc runsc containerd-shim-runsc-v1 crictl nerdctl dockerd docker-proxy \
			cosign buildkitd buildctl virtiofsd; do
			var=$(echo "$b" | tr 'a-z-' 'A-Z_')
			echo "SATCHEL_E2E_$var=$CACHE/bin/$b"
		done
		for kv in "${DEBIAN_TOOLS[@]}"; do
			echo "SATCHEL_E2E_$kv"
		done
	} | sed "s/^\([A-Z0-9_]*\)=\(.*\)$/export \1='\2'/"
}

check_bins() {
	local entry name version recipe fn bins dest b ok=0
	for entry in "${BUILDS[@]}"; do
		IFS='|' read -r name version recipe fn bins dest <<<"$entry"
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
	-h | --help) sed -n '2,32p' "$0"; exit 0 ;;
	*) die "unknown argument $1" "usage: realbins.sh [--print-env|--env-only]" ;;
	esac
	if [ "$mode" = envonly ]; then
		check_bins || die "some binaries are not built" "run test/e2e/realbins.sh"
		print_env
		return
	fi
	[ "$(id -u)" = 0 ] || die "needs root (apt-get, cache under /var/cache)" "run as root"
	command -v go >/dev/null || die "go not found" "install Go 1.26 and put it on PATH"
	local t0=$SECONDS t
	if [ "${SATCHEL_E2E_NO_APT:-}" = 1 ]; then
		timing apt 0 "skipped (SATCHEL_E2E_NO_APT=1)"
	else
		t=$SECONDS
		install_apt
		timing apt $((SECONDS - t))
	fi
	local entry name version recipe fn bins dest
	for entry in "${BUILDS[@]}"; do
		IFS='|' read -r name version recipe fn bins dest <<<"$entry"
		# shellcheck disable=SC2086
		build "$name" "$version" "$recipe" "$fn" $bins
	done
	link_bins
	t=$SECONDS
	smoke
	timing smoke $((SECONDS - t))
	timing total $((SECONDS - t0))
	printf '%s' "$TIMINGS" >"$CACHE/timings.txt"
	log "all done in $((SECONDS - t0)) s; binaries in $CACHE/bin (timings: $CACHE/timings.txt)"
	[ "$mode" = print ] && print_env
	return 0
}

main "$@"
