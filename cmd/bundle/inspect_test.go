package main

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/satchel-dev/satchel/manifest"
)

// inspect shows each artifact's own release, says which platforms carry
// none of a component, and lists security and end-of-life notes first; an
// index from before artifacts had versions shows the component's version.
func TestPrintInspectVersionsAndNotes(t *testing.T) {
	d := manifest.DigestOf(manifest.SHA256, []byte("x"))
	kata := "https://github.com/kata-containers/kata-containers/releases/download/"
	ix := &manifest.Index{
		Name: "b", Version: "1", Sequence: 1, Created: time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC),
		Platforms: []string{"linux/amd64", "linux/arm64"},
		Components: []manifest.Component{
			{Name: "kata", Version: "3.1.3", Artifacts: []manifest.Artifact{
				{Platform: "linux/amd64", URL: kata + "3.1.3/kata-static-3.1.3-x86_64.tar.xz", Digest: d, DigestSource: "profile"}, // an old index: no version
				{Platform: "linux/arm64", Version: "3.2.0", URL: kata + "3.2.0/kata-static-3.2.0-arm64.tar.xz", Digest: d, DigestSource: "profile"},
			}},
			{Name: "gvisor", Version: "20260817.0", Artifacts: []manifest.Artifact{
				{Platform: "linux/amd64", Version: "20260817.0", URL: "https://storage.googleapis.com/gvisor/releases/release/20260817.0/x86_64/runsc", Digest: d, DigestSource: "profile"},
			}},
		},
		Notes: []manifest.Note{
			{ID: "docker-kata-runtimetype", Component: "docker", Severity: "info", Text: "compat"},
			{ID: "kata-cve-2026-24834", Kind: manifest.NoteSecurity, Component: "kata", Platform: "linux/arm64", Version: "3.2.0", Severity: "warning", Text: "kata 3.2.0: CVE-2026-24834"},
		},
	}
	var b bytes.Buffer
	printInspect(&b, inspectResult{File: "b.satchel", Index: ix}, false)
	out := b.String()
	for _, re := range []string{
		`(?m)^kata +3\.1\.3 +linux/amd64 `,
		`(?m)^kata +3\.2\.0 +linux/arm64 `,
		`(?m)^kata 3\.2\.0 linux/arm64\n  https://.*/3\.2\.0/kata-static-3\.2\.0-arm64\.tar\.xz`,
		`gvisor is not carried for linux/arm64: a host of that platform gets none of it`,
		`(?s)notes:\n  \[security, warning\] kata-cve-2026-24834 \(linux/arm64\): kata 3\.2\.0: CVE-2026-24834\n  \[info\] docker-kata-runtimetype: compat`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("no match for %s in:\n%s", re, out)
		}
	}
	if strings.Contains(out, "kata 3.1.3 linux/arm64") {
		t.Errorf("the arm64 artifact is shown as 3.1.3:\n%s", out)
	}
}
