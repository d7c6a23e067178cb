#!/usr/bin/env bash
# vmrun.sh — boot the cached VM image (test/e2e/vmimage.sh) under qemu TCG, disconnected
# (-nic none), with SHAREDIR as its 9p share; the guest runs SHAREDIR/run.sh and powers off.
#
# Usage: test/e2e/vmrun.sh SHAREDIR [TIMEOUT_SECONDS]   (default timeout 900)
#
# The timeout adapts to a slow host: it is multiplied by the speed factor the guest
# measured and wrote to SHAREDIR/speed-factor (run.sh's business: vm.sh's guest writes
# "F100=N", N = factor x 100), and the run also stops early when the guest shows no sign
# of life (console.log, run.log, heartbeat on the share all unchanged) for
# SATCHEL_E2E_VM_IDLE seconds (default 300).
#
# Each run boots from a fresh qcow2 overlay on top of the cached disk.img (unless
# SATCHEL_E2E_VM_OVERLAY names one to keep), so runs never
# see each other's changes. After the run SHAREDIR holds what run.sh wrote, plus:
#   run.log      run.sh's stdout and stderr
#   exit-code    run.sh's exit status
#   console.log  the serial console (kernel, systemd, satchel-run)
# Exit status: run.sh's exit status; 124 on timeout; 1 when the guest never ran run.sh.
#
# Environment: SATCHEL_E2E_CACHE (as vmimage.sh), SATCHEL_E2E_VM_MEM (MiB, default 3072),
# SATCHEL_E2E_VM_CPUS (default 2), SATCHEL_E2E_VM_OVERLAY_DIR (default a temp dir),
# SATCHEL_E2E_VM_OVERLAY=FILE (boot from this qcow2 overlay instead of a fresh one: it is
# created on top of disk.img when missing and kept afterwards, so a second run boots the
# same guest again, e.g. to check what comes back after a reboot),
# SATCHEL_E2E_VM_CPU (qemu -cpu, default max; e.g. max,vmx=off,svm=off for a host without
# VT-x), SATCHEL_E2E_VM_ACCEL (default tcg).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
die() {
	printf 'vmrun: %s\n' "$1" >&2
	[ -n "${2:-}" ] && printf 'hint: %s\n' "$2" >&2
	exit 1
}

[ $# -ge 1 ] && [ $# -le 2 ] || die "usage: vmrun.sh SHAREDIR [TIMEOUT_SECONDS]"
SHARE=$(cd "$1" && pwd) || die "no such directory: $1"
TIMEOUT=${2:-900}
[ -f "$SHARE/run.sh" ] || die "$SHARE/run.sh is missing" "write the script the guest should run there"

env_out=$("$HERE/vmimage.sh" --env-only) || exit 1
eval "$env_out"
command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 missing" "run test/e2e/realbins.sh"

work=$(mktemp -d "${SATCHEL_E2E_VM_OVERLAY_DIR:-${TMPDIR:-/tmp}}/satchel-vm.XXXXXX")
trap 'rm -rf "$work"' EXIT
overlay=${SATCHEL_E2E_VM_OVERLAY:-$work/run.qcow2}
[ -f "$overlay" ] || qemu-img create -q -f qcow2 -F raw -b "$SATCHEL_E2E_VM_DISK" "$overlay"
rm -f "$SHARE/exit-code" "$SHARE/run.log" "$SHARE/console.log" "$SHARE/speed-factor" "$SHARE/heartbeat"

t0=$SECONDS
rc=0
qemu-system-x86_64 \
	-machine "q35,accel=${SATCHEL_E2E_VM_ACCEL:-tcg}" -cpu "${SATCHEL_E2E_VM_CPU:-max}" -smp "${SATCHEL_E2E_VM_CPUS:-2}" -m "${SATCHEL_E2E_VM_MEM:-3072}" \
	-nographic -no-reboot -nic none -monitor none -serial "file:$SHARE/console.log" \
	-kernel "$SATCHEL_E2E_VM_KERNEL" -initrd "$SATCHEL_E2E_VM_INITRD" \
	-append "root=/dev/vda rw console=ttyS0 panic=-1 systemd.show_status=1" \
	-drive "file=$overlay,format=qcow2,if=virtio" \
	-virtfs "local,path=$SHARE,mount_tag=share,security_model=none,id=share" \
	</dev/null >"$work/qemu.out" 2>&1 &
qpid=$!

# Watchdog: the limit is TIMEOUT scaled by the guest's measured speed factor; a guest
# that stops showing signs of life for IDLE seconds is given up on sooner.
IDLE=${SATCHEL_E2E_VM_IDLE:-300}
limit=$TIMEOUT last_sig="" last_change=$SECONDS why=""
while kill -0 "$qpid" 2>/dev/null; do
	sleep 5
	# (Files appear one by one: stat and sed fail until they do; errexit must not stop us.)
	sig=$(stat -c '%s.%Y' "$SHARE/console.log" "$SHARE/run.log" "$SHARE/heartbeat" 2>/dev/null | tr '\n' ' ' || true)
	[ "$sig" != "$last_sig" ] && { last_sig=$sig; last_change=$SECONDS; }
	f100=$(sed -n 's/^F100=\([0-9][0-9]*\)$/\1/p' "$SHARE/speed-factor" 2>/dev/null | tail -n 1 || true)
	if [ -n "$f100" ] && [ "$f100" -gt 100 ]; then
		new=$((TIMEOUT * f100 / 100))
		[ "$new" != "$limit" ] && echo "vmrun: guest speed factor $((f100 / 100)).$(printf '%02d' $((f100 % 100))): time limit ${TIMEOUT} s -> $new s" >&2
		limit=$new
	fi
	if [ $((SECONDS - t0)) -ge "$limit" ]; then
		why="guest did not power off within $limit s"
	elif [ $((SECONDS - last_change)) -ge "$IDLE" ]; then
		why="no sign of life from the guest (console, run.log, heartbeat) for $IDLE s"
	fi
	if [ -n "$why" ]; then
		kill "$qpid" 2>/dev/null || true
		sleep 10
		kill -9 "$qpid" 2>/dev/null || true
		break
	fi
done
wait "$qpid" || rc=$?
echo "vmrun: qemu exited $rc after $((SECONDS - t0)) s" >&2
if [ -n "$why" ]; then
	tail -n 20 "$SHARE/console.log" >&2 || true
	printf 'vmrun: %s\nhint: see %s/console.log and run.log\n' "$why" "$SHARE" >&2
	exit 124
fi
if [ "$rc" != 0 ]; then
	cat "$work/qemu.out" >&2
	die "qemu failed (exit $rc)" "see $SHARE/console.log"
fi
[ -f "$SHARE/exit-code" ] || { tail -n 30 "$SHARE/console.log" >&2; die "the guest never ran run.sh" "see $SHARE/console.log"; }
exit "$(cat "$SHARE/exit-code")"
