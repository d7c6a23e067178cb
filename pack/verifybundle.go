package pack

import (
	"fmt"
	"io"

	"github.com/satchel-dev/satchel/manifest"
	"github.com/satchel-dev/satchel/verify"
)

// VerifyOptions say how much VerifyBundle checks beyond the signature,
// the index and the layout, which it always checks.
type VerifyOptions struct {
	// SkipSignature reads the index without checking the signature: for
	// looking at a bundle without a key (inspect, preflight) and for the
	// installer's explicit insecure mode. The returned key is nil.
	SkipSignature bool
	// Deep also checks every blob's digest and then every file's content
	// digest and size after decompression. Without it, blobs are checked
	// as they are read (OpenBlob, OpenFile).
	Deep bool
	// Progress, if not nil, is called with the bytes of blobs checked so
	// far and their total while Deep runs.
	Progress func(done, total int64)
}

// VerifyBundle is the one trust check every reader of a bundle runs
// (satchel-bundle verify, inspect and sign, and the installer), in the
// order that keeps untrusted bytes away from parsers:
//
//  1. the signature over satchel.json's exact bytes, against keys (unless
//     opts.SkipSignature);
//  2. the index decodes and is canonical (manifest.DecodeIndex);
//  3. the index is valid: structure and policy, the bundle stays in its
//     lanes (manifest.Index.Validate);
//  4. the file layout is exactly what Write produces for that index, every
//     blob header's size equal to the index's (Bundle.CheckLayout);
//  5. with opts.Deep: every blob's digest, then every file's content digest
//     after decompression (a blob is hashed before a byte of it reaches the
//     decoder).
//
// It returns the index and the key that verified it. Every failure but a
// read error of the underlying file is a manifest.VerificationError (exit
// code 3).
func VerifyBundle(b *Bundle, keys []*verify.Verifier, opts VerifyOptions) (*manifest.Index, *verify.Verifier, error) {
	var key *verify.Verifier
	if !opts.SkipSignature {
		var err error
		if key, err = verify.VerifySignature(keys, b.IndexJSON(), b.Signature()); err != nil {
			return nil, nil, err
		}
	}
	ix, err := b.Index()
	if err != nil {
		return nil, nil, asVerification(err)
	}
	if err := b.CheckLayout(ix); err != nil {
		return nil, nil, err // damage is a VerificationError; an I/O error is not
	}
	if !opts.Deep {
		return ix, key, nil
	}
	if err := b.VerifyBlobs(ix, opts.Progress); err != nil {
		return nil, nil, err
	}
	for _, c := range ix.Components {
		for _, a := range c.Artifacts {
			for _, f := range a.Files {
				if f.Type == manifest.TypeSymlink {
					continue
				}
				if err := drainFile(b, f); err != nil {
					return nil, nil, fmt.Errorf("%s %s (%s): %w", c.Name, a.Platform, f.Path, err)
				}
			}
		}
	}
	return ix, key, nil
}

func asVerification(err error) error {
	if err != nil && manifest.ExitCode(err) != manifest.ExitVerification {
		return manifest.VerificationError(err)
	}
	return err
}

func drainFile(b *Bundle, f manifest.File) error {
	r, err := b.OpenFile(f)
	if err != nil {
		return asVerification(err)
	}
	_, err = io.Copy(io.Discard, r)
	if cerr := r.Close(); err == nil {
		err = cerr
	}
	return asVerification(err)
}
