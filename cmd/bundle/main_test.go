package main

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/satchel-dev/satchel/internal/bundletest"
	"github.com/satchel-dev/satchel/internal/cli"
	"github.com/satchel-dev/satchel/internal/mirrorgen"
	"github.com/satchel-dev/satchel/manifest"
	"github.com/satchel-dev/satchel/profiles"
	"github.com/satchel-dev/satchel/sign"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"satchel-bundle": func() { os.Exit(cli.Execute(newRootCommand(), os.Args[1:], os.Stdout, os.Stderr)) },
	})
}

// TestScripts runs the CLI scripts in testdata/script. Each script gets a
// local mirror of upstream-shaped stand-in artifacts and a registry holding
// the demo images ($REGISTRY, host:port); $SOURCES holds the --mirror/--registry-mirror flags,
// space-separated, for the `sources` wrapper command:
//
//	sources satchel-bundle lock -f bundle.yaml
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(e *testscript.Env) error {
			spec := mirrorgen.DemoSpec()
			res, err := profiles.Resolve(spec)
			if err != nil {
				return err
			}
			dir := e.WorkDir + "/.mirror"
			if _, err := mirrorgen.Generate(dir, res, mirrorgen.StandIn); err != nil {
				return err
			}
			base, stop, err := mirrorgen.Serve(dir)
			if err != nil {
				return err
			}
			e.Defer(stop)
			host, stopReg, err := mirrorgen.ServeRegistry()
			if err != nil {
				return err
			}
			e.Defer(stopReg)
			if _, err := mirrorgen.PushDemoImages(context.Background(), host, res.Platforms); err != nil {
				return err
			}
			var flags []string
			for _, m := range mirrorgen.MirrorFlags(base) {
				flags = append(flags, "--mirror="+m)
			}
			for _, m := range mirrorgen.RegistryMirrorFlags(host) {
				flags = append(flags, "--registry-mirror="+m)
			}
			e.Setenv("SOURCES", strings.Join(flags, " "))
			e.Setenv("REGISTRY", host) // plain HTTP, loopback: a push target too
			e.Setenv("SATCHEL_PASSWORD", "test")
			e.Setenv("SOURCE_DATE_EPOCH", "1743465600")
			e.Setenv("XDG_CACHE_HOME", e.WorkDir+"/.cache")
			osv, err := filepath.Abs("../../audit/testdata/osv")
			if err != nil {
				return err
			}
			e.Setenv("OSV", osv) // real OSV records (see its README)
			b, err := spec.Marshal()
			if err != nil {
				return err
			}
			return os.WriteFile(e.WorkDir+"/demo.yaml", b, 0o644)
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			// mkbundle OUT RUNC_VERSION IMAGE_SALT [NOTE_ID] writes a small
			// bundle signed with satchel.key: containerd 2.0.4 and runc at
			// RUNC_VERSION (whose binary is this test program, a real Go
			// binary), nginx and pause images (IMAGE_SALT changes nginx's
			// digest), a cgroup note and optionally NOTE_ID.
			"mkbundle": mkbundle,
			// exits CODE PROG ARGS... runs PROG and checks its exit code.
			"exits": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) < 2 {
					ts.Fatalf("usage: exits CODE command args...")
				}
				want, err := strconv.Atoi(args[0])
				if err != nil {
					ts.Fatalf("exits: %v", err)
				}
				err = ts.Exec(args[1], args[2:]...)
				got := 0
				var ee *exec.ExitError
				if errors.As(err, &ee) {
					got = ee.ExitCode()
				} else if err != nil {
					ts.Fatalf("exits: %v", err)
				}
				if got != want {
					ts.Fatalf("%s exited %d, want %d", args[1], got, want)
				}
			},
			// sources CMD ARGS... runs CMD with the mirror flags appended.
			"sources": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) == 0 {
					ts.Fatalf("usage: sources command args...")
				}
				full := append(args[1:], strings.Fields(ts.Getenv("SOURCES"))...)
				err := ts.Exec(args[0], full...)
				if neg != (err != nil) {
					ts.Fatalf("sources %v: unexpected result: %v", args, err)
				}
			},
		},
	})
}

func mkbundle(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 3 {
		ts.Fatalf("usage: mkbundle OUT RUNC_VERSION IMAGE_SALT [NOTE_ID]")
	}
	self, err := os.Executable()
	if err != nil {
		ts.Fatalf("%v", err)
	}
	bin, err := os.ReadFile(self)
	if err != nil {
		ts.Fatalf("%v", err)
	}
	runc := args[1]
	notes := []manifest.Note{{ID: "cgroup-v1", Severity: "info", Text: "cgroup v1 is deprecated upstream"}}
	if len(args) > 3 {
		notes = append(notes, manifest.Note{ID: args[3], Component: "runc", Severity: "warning", Text: "runc " + runc + " has known vulnerabilities"})
	}
	spec := bundletest.Spec{
		Name: "review", Version: "2025.04.0", Sequence: 1, Attest: true,
		Components: []bundletest.Component{
			{Name: "containerd", Version: "2.0.4", Artifacts: []bundletest.Artifact{{Platform: "linux/amd64",
				URL:   "https://github.com/containerd/containerd/releases/download/v2.0.4/containerd-static-2.0.4-linux-amd64.tar.gz",
				Files: []bundletest.File{{Path: "/usr/local/share/containerd/satchel.toml", Mode: 0o644, Content: []byte("version = 3\n")}}}}},
			{Name: "runc", Version: runc, Artifacts: []bundletest.Artifact{{Platform: "linux/amd64",
				URL:   "https://github.com/opencontainers/runc/releases/download/v" + runc + "/runc.amd64",
				Files: []bundletest.File{{Path: "/usr/local/bin/runc", Content: bin}}}}},
		},
		Images: []bundletest.Image{
			{Ref: "docker.io/library/nginx:1.27.4", Platforms: []string{"linux/amd64"}, Salt: args[2], Layers: []map[string][]byte{{"usr/share/nginx/html/index.html": []byte("hello\n")}}},
			{Ref: "registry.k8s.io/pause:3.10", Platforms: []string{"linux/amd64"}, Layers: []map[string][]byte{{"pause": []byte("pause")}}},
		},
		Notes: notes,
	}
	signer, err := sign.LoadSigner(context.Background(), ts.MkAbs("satchel.key"), func(bool) ([]byte, error) { return []byte(ts.Getenv("SATCHEL_PASSWORD")), nil })
	if err != nil {
		ts.Fatalf("mkbundle: %v", err)
	}
	if _, err := bundletest.WriteFile(ts.MkAbs(args[0]), spec, signer); err != nil {
		ts.Fatalf("mkbundle: %v", err)
	}
}
