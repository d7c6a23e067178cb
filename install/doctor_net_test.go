package install

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/satchel-dev/satchel/install/config"
	"github.com/satchel-dev/satchel/install/host"
	"github.com/satchel-dev/satchel/install/runner"
)

// cniFixture is defaultFixture with the cni component's plugins.
func cniFixture() fixture {
	fx := defaultFixture()
	var files []fixFile
	for _, p := range config.CNIPlugins {
		files = append(files, fixFile{path: string(config.CNIBinDir) + "/" + p, mode: 0o755, content: script(p)})
	}
	fx.components = append(fx.components, fixComponent{"cni", "1.9.1", files})
	return fx
}

// fakeNerdctl answers `nerdctl run -d -p 127.0.0.1:H:C` by listening on
// H (the published port) with a web server, and `nerdctl rm -f` by
// closing it: doctor's own TCP/HTTP code fetches the page for real.
type fakeNerdctl struct {
	mu        sync.Mutex
	runs      []string
	listeners map[string]net.Listener
	// runErr, when set, is what `run` fails with; serve=false publishes
	// nothing (the port never answers).
	runErr string
	serve  bool
	stops  int
}

func (f *fakeNerdctl) handle(c runner.Cmd, _ []byte) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	a := strings.Join(c.Args, " ")
	switch {
	case slices.Contains(c.Args, "inspect"):
		return []byte(`{"80/tcp":{}}` + "\n"), nil
	case slices.Contains(c.Args, "run"):
		f.runs = append(f.runs, a)
		if f.runErr != "" {
			return []byte("time=x level=fatal msg=\"" + f.runErr + "\"\n"), failed(c, "exit status 1")
		}
		i := slices.Index(c.Args, "-p")
		name := c.Args[slices.Index(c.Args, "--name")+1]
		var ip string
		var hp, cp int
		if _, err := fmt.Sscanf(strings.ReplaceAll(c.Args[i+1], ":", " "), "%s %d %d", &ip, &hp, &cp); err != nil || ip != "127.0.0.1" || cp != 80 {
			return nil, failed(c, "bad -p "+c.Args[i+1])
		}
		if f.serve {
			l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", hp))
			if err != nil {
				return nil, failed(c, err.Error())
			}
			f.listeners[name] = l
			go func() {
				for {
					conn, err := l.Accept()
					if err != nil {
						return
					}
					buf := make([]byte, 1024)
					n, _ := conn.Read(buf)
					if strings.HasPrefix(string(buf[:n]), "GET / HTTP/1.0\r\n") {
						fmt.Fprint(conn, "HTTP/1.1 200 OK\r\nServer: nginx/1.27.4\r\nContent-Type: text/html\r\n\r\n<!DOCTYPE html>\n<html><head><title>Welcome to nginx!</title></head></html>\n")
					}
					conn.Close()
				}
			}()
		}
		return []byte("0123456789abcdef\n"), nil
	case slices.Contains(c.Args, "stop"):
		f.stops++
		return nil, nil
	case slices.Contains(c.Args, "rm"):
		name := c.Args[len(c.Args)-1]
		if l, ok := f.listeners[name]; ok {
			l.Close()
			delete(f.listeners, name)
		}
		return nil, nil
	}
	return nil, failed(c, "unexpected nerdctl call")
}

// netDoctor applies cniFixture to a faked live system and returns a
// doctor run's rows, after edit changes the facts.
func netDoctor(t *testing.T, nd *fakeNerdctl, prepare func(e *env), edit func(f *host.Facts)) map[string]Check {
	t.Helper()
	e := newEnv(t, cniFixture())
	newLiveSystem(t, e.runner)
	listen(t, filepath.Join(e.dir, "docker.sock"))
	if _, err := e.apply(e.liveInstaller()); err != nil {
		t.Fatal(err)
	}
	listen(t, filepath.Join(e.dir, "containerd.sock"))
	liveCtr := e.runner.handlers["ctr"]
	e.runner.handlers["ctr"] = func(c runner.Cmd, stdin []byte) ([]byte, error) {
		a := strings.Join(c.Args, " ")
		switch {
		case strings.HasSuffix(a, " version"):
			return []byte("Server:\n  Version:  v2.3.4\n"), nil
		case strings.Contains(a, " run --rm "):
			if strings.Contains(a, "runsc") {
				return []byte("4.4.0\n"), nil
			}
			return []byte("4.19.90-52.22.v2207.ky10.x86_64\n"), nil
		}
		return liveCtr(c, stdin)
	}
	e.runner.handlers["crictl"] = func(c runner.Cmd, _ []byte) ([]byte, error) {
		return []byte(`{"config":{"containerd":{"runtimes":{"runc":{},"runsc":{},"kata":{}}}}}`), nil
	}
	nd.listeners = map[string]net.Listener{}
	e.runner.handlers["nerdctl"] = nd.handle
	if prepare != nil {
		prepare(e)
	}
	facts := liveFacts(t, e.root)
	facts.Kernel = "4.19.90-52.22.v2207.ky10.x86_64"
	facts.Net.IPTables = host.Tool{Path: "/usr/sbin/iptables", Target: "/usr/sbin/xtables-nft-multi", Backend: host.BackendNFTables}
	facts.Sysctls = []host.Sysctl{{Key: "net.ipv4.ip_forward", Value: "1"}}
	if edit != nil {
		edit(facts)
	}
	in := e.installer(WithFacts(facts), WithContainerdSocket(filepath.Join(e.dir, "containerd.sock")), WithDockerSocket(filepath.Join(e.dir, "docker.sock")))
	in.o.live = true
	rep, err := in.Doctor(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]Check{}
	for _, c := range rep.Checks {
		got[c.Name] = c
	}
	if len(nd.listeners) != 0 {
		t.Errorf("containers left running: %v", nd.listeners)
	}
	return got
}

const (
	netRunc  = "network runc: nerdctl run -p, page fetched"
	netRunsc = "network runsc: nerdctl run -p, page fetched"
	netConf  = "cni config (pod network)"
)

func expectCheck(t *testing.T, got map[string]Check, name, result, detail string) Check {
	t.Helper()
	c, ok := got[name]
	if !ok || c.Result != result || !strings.Contains(c.Detail, detail) {
		t.Errorf("%s: %+v, want %s with %q", name, c, result, detail)
	}
	return c
}

// TestDoctorNetwork: under runc and runsc a container publishes the
// image's port on loopback and doctor fetches the page itself.
func TestDoctorNetwork(t *testing.T) {
	nd := &fakeNerdctl{serve: true}
	got := netDoctor(t, nd, nil, nil)
	expectCheck(t, got, netConf, CheckOK, "the CRI uses 99-satchel-bridge.conflist (satchel's default network)")
	expectCheck(t, got, netRunc, CheckOK, `HTTP/1.1 200 OK "Welcome to nginx!"`)
	expectCheck(t, got, netRunsc, CheckOK, "-> container port 80")
	if len(nd.runs) != 2 || !strings.Contains(nd.runs[0], "--runtime /usr/local/bin/runc docker.io/library/nginx:1.27.4") ||
		!strings.Contains(nd.runs[1], "--runtime /usr/local/bin/runsc docker.io/library/nginx:1.27.4") ||
		!strings.Contains(nd.runs[0], " -n default run -d ") {
		t.Errorf("runs:\n%s", strings.Join(nd.runs, "\n"))
	}
	if nd.stops != 2 {
		t.Errorf("%d containers stopped before removal, want 2", nd.stops)
	}
}

// TestDoctorNetworkLayers: each failure names its layer.
func TestDoctorNetworkLayers(t *testing.T) {
	t.Run("plugin missing on disk", func(t *testing.T) {
		got := netDoctor(t, &fakeNerdctl{serve: true}, func(e *env) {
			os.Remove(filepath.Join(e.root, string(config.CNIBinDir), "portmap"))
		}, nil)
		c := expectCheck(t, got, netRunc, CheckFail, "plugin missing: portmap not in /opt/cni/bin")
		if c.Remedy == "" {
			t.Error("no remedy")
		}
	})
	t.Run("plugin missing, said by nerdctl", func(t *testing.T) {
		got := netDoctor(t, &fakeNerdctl{runErr: `needs CNI plugin "bridge" to be installed in CNI_PATH ("/opt/cni/bin")`}, nil, nil)
		expectCheck(t, got, netRunsc, CheckFail, `plugin missing: time=x level=fatal msg="needs CNI plugin "bridge"`)
	})
	t.Run("no config", func(t *testing.T) {
		got := netDoctor(t, &fakeNerdctl{serve: true}, func(e *env) {
			os.Remove(filepath.Join(e.root, string(config.CNIConfigPath)))
		}, nil)
		c := expectCheck(t, got, netConf, CheckFail, "no config: /etc/cni/net.d holds no network configuration")
		if !strings.Contains(c.Remedy, "apply again") {
			t.Errorf("remedy %q", c.Remedy)
		}
		expectCheck(t, got, netRunc, CheckOK, "200 OK") // nerdctl brings its own network
	})
	t.Run("no iptables", func(t *testing.T) {
		nd := &fakeNerdctl{serve: true}
		got := netDoctor(t, nd, nil, func(f *host.Facts) { f.Net.IPTables = host.Tool{} })
		expectCheck(t, got, netRunc, CheckFail, "iptables: no iptables on this host")
		if len(nd.runs) != 0 {
			t.Errorf("ran containers without iptables: %v", nd.runs)
		}
	})
	t.Run("iptables fails", func(t *testing.T) {
		got := netDoctor(t, &fakeNerdctl{runErr: `plugin type="portmap" failed (add): running [/usr/sbin/iptables -t nat -N CNI-HOSTPORT-DNAT --wait]: exit status 3`}, nil, nil)
		expectCheck(t, got, netRunc, CheckFail, "iptables: ")
	})
	t.Run("forwarding", func(t *testing.T) {
		defer func(d time.Duration) { netFetchTimeout = d }(netFetchTimeout)
		netFetchTimeout = time.Second
		got := netDoctor(t, &fakeNerdctl{serve: false}, nil, func(f *host.Facts) {
			f.Sysctls = []host.Sysctl{{Key: "net.ipv4.ip_forward", Value: "0"}}
		})
		c := expectCheck(t, got, netRunc, CheckFail, "forwarding: net.ipv4.ip_forward = 0")
		if !strings.Contains(c.Remedy, "net.ipv4.ip_forward=1") {
			t.Errorf("remedy %q", c.Remedy)
		}
	})
	t.Run("port does not answer", func(t *testing.T) {
		defer func(d time.Duration) { netFetchTimeout = d }(netFetchTimeout)
		netFetchTimeout = time.Second
		got := netDoctor(t, &fakeNerdctl{serve: false}, nil, nil)
		expectCheck(t, got, netRunsc, CheckFail, "no page within 1s")
	})
}

func TestExposedTCPPort(t *testing.T) {
	for in, want := range map[string]int{
		`{"80/tcp":{}}`:                80,
		`{"8080/tcp":{},"443/tcp":{}}`: 443,
		`{"53/udp":{},"8080/tcp":{}}`:  8080,
		`null`:                         80,
		`{"9000":{}}`:                  9000,
		`not json`:                     80,
	} {
		if got := exposedTCPPort([]byte(in)); got != want {
			t.Errorf("%s: %d, want %d", in, got, want)
		}
	}
}
