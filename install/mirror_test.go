package install

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/satchel-dev/satchel/install/config"
	"github.com/satchel-dev/satchel/install/rootfs"
	"github.com/satchel-dev/satchel/install/state"
)

func testCAPEM(t *testing.T) []byte {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "satchel test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func mirrors(t *testing.T, specs ...string) []config.RegistryMirror {
	t.Helper()
	var out []config.RegistryMirror
	for _, s := range specs {
		m, err := config.ParseRegistryMirror(s)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m)
	}
	return out
}

// TestRegistryMirrorWithCA: what satchel-bundle push fills, nodes pull
// from: hosts.toml per registry naming the mirror under its path and the
// CA, the CA where containerd and Docker look for it, Docker's daemon.json
// only where Docker can use the mirror (said in warnings otherwise). A
// second apply changes nothing; uninstall takes all of it back.
func TestRegistryMirrorWithCA(t *testing.T) {
	e := newEnv(t, defaultFixture())
	userDaemon := "{\n  \"registry-mirrors\": [\"https://old.example\"]\n}\n"
	e.write("/etc/docker/daemon.json", userDaemon, 0o644)
	before := snapshot(t, e.root)
	ca := testCAPEM(t)
	opts := []Option{WithRegistryMirrors(mirrors(t, "docker.io=harbor.internal/satchel", "registry.k8s.io=harbor.internal/satchel", "quay.io=http://10.0.0.5:5000")...), WithRegistryCA(ca)}

	rep := e.mustApply(opts...)
	var hosts struct {
		Server string
		Host   map[string]map[string]any
	}
	if err := tomlDecode([]byte(e.read("/etc/containerd/certs.d/docker.io/hosts.toml")), &hosts); err != nil {
		t.Fatal(err)
	}
	h := hosts.Host["https://harbor.internal/v2/satchel"]
	if hosts.Server != "https://registry-1.docker.io" || h["override_path"] != true || h["ca"] != "/etc/containerd/certs.d/harbor.internal/ca.crt" ||
		!slices.Equal(anyStrings(h["capabilities"]), []string{"pull", "resolve"}) || h["skip_verify"] != nil || len(hosts.Host) != 1 {
		t.Errorf("docker.io hosts.toml: %+v", hosts)
	}
	if got := e.read("/etc/containerd/certs.d/registry.k8s.io/hosts.toml"); !strings.Contains(got, `[host.'https://harbor.internal/v2/satchel']`) {
		t.Errorf("registry.k8s.io hosts.toml:\n%s", got)
	}
	if got := e.read("/etc/containerd/certs.d/quay.io/hosts.toml"); strings.Contains(got, "ca =") || !strings.Contains(got, "http://10.0.0.5:5000") {
		t.Errorf("plain-HTTP mirror got a CA, or is missing:\n%s", got)
	}
	for _, p := range []rootfs.Path{"/etc/containerd/certs.d/harbor.internal/ca.crt", "/etc/docker/certs.d/harbor.internal/ca.crt"} {
		if e.read(p) != string(ca) {
			t.Errorf("%s is not the CA", p)
		}
		if fi, err := os.Stat(filepath.Join(e.root, string(p))); err != nil || fi.Mode().Perm() != 0o644 {
			t.Errorf("%s: %v %v", p, fi.Mode(), err)
		}
	}
	var dj map[string]any
	if err := json.Unmarshal([]byte(e.read("/etc/docker/daemon.json")), &dj); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(anyStrings(dj["registry-mirrors"]), []string{"https://old.example"}) || !slices.Equal(anyStrings(dj["insecure-registries"]), []string{"10.0.0.5:5000"}) {
		t.Errorf("daemon.json: %v", dj)
	}
	warned := strings.Join(rep.Plan.Warnings, "\n")
	for _, w := range []string{"Docker cannot use registry mirror harbor.internal/satchel for docker.io", "Docker mirrors only Docker Hub", "http://10.0.0.5:5000 speaks plain HTTP: the registry CA does not apply"} {
		if !strings.Contains(warned, w) {
			t.Errorf("no warning %q in:\n%s", w, warned)
		}
	}
	st, _ := e.state()
	for _, p := range []rootfs.Path{"/etc/containerd/certs.d/harbor.internal/ca.crt", "/etc/docker/certs.d/harbor.internal/ca.crt", "/etc/containerd/certs.d/docker.io/hosts.toml"} {
		if f, ok := st.File(p); !ok || f.Kind != state.KindConfig {
			t.Errorf("%s not recorded in the state: %+v", p, f)
		}
	}

	if rep := e.mustApply(opts...); rep.Changed {
		t.Errorf("second apply changed: %v", describeChanges(rep.Plan))
	}
	if _, err := e.installer().Uninstall(context.Background()); err != nil {
		t.Fatal(err)
	}
	if d := diffSnapshots(before, snapshot(t, e.root)); len(d) != 0 {
		t.Errorf("uninstall left:\n%s", strings.Join(d, "\n"))
	}
}

// Without a path, Docker uses the mirror too; an existing CA file of the
// same content stays the user's.
func TestRegistryMirrorDockerHub(t *testing.T) {
	e := newEnv(t, defaultFixture())
	ca := testCAPEM(t)
	e.write("/etc/docker/certs.d/harbor.internal/ca.crt", string(ca), 0o644)
	before := snapshot(t, e.root)
	e.mustApply(WithRegistryMirrors(mirrors(t, "docker.io=harbor.internal")...), WithRegistryCA(ca))
	var dj map[string]any
	if err := json.Unmarshal([]byte(e.read("/etc/docker/daemon.json")), &dj); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(anyStrings(dj["registry-mirrors"]), []string{"https://harbor.internal"}) || dj["insecure-registries"] != nil {
		t.Errorf("daemon.json: %v", dj)
	}
	if _, err := e.installer().Uninstall(context.Background()); err != nil {
		t.Fatal(err)
	}
	after := snapshot(t, e.root)
	if after["/etc/docker/certs.d/harbor.internal/ca.crt"] == "" {
		t.Error("uninstall removed the CA the user had installed")
	}
	if d := diffSnapshots(before, after); len(d) != 0 {
		t.Errorf("uninstall left:\n%s", strings.Join(d, "\n"))
	}
}

func TestRegistryCARefused(t *testing.T) {
	if _, err := New(WithRegistryCA([]byte("not a certificate"))); err == nil {
		t.Error("a non-PEM CA was accepted")
	}
}
