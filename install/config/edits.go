package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/satchel-dev/satchel/install/state"
	"sigs.k8s.io/yaml"
)

// Settings satchel merges into a configuration file are tracked as edits
// (state.Edit): the key, the value before satchel and the value satchel
// set. Uninstall takes back exactly those whose value is still satchel's,
// so what people changed in the file since stays theirs — also when a
// later apply picked their change up (issue 7: an upgrade must not make an
// edit satchel's).
//
// Documents are compared as JSON trees (TOML and YAML are converted);
// arrays are single values; a table that did not exist before is one edit.

// format is how a configuration file is written.
type format int

const (
	formatUnknown format = iota
	formatJSON
	formatYAML
	formatTOML
)

func formatOf(p string) format {
	switch path.Ext(p) {
	case ".json":
		return formatJSON
	case ".yaml", ".yml":
		return formatYAML
	case ".toml":
		return formatTOML
	}
	return formatUnknown
}

// tree parses a document into a JSON tree (numbers as json.Number).
func tree(f format, b []byte) (map[string]any, error) {
	if len(bytes.TrimSpace(b)) == 0 {
		return map[string]any{}, nil
	}
	var js []byte
	switch f {
	case formatJSON:
		js = b
	case formatYAML:
		var err error
		if js, err = yaml.YAMLToJSON(b); err != nil {
			return nil, err
		}
	case formatTOML:
		doc, err := parseTOML(b)
		if err != nil {
			return nil, err
		}
		if js, err = json.Marshal(doc); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("unknown format")
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	switch m := v.(type) {
	case map[string]any:
		return m, nil
	case nil:
		return map[string]any{}, nil
	}
	return nil, fmt.Errorf("the document is a %T, not a mapping", v)
}

// encode writes a JSON tree back in the file's format.
func encode(f format, doc map[string]any) ([]byte, error) {
	switch f {
	case formatJSON:
		// 4 spaces, as `runsc install` and satchel's DaemonJSON write.
		b, err := json.MarshalIndent(doc, "", "    ")
		return append(b, '\n'), err
	case formatYAML:
		return yaml.Marshal(doc)
	case formatTOML:
		return encodeTOML(fromJSONNumbers(doc).(map[string]any), "version")
	}
	return nil, fmt.Errorf("unknown format")
}

// fromJSONNumbers turns json.Numbers into int64 or float64 for TOML.
func fromJSONNumbers(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = fromJSONNumbers(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = fromJSONNumbers(e)
		}
		return out
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		f, _ := x.Float64()
		return f
	}
	return v
}

func raw(v any) json.RawMessage {
	b, _ := json.Marshal(v)
	return b
}

// lookup returns the value at key and whether it is there.
func lookup(doc map[string]any, key []string) (any, bool) {
	var cur any = doc
	for _, k := range key {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[k]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// same compares a value that may be absent with a recorded one (nil: absent).
func same(v any, present bool, rec json.RawMessage) bool {
	if !present || rec == nil {
		return !present && rec == nil
	}
	return bytes.Equal(raw(v), canonical(rec))
}

// canonical re-encodes recorded JSON the way raw encodes values.
func canonical(rec json.RawMessage) []byte {
	dec := json.NewDecoder(bytes.NewReader(rec))
	dec.UseNumber()
	var v any
	if dec.Decode(&v) != nil {
		return rec
	}
	return raw(v)
}

// diff lists the settings that differ between two trees, at the highest
// key where one side is not a table.
func diff(old, new map[string]any, prefix []string, out *[]state.Edit) {
	keys := map[string]bool{}
	for k := range old {
		keys[k] = true
	}
	for k := range new {
		keys[k] = true
	}
	sorted := make([]string, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	slices.Sort(sorted)
	for _, k := range sorted {
		key := append(slices.Clone(prefix), k)
		ov, oOK := old[k]
		nv, nOK := new[k]
		om, oMap := ov.(map[string]any)
		nm, nMap := nv.(map[string]any)
		if oOK && nOK && oMap && nMap {
			diff(om, nm, key, out)
			continue
		}
		if oOK && nOK && bytes.Equal(raw(ov), raw(nv)) {
			continue
		}
		e := state.Edit{Key: key}
		if oOK {
			e.Before = raw(ov)
		}
		if nOK {
			e.After = raw(nv)
		}
		*out = append(*out, e)
	}
}

func isPrefix(p, key []string) bool {
	return len(p) <= len(key) && slices.Equal(p, key[:len(p)])
}

// TrackEdits returns the settings satchel owns in a configuration file
// once new replaces old: what it changes now, plus what it changed before
// (prev) that is still its value. An earlier edit whose value people
// changed since is theirs now and is dropped. userChanged says the file
// differs from what satchel last wrote; it is returned as userEdited when
// the file's format is tracked. Files of unknown format track nothing.
func TrackEdits(p string, prev []state.Edit, old, new []byte, userChanged bool) (edits []state.Edit, userEdited bool, err error) {
	f := formatOf(p)
	if f == formatUnknown {
		return nil, false, nil
	}
	ot, err := tree(f, old)
	if err != nil {
		return nil, false, err
	}
	nt, err := tree(f, new)
	if err != nil {
		return nil, false, err
	}
	var d []state.Edit
	diff(ot, nt, nil, &d)
	// Earlier edits still in place are satchel's: they keep their Before
	// and take the new value, covering any change below them.
	var owned []state.Edit
	for _, e := range prev {
		v, ok := lookup(ot, e.Key)
		if !same(v, ok, e.After) {
			continue // people changed it: theirs now
		}
		nv, nok := lookup(nt, e.Key)
		e.After = nil
		if nok {
			e.After = raw(nv)
		}
		owned = append(owned, e)
	}
	edits = owned
	for _, e := range d {
		covered := false
		for _, o := range owned {
			if isPrefix(o.Key, e.Key) {
				covered = true
				break
			}
		}
		if !covered {
			edits = append(edits, e)
		}
	}
	// Drop edits that end where they began (a setting satchel no longer changes).
	edits = slices.DeleteFunc(edits, func(e state.Edit) bool {
		if e.Before == nil || e.After == nil {
			return e.Before == nil && e.After == nil
		}
		return bytes.Equal(canonical(e.Before), canonical(e.After))
	})
	slices.SortFunc(edits, func(a, b state.Edit) int {
		return strings.Compare(strings.Join(a.Key, "\x00"), strings.Join(b.Key, "\x00"))
	})
	return edits, userChanged, nil
}

// Revert takes satchel's edits out of a configuration file's current
// content: each setting whose value is still what satchel set gets its
// earlier value back (or goes, if it had none); the rest of the file stays
// as people left it. empty reports that nothing is left in the document,
// changed whether any setting was taken back (when none was, out is nil:
// the file is left as it is).
func Revert(p string, current []byte, edits []state.Edit) (out []byte, empty, changed bool, err error) {
	f := formatOf(p)
	if f == formatUnknown {
		return nil, false, false, fmt.Errorf("%s: no known format to revert", p)
	}
	doc, err := tree(f, current)
	if err != nil {
		return nil, false, false, fmt.Errorf("%s: %w", p, err)
	}
	for i := len(edits) - 1; i >= 0; i-- {
		e := edits[i]
		v, ok := lookup(doc, e.Key)
		if !same(v, ok, e.After) {
			continue // changed since: theirs
		}
		if e.Before == nil {
			if ok {
				remove(doc, e.Key)
				changed = true
			}
			continue
		}
		dec := json.NewDecoder(bytes.NewReader(e.Before))
		dec.UseNumber()
		var before any
		if err := dec.Decode(&before); err != nil {
			return nil, false, false, err
		}
		set(doc, e.Key, before)
		changed = true
	}
	if !changed {
		return nil, len(doc) == 0, false, nil
	}
	if len(doc) == 0 {
		return nil, true, true, nil
	}
	out, err = encode(f, doc)
	return out, false, true, err
}

func remove(doc map[string]any, key []string) {
	m := doc
	for _, k := range key[:len(key)-1] {
		next, ok := m[k].(map[string]any)
		if !ok {
			return
		}
		m = next
	}
	delete(m, key[len(key)-1])
}

func set(doc map[string]any, key []string, v any) {
	m := doc
	for _, k := range key[:len(key)-1] {
		next, ok := m[k].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[k] = next
		}
		m = next
	}
	m[key[len(key)-1]] = v
}
