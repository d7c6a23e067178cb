package config

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"path"
	"strings"

	"github.com/satchel-dev/satchel/install/rootfs"
)

// CNI paths: the defaults of containerd's CRI (bin_dirs, conf_dir in
// [plugins.'io.containerd.cri.v1.runtime'.cni], docs/cri/config.md
// L311-320 @v2.3.4), nerdctl (pkg/defaults/defaults_linux.go L48-89 @v2.3.0)
// and Kubernetes network plugins.
const (
	CNIBinDir  rootfs.Path = "/opt/cni/bin"
	CNIConfDir rootfs.Path = "/etc/cni/net.d"
	// CNIConfigPath is satchel's default network. The CRI loads only the
	// first configuration by name (max_conf_num = 1): a Kubernetes network
	// (10-calico.conflist, 10-flannel.conflist) sorts before it and wins.
	CNIConfigPath rootfs.Path = CNIConfDir + "/99-satchel-bridge.conflist"
)

// DefaultCNISubnet is the default network's subnet: containerd's own
// example network's (script/setup/install-cni @v2.3.4), away from
// nerdctl's 10.4.0.0/24 and Docker's 172.17.0.0/16.
const DefaultCNISubnet = "10.88.0.0/16"

// CNIBridge is the default network's Linux bridge. Not cni0, which Flannel
// and containerd's example use, nor nerdctl0, which nerdctl manages for
// its own default network (pkg/netutil/netutil_unix.go L126 @v2.3.0).
const CNIBridge = "satchel0"

// CNIOptions shape the default network.
type CNIOptions struct {
	// Subnet is an IPv4 prefix; default DefaultCNISubnet.
	Subnet string
}

// CNIConflist renders the default network for the CRI: a bridge with
// host-local addresses, port mappings (portmap), the firewall plugin's
// forwarding rules and tuning — the chain nerdctl builds for its own
// networks (bridge, portmap, firewall, tuning: netutil_unix.go L161
// @v2.3.0). cniVersion 1.0.0: what containerd's setup script and nerdctl
// write, and what plugins v1.x support (vendored cni v1.3.0 lists 0.1.0
// through 1.1.0).
func CNIConflist(o CNIOptions) ([]byte, error) {
	if o.Subnet == "" {
		o.Subnet = DefaultCNISubnet
	}
	pfx, err := netip.ParsePrefix(o.Subnet)
	if err != nil || !pfx.Addr().Is4() || pfx.Masked() != pfx || pfx.Bits() > 28 {
		return nil, hintf("give an IPv4 network such as 10.88.0.0/16 (at most /28)", "CNI subnet %q is not usable", o.Subnet)
	}
	doc := map[string]any{
		"cniVersion": "1.0.0",
		"name":       "satchel",
		"plugins": []any{
			map[string]any{
				"type": "bridge", "bridge": CNIBridge, "isGateway": true, "ipMasq": true, "hairpinMode": true,
				"ipam": map[string]any{
					"type":   "host-local",
					"ranges": []any{[]any{map[string]any{"subnet": pfx.String()}}},
					"routes": []any{map[string]any{"dst": "0.0.0.0/0"}},
				},
			},
			map[string]any{"type": "portmap", "capabilities": map[string]any{"portMappings": true}},
			map[string]any{"type": "firewall"},
			map[string]any{"type": "tuning"},
		},
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// IsCNIConfig reports whether a file name in CNIConfDir is a network
// configuration libcni loads (.conf, .conflist, .json: libcni's
// ConfFiles extensions).
func IsCNIConfig(name string) bool {
	switch path.Ext(name) {
	case ".conf", ".conflist", ".json":
		return !strings.HasPrefix(name, ".")
	}
	return false
}

// IsNerdctlNetwork reports whether a file name in CNIConfDir is one that
// nerdctl manages: "nerdctl-<network>.conflist" (pkg/netutil/store.go L97
// @v2.2.2), e.g. nerdctl-bridge.conflist for its default nerdctl0 bridge.
func IsNerdctlNetwork(name string) bool {
	return strings.HasPrefix(name, "nerdctl-") && strings.HasSuffix(name, ".conflist")
}

// CNIPlugins are the plugins the default network needs, besides loopback,
// which the CRI runs for every pod.
var CNIPlugins = []string{"bridge", "host-local", "portmap", "firewall", "tuning", "loopback"}

// ParseCNISubnet checks a --cni-subnet value.
func ParseCNISubnet(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil || !p.Addr().Is4() || p.Masked() != p {
		return netip.Prefix{}, fmt.Errorf("%q is not an IPv4 network such as 10.88.0.0/16", s)
	}
	return p, nil
}
