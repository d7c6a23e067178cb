package bundler

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/satchel-dev/satchel/component"
	"github.com/satchel-dev/satchel/fetch"
	"github.com/satchel-dev/satchel/internal/version"
	"github.com/satchel-dev/satchel/manifest"
	"github.com/satchel-dev/satchel/pack"
	"github.com/satchel-dev/satchel/profiles"
	"github.com/satchel-dev/satchel/sign"
)

// Options configure Lock and Build.
type Options struct {
	Lock      *manifest.Lock // pins for what the spec leaves open
	Platforms []string       // subset of the spec's platforms; empty = all
	CacheDir  string         // content-addressed download cache; empty = user cache dir

	Mirrors         []fetch.Mirror // URL prefix rewrites for artifacts
	RegistryMirrors []fetch.Mirror // registry host rewrites for images
	Insecure        []string       // registries that may be reached over plain HTTP

	Signer *sign.Signer // required by Build
	Output string       // bundle path
	Force  bool         // overwrite Output
	// Strict refuses to build a bundle with a known-vulnerable pin (a
	// security note applies to one of its artifacts), before any download.
	Strict bool

	// Spec and LockFile name the spec and lock files in the provenance
	// (file name and digest of their bytes); empty when the build had none
	// (a built-in profile, everything pinned in the spec). The lock given
	// in Lock without a LockFile is named by the digest of its encoding.
	Spec, LockFile Input

	// Created is the bundle's creation time; zero means SOURCE_DATE_EPOCH, else now.
	Created time.Time

	// Parallelism bounds the build's CPU work: how many upstream archives
	// are decompressed, and how many files hashed and compressed, at once.
	// Zero means GOMAXPROCS. The bundle's bytes do not depend on it.
	Parallelism int

	Progress func(fetch.Event)
	Logger   *slog.Logger

	// FetchOptions are passed on to fetch.New after the ones above
	// (e.g. fetch.WithRetries, fetch.WithParallelism).
	FetchOptions []fetch.Option
}

// Result describes a finished bundle.
type Result struct {
	Path     string
	Index    *manifest.Index
	Size     int64
	Files    int
	Blobs    int
	Duration time.Duration
	// Warnings are what the build skipped without failing (a bash
	// completion no binary of which runs on this builder); each is also an
	// info note in the index.
	Warnings []string `json:"warnings,omitempty"`
}

// fetcher makes the Fetcher; also, when given, is called with every event
// before o.Progress.
func (o Options) fetcher(also ...func(fetch.Event)) (*fetch.Fetcher, error) {
	opts := []fetch.Option{fetch.WithMirrors(o.Mirrors)}
	if o.CacheDir != "" {
		opts = append(opts, fetch.WithCacheDir(o.CacheDir))
	}
	if hooks := append(slices.Clone(also), o.Progress); len(also) > 0 || o.Progress != nil {
		opts = append(opts, fetch.WithProgress(func(e fetch.Event) {
			for _, h := range hooks {
				if h != nil {
					h(e)
				}
			}
		}))
	}
	if o.Logger != nil {
		opts = append(opts, fetch.WithLogger(o.Logger))
	}
	return fetch.New(append(opts, o.FetchOptions...)...)
}

func (o Options) parallelism() int {
	if o.Parallelism > 0 {
		return o.Parallelism
	}
	return runtime.GOMAXPROCS(0)
}

func (o Options) logger() *slog.Logger {
	if o.Logger != nil {
		return o.Logger
	}
	return slog.New(slog.DiscardHandler)
}

func (o Options) imageOptions(platforms []string) fetch.ImageOptions {
	return fetch.ImageOptions{RegistryMirrors: o.RegistryMirrors, Insecure: o.Insecure, Platforms: platforms}
}

func (o Options) cacheDir() (string, error) {
	if o.CacheDir != "" {
		return o.CacheDir, nil
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return "", manifest.HintError(err, "pass --cache DIR")
	}
	return filepath.Join(d, "satchel"), nil
}

// CreatedTime returns the creation time a build uses: o.Created, else
// SOURCE_DATE_EPOCH, else the current time.
func (o Options) CreatedTime() (time.Time, error) {
	if !o.Created.IsZero() {
		return o.Created.UTC().Truncate(time.Second), nil
	}
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return time.Time{}, manifest.Hintf("set it to whole seconds since 1970, e.g. $(git log -1 --format=%ct)", "SOURCE_DATE_EPOCH=%q is not a number", s)
		}
		return time.Unix(n, 0).UTC(), nil
	}
	return time.Now().UTC().Truncate(time.Second), nil
}

// Build fetches, unpacks, packs and signs the bundle the spec describes.
// On failure no output file is left behind.
func Build(ctx context.Context, spec *manifest.Spec, o Options) (*Result, error) {
	start := time.Now()
	if o.Signer == nil {
		return nil, manifest.Hintf("create a key pair with `satchel-bundle keygen` and pass --key satchel.key",
			"building needs a signing key")
	}
	if o.Output == "" {
		return nil, manifest.Hintf("pass -o NAME.satchel", "no output path")
	}
	if _, err := os.Lstat(o.Output); err == nil && !o.Force {
		return nil, manifest.Hintf("choose another -o path, or pass --force to replace it", "output %s exists", o.Output)
	}
	created, err := o.CreatedTime()
	if err != nil {
		return nil, err
	}
	res, err := profiles.Resolve(spec)
	if err != nil {
		return nil, err
	}
	platforms, err := filterPlatforms(res.Platforms, o.Platforms)
	if err != nil {
		return nil, err
	}
	// Notes about a platform the bundle does not carry stay out of it.
	res.Notes = slices.DeleteFunc(slices.Clone(res.Notes), func(n manifest.Note) bool {
		return n.Platform != "" && !slices.Contains(platforms, n.Platform)
	})
	if o.Strict {
		if err := refuseVulnerable(res.Notes); err != nil {
			return nil, err
		}
	}
	cache, err := o.cacheDir()
	if err != nil {
		return nil, err
	}
	store, err := pack.NewBlobStore(filepath.Join(cache, "blobs"))
	if err != nil {
		return nil, err
	}

	// Pin every artifact and image first: a missing pin fails the build
	// before any download or unpacking work.
	var jobs []artifactJob
	for ci, c := range res.Components {
		for _, a := range c.Artifacts {
			if !slices.Contains(platforms, a.Platform) {
				continue
			}
			d, src, size, err := pin(o.Lock, c, a)
			if err != nil {
				return nil, err
			}
			jobs = append(jobs, artifactJob{ci, c, a, d, src, size})
		}
	}
	imagePins := make([]manifest.Digest, len(res.Images))
	for i, im := range res.Images {
		if imagePins[i], err = imagePin(o.Lock, im); err != nil {
			return nil, err
		}
	}

	p, err := newPipeline(ctx, store, filepath.Join(cache, "spool"), o.parallelism())
	if err != nil {
		return nil, err
	}
	defer p.close()
	var (
		wg         sync.WaitGroup
		components []builtComponent
		images     []manifest.Image
		artErr     error
		imageErr   error
	)
	wg.Add(2)
	go func() { defer wg.Done(); components, artErr = p.components(o, res.Components, jobs) }()
	go func() {
		defer wg.Done()
		images, imageErr = p.images(res.Images, imagePins, o.imageOptions(platforms), filepath.Join(cache, "oci"))
	}()
	wg.Wait()
	if err := p.firstError(artErr, imageErr); err != nil {
		return nil, err
	}

	ix := &manifest.Index{
		FormatVersion: manifest.FormatVersion,
		Name:          res.Name,
		Version:       res.Version,
		Sequence:      res.Sequence,
		Created:       created,
		Profile:       res.Profile,
		Platforms:     platforms,
		Requirements:  manifest.Requirements{Installer: version.FormatInstaller, MinKernel: res.MinKernel},
		Notes:         res.Notes,
		Images:        images,
	}
	nfiles := 0
	result := &Result{Path: o.Output}
	for _, c := range components {
		if len(c.Artifacts) == 0 {
			continue // none for the bundle's platforms
		}
		for _, w := range c.warnings {
			o.logger().Warn(w)
		}
		result.Warnings = append(result.Warnings, c.warnings...)
		ix.Notes = append(ix.Notes, c.notes...)
		for _, a := range c.Artifacts {
			nfiles += len(a.Files)
		}
		ix.Components = append(ix.Components, c.Component)
	}

	for _, b := range p.blobs {
		ix.Blobs = append(ix.Blobs, b)
	}
	slices.SortFunc(ix.Blobs, func(a, b manifest.Blob) int { return strings.Compare(string(a.Digest), string(b.Digest)) })
	if err := ix.Validate(); err != nil {
		return nil, fmt.Errorf("the bundle built does not pass its own checks (a builder bug): %w", err)
	}
	if err := AttachSBOM(ix, store); err != nil {
		return nil, fmt.Errorf("writing the SBOM: %w", err)
	}

	// Never sign what an installer would refuse.
	if err := ix.Validate(); err != nil {
		return nil, fmt.Errorf("the bundle built does not pass its own checks (a builder bug): %w", err)
	}
	indexJSON, err := ix.Encode()
	if err != nil {
		return nil, err
	}
	sig, err := o.Signer.Sign(indexJSON)
	if err != nil {
		return nil, fmt.Errorf("signing satchel.json: %w", err)
	}
	if o.LockFile.Digest == "" && o.Lock != nil {
		b, err := o.Lock.Marshal()
		if err != nil {
			return nil, err
		}
		o.LockFile = Input{Name: "bundle.lock", Digest: manifest.DigestOf(manifest.SHA256, b)}
	}
	prov, err := SignProvenance(ix, indexJSON, o.Signer, o.Spec, o.LockFile)
	if err != nil {
		return nil, fmt.Errorf("writing the provenance: %w", err)
	}
	if err := pack.WriteFileEntries(o.Output, o.Force, pack.Entries{Index: indexJSON, Signature: sig, Provenance: prov}, ix, store); err != nil {
		return nil, err
	}
	st, err := os.Stat(o.Output)
	if err != nil {
		return nil, err
	}
	result.Index, result.Size, result.Files, result.Blobs, result.Duration = ix, st.Size(), nfiles, len(ix.Blobs), time.Since(start)
	return result, nil
}

func putLayoutBlob(store *pack.BlobStore, layoutDir string, d manifest.Digest) (manifest.Blob, error) {
	f, err := os.Open(filepath.Join(layoutDir, "blobs", d.Algorithm(), d.Hex()))
	if err != nil {
		return manifest.Blob{}, err
	}
	defer f.Close()
	return store.PutRaw(d, f)
}

func duplicatePath(files []manifest.File) string {
	for i := 1; i < len(files); i++ {
		if files[i].Path == files[i-1].Path {
			return files[i].Path
		}
	}
	return ""
}

// matchRule finds the catalog rule selecting an archive entry and the
// entry's target path.
func matchRule(rules []component.FileRule, name string) (int, string, bool) {
	for i, r := range rules {
		if target, ok := r.Match(name); ok {
			return i, target, true
		}
	}
	return 0, "", false
}

// refuseVulnerable fails a strict build whose pins have security notes,
// naming each pin, its CVEs and the releases that fix them.
func refuseVulnerable(notes []manifest.Note) error {
	bad := profiles.KnownVulnerable(notes)
	if len(bad) == 0 {
		return nil
	}
	type pin struct{ component, version string }
	var order []pin
	cves := map[pin][]string{}
	fixed := map[pin][]string{}
	for _, n := range bad {
		p := pin{n.Component, n.Version}
		if _, ok := cves[p]; !ok {
			order = append(order, p)
		}
		cves[p] = append(cves[p], n.CVEs...)
		for _, f := range n.FixedIn {
			if !slices.Contains(fixed[p], f) {
				fixed[p] = append(fixed[p], f)
			}
		}
	}
	var lines []string
	for _, p := range order {
		lines = append(lines, fmt.Sprintf("%s %s: %s (fixed in %s)", p.component, p.version,
			strings.Join(cves[p], ", "), strings.Join(fixed[p], ", ")))
	}
	return manifest.WithExitCode(manifest.Hintf(
		"pin a release at or above a fixed one for each (a spec component's version overrides the profile's), or leave the component out with exclude: true; the notes say which releases fix what",
		"strict: %d known-vulnerable pin(s): %s", len(order), strings.Join(lines, "; ")), manifest.ExitFindings)
}
