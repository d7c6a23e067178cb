package main

import (
	"errors"
	"os"

	"github.com/spf13/cobra"

	"github.com/satchel-dev/satchel/internal/cli"
	"github.com/satchel-dev/satchel/manifest"
	"github.com/satchel-dev/satchel/pack"
)

// bundleArgs accepts one FILE, or none when this program is a
// self-extracting .run that carries its bundle.
var bundleArgs = cobra.RangeArgs(0, 1)

// bundlePath returns the bundle to open: the argument, or this executable
// when it carries an embedded bundle (`./kylin.run apply --key satchel.pub`).
func bundlePath(args []string) (string, error) {
	if len(args) == 1 {
		return args[0], nil
	}
	if self, err := os.Executable(); err == nil && pack.Embedded(self) {
		return self, nil
	}
	return "", cli.UsageError(manifest.HintError(errors.New("no bundle file given"),
		"pass the bundle, e.g. `satchel-install apply kylin.satchel --key satchel.pub`, or run a self-extracting .run file"))
}

// withBundle adapts a command that takes the bundle path to cobra's RunE.
func withBundle(run func(c *cobra.Command, file string) error) func(*cobra.Command, []string) error {
	return func(c *cobra.Command, args []string) error {
		file, err := bundlePath(args)
		if err != nil {
			return err
		}
		return run(c, file)
	}
}
