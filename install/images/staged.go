package images

import (
	"strings"

	"github.com/satchel-dev/satchel/manifest"
)

// StagedList is /var/lib/satchel/images/staged.json: the archives an
// install into a root that containerd could not reach left for
// `satchel-install images import --staged`.
type StagedList struct {
	Version int           `json:"version"`
	Images  []StagedImage `json:"images"`
}

// StagedImage is one staged archive.
type StagedImage struct {
	Ref    string          `json:"ref"`
	Digest manifest.Digest `json:"digest"`
	// File is the archive's name in the staging directory.
	File       string   `json:"file"`
	Namespaces []string `json:"namespaces"`
	// Docker asks for `docker load` as well, when Docker answers.
	Docker bool `json:"docker,omitempty"`
}

// StagedName is a file name for an image archive: readable, unique by digest.
func StagedName(ref string, d manifest.Digest) string {
	name, _, _ := strings.Cut(ref, "@")
	var b strings.Builder
	for _, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '-':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	h := d.Hex()
	if len(h) > 12 {
		h = h[:12]
	}
	return b.String() + "-" + h + ".tar"
}

// Present is one image containerd has, as `ctr images ls` shows it.
type Present struct {
	Ref    string
	Digest manifest.Digest
	Pinned bool
}
