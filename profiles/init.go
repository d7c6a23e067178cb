package profiles

import (
	"bytes"
	"fmt"
	"strings"
	"text/template"

	"github.com/satchel-dev/satchel/manifest"
)

// InitSpec returns a starting spec for a profile: metadata (name
// "<profile>-runtimes", version 0.1.0, sequence 1), the profile and its
// platforms. Components and images come from the profile.
func InitSpec(profile string) (*manifest.Spec, error) {
	p, err := Get(profile)
	if err != nil {
		return nil, err
	}
	return &manifest.Spec{
		APIVersion: manifest.APIVersion,
		Kind:       "Bundle",
		Metadata:   manifest.Metadata{Name: p.Name + "-runtimes", Version: "0.1.0", Sequence: 1},
		Spec:       manifest.BundleSpec{Profile: p.Name, Platforms: p.Platforms},
	}, nil
}

// InitYAML renders InitSpec as commented YAML for `satchel-bundle init`:
// the same document, plus comments that show what the profile brings and
// how to change it. (sigs.k8s.io/yaml cannot write comments, hence a template.)
func InitYAML(profile string) ([]byte, error) {
	s, err := InitSpec(profile)
	if err != nil {
		return nil, err
	}
	p, err := Get(profile)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	err = initTemplate.Execute(&buf, struct {
		S *manifest.Spec
		P *Profile
	}{s, p})
	if err != nil {
		return nil, fmt.Errorf("rendering spec for profile %s: %w", profile, err)
	}
	return buf.Bytes(), nil
}

var initTemplate = template.Must(template.New("init").Funcs(template.FuncMap{
	"comment": func(indent, s string) string {
		var b strings.Builder
		for _, l := range wrap(strings.Join(strings.Fields(s), " "), 76-len(indent)) {
			b.WriteString(indent + "# " + l + "\n")
		}
		return b.String()
	},
	"quote": func(s string) string { return fmt.Sprintf("%q", s) },
	"join":  strings.Join,
}).Parse(`# bundle.yaml — what satchel-bundle puts in a bundle.
# Written by ` + "`satchel-bundle init --profile {{.P.Name}}`" + `.
# Next: ` + "`satchel-bundle lock`" + ` pins every URL and digest into bundle.lock,
# then ` + "`satchel-bundle build`" + ` makes the bundle.
apiVersion: {{.S.APIVersion}}
kind: {{.S.Kind}}
metadata:
  name: {{.S.Metadata.Name}}    # bundles of one name form a series
  version: {{quote .S.Metadata.Version}}    # shown to people
  sequence: {{.S.Metadata.Sequence}}    # raise it with every release: installers refuse a lower one
spec:
  # Profile {{.P.Name}}:
{{comment "  " .P.Description}}  profile: {{.S.Spec.Profile}}
  platforms:
{{- range .S.Spec.Platforms}}
    - {{.}}
{{- end}}
  # The profile brings these components. To change one, uncomment it and
  # set its version (variant: containerd only, static or dynamic); to leave
  # one out, list it with "exclude: true" instead of a version. The profile's
  # digests follow their URLs: a changed version is pinned by
  # ` + "`satchel-bundle lock`" + ` from upstream's checksum file or the download.
  # components:
{{- range .P.Components}}
  #   - name: {{.Name}}
  #     version: {{quote .Version}}
{{- if .Variant}}
  #     variant: {{.Variant}}
{{- end}}
{{- if .Versions}}
  #     versions:    # a platform that carries another release
{{- range $pl, $v := .Versions}}
  #       {{$pl}}: {{quote $v}}
{{- end}}
{{- end}}
{{- if .Platforms}}
  #     platforms: [{{join .Platforms ", "}}]    # the only platforms it ships for
{{- end}}
{{- end}}
  # "versions" gives one platform another release; "platforms" limits the
  # platforms a component ships for (the others carry none of it).
  # A source replaces the upstream URL for one platform (an internal mirror):
  #     sources:
  #       linux/amd64:
  #         url: https://mirror.example/containerd-static-….tar.gz
  #         digest: sha256:…
  # Images: the profile brings
{{- range .P.Images}}
  #   {{.Ref}}{{if .Role}} (role {{.Role}}){{end}}{{if .Digest}}, digest pinned by the profile{{else}}, digest pinned at lock time{{end}}
{{- end}}
  # List an image to add it, or to replace the one with the same ref or role:
  # images:
  #   - ref: docker.io/library/nginx:1.27.4
`))

// wrap breaks s into lines of at most width runes at spaces.
func wrap(s string, width int) []string {
	var lines []string
	for len([]rune(s)) > width {
		r := []rune(s)
		cut := strings.LastIndex(string(r[:width]), " ")
		if cut <= 0 {
			cut = len(string(r[:width]))
		}
		lines = append(lines, s[:cut])
		s = strings.TrimLeft(s[cut:], " ")
	}
	if s != "" {
		lines = append(lines, s)
	}
	return lines
}
