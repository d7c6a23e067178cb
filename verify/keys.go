package verify

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/satchel-dev/satchel/manifest"
)

// maxKeyFileSize bounds what LoadVerifierFile reads: a PEM RSA-4096 public
// key is under 1 KiB, so 64 KiB leaves room for comments and a certificate
// chain someone pasted by mistake while refusing /dev/zero or a disk image.
const maxKeyFileSize = 64 << 10

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
}

// PublicKey returns the key.
func (v *Verifier) PublicKey() crypto.PublicKey { return v.pub }

// Algorithm describes the key type, e.g. "ecdsa-p256", "ed25519", "rsa-4096".
func (v *Verifier) Algorithm() string { return keyAlgorithm(v.pub) }

// NewVerifier wraps a public key. It accepts the keys sigstore's
// cryptoutils.ValidatePubKey accepts (sigstore v1.10.11,
// pkg/cryptoutils/publickey.go): ECDSA on P-256, P-384 or P-521, Ed25519,
// and RSA with a 2048, 3072 or 4096-bit modulus. source names it in messages.
func NewVerifier(pub crypto.PublicKey, source string) (*Verifier, error) {
	if err := validatePubKey(pub); err != nil {
		return nil, manifest.HintError(fmt.Errorf("public key %s: %w", source, err),
			"use an ECDSA (P-256/384/521), Ed25519 or RSA (2048/3072/4096) key, e.g. from `satchel-bundle keygen`")
	}
	return &Verifier{KeyID: KeyID(pub), Source: source, pub: pub}, nil
}

func validatePubKey(pub crypto.PublicKey) error {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if n := k.Size() * 8; n != 2048 && n != 3072 && n != 4096 {
			return fmt.Errorf("rsa key size %d is not supported, the modulus must be 2048, 3072 or 4096 bits", n)
		}
		return nil
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256(), elliptic.P384(), elliptic.P521():
		default:
			return fmt.Errorf("ecdsa curve %s is not supported, it must be NIST P-256, P-384 or P-521", k.Curve.Params().Name)
		}
		// A second guard after x509's parse: the encoding must round-trip
		// through the curve's own point decoding (an off-curve point does not).
		if raw, err := k.Bytes(); err != nil {
			return fmt.Errorf("ecdsa public key: %w", err)
		} else if _, err := ecdsa.ParseUncompressedPublicKey(k.Curve, raw); err != nil {
			return fmt.Errorf("ecdsa public key is not on its curve: %w", err)
		}
		return nil
	case ed25519.PublicKey:
		if len(k) != ed25519.PublicKeySize {
			return fmt.Errorf("ed25519 public key is %d bytes", len(k))
		}
		return nil
	}
	return fmt.Errorf("unsupported public key type %T", pub)
}

// Verify checks the raw (not base64) signature sig over msg. The scheme is
// what `cosign verify-blob --key` checks, i.e. sigstore's
// signature.LoadVerifier(pub, crypto.SHA256) (sigstore v1.10.11,
// pkg/signature/verifier.go, ecdsa.go, rsapkcs1v15.go, ed25519.go):
//
//   - ECDSA: ASN.1 DER signature over the SHA-256 of msg (ecdsa.VerifyASN1);
//   - RSA: RSASSA-PKCS1-v1_5 over SHA-256 (never PSS);
//   - Ed25519: pure Ed25519 over msg itself (not Ed25519ph).
//
// It is written against the standard library so that verifying pulls in
// none of sigstore's signing, KMS or protobuf code.
func (v *Verifier) Verify(msg, sig []byte) error {
	switch k := v.pub.(type) {
	case *ecdsa.PublicKey:
		d := sha256.Sum256(msg)
		if !ecdsa.VerifyASN1(k, d[:], sig) {
			return errors.New("invalid ECDSA signature")
		}
		return nil
	case *rsa.PublicKey:
		d := sha256.Sum256(msg)
		return rsa.VerifyPKCS1v15(k, crypto.SHA256, d[:], sig)
	case ed25519.PublicKey:
		if len(sig) != ed25519.SignatureSize || !ed25519.Verify(k, msg, sig) {
			return errors.New("invalid Ed25519 signature")
		}
		return nil
	}
	return fmt.Errorf("unsupported public key type %T", v.pub)
}

// LoadVerifier parses a PEM public key ("PUBLIC KEY", or PKCS#1 "RSA PUBLIC
// KEY", as sigstore's cryptoutils.UnmarshalPEMToPublicKey reads them). A file
// holding more than one PEM block is refused: a trust store that silently
// uses only the first key (or all of them) surprises whoever wrote it.
// source names it in messages.
func LoadVerifier(pubPEM []byte, source string) (*Verifier, error) {
	block, rest := pem.Decode(pubPEM)
	if block == nil {
		return nil, manifest.HintError(fmt.Errorf("public key %s: no PEM block found", source),
			"give the .pub file written by `satchel-bundle keygen` (or `cosign generate-key-pair`)")
	}
	if strings.Contains(block.Type, "PRIVATE KEY") {
		return nil, manifest.HintError(fmt.Errorf("public key %s: this is a private key (%s)", source, block.Type),
			"give the public half (the .pub file); keep the private key on the build host")
	}
	if more, _ := pem.Decode(rest); more != nil {
		return nil, manifest.HintError(fmt.Errorf("public key %s: the file holds more than one PEM block", source),
			"put each trusted key in a file of its own")
	}
	var pub crypto.PublicKey
	var err error
	switch block.Type {
	case "PUBLIC KEY":
		pub, err = x509.ParsePKIXPublicKey(block.Bytes)
	case "RSA PUBLIC KEY":
		pub, err = x509.ParsePKCS1PublicKey(block.Bytes)
	default:
		err = fmt.Errorf("unknown public key PEM type %q", block.Type)
	}
	if err != nil {
		return nil, manifest.HintError(fmt.Errorf("public key %s: %w", source, err),
			"give the .pub file written by `satchel-bundle keygen` (or `cosign generate-key-pair`)")
	}
	return NewVerifier(pub, source)
}

// LoadVerifierFile reads a PEM public key from path. Only a regular file of
// at most 64 KiB is read (not a FIFO, a device or a huge file).
func LoadVerifierFile(path string) (*Verifier, error) {
	b, err := readKeyFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, manifest.HintError(fmt.Errorf("reading public key: %w", err),
				"check the --key path; it should name the publisher's .pub file")
		}
		return nil, fmt.Errorf("reading public key: %w", err)
	}
	return LoadVerifier(b, path)
}

// readKeyFile reads a small regular file without blocking on a FIFO.
func readKeyFile(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|nonblockFlag, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, manifest.HintError(fmt.Errorf("%s is not a regular file (%s)", path, fi.Mode().Type()),
			"give the path of the .pub file itself")
	}
	if fi.Size() > maxKeyFileSize {
		return nil, manifest.HintError(fmt.Errorf("%s is %d bytes, more than a public key file holds", path, fi.Size()),
			"give the path of the .pub file itself")
	}
	b, err := io.ReadAll(io.LimitReader(f, maxKeyFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxKeyFileSize {
		return nil, fmt.Errorf("%s grew past %d bytes while it was read", path, maxKeyFileSize)
	}
	return b, nil
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
