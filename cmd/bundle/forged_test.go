package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/satchel-dev/satchel/internal/cli"
	"github.com/satchel-dev/satchel/internal/forge"
	"github.com/satchel-dev/satchel/manifest"
	"github.com/satchel-dev/satchel/sign"
)

func runBundle(args ...string) (int, string) {
	var out, errOut bytes.Buffer
	code := cli.Execute(newRootCommand(), args, &out, &errOut)
	return code, out.String() + errOut.String()
}

// TestForgedBundlesRefused runs every malicious bundle of internal/forge
// through satchel-bundle's own commands: verify (with the signer's key)
// and inspect (without a key) exit 3 and print no control character, and
// sign refuses to put a key on it (exit 3, nothing written), and push sends
// not a single request to the registry (exit 3).
func TestForgedBundlesRefused(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(sign.PasswordEnv, "")
	priv, pub, err := sign.GenerateKeyPair(sign.ECDSAP256, nil)
	if err != nil {
		t.Fatal(err)
	}
	keyFile, pubFile := filepath.Join(dir, "k.key"), filepath.Join(dir, "k.pub")
	os.WriteFile(keyFile, priv, 0o600)
	os.WriteFile(pubFile, pub, 0o644)
	s, err := sign.LoadSigner(context.Background(), keyFile, nil)
	if err != nil {
		t.Fatal(err)
	}
	base := filepath.Join(dir, "base.satchel")
	if err := forge.WriteBase(filepath.Join(dir, "store"), base, s); err != nil {
		t.Fatal(err)
	}
	fb, err := forge.Load(base, filepath.Join(dir, "forge"))
	if err != nil {
		t.Fatal(err)
	}
	var requests atomic.Int64
	reg := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		w.WriteHeader(http.StatusInternalServerError)
	}))
	defer reg.Close()
	to := strings.TrimPrefix(reg.URL, "http://") + "/satchel"
	// The base passes all four commands.
	for _, args := range [][]string{{"verify", "--key", pubFile, base}, {"inspect", base}, {"sign", "--key", keyFile, "-o", filepath.Join(dir, "resigned.satchel"), base},
		{"push", "--key", pubFile, "--to", to, "--dry-run", base}} {
		if code, out := runBundle(args...); code != 0 {
			t.Fatalf("%v on the base bundle: exit %d\n%s", args, code, out)
		}
	}
	controls := func(s string) bool {
		return strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 && r != '\n' && r != '\t' || r == 0x7f })
	}
	for _, c := range forge.Cases() {
		t.Run(c.Name, func(t *testing.T) {
			in := filepath.Join(dir, c.Name+".satchel")
			if err := c.Make(fb, s, in); err != nil {
				t.Fatal(err)
			}
			resigned := filepath.Join(dir, c.Name+".resigned.satchel")
			for _, args := range [][]string{{"verify", "--key", pubFile, in}, {"inspect", in}, {"inspect", "--json", in}, {"sign", "--key", keyFile, "-o", resigned, in},
				{"push", "--key", pubFile, "--to", to, "--plain-http", in}} {
				code, out := runBundle(args...)
				if code != manifest.ExitVerification {
					t.Errorf("%s: exit %d, want 3\n%s", args[0], code, out)
				}
				if controls(out) {
					t.Errorf("%s printed a control character: %q", args[0], out)
				}
			}
			if n := requests.Load(); n != 0 {
				t.Errorf("push sent %d requests for a forged bundle", n)
			}
			if _, err := os.Lstat(resigned); err == nil {
				t.Errorf("sign wrote %s", resigned)
			}
		})
	}
}
