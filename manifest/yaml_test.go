package manifest

import (
	"reflect"
	"strings"
	"testing"

	"github.com/satchel-dev/satchel/internal/yamltest"
)

// TestVersionsReadAsWritten: every version field is the literal text of
// the YAML, quoted or not (issue 7, #16): gVisor's 20250331.0 does not
// become 2.0250332e+07, 1.10 does not become 1.1, 2.0 stays 2.0.
func TestVersionsReadAsWritten(t *testing.T) {
	for _, v := range []string{"20250331.0", "2.0", "1.10", "1.2.10", "010", "0x1F", "1e3", "2025-04-01", "1_000", ".5", "yes"} {
		t.Run(v, func(t *testing.T) {
			spec := "apiVersion: satchel/v1\nkind: Bundle\nmetadata:\n  name: n\n  version: " + v + "\n  sequence: 1\n" +
				"spec:\n  platforms: [linux/amd64]\n  components:\n    - name: gvisor\n      version: " + v + "\n"
			s, err := ParseSpec([]byte(spec))
			if err != nil {
				t.Fatal(err)
			}
			if s.Metadata.Version != v || s.Spec.Components[0].Version != v {
				t.Errorf("spec versions %q and %q, want %q", s.Metadata.Version, s.Spec.Components[0].Version, v)
			}
			// Written back and read again, it stays the same text.
			out, err := s.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			s2, err := ParseSpec(out)
			if err != nil || s2.Spec.Components[0].Version != v || s2.Metadata.Version != v {
				t.Errorf("round trip: %v %+v\n%s", err, s2, out)
			}

			lock := "apiVersion: satchel/v1\nkind: BundleLock\nname: n\nplatforms: [linux/amd64]\ncomponents:\n  - name: gvisor\n    version: " + v +
				"\n    artifacts:\n      - platform: linux/amd64\n        url: https://x/runsc\n        digest: sha256:" + strings.Repeat("a", 64) + "\n        digestSource: checksum-file\nimages: []\n"
			l, err := ParseLock([]byte(lock))
			if err != nil {
				t.Fatal(err)
			}
			if l.Components[0].Version != v {
				t.Errorf("lock version %q, want %q", l.Components[0].Version, v)
			}
			out, err = l.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			if l2, err := ParseLock(out); err != nil || l2.Components[0].Version != v {
				t.Errorf("lock round trip: %v\n%s", err, out)
			}
		})
	}
}

func TestDecodeYAMLStrict(t *testing.T) {
	var s Spec
	for name, c := range map[string]struct{ in, want string }{
		"unknown field":  {"kind: Bundle\ncolour: red\n", `line 2: unknown field "colour"`},
		"duplicate key":  {"kind: Bundle\nkind: Bundle\n", "already defined"},
		"wrong type":     {"metadata:\n  sequence: [1]\n", "line 2"},
		"two documents":  {"kind: Bundle\n---\nkind: Bundle\n", "more than one YAML document"},
		"case differs":   {"Kind: Bundle\n", `unknown field "Kind"`},
		"syntax":         {"kind: [Bundle\n", "parsing bundle spec"},
		"alias of a map": {"a: &x {k: 1}\nkind: *x\n", "parsing bundle spec"},
	} {
		t.Run(name, func(t *testing.T) {
			err := DecodeYAML("bundle spec", []byte(c.in), &s)
			if err == nil || !strings.Contains(err.Error(), c.want) || Hint(err) == "" {
				t.Errorf("err = %v, want %q and a hint", err, c.want)
			}
		})
	}
	if err := DecodeYAML("bundle spec", nil, &s); err != nil {
		t.Errorf("empty document: %v", err)
	}
}

// TestYAMLTagsMatchJSON: the YAML decoder reads `yaml` tags, the writer
// (sigs.k8s.io/yaml, through encoding/json) `json` tags: they must agree,
// or a file satchel writes would not read back.
func TestYAMLTagsMatchJSON(t *testing.T) {
	yamltest.CheckTags(t, reflect.TypeFor[Spec](), reflect.TypeFor[Lock]())
}
