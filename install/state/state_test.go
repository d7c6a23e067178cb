package state

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/satchel-dev/satchel/install/rootfs"
	"github.com/satchel-dev/satchel/manifest"
)

func openRoot(t *testing.T) (*rootfs.Root, string) {
	t.Helper()
	dir := t.TempDir()
	r, err := rootfs.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r, dir
}

// sample is a state with every field set, so a round trip that drops one shows.
func sample() *State {
	return &State{
		Version: Version,
		RunID:   "20260101T000000Z-0badf00d",
		Bundle: BundleInfo{
			Name: "edge", Version: "1.2.0", Sequence: 7, Created: "2026-01-01T00:00:00Z",
			Platform: "linux/amd64", Components: []string{"containerd", "runc"},
			KeyID: "sha256:aa", KeySource: "/etc/satchel/keys/a.pub",
			IndexDigest:       manifest.Digest("sha256:" + strings.Repeat("1", 64)),
			ComponentVersions: map[string]string{"containerd": "2.0.4", "runc": "1.2.6"},
		},
		When: time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC),
		Files: []File{
			{Path: "/usr/local/bin/runc", Kind: KindFile, Component: "runc", Mode: 0o755, Digest: manifest.Digest("sha256:" + strings.Repeat("2", 64))},
			{Path: "/usr/local/sbin/runc", Kind: KindSymlink, Target: "../bin/runc"},
			{Path: "/etc/containerd/config.toml", Kind: KindConfig, Original: OriginalDir + "/etc/containerd/config.toml", UserEdited: true,
				Edits: []Edit{{Key: []string{"plugins", "cri", "sandbox"}, Before: json.RawMessage(`"old"`), After: json.RawMessage(`"new"`)}}},
			{Path: "/etc/hosts.d/x", Kind: KindConfig, Preexisting: true},
		},
		Units:   []string{"containerd.service"},
		Enabled: []string{"containerd.service"},
		Images:  []Image{{Ref: "registry.k8s.io/pause:3.10", Digest: "sha256:" + manifest.Digest(strings.Repeat("3", 64)), Role: "sandbox", Namespaces: []string{"k8s.io"}, Staged: true, Docker: true}},
		Dirs:    []rootfs.Path{"/etc/containerd"},
		History: []HistoryEntry{{Name: "edge", Version: "1.1.0", Sequence: 6, When: time.Date(2025, 12, 1, 0, 0, 0, 0, time.UTC)}},
	}
}

func TestFileLookup(t *testing.T) {
	s := sample()
	f, ok := s.File("/etc/containerd/config.toml")
	if !ok || f.Kind != KindConfig || !f.UserEdited {
		t.Fatalf("File(config.toml) = %+v, %v", f, ok)
	}
	// The record is the state's own, so callers can update it in place.
	f.Mode = 0o600
	if s.Files[2].Mode != 0o600 {
		t.Error("File returned a copy, not the state's record")
	}
	if f, ok := s.File("/usr/local/bin/ctr"); ok || f != nil {
		t.Errorf("File(absent) = %+v, %v", f, ok)
	}
	// Paths match exactly: no prefix or cleaning games.
	if _, ok := s.File("/usr/local/bin/runc/"); ok {
		t.Error("File matched a path with a trailing slash")
	}
	var nilState *State
	if f, ok := nilState.File("/usr/local/bin/runc"); ok || f != nil {
		t.Errorf("nil state: File = %+v, %v", f, ok)
	}
}

func TestHighestSequence(t *testing.T) {
	s := &State{
		Bundle: BundleInfo{Name: "edge", Sequence: 5},
		History: []HistoryEntry{
			{Name: "edge", Sequence: 3},
			{Name: "edge", Sequence: 9}, // a rollback to an older bundle keeps the highest in history
			{Name: "lts", Sequence: 40},
			{Name: "edge", Sequence: 4},
		},
	}
	for _, c := range []struct {
		name string
		want uint64
		seen bool
	}{
		{"edge", 9, true},
		{"lts", 40, true},
		{"other", 0, false},
	} {
		got, seen := s.HighestSequence(c.name)
		if got != c.want || seen != c.seen {
			t.Errorf("HighestSequence(%q) = %d, %v; want %d, %v", c.name, got, seen, c.want, c.seen)
		}
	}
	// The current bundle counts when it is the highest.
	s.Bundle.Sequence = 12
	if got, _ := s.HighestSequence("edge"); got != 12 {
		t.Errorf("current bundle highest: got %d, want 12", got)
	}
	// A series only in history, with sequence 0, has still been seen.
	s2 := &State{Bundle: BundleInfo{Name: "a", Sequence: 1}, History: []HistoryEntry{{Name: "b", Sequence: 0}}}
	if got, seen := s2.HighestSequence("b"); got != 0 || !seen {
		t.Errorf("series at sequence 0 in history: got %d, %v", got, seen)
	}
	var nilState *State
	if got, seen := nilState.HighestSequence("edge"); got != 0 || seen {
		t.Errorf("nil state: %d, %v", got, seen)
	}
}

func TestEncodeReadRoundTrip(t *testing.T) {
	r, dir := openRoot(t)
	if s, err := Read(r); s != nil || err != nil {
		t.Fatalf("Read of a root without state = %v, %v; want nil, nil", s, err)
	}
	want := sample()
	b, err := want.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(string(b), "}\n") {
		t.Errorf("Encode does not end with one newline: %q", b[len(b)-3:])
	}
	writeState(t, dir, b)
	got, err := Read(r)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("round trip differs:\n got %+v\nwant %+v", got, want)
	}
	again, _ := got.Encode()
	if string(again) != string(b) {
		t.Error("Encode of the read state differs from what was written")
	}
}

func writeState(t *testing.T, dir string, b []byte) {
	t.Helper()
	p := filepath.Join(dir, string(Path))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestReadDamaged(t *testing.T) {
	good, _ := sample().Encode()
	for _, c := range []struct {
		name string
		make func(t *testing.T, dir string)
	}{
		{"truncated", func(t *testing.T, dir string) { writeState(t, dir, good[:len(good)/2]) }},
		{"garbage", func(t *testing.T, dir string) { writeState(t, dir, []byte("\x00\x01not json")) }},
		{"wrong type", func(t *testing.T, dir string) { writeState(t, dir, []byte(`{"version":1,"files":"x"}`)) }},
		{"a directory", func(t *testing.T, dir string) {
			if err := os.MkdirAll(filepath.Join(dir, string(Path)), 0o755); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			r, dir := openRoot(t)
			c.make(t, dir)
			s, err := Read(r)
			var de *DamagedError
			if s != nil || !errors.As(err, &de) {
				t.Fatalf("Read = %v, %v; want a *DamagedError", s, err)
			}
			if de.Unwrap() == nil || !strings.Contains(err.Error(), string(Path)) {
				t.Errorf("error %q does not name %s or lost its cause", err, Path)
			}
		})
	}
	t.Run("other version", func(t *testing.T) {
		r, dir := openRoot(t)
		writeState(t, dir, []byte(`{"version":2}`))
		s, err := Read(r)
		var de *DamagedError
		if s != nil || err == nil || errors.As(err, &de) {
			t.Fatalf("Read of version 2 = %v, %v; want a version error, not damage", s, err)
		}
		if !strings.Contains(err.Error(), "state version 2") {
			t.Errorf("error %q does not name the version", err)
		}
	})
}

// TestSame: Same ignores the run, the time, the history and where the key
// was read from, and nothing else.
func TestSame(t *testing.T) {
	if !Same(nil, nil) || Same(sample(), nil) || Same(nil, sample()) {
		t.Error("nil handling")
	}
	ignored := map[string]func(s *State){
		"RunID":            func(s *State) { s.RunID = "other" },
		"When":             func(s *State) { s.When = s.When.Add(time.Hour) },
		"History":          func(s *State) { s.History = append(s.History, HistoryEntry{Name: "x", Sequence: 1}) },
		"History cleared":  func(s *State) { s.History = nil },
		"Bundle.KeySource": func(s *State) { s.Bundle.KeySource = "/root/other.pub" },
	}
	for name, mut := range ignored {
		a, b := sample(), sample()
		mut(b)
		if !Same(a, b) {
			t.Errorf("Same is false after changing %s, which it ignores", name)
		}
	}
	counted := map[string]func(s *State){
		"Version":              func(s *State) { s.Version++ },
		"Bundle.Name":          func(s *State) { s.Bundle.Name = "lts" },
		"Bundle.Version":       func(s *State) { s.Bundle.Version = "1.2.1" },
		"Bundle.Sequence":      func(s *State) { s.Bundle.Sequence++ },
		"Bundle.Created":       func(s *State) { s.Bundle.Created = "x" },
		"Bundle.Platform":      func(s *State) { s.Bundle.Platform = "linux/arm64" },
		"Bundle.Components":    func(s *State) { s.Bundle.Components = s.Bundle.Components[:1] },
		"Bundle.KeyID":         func(s *State) { s.Bundle.KeyID = "sha256:bb" },
		"Bundle.Insecure":      func(s *State) { s.Bundle.InsecureSkipSignature = true },
		"Bundle.IndexDigest":   func(s *State) { s.Bundle.IndexDigest = "sha256:" + manifest.Digest(strings.Repeat("f", 64)) },
		"Bundle.CompVersions":  func(s *State) { s.Bundle.ComponentVersions["runc"] = "1.2.7" },
		"Files":                func(s *State) { s.Files = s.Files[1:] },
		"File.Mode":            func(s *State) { s.Files[0].Mode = 0o700 },
		"File.Digest":          func(s *State) { s.Files[0].Digest = "sha256:" + manifest.Digest(strings.Repeat("e", 64)) },
		"File.Target":          func(s *State) { s.Files[1].Target = "x" },
		"File.Original":        func(s *State) { s.Files[2].Original = "" },
		"File.Preexisting":     func(s *State) { s.Files[3].Preexisting = false },
		"File.Edits":           func(s *State) { s.Files[2].Edits[0].After = json.RawMessage(`"newer"`) },
		"File.UserEdited":      func(s *State) { s.Files[2].UserEdited = false },
		"Units":                func(s *State) { s.Units = nil },
		"Enabled":              func(s *State) { s.Enabled = nil },
		"Images":               func(s *State) { s.Images[0].Namespaces = []string{"default"} },
		"Image.Staged":         func(s *State) { s.Images[0].Staged = false },
		"Dirs":                 func(s *State) { s.Dirs = append(s.Dirs, "/opt/cni") },
		"File order":           func(s *State) { s.Files[0], s.Files[1] = s.Files[1], s.Files[0] },
		"Bundle.Components ++": func(s *State) { s.Bundle.Components = append(s.Bundle.Components, "runsc") },
	}
	for name, mut := range counted {
		a, b := sample(), sample()
		mut(b)
		if Same(a, b) {
			t.Errorf("Same is true after changing %s", name)
		}
	}
	// Same must not change its arguments.
	a, b := sample(), sample()
	b.RunID = "other"
	Same(a, b)
	if a.RunID != sample().RunID || b.RunID != "other" || a.History == nil {
		t.Error("Same modified its arguments")
	}
}
