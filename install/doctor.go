package install

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/satchel-dev/satchel/component"
	"github.com/satchel-dev/satchel/install/config"
	"github.com/satchel-dev/satchel/install/importer"
	"github.com/satchel-dev/satchel/install/runner"
	"github.com/satchel-dev/satchel/install/state"
)

// Check results.
const (
	CheckOK   = "ok"
	CheckFail = "fail"
	CheckWarn = "warn"
	CheckSkip = "skip"
)

// Check is one row of the doctor's table.
type Check struct {
	Name   string `json:"name"`
	Result string `json:"result"`
	Detail string `json:"detail,omitempty"`
	Remedy string `json:"remedy,omitempty"`
}

// DoctorReport is what Doctor found.
type DoctorReport struct {
	Root   string  `json:"root"`
	Kernel string  `json:"kernel,omitempty"`
	Checks []Check `json:"checks"`
	// OK is false when any check failed.
	OK bool `json:"ok"`
}

func (r *DoctorReport) add(c Check) { r.Checks = append(r.Checks, c) }

// runtimeShims are the containerd runtime types and config files doctor
// starts containers with.
var runtimeShims = map[string]struct{ typ, config string }{
	config.Runc:  {config.RuncRuntimeType, ""},
	config.Runsc: {config.RunscRuntimeType, string(config.RunscConfigPath)},
	config.Kata:  {config.KataRuntimeType, string(config.KataConfigPath)},
}

// Doctor checks the installed stack end to end: services active (when
// systemd runs), containerd answering (`ctr version`), the runtimes
// registered in CRI (`crictl info`) and Docker (`docker info`), and for
// each installed runtime a container from the bundled image running
// `uname -r`: the host's kernel under runc, gVisor's under runsc, the
// guest's under kata. With the cni component: the pod network the CRI
// uses, and for runc and runsc a page fetched from the host through a port
// the bundled image publishes (networkChecks). It needs a running containerd; WithContainerdSocket,
// WithDockerSocket and WithRunner say how to reach it.
func (in *Installer) Doctor(ctx context.Context) (*DoctorReport, error) {
	rep := &DoctorReport{Root: in.o.root, OK: true}
	st, err := in.readState()
	if err != nil {
		return nil, err
	}
	facts, err := in.Facts()
	if err != nil {
		return nil, err
	}
	rep.Kernel = facts.Kernel
	defer func() {
		for _, c := range rep.Checks {
			if c.Result == CheckFail {
				rep.OK = false
			}
		}
	}()
	if st == nil {
		rep.add(Check{Name: "installed", Result: CheckFail, Detail: "no satchel install recorded in " + string(state.Path),
			Remedy: "run `satchel-install apply BUNDLE --key KEY` first"})
		return rep, nil
	}
	rep.add(Check{Name: "installed", Result: CheckOK, Detail: fmt.Sprintf("%s %s (sequence %d), %s", st.Bundle.Name, st.Bundle.Version, st.Bundle.Sequence, strings.Join(st.Bundle.Components, ", "))})
	has := func(c string) bool { return slices.Contains(st.Bundle.Components, c) }
	var runtimes []string
	for _, d := range component.All() {
		if d.Runtime != "" && has(d.Name) {
			runtimes = append(runtimes, d.Runtime)
		}
	}
	if has("containerd") && !slices.Contains(runtimes, config.Runc) {
		runtimes = append([]string{config.Runc}, runtimes...)
	}

	// Services.
	var units []string
	for _, d := range component.All() {
		if d.Service != "" && has(d.Name) {
			units = append(units, d.Service)
		}
	}
	if in.online() {
		sd := in.systemd()
		for _, u := range units {
			if sd.Active(ctx, u) {
				rep.add(Check{Name: "service " + u, Result: CheckOK, Detail: "active"})
			} else {
				rep.add(Check{Name: "service " + u, Result: CheckFail, Detail: "not active",
					Remedy: "see `systemctl status " + u + "` and `journalctl -u " + u + "`"})
			}
		}
	} else {
		for _, u := range units {
			rep.add(Check{Name: "service " + u, Result: CheckSkip, Detail: "systemd is not running as init here (or the root is not /)"})
		}
	}

	// containerd.
	ctr := in.tool("ctr", has("containerd"))
	out, err := in.o.runner.Run(ctx, runner.Cmd{Path: ctr, Args: []string{"-a", in.o.containerdSocket, "version"}, Timeout: 20 * time.Second})
	up := err == nil
	containerdVersion := ""
	if up {
		rep.add(Check{Name: "ctr version", Result: CheckOK, Detail: serverVersion(out)})
		containerdVersion = strings.TrimPrefix(serverVersion(out), "containerd ")
	} else {
		rep.add(Check{Name: "ctr version", Result: CheckFail, Detail: err.Error(),
			Remedy: "start containerd (systemctl start containerd) or pass --containerd-socket where it listens"})
	}

	// Runtimes registered in CRI.
	if has("crictl") {
		name := "crictl info: runtimes"
		if !up {
			rep.add(Check{Name: name, Result: CheckSkip, Detail: "containerd is not answering"})
		} else {
			crictl := in.tool("crictl", true)
			out, err := in.o.runner.Run(ctx, runner.Cmd{Path: crictl, Args: []string{"--runtime-endpoint", "unix://" + in.o.containerdSocket, "info"}, Timeout: 30 * time.Second})
			if err != nil {
				rep.add(Check{Name: name, Result: CheckFail, Detail: err.Error(), Remedy: "check the CRI plugin in `journalctl -u containerd`"})
			} else {
				rep.add(registered(name, criRuntimes(out), runtimes, "check "+string(config.ContainerdConfigPath)+" and its imports; containerd must be restarted after a config change"))
			}
		}
	}
	// Runtimes registered in Docker.
	if has("docker") {
		name := "docker info: runtimes"
		docker := in.tool("docker", true)
		if !importer.SocketExists(in.o.dockerSocket) {
			rep.add(Check{Name: name, Result: CheckFail, Detail: "no Docker socket at " + in.o.dockerSocket, Remedy: "start docker (systemctl start docker)"})
		} else if out, err := in.images().Docker(ctx, docker, nil, 30*time.Second, "info", "--format", "{{json .Runtimes}}"); err != nil {
			rep.add(Check{Name: name, Result: CheckFail, Detail: err.Error(), Remedy: "see `journalctl -u docker`"})
		} else {
			var m map[string]any
			json.Unmarshal(out, &m)
			want := slices.DeleteFunc(slices.Clone(runtimes), func(r string) bool { return r == config.Runc })
			rep.add(registered(name, keysOf(m), append([]string{config.Runc}, want...), "check "+string(config.DaemonJSONPath)+"; docker must be restarted after a change"))
		}
	}

	// A container under each runtime.
	image := ""
	for _, im := range st.Images {
		if slices.Contains(im.Namespaces, DefaultNamespace) && im.Role != "sandbox" {
			image = im.Ref
			break
		}
	}
	for _, rt := range runtimes {
		name := "run " + rt + ": uname -r"
		switch {
		case !up:
			rep.add(Check{Name: name, Result: CheckSkip, Detail: "containerd is not answering"})
			continue
		case image == "":
			rep.add(Check{Name: name, Result: CheckSkip, Detail: "no image besides the pause image was imported into " + DefaultNamespace + " to run"})
			continue
		case rt == config.Kata && !facts.KVM.Usable:
			why := facts.KVM.Error
			if why == "" {
				why = "/dev/kvm is not usable"
			}
			if facts.CPUVirt == "" {
				why += "; the CPU shows no vmx/svm flag"
			}
			rep.add(Check{Name: name, Result: CheckFail, Detail: "kata cannot start a VM here: " + why,
				Remedy: "enable VT-x/AMD-V in the firmware, or nested virtualization in the hypervisor (VMware: \"Expose hardware assisted virtualization\"; VirtualBox: --nested-hw-virt on; KVM: kvm_intel nested=1), and load the kvm module"})
			continue
		}
		out, err := in.runUname(ctx, ctr, rt, image, has("runc"), containerdVersion)
		got := strings.TrimSpace(string(out))
		if !looksLikeRelease(got) {
			// gVisor's shim may report a non-zero status for a container that
			// exits at once; the printed release is what counts.
			detail := fmt.Sprintf("unexpected output %q", runner.LastLines(got, 3))
			if err != nil {
				detail = err.Error()
			}
			rep.add(Check{Name: name, Result: CheckFail, Detail: detail, Remedy: "see `journalctl -u containerd`; for runsc also /var/log/runsc, for kata `kata-runtime check`"})
			continue
		}
		c := Check{Name: name, Result: CheckOK, Detail: got}
		switch {
		case rt == config.Runc && got != facts.Kernel && facts.Kernel != "":
			c.Result, c.Remedy = CheckWarn, "runc should show the host's kernel ("+facts.Kernel+")"
		case rt != config.Runc && got == facts.Kernel:
			c.Result, c.Remedy = CheckWarn, rt+" showed the host's kernel: the container may not be sandboxed; check the runtime's configuration"
		case rt == config.Runsc:
			c.Detail += " (gVisor)"
		case rt == config.Kata:
			c.Detail += " (guest kernel)"
		}
		rep.add(c)
	}

	// Container networks: the CRI's config, a published port under runc and runsc.
	for _, c := range in.networkChecks(ctx, st, has, runtimes, up, facts) {
		rep.add(c)
	}

	// Registry mirrors: do they answer?
	for _, c := range in.mirrorChecks(ctx, st) {
		rep.add(c)
	}
	return rep, nil
}

// mirrorTimeout bounds each step of a mirror check (connect, answer).
const mirrorTimeout = 5 * time.Second

// mirrorChecks checks the registry mirrors of the hosts.toml files satchel
// wrote, and makes no other connection: a TCP connect to each, and for a
// plain-HTTP mirror a GET of the registry API root /v2/ over that socket.
// satchel-install has no TLS client (it links no network client at all),
// so an HTTPS mirror gets the connect only, and the check says so.
func (in *Installer) mirrorChecks(ctx context.Context, st *state.State) []Check {
	var urls []string
	regs := map[string][]string{}
	for _, f := range st.Files {
		if f.Kind != state.KindConfig || !config.IsHostsTOML(f.Path) {
			continue
		}
		reg := f.Path.Dir().Base()
		b, err := in.root.ReadFile(f.Path, 1<<20)
		if err != nil {
			return []Check{{Name: "registry mirrors of " + reg, Result: CheckFail, Detail: err.Error(), Remedy: "run apply again to restore " + string(f.Path)}}
		}
		hosts, err := config.MirrorHosts(b)
		if err != nil {
			return []Check{{Name: "registry mirrors of " + reg, Result: CheckFail, Detail: err.Error(), Remedy: "fix " + string(f.Path) + " (containerd docs/hosts.md), or run apply again"}}
		}
		for _, h := range hosts {
			if _, ok := regs[h]; !ok {
				urls = append(urls, h)
			}
			regs[h] = append(regs[h], reg)
		}
	}
	var out []Check
	for _, u := range urls {
		c := probeMirror(ctx, u)
		c.Name = "registry mirror " + u + " (" + strings.Join(regs[u], ", ") + ")"
		out = append(out, c)
	}
	return out
}

// probeMirror checks that a mirror answers: TCP, and for plain HTTP the
// registry API root (OCI distribution spec: GET /v2/ answers 200, or 401
// when the registry wants credentials).
func probeMirror(ctx context.Context, raw string) Check {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || (u.Scheme != "http" && u.Scheme != "https") {
		return Check{Result: CheckFail, Detail: fmt.Sprintf("not an http(s) URL: %q", raw), Remedy: "fix the host entry in the hosts.toml, or run apply again"}
	}
	addr := u.Host
	if u.Port() == "" {
		port := "443"
		if u.Scheme == "http" {
			port = "80"
		}
		addr = net.JoinHostPort(u.Hostname(), port)
	}
	remedy := "check that the registry runs at " + addr + " and that this host reaches it (DNS, routes, firewall); until it answers, containerd tries the upstream registry, which a disconnected host cannot reach"
	d := net.Dialer{Timeout: mirrorTimeout}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return Check{Result: CheckFail, Detail: "TCP connect: " + err.Error(), Remedy: remedy}
	}
	defer conn.Close()
	if u.Scheme == "https" {
		return Check{Result: CheckOK, Detail: "TCP connect to " + addr + " ok; TLS and /v2/ not checked (satchel-install has no TLS client)",
			Remedy: "to check the rest: curl --cacert CA https://" + u.Host + "/v2/ (200 or 401)"}
	}
	conn.SetDeadline(time.Now().Add(mirrorTimeout))
	if _, err := fmt.Fprintf(conn, "GET /v2/ HTTP/1.1\r\nHost: %s\r\nUser-Agent: satchel-install-doctor\r\nAccept: application/json\r\nConnection: close\r\n\r\n", u.Host); err != nil {
		return Check{Result: CheckFail, Detail: "sending GET /v2/: " + err.Error(), Remedy: remedy}
	}
	tp := textproto.NewReader(bufio.NewReader(io.LimitReader(conn, 64<<10)))
	line, err := tp.ReadLine()
	if err != nil {
		return Check{Result: CheckFail, Detail: "no answer to GET /v2/: " + err.Error(), Remedy: remedy}
	}
	proto, status, _ := strings.Cut(line, " ")
	code, _, _ := strings.Cut(status, " ")
	if !strings.HasPrefix(proto, "HTTP/1.") {
		return Check{Result: CheckFail, Detail: fmt.Sprintf("GET /v2/ got %q, not HTTP", runner.LastLines(line, 1)), Remedy: "check that " + addr + " is the registry"}
	}
	hdr, _ := tp.ReadMIMEHeader()
	api := hdr.Get("Docker-Distribution-Api-Version")
	detail := "GET http://" + u.Host + "/v2/: " + status
	if api != "" {
		detail += " (" + api + ")"
	}
	switch code {
	case "200":
		return Check{Result: CheckOK, Detail: detail}
	case "401":
		return Check{Result: CheckOK, Detail: detail + ": it wants credentials (crictl pull --creds, a Kubernetes pull secret, or nerdctl login)"}
	}
	return Check{Result: CheckFail, Detail: detail, Remedy: "a registry answers 200 or 401 at /v2/: check that " + addr + " is the registry and its API root"}
}

// tool returns how to run a tool: the bundled one when satchel installed
// it, else whatever PATH has.
func (in *Installer) tool(name string, bundled bool) string {
	svc := in.services()
	if bundled {
		if t := svc.Tool(name); t != "" {
			return t
		}
	}
	if p, err := in.o.runner.LookPath(name); err == nil {
		return p
	}
	return name
}

// runUname runs `uname -r` in a throw-away container under a runtime.
func (in *Installer) runUname(ctx context.Context, ctr, rt, image string, bundledRunc bool, containerdVersion string) ([]byte, error) {
	var b [4]byte
	rand.Read(b[:])
	id := "satchel-doctor-" + rt + "-" + hex.EncodeToString(b[:])
	shim := runtimeShims[rt]
	if rt == config.Runsc && !config.RunscShimSupported(containerdVersion) {
		// As rendered for containerd < 1.7: runsc under the runc shim.
		args := []string{"-a", in.o.containerdSocket, "-n", DefaultNamespace, "run", "--rm",
			"--runtime", config.RuncRuntimeType, "--runc-binary", config.BinDir + "/runsc", image, id, "uname", "-r"}
		return in.o.runner.Run(ctx, runner.Cmd{Path: ctr, Args: args, Timeout: 3 * time.Minute})
	}
	args := []string{"-a", in.o.containerdSocket, "-n", DefaultNamespace, "run", "--rm", "--runtime", shim.typ}
	if rt == config.Runc && bundledRunc {
		args = append(args, "--runc-binary", config.BinDir+"/runc")
	}
	if shim.config != "" {
		args = append(args, "--runtime-config-path", shim.config)
	}
	cmd := []string{"uname", "-r"}
	if rt == config.Runsc {
		// Outside CRI the gVisor shim waits for a sandbox unless told this is
		// one, and loses the exit status of a container that exits at once.
		args = append(args, "--annotation", "io.kubernetes.cri.container-type=sandbox")
		cmd = []string{"sh", "-c", "uname -r; sleep 1"}
	}
	args = append(append(args, image, id), cmd...)
	out, err := in.o.runner.Run(ctx, runner.Cmd{Path: ctr, Args: args, Timeout: 3 * time.Minute})
	if err != nil {
		// Leave nothing behind when the run failed half-way.
		in.o.runner.Run(ctx, runner.Cmd{Path: ctr, Args: []string{"-a", in.o.containerdSocket, "-n", DefaultNamespace, "tasks", "kill", "-s", "KILL", id}, Timeout: 20 * time.Second})
		in.o.runner.Run(ctx, runner.Cmd{Path: ctr, Args: []string{"-a", in.o.containerdSocket, "-n", DefaultNamespace, "containers", "rm", id}, Timeout: 20 * time.Second})
	}
	return out, err
}

func looksLikeRelease(s string) bool {
	return s != "" && !strings.ContainsAny(s, " \n") && s[0] >= '0' && s[0] <= '9'
}

// serverVersion picks the server's version out of `ctr version`.
func serverVersion(out []byte) string {
	inServer := false
	for _, l := range strings.Split(string(out), "\n") {
		t := strings.TrimSpace(l)
		if strings.HasPrefix(t, "Server:") {
			inServer = true
		}
		if inServer && strings.HasPrefix(t, "Version:") {
			return "containerd " + strings.TrimSpace(strings.TrimPrefix(t, "Version:"))
		}
	}
	return strings.TrimSpace(string(out))
}

// criRuntimes finds the runtime names in `crictl info` output: the keys of
// the first "runtimes" object under "config".
func criRuntimes(out []byte) []string {
	var doc map[string]any
	if json.Unmarshal(out, &doc) != nil {
		return nil
	}
	var find func(v any) []string
	find = func(v any) []string {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		if r, ok := m["runtimes"].(map[string]any); ok {
			return keysOf(r)
		}
		ks := keysOf(m)
		for _, k := range ks {
			if got := find(m[k]); got != nil {
				return got
			}
		}
		return nil
	}
	if cfg, ok := doc["config"]; ok {
		return find(cfg)
	}
	return find(doc)
}

func keysOf(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// registered compares the runtimes a tool lists with those expected.
func registered(name string, got, want []string, remedy string) Check {
	var missing []string
	for _, w := range want {
		if !slices.Contains(got, w) {
			missing = append(missing, w)
		}
	}
	if len(missing) > 0 {
		return Check{Name: name, Result: CheckFail, Detail: "missing " + strings.Join(missing, ", ") + " (has " + strings.Join(got, ", ") + ")", Remedy: remedy}
	}
	return Check{Name: name, Result: CheckOK, Detail: strings.Join(got, ", ")}
}
