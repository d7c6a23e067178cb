# fleetlib.sh — hosts for satchel's fleet end-to-end test (test/e2e/fleet.sh), bash. Source it.
# shellcheck shell=bash
#
# A host is a separate root filesystem with its own sshd on a loopback address. The host's
# /usr (so python3 and sshd exist) is this machine's, bind-mounted read-only; everything a
# host owns is private to it: /etc, /usr/local, /opt, /var, /root (directories under DIR),
# /run and /tmp (tmpfs). sshd runs as PID 1 of new mount, UTS, IPC and PID namespaces, after
# pivot_root into the tree: what Ansible and satchel-install do there cannot reach this
# machine's files, and killing sshd ends everything that runs on the host.
#
#   fh_make DIR NAME OS_RELEASE AUTHORIZED_KEY   lay out the host's tree under DIR:
#                                   DIR/root (its /, with empty mount points), DIR/usr-local
#                                   (its /usr/local), a fresh ed25519 host key, root's
#                                   authorized_keys, OS_RELEASE (a file) as /etc/os-release
#   fh_start DIR NAME ADDR PORT     start the host: sshd -D listening on ADDR:PORT only;
#                                   returns once it accepts connections
#   fh_known_host DIR ADDR PORT     print the known_hosts line for its host key
#   fh_stop DIR                     kill the host (its sshd, so its PID namespace) and wait
#   fh_hash DIR                     one digest over every path of the host's private tree
#                                   (type, mode, owner, mtime, link target, content)
#   fh_exec DIR CMD...              run CMD inside the host (its namespaces and root)
#
# DIR/state holds the pid and sshd's log; it is outside the hashed trees. Needs root.
# Every function prints errors on stderr and returns non-zero; none calls exit.

fh__err() { printf 'fleet: %s\n' "$1" >&2; [ -n "${2:-}" ] && printf 'hint: %s\n' "$2" >&2; return 1; }

fh_make() {
	local dir=${1:?usage: fh_make DIR NAME OS_RELEASE AUTHORIZED_KEY} name=${2:?NAME} osr=${3:?OS_RELEASE} key=${4:?AUTHORIZED_KEY}
	[ -f "$osr" ] || { fh__err "no such os-release file: $osr"; return 1; }
	[ -f "$key" ] || { fh__err "no such public key: $key"; return 1; }
	local r=$dir/root d
	mkdir -p "$dir/state" "$r" "$dir/usr-local" || return 1
	for d in usr proc sys dev run tmp etc opt root var/lib var/log var/tmp var/cache etc/ssh root/.ssh; do
		mkdir -p "$r/$d" || return 1
	done
	chmod 700 "$r/root" "$r/root/.ssh"
	chmod 1777 "$r/var/tmp"
	for d in bin sbin etc games include lib man sbin share src; do mkdir -p "$dir/usr-local/$d"; done
	# /bin, /lib... as this machine has them: merged-/usr symlinks, or mount points for
	# real directories (fh_start binds those read-only).
	for d in bin sbin lib lib32 lib64 libx32; do
		if [ -L "/$d" ]; then
			ln -s "$(readlink "/$d")" "$r/$d"
		elif [ -d "/$d" ]; then
			mkdir -p "$r/$d"
		fi
	done
	# Accounts: root, and the user sshd separates privileges into.
	cat >"$r/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
sshd:x:103:65534::/run/sshd:/usr/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
EOF
	printf 'root:x:0:\nnogroup:x:65534:\n' >"$r/etc/group"
	printf 'root:*:20000:0:99999:7:::\nsshd:*:20000:0:99999:7:::\nnobody:*:20000:0:99999:7:::\n' >"$r/etc/shadow"
	chmod 640 "$r/etc/shadow"
	printf 'passwd: files\ngroup: files\nshadow: files\nhosts: files\n' >"$r/etc/nsswitch.conf"
	# The libraries are this machine's (/usr), so is the loader's cache.
	cp -a /etc/ld.so.cache /etc/ld.so.conf "$r/etc/" 2>/dev/null
	[ -d /etc/ld.so.conf.d ] && cp -a /etc/ld.so.conf.d "$r/etc/"
	printf '127.0.0.1 localhost\n' >"$r/etc/hosts"
	: >"$r/etc/resolv.conf"
	echo "$name" >"$r/etc/hostname"
	cp "$osr" "$r/etc/os-release" || return 1
	ssh-keygen -q -t ed25519 -N '' -C "$name" -f "$r/etc/ssh/ssh_host_ed25519_key" || return 1
	install -m 600 "$key" "$r/root/.ssh/authorized_keys" || return 1
}

fh_start() {
	local dir=${1:?usage: fh_start DIR NAME ADDR PORT} name=${2:?NAME} addr=${3:?ADDR} port=${4:?PORT}
	local r=$dir/root
	[ -f "$r/etc/ssh/ssh_host_ed25519_key" ] || { fh__err "$dir is not a host tree" "call fh_make first"; return 1; }
	cat >"$r/etc/ssh/sshd_config" <<EOF
# satchel fleet test host $name: root by key only, on $addr:$port only.
ListenAddress $addr:$port
HostKey /etc/ssh/ssh_host_ed25519_key
PidFile /run/sshd.pid
PermitRootLogin prohibit-password
PubkeyAuthentication yes
AuthorizedKeysFile .ssh/authorized_keys
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes yes
PrintMotd no
PrintLastLog no
UseDNS no
MaxStartups 50
Subsystem sftp /usr/lib/openssh/sftp-server
EOF
	local d ro=()
	for d in bin sbin lib lib32 lib64 libx32; do
		[ -d "/$d" ] && [ ! -L "/$d" ] && ro+=("/$d")
	done
	# shellcheck disable=SC2016
	local script='
set -e
R=$1 LOCAL=$2 NAME=$3
shift 3
mount --bind "$R" "$R"
for d in /usr "$@"; do
	mount --bind "$d" "$R$d"
	mount -o remount,bind,ro "$R$d"
done
mount --bind "$LOCAL" "$R/usr/local"
mount -t proc proc "$R/proc"
mount --rbind /sys "$R/sys"
mount --rbind /dev "$R/dev"
mount -t tmpfs -o mode=755 tmpfs "$R/run"
mount -t tmpfs -o mode=1777 tmpfs "$R/tmp"
hostname "$NAME"
cd "$R"
mkdir run/oldroot
pivot_root . run/oldroot
cd /
umount -l /run/oldroot
rmdir /run/oldroot
mkdir -m 755 /run/sshd
exec /usr/sbin/sshd -D -e -f /etc/ssh/sshd_config
'
	rm -f "$dir/state/pid"
	unshare --mount --uts --ipc --pid --fork --kill-child --propagation private -- \
		/bin/sh -c "$script" fleet-host "$(cd "$r" && pwd -P)" "$(cd "$dir/usr-local" && pwd -P)" "$name" "${ro[@]}" \
		</dev/null >"$dir/state/sshd.log" 2>&1 &
	local pid=$!
	echo "$pid" >"$dir/state/pid"
	local _
	for _ in $(seq 1 100); do
		if ! kill -0 "$pid" 2>/dev/null; then
			cat "$dir/state/sshd.log" >&2
			fh__err "host $name did not start" "see $dir/state/sshd.log"
			return 1
		fi
		grep -q "Server listening on $addr port $port" "$dir/state/sshd.log" 2>/dev/null && return 0
		sleep 0.1
	done
	fh__err "sshd of host $name is not listening on $addr:$port after 10 s" "see $dir/state/sshd.log"
	return 1
}

# fh__sshd_pid DIR: the host's sshd (PID 1 of its PID namespace), as this machine sees it.
fh__sshd_pid() {
	local pid
	pid=$(cat "$1/state/pid" 2>/dev/null) || return 1
	local c
	c=$(cat "/proc/$pid/task/$pid/children" 2>/dev/null) || return 1
	set -- $c
	[ -n "${1:-}" ] && echo "$1"
}

fh_exec() {
	local dir=${1:?usage: fh_exec DIR CMD...} pid
	shift
	pid=$(fh__sshd_pid "$dir") || { fh__err "host $dir is not running"; return 1; }
	nsenter -t "$pid" -m -u -i -p -r -w -- "$@"
}

fh_known_host() {
	local dir=${1:?usage: fh_known_host DIR ADDR PORT} addr=${2:?ADDR} port=${3:?PORT}
	printf '[%s]:%s %s\n' "$addr" "$port" "$(cut -d' ' -f1,2 "$dir/root/etc/ssh/ssh_host_ed25519_key.pub")"
}

fh_stop() {
	local dir=${1:?usage: fh_stop DIR} pid
	pid=$(cat "$dir/state/pid" 2>/dev/null) || return 0
	# unshare --kill-child: killing unshare SIGKILLs sshd, PID 1 of the host's PID
	# namespace, and with it every process of the host.
	kill -TERM "$pid" 2>/dev/null
	local _
	for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	rm -f "$dir/state/pid"
	return 0
}

fh_hash() {
	local dir=${1:?usage: fh_hash DIR}
	(
		cd "$dir" || exit 1
		find root usr-local -printf '%y %m %U:%G %T@ %p -> %l\n' | LC_ALL=C sort
		find root usr-local -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum
	) | sha256sum | cut -c1-64
}
