package config

import (
	"fmt"
	"strings"
)

// Units are written to /etc/systemd/system. They use only directives that
// systemd 239 (Kylin V10) knows; LimitNOFILE is the explicit 1024:524288
// that systemd 240+ applies implicitly, as containerd asks packagers for
// older systemd (containerd commit 3ca39ef, "Remove LimitNOFILE"): infinity
// makes some programs in containers allocate per-descriptor tables of
// 2^30 entries.

// UnitOptions are the paths the units start.
type UnitOptions struct {
	// BinDir holds containerd and dockerd; default /usr/local/bin.
	BinDir string
	// Socket is containerd's socket, passed to dockerd; default ContainerdSocket.
	Socket string
}

func (o *UnitOptions) defaults() {
	if o.BinDir == "" {
		o.BinDir = BinDir
	}
	if o.Socket == "" {
		o.Socket = ContainerdSocket
	}
}

// ServiceUnit renders the unit of a service satchel installs, by name.
func ServiceUnit(name string, opts UnitOptions) ([]byte, error) {
	switch name {
	case "containerd.service":
		return ContainerdUnit(opts), nil
	case "docker.service":
		return DockerUnit(opts), nil
	case "buildkit.service":
		return BuildKitUnit(opts), nil
	}
	return nil, fmt.Errorf("internal: no unit for %q", name)
}

// ContainerdUnit renders containerd.service, modelled on containerd's own unit.
func ContainerdUnit(opts UnitOptions) []byte {
	opts.defaults()
	return []byte(header("#", "Written by satchel-install: containerd, from containerd's containerd.service.", ownedNote,
		"Put local changes in a drop-in: systemctl edit containerd.service") + `
[Unit]
Description=containerd container runtime
Documentation=https://containerd.io
After=network.target dbus.service

[Service]
ExecStartPre=-/sbin/modprobe overlay
ExecStart=` + opts.BinDir + `/containerd

Type=notify
Delegate=yes
KillMode=process
Restart=always
RestartSec=5

# Having non-zero Limit*s causes performance problems due to accounting overhead
# in the kernel. We recommend using cgroups to do container-local accounting.
LimitNPROC=infinity
LimitCORE=infinity
LimitNOFILE=1024:524288
TasksMax=infinity
OOMScoreAdjust=-999

[Install]
WantedBy=multi-user.target
`)
}

// DockerUnit renders docker.service: dockerd on the bundled containerd
// (--containerd), without socket activation, so dockerd listens on
// /var/run/docker.sock itself.
func DockerUnit(opts UnitOptions) []byte {
	opts.defaults()
	return []byte(header("#", "Written by satchel-install: Docker engine on the bundled containerd.", ownedNote,
		"Put local changes in a drop-in (systemctl edit docker.service) or in /etc/docker/daemon.json") + `
[Unit]
Description=Docker Application Container Engine
Documentation=https://docs.docker.com
After=network-online.target firewalld.service containerd.service
Wants=network-online.target
Requires=containerd.service
StartLimitIntervalSec=60
StartLimitBurst=3

[Service]
Type=notify
ExecStart=` + opts.BinDir + `/dockerd --containerd=` + opts.Socket + `
ExecReload=/bin/kill -s HUP $MAINPID
TimeoutStartSec=0
RestartSec=2
Restart=always
LimitNPROC=infinity
LimitCORE=infinity
LimitNOFILE=1024:524288
TasksMax=infinity
Delegate=yes
KillMode=process
OOMScoreAdjust=-500

[Install]
WantedBy=multi-user.target
`)
}

// ImagesUnitOptions configure satchel-images.service.
type ImagesUnitOptions struct {
	// ExecStart is the import command with its arguments, each quoted as
	// systemd needs (see Quote), e.g.
	// Quote("/usr/local/bin/satchel-install", "import-staged", "/var/lib/satchel/images").
	ExecStart string
	// StagingDir is where staged images wait; the unit runs only while it
	// exists, so the command should remove it when done.
	StagingDir string
}

// ImagesUnit renders satchel-images.service: a oneshot that imports images
// staged under StagingDir at first boot, after containerd and before Docker
// and kubelet, for installs into a --root that containerd could not reach.
//
// It runs after docker.service (ordering only, no dependency) so that the
// import can also `docker load` when Docker is installed and starting; it
// runs before kubelet.service so pods find the pause image on first boot.
func ImagesUnit(opts ImagesUnitOptions) ([]byte, error) {
	if opts.ExecStart == "" || opts.StagingDir == "" {
		return nil, fmt.Errorf("satchel-images.service: ExecStart and StagingDir are required")
	}
	if strings.ContainsAny(opts.StagingDir+opts.ExecStart, "\n") {
		return nil, fmt.Errorf("satchel-images.service: newline in ExecStart or StagingDir")
	}
	return []byte(header("#", "Written by satchel-install: imports container images staged by an install into --root.", ownedNote) + `
[Unit]
Description=Import container images staged by satchel-install
Requires=containerd.service
After=containerd.service docker.service
Before=kubelet.service
ConditionPathExists=` + opts.StagingDir + `

[Service]
Type=oneshot
ExecStart=` + opts.ExecStart + `
RemainAfterExit=no
TimeoutStartSec=0

[Install]
WantedBy=multi-user.target
`), nil
}

// Quote joins a command line for ExecStart, quoting arguments with spaces,
// quotes, backslashes, '$', '%' or ';' (systemd.service(5), "Command lines";
// '%' doubles as specifiers are expanded, '$' as variables are).
func Quote(args ...string) string {
	out := make([]string, len(args))
	for i, a := range args {
		a = strings.ReplaceAll(a, "%", "%%")
		a = strings.ReplaceAll(a, "$", "$$")
		if a == "" || strings.ContainsAny(a, " \t\"'\\;") {
			a = `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(a) + `"`
		}
		out[i] = a
	}
	return strings.Join(out, " ")
}
