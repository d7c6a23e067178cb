package install

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"strconv"

	"github.com/satchel-dev/satchel/internal/version"
	"github.com/satchel-dev/satchel/manifest"
	"github.com/satchel-dev/satchel/pack"
	"github.com/satchel-dev/satchel/verify"
)

// Source is an opened bundle whose signature, index and layout have been
// checked. Blob digests are checked as blobs are read.
type Source struct {
	// Path is the bundle file as given.
	Path  string
	Index *manifest.Index
	// Key is the key that verified the signature; nil when the signature
	// was skipped (InsecureSkipSignature) or not checked (OpenUnverified).
	Key *verify.Verifier
	// Insecure is set when the signature was skipped on request.
	Insecure bool
	// Verified reports whether the signature was checked and matched.
	Verified bool

	bundle      *pack.Bundle
	indexDigest manifest.Digest
}

// Close releases the bundle file.
func (s *Source) Close() error {
	if s == nil || s.bundle == nil {
		return nil
	}
	return s.bundle.Close()
}

// Info describes the bundle as state.json and reports record it.
func (s *Source) info(platform string, components []string) BundleInfo {
	bi := BundleInfo{
		Name: s.Index.Name, Version: s.Index.Version, Sequence: s.Index.Sequence,
		Created: s.Index.Created.UTC().Format("2006-01-02T15:04:05Z"), Platform: platform,
		Components: components, InsecureSkipSignature: s.Insecure, IndexDigest: s.indexDigest,
		ComponentVersions: map[string]string{},
	}
	if s.Key != nil {
		bi.KeyID, bi.KeySource = s.Key.KeyID, s.Key.Source
	}
	for _, c := range s.Index.Components {
		if contains(components, c.Name) {
			bi.ComponentVersions[c.Name] = c.Version
		}
	}
	return bi
}

// trustedKeys loads --key files and <root>/etc/satchel/keys/*.pub.
func (in *Installer) trustedKeys() ([]*verify.Verifier, error) {
	var keys []*verify.Verifier
	for _, p := range in.keyFiles {
		v, err := verify.LoadVerifierFile(p)
		if err != nil {
			return nil, manifest.WithExitCode(err, manifest.ExitVerification)
		}
		keys = append(keys, v)
	}
	dir, err := in.path(KeyDir)
	if err != nil {
		return nil, err
	}
	more, err := verify.LoadKeyDir(dir)
	if err != nil {
		return nil, manifest.WithExitCode(err, manifest.ExitVerification)
	}
	return append(keys, more...), nil
}

// Open opens a bundle and verifies it before anything else looks at it:
// the signature over the exact bytes of satchel.json first (with the keys
// from WithKeys and <root>/etc/satchel/keys/*.pub), then the index is
// decoded, then the file's layout is checked against it, then every target
// path is checked to stay inside the root, then the sequence is compared
// with the installed one (anti-downgrade). Nothing is written. Failures are
// manifest.VerificationError (exit code 3) with a hint.
func (in *Installer) Open(ctx context.Context, bundlePath string) (*Source, error) {
	return in.open(ctx, bundlePath, true)
}

// OpenUnverified opens a bundle for preflight when no trusted key is at
// hand: the index is read without a signature check (Verified false), so
// callers must not install from it.
func (in *Installer) OpenUnverified(ctx context.Context, bundlePath string) (*Source, error) {
	return in.open(ctx, bundlePath, false)
}

func (in *Installer) open(ctx context.Context, bundlePath string, mustVerify bool) (src *Source, err error) {
	in.phase("verifying " + bundlePath)
	b, err := pack.OpenPath(bundlePath)
	if err != nil {
		return nil, fmt.Errorf("opening bundle: %w", err)
	}
	defer func() {
		if err != nil {
			b.Close()
		}
	}()
	src = &Source{Path: bundlePath, bundle: b}
	sum := sha256.Sum256(b.IndexJSON())
	src.indexDigest = manifest.Digest(fmt.Sprintf("sha256:%x", sum))

	// The one trust check (pack.VerifyBundle): signature, canonical index,
	// the index's rules (manifest.Index.Validate), layout. Only the keys and
	// whether to skip the signature are decided here.
	var keys []*verify.Verifier
	skip := false
	switch {
	case in.insecure:
		skip = true
		src.Insecure = true
		in.warnf("INSECURE: --insecure-skip-signature given: the bundle's signature is NOT checked; " +
			"anyone who could change the file could run code as root here. This is recorded in " + StatePath)
	case mustVerify:
		if keys, err = in.trustedKeys(); err != nil {
			return nil, err
		}
		if len(keys) == 0 {
			return nil, manifest.VerificationError(manifest.HintError(
				errors.New("no trusted public key: none given with --key and none in "+KeyDir),
				"pass the publisher's key with --key satchel.pub, or install it as "+KeyDir+"/<name>.pub"))
		}
	default:
		if k, err := in.trustedKeys(); err == nil {
			keys = k
		}
		skip = len(keys) == 0
	}
	ix, key, err := pack.VerifyBundle(b, keys, pack.VerifyOptions{SkipSignature: skip})
	if err != nil {
		return nil, err
	}
	src.Index, src.Key, src.Verified = ix, key, key != nil
	if err := in.checkHostTargets(ix); err != nil {
		return nil, err
	}
	if err := checkInstallerVersion(ix.Requirements.Installer, in.warnf); err != nil {
		return nil, err
	}
	if err := in.checkDowngrade(ix); err != nil {
		return nil, err
	}
	return src, nil
}

// checkHostTargets checks what only the host can tell: that no symlink of
// the bundle leads out of the root through a symlink already there. The
// index's own rules (paths, modes, types, symlinks within the bundle) were
// checked by manifest.Index.Validate.
func (in *Installer) checkHostTargets(ix *manifest.Index) error {
	for _, c := range ix.Components {
		for _, a := range c.Artifacts {
			for _, f := range a.Files {
				if f.Type != manifest.TypeSymlink {
					continue
				}
				if err := verify.CheckLinkTarget(in.root, f.Path, f.Target); err != nil {
					return manifest.WithExitCode(err, manifest.ExitVerification)
				}
			}
		}
	}
	return nil
}

// checkDowngrade refuses a lower sequence of the installed bundle's series.
func (in *Installer) checkDowngrade(ix *manifest.Index) error {
	st, err := in.readState()
	if err != nil {
		return err
	}
	if st == nil || st.Bundle.Name != ix.Name || ix.Sequence >= st.Bundle.Sequence {
		return nil
	}
	if in.allowDowngrade {
		in.warnf("downgrading %s from sequence %d (%s) to %d (%s), as --allow-downgrade asks",
			ix.Name, st.Bundle.Sequence, st.Bundle.Version, ix.Sequence, ix.Version)
		return nil
	}
	return manifest.VerificationError(manifest.Hintf(
		"install a bundle with sequence ≥ "+strconv.FormatUint(st.Bundle.Sequence, 10)+", or pass --allow-downgrade if going back is intended",
		"refusing to downgrade %s: installed sequence %d (version %s), this bundle has sequence %d (version %s)",
		ix.Name, st.Bundle.Sequence, st.Bundle.Version, ix.Sequence, ix.Version))
}

func (in *Installer) readState() (*State, error) {
	p, err := in.path(StatePath)
	if err != nil {
		return nil, err
	}
	return readState(p)
}

// checkInstallerVersion compares requirements.installer with this build
// (manifest.CheckInstallerVersion: a development build counts as the
// release it names, e.g. 0.1.0-dev or v0.3.0-12-gabc1234; one that names
// none refuses unless SATCHEL_ALLOW_UNRELEASED_INSTALLER=1).
func checkInstallerVersion(need string, warnf func(string, ...any)) error {
	allow := os.Getenv(manifest.AllowUnreleasedInstallerEnv) == "1"
	if err := manifest.CheckInstallerVersion(version.Version, need, allow); err != nil {
		return err
	}
	if _, ok := manifest.ParseBuildVersion(version.Version); !ok && need != "" {
		warnf("this satchel-install (%s) has no release version; installing a bundle that needs %s because %s=1",
			version.Version, need, manifest.AllowUnreleasedInstallerEnv)
	}
	return nil
}
