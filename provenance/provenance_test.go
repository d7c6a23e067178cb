package provenance_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"

	"github.com/satchel-dev/satchel/internal/bundletest"
	"github.com/satchel-dev/satchel/internal/testenv"
	"github.com/satchel-dev/satchel/manifest"
	"github.com/satchel-dev/satchel/provenance"
	"github.com/satchel-dev/satchel/sign"
	"github.com/satchel-dev/satchel/verify"
)

func TestPAE(t *testing.T) {
	// The example of DSSE protocol.md ("Test Vectors").
	want := "DSSEv1 29 http://example.com/HelloWorld 11 hello world"
	if got := string(provenance.PAE("http://example.com/HelloWorld", []byte("hello world"))); got != want {
		t.Errorf("PAE %q, want %q", got, want)
	}
	// And what go-securesystemslib's DSSE implementation computes.
	payload := []byte("{\"_type\":\"x\"}\n\x00\xff")
	if !bytes.Equal(provenance.PAE(provenance.PayloadType, payload), dsse.PAE(provenance.PayloadType, payload)) {
		t.Error("PAE differs from go-securesystemslib's")
	}
}

type fixture struct {
	ix        *manifest.Index
	indexJSON []byte
	signer    *sign.Signer
	keys      []*verify.Verifier
	pub       string
	dir       string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	dir := t.TempDir()
	signer, pub := bundletest.Keys(t, dir)
	ix := bundletest.Write(t, filepath.Join(dir, "b.satchel"), bundletest.Spec{
		Name: "prov", Version: "2025.04.0", Sequence: 7,
		Components: []bundletest.Component{{Name: "runc", Version: "1.4.3", Artifacts: []bundletest.Artifact{
			{Platform: "linux/amd64", URL: "https://github.com/opencontainers/runc/releases/download/v1.4.3/runc.amd64", Files: []bundletest.File{{Path: "/usr/local/bin/runc", Content: []byte("runc")}}},
			{Platform: "linux/arm64", URL: "https://github.com/opencontainers/runc/releases/download/v1.4.3/runc.arm64", Files: []bundletest.File{{Path: "/usr/local/bin/runc", Content: []byte("runc arm")}}},
		}}},
		Images: []bundletest.Image{{Ref: "docker.io/library/nginx:1.27.4", Platforms: []string{"linux/amd64", "linux/arm64"}, Layers: []map[string][]byte{{"a": []byte("a")}}}},
	}, signer)
	indexJSON, err := ix.Encode()
	if err != nil {
		t.Fatal(err)
	}
	v, err := verify.LoadVerifierFile(pub)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{ix: ix, indexJSON: indexJSON, signer: signer, keys: []*verify.Verifier{v}, pub: pub, dir: dir}
}

func (f *fixture) envelope(t *testing.T) []byte {
	t.Helper()
	st, err := provenance.NewStatement(provenance.Input{
		Index: f.ix, IndexJSON: f.indexJSON,
		SpecDigest: manifest.DigestOf(manifest.SHA256, []byte("spec")), LockDigest: manifest.DigestOf(manifest.SHA256, []byte("lock")),
	})
	if err != nil {
		t.Fatal(err)
	}
	env, err := provenance.Sign(st, f.signer)
	if err != nil {
		t.Fatal(err)
	}
	b, err := env.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSignVerify(t *testing.T) {
	f := newFixture(t)
	env := f.envelope(t)
	indexDigest := manifest.DigestOf(manifest.SHA256, f.indexJSON)
	st, key, err := provenance.Verify(env, f.keys, indexDigest)
	if err != nil {
		t.Fatal(err)
	}
	if key.KeyID != f.signer.KeyID() {
		t.Errorf("verified by %s", key.KeyID)
	}
	if d, _ := st.SubjectDigest(); d != indexDigest {
		t.Errorf("subject %s, index %s", d, indexDigest)
	}
	p := st.Predicate
	// 2 runc artifacts and 1 image, each with URL/ref and digest.
	if n := len(p.BuildDefinition.ResolvedDependencies); n != 3 {
		t.Fatalf("%d resolved dependencies", n)
	}
	for _, a := range f.ix.Components[0].Artifacts {
		found := false
		for _, d := range p.BuildDefinition.ResolvedDependencies {
			if d.URI == a.URL && d.Digest["sha256"] == a.Digest.Hex() && d.Annotations["platform"] == a.Platform {
				found = true
			}
		}
		if !found {
			t.Errorf("no resolved dependency for %s", a.URL)
		}
	}
	var img provenance.ResourceDescriptor
	for _, d := range p.BuildDefinition.ResolvedDependencies {
		if d.Name == "docker.io/library/nginx:1.27.4" {
			img = d
		}
	}
	if img.Name != "docker.io/library/nginx:1.27.4" || img.Digest["sha256"] != f.ix.Images[0].Digest.Hex() || !strings.HasPrefix(img.URI, "pkg:oci/nginx@sha256%3A") {
		t.Errorf("image dependency %+v", img)
	}
	ext := p.BuildDefinition.ExternalParameters
	if ext.Spec.Digest["sha256"] != manifest.DigestOf(manifest.SHA256, []byte("spec")).Hex() || ext.Lock.Name != "bundle.lock" || ext.Sequence != 7 {
		t.Errorf("external parameters %+v", ext)
	}
	if p.RunDetails.Metadata.StartedOn != "2025-04-01T00:00:00Z" || p.RunDetails.Builder.ID != provenance.DefaultBuilderID {
		t.Errorf("run details %+v", p.RunDetails)
	}
	// Deterministic: the same index and key give the same envelope
	// (RFC 6979 ECDSA signatures).
	if again := f.envelope(t); !bytes.Equal(again, env) {
		t.Error("two envelopes of one index differ")
	}
}

// tamper rewrites the signed payload with fn, keeping the signature.
func tamper(t *testing.T, env []byte, fn func(st map[string]any)) []byte {
	t.Helper()
	var e provenance.Envelope
	if err := json.Unmarshal(env, &e); err != nil {
		t.Fatal(err)
	}
	payload, _ := base64.StdEncoding.DecodeString(e.Payload)
	var st map[string]any
	if err := json.Unmarshal(payload, &st); err != nil {
		t.Fatal(err)
	}
	fn(st)
	payload, _ = json.Marshal(st)
	e.Payload = base64.StdEncoding.EncodeToString(payload)
	out, _ := json.Marshal(e)
	return out
}

func TestTamperingFails(t *testing.T) {
	f := newFixture(t)
	env := f.envelope(t)
	indexDigest := manifest.DigestOf(manifest.SHA256, f.indexJSON)
	check := func(name string, b []byte, digest manifest.Digest, keys []*verify.Verifier, wantMsg string) {
		t.Helper()
		_, _, err := provenance.Verify(b, keys, digest)
		if err == nil {
			t.Errorf("%s: verified", name)
			return
		}
		if manifest.ExitCode(err) != manifest.ExitVerification {
			t.Errorf("%s: exit code %d: %v", name, manifest.ExitCode(err), err)
		}
		if text := err.Error() + " " + manifest.Hint(err); !strings.Contains(text, wantMsg) {
			t.Errorf("%s: %s (want %q)", name, text, wantMsg)
		}
	}
	// One dependency's digest changed after signing.
	check("dependency digest", tamper(t, env, func(st map[string]any) {
		deps := st["predicate"].(map[string]any)["buildDefinition"].(map[string]any)["resolvedDependencies"].([]any)
		deps[1].(map[string]any)["digest"] = map[string]any{"sha256": strings.Repeat("0", 64)}
	}), indexDigest, f.keys, "matches none")
	// One dependency's URL changed after signing.
	check("dependency uri", tamper(t, env, func(st map[string]any) {
		deps := st["predicate"].(map[string]any)["buildDefinition"].(map[string]any)["resolvedDependencies"].([]any)
		deps[2].(map[string]any)["uri"] = "https://evil.example/runc"
	}), indexDigest, f.keys, "matches none")
	// Another bundle's index.
	check("other index", env, manifest.DigestOf(manifest.SHA256, []byte("other")), f.keys, "belongs to another bundle")
	// Another key.
	other, otherPub := bundletest.Keys(t, t.TempDir())
	_ = other
	ov, _ := verify.LoadVerifierFile(otherPub)
	check("other key", env, indexDigest, []*verify.Verifier{ov}, "matches none")
	// The payload type is signed too.
	var e provenance.Envelope
	json.Unmarshal(env, &e)
	e.PayloadType = "application/json"
	b, _ := json.Marshal(e)
	check("payload type", b, indexDigest, f.keys, "payload type")
	check("garbage", []byte("{"), indexDigest, f.keys, "not a DSSE envelope")
}

// rawSigner returns raw ASN.1 signatures, as a signing package might.
type rawSigner struct{ k *ecdsa.PrivateKey }

func (r rawSigner) Sign(msg []byte) ([]byte, error) {
	h := sha256.Sum256(msg)
	return ecdsa.SignASN1(rand.Reader, r.k, h[:])
}

func TestRawSigner(t *testing.T) {
	f := newFixture(t)
	k, err := ecdsa.GenerateKey(f.signer.Verifier().PublicKey().(*ecdsa.PublicKey).Curve, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKIXPublicKey(&k.PublicKey)
	v, err := verify.LoadVerifier(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), "raw")
	if err != nil {
		t.Fatal(err)
	}
	st, err := provenance.NewStatement(provenance.Input{Index: f.ix})
	if err != nil {
		t.Fatal(err)
	}
	env, err := provenance.Sign(st, rawSigner{k})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := env.Encode()
	if _, _, err := provenance.Verify(b, []*verify.Verifier{v}, manifest.DigestOf(manifest.SHA256, f.indexJSON)); err != nil {
		t.Fatal(err)
	}
}

// cosignBinary finds cosign on PATH or among the real binaries that
// test/e2e/realbins.sh builds; in CI a missing cosign fails the test.
func cosignBinary(t *testing.T) string {
	if p, err := exec.LookPath("cosign"); err == nil {
		return p
	}
	dir := os.Getenv("SATCHEL_E2E_BIN")
	if dir == "" {
		dir = "/var/cache/satchel-e2e/bin"
	}
	p := filepath.Join(dir, "cosign")
	if _, err := os.Stat(p); err == nil {
		return p
	}
	msg := "needs cosign on PATH or in " + dir + " (test/e2e/realbins.sh builds it)"
	testenv.Skipf(t, "%s", msg)
	return ""
}

// TestCosignVerifyBlobAttestation: the real cosign accepts the envelope as
// an attestation of satchel.json, offline with the bundle's public key, and
// rejects it for other bytes.
func TestCosignVerifyBlobAttestation(t *testing.T) {
	cosign := cosignBinary(t)
	f := newFixture(t)
	var runWith func(env, blob string) ([]byte, error)
	env := filepath.Join(f.dir, "satchel.json.intoto.jsonl")
	if err := os.WriteFile(env, f.envelope(t), 0o644); err != nil {
		t.Fatal(err)
	}
	blob := filepath.Join(f.dir, "satchel.json")
	if err := os.WriteFile(blob, f.indexJSON, 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(blob string) ([]byte, error) { return runWith(env, blob) }
	runWith = func(env, blob string) ([]byte, error) {
		cmd := exec.Command(cosign, "verify-blob-attestation", "--key", f.pub, "--signature", env,
			"--type", "slsaprovenance1", "--insecure-ignore-tlog", blob)
		cmd.Env = append(os.Environ(), "SIGSTORE_NO_CACHE=1", "TUF_ROOT="+filepath.Join(f.dir, "tuf"), "HOME="+f.dir)
		return cmd.CombinedOutput()
	}
	out, err := run(blob)
	if err != nil {
		t.Fatalf("cosign verify-blob-attestation rejects the provenance: %v\n%s", err, out)
	}
	t.Logf("cosign: %s", bytes.TrimSpace(out))
	other := filepath.Join(f.dir, "other.json")
	os.WriteFile(other, append(bytes.Clone(f.indexJSON), ' '), 0o644)
	if out, err := run(other); err == nil {
		t.Fatalf("cosign accepts the provenance for other bytes:\n%s", out)
	}
	// One dependency changed after signing: cosign rejects the signature.
	bad := filepath.Join(f.dir, "tampered.intoto.jsonl")
	os.WriteFile(bad, tamper(t, f.envelope(t), func(st map[string]any) {
		deps := st["predicate"].(map[string]any)["buildDefinition"].(map[string]any)["resolvedDependencies"].([]any)
		deps[0].(map[string]any)["digest"] = map[string]any{"sha256": strings.Repeat("0", 64)}
	}), 0o644)
	if out, err := runWith(bad, blob); err == nil {
		t.Fatalf("cosign accepts a tampered provenance:\n%s", out)
	}
}
