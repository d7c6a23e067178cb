package sign

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/secure-systems-lab/go-securesystemslib/encrypted"
	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/satchel-dev/satchel/verify"

	"github.com/satchel-dev/satchel/internal/testenv"
)

// The tests in this file check the wire format against the standard library
// directly (not through sigstore), in both directions, so that they would
// catch a change of scheme that our own round trip cannot see.

var (
	privMu    sync.Mutex
	privCache = map[string]crypto.Signer{}
)

// privateKey decrypts a generated pair's private key without our loader.
func privateKey(t *testing.T, kp keyPair) crypto.Signer {
	t.Helper()
	privMu.Lock()
	defer privMu.Unlock()
	if k, ok := privCache[string(kp.priv)]; ok {
		return k
	}
	block, _ := pem.Decode(kp.priv)
	der, err := encrypted.Decrypt(block.Bytes, []byte(testPassword))
	if err != nil {
		t.Fatal(err)
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		t.Fatal(err)
	}
	privCache[string(kp.priv)] = k.(crypto.Signer)
	return k.(crypto.Signer)
}

func TestSignatureWireFormat(t *testing.T) {
	t.Parallel() // scrypt and RSA key generation dominate; use both cores
	msg := []byte("{\n  \"formatVersion\": 1,\n  \"name\": \"compat\"\n}\n")
	digest := sha256.Sum256(msg)
	for _, alg := range algorithms {
		t.Run(string(alg), func(t *testing.T) {
			s, v, _ := loadPair(t, alg)
			sigB64, err := s.Sign(msg)
			if err != nil {
				t.Fatal(err)
			}
			raw, err := base64.StdEncoding.Strict().DecodeString(string(sigB64))
			if err != nil {
				t.Fatalf("not standard base64: %v", err)
			}
			switch pub := v.PublicKey().(type) {
			case *ecdsa.PublicKey:
				if !ecdsa.VerifyASN1(pub, digest[:], raw) {
					t.Error("ecdsa.VerifyASN1(SHA-256(msg)) rejects our signature")
				}
			case ed25519.PublicKey:
				if len(raw) != ed25519.SignatureSize || !ed25519.Verify(pub, msg, raw) {
					t.Error("ed25519.Verify (pure Ed25519) rejects our signature")
				}
				// And it is not Ed25519ph, which cosign verify-blob --key would reject.
				ph := sha512.Sum512(msg)
				if ed25519.VerifyWithOptions(pub, ph[:], raw, &ed25519.Options{Hash: crypto.SHA512}) == nil {
					t.Error("signature verifies as Ed25519ph")
				}
			case *rsa.PublicKey:
				if len(raw) != 512 {
					t.Errorf("RSA-4096 signature is %d bytes", len(raw))
				}
				if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, digest[:], raw); err != nil {
					t.Errorf("rsa.VerifyPKCS1v15(SHA-256) rejects our signature: %v", err)
				}
			default:
				t.Fatalf("unexpected key type %T", pub)
			}
		})
	}
}

// TestForeignSignatures feeds VerifySignature signatures made with the
// standard library the way cosign sign-blob makes them without a tlog, and
// checks that variants cosign verify-blob --key would reject are rejected.
func TestForeignSignatures(t *testing.T) {
	t.Parallel() // scrypt and RSA key generation dominate; use both cores
	msg := []byte("signed elsewhere\n")
	digest := sha256.Sum256(msg)
	for _, alg := range algorithms {
		t.Run(string(alg), func(t *testing.T) {
			_, v, kp := loadPair(t, alg)
			priv := privateKey(t, kp)
			var good, bad []byte
			var err error
			switch k := priv.(type) {
			case *ecdsa.PrivateKey:
				good, err = ecdsa.SignASN1(rand.Reader, k, digest[:])
				// Signed over SHA-512 instead: must not verify.
				d512 := sha512.Sum512(msg)
				bad, _ = ecdsa.SignASN1(rand.Reader, k, d512[:])
			case ed25519.PrivateKey:
				good = ed25519.Sign(k, msg)
				ph := sha512.Sum512(msg)
				bad, _ = k.Sign(nil, ph[:], &ed25519.Options{Hash: crypto.SHA512}) // Ed25519ph
			case *rsa.PrivateKey:
				good, err = rsa.SignPKCS1v15(nil, k, crypto.SHA256, digest[:])
				bad, _ = rsa.SignPSS(rand.Reader, k, crypto.SHA256, digest[:], nil)
			}
			if err != nil {
				t.Fatal(err)
			}
			enc := func(b []byte) []byte { return []byte(base64.StdEncoding.EncodeToString(b)) }
			if _, err := verify.VerifySignature([]*verify.Verifier{v}, msg, enc(good)); err != nil {
				t.Errorf("standard signature rejected: %v", err)
			}
			if len(bad) == 0 {
				t.Fatal("no variant signature made")
			}
			_, err = verify.VerifySignature([]*verify.Verifier{v}, msg, enc(bad))
			requireVerificationError(t, err)
		})
	}
}

// TestCosignVerifyBlob runs the real cosign when it is installed.
func TestCosignVerifyBlob(t *testing.T) {
	cosign := testenv.RequireBinary(t, "cosign") // test/e2e/realbins.sh builds it
	msg := []byte("{\n  \"formatVersion\": 1\n}\n")
	for _, alg := range algorithms {
		t.Run(string(alg), func(t *testing.T) {
			s, _, kp := loadPair(t, alg)
			sig, err := s.Sign(msg)
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			pub := writeFile(t, dir, "satchel.pub", kp.pub)
			sigFile := writeFile(t, dir, "satchel.json.sig", sig)
			blob := writeFile(t, dir, "satchel.json", msg)
			run := func(blob string) ([]byte, error) {
				cmd := exec.Command(cosign, "verify-blob", "--key", pub, "--signature", sigFile, "--insecure-ignore-tlog", blob)
				cmd.Env = append(os.Environ(), "SIGSTORE_NO_CACHE=1", "TUF_ROOT="+filepath.Join(dir, "tuf"))
				return cmd.CombinedOutput()
			}
			if out, err := run(blob); err != nil {
				t.Fatalf("cosign verify-blob rejects our signature: %v\n%s", err, out)
			}
			tampered := writeFile(t, dir, "tampered.json", append(bytes.Clone(msg), ' '))
			if out, err := run(tampered); err == nil {
				t.Fatalf("cosign verify-blob accepts a tampered blob:\n%s", out)
			}
		})
	}
}

// TestVerifierAgreesWithSigstore checks that package verify's standard
// library verifier accepts and refuses exactly what sigstore's
// signature.LoadVerifier(pub, SHA256) — what `cosign verify-blob --key`
// uses — accepts and refuses, on good signatures and on every variant.
func TestVerifierAgreesWithSigstore(t *testing.T) {
	t.Parallel()
	msg := []byte("{\n  \"formatVersion\": 1,\n  \"name\": \"agree\"\n}\n")
	digest := sha256.Sum256(msg)
	for _, alg := range algorithms {
		t.Run(string(alg), func(t *testing.T) {
			s, v, kp := loadPair(t, alg)
			ref, err := signature.LoadVerifier(v.PublicKey(), crypto.SHA256)
			if err != nil {
				t.Fatal(err)
			}
			good, err := s.Sign(msg)
			if err != nil {
				t.Fatal(err)
			}
			raw, _ := base64.StdEncoding.DecodeString(string(good))
			priv := privateKey(t, kp)
			variants := map[string][]byte{"good": raw, "empty": {}}
			flipped := bytes.Clone(raw)
			flipped[len(flipped)/2] ^= 0x10
			variants["flipped"] = flipped
			variants["truncated"] = raw[:len(raw)-1]
			switch k := priv.(type) {
			case *ecdsa.PrivateKey:
				d512 := sha512.Sum512(msg)
				variants["sha512"], _ = ecdsa.SignASN1(rand.Reader, k, d512[:])
			case ed25519.PrivateKey:
				ph := sha512.Sum512(msg)
				variants["ed25519ph"], _ = k.Sign(nil, ph[:], &ed25519.Options{Hash: crypto.SHA512})
			case *rsa.PrivateKey:
				variants["pss"], _ = rsa.SignPSS(rand.Reader, k, crypto.SHA256, digest[:], nil)
			}
			for name, sig := range variants {
				for _, m := range [][]byte{msg, append(bytes.Clone(msg), '\n')} {
					want := ref.VerifySignature(bytes.NewReader(sig), bytes.NewReader(m)) == nil
					got := v.Verify(m, sig) == nil
					if got != want {
						t.Errorf("%s (message %d bytes): verify says %v, sigstore says %v", name, len(m), got, want)
					}
				}
			}
		})
	}
}
