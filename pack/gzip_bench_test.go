package pack

import (
	"bufio"
	"bytes"
	stdgzip "compress/gzip"
	"crypto/sha256"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	kpgzip "github.com/klauspost/compress/gzip"
)

// BenchmarkGzipDecode picks WalkArchive's gzip decoder, as BenchmarkXZDecode
// picks the xz one: the same tar of real Go binaries, compressed by the gzip
// CLI at its default level as release .tar.gz files are, decoded by each
// candidate into sha256, in MB/s of decompressed output (and per CPU-second):
//
//	go test -run '^$' -bench GzipDecode -benchtime 3x ./pack/
func BenchmarkGzipDecode(b *testing.B) {
	in := gzipBenchInput(b)
	decoders := []struct {
		name string
		open func(io.Reader) (io.ReadCloser, error)
	}{
		{"stdlib", func(r io.Reader) (io.ReadCloser, error) { return stdgzip.NewReader(r) }},
		{"klauspost", func(r io.Reader) (io.ReadCloser, error) { return kpgzip.NewReader(r) }},
	}
	for _, d := range decoders {
		b.Run(d.name, func(b *testing.B) {
			b.SetBytes(in.rawSize)
			cpu0 := processCPU()
			for b.Loop() {
				f, err := os.Open(in.gzPath)
				if err != nil {
					b.Fatal(err)
				}
				r, err := d.open(bufio.NewReaderSize(f, 1<<20))
				if err != nil {
					b.Fatal(err)
				}
				h := sha256.New()
				n, err := io.Copy(h, r)
				r.Close()
				f.Close()
				if err != nil {
					b.Fatal(err)
				}
				if n != in.rawSize || !bytes.Equal(h.Sum(nil), in.rawSum) {
					b.Fatalf("%s decoded %d bytes that differ from the input", d.name, n)
				}
			}
			reportCPURate(b, in.rawSize, processCPU()-cpu0)
		})
	}
	b.Run("gzip-cli", func(b *testing.B) {
		b.SetBytes(in.rawSize)
		var cpu float64
		for b.Loop() {
			cmd := exec.Command("gzip", "-dc", in.gzPath)
			h := sha256.New()
			cmd.Stdout = h
			if err := cmd.Run(); err != nil {
				b.Fatal(err)
			}
			cpu += (cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Seconds()
			if !bytes.Equal(h.Sum(nil), in.rawSum) {
				b.Fatal("gzip -dc output differs from the input")
			}
		}
		if cpu > 0 {
			b.ReportMetric(float64(in.rawSize)*float64(b.N)/1e6/cpu, "MB/cpu-s")
		}
	})
}

type gzInput struct {
	gzPath  string
	rawSize int64
	rawSum  []byte
	err     string
}

var (
	gzOnce  sync.Once
	gzBench gzInput
)

// gzipBenchInput gzips the xz benchmark's tar (built once per run).
func gzipBenchInput(b *testing.B) *gzInput {
	b.Helper()
	for _, tool := range []string{"gzip", "xz"} {
		if _, err := exec.LookPath(tool); err != nil {
			b.Skip("needs the " + tool + " CLI to make the benchmark input") // by design: a benchmark; `make bench` installs the CLIs
		}
	}
	xz := xzBenchInput(b)
	gzOnce.Do(func() {
		gzBench = gzInput{gzPath: filepath.Join(xz.dir, "tools.tar.gz"), rawSize: xz.rawSize, rawSum: xz.rawSum}
		out, err := os.Create(gzBench.gzPath)
		if err != nil {
			gzBench.err = err.Error()
			return
		}
		defer out.Close()
		// xz -dc | gzip: the same tar, at gzip's default level (-6).
		cmd := exec.Command("sh", "-c", `xz -dc "$1" | gzip -6`, "sh", xz.xzPath)
		var stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = out, &stderr
		if err := cmd.Run(); err != nil {
			gzBench.err = "xz -dc | gzip: " + err.Error() + ": " + stderr.String()
		}
	})
	if gzBench.err != "" {
		b.Fatal(gzBench.err)
	}
	return &gzBench
}
