# sources.sh — the connected side of satchel's end-to-end tests (bash; source it after
# lib.sh and `eval "$(realbins.sh --print-env)"`): an upstream-shaped mirror holding the
# REAL binaries realbins.sh built, Debian's docker-registry with real (stand-in) images,
# and signed bundles built from them by the real satchel-bundle.
#
#   src_init WORKDIR              work in WORKDIR (created); builds mkmirror into WORKDIR/bin
#   src_specs                     write WORKDIR/main.yaml and WORKDIR/c16.yaml (see below)
#   src_mirror [SPEC...]          generate the mirror for the specs (default: main c16) and
#                                 serve it on loopback
#   src_registry                  start docker-registry on loopback, push the two images
#   src_bundle NAME               keygen (once), lock, build WORKDIR/NAME.satchel from NAME.yaml
#   src_stop                      stop the mirror server and the registry (safe to call twice)
#
# Results (globals): SRC_MK (the mkmirror binary), SRC_BASE (mirror URL), SRC_REG
# (registry host:port), SRC_FLAGS (the --mirror/--registry-mirror arguments), SRC_KEY /
# SRC_PUB (signing key pair), SATCHEL_BUNDLE / SATCHEL_INSTALL (the satchel binaries:
# $SATCHEL_E2E_SATCHEL_BIN or REPO/bin). Progress goes to stderr; logs to WORKDIR/logs.
#
# The specs (platform linux/amd64; every version is what realbins.sh built, named as the
# upstream release it stands for):
#   main.yaml  containerd 2.3.4 (static), runc 1.4.3, docker 28.2.2, gVisor 20260905.0,
#              kata 3.1.3, nerdctl 2.2.2, crictl 1.36.0, CNI plugins 1.9.1 (the real
#              plugins in upstream's tgz layout with its sha256sum-format .sha256 file),
#              BuildKit 0.34.2 (buildkitd, buildctl; BuildKit publishes no checksum: lock
#              pins the download); nginx:1.27.4 and pause:3.10
#   c16.yaml   containerd 1.6.20 (dynamic: Debian's binaries), runc 1.4.3,
#              gVisor 20260905.0, crictl 1.36.0; the same images
# What is not the real upstream program (labelled where it lands):
#   - docker-28.2.2.tgz: the static docker CLI is the real 28.2.2 client found on this
#     machine (/usr/local/bin/docker), or Debian's 20.10 client; dockerd and docker-proxy
#     are moby v2.0.0-beta.24 built from the module proxy; docker-init is Debian's
#     tini-static (docker.io's docker-init), or a stand-in; containerd, ctr, runc in it
#     are the built ones
#   - kata-static-3.1.3: a labelled stand-in tree (mirrorgen.StandIn): kata cannot run here
#   - containerd-stress: a labelled stand-in (not built)
#   - the images: busybox httpd standing in for nginx, a static C pause for pause:3.10
#   - the runc/gVisor/containerd versions are pseudo-releases of the real source

# shellcheck shell=bash disable=SC2034
SRC_DIR='' SRC_MK='' SRC_BASE='' SRC_REG='' SRC_KEY='' SRC_PUB=''
SRC_FLAGS=()
SRC_PIDS=()
SRC_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

src__log() { printf '[e2e %s] %s\n' "$(date +%T)" "$*" >&2; }

src_init() {
	SRC_DIR=${1:?usage: src_init WORKDIR}
	mkdir -p "$SRC_DIR/bin" "$SRC_DIR/logs" || return 1
	local bin=${SATCHEL_E2E_SATCHEL_BIN:-$SRC_REPO/bin}
	SATCHEL_BUNDLE=$bin/satchel-bundle SATCHEL_INSTALL=$bin/satchel-install
	if [ -z "${SATCHEL_E2E_SATCHEL_BIN:-}" ] && [ -z "${MAKELEVEL:-}" ]; then
		# Not run by `make e2e` (which builds first): build what is tested.
		src__log "make bin/satchel-bundle bin/satchel-install"
		make -s -C "$SRC_REPO" bin/satchel-bundle bin/satchel-install >"$SRC_DIR/logs/make.log" 2>&1 ||
			{ cat "$SRC_DIR/logs/make.log" >&2; rr__err "building satchel failed"; return 1; }
	fi
	[ -x "$SATCHEL_BUNDLE" ] && [ -x "$SATCHEL_INSTALL" ] ||
		{ rr__err "$bin has no satchel-bundle/satchel-install" "run make build"; return 1; }
	file -b "$SATCHEL_INSTALL" | grep -q 'statically linked' ||
		{ rr__err "$SATCHEL_INSTALL is not statically linked" "build it with make build (CGO_ENABLED=0)"; return 1; }
	SRC_MK=$SRC_DIR/bin/mkmirror
	(cd "$SRC_REPO" && GOTOOLCHAIN=local CGO_ENABLED=0 go build -trimpath -o "$SRC_MK" ./test/e2e/mkmirror) \
		>"$SRC_DIR/logs/mkmirror-build.log" 2>&1 ||
		{ cat "$SRC_DIR/logs/mkmirror-build.log" >&2; rr__err "building test/e2e/mkmirror failed"; return 1; }
}

src_specs() {
	cat >"$SRC_DIR/main.yaml" <<'EOF'
# satchel e2e: every component, real binaries built from source (see test/e2e/sources.sh).
apiVersion: satchel/v1
kind: Bundle
metadata:
  name: satchel-e2e
  version: 2026.11.0-e2e
  sequence: 1
spec:
  platforms: [linux/amd64]
  components:
    - {name: containerd, version: 2.3.4, variant: static}
    - {name: runc, version: 1.4.3}
    - {name: docker, version: 28.2.2}
    - {name: gvisor, version: "20260905.0"}
    - {name: kata, version: 3.1.3}
    - {name: nerdctl, version: 2.2.2}
    - {name: crictl, version: 1.36.0}
    - {name: cni, version: 1.9.1}
    - {name: buildkit, version: 0.34.2}
  images:
    - ref: docker.io/library/nginx:1.27.4
    - ref: registry.k8s.io/pause:3.10
      role: sandbox
EOF
	cat >"$SRC_DIR/c16.yaml" <<'EOF'
# satchel e2e: containerd 1.6 (Debian's 1.6.20 binaries, dynamic) with config version 2.
apiVersion: satchel/v1
kind: Bundle
metadata:
  name: satchel-e2e-containerd16
  version: 2026.11.0-e2e
  sequence: 1
spec:
  platforms: [linux/amd64]
  components:
    - {name: containerd, version: 1.6.20, variant: dynamic}
    - {name: runc, version: 1.4.3}
    - {name: gvisor, version: "20260905.0"}
    - {name: crictl, version: 1.36.0}
  images:
    - ref: docker.io/library/nginx:1.27.4
    - ref: registry.k8s.io/pause:3.10
      role: sandbox
EOF
}

# src__files: -file NAME=PATH arguments for the main mirror.
src__files() {
	local b
	for b in containerd ctr containerd-shim-runc-v2 runc runsc containerd-shim-runsc-v1 crictl nerdctl dockerd docker-proxy; do
		echo "-file $b=$SATCHEL_E2E_BIN/$b"
	done
	local docker=/usr/local/bin/docker
	[ -x "$docker" ] || docker=/usr/bin/docker
	[ -x "$docker" ] && echo "-file docker=$docker"
	# BuildKit's daemon and client (its tarball's bin/; buildkit-runc stays a stand-in:
	# satchel installs only these two).
	echo "-file buildkitd=$SATCHEL_E2E_BUILDKITD"
	echo "-file buildctl=$SATCHEL_E2E_BUILDCTL"
	# The CNI plugins, by base name: mirrorgen packs them into upstream's tgz layout.
	for b in $SATCHEL_E2E_CNI_PLUGINS; do
		echo "-file $b=$SATCHEL_E2E_CNI_BIN/$b"
	done
	local init
	for init in /usr/sbin/docker-init /usr/libexec/docker/docker-init /usr/bin/docker-init; do
		[ -x "$init" ] && { echo "-file docker-init=$(readlink -f "$init")"; break; }
	done
	# nerdctl's rootless scripts, from the nerdctl module the build used.
	local mod
	mod=$(GOTOOLCHAIN=local go env GOMODCACHE 2>/dev/null)/github.com/containerd/nerdctl/v2@$SATCHEL_E2E_NERDCTL_VERSION/extras/rootless
	for b in containerd-rootless-setuptool.sh containerd-rootless.sh; do
		[ -f "$mod/$b" ] && echo "-file $b=$mod/$b"
	done
	return 0
}

# src__salt: a digest of the sources mirrorgen.Generate's output depends on (the mirror
# cache key; the mkmirror binary itself also links packages that change more often).
src__salt() {
	(cd "$SRC_REPO" && find internal/mirrorgen profiles manifest test/e2e/mkmirror -type f \
		! -name '*_test.go' ! -path '*/testdata/*' -print0 | sort -z | xargs -0 sha256sum) | sha256sum | cut -c1-32
}

src_mirror() {
	local t0=$SECONDS cache=$SATCHEL_E2E_CACHE/e2e-mirror specs=" ${*:-main c16} " salt
	mkdir -p "$SRC_DIR/mirror" "$cache"
	salt=$(src__salt)
	# shellcheck disable=SC2046
	[[ "$specs" != *" main "* ]] || "$SRC_MK" gen -f "$SRC_DIR/main.yaml" -dir "$SRC_DIR/mirror" -cache "$cache" -salt "$salt" $(src__files) \
		>"$SRC_DIR/logs/mirror-main.log" 2>&1 || { cat "$SRC_DIR/logs/mirror-main.log" >&2; rr__err "generating the main mirror failed"; return 1; }
	[[ "$specs" != *" c16 "* ]] || "$SRC_MK" gen -f "$SRC_DIR/c16.yaml" -dir "$SRC_DIR/mirror" -cache "$cache" -salt "$salt" \
		-file containerd=/usr/bin/containerd -file ctr=/usr/bin/ctr \
		-file containerd-shim-runc-v2=/usr/bin/containerd-shim-runc-v2 \
		-file runc="$SATCHEL_E2E_BIN/runc" -file runsc="$SATCHEL_E2E_BIN/runsc" \
		-file containerd-shim-runsc-v1="$SATCHEL_E2E_BIN/containerd-shim-runsc-v1" -file crictl="$SATCHEL_E2E_BIN/crictl" \
		>"$SRC_DIR/logs/mirror-c16.log" 2>&1 || { cat "$SRC_DIR/logs/mirror-c16.log" >&2; rr__err "generating the containerd 1.6 mirror failed"; return 1; }
	# Sites of earlier inputs: drop those unused for a day (gen sets an entry's mtime when it
	# uses it; hard links make removal safe for a run that already copied one).
	find "$cache" -mindepth 1 -maxdepth 1 -mmin +1440 -exec rm -rf {} + 2>/dev/null
	src__log "mirror generated in $((SECONDS - t0)) s ($(grep -h 'cached site\|generated' "$SRC_DIR"/logs/mirror-*.log | sed 's/^mkmirror: //' | tr '\n' ';'))"
	"$SRC_MK" serve -dir "$SRC_DIR/mirror" -addr-file "$SRC_DIR/mirror.addr" >"$SRC_DIR/logs/mirror-serve.log" 2>&1 &
	SRC_PIDS+=($!)
	local _
	for _ in $(seq 1 100); do [ -s "$SRC_DIR/mirror.addr" ] && break; sleep 0.1; done
	SRC_BASE=$(cat "$SRC_DIR/mirror.addr" 2>/dev/null) || { rr__err "the mirror server did not start" "see $SRC_DIR/logs/mirror-serve.log"; return 1; }
	local h
	for h in download.docker.com github.com storage.googleapis.com; do
		SRC_FLAGS+=(--mirror "https://$h=$SRC_BASE/$h")
	done
	src__log "mirror served at $SRC_BASE"
}

src_registry() {
	local port
	port=$("$SRC_MK" freeport) || return 1
	SRC_REG=127.0.0.1:$port
	mkdir -p "$SRC_DIR/registry/data"
	cat >"$SRC_DIR/registry/config.yml" <<EOF
version: 0.1
log:
  level: warn
  accesslog: {disabled: true}
storage:
  filesystem:
    rootdirectory: $SRC_DIR/registry/data
  delete: {enabled: true}
http:
  addr: $SRC_REG
EOF
	docker-registry serve "$SRC_DIR/registry/config.yml" >"$SRC_DIR/logs/registry.log" 2>&1 &
	SRC_PIDS+=($!)
	local _ ok=
	for _ in $(seq 1 100); do
		curl -fsS -m 2 "http://$SRC_REG/v2/" >/dev/null 2>&1 && { ok=1; break; }
		sleep 0.1
	done
	[ -n "$ok" ] || { cat "$SRC_DIR/logs/registry.log" >&2; rr__err "docker-registry did not answer on $SRC_REG"; return 1; }
	e2e_image_web "$SRC_DIR/nginx.tar" docker.io/library/nginx:1.27.4 80 || return 1
	e2e_image_pause "$SRC_DIR/pause.tar" registry.k8s.io/pause:3.10 || return 1
	skopeo copy -q --dest-tls-verify=false "oci-archive:$SRC_DIR/nginx.tar" "docker://$SRC_REG/library/nginx:1.27.4" &&
		skopeo copy -q --dest-tls-verify=false "oci-archive:$SRC_DIR/pause.tar" "docker://$SRC_REG/pause:3.10" ||
		{ rr__err "pushing the images to $SRC_REG failed"; return 1; }
	SRC_FLAGS+=(--registry-mirror "docker.io=$SRC_REG" --registry-mirror "registry.k8s.io=$SRC_REG")
	src__log "docker-registry $(docker-registry --version 2>/dev/null | awk '{print $3}') at $SRC_REG holds STAND-IN images: docker.io/library/nginx:1.27.4 (busybox httpd) and registry.k8s.io/pause:3.10 (static C pause)"
}

src_bundle() {
	local name=${1:?usage: src_bundle NAME} t0=$SECONDS
	export SATCHEL_PASSWORD=satchel-e2e SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-1764201600}
	SRC_KEY=$SRC_DIR/satchel.key SRC_PUB=$SRC_DIR/satchel.pub
	if [ ! -f "$SRC_KEY" ]; then
		"$SATCHEL_BUNDLE" keygen --output-prefix "$SRC_DIR/satchel" >"$SRC_DIR/logs/keygen.log" 2>&1 ||
			{ cat "$SRC_DIR/logs/keygen.log" >&2; rr__err "satchel-bundle keygen failed"; return 1; }
	fi
	local log=$SRC_DIR/logs/bundle-$name.log
	{
		echo "\$ satchel-bundle lock -f $name.yaml ${SRC_FLAGS[*]}"
		"$SATCHEL_BUNDLE" lock -f "$SRC_DIR/$name.yaml" -o "$SRC_DIR/$name.lock" --cache "$SRC_DIR/cache" "${SRC_FLAGS[@]}" &&
			echo "\$ satchel-bundle build -f $name.yaml --lock $name.lock --key satchel.key -o $name.satchel" &&
			"$SATCHEL_BUNDLE" build -f "$SRC_DIR/$name.yaml" --lock "$SRC_DIR/$name.lock" --key "$SRC_KEY" \
				--cache "$SRC_DIR/cache" "${SRC_FLAGS[@]}" -o "$SRC_DIR/$name.satchel"
	} >"$log" 2>&1 || { tail -n 30 "$log" >&2; rr__err "building the $name bundle failed" "see $log"; return 1; }
	src__log "$(grep '^wrote ' "$log" | cut -c1-160) (lock+build $((SECONDS - t0)) s)"
}

src_stop() {
	local p
	for p in "${SRC_PIDS[@]}"; do
		kill "$p" 2>/dev/null && wait "$p" 2>/dev/null
	done
	SRC_PIDS=()
	return 0
}
