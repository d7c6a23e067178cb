package provenance

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/satchel-dev/satchel/manifest"
	"github.com/satchel-dev/satchel/verify"
)

// Signer signs bytes: what *verify.Signer is (it returns the standard
// base64 of the raw signature), and what a signing package that returns
// raw signature bytes is too: Sign accepts either (a raw ECDSA, Ed25519 or
// RSA signature is never valid base64 text of itself). A signer that has
// a KeyID() string method names its key in the envelope.
type Signer interface {
	Sign(msg []byte) ([]byte, error)
}

// Envelope is a DSSE JSON envelope.
type Envelope struct {
	PayloadType string      `json:"payloadType"`
	Payload     string      `json:"payload"`
	Signatures  []Signature `json:"signatures"`
}

// Signature is one DSSE signature; KeyID is an unauthenticated hint.
type Signature struct {
	KeyID string `json:"keyid,omitempty"`
	Sig   string `json:"sig"`
}

// PAE is DSSE's pre-authentication encoding, what is actually signed:
// "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body, with LEN the length
// in bytes as ASCII decimal without leading zeros (DSSE protocol.md).
func PAE(payloadType string, payload []byte) []byte {
	var b bytes.Buffer
	b.WriteString("DSSEv1 ")
	b.WriteString(strconv.Itoa(len(payloadType)))
	b.WriteByte(' ')
	b.WriteString(payloadType)
	b.WriteByte(' ')
	b.WriteString(strconv.Itoa(len(payload)))
	b.WriteByte(' ')
	b.Write(payload)
	return b.Bytes()
}

// Sign signs the statement as a DSSE envelope.
func Sign(st *Statement, s Signer) (*Envelope, error) {
	payload, err := st.Encode()
	if err != nil {
		return nil, err
	}
	return signPayload(payload, s)
}

func signPayload(payload []byte, s Signer) (*Envelope, error) {
	out, err := s.Sign(PAE(PayloadType, payload))
	if err != nil {
		return nil, fmt.Errorf("signing the provenance: %w", err)
	}
	sig := string(bytes.TrimSpace(out))
	if _, err := base64.StdEncoding.DecodeString(sig); err != nil || sig == "" {
		sig = base64.StdEncoding.EncodeToString(out) // a raw signature
	}
	env := &Envelope{PayloadType: PayloadType, Payload: base64.StdEncoding.EncodeToString(payload)}
	keyID := ""
	if k, ok := s.(interface{ KeyID() string }); ok {
		keyID = k.KeyID()
	}
	env.Signatures = []Signature{{KeyID: keyID, Sig: sig}}
	return env, nil
}

// Encode returns the envelope as one line of JSON with a trailing newline
// (the .intoto.jsonl form cosign and slsa-verifier read).
func (e *Envelope) Encode() ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(e); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// maxEnvelope bounds what Verify parses; a bundle's provenance lists its
// artifacts and images, some kilobytes.
const maxEnvelope = 16 << 20

// Verify checks a DSSE envelope offline: its payload type is in-toto's,
// a signature verifies with one of keys over PAE(payloadType, payload),
// the payload is an in-toto Statement v1 with a SLSA Provenance v1
// predicate, and its satchel.json subject is indexDigest (the sha256 of
// the bundle's index). It returns the statement and the key that signed.
// Every failure is a manifest.VerificationError.
func Verify(envelope []byte, keys []*verify.Verifier, indexDigest manifest.Digest) (*Statement, *verify.Verifier, error) {
	fail := func(err error, hint string) (*Statement, *verify.Verifier, error) {
		return nil, nil, manifest.VerificationError(manifest.HintError(fmt.Errorf("provenance: %w", err), hint))
	}
	damaged := "the provenance is damaged or was altered; get a fresh copy from the publisher"
	if len(envelope) > maxEnvelope {
		return fail(fmt.Errorf("%d bytes, more than a provenance envelope has", len(envelope)), damaged)
	}
	var env Envelope
	if err := json.Unmarshal(envelope, &env); err != nil {
		return fail(fmt.Errorf("not a DSSE envelope: %w", err), damaged)
	}
	if env.PayloadType != PayloadType {
		return fail(fmt.Errorf("payload type %q, want %q", env.PayloadType, PayloadType), damaged)
	}
	payload, err := decodeBase64(env.Payload)
	if err != nil {
		return fail(fmt.Errorf("payload: %w", err), damaged)
	}
	if len(env.Signatures) == 0 {
		return fail(errors.New("the envelope has no signature"), "sign the provenance with the bundle key")
	}
	pae := PAE(env.PayloadType, payload)
	var key *verify.Verifier
	var lastErr error
	for _, s := range env.Signatures {
		// DSSE allows URL-safe base64 too; VerifySignature reads standard.
		raw, err := decodeBase64(s.Sig)
		if err != nil {
			lastErr = err
			continue
		}
		if key, lastErr = verify.VerifySignature(keys, pae, []byte(base64.StdEncoding.EncodeToString(raw))); lastErr == nil {
			break
		}
	}
	if key == nil {
		if manifest.ExitCode(lastErr) == manifest.ExitVerification {
			return nil, nil, fmt.Errorf("provenance: %w", lastErr)
		}
		return fail(lastErr, damaged)
	}
	var st Statement
	dec := json.NewDecoder(bytes.NewReader(payload))
	if err := dec.Decode(&st); err != nil {
		return fail(fmt.Errorf("the signed payload is not an in-toto statement: %w", err), damaged)
	}
	if st.Type != StatementType || st.PredicateType != PredicateType {
		return fail(fmt.Errorf("statement type %q with predicate %q, want %q with %q", st.Type, st.PredicateType, StatementType, PredicateType),
			"this is not a satchel bundle provenance")
	}
	got, ok := st.SubjectDigest()
	if !ok {
		return fail(errors.New("the statement names no satchel.json subject"), "this is not a satchel bundle provenance")
	}
	if got != indexDigest {
		return fail(fmt.Errorf("it attests satchel.json %s, the bundle's is %s", got, indexDigest),
			"this provenance belongs to another bundle; get the one published with this bundle")
	}
	return &st, key, nil
}

func decodeBase64(s string) ([]byte, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		if b, err = base64.URLEncoding.DecodeString(s); err != nil {
			return nil, errors.New("not valid base64")
		}
	}
	return b, nil
}
