package sign

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/pem"
	"errors"
	"fmt"
	"os"

	"github.com/secure-systems-lab/go-securesystemslib/encrypted"
	"github.com/sigstore/sigstore/pkg/cryptoutils"

	"github.com/satchel-dev/satchel/manifest"
)

// Algorithm names a key type for GenerateKeyPair.
type Algorithm string

// Key algorithms. ECDSAP256 is the default and what cosign generates.
const (
	ECDSAP256 Algorithm = "ecdsa-p256"
	Ed25519   Algorithm = "ed25519"
	RSA4096   Algorithm = "rsa-4096"
)

// DefaultAlgorithm is used when an empty Algorithm is given.
const DefaultAlgorithm = ECDSAP256

// PasswordEnv is the environment variable PasswordFromEnv reads.
const PasswordEnv = "SATCHEL_PASSWORD"

// PEM block types of private keys (the two encrypted ones are cosign's).
const (
	pemEncryptedSigstore = string(cryptoutils.EncryptedSigstorePrivateKeyPEMType) // "ENCRYPTED SIGSTORE PRIVATE KEY"
	pemEncryptedCosign   = "ENCRYPTED COSIGN PRIVATE KEY"
)

// GenerateKeyPair creates a key pair. The private key is PKCS#8, encrypted
// with password the way cosign does (scrypt + NaCl secretbox via
// go-securesystemslib/encrypted) in an "ENCRYPTED SIGSTORE PRIVATE KEY" PEM
// block; an empty or nil password is allowed and still encrypts. The public
// key is a "PUBLIC KEY" PEM block. An empty alg means DefaultAlgorithm.
func GenerateKeyPair(alg Algorithm, password []byte) (privPEM, pubPEM []byte, err error) {
	if alg == "" {
		alg = DefaultAlgorithm
	}
	var priv crypto.Signer
	switch alg {
	case ECDSAP256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case Ed25519:
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	case RSA4096:
		priv, err = rsa.GenerateKey(rand.Reader, 4096)
	default:
		return nil, nil, manifest.HintError(fmt.Errorf("unknown key algorithm %q", alg),
			"choose ecdsa-p256 (the default), ed25519 or rsa-4096")
	}
	if err != nil {
		return nil, nil, fmt.Errorf("generating %s key: %w", alg, err)
	}
	der, err := cryptoutils.MarshalPrivateKeyToDER(priv)
	if err != nil {
		return nil, nil, fmt.Errorf("encoding private key: %w", err)
	}
	defer clear(der)
	if password == nil {
		password = []byte{} // encrypted.Encrypt treats nil and empty alike; be explicit
	}
	box, err := encrypted.Encrypt(der, password)
	if err != nil {
		return nil, nil, fmt.Errorf("encrypting private key: %w", err)
	}
	privPEM = pem.EncodeToMemory(&pem.Block{Type: pemEncryptedSigstore, Bytes: box})
	pubPEM, err = cryptoutils.MarshalPublicKeyToPEM(priv.Public())
	if err != nil {
		return nil, nil, fmt.Errorf("encoding public key: %w", err)
	}
	return privPEM, pubPEM, nil
}

// PassFunc returns the password of an encrypted private key. confirm asks
// for the password twice (when a new key is created).
type PassFunc func(confirm bool) ([]byte, error)

// PasswordFromEnv returns a PassFunc that uses SATCHEL_PASSWORD when it is set
// (even to the empty string) and otherwise calls fallback, typically a
// terminal prompt. With a nil fallback and no variable it fails with a hint.
func PasswordFromEnv(fallback PassFunc) PassFunc {
	return func(confirm bool) ([]byte, error) {
		if pw, ok := os.LookupEnv(PasswordEnv); ok {
			return []byte(pw), nil
		}
		if fallback == nil {
			return nil, manifest.HintError(errors.New("the private key is encrypted and no password was given"),
				"set "+PasswordEnv+" to the key's password")
		}
		return fallback(confirm)
	}
}
