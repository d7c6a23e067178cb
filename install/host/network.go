package host

import (
	"io/fs"
	"net/netip"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/satchel-dev/satchel/internal/fsutil"
)

// iptables backends.
const (
	BackendLegacy   = "legacy"    // x_tables in the kernel (ip_tables, xtables-legacy-multi)
	BackendNFTables = "nf_tables" // the nf_tables kernel API through the iptables syntax (xtables-nft-multi)
)

// Net is what container networking needs from the target that a bundle
// cannot carry: Docker's static binaries and the CNI portmap and firewall
// plugins run the host's iptables.
type Net struct {
	IPTables  Tool `json:"iptables"`
	IP6Tables Tool `json:"ip6tables"`
	// IPv6 is true when the running kernel has IPv6 enabled
	// (/proc/sys/net/ipv6/conf/all/disable_ipv6 is 0).
	IPv6 bool `json:"ipv6"`
	// Routes are the IPv4 routes of the running kernel other than the
	// default route (/proc/net/route), with their interfaces: a container
	// network on one of these subnets would hide it.
	Routes []Route `json:"routes,omitempty"`
}

// Route is one kernel route.
type Route struct {
	Prefix    string `json:"prefix"`
	Interface string `json:"interface"`
}

// Tool is a host program found in the root, never run.
type Tool struct {
	// Path is where it was found ("/usr/sbin/iptables"), "" when absent.
	Path string `json:"path,omitempty"`
	// Target is the file it resolves to through symlinks inside the root
	// ("/usr/sbin/xtables-nft-multi"); Target == Path for a plain file.
	Target string `json:"target,omitempty"`
	// Backend is BackendLegacy or BackendNFTables for iptables and
	// ip6tables, "" when the names do not tell.
	Backend string `json:"backend,omitempty"`
}

// iptablesDirs are where distributions put iptables, in PATH order for root.
var iptablesDirs = []string{"/usr/sbin", "/sbin", "/usr/bin", "/bin", "/usr/local/sbin", "/usr/local/bin"}

func (g *gatherer) network() Net {
	var n Net
	n.IPTables = findTool(g.root, "iptables")
	n.IP6Tables = findTool(g.root, "ip6tables")
	b, err := os.ReadFile(filepath.Join(g.proc, "sys", "net", "ipv6", "conf", "all", "disable_ipv6"))
	n.IPv6 = err == nil && strings.TrimSpace(string(b)) == "0"
	if b, err := readRegular(filepath.Join(g.proc, "net", "route")); err == nil {
		n.Routes = parseRoutes(b)
	}
	return n
}

// parseRoutes reads /proc/net/route: "Iface Destination Gateway Flags
// RefCnt Use Metric Mask …", addresses as little-endian hex (the kernel's
// fib_route_seq_show).
func parseRoutes(b []byte) []Route {
	var out []Route
	for i, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if i == 0 || len(f) < 8 {
			continue
		}
		dst, err1 := strconv.ParseUint(f[1], 16, 32)
		mask, err2 := strconv.ParseUint(f[7], 16, 32)
		if err1 != nil || err2 != nil || mask == 0 {
			continue
		}
		le := func(v uint64) netip.Addr {
			return netip.AddrFrom4([4]byte{byte(v), byte(v >> 8), byte(v >> 16), byte(v >> 24)})
		}
		bits := 0
		for m := uint32(mask); m != 0; m &= m - 1 {
			bits++
		}
		p := netip.PrefixFrom(le(dst), bits).Masked()
		out = append(out, Route{Prefix: p.String(), Interface: f[0]})
	}
	return out
}

// RouteOverlapping returns a route whose subnet overlaps prefix.
func (n Net) RouteOverlapping(prefix netip.Prefix) (Route, bool) {
	for _, r := range n.Routes {
		if p, err := netip.ParsePrefix(r.Prefix); err == nil && p.Overlaps(prefix) {
			return r, true
		}
	}
	return Route{}, false
}

// findTool looks for an executable regular file called name in the root's
// iptablesDirs, following symlinks inside the root. It reads names only: a
// program in the target is never run on the installing host.
func findTool(root, name string) Tool {
	for _, dir := range iptablesDirs {
		p := path.Join(dir, name)
		real, chain, err := resolveChain(root, p)
		if err != nil {
			continue
		}
		fi, err := os.Stat(real)
		if err != nil || !fi.Mode().IsRegular() || fi.Mode()&0o111 == 0 {
			continue
		}
		return Tool{Path: p, Target: chain[len(chain)-1], Backend: iptablesBackend(chain)}
	}
	return Tool{}
}

// iptablesBackend reads the backend from the names along the symlink chain
// of an iptables command. Since iptables 1.8 one multi-call binary serves
// both: xtables-nft-multi (nf_tables) or xtables-legacy-multi (legacy),
// reached directly (/usr/sbin/iptables -> xtables-legacy-multi) or through
// alternatives (/etc/alternatives/iptables -> /usr/sbin/iptables-nft).
// Before 1.8 the multi-call binary was xtables-multi, legacy only, and
// xtables-compat-multi the nf_tables one.
func iptablesBackend(chain []string) string {
	for i := len(chain) - 1; i >= 0; i-- {
		b := path.Base(chain[i])
		switch {
		case strings.Contains(b, "nft"), strings.Contains(b, "compat"):
			return BackendNFTables
		case strings.Contains(b, "legacy"), b == "xtables-multi":
			return BackendLegacy
		}
	}
	return ""
}

// typeName names a file's type for people (fsutil.TypeName, as rootfs says it).
func typeName(m fs.FileMode) string { return fsutil.TypeName(m) }
