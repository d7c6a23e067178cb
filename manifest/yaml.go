package manifest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// DecodeYAML decodes one YAML document into v strictly: unknown fields and
// duplicate keys are errors, and a second document is refused. Structs are
// matched by their `yaml` tags, which in this package equal the `json` tags
// (TestYAMLTagsMatchJSON).
//
// Every scalar read into a string field is the literal text the user wrote:
// `version: 20250331.0` is "20250331.0" and `version: 1.10` is "1.10".
// go.yaml.in/yaml/v3 sets a string from the node's Value (decode.go,
// d.scalar, case reflect.String), where sigs.k8s.io/yaml's YAML-to-JSON
// conversion first reads an unquoted 20250331.0 as a float and then writes
// 2.0250332e+07.
//
// what names the document in errors ("bundle spec", "lock").
func DecodeYAML(what string, b []byte, v any) error {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return nil // an empty document: v stays zero, validation says what is missing
		}
		return yamlError(what, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return HintError(fmt.Errorf("parsing %s: more than one YAML document", what),
			"keep one document per file; remove the '---' line and what follows it")
	}
	return nil
}

var unknownFieldRE = regexp.MustCompile(`^line (\d+): field (\S+) not found in type`)

// yamlError turns a decoding error into one that names the line and, for
// an unknown field, the field.
func yamlError(what string, err error) error {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		var unknown, other []string
		for _, e := range te.Errors {
			if m := unknownFieldRE.FindStringSubmatch(e); m != nil {
				line, _ := strconv.Atoi(m[1])
				unknown = append(unknown, fmt.Sprintf("line %d: unknown field %q", line, m[2]))
			} else {
				other = append(other, e)
			}
		}
		if len(unknown) > 0 && len(other) == 0 {
			return HintError(fmt.Errorf("parsing %s: %s", what, strings.Join(unknown, "; ")),
				"remove it or fix its spelling; field names are case-sensitive (see `satchel-bundle init`)")
		}
		return HintError(fmt.Errorf("parsing %s: %s", what, strings.Join(append(unknown, other...), "; ")),
			"check each field's type against `satchel-bundle init --profile kylin-v10`")
	}
	return HintError(fmt.Errorf("parsing %s: %w", what, err),
		"check the YAML syntax (indentation, brackets, quotes); compare with `satchel-bundle init --profile kylin-v10`")
}
