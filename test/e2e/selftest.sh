#!/usr/bin/env bash
# selftest.sh — prove the harness on this host: lay out a small --root tree by hand from
# the binaries realbins.sh built (what satchel-install will later write), start it with
# lib.sh's rr_start, and run containers under runc and runsc through ctr and through CRI
# (crictl). Prints one line per check and "N passed, N failed".
#
# Usage: test/e2e/selftest.sh [WORKDIR]    (default: a temp dir, removed afterwards)
# Needs root and the outputs of test/e2e/realbins.sh. Takes ~20 s.
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"

[ "$(id -u)" = 0 ] || { echo "selftest: needs root" >&2; exit 1; }
env_out=$("$HERE/realbins.sh" --env-only) || { echo "hint: run test/e2e/realbins.sh first" >&2; exit 1; }
eval "$env_out"

if [ -n "${1:-}" ]; then
	W=$1
	mkdir -p "$W"
else
	W=$(mktemp -d /tmp/satchel-selftest.XXXXXX)
	trap 'rr_stop "$W/root" >/dev/null 2>&1; rm -rf "$W"' EXIT
fi
R=$W/root
pass=0 fail=0
check() { # check NAME WANT GOT: GOT must contain WANT
	if [ -n "$3" ] && [[ "$3" == *"$2"* ]]; then
		echo "ok   $1: $3"
		pass=$((pass + 1))
	else
		echo "FAIL $1: want *$2*, got: ${3:-<nothing>}"
		fail=$((fail + 1))
	fi
}

# --- the tree, as an installer would lay it out -------------------------------------
mkdir -p "$R/usr/local/bin" "$R/etc/containerd" "$R/bin"
for b in containerd ctr containerd-shim-runc-v2 runc runsc containerd-shim-runsc-v1 crictl nerdctl; do
	cp "$SATCHEL_E2E_BIN/$b" "$R/usr/local/bin/$b"
done
cp "$SATCHEL_E2E_BUSYBOX" "$R/bin/busybox"
ln -sf busybox "$R/bin/sh"
cat >"$R/etc/containerd/config.toml" <<'EOF'
version = 3
root = "/var/lib/containerd"
state = "/run/containerd"

[grpc]
  address = "/run/containerd/containerd.sock"

[plugins]
  [plugins.'io.containerd.cri.v1.images']
    [plugins.'io.containerd.cri.v1.images'.pinned_images]
      sandbox = "registry.k8s.io/pause:3.10"
  [plugins.'io.containerd.cri.v1.runtime']
    [plugins.'io.containerd.cri.v1.runtime'.containerd]
      default_runtime_name = "runc"
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
        runtime_type = "io.containerd.runc.v2"
        [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
          BinaryName = "/usr/local/bin/runc"
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runsc]
        runtime_type = "io.containerd.runsc.v1"
        [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runsc.options]
          TypeUrl = "io.containerd.runsc.v1.options"
          ConfigPath = "/etc/containerd/runsc.toml"
EOF
cat >"$R/etc/containerd/runsc.toml" <<'EOF'
[runsc_config]
  platform = "systrap"
  network = "host"
EOF
cat >"$R/etc/crictl.yaml" <<'EOF'
runtime-endpoint: unix:///run/containerd/containerd.sock
image-endpoint: unix:///run/containerd/containerd.sock
timeout: 60
EOF
# TEST-ONLY overrides (README.md): this host lacks CAP_SYS_RESOURCE.
cat >"$W/override.toml" <<'EOF'
version = 3
[plugins.'io.containerd.cri.v1.runtime']
  restrict_oom_score_adj = true
EOF
e2e_image_busybox "$W/bb.tar" docker.io/library/bb:latest || exit 1
e2e_image_pause "$W/pause.tar" registry.k8s.io/pause:3.10 || exit 1

# --- run it --------------------------------------------------------------------------
RR_RUNSC_SHIM=$SATCHEL_E2E_RUNSC_SHIM_TESTONLY RR_CONFIG_OVERRIDE=$W/override.toml rr_start "$R" || exit 1
x() { rr_exec "$R" "$@" 2> >(grep -v -e DEPRECATION -e cgroup_parent >&2); }
hostk=$(uname -r)

x ctr -n default images import - <"$W/bb.tar" >/dev/null
x ctr -n k8s.io images import - <"$W/bb.tar" >/dev/null
x ctr -n k8s.io images import - <"$W/pause.tar" >/dev/null
check "ctr images" "docker.io/library/bb:latest" "$(x ctr -n default images ls -q | tr '\n' ' ')"

check "ctr run runc" "$hostk" "$(x ctr run --rm --net-host docker.io/library/bb:latest rc1 uname -r)"
# runsc outside CRI: the annotation keeps this gVisor shim from hanging in `runsc create`;
# the short sleep keeps the exit code (an instant exit reports 128).
out=$(timeout 120 bash -c '. "$1/lib.sh"; rr_exec "$2" ctr run --rm --net-host \
	--runtime io.containerd.runsc.v1 --runtime-config-path /etc/containerd/runsc.toml \
	--annotation io.kubernetes.cri.container-type=sandbox \
	docker.io/library/bb:latest gv1 sh -c "uname -r; sleep 1"' _ "$HERE" "$R" 2>/dev/null)
check "ctr run runsc" "gvisor" "$out"

check "nerdctl run runc" "$hostk" "$(x nerdctl -n default run --rm --net host docker.io/library/bb:latest uname -r)"

info=$(x crictl info)
check "crictl info runc" '"runc"' "$(grep -o '"runc"' <<<"$info" | head -n1)"
check "crictl info runsc" '"io.containerd.runsc.v1"' "$(grep -o '"io.containerd.runsc.v1"' <<<"$info" | head -n1)"

P=/proc/$(rr_pid "$R")/root
echo '{"metadata":{"name":"p","namespace":"default","uid":"u"},"linux":{"security_context":{"namespace_options":{"network":2}}},"log_directory":"/tmp/pod-logs"}' >"$P/tmp/pod.json"
echo '{"metadata":{"name":"c"},"image":{"image":"docker.io/library/bb:latest"},"command":["/bin/sh","-c","sleep 3600"],"log_path":"c.log"}' >"$P/tmp/ctr.json"
for rt in runc runsc; do
	want=$hostk
	[ $rt = runsc ] && want=gvisor
	out=$(timeout 120 bash -c '. "$1/lib.sh"; rr_exec "$2" sh -c "
		set -e
		POD=\$(crictl runp --runtime $3 /tmp/pod.json)
		C=\$(crictl create \$POD /tmp/ctr.json /tmp/pod.json)
		crictl start \$C >/dev/null
		crictl exec \$C uname -r
		crictl stopp \$POD >/dev/null
		crictl rmp \$POD >/dev/null"' _ "$HERE" "$R" "$rt" 2>&1 | grep -v cgroup_parent)
	check "crictl $rt pod" "$want" "$out"
done

ns=$(cat "$R.runroot/mntns")
rr_stop "$R"
left=$(rr__ns_pids "$ns")
check "no processes left" "none" "${left// /}none"
left=$(ls -d /sys/fs/cgroup/*/default/rc1 /sys/fs/cgroup/*/default/gv1 2>/dev/null | head -n 3)
check "no cgroups left" "none" "${left}none"

echo "selftest: $pass passed, $fail failed"
[ "$fail" = 0 ]
