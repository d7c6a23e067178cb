package main

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/satchel-dev/satchel/internal/cli"
	"github.com/satchel-dev/satchel/internal/mirrorgen"
	"github.com/satchel-dev/satchel/profiles"
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
			b, err := spec.Marshal()
			if err != nil {
				return err
			}
			return os.WriteFile(e.WorkDir+"/demo.yaml", b, 0o644)
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
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
