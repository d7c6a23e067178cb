package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/satchel-dev/satchel/install"
	"github.com/satchel-dev/satchel/install/state"
	"github.com/satchel-dev/satchel/internal/cli"
	"github.com/satchel-dev/satchel/internal/fault"
)

func newImagesCommand(g *globalOptions) *cobra.Command {
	c := &cobra.Command{
		Use:   "images",
		Short: "Work with the images a bundle carries",
	}
	c.AddCommand(newImagesImportCommand(g))
	return c
}

// ImagesImportOptions configure `satchel-install images import`.
type ImagesImportOptions struct {
	Staged           bool
	ContainerdSocket string
	DockerSocket     string
}

func newImagesImportCommand(g *globalOptions) *cobra.Command {
	var o ImagesImportOptions
	c := &cobra.Command{
		Use:   "import --staged",
		Short: "Import the image archives an install staged for first start",
		Long: `images import --staged imports the archives an apply left in
` + string(state.ImageDir) + ` (when containerd could not be reached: --no-start, or an
install into another --root): each into the containerd namespaces recorded,
with the installed ctr, pinned so garbage collection keeps it, and into Docker
when Docker answers. Each archive is removed once imported, and the directory
when all are. satchel-images.service runs this at first start.`,
		Example: "  satchel-install images import --staged",
		Args:    cobra.NoArgs,
		RunE:    func(c *cobra.Command, args []string) error { return runImagesImport(c, g, o) },
	}
	c.Flags().BoolVar(&o.Staged, "staged", false, "import the staged archives (required)")
	c.Flags().StringVar(&o.ContainerdSocket, "containerd-socket", install.DefaultContainerdSocket, "containerd's socket")
	c.Flags().StringVar(&o.DockerSocket, "docker-socket", install.DefaultDockerSocket, "Docker's socket")
	return c
}

func runImagesImport(c *cobra.Command, g *globalOptions, o ImagesImportOptions) error {
	s := newSession(c, g)
	if !o.Staged {
		return s.fail(cli.UsageError(fault.Remedyf("images are imported by apply; --staged imports what an apply staged for first start", "images import needs --staged")))
	}
	in, err := s.installer(install.WithContainerdSocket(o.ContainerdSocket), install.WithDockerSocket(o.DockerSocket))
	if err != nil {
		return s.fail(err)
	}
	rep, err := in.ImportStaged(c.Context())
	s.prog.clear()
	if rep != nil {
		if perr := s.out.Print(rep, func(w io.Writer) { printImport(w, rep) }); perr != nil {
			return perr
		}
	}
	if err != nil {
		return s.fail(err)
	}
	return nil
}

func printImport(w io.Writer, r *install.ImportReport) {
	if len(r.Images) == 0 {
		fmt.Fprintln(w, "No staged images to import.")
		return
	}
	for _, im := range r.Images {
		switch {
		case im.Error != "":
			fmt.Fprintf(w, "  FAILED    %s: %s\n", im.Ref, im.Error)
		case len(im.Namespaces) == 0:
			fmt.Fprintf(w, "  done      %s (imported earlier)\n", im.Ref)
		default:
			fmt.Fprintf(w, "  imported  %s into %v, pinned", im.Ref, im.Namespaces)
			if im.Docker != "" {
				fmt.Fprintf(w, "; docker: %s", im.Docker)
			}
			fmt.Fprintln(w)
		}
	}
	if r.Done {
		fmt.Fprintf(w, "All staged images imported; %s removed.\n", state.ImageDir)
	}
}
