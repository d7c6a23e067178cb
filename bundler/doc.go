// Package bundler turns a spec and its lock into a signed bundle: the
// pipeline behind `satchel-bundle lock` and `satchel-bundle build`.
//
// # Pipeline
//
//	spec ─► profiles.Resolve ─► lock (pin every URL and digest) ─► fetch (cache)
//	     ─► unpack upstream archives ─► blob store ─► index ─► sign ─► pack.WriteFile
//
// Lock resolves what the spec leaves open: a digest comes from the spec, the
// profile, the upstream checksum file, or — where upstream publishes none —
// the downloaded bytes (recorded as such). Build refuses an artifact that is
// neither pinned in the spec or profile nor in the lock.
//
// # Reproducibility
//
// The same spec, lock and SOURCE_DATE_EPOCH give a byte-identical bundle:
// blobs are content-addressed and sorted, the index is canonical JSON, and
// the tar writer is deterministic (package pack).
//
// This package sits between the cmd wiring and the fetch/pack/verify
// libraries; it holds the orchestration only.
package bundler
