// Package pack reads upstream archives, keeps a content-addressed blob store,
// and writes and reads satchel bundle files.
//
// # Upstream archives (build side)
//
// WalkArchive streams the entries of a tar.gz, tar.xz or tar.zst archive;
// WalkBinary presents a plain binary as a one-entry archive. Entry names are
// cleaned; absolute names, ".." components, device nodes and fifos are
// errors. A hard link is reported as an entry of type TypeHardlink whose
// Linkname is the earlier regular file it copies. GlibcNeed reads the highest
// GLIBC_x.y an ELF file needs.
//
// The xz decoder is github.com/therootcompany/xz, chosen by
// BenchmarkXZDecode (xz_bench_test.go): on xz -6 compressed Go binaries it is
// more than ten times faster than github.com/ulikunitz/xz, which decides
// whether unpacking kata-static takes seconds or minutes. The gzip decoder is
// github.com/klauspost/compress/gzip: 1.3x the standard library's MB per
// CPU-second on release-style .tar.gz of Go binaries (BenchmarkGzipDecode).
//
// # Blob store (build side)
//
// BlobStore keeps blobs under Dir/sha256/<hex>, named by the sha256 of the
// stored bytes. PutFile compresses with zstd in one fixed, deterministic
// configuration, streaming, so the same content always yields the same blob
// (encoders are pooled: safe and cheap to call from many goroutines);
// PutRaw stores an OCI blob as it is after checking its digest; OpenFile
// reads a stored file back, checked against its digests.
//
// # Bundle file
//
// A bundle is an uncompressed USTAR file: satchel.json, satchel.json.sig, then
// blobs/sha256/<hex> for every Index.Blobs entry in order, every header
// canonical (mode 0644, uid/gid 0, no names, mtime = Index.Created), zero
// padding, two zero blocks, zero bytes up to the 10240-byte record boundary
// and nothing after. Write produces exactly that, and Open / Bundle accept
// exactly that: every byte of a bundle is either covered by the signature
// (satchel.json), checked against the signed index (headers, padding,
// trailer, blob digests), or is the signature itself.
//
// # Reading a bundle (installer side)
//
// The reader works on an io.ReaderAt and never holds a blob in memory.
// VerifyBundle is the one trust check every reader runs (satchel-bundle
// verify, inspect and sign, and the installer):
//
//	b, _ := pack.OpenPath("name.satchel")      // reads satchel.json and its signature only
//	ix, key, _ := pack.VerifyBundle(b, keys, pack.VerifyOptions{})
//	// = verify.VerifySignature over b.IndexJSON(), then b.Index() (decode,
//	//   manifest.Index.Validate), then b.CheckLayout(ix) (headers, padding,
//	//   order, each blob header's size equal to the index's, trailer)
//	rc, _ := b.OpenFile(ix.Components[0].Artifacts[0].Files[0])
//
// With VerifyOptions.Deep it also checks every blob's sha256 and every
// file's content. OpenBlob hashes a blob's stored bytes before it returns a
// reader, so no unverified byte reaches the zstd decoder; OpenFile checks
// the decoded content's digest and size at EOF. For a file of 1 MiB or more
// the blob is read and decompressed ahead on a second goroutine, at most four
// 256 KiB chunks ahead (ahead.go), while the caller's goroutine hashes and
// consumes the content: two cores, flat memory, the same bytes and checks.
// Verification failures are manifest.VerificationError (exit code 3) with a
// hint.
//
// # Media
//
// Split cuts a bundle into name.satchel.001, .002, … with a parts list
// (name.satchel.parts.json: each part's size and sha256); OpenPath reads such
// a set as one file and checks each part's sha256 the first time it is read.
// WriteSelfExtracting appends a bundle and a fixed trailer to an installer
// binary (name.run); OpenPath finds the bundle through the trailer.
//
// This package imports no network code.
package pack
