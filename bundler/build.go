package bundler

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/satchel-dev/satchel/fetch"
	"github.com/satchel-dev/satchel/internal/version"
	"github.com/satchel-dev/satchel/manifest"
	"github.com/satchel-dev/satchel/pack"
	"github.com/satchel-dev/satchel/profiles"
	"github.com/satchel-dev/satchel/verify"
)

// Options configure Lock and Build.
type Options struct {
	Lock      *manifest.Lock // pins for what the spec leaves open
	Platforms []string       // subset of the spec's platforms; empty = all
	CacheDir  string         // content-addressed download cache; empty = user cache dir

	Mirrors         []fetch.Mirror // URL prefix rewrites for artifacts
	RegistryMirrors []fetch.Mirror // registry host rewrites for images
	Insecure        []string       // registries that may be reached over plain HTTP

	Signer *verify.Signer // required by Build
	Output string         // bundle path
	Force  bool           // overwrite Output

	// Created is the bundle's creation time; zero means SOURCE_DATE_EPOCH, else now.
	Created time.Time

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

func (o Options) fetcher() (*fetch.Fetcher, error) {
	opts := []fetch.Option{fetch.WithMirrors(o.Mirrors)}
	if o.CacheDir != "" {
		opts = append(opts, fetch.WithCacheDir(o.CacheDir))
	}
	if o.Progress != nil {
		opts = append(opts, fetch.WithProgress(o.Progress))
	}
	if o.Logger != nil {
		opts = append(opts, fetch.WithLogger(o.Logger))
	}
	return fetch.New(append(opts, o.FetchOptions...)...)
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
	cache, err := o.cacheDir()
	if err != nil {
		return nil, err
	}
	f, err := o.fetcher()
	if err != nil {
		return nil, err
	}
	store, err := pack.NewBlobStore(filepath.Join(cache, "blobs"))
	if err != nil {
		return nil, err
	}

	// Pin and fetch every artifact first: a missing pin or a bad download
	// fails the build before any unpacking work.
	type job struct {
		c profiles.ResolvedComponent
		a profiles.ResolvedArtifact
		d manifest.Digest
		s string
	}
	var jobs []job
	var reqs []fetch.Request
	for _, c := range res.Components {
		for _, a := range c.Artifacts {
			if !slices.Contains(platforms, a.Platform) {
				continue
			}
			d, src, err := pin(o.Lock, c, a)
			if err != nil {
				return nil, err
			}
			jobs = append(jobs, job{c, a, d, src})
			reqs = append(reqs, fetch.Request{URL: a.URL, Digest: d})
		}
	}
	paths, err := f.Fetch(ctx, reqs)
	if err != nil {
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
	}
	blobs := map[manifest.Digest]manifest.Blob{}
	nfiles := 0
	result := &Result{Path: o.Output}
	for _, c := range res.Components {
		comp := manifest.Component{Name: c.Name, Version: c.Version, Variant: c.Variant}
		for i, j := range jobs {
			if j.c.Name != c.Name || j.c.Version != c.Version {
				continue
			}
			files, err := unpackArtifact(paths[i], j.a, store, blobs)
			if err != nil {
				return nil, fmt.Errorf("unpacking %s %s (%s) from %s: %w", c.Name, c.Version, j.a.Platform, j.a.URL, err)
			}
			comp.Artifacts = append(comp.Artifacts, manifest.Artifact{
				Platform: j.a.Platform, URL: j.a.URL, Digest: j.d, DigestSource: j.s, Files: files,
			})
		}
		if len(comp.Artifacts) == 0 {
			continue
		}
		warnings, notes, err := addCompletions(ctx, &comp, store, blobs)
		if err != nil {
			return nil, fmt.Errorf("bash completion of %s %s: %w", c.Name, c.Version, err)
		}
		for _, w := range warnings {
			o.logger().Warn(w)
		}
		result.Warnings = append(result.Warnings, warnings...)
		ix.Notes = append(ix.Notes, notes...)
		for _, a := range comp.Artifacts {
			nfiles += len(a.Files)
		}
		ix.Components = append(ix.Components, comp)
	}

	layoutDir := filepath.Join(cache, "oci")
	for _, im := range res.Images {
		d, err := imagePin(o.Lock, im)
		if err != nil {
			return nil, err
		}
		got, err := fetch.PullImage(ctx, im.Ref, d, o.imageOptions(platforms), layoutDir)
		if err != nil {
			return nil, fmt.Errorf("pulling %s: %w", im.Ref, err)
		}
		got.Role = im.Role
		for _, bd := range got.Blobs {
			b, err := putLayoutBlob(store, layoutDir, bd)
			if err != nil {
				return nil, fmt.Errorf("storing %s blob %s: %w", im.Ref, bd, err)
			}
			blobs[b.Digest] = b
		}
		ix.Images = append(ix.Images, *got)
	}

	for _, b := range blobs {
		ix.Blobs = append(ix.Blobs, b)
	}
	slices.SortFunc(ix.Blobs, func(a, b manifest.Blob) int { return strings.Compare(string(a.Digest), string(b.Digest)) })

	indexJSON, err := ix.Encode()
	if err != nil {
		return nil, err
	}
	sig, err := o.Signer.Sign(indexJSON)
	if err != nil {
		return nil, fmt.Errorf("signing satchel.json: %w", err)
	}
	if err := pack.WriteFile(o.Output, o.Force, indexJSON, sig, ix, store); err != nil {
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

// unpackArtifact stores every file the catalog's rules select from one
// upstream artifact and returns the index entries for them, in the order of
// the rules (then archive order for tree rules).
func unpackArtifact(archivePath string, a profiles.ResolvedArtifact, store *pack.BlobStore, blobs map[manifest.Digest]manifest.Blob) ([]manifest.File, error) {
	in, err := os.Open(archivePath)
	if err != nil {
		return nil, err
	}
	defer in.Close()
	kind := a.Archive
	if kind == "" {
		if kind, err = pack.ArchiveKind(a.URL); err != nil {
			return nil, err
		}
	}
	tmpDir, err := os.MkdirTemp("", "satchel-unpack-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmpDir)

	matched := make([]bool, len(a.Files))
	var files []manifest.File
	stored := map[string]manifest.File{} // archive name → stored file, for hard links
	walk := func(e pack.ArchiveEntry, content io.Reader) error {
		ri, target, ok := matchRule(a.Files, e.Name)
		if !ok {
			return nil
		}
		matched[ri] = true
		rule := a.Files[ri]
		switch e.Type {
		case pack.TypeDir:
			return nil
		case pack.TypeHardlink:
			// A hard link installs a copy of the file it names; the blob is shared.
			f, ok := stored[e.Linkname]
			if !ok {
				return manifest.Hintf("the catalog's file rules must select the link's target too",
					"%s: hard link to %s, which is not installed", e.Name, e.Linkname)
			}
			f.Path, f.Source = target, e.Name
			if rule.Mode != 0 {
				f.Mode = rule.Mode
			}
			files = append(files, f)
			return nil
		case manifest.TypeSymlink:
			files = append(files, manifest.File{Path: target, Type: manifest.TypeSymlink, Target: e.Linkname, Source: e.Name})
			return nil
		}
		mode := e.Mode & 0o7777
		if rule.Mode != 0 {
			mode = rule.Mode
		}
		file, err := storeFile(tmpDir, content, store, blobs)
		if err != nil {
			return fmt.Errorf("%s: %w", e.Name, err)
		}
		file.Path, file.Mode, file.Source = target, mode, e.Name
		files = append(files, file)
		stored[e.Name] = file
		return nil
	}
	if kind == profiles.ArchiveBinary {
		err = pack.WalkBinary(in, path.Base(a.URL), walk)
	} else {
		err = pack.WalkArchive(in, kind, walk)
	}
	if err != nil {
		return nil, err
	}
	var missing []string
	for i, r := range a.Files {
		if !matched[i] && !r.Optional {
			missing = append(missing, r.Source)
		}
	}
	if len(missing) > 0 {
		return nil, manifest.Hintf("the artifact does not have the upstream layout the catalog expects; check the URL and version",
			"files missing from the archive: %s", strings.Join(missing, ", "))
	}
	for _, l := range a.Links {
		files = append(files, manifest.File{Path: l.Path, Type: manifest.TypeSymlink, Target: l.Target})
	}
	slices.SortStableFunc(files, func(x, y manifest.File) int { return strings.Compare(x.Path, y.Path) })
	if dup := duplicatePath(files); dup != "" {
		return nil, fmt.Errorf("two archive entries install to %s", dup)
	}
	return files, nil
}

func duplicatePath(files []manifest.File) string {
	for i := 1; i < len(files); i++ {
		if files[i].Path == files[i-1].Path {
			return files[i].Path
		}
	}
	return ""
}

// storeFile spools content to a temporary file (to read ELF headers without
// holding the file in memory), then puts it into the blob store.
func storeFile(tmpDir string, content io.Reader, store *pack.BlobStore, blobs map[manifest.Digest]manifest.Blob) (manifest.File, error) {
	tmp, err := os.CreateTemp(tmpDir, "f-")
	if err != nil {
		return manifest.File{}, err
	}
	defer func() { tmp.Close(); os.Remove(tmp.Name()) }()
	if _, err := io.Copy(tmp, content); err != nil {
		return manifest.File{}, err
	}
	glibc, err := pack.GlibcNeed(tmp)
	if err != nil {
		return manifest.File{}, err
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return manifest.File{}, err
	}
	digest, size, blob, err := store.PutFile(tmp)
	if err != nil {
		return manifest.File{}, err
	}
	blobs[blob.Digest] = blob
	return manifest.File{Digest: digest, Size: size, Blob: blob.Digest, Glibc: glibc}, nil
}

// matchRule finds the catalog rule selecting an archive entry and the
// entry's target path.
func matchRule(rules []profiles.FileRule, name string) (int, string, bool) {
	for i, r := range rules {
		if target, ok := r.Match(name); ok {
			return i, target, true
		}
	}
	return 0, "", false
}
