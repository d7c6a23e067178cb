package manifest

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// Fuzz targets for every parser of untrusted input in this package. Run
// one for longer with, e.g.:
//
//	go test ./manifest -run '^$' -fuzz '^FuzzDecodeIndex$' -fuzztime 5m -fuzzminimizetime 3s
//
// (a short -fuzzminimizetime keeps the larger seeds from stalling the run
// while each new input is minimized)
//
// Crashers are kept in testdata/fuzz/<target> and run as regression tests.

func seed(f *testing.F, name string) []byte {
	f.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		f.Fatal(err)
	}
	return b
}

// FuzzDecodeIndex: satchel.json is read before anything else of a bundle
// (after its signature, but an insider can sign anything). DecodeIndex
// never panics; what it accepts is canonical (encodes to the same bytes);
// Validate never panics on it.
func FuzzDecodeIndex(f *testing.F) {
	f.Add(seed(f, "real/satchel.json"))
	for _, ix := range []*Index{sampleIndex(), validIndex()} {
		b, err := ix.Encode()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ix, err := DecodeIndex(data)
		if err != nil {
			return
		}
		again, err := ix.Encode()
		if err != nil {
			t.Fatalf("decoded index does not encode: %v", err)
		}
		if !bytes.Equal(again, data) {
			t.Fatalf("accepted a non-canonical index:\n%q\nre-encodes as\n%q", data, again)
		}
		if err := ix.Validate(); err == nil {
			// A valid index stays valid through its own encoding.
			ix2, err := DecodeIndex(again)
			if err != nil || ix2.Validate() != nil {
				t.Fatalf("valid index does not survive a round trip: %v", err)
			}
		}
	})
}

// FuzzParseSpec: bundle.yaml. ParseSpec never panics, and what it accepts
// is written by Marshal in a form it reads back to the same spec.
func FuzzParseSpec(f *testing.F) {
	f.Add(seed(f, "bundle.yaml"))
	f.Add(seed(f, "real/bundle.yaml"))
	f.Add([]byte("apiVersion: satchel/v1\nkind: Bundle\nmetadata:\n  name: n\n  version: 20250331.0\n  sequence: 1\nspec:\n  platforms: [linux/amd64]\n  components:\n    - name: runc\n      version: 1.10\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseSpec(data)
		if err != nil {
			return
		}
		out, err := s.Marshal()
		if err != nil {
			t.Fatalf("accepted spec does not marshal: %v", err)
		}
		s2, err := ParseSpec(out)
		if err != nil {
			t.Fatalf("marshalled spec does not parse: %v\n%s", err, out)
		}
		sameJSON(t, s, s2)
	})
}

// FuzzParseLock: bundle.lock, the same properties.
func FuzzParseLock(f *testing.F) {
	f.Add(seed(f, "real/bundle.lock"))
	f.Fuzz(func(t *testing.T, data []byte) {
		l, err := ParseLock(data)
		if err != nil {
			return
		}
		out, err := l.Marshal()
		if err != nil {
			t.Fatalf("accepted lock does not marshal: %v", err)
		}
		l2, err := ParseLock(out)
		if err != nil {
			t.Fatalf("marshalled lock does not parse: %v\n%s", err, out)
		}
		sameJSON(t, l, l2)
	})
}

func sameJSON(t *testing.T, a, b any) {
	t.Helper()
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	if !bytes.Equal(x, y) {
		t.Fatalf("round trip changed the value:\n%s\n%s", x, y)
	}
}
