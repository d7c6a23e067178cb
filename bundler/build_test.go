package bundler

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"

	"github.com/satchel-dev/satchel/component"
	"github.com/satchel-dev/satchel/fetch"
	"github.com/satchel-dev/satchel/internal/fault"
	"github.com/satchel-dev/satchel/internal/mirrorgen"
	"github.com/satchel-dev/satchel/manifest"
	"github.com/satchel-dev/satchel/pack"
	"github.com/satchel-dev/satchel/profiles"
	"github.com/satchel-dev/satchel/provenance"
	"github.com/satchel-dev/satchel/sbom"
	"github.com/satchel-dev/satchel/sign"
	"github.com/satchel-dev/satchel/verify"
)

// env is a local mirror of upstream-shaped archives plus a registry holding
// the spec's images, as a connected CI host would see the internet.
type env struct {
	spec     *manifest.Spec
	mirrors  []fetch.Mirror
	regMirr  []fetch.Mirror
	stop     func()
	reg      *httptest.Server
	signer   *sign.Signer
	pub      *verify.Verifier
	cacheDir string
	mirror   string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	return newEnvFor(t, mirrorgen.DemoSpec())
}

// newEnvFor serves a stand-in mirror and registry for spec.
func newEnvFor(t *testing.T, spec *manifest.Spec) *env {
	t.Helper()
	ctx := context.Background()
	e := &env{spec: spec, cacheDir: t.TempDir(), mirror: t.TempDir()}
	res, err := profiles.Resolve(e.spec)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mirrorgen.Generate(e.mirror, res, mirrorgen.StandIn); err != nil {
		t.Fatal(err)
	}
	base, stop, err := mirrorgen.Serve(e.mirror)
	if err != nil {
		t.Fatal(err)
	}
	e.stop = stop
	t.Cleanup(stop)
	for _, m := range mirrorgen.MirrorFlags(base) {
		mm, err := fetch.ParseMirror(m)
		if err != nil {
			t.Fatal(err)
		}
		e.mirrors = append(e.mirrors, mm)
	}
	e.reg = httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(e.reg.Close)
	host := strings.TrimPrefix(e.reg.URL, "http://")
	if _, err := mirrorgen.PushDemoImages(ctx, host, res.Platforms); err != nil {
		t.Fatal(err)
	}
	e.regMirr = []fetch.Mirror{{From: "docker.io", To: host}, {From: "registry.k8s.io", To: host}}

	priv, pub, err := sign.GenerateKeyPair(sign.ECDSAP256, []byte("pw"))
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "k.key")
	os.WriteFile(keyFile, priv, 0o600)
	e.signer, err = sign.LoadSigner(ctx, keyFile, func(bool) ([]byte, error) { return []byte("pw"), nil })
	if err != nil {
		t.Fatal(err)
	}
	if e.pub, err = verify.LoadVerifier(pub, "test"); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) opts(out string) Options {
	return Options{CacheDir: e.cacheDir, Mirrors: e.mirrors, RegistryMirrors: e.regMirr, Signer: e.signer, Output: out,
		Created: time.Date(2025, 4, 1, 0, 0, 0, 0, time.UTC)}
}

func (e *env) lock(t *testing.T) *manifest.Lock {
	t.Helper()
	lk, err := Lock(context.Background(), e.spec, e.opts(""))
	if err != nil {
		t.Fatal(err)
	}
	return lk
}

func TestLockRecordsWhereEachDigestCameFrom(t *testing.T) {
	e := newEnv(t)
	lk := e.lock(t)
	want := map[string]string{
		"containerd": manifest.DigestFromChecksumFile, "runc": manifest.DigestFromChecksumFile,
		"gvisor": manifest.DigestFromChecksumFile, "nerdctl": manifest.DigestFromChecksumFile,
		"crictl": manifest.DigestFromChecksumFile, "docker": manifest.DigestFromDownload, "kata": manifest.DigestFromDownload,
	}
	seen := map[string]bool{}
	for _, c := range lk.Components {
		seen[c.Name] = true
		if len(c.Artifacts) == 0 {
			t.Errorf("%s: no artifacts", c.Name)
		}
		for _, a := range c.Artifacts {
			if w, ok := want[c.Name]; ok && a.DigestSource != w {
				t.Errorf("%s %s: digest source %q, want %q", c.Name, a.Platform, a.DigestSource, w)
			}
			// The lock's digest must be the digest of what the mirror serves.
			f, err := os.ReadFile(filepath.Join(e.mirror, strings.TrimPrefix(strings.TrimPrefix(a.URL, "https://"), "http://")))
			if err != nil {
				t.Fatalf("mirror file for %s: %v", a.URL, err)
			}
			if got := manifest.DigestOf(a.Digest.Algorithm(), f); got != a.Digest {
				t.Errorf("%s: locked %s, mirror serves %s", a.URL, a.Digest, got)
			}
			// Every artifact's verified size is recorded, whatever its digest's source.
			if a.Size != int64(len(f)) {
				t.Errorf("%s: locked size %d, mirror serves %d bytes", a.URL, a.Size, len(f))
			}
		}
	}
	for name := range want {
		if !seen[name] {
			t.Errorf("component %s missing from lock", name)
		}
	}
	if len(lk.Images) != len(e.spec.Spec.Images) {
		t.Fatalf("images %d", len(lk.Images))
	}
	for _, im := range lk.Images {
		if im.DigestSource != manifest.DigestFromRegistry && im.DigestSource != manifest.DigestFromSpec {
			t.Errorf("%s: digest source %s", im.Ref, im.DigestSource)
		}
	}
	// The lock survives a YAML round trip unchanged.
	b, _ := lk.Marshal()
	lk2, err := manifest.ParseLock(b)
	if err != nil {
		t.Fatal(err)
	}
	b2, _ := lk2.Marshal()
	if !bytes.Equal(b, b2) {
		t.Fatal("lock round trip differs")
	}
}

func TestBuildRealBundleTwoPlatforms(t *testing.T) {
	e := newEnv(t)
	lk := e.lock(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "a.satchel")
	o := e.opts(out)
	o.Lock = lk
	res, err := Build(context.Background(), e.spec, o)
	if err != nil {
		t.Fatal(err)
	}
	ix := res.Index
	if !slices.Equal(ix.Platforms, []string{"linux/amd64", "linux/arm64"}) {
		t.Fatalf("platforms %v", ix.Platforms)
	}

	// Layout and order of entries, every blob digest, using only archive/tar.
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tr := tar.NewReader(f)
	var names []string
	var indexJSON, sig, prov []byte
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
		if h.Uid != 0 || h.Gid != 0 || h.Uname != "" || h.Gname != "" || !h.ModTime.Equal(ix.Created) {
			t.Errorf("%s: header not normalized: %+v", h.Name, h)
		}
		body, _ := io.ReadAll(tr)
		switch {
		case h.Name == "satchel.json":
			indexJSON = body
		case h.Name == "satchel.json.sig":
			sig = body
		case h.Name == "satchel.provenance.json":
			prov = body
		default:
			sum := sha256.Sum256(body)
			if "blobs/sha256/"+hex.EncodeToString(sum[:]) != h.Name {
				t.Errorf("blob %s has sha256 %x", h.Name, sum)
			}
		}
	}
	if len(names) < 4 || names[0] != "satchel.json" || names[1] != "satchel.json.sig" || names[2] != "satchel.provenance.json" {
		t.Fatalf("entry order %v", names[:min(4, len(names))])
	}
	for i, b := range ix.Blobs {
		if names[i+3] != "blobs/sha256/"+b.Digest.Hex() {
			t.Fatalf("entry %d is %s, index says %s", i+3, names[i+3], b.Digest)
		}
	}
	if len(names) != len(ix.Blobs)+3 {
		t.Fatalf("%d entries for %d blobs", len(names), len(ix.Blobs))
	}
	if _, err := verify.VerifySignature([]*verify.Verifier{e.pub}, indexJSON, sig); err != nil {
		t.Fatalf("signature: %v", err)
	}
	// The provenance, as tar extracts it, attests this satchel.json.
	if _, _, err := provenance.Verify(prov, []*verify.Verifier{e.pub}, manifest.DigestOf(manifest.SHA256, indexJSON)); err != nil {
		t.Fatalf("provenance: %v", err)
	}

	// The index against the spec.
	res2, _ := profiles.Resolve(e.spec)
	for _, rc := range res2.Components {
		c, ok := ix.Component(rc.Name)
		if !ok {
			t.Errorf("component %s missing", rc.Name)
			continue
		}
		if c.Version != rc.Version {
			t.Errorf("%s version %s want %s", rc.Name, c.Version, rc.Version)
		}
		for _, p := range ix.Platforms {
			if _, ok := c.Artifact(p); !ok && !(rc.Name == "kata" && p == "linux/arm64" && len(rc.Artifacts) == 1) {
				t.Errorf("%s: no artifact for %s", rc.Name, p)
			}
		}
	}
	cd, _ := ix.Component("containerd")
	a, _ := cd.Artifact("linux/amd64")
	var paths []string
	for _, f := range a.Files {
		paths = append(paths, f.Path)
		if f.Type == "" && (f.Blob == "" || f.Digest == "" || f.Mode != 0o755) {
			t.Errorf("%s: incomplete entry %+v", f.Path, f)
		}
	}
	for _, p := range []string{"/usr/local/bin/containerd", "/usr/local/bin/ctr", "/usr/local/bin/containerd-shim-runc-v2"} {
		if !slices.Contains(paths, p) {
			t.Errorf("containerd files %v lack %s", paths, p)
		}
	}
	if len(ix.Images) != 2 {
		t.Fatalf("images: %+v", ix.Images)
	}
	// Bash completions, generated at build time from the stand-ins: one blob
	// for every platform's artifact, a file of its component.
	if len(res.Warnings) != 0 {
		t.Errorf("warnings: %q", res.Warnings)
	}
	for _, tool := range []string{"nerdctl", "crictl"} {
		c, _ := ix.Component(tool)
		var blob manifest.Digest
		for _, a := range c.Artifacts {
			i := slices.IndexFunc(a.Files, func(f manifest.File) bool { return f.Path == component.CompletionDir+"/"+tool })
			if i < 0 {
				t.Errorf("%s %s: no bash completion", tool, a.Platform)
				continue
			}
			if f := a.Files[i]; f.Mode != 0o644 || blob != "" && f.Blob != blob {
				t.Errorf("%s %s: completion %+v (first platform's blob %s)", tool, a.Platform, f, blob)
			} else {
				blob = f.Blob
			}
		}
	}

	// The strict reader agrees, and every file decompresses to its digest.
	b, err := pack.OpenPath(out)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if _, _, err := pack.VerifyBundle(b, []*verify.Verifier{e.pub}, pack.VerifyOptions{Deep: true}); err != nil {
		t.Fatal(err)
	}
	checkAttestations(t, b, ix, e.pub, o)
	nc, _ := ix.Component("nerdctl")
	for _, f := range nc.Artifacts[len(nc.Artifacts)-1].Files {
		if f.Path != component.CompletionDir+"/nerdctl" {
			continue
		}
		rc, err := b.OpenFile(f)
		if err != nil {
			t.Fatal(err)
		}
		text, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || !strings.Contains(string(text), "\ncomplete -F _satchel_standin_nerdctl nerdctl\n") {
			t.Errorf("nerdctl completion %q (%v)", text, err)
		}
	}

	// Byte-identical rebuild from the same lock; then warm, with the
	// mirror and the registry gone.
	out2 := filepath.Join(dir, "b.satchel")
	o.Output = out2
	if _, err := Build(context.Background(), e.spec, o); err != nil {
		t.Fatal(err)
	}
	assertSameFile(t, out, out2)
	e.stop()
	e.reg.Close()
	out3 := filepath.Join(dir, "c.satchel")
	o.Output = out3
	if _, err := Build(context.Background(), e.spec, o); err != nil {
		t.Fatalf("warm rebuild with mirror and registry stopped: %v", err)
	}
	assertSameFile(t, out, out3)

	// Audit with standard tools only.
	if _, err := exec.LookPath("sha256sum"); err == nil {
		x := t.TempDir()
		cmd := exec.Command("tar", "xf", out, "-C", x)
		if msg, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("tar: %v %s", err, msg)
		}
		// Each blob's name is its sha256: a sums file built from the names alone must check out.
		cmd = exec.Command("sh", "-c", `cd blobs/sha256 && for f in *; do printf '%s  %s\n' "$f" "$f"; done | sha256sum -c --quiet`)
		cmd.Dir = x
		if msg, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("sha256sum -c over blobs failed: %v\n%s", err, msg)
		}
	}
}

func TestTamperedBundleRejected(t *testing.T) {
	e := newEnv(t)
	out := filepath.Join(t.TempDir(), "a.satchel")
	o := e.opts(out)
	o.Lock = e.lock(t)
	if _, err := Build(context.Background(), e.spec, o); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(out)
	// One flipped bit in the index, the signature, a blob header and a blob body.
	ixEnd := bytes.Index(data, []byte("satchel.json.sig"))
	positions := []int{600, ixEnd + 700, len(data) / 2, len(data) - 10240 - 100}
	for _, pos := range positions {
		bad := slices.Clone(data)
		bad[pos] ^= 0x01
		p := filepath.Join(t.TempDir(), "bad.satchel")
		os.WriteFile(p, bad, 0o644)
		b, err := pack.OpenPath(p)
		if err == nil {
			_, _, err = pack.VerifyBundle(b, []*verify.Verifier{e.pub}, pack.VerifyOptions{Deep: true})
			b.Close()
		}
		if err == nil {
			t.Errorf("flipped bit at %d of %d accepted", pos, len(data))
		} else if manifest.ExitCode(err) != manifest.ExitVerification {
			t.Errorf("flipped bit at %d: exit code %d (%v)", pos, manifest.ExitCode(err), err)
		}
	}
}

func TestBadInputsFailCleanly(t *testing.T) {
	e := newEnv(t)
	lk := e.lock(t)
	dir := t.TempDir()
	ctx := context.Background()

	check := func(t *testing.T, err error, out string, wants ...string) {
		t.Helper()
		if err == nil {
			t.Fatal("succeeded")
		}
		for _, w := range wants {
			if !strings.Contains(fault.Text(err), w) {
				t.Errorf("error %q lacks %q", err, w)
			}
		}
		if !strings.Contains(fault.Text(err), "hint: ") {
			t.Errorf("error has no hint line: %v", err)
		}
		if out != "" {
			if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("partial output %s left behind", out)
			}
			ents, _ := os.ReadDir(filepath.Dir(out))
			for _, en := range ents {
				t.Errorf("left behind: %s", en.Name())
			}
		}
	}

	t.Run("wrong pinned digest", func(t *testing.T) {
		// The spec pins runc with a wrong digest; the lock has no say for it.
		spec := cloneSpec(t, e.spec)
		wrong := manifest.Digest("sha256:" + strings.Repeat("0", 64))
		real := setSource(t, spec, lk, "runc", "linux/amd64", wrong)
		lk2 := *lk
		lk2.Components = slices.DeleteFunc(slices.Clone(lk.Components), func(c manifest.LockedComponent) bool { return c.Name == "runc" })
		out := filepath.Join(t.TempDir(), "x.satchel")
		o := e.opts(out)
		o.Lock = &lk2
		o.Platforms = []string{"linux/amd64"}
		o.CacheDir = t.TempDir()
		_, err := Build(ctx, spec, o)
		check(t, err, out, "runc.amd64", string(wrong), string(real))
	})
	t.Run("404", func(t *testing.T) {
		spec := cloneSpec(t, e.spec)
		setSpecSource(spec, "crictl", "", "linux/amd64", manifest.Source{
			URL:    "https://github.com/kubernetes-sigs/cri-tools/releases/download/v9.9.9/crictl-v9.9.9-linux-amd64.tar.gz",
			Digest: manifest.Digest("sha256:" + strings.Repeat("1", 64))})
		out := filepath.Join(t.TempDir(), "x.satchel")
		o := e.opts(out)
		o.Lock = lk
		o.CacheDir = t.TempDir()
		_, err := Build(ctx, spec, o)
		check(t, err, out, "404", "v9.9.9")
	})
	t.Run("unreachable mirror", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "x.satchel")
		o := e.opts(out)
		o.Lock = lk
		o.CacheDir = t.TempDir()
		o.Mirrors = []fetch.Mirror{{From: "https://github.com", To: "http://127.0.0.1:1/github.com"}}
		o.FetchOptions = []fetch.Option{fetch.WithRetries(1)}
		_, err := Build(ctx, e.spec, o)
		check(t, err, out, "127.0.0.1:1")
	})
	t.Run("other size than locked", func(t *testing.T) {
		// The mirror serves the locked bytes, but the lock says the
		// artifact is one byte longer: build refuses before reading a
		// byte, as it would a server now serving a longer file.
		lk2 := *lk
		lk2.Components = slices.Clone(lk.Components)
		var url string
		for i, c := range lk2.Components {
			if c.Name == "containerd" {
				lk2.Components[i].Artifacts = slices.Clone(c.Artifacts)
				lk2.Components[i].Artifacts[0].Size++
				url = c.Artifacts[0].URL
			}
		}
		out := filepath.Join(t.TempDir(), "x.satchel")
		o := e.opts(out)
		o.Lock = &lk2
		o.CacheDir = t.TempDir()
		_, err := Build(ctx, e.spec, o)
		check(t, err, out, url, "bytes were expected")
		if manifest.ExitCode(err) != manifest.ExitVerification {
			t.Errorf("exit code %d, want %d", manifest.ExitCode(err), manifest.ExitVerification)
		}
	})
	t.Run("archive cut short", func(t *testing.T) {
		// Pinned and served as it is, but the gzip stream ends half way: the
		// other artifacts' work stops, the error names the artifact, and
		// neither output nor spooled files are left.
		spec := cloneSpec(t, e.spec)
		res, _ := profiles.Resolve(e.spec)
		c, _ := res.Component("docker")
		good, err := os.ReadFile(filepath.Join(e.mirror, strings.TrimPrefix(c.Artifacts[0].URL, "https://")))
		if err != nil {
			t.Fatal(err)
		}
		cut := good[:len(good)/2]
		url := "https://download.docker.com/linux/static/stable/x86_64/cut/docker-" + c.Version + ".tgz"
		p := filepath.Join(e.mirror, strings.TrimPrefix(url, "https://"))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, cut, 0o644); err != nil {
			t.Fatal(err)
		}
		setSpecSource(spec, "docker", "", "linux/amd64", manifest.Source{URL: url, Digest: manifest.DigestOf("sha256", cut)})
		out := filepath.Join(t.TempDir(), "x.satchel")
		o := e.opts(out)
		o.Lock = lk
		o.CacheDir = t.TempDir()
		_, err = Build(ctx, spec, o)
		if err == nil || !strings.Contains(err.Error(), "unpacking docker") || !strings.Contains(err.Error(), "/cut/") {
			t.Fatalf("error %v", err)
		}
		if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
			t.Error("output left behind")
		}
		if left, _ := os.ReadDir(filepath.Join(o.CacheDir, "spool")); len(left) != 0 {
			t.Errorf("spool holds %d entries", len(left))
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		out := filepath.Join(t.TempDir(), "x.satchel")
		o := e.opts(out)
		o.Lock = lk
		o.CacheDir = t.TempDir()
		if _, err := Build(cctx, e.spec, o); !errors.Is(err, context.Canceled) {
			t.Fatalf("error %v, want context.Canceled", err)
		}
		if left, _ := os.ReadDir(filepath.Join(o.CacheDir, "spool")); len(left) != 0 {
			t.Errorf("spool holds %d entries", len(left))
		}
	})
	t.Run("not pinned", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "x.satchel")
		o := e.opts(out)
		_, err := Build(ctx, e.spec, o)
		check(t, err, out, "pinned neither in the spec nor in the lock")
	})
	t.Run("unknown platform", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "x.satchel")
		o := e.opts(out)
		o.Lock = lk
		o.Platforms = []string{"linux/ppc64le"}
		_, err := Build(ctx, e.spec, o)
		check(t, err, out, "linux/ppc64le")
	})
	t.Run("output exists", func(t *testing.T) {
		out := filepath.Join(dir, "exists.satchel")
		os.WriteFile(out, []byte("mine"), 0o644)
		o := e.opts(out)
		o.Lock = lk
		_, err := Build(ctx, e.spec, o)
		check(t, err, "", "exists", "--force")
		if b, _ := os.ReadFile(out); string(b) != "mine" {
			t.Fatal("existing output was touched")
		}
	})
	t.Run("no key", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "x.satchel")
		o := e.opts(out)
		o.Lock = lk
		o.Signer = nil
		_, err := Build(ctx, e.spec, o)
		check(t, err, out, "signing key")
	})
}

func cloneSpec(t *testing.T, s *manifest.Spec) *manifest.Spec {
	b, err := s.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	c, err := manifest.ParseSpec(b)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// setSource pins a component's artifact for one platform in the spec and
// returns the digest the lock has for it.
func setSource(t *testing.T, s *manifest.Spec, lk *manifest.Lock, name, platform string, d manifest.Digest) manifest.Digest {
	t.Helper()
	for _, c := range lk.Components {
		if c.Name != name {
			continue
		}
		for _, a := range c.Artifacts {
			if a.Platform == platform {
				setSpecSource(s, name, c.Version, platform, manifest.Source{URL: a.URL, Digest: d})
				return a.Digest
			}
		}
	}
	t.Fatalf("%s/%s not in lock", name, platform)
	return ""
}

func setSpecSource(s *manifest.Spec, name, version, platform string, src manifest.Source) {
	for i := range s.Spec.Components {
		c := &s.Spec.Components[i]
		if c.Name == name {
			if c.Sources == nil {
				c.Sources = map[string]manifest.Source{}
			}
			c.Sources[platform] = src
			return
		}
	}
	s.Spec.Components = append(s.Spec.Components, manifest.ComponentSpec{Name: name, Version: version, Sources: map[string]manifest.Source{platform: src}})
}

func assertSameFile(t *testing.T, a, b string) {
	t.Helper()
	x, _ := os.ReadFile(a)
	y, _ := os.ReadFile(b)
	if !bytes.Equal(x, y) {
		i := 0
		for i < len(x) && i < len(y) && x[i] == y[i] {
			i++
		}
		t.Fatalf("%s and %s differ at byte %d: %q vs %q (%d vs %d bytes)", a, b, i, x[max(0, i-200):min(len(x), i+100)], y[max(0, i-200):min(len(y), i+100)], len(x), len(y))
	}
}

// TestBuildSameBytesAnyParallelism builds one spec serially and in parallel,
// each from a cold cache of its own (downloads overlapping with packing) and
// again warm: the bundles are the same bytes.
func TestBuildSameBytesAnyParallelism(t *testing.T) {
	e := newEnv(t)
	lk := e.lock(t)
	dir := t.TempDir()
	var outs []string
	for _, run := range []struct {
		parallelism int
		cache       string
	}{{1, "serial"}, {8, "parallel"}, {3, "parallel"}, {1, "parallel"}} {
		o := e.opts(filepath.Join(dir, fmt.Sprintf("p%d-%s-%d.satchel", run.parallelism, run.cache, len(outs))))
		o.Lock, o.Parallelism, o.CacheDir = lk, run.parallelism, filepath.Join(dir, run.cache)
		if _, err := Build(context.Background(), e.spec, o); err != nil {
			t.Fatalf("parallelism %d: %v", run.parallelism, err)
		}
		outs = append(outs, o.Output)
	}
	for _, out := range outs[1:] {
		assertSameFile(t, outs[0], out)
	}
	// The spools are gone.
	for _, c := range []string{"serial", "parallel"} {
		if left, _ := os.ReadDir(filepath.Join(dir, c, "spool")); len(left) != 0 {
			t.Errorf("%s cache: spool holds %d entries", c, len(left))
		}
	}
}

// checkAttestations: the bundle carries an SBOM listed in its index (the
// same document inspect would generate from the bundle) and a provenance
// that verifies against the bundle, with every artifact and image as a
// resolved dependency, the lock's digest as a parameter and the index's
// created time as the build time.
func checkAttestations(t *testing.T, b *pack.Bundle, ix *manifest.Index, pub *verify.Verifier, o Options) {
	t.Helper()
	d, ok := ix.SBOMDigest()
	if !ok || !ix.HasProvenance() {
		t.Fatalf("attestations %+v", ix.Attestations)
	}
	if bl, ok := ix.Blob(d); !ok || bl.Encoding != manifest.EncodingNone {
		t.Fatalf("SBOM blob %s: %+v", d, bl)
	}
	stored, ok, err := sbom.Stored(ix, b)
	if err != nil || !ok {
		t.Fatalf("stored SBOM: %v %v", ok, err)
	}
	doc, err := sbom.Generate(ix, b, sbom.Options{})
	if err != nil {
		t.Fatal(err)
	}
	again, _ := doc.Encode()
	if !bytes.Equal(stored, again) {
		t.Errorf("the stored SBOM differs from the one generated from the bundle")
	}
	st, key, err := provenance.CheckBundle(b, ix, []*verify.Verifier{pub})
	if err != nil {
		t.Fatal(err)
	}
	if key.KeyID != pub.KeyID {
		t.Errorf("provenance signed by %s", key.KeyID)
	}
	if sd, _ := st.SubjectDigest(); sd != manifest.DigestOf(manifest.SHA256, b.IndexJSON()) {
		t.Errorf("subject %s", sd)
	}
	bd := st.Predicate.BuildDefinition
	if o.Lock != nil && (bd.ExternalParameters.Lock == nil || bd.ExternalParameters.Lock.Digest["sha256"] == "") {
		t.Errorf("no lock digest in the provenance: %+v", bd.ExternalParameters)
	}
	want := len(ix.Images)
	for _, c := range ix.Components {
		want += len(c.Artifacts)
	}
	if len(bd.ResolvedDependencies) != want {
		t.Errorf("%d resolved dependencies, want %d", len(bd.ResolvedDependencies), want)
	}
	if md := st.Predicate.RunDetails.Metadata; md.StartedOn != ix.Created.UTC().Format(time.RFC3339) {
		t.Errorf("startedOn %s, created %s", md.StartedOn, ix.Created)
	}
}
