package main

import (
	"errors"

	"github.com/satchel-dev/satchel/manifest"
	"github.com/satchel-dev/satchel/pack"
	"github.com/satchel-dev/satchel/provenance"
	"github.com/satchel-dev/satchel/verify"
)

// checkProvenance verifies the provenance a bundle carries with the keys
// that may sign it; a bundle built before bundles carried one passes.
func checkProvenance(b *pack.Bundle, ix *manifest.Index, keys []*verify.Verifier) error {
	_, _, err := provenance.CheckBundle(b, ix, keys)
	if errors.Is(err, provenance.ErrNone) {
		return nil
	}
	return err
}

// reviewedBundle is how the reviewer's commands (diff, audit, inspect
// --sbom) open a bundle: with keys, the same checks as `satchel-bundle
// verify` (signature over satchel.json, layout, and with deep every blob
// and file digest); without keys (audit, inspect only), the strict layout
// check, and every blob read later is still checked against the index.
// One function, so the trust rules can be changed in one place.
func reviewedBundle(file string, keyPaths []string, deep bool) (*pack.Bundle, *manifest.Index, *verify.Verifier, error) {
	b, err := pack.OpenPath(file)
	if err != nil {
		return nil, nil, nil, err
	}
	if len(keyPaths) > 0 {
		keys, err := loadKeys(keyPaths)
		if err != nil {
			b.Close()
			return nil, nil, nil, err
		}
		ix, key, err := pack.VerifyBundle(b, keys, pack.VerifyOptions{Deep: deep})
		if err == nil {
			err = checkProvenance(b, ix, keys)
		}
		if err != nil {
			b.Close()
			return nil, nil, nil, err
		}
		return b, ix, key, nil
	}
	// Without a key: the same rules and layout checks, signature skipped.
	ix, _, err := pack.VerifyBundle(b, nil, pack.VerifyOptions{SkipSignature: true, Deep: deep})
	if err != nil {
		b.Close()
		return nil, nil, nil, err
	}
	return b, ix, nil, nil
}
