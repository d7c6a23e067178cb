// Package forge makes malicious bundles for tests: it takes a valid bundle
// apart and writes forged variants of it that an insider who can sign
// could produce. A forged index is encoded canonically and signed again
// with the test key, blobs are added or changed as a case needs, and
// tar-level forgeries edit the written bytes afterwards. So every variant
// passes the signature check, and only the rules behind it (Index.Validate,
// the reader's layout checks) stand between it and the host.
//
// Cases lists one variant per known attack (issue 7's findings and the older
// classes); the hardening tests run each through `satchel-bundle verify`'s
// code path and the installer.
package forge

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/satchel-dev/satchel/manifest"
	"github.com/satchel-dev/satchel/pack"
)

// Signer signs the exact bytes of satchel.json (a *sign.Signer).
type Signer interface {
	Sign(msg []byte) ([]byte, error)
}

// Bundle is a valid bundle taken apart.
type Bundle struct {
	index *manifest.Index
	blobs map[manifest.Digest][]byte
	store *pack.BlobStore
}

// Load reads the valid bundle at path (its signature is not checked; every
// other rule is) and keeps its blobs in memory: forge is for small test
// bundles. storeDir holds blobs that cases add.
func Load(path, storeDir string) (*Bundle, error) {
	b, err := pack.OpenPath(path)
	if err != nil {
		return nil, err
	}
	defer b.Close()
	ix, _, err := pack.VerifyBundle(b, nil, pack.VerifyOptions{SkipSignature: true, Deep: true})
	if err != nil {
		return nil, fmt.Errorf("forge needs a valid bundle to start from: %w", err)
	}
	store, err := pack.NewBlobStore(storeDir)
	if err != nil {
		return nil, err
	}
	fb := &Bundle{index: ix, blobs: map[manifest.Digest][]byte{}, store: store}
	for _, bl := range ix.Blobs {
		r, err := b.OpenBlob(bl.Digest)
		if err != nil {
			return nil, err
		}
		if fb.blobs[bl.Digest], err = io.ReadAll(r); err != nil {
			return nil, err
		}
	}
	return fb, nil
}

// Index returns a deep copy of the bundle's index to change.
func (b *Bundle) Index() *manifest.Index {
	js, err := json.Marshal(b.index)
	if err != nil {
		panic(err) // an index always encodes
	}
	var ix manifest.Index
	if err := json.Unmarshal(js, &ix); err != nil {
		panic(err)
	}
	return &ix
}

// NewFile stores content as a file blob and returns a regular file entry
// for path (mode 0755) and its blob entry, which the caller adds to
// Index.Blobs (AddFile does both).
func (b *Bundle) NewFile(path string, content []byte) (manifest.File, manifest.Blob, error) {
	d, size, blob, err := b.store.PutFile(bytes.NewReader(content))
	if err != nil {
		return manifest.File{}, manifest.Blob{}, err
	}
	return manifest.File{Path: path, Mode: 0o755, Digest: d, Size: size, Blob: blob.Digest}, blob, nil
}

// AddFile adds a regular file with content at path to the first artifact of
// the first component and its blob to the index (once), and returns a
// pointer to the new entry to adjust.
func (b *Bundle) AddFile(ix *manifest.Index, path string, content []byte) (*manifest.File, error) {
	f, blob, err := b.NewFile(path, content)
	if err != nil {
		return nil, err
	}
	if _, ok := ix.Blob(blob.Digest); !ok {
		ix.Blobs = append(ix.Blobs, blob)
	}
	files := &ix.Components[0].Artifacts[0].Files
	*files = append(*files, f)
	return &(*files)[len(*files)-1], nil
}

// AddSymlink adds a symlink at path to the first artifact of the first
// component.
func AddSymlink(ix *manifest.Index, path, target string) {
	files := &ix.Components[0].Artifacts[0].Files
	*files = append(*files, manifest.File{Path: path, Type: manifest.TypeSymlink, Mode: 0o777, Target: target})
}

// Write writes ix as a bundle to path: satchel.json encoded canonically and
// signed with s, then every blob of ix.Blobs from the original bundle or
// the ones cases added. Nothing checks ix: that is the point.
func (b *Bundle) Write(path string, ix *manifest.Index, s Signer) error {
	js, err := ix.Encode()
	if err != nil {
		return err
	}
	sig, err := s.Sign(js)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := pack.Write(&buf, js, sig, ix, b); err != nil {
		return err
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}

// WriteRaw writes a bundle in pack.Write's layout (same headers, padding
// and trailer) without any of its checks: for the entries pack.Write
// refuses to write, such as an oversized signature.
func (b *Bundle) WriteRaw(path string, indexJSON, sig []byte, ix *manifest.Index) error {
	var buf bytes.Buffer
	put := func(name string, body []byte) error {
		h, err := Header(name, int64(len(body)), ix.Created)
		if err != nil {
			return err
		}
		buf.Write(h)
		buf.Write(body)
		buf.Write(make([]byte, (512-len(body)%512)%512))
		return nil
	}
	if err := put(pack.IndexName, indexJSON); err != nil {
		return err
	}
	if err := put(pack.SignatureName, sig); err != nil {
		return err
	}
	for _, bl := range ix.Blobs {
		rc, err := b.Open(bl.Digest)
		if err != nil {
			return err
		}
		body, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return err
		}
		if err := put(pack.BlobPrefix+bl.Digest.Hex(), body); err != nil {
			return err
		}
	}
	buf.Write(make([]byte, 1024))
	buf.Write(make([]byte, (10240-buf.Len()%10240)%10240))
	return os.WriteFile(path, buf.Bytes(), 0o644)
}

// Open gives a blob's stored bytes, for pack.Write.
func (b *Bundle) Open(d manifest.Digest) (io.ReadCloser, error) {
	if raw, ok := b.blobs[d]; ok {
		return io.NopCloser(bytes.NewReader(raw)), nil
	}
	return b.store.Open(d)
}

// EntryOffsets returns the offset of each entry's header in a bundle file,
// by name, reading the USTAR headers in sequence.
func EntryOffsets(data []byte) (map[string]int64, error) {
	out := map[string]int64{}
	for off := int64(0); off+512 <= int64(len(data)); {
		h := data[off : off+512]
		if bytes.Equal(h, make([]byte, 512)) {
			return out, nil
		}
		name := string(bytes.TrimRight(h[:100], "\x00"))
		size, err := strconv.ParseInt(string(bytes.TrimRight(h[124:136], "\x00 ")), 8, 64)
		if err != nil {
			return nil, fmt.Errorf("entry at %d: size field: %w", off, err)
		}
		out[name] = off
		off += 512 + (size+511)/512*512
	}
	return nil, errors.New("no end-of-archive marker")
}

// Header returns the 512-byte header pack.Write writes for an entry (mode
// 0644, uid/gid 0, no names, USTAR), with any size and mtime: a forger's
// canonical-looking header.
func Header(name string, size int64, mtime time.Time) ([]byte, error) {
	var buf bytes.Buffer
	err := tar.NewWriter(&buf).WriteHeader(&tar.Header{
		Typeflag: tar.TypeReg, Name: name, Size: size, Mode: 0o644, ModTime: mtime, Format: tar.FormatUSTAR,
	})
	if err != nil {
		return nil, err
	}
	return buf.Bytes()[:512], nil
}
