// Package bundler turns a spec and its lock into a signed bundle: the
// pipeline behind `satchel-bundle lock` and `satchel-bundle build`.
//
// # Pipeline
//
//	spec ─► profiles.Resolve ─► lock (pin every URL and digest) ─► fetch (cache)
//	     ─► unpack upstream archives ─► blob store ─► bash completions
//	     ─► index ─► sign ─► pack.WriteFile
//
// Build runs the stages concurrently. The fetcher downloads up to its
// parallelism at once; an artifact is unpacked as soon as it is verified in
// the cache, so a cold build's downloads overlap with packing. Up to
// Options.Parallelism (default GOMAXPROCS) archives are decompressed at
// once, each by one goroutine that spools the selected files to disk and
// hands them to as many workers, which hash and compress them into the blob
// store; a component's bash completions are generated as soon as its last
// artifact is unpacked; images are pulled alongside. Memory stays bounded (that many
// decoders and encoders, a short queue of spooled files on disk), and every
// result goes into a slot fixed by the spec's order: the bundle is the same
// bytes for any parallelism (TestBuildSameBytesAnyParallelism).
//
// Lock resolves what the spec leaves open: a digest comes from the spec, the
// profile, the upstream checksum file, or — where upstream publishes none —
// the downloaded bytes (recorded as such). Build refuses an artifact that is
// neither pinned in the spec or profile nor in the lock.
//
// # Bash completions: generated at build time, on the builder
//
// nerdctl and crictl print their bash completion (component.CompletionsOf). The
// installer never runs a bundle's programs, so the bundler runs them here:
// the tool's file, unpacked from its digest-checked artifact and checked
// against its own digest, is run for the builder's own platform
// (BuilderPlatform) first, then for the bundle's other platforms, which run
// where qemu-user is registered with binfmt_misc. It runs with a timeout, an
// empty environment but PATH=/usr/bin:/bin and HOME and XDG directories in
// an empty temporary directory, an empty working directory, stdin
// /dev/null, in its own process group, and as nobody when the builder is
// root. Its output is the same text for every platform of one version, so
// it is stored once and shipped as an ordinary file of every platform's
// artifact at /usr/local/share/bash-completion/completions/<tool>, where
// bash-completion finds it (component.CompletionDir). If no binary of the
// tool runs on the builder (an arm64-only bundle built on amd64 without
// qemu-user), the completion is skipped: a warning in Result.Warnings and an
// info note in the index, which inspect and preflight show.
//
// # Reproducibility
//
// The same spec, lock and SOURCE_DATE_EPOCH give a byte-identical bundle on
// builders of the same platform: blobs are content-addressed and sorted, the
// index is canonical JSON, and the tar writer is deterministic (package
// pack). The platform matters only through the bash completions: a builder
// that can run none of a tool's binaries ships a note instead.
//
// This package sits between the cmd wiring and the fetch/pack/verify
// libraries; it holds the orchestration only.
package bundler
