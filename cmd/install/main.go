// Command satchel-install verifies a satchel bundle and turns a
// disconnected machine into a working container host: binaries, units,
// containerd/Docker/crictl configuration, images and RuntimeClasses. It
// contains no network client.
//
// The work is done by package install; this command parses flags, wires
// progress and warnings to the terminal, and prints reports as text or JSON.
package main

import (
	"os"

	"github.com/spf13/cobra"

	"github.com/satchel-dev/satchel/internal/cli"
	"github.com/satchel-dev/satchel/internal/version"
)

func main() {
	os.Exit(cli.Execute(newRootCommand(), os.Args[1:], os.Stdout, os.Stderr))
}

// globalOptions are flags every command shares.
type globalOptions struct {
	Root string
	JSON bool
}

func newRootCommand() *cobra.Command {
	var g globalOptions
	root := &cobra.Command{
		Use:   "satchel-install",
		Short: "Verify a satchel bundle and install the container-runtime stack it carries",
		Long: `satchel-install verifies a bundle made by satchel-bundle and installs what it
carries: containerd, runc, Docker, gVisor (runsc), kata, nerdctl and crictl,
their systemd units and configuration (merged into existing files, never
clobbering them), images imported into containerd and Docker, and Kubernetes
RuntimeClasses. It has no network client and needs none.

On a disconnected host:

  satchel-install preflight kylin-runtimes-2025.04.0.satchel
  satchel-install plan  kylin-runtimes-2025.04.0.satchel --key satchel.pub
  satchel-install apply kylin-runtimes-2025.04.0.satchel --key satchel.pub
  satchel-install doctor

Every path is relative to --root (default /), so an install can go into a
directory, e.g. a golden image; images are then staged and imported at its
first start.

Exit codes:
  0  success
  1  failure
  2  usage error
  3  verification failed (signature, digest, unsafe entry, no trusted key, downgrade)
  4  preflight failed
  5  apply --check: a change is needed`,
		Version: version.Version,
	}
	root.PersistentFlags().StringVar(&g.Root, "root", "/", "install into this directory instead of the running system")
	root.PersistentFlags().BoolVar(&g.JSON, "json", false, "print a machine-readable JSON report on stdout")
	root.AddCommand(
		newPreflightCommand(&g),
		newPlanCommand(&g),
		newApplyCommand(&g),
		newStatusCommand(&g),
		newDoctorCommand(&g),
		newUninstallCommand(&g),
		newImagesCommand(&g),
		newVersionCommand(&g),
	)
	return root
}
