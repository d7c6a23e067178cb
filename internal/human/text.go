package human

import (
	"bytes"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Safe returns s fit for a terminal: every rune that is not printable
// (control characters, newlines, escape sequences, bidi and other format
// characters) is written as a Go escape (\n, \x1b, \u202e), an invalid UTF-8
// byte as \xNN, and a backslash as \\, so the output is unambiguous and
// cannot move the cursor, change colours, set the window title or fake a
// line of output. Use it for every string that came from a bundle (or any
// other file a stranger may have written) before printing it for people;
// JSON output needs nothing: encoding/json escapes control characters.
func Safe(s string) string {
	clean := true
	for _, r := range s {
		if r == '\\' || r == utf8.RuneError || !unicode.IsPrint(r) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n <= 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\\':
			b.WriteString(`\\`)
		case unicode.IsPrint(r):
			b.WriteRune(r)
		default:
			q := strconv.QuoteRuneToASCII(r)
			b.WriteString(q[1 : len(q)-1])
		}
		i += n
	}
	return b.String()
}

// SafeList is Safe of each element, joined by sep.
func SafeList(list []string, sep string) string {
	out := make([]string, len(list))
	for i, s := range list {
		out[i] = Safe(s)
	}
	return strings.Join(out, sep)
}

// SafeWriter returns a writer that passes text through to w with every
// ASCII control byte but newline and tab written as \xNN (and DEL as \x7f):
// a last guard for output assembled from many strings, so that none of them
// can clear the screen or rewrite a line. It escapes byte by byte and keeps
// no state, so UTF-8 passes through unchanged; C1 controls and other
// non-printable runes are Safe's job, applied to each untrusted string.
func SafeWriter(w io.Writer) io.Writer { return safeWriter{w} }

type safeWriter struct{ w io.Writer }

func (s safeWriter) Write(p []byte) (int, error) {
	clean := true
	for _, c := range p {
		if (c < 0x20 && c != '\n' && c != '\t') || c == 0x7f {
			clean = false
			break
		}
	}
	if clean {
		return s.w.Write(p)
	}
	var b bytes.Buffer
	for _, c := range p {
		if (c < 0x20 && c != '\n' && c != '\t') || c == 0x7f {
			fmt.Fprintf(&b, `\x%02x`, c)
		} else {
			b.WriteByte(c)
		}
	}
	if _, err := s.w.Write(b.Bytes()); err != nil {
		return 0, err
	}
	return len(p), nil
}
