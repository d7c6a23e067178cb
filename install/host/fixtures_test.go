package host

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// hostFixture is testdata/hosts/<name>/host.json: what no file of the
// fixture's trees can carry (see testdata/hosts/README.md).
type hostFixture struct {
	Uname struct {
		Release, Machine string
	}
	PageSize  int
	PidfdOpen bool
	Libc      struct {
		Path, Machine, Glibc string
	}
}

// loadHost copies testdata/hosts/<name> to a temporary directory, lets
// edit change the copy, and runs Gather on it.
func loadHost(t *testing.T, name string, edit func(dir string)) *Facts {
	t.Helper()
	dir := filepath.Join(t.TempDir(), name)
	copyTree(t, filepath.Join("testdata", "hosts", name), dir)
	var hf hostFixture
	b, err := os.ReadFile(filepath.Join(dir, "host.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &hf); err != nil {
		t.Fatalf("%s/host.json: %v", name, err)
	}
	if hf.Libc.Path != "" {
		lib := filepath.Join(dir, "root", hf.Libc.Path)
		writeFakeLibc(t, lib, hf.Libc.Machine, hf.Libc.Glibc)
		if err := os.Symlink(filepath.Base(lib), filepath.Join(filepath.Dir(lib), "libc.so.6")); err != nil {
			t.Fatal(err)
		}
	}
	if edit != nil {
		edit(dir)
	}
	f, err := Gather(filepath.Join(dir, "root"),
		WithProcDir(filepath.Join(dir, "proc")),
		WithSysDir(filepath.Join(dir, "sys")),
		WithDevDir(filepath.Join(dir, "dev")),
		WithRunDir(filepath.Join(dir, "run")),
		WithModulesDir(filepath.Join(dir, "lib", "modules")),
		WithUname(func() (string, string, error) { return hf.Uname.Release, hf.Uname.Machine, nil }),
		WithPageSize(hf.PageSize),
		WithPidfdOpenProbe(func() (bool, error) { return hf.PidfdOpen, nil }),
		WithKVMProbe(func(string) error { return nil }), // dev/kvm is a plain file
		WithPackageQuery(func(string, []string) ([]Package, error) { return nil, nil }),
		WithInstallerSize(9<<20),
	)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// copyTree copies files, directories and symlinks (as links), keeping modes.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		out := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			return os.MkdirAll(out, 0o755)
		case info.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(target, out)
		default:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			return os.WriteFile(out, b, info.Mode().Perm())
		}
	})
	if err != nil {
		t.Fatal(err)
	}
}

// writeFakeLibc writes the smallest ELF shared object that debug/elf
// reads as a C library for machine ("x86_64", "aarch64"): no code, a
// dynamic symbol table with only the null symbol, and version definitions
// libc.so.6, GLIBC_2.2.5 (x86_64) or GLIBC_2.17 (aarch64), every 2.N up to
// glibc, and GLIBC_PRIVATE, as glibc defines them.
func writeFakeLibc(t *testing.T, path, machine, glibc string) {
	t.Helper()
	var em elf.Machine
	var names []string
	switch machine {
	case "x86_64":
		em, names = elf.EM_X86_64, []string{"GLIBC_2.2.5"}
	case "aarch64":
		em, names = elf.EM_AARCH64, []string{"GLIBC_2.17"}
	default:
		t.Fatalf("writeFakeLibc: machine %q", machine)
	}
	var last int
	if _, err := fmt.Sscanf(glibc, "2.%d", &last); err != nil {
		t.Fatalf("writeFakeLibc: glibc %q", glibc)
	}
	for n := 18; n <= last; n++ {
		names = append(names, fmt.Sprintf("GLIBC_2.%d", n))
	}
	names = append([]string{"libc.so.6"}, append(names, "GLIBC_PRIVATE")...)

	le := binary.LittleEndian
	dynstr := []byte{0}
	verdef := new(bytes.Buffer)
	for i, n := range names {
		off := uint32(len(dynstr))
		dynstr = append(append(dynstr, n...), 0)
		flags, next := uint16(0), uint32(28)
		if i == 0 {
			flags = uint16(elf.VER_FLG_BASE)
		}
		if i == len(names)-1 {
			next = 0
		}
		// Elf64_Verdef: version, flags, ndx, cnt, hash, aux, next; then Elf64_Verdaux: name, next.
		for _, v := range []any{uint16(1), flags, uint16(i + 1), uint16(1), uint32(0), uint32(20), next, off, uint32(0)} {
			if err := binary.Write(verdef, le, v); err != nil {
				t.Fatal(err)
			}
		}
	}
	shstr := []byte{0}
	name := func(s string) uint32 {
		off := uint32(len(shstr))
		shstr = append(append(shstr, s...), 0)
		return off
	}
	type section struct {
		hdr  elf.Section64
		data []byte
	}
	secs := []section{
		{},
		{elf.Section64{Name: name(".dynstr"), Type: uint32(elf.SHT_STRTAB), Addralign: 1}, dynstr},
		{elf.Section64{Name: name(".dynsym"), Type: uint32(elf.SHT_DYNSYM), Link: 1, Info: 1, Addralign: 8, Entsize: elf.Sym64Size}, make([]byte, elf.Sym64Size)},
		{elf.Section64{Name: name(".gnu.version"), Type: uint32(elf.SHT_GNU_VERSYM), Link: 2, Addralign: 2, Entsize: 2}, make([]byte, 2)},
		{elf.Section64{Name: name(".gnu.version_d"), Type: uint32(elf.SHT_GNU_VERDEF), Link: 1, Info: uint32(len(names)), Addralign: 8}, verdef.Bytes()},
	}
	secs = append(secs, section{elf.Section64{Name: name(".shstrtab"), Type: uint32(elf.SHT_STRTAB), Addralign: 1}, nil})
	secs[len(secs)-1].data = shstr

	const ehsize = 64
	body := new(bytes.Buffer)
	for i := range secs {
		if i == 0 {
			continue
		}
		for (ehsize+body.Len())%8 != 0 {
			body.WriteByte(0)
		}
		secs[i].hdr.Off = uint64(ehsize + body.Len())
		secs[i].hdr.Size = uint64(len(secs[i].data))
		body.Write(secs[i].data)
	}
	for (ehsize+body.Len())%8 != 0 {
		body.WriteByte(0)
	}
	hdr := elf.Header64{
		Type: uint16(elf.ET_DYN), Machine: uint16(em), Version: uint32(elf.EV_CURRENT),
		Shoff: uint64(ehsize + body.Len()), Ehsize: ehsize, Phentsize: 56, Shentsize: 64,
		Shnum: uint16(len(secs)), Shstrndx: uint16(len(secs) - 1),
	}
	copy(hdr.Ident[:], elf.ELFMAG)
	hdr.Ident[elf.EI_CLASS] = byte(elf.ELFCLASS64)
	hdr.Ident[elf.EI_DATA] = byte(elf.ELFDATA2LSB)
	hdr.Ident[elf.EI_VERSION] = byte(elf.EV_CURRENT)
	out := new(bytes.Buffer)
	binary.Write(out, le, hdr)
	out.Write(body.Bytes())
	for _, s := range secs {
		binary.Write(out, le, s.hdr)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, out.Bytes(), 0o755); err != nil {
		t.Fatal(err)
	}
}

func TestFakeLibc(t *testing.T) {
	for machine, want := range map[string]string{"x86_64": "amd64", "aarch64": "arm64"} {
		p := filepath.Join(t.TempDir(), "libc.so.6")
		writeFakeLibc(t, p, machine, "2.28")
		if v, err := GlibcVersion(p); err != nil || v != "2.28" {
			t.Errorf("%s: GlibcVersion = %q, %v", machine, v, err)
		}
		if a, err := libcArch(filepath.Dir(p), "/libc.so.6"); err != nil || a != want {
			t.Errorf("%s: libcArch = %q, %v", machine, a, err)
		}
	}
}

var updateGolden = flag.Bool("update", false, "rewrite testdata/hosts/*/facts.json from the fixtures")

// TestFixtureFactsGolden: Gather on each host fixture gives the facts in
// its facts.json, which other packages' tests load as data (a 64K-page
// Kylin aarch64 host, say) without running Gather themselves.
func TestFixtureFactsGolden(t *testing.T) {
	for _, name := range []string{"kylin-v10-sp3-aarch64-64k", "kylin-v10-sp3-x86_64"} {
		t.Run(name, func(t *testing.T) {
			f := loadHost(t, name, nil)
			f.Disks, f.Root = nil, "/" // where the temporary copy lives: not the fixture's
			got, err := json.MarshalIndent(f, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, '\n')
			p := filepath.Join("testdata", "hosts", name, "facts.json")
			if *updateGolden {
				if err := os.WriteFile(p, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(p)
			if err != nil {
				t.Fatalf("%v (run go test -run TestFixtureFactsGolden -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("Gather on %s differs from %s (run with -update if the change is intended):\n%s", name, p, got)
			}
		})
	}
}
