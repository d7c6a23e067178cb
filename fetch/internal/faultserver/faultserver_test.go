package faultserver

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"
)

var body = bytes.Repeat([]byte("0123456789"), 1000)

func serve(t *testing.T, faults ...Fault) string {
	t.Helper()
	in := New(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.Write(body)
	}))
	in.Inject(Path("/f"), faults...)
	srv := httptest.NewServer(in)
	t.Cleanup(func() { in.Close(); srv.Close() })
	return srv.URL + "/f"
}

// noRedirect sees each answer as sent.
var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// Each fault does on the wire what it says; after the queue, requests pass.
func TestFaultsOnTheWire(t *testing.T) {
	url := serve(t,
		Fault{Kind: Status, Code: 429, RetryAfter: "7"},
		Fault{Kind: RedirectLoop},
		Fault{Kind: WrongBytes},
		Fault{Kind: WrongLength, Delta: -10},
		Fault{Kind: Endless},
		Fault{Kind: Stall, N: 100},
	)
	resp, err := noRedirect.Get(url)
	if err != nil || resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "7" {
		t.Fatalf("status fault: %v %+v", err, resp)
	}
	resp.Body.Close()

	resp, err = noRedirect.Get(url)
	if err != nil || resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/f" {
		t.Fatalf("redirect fault: %v %+v", err, resp)
	}
	resp.Body.Close()

	b := get(t, url)
	if len(b) != len(body) || bytes.Equal(b, body) {
		t.Errorf("wrong bytes: %d bytes, equal=%v", len(b), bytes.Equal(b, body))
	}

	resp, err = http.Get(url)
	if err != nil || resp.ContentLength != int64(len(body)-10) {
		t.Fatalf("wrong length: %v, Content-Length %d", err, resp.ContentLength)
	}
	resp.Body.Close()

	resp, err = http.Get(url)
	if err != nil || resp.ContentLength != -1 {
		t.Fatalf("endless: %v %+v", err, resp)
	}
	n, _ := io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if n != 1<<20 {
		t.Errorf("endless body ended after %d bytes", n)
	}

	resp, err = http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 200)
	n2, _ := io.ReadFull(resp.Body, buf[:100])
	done := make(chan error, 1)
	go func() { _, err := resp.Body.Read(buf); done <- err }()
	select {
	case err := <-done:
		t.Errorf("stall: after %d bytes the body went on (%v)", n2, err)
	case <-time.After(200 * time.Millisecond):
	}
	resp.Body.Close()

	if b := get(t, url); !bytes.Equal(b, body) {
		t.Error("after the queue, the answer is not the real one")
	}
}

func TestTrickleAndReset(t *testing.T) {
	url := serve(t, Fault{Kind: Trickle, Interval: 20 * time.Millisecond}, Fault{Kind: Reset, N: 50})
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	buf := make([]byte, 5)
	if _, err := io.ReadFull(resp.Body, buf); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el < 60*time.Millisecond {
		t.Errorf("5 trickled bytes took only %v", el)
	}
	resp.Body.Close()

	resp, err = http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err == nil || len(b) > 50 || errors.Is(err, io.EOF) {
		t.Errorf("reset: read %d bytes, err %v", len(b), err)
	}
}

func get(t *testing.T, url string) []byte {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
