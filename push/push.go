package push

import (
	"context"
	"crypto/x509"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/satchel-dev/satchel/internal/version"
	"github.com/satchel-dev/satchel/manifest"
	"github.com/satchel-dev/satchel/pack"
	"github.com/satchel-dev/satchel/verify"
)

// Options configure Run.
type Options struct {
	// Auth, when set, authenticates every request (a user name and
	// password, say); otherwise the Docker config and its credential
	// helpers answer (authn.DefaultKeychain), anonymously when they have
	// nothing for the registry.
	Auth authn.Authenticator
	// Keychain replaces authn.DefaultKeychain when Auth is nil.
	Keychain authn.Keychain
	// RootCAs, when set, are the CAs that may sign the registry's
	// certificate; nil trusts the system's.
	RootCAs *x509.CertPool
	// PlainHTTP allows plain HTTP to the registry. Without it every
	// request must be HTTPS, loopback and private addresses included.
	PlainHTTP bool
	// Jobs bounds parallel blob uploads (default 4).
	Jobs int
	// DryRun verifies and maps, and contacts no registry.
	DryRun bool
	// Progress, if not nil, receives events (from several goroutines, one
	// at a time).
	Progress func(Event)
	// Transport is the HTTP transport under satchel's checks (tests);
	// default: a clone of remote.DefaultTransport with RootCAs.
	Transport http.RoundTripper
	// Retry overrides go-containerregistry's retry backoff (tests).
	Retry *remote.Backoff
}

// EventKind says what an Event reports.
type EventKind string

// Event kinds.
const (
	EventVerify         EventKind = "verify"          // Done of Total bytes of blobs checked
	EventBlobProgress   EventKind = "blob-progress"   // Done of Total bytes of Digest read for upload
	EventBlobPushed     EventKind = "blob-pushed"     // the registry committed Digest
	EventBlobExists     EventKind = "blob-exists"     // the registry already had Digest
	EventManifestPushed EventKind = "manifest-pushed" // a manifest PUT by Reference (digest or tag)
)

// Event is one progress report.
type Event struct {
	Kind       EventKind       `json:"kind"`
	Repository string          `json:"repository,omitempty"`
	Digest     manifest.Digest `json:"digest,omitempty"`
	Reference  string          `json:"reference,omitempty"`
	Done       int64           `json:"done,omitempty"`
	Total      int64           `json:"total,omitempty"`
}

// Result is what Run did.
type Result struct {
	File     string `json:"file"`
	Name     string `json:"name"`
	Version  string `json:"version"`
	Sequence uint64 `json:"sequence"`
	KeyID    string `json:"keyID"`
	// To is the destination; Rule says how references map to it.
	To   string `json:"to"`
	Rule string `json:"rule"`
	// Mirrors are the registry mirror settings nodes need
	// (satchel-install --registry-mirror), one per source registry.
	Mirrors []string      `json:"mirrors"`
	Images  []ImageResult `json:"images"`
	// Totals over every image (a blob two images share in one repository
	// counts once).
	BlobsPushed       int `json:"blobsPushed"`
	BlobsExisting     int `json:"blobsExisting"`
	ManifestsPushed   int `json:"manifestsPushed"`
	ManifestsExisting int `json:"manifestsExisting"`
	TagsPushed        int `json:"tagsPushed"`
	TagsExisting      int `json:"tagsExisting"`
	// BytesPushed is the size of the blobs and manifests uploaded;
	// BytesSent every request body byte that went out (retries included).
	BytesPushed int64   `json:"bytesPushed"`
	BytesSent   int64   `json:"bytesSent"`
	DryRun      bool    `json:"dryRun,omitempty"`
	Seconds     float64 `json:"seconds"`
}

// ImageResult is one image's part of a Result.
type ImageResult struct {
	Mapping
	// Blobs and Manifests count what the image consists of; the rest what
	// this run did with them.
	Blobs             int   `json:"blobs"`
	Manifests         int   `json:"manifests"`
	BlobsPushed       int   `json:"blobsPushed"`
	BlobsExisting     int   `json:"blobsExisting"`
	ManifestsPushed   int   `json:"manifestsPushed"`
	ManifestsExisting int   `json:"manifestsExisting"`
	BytesPushed       int64 `json:"bytesPushed"`
	// Tagged is set when the tag points at Digest in the registry (pushed
	// now or already there).
	Tagged bool `json:"tagged"`
}

// Rule describes the mapping for people (and --json).
func Rule(d Destination) string {
	return "REGISTRY/REPOSITORY[:TAG|@DIGEST] -> " + d.String() + "/REPOSITORY[:TAG|@DIGEST] (the source registry's host dropped, Docker Hub's library/ kept)"
}

// Run verifies the bundle with keys (pack.VerifyBundle, deep: signature,
// index, layout, every blob and file digest), maps its images to d, and
// pushes them: every image by digest first, then the tags, so that no tag
// names an image the registry does not hold completely. Nothing is sent
// when verification fails (a manifest.VerificationError, exit code 3) or
// an image cannot be mapped. A failed push returns the partial Result with
// the error; its images are not tagged.
func Run(ctx context.Context, b *pack.Bundle, keys []*verify.Verifier, d Destination, o Options) (*Result, error) {
	start := time.Now()
	emit := func(e Event) {}
	if o.Progress != nil {
		var mu sync.Mutex
		emit = func(e Event) { mu.Lock(); defer mu.Unlock(); o.Progress(e) }
	}
	ix, key, err := pack.VerifyBundle(b, keys, pack.VerifyOptions{Deep: true, Progress: func(done, total int64) {
		emit(Event{Kind: EventVerify, Done: done, Total: total})
	}})
	if err != nil {
		return nil, err
	}
	maps, err := Map(ix, d, o.PlainHTTP)
	if err != nil {
		return nil, err
	}
	res := &Result{Name: ix.Name, Version: ix.Version, Sequence: ix.Sequence, KeyID: key.KeyID,
		To: d.String(), Rule: Rule(d), Mirrors: Mirrors(maps, d, o.PlainHTTP), DryRun: o.DryRun}
	for _, m := range maps {
		res.Images = append(res.Images, ImageResult{Mapping: m})
	}
	defer func() { res.Seconds = time.Since(start).Seconds() }()
	if o.DryRun || len(maps) == 0 {
		return res, nil
	}

	base := o.Transport
	if base == nil {
		t := remote.DefaultTransport.(*http.Transport).Clone()
		if o.RootCAs != nil {
			t.TLSClientConfig.RootCAs = o.RootCAs
		}
		base = t
	}
	w := newWire(base, o.PlainHTTP, emit)
	ropts := []remote.Option{
		remote.WithContext(ctx),
		remote.WithTransport(w),
		remote.WithUserAgent("satchel-bundle/" + version.Version),
	}
	if o.Jobs > 0 {
		ropts = append(ropts, remote.WithJobs(o.Jobs))
	}
	if o.Retry != nil {
		ropts = append(ropts, remote.WithRetryBackoff(*o.Retry))
	}
	switch {
	case o.Auth != nil:
		ropts = append(ropts, remote.WithAuth(o.Auth))
	case o.Keychain != nil:
		ropts = append(ropts, remote.WithAuthFromKeychain(o.Keychain))
	default:
		ropts = append(ropts, remote.WithAuthFromKeychain(authn.DefaultKeychain))
	}
	pusher, err := remote.NewPusher(ropts...)
	if err != nil {
		return res, err
	}
	progress := func(repo string, dg manifest.Digest, size int64, r io.Reader) io.Reader {
		return &progressReader{r: r, ev: Event{Kind: EventBlobProgress, Repository: repo, Digest: dg, Total: size}, emit: emit}
	}

	// Every image by digest: index, manifests, blobs.
	parts := make([]imageParts, len(maps))
	for i, m := range maps {
		blobs := newImageBlobs(ix, m.img, b, m.repo.String(), progress)
		t, err := blobs.taggable()
		if err == nil {
			parts[i].manifests, err = blobs.manifests()
		}
		if err != nil {
			w.fill(res, maps, parts, ix)
			return res, err
		}
		parts[i].root = t
	}
	for i, m := range maps {
		if err := pusher.Push(ctx, m.repo.Digest(string(m.Digest)), parts[i].root); err != nil {
			w.fill(res, maps, parts, ix)
			return res, classify(err, d)
		}
		parts[i].complete = true
	}
	// Then the tags: each names an image the registry holds completely.
	for i, m := range maps {
		if m.Tag == "" {
			continue
		}
		if err := pusher.Push(ctx, m.repo.Tag(m.Tag), parts[i].root); err != nil {
			w.fill(res, maps, parts, ix)
			return res, classify(err, d)
		}
		res.Images[i].Tagged = true
	}
	w.fill(res, maps, parts, ix)
	return res, nil
}

// imageParts is what Run knows of one image while pushing it.
type imageParts struct {
	root      remote.Taggable
	manifests map[manifest.Digest]bool // the index and manifests among the image's blobs
	complete  bool                     // pushed by digest: the registry holds all of it
}

// fill counts what the wire saw, per image and in total. An image pushed
// completely counts every part it did not upload as existing (the registry
// skips a whole manifest's blobs when it has the manifest).
func (w *wire) fill(res *Result, maps []Mapping, parts []imageParts, ix *manifest.Index) {
	w.mu.Lock()
	defer w.mu.Unlock()
	res.BytesSent = w.sent.Load()
	res.BlobsPushed, res.BlobsExisting, res.ManifestsPushed, res.ManifestsExisting, res.TagsPushed, res.TagsExisting, res.BytesPushed = 0, 0, 0, 0, 0, 0, 0
	counted := map[repoKey]bool{}
	for i, m := range maps {
		ir := &res.Images[i]
		ir.Blobs, ir.Manifests, ir.BlobsPushed, ir.BlobsExisting, ir.ManifestsPushed, ir.ManifestsExisting, ir.BytesPushed = 0, 0, 0, 0, 0, 0, 0
		repo := m.repo.RegistryStr() + "/" + m.repo.RepositoryStr()
		for _, dg := range uniq(append([]manifest.Digest{m.img.Digest}, m.img.Blobs...)) {
			k := repoKey{repo, string(dg)}
			size := blobSize(ix, dg)
			isManifest := dg == m.img.Digest || parts[i].manifests[dg]
			var pushed, existed bool
			if isManifest {
				ir.Manifests++
				pushed = w.manifestPushed[k]
				existed = !pushed && (parts[i].complete || w.manifestHeld[k] == dg)
				ir.ManifestsPushed += b2i(pushed)
				ir.ManifestsExisting += b2i(existed)
			} else {
				ir.Blobs++
				pushed = w.blobPushed[k]
				existed = !pushed && (parts[i].complete || w.blobExisted[k])
				ir.BlobsPushed += b2i(pushed)
				ir.BlobsExisting += b2i(existed)
			}
			if pushed {
				ir.BytesPushed += size
			}
			if counted[k] {
				continue
			}
			counted[k] = true
			if pushed {
				res.BytesPushed += size
			}
			if isManifest {
				res.ManifestsPushed += b2i(pushed)
				res.ManifestsExisting += b2i(existed)
			} else {
				res.BlobsPushed += b2i(pushed)
				res.BlobsExisting += b2i(existed)
			}
		}
		if m.Tag != "" {
			k := repoKey{repo, m.Tag}
			switch {
			case w.manifestPushed[k]:
				res.TagsPushed++
				res.BytesPushed += blobSize(ix, m.Digest)
			case ir.Tagged:
				res.TagsExisting++
			}
		}
	}
}

func blobSize(ix *manifest.Index, d manifest.Digest) int64 {
	b, _ := ix.Blob(d)
	return b.Size
}

func uniq(ds []manifest.Digest) []manifest.Digest {
	seen := map[manifest.Digest]bool{}
	var out []manifest.Digest
	for _, d := range ds {
		if !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	return out
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// progressReader reports the bytes of one blob read for upload.
type progressReader struct {
	r    io.Reader
	ev   Event
	emit func(Event)
	last time.Time
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.ev.Done += int64(n)
	if now := time.Now(); err != nil || now.Sub(p.last) > 100*time.Millisecond || p.ev.Done == p.ev.Total {
		p.last = now
		p.emit(p.ev)
	}
	return n, err
}
