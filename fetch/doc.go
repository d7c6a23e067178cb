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
// with exponential backoff on 5xx, 429, connection resets and timeouts. 404
// and 403 fail at once. The timeout (WithTimeout) is an idle timeout: it fires
// when no byte arrives for that long, so large downloads are never cut off.
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
// When PullImage drops platforms from an index, the index it stores is a new
// one (a different digest). The returned manifest.Image records the digest of
// the stored index, since that is what the bundle carries and what the
// installer can check; the upstream digest is kept inside the stored index as
// the annotation AnnotationUpstreamDigest, and on the layout's index.json
// entry.
package fetch
