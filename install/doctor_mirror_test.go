package install

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestDoctorMirrors: doctor checks each mirror of the hosts.toml files
// satchel wrote — a registry over plain HTTP by GET /v2/ (200 or 401 pass),
// an HTTPS one by TCP connect only (and says so) — and reports a mirror
// that is down or is not a registry.
func TestDoctorMirrors(t *testing.T) {
	var gets atomic.Int64
	registry := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gets.Add(1)
		if r.URL.Path != "/v2/" || r.Method != http.MethodGet {
			t.Errorf("doctor asked %s %s", r.Method, r.URL.Path)
		}
		w.Header().Set("Docker-Distribution-Api-Version", "registry/2.0")
		w.Header().Set("WWW-Authenticate", `Basic realm="registry"`)
		w.WriteHeader(http.StatusUnauthorized)
	}))
	defer registry.Close()
	web := httptest.NewServer(http.NotFoundHandler())
	defer web.Close()
	var tlsConns atomic.Int64
	tlsReg := httptest.NewUnstartedServer(http.NotFoundHandler())
	tlsReg.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			tlsConns.Add(1)
		}
	}
	tlsReg.StartTLS()
	defer tlsReg.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := ln.Addr().String()
	ln.Close()

	e := newEnv(t, defaultFixture())
	e.mustApply(WithRegistryMirrors(mirrors(t,
		"docker.io="+registry.URL+"/satchel",
		"registry.k8s.io="+registry.URL+"/satchel",
		"quay.io="+tlsReg.URL+"/satchel",
		"ghcr.io=http://"+down,
		"gcr.io="+web.URL,
	)...))
	in := e.installer()
	st, err := in.readState()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	checks := in.mirrorChecks(context.Background(), st)
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("the checks took %v", d)
	}
	got := map[string]Check{}
	for _, c := range checks {
		got[c.Name] = c
		t.Logf("%s: %s %s", c.Name, c.Result, c.Detail)
	}
	host := strings.TrimPrefix(registry.URL, "http://")
	want := []struct{ name, result, detail string }{
		{"registry mirror " + registry.URL + "/v2/satchel (docker.io, registry.k8s.io)", CheckOK, "GET http://" + host + "/v2/: 401 Unauthorized (registry/2.0): it wants credentials"},
		{"registry mirror " + tlsReg.URL + "/v2/satchel (quay.io)", CheckOK, "TLS and /v2/ not checked"},
		{"registry mirror http://" + down + " (ghcr.io)", CheckFail, "TCP connect: "},
		{"registry mirror " + web.URL + " (gcr.io)", CheckFail, "404 Not Found"},
	}
	for _, w := range want {
		c, ok := got[w.name]
		if !ok || c.Result != w.result || !strings.Contains(c.Detail, w.detail) {
			t.Errorf("%s: %+v, want %s with %q", w.name, c, w.result, w.detail)
		}
		if c.Result == CheckFail && c.Remedy == "" {
			t.Errorf("%s: no remedy", w.name)
		}
	}
	if len(checks) != len(want) {
		t.Errorf("%d checks, want %d", len(checks), len(want))
	}
	if gets.Load() != 1 || tlsConns.Load() != 1 {
		t.Errorf("requests: %d GETs of the registry (want 1: one per mirror), %d connections to the TLS mirror (want 1)", gets.Load(), tlsConns.Load())
	}
}
