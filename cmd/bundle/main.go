// Command satchel-bundle builds signed, reproducible satchel bundles on a
// connected host: it pins upstream container-runtime releases and images,
// fetches them, and packs them into one file to carry across an air gap.
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
	JSON bool
}

func newRootCommand() *cobra.Command {
	var g globalOptions
	root := &cobra.Command{
		Use:   "satchel-bundle",
		Short: "Build signed, reproducible bundles of a container-runtime stack",
		Long: `satchel-bundle fetches pinned upstream releases (containerd, runc, Docker,
gVisor, kata, nerdctl, crictl) and OCI images into one signed file that
satchel-install turns into a working container host on a disconnected machine.

A typical session on a connected host:

  satchel-bundle keygen                          # satchel.key + satchel.pub
  satchel-bundle init --profile kylin-v10 -o bundle.yaml
  satchel-bundle lock -f bundle.yaml             # writes bundle.lock
  satchel-bundle build -f bundle.yaml --key satchel.key -o kylin.satchel
  satchel-bundle verify --key satchel.pub kylin.satchel

Before carrying it, a reviewer reads it:

  satchel-bundle inspect kylin.satchel --key satchel.pub [--sbom]
  satchel-bundle diff approved.satchel kylin.satchel --key satchel.pub
  satchel-bundle audit kylin.satchel --db ./osv --fail-on high

Exit codes: 0 success, 1 failure, 2 usage, 3 verification failed,
6 audit found vulnerabilities at or above --fail-on.`,
		Version: version.Version,
	}
	root.PersistentFlags().BoolVar(&g.JSON, "json", false, "print machine-readable JSON")
	root.AddCommand(
		newInitCommand(&g),
		newProfilesCommand(&g),
		newLockCommand(&g),
		newBuildCommand(&g),
		newKeygenCommand(&g),
		newSignCommand(&g),
		newVerifyCommand(&g),
		newInspectCommand(&g),
		newSplitCommand(&g),
		newDiffCommand(&g),
		newAuditCommand(&g),
		newPushCommand(&g),
	)
	return root
}
