package install

import (
	"context"
	"crypto/sha256"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strconv"
	"strings"
	"syscall"

	"github.com/satchel-dev/satchel/install/images"
	"github.com/satchel-dev/satchel/install/rootfs"
	"github.com/satchel-dev/satchel/install/state"

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

// fileDigest returns the sha256 and size of a host file.
func fileDigest(p string) (manifest.Digest, int64, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, err
	}
	return manifest.FromHash(manifest.SHA256, h), n, nil
}

// maxKeySize bounds a public key file: a PEM public key is well under 4 KiB.
const maxKeySize = 64 << 10

// trustedKeys loads --key files and <root>/etc/satchel/keys/*.pub. Key
// files are read only if they are regular files of a sane size (a FIFO or
// /dev/zero given as a key must not hang or exhaust the installer), and
// the key directory is read inside the root without following symlinks:
// a link planted there must not make the installer read /etc/shadow.
func (in *Installer) trustedKeys() ([]*verify.Verifier, error) {
	var keys []*verify.Verifier
	for _, p := range in.o.keyFiles {
		b, err := readRegular(p, maxKeySize)
		if err != nil {
			return nil, manifest.VerificationError(manifest.HintError(fmt.Errorf("reading public key: %w", err),
				"give the publisher's .pub file (a regular file)"))
		}
		v, err := loadOneKey(b, p)
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
		v, err := loadOneKey(b, string(p))
		if err != nil {
			return nil, manifest.VerificationError(fmt.Errorf("trusted key directory %s: %w", state.KeyDir, err))
		}
		keys = append(keys, v)
	}
	return keys, nil
}

// loadOneKey parses a PEM public key file that must hold exactly one key:
// a second block would otherwise be silently ignored.
func loadOneKey(b []byte, source string) (*verify.Verifier, error) {
	rest, n := b, 0
	for {
		blk, r := pem.Decode(rest)
		if blk == nil {
			break
		}
		n, rest = n+1, r
	}
	if n > 1 {
		return nil, manifest.HintError(fmt.Errorf("public key %s holds %d PEM blocks", source, n),
			"put one public key in each file")
	}
	return verify.LoadVerifier(b, source)
}

// readRegular reads a host file only if it is a regular file of at most
// max bytes, without blocking on a FIFO.
func readRegular(p string, max int64) ([]byte, error) {
	f, err := os.OpenFile(p, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is a %s, not a regular file", p, rootfs.TypeName(fi.Mode()))
	}
	if fi.Size() > max {
		return nil, fmt.Errorf("%s is %d bytes, more than a key file holds", p, fi.Size())
	}
	return io.ReadAll(io.LimitReader(f, max))
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

	switch {
	case in.o.insecure:
		src.Insecure = true
		in.warnf("INSECURE: --insecure-skip-signature given: the bundle's signature is NOT checked; " +
			"anyone who could change the file could run code as root here. This is recorded in " + string(state.Path))
	case mustVerify:
		keys, err := in.trustedKeys()
		if err != nil {
			return nil, err
		}
		if len(keys) == 0 {
			return nil, manifest.VerificationError(manifest.HintError(
				errors.New("no trusted public key: none given with --key and none in "+string(state.KeyDir)),
				"pass the publisher's key with --key satchel.pub, or install it as "+string(state.KeyDir)+"/<name>.pub"))
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
	if err := in.checkSeries(ix); err != nil {
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
					if err := verify.CheckLinkTarget("/", f.Path, f.Target); err != nil {
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
