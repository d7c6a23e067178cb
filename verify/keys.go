package verify

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/secure-systems-lab/go-securesystemslib/encrypted"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/cryptoutils/goodkey"
	"github.com/sigstore/sigstore/pkg/signature"

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

// KeyID names a public key: "sha256:" followed by the hex SHA-256 of its DER
// SubjectPublicKeyInfo. It is "" for a key type x509 cannot encode.
func KeyID(pub crypto.PublicKey) string {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(der)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// keyAlgorithm describes a public key for people: "ecdsa-p256", "ed25519",
// "rsa-4096", and so on.
func keyAlgorithm(pub crypto.PublicKey) string {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		return "ecdsa-" + strings.ToLower(strings.ReplaceAll(k.Curve.Params().Name, "-", ""))
	case ed25519.PublicKey:
		return "ed25519"
	case *rsa.PublicKey:
		return fmt.Sprintf("rsa-%d", k.Size()*8)
	}
	return fmt.Sprintf("%T", pub)
}

// Verifier is a trusted public key.
type Verifier struct {
	// KeyID is the key's KeyID ("sha256:<hex>").
	KeyID string
	// Source says where the key came from (a file name, "--key", …), for messages.
	Source string

	pub crypto.PublicKey
	v   signature.Verifier
}

// PublicKey returns the key.
func (v *Verifier) PublicKey() crypto.PublicKey { return v.pub }

// Algorithm describes the key type, e.g. "ecdsa-p256", "ed25519", "rsa-4096".
func (v *Verifier) Algorithm() string { return keyAlgorithm(v.pub) }

// newVerifier wraps pub in sigstore's verifier with the parameters cosign's
// `verify-blob --key` uses: signature.LoadVerifier(pub, crypto.SHA256), so
// ECDSA and RSA PKCS#1 v1.5 hash with SHA-256 and Ed25519 is pure Ed25519.
func newVerifier(pub crypto.PublicKey, source string) (*Verifier, error) {
	if err := goodkey.ValidatePubKey(pub); err != nil {
		return nil, manifest.HintError(fmt.Errorf("public key %s: %w", source, err),
			"use an ECDSA (P-256/384/521), Ed25519 or RSA (2048/3072/4096) key, e.g. from `satchel-bundle keygen`")
	}
	v, err := signature.LoadVerifier(pub, crypto.SHA256)
	if err != nil {
		return nil, fmt.Errorf("public key %s: %w", source, err)
	}
	return &Verifier{KeyID: KeyID(pub), Source: source, pub: pub, v: v}, nil
}

// LoadVerifier parses a PEM public key ("PUBLIC KEY", or PKCS#1 "RSA PUBLIC
// KEY"). source names it in messages.
func LoadVerifier(pubPEM []byte, source string) (*Verifier, error) {
	block, _ := pem.Decode(pubPEM)
	if block == nil {
		return nil, manifest.HintError(fmt.Errorf("public key %s: no PEM block found", source),
			"give the .pub file written by `satchel-bundle keygen` (or `cosign generate-key-pair`)")
	}
	if strings.Contains(block.Type, "PRIVATE KEY") {
		return nil, manifest.HintError(fmt.Errorf("public key %s: this is a private key (%s)", source, block.Type),
			"give the public half (the .pub file); keep the private key on the build host")
	}
	pub, err := cryptoutils.UnmarshalPEMToPublicKey(pubPEM)
	if err != nil {
		return nil, manifest.HintError(fmt.Errorf("public key %s: %w", source, err),
			"give the .pub file written by `satchel-bundle keygen` (or `cosign generate-key-pair`)")
	}
	return newVerifier(pub, source)
}

// LoadVerifierFile reads a PEM public key from path.
func LoadVerifierFile(path string) (*Verifier, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, manifest.HintError(fmt.Errorf("reading public key: %w", err),
				"check the --key path; it should name the publisher's .pub file")
		}
		return nil, fmt.Errorf("reading public key: %w", err)
	}
	return LoadVerifier(b, path)
}

// LoadKeyDir loads every *.pub file in dir, in name order. A missing dir
// holds no keys and is not an error; an unreadable or malformed key is,
// because a trust store that silently drops keys is hard to debug.
func LoadKeyDir(dir string) ([]*Verifier, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("reading key directory: %w", err)
	}
	var names []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".pub") && !e.IsDir() {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	var keys []*Verifier
	for _, n := range names {
		p := filepath.Join(dir, n)
		if fi, err := os.Stat(p); err == nil && fi.IsDir() {
			continue // a symlink to a directory
		}
		v, err := LoadVerifierFile(p)
		if err != nil {
			// err already ends with a hint about the key file.
			return nil, fmt.Errorf("trusted key directory %s: %w", dir, err)
		}
		keys = append(keys, v)
	}
	return keys, nil
}
