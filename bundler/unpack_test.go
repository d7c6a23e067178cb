package bundler

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/satchel-dev/satchel/component"
	"github.com/satchel-dev/satchel/manifest"
	"github.com/satchel-dev/satchel/pack"
	"github.com/satchel-dev/satchel/profiles"
)

func writeTarGz(t *testing.T, path string, entries []tar.Header, bodies map[string]string) {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for _, h := range entries {
		body := bodies[h.Name]
		h.Size = int64(len(body))
		if h.Typeflag != tar.TypeReg {
			h.Size = 0
		}
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(body))
	}
	tw.Close()
	gz.Close()
	os.WriteFile(path, buf.Bytes(), 0o644)
}

// A kata-like tree: regular files, a symlink, a hard link, a directory; the
// rules pick the tree, links are added, modes kept from the archive.
func TestUnpackArtifactTree(t *testing.T) {
	dir := t.TempDir()
	arch := filepath.Join(dir, "kata.tar.gz")
	writeTarGz(t, arch, []tar.Header{
		{Name: "./", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: "./opt/kata/bin/", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: "./opt/kata/bin/kata-runtime", Typeflag: tar.TypeReg, Mode: 0o755},
		{Name: "./opt/kata/bin/containerd-shim-kata-v2", Typeflag: tar.TypeLink, Linkname: "./opt/kata/bin/kata-runtime"},
		{Name: "./opt/kata/share/defaults/kata-containers/configuration-qemu.toml", Typeflag: tar.TypeReg, Mode: 0o644},
		{Name: "./opt/kata/share/defaults/kata-containers/configuration.toml", Typeflag: tar.TypeSymlink, Linkname: "configuration-qemu.toml"},
		{Name: "./unrelated", Typeflag: tar.TypeReg, Mode: 0o600},
	}, map[string]string{
		"./opt/kata/bin/kata-runtime":                                       "#!/bin/sh\necho kata\n",
		"./opt/kata/share/defaults/kata-containers/configuration-qemu.toml": "[hypervisor.qemu]\n",
		"./unrelated": "x",
	})
	store, err := pack.NewBlobStore(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	a := profiles.ResolvedArtifact{
		URL: "https://example/kata-static-3.1.3-x86_64.tar.gz", Archive: "tar.gz",
		Files: []component.FileRule{{Source: "opt/kata/**", Target: "/opt/kata"}},
		Links: []component.Link{{Path: "/usr/local/bin/kata-runtime", Target: "/opt/kata/bin/kata-runtime"}},
	}
	p, err := newPipeline(context.Background(), store, filepath.Join(dir, "spool"), 2)
	if err != nil {
		t.Fatal(err)
	}
	files, err := p.unpackArtifact(arch, a)
	if err != nil {
		t.Fatal(err)
	}
	blobs := p.blobs
	p.close()
	byPath := map[string]manifest.File{}
	for _, f := range files {
		byPath[f.Path] = f
	}
	rt, shim := byPath["/opt/kata/bin/kata-runtime"], byPath["/opt/kata/bin/containerd-shim-kata-v2"]
	if rt.Digest == "" || rt.Digest != shim.Digest || rt.Blob != shim.Blob || shim.Mode != 0o755 {
		t.Fatalf("hard link not a copy of its target: %+v vs %+v", rt, shim)
	}
	if c := byPath["/opt/kata/share/defaults/kata-containers/configuration.toml"]; c.Type != manifest.TypeSymlink || c.Target != "configuration-qemu.toml" {
		t.Fatalf("symlink: %+v", c)
	}
	if q := byPath["/opt/kata/share/defaults/kata-containers/configuration-qemu.toml"]; q.Mode != 0o644 {
		t.Fatalf("mode not kept: %o", q.Mode)
	}
	if l := byPath["/usr/local/bin/kata-runtime"]; l.Type != manifest.TypeSymlink {
		t.Fatalf("catalog link missing: %+v", files)
	}
	if _, ok := byPath["/opt/kata/unrelated"]; ok || len(files) != 5 {
		t.Fatalf("files: %+v", files)
	}
	if len(blobs) != 2 {
		t.Fatalf("%d blobs, want 2 (the hard link shares its target's)", len(blobs))
	}

	// A rule whose file is absent is an error naming it.
	a.Files = append(a.Files, component.FileRule{Source: "bin/missing", Target: "/usr/local/bin/missing"})
	p, _ = newPipeline(context.Background(), store, filepath.Join(dir, "spool"), 2)
	defer p.close()
	if _, err := p.unpackArtifact(arch, a); err == nil || !strings.Contains(err.Error(), "bin/missing") {
		t.Fatalf("missing file: %v", err)
	}
	// Nothing is left in the spool.
	if left, _ := os.ReadDir(p.spool); len(left) != 0 {
		t.Errorf("spool holds %d files", len(left))
	}
}

// TestUnpackNormalizesModes: the builder never writes what the installer's
// checks (manifest.Index.Validate) refuse: group/other-writable modes from
// an upstream archive become 0755/0644, and a setuid file is refused.
func TestUnpackNormalizesModes(t *testing.T) {
	dir := t.TempDir()
	arch := filepath.Join(dir, "a.tar.gz")
	writeTarGz(t, arch, []tar.Header{
		{Name: "bin/open", Typeflag: tar.TypeReg, Mode: 0o777},
		{Name: "bin/data", Typeflag: tar.TypeReg, Mode: 0o666},
		{Name: "bin/sticky", Typeflag: tar.TypeReg, Mode: 0o1775},
	}, map[string]string{"bin/open": "a", "bin/data": "b", "bin/sticky": "c"})
	store, err := pack.NewBlobStore(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	a := profiles.ResolvedArtifact{URL: "https://example/a.tar.gz", Archive: "tar.gz",
		Files: []component.FileRule{{Source: "bin/**", Target: "/usr/local/bin"}}}
	p, err := newPipeline(context.Background(), store, filepath.Join(dir, "spool"), 2)
	if err != nil {
		t.Fatal(err)
	}
	defer p.close()
	files, err := p.unpackArtifact(arch, a)
	if err != nil {
		t.Fatal(err)
	}
	blobs := p.blobs
	want := map[string]uint32{"/usr/local/bin/open": 0o755, "/usr/local/bin/data": 0o644, "/usr/local/bin/sticky": 0o755}
	for _, f := range files {
		if f.Mode != want[f.Path] {
			t.Errorf("%s: mode %#o, want %#o", f.Path, f.Mode, want[f.Path])
		}
	}
	// The result passes the installer's checks.
	ix := &manifest.Index{FormatVersion: manifest.FormatVersion, Name: "t", Version: "1", Sequence: 1,
		Platforms: []string{"linux/amd64"}, Requirements: manifest.Requirements{Installer: "0.1.0"},
		Components: []manifest.Component{{Name: "runc", Version: "1", Artifacts: []manifest.Artifact{{
			Platform: "linux/amd64", URL: a.URL, Digest: manifest.DigestOf("sha256", []byte("a")), DigestSource: manifest.DigestFromSpec, Files: files}}}}}
	for _, b := range blobs {
		ix.Blobs = append(ix.Blobs, b)
	}
	if err := ix.Validate(); err != nil {
		t.Fatal(err)
	}

	suid := filepath.Join(dir, "suid.tar.gz")
	writeTarGz(t, suid, []tar.Header{{Name: "bin/su", Typeflag: tar.TypeReg, Mode: 0o4755}}, map[string]string{"bin/su": "x"})
	if _, err := p.unpackArtifact(suid, a); err == nil || !strings.Contains(err.Error(), "setuid") {
		t.Fatalf("setuid file: %v", err)
	}
}
