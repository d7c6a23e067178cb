package pack

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/satchel-dev/satchel/manifest"
)

// Part sizes for common media.
const (
	PresetFAT32 int64 = 4<<30 - 1      // largest file FAT32 holds
	PresetDVD   int64 = 4_700_000_000  // single-layer DVD
	PresetBD    int64 = 25_000_000_000 // single-layer Blu-ray
)

// PartsListSuffix is appended to a bundle's name to name its parts list.
const PartsListSuffix = ".parts.json"

// PartsFormat identifies a parts list.
const PartsFormat = "satchel-parts/v1"

const maxParts = 999

// PartsList is the JSON file written next to a split bundle's parts.
type PartsList struct {
	Format string `json:"format"`
	// Bundle is the file name the parts join into, and Size and Digest that
	// file's length and sha256 (cat name.satchel.0* | sha256sum).
	Bundle string          `json:"bundle"`
	Size   int64           `json:"size"`
	Digest manifest.Digest `json:"digest"`
	Parts  []Part          `json:"parts"`
}

// Part is one piece of a split bundle; Name is a file name in the list's directory.
type Part struct {
	Name   string          `json:"name"`
	Size   int64           `json:"size"`
	Digest manifest.Digest `json:"digest"`
}

// ParsePartSize reads a part size: a preset name ("fat32", "dvd", "bd") or a
// byte count with an optional K, M, G suffix (powers of 1024).
func ParsePartSize(s string) (int64, error) {
	switch strings.ToLower(s) {
	case "fat32":
		return PresetFAT32, nil
	case "dvd":
		return PresetDVD, nil
	case "bd", "bluray", "blu-ray":
		return PresetBD, nil
	}
	num, mult := strings.ToUpper(s), int64(1)
	for suf, m := range map[string]int64{"K": 1 << 10, "M": 1 << 20, "G": 1 << 30} {
		if t, ok := strings.CutSuffix(num, suf); ok {
			num, mult = t, m
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n <= 0 || n > (1<<62)/mult {
		return 0, manifest.Hintf(`use fat32, dvd, bd, or a size such as 700M`, "part size %q is not valid", s)
	}
	return n * mult, nil
}

// Split cuts the bundle at path into parts of at most partSize bytes, named
// path.001, path.002, …, and writes the parts list path.parts.json
// (replacing files of those names). The bundle itself is left in place. It returns the parts' and the list's paths.
func Split(path string, partSize int64) (parts []string, list string, err error) {
	if partSize <= 0 {
		return nil, "", fmt.Errorf("splitting %s: part size must be positive", path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, "", fmt.Errorf("splitting: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, "", fmt.Errorf("splitting: %w", err)
	}
	count := max(1, (fi.Size()+partSize-1)/partSize)
	if count > maxParts {
		return nil, "", manifest.Hintf("choose a larger part size",
			"splitting %s: %d parts, at most %d allowed", path, count, maxParts)
	}
	pl := PartsList{Format: PartsFormat, Bundle: filepath.Base(path), Size: fi.Size()}
	whole := sha256.New()
	defer func() {
		if err != nil {
			for _, p := range parts {
				os.Remove(p)
			}
		}
	}()
	for i := int64(1); i <= count; i++ {
		name := fmt.Sprintf("%s.%03d", path, i)
		h := sha256.New()
		var n int64
		err := writeAtomic(name, true, 0o644, func(w io.Writer) error {
			var err error
			n, err = io.Copy(io.MultiWriter(w, h, whole), io.LimitReader(f, partSize))
			return err
		})
		if err != nil {
			return parts, "", fmt.Errorf("splitting: %w", err)
		}
		parts = append(parts, name)
		pl.Parts = append(pl.Parts, Part{Name: filepath.Base(name), Size: n, Digest: manifest.FromHash(manifest.SHA256, h)})
	}
	pl.Digest = manifest.FromHash(manifest.SHA256, whole)
	js, err := json.MarshalIndent(pl, "", "  ")
	if err != nil {
		return parts, "", err
	}
	list = path + PartsListSuffix
	if err := writeAtomic(list, true, 0o644, func(w io.Writer) error {
		_, err := w.Write(append(js, '\n'))
		return err
	}); err != nil {
		return parts, "", fmt.Errorf("splitting: %w", err)
	}
	return parts, list, nil
}

// Self-extracting trailer: the last 32 bytes of a .run file are the bundle's
// offset and size (big-endian uint64) and sfxMagic.
const (
	sfxMagic      = "\x00satchel-sfx-v1\x00"
	sfxTrailerLen = 16 + len(sfxMagic)
)

// WriteSelfExtracting writes out (mode 0755): the installer binary, then the
// bundle, then a 32-byte trailer holding the bundle's offset and size, so
// that `out apply out` (or OpenPath(out)) finds the bundle inside. out is
// replaced atomically if it exists.
func WriteSelfExtracting(out string, installer string, bundle string) error {
	inst, err := os.Open(installer)
	if err != nil {
		return fmt.Errorf("writing %s: %w", out, err)
	}
	defer inst.Close()
	ifi, err := inst.Stat()
	if err != nil {
		return fmt.Errorf("writing %s: %w", out, err)
	}
	if _, ok, err := findTrailer(inst, ifi.Size()); err != nil || ok {
		return manifest.Hintf("give the plain satchel-install binary", "writing %s: %s already carries a bundle", out, installer)
	}
	bf, err := os.Open(bundle)
	if err != nil {
		return fmt.Errorf("writing %s: %w", out, err)
	}
	defer bf.Close()
	bfi, err := bf.Stat()
	if err != nil {
		return fmt.Errorf("writing %s: %w", out, err)
	}
	// Only a bundle goes in: a quick look at its first entries.
	if _, err := openBundle(bf, bfi.Size(), bundle); err != nil {
		return fmt.Errorf("writing %s: %w", out, err)
	}
	return writeAtomic(out, true, 0o755, func(w io.Writer) error {
		n, err := io.Copy(w, inst)
		if err != nil {
			return err
		}
		if n != ifi.Size() {
			return fmt.Errorf("%s changed while it was read", installer)
		}
		m, err := io.Copy(w, bf)
		if err != nil {
			return err
		}
		if m != bfi.Size() {
			return fmt.Errorf("%s changed while it was read", bundle)
		}
		var t [sfxTrailerLen]byte
		binary.BigEndian.PutUint64(t[0:8], uint64(n))
		binary.BigEndian.PutUint64(t[8:16], uint64(m))
		copy(t[16:], sfxMagic)
		_, err = w.Write(t[:])
		return err
	})
}

// findTrailer looks for a self-extracting trailer at the end of r and
// returns the embedded bundle's section.
func findTrailer(r io.ReaderAt, size int64) (*io.SectionReader, bool, error) {
	if size < int64(sfxTrailerLen) {
		return nil, false, nil
	}
	var t [sfxTrailerLen]byte
	if err := readFullAt(r, t[:], size-int64(sfxTrailerLen)); err != nil {
		return nil, false, err
	}
	if string(t[16:]) != sfxMagic {
		return nil, false, nil
	}
	off, n := binary.BigEndian.Uint64(t[0:8]), binary.BigEndian.Uint64(t[8:16])
	if off > uint64(size) || n > uint64(size) || off+n != uint64(size)-uint64(sfxTrailerLen) {
		return nil, true, damaged(fmt.Errorf("self-extracting trailer: bundle at %d, %d bytes, does not fit a %d-byte file", off, n, size))
	}
	return io.NewSectionReader(r, int64(off), int64(n)), true, nil
}

var partSuffix = regexp.MustCompile(`\.[0-9]{3}$`)

// OpenPath opens a bundle from a file: a plain bundle, a self-extracting
// file carrying one (any file ending in the trailer), a split set given by
// its parts list, by any of its parts (name.satchel.001), or by the joined
// name when only the parts are there. Close the Bundle when done.
//
// A split set's parts are checked against the list's sizes at once and
// against its sha256 digests the first time a part is read.
func OpenPath(path string) (*Bundle, error) {
	if strings.HasSuffix(path, PartsListSuffix) {
		return openSplit(path)
	}
	if partSuffix.MatchString(path) {
		list := strings.TrimSuffix(path, path[len(path)-4:]) + PartsListSuffix
		if _, err := os.Stat(list); err == nil {
			return openSplit(list)
		}
		if _, err := os.Stat(path); err == nil {
			return nil, manifest.Hintf(fmt.Sprintf("copy %s next to the parts; it lists each part's size and sha256", filepath.Base(list)),
				"%s looks like part of a split bundle, but %s is missing", path, list)
		}
	}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		if _, lerr := os.Stat(path + PartsListSuffix); lerr == nil {
			return openSplit(path + PartsListSuffix)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("opening bundle: %w", err)
	}
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = manifest.Hintf("give the path of a .satchel, .run or parts list file", "%s is not a regular file", path)
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("opening bundle: %w", err)
	}
	var first [1]byte
	if err := readFullAt(f, first[:], 0); err == nil && first[0] == '{' {
		f.Close() // JSON: a parts list under another name (a tar starts with "satchel.json")
		return openSplit(path)
	}
	var r io.ReaderAt = f
	size := fi.Size()
	sec, ok, err := findTrailer(f, size)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if ok {
		r, size = sec, sec.Size()
	}
	b, err := openBundle(r, size, path)
	if err != nil {
		f.Close()
		return nil, err
	}
	b.closers = append(b.closers, f)
	return b, nil
}

func openSplit(listPath string) (*Bundle, error) {
	js, err := os.ReadFile(listPath)
	if err != nil {
		return nil, fmt.Errorf("opening split bundle: %w", err)
	}
	bad := func(format string, args ...any) error {
		return manifest.VerificationError(manifest.HintError(fmt.Errorf("parts list %s: %s", listPath, fmt.Sprintf(format, args...)),
			"copy the parts list again from the media it came with"))
	}
	var pl PartsList
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&pl); err != nil {
		return nil, bad("%v", err)
	}
	if pl.Format != PartsFormat {
		return nil, bad("format %q, this installer reads %q", pl.Format, PartsFormat)
	}
	if len(pl.Parts) == 0 || len(pl.Parts) > maxParts {
		return nil, bad("%d parts", len(pl.Parts))
	}
	dir := filepath.Dir(listPath)
	m := &multiReaderAt{}
	closeAll := func() {
		for _, p := range m.parts {
			p.f.Close()
		}
	}
	var total int64
	for _, p := range pl.Parts {
		// Part names are plain file names next to the list: nothing else is opened.
		if p.Name == "" || p.Name != filepath.Base(p.Name) || p.Name == "." || p.Name == ".." || strings.ContainsAny(p.Name, `/\`) {
			closeAll()
			return nil, bad("part name %q is not a plain file name", p.Name)
		}
		if _, err := manifest.ParseDigest(string(p.Digest)); err != nil || p.Digest.Algorithm() != manifest.SHA256 {
			closeAll()
			return nil, bad("part %s: digest %q is not sha256", p.Name, p.Digest)
		}
		if p.Size <= 0 {
			closeAll()
			return nil, bad("part %s: size %d", p.Name, p.Size)
		}
		path := filepath.Join(dir, p.Name)
		f, err := os.Open(path)
		if err != nil {
			closeAll()
			return nil, manifest.HintError(fmt.Errorf("opening split bundle: %w", err),
				"copy every part listed in "+filepath.Base(listPath)+" into one directory")
		}
		fi, err := f.Stat()
		if err == nil && fi.Size() != p.Size {
			err = manifest.VerificationError(manifest.HintError(
				fmt.Errorf("part %s is %d bytes, the parts list says %d", path, fi.Size(), p.Size),
				"copy this part again from its media"))
		}
		if err != nil {
			f.Close()
			closeAll()
			return nil, err
		}
		m.parts = append(m.parts, &part{f: f, path: path, off: total, size: p.Size, want: p.Digest})
		total += p.Size
	}
	if total != pl.Size {
		closeAll()
		return nil, bad("parts add up to %d bytes, the list says %d", total, pl.Size)
	}
	m.size = total
	b, err := openBundle(m, total, listPath)
	if err != nil {
		closeAll()
		return nil, err
	}
	for _, p := range m.parts {
		b.closers = append(b.closers, p.f)
	}
	return b, nil
}

// multiReaderAt reads consecutive files as one. Each part's sha256 is
// checked, in full, the first time any byte of it is read; a part that fails
// fails every read that touches it.
type multiReaderAt struct {
	parts []*part
	size  int64
}

type part struct {
	f         *os.File
	path      string
	off, size int64
	want      manifest.Digest
	once      sync.Once
	err       error
}

func (p *part) check() error {
	p.once.Do(func() {
		h := sha256.New()
		n, err := io.Copy(h, io.NewSectionReader(p.f, 0, p.size+1))
		switch {
		case err != nil:
			p.err = fmt.Errorf("reading %s: %w", p.path, err)
		case n != p.size:
			p.err = fmt.Errorf("part %s is %d bytes, the parts list says %d", p.path, n, p.size)
		default:
			if got := manifest.FromHash(manifest.SHA256, h); got != p.want {
				p.err = fmt.Errorf("part %s has digest %s, the parts list says %s", p.path, got, p.want)
			}
		}
		if p.err != nil {
			p.err = manifest.VerificationError(manifest.HintError(p.err, "copy this part again from its media"))
		}
	})
	return p.err
}

func (m *multiReaderAt) ReadAt(b []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("negative offset")
	}
	n := 0
	for _, p := range m.parts {
		if len(b) == 0 {
			break
		}
		if off >= p.off+p.size || off < p.off {
			continue
		}
		if err := p.check(); err != nil {
			return n, err
		}
		k, err := p.f.ReadAt(b[:min(int64(len(b)), p.off+p.size-off)], off-p.off)
		n += k
		off += int64(k)
		b = b[k:]
		if err != nil && !(errors.Is(err, io.EOF) && off == p.off+p.size) {
			return n, err
		}
	}
	if len(b) > 0 {
		return n, io.EOF
	}
	return n, nil
}

// Embedded reports whether the file at path carries a bundle after a
// self-extracting trailer (a .run file made by WriteSelfExtracting).
func Embedded(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return false
	}
	_, ok, err := findTrailer(f, st.Size())
	return ok && err == nil
}

// ProgramLength is the length of the program at the start of a
// self-extracting file (the bytes before the embedded bundle), or the
// whole file's size when it carries no bundle: what to copy to install
// the program alone.
func ProgramLength(path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	sec, ok, err := findTrailer(f, st.Size())
	if err != nil {
		return 0, err
	}
	if !ok {
		return st.Size(), nil
	}
	return st.Size() - sec.Size() - int64(sfxTrailerLen), nil
}
