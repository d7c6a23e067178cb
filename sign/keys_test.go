package sign

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/youmark/pkcs8"

	"github.com/satchel-dev/satchel/manifest"
	"github.com/satchel-dev/satchel/verify"
)

var algorithms = []Algorithm{ECDSAP256, Ed25519, RSA4096}

// keyPair caches one generated pair per algorithm: RSA 4096 takes seconds.
type keyPair struct{ priv, pub []byte }

var (
	pairsMu sync.Mutex
	pairs   = map[Algorithm]keyPair{}
)

const testPassword = "correct horse"

func genPair(t *testing.T, alg Algorithm) keyPair {
	t.Helper()
	pairsMu.Lock()
	defer pairsMu.Unlock()
	if p, ok := pairs[alg]; ok {
		return p
	}
	priv, pub, err := GenerateKeyPair(alg, []byte(testPassword))
	if err != nil {
		t.Fatalf("GenerateKeyPair(%s): %v", alg, err)
	}
	p := keyPair{priv, pub}
	pairs[alg] = p
	return p
}

func writeFile(t *testing.T, dir, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func staticPass(pw string) PassFunc {
	return func(bool) ([]byte, error) { return []byte(pw), nil }
}

func noPass(t *testing.T) PassFunc {
	return func(bool) ([]byte, error) {
		t.Error("password asked for an unencrypted key")
		return nil, errors.New("unexpected")
	}
}

type loaded struct {
	s *Signer
	v *verify.Verifier
}

var (
	loadedMu sync.Mutex
	loadedBy = map[Algorithm]loaded{}
)

// loadPair writes a generated pair to disk and loads both halves. Results are
// cached per algorithm: every decryption costs an scrypt run.
func loadPair(t *testing.T, alg Algorithm) (*Signer, *verify.Verifier, keyPair) {
	t.Helper()
	kp := genPair(t, alg)
	loadedMu.Lock()
	defer loadedMu.Unlock()
	if l, ok := loadedBy[alg]; ok {
		return l.s, l.v, kp
	}
	dir := t.TempDir()
	s, err := LoadSigner(context.Background(), writeFile(t, dir, "k.key", kp.priv), staticPass(testPassword))
	if err != nil {
		t.Fatalf("LoadSigner(%s): %v", alg, err)
	}
	v, err := verify.LoadVerifierFile(writeFile(t, dir, "k.pub", kp.pub))
	if err != nil {
		t.Fatalf("verify.LoadVerifierFile(%s): %v", alg, err)
	}
	loadedBy[alg] = loaded{s, v}
	return s, v, kp
}

// requireVerificationError checks the error contract: exit code 3 and a
// message whose last line is a hint.
func requireVerificationError(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		t.Fatal("expected an error")
	}
	if c := manifest.ExitCode(err); c != manifest.ExitVerification {
		t.Errorf("exit code %d, want %d (err: %v)", c, manifest.ExitVerification, err)
	}
	requireHint(t, err)
}

func requireHint(t *testing.T, err error) {
	t.Helper()
	if manifest.Hint(err) == "" || strings.Contains(err.Error(), "hint:") {
		t.Errorf("error has no remedy, or carries one in its message: %q (remedy %q)", err, manifest.Hint(err))
	}
}

func TestGenerateSignVerifyRoundTrip(t *testing.T) {
	t.Parallel() // scrypt and RSA key generation dominate; use both cores
	msg := []byte("{\n  \"formatVersion\": 1\n}\n")
	for _, alg := range algorithms {
		t.Run(string(alg), func(t *testing.T) {
			s, v, kp := loadPair(t, alg)
			if got := v.Algorithm(); got != string(alg) {
				t.Errorf("Algorithm() = %q, want %q", got, alg)
			}
			sig, err := s.Sign(msg)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.ContainsAny(sig, "\r\n ") {
				t.Errorf("signature has white space: %q", sig)
			}
			got, err := verify.VerifySignature([]*verify.Verifier{v}, msg, sig)
			if err != nil {
				t.Fatalf("VerifySignature: %v", err)
			}
			if got != v {
				t.Errorf("matched %v, want %v", got, v)
			}
			if s.KeyID() != v.KeyID {
				t.Errorf("signer KeyID %s != verifier KeyID %s", s.KeyID(), v.KeyID)
			}
			pubPEM, err := s.PublicKeyPEM()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(pubPEM, kp.pub) {
				t.Errorf("PublicKeyPEM differs from the generated public key:\n%s\n%s", pubPEM, kp.pub)
			}
			// A second signature verifies too (TestSignDeterministic checks it is identical).
			sig2, err := s.Sign(msg)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := verify.VerifySignature([]*verify.Verifier{v}, msg, sig2); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestPrivateKeyEnvelope checks the private key file the way cosign's
// LoadPrivateKey reads it (encrypted.Decrypt, then x509.ParsePKCS8PrivateKey)
// and the envelope's parameters, without going through our loader.
func TestPrivateKeyEnvelope(t *testing.T) {
	t.Parallel() // scrypt and RSA key generation dominate; use both cores
	for _, alg := range algorithms {
		t.Run(string(alg), func(t *testing.T) {
			kp := genPair(t, alg)
			block, rest := pem.Decode(kp.priv)
			if block == nil || len(bytes.TrimSpace(rest)) != 0 {
				t.Fatalf("private key is not exactly one PEM block: %q", kp.priv)
			}
			if block.Type != "ENCRYPTED SIGSTORE PRIVATE KEY" {
				t.Errorf("PEM type %q", block.Type)
			}
			var env struct {
				KDF struct {
					Name   string
					Params struct{ N, R, P int }
					Salt   []byte
				}
				Cipher struct {
					Name  string
					Nonce []byte
				}
				Ciphertext []byte
			}
			if err := json.Unmarshal(block.Bytes, &env); err != nil {
				t.Fatalf("envelope is not JSON: %v", err)
			}
			if env.KDF.Name != "scrypt" || env.KDF.Params.N != 65536 || env.KDF.Params.R != 8 || env.KDF.Params.P != 1 || len(env.KDF.Salt) != 32 {
				t.Errorf("kdf = %+v", env.KDF)
			}
			if env.Cipher.Name != "nacl/secretbox" || len(env.Cipher.Nonce) != 24 {
				t.Errorf("cipher = %+v", env.Cipher)
			}
			priv := privateKey(t, kp) // encrypted.Decrypt + x509.ParsePKCS8PrivateKey, as cosign reads it
			pubBlock, _ := pem.Decode(kp.pub)
			if pubBlock == nil || pubBlock.Type != "PUBLIC KEY" {
				t.Fatalf("public key PEM: %q", kp.pub)
			}
			pub, err := x509.ParsePKIXPublicKey(pubBlock.Bytes)
			if err != nil {
				t.Fatal(err)
			}
			if !priv.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(pub) {
				t.Error("public key does not belong to the private key")
			}
			switch k := pub.(type) {
			case *rsa.PublicKey:
				if k.Size()*8 != 4096 {
					t.Errorf("RSA key has %d bits", k.Size()*8)
				}
			case *ecdsa.PublicKey:
				if k.Curve != elliptic.P256() {
					t.Errorf("curve %s", k.Curve.Params().Name)
				}
			}
		})
	}
}

func TestEmptyPasswordStillEncrypts(t *testing.T) {
	priv, pub, err := GenerateKeyPair("", nil) // "" = default algorithm
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(priv)
	if block.Type != "ENCRYPTED SIGSTORE PRIVATE KEY" {
		t.Fatalf("PEM type %q", block.Type)
	}
	if _, err := x509.ParsePKCS8PrivateKey(block.Bytes); err == nil {
		t.Fatal("private key readable without decryption")
	}
	dir := t.TempDir()
	keyFile := writeFile(t, dir, "k.key", priv)
	v, err := verify.LoadVerifier(pub, "test")
	if err != nil {
		t.Fatal(err)
	}
	if v.Algorithm() != string(ECDSAP256) {
		t.Errorf("default algorithm gave %s", v.Algorithm())
	}
	t.Setenv(PasswordEnv, "")
	for name, pass := range map[string]PassFunc{"nil PassFunc": nil, "SATCHEL_PASSWORD=''": PasswordFromEnv(nil)} {
		s, err := LoadSigner(context.Background(), keyFile, pass)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		sig, err := s.Sign([]byte("m"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := verify.VerifySignature([]*verify.Verifier{v}, []byte("m"), sig); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
}

func TestUnknownAlgorithm(t *testing.T) {
	_, _, err := GenerateKeyPair("dsa-1024", []byte("x"))
	if err == nil || !strings.Contains(err.Error(), "dsa-1024") {
		t.Fatalf("err = %v", err)
	}
	requireHint(t, err)
}

func TestWrongPassword(t *testing.T) {
	t.Parallel() // scrypt and RSA key generation dominate; use both cores
	kp := genPair(t, ECDSAP256)
	keyFile := writeFile(t, t.TempDir(), "k.key", kp.priv)
	for name, pass := range map[string]PassFunc{
		"wrong": staticPass("incorrect horse"),
		"nil":   nil, // tries the empty password
	} {
		t.Run(name, func(t *testing.T) {
			_, err := LoadSigner(context.Background(), keyFile, pass)
			if err == nil {
				t.Fatal("loaded with a wrong password")
			}
			if !strings.Contains(err.Error(), "wrong password") || !strings.Contains(manifest.Hint(err), "SATCHEL_PASSWORD") {
				t.Errorf("unclear error: %v", err)
			}
			requireHint(t, err)
		})
	}
	// An error from the PassFunc (e.g. no terminal) is passed on, not called "wrong password".
	_, err := LoadSigner(context.Background(), keyFile, func(bool) ([]byte, error) { return nil, errors.New("no tty") })
	if err == nil || !strings.Contains(err.Error(), "no tty") || strings.Contains(err.Error(), "wrong password") {
		t.Errorf("PassFunc error: %v", err)
	}
}

func TestPasswordFromEnv(t *testing.T) {
	var calls []bool
	fallback := func(confirm bool) ([]byte, error) {
		calls = append(calls, confirm)
		return []byte("prompted"), nil
	}
	t.Setenv(PasswordEnv, "from-env")
	pw, err := PasswordFromEnv(fallback)(true)
	if err != nil || string(pw) != "from-env" || len(calls) != 0 {
		t.Fatalf("env set: %q %v, fallback calls %v", pw, err, calls)
	}
	os.Unsetenv(PasswordEnv) // t.Setenv restores it afterwards
	pw, err = PasswordFromEnv(fallback)(true)
	if err != nil || string(pw) != "prompted" || len(calls) != 1 || !calls[0] {
		t.Fatalf("env unset: %q %v, fallback calls %v", pw, err, calls)
	}
	_, err = PasswordFromEnv(nil)(false)
	if err == nil || !strings.Contains(manifest.Hint(err), PasswordEnv) {
		t.Fatalf("no env, no fallback: %v", err)
	}

	// End to end: the password reaches the key through the variable.
	kp := genPair(t, Ed25519)
	keyFile := writeFile(t, t.TempDir(), "k.key", kp.priv)
	t.Setenv(PasswordEnv, testPassword)
	if _, err := LoadSigner(context.Background(), keyFile, PasswordFromEnv(nil)); err != nil {
		t.Fatal(err)
	}
}

// TestPlainKeys loads unencrypted PEM keys in every supported encoding.
func TestPlainKeys(t *testing.T) {
	t.Parallel() // scrypt and RSA key generation dominate; use both cores
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ec384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	rk, err := rsa.GenerateKey(rand.Reader, 2048) // 2048 is enough to test the encoding
	if err != nil {
		t.Fatal(err)
	}
	pkcs8 := func(k crypto.PrivateKey) []byte {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	}
	ecDER, _ := x509.MarshalECPrivateKey(ec)
	cases := []struct {
		name string
		pem  []byte
		pub  crypto.PublicKey
	}{
		{"pkcs8-ecdsa", pkcs8(ec), ec.Public()},
		{"pkcs8-ecdsa-p384", pkcs8(ec384), ec384.Public()},
		{"pkcs8-ed25519", pkcs8(ed), ed.Public()},
		{"pkcs8-rsa", pkcs8(rk), rk.Public()},
		{"sec1-ec", pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: ecDER}), ec.Public()},
		{"pkcs1-rsa", pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rk)}), rk.Public()},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := LoadSigner(context.Background(), writeFile(t, t.TempDir(), "k.pem", c.pem), noPass(t))
			if err != nil {
				t.Fatal(err)
			}
			if s.KeyID() != verify.KeyID(c.pub) {
				t.Errorf("KeyID %s, want %s", s.KeyID(), verify.KeyID(c.pub))
			}
			pubPEM, _ := s.PublicKeyPEM()
			v, err := verify.LoadVerifier(pubPEM, c.name)
			if err != nil {
				t.Fatal(err)
			}
			sig, err := s.Sign([]byte("plain"))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := verify.VerifySignature([]*verify.Verifier{v}, []byte("plain"), sig); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestEncryptedPKCS8 loads an "ENCRYPTED PRIVATE KEY" (PKCS#8 with PBES2), as
// openssl writes with `openssl pkcs8 -topk8`.
func TestEncryptedPKCS8(t *testing.T) {
	t.Parallel() // scrypt and RSA key generation dominate; use both cores
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := pkcs8.MarshalPrivateKey(k, []byte("pk8pass"), nil)
	if err != nil {
		t.Fatal(err)
	}
	keyFile := writeFile(t, t.TempDir(), "k.p8", pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: der}))
	s, err := LoadSigner(context.Background(), keyFile, staticPass("pk8pass"))
	if err != nil {
		t.Fatal(err)
	}
	if s.KeyID() != verify.KeyID(k.Public()) {
		t.Error("wrong key loaded")
	}
	_, err = LoadSigner(context.Background(), keyFile, staticPass("nope"))
	if err == nil || !strings.Contains(err.Error(), "wrong password?") || !strings.Contains(manifest.Hint(err), PasswordEnv) {
		t.Errorf("wrong password: %v", err)
	}
}

// TestCosignWrittenKeys loads private keys that cosign wrote (see
// testdata/cosign/README.md) under both PEM labels.
func TestCosignWrittenKeys(t *testing.T) {
	t.Parallel() // scrypt and RSA key generation dominate; use both cores
	for _, name := range []string{"cosign-label.key", "sigstore-label.key"} {
		t.Run(name, func(t *testing.T) {
			keyFile := filepath.Join("testdata", "cosign", name)
			s, err := LoadSigner(context.Background(), keyFile, staticPass("hello"))
			if err != nil {
				t.Fatal(err)
			}
			pubPEM, _ := s.PublicKeyPEM()
			v, err := verify.LoadVerifier(pubPEM, keyFile)
			if err != nil {
				t.Fatal(err)
			}
			sig, err := s.Sign([]byte("cosign"))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := verify.VerifySignature([]*verify.Verifier{v}, []byte("cosign"), sig); err != nil {
				t.Fatal(err)
			}
			if name != "cosign-label.key" {
				return // one wrong-password check is enough; each costs an scrypt run
			}
			if _, err := LoadSigner(context.Background(), keyFile, staticPass("nope")); err == nil || !strings.Contains(err.Error(), "wrong password") {
				t.Errorf("wrong password: %v", err)
			}
		})
	}
}

func TestLoadSignerErrors(t *testing.T) {
	dir := t.TempDir()
	kp := genPair(t, ECDSAP256)
	cases := []struct {
		name, ref, want string
	}{
		{"no key", "", "no signing key"},
		{"missing file", filepath.Join(dir, "missing.key"), "no such file"},
		{"not PEM", writeFile(t, dir, "junk.key", []byte("hello")), "no PEM block"},
		{"public key", writeFile(t, dir, "k.pub", kp.pub), "is a public key"},
		{"unknown type", writeFile(t, dir, "cert.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1}})), "unsupported PEM type"},
		{"damaged envelope", writeFile(t, dir, "bad.key", pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED SIGSTORE PRIVATE KEY", Bytes: []byte("{}")})), "reading the encrypted key"},
		{"legacy PEM encryption", writeFile(t, dir, "legacy.key", pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Headers: map[string]string{"Proc-Type": "4,ENCRYPTED", "DEK-Info": "AES-128-CBC,00112233445566778899AABBCCDDEEFF"}, Bytes: []byte{1}})), "legacy PEM encryption"},
		{"KMS without provider", "awskms:///alias/satchel", "no KMS provider for awskms://"},
		{"KMS without provider (vault)", "hashivault://satchel", "no KMS provider for hashivault://"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := LoadSigner(context.Background(), c.ref, staticPass(testPassword))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want it to mention %q", err, c.want)
			}
			requireHint(t, err)
		})
	}
	_, err := LoadSigner(context.Background(), "gcpkms://projects/p/locations/l/keyRings/r/cryptoKeys/k", nil)
	if err == nil || !strings.Contains(manifest.Hint(err), "sign/kms") {
		t.Errorf("KMS hint: %v", err)
	}
}

func TestKeyID(t *testing.T) {
	t.Parallel() // scrypt and RSA key generation dominate; use both cores
	_, v1, kp := loadPair(t, ECDSAP256)
	// Independent computation: SHA-256 of the DER inside the PEM.
	block, _ := pem.Decode(kp.pub)
	sum := sha256.Sum256(block.Bytes)
	if want := "sha256:" + hex.EncodeToString(sum[:]); v1.KeyID != want {
		t.Errorf("KeyID %s, want %s", v1.KeyID, want)
	}
	if !regexp.MustCompile(`^sha256:[0-9a-f]{64}$`).MatchString(v1.KeyID) {
		t.Errorf("KeyID format %q", v1.KeyID)
	}
	// Stable: reloading, and re-encoding the PEM (other line breaks, extra text) give the same ID.
	v2, err := verify.LoadVerifier(append([]byte("comment before the block\n"), kp.pub...), "again")
	if err != nil {
		t.Fatal(err)
	}
	if v2.KeyID != v1.KeyID {
		t.Errorf("KeyID changed on reload: %s vs %s", v2.KeyID, v1.KeyID)
	}
	// An RSA key given as PKCS#1 "RSA PUBLIC KEY" has the same ID as its PKIX form.
	_, vr, kpr := loadPair(t, RSA4096)
	rb, _ := pem.Decode(kpr.pub)
	rpub, _ := x509.ParsePKIXPublicKey(rb.Bytes)
	pkcs1 := pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(rpub.(*rsa.PublicKey))})
	vr2, err := verify.LoadVerifier(pkcs1, "pkcs1")
	if err != nil {
		t.Fatal(err)
	}
	if vr2.KeyID != vr.KeyID {
		t.Errorf("PKCS#1 and PKIX forms differ: %s vs %s", vr2.KeyID, vr.KeyID)
	}
	// Different keys, different IDs.
	_, ve, _ := loadPair(t, Ed25519)
	if ve.KeyID == v1.KeyID || vr.KeyID == v1.KeyID {
		t.Error("distinct keys share a KeyID")
	}
	if verify.KeyID(struct{}{}) != "" {
		t.Error("KeyID of a non-key is not empty")
	}
}

func TestLoadVerifierErrors(t *testing.T) {
	kp := genPair(t, ECDSAP256)
	weak, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	weakDER, _ := x509.MarshalPKIXPublicKey(weak.Public())
	cases := []struct {
		name string
		in   []byte
		want string
	}{
		{"garbage", []byte("not a key"), "no PEM block"},
		{"private key", kp.priv, "private key"},
		{"certificate", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1}}), "CERTIFICATE"},
		{"weak RSA", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: weakDER}), "1024"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := verify.LoadVerifier(c.in, "test.pub")
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want %q", err, c.want)
			}
			requireHint(t, err)
		})
	}
	if _, err := verify.LoadVerifierFile(filepath.Join(t.TempDir(), "none.pub")); err == nil {
		t.Error("missing file loaded")
	} else {
		requireHint(t, err)
	}
}

func TestLoadKeyDir(t *testing.T) {
	t.Parallel() // scrypt and RSA key generation dominate; use both cores
	keys, err := verify.LoadKeyDir(filepath.Join(t.TempDir(), "missing"))
	if err != nil || len(keys) != 0 {
		t.Fatalf("missing dir: %v %v", keys, err)
	}
	dir := t.TempDir()
	a, b := genPair(t, ECDSAP256), genPair(t, Ed25519)
	writeFile(t, dir, "b.pub", a.pub)
	writeFile(t, dir, "a.pub", b.pub)
	writeFile(t, dir, "notes.txt", []byte("ignored"))
	writeFile(t, dir, "satchel.key", a.priv) // not *.pub: ignored
	if err := os.Mkdir(filepath.Join(dir, "sub.pub"), 0o755); err != nil {
		t.Fatal(err)
	}
	keys, err = verify.LoadKeyDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 2 {
		t.Fatalf("got %d keys", len(keys))
	}
	if keys[0].Source != filepath.Join(dir, "a.pub") || keys[1].Source != filepath.Join(dir, "b.pub") {
		t.Errorf("order/sources: %s, %s", keys[0].Source, keys[1].Source)
	}
	if keys[0].Algorithm() != "ed25519" || keys[1].Algorithm() != "ecdsa-p256" {
		t.Errorf("algorithms: %s, %s", keys[0].Algorithm(), keys[1].Algorithm())
	}
	// The loaded keys verify: a signature by b's private key matches keys[0].
	s, err := LoadSigner(context.Background(), writeFile(t, t.TempDir(), "b.key", b.priv), staticPass(testPassword))
	if err != nil {
		t.Fatal(err)
	}
	sig, _ := s.Sign([]byte("dir"))
	got, err := verify.VerifySignature(keys, []byte("dir"), sig)
	if err != nil || got != keys[0] {
		t.Fatalf("VerifySignature: %v %v", got, err)
	}

	writeFile(t, dir, "broken.pub", []byte("garbage"))
	if _, err := verify.LoadKeyDir(dir); err == nil || !strings.Contains(err.Error(), "broken.pub") {
		t.Fatalf("broken key: %v", err)
	} else {
		requireHint(t, err)
	}
}
