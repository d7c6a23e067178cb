package fetch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/satchel-dev/satchel/manifest"
)

// Annotations PullImage writes.
const (
	// AnnotationUpstreamDigest holds the digest of the index or manifest the
	// registry served. It is set on a filtered index (whose own digest
	// differs from upstream's) and on the layout's index.json entry.
	AnnotationUpstreamDigest = "dev.satchel.upstream-digest"
	// AnnotationImageName is the image's full name, as containerd's import reads it.
	AnnotationImageName = "io.containerd.image.name"
)

// imageJobs bounds parallel blob downloads of one image.
const imageJobs = 4

// ImageOptions configure ResolveImage and PullImage.
type ImageOptions struct {
	// RegistryMirrors rewrite a registry host and optional repository
	// prefix before anything is fetched: {From: "docker.io", To:
	// "harbor.internal/dockerhub"} pulls docker.io/library/nginx from
	// harbor.internal/dockerhub/library/nginx. The longest From wins.
	RegistryMirrors []Mirror
	// Insecure lists registries ("host" or "host:port") that may be reached
	// over plain HTTP. Loopback registries (127.0.0.0/8, ::1, localhost)
	// always may; every other registry needs TLS.
	Insecure []string
	// Platforms to keep, e.g. "linux/amd64". Empty keeps every manifest.
	Platforms []string
	// Timeout is the stall timeout of a registry request: no response
	// header or body byte for this long fails the transfer, which is then
	// tried again. It does not cap large layers. Zero means DefaultTimeout.
	Timeout time.Duration
	// MinRate is the slowest body accepted, in bytes per second averaged
	// over each Timeout-long window. Zero means DefaultMinRate; negative
	// accepts any rate (only a complete stall fails).
	MinRate int64

	// fastRetry shortens ggcr's retry backoff (1 s, then 3 s) for tests.
	fastRetry bool
}

func (o *ImageOptions) timeout() time.Duration {
	if o.Timeout > 0 {
		return o.Timeout
	}
	return DefaultTimeout
}

func (o *ImageOptions) limits() stallLimits {
	l := stallLimits{idle: o.timeout(), minRate: o.MinRate}
	switch {
	case o.MinRate == 0:
		l.minRate = DefaultMinRate
	case o.MinRate < 0:
		l.minRate = 0
	}
	return l
}

// imageRef is a reference before and after registry mirror rewriting.
type imageRef struct {
	orig   name.Reference
	target name.Reference
	mirror *Mirror
}

func (r *imageRef) String() string {
	if r.mirror == nil {
		return r.orig.String()
	}
	return fmt.Sprintf("%s (via registry mirror %s: %s)", r.orig, r.mirror, r.target)
}

// resolveRef parses ref and applies the registry mirrors.
func (o *ImageOptions) resolveRef(ref string) (*imageRef, error) {
	orig, err := name.ParseReference(ref)
	if err != nil {
		return nil, manifest.HintError(fmt.Errorf("image reference %q: %w", ref, err),
			"write it as registry/repository:tag or registry/repository@sha256:<hex>, e.g. docker.io/library/nginx:1.27.4")
	}
	full := orig.Context().Name() // e.g. index.docker.io/library/nginx
	var best *Mirror
	var bestFrom string
	for i := range o.RegistryMirrors {
		m := &o.RegistryMirrors[i]
		if err := m.validate(); err != nil {
			return nil, err
		}
		if m.isURLMirror() {
			return nil, manifest.Hintf("give a registry host and optional path, e.g. docker.io=harbor.internal/dockerhub",
				"registry mirror %q: a registry mirror names registries, not URLs", m.String())
		}
		from, err := normalizeRegistryPrefix(m.From)
		if err != nil {
			return nil, err
		}
		if prefixAtBoundary(full, from, "/") && len(from) > len(bestFrom) {
			best, bestFrom = m, from
		}
	}
	repoName := full
	if best != nil {
		repoName = strings.TrimRight(best.To, "/") + full[len(bestFrom):]
		host, _, _ := strings.Cut(best.To, "/")
		if !strings.ContainsAny(host, ".:") && host != "localhost" {
			return nil, manifest.Hintf("name the mirror's registry host, e.g. harbor.internal/dockerhub",
				"registry mirror %q: %q is not a registry host", best.String(), host)
		}
	}
	host, _, _ := strings.Cut(repoName, "/")
	var opts []name.Option
	if allowPlainHTTP(host, o.Insecure) {
		opts = append(opts, name.Insecure)
	}
	repo, err := name.NewRepository(repoName, opts...)
	if err != nil {
		return nil, fmt.Errorf("image %s: rewritten repository %q: %w", ref, repoName, err)
	}
	r := &imageRef{orig: orig, mirror: best}
	switch o := orig.(type) {
	case name.Tag:
		r.target = repo.Tag(o.TagStr())
	case name.Digest:
		r.target = repo.Digest(o.DigestStr())
	}
	return r, nil
}

// normalizeRegistryPrefix spells a mirror's From as ggcr names
// repositories, so that "docker.io" matches index.docker.io/library/nginx.
func normalizeRegistryPrefix(from string) (string, error) {
	host, path, _ := strings.Cut(strings.TrimRight(from, "/"), "/")
	reg, err := name.NewRegistry(host)
	if err != nil {
		return "", manifest.Hintf("give a registry host and optional path, e.g. docker.io=harbor.internal/dockerhub",
			"registry mirror from %q: %v", from, err)
	}
	if path == "" {
		return reg.Name(), nil
	}
	return reg.Name() + "/" + path, nil
}

// allowPlainHTTP says whether host[:port] may be reached without TLS.
func allowPlainHTTP(hostport string, insecure []string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.Trim(host, "[]")
	if host == "localhost" {
		return true
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return true
	}
	for _, s := range insecure {
		if s == hostport || s == host {
			return true
		}
	}
	return false
}

// plainHTTPError is what the guard answers for a refused plain HTTP request.
type plainHTTPError struct{ host string }

func (e *plainHTTPError) Error() string {
	return fmt.Sprintf("refusing plain HTTP to %s: registries other than loopback need TLS", e.host)
}

// plainHTTPGuard refuses plain HTTP to registries not allowed it. ggcr
// itself falls back to HTTP for private (RFC 1918) addresses; satchel does
// not, so that credentials and images never cross a network in clear
// without the user asking for it.
type plainHTTPGuard struct {
	base     http.RoundTripper
	insecure []string
}

func (g *plainHTTPGuard) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme == "http" && !allowPlainHTTP(req.URL.Host, g.insecure) {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, &plainHTTPError{host: req.URL.Host}
	}
	return g.base.RoundTrip(req)
}

// fallbackKeychain uses the Docker config and credential helpers, and pulls
// anonymously when they fail (a credential helper named in config.json but
// not installed must not block public images).
type fallbackKeychain struct{ kc authn.Keychain }

func (k fallbackKeychain) Resolve(r authn.Resource) (authn.Authenticator, error) {
	a, err := k.kc.Resolve(r)
	if err != nil {
		return authn.Anonymous, nil
	}
	return a, nil
}

func remoteOptions(ctx context.Context, o ImageOptions) []remote.Option {
	base := remote.DefaultTransport.(*http.Transport).Clone()
	base.Proxy = http.ProxyFromEnvironment
	base.ResponseHeaderTimeout = 2 * o.timeout() // a backstop: the guard gives up first
	// Every registry request (token, manifest, blob) has a watchdog; ggcr
	// wraps this transport in its own retrying one, which retries a stall.
	guarded := &guardTransport{base: base, limits: o.limits()}
	opts := []remote.Option{
		remote.WithContext(ctx),
		remote.WithTransport(&plainHTTPGuard{base: guarded, insecure: o.Insecure}),
		remote.WithAuthFromKeychain(fallbackKeychain{authn.DefaultKeychain}),
		remote.WithUserAgent("satchel"),
	}
	if o.fastRetry {
		opts = append(opts, remote.WithRetryBackoff(remote.Backoff{Duration: time.Millisecond, Factor: 2, Steps: 3}))
	}
	return opts
}

// wrap explains a registry failure.
func (r *imageRef) wrap(op string, err error) error {
	err = fmt.Errorf("%s %s: %w", op, r, err)
	mh := "no registry mirror is in use (--registry-mirror HOST=TO redirects it)"
	if r.mirror != nil {
		mh = fmt.Sprintf("registry mirror in use: %s; check that it holds this repository", r.mirror)
	}
	var pe *plainHTTPError
	var te *transport.Error
	var ze *sizeError
	var se *stallError
	switch {
	case errors.As(err, &ze):
		return verificationFailed(err, r)
	case errors.As(err, &se):
		return manifest.HintError(err, "the registry answers too slowly or not at all; try again later, or pull through a registry mirror; "+mh)
	case isRedirectLoop(err):
		return manifest.HintError(err, "the registry redirects in a loop; "+mh)
	case errors.As(err, &pe):
		return manifest.HintError(err, fmt.Sprintf("serve the registry over TLS, or list it as insecure if plain HTTP is intended (%s)", pe.host))
	case strings.Contains(err.Error(), "does not match requested digest"):
		return verificationFailed(err, r)
	case errors.As(err, &te) && te.StatusCode == http.StatusNotFound:
		return manifest.HintError(err, "check the repository, tag and digest; "+mh)
	case errors.As(err, &te) && (te.StatusCode == http.StatusUnauthorized || te.StatusCode == http.StatusForbidden):
		return manifest.HintError(err, "log in with `docker login "+r.target.Context().RegistryStr()+"` (satchel reads ~/.docker/config.json and its credential helpers); a missing repository also answers this way")
	case errors.As(err, &te) && te.StatusCode >= 500:
		return manifest.HintError(err, "the registry kept failing; try again later, or pull through a registry mirror; "+mh)
	case errors.As(err, &te) && te.StatusCode == http.StatusTooManyRequests:
		return manifest.HintError(err, "the registry rate-limits you (Docker Hub limits anonymous pulls): log in, or pull through a mirror with --registry-mirror")
	}
	return err
}

func verificationFailed(err error, r *imageRef) error {
	who := "the registry serves other bytes for this digest than were pinned"
	if r.mirror != nil {
		who = fmt.Sprintf("the registry mirror (%s) serves other bytes for this digest than upstream", r.mirror)
	}
	return manifest.VerificationError(manifest.HintError(err, who+"; do not use it, and check the mirror's contents"))
}

// ResolveImage returns the digest a tag points to now: the index's for a
// multi-platform image, else the manifest's. A reference holding a digest
// is checked to exist. With Platforms set, it also checks that the image
// has them all, so that a missing platform shows at lock time.
func ResolveImage(ctx context.Context, ref string, o ImageOptions) (manifest.Digest, error) {
	r, err := o.resolveRef(ref)
	if err != nil {
		return "", err
	}
	platforms, err := parsePlatforms(o.Platforms)
	if err != nil {
		return "", err
	}
	opts := remoteOptions(ctx, o)
	var d manifest.Digest
	desc, herr := remote.Head(r.target, opts...)
	if herr == nil {
		d = manifest.Digest(desc.Digest.String())
	}
	if herr != nil || len(platforms) > 0 {
		// Some registries answer HEAD without a digest; GET always works,
		// and the platform check needs the body anyway.
		target := r.target
		if d != "" {
			target = r.target.Context().Digest(string(d))
		}
		gd, err := remote.Get(target, opts...)
		if err != nil {
			return "", r.wrap("resolving", err)
		}
		if d == "" {
			d = manifest.Digest(gd.Digest.String())
		}
		if err := checkPlatforms(r, gd, platforms, opts); err != nil {
			return "", err
		}
	}
	if od, ok := r.orig.(name.Digest); ok && od.DigestStr() != string(d) {
		return "", verificationFailed(fmt.Errorf("resolving %s: registry answered digest %s", r, d), r)
	}
	if _, err := manifest.ParseDigest(string(d)); err != nil {
		return "", fmt.Errorf("resolving %s: %w", r, err)
	}
	return d, nil
}

// checkPlatforms fails when the image lacks a requested platform.
func checkPlatforms(r *imageRef, gd *remote.Descriptor, platforms []v1.Platform, opts []remote.Option) error {
	if len(platforms) == 0 {
		return nil
	}
	switch {
	case gd.MediaType.IsIndex():
		idx, err := v1.ParseIndexManifest(bytes.NewReader(gd.Manifest))
		if err != nil {
			return fmt.Errorf("resolving %s: %w", r, err)
		}
		_, err = selectManifests(idx, platforms, r)
		return err
	case gd.MediaType.IsImage():
		m, err := v1.ParseManifest(bytes.NewReader(gd.Manifest))
		if err != nil {
			return fmt.Errorf("resolving %s: %w", r, err)
		}
		cfg, err := fetchSmallBlob(r, m.Config, opts)
		if err != nil {
			return err
		}
		return checkImagePlatform(r, cfg, platforms)
	}
	return fmt.Errorf("resolving %s: unsupported media type %s", r, gd.MediaType)
}

func parsePlatforms(ps []string) ([]v1.Platform, error) {
	var out []v1.Platform
	for _, s := range ps {
		p, err := v1.ParsePlatform(s)
		if err != nil || p.OS == "" || p.Architecture == "" {
			return nil, manifest.Hintf("write platforms as os/arch[/variant], e.g. linux/amd64", "platform %q is not os/arch", s)
		}
		out = append(out, *p)
	}
	return out, nil
}

// platformMatches says whether an index entry serves the requested
// platform. A request without a variant takes any variant; arm64's v8 is
// implied, as containerd and Docker treat it.
func platformMatches(have *v1.Platform, want v1.Platform) bool {
	if have == nil || have.OS != want.OS || have.Architecture != want.Architecture {
		return false
	}
	hv, wv := have.Variant, want.Variant
	if want.Architecture == "arm64" {
		if hv == "v8" {
			hv = ""
		}
		if wv == "v8" {
			wv = ""
		}
	}
	return wv == "" || hv == wv
}

// selectManifests returns, in index order, the index entries serving the
// requested platforms (the first match for each), or all entries when none
// are requested.
func selectManifests(idx *v1.IndexManifest, platforms []v1.Platform, r *imageRef) ([]int, error) {
	if len(platforms) == 0 {
		return indexes(len(idx.Manifests)), nil
	}
	var sel []int
	var missing []string
	for _, p := range platforms {
		i := slices.IndexFunc(idx.Manifests, func(d v1.Descriptor) bool { return platformMatches(d.Platform, p) })
		if i < 0 {
			missing = append(missing, p.String())
			continue
		}
		if !slices.Contains(sel, i) {
			sel = append(sel, i)
		}
	}
	if len(missing) > 0 {
		var have []string
		for _, d := range idx.Manifests {
			if d.Platform != nil && d.Platform.OS != "unknown" {
				have = append(have, d.Platform.String())
			}
		}
		return nil, manifest.Hintf("drop the platform from the bundle, or choose an image (or tag) published for it",
			"image %s has no manifest for %s (it has: %s)", r, strings.Join(missing, ", "), strings.Join(have, ", "))
	}
	slices.Sort(sel)
	return sel, nil
}

func indexes(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

// checkImagePlatform checks a single-platform image's config against the
// request. A config that names no platform is accepted.
func checkImagePlatform(r *imageRef, config []byte, platforms []v1.Platform) error {
	if len(platforms) == 0 {
		return nil
	}
	cf, err := v1.ParseConfigFile(bytes.NewReader(config))
	if err != nil {
		return fmt.Errorf("image %s: config: %w", r, err)
	}
	if cf.OS == "" || cf.Architecture == "" {
		return nil
	}
	have := v1.Platform{OS: cf.OS, Architecture: cf.Architecture, Variant: cf.Variant}
	var missing []string
	for _, p := range platforms {
		if !platformMatches(&have, p) {
			missing = append(missing, p.String())
		}
	}
	if len(missing) > 0 {
		return manifest.Hintf("drop the platform from the bundle, or choose a multi-platform image (or tag)",
			"image %s is a single-platform image for %s, not %s", r, have.String(), strings.Join(missing, ", "))
	}
	return nil
}

// fetchSmallBlob reads a config blob into memory, checking its digest.
func fetchSmallBlob(r *imageRef, desc v1.Descriptor, opts []remote.Option) ([]byte, error) {
	if desc.Size > maxSmallFile {
		return nil, fmt.Errorf("image %s: config blob of %d bytes is too large", r, desc.Size)
	}
	l, err := remote.Layer(r.target.Context().Digest(desc.Digest.String()), opts...)
	if err != nil {
		return nil, r.wrap("fetching config of", err)
	}
	rc, err := l.Compressed()
	if err != nil {
		return nil, r.wrap("fetching config of", err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, desc.Size))
	if err != nil {
		return nil, r.wrap("fetching config of", err)
	}
	if got := manifest.DigestOf(manifest.SHA256, b); got != manifest.Digest(desc.Digest.String()) || int64(len(b)) != desc.Size {
		return nil, verificationFailed(fmt.Errorf("image %s: config blob: expected %s (%d bytes), got %s (%d bytes)", r, desc.Digest, desc.Size, got, len(b)), r)
	}
	return b, nil
}
