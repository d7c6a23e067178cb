package config

import "github.com/satchel-dev/satchel/install/rootfs"

// BuildKit (issue 9): buildkitd on the installed containerd, so that
// `nerdctl build` works offline.
const (
	// BuildKitConfigPath is where buildkitd reads its configuration by
	// default (appdefaults.ConfigDir + "buildkitd.toml", moby/buildkit
	// cmd/buildkitd/main.go L551 @73ed6825c).
	BuildKitConfigPath rootfs.Path = "/etc/buildkit/buildkitd.toml"
	// BuildKitSocket is buildkitd's default address (util/appdefaults
	// appdefaults_unix.go), the last place nerdctl looks for it after
	// /run/buildkit-<namespace>/ and /run/buildkit-default/
	// (nerdctl pkg/buildkitutil/buildkitutil_unix.go L37-39 @8da50408).
	BuildKitSocket = "/run/buildkit/buildkitd.sock"
)

// BuildKitConfig renders buildkitd.toml as nerdctl's docs/build.md
// ("Rootful", @8da50408) sets BuildKit up for nerdctl: the containerd
// worker in containerd's "default" namespace (where nerdctl and the
// bundle's images are), the OCI worker off, so builds use the installed
// containerd and runc and see the images already there.
func BuildKitConfig() []byte {
	return []byte(header("#", "Written by satchel-install: BuildKit on the installed containerd (nerdctl build).", ownedNote) + `
[worker.oci]
  enabled = false

[worker.containerd]
  enabled = true
  address = "` + ContainerdSocket + `"
  # "k8s.io" would build into the namespace Kubernetes sees.
  namespace = "default"
`)
}

// BuildKitUnit renders buildkit.service after moby/buildkit's
// examples/systemd/system/buildkit.service (Type=notify: buildkitd sends
// READY, cmd/buildkitd/main.go L528), listening on its default socket
// instead of socket activation, and bound to containerd, whose worker it
// uses.
func BuildKitUnit(opts UnitOptions) []byte {
	opts.defaults()
	return []byte(header("#", "Written by satchel-install: BuildKit daemon on the bundled containerd.", ownedNote,
		"Put local changes in a drop-in (systemctl edit buildkit.service) or in "+string(BuildKitConfigPath)) + `
[Unit]
Description=BuildKit
Documentation=https://github.com/moby/buildkit
After=containerd.service
Requires=containerd.service

[Service]
Type=notify
ExecStart=` + opts.BinDir + `/buildkitd --addr unix://` + BuildKitSocket + ` --config ` + string(BuildKitConfigPath) + `
Restart=always
RestartSec=5

[Install]
WantedBy=multi-user.target
`)
}
