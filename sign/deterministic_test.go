package sign

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/satchel-dev/satchel/verify"
)

// A rebuild from the same lock must be byte-identical, signature included,
// so signing the same bytes twice with a key file gives the same signature.
func TestSignDeterministic(t *testing.T) {
	for _, alg := range []Algorithm{ECDSAP256, Ed25519, RSA4096} {
		t.Run(string(alg), func(t *testing.T) {
			priv, pub, err := GenerateKeyPair(alg, []byte("pw"))
			if err != nil {
				t.Fatal(err)
			}
			f := filepath.Join(t.TempDir(), "k")
			os.WriteFile(f, priv, 0o600)
			s, err := LoadSigner(context.Background(), f, func(bool) ([]byte, error) { return []byte("pw"), nil })
			if err != nil {
				t.Fatal(err)
			}
			msg := []byte(`{"formatVersion": 1}` + "\n")
			a, err := s.Sign(msg)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := s.Sign(msg)
			if !bytes.Equal(a, b) {
				t.Fatalf("two signatures of the same bytes differ:\n%s\n%s", a, b)
			}
			v, _ := verify.LoadVerifier(pub, "pub")
			if _, err := verify.VerifySignature([]*verify.Verifier{v}, msg, a); err != nil {
				t.Fatal(err)
			}
			c, _ := s.Sign(append(msg, ' '))
			if bytes.Equal(a, c) {
				t.Fatal("different messages gave the same signature")
			}
		})
	}
}
