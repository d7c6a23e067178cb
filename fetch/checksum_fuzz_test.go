package fetch

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/satchel-dev/satchel/manifest"
)

// checksumSeeds are the real-format files in testdata/checksums (the
// formats upstream publishes, see UPSTREAM.md and profiles/catalog.go),
// each with its format and an asset it lists.
var checksumSeeds = []struct{ file, format, asset string }{
	{"containerd-2.0.4-linux-amd64.tar.gz.sha256sum", FormatSHA256Sum, "containerd-2.0.4-linux-amd64.tar.gz"},
	{"containerd-static-2.0.4-linux-arm64.tar.gz.sha256sum", FormatSHA256Sum, "containerd-static-2.0.4-linux-arm64.tar.gz"},
	{"runc-1.2.5.sha256sum", FormatPGPSHA256Sum, "runc.amd64"},
	{"runc-1.2.6.sha256sum", FormatPGPSHA256Sum, "runc.arm64"},
	{"dash-escaped.txt.asc", FormatPGPSHA256Sum, "runc.amd64"},
	{"runsc-20250331.0-x86_64.sha512", FormatSHA512, "runsc"},
	{"containerd-shim-runsc-v1-20250331.0-aarch64.sha512", FormatSHA512, "containerd-shim-runsc-v1"},
	{"nerdctl-2.0.4-SHA256SUMS", FormatSHA256Sums, "nerdctl-2.0.4-linux-amd64.tar.gz"},
	{"nerdctl-2.0.4-SHA256SUMS-binary-crlf", FormatSHA256Sums, "nerdctl-2.0.4-linux-arm64.tar.gz"},
	{"crictl-v1.32.0-linux-amd64.tar.gz.sha256", FormatBareSHA256, "crictl-v1.32.0-linux-amd64.tar.gz"},
	{"crictl-v1.32.0-linux-arm64.tar.gz.sha256", FormatBareSHA256, "crictl-v1.32.0-linux-arm64.tar.gz"},
}

func addChecksumSeeds(f *testing.F, add func(format int, content []byte, asset string)) {
	f.Helper()
	for _, s := range checksumSeeds {
		b, err := os.ReadFile(filepath.Join("testdata", "checksums", s.file))
		if err != nil {
			f.Fatal(err)
		}
		add(slices.Index(ChecksumFormats, s.format), b, s.asset)
	}
	add(slices.Index(ChecksumFormats, FormatSHA256Sums), []byte("SHA256 (runc.amd64) = "+hexA+"\n"), "runc.amd64")
	add(slices.Index(ChecksumFormats, FormatSHA256Sum), []byte(`\`+hexA+`  a\\b\nc`+"\n"), "a\\b\nc")
	add(slices.Index(ChecksumFormats, FormatSHA256Sums), []byte("# comment\r\n\r\n"+hexA+" *./dist/runc.amd64\r\n"), "runc.amd64")
}

// FuzzParseChecksumFile feeds arbitrary checksum files (a hostile mirror
// serves them) to every format. It must never panic, and a digest it
// returns must be well-formed, of the format's algorithm, and present in
// the file (for a clear-signed file: in its signed text), for a name the
// file lists.
func FuzzParseChecksumFile(f *testing.F) {
	addChecksumSeeds(f, func(format int, content []byte, asset string) { f.Add(uint8(format), content, asset) })
	f.Fuzz(func(t *testing.T, fi uint8, content []byte, asset string) {
		format := ChecksumFormats[int(fi)%len(ChecksumFormats)]
		d, err := ParseChecksumFile(format, content, asset)
		if err != nil {
			if d != "" {
				t.Fatalf("error %v with a digest %s", err, d)
			}
			return
		}
		if _, err := manifest.ParseDigest(string(d)); err != nil {
			t.Fatalf("returned malformed digest %q: %v", d, err)
		}
		wantAlg := manifest.SHA256
		if format == FormatSHA512 {
			wantAlg = manifest.SHA512
		}
		if d.Algorithm() != wantAlg {
			t.Fatalf("format %s returned a %s digest", format, d.Algorithm())
		}
		source := string(content)
		if format == FormatPGPSHA256Sum {
			signed, err := clearSignedText(source)
			if err != nil {
				t.Fatalf("digest %s from a file whose signed text does not parse: %v", d, err)
			}
			source = signed
		}
		if !strings.Contains(strings.ToLower(source), d.Hex()) {
			t.Fatalf("digest %s does not appear in the (signed) file", d)
		}
		// A sums file names the asset (GNU escapes aside).
		named := format == FormatSHA256Sum || format == FormatSHA256Sums || format == FormatPGPSHA256Sum
		if named && !strings.Contains(source, `\`) && !strings.Contains(source, asset) {
			t.Fatalf("digest %s for %q, which the file does not name", d, asset)
		}
		if again, err := ParseChecksumFile(format, content, asset); err != nil || again != d {
			t.Fatalf("not deterministic: %s, then %s, %v", d, again, err)
		}
	})
}

// FuzzClearSignedText checks the PGP clear-signed reader on its own: every
// line it returns is a line of the message, dash-escaping undone.
func FuzzClearSignedText(f *testing.F) {
	addChecksumSeeds(f, func(_ int, content []byte, _ string) { f.Add(string(content)) })
	f.Fuzz(func(t *testing.T, content string) {
		body, err := clearSignedText(content)
		if err != nil {
			return
		}
		in := lines(content)
		for _, l := range strings.Split(body, "\n") {
			if l == "" {
				continue
			}
			if !slices.Contains(in, l) && !slices.Contains(in, "- "+l) {
				t.Fatalf("line %q is not in the message", l)
			}
		}
	})
}
