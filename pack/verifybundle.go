package pack

import (
	"fmt"
	"io"

	"github.com/satchel-dev/satchel/manifest"
	"github.com/satchel-dev/satchel/verify"
)

// VerifyBundle runs the checks a bundle must pass before anything in it is
// trusted, in the order that keeps untrusted bytes away from parsers:
//
//  1. the signature over satchel.json's exact bytes, against keys;
//  2. the index decodes and is canonical;
//  3. the file layout is exactly what Write produces for that index;
//  4. with deep: every blob's digest, then every file's content digest after
//     decompression (a blob is hashed before a byte reaches the decoder).
//
// It returns the index and the key that verified it. Failures are
// manifest.VerificationError (exit code 3).
func VerifyBundle(b *Bundle, keys []*verify.Verifier, deep bool) (*manifest.Index, *verify.Verifier, error) {
	key, err := verify.VerifySignature(keys, b.IndexJSON(), b.Signature())
	if err != nil {
		return nil, nil, err
	}
	ix, err := b.Index()
	if err != nil {
		return nil, nil, manifest.VerificationError(err)
	}
	if err := b.CheckLayout(ix); err != nil {
		return nil, nil, err
	}
	if !deep {
		return ix, key, nil
	}
	if err := b.VerifyBlobs(ix, nil); err != nil {
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

func drainFile(b *Bundle, f manifest.File) error {
	r, err := b.OpenFile(f)
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, r)
	if cerr := r.Close(); err == nil {
		err = cerr
	}
	if err != nil && manifest.ExitCode(err) != manifest.ExitVerification {
		err = manifest.VerificationError(err)
	}
	return err
}
