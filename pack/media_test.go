package pack

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/satchel-dev/satchel/manifest"

	"github.com/satchel-dev/satchel/internal/testenv"
)

func TestSplitJoin(t *testing.T) {
	dir := t.TempDir()
	fx := newFixture(t, filepath.Join(dir, "store"), 300, 50_000, 120_000)
	path := filepath.Join(dir, "b.satchel")
	fx.writeFile(t, path)
	whole, _ := os.ReadFile(path)
	const partSize = 30_000 // not a multiple of the tar block: parts cut through headers
	parts, list, err := Split(path, partSize)
	if err != nil {
		t.Fatal(err)
	}
	if want := (len(whole) + partSize - 1) / partSize; len(parts) != want {
		t.Fatalf("%d parts, want %d", len(parts), want)
	}
	if list != path+PartsListSuffix || parts[0] != path+".001" {
		t.Errorf("names: %s, %v", list, parts)
	}
	var joined []byte
	for _, p := range parts {
		b, _ := os.ReadFile(p)
		if len(b) > partSize {
			t.Errorf("%s is %d bytes", p, len(b))
		}
		joined = append(joined, b...)
	}
	if !bytes.Equal(joined, whole) {
		t.Fatal("parts do not join into the bundle")
	}
	var pl PartsList
	js, _ := os.ReadFile(list)
	if err := json.Unmarshal(js, &pl); err != nil {
		t.Fatal(err)
	}
	if pl.Digest != manifest.DigestOf("sha256", whole) || pl.Size != int64(len(whole)) || pl.Bundle != "b.satchel" {
		t.Errorf("parts list header: %+v", pl)
	}

	os.Remove(path) // the installer only has the parts
	for _, open := range []string{list, parts[0], parts[len(parts)-1], path} {
		t.Run(filepath.Base(open), func(t *testing.T) {
			b, err := OpenPath(open)
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			if stage, err := checkAll(b, true); err != nil {
				t.Fatalf("%s: %v", stage, err)
			}
		})
	}

	// A damaged part is named when it is first read.
	bad := parts[len(parts)-1]
	data, _ := os.ReadFile(bad)
	data[len(data)/2] ^= 1
	os.WriteFile(bad, data, 0o644)
	b, err := OpenPath(list)
	if err != nil {
		t.Fatal(err) // Open reads only the first part
	}
	_, err = checkAll(b, true)
	b.Close()
	if err == nil || !isVerification(err) || !strings.Contains(err.Error(), filepath.Base(bad)) {
		t.Errorf("damaged part: %v", err)
	}
	data[len(data)/2] ^= 1
	os.WriteFile(bad, data, 0o644)

	// A part of the wrong size is refused at once.
	os.WriteFile(bad, data[:len(data)-1], 0o644)
	if _, err := OpenPath(list); err == nil || !isVerification(err) {
		t.Errorf("short part: %v", err)
	}
	os.WriteFile(bad, data, 0o644)

	// Without the list, a part is not enough.
	os.Rename(list, list+".away")
	if _, err := OpenPath(parts[0]); err == nil || manifest.Hint(err) == "" {
		t.Errorf("part without list: %v", err)
	}
	os.Rename(list+".away", list)

	// A list naming a file outside its directory is refused.
	evil := strings.Replace(string(js), `"b.satchel.001"`, `"../b.satchel.001"`, 1)
	os.WriteFile(list, []byte(evil), 0o644)
	if _, err := OpenPath(list); err == nil || !isVerification(err) {
		t.Errorf("list with a path: %v", err)
	}
}

func TestSplitLimits(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "x")
	os.WriteFile(path, make([]byte, 2000), 0o644)
	if _, _, err := Split(path, 0); err == nil {
		t.Error("part size 0 accepted")
	}
	if _, _, err := Split(path, 1); err == nil {
		t.Error("2000 parts accepted")
	}
	for in, want := range map[string]int64{"fat32": PresetFAT32, "DVD": PresetDVD, "bd": PresetBD, "700M": 700 << 20, "4096": 4096, "2G": 2 << 30} {
		if got, err := ParsePartSize(in); err != nil || got != want {
			t.Errorf("ParsePartSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "0", "-5", "cd", "1.5G"} {
		if _, err := ParsePartSize(in); err == nil {
			t.Errorf("ParsePartSize(%q) accepted", in)
		}
	}
}

func TestSelfExtracting(t *testing.T) {
	dir := t.TempDir()
	fx := newFixture(t, filepath.Join(dir, "store"))
	bundle := filepath.Join(dir, "b.satchel")
	fx.writeFile(t, bundle)
	installer := filepath.Join(dir, "satchel-install")
	inst := append([]byte("\x7fELF fake installer "), pseudoRandom(9, 12345)...)
	os.WriteFile(installer, inst, 0o755)
	run := filepath.Join(dir, "b.run")
	if err := WriteSelfExtracting(run, installer, bundle); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(run)
	whole, _ := os.ReadFile(bundle)
	if !bytes.HasPrefix(data, inst) || !bytes.Equal(data[len(inst):len(inst)+len(whole)], whole) {
		t.Fatal("the .run file is not installer + bundle + trailer")
	}
	if fi, _ := os.Stat(run); fi.Mode().Perm() != 0o755 {
		t.Errorf("mode %v", fi.Mode())
	}
	b, err := OpenPath(run)
	if err != nil {
		t.Fatal(err)
	}
	if stage, err := checkAll(b, true); err != nil {
		t.Fatalf("%s: %v", stage, err)
	}
	b.Close()

	// Refuse to nest, and refuse a non-bundle.
	if err := WriteSelfExtracting(filepath.Join(dir, "nested.run"), run, bundle); err == nil {
		t.Error("installer that already carries a bundle accepted")
	}
	if err := WriteSelfExtracting(filepath.Join(dir, "bad.run"), installer, installer); err == nil {
		t.Error("non-bundle accepted as the bundle")
	}

	// A damaged trailer or a byte added before it is caught.
	for name, mod := range map[string]func([]byte) []byte{
		"offset off by one": func(d []byte) []byte { d[len(d)-sfxTrailerLen+7]++; return d },
		"byte appended to the bundle": func(d []byte) []byte {
			t := append([]byte{}, d[len(d)-sfxTrailerLen:]...)
			return append(append(d[:len(d)-sfxTrailerLen], 0), t...)
		},
	} {
		p := filepath.Join(dir, "mod.run")
		os.WriteFile(p, mod(append([]byte{}, data...)), 0o755)
		b, err := OpenPath(p)
		if err == nil {
			_, err = checkAll(b, true)
			b.Close()
		}
		if err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestAuditWithStandardTools checks DESIGN.md's promise: tar(1) lists a
// bundle, and sha256sum of the extracted blobs matches their names.
func TestAuditWithStandardTools(t *testing.T) {
	for _, tool := range []string{"tar", "sha256sum"} {
		testenv.RequireBinary(t, tool)
	}
	dir := t.TempDir()
	fx := newFixture(t, filepath.Join(dir, "store"))
	bundle := filepath.Join(dir, "b.satchel")
	fx.writeFile(t, bundle)

	cmd := exec.Command("tar", "tvf", bundle)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil || stderr.Len() > 0 {
		t.Fatalf("tar tvf: %v\n%s", err, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != 2+len(fx.ix.Blobs) || !strings.HasSuffix(lines[0], " satchel.json") || !strings.HasSuffix(lines[1], " satchel.json.sig") {
		t.Fatalf("tar tvf:\n%s", out)
	}
	for _, l := range lines {
		if !strings.HasPrefix(l, "-rw-r--r-- 0/0 ") {
			t.Errorf("tar tvf line %q: want mode -rw-r--r--, owner 0/0", l)
		}
	}

	x := filepath.Join(dir, "x")
	os.Mkdir(x, 0o755)
	if out, err := exec.Command("tar", "xf", bundle, "-C", x).CombinedOutput(); err != nil {
		t.Fatalf("tar xf: %v\n%s", err, out)
	}
	if js, _ := os.ReadFile(filepath.Join(x, "satchel.json")); !bytes.Equal(js, fx.json) {
		t.Error("extracted satchel.json differs")
	}
	var names []string
	for _, b := range fx.ix.Blobs {
		names = append(names, "blobs/sha256/"+b.Digest.Hex())
	}
	cmd = exec.Command("sha256sum", names...)
	cmd.Dir = x
	out, err = cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	sums := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(sums) != len(names) {
		t.Fatalf("sha256sum:\n%s", out)
	}
	for _, l := range sums {
		sum, name, _ := strings.Cut(l, "  ")
		if filepath.Base(name) != sum {
			t.Errorf("sha256sum: %s is %s", name, sum)
		}
	}
	// And zstd(1) decompresses a file blob to the content the index records.
	if _, err := exec.LookPath("zstd"); err == nil {
		f := fx.ix.Components[0].Artifacts[0].Files[0]
		out, err := exec.Command("zstd", "-dc", filepath.Join(x, "blobs/sha256", f.Blob.Hex())).Output()
		if err != nil {
			t.Fatalf("zstd -dc: %v", err)
		}
		if manifest.DigestOf("sha256", out) != f.Digest {
			t.Error("zstd -dc output does not match the file's digest")
		}
	}
}
