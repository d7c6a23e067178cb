// Package yamltest checks, for tests, that structs read with
// manifest.DecodeYAML (yaml tags) and written with sigs.k8s.io/yaml (json
// tags) name their fields alike.
package yamltest

import (
	"reflect"
	"strings"
)

// TagChecker is the part of testing.TB that CheckTags needs.
type TagChecker interface {
	Helper()
	Errorf(format string, args ...any)
}

// CheckTags reports, for tests, every struct field reachable from types
// whose `yaml` tag does not say what its `json` tag says (name and
// omitempty; an embedded struct must be `yaml:",inline"`). Files are read
// with DecodeYAML (yaml tags) and written with sigs.k8s.io/yaml (json tags).
func CheckTags(t TagChecker, types ...reflect.Type) {
	t.Helper()
	seen := map[reflect.Type]bool{}
	var walk func(reflect.Type)
	walk = func(ty reflect.Type) {
		for ty.Kind() == reflect.Pointer || ty.Kind() == reflect.Slice || ty.Kind() == reflect.Map {
			ty = ty.Elem()
		}
		if ty.Kind() != reflect.Struct || seen[ty] || ty.PkgPath() == "time" {
			return
		}
		seen[ty] = true
		for i := range ty.NumField() {
			f := ty.Field(i)
			if !f.IsExported() {
				continue
			}
			js, hasJSON := f.Tag.Lookup("json")
			ys, hasYAML := f.Tag.Lookup("yaml")
			switch {
			case f.Anonymous && !hasJSON:
				if ys != ",inline" {
					t.Errorf("%s.%s: embedded struct needs `yaml:\",inline\"`", ty, f.Name)
				}
			case !hasJSON || !hasYAML:
				t.Errorf("%s.%s: json tag %q, yaml tag %q: give both", ty, f.Name, js, ys)
			default:
				jn, jo, _ := strings.Cut(js, ",")
				yn, yo, _ := strings.Cut(ys, ",")
				if jn != yn || strings.Contains(jo, "omitempty") != strings.Contains(yo, "omitempty") {
					t.Errorf("%s.%s: json tag %q, yaml tag %q disagree", ty, f.Name, js, ys)
				}
			}
			walk(f.Type)
		}
	}
	for _, ty := range types {
		walk(ty)
	}
}
