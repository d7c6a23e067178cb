package plan

import (
	"strings"

	"github.com/satchel-dev/satchel/component"
	"github.com/satchel-dev/satchel/install/config"
)

// cni plans the default network for the CRI (issue 9): written when
// /etc/cni/net.d holds no network configuration; a Kubernetes network
// already there (Calico, Flannel…) is left alone, and said so. nerdctl's
// own files (nerdctl-<network>.conflist, which nerdctl writes on its first
// `run`: pkg/netutil/store.go L97 @v2.2.2) are not a pod network and sort
// after satchel's: they do not stop apply from writing, or keeping, it.
func (pl *planner) cni() error {
	if pl.component(component.CNI) == nil {
		return nil
	}
	var others []string
	for _, n := range pl.need.list(pl.in.Tree, config.CNIConfDir) {
		if config.IsCNIConfig(n) && config.CNIConfDir.Join(n) != config.CNIConfigPath && !config.IsNerdctlNetwork(n) {
			others = append(others, n)
		}
	}
	if len(others) > 0 {
		pl.warnf("%s already holds a network configuration (%s): satchel's default network is not written, and the CRI uses the first of those", config.CNIConfDir, strings.Join(others, ", "))
		return nil
	}
	data, err := config.CNIConflist(config.CNIOptions{Subnet: pl.in.Options.CNISubnet})
	if err != nil {
		return err
	}
	_, err = pl.owned(KindConfig, config.CNIConfigPath, data, 0o644, component.CNI)
	return err
}

// buildkit plans buildkitd's configuration when BuildKit is installed. A
// buildkitd.toml satchel did not write is the user's choice of workers:
// it is left alone, and said so.
func (pl *planner) buildkit() error {
	if pl.component(component.BuildKit) == nil {
		return nil
	}
	cur, err := pl.place(config.BuildKitConfigPath, nil)
	if err != nil {
		return err
	}
	if _, ours := pl.in.Previous.File(config.BuildKitConfigPath); cur.Kind != EntryNone && !ours {
		pl.warnf("%s exists and was not written by satchel: it is left as it is; buildkitd needs its containerd worker on for nerdctl build to see the installed images", config.BuildKitConfigPath)
		return nil
	}
	_, err = pl.owned(KindConfig, config.BuildKitConfigPath, config.BuildKitConfig(), 0o644, component.BuildKit)
	return err
}
