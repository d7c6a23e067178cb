#!/usr/bin/env bash
# vm.sh — satchel's end-to-end test in a disconnected VM with systemd (`make e2e-vm`): the
# real target shape. The guest (vmimage.sh: Debian bookworm, systemd, no network at all)
# is given a Kylin Linux Advanced Server V10 /etc/os-release at boot and only three files
# on its 9p share: the static satchel-install, the main bundle (sources.sh: real
# containerd 2.3.4, runc, gVisor, Docker, nerdctl, crictl; kata as a stand-in) and the
# public key. As the boot-time unit (satchel-run.service), the guest runs
#   satchel-install preflight BUNDLE           (kata needs KVM: preflight must say why not)
#   satchel-install apply BUNDLE --key PUB --components <all but kata>
# then checks containerd.service and docker.service enabled and active, the images in
# containerd (pinned) and Docker, containers under runc and runsc through ctr, CRI
# (crictl) and Docker (the unmodified gVisor shim: the VM has every capability), a page
# served by a runsc container, and `satchel-install doctor`. The same guest boots a second
# time (the qcow2 overlay is kept): the services must come back and run containers.
#
# The VM's CPU is qemu's Nehalem model: no VT-x/AMD-V, so no /dev/kvm, like most VMs that
# Kylin hosts run in. (Not "max,vmx=off" or "max,svm=off": under TCG in qemu 7.2 those
# guests read every path name as "xxxx", e.g. readlink /proc/self/exe, and systemd's
# mount units fail.) Results come back on the share; this script prints PASS/FAIL per
# check and "N passed, M failed" and exits 1 on any failure.
#
# Needs root (see run.sh for the skip rule). Environment: SATCHEL_E2E_KEEP=1 keeps the
# work directory; SATCHEL_E2E_VM_ACCEL=kvm uses KVM where the host has it (default tcg);
# SATCHEL_E2E_VM_TIMEOUT per boot (default 900 s, at reference speed: see below).
#
# Slow hosts: under TCG the guest's speed depends on the host's load. The guest measures
# it when run.sh starts (seconds from kernel start to run.sh, /proc/uptime, against the
# 18 s of an idle 2-core host: E2E-NOTES.md) and again after apply (against 160 s), and
# scales every wait by that factor (timeouts, crictl's per-request deadline, the host's
# per-boot limit through /share/speed-factor, which vmrun.sh reads). Idempotent steps
# (containers, pods) are retried once after a cleanup, with the reason logged as RETRY.
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# shellcheck source=lib.sh
. "$HERE/lib.sh"
T0=$SECONDS
e2e_setup e2e-vm "debootstrap, qemu"
t=$SECONDS
env_out=$("$HERE/vmimage.sh" --print-env) || exit 1
eval "$env_out"
T_IMAGE=$((SECONDS - t))
# shellcheck source=sources.sh
. "$HERE/sources.sh"

W=$(mktemp -d /tmp/satchel-e2e-vm.XXXXXX)
S=$W/share
mkdir -p "$S"
PASS=0 FAILN=0 FAILED=()
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	src_stop
	if [ "${SATCHEL_E2E_KEEP:-}" = 1 ]; then
		echo "e2e-vm: kept $W" >&2
	else
		rm -rf "$W"
	fi
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM
say() { printf '\n== %s\n' "$*"; }
pass() { printf 'PASS %s\n' "$*"; PASS=$((PASS + 1)); }
fail() { printf 'FAIL %s\n' "$*"; FAILN=$((FAILN + 1)); FAILED+=("${1%%:*}"); }
die() {
	fail "$1"
	echo "e2e-vm: $PASS passed, $FAILN failed (stopped early)"
	exit 1
}

say "sources: mirror of real binaries, registry, signed bundle"
t=$SECONDS
src_init "$W" || die "setup: satchel binaries and mkmirror"
src_specs
src_mirror main || die "setup: mirror"
src_registry || die "setup: registry"
src_bundle main || die "satchel-bundle lock/build (main)"
src_stop
T_SOURCES=$((SECONDS - t))

# What the guest gets: the installer, the bundle, the key, and the script to run.
cp "$SATCHEL_INSTALL" "$S/satchel-install"
cp "$W/main.satchel" "$S/main.satchel"
cp "$SRC_PUB" "$S/satchel.pub"
echo "$SATCHEL_E2E_CONTAINERD_VERSION" >"$S/containerd-version" # what the guest must see running
# TODO(install): apply never installs gVisor's containerd-shim-runsc-v1 (only the first
# artifact of a component is planned: install/plan.go files()). The guest records that as
# a FAIL and then, so that the runsc checks still run, takes the shim from here: the
# bundle's own bytes, extracted through pack's verifying reader. Remove when fixed.
mkdir -p "$S/todo-workaround"
"$SRC_MK" bundle-file "$W/main.satchel" linux/amd64 /usr/local/bin/containerd-shim-runsc-v1 \
	"$S/todo-workaround/containerd-shim-runsc-v1" || die "extracting the runsc shim from the bundle"

cat >"$S/run.sh" <<'GUEST'
#!/bin/bash
# satchel e2e, inside the VM (written by test/e2e/vm.sh). Boot 1: Kylin identity,
# preflight, apply, checks; boot 2 (same disk): the services came back. Every check is
# one line in /share/results.txt: "PASS|FAIL [boot N] name: detail".
set -u
S=/share
MARK=/var/lib/satchel-e2e/boot1-done
BOOT=1
[ -f $MARK ] && BOOT=2
IMG=docker.io/library/nginx:1.27.4
SI=/usr/local/bin/satchel-install
T0=$SECONDS
res() { echo "$1 [boot $BOOT] $2" >>$S/results.txt; echo "$1 [boot $BOOT] $2"; }
note() { echo "$1 [boot $BOOT] $2" >>$S/results.txt; echo "$1 [boot $BOOT] $2" >&2; } # from inside $(...)

# Speed factor x 100 (F100): how much slower than the reference this guest runs. Every
# wait below is a time at reference speed passed through sc.
read -r UP _ </proc/uptime
F100=$(awk -v u="$UP" 'BEGIN { f = int(u / 18 * 100 + 0.5); if (f < 100) f = 100; print f }')
factor() { echo "$((F100 / 100)).$(printf '%02d' $((F100 % 100)))"; }
set_factor() { # set_factor F100 WHY: raise the factor (never lower it) and tell the host
	[ "$1" -gt "$F100" ] || return 0
	F100=$1
	echo "F100=$F100" >>$S/speed-factor
	res INFO "speed factor now $(factor): $2"
}
sc() { echo $((($1 * F100 + 99) / 100)); }
echo "F100=$F100" >>$S/speed-factor
res INFO "speed factor $(factor) (run.sh started ${UP%.*} s after the kernel; reference 18 s); waits scale by it"
# A heartbeat on the share: the host gives up early only on a guest that shows no life.
(while :; do date +%s >$S/heartbeat; sleep 10; done) &
HEARTBEAT=$!
# attempt NAME BASE CLEANUP CMD: run the shell command CMD within sc(BASE) seconds and
# print its output; if it fails, run CLEANUP, log why (RETRY) and try once more with
# twice the time. Only for idempotent steps.
attempt() {
	local name=$1 t out rc
	t=$(sc "$2")
	out=$(timeout "$t" sh -c "$4" 2>&1)
	rc=$?
	if [ $rc != 0 ]; then
		note RETRY "$name: exit $rc$([ $rc = 124 ] && echo " (timed out after $t s)"): $(tail -c 300 <<<"$out" | tr '\n\t' '  ') -- cleaning up, trying again within $((2 * t)) s"
		timeout "$t" sh -c "$3" >/dev/null 2>&1
		out=$(timeout $((2 * t)) sh -c "$4" 2>&1)
	fi
	printf '%s' "$out"
}
check() { # check NAME WANT GOT: GOT must contain WANT
	if [ -n "$3" ] && [[ "$3" == *"$2"* ]]; then
		res PASS "$1: $(head -c 300 <<<"$3" | tr '\n\t' '  ')"
	else
		res FAIL "$1: want *$2*, got: $(head -c 600 <<<"${3:-<nothing>}" | tr '\n\t' '  ')"
	fi
}
step() { echo "[guest $(date +%T) +$((SECONDS - T0))s] $*"; }
tcp_get() { # tcp_get PORT: GET / on 127.0.0.1 (the guest has no curl)
	exec 3<>"/dev/tcp/127.0.0.1/$1" || return 1
	printf 'GET / HTTP/1.0\r\nHost: localhost\r\n\r\n' >&3
	timeout 10 cat <&3
	exec 3<&-
}

step "boot $BOOT: $(uname -r), waiting for the system to be up"
st=$(timeout "$(sc 300)" systemctl is-system-running --wait 2>&1)
step "system: $st"

if [ $BOOT = 1 ]; then
	# The target's identity (Kylin Linux Advanced Server V10).
	rm -f /etc/os-release
	cat >/etc/os-release <<'EOF'
NAME="Kylin Linux Advanced Server"
VERSION="V10 (Lance)"
ID="kylin"
VERSION_ID="V10"
PRETTY_NAME="Kylin Linux Advanced Server V10 (Lance)"
ANSI_COLOR="0;31"
EOF
	cp /etc/os-release /usr/lib/os-release
	step "preflight"
	$S/satchel-install preflight $S/main.satchel >$S/preflight.txt 2>&1
	echo "exit $?" >>$S/preflight.txt
	$S/satchel-install preflight $S/main.satchel --json >$S/preflight.json 2>/dev/null
	cat $S/preflight.txt
	check "preflight sees Kylin V10" "ylin" "$(grep -i -m1 -o 'kylin[^"]*' $S/preflight.json)"
	check "preflight says why kata cannot start (KVM)" "kvm-missing" "$(grep -o 'kvm-missing' $S/preflight.txt | head -n 1)"
	check "preflight gives the remedy for kata" "nested virtualization" "$(grep -A2 'kvm-missing' $S/preflight.txt | tr '\n' ' ')"
	step "apply"
	t=$SECONDS
	$S/satchel-install apply $S/main.satchel --key $S/satchel.pub \
		--components containerd,runc,docker,gvisor,nerdctl,crictl,cni,buildkit >$S/apply.log 2>&1
	rc=$?
	check "satchel-install apply --components <all but kata> (boot-time unit)" "rc=0" "rc=$rc $(tail -n 1 $S/apply.log)"
	res INFO "apply took $((SECONDS - t)) s"
	# apply is a second measurement of speed: 160 s at reference (README.md: 141-181 s).
	set_factor $(((SECONDS - t) * 100 / 160)) "apply took $((SECONDS - t)) s against 160 s at reference"
	if [ -e /usr/local/bin/containerd-shim-runsc-v1 ]; then
		res PASS "apply installed containerd-shim-runsc-v1"
	else
		res FAIL "apply installed containerd-shim-runsc-v1: missing (install/plan.go plans only the first artifact of gVisor)"
		# TODO(install): workaround so that the runsc checks still run; see vm.sh.
		install -m 0755 $S/todo-workaround/containerd-shim-runsc-v1 /usr/local/bin/containerd-shim-runsc-v1 &&
			res INFO "WORKAROUND: containerd-shim-runsc-v1 copied from the bundle"
	fi
	check "kata not installed (--components)" "absent" "$([ -e /opt/kata ] && echo present || echo absent)"
fi

step "checks"
check "containerd.service and docker.service enabled" "enabled enabled" "$(systemctl is-enabled containerd.service docker.service 2>&1 | tr '\n' ' ')"
check "containerd.service and docker.service active" "active active" "$(systemctl is-active containerd.service docker.service 2>&1 | tr '\n' ' ')"
check "buildkit.service enabled and active (Type=notify: buildkitd said READY)" "enabled active" "$(systemctl is-enabled buildkit.service 2>&1) $(systemctl is-active buildkit.service 2>&1)"
check "containerd version" "$(cat $S/containerd-version)" "$(ctr version 2>&1 | sed -n '/Server/,$p' | grep Version)"
imgs=$(ctr -n k8s.io images ls 2>&1 | awk 'NR > 1 && $1 !~ /^sha256:/ {print $1, ($NF ~ /io.cri-containerd.pinned=pinned/ ? "pinned" : "NOT-pinned")}')
check "nginx in containerd k8s.io, pinned" "docker.io/library/nginx:1.27.4 pinned" "$imgs"
check "pause in containerd k8s.io, pinned" "registry.k8s.io/pause:3.10 pinned" "$imgs"
check "docker has the bundle's image" "nginx:1.27.4" "$(docker image inspect --format '{{join .RepoTags " "}}' $IMG 2>&1)"
hostk=$(uname -r)
if [ $BOOT = 1 ]; then # boot 2 relies on doctor for containers (it runs one under each runtime)
	# ctr_gone ID: what makes a failed `ctr run --rm ID` safe to run again.
	ctr_gone() { echo "ctr -n k8s.io task kill -s KILL $1; sleep 2; ctr -n k8s.io task rm -f $1; ctr -n k8s.io containers rm $1"; }
	check "ctr run runc: uname -r" "$hostk" "$(attempt "ctr run runc" 120 "$(ctr_gone e2e-runc-$BOOT)" \
		"ctr -n k8s.io run --rm --net-host $IMG e2e-runc-$BOOT uname -r")"
	check "ctr run runsc (unmodified shim): uname -r" "gvisor" "$(attempt "ctr run runsc" 180 "$(ctr_gone e2e-runsc-$BOOT)" \
		"ctr -n k8s.io run --rm --runtime io.containerd.runsc.v1 \
		--runtime-config-path /etc/containerd/runsc.toml --annotation io.kubernetes.cri.container-type=sandbox \
		$IMG e2e-runsc-$BOOT sh -c 'uname -r; sleep 1'")"
	echo '{"metadata":{"name":"c"},"image":{"image":"docker.io/library/nginx:1.27.4"},"command":["/bin/sh","-c","sleep 3600"],"log_path":"c.log"}' >/tmp/ctr.json
	# With the systemd cgroup driver (what satchel renders where systemd is init) a pod needs a
	# slice as its cgroup parent, as kubelet gives it; with cgroupfs a path.
	parent=/satchel-e2e
	crictl runtime-config 2>/dev/null | grep -qi systemd && parent=satchel_e2e.slice
	grep -q 'SystemdCgroup = true' /etc/containerd/conf.d/satchel.toml 2>/dev/null && parent=satchel_e2e.slice
	res INFO "CRI pods use cgroup_parent $parent"
	# crictl's --timeout is each request's deadline (crictl.yaml's timeout: 10 s as
	# satchel writes it; RunPodSandbox gets twice that: k8s.io/cri-client
	# pkg/remote_runtime.go, "timeout := r.timeout * 2"): scaled here, since under TCG on
	# a loaded host a runsc sandbox takes longer. The installed crictl.yaml is left as is.
	CT=$(sc 30)
	res INFO "crictl --timeout ${CT}s"
	for rt in runc runsc; do
		echo '{"metadata":{"name":"e2e-'$rt'","namespace":"default","uid":"e2e-'$rt'-'$BOOT'"},"linux":{"cgroup_parent":"'$parent'","security_context":{"namespace_options":{"network":2}}},"log_directory":"/tmp/pod-logs"}' >/tmp/pod-$rt.json
		want=$hostk
		[ $rt = runsc ] && want=gvisor
		# The pod's name and uid are fixed: a retry first removes what the failed try left.
		out=$(attempt "crictl pod under $rt" 240 "
			for p in \$(crictl -t ${CT}s pods -q --name e2e-$rt); do crictl -t ${CT}s stopp \$p; crictl -t ${CT}s rmp -f \$p; done" "
			set -e
			POD=\$(crictl -t ${CT}s runp --runtime $rt /tmp/pod-$rt.json)
			C=\$(crictl -t ${CT}s create \$POD /tmp/ctr.json /tmp/pod-$rt.json)
			crictl -t ${CT}s start \$C >/dev/null
			crictl -t ${CT}s exec \$C uname -r
			crictl -t ${CT}s stopp \$POD >/dev/null
			crictl -t ${CT}s rmp \$POD >/dev/null")
		check "crictl pod under $rt: uname -r" "$want" "$out"
	done
	check "docker run --runtime runsc: uname -r" "gvisor" "$(attempt "docker run runsc" 180 "docker rm -f e2e-runsc-$BOOT" \
		"docker run --rm --name e2e-runsc-$BOOT --runtime runsc $IMG uname -r")"
fi
# Networks, on both boots (after the reboot too): the published port of a container
# under runc and under runsc, through nerdctl (CNI: nerdctl0) and Docker (docker0), the
# page fetched from the guest itself.
page_at() { # page_at PORT: the page on 127.0.0.1:PORT, waited for (a sandbox takes time)
	local page _
	for _ in $(seq 1 "$(sc 30)"); do
		page=$(tcp_get "$1" 2>/dev/null) && [[ "$page" == *stand-in* ]] && break
		sleep 1
	done
	printf '%s' "$page"
}
for rt in runc runsc; do
	port=18080
	[ $rt = runsc ] && port=18081
	attempt "nerdctl run -d -p $port:80 ($rt)" 180 "nerdctl rm -f e2e-net-$rt-$BOOT" \
		"nerdctl run -d --name e2e-net-$rt-$BOOT --runtime $rt -p $port:80 $IMG" >/dev/null
	check "nerdctl run -d --runtime $rt -p $port:80 (no -n, no pull): the page on 127.0.0.1:$port" "satchel e2e stand-in" "$(page_at $port)"
	# A running runsc container may need a second rm -f (docs/networking.md); nerdctl
	# exits 0 all the same, so what counts is whether the container is still there.
	out=$(nerdctl rm -f e2e-net-$rt-$BOOT 2>&1)
	if nerdctl inspect e2e-net-$rt-$BOOT >/dev/null 2>&1; then
		res INFO "KNOWN LIMITATION nerdctl rm -f ($rt) left the container: $(tail -n 1 <<<"$out" | head -c 200); removing it again"
		nerdctl rm -f e2e-net-$rt-$BOOT >/dev/null 2>&1
	fi
	check "nerdctl rm -f ($rt): the container is gone, no veth left" "gone 0" "$(nerdctl inspect e2e-net-$rt-$BOOT >/dev/null 2>&1 && echo there || echo gone) $(ip -o link show type veth 2>/dev/null | wc -l)"
	port=$((port - 10000))
	attempt "docker run -d -p $port:80 ($rt)" 120 "docker rm -f e2e-web-$rt-$BOOT" \
		"docker run -d --name e2e-web-$rt-$BOOT --runtime $rt -p $port:80 $IMG" >/dev/null
	check "docker run -d --runtime $rt -p $port:80: the page on 127.0.0.1:$port" "satchel e2e stand-in" "$(page_at $port)"
	docker rm -f e2e-web-$rt-$BOOT >/dev/null 2>&1
done
step "doctor"
timeout "$(sc 600)" $SI doctor >$S/doctor-boot$BOOT.txt 2>&1
drc=$?
cat $S/doctor-boot$BOOT.txt
for rt in runc runsc; do
	check "doctor: run $rt" "OK" "$(grep -E "^run $rt: uname -r" $S/doctor-boot$BOOT.txt | awk '{print $5, $6, $7}')"
done
for rt in runc runsc; do
	check "doctor: network $rt (nerdctl run -p, page fetched by satchel-install)" "OK" "$(grep -E "^network $rt: " $S/doctor-boot$BOOT.txt | awk '{print $8}')"
done
check "doctor: the CRI's network config" "99-satchel-bridge.conflist" "$(grep -E '^cni config' $S/doctor-boot$BOOT.txt)"
check "doctor: services" "OK OK" "$(grep -E '^service (containerd|docker)\.service' $S/doctor-boot$BOOT.txt | awk '{print $3}' | tr '\n' ' ')"
check "doctor: crictl and docker runtimes" "OK OK" "$(grep -E '^(crictl|docker) info: runtimes' $S/doctor-boot$BOOT.txt | awk '{print $4}' | tr '\n' ' ')"
check "doctor passes (kata not installed)" "exit 0" "exit $drc"
res INFO "boot $BOOT checks done in $((SECONDS - T0)) s (speed factor $(factor))"
kill $HEARTBEAT 2>/dev/null
mkdir -p "$(dirname $MARK)"
[ $BOOT = 1 ] && touch $MARK
sync
exit 0
GUEST
chmod 755 "$S/run.sh"

CPU=${SATCHEL_E2E_VM_CPU:-Nehalem}
ACCEL=${SATCHEL_E2E_VM_ACCEL:-tcg}
TIMEOUT=${SATCHEL_E2E_VM_TIMEOUT:-900}
export SATCHEL_E2E_VM_OVERLAY=$W/guest.qcow2 SATCHEL_E2E_VM_CPU=$CPU SATCHEL_E2E_VM_ACCEL=$ACCEL
T_BOOT=() F_BOOT=()
for boot in 1 2; do
	say "VM boot $boot (qemu accel=$ACCEL, -cpu $CPU, -nic none; the share holds $(cd "$S" && ls -d satchel-install main.satchel satchel.pub | tr '\n' ' '))"
	t=$SECONDS
	"$HERE/vmrun.sh" "$S" "$TIMEOUT"
	rc=$?
	T_BOOT+=($((SECONDS - t)))
	for f in run.log console.log; do [ -f "$S/$f" ] && cp "$S/$f" "$W/boot$boot-$f"; done
	if [ $rc != 0 ]; then
		tail -n 40 "$S/run.log" 2>/dev/null
		die "VM boot $boot ran run.sh to the end (vmrun.sh exit $rc; see $W/boot$boot-console.log)"
	fi
	grep "\[boot $boot\]" "$S/results.txt" 2>/dev/null
	F_BOOT+=("$(sed -n 's/^F100=//p' "$S/speed-factor" 2>/dev/null | tail -n 1)")
	pass "VM boot $boot: run.sh finished in the guest ($((SECONDS - t)) s, qemu start to power-off)"
done

while read -r verdict _ _ rest; do
	case "$verdict" in
	PASS) PASS=$((PASS + 1)) ;;
	FAIL) FAILN=$((FAILN + 1)); FAILED+=("${rest%%:*}") ;;
	esac
done <"$S/results.txt"

say "versions exercised"
echo "INFO guest: $(grep -m1 'Linux version' "$W/boot1-console.log" | grep -o 'Linux version [^ ]*') (Debian bookworm with a Kylin V10 /etc/os-release), systemd $(grep -m1 -o 'systemd [0-9][^ ]* running' "$W/boot1-console.log" | awk '{print $2}')"
echo "INFO bundle: containerd $SATCHEL_E2E_CONTAINERD_VERSION, runc $SATCHEL_E2E_RUNC_VERSION, gVisor $SATCHEL_E2E_GVISOR_VERSION, crictl $SATCHEL_E2E_CRICTL_VERSION, nerdctl $SATCHEL_E2E_NERDCTL_VERSION, dockerd moby $SATCHEL_E2E_MOBY_VERSION; kata 3.1.3 stand-in (not installed)"
echo "INFO time: image ${T_IMAGE} s, sources ${T_SOURCES} s, boot 1 ${T_BOOT[0]} s, boot 2 ${T_BOOT[1]} s, total $((SECONDS - T0)) s"
echo "INFO guest speed factor (x100, 100 = reference): boot 1 ${F_BOOT[0]:-?}, boot 2 ${F_BOOT[1]:-?}; retries: $(grep -c '^RETRY' "$S/results.txt")"
grep '^RETRY' "$S/results.txt"
echo
[ "$FAILN" -gt 0 ] && echo "failed: $(printf '%s; ' "${FAILED[@]}")"
echo "e2e-vm: $PASS passed, $FAILN failed"
[ "$FAILN" = 0 ]
