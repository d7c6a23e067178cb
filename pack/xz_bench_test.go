package pack

import (
	"archive/tar"
	"bufio"
	"bytes"
	"crypto/sha256"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	therootcompany "github.com/therootcompany/xz"
	ulikunitz "github.com/ulikunitz/xz"

	"github.com/satchel-dev/satchel/internal/testenv"
)

// BenchmarkXZDecode picks WalkArchive's xz decoder. It decodes one tar.xz of
// real Go binaries (the toolchain's own tools, ~48 MB, compressed by the xz
// CLI at -6 as release archives are) with each candidate and reports MB/s of
// decompressed output:
//
//	go test -run '^$' -bench XZDecode -benchtime 1x ./pack/
//
// SATCHEL_XZ_BENCH_MB changes the input size. The xz CLI is needed to make
// the input (Go has no xz encoder as fast or as representative) and is
// benchmarked too, as the reference.
func BenchmarkXZDecode(b *testing.B) {
	in := xzBenchInput(b)
	decoders := []struct {
		name string
		open func(io.Reader) (io.Reader, error)
	}{
		{"therootcompany", func(r io.Reader) (io.Reader, error) { return therootcompany.NewReader(r, 0) }},
		{"ulikunitz", func(r io.Reader) (io.Reader, error) { return ulikunitz.NewReader(r) }},
	}
	for _, d := range decoders {
		for _, buffered := range []bool{true, false} {
			name := d.name
			if !buffered {
				name += "-unbuffered"
			}
			b.Run(name, func(b *testing.B) {
				b.SetBytes(in.rawSize)
				cpu0 := processCPU()
				for b.Loop() {
					f, err := os.Open(in.xzPath)
					if err != nil {
						b.Fatal(err)
					}
					var src io.Reader = f
					if buffered {
						src = bufio.NewReaderSize(f, 1<<20)
					}
					r, err := d.open(src)
					if err != nil {
						b.Fatal(err)
					}
					h := sha256.New()
					n, err := io.Copy(h, r)
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
	}
	b.Run("xz-cli", func(b *testing.B) {
		b.SetBytes(in.rawSize)
		var cpu time.Duration
		for b.Loop() {
			cmd := exec.Command("xz", "-dc", in.xzPath)
			h := sha256.New()
			cmd.Stdout = h
			if err := cmd.Run(); err != nil {
				b.Fatal(err)
			}
			cpu += cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
			if !bytes.Equal(h.Sum(nil), in.rawSum) {
				b.Fatal("xz -dc output differs from the input")
			}
		}
		reportCPURate(b, in.rawSize, cpu)
	})
}

// processCPU is this process's user+system CPU time. Reported next to the
// wall-clock MB/s because the machine these run on is often shared: MB per
// CPU-second does not drop when other processes take the cores.
func processCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func reportCPURate(b *testing.B, size int64, cpu time.Duration) {
	if cpu > 0 {
		b.ReportMetric(float64(size)*float64(b.N)/1e6/cpu.Seconds(), "MB/cpu-s")
	}
}

// BenchmarkWalkArchiveXZ measures the whole unpacking path on the same input.
func BenchmarkWalkArchiveXZ(b *testing.B) {
	in := xzBenchInput(b)
	b.SetBytes(in.rawSize)
	for b.Loop() {
		f, err := os.Open(in.xzPath)
		if err != nil {
			b.Fatal(err)
		}
		err = WalkArchive(f, KindTarXz, func(e ArchiveEntry, r io.Reader) error {
			_, err := io.Copy(io.Discard, r)
			return err
		})
		f.Close()
		if err != nil {
			b.Fatal(err)
		}
	}
}

type xzInput struct {
	xzPath  string
	rawSize int64
	rawSum  []byte
	dir     string
	err     string
}

var (
	xzOnce  sync.Once
	xzBench xzInput
)

// xzBenchInput builds the benchmark input once per test binary run.
func xzBenchInput(b *testing.B) *xzInput {
	b.Helper()
	testenv.RequireBinary(b, "xz") // to make the benchmark input
	xzOnce.Do(func() { xzBench = makeXZInput() })
	if xzBench.err != "" {
		b.Fatal(xzBench.err)
	}
	return &xzBench
}

func makeXZInput() xzInput {
	want := int64(48 << 20)
	if s := os.Getenv("SATCHEL_XZ_BENCH_MB"); s != "" {
		if mb, err := strconv.Atoi(s); err == nil && mb > 0 {
			want = int64(mb) << 20
		}
	}
	goroot, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		return xzInput{err: "go env GOROOT: " + err.Error()}
	}
	toolDir := filepath.Join(strings.TrimSpace(string(goroot)), "pkg", "tool", runtime.GOOS+"_"+runtime.GOARCH)
	entries, err := os.ReadDir(toolDir)
	if err != nil {
		return xzInput{err: "reading Go tool dir: " + err.Error()}
	}
	var files []string
	for _, e := range entries {
		if e.Type().IsRegular() {
			files = append(files, filepath.Join(toolDir, e.Name()))
		}
	}
	sort.Strings(files)
	if len(files) == 0 {
		return xzInput{err: "no Go tool binaries in " + toolDir}
	}
	dir, err := os.MkdirTemp("", "satchel-xzbench-")
	if err != nil {
		return xzInput{err: err.Error()}
	}
	in := xzInput{dir: dir, xzPath: filepath.Join(dir, "tools.tar.xz")}
	rawPath := filepath.Join(dir, "tools.tar")
	raw, err := os.Create(rawPath)
	if err != nil {
		return xzInput{err: err.Error(), dir: dir}
	}
	h := sha256.New()
	cw := &countWriter{w: io.MultiWriter(raw, h)}
	tw := tar.NewWriter(cw)
	// Repeat the tool binaries (under new names) until the tar reaches the size.
	var total int64
	for round := 0; total < want; round++ {
		for _, p := range files {
			if total >= want {
				break
			}
			data, err := os.ReadFile(p)
			if err != nil {
				return xzInput{err: err.Error(), dir: dir}
			}
			if round > 0 {
				data = append(data, byte(round)) // not byte-identical to the first copy
			}
			name := filepath.Base(p) + "." + strconv.Itoa(round)
			tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "bin/" + name, Mode: 0o755, Size: int64(len(data))})
			tw.Write(data)
			total += int64(len(data))
		}
	}
	if err := tw.Close(); err != nil {
		return xzInput{err: err.Error(), dir: dir}
	}
	raw.Close()
	in.rawSize, in.rawSum = cw.n, h.Sum(nil)
	// -T1: one block, like the single-threaded xz most release pipelines run.
	if out, err := exec.Command("xz", "-6", "-T1", "-k", rawPath).CombinedOutput(); err != nil {
		return xzInput{err: "xz: " + err.Error() + ": " + string(out), dir: dir}
	}
	os.Remove(rawPath)
	return in
}

// TestMain removes the xz benchmark's input after the run.
func TestMain(m *testing.M) {
	code := m.Run()
	if xzBench.dir != "" {
		os.RemoveAll(xzBench.dir)
	}
	os.Exit(code)
}
