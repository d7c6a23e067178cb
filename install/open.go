package install

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strconv"
	"strings"

	"github.com/satchel-dev/satchel/install/images"
	"github.com/satchel-dev/satchel/install/rootfs"
	"github.com/satchel-dev/satchel/install/state"

	"github.com/satchel-dev/satchel/internal/version"
	"github.com/satchel-dev/satchel/manifest"
	"github.com/satchel-dev/satchel/pack"
	"github.com/satchel-dev/satchel/provenance"
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

// info identifies the bundle and how it was trusted; the plan adds the
// platform and the components it installs.
func (s *Source) info() state.BundleInfo {
	bi := state.BundleInfo{
		Name: s.Index.Name, Version: s.Index.Version, Sequence: s.Index.Sequence,
		Created:               s.Index.Created.UTC().Format("2006-01-02T15:04:05Z"),
		InsecureSkipSignature: s.Insecure, IndexDigest: s.indexDigest,
	}
	if s.Key != nil {
		bi.KeyID, bi.KeySource = s.Key.KeyID, s.Key.Source
	}
	return bi
}

// memoArchiveDigest remembers image archive digests across planning rounds.
func memoArchiveDigest(s *Source, platform string) func(*manifest.Image) (manifest.Digest, error) {
	memo := map[manifest.Digest]manifest.Digest{}
	return func(im *manifest.Image) (manifest.Digest, error) {
		if d, ok := memo[im.Digest]; ok {
			return d, nil
		}
		d, err := images.ArchiveDigest(s.Index, *im, s.bundle, platform)
		if err == nil {
			memo[im.Digest] = d
		}
		return d, err
	}
}

// fileDigest returns the sha256 of the first n bytes of a host file.
func fileDigest(p string, n int64) (manifest.Digest, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.CopyN(h, f, n); err != nil {
		return "", err
	}
	return manifest.FromHash(manifest.SHA256, h), nil
}

// maxKeySize bounds a public key file: a PEM public key is well under 4 KiB.
const maxKeySize = 64 << 10

// trustedKeys loads --key files (verify.LoadVerifierFile reads only small
// regular files: a FIFO or /dev/zero given as a key must not hang or
// exhaust the installer) and <root>/etc/satchel/keys/*.pub, read inside
// the root without following symlinks: a link planted there must not make
// the installer read /etc/shadow.
func (in *Installer) trustedKeys() ([]*verify.Verifier, error) {
	var keys []*verify.Verifier
	for _, p := range in.o.keyFiles {
		v, err := verify.LoadVerifierFile(p)
		if err != nil {
			return nil, manifest.VerificationError(err)
		}
		keys = append(keys, v)
	}
	names, err := in.root.ReadDir(state.KeyDir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, manifest.VerificationError(fmt.Errorf("reading the trusted key directory %s: %w", state.KeyDir, err))
	}
	for _, n := range names {
		if !strings.HasSuffix(n, ".pub") {
			continue
		}
		p := state.KeyDir.Join(n)
		b, err := in.root.ReadFile(p, maxKeySize)
		if err != nil {
			return nil, manifest.VerificationError(manifest.HintError(fmt.Errorf("trusted key %s: %w", p, err),
				"keys in "+string(state.KeyDir)+" must be regular files (not symlinks) holding one PEM public key"))
		}
		v, err := verify.LoadVerifier(b, string(p))
		if err != nil {
			return nil, manifest.VerificationError(fmt.Errorf("trusted key directory %s: %w", state.KeyDir, err))
		}
		keys = append(keys, v)
	}
	return keys, nil
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
	// Only a regular file: opening a FIFO would block, a device never end.
	if fi, err := os.Stat(bundlePath); err == nil && !fi.Mode().IsRegular() {
		return nil, manifest.HintError(fmt.Errorf("opening bundle: %s is a %s, not a file", bundlePath, rootfs.TypeName(fi.Mode())),
			"give the path of the .satchel file (or its first part, name.satchel.001)")
	}
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
	case in.o.insecure:
		skip = true
		src.Insecure = true
		in.warnf("INSECURE: --insecure-skip-signature given: the bundle's signature is NOT checked; " +
			"anyone who could change the file could run code as root here. This is recorded in " + string(state.Path))
	case mustVerify:
		if keys, err = in.trustedKeys(); err != nil {
			return nil, err
		}
		if len(keys) == 0 {
			return nil, manifest.VerificationError(manifest.HintError(
				errors.New("no trusted public key: none given with --key and none in "+string(state.KeyDir)),
				"pass the publisher's key with --key satchel.pub, or install it as "+string(state.KeyDir)+"/<name>.pub"))
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
	// The provenance the host keeps must be what the bundle's key signed
	// for this very index; checked with the same keys as the bundle.
	if key != nil && ix.HasProvenance() {
		if _, _, err := provenance.CheckBundle(b, ix, keys); err != nil {
			return nil, err
		}
	}
	// Where each path leads on this host (through its symlinks) is checked
	// by the plan, against the same lanes; writes never follow a link.
	if err := checkInstallerVersion(ix.Requirements.Installer, in.warnf); err != nil {
		return nil, err
	}
	if err := in.checkSeries(ix); err != nil {
		return nil, err
	}
	return src, nil
}

// checkSeries refuses a bundle of another series than the installed one
// (unless asked), and a sequence lower than any this root has had of the
// bundle's series (unless asked): a signed bundle of another name must
// not reset the anti-downgrade counter.
func (in *Installer) checkSeries(ix *manifest.Index) error {
	st, err := in.readState()
	if err != nil || st == nil {
		return err
	}
	if st.Bundle.Name != ix.Name {
		if !in.o.allowSeriesChange {
			return manifest.VerificationError(manifest.Hintf(
				"pass --allow-series-change if replacing "+st.Bundle.Name+" with "+ix.Name+" is intended",
				"refusing to change series: %s %s (sequence %d) is installed, this bundle is %s %s",
				st.Bundle.Name, st.Bundle.Version, st.Bundle.Sequence, ix.Name, ix.Version))
		}
		in.warnf("changing series from %s (sequence %d) to %s (sequence %d), as --allow-series-change asks",
			st.Bundle.Name, st.Bundle.Sequence, ix.Name, ix.Sequence)
	}
	hi, seen := st.HighestSequence(ix.Name)
	if !seen || ix.Sequence >= hi {
		return nil
	}
	if in.o.allowDowngrade {
		in.warnf("downgrading %s to sequence %d (%s): this root has had sequence %d, as --allow-downgrade asks",
			ix.Name, ix.Sequence, ix.Version, hi)
		return nil
	}
	return manifest.VerificationError(manifest.Hintf(
		"install a bundle with sequence ≥ "+strconv.FormatUint(hi, 10)+", or pass --allow-downgrade if going back is intended",
		"refusing to downgrade %s: this root has had sequence %d, this bundle has sequence %d (version %s)",
		ix.Name, hi, ix.Sequence, ix.Version))
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
