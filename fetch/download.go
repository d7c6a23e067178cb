package fetch

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/satchel-dev/satchel/internal/human"
	"github.com/satchel-dev/satchel/manifest"
)

// transfer is one download in progress, across its attempts.
type transfer struct {
	url    string // as requested
	target string // after mirror rewriting
	mirror *Mirror
	want   manifest.Digest // "" when trusting on first use
	size   int64           // expected length; 0 when unknown
	alg    string
	part   string
	// validator is the ETag or Last-Modified of the first response. A
	// download with no expected digest resumes only with it (If-Range),
	// so that it never stitches together two versions of a file.
	validator string
	restarted bool
}

// fetchOne makes one artifact present in the cache.
func (f *Fetcher) fetchOne(ctx context.Context, r Request) (string, error) {
	final := f.CachePath(r.Digest)
	if size, ok := f.cached(final, r.Digest); ok {
		if err := checkCachedSize(r, size); err != nil {
			return "", err
		}
		f.emit(Event{Kind: EventCached, URL: r.URL, Digest: r.Digest, Done: size, Total: size})
		return final, nil
	}
	if err := os.MkdirAll(f.tmpDir(), 0o755); err != nil {
		return "", fmt.Errorf("fetching %s: %w", r.URL, err)
	}
	unlock, err := f.lockDigest(ctx, r.Digest)
	if err != nil {
		return "", fmt.Errorf("fetching %s: %w", r.URL, err)
	}
	defer unlock()
	// Someone may have finished it while we waited for the lock.
	if size, ok := f.cached(final, r.Digest); ok {
		if err := checkCachedSize(r, size); err != nil {
			return "", err
		}
		f.emit(Event{Kind: EventCached, URL: r.URL, Digest: r.Digest, Done: size, Total: size})
		return final, nil
	}
	target, m := rewriteURL(f.mirrors, r.URL)
	if m != nil {
		f.log.Debug("mirror", "url", r.URL, "rewritten", target)
	}
	t := &transfer{url: r.URL, target: target, mirror: m, want: r.Digest, size: r.Size, alg: r.Digest.Algorithm(), part: f.partPath(r.Digest)}
	_, size, err := f.download(ctx, t)
	if err != nil {
		return "", err
	}
	if err := f.commit(t.part, final); err != nil {
		return "", fmt.Errorf("fetching %s: %w", r.URL, err)
	}
	f.emit(Event{Kind: EventDone, URL: r.URL, Digest: r.Digest, Done: size, Total: size})
	return final, nil
}

// cached reports whether the cache holds d at path. An entry whose bytes no
// longer match (disk damage, a hand edit) is removed so it is fetched again.
func (f *Fetcher) cached(path string, d manifest.Digest) (int64, bool) {
	file, err := os.Open(path)
	if err != nil {
		return 0, false
	}
	defer file.Close()
	h := d.NewHash()
	n, err := io.Copy(h, file)
	if err == nil && manifest.FromHash(d.Algorithm(), h) == d {
		return n, true
	}
	f.log.Warn("cache entry does not match its digest; fetching it again", "path", path, "err", err)
	file.Close()
	os.Remove(path)
	return 0, false
}

// checkCachedSize compares a cached artifact, whose digest matched, with the
// size the request expects: a difference means the size was recorded wrong.
func checkCachedSize(r Request, size int64) error {
	if r.Size == 0 || r.Size == size {
		return nil
	}
	return manifest.VerificationError(manifest.HintError(
		fmt.Errorf("fetching %s: the artifact with digest %s is %d bytes, but %d bytes were expected", r.URL, r.Digest, size, r.Size),
		"the size recorded in the lock is wrong (edited by hand?); lock again and review the change"))
}

// commit moves a verified download into the cache.
func (f *Fetcher) commit(part, final string) error {
	if err := os.MkdirAll(filepath.Dir(final), 0o755); err != nil {
		return err
	}
	return os.Rename(part, final)
}

func (f *Fetcher) lockDigest(ctx context.Context, d manifest.Digest) (func(), error) {
	unlock := f.locks.lock(string(d))
	unlockFile, err := lockFile(ctx, filepath.Join(f.tmpDir(), d.Algorithm()+"-"+d.Hex()+".lock"), f.log)
	if err != nil {
		unlock()
		return nil, err
	}
	return func() { unlockFile(); unlock() }, nil
}

// download runs attempts until one succeeds, fails for good, or the retries
// are spent. On success the part file holds the verified bytes.
func (f *Fetcher) download(ctx context.Context, t *transfer) (manifest.Digest, int64, error) {
	for attempt := 0; ; attempt++ {
		got, n, err := f.attempt(ctx, t)
		if err == nil {
			return got, n, nil
		}
		var rs *restartError
		if errors.As(err, &rs) && !t.restarted {
			// Once per download: start again from byte 0 without counting
			// a retry, since nothing failed on the wire.
			f.log.Info("starting download over", "url", t.url, "reason", rs.reason)
			t.restarted = true
			os.Remove(t.part)
			attempt--
			continue
		}
		if errors.As(err, &rs) || !retryable(err) || attempt >= f.retries {
			if ctx.Err() == nil {
				// Given up for good: nothing half-written stays behind. An
				// interrupted run (Ctrl-C) keeps its part file to resume.
				os.Remove(t.part)
			}
			return "", 0, f.fail(t, err, attempt+1)
		}
		delay := f.delay(attempt, err)
		f.log.Warn("download failed; retrying", "url", t.url, "err", err, "in", delay)
		f.emit(Event{Kind: EventRetry, URL: t.url, Digest: t.want, Total: -1, Err: err})
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return "", 0, fmt.Errorf("fetching %s: %w", via(t.url, t.target, t.mirror), context.Cause(ctx))
		}
	}
}

// delay is exponential backoff with jitter, or the server's Retry-After.
func (f *Fetcher) delay(attempt int, err error) time.Duration {
	d := f.backoff << min(attempt, 20)
	if d > f.maxBackoff || d <= 0 {
		d = f.maxBackoff
	}
	d = d/2 + rand.N(d/2+1)
	var se *statusError
	if errors.As(err, &se) && se.retryAfter > 0 {
		d = min(se.retryAfter, f.maxBackoff)
	}
	return d
}

// fail turns the last error of a transfer into what the user reads.
func (f *Fetcher) fail(t *transfer, err error, attempts int) error {
	where := via(t.url, t.target, t.mirror)
	var se *statusError
	var me *mismatchError
	var ze *sizeError
	var st *stallError
	switch {
	case errors.As(err, &ze):
		err = fmt.Errorf("fetching %s: %w", where, err)
		if ze.locked {
			who := "the server now serves other bytes than when the lock was made"
			if t.mirror != nil {
				who = fmt.Sprintf("the mirror (%s) serves other bytes than upstream did when the lock was made", t.mirror)
			}
			return manifest.VerificationError(manifest.HintError(err,
				who+"; compare with upstream's release before locking again"))
		}
		return manifest.HintError(err, ze.hint)
	case errors.As(err, &me):
		who := "the server now serves other bytes than when it was pinned"
		if t.mirror != nil {
			who = fmt.Sprintf("the mirror (%s) serves other bytes than upstream", t.mirror)
		}
		return manifest.VerificationError(manifest.HintError(
			fmt.Errorf("fetching %s: digest mismatch: expected %s, got %s", where, me.want, me.got),
			"the pinned digest is wrong, or "+who+"; compare with upstream's checksum file before re-pinning"))
	case errors.As(err, &se) && (se.code == http.StatusNotFound || se.code == http.StatusGone):
		return manifest.HintError(fmt.Errorf("fetching %s: %w", where, err),
			"check that this version and platform exist upstream at that URL; "+mirrorHint(t.mirror))
	case errors.As(err, &se) && (se.code == http.StatusForbidden || se.code == http.StatusUnauthorized):
		return manifest.HintError(fmt.Errorf("fetching %s: %w", where, err),
			"the server refused access (object stores also answer 403 for a missing file); check the URL; "+mirrorHint(t.mirror))
	case errors.As(err, &st):
		return manifest.HintError(fmt.Errorf("fetching %s: %w (after %d attempts)", where, err, attempts),
			"the server answers too slowly or not at all; try again later, or fetch through a mirror; "+mirrorHint(t.mirror))
	case isRedirectLoop(err):
		return manifest.HintError(fmt.Errorf("fetching %s: %w", where, err),
			"the server redirects in a loop; check the URL; "+mirrorHint(t.mirror))
	case retryable(err):
		return manifest.HintError(fmt.Errorf("fetching %s: %w (after %d attempts)", where, err, attempts),
			"the server or the network kept failing; try again later, or fetch through a mirror with --mirror FROM=TO")
	}
	var dns *net.DNSError
	if errors.As(err, &dns) {
		return manifest.HintError(fmt.Errorf("fetching %s: %w", where, err),
			"this host cannot resolve "+dns.Name+": on a host without internet, point the URL at an internal mirror with --mirror FROM=TO; "+mirrorHint(t.mirror))
	}
	if manifest.Hint(err) == "" {
		return manifest.HintError(fmt.Errorf("fetching %s: %w", where, err), mirrorHint(t.mirror))
	}
	return fmt.Errorf("fetching %s: %w", where, err)
}

// attempt makes one HTTP request and streams its body into the part file,
// resuming from what the file already holds.
func (f *Fetcher) attempt(ctx context.Context, t *transfer) (manifest.Digest, int64, error) {
	file, err := os.OpenFile(t.part, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return "", 0, &localError{err}
	}
	defer file.Close()
	st, err := file.Stat()
	if err != nil {
		return "", 0, &localError{err}
	}
	offset := st.Size()
	if t.want == "" && t.validator == "" {
		offset = 0 // nothing to tell a changed file from a resumable one
	}
	if offset > t.limit(f) {
		offset = 0 // longer than the artifact can be: not a prefix of it
	}
	h := manifest.NewHash(t.alg)
	if offset > 0 {
		if _, err := io.Copy(h, io.NewSectionReader(file, 0, offset)); err != nil {
			return "", 0, &localError{err}
		}
	}
	if err := file.Truncate(offset); err != nil {
		return "", 0, &localError{err}
	}
	if _, err := file.Seek(offset, io.SeekStart); err != nil {
		return "", 0, &localError{err}
	}

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.target, nil)
	if err != nil {
		return "", 0, err
	}
	req.Header.Set("User-Agent", "satchel")
	// Ask for the bytes as stored. Go would otherwise ask for gzip and
	// transparently decompress a response sent with Content-Encoding: gzip
	// (as object stores do for .tar.gz files uploaded with that metadata),
	// changing the digest and breaking byte offsets for Range.
	req.Header.Set("Accept-Encoding", "identity")
	if offset > 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", offset))
		if t.validator != "" {
			req.Header.Set("If-Range", t.validator)
		}
	}
	resp, err := f.client.Do(req)
	if err != nil {
		return "", 0, f.netErr(ctx, err)
	}
	defer resp.Body.Close()

	total := int64(-1) // the whole artifact's length, as the server announces it
	switch {
	case resp.StatusCode == http.StatusPartialContent && offset > 0:
		start, size, ok := parseContentRange(resp.Header.Get("Content-Range"))
		if !ok || start != offset {
			return "", 0, &restartError{fmt.Sprintf("asked for bytes from %d, server sent Content-Range %q", offset, resp.Header.Get("Content-Range"))}
		}
		total = size
		if size >= 0 && resp.ContentLength >= 0 && offset+resp.ContentLength != size {
			return "", 0, &restartError{fmt.Sprintf("Content-Range %q does not agree with Content-Length %d", resp.Header.Get("Content-Range"), resp.ContentLength)}
		}
	case resp.StatusCode == http.StatusOK:
		if offset > 0 {
			f.log.Info("server ignored the range request; downloading from the start", "url", t.url)
			if err := file.Truncate(0); err != nil {
				return "", 0, &localError{err}
			}
			if _, err := file.Seek(0, io.SeekStart); err != nil {
				return "", 0, &localError{err}
			}
			h.Reset()
			offset = 0
		}
		total = resp.ContentLength
	case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable && offset > 0:
		// The part file may already hold the whole artifact.
		if t.want != "" && manifest.FromHash(t.alg, h) == t.want && (t.size == 0 || offset == t.size) {
			return t.want, offset, nil
		}
		return "", 0, &restartError{"server cannot serve the rest of the partial download"}
	default:
		return "", 0, newStatusError(resp)
	}
	if err := t.checkAnnounced(f, total); err != nil {
		return "", 0, err
	}
	if t.validator == "" {
		t.validator = validatorOf(resp)
	}

	shown := total
	if shown < 0 && t.size > 0 {
		shown = t.size
	}
	f.emit(Event{Kind: EventStart, URL: t.url, Digest: t.want, Done: offset, Total: shown})
	limit := t.limit(f)
	done := offset
	buf := make([]byte, 256<<10)
	last := time.Now()
	for {
		nr, rerr := resp.Body.Read(buf)
		if nr > 0 {
			// Refuse before writing: the part file never grows past
			// what the artifact may be.
			if total >= 0 && done+int64(nr) > total {
				return "", 0, &sizeError{msg: fmt.Sprintf("server sent more than the %d bytes it announced", total),
					hint: "the server is broken or hostile; fetch through another mirror"}
			}
			if done+int64(nr) > limit {
				return "", 0, t.tooLong(f)
			}
			if _, err := file.Write(buf[:nr]); err != nil {
				return "", 0, &localError{err}
			}
			h.Write(buf[:nr])
			done += int64(nr)
			if time.Since(last) >= 100*time.Millisecond {
				last = time.Now()
				f.emit(Event{Kind: EventProgress, URL: t.url, Digest: t.want, Done: done, Total: shown})
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			if errors.Is(rerr, io.ErrUnexpectedEOF) && total >= 0 {
				rerr = fmt.Errorf("body ended after %d of %d bytes: %w", done, total, rerr)
			}
			return "", 0, f.netErr(ctx, rerr)
		}
	}
	if total >= 0 && done != total {
		return "", 0, &netError{fmt.Errorf("body ended after %d of %d bytes: %w", done, total, io.ErrUnexpectedEOF)}
	}
	if t.size > 0 && done != t.size {
		return "", 0, &sizeError{msg: fmt.Sprintf("body ended after %d bytes, but %d bytes were expected", done, t.size), locked: true}
	}
	f.emit(Event{Kind: EventProgress, URL: t.url, Digest: t.want, Done: done, Total: done})
	if err := file.Sync(); err != nil {
		return "", 0, &localError{err}
	}
	got := manifest.FromHash(t.alg, h)
	if t.want != "" && got != t.want {
		if offset > 0 {
			// The bytes kept from before may be what is wrong (an earlier
			// run against other content): try once more from zero.
			return "", 0, &restartError{fmt.Sprintf("digest mismatch after resuming at byte %d", offset)}
		}
		return "", 0, &mismatchError{want: t.want, got: got}
	}
	return got, done, nil
}

// limit is the most bytes the artifact may have: its known size, else the
// Fetcher's maximum.
func (t *transfer) limit(f *Fetcher) int64 {
	if t.size > 0 {
		return t.size
	}
	return f.maxSize
}

// checkAnnounced refuses, before any body byte is read, an artifact whose
// announced length (Content-Length or Content-Range) contradicts its known
// size or exceeds the maximum.
func (t *transfer) checkAnnounced(f *Fetcher, total int64) error {
	switch {
	case total < 0:
		return nil
	case t.size > 0 && total != t.size:
		return &sizeError{msg: fmt.Sprintf("server announced %d bytes, but %d bytes were expected", total, t.size), locked: true}
	case t.size == 0 && total > f.maxSize:
		return &sizeError{msg: fmt.Sprintf("server announced %d bytes (%s), more than the maximum download size of %s",
			total, human.Bytes(total), human.Bytes(f.maxSize)), hint: tooLargeHint}
	}
	return nil
}

// tooLong is the refusal of a body that grew past the limit.
func (t *transfer) tooLong(f *Fetcher) error {
	if t.size > 0 {
		return &sizeError{msg: fmt.Sprintf("server sent more than the %d bytes expected", t.size), locked: true}
	}
	return &sizeError{msg: fmt.Sprintf("server sent more than the maximum download size of %s", human.Bytes(f.maxSize)), hint: tooLargeHint}
}

const tooLargeHint = "an endless or wrong answer looks like this (check the URL and mirror); if the artifact really is that large, raise the maximum download size"

// netErr classifies a transport error: stalls and network faults are
// retried; a cancelled context is not.
func (f *Fetcher) netErr(ctx context.Context, err error) error {
	var se *stallError
	if errors.As(err, &se) {
		return &netError{se}
	}
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	// The URL is named by whoever reports the error.
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return &netError{err}
}

// netError is a failure on the wire: retried unless retryable says otherwise.
type netError struct{ err error }

func (e *netError) Error() string { return e.err.Error() }
func (e *netError) Unwrap() error { return e.err }

// localError is a failure on this machine (disk full, permissions): not retried.
type localError struct{ err error }

func (e *localError) Error() string { return e.err.Error() }
func (e *localError) Unwrap() error { return e.err }

// restartError asks for the part file to be discarded and the download
// started over.
type restartError struct{ reason string }

func (e *restartError) Error() string { return e.reason }

// sizeError refuses an artifact for its length: too long, too short, or
// announced so. When it contradicts a known (locked) size it is a
// verification failure; otherwise hint says what to do. Never retried.
type sizeError struct {
	msg    string
	locked bool
	hint   string
}

func (e *sizeError) Error() string { return e.msg }

type mismatchError struct{ want, got manifest.Digest }

func (e *mismatchError) Error() string {
	return fmt.Sprintf("digest mismatch: expected %s, got %s", e.want, e.got)
}

// statusError is an HTTP answer other than the one asked for.
type statusError struct {
	code       int
	status     string
	retryAfter time.Duration
}

func (e *statusError) Error() string { return "server answered " + e.status }

func newStatusError(resp *http.Response) *statusError {
	e := &statusError{code: resp.StatusCode, status: resp.Status}
	if s, err := strconv.Atoi(strings.TrimSpace(resp.Header.Get("Retry-After"))); err == nil && s >= 0 {
		e.retryAfter = time.Duration(s) * time.Second
	} else if t, err := http.ParseTime(resp.Header.Get("Retry-After")); err == nil {
		e.retryAfter = time.Until(t)
	}
	// Drain a little so the connection can be reused.
	io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	return e
}

// retryable says whether trying again may succeed.
func retryable(err error) bool {
	var st *stallError
	if errors.As(err, &st) {
		return true
	}
	var se *statusError
	if errors.As(err, &se) {
		return se.code == http.StatusRequestTimeout || se.code == http.StatusTooManyRequests || se.code >= 500
	}
	var ne *netError
	if !errors.As(err, &ne) {
		return false
	}
	// Faults that the same request will meet again.
	var (
		unknownCA *x509.UnknownAuthorityError
		hostname  x509.HostnameError
		invalid   x509.CertificateInvalidError
		verify    *tls.CertificateVerificationError
		record    tls.RecordHeaderError
		dns       *net.DNSError
	)
	switch {
	case errors.As(err, &unknownCA), errors.As(err, &hostname), errors.As(err, &invalid),
		errors.As(err, &verify), errors.As(err, &record):
		return false
	case errors.As(err, &dns) && dns.IsNotFound:
		return false
	case strings.Contains(err.Error(), "unsupported protocol scheme"),
		strings.Contains(err.Error(), "server gave HTTP response to HTTPS client"),
		isRedirectLoop(err):
		return false
	}
	return true
}

// isRedirectLoop recognizes net/http's error for too many redirects (it
// has no type of its own: "stopped after 10 redirects").
func isRedirectLoop(err error) bool {
	s := err.Error()
	return strings.Contains(s, "stopped after") && strings.Contains(s, "redirects")
}

// parseContentRange reads "bytes START-END/SIZE" (SIZE may be "*", then -1).
func parseContentRange(s string) (start, size int64, ok bool) {
	rest, found := strings.CutPrefix(strings.TrimSpace(s), "bytes ")
	if !found {
		return 0, 0, false
	}
	rng, sz, found := strings.Cut(rest, "/")
	if !found {
		return 0, 0, false
	}
	a, b, found := strings.Cut(rng, "-")
	if !found {
		return 0, 0, false
	}
	start, err1 := strconv.ParseInt(a, 10, 64)
	end, err2 := strconv.ParseInt(b, 10, 64)
	if err1 != nil || err2 != nil || start < 0 || end < start {
		return 0, 0, false
	}
	if sz == "*" {
		return start, -1, true
	}
	size, err := strconv.ParseInt(sz, 10, 64)
	if err != nil || size <= end {
		return 0, 0, false
	}
	return start, size, true
}

// validatorOf returns what If-Range can use: a strong ETag, else Last-Modified.
func validatorOf(resp *http.Response) string {
	if et := resp.Header.Get("ETag"); et != "" && !strings.HasPrefix(et, "W/") {
		return et
	}
	return resp.Header.Get("Last-Modified")
}

// Get downloads a small file (a checksum file) into memory, with mirrors
// and retries applied. It does not use the cache.
func (f *Fetcher) Get(ctx context.Context, url string) ([]byte, error) {
	target, m := rewriteURL(f.mirrors, url)
	t := &transfer{url: url, target: target, mirror: m}
	for attempt := 0; ; attempt++ {
		b, err := f.getOnce(ctx, target)
		if err == nil {
			return b, nil
		}
		if !retryable(err) || attempt >= f.retries {
			return nil, f.fail(t, err, attempt+1)
		}
		delay := f.delay(attempt, err)
		f.log.Warn("download failed; retrying", "url", url, "err", err, "in", delay)
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return nil, fmt.Errorf("fetching %s: %w", via(url, target, m), context.Cause(ctx))
		}
	}
}

func (f *Fetcher) getOnce(ctx context.Context, target string) ([]byte, error) {
	// A checksum file is small: besides the stall limits, it must arrive
	// whole within twice the stall timeout.
	deadline := 2 * f.timeout
	actx, cancel := context.WithTimeoutCause(ctx, deadline, &stallError{msg: fmt.Sprintf("not complete after %v (a checksum file is small)", deadline)})
	defer cancel()
	return f.getBody(actx, target)
}

func (f *Fetcher) getBody(ctx context.Context, target string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", "satchel")
	req.Header.Set("Accept-Encoding", "identity")
	resp, err := f.client.Do(req)
	if err != nil {
		return nil, f.netErr(ctx, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, newStatusError(resp)
	}
	if resp.ContentLength > maxChecksumFile {
		return nil, fmt.Errorf("announced %d bytes, larger than %d bytes; not a checksum file", resp.ContentLength, maxChecksumFile)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxChecksumFile+1))
	if err != nil {
		return nil, f.netErr(ctx, err)
	}
	if len(b) > maxChecksumFile {
		return nil, fmt.Errorf("larger than %d bytes; not a checksum file", maxChecksumFile)
	}
	return b, nil
}

// DownloadDigest downloads url, computes its digest with alg ("sha256" or
// "sha512") and keeps it in the cache under that digest. It is for artifacts
// upstream publishes no checksum for: the digest proves only that later
// builds get the same bytes (trust on first use).
func (f *Fetcher) DownloadDigest(ctx context.Context, url, alg string) (manifest.Digest, string, error) {
	if alg != manifest.SHA256 && alg != manifest.SHA512 {
		return "", "", fmt.Errorf("fetching %s: unsupported digest algorithm %q (use sha256 or sha512)", url, alg)
	}
	if err := os.MkdirAll(f.tmpDir(), 0o755); err != nil {
		return "", "", fmt.Errorf("fetching %s: %w", url, err)
	}
	tmp, err := os.CreateTemp(f.tmpDir(), "tofu-*.part")
	if err != nil {
		return "", "", fmt.Errorf("fetching %s: %w", url, err)
	}
	tmp.Close()
	defer os.Remove(tmp.Name()) // a no-op once renamed into the cache
	target, m := rewriteURL(f.mirrors, url)
	t := &transfer{url: url, target: target, mirror: m, alg: alg, part: tmp.Name()}
	d, size, err := f.download(ctx, t)
	if err != nil {
		return "", "", err
	}
	final := f.CachePath(d)
	unlock, err := f.lockDigest(ctx, d)
	if err != nil {
		return "", "", fmt.Errorf("fetching %s: %w", url, err)
	}
	defer unlock()
	if _, ok := f.cached(final, d); !ok {
		if err := f.commit(t.part, final); err != nil {
			return "", "", fmt.Errorf("fetching %s: %w", url, err)
		}
	}
	f.emit(Event{Kind: EventDone, URL: url, Digest: d, Done: size, Total: size})
	return d, final, nil
}
