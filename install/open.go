package install

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"path"
	"strconv"
	"strings"

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

	switch {
	case in.insecure:
		src.Insecure = true
		in.warnf("INSECURE: --insecure-skip-signature given: the bundle's signature is NOT checked; " +
			"anyone who could change the file could run code as root here. This is recorded in " + StatePath)
	case mustVerify:
		keys, err := in.trustedKeys()
		if err != nil {
			return nil, err
		}
		if len(keys) == 0 {
			return nil, manifest.VerificationError(manifest.HintError(
				errors.New("no trusted public key: none given with --key and none in "+KeyDir),
				"pass the publisher's key with --key satchel.pub, or install it as "+KeyDir+"/<name>.pub"))
		}
		k, err := verify.VerifySignature(keys, b.IndexJSON(), b.Signature())
		if err != nil {
			return nil, err
		}
		src.Key, src.Verified = k, true
	default:
		if keys, err := in.trustedKeys(); err == nil && len(keys) > 0 {
			k, err := verify.VerifySignature(keys, b.IndexJSON(), b.Signature())
			if err != nil {
				return nil, err
			}
			src.Key, src.Verified = k, true
		}
	}

	ix, err := b.Index()
	if err != nil {
		return nil, manifest.WithExitCode(err, manifest.ExitVerification)
	}
	src.Index = ix
	if err := b.CheckLayout(ix); err != nil {
		return nil, manifest.WithExitCode(err, manifest.ExitVerification)
	}
	if err := in.checkTargets(ix); err != nil {
		return nil, err
	}
	if err := checkInstallerVersion(ix.Requirements.Installer); err != nil {
		return nil, err
	}
	if err := in.checkDowngrade(ix); err != nil {
		return nil, err
	}
	return src, nil
}

// installPrefixes are where bundle files may go (DESIGN.md, "Where things
// go"); configs and units are the installer's own, not the bundle's.
var installPrefixes = []string{"/usr/local/", "/opt/"}

// checkTargets refuses index paths and symlinks that would land outside
// the places bundles install to, or outside the root.
func (in *Installer) checkTargets(ix *manifest.Index) error {
	for _, c := range ix.Components {
		for _, a := range c.Artifacts {
			for _, f := range a.Files {
				bad := func(why string) error {
					return manifest.VerificationError(manifest.HintError(
						fmt.Errorf("component %s (%s): file %q: %s", c.Name, a.Platform, f.Path, why),
						"the bundle is malformed or malicious; do not install it, and tell its publisher"))
				}
				if !strings.HasPrefix(f.Path, "/") || path.Clean(f.Path) != f.Path {
					return bad("not a clean absolute path")
				}
				if _, err := verify.CleanPath(strings.TrimPrefix(f.Path, "/")); err != nil {
					return manifest.WithExitCode(err, manifest.ExitVerification)
				}
				ok := false
				for _, p := range installPrefixes {
					ok = ok || strings.HasPrefix(f.Path, p)
				}
				if !ok {
					return bad("bundles install only under " + strings.Join(installPrefixes, " and "))
				}
				if f.Mode&^0o7777 != 0 || f.Mode&0o6000 != 0 {
					return bad(fmt.Sprintf("mode %#o has bits other than permissions (setuid/setgid are refused)", f.Mode))
				}
				switch f.Type {
				case manifest.TypeFile:
					if _, ok := ix.Blob(f.Blob); !ok {
						return bad("its blob " + string(f.Blob) + " is not in the bundle")
					}
				case manifest.TypeSymlink:
					if err := verify.CheckLinkTarget(in.root, f.Path, f.Target); err != nil {
						return manifest.WithExitCode(err, manifest.ExitVerification)
					}
				default:
					return bad("unknown type " + strconv.Quote(f.Type))
				}
			}
		}
	}
	for _, im := range ix.Images {
		for _, d := range append([]manifest.Digest{im.Digest}, im.Blobs...) {
			if b, ok := ix.Blob(d); !ok || b.Encoding != manifest.EncodingNone {
				return manifest.VerificationError(manifest.HintError(
					fmt.Errorf("image %s: blob %s is missing or not stored as an OCI blob", im.Ref, d),
					"the bundle is malformed; rebuild it"))
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

// checkInstallerVersion compares requirements.installer with this build,
// ignoring pre-release suffixes (a 0.2.0-dev build reads 0.2.0 bundles).
func checkInstallerVersion(need string) error {
	if need == "" {
		return nil
	}
	have := version.Version
	hv, okh := parseSemver(have)
	nv, okn := parseSemver(need)
	if !okh || !okn {
		return nil
	}
	for i := range 3 {
		if hv[i] != nv[i] {
			if hv[i] < nv[i] {
				return manifest.Hintf("use satchel-install "+need+" or later (the one shipped with the bundle, or a .run file)",
					"the bundle needs satchel-install %s or later; this is %s", need, have)
			}
			return nil
		}
	}
	return nil
}

func parseSemver(s string) ([3]int, bool) {
	var v [3]int
	s = strings.TrimPrefix(s, "v")
	if i := strings.IndexAny(s, "-+"); i >= 0 {
		s = s[:i]
	}
	parts := strings.Split(s, ".")
	if len(parts) == 0 || len(parts) > 3 {
		return v, false
	}
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil {
			return v, false
		}
		v[i] = n
	}
	return v, true
}
