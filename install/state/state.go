// Package state reads and writes /var/lib/satchel/state.json: what the
// last committed apply installed, enough to report it, refuse downgrades
// and series changes, and uninstall it.
package state

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"time"

	"github.com/satchel-dev/satchel/install/rootfs"
	"github.com/satchel-dev/satchel/manifest"
)

// Paths of the installer's own records, inside the root.
const (
	Dir          rootfs.Path = "/var/lib/satchel"
	Path         rootfs.Path = Dir + "/state.json"
	JournalPath  rootfs.Path = Dir + "/journal.jsonl"
	BackupDir    rootfs.Path = Dir + "/backups"
	OriginalDir  rootfs.Path = BackupDir + "/original" // pre-satchel files, kept until uninstall
	RunBackupDir rootfs.Path = BackupDir + "/run"      // per-run copies, kept until the run commits
	ImageDir     rootfs.Path = Dir + "/images"         // staged image archives
	StagedList   rootfs.Path = ImageDir + "/staged.json"
	// SBOMPath and ProvenancePath hold the installed bundle's SBOM (SPDX
	// JSON) and provenance (a DSSE envelope, one line), when it carries them.
	SBOMPath       rootfs.Path = Dir + "/sbom.spdx.json"
	ProvenancePath rootfs.Path = Dir + "/provenance.intoto.jsonl"
	KeyDir         rootfs.Path = "/etc/satchel/keys"
	SelfPath       rootfs.Path = "/usr/local/bin/satchel-install"
)

// Version is the layout version of state.json.
const Version = 1

// maxSize bounds what is read of state.json.
const maxSize = 64 << 20

// Kind says what a recorded file is; the plan's action kinds use the same words.
type Kind string

// Kinds of recorded files.
const (
	KindFile      Kind = "file"      // a file from the bundle
	KindSymlink   Kind = "symlink"   // a symlink from the bundle
	KindConfig    Kind = "config"    // a configuration file rendered or merged by the installer
	KindUnit      Kind = "unit"      // a systemd unit file
	KindInstaller Kind = "installer" // satchel-install itself
	KindImage     Kind = "image"     // a staged image archive
	KindRecord    Kind = "record"    // a document about the installed bundle (SBOM, provenance)
)

// State is state.json.
type State struct {
	Version int        `json:"version"`
	RunID   string     `json:"runID"`
	Bundle  BundleInfo `json:"bundle"`
	When    time.Time  `json:"when"`
	Files   []File     `json:"files"`
	// Units satchel wrote; Enabled those it enabled (and so disables on uninstall).
	Units   []string `json:"units,omitempty"`
	Enabled []string `json:"enabled,omitempty"`
	Images  []Image  `json:"images,omitempty"`
	// Dirs are directories satchel created; uninstall removes them when empty.
	Dirs []rootfs.Path `json:"dirs,omitempty"`
	// History lists earlier bundles installed on this root, oldest first.
	History []HistoryEntry `json:"history,omitempty"`
}

// BundleInfo identifies an installed (or about to be installed) bundle and
// how it was trusted.
type BundleInfo struct {
	Name       string   `json:"name"`
	Version    string   `json:"version"`
	Sequence   uint64   `json:"sequence"`
	Created    string   `json:"created"`
	Platform   string   `json:"platform"`
	Components []string `json:"components"`
	// KeyID is the verifying key ("sha256:…"); empty with InsecureSkipSignature.
	KeyID                 string `json:"keyID,omitempty"`
	KeySource             string `json:"keySource,omitempty"`
	InsecureSkipSignature bool   `json:"insecureSkipSignature,omitempty"`
	// IndexDigest is the sha256 of satchel.json.
	IndexDigest manifest.Digest `json:"indexDigest"`
	// ComponentVersions maps component name to version.
	ComponentVersions map[string]string `json:"componentVersions,omitempty"`
}

// File is one path satchel wrote.
type File struct {
	Path      rootfs.Path     `json:"path"`
	Kind      Kind            `json:"kind"`
	Component string          `json:"component,omitempty"`
	Mode      uint32          `json:"mode,omitempty"`
	Digest    manifest.Digest `json:"digest,omitempty"`
	Target    string          `json:"target,omitempty"`
	// Original is where the file that was there before satchel is kept
	// (inside the root); uninstall moves it back.
	Original rootfs.Path `json:"original,omitempty"`
	// Preexisting marks a file that was already there with this content
	// before satchel installed it; uninstall leaves it alone.
	Preexisting bool `json:"preexisting,omitempty"`
	// Edits are the settings satchel changed in a configuration file it
	// merged into, with the values they had before: uninstall takes back
	// exactly these and keeps what people changed since.
	Edits []Edit `json:"edits,omitempty"`
	// UserEdited marks a configuration file people changed after satchel
	// wrote it (picked up by a later apply): uninstall then takes satchel's
	// Edits back out instead of restoring a stale original.
	UserEdited bool `json:"userEdited,omitempty"`
}

// Edit is one setting satchel changed in a merged configuration file.
type Edit struct {
	// Key is the setting's path in the document.
	Key []string `json:"key"`
	// Before is the value it had before satchel (JSON), absent when it had none.
	Before json.RawMessage `json:"before,omitempty"`
	// After is the value satchel set (JSON).
	After json.RawMessage `json:"after"`
}

// Image is one image satchel imported or staged.
type Image struct {
	Ref        string          `json:"ref"`
	Digest     manifest.Digest `json:"digest"`
	Role       string          `json:"role,omitempty"`
	Namespaces []string        `json:"namespaces"`
	Staged     bool            `json:"staged,omitempty"`
	Docker     bool            `json:"docker,omitempty"`
}

// HistoryEntry is one earlier install.
type HistoryEntry struct {
	Name     string    `json:"name"`
	Version  string    `json:"version"`
	Sequence uint64    `json:"sequence"`
	When     time.Time `json:"when"`
}

// File returns the record for path.
func (s *State) File(path rootfs.Path) (*File, bool) {
	if s == nil {
		return nil, false
	}
	i := slices.IndexFunc(s.Files, func(f File) bool { return f.Path == path })
	if i < 0 {
		return nil, false
	}
	return &s.Files[i], true
}

// HighestSequence returns the highest sequence of the named series this
// root has had installed (the current bundle and its history), and
// whether it has had that series at all.
func (s *State) HighestSequence(name string) (uint64, bool) {
	if s == nil {
		return 0, false
	}
	var hi uint64
	seen := false
	if s.Bundle.Name == name {
		hi, seen = s.Bundle.Sequence, true
	}
	for _, h := range s.History {
		if h.Name == name && (!seen || h.Sequence > hi) {
			hi, seen = h.Sequence, true
		}
	}
	return hi, seen
}

// Encode returns the bytes of state.json.
func (s *State) Encode() ([]byte, error) {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// Same reports whether two states record the same installation, ignoring
// when and by which run.
func Same(a, b *State) bool {
	if a == nil || b == nil {
		return a == b
	}
	strip := func(s State) []byte {
		// Which file the key was read from says nothing about the install:
		// the same key from another path is the same trust (KeyID).
		s.RunID, s.When, s.History, s.Bundle.KeySource = "", time.Time{}, nil, ""
		j, _ := json.Marshal(s)
		return j
	}
	return bytes.Equal(strip(*a), strip(*b))
}

// DamagedError reports a state.json that cannot be read.
type DamagedError struct{ Err error }

func (e *DamagedError) Error() string { return fmt.Sprintf("reading %s: %v", Path, e.Err) }
func (e *DamagedError) Unwrap() error { return e.Err }

// Read loads state.json from the root; a missing file is (nil, nil).
func Read(r *rootfs.Root) (*State, error) {
	b, err := r.ReadFile(Path, maxSize)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, manifest.HintError(&DamagedError{Err: err},
			"the installer's state must be a regular file; move it aside to install afresh (anti-downgrade and uninstall use it)")
	}
	var s State
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, manifest.HintError(&DamagedError{Err: err},
			"the installer's state is damaged; restore it from a backup, or move it aside to install afresh (anti-downgrade and uninstall use it)")
	}
	if s.Version != Version {
		return nil, manifest.Hintf("use the satchel-install release that wrote it", "%s: state version %d, this installer reads %d", Path, s.Version, Version)
	}
	return &s, nil
}
