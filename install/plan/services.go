package plan

import (
	"slices"
	"strings"

	"github.com/satchel-dev/satchel/component"
	"github.com/satchel-dev/satchel/install/config"
)

// services plans daemon-reload, enabling and (re)starting units; image
// imports go right after containerd is up, docker loads after docker.
func (pl *planner) services() error {
	unitChanged := false
	for _, a := range pl.p.Actions {
		if a.Kind == KindUnit && a.Changes() || a.Change == ChangeRemove && a.Path.Dir() == config.UnitDir {
			unitChanged = true
		}
	}
	if pl.p.Online && unitChanged {
		pl.p.add(Action{Kind: KindService, Change: ChangeReload})
	}
	imports, loads := pl.imports, pl.loads
	for _, c := range pl.sel {
		d, ok := component.Lookup(c.Name)
		if !ok || d.Service == "" {
			continue
		}
		pl.serviceActions(d.Service)
		switch c.Name {
		case component.Containerd:
			pl.p.Actions, imports = append(pl.p.Actions, imports...), nil
		case component.Docker:
			pl.p.Actions, loads = append(pl.p.Actions, loads...), nil
		}
	}
	pl.p.Actions = append(append(pl.p.Actions, imports...), loads...)
	if pl.p.ImageMode == ImageStage {
		pl.serviceActions(config.ImagesUnitName)
	}
	// Kernel settings take effect now on the running system (and at boot
	// from their files).
	if pl.p.Online && !pl.in.Options.NoStart {
		for _, u := range pl.settingsChanged {
			pl.p.add(Action{Kind: KindService, Change: ChangeRestart, Unit: u, Note: "applies " + map[string]string{modulesLoadService: "the modules to load", sysctlService: "the kernel settings"}[u]})
		}
	}
	// Units satchel enabled before and no longer installs.
	if prev := pl.in.Previous; prev != nil {
		for _, u := range prev.Enabled {
			if _, ok := pl.owner[config.UnitDir.Join(u)]; ok {
				continue
			}
			pl.p.add(Action{Kind: KindService, Change: ChangeDisable, Unit: u})
		}
	}
	return nil
}

// restarted reports whether a running unit must restart: a component that
// it loads changed.
func (pl *planner) restarted(unit string) bool {
	for name := range pl.touched {
		if d, ok := component.Lookup(name); ok && slices.Contains(d.Restarts, unit) {
			return true
		}
	}
	return false
}

// serviceActions plans enable and start/restart of one unit.
func (pl *planner) serviceActions(unit string) {
	st := pl.in.Observed.Units[unit]
	enabled := false
	if i, ok := pl.owner[config.UnitDir.Join(unit)]; ok && pl.p.Actions[i].Change == ChangeUnchanged {
		enabled = st.Enabled
	}
	if !enabled {
		pl.p.add(Action{Kind: KindService, Change: ChangeEnable, Unit: unit})
	}
	if !pl.p.Online || pl.in.Options.NoStart || unit == config.ImagesUnitName {
		return // satchel-images.service runs at boot; containerd is not up now
	}
	switch {
	case !st.Active:
		pl.p.add(Action{Kind: KindService, Change: ChangeStart, Unit: unit})
	case pl.restarted(unit):
		pl.p.add(Action{Kind: KindService, Change: ChangeRestart, Unit: unit, Note: "its files or configuration changed"})
	}
}

// kube plans `kubectl apply` of the RuntimeClasses when a kubeconfig is given.
func (pl *planner) kube() error {
	o, obs := pl.in.Options, pl.in.Observed
	if o.Kubeconfig == "" {
		return nil
	}
	i, ok := pl.owner[config.RuntimeClassesPath]
	if !ok {
		pl.warnf("--kubeconfig given, but no sandboxed runtime (runsc, kata) is installed: no RuntimeClass to apply")
		return nil
	}
	if obs.Kubectl == "" {
		pl.p.add(Action{Kind: KindRuntimeClass, Change: ChangeSkip, Path: config.RuntimeClassesPath, Note: "kubectl not found: apply " + string(config.RuntimeClassesPath) + " yourself"})
		return nil
	}
	names := config.RuntimeClassNames(pl.p.Runtimes)
	a := Action{Kind: KindRuntimeClass, Change: ChangeKubectl, Path: config.RuntimeClassesPath, Note: "runtimeclass " + strings.Join(names, ", "), Tool: obs.Kubectl}
	if pl.p.Actions[i].Change == ChangeUnchanged {
		all := true
		for _, n := range names {
			all = all && slices.Contains(obs.RuntimeClasses, n)
		}
		if all {
			a.Change = ChangeUnchanged
		}
	}
	pl.p.add(a)
	return nil
}
