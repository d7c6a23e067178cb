package install

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/satchel-dev/satchel/component"
	"github.com/satchel-dev/satchel/install/config"
	"github.com/satchel-dev/satchel/install/host"
	"github.com/satchel-dev/satchel/install/plan"
	"github.com/satchel-dev/satchel/install/runner"
	"github.com/satchel-dev/satchel/install/state"
)

// Network layers a failed network check names: what to fix first.
const (
	LayerPlugin     = "plugin missing"
	LayerConfig     = "no config"
	LayerIPTables   = "iptables"
	LayerForwarding = "forwarding"
)

// netFetchTimeout bounds the wait for a published port to answer: the
// container's server must start first (gVisor's sandbox takes seconds).
var netFetchTimeout = 90 * time.Second

// netRuntimes are the runtimes the network check starts a container
// under. kata is left out: its guest networking is checked by its own
// `kata-runtime check`, and the target hosts have no KVM.
var netRuntimes = []string{config.Runc, config.Runsc}

// cniConfigCheck reports the network the CRI gives pods: the first
// configuration in /etc/cni/net.d by name (libcni's ConfFiles, containerd's
// max_conf_num = 1). nerdctl's own files (nerdctl-<network>.conflist) are
// not a pod network: they sort after satchel's and a Kubernetes network's.
func (in *Installer) cniConfigCheck() Check {
	const name = "cni config (pod network)"
	names, err := in.root.ReadDir(config.CNIConfDir)
	var confs []string
	for _, n := range names {
		if config.IsCNIConfig(n) {
			confs = append(confs, n)
		}
	}
	sort.Strings(confs)
	if err != nil || len(confs) == 0 {
		return Check{Name: name, Result: CheckFail, Detail: LayerConfig + ": " + string(config.CNIConfDir) + " holds no network configuration; CRI pods without host networking fail with \"cni plugin not initialized\"",
			Remedy: "run apply again (it writes satchel's default network when the directory holds none), or install the cluster's network plugin (Calico, Flannel)"}
	}
	detail := "the CRI uses " + confs[0]
	if config.CNIConfDir.Join(confs[0]) == config.CNIConfigPath {
		detail += " (satchel's default network)"
	}
	if len(confs) > 1 {
		detail += "; also there: " + strings.Join(confs[1:], ", ")
	}
	return Check{Name: name, Result: CheckOK, Detail: detail}
}

// missingPlugins lists the plugins of config.CNIPlugins that are not an
// executable file in CNIBinDir.
func (in *Installer) missingPlugins() []string {
	var missing []string
	for _, p := range config.CNIPlugins {
		fi, err := in.root.Lstat(config.CNIBinDir.Join(p))
		if err != nil || (fi.Mode.Type() != fs.ModeSymlink && (!fi.Mode.IsRegular() || fi.Mode.Perm()&0o111 == 0)) {
			missing = append(missing, p)
		}
	}
	return missing
}

// networkCheck starts the bundled image under a runtime on nerdctl's
// default network, publishing the image's port on a free loopback port,
// and fetches a page through it with a plain TCP connection and an
// HTTP/1.0 GET (satchel-install has no HTTP client). A failure names the
// layer: a plugin missing, no iptables, forwarding off, or the container.
func (in *Installer) networkCheck(ctx context.Context, rt, nerdctl, image string, facts *host.Facts, bundledRunc bool) Check {
	name := "network " + rt + ": nerdctl run -p, page fetched"
	if missing := in.missingPlugins(); len(missing) > 0 {
		return Check{Name: name, Result: CheckFail, Detail: LayerPlugin + ": " + strings.Join(missing, ", ") + " not in " + string(config.CNIBinDir),
			Remedy: "install the cni component (run apply again with it selected); nerdctl and the CRI run the plugins from " + string(config.CNIBinDir)}
	}
	if facts.Net.IPTables.Path == "" {
		return Check{Name: name, Result: CheckFail, Detail: LayerIPTables + ": no iptables on this host; the bridge, portmap and firewall plugins run it",
			Remedy: "install the iptables package from the OS installation media (preflight's iptables-missing finding says how)"}
	}
	port := imagePort(ctx, in, nerdctl, image)
	hostPort, err := freeLoopbackPort()
	if err != nil {
		return Check{Name: name, Result: CheckFail, Detail: "no free loopback port: " + err.Error()}
	}
	var b [4]byte
	rand.Read(b[:])
	id := "satchel-doctor-net-" + rt + "-" + hex.EncodeToString(b[:])
	base := []string{"-a", in.o.containerdSocket, "-n", plan.ClientNamespace}
	args := append(slices.Clone(base), "run", "-d", "--name", id, "-p", fmt.Sprintf("127.0.0.1:%d:%d", hostPort, port))
	args = append(args, nerdctlRuntimeArgs(rt, bundledRunc)...)
	args = append(args, image)
	out, err := in.o.runner.Run(ctx, runner.Cmd{Path: nerdctl, Args: args, Timeout: 3 * time.Minute})
	defer in.removeContainer(context.WithoutCancel(ctx), nerdctl, base, id)
	if err != nil {
		msg := err.Error()
		if len(out) > 0 {
			msg = runner.LastLines(string(out), 3) + ": " + msg
		}
		return classifyRunError(name, msg)
	}
	page, err := fetchLoopback(ctx, hostPort, netFetchTimeout)
	if err != nil {
		detail := fmt.Sprintf("published 127.0.0.1:%d -> %d, but: %v", hostPort, port, err)
		if s := facts.Sysctl("net.ipv4.ip_forward"); s.Value == "0" {
			return Check{Name: name, Result: CheckFail, Detail: LayerForwarding + ": net.ipv4.ip_forward = 0; " + detail,
				Remedy: "sysctl -w net.ipv4.ip_forward=1 (apply sets it in " + host.SysctlFile + ")"}
		}
		return Check{Name: name, Result: CheckFail, Detail: detail,
			Remedy: "see the port mapping rules (iptables -t nat -S CNI-HOSTPORT-DNAT) and the container's log (nerdctl logs)"}
	}
	c := Check{Name: name, Result: CheckOK, Detail: fmt.Sprintf("GET http://127.0.0.1:%d/ -> container port %d: %s", hostPort, port, page)}
	if s := facts.Sysctl("net.ipv4.ip_forward"); s.Value == "0" {
		c.Result = CheckWarn
		c.Remedy = LayerForwarding + ": net.ipv4.ip_forward = 0: the host reaches the container, but containers cannot reach beyond the host; sysctl -w net.ipv4.ip_forward=1"
	}
	return c
}

// removeContainer stops the container, then removes it, so that nerdctl's
// postStop hook removes its port mappings. A plain `rm -f` of a running
// runsc container can fail under the runc shim: runsc's "sandbox is not
// running" after the kill is not an error containerd's runc shim
// recognises (cmd/containerd-shim-runc-v2/process/utils.go checkKillError
// @v2.3.4), and nerdctl then keeps the container and its rules.
func (in *Installer) removeContainer(ctx context.Context, nerdctl string, base []string, id string) {
	in.o.runner.Run(ctx, runner.Cmd{Path: nerdctl, Args: append(slices.Clone(base), "stop", "-t", "2", id), Timeout: time.Minute})
	in.o.runner.Run(ctx, runner.Cmd{Path: nerdctl, Args: append(slices.Clone(base), "rm", "-f", id), Timeout: time.Minute})
}

// nerdctlRuntimeArgs selects the runtime for `nerdctl run`. nerdctl takes
// a name that is not io.containerd.* and is found on PATH (or a path) as a
// runc-compatible binary under the runc shim (BinaryName;
// pkg/cmd/container/run_runtime.go L44-62 @v2.2.2): the bundled runc, and
// runsc the way Docker runs it (`runsc install`). Through gVisor's own shim
// nerdctl could not pass runsc.toml (no --runtime-config-path).
func nerdctlRuntimeArgs(rt string, bundledRunc bool) []string {
	switch rt {
	case config.Runsc:
		return []string{"--runtime", config.BinDir + "/runsc"}
	case config.Runc:
		if bundledRunc {
			return []string{"--runtime", config.BinDir + "/runc"}
		}
	}
	return nil
}

// classifyRunError names the layer of a failed `nerdctl run`: nerdctl says
// `needs CNI plugin "bridge" to be installed in CNI_PATH`
// (pkg/netutil/netutil.go), libcni `failed to find plugin`, go-iptables
// names the iptables binary.
func classifyRunError(name, msg string) Check {
	switch {
	case strings.Contains(msg, "needs CNI plugin"), strings.Contains(msg, "failed to find plugin"):
		return Check{Name: name, Result: CheckFail, Detail: LayerPlugin + ": " + msg,
			Remedy: "install the cni component (run apply again with it selected)"}
	case strings.Contains(msg, "iptables"):
		return Check{Name: name, Result: CheckFail, Detail: LayerIPTables + ": " + msg,
			Remedy: "check the host's iptables (iptables -S) and that Docker, the CNI plugins and any Kubernetes network plugin use the same backend (legacy or nf_tables); load br_netfilter"}
	}
	return Check{Name: name, Result: CheckFail, Detail: "the container did not start: " + msg,
		Remedy: "see `journalctl -u containerd`; for runsc also /var/log/runsc"}
}

// imagePort is the image's lowest exposed TCP port (nginx: 80), 80 when
// the image exposes none or cannot be inspected.
func imagePort(ctx context.Context, in *Installer, nerdctl, image string) int {
	out, err := in.o.runner.Run(ctx, runner.Cmd{Path: nerdctl, Args: []string{"-a", in.o.containerdSocket, "-n", plan.ClientNamespace,
		"image", "inspect", "--format", "{{json .Config.ExposedPorts}}", image}, Timeout: 30 * time.Second})
	if err != nil {
		return 80
	}
	return exposedTCPPort(out)
}

// exposedTCPPort reads the lowest TCP port of an image config's
// ExposedPorts ({"80/tcp":{}}), 80 when there is none.
func exposedTCPPort(b []byte) int {
	var ports map[string]any
	if json.Unmarshal([]byte(strings.TrimSpace(string(b))), &ports) != nil {
		return 80
	}
	best := 0
	for k := range ports {
		p, proto, _ := strings.Cut(k, "/")
		n, err := strconv.Atoi(p)
		if err != nil || n <= 0 || n > 65535 || (proto != "" && proto != "tcp") {
			continue
		}
		if best == 0 || n < best {
			best = n
		}
	}
	if best == 0 {
		return 80
	}
	return best
}

// freeLoopbackPort asks the kernel for a free TCP port on 127.0.0.1.
func freeLoopbackPort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// fetchLoopback GETs / from 127.0.0.1:port over a plain TCP connection
// (HTTP/1.0: the server closes the connection after its answer), retrying
// until an HTTP status line comes back or the time is up. It returns the
// status line and the page's <title> or first text.
func fetchLoopback(ctx context.Context, port int, within time.Duration) (string, error) {
	deadline := time.Now().Add(within)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	var last error
	for {
		page, err := getOnce(ctx, addr)
		if err == nil {
			return page, nil
		}
		last = err
		if time.Now().After(deadline) || ctx.Err() != nil {
			return "", fmt.Errorf("no page within %s: %w", within, last)
		}
		select {
		case <-ctx.Done():
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func getOnce(ctx context.Context, addr string) (string, error) {
	d := net.Dialer{Timeout: 5 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := fmt.Fprintf(conn, "GET / HTTP/1.0\r\nHost: %s\r\nUser-Agent: satchel-install-doctor\r\n\r\n", addr); err != nil {
		return "", err
	}
	body, err := io.ReadAll(io.LimitReader(conn, 64<<10))
	if len(body) == 0 {
		if err == nil {
			err = io.ErrUnexpectedEOF
		}
		return "", fmt.Errorf("no answer: %w", err)
	}
	r := bufio.NewReader(strings.NewReader(string(body)))
	status, _ := r.ReadString('\n')
	status = strings.TrimSpace(status)
	if !strings.HasPrefix(status, "HTTP/1.") {
		return "", fmt.Errorf("not an HTTP answer: %q", runner.LastLines(status, 1))
	}
	rest, _ := io.ReadAll(r)
	summary := status
	if t := pageTitle(string(rest)); t != "" {
		summary += " " + strconv.Quote(t)
	}
	return summary, nil
}

// pageTitle is the text of a page's <title>, or of its first <p>.
func pageTitle(s string) string {
	for _, tag := range []string{"title", "p"} {
		if _, after, ok := strings.Cut(s, "<"+tag+">"); ok {
			t, _, _ := strings.Cut(after, "</"+tag+">")
			t, _, _ = strings.Cut(t, "<")
			if t = strings.TrimSpace(t); t != "" {
				if len(t) > 80 {
					t = t[:80]
				}
				return t
			}
		}
	}
	return ""
}

// networkChecks are doctor's network rows: the CRI's network config, then
// a page fetched through a published port under each of runc and runsc.
func (in *Installer) networkChecks(ctx context.Context, st *state.State, has func(string) bool, runtimes []string, up bool, facts *host.Facts) []Check {
	var out []Check
	if !has(component.CNI) {
		return nil
	}
	// nerdctl's namespace: the image must be there, or nerdctl would pull.
	image := ""
	for _, im := range st.Images {
		if slices.Contains(im.Namespaces, plan.ClientNamespace) && im.Role != "sandbox" {
			image = im.Ref
			break
		}
	}
	out = append(out, in.cniConfigCheck())
	for _, rt := range netRuntimes {
		if !slices.Contains(runtimes, rt) {
			continue
		}
		name := "network " + rt + ": nerdctl run -p, page fetched"
		switch {
		case !has(component.Nerdctl):
			out = append(out, Check{Name: name, Result: CheckSkip, Detail: "nerdctl is not installed: the check publishes a port with it"})
		case !up:
			out = append(out, Check{Name: name, Result: CheckSkip, Detail: "containerd is not answering"})
		case image == "":
			out = append(out, Check{Name: name, Result: CheckSkip, Detail: "no image besides the pause image was imported into containerd's " + plan.ClientNamespace + " namespace (nerdctl's) to run"})
		default:
			out = append(out, in.networkCheck(ctx, rt, in.tool("nerdctl", true), image, facts, has(component.Runc)))
		}
	}
	return out
}
