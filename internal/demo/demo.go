// Package demo runs satchel's main job end to end without the internet:
// it lays out a local mirror of upstream-shaped stand-in artifacts (real
// archive layouts and real checksum-file formats; the programs inside are
// labelled stand-ins), serves it and an in-process OCI registry on loopback,
// then drives the real satchel-bundle and satchel-install binaries through
// keygen, lock, build (cold and warm), inspect, verify and apply --root.
package demo

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"

	"github.com/satchel-dev/satchel/internal/mirrorgen"
	"github.com/satchel-dev/satchel/profiles"
)

// Options configure Run.
type Options struct {
	BinDir string    // holds satchel-bundle and satchel-install
	Dir    string    // work directory (mirror, keys, cache, bundle)
	Root   string    // install root (default ./demo-root)
	Out    io.Writer // progress for people
}

// Run executes the demo. Everything it starts listens on loopback and stops
// when it returns.
func Run(ctx context.Context, o Options) error {
	if o.Root == "" {
		o.Root = "demo-root"
	}
	if o.Out == nil {
		o.Out = os.Stdout
	}
	for _, d := range []string{o.Dir, o.Root} {
		if err := os.RemoveAll(d); err != nil {
			return err
		}
	}
	for _, d := range []string{o.Dir, o.Root} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	say := func(format string, args ...any) { fmt.Fprintf(o.Out, "==> "+format+"\n", args...) }

	spec := mirrorgen.DemoSpec()
	res, err := profiles.Resolve(spec)
	if err != nil {
		return err
	}
	mirrorDir := filepath.Join(o.Dir, "mirror")
	say("generating a local mirror of upstream-shaped STAND-IN artifacts in %s", mirrorDir)
	fmt.Fprintln(o.Out, "    (real archive layouts and checksum files; the programs inside are labelled stand-ins, not the real binaries)")
	if _, err := mirrorgen.Generate(mirrorDir, res, mirrorgen.StandIn); err != nil {
		return err
	}
	base, stop, err := mirrorgen.Serve(mirrorDir)
	if err != nil {
		return err
	}
	defer stop()

	reg := httptest.NewServer(registry.New(registry.Logger(nopLogger())))
	defer reg.Close()
	regHost := strings.TrimPrefix(reg.URL, "http://")
	say("pushing stand-in images to an in-process registry at %s", regHost)
	if _, err := mirrorgen.PushDemoImages(ctx, regHost, res.Platforms); err != nil {
		return err
	}

	specFile := filepath.Join(o.Dir, "bundle.yaml")
	b, err := spec.Marshal()
	if err != nil {
		return err
	}
	if err := os.WriteFile(specFile, b, 0o644); err != nil {
		return err
	}

	bundleBin := filepath.Join(o.BinDir, "satchel-bundle")
	installBin := filepath.Join(o.BinDir, "satchel-install")
	var sources []string
	for _, m := range mirrorgen.MirrorFlags(base) {
		sources = append(sources, "--mirror", m)
	}
	for _, m := range mirrorgen.RegistryMirrorFlags(regHost) {
		sources = append(sources, "--registry-mirror", m)
	}
	cache := filepath.Join(o.Dir, "cache")
	key := filepath.Join(o.Dir, "satchel")
	bundle := filepath.Join(o.Dir, spec.Metadata.Name+"-"+spec.Metadata.Version+".satchel")
	env := append(os.Environ(), "SATCHEL_PASSWORD=demo", "SOURCE_DATE_EPOCH=1743465600")
	run := func(bin string, args ...string) (time.Duration, error) {
		fmt.Fprintf(o.Out, "$ %s %s\n", filepath.Base(bin), strings.Join(args, " "))
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Env, cmd.Stdout, cmd.Stderr = env, o.Out, o.Out
		start := time.Now()
		err := cmd.Run()
		return time.Since(start), err
	}

	if _, err := run(bundleBin, "keygen", "--output-prefix", key); err != nil {
		return err
	}
	if _, err := run(bundleBin, append([]string{"lock", "-f", specFile, "-o", filepath.Join(o.Dir, "bundle.lock"), "--cache", cache}, sources...)...); err != nil {
		return err
	}
	buildArgs := append([]string{"build", "-f", specFile, "--key", key + ".key", "--cache", cache}, sources...)
	cold, err := run(bundleBin, append(buildArgs, "-o", bundle)...)
	if err != nil {
		return err
	}
	say("stopping the mirror: a warm rebuild must need no network")
	stop()
	again := bundle + ".rebuild"
	warm, err := run(bundleBin, append(buildArgs, "-o", again, "--force")...)
	if err != nil {
		return err
	}
	same, err := sameFile(bundle, again)
	if err != nil {
		return err
	}
	os.Remove(again)
	if !same {
		return fmt.Errorf("the warm rebuild is not byte-identical to the first build")
	}
	st, _ := os.Stat(bundle)
	say("bundle %s: %d bytes; build cold %s, warm %s; rebuild byte-identical", bundle, st.Size(), cold.Round(time.Millisecond), warm.Round(time.Millisecond))

	if _, err := run(bundleBin, "inspect", bundle, "--key", key+".pub"); err != nil {
		return err
	}
	if _, err := run(bundleBin, "verify", "--key", key+".pub", bundle); err != nil {
		return err
	}
	if _, err := run(installBin, "apply", bundle, "--key", key+".pub", "--root", o.Root, "--no-start"); err != nil {
		return err
	}
	say("installed into %s (no services started: it is a directory, not this machine)", o.Root)
	return nil
}

func sameFile(a, b string) (bool, error) {
	x, err := os.ReadFile(a)
	if err != nil {
		return false, err
	}
	y, err := os.ReadFile(b)
	if err != nil {
		return false, err
	}
	return bytes.Equal(x, y), nil
}
