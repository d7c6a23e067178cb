package install

import (
	"context"

	"github.com/satchel-dev/satchel/install/config"
	"github.com/satchel-dev/satchel/install/host"
	"github.com/satchel-dev/satchel/install/importer"
	"github.com/satchel-dev/satchel/install/plan"
	"github.com/satchel-dev/satchel/manifest"
)

// PreflightReport is what preflight found.
type PreflightReport = plan.Preflight

// Preflight checks whether this host (or root) can take the bundle, for
// the selected components, and explains every problem with a remedy.
func (in *Installer) Preflight(ctx context.Context, src *Source) (*PreflightReport, error) {
	f, err := in.Facts()
	if err != nil {
		return nil, err
	}
	comps := in.o.plan.Components
	stage := !in.Live() || in.o.plan.NoStart || !(in.online() || importer.SocketExists(in.o.containerdSocket))
	subnet := in.o.plan.CNISubnet
	if subnet == "" {
		subnet = config.DefaultCNISubnet
	}
	findings := host.Preflight(f, src.Index, host.PreflightOptions{Components: comps, TargetIsLive: in.Live(),
		StageImages: stage && len(src.Index.Images) > 0, CNISubnet: subnet})
	failing, _ := host.FailingComponents(findings)
	bi := src.info()
	bi.Platform = f.Platform()
	for _, c := range src.Index.Components {
		if len(comps) == 0 || contains(comps, c.Name) {
			bi.Components = append(bi.Components, c.Name)
		}
	}
	return &PreflightReport{
		Bundle: bi, Verified: src.Verified, Facts: f, Findings: findings,
		Failed: host.Failed(findings, comps), FailingComponents: failing,
	}, nil
}

// PreflightError is a failed preflight (exit code 4): the error findings,
// and the components they concern.
type PreflightError struct{ Report *PreflightReport }

func (e *PreflightError) Error() string {
	msg := "preflight failed:"
	for _, f := range e.Report.Findings {
		if f.Severity == host.SeverityError {
			msg += "\n  " + f.String()
		}
	}
	return msg
}

func preflightError(r *PreflightReport) error {
	hint := "fix the problems above"
	if len(r.FailingComponents) > 0 {
		hint += ", or leave the failing components (" + joinComma(r.FailingComponents) + ") out with --components"
	}
	return manifest.WithExitCode(manifest.HintError(&PreflightError{Report: r}, hint), manifest.ExitPreflight)
}

// Plan computes every change an apply of src would make to the root,
// without writing anything (preflight included). Apply makes the same
// plan, under the lock, and carries out exactly it.
func (in *Installer) Plan(ctx context.Context, src *Source) (*plan.Plan, error) {
	if err := in.requireTrust(src); err != nil {
		return nil, err
	}
	in.phase("planning")
	pre, err := in.Preflight(ctx, src)
	if err != nil {
		return nil, err
	}
	p, err := in.makePlan(ctx, src, pre)
	if err != nil {
		if pre.Failed && manifest.ExitCode(err) == manifest.ExitPreflight {
			return nil, preflightError(pre)
		}
		return nil, err
	}
	return p, nil
}

// requireTrust refuses to plan or install from a bundle whose signature was not checked.
func (in *Installer) requireTrust(src *Source) error {
	if !src.Verified && !src.Insecure {
		return manifest.VerificationError(manifest.Hintf("pass --key with the publisher's public key",
			"the bundle's signature was not checked"))
	}
	return nil
}

func joinComma(s []string) string {
	out := ""
	for i, x := range s {
		if i > 0 {
			out += ", "
		}
		out += x
	}
	return out
}
