package fetch

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/satchel-dev/satchel/manifest"
)

// The expected digests are the upstream pins (kubespray checksums.yml, as
// listed in UPSTREAM.md), not values computed by the code under test.
func TestParseChecksumFileUpstreamFormats(t *testing.T) {
	tests := []struct {
		file, format, asset string
		want                manifest.Digest
	}{
		{"containerd-2.0.4-linux-amd64.tar.gz.sha256sum", FormatSHA256Sum, "containerd-2.0.4-linux-amd64.tar.gz",
			"sha256:e1c64c5fd60ecd555e750744eaef150b6f78d7f750da5c08c52825aa6b791737"},
		{"containerd-static-2.0.4-linux-arm64.tar.gz.sha256sum", FormatSHA256Sum, "containerd-static-2.0.4-linux-arm64.tar.gz",
			"sha256:3529558b49e87a220205b632fea1c4b2cdc60f1d93eab3d4c307f66b91df189d"},
		{"runc-1.2.5.sha256sum", FormatPGPSHA256Sum, "runc.amd64",
			"sha256:fbd851fce6a8e0d67a9d184ea544c2abf67c9fd29b80fcc1adf67dfe9eb036a1"},
		{"runc-1.2.5.sha256sum", FormatPGPSHA256Sum, "runc.arm64",
			"sha256:bfc6575f4c601740539553b639ad6f635c23f76695ed484171bd864df6a23f76"},
		{"runc-1.2.6.sha256sum", FormatPGPSHA256Sum, "runc.arm64",
			"sha256:12c612e2ebe6ca198de676ce75ed557e79fe6109032209bb8e25166c967fe170"},
		{"runsc-20250331.0-x86_64.sha512", FormatSHA512, "runsc",
			"sha512:21b623afed5dfa19c4f8d78dbd28f131d406f403dbc8394c390dcd86803fec6157be35b3588bc2b210a370947363e4723ef7030d26c2fca08bafa278017b0659"},
		{"containerd-shim-runsc-v1-20250331.0-aarch64.sha512", FormatSHA512, "containerd-shim-runsc-v1",
			"sha512:083aee56d7c0b6b0a5f609507e2a5f73daa6e01be72cc2463b905b470f9e8ef57eb0bc15f92b075fb863db54b6b51b569bafa0009eb0fac383f00c626eb33b1f"},
		{"nerdctl-2.0.4-SHA256SUMS", FormatSHA256Sums, "nerdctl-2.0.4-linux-amd64.tar.gz",
			"sha256:2f9d22179868db4f0a1daf2fd65f58a24f8a78efd2d9b17659f56bcdce85efd0"},
		{"nerdctl-2.0.4-SHA256SUMS", FormatSHA256Sums, "nerdctl-2.0.4-linux-arm64.tar.gz",
			"sha256:1f394e3aabc2b202ad17a5ece0495ca554ae3ca346a5dd0aa8344a891734763d"},
		{"nerdctl-2.0.4-SHA256SUMS-binary-crlf", FormatSHA256Sums, "nerdctl-2.0.4-linux-arm64.tar.gz",
			"sha256:1f394e3aabc2b202ad17a5ece0495ca554ae3ca346a5dd0aa8344a891734763d"},
		{"crictl-v1.32.0-linux-amd64.tar.gz.sha256", FormatBareSHA256, "crictl-v1.32.0-linux-amd64.tar.gz",
			"sha256:f050b71d3a73a91a4e0990b90143ed04dcd100cc66f953736fcb6a2730e283c4"},
		{"crictl-v1.32.0-linux-arm64.tar.gz.sha256", FormatBareSHA256, "crictl-v1.32.0-linux-arm64.tar.gz",
			"sha256:f2f4e20658b72d00897f41e4b57093c8080e2d800ee894a5f4351f31d1833e30"},
	}
	for _, tc := range tests {
		t.Run(tc.file+"/"+tc.asset, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("testdata", "checksums", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			got, err := ParseChecksumFile(tc.format, b, tc.asset)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
			if _, err := manifest.ParseDigest(string(got)); err != nil {
				t.Errorf("result is not a valid digest: %v", err)
			}
		})
	}
}

func TestParseChecksumFileAssetNotListed(t *testing.T) {
	tests := []struct{ file, format, asset string }{
		{"containerd-2.0.4-linux-amd64.tar.gz.sha256sum", FormatSHA256Sum, "containerd-2.0.4-linux-arm64.tar.gz"},
		{"containerd-2.0.4-linux-amd64.tar.gz.sha256sum", FormatSHA256Sum, "containerd-static-2.0.4-linux-amd64.tar.gz"},
		{"runc-1.2.5.sha256sum", FormatPGPSHA256Sum, "runc.ppc64le"},
		{"runc-1.2.5.sha256sum", FormatPGPSHA256Sum, "runc"},
		{"nerdctl-2.0.4-SHA256SUMS", FormatSHA256Sums, "nerdctl-full-2.0.4-linux-amd64.tar.gz"},
		{"runsc-20250331.0-x86_64.sha512", FormatSHA512, "containerd-shim-runsc-v1"},
	}
	for _, tc := range tests {
		t.Run(tc.file+"/"+tc.asset, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("testdata", "checksums", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			_, err = ParseChecksumFile(tc.format, b, tc.asset)
			if err == nil {
				t.Fatal("no error for an asset the file does not list")
			}
			if !strings.Contains(err.Error(), tc.asset) || !strings.Contains(err.Error(), "not listed") {
				t.Errorf("error does not say the asset is not listed: %v", err)
			}
			if manifest.Hint(err) == "" {
				t.Errorf("error has no hint: %v", err)
			}
		})
	}
}

const (
	hexA = "fbd851fce6a8e0d67a9d184ea544c2abf67c9fd29b80fcc1adf67dfe9eb036a1"
	hexB = "bfc6575f4c601740539553b639ad6f635c23f76695ed484171bd864df6a23f76"
	sig  = "-----BEGIN PGP SIGNATURE-----\n\niHUEARYIAB0WIQRlaZe6DTOTw7qvxGPwe5YfnLt6NgUCawkh+wAKCRDwe5YfnLt6\n=fwHU\n-----END PGP SIGNATURE-----\n"
)

func TestParseChecksumFileCases(t *testing.T) {
	tests := []struct {
		name, format, content, asset string
		want                         string // digest, or "" for an error
		errHas                       string
	}{
		{"binary marker", FormatSHA256Sum, hexA + " *runc.amd64\n", "runc.amd64", "sha256:" + hexA, ""},
		{"upper-case hex", FormatSHA256Sum, strings.ToUpper(hexA) + "  runc.amd64\n", "runc.amd64", "sha256:" + hexA, ""},
		{"path in name", FormatSHA256Sums, hexA + "  ./dist/runc.amd64\n" + hexB + "  dist/runc.arm64\n", "runc.arm64", "sha256:" + hexB, ""},
		{"exact name wins over base name", FormatSHA256Sums, hexA + "  other/runc.amd64\n" + hexB + "  runc.amd64\n", "runc.amd64", "sha256:" + hexB, ""},
		{"bsd tag", FormatSHA256Sums, "SHA256 (runc.amd64) = " + hexA + "\n", "runc.amd64", "sha256:" + hexA, ""},
		{"escaped name", FormatSHA256Sum, `\` + hexA + `  a\\b` + "\n", `a\b`, "sha256:" + hexA, ""},
		{"comments and blank lines", FormatSHA256Sums, "# release\n\n" + hexA + "  runc.amd64\n\n", "runc.amd64", "sha256:" + hexA, ""},
		{"two digests for one name", FormatSHA256Sums, hexA + "  runc.amd64\n" + hexB + "  runc.amd64\n", "runc.amd64", "", "two digests"},
		{"same line twice", FormatSHA256Sums, hexA + "  runc.amd64\n" + hexA + "  runc.amd64\n", "runc.amd64", "sha256:" + hexA, ""},
		{"short hex", FormatSHA256Sum, hexA[:60] + "  runc.amd64\n", "runc.amd64", "", "hex digits"},
		{"sha512 in a sha256 file", FormatSHA256Sums, hexA + hexB + "  runc.amd64\n", "runc.amd64", "", "hex digits"},
		{"html error page", FormatSHA256Sum, "<html><body>Not Found</body></html>\n", "runc.amd64", "", "not a checksum line"},
		{"empty file", FormatSHA256Sum, "", "runc.amd64", "", "not listed"},
		{"bare", FormatBareSHA256, "  " + hexA + "  \n", "anything", "sha256:" + hexA, ""},
		{"bare with matching name", FormatBareSHA256, hexA + "  crictl.tar.gz\n", "crictl.tar.gz", "sha256:" + hexA, ""},
		{"bare with other name", FormatBareSHA256, hexA + "  other.tar.gz\n", "crictl.tar.gz", "", "not listed"},
		{"bare, two lines", FormatBareSHA256, hexA + "\n" + hexB + "\n", "x", "", "exactly one"},
		{"bare, not hex", FormatBareSHA256, strings.Repeat("z", 64), "x", "", "not a sha256 digest"},
		{"bare sha512 given sha256", FormatSHA512, hexA + "\n", "runsc", "", "not a sha512 digest"},
		{"unknown format", "md5", hexA, "x", "", "unknown format"},

		{"clear-signed", FormatPGPSHA256Sum,
			"-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\n" + hexA + "  runc.amd64\n" + hexB + "  runc.arm64\n" + sig,
			"runc.arm64", "sha256:" + hexB, ""},
		{"clear-signed with CRLF", FormatPGPSHA256Sum,
			strings.ReplaceAll("-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\n"+hexA+"  runc.amd64\n"+sig, "\n", "\r\n"),
			"runc.amd64", "sha256:" + hexA, ""},
		{"dash-escaped line is unescaped", FormatPGPSHA256Sum,
			"-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\n- " + hexA + "  runc.amd64\n" + sig,
			"runc.amd64", "sha256:" + hexA, ""},
		{"line outside the signed text is ignored", FormatPGPSHA256Sum,
			hexB + "  runc.amd64\n-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\n" + hexA + "  runc.amd64\n" + sig + hexB + "  runc.amd64\n",
			"runc.amd64", "sha256:" + hexA, ""},
		{"asset only outside the signed text", FormatPGPSHA256Sum,
			"-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\n" + hexA + "  runc.amd64\n" + sig + hexB + "  runc.arm64\n",
			"runc.arm64", "", "not listed"},
		{"unescaped dash line", FormatPGPSHA256Sum,
			"-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\n--" + hexA + "  runc.amd64\n" + sig,
			"runc.amd64", "", "not dash-escaped"},
		{"escaped signature marker does not end the text", FormatPGPSHA256Sum,
			"-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\n- -----BEGIN PGP SIGNATURE-----\n" + hexA + "  runc.amd64\n" + sig,
			"runc.amd64", "", `not a checksum line: "-----BEGIN PGP SIGNATURE-----"`},
		{"not signed", FormatPGPSHA256Sum, hexA + "  runc.amd64\n", "runc.amd64", "", "not a PGP clear-signed message"},
		{"no signature", FormatPGPSHA256Sum,
			"-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\n" + hexA + "  runc.amd64\n", "runc.amd64", "", "truncated"},
		{"signature not ended", FormatPGPSHA256Sum,
			"-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\n" + hexA + "  runc.amd64\n-----BEGIN PGP SIGNATURE-----\n\niHUE\n", "runc.amd64", "", "truncated"},
		{"headers not ended", FormatPGPSHA256Sum, "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n", "runc.amd64", "", "armor headers"},
		{"bad header", FormatPGPSHA256Sum,
			"-----BEGIN PGP SIGNED MESSAGE-----\n" + hexA + "  runc.amd64\n\n" + hexA + "  runc.amd64\n" + sig, "runc.amd64", "", "armor header"},
		{"two signed messages", FormatPGPSHA256Sum,
			"-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\n" + hexA + "  runc.amd64\n" + sig +
				"-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\n" + hexB + "  runc.amd64\n" + sig, "runc.amd64", "", "more than one"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseChecksumFile(tc.format, []byte(tc.content), tc.asset)
			if tc.want == "" {
				if err == nil {
					t.Fatalf("got %s, want an error containing %q", got, tc.errHas)
				}
				if !strings.Contains(err.Error(), tc.errHas) {
					t.Fatalf("error %q does not contain %q", err, tc.errHas)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
}

// The fixture was made by gpg --clear-sign, which dash-escaped two lines.
func TestClearSignedTextUndoesGPGDashEscaping(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "checksums", "dash-escaped.txt.asc"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "\n- -----BEGIN PGP SIGNATURE-----\n") {
		t.Fatal("fixture lost its dash-escaped line")
	}
	got, err := clearSignedText(string(b))
	if err != nil {
		t.Fatal(err)
	}
	want := "-----BEGIN PGP SIGNATURE-----\n- a line that starts with a dash\n" + hexA + "  runc.amd64"
	if got != want {
		t.Errorf("signed text:\n%s\nwant:\n%s", got, want)
	}
}
