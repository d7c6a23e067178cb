package bundler

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"slices"
	"strings"
	"sync"

	"github.com/satchel-dev/satchel/component"
	"github.com/satchel-dev/satchel/fetch"
	"github.com/satchel-dev/satchel/manifest"
	"github.com/satchel-dev/satchel/pack"
	"github.com/satchel-dev/satchel/profiles"
)

// The build's CPU work runs in a pipeline: up to N upstream archives are
// decompressed at once (the largest waiting first), each by its own
// goroutine (an archive stream is sequential), which spools every selected
// file to disk and hands it to a pool of N workers that read its ELF needs,
// hash it and compress it into the blob store; a plain-binary artifact goes
// to the workers as it is. N is Options.Parallelism. Memory is bounded by N decoders, N
// encoders and a queue of N spooled files on disk, whatever the sizes;
// nothing is held in memory whole. Results are written into slots fixed by
// the spec's order, so the index, and with it the bundle, is the same bytes
// for any N and any order in which the work finishes.

// errStopped is what a job returns when it stops because another failed.
var errStopped = errors.New("stopped: another part of the build failed")

// pipeline is the shared state of one build's unpacking and packing.
type pipeline struct {
	ctx    context.Context
	cancel context.CancelCauseFunc
	store  *pack.BlobStore
	spool  string        // directory for spooled file contents
	slots  *slots        // archives decompressed at once
	files  chan *fileJob // spooled files waiting for a worker
	wg     sync.WaitGroup

	mu    sync.Mutex
	blobs map[manifest.Digest]manifest.Blob
}

// fileJob is one spooled file; a worker fills file (Digest, Size, Blob, Glibc).
type fileJob struct {
	spool string
	keep  bool // spool is the cached artifact itself (a plain binary), not a copy
	file  manifest.File
	err   error
	done  *sync.WaitGroup
}

// newPipeline starts n workers. close stops them and removes the spool.
func newPipeline(ctx context.Context, store *pack.BlobStore, spoolParent string, n int) (*pipeline, error) {
	if n < 1 {
		n = 1
	}
	if err := os.MkdirAll(spoolParent, 0o755); err != nil {
		return nil, err
	}
	spool, err := os.MkdirTemp(spoolParent, "unpack-")
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancelCause(ctx)
	p := &pipeline{ctx: ctx, cancel: cancel, store: store, spool: spool,
		slots: newSlots(n), files: make(chan *fileJob, n), blobs: map[manifest.Digest]manifest.Blob{}}
	for range n {
		p.wg.Add(1)
		go p.work()
	}
	return p, nil
}

// close waits for the workers, removes the spool and releases the context.
func (p *pipeline) close() {
	close(p.files)
	p.wg.Wait()
	os.RemoveAll(p.spool)
	p.cancel(errStopped)
}

// stop makes every other job stop: something failed. The failing job
// reports its own error; the others report errStopped.
func (p *pipeline) stop() { p.cancel(errStopped) }

// consequence turns the error of a job that talks to the outside (fetch,
// pull) into errStopped when the pipeline was already stopped, since the
// job then failed because it was cancelled; otherwise it stops the others.
func (p *pipeline) consequence(err error) error {
	if err == nil || errors.Is(err, errStopped) {
		return err
	}
	if p.ctx.Err() != nil {
		return errStopped
	}
	p.stop()
	return err
}

// stopped returns errStopped once the pipeline is cancelled.
func (p *pipeline) stopped() error {
	if p.ctx.Err() != nil {
		return errStopped
	}
	return nil
}

func (p *pipeline) addBlob(b manifest.Blob) {
	p.mu.Lock()
	p.blobs[b.Digest] = b
	p.mu.Unlock()
}

func (p *pipeline) work() {
	defer p.wg.Done()
	for j := range p.files {
		if err := p.stopped(); err != nil {
			j.err = err
		} else {
			j.file, j.err = p.storeSpooled(j.spool)
			if j.err != nil {
				p.stop()
			}
		}
		if !j.keep {
			os.Remove(j.spool)
		}
		j.done.Done()
	}
}

// storeSpooled reads a spooled file's ELF needs (which needs random access:
// the reason for spooling) and puts it into the blob store.
func (p *pipeline) storeSpooled(name string) (manifest.File, error) {
	f, err := os.Open(name)
	if err != nil {
		return manifest.File{}, err
	}
	defer f.Close()
	glibc, err := pack.GlibcNeed(f)
	if err != nil {
		return manifest.File{}, err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return manifest.File{}, err
	}
	digest, size, blob, err := p.store.PutFile(f)
	if err != nil {
		return manifest.File{}, err
	}
	p.addBlob(blob)
	return manifest.File{Digest: digest, Size: size, Blob: blob.Digest, Glibc: glibc}, nil
}

// spoolBufs are the copy buffers of the spooling goroutines.
var spoolBufs = sync.Pool{New: func() any { b := make([]byte, 256<<10); return &b }}

// submit spools content to disk and queues it for a worker.
func (p *pipeline) submit(content io.Reader, done *sync.WaitGroup) (*fileJob, error) {
	tmp, err := os.CreateTemp(p.spool, "f-")
	if err != nil {
		return nil, err
	}
	buf := spoolBufs.Get().(*[]byte)
	_, err = io.CopyBuffer(struct{ io.Writer }{tmp}, content, *buf) // no ReadFrom: use the big buffer
	spoolBufs.Put(buf)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp.Name())
		return nil, err
	}
	return p.queue(&fileJob{spool: tmp.Name(), done: done})
}

// queue hands a job to the workers.
func (p *pipeline) queue(j *fileJob) (*fileJob, error) {
	j.done.Add(1)
	select {
	case p.files <- j:
		return j, nil
	case <-p.ctx.Done():
		j.done.Done()
		if !j.keep {
			os.Remove(j.spool)
		}
		return nil, errStopped
	}
}

// unpackArtifact stores every file the catalog's rules select from one
// upstream artifact and returns the index entries for them, sorted by path
// (archive order among equal paths, which are refused). It takes one of the
// pipeline's archive slots while it decompresses.
func (p *pipeline) unpackArtifact(archivePath string, a profiles.ResolvedArtifact) ([]manifest.File, error) {
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
	if kind != component.ArchiveBinary { // a plain binary is not decompressed: no slot
		st, err := in.Stat()
		if err != nil {
			return nil, err
		}
		if err := p.slots.acquire(p.ctx, st.Size()); err != nil {
			return nil, errStopped
		}
		defer p.slots.release()
	}

	type pending struct {
		index int // into files
		job   *fileJob
	}
	type link struct{ index, target int }
	var (
		files   []manifest.File
		jobs    []pending
		links   []link
		done    sync.WaitGroup
		matched = make([]bool, len(a.Files))
		stored  = map[string]int{} // archive name → index of its stored file, for hard links
	)
	// Whatever happens, the spooled files of this artifact are finished with
	// before it returns.
	defer done.Wait()
	walk := func(e pack.ArchiveEntry, content io.Reader) error {
		if err := p.stopped(); err != nil {
			return err
		}
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
			ti, ok := stored[e.Linkname]
			if !ok {
				return manifest.Hintf("the catalog's file rules must select the link's target too",
					"%s: hard link to %s, which is not installed", e.Name, e.Linkname)
			}
			f := files[ti]
			f.Path, f.Source = target, e.Name
			if rule.Mode != 0 {
				mode, err := manifest.NormalizeMode(rule.Mode)
				if err != nil {
					return fmt.Errorf("%s: %w", e.Name, err)
				}
				f.Mode = mode
			}
			links = append(links, link{len(files), ti})
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
		// Upstream modes are normalized (no group/other write, no sticky
		// bit); a setuid or setgid file is refused (manifest.NormalizeMode).
		mode, err := manifest.NormalizeMode(mode)
		if err != nil {
			return fmt.Errorf("%s: %w", e.Name, err)
		}
		var j *fileJob
		if kind == component.ArchiveBinary {
			// The cached artifact is the file: the workers read it in place.
			j, err = p.queue(&fileJob{spool: archivePath, keep: true, done: &done})
		} else {
			j, err = p.submit(content, &done)
		}
		if err != nil {
			if errors.Is(err, errStopped) {
				return err
			}
			return fmt.Errorf("%s: %w", e.Name, err)
		}
		jobs = append(jobs, pending{len(files), j})
		stored[e.Name] = len(files)
		files = append(files, manifest.File{Path: target, Mode: mode, Source: e.Name})
		return nil
	}
	if kind == component.ArchiveBinary {
		err = pack.WalkBinary(in, path.Base(a.URL), walk)
	} else {
		err = pack.WalkArchive(in, kind, walk)
	}
	if err != nil && !errors.Is(err, errStopped) {
		p.stop() // the others stop now rather than after done.Wait
	}
	done.Wait()
	for _, pj := range jobs { // a worker's failure is the reason the walk stopped
		if pj.job.err != nil && !errors.Is(pj.job.err, errStopped) {
			return nil, fmt.Errorf("%s: %w", files[pj.index].Source, pj.job.err)
		}
	}
	if err != nil {
		return nil, err
	}
	if err := p.stopped(); err != nil {
		return nil, err
	}
	for _, pj := range jobs {
		f := &files[pj.index]
		f.Digest, f.Size, f.Blob, f.Glibc = pj.job.file.Digest, pj.job.file.Size, pj.job.file.Blob, pj.job.file.Glibc
	}
	for _, l := range links {
		t, f := files[l.target], &files[l.index]
		f.Digest, f.Size, f.Blob, f.Glibc = t.Digest, t.Size, t.Blob, t.Glibc
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

// firstError picks the error a failed build reports: the first in the
// order given (the spec's) that is not a job stopping because of another;
// else why the build's context ended.
func (p *pipeline) firstError(errs ...error) error {
	stopped := false
	for _, err := range errs {
		if err != nil && !errors.Is(err, errStopped) {
			return err
		}
		stopped = stopped || err != nil
	}
	if cause := context.Cause(p.ctx); cause != nil && !errors.Is(cause, errStopped) {
		return cause
	}
	if stopped {
		return errStopped
	}
	return nil
}

// artifactJob is one pinned upstream artifact of the build.
type artifactJob struct {
	ci int // index of c in the resolved components
	c  profiles.ResolvedComponent
	a  profiles.ResolvedArtifact
	d  manifest.Digest
	s  string // where the digest came from
	n  int64  // its size as the lock recorded it (0: unknown)
}

// builtComponent is a component of the index with what generating its bash
// completions reported.
type builtComponent struct {
	manifest.Component
	warnings []string
	notes    []manifest.Note
}

// components fetches and unpacks every job and returns the index's
// components, one per resolved component (without artifacts when it has no
// job), artifacts in the jobs' order. Downloads overlap with packing: an
// artifact is unpacked as soon as the fetcher reports it verified in the
// cache (or found it there), while the others still download; a
// component's bash completions are generated as soon as its last artifact
// is unpacked, while the others still unpack.
func (p *pipeline) components(o Options, resolved []profiles.ResolvedComponent, jobs []artifactJob) ([]builtComponent, error) {
	ready := make(map[manifest.Digest]chan struct{}, len(jobs))
	reqs := make([]fetch.Request, len(jobs))
	for i, j := range jobs {
		reqs[i] = fetch.Request{URL: j.a.URL, Digest: j.d, Size: j.n}
		if ready[j.d] == nil {
			ready[j.d] = make(chan struct{})
		}
	}
	waitFor := make([]chan struct{}, len(jobs))
	for i, j := range jobs {
		waitFor[i] = ready[j.d]
	}
	var readyMu sync.Mutex
	markReady := func(d manifest.Digest) {
		readyMu.Lock()
		defer readyMu.Unlock()
		if ch, ok := ready[d]; ok {
			close(ch)
			delete(ready, d)
		}
	}
	f, err := o.fetcher(func(e fetch.Event) {
		if e.Kind == fetch.EventDone || e.Kind == fetch.EventCached {
			markReady(e.Digest)
		}
	})
	if err != nil {
		return nil, err
	}
	fetchErr := make(chan error, 1)
	go func() {
		_, err := f.Fetch(p.ctx, reqs)
		err = p.consequence(err)
		for _, r := range reqs { // every one is in the cache now, reported or not
			markReady(r.Digest)
		}
		fetchErr <- err
	}()

	artifacts := make([]manifest.Artifact, len(jobs))
	errs := make([]error, len(jobs))
	comps := make([]builtComponent, len(resolved))
	compErrs := make([]error, len(resolved))
	left := make([]int, len(resolved)) // jobs of each component not yet unpacked
	for _, j := range jobs {
		left[j.ci]++
	}
	var leftMu sync.Mutex
	var wg sync.WaitGroup
	// finish assembles a component once all its artifacts are unpacked and
	// generates its completions.
	finish := func(ci int) {
		c := resolved[ci]
		comp := manifest.Component{Name: c.Name, Version: c.Version, Variant: c.Variant}
		for i, j := range jobs {
			if j.ci == ci {
				comp.Artifacts = append(comp.Artifacts, artifacts[i])
			}
		}
		warnings, notes, err := addCompletions(p.ctx, &comp, p.store, p.addBlob)
		switch {
		case err != nil && p.ctx.Err() != nil:
			compErrs[ci] = errStopped
		case err != nil:
			compErrs[ci] = fmt.Errorf("bash completion of %s %s: %w", c.Name, c.Version, err)
			p.stop()
		}
		comps[ci] = builtComponent{Component: comp, warnings: warnings, notes: notes}
	}
	for ci, c := range resolved {
		if left[ci] == 0 {
			comps[ci] = builtComponent{Component: manifest.Component{Name: c.Name, Version: c.Version, Variant: c.Variant}}
		}
	}
	for i, j := range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case <-waitFor[i]:
			case <-p.ctx.Done():
				errs[i] = errStopped
				return
			}
			files, err := p.unpackArtifact(f.CachePath(j.d), j.a)
			if err != nil {
				if !errors.Is(err, errStopped) {
					err = fmt.Errorf("unpacking %s %s (%s) from %s: %w", j.c.Name, j.c.Version, j.a.Platform, j.a.URL, err)
					p.stop()
				}
				errs[i] = err
				return
			}
			artifacts[i] = manifest.Artifact{Platform: j.a.Platform, Version: j.a.Version, URL: j.a.URL, Digest: j.d, DigestSource: j.s, Files: files}
			leftMu.Lock()
			left[j.ci]--
			last := left[j.ci] == 0
			leftMu.Unlock()
			if last {
				finish(j.ci)
			}
		}()
	}
	wg.Wait()
	return comps, p.firstError(append(append(errs, compErrs...), <-fetchErr)...)
}

// images pulls the images (by their pinned digests) into the OCI layout
// and copies their blobs into the store as they are, one image after the
// other, returning the index entries in the spec's order (nil for none,
// which the index writes as null).
func (p *pipeline) images(specs []manifest.ImageSpec, pins []manifest.Digest, opts fetch.ImageOptions, layoutDir string) ([]manifest.Image, error) {
	if len(specs) == 0 {
		return nil, nil
	}
	images := make([]manifest.Image, len(specs))
	for i, im := range specs {
		if err := p.stopped(); err != nil {
			return nil, err
		}
		got, err := fetch.PullImage(p.ctx, im.Ref, pins[i], opts, layoutDir)
		if err != nil {
			if err = p.consequence(err); errors.Is(err, errStopped) {
				return nil, err
			}
			return nil, fmt.Errorf("pulling %s: %w", im.Ref, err)
		}
		got.Role = im.Role
		for _, bd := range got.Blobs {
			b, err := putLayoutBlob(p.store, layoutDir, bd)
			if err != nil {
				p.stop()
				return nil, fmt.Errorf("storing %s blob %s: %w", im.Ref, bd, err)
			}
			p.addBlob(b)
		}
		images[i] = *got
	}
	return images, nil
}

// slots bounds how many archives are decompressed at once. When one frees,
// the largest archive waiting gets it: an archive's decompression is one
// sequential stream, so the longest ones start first and the short ones fill
// in around them, instead of the largest ending the build alone on one core.
type slots struct {
	mu      sync.Mutex
	free    int
	waiting []*slotWaiter
}

type slotWaiter struct {
	size    int64
	granted chan struct{}
}

func newSlots(n int) *slots { return &slots{free: n} }

// acquire waits for a slot for an archive of size bytes.
func (s *slots) acquire(ctx context.Context, size int64) error {
	s.mu.Lock()
	if s.free > 0 && len(s.waiting) == 0 {
		s.free--
		s.mu.Unlock()
		return nil
	}
	w := &slotWaiter{size: size, granted: make(chan struct{})}
	// Largest first; among equal sizes, first come first served.
	i, _ := slices.BinarySearchFunc(s.waiting, size, func(x *slotWaiter, size int64) int {
		if x.size >= size {
			return -1
		}
		return 1
	})
	s.waiting = slices.Insert(s.waiting, i, w)
	s.mu.Unlock()
	select {
	case <-w.granted:
		return nil
	case <-ctx.Done():
		s.mu.Lock()
		defer s.mu.Unlock()
		if i := slices.Index(s.waiting, w); i >= 0 {
			s.waiting = slices.Delete(s.waiting, i, i+1)
			return ctx.Err()
		}
		// Granted meanwhile: hand it on.
		s.releaseLocked()
		return ctx.Err()
	}
}

func (s *slots) release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.releaseLocked()
}

func (s *slots) releaseLocked() {
	if len(s.waiting) > 0 {
		w := s.waiting[0]
		s.waiting = s.waiting[1:]
		close(w.granted)
		return
	}
	s.free++
}
