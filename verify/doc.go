// Package verify holds satchel's trust checks: trusted public keys, the
// bundle signature, content digests and the safe-path rules every extraction
// obeys. The installer imports it, so it contains no network client (no
// net/http, no crypto/tls) and no signing code: making keys and signatures
// is package sign's job, and this package uses only the standard library
// (and package manifest).
//
// # Keys
//
// [LoadVerifier] reads a PEM "PUBLIC KEY" (PKIX) or "RSA PUBLIC KEY"
// (PKCS#1) holding an ECDSA (P-256/384/521), Ed25519 or RSA
// (2048/3072/4096) key, exactly one per file. [LoadVerifierFile] reads only a
// small regular file; [LoadKeyDir] loads every *.pub in a directory. A key is
// named by its [KeyID]: "sha256:" and the hex SHA-256 of the DER
// SubjectPublicKeyInfo, stable across PEM re-encodings.
//
// # Signatures
//
// The signature covers the exact bytes of satchel.json and is stored as the
// standard base64 of the raw signature, so that
//
//	cosign verify-blob --key satchel.pub --signature satchel.json.sig --insecure-ignore-tlog satchel.json
//
// accepts it. [Verifier.Verify] checks what cosign checks with
// signature.LoadVerifier(pub, SHA256): ECDSA ASN.1 over SHA-256, RSA PKCS#1
// v1.5 over SHA-256, pure Ed25519. [VerifySignature] tries every trusted key
// and reports which one matched; every failure is a
// manifest.VerificationError (exit code 3) whose message ends with a "hint:"
// line.
//
// # Digests
//
// [NewVerifyingReader] passes a stream through while hashing it, fails as soon
// as more than the announced size arrives, and at EOF fails unless the size
// and digest match. Callers must not act on the data before EOF. [DigestFile]
// hashes a file on disk.
//
// # Paths
//
// Names from archives and from the index pass [CleanPath]: no absolute names,
// no ".." element, no NUL, not empty. [SafeJoin] maps an absolute in-root path
// (/usr/local/bin/runc) under --root and refuses it when an existing parent
// is a symlink that leads out of the root. [CheckLinkTarget] refuses a
// symlink whose target, read as it would be inside the root, leaves it.
// Device nodes, FIFOs and other special files are refused by the callers
// that see file types (pack's archive walker, the installer); this package
// only rules on names.
package verify
