#!/usr/bin/env bash
# hardening.sh (make hardening): run every test named *Hardening* verbosely and show only
# what they claim, one line per class of attack ("hardening: <class> tried=N held=M"),
# then "hardening: all held" or a failure. A class where held != tried fails the target
# even if its test forgot to; so does any failing test. Zero such tests is not an error
# (it says so).
set -uo pipefail
GO=${GO:-go}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
"$GO" test -count=1 -run 'Hardening' -v ./... >"$out" 2>&1
rc=$?
# t.Logf lines look like "    file_test.go:42: hardening: class tried=3 held=3".
lines=$(grep -E 'hardening: ' "$out" | sed -E 's/^[[:space:]]*([[:alnum:]_]+\.go:[0-9]+: )?//' | awk '!seen[$0]++')
[ -n "$lines" ] && printf '%s\n' "$lines"
classes=$(grep -cE '^hardening: .*tried=[0-9]+' <<<"$lines")
weak=$(grep -E '^hardening: .*tried=[0-9]+' <<<"$lines" | awk '{
	t = h = ""
	for (i = 1; i <= NF; i++) {
		if ($i ~ /^tried=/) t = substr($i, 7)
		if ($i ~ /^held=/) h = substr($i, 6)
	}
	if (t != h) print
}')
tests=$(grep -cE '^=== RUN +Test[^/]*Hardening' "$out")
if [ $rc -ne 0 ] || [ -n "$weak" ]; then
	echo "hardening: FAILED (go test exit $rc)"
	[ -n "$weak" ] && printf 'hardening: not held: %s\n' "$weak"
	grep -E '^(--- FAIL|FAIL|panic:|.*_test\.go:[0-9]+: )' "$out" | grep -v 'hardening: ' | head -n 40
	exit 1
fi
if [ "$tests" -eq 0 ]; then
	echo "hardening: no TestHardening* tests yet: nothing to hold"
	exit 0
fi
echo "hardening: all held ($tests test(s), $classes class(es))"
