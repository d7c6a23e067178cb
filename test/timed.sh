#!/usr/bin/env bash
# timed.sh NAME CMD [ARGS...]: run CMD, then print "timing: NAME N s (exit S)" and, when
# SATCHEL_TIMINGS names a file, append "NAME<TAB>N<TAB>S" to it (.ci/run prints the
# table at the end). The exit status is CMD's.
name=$1
shift
t0=$SECONDS
"$@"
rc=$?
t=$((SECONDS - t0))
echo "timing: $name $t s (exit $rc)"
[ -n "${SATCHEL_TIMINGS:-}" ] && printf '%s\t%s\t%s\n' "$name" "$t" "$rc" >>"$SATCHEL_TIMINGS"
exit $rc
