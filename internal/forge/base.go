package forge

import (
	"bytes"
	"time"

	"github.com/satchel-dev/satchel/manifest"
	"github.com/satchel-dev/satchel/pack"
)

// WriteBase writes a small valid bundle to out, signed with s, for tests
// that need something to forge from: two components with stand-in programs
// in /usr/local/bin, a kata-like tree in /opt/kata with a link to it, and
// one raw image blob. storeDir holds its blobs.
func WriteBase(storeDir, out string, s Signer) error {
	store, err := pack.NewBlobStore(storeDir)
	if err != nil {
		return err
	}
	const platform = "linux/amd64"
	ix := &manifest.Index{
		FormatVersion: manifest.FormatVersion, Name: "kylin-runtimes", Version: "2025.04.7", Sequence: 7,
		Created: time.Unix(1_743_465_600, 0).UTC(), Platforms: []string{platform},
		Requirements: manifest.Requirements{Installer: "0.1.0", MinKernel: "4.19"},
	}
	seen := map[manifest.Digest]bool{}
	file := func(path string, mode uint32) (manifest.File, error) {
		d, size, blob, err := store.PutFile(bytes.NewReader([]byte("#!/bin/sh\necho " + path + "\n")))
		if err != nil {
			return manifest.File{}, err
		}
		if !seen[blob.Digest] {
			seen[blob.Digest] = true
			ix.Blobs = append(ix.Blobs, blob)
		}
		return manifest.File{Path: path, Mode: mode, Digest: d, Size: size, Blob: blob.Digest, Glibc: manifest.GlibcStatic}, nil
	}
	for _, c := range []struct {
		name, version string
		paths         []string
	}{
		{"runc", "1.2.6", []string{"/usr/local/bin/runc"}},
		{"kata", "3.1.3", []string{"/opt/kata/bin/kata-runtime", "/opt/kata/share/defaults/kata-containers/configuration-qemu.toml"}},
	} {
		art := manifest.Artifact{Platform: platform, URL: "https://example.invalid/" + c.name, Digest: manifest.DigestOf(manifest.SHA256, []byte(c.name)), DigestSource: manifest.DigestFromProfile}
		for _, p := range c.paths {
			f, err := file(p, 0o755)
			if err != nil {
				return err
			}
			art.Files = append(art.Files, f)
		}
		if c.name == "kata" {
			art.Files = append(art.Files, manifest.File{Path: "/usr/local/bin/kata-runtime", Type: manifest.TypeSymlink, Target: "../../../opt/kata/bin/kata-runtime"})
		}
		ix.Components = append(ix.Components, manifest.Component{Name: c.name, Version: c.version, Artifacts: []manifest.Artifact{art}})
	}
	raw := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}`)
	d := manifest.DigestOf(manifest.SHA256, raw)
	blob, err := store.PutRaw(d, bytes.NewReader(raw))
	if err != nil {
		return err
	}
	ix.Blobs = append(ix.Blobs, blob)
	ix.Images = []manifest.Image{{Ref: "registry.k8s.io/pause:3.10", Digest: d, MediaType: "application/vnd.oci.image.manifest.v1+json", Platforms: []string{platform}, Role: "sandbox", Blobs: []manifest.Digest{d}}}
	js, err := ix.Encode()
	if err != nil {
		return err
	}
	sig, err := s.Sign(js)
	if err != nil {
		return err
	}
	return pack.WriteFile(out, true, js, sig, ix, store)
}
