package push

import (
	"strings"
	"testing"

	"github.com/satchel-dev/satchel/manifest"
)

func TestParseDestination(t *testing.T) {
	for in, want := range map[string]Destination{
		"harbor.internal/satchel":            {"harbor.internal", "satchel"},
		"harbor.internal/satchel/":           {"harbor.internal", "satchel"},
		"harbor.internal":                    {"harbor.internal", ""},
		"10.0.0.5:5000/platform/runtimes":    {"10.0.0.5:5000", "platform/runtimes"},
		"localhost/a_b/c-d/e__f/g.h":         {"localhost", "a_b/c-d/e__f/g.h"},
		"reg.example:443/x":                  {"reg.example:443", "x"},
		"harbor.internal/library-mirror/k8s": {"harbor.internal", "library-mirror/k8s"},
	} {
		got, err := ParseDestination(in)
		if err != nil || got != want {
			t.Errorf("%q: %+v, %v; want %+v", in, got, err, want)
		}
	}
	for _, in := range []string{
		"", "/satchel", "https://harbor.internal/satchel", "harbor/satchel", // no host, scheme, Docker Hub namespace
		"harbor.internal/Satchel", "harbor.internal/sat chel", "harbor.internal//x", "harbor.internal/-x",
		"harbor.internal/x-", "harbor.internal/a..b", "harbor.internal/a:b", "user@harbor.internal/x", "harbor.internal:99999x/y",
	} {
		if d, err := ParseDestination(in); err == nil {
			t.Errorf("%q accepted as %+v", in, d)
		} else if manifest.Hint(err) == "" {
			t.Errorf("%q: error without a remedy: %v", in, err)
		}
	}
}

func TestMap(t *testing.T) {
	ix := &manifest.Index{Images: []manifest.Image{
		{Ref: "docker.io/library/nginx:1.27.4", Digest: dg("a")},
		{Ref: "nginx:1.26", Digest: dg("b")},
		{Ref: "registry.k8s.io/pause:3.10", Digest: dg("c"), UpstreamDigest: dg("d")},
		{Ref: "quay.io/org/app@sha256:" + strings.Repeat("e", 64), Digest: dg("e")},
		{Ref: "ghcr.io/org/tool:v1@sha256:" + strings.Repeat("f", 64), Digest: dg("f")},
		{Ref: "localhost:5000/team/web:2", Digest: dg("1")},
	}}
	d := Destination{Registry: "harbor.internal", Prefix: "satchel"}
	ms, err := Map(ix, d, false)
	if err != nil {
		t.Fatal(err)
	}
	want := []struct{ target, reg, repo string }{
		{"harbor.internal/satchel/library/nginx:1.27.4", "docker.io", "library/nginx"},
		{"harbor.internal/satchel/library/nginx:1.26", "docker.io", "library/nginx"},
		{"harbor.internal/satchel/pause:3.10", "registry.k8s.io", "pause"},
		{"harbor.internal/satchel/org/app@sha256:" + strings.Repeat("e", 64), "quay.io", "org/app"},
		{"harbor.internal/satchel/org/tool:v1", "ghcr.io", "org/tool"},
		{"harbor.internal/satchel/team/web:2", "localhost:5000", "team/web"},
	}
	for i, w := range want {
		m := ms[i]
		if m.Target != w.target || m.SourceRegistry != w.reg || m.Repository != w.repo {
			t.Errorf("%s -> %s (%s, %s), want %s (%s, %s)", m.Source, m.Target, m.SourceRegistry, m.Repository, w.target, w.reg, w.repo)
		}
		if !strings.HasSuffix(m.TargetDigest, "@"+string(ix.Images[i].Digest)) {
			t.Errorf("%s: by digest %s", m.Source, m.TargetDigest)
		}
	}
	if ms[2].UpstreamDigest == "" {
		t.Error("a filtered index's upstream digest is not reported")
	}
	mirrors := Mirrors(ms, d, false)
	wantMirrors := "docker.io=harbor.internal/satchel ghcr.io=harbor.internal/satchel localhost:5000=harbor.internal/satchel quay.io=harbor.internal/satchel registry.k8s.io=harbor.internal/satchel"
	if strings.Join(mirrors, " ") != wantMirrors {
		t.Errorf("mirrors %v", mirrors)
	}
	if got := Mirrors(ms, Destination{Registry: "10.0.0.5:5000"}, true)[0]; got != "docker.io=http://10.0.0.5:5000" {
		t.Errorf("plain HTTP mirror %q", got)
	}

	// Without a prefix, the repository path goes straight under the host.
	ms, _ = Map(&manifest.Index{Images: ix.Images[:1]}, Destination{Registry: "10.0.0.5:5000"}, false)
	if ms[0].Target != "10.0.0.5:5000/library/nginx:1.27.4" {
		t.Errorf("no prefix: %s", ms[0].Target)
	}

	// Two registries' images meeting on one repository and tag: refused.
	clash := &manifest.Index{Images: []manifest.Image{
		{Ref: "docker.io/org/app:1", Digest: dg("a")},
		{Ref: "quay.io/org/app:1", Digest: dg("b")},
	}}
	if _, err := Map(clash, d, false); err == nil || !strings.Contains(err.Error(), "both be pushed as harbor.internal/satchel/org/app:1") {
		t.Errorf("clash: %v", err)
	}
	// The same content under the same name is fine.
	clash.Images[1].Digest = clash.Images[0].Digest
	if _, err := Map(clash, d, false); err != nil {
		t.Errorf("same content: %v", err)
	}
	// A reference no registry can hold.
	bad := &manifest.Index{Images: []manifest.Image{{Ref: "docker.io/Library/NGINX:1", Digest: dg("a")}}}
	if _, err := Map(bad, d, false); err == nil {
		t.Error("invalid reference mapped")
	}
	// Too long.
	long := &manifest.Index{Images: []manifest.Image{{Ref: "quay.io/" + strings.Repeat("a", 250) + ":1", Digest: dg("a")}}}
	if _, err := Map(long, d, false); err == nil {
		t.Error("a target longer than 255 characters mapped")
	}
}

func dg(c string) manifest.Digest { return manifest.Digest("sha256:" + strings.Repeat(c, 64)) }
