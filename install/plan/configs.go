package plan

import (
	"fmt"
	"slices"

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
	mirrors, caHosts, err := pl.mirrorCAs()
	if err != nil {
		return err
	}
	if c := pl.component(component.Containerd); c != nil {
		existing, err := pl.readExisting(config.ContainerdConfigPath)
		if err != nil {
			return err
		}
		opts := config.ContainerdOptions{
			Version:             c.VersionFor(pl.in.Target.Platform),
			Runtimes:            pl.p.Runtimes,
			DefaultRuntime:      o.DefaultRuntime,
			SystemdCgroup:       pl.in.Target.Systemd,
			SandboxImage:        pl.sandboxImage(),
			RegistryMirrors:     mirrors,
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
		for _, h := range caHosts {
			if _, err := pl.owned(KindConfig, config.ContainerdCAPath(h), o.RegistryCA, 0o644, component.Containerd); err != nil {
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
		data, warns, err := config.DaemonJSON(existing, config.DockerOptions{Runtimes: rts, DefaultRuntime: o.DefaultRuntime, RegistryMirrors: mirrors})
		if err != nil {
			return fmt.Errorf("docker configuration: %w", err)
		}
		pl.p.Warnings = append(pl.p.Warnings, warns...)
		if _, err := pl.owned(KindConfig, config.DaemonJSONPath, data, 0o644, component.Docker); err != nil {
			return err
		}
		for _, h := range caHosts {
			if _, err := pl.owned(KindConfig, config.DockerCAPath(h), o.RegistryCA, 0o644, component.Docker); err != nil {
				return err
			}
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

// mirrorCAs returns the registry mirrors with the CA file set on each
// https mirror when a registry CA was given, and the mirror hosts that get
// the CA (installed at <certs.d>/<host>/ca.crt for containerd and Docker).
func (pl *planner) mirrorCAs() ([]config.RegistryMirror, []string, error) {
	o := pl.in.Options
	if len(o.RegistryCA) == 0 {
		return o.RegistryMirrors, nil, nil
	}
	var out []config.RegistryMirror
	var hosts []string
	for _, m := range o.RegistryMirrors {
		scheme, host, err := m.URL()
		if err != nil {
			return nil, nil, err
		}
		if scheme != "https" {
			pl.warnf("registry mirror %s speaks plain HTTP: the registry CA does not apply to it", m.Endpoint)
			out = append(out, m)
			continue
		}
		m.CA = string(config.ContainerdCAPath(host))
		out = append(out, m)
		if !slices.Contains(hosts, host) {
			hosts = append(hosts, host)
		}
	}
	if len(hosts) == 0 {
		pl.warnf("a registry CA was given, but no HTTPS registry mirror to use it for: it is not installed")
	}
	return out, hosts, nil
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
