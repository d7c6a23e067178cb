package pack

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/satchel-dev/satchel/manifest"
)

// testKey signs fixture bundles. The real signing lives in package verify;
// ed25519 from the standard library stands in for it here, so these tests
// can check the claim that every byte is covered by signature or layout.
var testKey = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))

func sign(msg []byte) []byte {
	return []byte(base64.StdEncoding.EncodeToString(ed25519.Sign(testKey, msg)))
}

func checkSig(b *Bundle) error {
	sig, err := base64.StdEncoding.DecodeString(string(b.Signature()))
	if err != nil {
		return err
	}
	if !ed25519.Verify(testKey.Public().(ed25519.PublicKey), b.IndexJSON(), sig) {
		return errors.New("signature does not verify")
	}
	return nil
}

// pseudoRandom returns n reproducible bytes; half-compressible so zstd has work.
func pseudoRandom(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := range b {
		if i%4 == 0 {
			b[i] = byte(r.Uint32())
		} else {
			b[i] = byte(i / 4 % 61)
		}
	}
	return b
}

// fixture is a small signed bundle with files of several kinds and one raw blob.
type fixture struct {
	store   *BlobStore
	ix      *manifest.Index
	json    []byte
	sig     []byte
	files   map[string][]byte // target path -> content
	raw     []byte            // the OCI blob
	rawBlob manifest.Digest
}

func newFixture(t testing.TB, dir string, sizes ...int) *fixture {
	t.Helper()
	if len(sizes) == 0 {
		sizes = []int{300, 0, 2000}
	}
	store, err := NewBlobStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	fx := &fixture{store: store, files: map[string][]byte{}}
	ix := &manifest.Index{
		FormatVersion: manifest.FormatVersion,
		Name:          "test",
		Version:       "2025.04.0",
		Sequence:      3,
		Created:       time.Unix(1_700_000_000, 0).UTC(),
		Platforms:     []string{"linux/amd64"},
		Requirements:  manifest.Requirements{Installer: "0.1.0", MinKernel: "4.19"},
	}
	art := manifest.Artifact{
		Platform:     "linux/amd64",
		URL:          "https://example.invalid/runc.tar.gz",
		Digest:       manifest.DigestOf("sha256", []byte("upstream")),
		DigestSource: "profile",
	}
	seen := map[manifest.Digest]bool{}
	for i, n := range sizes {
		content := pseudoRandom(uint64(i+1), n)
		d, size, blob, err := store.PutFile(bytes.NewReader(content))
		if err != nil {
			t.Fatal(err)
		}
		p := fmt.Sprintf("/usr/local/bin/tool%d", i)
		fx.files[p] = content
		art.Files = append(art.Files, manifest.File{Path: p, Mode: 0o755, Digest: d, Size: size, Blob: blob.Digest, Glibc: "static", Source: fmt.Sprintf("bin/tool%d", i)})
		if !seen[blob.Digest] {
			seen[blob.Digest] = true
			ix.Blobs = append(ix.Blobs, blob)
		}
	}
	art.Files = append(art.Files, manifest.File{Path: "/usr/local/bin/link", Type: manifest.TypeSymlink, Mode: 0o777, Target: "tool0"})
	ix.Components = []manifest.Component{{Name: "runc", Version: "1.2.5", Artifacts: []manifest.Artifact{art}}}

	fx.raw = []byte(`{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}`)
	rawDigest := manifest.DigestOf("sha256", fx.raw)
	rb, err := store.PutRaw(rawDigest, bytes.NewReader(fx.raw))
	if err != nil {
		t.Fatal(err)
	}
	fx.rawBlob = rb.Digest
	ix.Blobs = append(ix.Blobs, rb)
	ix.Images = []manifest.Image{{Ref: "example.invalid/pause:3.10", Digest: rawDigest, MediaType: "application/vnd.oci.image.index.v1+json", Platforms: []string{"linux/amd64"}, Blobs: []manifest.Digest{rawDigest}}}

	fx.ix = ix
	fx.json, err = ix.Encode()
	if err != nil {
		t.Fatal(err)
	}
	fx.sig = sign(fx.json)
	return fx
}

func (fx *fixture) bytes(t testing.TB) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Write(&buf, fx.json, fx.sig, fx.ix, fx.store); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func (fx *fixture) writeFile(t testing.TB, path string) {
	t.Helper()
	if err := WriteFile(path, false, fx.json, fx.sig, fx.ix, fx.store); err != nil {
		t.Fatal(err)
	}
}

// checkAll runs the installer's whole verification on b and reads every
// file and blob, returning the first error and the stage it came from.
func checkAll(b *Bundle, withSig bool) (stage string, err error) {
	if withSig {
		if err := checkSig(b); err != nil {
			return "signature", err
		}
	}
	ix, err := b.Index()
	if err != nil {
		return "index", err
	}
	if err := b.CheckLayout(ix); err != nil {
		return "layout", err
	}
	if err := b.VerifyBlobs(ix, nil); err != nil {
		return "blobs", err
	}
	for _, c := range ix.Components {
		for _, a := range c.Artifacts {
			for _, f := range a.Files {
				if f.Type != manifest.TypeFile {
					continue
				}
				rc, err := b.OpenFile(f)
				if err != nil {
					return "openfile", err
				}
				_, err = io.Copy(io.Discard, rc)
				rc.Close()
				if err != nil {
					return "readfile", err
				}
			}
		}
	}
	for _, im := range ix.Images {
		for _, d := range im.Blobs {
			r, err := b.OpenBlob(d)
			if err != nil {
				return "openblob", err
			}
			if _, err := io.Copy(io.Discard, r); err != nil {
				return "readblob", err
			}
		}
	}
	return "", nil
}

// openBytes opens an in-memory bundle.
func openBytes(b []byte) (*Bundle, error) { return Open(bytes.NewReader(b), int64(len(b))) }

func sha256hex(b []byte) string { s := sha256.Sum256(b); return fmt.Sprintf("%x", s) }

func isVerification(err error) bool { return manifest.ExitCode(err) == manifest.ExitVerification }

func listDir(t testing.TB, dir string) []string {
	t.Helper()
	var names []string
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		names = append(names, filepath.Join(dir, e.Name()))
	}
	return names
}
