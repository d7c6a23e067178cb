package verify

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/satchel-dev/satchel/manifest"
)

// MaxSignatureLen bounds the decoded signature: RSA 4096 is 512 bytes, and a
// larger blob is not a signature satchel or cosign writes.
const MaxSignatureLen = 1024

// MaxSignatureB64Len is the longest satchel.json.sig (standard base64 of
// MaxSignatureLen bytes, with no white space) a bundle may carry.
const MaxSignatureB64Len = (MaxSignatureLen + 2) / 3 * 4

// VerifySignature checks sigB64 (the contents of satchel.json.sig) over msg
// (the exact bytes of satchel.json) against each trusted key in turn and
// returns the one that matched. Surrounding white space in sigB64 is ignored,
// as cosign ignores it. Every failure is a manifest.VerificationError whose
// message ends with a hint.
func VerifySignature(keys []*Verifier, msg, sigB64 []byte) (*Verifier, error) {
	if len(keys) == 0 {
		return nil, verificationError(errors.New("no trusted public key to verify the signature with"),
			"pass the publisher's public key with --key, or install it in /etc/satchel/keys/")
	}
	s := bytes.TrimSpace(sigB64)
	if len(s) == 0 {
		return nil, verificationError(errors.New("the bundle has no signature"),
			"sign it with `satchel-bundle sign --key KEY FILE`")
	}
	if base64.StdEncoding.DecodedLen(len(s)) > MaxSignatureLen {
		return nil, verificationError(fmt.Errorf("the signature is %d bytes long, not a signature satchel writes", len(s)),
			"the bundle is damaged or was altered; get a fresh copy from the publisher")
	}
	raw := make([]byte, base64.StdEncoding.DecodedLen(len(s)))
	n, err := base64.StdEncoding.Decode(raw, s)
	if err != nil {
		return nil, verificationError(fmt.Errorf("the signature is not valid base64: %w", err),
			"the bundle is damaged or was altered; get a fresh copy from the publisher")
	}
	raw = raw[:n]
	for _, k := range keys {
		if k == nil || k.pub == nil {
			continue
		}
		if err := k.Verify(msg, raw); err == nil {
			return k, nil
		}
	}
	ids := make([]string, 0, len(keys))
	for _, k := range keys {
		if k != nil {
			ids = append(ids, k.KeyID+" ("+k.Source+")")
		}
	}
	return nil, verificationError(fmt.Errorf("the signature matches none of the %d trusted key(s): %s", len(ids), strings.Join(ids, ", ")),
		"the bundle was signed with another key, or changed after signing; get the publisher's public key or a fresh copy of the bundle")
}

func verificationError(err error, hint string) error {
	return manifest.VerificationError(manifest.HintError(err, hint))
}
