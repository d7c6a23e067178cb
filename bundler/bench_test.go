package bundler

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/satchel-dev/satchel/fetch"
	"github.com/satchel-dev/satchel/manifest"
	"github.com/satchel-dev/satchel/sign"
)

// BenchmarkBuildCorpus builds the bundle of a benchmark corpus from a warm
// download cache: the build's CPU work (unpack, hash, compress, write) and
// nothing else, for a CPU profile. test/bench/bench.sh runs it on the corpus
// it made, with
//
//	SATCHEL_BENCH_SPEC, SATCHEL_BENCH_LOCK  the spec and its lock
//	SATCHEL_BENCH_CACHE                     a download cache holding every artifact
//	SATCHEL_BENCH_KEY, SATCHEL_PASSWORD     the signing key and its password
//	SATCHEL_BENCH_MIRRORS                   --mirror values, space-separated
//
//	go test -run '^$' -bench BuildCorpus -benchtime 1x -cpuprofile cpu.out ./bundler/
func BenchmarkBuildCorpus(b *testing.B) {
	specPath := os.Getenv("SATCHEL_BENCH_SPEC")
	if specPath == "" {
		b.Skip("SATCHEL_BENCH_SPEC is not set: test/bench/bench.sh runs this on its corpus") // by design: a benchmark of bench.sh's corpus, never run by go test
	}
	ctx := context.Background()
	spec, err := manifest.ReadSpecFile(specPath)
	if err != nil {
		b.Fatal(err)
	}
	lk, err := manifest.ReadLockFile(os.Getenv("SATCHEL_BENCH_LOCK"))
	if err != nil {
		b.Fatal(err)
	}
	signer, err := sign.LoadSigner(ctx, os.Getenv("SATCHEL_BENCH_KEY"), func(bool) ([]byte, error) {
		return []byte(os.Getenv("SATCHEL_PASSWORD")), nil
	})
	if err != nil {
		b.Fatal(err)
	}
	var mirrors []fetch.Mirror
	for _, s := range strings.Fields(os.Getenv("SATCHEL_BENCH_MIRRORS")) {
		m, err := fetch.ParseMirror(s)
		if err != nil {
			b.Fatal(err)
		}
		mirrors = append(mirrors, m)
	}
	o := Options{Lock: lk, CacheDir: os.Getenv("SATCHEL_BENCH_CACHE"), Mirrors: mirrors, Signer: signer,
		Output: filepath.Join(b.TempDir(), "bench.satchel"), Force: true}
	var size int64
	for b.Loop() {
		res, err := Build(ctx, spec, o)
		if err != nil {
			b.Fatal(err)
		}
		size = res.Size
	}
	b.ReportMetric(float64(size)/1e6, "bundle-MB")
}
