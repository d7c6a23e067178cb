package testenv

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestMain lets the test binary serve as a helper process: with
// TESTENV_HELPER set it runs one scenario and exits.
func TestMain(m *testing.M) {
	if h := os.Getenv("TESTENV_HELPER"); h != "" {
		os.Exit(helper(h))
	}
	os.Exit(m.Run())
}

// TestHelperSkipf is run only as a subprocess by TestSkipfFailsInCI.
func TestHelperSkipf(t *testing.T) {
	if os.Getenv("TESTENV_SKIPF") != "1" {
		t.Skip("run by TestSkipfFailsInCI") // by design: not a test on its own
	}
	Skipf(t, "needs a unicorn")
}

func TestSkipfFailsInCI(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		env  []string
		want string
	}{
		{[]string{"CI=", "SATCHEL_CI="}, "--- SKIP: TestHelperSkipf"},
		{[]string{"CI=true", "SATCHEL_CI="}, "--- FAIL: TestHelperSkipf"},
		{[]string{"CI=", "SATCHEL_CI=1"}, "--- FAIL: TestHelperSkipf"},
	} {
		cmd := exec.Command(exe, "-test.run=^TestHelperSkipf$", "-test.v")
		cmd.Env = append(append(os.Environ(), "TESTENV_SKIPF=1"), tc.env...)
		out, _ := cmd.CombinedOutput()
		if !strings.Contains(string(out), tc.want) || !strings.Contains(string(out), "needs a unicorn") {
			t.Errorf("%v: want %q:\n%s", tc.env, tc.want, out)
		}
	}
}

func TestLookBinary(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(dir+"/satchel-fake-tool", []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir+"/not-executable", nil, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SATCHEL_E2E_BIN", dir)
	if got := LookBinary("satchel-fake-tool"); got != dir+"/satchel-fake-tool" {
		t.Errorf("LookBinary = %q", got)
	}
	if got := LookBinary("not-executable"); got != "" {
		t.Errorf("LookBinary(not-executable) = %q", got)
	}
	if got := LookBinary("sh"); got == "" || strings.HasPrefix(got, dir) {
		t.Errorf("LookBinary(sh) = %q, want PATH's", got)
	}
	t.Setenv("SATCHEL_E2E_BIN", "")
	t.Setenv("SATCHEL_E2E_CACHE", dir+"/cache")
	if got := RealBinDir(); got != dir+"/cache/bin" {
		t.Errorf("RealBinDir = %q", got)
	}
}
