#!/usr/bin/env bash
# fleet.sh — satchel's fleet end-to-end test (`make e2e-fleet`): Debian's ansible-core runs
# deploy/ansible/playbook.yml (role satchel) over real SSH against three hosts, each a
# separate root filesystem with its own sshd on its own loopback address (fleetlib.sh:
# this machine's /usr read-only, private /etc, /usr/local, /opt, /var, /root, /run, /tmp;
# new mount, UTS, IPC and PID namespaces; pivot_root). systemd is not PID 1 there, so
# apply installs as on a host without a running init: units enabled, images staged.
#
#   h1  127.0.0.11  os-release of Kylin V10 SP3    satchel-install + the bundle
#   h2  127.0.0.12  os-release of Kylin V10 SP3    the self-extracting .run
#   h3  127.0.0.13  os-release of Debian 12, with Debian's containerd package in its dpkg
#                   status: preflight reports package-conflict, an error (exit 4)
#
# The bundles are built here by the real satchel-bundle (keygen, lock, build, split
# --self-extracting) from an upstream-shaped mirror of labelled STAND-IN programs
# (mkmirror) and two stand-in images in Debian's docker-registry (sources.sh):
# satchel-fleet 2026.11.0 (sequence 1: containerd 2.4.2, runc 1.5.2, crictl 1.37.0) and
# 2026.12.0 (sequence 2: crictl 1.38.0).
#
# The runs, each checked:
#   badsha   a wrong sha256 for h2's file: h2 stops before anything is copied or run; the
#            playbook's default max_fail_percentage (25) then stops the roll-out; no
#            host tree changed
#   apply    h1 and h2 converge (installed files, enabled unit, staged images, facts),
#            h3 stops at preflight with its findings; the fleet summary
#   again    changed=0 on every host; h1 and h2 trees unchanged
#   drift    an operator upgrades h1 to sequence 2 by hand (satchel-install over ssh)
#   check    --check with sequence 2: h1 up to date, h2 would change (what, listed), h3
#            fails preflight; no host tree changed (hashes); the summary shows h1 on
#            sequence 2 and h2 on sequence 1
#
# Prints PASS/FAIL per check and "N passed, M failed"; exit status 1 on any failure.
# Needs root (namespaces, pivot_root). Without root it prints a skip message and exits 0,
# unless CI=true (exit 1). SATCHEL_E2E_KEEP=1 keeps the work directory;
# SATCHEL_E2E_SATCHEL_BIN=DIR takes the satchel binaries from DIR instead of bin/.
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
T0=$SECONDS

# The role's filters first: plain Python, no root needed.
if ! out=$(cd "$REPO/deploy/ansible/roles/satchel" && PYTHONDONTWRITEBYTECODE=1 /usr/bin/python3 -m unittest discover -s tests 2>&1); then
	printf '%s\n' "$out"
	echo "FAIL role satchel: filter tests (python3 -m unittest discover -s tests)"
	exit 1
fi
FILTER_TESTS=$(grep -o 'Ran [0-9]* tests' <<<"$out")

skip_or_fail() {
	if [ "${CI:-}" = true ]; then
		echo "e2e-fleet: FAIL: $1, and CI=true" >&2
		exit 1
	fi
	echo "e2e-fleet: SKIP: $1"
	exit 0
}
[ "$(id -u)" = 0 ] || skip_or_fail "needs root (mount and PID namespaces, pivot_root); run as root: sudo make e2e-fleet"
for c in ansible-playbook /usr/sbin/sshd ssh ssh-keygen unshare nsenter docker-registry skopeo umoci gcc jq go; do
	command -v "$c" >/dev/null || skip_or_fail "$c is missing (test/e2e/realbins.sh installs the Debian packages)"
done

# shellcheck source=lib.sh
. "$HERE/lib.sh"
# shellcheck source=sources.sh
. "$HERE/sources.sh"
# shellcheck source=fleetlib.sh
. "$HERE/fleetlib.sh"

W=$(mktemp -d /tmp/satchel-fleet.XXXXXX)
HOSTS=(h1 h2 h3)
declare -A ADDR=([h1]=127.0.0.11 [h2]=127.0.0.12 [h3]=127.0.0.13)
PASS=0 FAILN=0 FAILED=()

# pids_naming STR: processes (not this shell) whose command line contains STR.
pids_naming() {
	local p
	for p in /proc/[0-9]*; do
		[ "${p#/proc/}" = $$ ] && continue
		{ tr '\0' ' ' <"$p/cmdline"; } 2>/dev/null | grep -qF "$1" && printf '%s ' "${p#/proc/}"
	done
	return 0
}

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	local h
	for h in "${HOSTS[@]}"; do fh_stop "$W/hosts/$h"; done
	src_stop
	# ssh's connection multiplexers (ControlPersist) end when their host's sshd is gone;
	# anything else of this run still alive is named by its work directory.
	local left
	for _ in 1 2 3 4 5 6 7 8 9 10; do
		left=$(pids_naming "$W")
		[ -z "$left" ] && break
		sleep 0.3
	done
	# shellcheck disable=SC2086
	[ -n "$left" ] && { echo "e2e-fleet: killing leftover processes $left" >&2; kill -KILL $left 2>/dev/null; }
	if [ "${SATCHEL_E2E_KEEP:-}" = 1 ]; then
		echo "e2e-fleet: kept $W" >&2
	else
		rm -rf "$W"
	fi
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# say, info, pass, fail, check: lib.sh
# check_eq NAME WANT GOT
check_eq() {
	if [ "$2" = "$3" ]; then pass "$1: $3"; else fail "$1: want $2, got ${3:-<nothing>}"; fi
}
die() {
	fail "$1"
	echo "e2e-fleet: $PASS passed, $FAILN failed (stopped early)"
	exit 1
}

pass "role satchel: filter tests against real satchel-install reports ($FILTER_TESTS)"

# ---------------------------------------------------------------------------------------
say "sources: stand-in mirror, registry, two signed bundles and a .run"
t=$SECONDS
src_init "$W" || die "setup: satchel binaries and mkmirror"
for seq in 1 2; do
	ver=2026.11.0 crictl=1.37.0
	[ $seq = 2 ] && ver=2026.12.0 crictl=1.38.0
	cat >"$W/fleet$seq.yaml" <<EOF
# satchel fleet e2e: STAND-IN programs (labelled shell scripts from mkmirror) in real
# upstream archive layouts; built, signed and installed by the real satchel tools.
apiVersion: satchel/v1
kind: Bundle
metadata:
  name: satchel-fleet
  version: $ver
  sequence: $seq
spec:
  platforms: [linux/amd64]
  components:
    - {name: containerd, version: 2.4.2, variant: static}
    - {name: runc, version: 1.5.2}
    - {name: crictl, version: $crictl}
  images:
    - ref: docker.io/library/nginx:1.27.4
    - ref: registry.k8s.io/pause:3.10
      role: sandbox
EOF
	"$SRC_MK" gen -f "$W/fleet$seq.yaml" -dir "$W/mirror" >"$W/logs/mirror-$seq.log" 2>&1 ||
		{ cat "$W/logs/mirror-$seq.log"; die "setup: mkmirror gen fleet$seq.yaml"; }
done
"$SRC_MK" serve -dir "$W/mirror" -addr-file "$W/mirror.addr" >"$W/logs/mirror-serve.log" 2>&1 &
SRC_PIDS+=($!)
for _ in $(seq 1 100); do [ -s "$W/mirror.addr" ] && break; sleep 0.1; done
SRC_BASE=$(cat "$W/mirror.addr" 2>/dev/null) || die "setup: the mirror server did not start"
SRC_FLAGS+=(--mirror "https://github.com=$SRC_BASE/github.com")
src_registry || die "setup: docker-registry with the stand-in images"
src_bundle fleet1 || die "satchel-bundle lock/build fleet1"
src_bundle fleet2 || die "satchel-bundle lock/build fleet2"
src_stop
"$SATCHEL_BUNDLE" split "$W/fleet1.satchel" --self-extracting "$SATCHEL_INSTALL" >"$W/logs/split.log" 2>&1 ||
	{ cat "$W/logs/split.log"; die "satchel-bundle split --self-extracting"; }
[ -x "$W/fleet1.run" ] || die "satchel-bundle split wrote $W/fleet1.run"
sha() { sha256sum "$1" | cut -c1-64; }
info "bundles: $(ls -l "$W"/fleet*.satchel "$W"/fleet1.run | awk '{printf "%s %s B; ", $NF, $5}')sources in $((SECONDS - t)) s"

# ---------------------------------------------------------------------------------------
say "hosts: three root filesystems, each with its own sshd on a loopback address"
t=$SECONDS
mkdir -p "$W/ssh" "$W/hosts" "$W/ansible/cp" "$W/ansible/tmp"
ssh-keygen -q -t ed25519 -N '' -C "satchel fleet e2e" -f "$W/ssh/id_ed25519" || die "ssh-keygen"
PORT=$("$SRC_MK" freeport) || die "a free port"
cp "$REPO/install/host/testdata/os-release/kylin-v10-sp3" "$W/os-release-kylin"
printf 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\nVERSION="12 (bookworm)"\nID=debian\n' >"$W/os-release-debian"
: >"$W/ssh/known_hosts"
for h in "${HOSTS[@]}"; do
	osr=$W/os-release-kylin
	[ $h = h3 ] && osr=$W/os-release-debian
	fh_make "$W/hosts/$h" $h "$osr" "$W/ssh/id_ed25519.pub" || die "host $h: tree"
	fh_start "$W/hosts/$h" $h "${ADDR[$h]}" "$PORT" || die "host $h: sshd on ${ADDR[$h]}:$PORT"
	fh_known_host "$W/hosts/$h" "${ADDR[$h]}" "$PORT" >>"$W/ssh/known_hosts"
done
# h3: Debian's containerd package, as dpkg records it (a real stanza's fields).
mkdir -p "$W/hosts/h3/root/var/lib/dpkg"
cat >"$W/hosts/h3/root/var/lib/dpkg/status" <<'EOF'
Package: containerd
Status: install ok installed
Priority: optional
Section: admin
Installed-Size: 98393
Maintainer: Debian Go Packaging Team <team+pkg-go@tracker.debian.org>
Architecture: amd64
Version: 1.6.20~ds1-1+deb12u3
Description: open and reliable container runtime

EOF
for h in "${HOSTS[@]}"; do
	got=$(ssh -i "$W/ssh/id_ed25519" -o IdentitiesOnly=yes -o UserKnownHostsFile="$W/ssh/known_hosts" \
		-o StrictHostKeyChecking=yes -o BatchMode=yes -p "$PORT" "root@${ADDR[$h]}" \
		'echo "$(hostname) $(. /etc/os-release; echo $ID) pid1=$(cat /proc/1/comm) $(ls /usr/local/bin | wc -l) local bins"' 2>&1)
	check "ssh root@${ADDR[$h]}:$PORT reaches host $h (own UTS, PID namespace, os-release, /usr/local)" "$h " "$got"
done
info "hosts up in $((SECONDS - t)) s"

# The test inventory: keys generated for this run; the hosts' keys pinned in known_hosts.
cat >"$W/inventory.yml" <<EOF
# satchel fleet e2e inventory (generated by test/e2e/fleet.sh)
satchel:
  hosts:
    h1: {ansible_host: ${ADDR[h1]}}
    h2:
      ansible_host: ${ADDR[h2]}
      # the self-extracting file instead of installer + bundle
      satchel_run: $W/fleet1.run
      satchel_run_sha256: $(sha "$W/fleet1.run")
      satchel_installer: ""
      satchel_bundle: ""
    h3: {ansible_host: ${ADDR[h3]}}
  vars:
    ansible_port: $PORT
    ansible_user: root
    ansible_python_interpreter: /usr/bin/python3
    ansible_ssh_private_key_file: $W/ssh/id_ed25519
    ansible_ssh_common_args: -o UserKnownHostsFile=$W/ssh/known_hosts -o StrictHostKeyChecking=yes -o IdentitiesOnly=yes
    # Ansible's own scratch goes to the host's tmpfs, out of the trees this test hashes.
    ansible_remote_tmp: /tmp/.ansible-tmp
    satchel_installer: $SATCHEL_INSTALL
    satchel_installer_sha256: $(sha "$SATCHEL_INSTALL")
    satchel_bundle: $W/fleet1.satchel
    satchel_bundle_sha256: $(sha "$W/fleet1.satchel")
    satchel_key: $SRC_PUB
    # No init system starts containerd on these hosts and the programs are stand-ins:
    # doctor runs and reports (its checks are in the facts), it cannot pass here.
    satchel_doctor_must_pass: false
EOF
cat >"$W/seq2.json" <<EOF
{"satchel_run": "", "satchel_installer": "$SATCHEL_INSTALL", "satchel_installer_sha256": "$(sha "$SATCHEL_INSTALL")",
 "satchel_bundle": "$W/fleet2.satchel", "satchel_bundle_sha256": "$(sha "$W/fleet2.satchel")"}
EOF
printf 'all:\n  hosts:\n    h2:\n      satchel_run_sha256: "%s"\n' "$(printf '0%.0s' $(seq 64))" >"$W/badsha.yml"

export ANSIBLE_CONFIG=$REPO/deploy/ansible/ansible.cfg ANSIBLE_HOME=$W/ansible \
	ANSIBLE_LOCAL_TEMP=$W/ansible/tmp ANSIBLE_SSH_CONTROL_PATH_DIR=$W/ansible/cp \
	ANSIBLE_NOCOLOR=1 ANSIBLE_FORCE_COLOR=0 ANSIBLE_RETRY_FILES_ENABLED=0 PYTHONDONTWRITEBYTECODE=1
RC=0
# play NAME ARGS...: ansible-playbook playbook.yml with the test inventory; log, summary
# JSON and exit status (RC) of the run NAME.
play() {
	local name=$1 t=$SECONDS
	shift
	(cd "$REPO/deploy/ansible" && ansible-playbook -i "$W/inventory.yml" playbook.yml \
		-e "satchel_summary_file=$W/summary-$name.json" "$@") >"$W/logs/$name.log" 2>&1
	RC=$?
	info "ansible-playbook ($name) $*: exit $RC in $((SECONDS - t)) s; log $W/logs/$name.log"
	recap "$name" | sed 's/^/     /'
}
# recap NAME [HOST]: the PLAY RECAP lines of run NAME (of HOST)
recap() { awk -v h="${2:-}" '/^PLAY RECAP/ {r = 1; next} r && NF && (h == "" || $1 == h)' "$W/logs/$1.log"; }
# counter NAME HOST FIELD: e.g. counter apply h1 changed
counter() { recap "$1" "$2" | grep -o "$3=[0-9]*" | cut -d= -f2; }
# report NAME HOST JQ: a field of HOST's row in run NAME's fleet summary
report() { jq -r --arg h "$2" ".hosts[] | select(.host == \$h) | $3" "$W/summary-$1.json" 2>/dev/null; }
# task_status NAME TASK HOST: ok, changed, skipping, fatal... of HOST in the first task of
# run NAME whose title starts with TASK
task_status() {
	awk -v t="TASK [satchel : $2" -v h="[$3]" 'index($0, t) == 1 {in_t = 1; next}
		/^TASK / {if (in_t) exit} in_t && index($0, h) {sub(/:.*/, ""); print; exit}' "$W/logs/$1.log"
}
summary_lines() { jq -r '.lines[]' "$W/summary-$1.json" 2>/dev/null | sed 's/^/     | /'; }
hashes() { local h; for h in "${HOSTS[@]}"; do printf '%s=%s ' $h "$(fh_hash "$W/hosts/$h")"; done; }
tree() { echo "$W/hosts/$1/root$2"; }
local_bin() { echo "$W/hosts/$1/usr-local/bin/$2"; }

# ---------------------------------------------------------------------------------------
say "badsha: a wrong sha256 for h2's .run; default max_fail_percentage (25)"
before=$(hashes)
play badsha -i "$W/badsha.yml"
check "ansible-playbook fails" "exit≠0" "exit$([ $RC != 0 ] && echo '≠0' || echo "=$RC")"
check "h2 stops at the sha256 check on the controller" "sha256 is $(sha "$W/fleet1.run"), expected 0000" \
	"$(grep '^fatal: \[h2\]' "$W/logs/badsha.log")"
check "the roll-out stops (1 of 3 failed > 25%): no host got past the check" "NO MORE HOSTS LEFT" "$(grep -o 'NO MORE HOSTS LEFT' "$W/logs/badsha.log")"
check_eq "nothing was copied or run: every host tree unchanged" "$before" "$(hashes)"
check_eq "no stage directory on any host" "" "$(ls -d "$W"/hosts/*/root/var/cache/satchel-ansible 2>/dev/null)"

# ---------------------------------------------------------------------------------------
say "apply: h1 (installer + bundle) and h2 (.run) converge, h3 fails preflight"
play apply -e satchel_max_fail_percentage=34
check_eq "ansible-playbook exit status 2 (a host failed)" 2 "$RC"
for h in h1 h2; do
	check_eq "$h: failed=0" 0 "$(counter apply $h failed)"
	c=$(counter apply $h changed)
	[ "${c:-0}" -gt 0 ] && pass "$h: changed=$c" || fail "$h: changed=${c:-?}, want > 0"
	check_eq "$h: outcome (summary)" changed "$(report apply $h .outcome)"
	check_eq "$h: runs satchel-fleet sequence 1 (status --json)" "satchel-fleet 2026.11.0 1" \
		"$(report apply $h '.installed | "\(.name) \(.version) \(.sequence)"')"
	check_eq "$h: versions installed (fact)" "containerd=2.4.2 crictl=1.37.0 runc=1.5.2" \
		"$(report apply $h '.versions | to_entries | map("\(.key)=\(.value)") | sort | join(" ")')"
	got=$(ls "$W/hosts/$h/usr-local/bin" | tr '\n' ' ')
	for f in containerd ctr crictl runc satchel-install; do check "$h: installed /usr/local/bin/$f (its own /usr/local)" " $f " " $got"; done
	check "$h: unit enabled offline" "containerd.service" "$(ls "$(tree $h /etc/systemd/system/multi-user.target.wants)" 2>&1)"
	check "$h: images staged for first start" "staged.json" "$(ls "$(tree $h /var/lib/satchel/images)" 2>&1 | tr '\n' ' ')"
	check "$h: doctor ran on the host (installed ok; ctr fails: stand-in, no containerd running)" "ctr version: " \
		"$(report apply $h '"passed=\(.doctor.passed) failed: " + (.doctor.failed | join("; "))')"
done
check_eq "h1 and h2 hold the same state.json bundle digest" \
	"$(jq -r .bundle.indexDigest "$(tree h1 /var/lib/satchel/state.json)")" "$(jq -r .bundle.indexDigest "$(tree h2 /var/lib/satchel/state.json)")"
check_eq "h3: failed=1" 1 "$(counter apply h3 failed)"
check "h3: stops at preflight, exit 4, with its finding and remedy" "preflight exited 4 (preflight failed): package-conflict (containerd): packaged containerd installed: containerd 1.6.20~ds1-1+deb12u3 (dpkg)" \
	"$(grep '^fatal: \[h3\]' "$W/logs/apply.log")"
check_eq "h3: outcome (summary)" preflight-failed "$(report apply h3 .outcome)"
check "h3: findings recorded (fact satchel_findings via the report)" "remedy: remove it: apt-get remove containerd" "$(report apply h3 '.errors[0]')"
check_eq "h3: nothing installed (no state, no /usr/local/bin files)" "0 none" \
	"$(ls "$W/hosts/h3/usr-local/bin" | wc -l) $([ -e "$(tree h3 /var/lib/satchel)" ] && echo state || echo none)"
check "the fleet summary is printed" "satchel-fleet 2026.11.0 (sequence 1)" "$(grep -A12 'TASK \[satchel : Fleet summary\]' "$W/logs/apply.log")"
summary_lines apply

# ---------------------------------------------------------------------------------------
say "again: the same run changes nothing"
before=$(hashes)
play again -e satchel_max_fail_percentage=34
for h in "${HOSTS[@]}"; do check_eq "$h: changed=0" 0 "$(counter again $h changed)"; done
for h in h1 h2; do check_eq "$h: outcome" unchanged "$(report again $h .outcome)"; done
check_eq "h3: still fails preflight" preflight-failed "$(report again h3 .outcome)"
check_eq "every host tree unchanged" "$before" "$(hashes)"

# ---------------------------------------------------------------------------------------
say "drift: an operator upgrades h1 by hand to sequence 2 (satchel-install over ssh)"
sshh() { local h=$1; shift; ssh -i "$W/ssh/id_ed25519" -o IdentitiesOnly=yes -o UserKnownHostsFile="$W/ssh/known_hosts" \
	-o StrictHostKeyChecking=yes -o BatchMode=yes -p "$PORT" "root@${ADDR[$h]}" "$@"; }
scp -q -i "$W/ssh/id_ed25519" -o IdentitiesOnly=yes -o UserKnownHostsFile="$W/ssh/known_hosts" -o BatchMode=yes \
	-P "$PORT" "$W/fleet2.satchel" "root@${ADDR[h1]}:/root/fleet2.satchel" || die "scp fleet2.satchel to h1"
out=$(sshh h1 /var/cache/satchel-ansible/satchel-install apply /root/fleet2.satchel --key /var/cache/satchel-ansible/satchel.pub 2>&1)
check "h1: satchel-install apply sequence 2 by hand" "Installed satchel-fleet 2026.12.0 (sequence 2)" "$out"
sshh h1 rm /root/fleet2.satchel

# ---------------------------------------------------------------------------------------
say "check: --check with sequence 2 on every host"
before=$(hashes)
play check --check -e satchel_max_fail_percentage=34 -e "@$W/seq2.json"
check_eq "ansible-playbook exit status 2 (h3 failed)" 2 "$RC"
check_eq "h1: up to date (apply --check exit 0)" "up-to-date ok" "$(report check h1 .outcome) $(task_status check 'What apply would change' h1)"
check_eq "h1: what check mode would do there: stage fleet2.satchel, remove fleet1.satchel" "changed changed" \
	"$(task_status check 'Copy what is missing' h1) $(task_status check 'Remove them' h1)"
c=$(counter check h2 changed)
check_eq "h2: would change (apply --check exit 5)" would-change "$(report check h2 .outcome)"
[ "${c:-0}" -gt 0 ] && pass "h2: changed=$c in check mode (would change)" || fail "h2: changed=${c:-?} in check mode, want > 0"
check "h2: what would change is listed" "replace file /usr/local/bin/crictl" "$(report check h2 '.actions | join("; ")')"
check_eq "h3: fails preflight in check mode too" preflight-failed "$(report check h3 .outcome)"
check_eq "check mode changed nothing: every host tree unchanged" "$before" "$(hashes)"
for h in "${HOSTS[@]}"; do
	check_eq "$h: check mode's temporary copy is gone from its /tmp" "" "$(fh_exec "$W/hosts/$h" find /tmp -maxdepth 1 -name 'satchel-check.*' 2>&1)"
done
check "the summary shows the drift: h1 on sequence 2, h2 on sequence 1" \
	"satchel-fleet sequence 1: h2 satchel-fleet sequence 2: h1" "$(jq -r '.bundles | to_entries | map("\(.key): \(.value | join(", "))") | join(" ")' "$W/summary-check.json")"
summary_lines check

# ---------------------------------------------------------------------------------------
say "cleanup"
for h in "${HOSTS[@]}"; do fh_stop "$W/hosts/$h"; done
check_eq "no host process left" "" "$(pids_naming "$W/hosts")"
check_eq "no mount of the hosts visible here" 0 "$(grep -c "$W" /proc/self/mountinfo)"
info "time: total $((SECONDS - T0)) s"
echo
[ "$FAILN" -gt 0 ] && echo "failed: $(printf '%s; ' "${FAILED[@]}")"
echo "e2e-fleet: $PASS passed, $FAILN failed"
[ "$FAILN" = 0 ]
