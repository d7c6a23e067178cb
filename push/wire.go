package push

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/satchel-dev/satchel/manifest"
)

// wire is the innermost transport: every HTTP request of a push passes
// through it, redirects and retries included. It refuses plain HTTP unless
// allowed, counts the request body bytes that go out, and records what the
// registry answered about blobs and manifests (registry API paths, OCI
// distribution spec), so the report says what was pushed and what was there.
type wire struct {
	base      http.RoundTripper
	plainHTTP bool
	events    func(Event)

	sent atomic.Int64

	mu             sync.Mutex
	blobPushed     map[repoKey]bool
	blobExisted    map[repoKey]bool
	manifestPushed map[repoKey]bool
	manifestHeld   map[repoKey]manifest.Digest // HEAD answers: ref -> digest the registry has
}

// repoKey is a repository and a digest or tag in it.
type repoKey struct{ repo, ref string }

func newWire(base http.RoundTripper, plainHTTP bool, events func(Event)) *wire {
	return &wire{base: base, plainHTTP: plainHTTP, events: events,
		blobPushed: map[repoKey]bool{}, blobExisted: map[repoKey]bool{},
		manifestPushed: map[repoKey]bool{}, manifestHeld: map[repoKey]manifest.Digest{}}
}

// PlainHTTPError is a request that would have gone out over plain HTTP
// without Options.PlainHTTP (go-containerregistry tries HTTP for loopback
// and private addresses on its own).
type PlainHTTPError struct{ Host string }

func (e *PlainHTTPError) Error() string {
	return fmt.Sprintf("refusing plain HTTP to %s: credentials and images would travel unencrypted", e.Host)
}

func (w *wire) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme != "https" && !w.plainHTTP {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, &PlainHTTPError{Host: req.URL.Host}
	}
	if req.Body != nil && req.Body != http.NoBody {
		r2 := req.Clone(req.Context())
		r2.Body = &countingBody{ReadCloser: req.Body, n: &w.sent}
		req = r2
	}
	resp, err := w.base.RoundTrip(req)
	if err == nil {
		w.record(req, resp)
	}
	return resp, err
}

type countingBody struct {
	io.ReadCloser
	n *atomic.Int64
}

func (c *countingBody) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// apiPath splits /v2/<repo>/<kind>/<rest> (kind: blobs or manifests).
func apiPath(u *url.URL) (repo, kind, rest string, ok bool) {
	p, found := strings.CutPrefix(u.Path, "/v2/")
	if !found {
		return "", "", "", false
	}
	for _, k := range []string{"/blobs/", "/manifests/"} {
		if i := strings.LastIndex(p, k); i > 0 {
			return p[:i], strings.Trim(k, "/"), p[i+len(k):], true
		}
	}
	return "", "", "", false
}

func (w *wire) record(req *http.Request, resp *http.Response) {
	repo, kind, rest, ok := apiPath(req.URL)
	if !ok {
		return
	}
	repo = req.URL.Host + "/" + repo
	code := resp.StatusCode
	var ev *Event
	w.mu.Lock()
	switch {
	case kind == "blobs" && req.Method == http.MethodHead && code == http.StatusOK:
		k := repoKey{repo, rest}
		if !w.blobExisted[k] {
			w.blobExisted[k] = true
			ev = &Event{Kind: EventBlobExists, Repository: repo, Digest: manifest.Digest(rest)}
		}
	case kind == "blobs" && strings.HasPrefix(rest, "uploads/") && code == http.StatusCreated:
		// The upload's last request names the digest (PUT ...?digest=, or a
		// POST with mount=, which copies a blob the registry has elsewhere).
		q := req.URL.Query()
		d := q.Get("digest")
		if d == "" {
			d = q.Get("mount")
		}
		if d != "" {
			k := repoKey{repo, d}
			if req.Method == http.MethodPost {
				w.blobExisted[k] = true
			} else {
				w.blobPushed[k] = true
				ev = &Event{Kind: EventBlobPushed, Repository: repo, Digest: manifest.Digest(d)}
			}
		}
	case kind == "manifests" && req.Method == http.MethodHead && code == http.StatusOK:
		w.manifestHeld[repoKey{repo, rest}] = manifest.Digest(resp.Header.Get("Docker-Content-Digest"))
	case kind == "manifests" && req.Method == http.MethodPut && code == http.StatusCreated:
		w.manifestPushed[repoKey{repo, rest}] = true
		ev = &Event{Kind: EventManifestPushed, Repository: repo, Reference: rest}
	}
	w.mu.Unlock()
	if ev != nil && w.events != nil {
		w.events(*ev)
	}
}
