package pack

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/satchel-dev/satchel/manifest"
	ulxz "github.com/ulikunitz/xz"
)

type tarEntry struct {
	hdr  tar.Header
	body string
}

func makeTar(t *testing.T, entries []tarEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := e.hdr
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(e.body))
		}
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(tw, e.body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func compress(t *testing.T, kind string, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	var w io.WriteCloser
	var err error
	switch kind {
	case KindTarGz, KindTgz:
		w = gzip.NewWriter(&buf)
	case KindTarXz:
		w, err = ulxz.NewWriter(&buf)
	case KindTarZst:
		w, err = zstd.NewWriter(&buf)
	case KindTar:
		return data
	}
	if err != nil {
		t.Fatal(err)
	}
	w.Write(data)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

type walked struct {
	e    ArchiveEntry
	body string
}

func walk(kind string, data []byte) ([]walked, error) {
	var got []walked
	err := WalkArchive(bytes.NewReader(data), kind, func(e ArchiveEntry, r io.Reader) error {
		b, err := io.ReadAll(r)
		if e.Type == TypeHardlink {
			if !errors.Is(err, ErrHardlinkContent) {
				return fmt.Errorf("reading hard link %s: %v, want ErrHardlinkContent", e.Name, err)
			}
			err = nil
		}
		got = append(got, walked{e, string(b)})
		return err
	})
	return got, err
}

// sampleArchive looks like an upstream release: a "./" root, nested dirs,
// an executable, a symlink and a hard link.
func sampleArchive(t *testing.T) []byte {
	return makeTar(t, []tarEntry{
		{hdr: tar.Header{Typeflag: tar.TypeDir, Name: "./", Mode: 0o755}},
		{hdr: tar.Header{Typeflag: tar.TypeDir, Name: "./bin/", Mode: 0o755}},
		{hdr: tar.Header{Typeflag: tar.TypeReg, Name: "./bin/containerd", Mode: 0o4755}, body: "ELF containerd"},
		{hdr: tar.Header{Typeflag: tar.TypeSymlink, Name: "bin/ctr-link", Linkname: "../bin/containerd"}},
		{hdr: tar.Header{Typeflag: tar.TypeLink, Name: "bin/containerd-copy", Linkname: "./bin/containerd", Mode: 0o755}},
		{hdr: tar.Header{Typeflag: tar.TypeLink, Name: "bin/second-copy", Linkname: "bin/containerd-copy", Mode: 0o755}},
		{hdr: tar.Header{Typeflag: tar.TypeReg, Name: "bin//runc", Mode: 0o755}, body: strings.Repeat("runc ", 1000)},
	})
}

func TestWalkArchiveKinds(t *testing.T) {
	raw := sampleArchive(t)
	for _, kind := range []string{KindTarGz, KindTgz, KindTarXz, KindTarZst, KindTar} {
		t.Run(kind, func(t *testing.T) {
			got, err := walk(kind, compress(t, kind, raw))
			if err != nil {
				t.Fatal(err)
			}
			want := []walked{
				{ArchiveEntry{Name: "bin", Type: TypeDir, Mode: 0o755}, ""},
				{ArchiveEntry{Name: "bin/containerd", Type: manifest.TypeFile, Mode: 0o4755, Size: 14}, "ELF containerd"},
				{ArchiveEntry{Name: "bin/ctr-link", Type: manifest.TypeSymlink, Mode: 0o644, Linkname: "../bin/containerd"}, ""},
				{ArchiveEntry{Name: "bin/containerd-copy", Type: TypeHardlink, Mode: 0o755, Size: 14, Linkname: "bin/containerd"}, ""},
				{ArchiveEntry{Name: "bin/second-copy", Type: TypeHardlink, Mode: 0o755, Size: 14, Linkname: "bin/containerd"}, ""},
				{ArchiveEntry{Name: "bin/runc", Type: manifest.TypeFile, Mode: 0o755, Size: 5000}, strings.Repeat("runc ", 1000)},
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("got\n%v\nwant\n%v", got, want)
			}
		})
	}
}

func TestWalkArchiveCorrupt(t *testing.T) {
	gz := compress(t, KindTarGz, sampleArchive(t))
	gz[len(gz)-6] ^= 0xff // inside the CRC-32 trailer: only draining the stream notices
	if _, err := walk(KindTarGz, gz); err == nil {
		t.Error("gzip with a bad checksum accepted")
	}
	if _, err := walk(KindTarXz, []byte("not xz at all")); err == nil {
		t.Error("garbage accepted as xz")
	}
	trunc := compress(t, KindTarZst, sampleArchive(t))
	if _, err := walk(KindTarZst, trunc[:len(trunc)/2]); err == nil {
		t.Error("truncated zstd accepted")
	}
	if _, err := walk("zip", nil); err == nil {
		t.Error("unknown kind accepted")
	}
	if _, err := walk(KindBinary, []byte("x")); err == nil || manifest.Hint(err) == "" {
		t.Errorf("binary through WalkArchive: %v", err)
	}
}

func TestWalkArchiveUnsafe(t *testing.T) {
	cases := map[string]tar.Header{
		"dotdot":                  {Typeflag: tar.TypeReg, Name: "../etc/passwd"},
		"inner dotdot":            {Typeflag: tar.TypeReg, Name: "bin/../../x"},
		"dotdot that cleans away": {Typeflag: tar.TypeReg, Name: "a/../b"},
		"absolute":                {Typeflag: tar.TypeReg, Name: "/usr/bin/x"},
		"char device":             {Typeflag: tar.TypeChar, Name: "dev/null", Devmajor: 1, Devminor: 3},
		"block device":            {Typeflag: tar.TypeBlock, Name: "dev/sda", Devmajor: 8},
		"fifo":                    {Typeflag: tar.TypeFifo, Name: "pipe"},
		"dangling hardlink":       {Typeflag: tar.TypeLink, Name: "x", Linkname: "not-there"},
		"hardlink escaping":       {Typeflag: tar.TypeLink, Name: "x", Linkname: "../etc/shadow"},
		"hardlink to dir":         {Typeflag: tar.TypeLink, Name: "x", Linkname: "d"},
		"root as file":            {Typeflag: tar.TypeReg, Name: "."},
	}
	for name, h := range cases {
		t.Run(name, func(t *testing.T) {
			data := makeTar(t, []tarEntry{{hdr: tar.Header{Typeflag: tar.TypeDir, Name: "d/"}}, {hdr: h}})
			var names []string
			err := WalkArchive(bytes.NewReader(data), KindTar, func(e ArchiveEntry, _ io.Reader) error {
				names = append(names, e.Name)
				return nil
			})
			if !errors.Is(err, ErrUnsafeEntry) || !isVerification(err) || manifest.Hint(err) == "" {
				t.Fatalf("err = %v", err)
			}
			if len(names) != 1 { // the harmless first entry only
				t.Errorf("entries reported before the error: %v", names)
			}
		})
	}
}

func TestWalkArchiveCallbackError(t *testing.T) {
	stop := errors.New("stop")
	err := WalkArchive(bytes.NewReader(sampleArchive(t)), KindTar, func(ArchiveEntry, io.Reader) error { return stop })
	if err != stop {
		t.Fatalf("err = %v", err)
	}
}

func TestWalkBinary(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "runc")
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("#!binary")
	f.Seek(0, 0)
	defer f.Close()
	var got []walked
	err = WalkBinary(f, "runc.amd64", func(e ArchiveEntry, r io.Reader) error {
		b, _ := io.ReadAll(r)
		got = append(got, walked{e, string(b)})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []walked{{ArchiveEntry{Name: "runc.amd64", Type: manifest.TypeFile, Mode: 0o755, Size: 8}, "#!binary"}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got %v, want %v", got, want)
	}
	err = WalkBinary(strings.NewReader("x"), "plain", func(e ArchiveEntry, r io.Reader) error {
		if e.Size != -1 {
			t.Errorf("size of a plain reader: %d", e.Size)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := WalkBinary(strings.NewReader("x"), "../x", func(ArchiveEntry, io.Reader) error { return nil }); err == nil {
		t.Error("unsafe name accepted")
	}
}

func TestArchiveKind(t *testing.T) {
	for url, want := range map[string]string{
		"https://github.com/containerd/containerd/releases/download/v2.0.4/containerd-static-2.0.4-linux-amd64.tar.gz": KindTarGz,
		"https://example.com/crictl-v1.32.0-linux-amd64.tgz":                                                           KindTgz,
		"https://github.com/kata-containers/kata-containers/releases/download/3.1.3/kata-static-3.1.3-x86_64.tar.xz":   KindTarXz,
		"https://example.com/x.tar.zst?download=1":                                                                     KindTarZst,
		"https://example.com/x.TAR.GZ#frag":                                                                            KindTarGz,
		"https://example.com/x.tar":                                                                                    KindTar,
		"https://github.com/opencontainers/runc/releases/download/v1.2.5/runc.amd64":                                   KindBinary,
		"https://storage.googleapis.com/gvisor/releases/release/20250407/x86_64/runsc":                                 KindBinary,
	} {
		got, err := ArchiveKind(url)
		if err != nil || got != want {
			t.Errorf("ArchiveKind(%s) = %q, %v; want %q", url, got, err, want)
		}
	}
	for _, url := range []string{"https://example.com/x.zip", "https://example.com/x.tar.bz2", "https://example.com/x.gz", "https://example.com/", "https://example.com", "https://example.com/dir/"} {
		if got, err := ArchiveKind(url); err == nil {
			t.Errorf("ArchiveKind(%s) = %q, want an error", url, got)
		}
	}
}

// Old tar writers mark regular files with a NUL typeflag; they are files.
func TestWalkArchiveOldRegularFile(t *testing.T) {
	data := makeTar(t, []tarEntry{{hdr: tar.Header{Typeflag: tar.TypeReg, Name: "bin/old", Mode: 0o755}, body: "old"}})
	data[156] = 0
	fixChecksum(data[:blockSize])
	got, err := walk(KindTar, data)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].e.Type != manifest.TypeFile || got[0].body != "old" {
		t.Errorf("got %v", got)
	}
}
