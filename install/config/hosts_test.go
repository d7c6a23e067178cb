package config

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
)

func TestParseRegistryMirror(t *testing.T) {
	for in, want := range map[string]struct {
		key      string
		override bool
	}{
		"docker.io=harbor.internal/dockerhub":           {"https://harbor.internal/v2/dockerhub", true},
		"docker.io=https://mirror.example":              {"https://mirror.example", false},
		"docker.io=https://mirror.example/":             {"https://mirror.example", false},
		"reg.example:5000=http://10.0.0.5:5000":         {"http://10.0.0.5:5000", false},
		"quay.io=https://m.example/v2/quay":             {"https://m.example/v2/quay", true},
		"quay.io=https://m.example/custom/v2":           {"https://m.example/custom/v2", false},
		"_default=nexus.internal:8443/repository/proxy": {"https://nexus.internal:8443/v2/repository/proxy", true},
	} {
		m, err := ParseRegistryMirror(in)
		if err != nil {
			t.Errorf("%s: %v", in, err)
			continue
		}
		key, override, err := m.hostKey()
		if err != nil || key != want.key || override != want.override {
			t.Errorf("%s: host %q override %v (%v), want %q %v", in, key, override, err, want.key, want.override)
		}
	}
	for _, in := range []string{"docker.io", "=m", "docker.io=", "docker.io=ftp://m", "docker.io=https://", "a/b=m.example", "docker.io=https://m?x=1"} {
		if _, err := ParseRegistryMirror(in); err == nil {
			t.Errorf("%q: no error", in)
		}
	}
}

func TestHostsTOMLFresh(t *testing.T) {
	b, err := HostsTOML([]RegistryMirror{
		{Registry: "docker.io", Endpoint: "harbor.internal/dockerhub"},
		{Registry: "docker.io", Endpoint: "https://10.0.0.9", SkipVerify: true},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	got := mustTOML(t, b)
	want := map[string]any{
		"server": "https://registry-1.docker.io",
		"host": map[string]any{
			"https://harbor.internal/v2/dockerhub": map[string]any{"capabilities": []any{"pull", "resolve"}, "override_path": true},
			"https://10.0.0.9":                     map[string]any{"capabilities": []any{"pull", "resolve"}, "skip_verify": true},
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("hosts.toml = %v\nwant %v", got, want)
	}
	// containerd tries hosts in file order: the order given must survive.
	order, err := hostOrder(b)
	if err != nil || !reflect.DeepEqual(order, []string{"https://harbor.internal/v2/dockerhub", "https://10.0.0.9"}) {
		t.Errorf("host order %v (%v)", order, err)
	}

	b, err = HostsTOML([]RegistryMirror{{Registry: "_default", Endpoint: "http://10.0.0.5:5000"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := mustTOML(t, b)["server"]; ok {
		t.Error("_default got a server: it has no upstream")
	}
}

func TestHostsTOMLMerge(t *testing.T) {
	existing := readTestdata(t, "hosts-user-docker.io.toml")
	mirrors := []RegistryMirror{{Registry: "docker.io", Endpoint: "https://aa-second.internal"}, {Registry: "docker.io", Endpoint: "harbor.internal/dockerhub"}}
	b, err := HostsTOML(mirrors, existing)
	if err != nil {
		t.Fatal(err)
	}
	got := mustTOML(t, b)
	user := mustTOML(t, existing)
	site := "https://zz-site-mirror.internal"
	if !reflect.DeepEqual(at(t, got, "host", site), at(t, user, "host", site)) {
		t.Errorf("user host changed: %v", at(t, got, "host", site))
	}
	if got := at(t, got, "host", "https://aa-second.internal", "capabilities"); !reflect.DeepEqual(got, []any{"pull", "resolve"}) {
		t.Errorf("our capabilities not set on an existing host: %v", got)
	}
	order, _ := hostOrder(b)
	want := []string{"https://aa-second.internal", "https://harbor.internal/v2/dockerhub", site}
	if !reflect.DeepEqual(order, want) {
		t.Errorf("order %v, want ours first then the user's: %v", order, want)
	}
	again, err := HostsTOML(mirrors, b)
	if err != nil || !bytes.Equal(again, b) {
		t.Errorf("not idempotent (%v):\n%s", err, Diff("hosts.toml", b, again))
	}

	if _, err := HostsTOML(mirrors, []byte("host = 1\n")); err == nil || !strings.Contains(err.Error(), "not a table") {
		t.Errorf("host = 1: %v", err)
	}
	if _, err := HostsTOML(mirrors, []byte("[host\n")); err == nil {
		t.Error("invalid TOML accepted")
	}
	if _, err := HostsTOML(append(mirrors, RegistryMirror{Registry: "quay.io", Endpoint: "m"}), nil); err == nil {
		t.Error("mixed registries accepted")
	}
}
