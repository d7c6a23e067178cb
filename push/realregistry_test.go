package push

// Against the real CNCF distribution registry (Debian's docker-registry,
// 2.8) with htpasswd auth and TLS from a CA made here, behind a TCP proxy
// that counts the bytes a push sends. Skipped, saying why, when
// docker-registry is not installed; CI (CI=true) has it and fails instead.

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"golang.org/x/crypto/bcrypt"

	"github.com/satchel-dev/satchel/internal/testenv"
	"github.com/satchel-dev/satchel/manifest"
)

func needDockerRegistry(t *testing.T) string {
	t.Helper()
	for _, n := range []string{"docker-registry", "registry"} {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	msg := "needs the CNCF distribution registry (Debian: apt-get install docker-registry; test/e2e/realbins.sh installs it)"
	testenv.Skipf(t, "%s", msg)
	return ""
}

// testPKI is a CA and a server certificate it signed for 127.0.0.1.
type testPKI struct {
	caPEM, certPEM, keyPEM []byte
	pool                   *x509.CertPool
}

func newPKI(t *testing.T) *testPKI {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "satchel test registry CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	kd, _ := x509.MarshalECPrivateKey(key)
	p := &testPKI{
		caPEM:   pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		keyPEM:  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd}),
		pool:    x509.NewCertPool(),
	}
	p.pool.AddCert(ca)
	return p
}

// distribution is a running docker-registry.
type distribution struct {
	addr string
	cmd  *exec.Cmd
	log  string
}

// startDistribution runs docker-registry on loopback with TLS and htpasswd
// (bcrypt, the only hash distribution accepts) for user:password.
func startDistribution(t *testing.T, bin string, pki *testPKI, user, password string) *distribution {
	t.Helper()
	dir := t.TempDir()
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{"server.crt": pki.certPEM, "server.key": pki.keyPEM, "htpasswd": []byte(user + ":" + string(hash) + "\n")}
	for n, b := range files {
		if err := os.WriteFile(filepath.Join(dir, n), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	// Keys: distribution v2.8 configuration/configuration.go (http.tls
	// certificate/key) and registry/auth/htpasswd/access.go (realm, path).
	cfg := fmt.Sprintf(`version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: %s/data
http:
  addr: %s
  tls:
    certificate: %s/server.crt
    key: %s/server.key
auth:
  htpasswd:
    realm: satchel-test
    path: %s/htpasswd
`, dir, addr, dir, dir, dir)
	if err := os.WriteFile(filepath.Join(dir, "config.yml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	d := &distribution{addr: addr, log: filepath.Join(dir, "registry.log")}
	logf, err := os.Create(d.log)
	if err != nil {
		t.Fatal(err)
	}
	d.cmd = exec.Command(bin, "serve", filepath.Join(dir, "config.yml"))
	d.cmd.Stdout, d.cmd.Stderr = logf, logf
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.cmd.Process.Kill(); d.cmd.Wait(); logf.Close() })
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pki.pool}}}
	for i := 0; ; i++ {
		resp, err := client.Get("https://" + addr + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusUnauthorized {
				return d
			}
		}
		if i == 100 {
			out, _ := os.ReadFile(d.log)
			t.Fatalf("docker-registry did not answer on %s: %v\n%s", addr, err, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// countingProxy forwards TCP to target and counts the bytes clients send.
type countingProxy struct {
	addr  string
	up    atomic.Int64
	conns atomic.Int64
}

func newCountingProxy(t *testing.T, target string) *countingProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &countingProxy{addr: ln.Addr().String()}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var open []net.Conn
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range open { // idle keep-alive connections
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.conns.Add(1)
			mu.Lock()
			open = append(open, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				s, err := net.Dial("tcp", target)
				if err != nil {
					return
				}
				defer s.Close()
				done := make(chan struct{})
				go func() {
					io.Copy(countWriter{s, &p.up}, c)
					s.(*net.TCPConn).CloseWrite()
					close(done)
				}()
				io.Copy(c, s)
				c.(*net.TCPConn).CloseWrite()
				<-done
			}()
		}
	}()
	return p
}

// countWriter counts as it writes: connections stay open between requests.
type countWriter struct {
	w io.Writer
	n *atomic.Int64
}

func (c countWriter) Write(b []byte) (int, error) {
	n, err := c.w.Write(b)
	c.n.Add(int64(n))
	return n, err
}

// TestRealDistribution pushes a bundle into docker-registry 2.8 over TLS
// with htpasswd auth: a tampered bundle sends nothing; wrong credentials,
// an unknown CA and a registry that is down fail with their cause; the
// push arrives by digest and tag; a second push sends next to nothing.
func TestRealDistribution(t *testing.T) {
	bin := needDockerRegistry(t)
	pki := newPKI(t)
	reg := startDistribution(t, bin, pki, "pusher", "correct horse")
	proxy := newCountingProxy(t, reg.addr)
	// The proxy's address is in the certificate too (127.0.0.1).
	dst, err := ParseDestination(proxy.addr + "/satchel")
	if err != nil {
		t.Fatal(err)
	}
	idx := multiArch(t, 1<<20)
	pause := single(t, 256<<10)
	dir := t.TempDir()
	tb := writeBundle(t, dir, testImage{"docker.io/library/nginx:1.27.4", idx}, testImage{"registry.k8s.io/pause:3.10", pause})
	good := &authn.Basic{Username: "pusher", Password: "correct horse"}
	run := func(o Options) (*Result, error) {
		o.Retry = fastRetry
		start := time.Now()
		defer func() { t.Logf("push took %v", time.Since(start)) }()
		return Run(context.Background(), tb.open(t), tb.keys, dst, o)
	}
	kind := func(err error) ErrorKind {
		var pe *Error
		if errors.As(err, &pe) {
			return pe.Kind
		}
		return ""
	}

	// A tampered copy: exit 3, not one connection.
	data, _ := os.ReadFile(tb.path)
	data[len(data)-4096] ^= 0x20
	tampered := filepath.Join(dir, "tampered.satchel")
	os.WriteFile(tampered, data, 0o644)
	tbT := *tb
	tbT.path = tampered
	if _, err := Run(context.Background(), tbT.open(t), tb.keys, dst, Options{Auth: good, RootCAs: pki.pool}); manifest.ExitCode(err) != manifest.ExitVerification {
		t.Errorf("tampered: %v (exit %d), want exit 3", err, manifest.ExitCode(err))
	}
	if n := proxy.conns.Load(); n != 0 {
		t.Errorf("tampered bundle: %d connections to the registry", n)
	}

	if _, err := run(Options{Auth: &authn.Basic{Username: "pusher", Password: "wrong"}, RootCAs: pki.pool}); kind(err) != ErrUnauthorized {
		t.Errorf("wrong password: %v (%s)", err, kind(err))
	} else {
		t.Logf("wrong password: %v", err)
	}
	if _, err := run(Options{Auth: good}); kind(err) != ErrTLS {
		t.Errorf("unknown CA: %v (%s)", err, kind(err))
	} else {
		t.Logf("unknown CA: %v", err)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	downAddr := ln.Addr().String()
	ln.Close()
	down, _ := ParseDestination(downAddr + "/satchel")
	if _, err := Run(context.Background(), tb.open(t), tb.keys, down, Options{Auth: good, RootCAs: pki.pool, Retry: fastRetry}); kind(err) != ErrUnreachable {
		t.Errorf("registry down: %v (%s)", err, kind(err))
	} else {
		t.Logf("registry down: %v", err)
	}
	// Nothing of those reached the registry's storage.
	if repos, err := remote.Catalog(context.Background(), mustRegistry(t, reg.addr), remote.WithAuth(good), remote.WithTransport(caTransport(pki))); err != nil || len(repos) != 0 {
		t.Errorf("after the failures the registry holds %v (%v)", repos, err)
	}

	proxy.up.Store(0)
	res, err := run(Options{Auth: good, RootCAs: pki.pool})
	if err != nil {
		t.Fatal(err)
	}
	first := proxy.up.Load()
	imageBytes := int64(0)
	for _, b := range tb.ix.Blobs {
		imageBytes += b.Size
	}
	if first < imageBytes || res.BytesSent < imageBytes || res.BlobsPushed != 7 || res.TagsPushed != 2 {
		t.Errorf("first push: %d bytes on the wire, %d sent, images %d bytes; %+v", first, res.BytesSent, imageBytes, res)
	}
	// What arrived, read back from the registry itself.
	idxDigest, _ := idx.Digest()
	for _, ref := range []string{reg.addr + "/satchel/library/nginx:1.27.4", reg.addr + "/satchel/library/nginx@" + idxDigest.String()} {
		r, _ := name.ParseReference(ref)
		desc, err := remote.Get(r, remote.WithAuth(good), remote.WithTransport(caTransport(pki)))
		if err != nil || desc.Digest != idxDigest {
			t.Errorf("%s: %v %v", ref, desc, err)
		}
	}

	proxy.up.Store(0)
	res2, err := run(Options{Auth: good, RootCAs: pki.pool})
	if err != nil {
		t.Fatal(err)
	}
	second := proxy.up.Load()
	if res2.BlobsPushed != 0 || res2.ManifestsPushed != 0 || res2.TagsPushed != 0 || res2.BytesSent != 0 || second > 64<<10 || second*20 > first {
		t.Errorf("second push: %d bytes on the wire (first %d); %+v", second, first, res2)
	}
	t.Logf("docker-registry %s: images %d bytes; first push %d bytes on the wire (%d request body bytes), second push %d bytes on the wire (TLS handshakes and HEAD requests, %d body bytes)",
		strings.TrimSpace(registryVersion(bin)), imageBytes, first, res.BytesSent, second, res2.BytesSent)
}

func registryVersion(bin string) string {
	out, _ := exec.Command(bin, "--version").Output()
	return string(out)
}

func mustRegistry(t *testing.T, addr string) name.Registry {
	r, err := name.NewRegistry(addr)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func caTransport(p *testPKI) http.RoundTripper {
	tr := remote.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: p.pool}
	return tr
}
