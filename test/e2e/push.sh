#!/usr/bin/env bash
# push.sh — satchel-bundle push into a real registry, and nodes pulling through the mirror
# (`make e2e`, after run.sh; alone: `make e2e-push`).
#
#  1. sources.sh: the mirror of real binaries, Debian's docker-registry with the stand-in
#     images, and a signed bundle (push.yaml: main.yaml without kata)
#  2. the internal registry: Debian's docker-registry (distribution 2.8) with TLS from a
#     test CA and htpasswd auth, on a non-loopback address (a veth on this host: Docker
#     treats 127.0.0.0/8 as insecure and would not need the CA), behind a TCP proxy that
#     counts the bytes clients send (pushaux proxy)
#  3. satchel-bundle push: a tampered bundle (exit 3, no connection), wrong password, unknown
#     CA, registry down (exit 1, cause named), a bad prefix (exit 2); the push; a second push
#     (~0 bytes); credentials from a Docker config instead of --username
#  4. a node: `satchel-install apply --registry-mirror docker.io=REG/satchel ... --registry-ca`
#     into a tree whose containerd 2.3.4 then runs (lib.sh): crictl and nerdctl pull by digest
#     and tag through the hosts.toml mirror (the registry's access log shows /v2/satchel/...),
#     dockerd from the tree pulls the pushed name with the CA from /etc/docker/certs.d,
#     doctor's mirror rows (and with the registry stopped), uninstall takes it all back
#
# Prints PASS/FAIL per check and "N passed, M failed"; exit status 1 on any failure.
# Needs root. Without root it prints a skip message and exits 0, unless CI=true (exit 1).
# SATCHEL_E2E_KEEP=1 keeps the work directory; SATCHEL_E2E_SATCHEL_BIN=DIR as in run.sh.
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# shellcheck source=lib.sh
. "$HERE/lib.sh"
T0=$SECONDS
e2e_setup e2e-push "network interfaces, mount namespaces, pivot_root"
# shellcheck source=sources.sh
. "$HERE/sources.sh"

W=$(mktemp -d /tmp/satchel-push.XXXXXX)
R=$W/root
VETH=spush$$
IP=10.233.$(($$ % 250)).1
PASS=0 FAILN=0 FAILED=()
PIDS=()
USERNAME=pusher PASSWORD="e2e $(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
CG_BEFORE=$W/cgroups.before
find /sys/fs/cgroup -mindepth 1 -maxdepth 3 -type d 2>/dev/null | sort >"$CG_BEFORE"

cleanup() {
	local rc=$? p
	trap - EXIT INT TERM
	[ -n "${DOCKERD_PID:-}" ] && kill "$DOCKERD_PID" 2>/dev/null
	[ -d "$R" ] && rr_stop "$R" >/dev/null 2>&1
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
	src_stop
	ip link del "$VETH" 2>/dev/null
	find /sys/fs/cgroup -mindepth 1 -maxdepth 3 -type d 2>/dev/null | sort |
		comm -13 "$CG_BEFORE" - | grep -E '/(k8s\.io|docker|default|moby)(/|$)' | sort -r |
		while read -r d; do rmdir "$d" 2>/dev/null; done
	if [ "${SATCHEL_E2E_KEEP:-}" = 1 ]; then
		echo "e2e-push: kept $W" >&2
	else
		rm -rf "$W" "$R.runroot"
	fi
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# say, info, pass, fail, check: lib.sh
die() {
	fail "$1"
	echo "e2e-push: $PASS passed, $FAILN failed (stopped early)"
	exit 1
}
# inr SECONDS CMD...: run CMD inside the tree (as rr_exec), with a time limit.
inr() {
	local secs=$1 pid
	shift
	pid=$(rr_pid "$R") || return 1
	PATH=$RR_PATH timeout -k 5 "$secs" nsenter -t "$pid" -m -r -w -- "$@" 2> >(tr -d '\000' | grep -a -v -e 'DEPRECATION: The support for cgroup v1' -e cgroup_parent >&2)
}

# ---------------------------------------------------------------------------------------
say "sources: mirror of real binaries, registry, a signed bundle"
t=$SECONDS
src_init "$W" || die "setup: satchel binaries and mkmirror"
src_specs
# main.yaml without kata (its stand-in tree is large and plays no part here); the
# main mirror serves every artifact of it.
awk '!/name: kata/' "$W/main.yaml" | sed 's/name: satchel-e2e$/name: satchel-e2e-push/' >"$W/push.yaml"
src_mirror main || die "setup: mirror"
src_registry || die "setup: registry"
src_bundle push || die "satchel-bundle lock/build (push)"
B=$W/push.satchel
AUX=$W/bin/pushaux
(cd "$SRC_REPO" && GOTOOLCHAIN=local CGO_ENABLED=0 go build -trimpath -o "$AUX" ./test/e2e/pushaux) >"$W/logs/pushaux-build.log" 2>&1 ||
	{ cat "$W/logs/pushaux-build.log"; die "setup: building test/e2e/pushaux"; }
info "bundle $(du -h "$B" | cut -f1) ($(basename "$B")), sources ready in $((SECONDS - t)) s"

say "the internal registry: docker-registry with TLS (test CA) and htpasswd on $IP, behind a counting proxy"
ip link add "$VETH" type veth peer name "${VETH}p" && ip addr add "$IP/32" dev "$VETH" &&
	ip link set "$VETH" up && ip link set "${VETH}p" up || die "setup: a non-loopback address ($IP on $VETH)"
"$AUX" pki -dir "$W/pki" -ip "$IP" || die "setup: test CA"
CA=$W/pki/ca.crt
mkdir -p "$W/target/data"
printf '%s' "$PASSWORD" | "$AUX" htpasswd "$USERNAME" >"$W/target/htpasswd" || die "setup: htpasswd"
RPORT=$("$SRC_MK" freeport) && PPORT=$("$SRC_MK" freeport) && DOWNPORT=$("$SRC_MK" freeport) || die "setup: ports"
# Keys: distribution v2.8 configuration/configuration.go (http.tls, log.accesslog),
# registry/auth/htpasswd/access.go (realm, path).
cat >"$W/target/config.yml" <<EOF
version: 0.1
log:
  level: warn
  accesslog: {disabled: false}
storage:
  filesystem:
    rootdirectory: $W/target/data
http:
  addr: 127.0.0.1:$RPORT
  tls:
    certificate: $W/pki/server.crt
    key: $W/pki/server.key
auth:
  htpasswd:
    realm: satchel-e2e
    path: $W/target/htpasswd
EOF
ACCESS=$W/logs/target-registry.log
docker-registry serve "$W/target/config.yml" >"$ACCESS" 2>&1 &
REG_PID=$!
PIDS+=("$REG_PID")
"$AUX" proxy -listen "$IP:$PPORT" -to "127.0.0.1:$RPORT" -count "$W/proxy.count" >"$W/logs/proxy.log" 2>&1 &
PROXY_PID=$!
PIDS+=("$PROXY_PID")
REG=$IP:$PPORT
code=
for _ in $(seq 1 100); do
	code=$(curl -sS -m 2 --cacert "$CA" -o /dev/null -w '%{http_code}' "https://$REG/v2/" 2>/dev/null) && [ "$code" = 401 ] && break
	sleep 0.1
done
check "the registry answers over TLS with the test CA and wants credentials (GET /v2/)" "401" "$code"
[ "$code" = 401 ] || { cat "$ACCESS"; die "setup: docker-registry on $REG"; }
info "docker-registry $(docker-registry --version | awk '{print $3}') at $REG (proxy) -> 127.0.0.1:$RPORT"

# sent: bytes clients have sent through the proxy so far; conns: connections.
sent() { sleep 0.3; cut -d' ' -f1 "$W/proxy.count"; }
conns() { sleep 0.3; cut -d' ' -f2 "$W/proxy.count"; }
TO=$REG/satchel
push() { "$SATCHEL_BUNDLE" push "$@"; }

say "satchel-bundle push: what must send nothing, and the causes it names"
cp "$B" "$W/tampered.satchel"
size=$(stat -c %s "$B")
off=$((size / 2))
byte=$(dd if="$B" bs=1 skip=$off count=1 2>/dev/null | od -An -tu1 | tr -d ' ')
# shellcheck disable=SC2059
printf "\\$(printf '%03o' $(((byte + 1) % 256)))" | dd of="$W/tampered.satchel" bs=1 seek=$off conv=notrunc 2>/dev/null
c0=$(conns)
out=$(printf '%s' "$PASSWORD" | push "$W/tampered.satchel" --key "$SRC_PUB" --to "$TO" --username "$USERNAME" --password-stdin --ca-file "$CA" 2>&1)
check "a tampered bundle: exit 3" "rc=3" "rc=$? $out"
check "a tampered bundle: not one connection to the registry" "new connections: 0" "new connections: $(($(conns) - c0))"
out=$(printf 'wrong' | push "$B" --key "$SRC_PUB" --to "$TO" --username "$USERNAME" --password-stdin --ca-file "$CA" 2>&1)
rc=$?
check "wrong password: exit 1" "rc=1" "rc=$rc"
check "wrong password: the cause and the remedy" "refused the credentials" "$out"
check "wrong password: hint" "hint: log in with \`docker login $REG\`" "$out"
out=$(printf '%s' "$PASSWORD" | push "$B" --key "$SRC_PUB" --to "$TO" --username "$USERNAME" --password-stdin 2>&1)
rc=$?
check "unknown CA: exit 1" "rc=1" "rc=$rc"
check "unknown CA: the cause" "cannot verify the TLS certificate of registry $REG: x509: certificate signed by unknown authority" "$out"
check "unknown CA: the remedy" "--ca-file" "$out"
out=$(printf '%s' "$PASSWORD" | push "$B" --key "$SRC_PUB" --to "$IP:$DOWNPORT/satchel" --username "$USERNAME" --password-stdin --ca-file "$CA" 2>&1)
check "registry down: exit 1, the cause named" "rc=1 satchel-bundle: cannot reach registry $IP:$DOWNPORT: dial tcp $IP:$DOWNPORT: connect: connection refused" "rc=$? $out"
out=$(push "$B" --key "$SRC_PUB" --to "$REG/Satchel" 2>&1)
check "a prefix that is not a repository path: exit 2" "rc=2 satchel-bundle: --to: destination \"$REG/Satchel\": \"Satchel\" is not a valid repository path component" "rc=$? $out"
repos=$(curl -sS -m 5 --cacert "$CA" -u "$USERNAME:$PASSWORD" "https://$REG/v2/_catalog")
check "after all that the registry holds nothing" '{"repositories":[]}' "$repos"

say "satchel-bundle push: the push, and the same push again"
s0=$(sent)
printf '%s' "$PASSWORD" | push "$B" --key "$SRC_PUB" --to "$TO" --username "$USERNAME" --password-stdin --ca-file "$CA" --json \
	>"$W/push1.json" 2>"$W/logs/push1.err"
rc=$?
s1=$(sent)
FIRST=$((s1 - s0))
check "push: exit 0" "rc=0" "rc=$rc $(tail -n 3 "$W/logs/push1.err")"
[ $rc = 0 ] || die "the push"
for i in 0 1; do
	info "mapping: $("$AUX" json "$W/push1.json" "images.$i.source") -> $("$AUX" json "$W/push1.json" "images.$i.target") ($("$AUX" json "$W/push1.json" "images.$i.digest"))"
done
check "push: the mapping (--json)" "$REG/satchel/library/nginx:1.27.4" "$("$AUX" json "$W/push1.json" images.0.target)"
check "push: the mapping of registry.k8s.io/pause:3.10" "$REG/satchel/pause:3.10" "$("$AUX" json "$W/push1.json" images.1.target)"
check "push: the mirror settings for nodes (--json)" "[\"docker.io=$TO\",\"registry.k8s.io=$TO\"]" "$("$AUX" json "$W/push1.json" mirrors)"
NGINX_DIGEST=$("$AUX" json "$W/push1.json" images.0.digest)
PAUSE_DIGEST=$("$AUX" json "$W/push1.json" images.1.digest)
blobs1=$("$AUX" json "$W/push1.json" blobsPushed)
bytes1=$("$AUX" json "$W/push1.json" bytesPushed)
check "push: blobs pushed, tags last" "tagsPushed=2" "blobs=$blobs1 tagsPushed=$("$AUX" json "$W/push1.json" tagsPushed)"
[ "$blobs1" -gt 0 ] && [ "$FIRST" -ge "$bytes1" ] && pass "push: $blobs1 blobs, $bytes1 bytes of blobs and manifests; $FIRST bytes on the wire" ||
	fail "push: bytes: $blobs1 blobs, $bytes1 bytes pushed, $FIRST on the wire"
check "push: the tag points at the bundle's index" "$NGINX_DIGEST" \
	"$(curl -sS -m 5 --cacert "$CA" -u "$USERNAME:$PASSWORD" -I -H 'Accept: application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json' "https://$REG/v2/satchel/library/nginx/manifests/1.27.4" | tr -d '\r' | grep -i '^docker-content-digest')"

s0=$(sent)
printf '%s' "$PASSWORD" | push "$B" --key "$SRC_PUB" --to "$TO" --username "$USERNAME" --password-stdin --ca-file "$CA" --json \
	>"$W/push2.json" 2>"$W/logs/push2.err"
rc=$?
SECOND=$(($(sent) - s0))
check "second push: exit 0, nothing pushed" "rc=0 blobs=0 manifests=0 tags=0 bodies=0" \
	"rc=$rc blobs=$("$AUX" json "$W/push2.json" blobsPushed) manifests=$("$AUX" json "$W/push2.json" manifestsPushed) tags=$("$AUX" json "$W/push2.json" tagsPushed) bodies=$("$AUX" json "$W/push2.json" bytesSent)"
[ "$SECOND" -lt 65536 ] && pass "second push: $SECOND bytes on the wire (first: $FIRST)" || fail "second push: $SECOND bytes on the wire (first: $FIRST)"

# Credentials from a Docker config (what `docker login` writes), no --username.
mkdir -p "$W/dockercfg"
printf '{"auths":{"%s":{"auth":"%s"}}}\n' "$REG" "$(printf '%s:%s' "$USERNAME" "$PASSWORD" | base64 -w0)" >"$W/dockercfg/config.json"
out=$(DOCKER_CONFIG=$W/dockercfg push "$B" --key "$SRC_PUB" --to "$TO" --ca-file "$CA" 2>&1)
check "push with the Docker config's credentials" "rc=0 tags last: 0 pushed, 2 already set" "rc=$? $(grep -o 'tags last: [^;]*' <<<"$out")"
check "push prints the mirror settings for nodes" "nodes pull them with: satchel-install apply BUNDLE --registry-mirror docker.io=$TO --registry-mirror registry.k8s.io=$TO --registry-ca ca.crt" "$out"

# ---------------------------------------------------------------------------------------
say "a node: apply with the registry mirror and its CA"
mkdir -p "$R/etc" "$R/bin"
cp /etc/hosts /etc/resolv.conf "$R/etc/"
cp "$SATCHEL_E2E_BUSYBOX" "$R/bin/busybox"
ln -sf busybox "$R/bin/sh"
"$SATCHEL_INSTALL" apply "$B" --key "$SRC_PUB" --root "$R" --no-start \
	--registry-mirror "docker.io=$TO" --registry-mirror "registry.k8s.io=$TO" --registry-mirror "quay.io=http://$SRC_REG" \
	--registry-ca "$CA" >"$W/logs/apply.log" 2>&1
rc=$?
check "satchel-install apply --registry-mirror ... --registry-ca" "rc=0" "rc=$rc $(tail -n 1 "$W/logs/apply.log")"
[ $rc = 0 ] || { cat "$W/logs/apply.log"; die "apply"; }
H=$R/etc/containerd/certs.d/docker.io/hosts.toml
check "hosts.toml: the mirror under its path, API root in the path" "[host.'https://$REG/v2/satchel']" "$(cat "$H" 2>&1)"
check "hosts.toml: override_path, pull and resolve, the CA" "capabilities = ['pull', 'resolve'] override_path = true" \
	"$(grep -E "capabilities|override_path" "$H" | tr -s ' \n' ' ' | sed 's/^ //')"
check "hosts.toml: ca names the installed CA" "ca = '/etc/containerd/certs.d/$REG/ca.crt'" "$(grep 'ca =' "$H")"
grep -q skip_verify "$H" && fail "hosts.toml: skip_verify written" || pass "hosts.toml: no skip_verify"
cmp -s "$CA" "$R/etc/containerd/certs.d/$REG/ca.crt" && pass "the CA for containerd: /etc/containerd/certs.d/$REG/ca.crt" || fail "the CA for containerd"
cmp -s "$CA" "$R/etc/docker/certs.d/$REG/ca.crt" && pass "the CA for Docker: /etc/docker/certs.d/$REG/ca.crt" || fail "the CA for Docker"
check "daemon.json: no registry-mirrors (a path prefix Docker cannot use), insecure-registries only for the plain-HTTP mirror" \
	"insecure-registries=[\"$SRC_REG\"] registry-mirrors=none" \
	"insecure-registries=$("$AUX" json "$R/etc/docker/daemon.json" insecure-registries 2>&1) registry-mirrors=$("$AUX" json "$R/etc/docker/daemon.json" registry-mirrors 2>/dev/null || echo none)"
check "apply warns what Docker cannot do" "warning: Docker cannot use registry mirror $TO for docker.io" "$(cat "$W/logs/apply.log")"

say "the node pulls through the mirror: containerd 2.3.4 from the tree (crictl, nerdctl)"
cat >"$W/override.toml" <<'EOF'
# TEST-ONLY (this host lacks CAP_SYS_RESOURCE); layered by lib.sh, never in the tree.
version = 3
[plugins.'io.containerd.cri.v1.runtime']
  restrict_oom_score_adj = true
EOF
RR_RUNSC_SHIM=$SATCHEL_E2E_RUNSC_SHIM_TESTONLY RR_CONFIG_OVERRIDE=$W/override.toml rr_start "$R" 2>"$W/logs/rr-start.log" ||
	{ cat "$W/logs/rr-start.log"; die "containerd from the tree starts"; }
check "nothing in k8s.io before the pulls (no staged import ran)" "none" "$(inr 20 ctr -n k8s.io images ls -q 2>/dev/null | grep -v '^sha256:' || echo none)"
acc0=$(wc -l <"$ACCESS")
out=$(inr 180 crictl pull --creds "$USERNAME:$PASSWORD" "docker.io/library/nginx@$NGINX_DIGEST" 2>&1)
check "crictl pull docker.io/library/nginx@<pushed digest>" "Image is up to date" "$out"
out=$(inr 180 crictl pull --creds "$USERNAME:$PASSWORD" docker.io/library/nginx:1.27.4 2>&1)
check "crictl pull docker.io/library/nginx:1.27.4 (the tag, resolved by the mirror)" "Image is up to date" "$out"
out=$(inr 180 crictl pull --creds "$USERNAME:$PASSWORD" registry.k8s.io/pause:3.10 2>&1)
check "crictl pull registry.k8s.io/pause:3.10" "Image is up to date" "$out"
check "crictl: the image is the pushed one" "docker.io/library/nginx@$NGINX_DIGEST" "$(inr 30 crictl inspecti -o json docker.io/library/nginx:1.27.4 2>/dev/null | grep -o "docker.io/library/nginx@sha256:[0-9a-f]*" | sort -u)"
check "crictl: pause is the pushed one" "registry.k8s.io/pause@$PAUSE_DIGEST" "$(inr 30 crictl inspecti -o json registry.k8s.io/pause:3.10 2>/dev/null | grep -o "registry.k8s.io/pause@sha256:[0-9a-f]*" | sort -u)"
sleep 0.5
pulls=$(tail -n +$((acc0 + 1)) "$ACCESS" | grep -o '"GET /v2/satchel/[^ ]*' | sed 's/?.*//' | sort -u)
check "the registry served them under the prefix (its access log)" "GET /v2/satchel/library/nginx/manifests/$NGINX_DIGEST" "$pulls"
check "the registry served pause under the prefix" "GET /v2/satchel/pause/manifests/" "$pulls"
info "containerd asked the registry: $(tr '\n' ' ' <<<"$pulls" | head -c 600)"
out=$(printf '%s' "$PASSWORD" | inr 60 nerdctl login -u "$USERNAME" --password-stdin "$REG" 2>&1)
check "nerdctl login (the CA from /etc/containerd/certs.d/$REG)" "Login Succeeded" "$out"
inr 180 nerdctl -n default pull -q "docker.io/library/nginx@$NGINX_DIGEST" >"$W/logs/nerdctl-pull.log" 2>&1
check "nerdctl pull docker.io/library/nginx@<pushed digest> through the mirror" "rc=0" "rc=$? $(tail -n 2 "$W/logs/nerdctl-pull.log")"
check "nerdctl: the image is the pushed one" "$NGINX_DIGEST" "$(inr 20 ctr -n default images ls 2>/dev/null | grep nginx)"

say "Docker from the tree pulls the pushed name with the CA from /etc/docker/certs.d"
exec_start=$(sed -n 's/^ExecStart=//p' "$R/etc/systemd/system/docker.service" | tail -n 1)
# shellcheck disable=SC2206
dcmd=($exec_start)
dargs=()
for ((i = 0; i < ${#dcmd[@]}; i++)); do
	a=${dcmd[i]}
	case "$a" in
	-H=fd://* | --host=fd://*) continue ;;
	-H | --host) [[ "${dcmd[i + 1]:-}" == fd://* ]] && { i=$((i + 1)); continue; } ;;
	esac
	dargs+=("$a")
done
# TEST-ONLY: the host's network namespace, no bridge, no iptables (the tree has none).
dargs+=(--bridge=none --iptables=false --ip6tables=false)
PATH=$RR_PATH nsenter -t "$(rr_pid "$R")" -m -r -w -- "${dargs[@]}" >"$W/logs/dockerd.log" 2>&1 &
DOCKERD_PID=$!
dv=
for _ in $(seq 1 60); do
	dv=$(inr 10 docker version --format '{{.Server.Version}}' 2>/dev/null) && break
	kill -0 $DOCKERD_PID 2>/dev/null || break
	sleep 0.5
done
check "dockerd starts from the tree" "$SATCHEL_E2E_MOBY_VERSION" "$dv"
# Control: without the CA Docker refuses the registry (10.233.x is not among the
# insecure 127.0.0.0/8), so the login below verifies TLS with the CA apply installed.
mv "$R/etc/docker/certs.d/$REG/ca.crt" "$W/ca.crt.aside"
out=$(printf '%s' "$PASSWORD" | inr 60 docker login -u "$USERNAME" --password-stdin "$REG" 2>&1)
check "control: docker login without the CA fails on the certificate" "x509: certificate signed by unknown authority" "$out"
mv "$W/ca.crt.aside" "$R/etc/docker/certs.d/$REG/ca.crt"
out=$(printf '%s' "$PASSWORD" | inr 60 docker login -u "$USERNAME" --password-stdin "$REG" 2>&1)
check "docker login $REG (TLS verified with the installed CA)" "Login Succeeded" "$out"
out=$(inr 300 docker pull "$TO/library/nginx@$NGINX_DIGEST" 2>&1)
check "docker pull $TO/library/nginx@<pushed digest>" "$NGINX_DIGEST" "$out"
check "docker: the image is the pushed one" "$TO/library/nginx@$NGINX_DIGEST" "$(inr 20 docker image inspect --format '{{join .RepoDigests " "}}' "$TO/library/nginx@$NGINX_DIGEST" 2>&1)"
kill "$DOCKERD_PID" 2>/dev/null
for _ in $(seq 1 100); do kill -0 "$DOCKERD_PID" 2>/dev/null || break; sleep 0.1; done
DOCKERD_PID=

say "doctor: the mirrors answer (TCP; GET /v2/ over plain HTTP), and when one is down"
rowsof() { "$SRC_MK" checks "$1" 2>/dev/null | grep '^registry mirror'; }
inr 600 satchel-install doctor --json >"$W/logs/doctor.json" 2>"$W/logs/doctor.err"
rows=$(rowsof "$W/logs/doctor.json")
echo "$rows" | sed 's/^/     doctor: /'
check "doctor: the TLS mirror answers (TLS not checked, said so)" "registry mirror https://$REG/v2/satchel (docker.io, registry.k8s.io)	ok	TCP connect to $REG ok; TLS and /v2/ not checked" "$rows"
check "doctor: the plain-HTTP mirror answers GET /v2/ (the real docker-registry)" "registry mirror http://$SRC_REG (quay.io)	ok	GET http://$SRC_REG/v2/: 200 OK (registry/2.0)" "$rows"
kill "$PROXY_PID" 2>/dev/null
wait "$PROXY_PID" 2>/dev/null
inr 600 satchel-install doctor --json >"$W/logs/doctor-down.json" 2>/dev/null
check "doctor: the mirror down fails, with the cause" "registry mirror https://$REG/v2/satchel (docker.io, registry.k8s.io)	fail	TCP connect: dial tcp $REG: connect: connection refused" "$(rowsof "$W/logs/doctor-down.json")"

say "uninstall takes the mirror configuration and the CA back"
ns=$(cat "$R.runroot/mntns" 2>/dev/null)
rr_stop "$R" 2>>"$W/logs/rr-stop.log"
left=$(rr__ns_pids "$ns")
check "tree: nothing left running" "none" "${left// /}none"
"$SATCHEL_INSTALL" uninstall --root "$R" >"$W/logs/uninstall.log" 2>&1
check "satchel-install uninstall" "rc=0" "rc=$? $(tail -n 1 "$W/logs/uninstall.log")"
leftover=$(ls -d "$R/etc/containerd/certs.d/$REG/ca.crt" "$R/etc/docker/certs.d/$REG/ca.crt" "$H" 2>/dev/null)
check "uninstall removed the hosts.toml files and both CA copies" "none" "${leftover:-none}"

say "summary"
info "bytes clients sent to the registry: first push $FIRST, second push $SECOND (images: $bytes1 bytes of blobs and manifests)"
info "time: $((SECONDS - T0)) s"
echo
if [ "$FAILN" -gt 0 ]; then
	echo "failed: $(printf '%s; ' "${FAILED[@]}")"
fi
echo "e2e-push: $PASS passed, $FAILN failed"
[ "$FAILN" = 0 ]
