package install

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/satchel-dev/satchel/manifest"
)

// Paths of the installer's own records, inside the root.
const (
	StateDir      = "/var/lib/satchel"
	StatePath     = StateDir + "/state.json"
	JournalPath   = StateDir + "/journal.json"
	LockPath      = StateDir + "/lock"
	BackupDir     = StateDir + "/backups"
	OriginalDir   = BackupDir + "/original" // pre-satchel files, kept until uninstall
	RunBackupDir  = BackupDir + "/run"      // per-run copies, kept until the run commits
	ImageStageDir = StateDir + "/images"
	StagedList    = ImageStageDir + "/staged.json"
	KeyDir        = "/etc/satchel/keys"
	SelfPath      = "/usr/local/bin/satchel-install"
)

// stateVersion is the layout version of state.json.
const stateVersion = 1

// State is /var/lib/satchel/state.json: what the last committed apply
// installed, enough to report it, refuse downgrades and uninstall it.
type State struct {
	Version int         `json:"version"`
	RunID   string      `json:"runID"`
	Bundle  BundleInfo  `json:"bundle"`
	When    time.Time   `json:"when"`
	Files   []StateFile `json:"files"`
	// Units satchel wrote; Enabled those it enabled (and so disables on uninstall).
	Units   []string     `json:"units,omitempty"`
	Enabled []string     `json:"enabled,omitempty"`
	Images  []StateImage `json:"images,omitempty"`
	// Dirs are directories satchel created; uninstall removes them when empty.
	Dirs []string `json:"dirs,omitempty"`
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

// StateFile is one path satchel wrote.
type StateFile struct {
	Path      string          `json:"path"`
	Kind      string          `json:"kind"` // an Action kind
	Component string          `json:"component,omitempty"`
	Mode      uint32          `json:"mode,omitempty"`
	Digest    manifest.Digest `json:"digest,omitempty"`
	Target    string          `json:"target,omitempty"`
	// Original is where the file that was there before satchel is kept
	// (inside the root); uninstall moves it back.
	Original string `json:"original,omitempty"`
	// Preexisting marks a file that was already there with this content
	// before satchel installed it; uninstall leaves it alone.
	Preexisting bool `json:"preexisting,omitempty"`
}

// StateImage is one image satchel imported or staged.
type StateImage struct {
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
func (s *State) File(path string) (*StateFile, bool) {
	if s == nil {
		return nil, false
	}
	i := slices.IndexFunc(s.Files, func(f StateFile) bool { return f.Path == path })
	if i < 0 {
		return nil, false
	}
	return &s.Files[i], true
}

func (s *State) encode() ([]byte, error) {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// readState loads state.json from a host path; a missing file is (nil, nil).
func readState(p string) (*State, error) {
	b, ok, err := readSmall(p)
	if err != nil || !ok {
		return nil, err
	}
	var s State
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&s); err != nil {
		return nil, manifest.HintError(fmt.Errorf("reading %s: %w", p, err),
			"the installer's state is damaged; restore it from a backup, or move it aside to install afresh (anti-downgrade and uninstall use it)")
	}
	if s.Version != stateVersion {
		return nil, manifest.Hintf("use the satchel-install release that wrote it", "%s: state version %d, this installer reads %d", p, s.Version, stateVersion)
	}
	return &s, nil
}
