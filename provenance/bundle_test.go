package provenance_test

import (
	"bytes"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/satchel-dev/satchel/internal/bundletest"
	"github.com/satchel-dev/satchel/manifest"
	"github.com/satchel-dev/satchel/pack"
	"github.com/satchel-dev/satchel/provenance"
	"github.com/satchel-dev/satchel/verify"
)

func attestedBundle(t *testing.T) (*pack.Bundle, *manifest.Index, *fixture) {
	t.Helper()
	f := newFixture(t)
	out := filepath.Join(f.dir, "attested.satchel")
	bundletest.Write(t, out, bundletest.Spec{
		Name: "prov", Version: "2025.04.0", Sequence: 7, Attest: true,
		Components: []bundletest.Component{{Name: "runc", Version: "1.4.3", Artifacts: []bundletest.Artifact{
			{Platform: "linux/amd64", URL: "https://github.com/opencontainers/runc/releases/download/v1.4.3/runc.amd64", Files: []bundletest.File{{Path: "/usr/local/bin/runc", Content: []byte("runc")}}},
		}}},
		Images: []bundletest.Image{{Ref: "docker.io/library/nginx:1.27.4", Platforms: []string{"linux/amd64"}, Layers: []map[string][]byte{{"a": []byte("a")}}}},
	}, f.signer)
	b, err := pack.OpenPath(out)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	ix, _, err := pack.VerifyBundle(b, f.keys, pack.VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return b, ix, f
}

// TestCheckBundle: the provenance a bundle carries verifies against it
// (signature, subject = sha256 of its satchel.json, content); another key,
// or a bundle without one, does not.
func TestCheckBundle(t *testing.T) {
	b, ix, f := attestedBundle(t)
	st, key, err := provenance.CheckBundle(b, ix, f.keys)
	if err != nil {
		t.Fatal(err)
	}
	if sd, _ := st.SubjectDigest(); sd != manifest.DigestOf(manifest.SHA256, b.IndexJSON()) || key.KeyID != f.keys[0].KeyID {
		t.Errorf("subject %s key %s", sd, key.KeyID)
	}
	if n := len(st.Predicate.BuildDefinition.ResolvedDependencies); n != 2 {
		t.Errorf("%d dependencies, want the artifact and the image", n)
	}
	_, otherPub := bundletest.Keys(t, t.TempDir())
	other, _ := verify.LoadVerifierFile(otherPub)
	if _, _, err := provenance.CheckBundle(b, ix, []*verify.Verifier{other}); manifest.ExitCode(err) != manifest.ExitVerification {
		t.Errorf("another key: %v", err)
	}
	plain, err := pack.OpenPath(filepath.Join(f.dir, "b.satchel"))
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	pix, _, _ := pack.VerifyBundle(plain, f.keys, pack.VerifyOptions{})
	if _, _, err := provenance.CheckBundle(plain, pix, f.keys); !errors.Is(err, provenance.ErrNone) {
		t.Errorf("bundle without provenance: %v", err)
	}
}

// TestMatchesCatchesASignedLie: a provenance signed with the right key
// and the right subject, but naming an artifact digest the bundle does not
// carry (or another version), is refused: the signature alone is not
// enough.
func TestMatchesCatchesASignedLie(t *testing.T) {
	b, ix, f := attestedBundle(t)
	for name, lie := range map[string]func(st *provenance.Statement){
		"dependency digest": func(st *provenance.Statement) {
			st.Predicate.BuildDefinition.ResolvedDependencies[0].Digest = map[string]string{"sha256": strings.Repeat("0", 64)}
		},
		"dependency dropped": func(st *provenance.Statement) {
			st.Predicate.BuildDefinition.ResolvedDependencies = st.Predicate.BuildDefinition.ResolvedDependencies[1:]
		},
		"version": func(st *provenance.Statement) { st.Predicate.BuildDefinition.ExternalParameters.Version = "2026.01.0" },
	} {
		t.Run(name, func(t *testing.T) {
			st, err := provenance.NewStatement(provenance.Input{Index: ix, IndexJSON: b.IndexJSON()})
			if err != nil {
				t.Fatal(err)
			}
			lie(st)
			env, err := provenance.Sign(st, f.signer)
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := env.Encode()
			got, _, err := provenance.Verify(raw, f.keys, manifest.DigestOf(manifest.SHA256, b.IndexJSON()))
			if err != nil {
				t.Fatalf("the lie should be validly signed: %v", err)
			}
			if err := provenance.Matches(got, ix, b.IndexJSON()); manifest.ExitCode(err) != manifest.ExitVerification {
				t.Errorf("Matches accepted it: %v", err)
			}
		})
	}
}

// TestResign: the re-signed envelope carries the same payload bytes and
// verifies with the new key only.
func TestResign(t *testing.T) {
	b, ix, f := attestedBundle(t)
	newSigner, newPub := bundletest.Keys(t, t.TempDir())
	nv, _ := verify.LoadVerifierFile(newPub)
	out, err := provenance.Resign(b.Provenance(), newSigner)
	if err != nil {
		t.Fatal(err)
	}
	digest := manifest.DigestOf(manifest.SHA256, b.IndexJSON())
	st, _, err := provenance.Verify(out, []*verify.Verifier{nv}, digest)
	if err != nil {
		t.Fatal(err)
	}
	if err := provenance.Matches(st, ix, b.IndexJSON()); err != nil {
		t.Error(err)
	}
	if _, _, err := provenance.Verify(out, f.keys, digest); err == nil {
		t.Error("the old key still verifies the re-signed envelope")
	}
	payload := func(env []byte) string {
		i := bytes.Index(env, []byte(`"payload":"`))
		j := bytes.Index(env[i+11:], []byte(`"`))
		return string(env[i+11 : i+11+j])
	}
	if payload(out) != payload(b.Provenance()) {
		t.Error("Resign changed the payload")
	}
}
