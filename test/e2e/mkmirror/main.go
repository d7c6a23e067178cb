// Command mkmirror is the Go side of satchel's end-to-end tests (test/e2e/run.sh,
// test/e2e/vm.sh). It is a test tool, not part of satchel.
//
// # Subcommands
//
//	mkmirror gen -f bundle.yaml -dir DIR [-file NAME=PATH]... [-cache DIR [-salt S]]
//	    Resolve the spec (no digests: lock takes them from the mirror) and write
//	    every artifact in its upstream shape under DIR/<host>/<path>, with
//	    upstream's checksum files (internal/mirrorgen.Generate). Files are taken
//	    from disk by base name (-file containerd=/path/to/containerd); files
//	    with no -file entry are mirrorgen's labelled stand-ins. Several gen runs
//	    may share DIR (their URLs differ; shared artifacts are identical).
//	    With -cache, the generated files are kept under CACHE/<key> (key: -salt,
//	    a digest of the generator's sources, else this tool's own executable;
//	    the spec; every input file's name, size and mtime) and hard-linked
//	    from there on a warm run: generation is deterministic, and gzip -9 of
//	    ~400 MB of binaries is the slow part.
//	mkmirror serve -dir DIR -addr-file F
//	    Serve DIR on a loopback port (mirrorgen.Serve) until SIGTERM/SIGINT;
//	    write the base URL (http://127.0.0.1:PORT) to F once listening.
//	mkmirror freeport
//	    Print a free loopback TCP port.
//	mkmirror toml-get FILE KEY...
//	    Print the value at the key path as JSON (exit 1 if absent), e.g.
//	    toml-get config.toml plugins io.containerd.grpc.v1.cri max_container_log_line_size
//	mkmirror toml-set IN OUT VALUE KEY...
//	    Copy a TOML file with one key set (VALUE is JSON: true, 8192, "x").
//	    Used only for test-only overrides layered onto a copy of a rendered
//	    config; the tree's own files are never touched.
//	mkmirror checks FILE
//	    Flatten a satchel-install --json report (doctor checks, preflight
//	    findings) into TAB-separated lines: name, result, detail, remedy.
//	mkmirror json-get FILE KEY...       print the value at the key path as JSON
//	mkmirror json-keys FILE KEY...      print the keys of the object there, one a line
//	mkmirror bundle-file BUNDLE PLATFORM PATH OUT
//	    Write the file the bundle's index installs at PATH for PLATFORM to OUT,
//	    through pack's verifying reader (blob digest, then content digest).
//	    Only for harness workarounds, each marked TODO where it is used.
package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/pelletier/go-toml/v2"

	"github.com/satchel-dev/satchel/internal/mirrorgen"
	"github.com/satchel-dev/satchel/manifest"
	"github.com/satchel-dev/satchel/pack"
	"github.com/satchel-dev/satchel/profiles"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "gen":
		err = gen(os.Args[2:])
	case "serve":
		err = serve(os.Args[2:])
	case "freeport":
		err = freeport()
	case "toml-get":
		err = tomlGet(os.Args[2:])
	case "toml-set":
		err = tomlSet(os.Args[2:])
	case "checks":
		err = checks(os.Args[2:])
	case "json-get":
		err = jsonGet(os.Args[2:], false)
	case "json-keys":
		err = jsonGet(os.Args[2:], true)
	case "bundle-file":
		err = bundleFile(os.Args[2:])
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "mkmirror:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: mkmirror gen|serve|freeport|toml-get|toml-set|checks ... (see the package doc)")
	os.Exit(2)
}

type fileFlags map[string]string

func (f fileFlags) String() string { return fmt.Sprint(map[string]string(f)) }
func (f fileFlags) Set(s string) error {
	name, p, ok := strings.Cut(s, "=")
	if !ok || name == "" || p == "" {
		return fmt.Errorf("want NAME=PATH, got %q", s)
	}
	f[name] = p
	return nil
}

func gen(args []string) error {
	fl := flag.NewFlagSet("gen", flag.ExitOnError)
	specFile := fl.String("f", "bundle.yaml", "bundle spec")
	dir := fl.String("dir", "", "mirror directory")
	cache := fl.String("cache", "", "keep generated sites here, keyed by their inputs")
	salt := fl.String("salt", "", "cache key of the generator's code (default: this executable's digest)")
	files := fileFlags{}
	fl.Var(files, "file", "NAME=PATH: take file NAME from PATH (repeatable)")
	fl.Parse(args)
	if *dir == "" {
		return errors.New("gen: -dir is required")
	}
	specBytes, err := os.ReadFile(*specFile)
	if err != nil {
		return err
	}
	spec, err := manifest.ParseSpec(specBytes)
	if err != nil {
		return err
	}
	res, err := profiles.Resolve(spec)
	if err != nil {
		return err
	}
	if *cache == "" {
		return generate(*dir, res, files)
	}
	key, err := cacheKey(*salt, specBytes, files)
	if err != nil {
		return err
	}
	cdir := filepath.Join(*cache, key)
	if _, err := os.Stat(filepath.Join(cdir, ".done")); err != nil {
		tmp := cdir + ".tmp"
		os.RemoveAll(tmp)
		if err := generate(tmp, res, files); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(tmp, ".done"), nil, 0o644); err != nil {
			return err
		}
		os.RemoveAll(cdir)
		if err := os.Rename(tmp, cdir); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "mkmirror: generated %s (cached as %s)\n", *specFile, cdir)
	} else {
		fmt.Fprintf(os.Stderr, "mkmirror: %s: cached site %s\n", *specFile, cdir)
	}
	// The entry's mtime says when it was last used (sources.sh prunes by it).
	now := time.Now()
	os.Chtimes(cdir, now, now)
	return copyTree(cdir, *dir)
}

func generate(dir string, res *profiles.Resolved, files fileFlags) error {
	site, err := mirrorgen.Generate(dir, res, mirrorgen.FromFiles(files, mirrorgen.StandIn))
	if err != nil {
		return err
	}
	for _, f := range site.Files {
		fmt.Fprintln(os.Stderr, "  "+f)
	}
	return nil
}

// cacheKey covers everything Generate's output depends on: the generator's
// code (salt: a digest of its sources, or else this executable, which links
// mirrorgen in but also unrelated packages), the spec and the input files.
func cacheKey(salt string, spec []byte, files fileFlags) (string, error) {
	h := sha256.New()
	if salt != "" {
		fmt.Fprintf(h, "salt %s\x00", salt)
	} else {
		self, err := os.Executable()
		if err != nil {
			return "", err
		}
		f, err := os.Open(self)
		if err != nil {
			return "", err
		}
		_, err = io.Copy(h, f)
		f.Close()
		if err != nil {
			return "", err
		}
	}
	h.Write(spec)
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fi, err := os.Stat(files[n])
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "\x00%s=%s %d %d", n, files[n], fi.Size(), fi.ModTime().UnixNano())
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

// copyTree copies regular files from src into dst (hard links where possible).
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if rel == ".done" {
			return nil
		}
		t := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(t, 0o755)
		}
		os.Remove(t)
		if os.Link(p, t) == nil {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(t, b, 0o644)
	})
}

func serve(args []string) error {
	fl := flag.NewFlagSet("serve", flag.ExitOnError)
	dir := fl.String("dir", "", "directory to serve")
	addrFile := fl.String("addr-file", "", "write the base URL here")
	fl.Parse(args)
	if *dir == "" || *addrFile == "" {
		return errors.New("serve: -dir and -addr-file are required")
	}
	base, stop, err := mirrorgen.Serve(*dir)
	if err != nil {
		return err
	}
	defer stop()
	if err := os.WriteFile(*addrFile+".tmp", []byte(base+"\n"), 0o644); err != nil {
		return err
	}
	if err := os.Rename(*addrFile+".tmp", *addrFile); err != nil {
		return err
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	return nil
}

func freeport() error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer ln.Close()
	fmt.Println(ln.Addr().(*net.TCPAddr).Port)
	return nil
}

func readTOML(p string) (map[string]any, error) {
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := toml.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	return m, nil
}

func tomlGet(args []string) error {
	if len(args) < 2 {
		return errors.New("usage: toml-get FILE KEY [KEY]")
	}
	m, err := readTOML(args[0])
	if err != nil {
		return err
	}
	var v any = m
	for _, k := range args[1:] {
		mm, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: %q is not a table", args[0], k)
		}
		if v, ok = mm[k]; !ok {
			return fmt.Errorf("%s: no key %s", args[0], strings.Join(args[1:], "."))
		}
	}
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	fmt.Println(string(b))
	return nil
}

func tomlSet(args []string) error {
	if len(args) < 4 {
		return errors.New("usage: toml-set IN OUT VALUE KEY [KEY]")
	}
	m, err := readTOML(args[0])
	if err != nil {
		return err
	}
	var val any
	if err := json.Unmarshal([]byte(args[2]), &val); err != nil {
		return fmt.Errorf("value %q is not JSON: %w", args[2], err)
	}
	if f, ok := val.(float64); ok && f == float64(int64(f)) {
		val = int64(f)
	}
	keys := args[3:]
	t := m
	for _, k := range keys[:len(keys)-1] {
		next, ok := t[k].(map[string]any)
		if !ok {
			if _, exists := t[k]; exists {
				return fmt.Errorf("%s: %q is not a table", args[0], k)
			}
			next = map[string]any{}
			t[k] = next
		}
		t = next
	}
	t[keys[len(keys)-1]] = val
	b, err := toml.Marshal(m)
	if err != nil {
		return err
	}
	return os.WriteFile(args[1], b, 0o644)
}

// checks prints the rows of a report: objects that have a "name" and a
// "result" (doctor), or an "id" and a "severity" (preflight findings).
func checks(args []string) error {
	if len(args) != 1 {
		return errors.New("usage: checks FILE")
	}
	b, err := os.ReadFile(args[0])
	if err != nil {
		return err
	}
	var doc any
	if err := json.Unmarshal(b, &doc); err != nil {
		return fmt.Errorf("%s: %w", args[0], err)
	}
	str := func(m map[string]any, k string) string {
		s, _ := m[k].(string)
		return strings.ReplaceAll(strings.ReplaceAll(s, "\t", " "), "\n", " ")
	}
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			switch {
			case x["name"] != nil && x["result"] != nil:
				fmt.Printf("%s\t%s\t%s\t%s\n", str(x, "name"), str(x, "result"), str(x, "detail"), str(x, "remedy"))
				return
			case x["id"] != nil && x["severity"] != nil:
				name := str(x, "id")
				if c := str(x, "component"); c != "" {
					name += "(" + c + ")"
				}
				fmt.Printf("%s\t%s\t%s\t%s\n", name, str(x, "severity"), str(x, "message"), str(x, "remedy"))
				return
			}
			keys := make([]string, 0, len(x))
			for k := range x {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				walk(x[k])
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(doc)
	return nil
}

func jsonGet(args []string, keys bool) error {
	if len(args) < 1 {
		return errors.New("usage: json-get|json-keys FILE KEY [KEY]")
	}
	b, err := os.ReadFile(args[0])
	if err != nil {
		return err
	}
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return fmt.Errorf("%s: %w", args[0], err)
	}
	for _, k := range args[1:] {
		m, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: %q: not an object", args[0], k)
		}
		if v, ok = m[k]; !ok {
			return fmt.Errorf("%s: no key %s", args[0], strings.Join(args[1:], "."))
		}
	}
	if !keys {
		out, err := json.Marshal(v)
		if err != nil {
			return err
		}
		fmt.Println(string(out))
		return nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return fmt.Errorf("%s: %s is not an object", args[0], strings.Join(args[1:], "."))
	}
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	for _, k := range ks {
		fmt.Println(k)
	}
	return nil
}

func bundleFile(args []string) error {
	if len(args) != 4 {
		return errors.New("usage: bundle-file BUNDLE PLATFORM PATH OUT")
	}
	f, err := os.Open(args[0])
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	b, err := pack.Open(f, fi.Size())
	if err != nil {
		return err
	}
	ix, err := b.Index()
	if err != nil {
		return err
	}
	if err := b.CheckLayout(ix); err != nil {
		return err
	}
	for _, c := range ix.Components {
		for _, a := range c.ArtifactsFor(args[1]) {
			for _, file := range a.Files {
				if file.Path != args[2] {
					continue
				}
				r, err := b.OpenFile(file)
				if err != nil {
					return err
				}
				defer r.Close()
				out, err := os.OpenFile(args[3], os.O_WRONLY|os.O_CREATE|os.O_TRUNC, os.FileMode(file.Mode))
				if err != nil {
					return err
				}
				if _, err := io.Copy(out, r); err != nil {
					out.Close()
					os.Remove(args[3])
					return err
				}
				return out.Close()
			}
		}
	}
	return fmt.Errorf("%s: no file %s for %s in the index", args[0], args[2], args[1])
}
