package mirrorgen

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/zstd"
	"github.com/satchel-dev/satchel/component"
	"github.com/satchel-dev/satchel/manifest"
	"github.com/satchel-dev/satchel/profiles"
	"github.com/therootcompany/xz"
)

func demoPlan(t *testing.T) *profiles.Resolved {
	t.Helper()
	r, err := profiles.Resolve(DemoSpec())
	if err != nil {
		t.Fatalf("resolving DemoSpec: %v", err)
	}
	return r
}

// rewrite applies --mirror FROM=TO values the way fetch does: prefix replacement.
func rewrite(t *testing.T, flags []string, u string) string {
	t.Helper()
	for _, f := range flags {
		from, to, _ := strings.Cut(f, "=")
		if rest, ok := strings.CutPrefix(u, from); ok {
			return to + rest
		}
	}
	t.Fatalf("no mirror for %s", u)
	return ""
}

func get(t *testing.T, u string) []byte {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", u, resp.Status)
	}
	return b
}

// digestFromChecksumFile reads the formats upstream publishes (see
// profiles.Checksum*), independently of the writer.
func digestFromChecksumFile(t *testing.T, format string, body []byte, asset string) manifest.Digest {
	t.Helper()
	text := string(body)
	alg := manifest.SHA256
	switch format {
	case component.ChecksumBareSHA256:
		return manifest.Digest("sha256:" + strings.TrimSpace(text))
	case component.ChecksumPGPSHA256Sum:
		head, rest, ok := strings.Cut(text, "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\n")
		if !ok || head != "" {
			t.Fatalf("runc.sha256sum is not clear-signed:\n%s", text)
		}
		text, _, ok = strings.Cut(rest, "-----BEGIN PGP SIGNATURE-----\n")
		if !ok || !strings.HasSuffix(rest, "-----END PGP SIGNATURE-----\n") {
			t.Fatalf("runc.sha256sum has no signature block:\n%s", body)
		}
	case component.ChecksumSHA512:
		alg = manifest.SHA512
	}
	for _, l := range strings.Split(text, "\n") {
		f := strings.Fields(l)
		if len(f) == 2 && f[1] == asset {
			return manifest.Digest(alg + ":" + f[0])
		}
	}
	t.Fatalf("%s not listed in %s file:\n%s", asset, format, text)
	return ""
}

type entry struct {
	hdr  *tar.Header
	body []byte
}

func readArchive(t *testing.T, kind string, b []byte) []entry {
	t.Helper()
	var r io.Reader
	var err error
	switch kind {
	case component.ArchiveTarGz, component.ArchiveTgz:
		r, err = gzip.NewReader(bytes.NewReader(b))
	case component.ArchiveTarXz:
		r, err = xz.NewReader(bytes.NewReader(b), 0) // the decoder pack uses
	case component.ArchiveTarZst:
		var d *zstd.Decoder
		d, err = zstd.NewReader(bytes.NewReader(b))
		r = d
	default:
		t.Fatalf("archive kind %s", kind)
	}
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(r)
	var out []entry
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(tr)
		out = append(out, entry{h, body})
	}
}

func TestGenerateServeFetch(t *testing.T) {
	r := demoPlan(t)
	dir := t.TempDir()
	site, err := Generate(dir, r, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := site.Hosts(); !reflect.DeepEqual(got, UpstreamHosts) {
		t.Errorf("hosts %v, want %v", got, UpstreamHosts)
	}
	base, stop, err := Serve(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	flags := MirrorFlags(base)

	artifacts := 0
	for _, c := range r.Components {
		for _, a := range c.Artifacts {
			artifacts++
			b := get(t, rewrite(t, flags, a.URL))
			if got := manifest.DigestOf(manifest.SHA256, b); got != site.SHA256[a.URL] {
				t.Errorf("%s: served %s, site says %s", a.URL, got, site.SHA256[a.URL])
			}
			if a.Checksum.Format != "" {
				sums := get(t, rewrite(t, flags, a.Checksum.URL))
				want := digestFromChecksumFile(t, a.Checksum.Format, sums, path.Base(a.URL))
				if got := manifest.DigestOf(want.Algorithm(), b); got != want {
					t.Errorf("%s: checksum file says %s, bytes are %s", a.URL, want, got)
				}
			}
			if a.Archive == component.ArchiveBinary {
				if !bytes.Contains(b, []byte("satchel demo stand-in for "+c.Name+" "+c.Version)) {
					t.Errorf("%s: not a labelled stand-in: %q", a.URL, b)
				}
				if _, ok := a.Files[0].Match(path.Base(a.URL)); !ok {
					t.Errorf("%s: rule %+v does not take the binary", a.URL, a.Files[0])
				}
				continue
			}
			entries := readArchive(t, a.Archive, b)
			names := map[string]*tar.Header{}
			for _, e := range entries {
				names[strings.TrimPrefix(path.Clean("/"+e.hdr.Name), "/")] = e.hdr
				if e.hdr.Typeflag == tar.TypeReg && e.hdr.Mode&0o111 != 0 && !bytes.HasPrefix(e.body, []byte("#!/bin/sh\n# satchel demo stand-in")) {
					t.Errorf("%s: %s is not a labelled stand-in", a.URL, e.hdr.Name)
				}
				if !e.hdr.ModTime.Equal(Epoch) || e.hdr.Uid != 0 || e.hdr.Gid != 0 {
					t.Errorf("%s: %s header not normalized: %v %d %d", a.URL, e.hdr.Name, e.hdr.ModTime, e.hdr.Uid, e.hdr.Gid)
				}
			}
			// Every rule of the plan finds its files in the generated layout:
			// the catalog and this package agree on upstream's shape.
			for _, rule := range a.Files {
				n := 0
				for nm := range names {
					if _, ok := rule.Match(nm); ok {
						n++
					}
				}
				if n == 0 {
					t.Errorf("%s: rule %+v matches nothing in %v", a.URL, rule, names)
				}
			}
			for _, l := range a.Links {
				h := names[strings.TrimPrefix(l.Target, "/")]
				if h == nil || h.Typeflag != tar.TypeReg || h.Mode != 0o755 {
					t.Errorf("%s: link %s → %s points at no executable in the archive", a.URL, l.Path, l.Target)
				}
			}
			if c.Name == "kata" {
				if entries[0].hdr.Name != "./" || !strings.HasPrefix(entries[1].hdr.Name, "./opt/") {
					t.Errorf("kata archive is not packed from \".\": %s, %s", entries[0].hdr.Name, entries[1].hdr.Name)
				}
				cfg := names["opt/kata/share/defaults/kata-containers/configuration.toml"]
				if cfg == nil || cfg.Typeflag != tar.TypeSymlink || cfg.Linkname != "configuration-qemu.toml" {
					t.Errorf("kata configuration.toml symlink: %+v", cfg)
				}
			}
		}
	}
	if artifacts != 18 {
		t.Errorf("%d artifacts, want 18 (8 components, gVisor twice, 2 platforms)", artifacts)
	}
	// Both runc binaries share one clear-signed checksum file, as upstream.
	runc := get(t, base+"/github.com/opencontainers/runc/releases/download/v1.4.3/runc.sha256sum")
	if !bytes.Contains(runc, []byte("  runc.amd64\n")) || !bytes.Contains(runc, []byte("  runc.arm64\n")) ||
		!bytes.Contains(runc, []byte("Comment: satchel mirrorgen stand-in")) {
		t.Errorf("runc.sha256sum:\n%s", runc)
	}
	// Upstream-shaped kata: 3.7.0 for amd64 and arm64, both .tar.xz.
	for _, p := range []string{
		"github.com/kata-containers/kata-containers/releases/download/3.7.0/kata-static-3.7.0-amd64.tar.xz",
		"github.com/kata-containers/kata-containers/releases/download/3.7.0/kata-static-3.7.0-arm64.tar.xz",
		"download.docker.com/linux/static/stable/aarch64/docker-29.7.2.tgz",
		"storage.googleapis.com/gvisor/releases/release/20260817.0/aarch64/containerd-shim-runsc-v1.sha512",
	} {
		if _, err := os.Stat(filepath.Join(dir, p)); err != nil {
			t.Errorf("missing %s", p)
		}
	}
}

func TestServeRangeAndMissing(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "github.com"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "github.com", "f"), []byte("0123456789abcdef"), 0o644); err != nil {
		t.Fatal(err)
	}
	base, stop, err := Serve(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	if !strings.HasPrefix(base, "http://127.0.0.1:") {
		t.Errorf("base %s is not loopback", base)
	}
	req, _ := http.NewRequest("GET", base+"/github.com/f", nil)
	req.Header.Set("Range", "bytes=10-")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusPartialContent || string(b) != "abcdef" {
		t.Errorf("range: %s %q", resp.Status, b)
	}
	resp, err = http.Get(base + "/github.com/nope")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("missing file: %s", resp.Status)
	}
}

func TestGenerateDeterministic(t *testing.T) {
	r := demoPlan(t)
	a, b := t.TempDir(), t.TempDir()
	sa, err := Generate(a, r, nil)
	if err != nil {
		t.Fatal(err)
	}
	sb, err := Generate(b, r, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(sa.Files, sb.Files) || !reflect.DeepEqual(sa.SHA256, sb.SHA256) {
		t.Fatal("two runs wrote different sites")
	}
	for _, f := range sa.Files {
		x, _ := os.ReadFile(filepath.Join(a, f))
		y, _ := os.ReadFile(filepath.Join(b, f))
		if !bytes.Equal(x, y) {
			t.Errorf("%s differs between runs", f)
		}
	}
}

func TestGenerateRefusesPinnedArtifacts(t *testing.T) {
	s, err := profiles.InitSpec("kylin-v10")
	if err != nil {
		t.Fatal(err)
	}
	r, err := profiles.Resolve(s)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Generate(t.TempDir(), r, nil)
	if err == nil || !strings.Contains(manifest.Hint(err), "DemoSpec") {
		t.Fatalf("Generate with real pins: %v", err)
	}
}

func TestFromFiles(t *testing.T) {
	real := filepath.Join(t.TempDir(), "containerd")
	elf := append([]byte("\x7fELF\x02\x01\x01"), bytes.Repeat([]byte{0}, 57)...)
	if err := os.WriteFile(real, elf, 0o755); err != nil {
		t.Fatal(err)
	}
	r := demoPlan(t)
	dir := t.TempDir()
	if _, err := Generate(dir, r, FromFiles(map[string]string{"containerd": real}, nil)); err != nil {
		t.Fatal(err)
	}
	check := func(p, member string, want []byte) {
		t.Helper()
		b, err := os.ReadFile(filepath.Join(dir, p))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range readArchive(t, "tar.gz", b) {
			if e.hdr.Name == member {
				if !bytes.Equal(e.body, want) {
					t.Errorf("%s %s = %q", p, member, e.body)
				}
				return
			}
		}
		t.Errorf("%s has no %s", p, member)
	}
	check("github.com/containerd/containerd/releases/download/v2.3.4/containerd-static-2.3.4-linux-amd64.tar.gz", "bin/containerd", elf)
	check("download.docker.com/linux/static/stable/x86_64/docker-29.7.2.tgz", "docker/containerd", elf)
	ctr, _ := StandIn("containerd", "2.3.4", "linux/amd64", "bin/ctr")
	check("github.com/containerd/containerd/releases/download/v2.3.4/containerd-static-2.3.4-linux-amd64.tar.gz", "bin/ctr", ctr)

	missing := FromFiles(map[string]string{"runc": filepath.Join(t.TempDir(), "absent")}, nil)
	if _, err := missing("runc", "1.2.6", "linux/amd64", "runc"); err == nil {
		t.Error("FromFiles read a missing file")
	}
}

func TestMirrorFlags(t *testing.T) {
	want := []string{
		"https://download.docker.com=http://127.0.0.1:8080/download.docker.com",
		"https://github.com=http://127.0.0.1:8080/github.com",
		"https://storage.googleapis.com=http://127.0.0.1:8080/storage.googleapis.com",
	}
	if got := MirrorFlags("http://127.0.0.1:8080/"); !reflect.DeepEqual(got, want) {
		t.Errorf("got %v", got)
	}
}

func TestDemoSpec(t *testing.T) {
	s := DemoSpec()
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	if s.Spec.Profile != "" {
		t.Error("DemoSpec names a profile: its pins would apply")
	}
	p, _ := profiles.Get(DemoProfile)
	r := demoPlan(t)
	for _, pc := range p.Components {
		c, ok := r.Component(pc.Name)
		if !ok || c.Version != pc.Version || c.Variant != pc.Variant {
			t.Errorf("%s: demo has %+v, profile %s %s", pc.Name, c, pc.Version, pc.Variant)
			continue
		}
		for _, a := range c.Artifacts {
			if a.Digest != "" {
				t.Errorf("%s %s pinned in the demo plan", c.Name, a.Platform)
			}
		}
	}
	for _, im := range s.Spec.Images {
		if im.Digest != "" {
			t.Errorf("image %s pinned", im.Ref)
		}
	}
	if len(s.Spec.Images) != 2 || s.Spec.Images[1].Role != "sandbox" {
		t.Errorf("images %+v", s.Spec.Images)
	}
}

func newRegistry(t *testing.T) string {
	t.Helper()
	host, stop, err := ServeRegistry()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return host
}

func TestPushImage(t *testing.T) {
	ctx := context.Background()
	host := newRegistry(t)
	platforms := []string{"linux/amd64", "linux/arm64"}
	armPause := map[string][]byte{"pause": []byte("#!/bin/sh\n# arm64\n")}
	d, err := PushImage(ctx, host, "docker.io/library/nginx:1.27.4", platforms, NginxStandIn("1.27.4"),
		WithCmd("nginx", "-g", "daemon off;"), WithPlatformFiles("linux/arm64", armPause))
	if err != nil {
		t.Fatal(err)
	}
	ref, _ := name.NewTag(host+"/library/nginx:1.27.4", name.Insecure)
	idx, err := remote.Index(ref, remote.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := idx.Digest(); got.String() != string(d) {
		t.Errorf("pushed %s, registry has %s", d, got)
	}
	im, _ := idx.IndexManifest()
	if mt, _ := idx.MediaType(); mt != types.OCIImageIndex || len(im.Manifests) != 2 {
		t.Fatalf("index %s with %d manifests", mt, len(im.Manifests))
	}
	for i, pl := range platforms {
		desc := im.Manifests[i]
		if desc.Platform == nil || desc.Platform.OS+"/"+desc.Platform.Architecture != pl {
			t.Errorf("manifest %d platform %+v, want %s", i, desc.Platform, pl)
		}
		img, err := idx.Image(desc.Digest)
		if err != nil {
			t.Fatal(err)
		}
		cf, _ := img.ConfigFile()
		if cf.Architecture+"" != strings.TrimPrefix(pl, "linux/") || !reflect.DeepEqual(cf.Config.Cmd, []string{"nginx", "-g", "daemon off;"}) {
			t.Errorf("%s config %+v", pl, cf)
		}
		files := extract(t, img)
		if pl == "linux/amd64" {
			if !bytes.Contains(files["usr/share/nginx/html/index.html"].body, []byte("satchel demo stand-in for nginx 1.27.4")) {
				t.Errorf("amd64 files %v", files)
			}
		} else if h := files["pause"]; h.hdr == nil || h.hdr.Mode&0o111 == 0 {
			t.Errorf("arm64 per-platform file missing or not executable: %+v", h.hdr)
		}
	}
	// Deterministic: the same push gives the same digest.
	again, err := PushImage(ctx, host, "docker.io/library/nginx:1.27.4", platforms, NginxStandIn("1.27.4"),
		WithCmd("nginx", "-g", "daemon off;"), WithPlatformFiles("linux/arm64", armPause))
	if err != nil || again != d {
		t.Errorf("second push %s %v, first %s", again, err, d)
	}
	// One platform: a plain OCI manifest.
	d1, err := PushImage(ctx, host, "registry.k8s.io/pause:3.10", []string{"linux/arm64"}, PauseStandIn("3.10"), WithEntrypoint("/pause"))
	if err != nil {
		t.Fatal(err)
	}
	pref, _ := name.NewTag(host+"/pause:3.10", name.Insecure)
	desc, err := remote.Get(pref, remote.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	if desc.MediaType != types.OCIManifestSchema1 || desc.Digest.String() != string(d1) {
		t.Errorf("pause: %s %s, pushed %s", desc.MediaType, desc.Digest, d1)
	}
	if _, err := PushImage(ctx, host, "docker.io/library/nginx@sha256:"+strings.Repeat("0", 64), platforms, nil); err == nil {
		t.Error("pushed to a digest reference")
	}
}

func TestPushDemoImages(t *testing.T) {
	host := newRegistry(t)
	ds, err := PushDemoImages(context.Background(), host, manifest.KnownPlatforms)
	if err != nil {
		t.Fatal(err)
	}
	for _, im := range DemoSpec().Spec.Images {
		if _, err := manifest.ParseDigest(string(ds[im.Ref])); err != nil {
			t.Errorf("%s: %v", im.Ref, err)
		}
	}
	want := []string{"docker.io=" + host, "registry.k8s.io=" + host}
	if got := RegistryMirrorFlags(host); !reflect.DeepEqual(got, want) {
		t.Errorf("RegistryMirrorFlags = %v, want %v", got, want)
	}
}

func extract(t *testing.T, img v1.Image) map[string]entry {
	t.Helper()
	rc := mutate.Extract(img)
	defer rc.Close()
	out := map[string]entry{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		out[strings.TrimPrefix(h.Name, "/")] = entry{h, b}
	}
}

// kata 3.21 and later ship .tar.zst; the same tree comes out of it.
func TestGenerateKataZstd(t *testing.T) {
	s := DemoSpec()
	s.Spec.Components = []manifest.ComponentSpec{{Name: "kata", Version: "3.32.0"}}
	r, err := profiles.Resolve(s)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if _, err := Generate(dir, r, nil); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "github.com/kata-containers/kata-containers/releases/download/3.32.0/kata-static-3.32.0-arm64.tar.zst"))
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, e := range readArchive(t, component.ArchiveTarZst, b) {
		if e.hdr.Name == "./opt/kata/bin/qemu-system-aarch64" {
			found = true
		}
		if e.hdr.Name == "./opt/kata/share/defaults/kata-containers/configuration-qemu.toml" &&
			!bytes.Contains(e.body, []byte(`path = "/opt/kata/bin/qemu-system-aarch64"`)) {
			t.Errorf("arm64 kata config:\n%s", e.body)
		}
	}
	if !found {
		t.Error("no qemu-system-aarch64 in the arm64 kata tree")
	}
}
