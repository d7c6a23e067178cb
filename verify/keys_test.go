package verify

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/satchel-dev/satchel/manifest"
)

// These tests make keys and signatures with the standard library only: the
// signing side (package sign) is tested against this verifier there.

type stdKey struct {
	name   string
	priv   crypto.Signer
	pubPEM []byte
}

var (
	stdKeysOnce sync.Once
	stdKeys     []stdKey
)

func pubPEM(t testing.TB, pub crypto.PublicKey) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// keys returns one key of each kind (RSA 2048 to keep the test fast).
func keys(t testing.TB) []stdKey {
	t.Helper()
	stdKeysOnce.Do(func() {
		ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		ec384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
		_, ed, _ := ed25519.GenerateKey(rand.Reader)
		rs, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range []stdKey{{name: "ecdsa-p256", priv: ec}, {name: "ecdsa-p384", priv: ec384}, {name: "ed25519", priv: ed}, {name: "rsa-2048", priv: rs}} {
			k.pubPEM = pubPEM(t, k.priv.Public())
			stdKeys = append(stdKeys, k)
		}
	})
	return stdKeys
}

// cosignStyle signs msg the way `cosign sign-blob --key` does without a
// transparency log, with the standard library.
func cosignStyle(t testing.TB, k crypto.Signer, msg []byte) []byte {
	t.Helper()
	d := sha256.Sum256(msg)
	var raw []byte
	var err error
	switch k := k.(type) {
	case *ecdsa.PrivateKey:
		raw, err = ecdsa.SignASN1(rand.Reader, k, d[:])
	case ed25519.PrivateKey:
		raw = ed25519.Sign(k, msg)
	case *rsa.PrivateKey:
		raw, err = rsa.SignPKCS1v15(nil, k, crypto.SHA256, d[:])
	}
	if err != nil {
		t.Fatal(err)
	}
	return []byte(base64.StdEncoding.EncodeToString(raw))
}

// variant signs msg with a scheme cosign verify-blob --key rejects.
func variant(t testing.TB, k crypto.Signer, msg []byte) []byte {
	t.Helper()
	var raw []byte
	switch k := k.(type) {
	case *ecdsa.PrivateKey:
		d := sha512.Sum512(msg) // over SHA-512 instead of SHA-256
		raw, _ = ecdsa.SignASN1(rand.Reader, k, d[:])
	case ed25519.PrivateKey:
		ph := sha512.Sum512(msg)
		raw, _ = k.Sign(nil, ph[:], &ed25519.Options{Hash: crypto.SHA512}) // Ed25519ph
	case *rsa.PrivateKey:
		d := sha256.Sum256(msg)
		raw, _ = rsa.SignPSS(rand.Reader, k, crypto.SHA256, d[:], nil) // PSS
	}
	if len(raw) == 0 {
		t.Fatal("no variant signature made")
	}
	return []byte(base64.StdEncoding.EncodeToString(raw))
}

func TestVerifyForeignSignatures(t *testing.T) {
	msg := []byte("{\n  \"formatVersion\": 1\n}\n")
	for _, k := range keys(t) {
		t.Run(k.name, func(t *testing.T) {
			v, err := LoadVerifier(k.pubPEM, k.name+".pub")
			if err != nil {
				t.Fatal(err)
			}
			if v.Algorithm() != k.name {
				t.Errorf("Algorithm() = %q", v.Algorithm())
			}
			got, err := VerifySignature([]*Verifier{v}, msg, cosignStyle(t, k.priv, msg))
			if err != nil || got != v {
				t.Fatalf("standard signature: %v %v", got, err)
			}
			_, err = VerifySignature([]*Verifier{v}, msg, variant(t, k.priv, msg))
			requireVerificationError(t, err)
			tampered := append(bytes.Clone(msg), ' ')
			_, err = VerifySignature([]*Verifier{v}, tampered, cosignStyle(t, k.priv, msg))
			requireVerificationError(t, err)
		})
	}
}

func TestVerifySignatureWhichKey(t *testing.T) {
	msg := []byte("which key?")
	var vs []*Verifier
	for _, k := range keys(t) {
		v, err := LoadVerifier(k.pubPEM, k.name)
		if err != nil {
			t.Fatal(err)
		}
		vs = append(vs, v)
	}
	for i, k := range keys(t) {
		got, err := VerifySignature(vs, msg, cosignStyle(t, k.priv, msg))
		if err != nil || got != vs[i] {
			t.Errorf("%s: matched %v, %v", k.name, got, err)
		}
		others := append(append([]*Verifier(nil), vs[:i]...), vs[i+1:]...)
		_, err = VerifySignature(others, msg, cosignStyle(t, k.priv, msg))
		requireVerificationError(t, err)
		for _, o := range others {
			if !strings.Contains(err.Error(), o.KeyID) {
				t.Errorf("error does not list tried key %s: %v", o.KeyID, err)
			}
		}
	}
}

func TestVerifySignatureInput(t *testing.T) {
	k := keys(t)[0]
	v, err := LoadVerifier(k.pubPEM, "k")
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte("m")
	sig := cosignStyle(t, k.priv, msg)
	if _, err := VerifySignature([]*Verifier{v}, msg, append(bytes.Clone(sig), '\n')); err != nil {
		t.Errorf("trailing newline: %v", err)
	}
	for name, in := range map[string][]byte{
		"empty":      nil,
		"spaces":     []byte(" \n"),
		"not base64": []byte("!!!not-base64!!!"),
		"raw bytes":  {0x30, 0x45, 0x02, 0x21},
		"oversized":  []byte(base64.StdEncoding.EncodeToString(make([]byte, 4096))),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := VerifySignature([]*Verifier{v}, msg, in)
			requireVerificationError(t, err)
		})
	}
	_, err = VerifySignature(nil, msg, sig)
	requireVerificationError(t, err)
	if MaxSignatureB64Len != len(base64.StdEncoding.EncodeToString(make([]byte, MaxSignatureLen))) {
		t.Errorf("MaxSignatureB64Len %d does not match MaxSignatureLen %d", MaxSignatureB64Len, MaxSignatureLen)
	}
}

func TestKeyID(t *testing.T) {
	for _, k := range keys(t) {
		v, err := LoadVerifier(k.pubPEM, k.name)
		if err != nil {
			t.Fatal(err)
		}
		block, _ := pem.Decode(k.pubPEM)
		sum := sha256.Sum256(block.Bytes)
		if want := "sha256:" + hex.EncodeToString(sum[:]); v.KeyID != want {
			t.Errorf("%s: KeyID %s, want %s", k.name, v.KeyID, want)
		}
		again, err := LoadVerifier(append([]byte("comment before the block\n"), k.pubPEM...), "again")
		if err != nil || again.KeyID != v.KeyID {
			t.Errorf("%s: reload gave %v, %v", k.name, again, err)
		}
	}
	rs := keys(t)[3].priv.Public().(*rsa.PublicKey)
	pkcs1 := pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(rs)})
	v1, err := LoadVerifier(pkcs1, "pkcs1")
	if err != nil {
		t.Fatal(err)
	}
	if v1.KeyID != KeyID(rs) {
		t.Error("PKCS#1 and PKIX forms of one key have different IDs")
	}
	if KeyID(struct{}{}) != "" {
		t.Error("KeyID of a non-key is not empty")
	}
}

func TestLoadVerifierErrors(t *testing.T) {
	weak, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	ec224, _ := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	privDER, _ := x509.MarshalPKCS8PrivateKey(keys(t)[0].priv)
	cases := []struct {
		name string
		in   []byte
		want string
	}{
		{"garbage", []byte("not a key"), "no PEM block"},
		{"private key", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privDER}), "private key"},
		{"certificate", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1}}), "CERTIFICATE"},
		{"weak RSA", pubPEM(t, weak.Public()), "1024"},
		{"P-224", pubPEM(t, ec224.Public()), "P-224"},
		{"two keys", append(bytes.Clone(keys(t)[0].pubPEM), keys(t)[1].pubPEM...), "more than one PEM block"},
		{"bad DER", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte{0x30, 0x01}}), "public key"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := LoadVerifier(c.in, "test.pub")
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want %q", err, c.want)
			}
			requireHint(t, err)
		})
	}
}

func TestLoadVerifierFileOnlyReadsSmallRegularFiles(t *testing.T) {
	dir := t.TempDir()
	if _, err := LoadVerifierFile(filepath.Join(dir, "none.pub")); err == nil {
		t.Error("missing file loaded")
	} else {
		requireHint(t, err)
	}
	good := filepath.Join(dir, "good.pub")
	if err := os.WriteFile(good, keys(t)[0].pubPEM, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadVerifierFile(good); err != nil {
		t.Fatal(err)
	}
	// A FIFO nobody writes to would block a plain read forever.
	fifo := filepath.Join(dir, "fifo.pub")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadVerifierFile(fifo); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("FIFO: %v", err)
	}
	if _, err := LoadVerifierFile("/dev/zero"); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("/dev/zero: %v", err)
	}
	big := filepath.Join(dir, "big.pub")
	if err := os.WriteFile(big, append(bytes.Repeat([]byte("#"), maxKeyFileSize), keys(t)[0].pubPEM...), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadVerifierFile(big); err == nil || !strings.Contains(err.Error(), "more than a public key file holds") {
		t.Errorf("big file: %v", err)
	}
}

func TestLoadKeyDir(t *testing.T) {
	keys0, err := LoadKeyDir(filepath.Join(t.TempDir(), "missing"))
	if err != nil || len(keys0) != 0 {
		t.Fatalf("missing dir: %v %v", keys0, err)
	}
	dir := t.TempDir()
	write := func(name string, b []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("b.pub", keys(t)[0].pubPEM)
	write("a.pub", keys(t)[2].pubPEM)
	write("notes.txt", []byte("ignored"))
	if err := os.Mkdir(filepath.Join(dir, "sub.pub"), 0o755); err != nil {
		t.Fatal(err)
	}
	got, err := LoadKeyDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].Source != filepath.Join(dir, "a.pub") || got[0].Algorithm() != "ed25519" || got[1].Algorithm() != "ecdsa-p256" {
		t.Fatalf("keys: %+v", got)
	}
	write("broken.pub", []byte("garbage"))
	if _, err := LoadKeyDir(dir); err == nil || !strings.Contains(err.Error(), "broken.pub") {
		t.Fatalf("broken key: %v", err)
	} else {
		requireHint(t, err)
	}
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
