package bundler

import (
	"context"
	"fmt"
	"os"
	"path"
	"slices"

	"github.com/satchel-dev/satchel/fetch"
	"github.com/satchel-dev/satchel/manifest"
	"github.com/satchel-dev/satchel/profiles"
)

// Lock pins every artifact and image the spec resolves to, for every
// platform the spec names. Pins already in the spec or profile are checked
// against the upstream checksum file where one is published. Every
// artifact is downloaded into the cache and its verified size recorded.
func Lock(ctx context.Context, spec *manifest.Spec, o Options) (*manifest.Lock, error) {
	res, err := profiles.Resolve(spec)
	if err != nil {
		return nil, err
	}
	f, err := o.fetcher()
	if err != nil {
		return nil, err
	}
	lk := &manifest.Lock{
		APIVersion: manifest.APIVersion,
		Kind:       "BundleLock",
		Name:       res.Name,
		Profile:    res.Profile,
		Platforms:  res.Platforms,
	}
	for _, c := range res.Components {
		lc := manifest.LockedComponent{Name: c.Name, Version: c.Version, Variant: c.Variant}
		for _, a := range c.Artifacts {
			la, err := lockArtifact(ctx, f, c, a)
			if err != nil {
				return nil, err
			}
			lc.Artifacts = append(lc.Artifacts, la)
		}
		lk.Components = append(lk.Components, lc)
	}
	// Every artifact is downloaded once and checked against its digest, so
	// that the lock records its verified size, which build then enforces
	// (an endless or wrong body is cut off at that size). The downloads
	// fill the cache build reads: a build after lock fetches nothing again.
	var reqs []fetch.Request
	var locked []*manifest.LockedArtifact
	for i := range lk.Components {
		for j := range lk.Components[i].Artifacts {
			la := &lk.Components[i].Artifacts[j]
			reqs = append(reqs, fetch.Request{URL: la.URL, Digest: la.Digest})
			locked = append(locked, la)
		}
	}
	paths, err := f.Fetch(ctx, reqs)
	if err != nil {
		return nil, fmt.Errorf("locking: %w", err)
	}
	for i, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("locking %s: %w", locked[i].URL, err)
		}
		locked[i].Size = st.Size()
	}
	for _, im := range res.Images {
		li := manifest.LockedImage{Ref: im.Ref, Digest: im.Digest, DigestSource: manifest.DigestFromSpec, Platforms: res.Platforms, Role: im.Role}
		if im.Digest == "" {
			d, err := fetch.ResolveImage(ctx, im.Ref, o.imageOptions(res.Platforms))
			if err != nil {
				return nil, fmt.Errorf("resolving image %s: %w", im.Ref, err)
			}
			li.Digest, li.DigestSource = d, manifest.DigestFromRegistry
		}
		lk.Images = append(lk.Images, li)
	}
	return lk, nil
}

func lockArtifact(ctx context.Context, f *fetch.Fetcher, c profiles.ResolvedComponent, a profiles.ResolvedArtifact) (manifest.LockedArtifact, error) {
	la := manifest.LockedArtifact{Platform: a.Platform, Version: a.Version, URL: a.URL, Digest: a.Digest, DigestSource: a.DigestSource}
	what := fmt.Sprintf("%s %s (%s)", c.Name, a.Version, a.Platform)
	if a.Checksum.URL != "" {
		body, err := f.Get(ctx, a.Checksum.URL)
		if err != nil {
			return la, fmt.Errorf("locking %s: checksum file: %w", what, err)
		}
		published, err := fetch.ParseChecksumFile(a.Checksum.Format, body, path.Base(a.URL))
		if err != nil {
			return la, fmt.Errorf("locking %s: %s: %w", what, a.Checksum.URL, err)
		}
		la.ChecksumURL = a.Checksum.URL
		switch {
		case a.Digest == "":
			la.Digest, la.DigestSource = published, manifest.DigestFromChecksumFile
		case a.Digest.Algorithm() == published.Algorithm() && a.Digest != published:
			return la, manifest.VerificationError(manifest.Hintf(
				"the pin in the "+a.DigestSource+" or the mirror is wrong; compare with the upstream release page",
				"locking %s: pinned digest %s differs from the published %s in %s", what, a.Digest, published, a.Checksum.URL))
		}
	}
	if la.Digest == "" {
		d, _, err := f.DownloadDigest(ctx, a.URL, manifest.SHA256)
		if err != nil {
			return la, fmt.Errorf("locking %s: %w", what, err)
		}
		la.Digest, la.DigestSource = d, manifest.DigestFromDownload
	}
	return la, nil
}

// pin returns the digest an artifact must have: from the spec or profile,
// else from the lock; and its size when the lock records one for that
// digest (0 otherwise). An artifact pinned nowhere is refused.
func pin(lk *manifest.Lock, c profiles.ResolvedComponent, a profiles.ResolvedArtifact) (manifest.Digest, string, int64, error) {
	var locked *manifest.LockedArtifact
	if lk != nil {
		locked, _ = lk.Artifact(c.Name, c.Version, c.Variant, a.Platform, a.URL)
	}
	// A lock written before artifacts had versions names none: the
	// component's version applies, which the lookup above matched. One
	// that names another release than the spec resolves to is stale.
	if locked != nil && locked.Version != "" && a.Version != "" && locked.Version != a.Version {
		return "", "", 0, manifest.Hintf("run `satchel-bundle lock` again, and review the change",
			"%s %s (%s): the lock records release %s for %s", c.Name, a.Version, a.Platform, locked.Version, a.URL)
	}
	if a.Digest != "" {
		if locked != nil && locked.Digest.Algorithm() == a.Digest.Algorithm() && locked.Digest != a.Digest {
			return "", "", 0, manifest.VerificationError(manifest.Hintf("run `satchel-bundle lock` again, and review the change",
				"%s %s (%s): the lock pins %s but the %s pins %s", c.Name, c.Version, a.Platform, locked.Digest, a.DigestSource, a.Digest))
		}
		var size int64
		if locked != nil && locked.Digest == a.Digest {
			size = locked.Size
		}
		return a.Digest, a.DigestSource, size, nil
	}
	if locked != nil {
		return locked.Digest, locked.DigestSource, locked.Size, nil
	}
	return "", "", 0, manifest.Hintf("run `satchel-bundle lock -f bundle.yaml` (build reads bundle.lock beside the spec, or --lock FILE), or pin a digest under sources in the spec",
		"%s %s (%s): %s is pinned neither in the spec nor in the lock", c.Name, c.Version, a.Platform, a.URL)
}

func imagePin(lk *manifest.Lock, im manifest.ImageSpec) (manifest.Digest, error) {
	if im.Digest != "" {
		return im.Digest, nil
	}
	if lk != nil {
		if li, ok := lk.Image(im.Ref); ok {
			return li.Digest, nil
		}
	}
	return "", manifest.Hintf("run `satchel-bundle lock` to resolve the tag to a digest, or set digest: in the spec",
		"image %s is pinned neither in the spec nor in the lock", im.Ref)
}

func filterPlatforms(all, want []string) ([]string, error) {
	if len(want) == 0 {
		return all, nil
	}
	for _, p := range want {
		if !slices.Contains(all, p) {
			return nil, manifest.Hintf("choose among "+fmt.Sprint(all)+", or add the platform to spec.platforms",
				"platform %q is not in this bundle's platforms", p)
		}
	}
	return want, nil
}
