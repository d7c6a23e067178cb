// Package sign makes satchel's signatures: key pairs, private keys
// (encrypted key files, KMS keys) and passwords. Only the builder
// (satchel-bundle) imports it. Checking signatures is package verify's job,
// which imports none of this: the offline installer links no scrypt, no
// secretbox, no sigstore signer and no KMS plugin launcher.
//
// # Keys
//
// Key pairs are ECDSA P-256 (the default, [ECDSAP256]), Ed25519 ([Ed25519])
// or RSA 4096 ([RSA4096]). [GenerateKeyPair] writes the private key exactly as
// `cosign generate-key-pair` does: PKCS#8 DER, encrypted with
// github.com/secure-systems-lab/go-securesystemslib/encrypted (scrypt
// N=65536 r=8 p=1, NaCl secretbox; a JSON envelope
// {"kdf":{…},"cipher":{…},"ciphertext":…}) in a PEM block of type
// "ENCRYPTED SIGSTORE PRIVATE KEY". An empty password still encrypts, as cosign
// does. The public key is a PEM "PUBLIC KEY" (PKIX SubjectPublicKeyInfo),
// which verify.LoadVerifier reads.
//
// [LoadSigner] reads such a key (or cosign's older "ENCRYPTED COSIGN PRIVATE
// KEY" label), plain PEM keys (PKCS#8 "PRIVATE KEY", SEC 1 "EC PRIVATE KEY",
// PKCS#1 "RSA PRIVATE KEY", PKCS#8 "ENCRYPTED PRIVATE KEY"), or a KMS URI
// (awskms://, gcpkms://, azurekms://, hashivault://). KMS providers are only
// available in programs that import github.com/satchel-dev/satchel/sign/kms
// (or that find a sigstore KMS plugin, sigstore-kms-<scheme>, on PATH);
// elsewhere a KMS URI fails with a hint. Passwords come from a [PassFunc];
// [PasswordFromEnv] reads SATCHEL_PASSWORD first.
//
// # Signatures
//
// The signature covers the exact bytes of satchel.json and is stored as the
// standard base64 of the raw signature, with no trailing newline, so that
//
//	cosign verify-blob --key satchel.pub --signature satchel.json.sig --insecure-ignore-tlog satchel.json
//
// accepts it. All signing goes through sigstore/sigstore's pkg/signature:
//
//   - ECDSA: SHA-256 of the message, ASN.1 DER signature. Key files sign with
//     deterministic nonces (RFC 6979, crypto/ecdsa with a nil random source),
//     so a rebuild signs to the same bytes; KMS keys use the provider's nonces.
//   - RSA: RSASSA-PKCS1-v1_5 over SHA-256 (rsa.SignPKCS1v15), never PSS.
//   - Ed25519: pure Ed25519 over the message itself, not Ed25519ph. This is
//     what cosign does for key-based blobs without a transparency log:
//     `verify-blob --key` loads the key with signature.LoadVerifier(pub,
//     SHA256), which yields sigstore's pure ED25519Verifier, and `sign-blob`
//     drops its Ed25519ph default when it does not upload to Rekor
//     (cmd/cosign/cli/sign/sign_blob.go: "we do not use ed25519ph for ed25519
//     keys when the signatures are not uploaded to the Tlog").
//
// [Signer.Sign] checks every signature it makes with verify's own verifier
// before returning it, so a key the installer would not accept fails on the
// build host.
package sign
