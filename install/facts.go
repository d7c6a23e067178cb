package install

import (
	"context"

	"github.com/satchel-dev/satchel/install/host"
	"github.com/satchel-dev/satchel/manifest"
)

// Facts returns the host facts (package host) for the root, gathered once
// per Installer.
func (in *Installer) Facts() (*host.Facts, error) {
	if in.facts == nil {
		f, err := host.Gather(in.root, in.hostOpts...)
		if err != nil {
			return nil, err
		}
		in.facts = f
	}
	return in.facts, nil
}

// targetFacts are the few host facts planning needs.
type targetFacts struct {
	// Platform is "linux/amd64" or "linux/arm64": which files to install.
	Platform string
	// Systemd is set when the target boots with systemd (runc then uses
	// the systemd cgroup driver): systemd as PID 1 on the running system,
	// systemd present in a tree installed into with --root.
	Systemd bool
}

func (in *Installer) targetFacts() (targetFacts, error) {
	f, err := in.Facts()
	if err != nil {
		return targetFacts{}, err
	}
	t := targetFacts{Platform: f.Platform(), Systemd: f.SystemdInit}
	if !in.Live() {
		t.Systemd = f.SystemdInstalled
	}
	return t, nil
}

// PreflightReport is what preflight found.
type PreflightReport struct {
	Bundle BundleInfo `json:"bundle"`
	// Verified is false when the bundle's signature was not checked
	// (preflight without a trusted key).
	Verified bool           `json:"verified"`
	Facts    *host.Facts    `json:"facts"`
	Findings []host.Finding `json:"findings"`
	// Failed is set when an error finding concerns the whole bundle or a
	// selected component: apply refuses (exit code 4).
	Failed            bool     `json:"failed"`
	FailingComponents []string `json:"failingComponents,omitempty"`
}

// Preflight checks whether this host (or root) can take the bundle, for
// the selected components, and explains every problem with a remedy.
func (in *Installer) Preflight(ctx context.Context, src *Source) (*PreflightReport, error) {
	f, err := in.Facts()
	if err != nil {
		return nil, err
	}
	var comps []string
	if len(in.components) > 0 {
		comps = in.components
	}
	stage := !in.Live() || in.noStart || !(in.svc.Online() || socketExists(in.containerdSocket))
	findings := host.Preflight(f, src.Index, host.PreflightOptions{Components: comps, TargetIsLive: in.Live(), StageImages: stage && len(src.Index.Images) > 0})
	failing, _ := host.FailingComponents(findings)
	var names []string
	for _, c := range src.Index.Components {
		if comps == nil || contains(comps, c.Name) {
			names = append(names, c.Name)
		}
	}
	return &PreflightReport{
		Bundle: src.info(f.Platform(), names), Verified: src.Verified, Facts: f, Findings: findings,
		Failed: host.Failed(findings, comps), FailingComponents: failing,
	}, nil
}

// preflightError is the exit-code-4 error for a failed preflight.
func preflightError(r *PreflightReport) error {
	var msgs []string
	for _, f := range r.Findings {
		if f.Severity == host.SeverityError {
			msgs = append(msgs, f.String())
		}
	}
	hint := "fix the problems above"
	if len(r.FailingComponents) > 0 {
		hint += ", or leave the failing components (" + joinComma(r.FailingComponents) + ") out with --components"
	}
	return manifest.WithExitCode(manifest.Hintf(hint, "preflight failed:\n  %s", joinLines(msgs)), manifest.ExitPreflight)
}
