package manifest

import (
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/satchel-dev/satchel/internal/fault"
)

// InstallPrefixes are the lanes a bundle installs into (DESIGN.md, "Where
// things go"): programs under /usr/local, trees such as kata under /opt.
// Configs, units and keys are the installer's own, never the bundle's.
var InstallPrefixes = []string{"/usr/local/", "/opt/"}

// Limits on what a signed index may hold. They are far above anything a
// real bundle carries and exist so that a hostile index cannot make a
// reader allocate, print or write without bound.
const (
	maxPathLen   = 4095 // PATH_MAX less the NUL
	maxNameLen   = 255  // NAME_MAX, one path element
	maxTextLen   = 4096 // a URL, a note
	maxShortText = 256  // versions, variants, ids, media types
	// MaxFileSize bounds one installed file (its content, after
	// decompression): 16 GiB, some 40 times kata's largest image.
	MaxFileSize = 16 << 30
	// MaxBlobSize is the largest stored blob: USTAR's 11 octal digits.
	MaxBlobSize = 1<<33 - 1
)

const malformedHint = "the bundle is malformed or malicious: do not install it, and tell its publisher"

// Validate checks the structure and the policy of a signed index: what a
// bundle may ask of a host, before any byte of it is installed. A signature
// proves who built a bundle, not that the builder was honest; Validate is
// what keeps a signed bundle inside its lanes. It checks:
//
//   - the format version; the bundle name (lower-case, digits, '.', '-');
//     a sequence of at least 1; known, distinct platforms; the installer
//     requirement (a release version) and the minimum kernel (dotted
//     numbers);
//   - every text field a person may read (names, versions, variants, URLs,
//     digest sources, refs, media types, note ids and texts, archive names):
//     valid UTF-8, printable, no control characters, no newlines, bounded
//     length;
//   - every file path (see CheckInstallPath): absolute, clean, printable,
//     under /usr/local/ or /opt/, outside the directories systemd and udev
//     read configuration from;
//   - file types: regular files and symlinks only. A regular file has
//     permission bits only, without setuid, setgid, sticky or
//     world-writable bits; a sha256 or sha512 content digest; a size up to
//     MaxFileSize; and a blob present in the index, zstd-encoded. A symlink
//     has a target and no content;
//   - per platform: one content per path (two entries for a path must be
//     identical); no entry below a path that is a symlink or a regular file
//     of the bundle (the `/opt/x -> ../etc` plus `/opt/x/passwd` attack);
//     every symlink's target, resolved from the link's directory through the
//     bundle's own symlinks as the kernel would (absolute targets from /),
//     lands under the install prefixes;
//   - images: a reference, digests, a media type, platforms of the bundle,
//     role "" or "sandbox", and every blob present and stored as it is
//     (encoding "none");
//   - blobs: sha256-named, listed once, sizes 0…MaxBlobSize, encoding
//     "zstd" or "none", each used by a file, an image or the attestations;
//   - attestations: the SBOM a blob stored as it is, at most
//     MaxAttestationSize, of media type SPDX JSON; the provenance a DSSE
//     envelope of SLSA provenance v1.
//
// Host-side checks (symlinks already on the host, the root) are the
// installer's. Failures are VerificationError (exit code 3) with a hint.
func (ix *Index) Validate() error {
	if err := ix.validate(); err != nil {
		return VerificationError(HintError(fmt.Errorf("satchel.json: %w", err), malformedHint))
	}
	return nil
}

func (ix *Index) validate() error {
	if ix.FormatVersion != FormatVersion {
		return fmt.Errorf("format version %d, this program reads %d", ix.FormatVersion, FormatVersion)
	}
	if !nameRE.MatchString(ix.Name) {
		return fmt.Errorf("bundle name %q is not lower-case letters, digits, '.' and '-'", ix.Name)
	}
	if err := checkField("version", ix.Version, maxShortText, true); err != nil {
		return err
	}
	if ix.Sequence == 0 {
		return errors.New("sequence is 0; bundles start at 1")
	}
	if err := checkField("profile", ix.Profile, maxShortText, false); err != nil {
		return err
	}
	if len(ix.Platforms) == 0 {
		return errors.New("no platforms")
	}
	for i, p := range ix.Platforms {
		if !slices.Contains(KnownPlatforms, p) {
			return fmt.Errorf("unknown platform %q", p)
		}
		if slices.Contains(ix.Platforms[:i], p) {
			return fmt.Errorf("platform %q listed twice", p)
		}
	}
	if _, err := ParseRelease(ix.Requirements.Installer); err != nil {
		return fmt.Errorf("requirements.installer: %w", err)
	}
	if k := ix.Requirements.MinKernel; k != "" && !dottedRE.MatchString(k) {
		return fmt.Errorf("requirements.minKernel %q is not a dotted version", k)
	}

	blobs := make(map[Digest]Blob, len(ix.Blobs))
	for _, b := range ix.Blobs {
		if err := checkBlob(b); err != nil {
			return err
		}
		if _, dup := blobs[b.Digest]; dup {
			return fmt.Errorf("blob %s listed twice", b.Digest)
		}
		blobs[b.Digest] = b
	}
	used := make(map[Digest]bool, len(ix.Blobs))

	byPlatform := map[string]*platformFiles{}
	for ci := range ix.Components {
		c := &ix.Components[ci]
		if !nameRE.MatchString(c.Name) {
			return fmt.Errorf("component name %q is not lower-case letters, digits, '.' and '-'", c.Name)
		}
		if slices.ContainsFunc(ix.Components[:ci], func(o Component) bool { return o.Name == c.Name }) {
			return fmt.Errorf("component %s listed twice", c.Name)
		}
		if err := checkField("component "+c.Name+" version", c.Version, maxShortText, true); err != nil {
			return err
		}
		if err := checkField("component "+c.Name+" variant", c.Variant, maxShortText, false); err != nil {
			return err
		}
		if len(c.Artifacts) == 0 {
			return fmt.Errorf("component %s has no artifacts", c.Name)
		}
		for _, a := range c.Artifacts {
			where := fmt.Sprintf("component %s (%s)", c.Name, a.Platform)
			if !slices.Contains(ix.Platforms, a.Platform) {
				return fmt.Errorf("component %s: artifact for platform %q, which the bundle does not list", c.Name, a.Platform)
			}
			if err := checkField(where+" url", a.URL, maxTextLen, true); err != nil {
				return err
			}
			if err := checkField(where+" version", a.Version, maxShortText, false); err != nil {
				return err
			}
			if err := checkDigest(where+" artifact digest", a.Digest); err != nil {
				return err
			}
			if err := checkField(where+" digestSource", a.DigestSource, maxShortText, false); err != nil {
				return err
			}
			pf := byPlatform[a.Platform]
			if pf == nil {
				pf = &platformFiles{entries: map[string]File{}}
				byPlatform[a.Platform] = pf
			}
			for _, f := range a.Files {
				if err := checkFile(f, blobs); err != nil {
					return fmt.Errorf("%s: file %q: %w", where, f.Path, err)
				}
				if f.Type == TypeFile {
					used[f.Blob] = true
				}
				if prev, ok := pf.entries[f.Path]; ok {
					if !sameEntry(prev, f) {
						return fmt.Errorf("%s: file %q: two entries for this path with different content", where, f.Path)
					}
					continue
				}
				pf.entries[f.Path] = f
				pf.order = append(pf.order, f.Path)
			}
		}
	}
	for _, p := range ix.Platforms {
		if pf := byPlatform[p]; pf != nil {
			if err := pf.checkTree(p); err != nil {
				return err
			}
		}
	}

	for i, im := range ix.Images {
		where := fmt.Sprintf("image %q", im.Ref)
		if err := checkField("image reference", im.Ref, maxTextLen, true); err != nil {
			return err
		}
		if slices.ContainsFunc(ix.Images[:i], func(o Image) bool { return o.Ref == im.Ref }) {
			return fmt.Errorf("%s listed twice", where)
		}
		if err := checkDigest(where+" digest", im.Digest); err != nil {
			return err
		}
		if im.UpstreamDigest != "" {
			if err := checkDigest(where+" upstream digest", im.UpstreamDigest); err != nil {
				return err
			}
		}
		if err := checkField(where+" media type", im.MediaType, maxShortText, true); err != nil {
			return err
		}
		if len(im.Platforms) == 0 {
			return fmt.Errorf("%s: no platforms", where)
		}
		for _, p := range im.Platforms {
			if !slices.Contains(ix.Platforms, p) {
				return fmt.Errorf("%s: platform %q, which the bundle does not list", where, p)
			}
		}
		if im.Role != "" && im.Role != "sandbox" {
			return fmt.Errorf("%s: unknown role %q", where, im.Role)
		}
		for _, d := range append([]Digest{im.Digest}, im.Blobs...) {
			b, ok := blobs[d]
			if !ok {
				return fmt.Errorf("%s: blob %q is not in the bundle", where, d)
			}
			if b.Encoding != EncodingNone {
				return fmt.Errorf("%s: blob %s is stored %q, image blobs are stored as they are (%q)", where, d, b.Encoding, EncodingNone)
			}
			used[d] = true
		}
	}

	for _, n := range ix.Notes {
		if err := checkField("note id", n.ID, maxShortText, true); err != nil {
			return err
		}
		where := fmt.Sprintf("note %s", n.ID)
		if err := checkField(where+" component", n.Component, maxShortText, false); err != nil {
			return err
		}
		if n.Platform != "" && !slices.Contains(KnownPlatforms, n.Platform) {
			return fmt.Errorf("%s: unknown platform %q", where, n.Platform)
		}
		if !slices.Contains([]string{"info", "warning", "error"}, n.Severity) {
			return fmt.Errorf("%s: severity %q is not info, warning or error", where, n.Severity)
		}
		if err := checkField(where+" text", n.Text, maxTextLen, true); err != nil {
			return err
		}
		if n.Kind != "" && n.Kind != NoteSecurity && n.Kind != NoteEOL {
			return fmt.Errorf("%s: kind %q is not %s or %s", where, n.Kind, NoteSecurity, NoteEOL)
		}
		short := append([]string{n.Version, n.Date}, n.CVEs...)
		for _, f := range append(short, n.FixedIn...) {
			if err := checkField(where+" field", f, maxShortText, false); err != nil {
				return err
			}
		}
		if err := checkField(where+" source", n.Source, maxTextLen, false); err != nil {
			return err
		}
	}

	if a := ix.Attestations; a != nil {
		if a.SBOM == nil && a.Provenance == nil {
			return errors.New("attestations: empty (leave it out)")
		}
		if s := a.SBOM; s != nil {
			if s.MediaType != MediaTypeSPDX {
				return fmt.Errorf("attestations: SBOM media type %q, want %q", s.MediaType, MediaTypeSPDX)
			}
			b, ok := blobs[s.Digest]
			if !ok {
				return fmt.Errorf("attestations: SBOM blob %q is not in the bundle", s.Digest)
			}
			if b.Encoding != EncodingNone {
				return fmt.Errorf("attestations: SBOM blob %s is stored %q, not as it is (%q)", s.Digest, b.Encoding, EncodingNone)
			}
			if b.Size > MaxAttestationSize {
				return fmt.Errorf("attestations: SBOM blob %s is %d bytes, at most %d", s.Digest, b.Size, MaxAttestationSize)
			}
			used[s.Digest] = true
		}
		if p := a.Provenance; p != nil {
			if p.MediaType != MediaTypeDSSE || p.PredicateType != PredicateSLSAProvenance {
				return fmt.Errorf("attestations: provenance %q with predicate %q, want %q with %q", p.MediaType, p.PredicateType, MediaTypeDSSE, PredicateSLSAProvenance)
			}
		}
	}

	for _, b := range ix.Blobs {
		if !used[b.Digest] {
			return fmt.Errorf("blob %s is used by no file and no image", b.Digest)
		}
	}
	return nil
}

// MaxAttestationSize bounds an SBOM or provenance document a reader loads
// into memory.
const MaxAttestationSize = 64 << 20

func checkBlob(b Blob) error {
	if err := checkDigest("blob", b.Digest); err != nil {
		return err
	}
	if b.Digest.Algorithm() != SHA256 {
		return fmt.Errorf("blob %s: blobs are named by sha256", b.Digest)
	}
	if b.Size < 0 || b.Size > MaxBlobSize {
		return fmt.Errorf("blob %s: size %d outside 0…%d", b.Digest, b.Size, int64(MaxBlobSize))
	}
	if b.Encoding != EncodingZstd && b.Encoding != EncodingNone {
		return fmt.Errorf("blob %s: unknown encoding %q", b.Digest, b.Encoding)
	}
	return nil
}

func checkFile(f File, blobs map[Digest]Blob) error {
	if err := CheckInstallPath(f.Path); err != nil {
		return err
	}
	if err := checkField("source", f.Source, maxPathLen, false); err != nil {
		return err
	}
	switch f.Type {
	case TypeFile:
		if f.Mode&^0o777 != 0 {
			return fmt.Errorf("mode %#o has bits other than permissions (setuid, setgid and sticky are refused)", f.Mode)
		}
		if f.Mode&0o002 != 0 {
			return fmt.Errorf("mode %#o is world-writable", f.Mode)
		}
		if f.Target != "" {
			return errors.New("a regular file with a symlink target")
		}
		if err := checkDigest("content digest", f.Digest); err != nil {
			return err
		}
		if f.Size < 0 || f.Size > MaxFileSize {
			return fmt.Errorf("size %d outside 0…%d", f.Size, int64(MaxFileSize))
		}
		b, ok := blobs[f.Blob]
		if !ok {
			return fmt.Errorf("its blob %q is not in the bundle", f.Blob)
		}
		if b.Encoding != EncodingZstd {
			return fmt.Errorf("its blob %s is stored %q, files are stored %q", f.Blob, b.Encoding, EncodingZstd)
		}
		if f.Glibc != "" && f.Glibc != GlibcStatic && !dottedRE.MatchString(f.Glibc) {
			return fmt.Errorf("glibc %q is neither %q nor a dotted version", f.Glibc, GlibcStatic)
		}
	case TypeSymlink:
		// Link permissions mean nothing on Linux; the writer records 0 or 0777.
		if f.Mode&^0o777 != 0 {
			return fmt.Errorf("mode %#o has bits other than permissions", f.Mode)
		}
		if f.Target == "" {
			return errors.New("a symlink with an empty target")
		}
		if err := checkField("symlink target", f.Target, maxPathLen, true); err != nil {
			return err
		}
		if f.Digest != "" || f.Blob != "" || f.Size != 0 || f.Glibc != "" {
			return errors.New("a symlink with content")
		}
	default:
		return fmt.Errorf("type %q: bundles carry regular files and symlinks only", f.Type)
	}
	return nil
}

func sameEntry(a, b File) bool {
	return a.Type == b.Type && a.Mode == b.Mode && a.Target == b.Target && a.Digest == b.Digest && a.Size == b.Size
}

// platformFiles are the entries one platform installs, by path.
type platformFiles struct {
	entries map[string]File
	order   []string
}

// maxLinkHops is the kernel's MAXSYMLINKS (40, include/linux/namei.h).
const maxLinkHops = 40

// checkTree checks how the platform's entries relate: nothing below a
// symlink or a regular file of the bundle, and every symlink resolving into
// the install prefixes.
func (pf *platformFiles) checkTree(platform string) error {
	for _, p := range pf.order {
		for dir := path.Dir(p); dir != "/"; dir = path.Dir(dir) {
			if parent, ok := pf.entries[dir]; ok {
				kind := "a regular file"
				if parent.Type == TypeSymlink {
					kind = "a symlink"
				}
				return fmt.Errorf("%s: %q lies below %q, which is %s of the bundle", platform, p, dir, kind)
			}
		}
	}
	for _, p := range pf.order {
		f := pf.entries[p]
		if f.Type != TypeSymlink {
			continue
		}
		dest, err := pf.resolve(path.Dir(p), f.Target)
		if err != nil {
			return fmt.Errorf("%s: symlink %q -> %q: %w", platform, p, f.Target, err)
		}
		if err := CheckInstallPath(dest); err != nil {
			return fmt.Errorf("%s: symlink %q -> %q resolves to %q: %w", platform, p, f.Target, dest, err)
		}
	}
	return nil
}

// resolve resolves target as the kernel would from directory dir, following
// the bundle's own symlinks (but not the host's: those are the installer's
// to check). ".." at / stays at /, as in the kernel.
func (pf *platformFiles) resolve(dir, target string) (string, error) {
	var stack []string
	if !strings.HasPrefix(target, "/") {
		stack = splitPath(dir)
	}
	todo := splitPath(target)
	hops := 0
	for len(todo) > 0 {
		e := todo[0]
		todo = todo[1:]
		switch e {
		case ".":
			continue
		case "..":
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
			continue
		}
		stack = append(stack, e)
		cur := "/" + strings.Join(stack, "/")
		link, ok := pf.entries[cur]
		if !ok || link.Type != TypeSymlink {
			continue
		}
		if hops++; hops > maxLinkHops {
			return "", errors.New("too many levels of symbolic links")
		}
		stack = stack[:len(stack)-1]
		if strings.HasPrefix(link.Target, "/") {
			stack = nil
		}
		todo = append(splitPath(link.Target), todo...)
	}
	return "/" + strings.Join(stack, "/"), nil
}

func splitPath(p string) []string {
	var out []string
	for e := range strings.SplitSeq(p, "/") {
		if e != "" {
			out = append(out, e)
		}
	}
	return out
}

// CheckInstallPath returns why p (an absolute path as the installed host
// sees it) is not a place a bundle may install to, or nil. A path must be
// clean and absolute, printable UTF-8 (no control characters, newlines or
// NUL), at most PATH_MAX with elements of at most NAME_MAX bytes, strictly
// below one of InstallPrefixes, and outside the directories under
// /usr/local/lib that the host reads configuration from:
//
//   - systemd/: unit files (/usr/local/lib/systemd/system is on systemd's
//     unit search path, systemd.unit(5)), generators, presets;
//   - udev/: rules (udev's RULES_DIRS is CONF_PATHS_STRV("udev/rules.d"),
//     src/udev/udev-rules.c);
//   - any *.d directory: systemd's drop-in directories (tmpfiles.d,
//     sysctl.d, modules-load.d, binfmt.d, sysusers.d, …) are read from
//     CONF_PATHS, which includes "/usr/local/lib/" (src/basic/def.h in
//     systemd 239, the version on Kylin V10).
//
// The installer calls it again on resolved host paths.
func CheckInstallPath(p string) error {
	if p == "" {
		return errors.New("empty path")
	}
	if len(p) > maxPathLen {
		return fmt.Errorf("path is %d bytes long, more than %d", len(p), maxPathLen)
	}
	if err := checkText(p); err != nil {
		return fmt.Errorf("path: %w", err)
	}
	if !strings.HasPrefix(p, "/") || path.Clean(p) != p {
		return errors.New("not a clean absolute path")
	}
	for e := range strings.SplitSeq(p[1:], "/") {
		if len(e) > maxNameLen {
			return fmt.Errorf("path element of %d bytes, more than %d", len(e), maxNameLen)
		}
	}
	if !slices.ContainsFunc(InstallPrefixes, func(pre string) bool { return strings.HasPrefix(p, pre) }) {
		return errors.New("bundles install only under " + strings.Join(InstallPrefixes, " and "))
	}
	if rest, ok := strings.CutPrefix(p, "/usr/local/lib/"); ok {
		first, _, _ := strings.Cut(rest, "/")
		if first == "systemd" || first == "udev" || strings.HasSuffix(first, ".d") {
			return fmt.Errorf("/usr/local/lib/%s is read by systemd or udev as host configuration; bundles do not install there", first)
		}
	}
	return nil
}

// checkDigest is ParseDigest with the problem in the message (and no hint
// of its own: Validate's hint is the one that applies).
func checkDigest(what string, d Digest) error {
	if _, err := ParseDigest(string(d)); err != nil {
		var h *fault.Error
		if errors.As(err, &h) {
			err = h.Err
		}
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// checkField checks a text field of the index: printable, bounded, and
// present when required.
func checkField(what, s string, maxLen int, required bool) error {
	if s == "" {
		if required {
			return fmt.Errorf("%s is empty", what)
		}
		return nil
	}
	if len(s) > maxLen {
		return fmt.Errorf("%s is %d bytes long, more than %d", what, len(s), maxLen)
	}
	if err := checkText(s); err != nil {
		return fmt.Errorf("%s %q: %w", what, s, err)
	}
	return nil
}

// checkText refuses what must not reach a terminal or a file name: invalid
// UTF-8 and every rune that is not printable (control characters, newlines,
// escape sequences, format characters such as bidi overrides). The space is
// the only white space allowed.
func checkText(s string) error {
	for i, r := range s {
		if r == utf8.RuneError {
			if _, n := utf8.DecodeRuneInString(s[i:]); n <= 1 {
				return fmt.Errorf("invalid UTF-8 at byte %d", i)
			}
		}
		if !unicode.IsPrint(r) {
			return fmt.Errorf("control or non-printable character %U at byte %d", r, i)
		}
	}
	return nil
}

// NormalizeMode turns the mode of a file from an upstream archive into the
// mode the bundle installs it with: permission bits only, without group and
// other write (an archive's 0775 or 0777 becomes 0755), without the sticky
// bit. A setuid or setgid file is refused, not silently stripped: a program
// that needs it would fail in ways hard to trace on the host, and satchel
// installs no such programs. The builder uses it, so that it never writes
// what Validate refuses.
func NormalizeMode(mode uint32) (uint32, error) {
	if mode&0o6000 != 0 {
		return 0, HintError(fmt.Errorf("mode %#o is setuid or setgid; bundles install no such files", mode),
			"set the file's mode in the catalog's file rule, or leave the file out")
	}
	return mode & 0o777 &^ 0o022, nil
}
