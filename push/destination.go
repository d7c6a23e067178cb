package push

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/satchel-dev/satchel/manifest"
)

// Destination is where images are pushed: a registry host and an optional
// repository prefix.
type Destination struct {
	// Registry is "host" or "host:port".
	Registry string
	// Prefix is a repository path under which every image goes ("" for
	// none), e.g. "satchel" or "platform/runtimes".
	Prefix string
}

// pathComponent is one component of a repository path (OCI distribution
// spec, "Pulling manifests": [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*).
var pathComponent = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$`)

// maxRepository bounds a repository name with its registry, as the
// distribution registry does (255 characters).
const maxRepository = 255

// ParseDestination reads REGISTRY[/PREFIX], e.g. "harbor.internal/satchel"
// or "10.0.0.5:5000". The registry must look like a host (a dot, a port or
// "localhost"), so that a Docker Hub namespace is never taken for one; the
// prefix must be a valid repository path. No scheme: HTTPS is used unless
// plain HTTP is allowed explicitly (Options.PlainHTTP).
func ParseDestination(s string) (Destination, error) {
	orig := s
	if strings.Contains(s, "://") {
		return Destination{}, manifest.Hintf("write the registry without a scheme, e.g. harbor.internal/satchel; HTTPS is used unless plain HTTP is allowed explicitly",
			"destination %q: a scheme is not part of a registry name", orig)
	}
	s = strings.TrimSuffix(s, "/")
	host, prefix, _ := strings.Cut(s, "/")
	if host == "" {
		return Destination{}, manifest.Hintf("write it as REGISTRY[/PREFIX], e.g. harbor.internal/satchel",
			"destination %q: no registry host", orig)
	}
	if !strings.ContainsAny(host, ".:") && host != "localhost" {
		return Destination{}, manifest.Hintf("name the registry's host (with a dot or a port, or localhost), e.g. harbor.internal/satchel or 10.0.0.5:5000/satchel",
			"destination %q: %q is not a registry host", orig, host)
	}
	if _, err := name.NewRegistry(host, name.StrictValidation); err != nil || strings.ContainsAny(host, "@ ") {
		return Destination{}, manifest.Hintf("write the host as host or host:port, e.g. harbor.internal or 10.0.0.5:5000",
			"destination %q: %q is not a valid registry host", orig, host)
	}
	if prefix != "" {
		for _, c := range strings.Split(prefix, "/") {
			if !pathComponent.MatchString(c) {
				return Destination{}, manifest.Hintf("use lowercase letters, digits and separators (. _ __ -) between them, e.g. harbor.internal/satchel or harbor.internal/platform/runtimes",
					"destination %q: %q is not a valid repository path component", orig, c)
			}
		}
	}
	return Destination{Registry: host, Prefix: prefix}, nil
}

// String returns REGISTRY[/PREFIX].
func (d Destination) String() string {
	if d.Prefix == "" {
		return d.Registry
	}
	return d.Registry + "/" + d.Prefix
}

// Mapping says where one bundled image goes.
type Mapping struct {
	// Source is the reference as the bundle names it.
	Source string `json:"source"`
	// SourceRegistry is the registry host namespace the image comes from,
	// as containerd's hosts.toml directories name it ("docker.io").
	SourceRegistry string `json:"sourceRegistry"`
	// Repository is the image's repository path on its registry ("library/nginx").
	Repository string `json:"repository"`
	// Target is the pushed reference: by tag when the source has one,
	// else by digest.
	Target string `json:"target"`
	// TargetDigest is the pushed reference by digest.
	TargetDigest string `json:"targetDigest"`
	// Tag is the source's tag ("" when it names a digest only).
	Tag string `json:"tag,omitempty"`
	// Digest is the index or manifest pushed (the bundle's).
	Digest manifest.Digest `json:"digest"`
	// UpstreamDigest is set when the bundle holds a filtered index (fewer
	// platforms than upstream): a node asking for that digest does not find it.
	UpstreamDigest manifest.Digest `json:"upstreamDigest,omitempty"`

	repo name.Repository
	img  *manifest.Image
}

// registryNamespace spells a registry as containerd's hosts.toml
// directories and satchel-install's --registry-mirror do.
func registryNamespace(r name.Registry) string {
	if h := r.RegistryStr(); h != name.DefaultRegistry {
		return h
	}
	return "docker.io"
}

// Map works out where every image of the index goes (the rule in the
// package documentation), before anything is pushed. plainHTTP marks the
// target repositories as reachable over plain HTTP.
func Map(ix *manifest.Index, d Destination, plainHTTP bool) ([]Mapping, error) {
	var opts []name.Option
	if plainHTTP {
		opts = append(opts, name.Insecure)
	}
	var out []Mapping
	for i := range ix.Images {
		im := &ix.Images[i]
		m, err := mapImage(im, d, opts)
		if err != nil {
			return nil, err
		}
		for _, o := range out {
			if o.repo.String() == m.repo.String() && o.Tag != "" && o.Tag == m.Tag && o.Digest != m.Digest {
				return nil, manifest.Hintf("push to a different prefix, or bundle only one of them",
					"%s and %s would both be pushed as %s, with different content", o.Source, m.Source, m.Target)
			}
		}
		out = append(out, m)
	}
	return out, nil
}

func mapImage(im *manifest.Image, d Destination, opts []name.Option) (Mapping, error) {
	src, tag, err := parseSource(im.Ref)
	if err != nil {
		return Mapping{}, err
	}
	if im.Digest.Algorithm() != manifest.SHA256 {
		return Mapping{}, fmt.Errorf("image %s: digest %s: registries address manifests by sha256", im.Ref, im.Digest)
	}
	repoPath := src.RepositoryStr()
	if d.Prefix != "" {
		repoPath = d.Prefix + "/" + repoPath
	}
	full := d.Registry + "/" + repoPath
	if len(full) > maxRepository {
		return Mapping{}, manifest.Hintf("use a shorter prefix",
			"image %s: the target repository %s is longer than the %d characters registries accept", im.Ref, full, maxRepository)
	}
	repo, err := name.NewRepository(full, append([]name.Option{name.StrictValidation}, opts...)...)
	if err != nil {
		return Mapping{}, fmt.Errorf("image %s: target repository %q: %w", im.Ref, full, err)
	}
	m := Mapping{
		Source:         im.Ref,
		SourceRegistry: registryNamespace(src.Registry),
		Repository:     src.RepositoryStr(),
		TargetDigest:   full + "@" + string(im.Digest),
		Tag:            tag,
		Digest:         im.Digest,
		repo:           repo,
		img:            im,
	}
	if im.UpstreamDigest != "" && im.UpstreamDigest != im.Digest {
		m.UpstreamDigest = im.UpstreamDigest
	}
	m.Target = m.TargetDigest
	if tag != "" {
		m.Target = full + ":" + tag
	}
	return m, nil
}

// parseSource reads a bundled image's reference: its repository and tag
// ("" for a reference by digest only; a reference with both keeps its tag).
func parseSource(ref string) (name.Repository, string, error) {
	bad := func(err error) error {
		return manifest.HintError(fmt.Errorf("image reference %q in the bundle: %w", ref, err),
			"the bundle names an image that no registry can hold; rebuild it with a valid reference")
	}
	if base, _, ok := strings.Cut(ref, "@"); ok {
		dg, err := name.NewDigest(ref)
		if err != nil {
			return name.Repository{}, "", bad(err)
		}
		tag := ""
		if i := strings.LastIndex(base, ":"); i > strings.LastIndex(base, "/") {
			tag = base[i+1:]
		}
		return dg.Context(), tag, nil
	}
	t, err := name.NewTag(ref)
	if err != nil {
		return name.Repository{}, "", bad(err)
	}
	return t.Context(), t.TagStr(), nil
}

// Mirrors returns the registry mirror settings (REGISTRY=MIRROR, the form
// of satchel-install's --registry-mirror) under which nodes find what was
// pushed: one per source registry, sorted. plainHTTP writes the mirror
// with http://.
func Mirrors(ms []Mapping, d Destination, plainHTTP bool) []string {
	to := d.String()
	if plainHTTP {
		to = "http://" + to
	}
	var out []string
	for _, m := range ms {
		if s := m.SourceRegistry + "=" + to; !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	slices.Sort(out)
	return out
}
