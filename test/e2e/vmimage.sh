#!/usr/bin/env bash
# vmimage.sh — build (once, cached) a minimal Debian bookworm VM image with systemd for
# the disconnected-host end-to-end tests; test/e2e/vmrun.sh boots it.
#
# Usage:
#   test/e2e/vmimage.sh                build the image unless it is cached
#   test/e2e/vmimage.sh --print-env    the same, then print shell assignments on stdout
#   test/e2e/vmimage.sh --env-only     print them without building (exit 1 if not built)
#
# Environment:
#   SATCHEL_E2E_CACHE          cache root (default /var/cache/satchel-e2e)
#   SATCHEL_E2E_DEBIAN_MIRROR  debootstrap mirror (default http://deb.debian.org/debian)
#   SATCHEL_E2E_VM_DISK_SIZE   ext4 image size (default 4G; the file is sparse)
#
# Output, under $CACHE/vm/bookworm-r<recipe>/: disk.img (ext4, the whole root
# filesystem, made with `mke2fs -d`: no loop device), vmlinuz, initrd.img, .done.
#
# The guest: systemd as PID 1, only `lo` (the VM runs with -nic none), root without a
# password on the serial console, and satchel-run.service, which mounts the 9p share
# (mount_tag=share) on /share, runs /share/run.sh with its output in /share/run.log and
# its exit status in /share/exit-code, then powers the machine off. The service is
# Type=exec, so boot completes while run.sh runs: run.sh may call
# `systemctl is-system-running --wait` and start units.
set -euo pipefail

CACHE=${SATCHEL_E2E_CACHE:-/var/cache/satchel-e2e}
MIRROR=${SATCHEL_E2E_DEBIAN_MIRROR:-http://deb.debian.org/debian}
SIZE=${SATCHEL_E2E_VM_DISK_SIZE:-4G}
SUITE=bookworm
RECIPE=2 # bump when the guest's contents change (r2: + iptables, which dockerd needs and Kylin V10 has)
OUT="$CACHE/vm/$SUITE-r$RECIPE"

log() { printf '[vmimage %s] %s\n' "$(date +%T)" "$*" >&2; }
die() {
	printf 'vmimage: %s\n' "$1" >&2
	[ -n "${2:-}" ] && printf 'hint: %s\n' "$2" >&2
	exit 1
}

print_env() {
	cat <<EOF
SATCHEL_E2E_VM_DIR=$OUT
SATCHEL_E2E_VM_DISK=$OUT/disk.img
SATCHEL_E2E_VM_KERNEL=$OUT/vmlinuz
SATCHEL_E2E_VM_INITRD=$OUT/initrd.img
export SATCHEL_E2E_VM_DIR SATCHEL_E2E_VM_DISK SATCHEL_E2E_VM_KERNEL SATCHEL_E2E_VM_INITRD
EOF
}

# configure ROOTFS: everything the guest needs besides debootstrap's packages.
configure() {
	local r=$1
	echo satchel-vm >"$r/etc/hostname"
	# CRI needs /etc/hosts; runc's --net-host copies it too.
	cat >"$r/etc/hosts" <<'EOF'
127.0.0.1	localhost satchel-vm
::1	localhost ip6-localhost ip6-loopback
EOF
	cat >"$r/etc/fstab" <<'EOF'
/dev/vda	/	ext4	rw,errors=remount-ro	0	1
EOF
	: >"$r/etc/resolv.conf"
	printf '9p\n9pnet_virtio\noverlay\nbr_netfilter\n' >"$r/etc/modules-load.d/satchel-e2e.conf"
	chroot "$r" passwd -d root >/dev/null

	cat >"$r/usr/local/sbin/satchel-run" <<'EOF'
#!/bin/sh
# Mount the host's share, run its run.sh, record output and status there.
set -u
mkdir -p /share
if ! mount -t 9p -o trans=virtio,version=9p2000.L,msize=262144,cache=none share /share; then
	echo "satchel-run: cannot mount the 9p share" >/dev/console
	exit 1
fi
echo "satchel-run: starting /share/run.sh" >/dev/console
if [ -x /share/run.sh ]; then
	/share/run.sh >/share/run.log 2>&1
else
	sh /share/run.sh >/share/run.log 2>&1
fi
rc=$?
echo "$rc" >/share/exit-code
sync
echo "satchel-run: run.sh exited $rc" >/dev/console
umount /share || true
exit 0
EOF
	chmod 755 "$r/usr/local/sbin/satchel-run"
	cat >"$r/etc/systemd/system/satchel-run.service" <<'EOF'
[Unit]
Description=satchel e2e: run /share/run.sh, then power off
After=basic.target systemd-modules-load.service

[Service]
# exec, not oneshot: boot finishes while run.sh runs, so it can wait for it.
Type=exec
ExecStart=/usr/local/sbin/satchel-run
ExecStopPost=/bin/systemctl poweroff --no-block
StandardOutput=journal+console
StandardError=journal+console

[Install]
WantedBy=multi-user.target
EOF
	mkdir -p "$r/etc/systemd/system/multi-user.target.wants"
	ln -sf /etc/systemd/system/satchel-run.service "$r/etc/systemd/system/multi-user.target.wants/satchel-run.service"
	# Nothing in the guest can reach a network: skip the timers that would try.
	local u
	for u in apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer; do
		ln -sf /dev/null "$r/etc/systemd/system/$u"
	done
	rm -rf "$r/var/cache/apt/archives/"*.deb "$r/var/lib/apt/lists/"*
}

main() {
	local print=
	case "${1:-}" in
	--print-env) print=1 ;;
	--env-only)
		[ -f "$OUT/.done" ] || die "VM image not built" "run test/e2e/vmimage.sh"
		print_env
		return 0
		;;
	"") ;;
	*) die "unknown argument $1" "usage: vmimage.sh [--print-env|--env-only]" ;;
	esac
	if [ -f "$OUT/.done" ]; then
		log "cached: $OUT"
		[ -n "$print" ] && print_env
		return 0
	fi
	[ "$(id -u)" = 0 ] || die "needs root (debootstrap)" "run as root"
	command -v debootstrap >/dev/null && command -v mke2fs >/dev/null ||
		die "debootstrap or mke2fs missing" "run test/e2e/realbins.sh (it installs them) first"
	local tmp="$CACHE/vm/.tmp-$SUITE-r$RECIPE"
	rm -rf "$tmp"
	mkdir -p "$tmp"
	local t0=$SECONDS
	log "debootstrap $SUITE from $MIRROR (log: $tmp/debootstrap.log)"
	if ! debootstrap --variant=minbase \
		--include=systemd-sysv,udev,kmod,linux-image-amd64,iproute2,iptables,ca-certificates \
		"$SUITE" "$tmp/rootfs" "$MIRROR" >"$tmp/debootstrap.log" 2>&1; then
		tail -n 30 "$tmp/debootstrap.log" >&2
		die "debootstrap failed" "see $tmp/debootstrap.log; set SATCHEL_E2E_DEBIAN_MIRROR for another mirror"
	fi
	log "debootstrap done in $((SECONDS - t0)) s"
	configure "$tmp/rootfs"
	local k i
	k=$(ls "$tmp/rootfs"/boot/vmlinuz-* | sort -V | tail -n 1)
	i=$(ls "$tmp/rootfs"/boot/initrd.img-* | sort -V | tail -n 1)
	cp "$k" "$tmp/vmlinuz"
	cp "$i" "$tmp/initrd.img"
	basename "$k" | sed 's/^vmlinuz-//' >"$tmp/kernel-release"
	local t1=$SECONDS
	mke2fs -q -t ext4 -L satchel-root -d "$tmp/rootfs" -F "$tmp/disk.img" "$SIZE" >&2
	log "mke2fs -d done in $((SECONDS - t1)) s ($(du -sh "$tmp/rootfs" | cut -f1) rootfs, image $SIZE sparse)"
	rm -rf "$tmp/rootfs"
	echo "$((SECONDS - t0))" >"$tmp/.seconds"
	touch "$tmp/.done"
	rm -rf "$OUT"
	mv "$tmp" "$OUT"
	log "image ready in $((SECONDS - t0)) s: $OUT"
	[ -n "$print" ] && print_env
	return 0
}

main "$@"
