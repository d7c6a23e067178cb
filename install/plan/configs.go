package plan

import (
	"fmt"

	"github.com/satchel-dev/satchel/component"
	"github.com/satchel-dev/satchel/install/config"
)

func (pl *planner) profile() error {
	b, err := config.ProfileScript()
	if err != nil {
		return err
	}
	_, err = pl.owned(KindConfig, config.ProfilePath, b, 0o644, "")
	return err
}

// configs plans containerd's, Docker's and crictl's configuration and the
// RuntimeClass manifests for what is installed.
func (pl *planner) configs() error {
	o := pl.in.Options
	if c := pl.component(component.Containerd); c != nil {
		existing, err := pl.readExisting(config.ContainerdConfigPath)
		if err != nil {
			return err
		}
		opts := config.ContainerdOptions{
			Version:             c.Version,
			Runtimes:            pl.p.Runtimes,
			DefaultRuntime:      o.DefaultRuntime,
			SystemdCgroup:       pl.in.Target.Systemd,
			SandboxImage:        pl.sandboxImage(),
			RegistryMirrors:     o.RegistryMirrors,
			RestrictOOMScoreAdj: o.RestrictOOMScoreAdj,
			KataConfigPath:      pl.kataConfig,
			ReadFile:            pl.readTarget,
		}
		if pl.component(component.Runc) != nil {
			opts.RuncBinary = config.BinDir + "/runc"
		}
		if pl.component(component.Gvisor) != nil {
			opts.RunscBinary = config.BinDir + "/runsc"
		}
		res, err := config.Containerd(opts, existing)
		if err != nil {
			return fmt.Errorf("containerd configuration: %w", err)
		}
		pl.p.Warnings = append(pl.p.Warnings, res.Warnings...)
		for _, f := range res.Files {
			if _, err := pl.owned(KindConfig, f.Path, f.Data, f.Mode, component.Containerd); err != nil {
				return err
			}
		}
	} else if o.DefaultRuntime != "" || len(o.RegistryMirrors) > 0 {
		pl.warnf("containerd is not installed from this bundle: --default-runtime and --registry-mirror do not apply to it")
	}
	if pl.component(component.Docker) != nil {
		existing, err := pl.readExisting(config.DaemonJSONPath)
		if err != nil {
			return err
		}
		var rts []string
		for _, r := range pl.p.Runtimes {
			if r != component.RuntimeRunc {
				rts = append(rts, r)
			}
		}
		data, warns, err := config.DaemonJSON(existing, config.DockerOptions{Runtimes: rts, DefaultRuntime: o.DefaultRuntime})
		if err != nil {
			return fmt.Errorf("docker configuration: %w", err)
		}
		pl.p.Warnings = append(pl.p.Warnings, warns...)
		if _, err := pl.owned(KindConfig, config.DaemonJSONPath, data, 0o644, component.Docker); err != nil {
			return err
		}
	}
	if pl.component(component.Crictl) != nil {
		existing, err := pl.readExisting(config.CrictlPath)
		if err != nil {
			return err
		}
		data, warns, err := config.Crictl(existing, config.CrictlOptions{})
		if err != nil {
			return fmt.Errorf("crictl configuration: %w", err)
		}
		pl.p.Warnings = append(pl.p.Warnings, warns...)
		if _, err := pl.owned(KindConfig, config.CrictlPath, data, 0o644, component.Crictl); err != nil {
			return err
		}
	}
	rc, err := config.RuntimeClasses(pl.p.Runtimes)
	if err != nil {
		return err
	}
	if rc != nil {
		if _, err := pl.owned(KindConfig, config.RuntimeClassesPath, rc, 0o644, ""); err != nil {
			return err
		}
	}
	return nil
}

func (pl *planner) sandboxImage() string {
	for _, im := range pl.ix.Images {
		if im.Role == "sandbox" {
			return im.Ref
		}
	}
	return ""
}

// units plans the systemd unit of every selected component that has one.
func (pl *planner) units() error {
	for _, c := range pl.sel {
		d, ok := component.Lookup(c.Name)
		if !ok || d.Service == "" {
			continue
		}
		data, err := config.ServiceUnit(d.Service, config.UnitOptions{})
		if err != nil {
			return err
		}
		if _, err := pl.owned(KindUnit, config.UnitDir.Join(d.Service), data, 0o644, c.Name); err != nil {
			return err
		}
	}
	return nil
}
