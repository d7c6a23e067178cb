package provenance

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"

	"github.com/satchel-dev/satchel/manifest"
	"github.com/satchel-dev/satchel/pack"
	"github.com/satchel-dev/satchel/verify"
)

// ErrNone is what CheckBundle returns for a bundle built without a
// provenance entry (before bundles carried one).
var ErrNone = errors.New("the bundle carries no provenance")

// CheckBundle verifies the provenance a bundle carries, offline: the
// envelope's signature with one of keys (Verify), its subject the sha256 of
// the bundle's satchel.json, and its content the bundle's: name, version,
// sequence, platforms and every resolved dependency (each upstream URL and
// digest, each image) exactly what the index records. A signer who puts
// into the provenance what the bundle does not carry is caught here, not
// only a changed byte. ix is the bundle's verified index (pack.VerifyBundle).
func CheckBundle(b *pack.Bundle, ix *manifest.Index, keys []*verify.Verifier) (*Statement, *verify.Verifier, error) {
	if !ix.HasProvenance() {
		return nil, nil, ErrNone
	}
	st, key, err := Verify(b.Provenance(), keys, manifest.DigestOf(manifest.SHA256, b.IndexJSON()))
	if err != nil {
		return nil, nil, err
	}
	if err := Matches(st, ix, b.IndexJSON()); err != nil {
		return nil, nil, err
	}
	return st, key, nil
}

// Matches checks that a verified statement describes the index: the same
// name, version, sequence, profile and platforms, and exactly the resolved
// dependencies NewStatement derives from it. The spec and lock digests,
// builder and times are the builder's word and are not compared.
func Matches(st *Statement, ix *manifest.Index, indexJSON []byte) error {
	want, err := NewStatement(Input{Index: ix, IndexJSON: indexJSON})
	if err != nil {
		return err
	}
	fail := func(format string, args ...any) error {
		return manifest.VerificationError(manifest.HintError(fmt.Errorf("provenance: "+format, args...),
			"the provenance was signed for other content than this bundle's; do not carry the bundle, ask its builder"))
	}
	got, exp := st.Predicate.BuildDefinition, want.Predicate.BuildDefinition
	if got.BuildType != exp.BuildType {
		return fail("build type %q, satchel's is %q", got.BuildType, exp.BuildType)
	}
	g, w := got.ExternalParameters, exp.ExternalParameters
	g.Spec, g.Lock, w.Spec, w.Lock = nil, nil, nil, nil
	if !reflect.DeepEqual(normalize(g), normalize(w)) {
		return fail("it names %s %s (sequence %d, profile %q, platforms %v), the index %s %s (sequence %d, profile %q, platforms %v)",
			g.Name, g.Version, g.Sequence, g.Profile, g.Platforms, w.Name, w.Version, w.Sequence, w.Profile, w.Platforms)
	}
	if len(got.ResolvedDependencies) != len(exp.ResolvedDependencies) {
		return fail("%d resolved dependencies, the index has %d artifacts and images", len(got.ResolvedDependencies), len(exp.ResolvedDependencies))
	}
	for i := range exp.ResolvedDependencies {
		if !reflect.DeepEqual(normalize(got.ResolvedDependencies[i]), normalize(exp.ResolvedDependencies[i])) {
			return fail("resolved dependency %d is %s %v, the index records %s %v", i,
				got.ResolvedDependencies[i].URI, got.ResolvedDependencies[i].Digest, exp.ResolvedDependencies[i].URI, exp.ResolvedDependencies[i].Digest)
		}
	}
	return nil
}

// normalize round-trips a value through JSON, so nil and empty collections
// compare as the encoding that was signed does.
func normalize(v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		return v
	}
	var out any
	if json.Unmarshal(b, &out) != nil {
		return v
	}
	return out
}

// Resign returns the envelope with its payload signed by s instead: for
// `satchel-bundle sign`, which hands a bundle from one key to another. The
// payload (and so the subject) is unchanged, since re-signing does not
// change satchel.json. The caller verifies the old envelope first when it
// must trust it.
func Resign(envelope []byte, s Signer) ([]byte, error) {
	var env Envelope
	if err := json.Unmarshal(envelope, &env); err != nil {
		return nil, manifest.VerificationError(fmt.Errorf("provenance: not a DSSE envelope: %w", err))
	}
	payload, err := decodeBase64(env.Payload)
	if err != nil || env.PayloadType != PayloadType {
		return nil, manifest.VerificationError(fmt.Errorf("provenance: not an in-toto envelope"))
	}
	var st Statement
	if err := json.Unmarshal(payload, &st); err != nil {
		return nil, manifest.VerificationError(fmt.Errorf("provenance: the payload is not an in-toto statement: %w", err))
	}
	// Sign what was signed, byte for byte: re-encoding could differ.
	fresh, err := signPayload(payload, s)
	if err != nil {
		return nil, err
	}
	return fresh.Encode()
}
