package kms

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/sigstore/sigstore/pkg/cryptoutils"

	"github.com/satchel-dev/satchel/sign"
	"github.com/satchel-dev/satchel/verify"
)

func TestSchemesLinked(t *testing.T) {
	got := Schemes()
	for _, s := range sign.KMSSchemes() {
		if !slices.Contains(got, s) {
			t.Errorf("provider for %s not linked (have %v)", s, got)
		}
	}
}

// fakeTransit is a loopback stand-in for HashiCorp Vault's transit engine:
// just the two calls the sigstore provider makes to sign.
type fakeTransit struct {
	t      *testing.T
	key    crypto.Signer
	pss    bool // sign RSA keys with PSS, which cosign verify-blob rejects
	msg    []byte
	signed int
}

func (f *fakeTransit) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("X-Vault-Token") != "test-token" {
		http.Error(w, `{"errors":["permission denied"]}`, http.StatusForbidden)
		return
	}
	reply := func(data map[string]any) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"data": data})
	}
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/v1/transit/keys/satchel":
		pub, _ := cryptoutils.MarshalPublicKeyToPEM(f.key.Public())
		reply(map[string]any{"latest_version": 1, "keys": map[string]any{"1": map[string]any{"public_key": string(pub), "name": "test"}}})
	case (r.Method == http.MethodPost || r.Method == http.MethodPut) && r.URL.Path == "/v1/transit/sign/satchel/sha2-256":
		var req struct {
			Input     string `json:"input"`
			Prehashed bool   `json:"prehashed"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		digest, _ := base64.StdEncoding.DecodeString(req.Input)
		want := sha256.Sum256(f.msg)
		if !req.Prehashed || string(digest) != string(want[:]) {
			f.t.Errorf("sign request: prehashed=%v digest=%x, want SHA-256 of the message %x", req.Prehashed, digest, want)
		}
		var opts crypto.SignerOpts = crypto.SHA256
		if f.pss {
			opts = &rsa.PSSOptions{Hash: crypto.SHA256}
		}
		sig, err := f.key.Sign(rand.Reader, digest, opts)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		f.signed++
		reply(map[string]any{"signature": "vault:v1:" + base64.StdEncoding.EncodeToString(sig)})
	default:
		f.t.Errorf("unexpected request %s %s", r.Method, r.URL.Path)
		http.NotFound(w, r)
	}
}

func startVault(t *testing.T, f *fakeTransit) {
	srv := httptest.NewServer(f) // loopback only
	t.Cleanup(srv.Close)
	t.Setenv("VAULT_ADDR", srv.URL)
	t.Setenv("VAULT_TOKEN", "test-token")
	t.Setenv("TRANSIT_SECRET_ENGINE_PATH", "")
	t.Setenv("VAULT_KEY_PREFIX", "")
}

// TestVaultSigning signs through the hashivault provider against a fake
// transit engine and checks the result like any file-key signature.
func TestVaultSigning(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte("{\n  \"formatVersion\": 1\n}\n")
	f := &fakeTransit{t: t, key: key, msg: msg}
	startVault(t, f)

	s, err := sign.LoadSigner(context.Background(), "hashivault://satchel", nil)
	if err != nil {
		t.Fatal(err)
	}
	if s.KeyID() != verify.KeyID(key.Public()) {
		t.Errorf("KeyID %s, want %s", s.KeyID(), verify.KeyID(key.Public()))
	}
	sig, err := s.Sign(msg)
	if err != nil {
		t.Fatal(err)
	}
	if f.signed != 1 {
		t.Errorf("transit sign called %d times", f.signed)
	}
	pubPEM, err := s.PublicKeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	v, err := verify.LoadVerifier(pubPEM, "vault")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := verify.VerifySignature([]*verify.Verifier{v}, msg, sig); err != nil {
		t.Fatal(err)
	}
	raw, _ := base64.StdEncoding.DecodeString(string(sig))
	d := sha256.Sum256(msg)
	if !ecdsa.VerifyASN1(&key.PublicKey, d[:], raw) {
		t.Error("not an ASN.1 ECDSA signature over SHA-256")
	}
}

// TestVaultWrongScheme: a KMS key that signs with RSA-PSS would give bundles
// that cosign verify-blob and satchel-install reject; Sign must catch it.
func TestVaultWrongScheme(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte("m")
	startVault(t, &fakeTransit{t: t, key: key, pss: true, msg: msg})
	s, err := sign.LoadSigner(context.Background(), "hashivault://satchel", nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Sign(msg)
	if err == nil || !strings.Contains(err.Error(), "does not verify") {
		t.Fatalf("PSS signature accepted: %v", err)
	}
}
