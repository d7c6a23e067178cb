package mirrorgen

import (
	"errors"
	"fmt"
	"os"
	"path"
	"strings"

	"github.com/satchel-dev/satchel/component"
)

// ContentSource returns the bytes of one file of a component's artifact.
// file is the member path inside the archive without a leading "./"
// ("bin/containerd", "docker/dockerd", "opt/kata/bin/kata-runtime"); for a
// plain-binary artifact it is the program's name ("runc", "runsc",
// "containerd-shim-runsc-v1").
type ContentSource func(component, version, platform, file string) ([]byte, error)

// StandIn is the default ContentSource: small files that say what they stand
// for. Programs are shell scripts that print their label (and a version line
// for --version) instead of doing anything; kata's configuration is real
// TOML with kata's keys and paths.
func StandIn(component, version, platform, file string) ([]byte, error) {
	label := fmt.Sprintf("satchel demo stand-in for %s %s, not the real program", component, version)
	base := path.Base(file)
	switch {
	case strings.HasSuffix(file, ".toml"):
		return kataConfig(version, platform), nil
	case base == "VERSION":
		return []byte(version + "\n"), nil
	case strings.Contains(file, "share/kata-containers/"):
		return []byte(fmt.Sprintf("%s (%s for %s)\n", strings.Replace(label, "program", "file", 1), base, platform)), nil
	}
	return []byte(fmt.Sprintf(`#!/bin/sh
# %s
# (%s for %s, written by satchel's internal/mirrorgen)
case "$1" in
--version|-v|version) echo "%s version %s (satchel demo stand-in)"; exit 0 ;;
esac
%secho "%s: %s" >&2
exit 1
`, label, file, platform, base, version, standInCompletion(component, version, base), base, label)), nil
}

// standInCompletion is the shell code that makes a stand-in answer the
// completion command its real program answers (component.CompletionsOf) with a
// small bash completion: the same text on every platform, as the real
// programs print, so a build can generate it from any platform's stand-in.
func standInCompletion(comp, version, base string) string {
	for _, c := range component.CompletionsOf(comp) {
		if path.Base(c.Tool) != base {
			continue
		}
		fn := "_satchel_standin_" + strings.NewReplacer("-", "_", ".", "_").Replace(base)
		return fmt.Sprintf(`if [ "$*" = %q ]; then
cat <<'EOF'
# bash completion for the satchel demo stand-in for %s %s
%s() {
    COMPREPLY=( $(compgen -W "--version completion" -- "${COMP_WORDS[COMP_CWORD]}") )
}
complete -F %s %s
EOF
exit 0
fi
`, strings.Join(c.Args, " "), comp, version, fn, fn, base)
	}
	return ""
}

// FromFiles returns a ContentSource that reads real programs from disk,
// chosen by file name: paths maps a base name ("containerd", "runsc") to a
// file. Files it has no entry for come from fallback (StandIn when nil).
func FromFiles(paths map[string]string, fallback ContentSource) ContentSource {
	if fallback == nil {
		fallback = StandIn
	}
	return func(component, version, platform, file string) ([]byte, error) {
		p, ok := paths[path.Base(file)]
		if !ok {
			return fallback(component, version, platform, file)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("content for %s %s: %w", component, file, err)
		}
		if len(b) == 0 {
			return nil, errors.New("content for " + file + ": " + p + " is empty")
		}
		return b, nil
	}
}

// kataConfig is a configuration-qemu.toml with the keys kata 3.x ships and
// paths under /opt/kata, so config readers meet the real shape.
func kataConfig(version, platform string) []byte {
	qemu, machine := "qemu-system-x86_64", "q35"
	if platform == "linux/arm64" {
		qemu, machine = "qemu-system-aarch64", "virt"
	}
	return []byte(fmt.Sprintf(`# satchel demo stand-in for kata %[1]s's configuration-qemu.toml (%[2]s).
# The keys and paths are kata's; the programs they name are stand-ins.

[hypervisor.qemu]
path = "/opt/kata/bin/%[3]s"
kernel = "/opt/kata/share/kata-containers/vmlinux.container"
image = "/opt/kata/share/kata-containers/kata-containers.img"
machine_type = "%[4]s"
valid_hypervisor_paths = ["/opt/kata/bin/%[3]s"]
kernel_params = ""
firmware = ""
default_vcpus = 1
default_maxvcpus = 0
default_memory = 2048
disable_block_device_use = false
shared_fs = "virtio-fs"
virtio_fs_daemon = "/opt/kata/libexec/virtiofsd"
valid_virtio_fs_daemon_paths = ["/opt/kata/libexec/virtiofsd"]
virtio_fs_cache_size = 0
virtio_fs_cache = "auto"
block_device_driver = "virtio-scsi"
enable_iothreads = false

[factory]

[agent.kata]
dial_timeout = 45

[runtime]
enable_debug = false
internetworking_model = "tcfilter"
disable_guest_seccomp = true
sandbox_cgroup_only = false
static_sandbox_resource_mgmt = false
enable_pprof = false
`, version, platform, qemu, machine))
}
