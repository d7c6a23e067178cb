package config

import (
	"bytes"
	"fmt"
	"reflect"
	"slices"
	"strings"

	"github.com/pelletier/go-toml/v2"
)

// tomlDoc is a decoded TOML document: tables are map[string]any.
type tomlDoc = map[string]any

// parseTOML decodes b; blank or comment-only input gives an empty document.
func parseTOML(b []byte) (tomlDoc, error) {
	doc := tomlDoc{}
	if err := toml.Unmarshal(b, &doc); err != nil {
		return nil, err
	}
	return doc, nil
}

// encodeTOML encodes doc with tables indented. Top-level keys named in first
// come first in that order (e.g. "version"); go-toml sorts the rest. An
// ordered struct built with reflect.StructOf carries the order, since go-toml
// encodes struct fields in declaration order and map keys sorted.
func encodeTOML(doc tomlDoc, first ...string) ([]byte, error) {
	keys := make([]string, 0, len(doc))
	for _, k := range first {
		if _, ok := doc[k]; ok {
			keys = append(keys, k)
		}
	}
	rest := make([]string, 0, len(doc))
	for k := range doc {
		if !slices.Contains(first, k) {
			rest = append(rest, k)
		}
	}
	slices.Sort(rest)
	keys = append(keys, rest...)
	v, err := orderedValue(doc, keys)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	enc := toml.NewEncoder(&buf)
	enc.SetIndentTables(true)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// orderedValue returns a struct value whose fields are m's entries in the
// order of keys, each tagged with its TOML key. Values may themselves be
// ordered structs (see hosts.go).
func orderedValue(m map[string]any, keys []string) (any, error) {
	anyType := reflect.TypeFor[any]()
	fields := make([]reflect.StructField, 0, len(keys))
	var vals []any
	for i, k := range keys {
		v := m[k]
		if v == nil {
			continue
		}
		// go-toml reads "name,option" from a tag, so a key with a comma or a
		// quote cannot be carried this way.
		if k == "" || strings.ContainsAny(k, ",\"`") {
			return nil, fmt.Errorf("TOML key %q cannot be encoded in order", k)
		}
		fields = append(fields, reflect.StructField{
			Name: fmt.Sprintf("F%d", i),
			Type: anyType,
			Tag:  reflect.StructTag(`toml:"` + k + `"`),
		})
		vals = append(vals, v)
	}
	s := reflect.New(reflect.StructOf(fields)).Elem()
	for i, v := range vals {
		s.Field(i).Set(reflect.ValueOf(v))
	}
	return s.Interface(), nil
}

// getPath returns the value at a dotted key path, if every table on the way exists.
func getPath(doc tomlDoc, path ...string) (any, bool) {
	var cur any = doc
	for _, k := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		cur, ok = m[k]
		if !ok {
			return nil, false
		}
	}
	return cur, true
}

// table returns the table at path, creating missing tables on the way. A
// non-table value in the way is an error: the user's file means something
// satchel does not understand there, and overwriting it would lose it.
func table(doc tomlDoc, path ...string) (tomlDoc, error) {
	cur := doc
	for i, k := range path {
		v, ok := cur[k]
		if !ok {
			next := tomlDoc{}
			cur[k] = next
			cur = next
			continue
		}
		next, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%s is a %T, not a table", dotted(path[:i+1]), v)
		}
		cur = next
	}
	return cur, nil
}

// setPath sets the value at path, creating tables on the way.
func setPath(doc tomlDoc, value any, path ...string) error {
	t, err := table(doc, path[:len(path)-1]...)
	if err != nil {
		return err
	}
	t[path[len(path)-1]] = value
	return nil
}

// dotted writes a key path the way TOML would, quoting parts with dots.
func dotted(path []string) string {
	parts := make([]string, len(path))
	for i, p := range path {
		if strings.ContainsAny(p, ". ") {
			parts[i] = `"` + p + `"`
		} else {
			parts[i] = p
		}
	}
	return strings.Join(parts, ".")
}

// deepCopy copies a decoded document so a merge can be compared with the original.
func deepCopy(v any) any {
	switch t := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(t))
		for k, e := range t {
			m[k] = deepCopy(e)
		}
		return m
	case []any:
		s := make([]any, len(t))
		for i, e := range t {
			s[i] = deepCopy(e)
		}
		return s
	default:
		return v
	}
}

// normalize round-trips v through the TOML encoder so values built in Go
// ([]string, int) compare equal to decoded ones ([]any, int64).
func normalize(doc tomlDoc) (tomlDoc, error) {
	b, err := toml.Marshal(doc)
	if err != nil {
		return nil, err
	}
	return parseTOML(b)
}
