// Package testenv is how satchel's tests ask for what they need from the
// machine: root, a real binary, the real upstream binaries that
// test/e2e/realbins.sh builds, a kernel without some system calls.
//
// The rule it enforces: a test that lacks a prerequisite skips with the
// reason on a developer's machine, and FAILS in CI (CI=true, as .ci/run is
// run, or SATCHEL_CI=1), where everything is installed and a skip would let
// the suite go green without testing the claim. Skips that are right
// everywhere (a -short run, a platform the test is not about) use
// SkipShort or t.Skip directly, with a comment saying why.
package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// DefaultCache is where test/e2e/realbins.sh keeps its builds unless
// SATCHEL_E2E_CACHE says otherwise.
const DefaultCache = "/var/cache/satchel-e2e"

// CI reports whether the tests run in CI, where every prerequisite is
// installed and a missing one is a failure.
func CI() bool {
	v := os.Getenv("CI")
	return v == "true" || v == "1" || os.Getenv("SATCHEL_CI") == "1"
}

// Skipf skips the test with the reason, or fails it in CI: there the
// prerequisite must be present (.ci/run installs it).
func Skipf(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if CI() {
		t.Fatalf("CI must run this test, but: %s (CI=%q SATCHEL_CI=%q; .ci/run installs what tests need: test/e2e/realbins.sh)", msg, os.Getenv("CI"), os.Getenv("SATCHEL_CI"))
	}
	t.Skip(msg)
}

// SkipShort skips a slow test under `go test -short` (`make check`), in CI
// too: -short asks for the fast subset by design, and CI runs `make test`
// without it. what says what makes the test slow.
func SkipShort(t testing.TB, what string) {
	t.Helper()
	if testing.Short() {
		t.Skipf("%s: skipped with -short; `make test` runs it", what)
	}
}

// RequireRoot skips (fails in CI) unless the test runs as root.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		Skipf(t, "needs root")
	}
}

// Cache is the realbins cache directory.
func Cache() string {
	if c := os.Getenv("SATCHEL_E2E_CACHE"); c != "" {
		return c
	}
	return DefaultCache
}

// RealBinDir is where the real upstream binaries built by realbins.sh are:
// $SATCHEL_E2E_BIN, else the cache's bin/.
func RealBinDir() string {
	if d := os.Getenv("SATCHEL_E2E_BIN"); d != "" {
		return d
	}
	return filepath.Join(Cache(), "bin")
}

// LookBinary finds an executable named name on PATH, then among the real
// binaries (RealBinDir). It returns "" when there is none.
func LookBinary(name string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	return RealBin(name)
}

// RealBin returns the realbins build of name ("" when not built): the pinned
// upstream version, not whatever PATH has.
func RealBin(name string) string {
	p := filepath.Join(RealBinDir(), name)
	if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
		return p
	}
	return ""
}

// RequireBinary returns the path of name (PATH first, then the real
// binaries), or skips (fails in CI) saying where it looked.
func RequireBinary(t testing.TB, name string) string {
	t.Helper()
	p := LookBinary(name)
	if p == "" {
		Skipf(t, "needs %s on PATH or in %s (test/e2e/realbins.sh builds the real binaries)", name, RealBinDir())
	}
	return p
}

// RequireRealBin returns realbins' build of name, or skips (fails in CI).
// Use it where the pinned upstream version matters (cosign, containerd 2).
func RequireRealBin(t testing.TB, name string) string {
	t.Helper()
	p := RealBin(name)
	if p == "" {
		Skipf(t, "needs the real %s in %s: run test/e2e/realbins.sh (as root) to build it", name, RealBinDir())
	}
	return p
}
