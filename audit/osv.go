// Package audit matches a bundle's SBOM against an OSV vulnerability
// database that the user brings as a directory: OSV's per-ecosystem exports
// (`<ECOSYSTEM>/all.zip`, one `<ID>.json` per record; google/osv.dev
// docs/data.md, "Data dumps"), unpacked or not, or loose OSV JSON files.
// Nothing is fetched: the database crosses the air gap like the bundle.
//
// What is checked: every package of the SBOM that has a purl —
// the component pins (runc 1.2.6 is module github.com/opencontainers/runc
// v1.2.6, see sbom.ComponentModule), the Go modules compiled into each Go
// binary, the Go standard library version of each (ecosystem Go, package
// "stdlib"), and the Debian packages of images (ecosystem Debian:<release>,
// by source package). Alpine packages are listed as not checked: apk's
// version ordering is not implemented here.
//
// Matching follows the OSV schema's evaluation algorithm (docs/schema.md,
// "Evaluation", ossf/osv-schema): a version is affected when it is listed
// in `versions`, or lies in a range: events sorted by version, `introduced`
// opens, `fixed` closes before, `last_affected` closes after. SEMVER
// ranges, and ECOSYSTEM ranges of the Go ecosystem, compare as Semantic
// Versioning 2.0 (pre-releases before their release, build metadata
// ignored; Go's "v" prefix is dropped); Debian ECOSYSTEM ranges compare as
// dpkg does.
package audit

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/satchel-dev/satchel/manifest"
)

// Entry is the part of an OSV record (schema 1.x) the audit uses.
type Entry struct {
	ID               string     `json:"id"`
	Modified         string     `json:"modified"`
	Published        string     `json:"published"`
	Withdrawn        string     `json:"withdrawn"`
	Aliases          []string   `json:"aliases"`
	Summary          string     `json:"summary"`
	Details          string     `json:"details"`
	Severity         []Score    `json:"severity"`
	Affected         []Affected `json:"affected"`
	DatabaseSpecific struct {
		// Severity is GitHub's rating: LOW, MODERATE, HIGH, CRITICAL.
		Severity string `json:"severity"`
	} `json:"database_specific"`
}

// Score is one severity[] item: a type (CVSS_V2, CVSS_V3, CVSS_V4, …) and its vector.
type Score struct {
	Type  string `json:"type"`
	Score string `json:"score"`
}

// Affected is one affected[] item.
type Affected struct {
	Package struct {
		Ecosystem string `json:"ecosystem"`
		Name      string `json:"name"`
		Purl      string `json:"purl"`
	} `json:"package"`
	Severity []Score  `json:"severity"`
	Ranges   []Range  `json:"ranges"`
	Versions []string `json:"versions"`
}

// Range is one affected[].ranges[] item.
type Range struct {
	Type   string  `json:"type"`
	Events []Event `json:"events"`
}

// Event is one range event; exactly one field is set.
type Event struct {
	Introduced   string `json:"introduced,omitempty"`
	Fixed        string `json:"fixed,omitempty"`
	LastAffected string `json:"last_affected,omitempty"`
	Limit        string `json:"limit,omitempty"`
}

// DB is an OSV database loaded into memory, indexed by ecosystem and package.
type DB struct {
	// Source is the directory it was loaded from.
	Source string
	// Entries counts the records loaded; Withdrawn those skipped as withdrawn.
	Entries, Withdrawn int
	byPkg              map[string][]*Entry
}

// maxEntry bounds one OSV record read into memory.
const maxEntry = 16 << 20

// LoadDB reads every *.json file (one OSV record each) and every *.zip
// file (OSV's all.zip exports: one record per .json entry) under dir,
// recursively. Withdrawn records are skipped. A malformed file is an error
// naming it: a database that silently lost entries would hide findings.
func LoadDB(dir string) (*DB, error) {
	db := &DB{Source: dir, byPkg: map[string][]*Entry{}}
	seen := map[string]bool{}
	add := func(name string, b []byte) error {
		var e Entry
		if err := json.Unmarshal(b, &e); err != nil {
			return fmt.Errorf("%s: not an OSV record: %w", name, err)
		}
		if e.ID == "" {
			return fmt.Errorf("%s: not an OSV record: no id", name)
		}
		if seen[e.ID] {
			return nil // the same record in a zip and loose, say
		}
		seen[e.ID] = true
		if e.Withdrawn != "" {
			db.Withdrawn++
			return nil
		}
		db.Entries++
		keys := map[string]bool{}
		for _, a := range e.Affected {
			keys[pkgKey(a.Package.Ecosystem, a.Package.Name)] = true
		}
		for k := range keys {
			db.byPkg[k] = append(db.byPkg[k], &e)
		}
		return nil
	}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		switch strings.ToLower(filepath.Ext(p)) {
		case ".json":
			b, err := readLimited(p)
			if err != nil {
				return err
			}
			return add(p, b)
		case ".zip":
			return loadZip(p, add)
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, manifest.HintError(fmt.Errorf("OSV database: %w", err),
				"give the directory holding OSV JSON files or OSV's per-ecosystem all.zip exports")
		}
		return nil, fmt.Errorf("OSV database: %w", err)
	}
	if db.Entries == 0 {
		return nil, manifest.Hintf("put OSV's per-ecosystem export (e.g. Go/all.zip) or OSV JSON files in it",
			"OSV database %s: no OSV records found", dir)
	}
	for _, list := range db.byPkg {
		sort.Slice(list, func(i, j int) bool { return list[i].ID < list[j].ID })
	}
	return db, nil
}

func readLimited(p string) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxEntry+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxEntry {
		return nil, fmt.Errorf("%s: larger than %d bytes, not an OSV record", p, maxEntry)
	}
	return b, nil
}

func loadZip(p string, add func(string, []byte) error) error {
	zr, err := zip.OpenReader(p)
	if err != nil {
		return fmt.Errorf("%s: %w", p, err)
	}
	defer zr.Close()
	for _, f := range zr.File {
		if f.FileInfo().IsDir() || !strings.HasSuffix(strings.ToLower(f.Name), ".json") {
			continue
		}
		if f.UncompressedSize64 > maxEntry {
			return fmt.Errorf("%s: %s: larger than %d bytes, not an OSV record", p, f.Name, maxEntry)
		}
		rc, err := f.Open()
		if err != nil {
			return fmt.Errorf("%s: %s: %w", p, f.Name, err)
		}
		var buf bytes.Buffer
		_, err = io.Copy(&buf, io.LimitReader(rc, maxEntry+1))
		rc.Close()
		if err != nil {
			return fmt.Errorf("%s: %s: %w", p, f.Name, err)
		}
		if err := add(p+"!"+f.Name, buf.Bytes()); err != nil {
			return err
		}
	}
	return nil
}

// pkgKey indexes by the ecosystem without its ":<release>" suffix, so a
// record for "Debian" and one for "Debian:12" are both found for a Debian
// 12 package; the release is compared when matching.
func pkgKey(ecosystem, name string) string {
	base, _, _ := strings.Cut(ecosystem, ":")
	return base + "|" + name
}
