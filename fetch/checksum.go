package fetch

import (
	"fmt"
	"path"
	"regexp"
	"slices"
	"strings"

	"github.com/satchel-dev/satchel/manifest"
)

// Checksum file formats, as upstream projects publish them.
const (
	// FormatSHA256Sum is `sha256sum` output ("<hex>  <name>", "<hex> *<name>"),
	// e.g. containerd's <asset>.sha256sum.
	FormatSHA256Sum = "sha256sum"
	// FormatSHA256Sums is one SHA256SUMS file for a whole release (nerdctl).
	FormatSHA256Sums = "sha256sums"
	// FormatBareSHA256 is a file holding only the hex digest (crictl's <asset>.sha256).
	FormatBareSHA256 = "bare-sha256"
	// FormatSHA512 is gVisor's <file>.sha512: "<hex>  <file>" or bare hex.
	FormatSHA512 = "sha512"
	// FormatPGPSHA256Sum is runc's runc.sha256sum: sha256sum lines inside a
	// PGP clear-signed message. Only the signed text is read; the signature
	// itself is not checked here.
	FormatPGPSHA256Sum = "pgp-sha256sum"
)

// ChecksumFormats lists every format ParseChecksumFile reads.
var ChecksumFormats = []string{FormatSHA256Sum, FormatSHA256Sums, FormatBareSHA256, FormatSHA512, FormatPGPSHA256Sum}

// ParseChecksumFile returns the digest that a checksum file of the given
// format publishes for assetName (the file name as upstream lists it, e.g.
// "runc.amd64"). Listed names match exactly, or by their last path element.
// An asset that is not listed, listed twice with different digests, or a
// malformed file is an error.
func ParseChecksumFile(format string, content []byte, assetName string) (manifest.Digest, error) {
	d, err := parseChecksumFile(format, string(content), assetName)
	if err != nil {
		return "", fmt.Errorf("checksum file (%s) for %s: %w", format, assetName, err)
	}
	return d, nil
}

func parseChecksumFile(format, content, asset string) (manifest.Digest, error) {
	switch format {
	case FormatSHA256Sum, FormatSHA256Sums:
		return parseSums(content, manifest.SHA256, asset)
	case FormatBareSHA256:
		return parseSingle(content, manifest.SHA256, asset)
	case FormatSHA512:
		return parseSingle(content, manifest.SHA512, asset)
	case FormatPGPSHA256Sum:
		body, err := clearSignedText(content)
		if err != nil {
			return "", err
		}
		return parseSums(body, manifest.SHA256, asset)
	}
	return "", manifest.Hintf("use one of "+strings.Join(ChecksumFormats, ", "), "unknown format %q", format)
}

var hexLen = map[string]int{manifest.SHA256: 64, manifest.SHA512: 128}

// sumEntry is one line of a checksum file.
type sumEntry struct {
	hex, name string
	line      int
}

var (
	// GNU/BusyBox: "<hex>  <name>" (text) or "<hex> *<name>" (binary); a
	// leading backslash means the name is escaped.
	gnuLine = regexp.MustCompile(`^(\\?)([0-9a-fA-F]+)[ \t]+\*?(.+)$`)
	// BSD/--tag: "SHA256 (<name>) = <hex>".
	bsdLine = regexp.MustCompile(`^(SHA256|SHA512) \((.+)\) ?= ?([0-9a-fA-F]+)$`)
)

// parseSums reads sha256sum-style lines and picks the asset's line.
func parseSums(content, alg, asset string) (manifest.Digest, error) {
	var entries []sumEntry
	for i, line := range lines(content) {
		line = strings.TrimRight(line, " \t")
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		var e sumEntry
		if m := gnuLine.FindStringSubmatch(line); m != nil {
			e = sumEntry{hex: m[2], name: m[3], line: i + 1}
			if m[1] == `\` {
				e.name = unescapeName(e.name)
			}
		} else if m := bsdLine.FindStringSubmatch(line); m != nil {
			if !strings.EqualFold(m[1], alg) {
				return "", fmt.Errorf("line %d: %s digest, want %s", i+1, m[1], alg)
			}
			e = sumEntry{hex: m[3], name: m[2], line: i + 1}
		} else {
			return "", manifest.Hintf("check the format given for this checksum file; it may be another kind of file (an HTML error page?)",
				"line %d is not a checksum line: %q", i+1, truncate(line, 80))
		}
		if len(e.hex) != hexLen[alg] {
			return "", fmt.Errorf("line %d: %d hex digits, a %s digest has %d", e.line, len(e.hex), alg, hexLen[alg])
		}
		entries = append(entries, e)
	}
	return pick(entries, alg, asset)
}

// parseSingle reads a file that holds one digest, bare or with a name.
func parseSingle(content, alg, asset string) (manifest.Digest, error) {
	var nonEmpty []string
	for _, l := range lines(content) {
		if l = strings.TrimSpace(l); l != "" {
			nonEmpty = append(nonEmpty, l)
		}
	}
	if len(nonEmpty) != 1 {
		return "", fmt.Errorf("want exactly one digest line, found %d", len(nonEmpty))
	}
	fields := strings.Fields(nonEmpty[0])
	if len(fields) == 1 {
		hx := fields[0]
		if len(hx) != hexLen[alg] || !isHex(hx) {
			return "", fmt.Errorf("%q is not a %s digest (%d hex digits)", truncate(hx, 80), alg, hexLen[alg])
		}
		return manifest.Digest(alg + ":" + strings.ToLower(hx)), nil
	}
	// "<hex>  <name>": the name must be the asset's.
	return parseSums(content, alg, asset)
}

// pick returns the digest listed for asset.
func pick(entries []sumEntry, alg, asset string) (manifest.Digest, error) {
	match := func(exact bool) []sumEntry {
		var out []sumEntry
		for _, e := range entries {
			n := strings.TrimPrefix(e.name, "./")
			if n == asset || !exact && path.Base(n) == asset {
				out = append(out, e)
			}
		}
		return out
	}
	found := match(true)
	if len(found) == 0 {
		found = match(false)
	}
	if len(found) == 0 {
		var names []string
		for _, e := range entries {
			names = append(names, e.name)
		}
		listed := "it lists no file"
		if len(names) > 0 {
			if len(names) > 8 {
				names = append(names[:8], "…")
			}
			listed = "it lists " + strings.Join(names, ", ")
		}
		return "", manifest.Hintf("check the asset name, version and architecture; the checksum file may belong to another release",
			"%q is not listed (%s)", asset, listed)
	}
	hx := strings.ToLower(found[0].hex)
	for _, e := range found[1:] {
		if strings.ToLower(e.hex) != hx {
			return "", fmt.Errorf("%q is listed with two digests (lines %d and %d)", asset, found[0].line, e.line)
		}
	}
	if !isHex(hx) {
		return "", fmt.Errorf("line %d: not hexadecimal", found[0].line)
	}
	return manifest.Digest(alg + ":" + hx), nil
}

// clearSignedText returns the signed text of a PGP clear-signed message
// (RFC 4880 section 7): the lines between the armor headers' blank line and
// "-----BEGIN PGP SIGNATURE-----", with dash-escaping undone. Text outside
// the signed part is ignored, so that an unsigned line can never supply a
// digest.
func clearSignedText(content string) (string, error) {
	const (
		beginMsg = "-----BEGIN PGP SIGNED MESSAGE-----"
		beginSig = "-----BEGIN PGP SIGNATURE-----"
		endSig   = "-----END PGP SIGNATURE-----"
	)
	ls := lines(content)
	trim := func(s string) string { return strings.TrimRight(s, " \t") }
	i := slices.IndexFunc(ls, func(l string) bool { return trim(l) == beginMsg })
	if i < 0 {
		return "", manifest.Hintf(`if upstream publishes plain sha256sum lines, use the format "sha256sum"`,
			"no %q line: not a PGP clear-signed message", beginMsg)
	}
	i++
	// Armor headers ("Hash: SHA256"), then one empty line.
	for ; i < len(ls) && trim(ls[i]) != ""; i++ {
		k, _, ok := strings.Cut(ls[i], ": ")
		if !ok || k == "" || strings.ContainsAny(k, " \t") {
			return "", fmt.Errorf("line %d: malformed armor header %q", i+1, truncate(ls[i], 80))
		}
	}
	if i == len(ls) {
		return "", fmt.Errorf("clear-signed message ends in its armor headers")
	}
	i++
	var body []string
	for ; i < len(ls); i++ {
		l := ls[i]
		switch {
		case strings.HasPrefix(l, beginSig):
			rest := ls[i+1:]
			if !slices.ContainsFunc(rest, func(l string) bool { return trim(l) == endSig }) {
				return "", fmt.Errorf("signature block has no %q line: truncated file", endSig)
			}
			if slices.ContainsFunc(rest, func(l string) bool { return trim(l) == beginMsg }) {
				return "", fmt.Errorf("more than one clear-signed message")
			}
			return strings.Join(body, "\n"), nil
		case strings.HasPrefix(l, "- "):
			body = append(body, l[2:])
		case strings.HasPrefix(l, "-"):
			return "", fmt.Errorf("line %d: %q starts with '-' but is not dash-escaped", i+1, truncate(l, 80))
		default:
			body = append(body, l)
		}
	}
	return "", fmt.Errorf("no %q line: truncated file", beginSig)
}

// lines splits text into lines, accepting LF and CRLF endings.
func lines(s string) []string {
	ls := strings.Split(s, "\n")
	for i, l := range ls {
		ls[i] = strings.TrimSuffix(l, "\r")
	}
	if n := len(ls); n > 0 && ls[n-1] == "" {
		ls = ls[:n-1]
	}
	return ls
}

// unescapeName undoes GNU sha256sum's escaping of "\\" and "\n" in names.
func unescapeName(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			switch s[i+1] {
			case '\\':
				b.WriteByte('\\')
				i++
				continue
			case 'n':
				b.WriteByte('\n')
				i++
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isHex(s string) bool {
	for _, c := range s {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return s != ""
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
