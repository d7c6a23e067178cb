package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"reflect"
	"strings"
	"testing"
	"time"
)

// testCA returns a self-signed CA certificate and its key, as PEM.
func testCA(t *testing.T) (certPEM, keyPEM []byte) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "satchel test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kd, _ := x509.MarshalECPrivateKey(k)
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd})
}

func TestParseRegistryCA(t *testing.T) {
	ca, key := testCA(t)
	ca2, _ := testCA(t)
	if err := ParseRegistryCA(ca); err != nil {
		t.Errorf("one CA: %v", err)
	}
	if err := ParseRegistryCA(append(append([]byte("# corp CA bundle\n"), ca...), ca2...)); err != nil {
		t.Errorf("two CAs: %v", err)
	}
	for name, in := range map[string][]byte{
		"empty":           nil,
		"not PEM":         []byte("hello"),
		"private key too": append(append([]byte{}, ca...), key...),
		"key only":        key,
		"bad certificate": pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("junk")}),
		"trailing junk":   append(append([]byte{}, ca...), []byte("junk")...),
	} {
		if err := ParseRegistryCA(in); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestRegistryMirrorHosts(t *testing.T) {
	for _, in := range []string{"docker.io=../x", "docker.io=https://../x", "..=m.example", "docker.io=https://user:pw@m.example", "docker.io=https://m.example:80a", "a:b:c=m.example"} {
		if m, err := ParseRegistryMirror(in); err == nil {
			t.Errorf("%q accepted: %+v", in, m)
		}
	}
	m, err := ParseRegistryMirror("docker.io=harbor.internal:8443/satchel")
	if err != nil {
		t.Fatal(err)
	}
	if s, h, err := m.URL(); s != "https" || h != "harbor.internal:8443" || err != nil || !m.HasPath() {
		t.Errorf("URL %s %s %v, path %v", s, h, err, m.HasPath())
	}
	if ContainerdCAPath("harbor.internal:8443") != "/etc/containerd/certs.d/harbor.internal:8443/ca.crt" || DockerCAPath("10.0.0.5") != "/etc/docker/certs.d/10.0.0.5/ca.crt" {
		t.Error("CA paths")
	}
}

// A mirror under a path (what satchel-bundle push fills): containerd's
// hosts.toml host https://harbor.internal/v2/satchel with override_path,
// pull and resolve, the CA named, never skip_verify.
func TestHostsTOMLPrefixAndCA(t *testing.T) {
	m, err := ParseRegistryMirror("docker.io=harbor.internal/satchel")
	if err != nil {
		t.Fatal(err)
	}
	m.CA = string(ContainerdCAPath("harbor.internal"))
	b, err := HostsTOML([]RegistryMirror{m}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"server": "https://registry-1.docker.io",
		"host": map[string]any{"https://harbor.internal/v2/satchel": map[string]any{
			"capabilities": []any{"pull", "resolve"}, "override_path": true, "ca": "/etc/containerd/certs.d/harbor.internal/ca.crt"}},
	}
	if got := mustTOML(t, b); !reflect.DeepEqual(got, want) {
		t.Errorf("hosts.toml:\n%s\nwant %v", b, want)
	}
	if strings.Contains(string(b), "skip_verify") {
		t.Error("skip_verify written")
	}
}

func TestDaemonJSONMirrors(t *testing.T) {
	mirror := func(s string) RegistryMirror {
		m, err := ParseRegistryMirror(s)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	existing := []byte(`{"registry-mirrors": ["https://old.example/"], "insecure-registries": ["10.9.9.9:5000"], "log-level": "warn"}`)

	// Under a path, and for other registries: Docker cannot; said in warnings.
	b, warns, err := DaemonJSON(existing, DockerOptions{RegistryMirrors: []RegistryMirror{
		mirror("docker.io=harbor.internal/satchel"), mirror("registry.k8s.io=harbor.internal/satchel")}})
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != string(existing) {
		t.Errorf("daemon.json changed although Docker can use neither mirror:\n%s", b)
	}
	if len(warns) != 2 || !strings.Contains(warns[0], "Docker cannot use registry mirror harbor.internal/satchel for docker.io") ||
		!strings.Contains(warns[0], "harbor.internal/satchel/<repository>:<tag>") || !strings.Contains(warns[1], "Docker mirrors only Docker Hub") {
		t.Errorf("warnings %q", warns)
	}

	// Docker Hub without a path: first in registry-mirrors; a plain-HTTP
	// mirror: insecure-registries (asked for with http://); nothing else.
	b, warns, err = DaemonJSON(existing, DockerOptions{RegistryMirrors: []RegistryMirror{
		mirror("docker.io=harbor.internal"), mirror("quay.io=http://10.0.0.5:5000"), mirror("docker.io=https://old.example")}})
	if err != nil {
		t.Fatal(err)
	}
	got := mustJSON(t, b)
	if !reflect.DeepEqual(anyStr(got["registry-mirrors"]), []string{"https://harbor.internal", "https://old.example"}) ||
		!reflect.DeepEqual(anyStr(got["insecure-registries"]), []string{"10.0.0.5:5000", "10.9.9.9:5000"}) || got["log-level"] != "warn" {
		t.Errorf("daemon.json: %s", b)
	}
	if len(warns) != 1 || !strings.Contains(warns[0], "quay.io") {
		t.Errorf("warnings %q", warns)
	}
	again, _, err := DaemonJSON(b, DockerOptions{RegistryMirrors: []RegistryMirror{
		mirror("docker.io=harbor.internal"), mirror("quay.io=http://10.0.0.5:5000"), mirror("docker.io=https://old.example")}})
	if err != nil || string(again) != string(b) {
		t.Errorf("not idempotent (%v):\n%s", err, Diff("daemon.json", b, again))
	}
	// An https mirror never makes a registry insecure.
	b, _, _ = DaemonJSON(nil, DockerOptions{RegistryMirrors: []RegistryMirror{mirror("_default=harbor.internal")}})
	if got := mustJSON(t, b); got["insecure-registries"] != nil || !reflect.DeepEqual(anyStr(got["registry-mirrors"]), []string{"https://harbor.internal"}) {
		t.Errorf("_default mirror: %s", b)
	}
	// registry-mirrors of the wrong type: refused, not overwritten.
	if _, _, err := DaemonJSON([]byte(`{"registry-mirrors": "https://x"}`), DockerOptions{RegistryMirrors: []RegistryMirror{mirror("docker.io=h.example")}}); err == nil {
		t.Error("a string registry-mirrors was accepted")
	}
}

func anyStr(v any) []string {
	l, _ := v.([]any)
	var out []string
	for _, e := range l {
		s, _ := e.(string)
		out = append(out, s)
	}
	return out
}
