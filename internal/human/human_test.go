package human

import (
	"strings"
	"testing"
)

func TestBytes(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 1536: "1.5 KiB", 5 << 20: "5.0 MiB", 3 << 30: "3.0 GiB"} {
		if got := Bytes(n); got != want {
			t.Errorf("Bytes(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestSafe(t *testing.T) {
	for in, want := range map[string]string{
		"runc 1.2.6":                  "runc 1.2.6",
		"gVisor 20250331.0 — ünïcode": "gVisor 20250331.0 — ünïcode",
		"a\nb":                        `a\nb`,
		"\x1b[2J\x1b]0;pwned\x07":     `\x1b[2J\x1b]0;pwned\a`,
		"ok\rFAKE":                    `ok\rFAKE`,
		"tab\there":                   `tab\there`,
		"bidi \u202egnp.exe":          `bidi \u202egnp.exe`,
		"bad \xff byte":               `bad \xff byte`,
		`back\slash`:                  `back\\slash`,
		"nul\x00":                     `nul\x00`,
		"c1 \u009b31m":                `c1 \u009b31m`,
	} {
		got := Safe(in)
		if got != want {
			t.Errorf("Safe(%q) = %q, want %q", in, got, want)
		}
		for _, r := range got {
			if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
				t.Errorf("Safe(%q) still holds %U", in, r)
			}
		}
	}
	if got := SafeList([]string{"a", "b\n"}, ", "); got != `a, b\n` {
		t.Errorf("SafeList = %q", got)
	}
}

func TestSafeWriter(t *testing.T) {
	var b strings.Builder
	w := SafeWriter(&b)
	in := "line one\n\tcol\x1b[2J\rfake\x07 ünï\x7f\n"
	n, err := w.Write([]byte(in))
	if err != nil || n != len(in) {
		t.Fatalf("Write = %d, %v", n, err)
	}
	if want := "line one\n\tcol\\x1b[2J\\x0dfake\\x07 ünï\\x7f\n"; b.String() != want {
		t.Errorf("got %q, want %q", b.String(), want)
	}
}
