package manifest

import (
	"fmt"
	"os"

	"sigs.k8s.io/yaml"
)

// Where a locked digest came from. Auditors read this: a digest taken from
// the downloaded bytes proves only that later builds got the same bytes.
const (
	DigestFromSpec         = "spec"          // pinned in bundle.yaml
	DigestFromProfile      = "profile"       // pinned in the built-in profile
	DigestFromChecksumFile = "checksum-file" // published by upstream next to the artifact
	DigestFromDownload     = "download"      // upstream publishes none: trust on first use at lock time
	DigestFromRegistry     = "registry"      // an image tag resolved at lock time
)

// Lock is bundle.lock: every URL and digest the build will use, per platform.
type Lock struct {
	APIVersion string            `json:"apiVersion" yaml:"apiVersion"`
	Kind       string            `json:"kind" yaml:"kind"` // "BundleLock"
	Name       string            `json:"name" yaml:"name"`
	Profile    string            `json:"profile,omitempty" yaml:"profile,omitempty"`
	Platforms  []string          `json:"platforms" yaml:"platforms"`
	Components []LockedComponent `json:"components" yaml:"components"`
	Images     []LockedImage     `json:"images" yaml:"images"`
}

// LockedComponent is one component version with one artifact per platform.
type LockedComponent struct {
	Name      string           `json:"name" yaml:"name"`
	Version   string           `json:"version" yaml:"version"`
	Variant   string           `json:"variant,omitempty" yaml:"variant,omitempty"`
	Artifacts []LockedArtifact `json:"artifacts" yaml:"artifacts"`
}

// LockedArtifact pins one upstream file.
type LockedArtifact struct {
	Platform string `json:"platform" yaml:"platform"`
	// Version is the upstream release of this artifact; it may differ
	// from the component's (a platform that carries another release).
	// Empty in a lock written before artifacts had versions: then the
	// component's version applies.
	Version      string `json:"version,omitempty" yaml:"version,omitempty"`
	URL          string `json:"url" yaml:"url"`
	Digest       Digest `json:"digest" yaml:"digest"`
	DigestSource string `json:"digestSource" yaml:"digestSource"`
	// ChecksumURL is the upstream checksum file the digest was checked against, if any.
	ChecksumURL string `json:"checksumURL,omitempty" yaml:"checksumURL,omitempty"`
	// Size is the artifact's length in bytes, measured at lock time on the
	// verified download; build refuses a body of any other length. 0 in a
	// lock written before sizes were recorded: then unknown.
	Size int64 `json:"size,omitempty" yaml:"size,omitempty"`
}

// LockedImage pins an image by digest for the listed platforms.
type LockedImage struct {
	Ref          string   `json:"ref" yaml:"ref"`
	Digest       Digest   `json:"digest" yaml:"digest"`
	DigestSource string   `json:"digestSource" yaml:"digestSource"`
	Platforms    []string `json:"platforms" yaml:"platforms"`
	Role         string   `json:"role,omitempty" yaml:"role,omitempty"`
}

// Artifact returns the locked artifact of a component version for a
// platform and URL (gVisor has two artifacts per platform).
func (l *Lock) Artifact(name, version, variant, platform, url string) (*LockedArtifact, bool) {
	for i := range l.Components {
		c := &l.Components[i]
		if c.Name != name || c.Version != version || c.Variant != variant {
			continue
		}
		for j := range c.Artifacts {
			if c.Artifacts[j].Platform == platform && c.Artifacts[j].URL == url {
				return &c.Artifacts[j], true
			}
		}
	}
	return nil, false
}

// Image returns the locked image for a reference.
func (l *Lock) Image(ref string) (*LockedImage, bool) {
	for i := range l.Images {
		if l.Images[i].Ref == ref {
			return &l.Images[i], true
		}
	}
	return nil, false
}

// Marshal encodes the lock as YAML.
func (l *Lock) Marshal() ([]byte, error) { return yaml.Marshal(l) }

// ReadLockFile reads and validates bundle.lock.
func ReadLockFile(path string) (*Lock, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, HintError(fmt.Errorf("reading lock: %w", err), "run `satchel-bundle lock` to pin every artifact first")
	}
	l, err := ParseLock(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return l, nil
}

// ParseLock decodes a lock strictly (see DecodeYAML) and checks its digests.
func ParseLock(b []byte) (*Lock, error) {
	var l Lock
	if err := DecodeYAML("lock", b, &l); err != nil {
		return nil, err
	}
	if l.APIVersion != APIVersion || l.Kind != "BundleLock" {
		return nil, HintError(fmt.Errorf("not a satchel lock (apiVersion %q, kind %q)", l.APIVersion, l.Kind), "regenerate it with `satchel-bundle lock`")
	}
	for _, c := range l.Components {
		for _, a := range c.Artifacts {
			if _, err := ParseDigest(string(a.Digest)); err != nil {
				return nil, fmt.Errorf("lock: %s %s %s: %w", c.Name, c.Version, a.Platform, err)
			}
			if a.Size < 0 {
				return nil, fmt.Errorf("lock: %s %s %s: negative size %d", c.Name, c.Version, a.Platform, a.Size)
			}
		}
	}
	for _, im := range l.Images {
		if _, err := ParseDigest(string(im.Digest)); err != nil {
			return nil, fmt.Errorf("lock: image %s: %w", im.Ref, err)
		}
	}
	return &l, nil
}
