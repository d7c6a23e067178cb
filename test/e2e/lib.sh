# lib.sh — shell helpers for satchel's end-to-end tests (bash). Source it:
# shellcheck shell=bash
#
#   . test/e2e/lib.sh
#
# Running an installed --root tree for real on the host (see README.md):
#   rr_start ROOTDIR          start ROOTDIR/usr/local/bin/containerd as if ROOTDIR were "/":
#                             new mount namespace, ROOTDIR bound onto itself, proc, /sys and
#                             /dev rbound, tmpfs /run and /tmp, pivot_root, exec containerd
#                             --config /etc/containerd/config.toml. Returns once its socket is up.
#   rr_exec ROOTDIR CMD...    run CMD inside: containerd's mount namespace and root, so
#                             `rr_exec R ctr version` runs the tree's own ctr
#   rr_pid ROOTDIR            containerd's pid
#   rr_socket ROOTDIR         host path of the tree's containerd socket (through /proc/PID/root)
#   rr_stop ROOTDIR           kill every task, then containerd, then anything left in its namespace
#
#   Test-only knobs, read by rr_start (nothing is written into ROOTDIR for them):
#   RR_RUNSC_SHIM=FILE        bind-mount FILE over the tree's /usr/local/bin/containerd-shim-runsc-v1
#                             (the TEST-ONLY gVisor shim from realbins.sh, for hosts without
#                             CAP_SYS_RESOURCE)
#   RR_CONFIG_OVERRIDE=FILE   start containerd with a generated config that imports the tree's
#                             /etc/containerd/config.toml and then FILE (containerd 2.x deep-merges
#                             imports), e.g. restrict_oom_score_adj = true for CRI
#   RR_CONFIG_FILE=FILE       start containerd with a copy of FILE (a host file) as
#                             /run/satchel-e2e/config.toml instead: for containerd 1.x, where
#                             an import replaces a whole plugin section, so the override must
#                             be a complete config (e.g. the tree's, with one key set)
#   RR_CONFIG=PATH            config path inside the tree (default /etc/containerd/config.toml)
#   RR_STATE_DIR=DIR          where the log and pid go (default ROOTDIR.runroot beside the tree)
#
# Test images (need umoci, skopeo, busybox-static, gcc: realbins.sh installs them):
#   e2e_image_busybox OUT.tar REF [oci|docker]   a one-layer image holding a static busybox
#                                                (/bin/sh and every applet), Cmd ["/bin/sh"]
#   e2e_image_pause OUT.tar REF [oci|docker]     a pause image (static C pause, Entrypoint /pause)
#   e2e_image_web OUT.tar REF PORT [oci|docker]  the busybox image as a labelled stand-in web
#                                                server: /www/index.html, Cmd
#                                                ["/bin/busybox","httpd","-f","-p",PORT,"-h","/www"]
#                                                (Cmd, not Entrypoint: `ctr run IMG ID uname -r`
#                                                must replace it, as doctor does)
# "oci" writes an OCI archive for `ctr images import`, with REF as its ref name; "docker"
# writes a docker-archive for `docker load`.
#
# Every function prints errors on stderr and returns non-zero; none calls exit.

RR_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

rr__err() { printf 'e2e: %s\n' "$1" >&2; [ -n "${2:-}" ] && printf 'hint: %s\n' "$2" >&2; return 1; }

rr__root() { (cd "$1" 2>/dev/null && pwd -P) || rr__err "no such directory: $1"; }

rr__state() { echo "${RR_STATE_DIR:-$1.runroot}"; }

rr_pid() {
	local root state
	root=$(rr__root "$1") || return 1
	state=$(rr__state "$root")
	[ -f "$state/containerd.pid" ] || { rr__err "containerd for $root is not running" "call rr_start $root"; return 1; }
	cat "$state/containerd.pid"
}

rr_socket() {
	local pid
	pid=$(rr_pid "$1") || return 1
	echo "/proc/$pid/root/run/containerd/containerd.sock"
}

rr_start() {
	local root state
	root=$(rr__root "${1:?usage: rr_start ROOTDIR}") || return 1
	state=$(rr__state "$root")
	local config=${RR_CONFIG:-/etc/containerd/config.toml}
	[ -x "$root/usr/local/bin/containerd" ] ||
		{ rr__err "$root/usr/local/bin/containerd is missing" "install into the tree first"; return 1; }
	[ -f "$root$config" ] || { rr__err "$root$config is missing" "install into the tree first"; return 1; }
	if [ -f "$state/containerd.pid" ] && kill -0 "$(cat "$state/containerd.pid")" 2>/dev/null; then
		rr__err "containerd for $root already runs (pid $(cat "$state/containerd.pid"))" "call rr_stop $root"
		return 1
	fi
	local bb
	bb=$(command -v busybox) || { rr__err "busybox not found" "apt-get install busybox-static"; return 1; }
	if [ -n "${RR_RUNSC_SHIM:-}" ]; then
		[ -x "$RR_RUNSC_SHIM" ] || { rr__err "RR_RUNSC_SHIM=$RR_RUNSC_SHIM is not executable"; return 1; }
		[ -e "$root/usr/local/bin/containerd-shim-runsc-v1" ] ||
			{ rr__err "RR_RUNSC_SHIM set but the tree has no /usr/local/bin/containerd-shim-runsc-v1"; return 1; }
	fi
	[ -z "${RR_CONFIG_OVERRIDE:-}" ] || [ -f "$RR_CONFIG_OVERRIDE" ] ||
		{ rr__err "RR_CONFIG_OVERRIDE=$RR_CONFIG_OVERRIDE not found"; return 1; }
	[ -z "${RR_CONFIG_FILE:-}" ] || [ -f "$RR_CONFIG_FILE" ] ||
		{ rr__err "RR_CONFIG_FILE=$RR_CONFIG_FILE not found"; return 1; }
	[ -z "${RR_CONFIG_FILE:-}" ] || [ -z "${RR_CONFIG_OVERRIDE:-}" ] ||
		{ rr__err "set RR_CONFIG_FILE or RR_CONFIG_OVERRIDE, not both"; return 1; }
	# A real root has these; an installer does not create them. Mount points must exist,
	# runc copies /etc/hosts and /etc/resolv.conf into --net-host containers, CRI needs
	# /etc/hosts.
	local d
	for d in proc sys dev run tmp etc; do
		[ -d "$root/$d" ] || { mkdir -p "$root/$d" && echo "e2e: created /$d in $root" >&2; }
	done
	for d in hosts resolv.conf; do
		[ -e "$root/etc/$d" ] || { cp "/etc/$d" "$root/etc/$d" && echo "e2e: copied the host's /etc/$d into $root" >&2; }
	done
	mkdir -p "$state"
	rm -f "$state/containerd.pid" "$state/mntns"
	# The in-namespace part. It runs with the host's tools until pivot_root; after it,
	# only the already-loaded shell, a static busybox copied to the new /run, and the
	# tree's own (static) containerd are used.
	# shellcheck disable=SC2016
	local script='
set -e
R=$1 BB=$2 SHIM=$3 OVR=$4 CONFIG=$5 FULL=$6
mount --bind "$R" "$R"
mount -t proc proc "$R/proc"
mount --rbind /sys "$R/sys"
mount --rbind /dev "$R/dev"
mount -t tmpfs -o mode=755 tmpfs "$R/run"
mount -t tmpfs -o mode=1777 tmpfs "$R/tmp"
[ -z "$SHIM" ] || mount --bind -o ro "$SHIM" "$R/usr/local/bin/containerd-shim-runsc-v1"
E=$R/run/satchel-e2e
mkdir -p "$E/oldroot"
cp "$BB" "$E/busybox"
if [ -n "$OVR" ]; then
	cp "$OVR" "$E/override.toml"
	# The wrapper must not be older than the tree config it imports (containerd refuses a
	# drop-in of a higher version than the root config: 2.3+ renders version 4).
	V=$(grep -m1 -o "^version *= *[0-9]*" "$R$CONFIG" | grep -o "[0-9]*$" || true)
	printf "version = %s\nimports = [\"%s\", \"/run/satchel-e2e/override.toml\"]\n" "${V:-3}" "$CONFIG" >"$E/config.toml"
	CONFIG=/run/satchel-e2e/config.toml
elif [ -n "$FULL" ]; then
	cp "$FULL" "$E/config.toml"
	CONFIG=/run/satchel-e2e/config.toml
fi
cd "$R"
pivot_root . run/satchel-e2e/oldroot
cd /
/run/satchel-e2e/busybox umount -l /run/satchel-e2e/oldroot
/run/satchel-e2e/busybox rmdir /run/satchel-e2e/oldroot
export PATH='"$RR_PATH"'
exec /usr/local/bin/containerd --config "$CONFIG"
'
	unshare -m --propagation private -- /bin/sh -c "$script" rr-start \
		"$root" "$bb" "${RR_RUNSC_SHIM:-}" "${RR_CONFIG_OVERRIDE:-}" "$config" "${RR_CONFIG_FILE:-}" \
		</dev/null >"$state/containerd.log" 2>&1 &
	local pid=$!
	echo "$pid" >"$state/containerd.pid"
	for _ in $(seq 1 300); do
		if ! kill -0 "$pid" 2>/dev/null; then
			tail -n 30 "$state/containerd.log" >&2
			rm -f "$state/containerd.pid"
			rr__err "containerd from $root exited at start" "see $state/containerd.log"
			return 1
		fi
		if [ -S "/proc/$pid/root/run/containerd/containerd.sock" ]; then
			readlink "/proc/$pid/ns/mnt" >"$state/mntns"
			echo "e2e: containerd from $root runs as pid $pid (log $state/containerd.log)" >&2
			return 0
		fi
		sleep 0.1
	done
	rr__err "containerd from $root did not open its socket in 30 s" "see $state/containerd.log"
	return 1
}

rr_exec() {
	local pid
	pid=$(rr_pid "${1:?usage: rr_exec ROOTDIR CMD...}") || return 1
	shift
	# nsenter looks CMD up in the tree with this PATH, and CMD inherits it.
	PATH=$RR_PATH nsenter -t "$pid" -m -r -w -- "$@"
}

# rr__ns_pids MNTNS: pids whose mount namespace is MNTNS, plus all their descendants.
rr__ns_pids() {
	local ns=$1 p pids=() ppid
	for p in /proc/[0-9]*; do
		[ "$(readlink "$p/ns/mnt" 2>/dev/null)" = "$ns" ] && pids+=("${p#/proc/}")
	done
	[ ${#pids[@]} -eq 0 ] && return 0
	local changed=1 all=" ${pids[*]} "
	while [ $changed = 1 ]; do
		changed=0
		for p in /proc/[0-9]*; do
			p=${p#/proc/}
			case "$all" in *" $p "*) continue ;; esac
			ppid=$(awk '{print $4}' "/proc/$p/stat" 2>/dev/null) || continue
			case "$all" in *" $ppid "*) all="$all$p " changed=1 ;; esac
		done
	done
	echo "$all"
}

rr_stop() {
	local root state pid
	root=$(rr__root "${1:?usage: rr_stop ROOTDIR}") || return 1
	state=$(rr__state "$root")
	[ -f "$state/containerd.pid" ] || return 0
	pid=$(cat "$state/containerd.pid")
	local ns cgs=()
	ns=$(cat "$state/mntns" 2>/dev/null || readlink "/proc/$pid/ns/mnt" 2>/dev/null || true)
	if kill -0 "$pid" 2>/dev/null && [ -x "/proc/$pid/root/usr/local/bin/ctr" ]; then
		local n t c
		for n in $(rr_exec "$root" ctr namespaces ls -q 2>/dev/null); do
			for c in $(rr_exec "$root" ctr -n "$n" containers ls -q 2>/dev/null); do
				cgs+=("$n/$c")
			done
			for t in $(rr_exec "$root" ctr -n "$n" tasks ls -q 2>/dev/null); do
				# Bounded: killing a runsc task under containerd 1.6 has hung for minutes
				# (its shim did not answer); tasks delete -f and the kills below follow.
				timeout 20 nsenter -t "$pid" -m -r -w -- /usr/local/bin/ctr -n "$n" tasks kill -a -s SIGKILL "$t" >/dev/null 2>&1 ||
					echo "e2e: ctr tasks kill $n/$t did not finish in 20 s; going on" >&2
			done
			for t in $(rr_exec "$root" ctr -n "$n" tasks ls -q 2>/dev/null); do
				timeout 20 nsenter -t "$pid" -m -r -w -- /usr/local/bin/ctr -n "$n" tasks delete -f "$t" >/dev/null 2>&1 || true
			done
			for c in $(rr_exec "$root" ctr -n "$n" containers ls -q 2>/dev/null); do
				rr_exec "$root" ctr -n "$n" containers rm "$c" >/dev/null 2>&1 || true
			done
		done
	fi
	kill -TERM "$pid" 2>/dev/null || true
	for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	# Shims (and their sandboxes) outlive containerd by design: end what is left of this
	# namespace, by pid.
	if [ -n "$ns" ]; then
		local left
		left=$(rr__ns_pids "$ns")
		if [ -n "${left// /}" ]; then
			echo "e2e: killing leftover processes of $root:$left" >&2
			# shellcheck disable=SC2086
			kill -KILL $left 2>/dev/null || true
			# cgroups can be removed only once their processes are gone.
			local p
			for _ in $(seq 1 50); do
				for p in $left; do [ -d "/proc/$p" ] && break; done
				[ -d "/proc/$p" ] || break
				sleep 0.1
			done
		fi
	fi
	# A container whose task never started (or was killed with its shim) keeps its cgroup
	# (runc's cgroups path is /<namespace>/<id>): remove those that are empty now.
	local cg d
	for cg in "${cgs[@]}"; do
		for d in /sys/fs/cgroup/*/"$cg" /sys/fs/cgroup/"$cg"; do
			[ -d "$d" ] && { rmdir "$d" 2>/dev/null || true; }
		done
	done
	rm -f "$state/containerd.pid" "$state/mntns"
	return 0
}

# e2e__image_finish OCIDIR TAG OUT REF FORMAT: write the umoci layout as an archive.
e2e__image_finish() {
	local oci=$1 tag=$2 out=$3 ref=$4 format=${5:-oci}
	rm -f "$out"
	case "$format" in
	oci) skopeo copy -q "oci:$oci:$tag" "oci-archive:$out:$ref" ;;
	docker) skopeo copy -q "oci:$oci:$tag" "docker-archive:$out:$ref" ;;
	*) rr__err "unknown image format $format" "use oci or docker" ;;
	esac
}

e2e_image_busybox() {
	local out=${1:?usage: e2e_image_busybox OUT.tar REF [oci|docker]} ref=${2:?REF} format=${3:-oci}
	e2e__image_bb "$out" "$ref" "$format" ""
}

e2e_image_web() {
	local out=${1:?usage: e2e_image_web OUT.tar REF PORT [oci|docker]} ref=${2:?REF} port=${3:?PORT} format=${4:-oci}
	e2e__image_bb "$out" "$ref" "$format" "$port"
}

# e2e__image_bb OUT REF FORMAT WEBPORT: the busybox image; with WEBPORT, the web stand-in.
e2e__image_bb() {
	local out=$1 ref=$2 format=$3 port=$4
	local bb tmp a
	bb=$(command -v busybox) || { rr__err "busybox not found" "apt-get install busybox-static"; return 1; }
	tmp=$(mktemp -d) || return 1
	(
		set -e
		umoci init --layout "$tmp/oci"
		umoci new --image "$tmp/oci:img"
		umoci unpack --image "$tmp/oci:img" "$tmp/bundle" >/dev/null
		mkdir -p "$tmp/bundle/rootfs/bin" "$tmp/bundle/rootfs/etc" "$tmp/bundle/rootfs/tmp"
		cp "$bb" "$tmp/bundle/rootfs/bin/busybox"
		for a in $("$bb" --list); do
			[ "$a" = busybox ] || ln -sf busybox "$tmp/bundle/rootfs/bin/$a"
		done
		echo 'root:x:0:0:root:/root:/bin/sh' >"$tmp/bundle/rootfs/etc/passwd"
		echo 'root:x:0:' >"$tmp/bundle/rootfs/etc/group"
		if [ -n "$port" ]; then
			local label="satchel e2e stand-in for $ref: busybox httpd, not the real image"
			mkdir -p "$tmp/bundle/rootfs/www"
			printf '<!DOCTYPE html>\n<title>satchel e2e</title>\n<p>%s</p>\n' "$label" >"$tmp/bundle/rootfs/www/index.html"
			echo "$label" >"$tmp/bundle/rootfs/SATCHEL-STAND-IN"
		fi
		umoci repack --image "$tmp/oci:img" "$tmp/bundle" >/dev/null
		if [ -n "$port" ]; then
			umoci config --image "$tmp/oci:img" --config.env PATH=/bin \
				--config.cmd /bin/busybox --config.cmd httpd --config.cmd -f --config.cmd -p \
				--config.cmd "$port" --config.cmd -h --config.cmd /www \
				--config.exposedports "$port/tcp" \
				--config.label "org.satchel.e2e.stand-in=busybox httpd standing in for $ref"
		else
			umoci config --image "$tmp/oci:img" --config.env PATH=/bin --config.cmd /bin/sh
		fi
	) >"$tmp/log" 2>&1 || { cat "$tmp/log" >&2; rm -rf "$tmp"; rr__err "building busybox image failed"; return 1; }
	e2e__image_finish "$tmp/oci" img "$out" "$ref" "$format" || { rm -rf "$tmp"; return 1; }
	rm -rf "$tmp"
}

e2e_image_pause() {
	local out=${1:?usage: e2e_image_pause OUT.tar REF [oci|docker]} ref=${2:?REF} format=${3:-oci}
	local tmp
	tmp=$(mktemp -d) || return 1
	(
		set -e
		cat >"$tmp/pause.c" <<'EOF'
#include <signal.h>
#include <unistd.h>
static void bye(int sig) { (void)sig; _exit(0); }
int main(void) {
	signal(SIGINT, bye);
	signal(SIGTERM, bye);
	for (;;) pause();
}
EOF
		gcc -static -Os -s -o "$tmp/pause" "$tmp/pause.c"
		umoci init --layout "$tmp/oci"
		umoci new --image "$tmp/oci:img"
		umoci unpack --image "$tmp/oci:img" "$tmp/bundle" >/dev/null
		cp "$tmp/pause" "$tmp/bundle/rootfs/pause"
		umoci repack --image "$tmp/oci:img" "$tmp/bundle" >/dev/null
		umoci config --image "$tmp/oci:img" --config.entrypoint /pause
	) >"$tmp/log" 2>&1 || { cat "$tmp/log" >&2; rm -rf "$tmp"; rr__err "building pause image failed"; return 1; }
	e2e__image_finish "$tmp/oci" img "$out" "$ref" "$format" || { rm -rf "$tmp"; return 1; }
	rm -rf "$tmp"
}

# e2e_setup NAME WHY: the start both e2e targets share. Without root it skips
# (exit 0), or fails under CI=true, where every test must run; with root it
# loads the real binaries' environment from realbins.sh (cached: seconds).
e2e_setup() {
	if [ "$(id -u)" != 0 ]; then
		if [ "${CI:-}" = true ]; then
			echo "$1: FAIL: needs root ($2), and CI=true" >&2
			exit 1
		fi
		echo "$1: SKIP: needs root ($2); run as root: sudo make $1"
		exit 0
	fi
	local env_out
	env_out=$("$(dirname "${BASH_SOURCE[0]}")/realbins.sh" --print-env) || exit 1
	eval "$env_out"
}

# The host-side scripts' result lines (run.sh, push.sh, fleet.sh); each keeps PASS, FAILN and
# FAILED and prints its own summary.
say() { printf '\n== %s\n' "$*"; }
info() { printf 'INFO %s\n' "$*"; }
pass() { printf 'PASS %s\n' "$*"; PASS=$((PASS + 1)); }
fail() { printf 'FAIL %s\n' "$*"; FAILN=$((FAILN + 1)); FAILED+=("${1%%:*}"); }
# check NAME WANT GOT: GOT must contain WANT
check() {
	if [ -n "$3" ] && [[ "$3" == *"$2"* ]]; then
		pass "$1: $(head -c 300 <<<"$3" | tr '\n' ' ')"
	else
		fail "$1: want *$2*, got: $(head -c 600 <<<"${3:-<nothing>}" | tr '\n' ' ')"
	fi
}
