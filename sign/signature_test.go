package sign

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/sigstore/sigstore/pkg/cryptoutils"

	"github.com/satchel-dev/satchel/verify"
)

func TestVerifySignatureFailures(t *testing.T) {
	t.Parallel() // scrypt and RSA key generation dominate; use both cores
	msg := []byte(`{"name":"kylin-runtimes","sequence":7}` + "\n")
	for _, alg := range algorithms {
		t.Run(string(alg), func(t *testing.T) {
			s, v, _ := loadPair(t, alg)
			sig, err := s.Sign(msg)
			if err != nil {
				t.Fatal(err)
			}
			// Every single-byte change of the message is caught.
			for _, i := range []int{0, len(msg) / 2, len(msg) - 1} {
				tampered := bytes.Clone(msg)
				tampered[i] ^= 0x01
				_, err := verify.VerifySignature([]*verify.Verifier{v}, tampered, sig)
				requireVerificationError(t, err)
			}
			// Appended bytes too.
			_, err = verify.VerifySignature([]*verify.Verifier{v}, append(bytes.Clone(msg), ' '), sig)
			requireVerificationError(t, err)
			// A flipped bit in the signature.
			raw, _ := base64.StdEncoding.DecodeString(string(sig))
			raw[len(raw)/2] ^= 0x80
			_, err = verify.VerifySignature([]*verify.Verifier{v}, msg, []byte(base64.StdEncoding.EncodeToString(raw)))
			requireVerificationError(t, err)
		})
	}
}

func TestVerifySignatureWrongKey(t *testing.T) {
	t.Parallel() // scrypt and RSA key generation dominate; use both cores
	msg := []byte("index")
	s, _, _ := loadPair(t, ECDSAP256)
	_, other, _ := loadPair(t, Ed25519)
	_, other2, _ := loadPair(t, RSA4096)
	sig, err := s.Sign(msg)
	if err != nil {
		t.Fatal(err)
	}
	_, err = verify.VerifySignature([]*verify.Verifier{other, other2}, msg, sig)
	requireVerificationError(t, err)
	if !strings.Contains(err.Error(), other.KeyID) || !strings.Contains(err.Error(), other2.KeyID) {
		t.Errorf("error does not list the tried keys: %v", err)
	}
	// Another key of the same algorithm.
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := cryptoutils.MarshalPublicKeyToPEM(k.Public())
	same, err := verify.LoadVerifier(pub, "same-alg")
	if err != nil {
		t.Fatal(err)
	}
	_, err = verify.VerifySignature([]*verify.Verifier{same}, msg, sig)
	requireVerificationError(t, err)
}

func TestVerifySignatureMultipleKeys(t *testing.T) {
	t.Parallel() // scrypt and RSA key generation dominate; use both cores
	msg := []byte("which key?")
	signers := map[Algorithm]*Signer{}
	var keys []*verify.Verifier
	for _, alg := range algorithms {
		s, v, _ := loadPair(t, alg)
		signers[alg] = s
		keys = append(keys, v)
	}
	for i, alg := range algorithms {
		sig, err := signers[alg].Sign(msg)
		if err != nil {
			t.Fatal(err)
		}
		got, err := verify.VerifySignature(keys, msg, sig)
		if err != nil {
			t.Fatalf("%s: %v", alg, err)
		}
		if got != keys[i] {
			t.Errorf("%s: matched %s (%s), want %s", alg, got.KeyID, got.Algorithm(), keys[i].KeyID)
		}
		// Order does not matter: reversed list, same key.
		rev := []*verify.Verifier{keys[2], keys[1], keys[0]}
		if got, err := verify.VerifySignature(rev, msg, sig); err != nil || got != keys[i] {
			t.Errorf("%s reversed: %v %v", alg, got, err)
		}
	}
}

func TestVerifySignatureInput(t *testing.T) {
	t.Parallel() // scrypt and RSA key generation dominate; use both cores
	msg := []byte("m")
	s, v, _ := loadPair(t, ECDSAP256)
	sig, _ := s.Sign(msg)
	// A trailing newline (as `echo` or an editor adds) is tolerated.
	if _, err := verify.VerifySignature([]*verify.Verifier{v}, msg, append(bytes.Clone(sig), '\n')); err != nil {
		t.Errorf("trailing newline: %v", err)
	}
	bad := map[string][]byte{
		"empty":      nil,
		"spaces":     []byte(" \n"),
		"not base64": []byte("!!!not-base64!!!"),
		"raw bytes":  {0x30, 0x45, 0x02, 0x21},
		"oversized":  []byte(base64.StdEncoding.EncodeToString(make([]byte, 4096))),
	}
	for name, in := range bad {
		t.Run(name, func(t *testing.T) {
			_, err := verify.VerifySignature([]*verify.Verifier{v}, msg, in)
			requireVerificationError(t, err)
		})
	}
	_, err := verify.VerifySignature(nil, msg, sig)
	requireVerificationError(t, err)
	if !strings.Contains(err.Error(), "no trusted public key") {
		t.Errorf("no keys: %v", err)
	}
}
