// Package fetch brings upstream artifacts and OCI images onto the build host.
//
// It is the only satchel package, apart from the bundle command, that talks
// to the network. The installer never imports it.
//
// # HTTP artifacts
//
// A Fetcher downloads files pinned by digest into a content-addressed cache
// (default os.UserCacheDir()/satchel), at <cache>/<algorithm>/<hex>. A
// download is written to <cache>/tmp/<algorithm>-<hex>.part, hashed while it
// streams, and renamed into place only when its digest matches, so nothing
// unverified is ever in the cache. A warm cache does no network I/O.
//
// Downloads run in parallel (bounded by WithParallelism), resume an
// interrupted .part file with an HTTP Range request (checked against the
// server's 206 and Content-Range; otherwise they start over), and are retried
// with exponential backoff on 5xx, 429 (honouring Retry-After), connection
// resets and stalls. 404, 403 and redirect loops fail at once. A download
// given up for good leaves no .part file; one interrupted (its context
// cancelled) keeps it, to resume.
//
// # Limits
//
// Every request has a watchdog (guardTransport, also used for registries):
// response headers must come within the stall timeout (WithTimeout), the
// body must not pause that long, and it must arrive at WithMinRate bytes per
// second or more, averaged over each stall-timeout window, so that a server
// trickling a byte every few seconds cannot hold a build. A stalled attempt
// is retried like a reset; the last error says what happened ("no data for
// 1m0s", "server sent 12 bytes in 1m0s (0 B/s), below the minimum of
// 1.0 KiB/s"). A checksum file must also arrive whole within twice the stall
// timeout, and be at most 1 MiB. None of this caps the total time of a large
// download that keeps moving.
//
// Sizes: a Request with a Size (from the lock) is refused, as a
// verification failure, when the server announces another length or the
// body runs past or stops short of it; a Request without one is capped by
// WithMaxDownloadSize (an announced larger length is refused before reading,
// a body growing past it is cut off). Nothing is written past the limit, and
// a refused download is discarded.
//
// HTTP(S)_PROXY and NO_PROXY are honoured.
//
// # Mirrors
//
// A Mirror rewrites a URL prefix, as `--mirror https://github.com=http://nexus/github`
// asks; the longest matching prefix wins, and errors name both the original
// and the rewritten URL.
//
// # Checksum files
//
// ParseChecksumFile reads the formats upstream projects publish next to their
// releases (sha256sum lines, SHA256SUMS, bare hex, gVisor's .sha512, runc's
// PGP clear-signed runc.sha256sum) and returns the digest of one asset.
//
// # Images
//
// ResolveImage turns a tag into a digest; PullImage copies an image by digest
// into an OCI image layout, keeping only the requested platforms. Both use
// google/go-containerregistry, with registry mirrors, the Docker credential
// helpers (anonymous when none apply), and plain HTTP only for loopback
// registries or registries the caller lists as insecure.
//
// Registry requests have the same watchdog (ImageOptions.Timeout and
// MinRate), at most 10 redirects, and a blob is refused when the registry
// announces a Content-Length other than its descriptor's size or sends
// more bytes than that.
//
// When PullImage drops platforms from an index, the index it stores is a new
// one (a different digest). The returned manifest.Image records the digest of
// the stored index, since that is what the bundle carries and what the
// installer can check; the upstream digest is kept inside the stored index as
// the annotation AnnotationUpstreamDigest, and on the layout's index.json
// entry.
package fetch
