# buildkit.sh — `nerdctl build` offline with the bundle's BuildKit (issue 9; bash, sourced by
# run.sh after containerd from the tree is up). Uses run.sh's check/info/inr and rr_pid.
#
#   buildkit_checks ROOT    start buildkitd as buildkit.service would (its ExecStart: the
#                           installed config, the containerd worker), build an image from
#                           scratch with nerdctl (no registry: nothing to pull), run it,
#                           stop buildkitd

# shellcheck shell=bash
BK_PID=''

buildkit_stop() {
	[ -n "$BK_PID" ] || return 0
	kill "$BK_PID" 2>/dev/null
	wait "$BK_PID" 2>/dev/null
	BK_PID=''
}

buildkit_checks() {
	local R=$1 exec_start out ctx=/var/lib/e2e-buildkit-ctx i  # not /tmp: the tree has its own tmpfs there
	check "buildkit.service and buildkitd.toml written (containerd worker in \"default\")" 'namespace = "default"' \
		"$(cat "$R/etc/systemd/system/buildkit.service" >/dev/null && cat "$R/etc/buildkit/buildkitd.toml" 2>&1)"
	exec_start=$(sed -n 's/^ExecStart=//p' "$R/etc/systemd/system/buildkit.service" | tail -n 1)
	info "buildkit.service: ExecStart=$exec_start"
	# shellcheck disable=SC2206
	local cmd=($exec_start)
	PATH=$RR_PATH nsenter -t "$(rr_pid "$R")" -m -r -w -- "${cmd[@]}" >"$W/logs/buildkitd.log" 2>&1 &
	BK_PID=$!
	out=''
	for i in $(seq 1 120); do
		out=$(inr "$R" 10 buildctl --addr unix:///run/buildkit/buildkitd.sock debug workers -v 2>&1) && break
		kill -0 "$BK_PID" 2>/dev/null || break
		sleep 0.5
	done
	check "buildkitd starts from the tree with the installed config: the containerd worker ($((i / 2)) s)" "executor containerd" \
		"$(awk '/worker.executor:/ {print "executor", $2}' <<<"$out")${out:+ }$(head -c 200 <<<"$out")"
	if ! kill -0 "$BK_PID" 2>/dev/null; then
		tail -n 20 "$W/logs/buildkitd.log"
		BK_PID=''
		return
	fi
	# FROM scratch: nothing to resolve in a registry, so the build needs no network. The
	# static busybox makes the image runnable.
	mkdir -p "$R$ctx" && cp "$SATCHEL_E2E_BUSYBOX" "$R$ctx/busybox" &&
		printf 'FROM scratch\nCOPY busybox /bin/busybox\nCMD ["/bin/busybox", "echo", "built offline by satchel e2e"]\n' >"$R$ctx/Dockerfile"
	out=$(inr "$R" 300 nerdctl build -t e2e-built:1 "$ctx" 2>&1)
	echo "$out" >"$W/logs/nerdctl-build.log"
	check "nerdctl build (no -n, no registry): image e2e-built:1 in containerd's default namespace" "e2e-built" \
		"$(inr "$R" 30 nerdctl images --format '{{.Repository}}:{{.Tag}}' 2>&1 | grep e2e-built || tail -n 5 <<<"$out")"
	check "nerdctl run --rm --net none e2e-built:1 (the image just built, under runc)" "built offline by satchel e2e" \
		"$(inr "$R" 120 nerdctl run --rm --net none e2e-built:1 2>&1)"
	inr "$R" 60 nerdctl rmi -f e2e-built:1 >/dev/null 2>&1
	rm -rf "${R:?}$ctx"
	buildkit_stop
}
