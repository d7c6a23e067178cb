package plan

import (
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/satchel-dev/satchel/component"
	"github.com/satchel-dev/satchel/install/config"
	"github.com/satchel-dev/satchel/install/host"
	"github.com/satchel-dev/satchel/install/rootfs"
	"github.com/satchel-dev/satchel/manifest"
)

// Services that apply the kernel settings satchel writes, re-run when the
// files change on the running system.
const (
	modulesLoadService = "systemd-modules-load.service"
	sysctlService      = "systemd-sysctl.service"
)

// kernel plans the modules-load.d and sysctl.d files the selected
// components need (host.ModulesToLoad, host.SysctlsToSet): kata's vhost
// modules, br_netfilter and IPv4 forwarding for container networks.
func (pl *planner) kernel() error {
	if pl.in.Facts == nil {
		return nil
	}
	names := pl.p.Bundle.Components
	if mods := host.ModulesToLoad(pl.in.Facts, names); len(mods) > 0 {
		text := "# Written by satchel-install: kernel modules the installed runtimes need, loaded at boot.\n" + strings.Join(mods, "\n") + "\n"
		a, err := pl.owned(KindConfig, rootfs.Path(host.ModulesLoadFile), []byte(text), 0o644, "")
		if err != nil {
			return err
		}
		if a.Changes() {
			pl.settingsChanged = append(pl.settingsChanged, modulesLoadService)
		}
	}
	if sysctls := host.SysctlsToSet(pl.in.Facts, names); len(sysctls) > 0 {
		var b strings.Builder
		b.WriteString("# Written by satchel-install: kernel settings container networks need.\n")
		for _, s := range sysctls {
			fmt.Fprintf(&b, "%s = %s\n", s.Key, s.Value)
		}
		a, err := pl.owned(KindConfig, rootfs.Path(host.SysctlFile), []byte(b.String()), 0o644, "")
		if err != nil {
			return err
		}
		if a.Changes() {
			pl.settingsChanged = append(pl.settingsChanged, sysctlService)
		}
	}
	return nil
}

// kata plans kata's configuration for this host, when its defaults must
// change: virtiofsd's sandbox on kernels without pidfd_open (issue 10,
// #2) and the annotation that would let a pod override it.
func (pl *planner) kata() error {
	c := pl.component(component.Kata)
	if c == nil || pl.in.Facts == nil || pl.in.Files == nil {
		return nil
	}
	version := host.KataVersion(c, pl.in.Target.Platform)
	var o config.KataOptions
	if sb := host.VirtiofsdSandbox(pl.in.Facts, version); sb != "" {
		o.VirtiofsdArgs = []string{"--sandbox=" + sb}
	}
	if host.KataAnnotationOverride(version) {
		o.DropAnnotations = []string{"virtio_fs_extra_args"}
	}
	if len(o.VirtiofsdArgs) == 0 && len(o.DropAnnotations) == 0 {
		return nil
	}
	base, err := pl.bundleFile(c, string(config.KataConfigPath))
	if err != nil {
		return fmt.Errorf("kata's default configuration: %w", err)
	}
	if base == nil {
		pl.warnf("the bundle's kata has no %s: its configuration is left as it is", config.KataConfigPath)
		return nil
	}
	data, changed, err := config.KataConfig(base, o)
	if err != nil {
		return err
	}
	if changed {
		if _, err := pl.owned(KindConfig, config.KataOverridePath, data, 0o644, component.Kata); err != nil {
			return err
		}
		pl.kataConfig = string(config.KataOverridePath)
	}
	return nil
}

// bundleFile reads a file of a component for the target platform,
// following the bundle's own symlinks (kata's configuration.toml links to
// configuration-qemu.toml); nil when the bundle has none.
func (pl *planner) bundleFile(c *manifest.Component, p string) ([]byte, error) {
	files := map[string]manifest.File{}
	for _, a := range c.ArtifactsFor(pl.in.Target.Platform) {
		for _, f := range a.Files {
			files[f.Path] = f
		}
	}
	for range 8 {
		f, ok := files[p]
		if !ok {
			return nil, nil
		}
		if f.Type == manifest.TypeSymlink {
			if strings.HasPrefix(f.Target, "/") {
				p = path.Clean(f.Target)
			} else {
				p = path.Join(path.Dir(p), f.Target)
			}
			continue
		}
		rc, err := pl.in.Files.OpenFile(f)
		if err != nil {
			return nil, err
		}
		defer rc.Close()
		return io.ReadAll(io.LimitReader(rc, maxConfigSize))
	}
	return nil, fmt.Errorf("%s: too many symlinks", p)
}
