package pack

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"strconv"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// BenchmarkBlobEncode measures the blob encoder (PutFile's zstd stream) on
// the benchmarks' tar of real Go binaries, in MB/s of input and per
// CPU-second, for the encoder's concurrency settings that give the same
// bytes (1: synchronous; 2: klauspost's async stream mode, the one used),
// next to the zstd CLI at -3 with one and with all threads:
//
//	go test -run '^$' -bench BlobEncode -benchtime 3x ./pack/
func BenchmarkBlobEncode(b *testing.B) {
	in := xzBenchInput(b)
	raw, err := rawBenchInput(in)
	if err != nil {
		b.Fatal(err)
	}
	var want []byte
	for _, c := range []int{1, 2} {
		b.Run("concurrency-"+strconv.Itoa(c), func(b *testing.B) {
			opts := append(blobEncoderOptions(), zstd.WithEncoderConcurrency(c))
			enc, err := zstd.NewWriter(nil, opts...)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(raw)))
			var out bytes.Buffer
			cpu0 := processCPU()
			for b.Loop() {
				out.Reset()
				enc.Reset(&out)
				if _, err := io.Copy(enc, bytes.NewReader(raw)); err != nil {
					b.Fatal(err)
				}
				if err := enc.Close(); err != nil {
					b.Fatal(err)
				}
			}
			reportCPURate(b, int64(len(raw)), processCPU()-cpu0)
			if want == nil {
				want = bytes.Clone(out.Bytes())
			} else if !bytes.Equal(want, out.Bytes()) {
				b.Fatalf("concurrency %d changes the output", c)
			}
		})
	}
	for _, threads := range []string{"1", "0"} {
		b.Run("zstd-cli-3-T"+threads, func(b *testing.B) {
			if _, err := exec.LookPath("zstd"); err != nil {
				b.Skip("no zstd CLI") // by design: a benchmark; `make bench` installs the CLIs
			}
			b.SetBytes(int64(len(raw)))
			var cpu float64
			for b.Loop() {
				cmd := exec.Command("zstd", "-3", "-T"+threads, "-q", "-c")
				cmd.Stdin, cmd.Stdout = bytes.NewReader(raw), io.Discard
				if err := cmd.Run(); err != nil {
					b.Fatal(err)
				}
				cpu += (cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Seconds()
			}
			if cpu > 0 {
				b.ReportMetric(float64(len(raw))*float64(b.N)/1e6/cpu, "MB/cpu-s")
			}
		})
	}
}

// rawBenchInput is the uncompressed tar behind the xz benchmark input.
func rawBenchInput(in *xzInput) ([]byte, error) {
	cmd := exec.Command("xz", "-dc", in.xzPath)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, os.Stderr
	err := cmd.Run()
	return out.Bytes(), err
}
