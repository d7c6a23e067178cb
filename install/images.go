package install

import (
	"context"

	"github.com/satchel-dev/satchel/install/importer"
)

// ImportReport is the result of ImportStaged.
type ImportReport = importer.ImportReport

// ImportStaged imports the archives an earlier install staged (what
// satchel-images.service runs at first start) with the installed ctr, and
// into Docker when it answers.
func (in *Installer) ImportStaged(ctx context.Context) (*ImportReport, error) {
	svc := in.services()
	ctr := svc.Tool("ctr")
	if ctr == "" {
		ctr = "ctr"
	}
	return in.images().ImportStaged(ctx, in.root, ctr, svc.Tool("docker"))
}
