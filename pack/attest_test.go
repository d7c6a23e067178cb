package pack

import (
	"archive/tar"
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/satchel-dev/satchel/manifest"
)

// attested makes the fixture's index carry an SBOM blob and declare a
// provenance entry, and returns the bundle's bytes with env as that entry.
func attested(t *testing.T, env []byte) (*fixture, []byte) {
	t.Helper()
	fx := newFixture(t, t.TempDir())
	doc := []byte(`{"spdxVersion":"SPDX-2.3"}` + "\n")
	d := manifest.DigestOf(manifest.SHA256, doc)
	bl, err := fx.store.PutRaw(d, bytes.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	fx.ix.Blobs = append(fx.ix.Blobs, bl)
	fx.ix.Attestations = &manifest.Attestations{
		SBOM:       &manifest.SBOMRef{MediaType: manifest.MediaTypeSPDX, Digest: d},
		Provenance: &manifest.ProvenanceRef{MediaType: manifest.MediaTypeDSSE, PredicateType: manifest.PredicateSLSAProvenance},
	}
	if fx.json, err = fx.ix.Encode(); err != nil {
		t.Fatal(err)
	}
	fx.sig = sign(fx.json)
	var buf bytes.Buffer
	if err := WriteEntries(&buf, Entries{Index: fx.json, Signature: fx.sig, Provenance: env}, fx.ix, fx.store); err != nil {
		t.Fatal(err)
	}
	return fx, buf.Bytes()
}

// TestProvenanceEntry: the provenance is the third tar entry, read by Open
// with the index and signature; the SBOM is a verified blob; the whole
// bundle passes every check, and ContentIndex drops both.
func TestProvenanceEntry(t *testing.T) {
	env := []byte(`{"payloadType":"application/vnd.in-toto+json","payload":"e30=","signatures":[{"sig":"AA=="}]}` + "\n")
	fx, data := attested(t, env)
	tr := tar.NewReader(bytes.NewReader(data))
	var names []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
	}
	if len(names) < 3 || names[2] != ProvenanceName {
		t.Fatalf("entries %v", names)
	}
	if !bytes.Equal(rewrite(t, fx, env), data) {
		t.Fatal("the hand-written layout differs from WriteEntries'")
	}
	b, err := openBytes(data)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b.Provenance(), env) {
		t.Fatalf("provenance %q", b.Provenance())
	}
	if stage, err := checkAll(b, true); err != nil {
		t.Fatalf("%s: %v", stage, err)
	}
	d, _ := fx.ix.SBOMDigest()
	r, err := b.OpenBlob(d)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := io.ReadAll(r); !strings.Contains(string(got), "SPDX-2.3") {
		t.Errorf("SBOM blob %q", got)
	}
	c := fx.ix.ContentIndex()
	if c.Attestations != nil || len(c.Blobs) != len(fx.ix.Blobs)-1 {
		t.Errorf("content index keeps attestations: %+v, %d blobs", c.Attestations, len(c.Blobs))
	}
	if _, still := c.Blob(d); still {
		t.Error("content index keeps the SBOM blob")
	}
	if err := c.Validate(); err != nil {
		t.Errorf("content index: %v", err)
	}
}

// TestProvenanceEntryMustMatchIndex: a bundle that lost its declared
// provenance, or gained one its index does not declare, is refused; the
// writer refuses to produce either.
func TestProvenanceEntryMustMatchIndex(t *testing.T) {
	env := []byte(`{"payloadType":"x"}`)
	fx, _ := attested(t, env)
	var buf bytes.Buffer
	if err := WriteEntries(&buf, Entries{Index: fx.json, Signature: fx.sig}, fx.ix, fx.store); err == nil {
		t.Error("writer: declared provenance without an entry accepted")
	}
	// Forge the lost entry: the declaring index, no provenance entry.
	lost := rewrite(t, fx, nil)
	b, err := openBytes(lost)
	if err != nil {
		t.Fatal(err)
	}
	if stage, err := checkAll(b, true); err == nil || stage != "layout" || !isVerification(err) || !strings.Contains(err.Error(), "declares a provenance") {
		t.Errorf("lost provenance: %s %v", stage, err)
	}

	plain := newFixture(t, t.TempDir())
	if err := WriteEntries(&buf, Entries{Index: plain.json, Signature: plain.sig, Provenance: env}, plain.ix, plain.store); err == nil {
		t.Error("writer: undeclared provenance accepted")
	}
	extra := rewrite(t, plain, env)
	b, err = openBytes(extra)
	if err != nil {
		t.Fatal(err)
	}
	if stage, err := checkAll(b, true); err == nil || stage != "layout" || !strings.Contains(err.Error(), "does not declare") {
		t.Errorf("undeclared provenance: %s %v", stage, err)
	}
}

// rewrite writes fx's bundle by hand in Write's layout with prov (or none)
// as the provenance entry, bypassing the writer's checks.
func rewrite(t *testing.T, fx *fixture, prov []byte) []byte {
	t.Helper()
	mtime := fx.ix.Created.Unix()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	put := func(name string, body []byte) {
		if err := tw.WriteHeader(entryHeader(name, int64(len(body)), mtime)); err != nil {
			t.Fatal(err)
		}
		tw.Write(body)
	}
	put(IndexName, fx.json)
	put(SignatureName, fx.sig)
	if prov != nil {
		put(ProvenanceName, prov)
	}
	for _, bl := range fx.ix.Blobs {
		rc, err := fx.store.Open(bl.Digest)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(rc)
		rc.Close()
		put(BlobPrefix+bl.Digest.Hex(), body)
	}
	tw.Close()
	if pad := padTo(int64(buf.Len()), recordSize); pad > 0 {
		buf.Write(make([]byte, pad))
	}
	return buf.Bytes()
}
