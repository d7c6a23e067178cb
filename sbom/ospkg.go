package sbom

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net/url"
	"path"
	"sort"
	"strings"

	"github.com/klauspost/compress/zstd"
)

// OSPackage is a package an image's package manager recorded as installed.
type OSPackage struct {
	Type    string // "deb" or "apk"
	Name    string
	Version string
	Arch    string
	// Source is the source package (dpkg Source:, apk origin o:), when it
	// differs from Name; vulnerability databases name source packages.
	Source string
	// License is what the database says (apk L:), free text.
	License string
}

// OSRelease is an image's /etc/os-release.
type OSRelease struct {
	ID, VersionID, PrettyName string
}

// Paths of the package databases and os-release inside a layer, without a
// leading slash: dpkg's status file and, in distroless images, one stanza
// file per package under status.d; apk's installed database.
const (
	dpkgStatus    = "var/lib/dpkg/status"
	dpkgStatusDir = "var/lib/dpkg/status.d/"
	apkInstalled  = "lib/apk/db/installed"
	etcOSRelease  = "etc/os-release"
	usrOSRelease  = "usr/lib/os-release"
)

// maxDBFile bounds what is read of one package database file.
const maxDBFile = 64 << 20

func wanted(name string) bool {
	return name == dpkgStatus || name == apkInstalled || name == etcOSRelease || name == usrOSRelease ||
		strings.HasPrefix(name, dpkgStatusDir) && len(name) > len(dpkgStatusDir)
}

// layerFS is the union of the files of interest across an image's layers,
// applied bottom up with OCI whiteouts (image-spec layer.md: ".wh.<name>"
// removes name, ".wh..wh..opq" hides what lower layers put in its directory).
type layerFS map[string][]byte

// apply reads one layer tar (gzip, zstd or plain, told apart by magic
// bytes) and merges its files of interest into fs.
func (fs layerFS) apply(r io.Reader) error {
	tr, closeFn, err := openLayer(r)
	if err != nil {
		return err
	}
	defer closeFn()
	added := map[string][]byte{}
	var removed, opaque []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("reading layer: %w", err)
		}
		name := strings.TrimPrefix(path.Clean("/"+h.Name), "/")
		dir, base := path.Split(name)
		switch {
		case base == ".wh..wh..opq":
			opaque = append(opaque, dir)
			continue
		case strings.HasPrefix(base, ".wh."):
			removed = append(removed, dir+strings.TrimPrefix(base, ".wh."))
			continue
		}
		if !wanted(name) {
			continue
		}
		switch h.Typeflag {
		case tar.TypeReg:
			b, err := io.ReadAll(io.LimitReader(tr, maxDBFile+1))
			if err != nil {
				return fmt.Errorf("reading layer: %s: %w", name, err)
			}
			if len(b) > maxDBFile {
				return fmt.Errorf("reading layer: %s is larger than %d bytes", name, maxDBFile)
			}
			added[name] = b
		case tar.TypeSymlink:
			// os-release is usually a link to ../usr/lib/os-release, read
			// from there; a link elsewhere in the databases is not followed.
			delete(fs, name)
		}
	}
	for _, d := range opaque {
		for k := range fs {
			if strings.HasPrefix(k, d) {
				delete(fs, k)
			}
		}
	}
	for _, p := range removed {
		for k := range fs {
			if k == p || strings.HasPrefix(k, p+"/") {
				delete(fs, k)
			}
		}
	}
	for k, v := range added {
		fs[k] = v
	}
	return nil
}

func openLayer(r io.Reader) (*tar.Reader, func(), error) {
	br := bufio.NewReader(r)
	magic, _ := br.Peek(4)
	switch {
	case bytes.HasPrefix(magic, []byte{0x1f, 0x8b}):
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, nil, fmt.Errorf("reading layer: %w", err)
		}
		return tar.NewReader(zr), func() { zr.Close() }, nil
	case bytes.Equal(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true))
		if err != nil {
			return nil, nil, fmt.Errorf("reading layer: %w", err)
		}
		return tar.NewReader(zr), zr.Close, nil
	}
	return tar.NewReader(br), func() {}, nil
}

// packages parses the package databases found, sorted by type, name,
// version, arch.
func (fs layerFS) packages() ([]OSPackage, error) {
	var out []OSPackage
	if b, ok := fs[dpkgStatus]; ok {
		pk, err := parseDpkgStatus(b)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", dpkgStatus, err)
		}
		out = append(out, pk...)
	}
	var extra []string
	for k := range fs {
		if strings.HasPrefix(k, dpkgStatusDir) {
			extra = append(extra, k)
		}
	}
	sort.Strings(extra)
	for _, k := range extra {
		pk, err := parseDpkgStatus(fs[k])
		if err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
		out = append(out, pk...)
	}
	if b, ok := fs[apkInstalled]; ok {
		out = append(out, parseApkInstalled(b)...)
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Type != b.Type {
			return a.Type < b.Type
		}
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		if a.Version != b.Version {
			return a.Version < b.Version
		}
		return a.Arch < b.Arch
	})
	return out, nil
}

func (fs layerFS) osRelease() (OSRelease, bool) {
	b, ok := fs[etcOSRelease]
	if !ok {
		if b, ok = fs[usrOSRelease]; !ok {
			return OSRelease{}, false
		}
	}
	var r OSRelease
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), "=")
		if !ok {
			continue
		}
		v = strings.Trim(v, `"'`)
		switch k {
		case "ID":
			r.ID = v
		case "VERSION_ID":
			r.VersionID = v
		case "PRETTY_NAME":
			r.PrettyName = v
		}
	}
	return r, r.ID != ""
}

// parseDpkgStatus reads dpkg's status file (deb822 stanzas separated by
// blank lines; dpkg(1), deb-status(5)) and keeps packages whose Status ends
// in "installed" ("install ok installed"); "config-files" and
// "not-installed" entries are not on disk.
func parseDpkgStatus(b []byte) ([]OSPackage, error) {
	var out []OSPackage
	for _, stanza := range splitStanzas(b) {
		f := deb822Fields(stanza)
		if f["Package"] == "" {
			continue
		}
		if st := f["Status"]; st != "" && !strings.HasSuffix(st, " installed") {
			continue
		}
		p := OSPackage{Type: "deb", Name: f["Package"], Version: f["Version"], Arch: f["Architecture"]}
		if src := f["Source"]; src != "" {
			// "Source: name (version)" when the source version differs.
			name, _, _ := strings.Cut(src, " ")
			if name != p.Name {
				p.Source = name
			}
		}
		if p.Version == "" {
			return nil, fmt.Errorf("package %s has no Version", p.Name)
		}
		out = append(out, p)
	}
	return out, nil
}

func splitStanzas(b []byte) []string {
	var out []string
	for _, s := range strings.Split(strings.ReplaceAll(string(b), "\r\n", "\n"), "\n\n") {
		if strings.TrimSpace(s) != "" {
			out = append(out, s)
		}
	}
	return out
}

// deb822Fields returns the single-line fields of a stanza; continuation
// lines (leading space) belong to multi-line fields such as Description
// and are skipped.
func deb822Fields(stanza string) map[string]string {
	f := map[string]string{}
	for _, line := range strings.Split(stanza, "\n") {
		if line == "" || line[0] == ' ' || line[0] == '\t' {
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if ok {
			f[k] = strings.TrimSpace(v)
		}
	}
	return f
}

// parseApkInstalled reads apk's installed database: one package per
// blank-line separated block, one "X:value" line per field (P name,
// V version, A arch, L license, o origin; apk-tools' package database
// format, "Apk spec" in the Alpine wiki).
func parseApkInstalled(b []byte) []OSPackage {
	var out []OSPackage
	for _, block := range splitStanzas(b) {
		var p OSPackage
		p.Type = "apk"
		for _, line := range strings.Split(block, "\n") {
			if len(line) < 2 || line[1] != ':' {
				continue
			}
			v := line[2:]
			switch line[0] {
			case 'P':
				p.Name = v
			case 'V':
				p.Version = v
			case 'A':
				p.Arch = v
			case 'L':
				p.License = v
			case 'o':
				p.Source = v
			}
		}
		if p.Source == p.Name {
			p.Source = ""
		}
		if p.Name != "" && p.Version != "" {
			out = append(out, p)
		}
	}
	return out
}

// PURL returns the package's purl: pkg:deb/<distro id>/<name>@<version>
// or pkg:apk/<distro id>/<name>@<version>, with arch, distro
// (<id>-<version id>) and, when it differs, upstream (the source package)
// as qualifiers.
func (p OSPackage) PURL(rel OSRelease) string {
	ns := rel.ID
	if ns == "" {
		ns = map[string]string{"deb": "debian", "apk": "alpine"}[p.Type]
	}
	distro := ""
	if rel.ID != "" && rel.VersionID != "" {
		distro = rel.ID + "-" + rel.VersionID
	}
	return "pkg:" + p.Type + "/" + purlPath(ns) + "/" + purlPath(p.Name) + "@" + url.PathEscape(p.Version) +
		purlQualifiers("arch", p.Arch, "distro", distro, "upstream", p.Source)
}
