package sign

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/secure-systems-lab/go-securesystemslib/encrypted"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/kms"
	"github.com/sigstore/sigstore/pkg/signature/options"

	"github.com/satchel-dev/satchel/manifest"
	"github.com/satchel-dev/satchel/verify"
)

var kmsSchemes = []string{"awskms://", "gcpkms://", "azurekms://", "hashivault://"}

// KMSSchemes returns the key reference prefixes LoadSigner treats as KMS keys
// even when no provider is linked (to explain what is missing). Providers
// linked through sign/kms may add more (openbao://).
func KMSSchemes() []string { return append([]string(nil), kmsSchemes...) }

// Signer signs satchel.json with a private key file or a KMS key.
type Signer struct {
	ref string
	sv  signature.Signer
	pub crypto.PublicKey
	ver *verify.Verifier
	// ctx is kept for KMS calls, which are network calls made by Sign.
	ctx context.Context
	// rfc6979 is set for ECDSA key files: their signatures are made
	// deterministic (RFC 6979, crypto/ecdsa with a nil random source), so the
	// same index signed with the same key gives the same bytes and a rebuild
	// from the same lock is byte-identical. Ed25519 and RSA PKCS#1 v1.5 are
	// deterministic already; KMS keys sign with the provider's randomness.
	rfc6979 *ecdsa.PrivateKey
}

// LoadSigner loads the signing key ref: a PEM file (cosign/sigstore
// encrypted, PKCS#8, EC or PKCS#1 RSA) or a KMS URI (see KMSSchemes). pass is
// asked only for encrypted keys; a nil pass tries the empty password. ctx
// bounds KMS calls, including the later ones made by Sign.
func LoadSigner(ctx context.Context, ref string, pass PassFunc) (*Signer, error) {
	if ref == "" {
		return nil, manifest.HintError(errors.New("no signing key given"),
			"pass --key with a private key file (create one with `satchel-bundle keygen`) or a KMS URI such as awskms:///alias/satchel")
	}
	if isKMSRef(ref) {
		return loadKMSSigner(ctx, ref)
	}
	b, err := os.ReadFile(ref)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, manifest.HintError(fmt.Errorf("reading signing key: %w", err),
				"check the --key path, or create a key with `satchel-bundle keygen`")
		}
		return nil, fmt.Errorf("reading signing key: %w", err)
	}
	priv, err := parsePrivateKey(b, ref, pass)
	if err != nil {
		return nil, err
	}
	var pub crypto.PublicKey
	switch k := priv.(type) {
	case *ecdsa.PrivateKey:
		pub = k.Public()
	case ed25519.PrivateKey:
		pub = k.Public()
	case *rsa.PrivateKey:
		pub = k.Public()
	default:
		return nil, manifest.HintError(fmt.Errorf("signing key %s: unsupported key type %T", ref, priv),
			"use an ECDSA, Ed25519 or RSA key, e.g. from `satchel-bundle keygen`")
	}
	// No Ed25519ph and no RSA-PSS option: pure Ed25519 and PKCS#1 v1.5, which
	// is what `cosign verify-blob --key` checks (see the package doc).
	sv, err := signature.LoadSignerWithOpts(priv, options.WithHash(crypto.SHA256))
	if err != nil {
		return nil, fmt.Errorf("signing key %s: %w", ref, err)
	}
	signer, err := newSigner(ctx, ref, sv, pub)
	if err != nil {
		return nil, err
	}
	if k, ok := priv.(*ecdsa.PrivateKey); ok {
		signer.rfc6979 = k
	}
	return signer, nil
}

func newSigner(ctx context.Context, ref string, sv signature.Signer, pub crypto.PublicKey) (*Signer, error) {
	ver, err := verify.NewVerifier(pub, ref)
	if err != nil {
		return nil, err
	}
	if ctx == nil {
		ctx = context.Background()
	}
	return &Signer{ref: ref, sv: sv, pub: pub, ver: ver, ctx: ctx}, nil
}

// parsePrivateKey decodes a PEM private key, asking pass only when the key is
// encrypted.
func parsePrivateKey(b []byte, ref string, pass PassFunc) (crypto.PrivateKey, error) {
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, manifest.HintError(fmt.Errorf("signing key %s: no PEM block found", ref),
			"give the .key file written by `satchel-bundle keygen` or `cosign generate-key-pair`, or a PEM private key")
	}
	password := func() ([]byte, error) {
		if pass == nil {
			return []byte{}, nil
		}
		pw, err := pass(false)
		if err != nil {
			return nil, fmt.Errorf("reading the password of %s: %w", ref, err)
		}
		if pw == nil {
			pw = []byte{}
		}
		return pw, nil
	}
	switch block.Type {
	case pemEncryptedSigstore, pemEncryptedCosign:
		pw, err := password()
		if err != nil {
			return nil, err
		}
		der, err := encrypted.Decrypt(block.Bytes, pw)
		if err != nil {
			// secretbox authentication failing is the only sign of a wrong
			// password; anything else is a damaged envelope.
			if strings.Contains(err.Error(), "decryption failed") {
				return nil, wrongPassword(ref)
			}
			return nil, manifest.HintError(fmt.Errorf("signing key %s: reading the encrypted key: %w", ref, err),
				"the key file is damaged; restore it from a backup or create a new key pair")
		}
		defer clear(der)
		k, err := cryptoutils.UnmarshalPEMToPrivateKey(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil)
		if err != nil {
			return nil, fmt.Errorf("signing key %s: %w", ref, err)
		}
		return k, nil
	case "ENCRYPTED PRIVATE KEY":
		pw, err := password()
		if err != nil {
			return nil, err
		}
		k, err := cryptoutils.UnmarshalPEMToPrivateKey(b, cryptoutils.StaticPasswordFunc(pw))
		if err != nil {
			// PKCS#8 encryption has no separate integrity check: a wrong
			// password shows up as a parse failure.
			return nil, manifest.HintError(fmt.Errorf("signing key %s: cannot decrypt it (wrong password?): %w", ref, err),
				"set "+PasswordEnv+" to the key's password (or unset it to be asked)")
		}
		return k, nil
	case "PRIVATE KEY", "EC PRIVATE KEY", "RSA PRIVATE KEY":
		if _, legacy := block.Headers["DEK-Info"]; legacy {
			return nil, manifest.HintError(fmt.Errorf("signing key %s: legacy PEM encryption (DEK-Info) is not supported", ref),
				"convert it with `openssl pkcs8 -topk8` or import it with `cosign import-key-pair`")
		}
		k, err := cryptoutils.UnmarshalPEMToPrivateKey(b, nil)
		if err != nil {
			return nil, manifest.HintError(fmt.Errorf("signing key %s: %w", ref, err),
				"the key file is damaged or not a private key")
		}
		return k, nil
	case "PUBLIC KEY", "RSA PUBLIC KEY":
		return nil, manifest.HintError(fmt.Errorf("signing key %s is a public key", ref),
			"sign with the private key (the .key file); the .pub file is for verifying")
	}
	return nil, manifest.HintError(fmt.Errorf("signing key %s: unsupported PEM type %q", ref, block.Type),
		"use a key from `satchel-bundle keygen` or `cosign generate-key-pair`, or a PKCS#8, EC or PKCS#1 RSA PEM key")
}

func wrongPassword(ref string) error {
	return manifest.HintError(fmt.Errorf("signing key %s: wrong password", ref),
		"set "+PasswordEnv+" to the password chosen at keygen (or unset it to be asked)")
}

// isKMSRef reports whether ref names a KMS key rather than a file.
func isKMSRef(ref string) bool {
	for _, s := range kmsSchemes {
		if strings.HasPrefix(ref, s) {
			return true
		}
	}
	for _, s := range kms.SupportedProviders() {
		if strings.HasPrefix(ref, s) {
			return true
		}
	}
	return false
}

func loadKMSSigner(ctx context.Context, ref string) (*Signer, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	sv, err := kms.Get(ctx, ref, crypto.SHA256)
	if err != nil {
		var nf *kms.ProviderNotFoundError
		if errors.As(err, &nf) {
			scheme, _, _ := strings.Cut(ref, "://")
			return nil, manifest.HintError(fmt.Errorf("signing key %s: no KMS provider for %s:// is linked into this program", ref, scheme),
				"KMS signing needs satchel-bundle built with github.com/satchel-dev/satchel/sign/kms, or the sigstore-kms-"+scheme+" plugin on PATH; otherwise sign with a key file from `satchel-bundle keygen`")
		}
		return nil, manifest.HintError(fmt.Errorf("signing key %s: %w", ref, err),
			"check the KMS key URI and the provider's credentials")
	}
	pub, err := sv.PublicKey(options.WithContext(ctx))
	if err != nil {
		return nil, manifest.HintError(fmt.Errorf("signing key %s: reading the public key: %w", ref, err),
			"check the KMS key URI and the provider's credentials")
	}
	return newSigner(ctx, ref, sv, pub)
}

// Sign signs msg (the exact bytes of satchel.json) and returns the standard
// base64 of the raw signature, without a newline. The signature is checked
// against the public key before it is returned, so a KMS key with an
// algorithm `cosign verify-blob` would not accept (RSA-PSS, Ed25519ph) fails
// here rather than on a disconnected host.
func (s *Signer) Sign(msg []byte) ([]byte, error) {
	var raw []byte
	var err error
	if s.rfc6979 != nil {
		digest := sha256.Sum256(msg)
		raw, err = s.rfc6979.Sign(nil, digest[:], crypto.SHA256)
	} else {
		raw, err = s.sv.SignMessage(bytes.NewReader(msg), options.WithContext(s.ctx))
	}
	if err != nil {
		return nil, fmt.Errorf("signing with %s: %w", s.ref, err)
	}
	if err := s.ver.Verify(msg, raw); err != nil {
		return nil, manifest.HintError(fmt.Errorf("signing with %s: the signature does not verify with the key's own public key: %w", s.ref, err),
			"use an ECDSA, Ed25519 or RSA PKCS#1 v1.5 key with SHA-256")
	}
	out := make([]byte, base64.StdEncoding.EncodedLen(len(raw)))
	base64.StdEncoding.Encode(out, raw)
	return out, nil
}

// PublicKeyPEM returns the signer's public key as a "PUBLIC KEY" PEM block,
// the form LoadVerifier and `cosign verify-blob --key` read.
func (s *Signer) PublicKeyPEM() ([]byte, error) {
	return cryptoutils.MarshalPublicKeyToPEM(s.pub)
}

// KeyID returns the KeyID of the signer's public key.
func (s *Signer) KeyID() string { return s.ver.KeyID }

// Verifier returns a Verifier for the signer's own public key.
func (s *Signer) Verifier() *verify.Verifier { return s.ver }
