package forge

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/satchel-dev/satchel/pack"
	"github.com/satchel-dev/satchel/sign"
	"github.com/satchel-dev/satchel/verify"
)

func testSigner(t *testing.T, dir string) (*sign.Signer, *verify.Verifier) {
	t.Helper()
	priv, _, err := sign.GenerateKeyPair(sign.Ed25519, nil)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "k.key")
	if err := os.WriteFile(p, priv, 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := sign.LoadSigner(context.Background(), p, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s, s.Verifier()
}

// TestForgeWritesWhatPackWrites: an unchanged forgery is a valid bundle,
// byte for byte what pack.Write makes, and WriteRaw lays entries out the
// same way, so tar-level cases differ from a real bundle only where they
// mean to.
func TestForgeWritesWhatPackWrites(t *testing.T) {
	dir := t.TempDir()
	s, v := testSigner(t, dir)
	base := filepath.Join(dir, "base.satchel")
	if err := WriteBase(filepath.Join(dir, "store"), base, s); err != nil {
		t.Fatal(err)
	}
	fb, err := Load(base, filepath.Join(dir, "forge"))
	if err != nil {
		t.Fatal(err)
	}
	again := filepath.Join(dir, "again.satchel")
	if err := fb.Write(again, fb.Index(), s); err != nil {
		t.Fatal(err)
	}
	want, _ := os.ReadFile(base)
	got, _ := os.ReadFile(again)
	if !bytes.Equal(want, got) {
		t.Fatal("an unchanged forgery differs from the bundle it came from")
	}
	b, err := pack.OpenPath(again)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, _, err := pack.VerifyBundle(b, []*verify.Verifier{v}, pack.VerifyOptions{Deep: true}); err != nil {
		t.Fatal(err)
	}
	ix := fb.Index()
	js, _ := ix.Encode()
	raw := filepath.Join(dir, "raw.satchel")
	if err := fb.WriteRaw(raw, js, b.Signature(), ix); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(raw); !bytes.Equal(want, got) {
		t.Fatal("WriteRaw differs from pack.Write")
	}
	offs, err := EntryOffsets(want)
	if err != nil || offs[pack.IndexName] != 0 || len(offs) != 2+len(ix.Blobs) {
		t.Fatalf("EntryOffsets: %v %v", offs, err)
	}
}

// TestEveryCaseForges: each case writes a bundle that opens as a tar file
// and differs from the base.
func TestEveryCaseForges(t *testing.T) {
	dir := t.TempDir()
	s, _ := testSigner(t, dir)
	base := filepath.Join(dir, "base.satchel")
	if err := WriteBase(filepath.Join(dir, "store"), base, s); err != nil {
		t.Fatal(err)
	}
	fb, err := Load(base, filepath.Join(dir, "forge"))
	if err != nil {
		t.Fatal(err)
	}
	want, _ := os.ReadFile(base)
	names := map[string]bool{}
	for _, c := range Cases() {
		if names[c.Name] || c.Finding == "" {
			t.Errorf("case %q: duplicate name or no finding", c.Name)
		}
		names[c.Name] = true
		out := filepath.Join(dir, c.Name+".satchel")
		if err := c.Make(fb, s, out); err != nil {
			t.Errorf("%s: %v", c.Name, err)
			continue
		}
		got, _ := os.ReadFile(out)
		if bytes.Equal(got, want) {
			t.Errorf("%s: the forgery is the base bundle", c.Name)
		}
		if _, err := EntryOffsets(got); err != nil {
			t.Errorf("%s: %v", c.Name, err)
		}
	}
	if ix := fb.Index(); ix.Name != "kylin-runtimes" || len(ix.Components[0].Artifacts[0].Files) != 1 {
		t.Errorf("cases changed the base index: %+v", ix.Components[0].Artifacts[0].Files)
	}
}
