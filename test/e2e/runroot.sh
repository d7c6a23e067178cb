#!/usr/bin/env bash
# runroot.sh — run containerd from an installed --root tree for real, run one command
# against it, stop everything again. Built on lib.sh (rr_start / rr_exec / rr_stop).
#
# Usage:
#   test/e2e/runroot.sh ROOTDIR -- CMD...          CMD runs inside the tree (its mount
#                                                  namespace and root): `-- ctr version`
#   test/e2e/runroot.sh ROOTDIR --host -- CMD...   CMD runs on the host, with
#                                                  SATCHEL_RR_PID (containerd's pid),
#                                                  SATCHEL_RR_SOCK (its socket, via /proc) and
#                                                  SATCHEL_RR_ROOT exported
#   test/e2e/runroot.sh ROOTDIR --keep -- CMD...   leave containerd running afterwards
#                                                  (stop it later: `. lib.sh; rr_stop ROOTDIR`)
# Exit status: CMD's. The test-only knobs RR_RUNSC_SHIM, RR_CONFIG_OVERRIDE, RR_CONFIG
# and RR_STATE_DIR are described in lib.sh.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"

usage() { echo "usage: runroot.sh ROOTDIR [--host] [--keep] -- CMD..." >&2; exit 2; }
[ $# -ge 3 ] || usage
root=$1
shift
host='' keep=''
while [ $# -gt 0 ] && [ "$1" != -- ]; do
	case "$1" in
	--host) host=1 ;;
	--keep) keep=1 ;;
	*) usage ;;
	esac
	shift
done
[ "${1:-}" = -- ] && [ $# -ge 2 ] || usage
shift
[ "$(id -u)" = 0 ] || { echo "runroot: needs root (mount namespaces)" >&2; exit 1; }

rr_start "$root"
[ -n "$keep" ] || trap 'rr_stop "$root"' EXIT
rc=0
if [ -n "$host" ]; then
	SATCHEL_RR_ROOT=$(cd "$root" && pwd -P) SATCHEL_RR_PID=$(rr_pid "$root") SATCHEL_RR_SOCK=$(rr_socket "$root") \
		"$@" || rc=$?
else
	rr_exec "$root" "$@" || rc=$?
fi
exit $rc
