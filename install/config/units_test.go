package config

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/satchel-dev/satchel/internal/testenv"
)

// unit is a parsed systemd unit: section -> directive -> values in order.
type unit map[string]map[string][]string

func parseUnit(t *testing.T, b []byte) unit {
	t.Helper()
	u := unit{}
	var sec string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
		case line[0] == '[' && line[len(line)-1] == ']':
			sec = line[1 : len(line)-1]
			u[sec] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || sec == "" {
				t.Fatalf("line %d: %q is not a directive in a section", n, line)
			}
			u[sec][k] = append(u[sec][k], v)
		}
	}
	return u
}

func (u unit) get(t *testing.T, sec, key string) string {
	t.Helper()
	v := u[sec][key]
	if len(v) != 1 {
		t.Fatalf("[%s] %s: %q, want one value", sec, key, v)
	}
	return v[0]
}

// since239 lists each directive the units use with the systemd release that
// introduced it (systemd NEWS; StartLimitIntervalSec moved to [Unit] in 229,
// TasksMax came with 227). Kylin V10 runs systemd 239, so a directive
// missing here, or newer, fails the test until someone checks it.
var since239 = map[string]int{
	"Unit.Description": 1, "Unit.Documentation": 1, "Unit.After": 1, "Unit.Before": 1,
	"Unit.Wants": 1, "Unit.Requires": 1, "Unit.ConditionPathExists": 1,
	"Unit.StartLimitIntervalSec": 229, "Unit.StartLimitBurst": 229,
	"Service.Type": 1, "Service.ExecStart": 1, "Service.ExecStartPre": 1, "Service.ExecReload": 1,
	"Service.Restart": 1, "Service.RestartSec": 1, "Service.TimeoutStartSec": 188,
	"Service.RemainAfterExit": 1, "Service.KillMode": 1, "Service.Delegate": 218,
	"Service.LimitNPROC": 1, "Service.LimitCORE": 1, "Service.LimitNOFILE": 1,
	"Service.TasksMax": 227, "Service.OOMScoreAdjust": 1,
	"Install.WantedBy": 1,
}

func checkDirectives(t *testing.T, name string, u unit) {
	t.Helper()
	for sec, ds := range u {
		for d := range ds {
			v, ok := since239[sec+"."+d]
			if !ok || v > 239 {
				t.Errorf("%s: [%s] %s is not known to work on systemd 239", name, sec, d)
			}
		}
	}
}

func TestContainerdUnit(t *testing.T) {
	b := ContainerdUnit(UnitOptions{})
	u := parseUnit(t, b)
	checkDirectives(t, "containerd.service", u)
	for k, want := range map[string]string{
		"ExecStartPre":   "-/sbin/modprobe overlay",
		"ExecStart":      "/usr/local/bin/containerd",
		"Type":           "notify",
		"Delegate":       "yes",
		"KillMode":       "process",
		"Restart":        "always",
		"TasksMax":       "infinity",
		"OOMScoreAdjust": "-999",
		"LimitNOFILE":    "1024:524288",
	} {
		if got := u.get(t, "Service", k); got != want {
			t.Errorf("%s=%s, want %s", k, got, want)
		}
	}
	if got := u.get(t, "Install", "WantedBy"); got != "multi-user.target" {
		t.Errorf("WantedBy=%s", got)
	}
	if !bytes.Equal(b, ContainerdUnit(UnitOptions{})) {
		t.Error("rendering is not deterministic")
	}
}

func TestDockerUnit(t *testing.T) {
	u := parseUnit(t, DockerUnit(UnitOptions{BinDir: "/opt/bin"}))
	checkDirectives(t, "docker.service", u)
	if got := u.get(t, "Service", "ExecStart"); got != "/opt/bin/dockerd --containerd=/run/containerd/containerd.sock" {
		t.Errorf("ExecStart=%s", got)
	}
	for _, k := range []string{"After", "Requires"} {
		if !strings.Contains(u.get(t, "Unit", k), "containerd.service") {
			t.Errorf("%s does not name containerd.service", k)
		}
	}
	if strings.Contains(u.get(t, "Service", "ExecStart"), "-H") {
		t.Error("-H given: it conflicts with \"hosts\" in a user's daemon.json")
	}
}

func TestBuildKitUnit(t *testing.T) {
	u := parseUnit(t, BuildKitUnit(UnitOptions{BinDir: "/opt/bin"}))
	checkDirectives(t, "buildkit.service", u)
	if got := u.get(t, "Service", "ExecStart"); got != "/opt/bin/buildkitd --addr unix:///run/buildkit/buildkitd.sock --config /etc/buildkit/buildkitd.toml" {
		t.Errorf("ExecStart=%s", got)
	}
	for _, k := range []string{"After", "Requires"} {
		if !strings.Contains(u.get(t, "Unit", k), "containerd.service") {
			t.Errorf("%s does not name containerd.service", k)
		}
	}
	if b, err := ServiceUnit("buildkit.service", UnitOptions{}); err != nil || !bytes.Equal(b, BuildKitUnit(UnitOptions{})) {
		t.Errorf("ServiceUnit(buildkit.service): %v", err)
	}
}

func TestImagesUnit(t *testing.T) {
	cmd := Quote("/usr/local/bin/satchel-install", "images", "import", "/var/lib/satchel/images")
	b, err := ImagesUnit(ImagesUnitOptions{ExecStart: cmd, StagingDir: "/var/lib/satchel/images"})
	if err != nil {
		t.Fatal(err)
	}
	u := parseUnit(t, b)
	checkDirectives(t, ImagesUnitName, u)
	if got := u.get(t, "Service", "Type"); got != "oneshot" {
		t.Errorf("Type=%s", got)
	}
	if got := u.get(t, "Service", "ExecStart"); got != cmd {
		t.Errorf("ExecStart=%s", got)
	}
	// After docker (so the import can also docker-load), before kubelet.
	if got := strings.Fields(u.get(t, "Unit", "After")); !slices.Contains(got, "containerd.service") || !slices.Contains(got, "docker.service") {
		t.Errorf("After=%s", got)
	}
	if got := strings.Fields(u.get(t, "Unit", "Before")); slices.Contains(got, "docker.service") || !slices.Contains(got, "kubelet.service") {
		t.Errorf("Before=%s", got)
	}
	if got := u.get(t, "Unit", "ConditionPathExists"); got != "/var/lib/satchel/images" {
		t.Errorf("ConditionPathExists=%s", got)
	}
	for _, o := range []ImagesUnitOptions{{}, {ExecStart: "x"}, {ExecStart: "x\nExecStart=y", StagingDir: "/d"}} {
		if _, err := ImagesUnit(o); err == nil {
			t.Errorf("%+v: no error", o)
		}
	}
}

func TestQuote(t *testing.T) {
	for in, want := range map[string]string{
		"/usr/bin/x":        "/usr/bin/x",
		"/var/lib/my dir":   `"/var/lib/my dir"`,
		`a"b`:               `"a\"b"`,
		"100%":              "100%%",
		"$HOME":             "$$HOME",
		`back\slash`:        `"back\\slash"`,
		"":                  `""`,
		"semi;colon":        `"semi;colon"`,
		"--flag=with space": `"--flag=with space"`,
	} {
		if got := Quote(in); got != want {
			t.Errorf("Quote(%q) = %s, want %s", in, got, want)
		}
	}
}

// TestUnitsSystemdAnalyze has systemd parse the units, when it is installed:
// unknown directives and bad values show up as warnings there.
func TestUnitsSystemdAnalyze(t *testing.T) {
	sa := testenv.RequireBinary(t, "systemd-analyze") // systemd
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	if err := os.Mkdir(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	// verify checks that ExecStart binaries exist and are executable.
	for _, b := range []string{"containerd", "dockerd", "buildkitd", "satchel-install"} {
		if err := os.WriteFile(filepath.Join(bin, b), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	o := UnitOptions{BinDir: bin}
	images, err := ImagesUnit(ImagesUnitOptions{ExecStart: Quote(filepath.Join(bin, "satchel-install"), "images", "import"), StagingDir: "/var/lib/satchel/images"})
	if err != nil {
		t.Fatal(err)
	}
	var args []string
	for name, b := range map[string][]byte{"containerd.service": ContainerdUnit(o), "docker.service": DockerUnit(o), "buildkit.service": BuildKitUnit(o), ImagesUnitName: images} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		args = append(args, p)
	}
	out, err := exec.Command(sa, append([]string{"verify"}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
	for _, bad := range []string{"Unknown", "Invalid", "Failed", "ignoring"} {
		if bytes.Contains(out, []byte(bad)) {
			t.Errorf("systemd-analyze verify complains:\n%s", out)
			break
		}
	}
}
