package config

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"

	"github.com/satchel-dev/satchel/install/rootfs"
)

// KataOverridePath is where satchel writes kata's configuration when the
// defaults must change on this host. kata-static's runtime and shim read
// /etc/kata-containers/configuration.toml before the defaults under
// /opt/kata (kata's SYSCONFDIR comes first in its search path), and
// containerd's kata runtime is pointed at it explicitly (ConfigPath).
const KataOverridePath rootfs.Path = "/etc/kata-containers/configuration.toml"

// KataOptions are the changes satchel makes to kata's default configuration.
type KataOptions struct {
	// VirtiofsdArgs are appended to the hypervisor's virtio_fs_extra_args
	// (e.g. --sandbox=chroot on kernels without pidfd_open).
	VirtiofsdArgs []string
	// DropAnnotations are removed from enable_annotations: annotations a
	// pod may use to override the configuration. virtio_fs_extra_args there
	// lets a pod pass virtiofsd any option (CVE-2026-44210, kata < 3.31,
	// whose Makefile enables it by default: DEFENABLEANNOTATIONS, L221 @3.7.0).
	DropAnnotations []string
}

// KataConfig edits kata's default configuration (configuration-qemu.toml)
// line by line, so its comments and layout stay as upstream wrote them:
// in the [hypervisor.qemu] section, virtio_fs_extra_args gains the extra
// arguments (which kata passes to virtiofsd verbatim: virtiofsd.go args())
// and enable_annotations loses the dropped names. changed is false when
// the defaults already say so.
func KataConfig(base []byte, o KataOptions) (out []byte, changed bool, err error) {
	lines := strings.Split(string(base), "\n")
	section := ""
	sawArgs := false
	sectionEnd := -1
	for i, l := range lines {
		t := strings.TrimSpace(l)
		if strings.HasPrefix(t, "[") {
			if section == "hypervisor.qemu" && sectionEnd < 0 {
				sectionEnd = i
			}
			section = strings.Trim(t, "[] ")
			continue
		}
		if section != "hypervisor.qemu" || strings.HasPrefix(t, "#") {
			continue
		}
		key, val, ok := strings.Cut(t, "=")
		if !ok {
			continue
		}
		key = strings.TrimSpace(key)
		switch key {
		case "virtio_fs_extra_args":
			sawArgs = true
			list, err := parseTOMLStrings(val)
			if err != nil {
				return nil, false, fmt.Errorf("kata configuration: virtio_fs_extra_args: %w", err)
			}
			for _, a := range o.VirtiofsdArgs {
				if !contains(list, a) {
					list = append(list, a)
					changed = true
				}
			}
			lines[i] = "virtio_fs_extra_args = " + tomlStrings(list)
		case "enable_annotations":
			list, err := parseTOMLStrings(val)
			if err != nil {
				return nil, false, fmt.Errorf("kata configuration: enable_annotations: %w", err)
			}
			var keep []string
			for _, a := range list {
				if contains(o.DropAnnotations, a) {
					changed = true
					continue
				}
				keep = append(keep, a)
			}
			lines[i] = "enable_annotations = " + tomlStrings(keep)
		}
	}
	if section == "hypervisor.qemu" && sectionEnd < 0 {
		sectionEnd = len(lines)
	}
	if !sawArgs && len(o.VirtiofsdArgs) > 0 {
		if sectionEnd < 0 {
			return nil, false, fmt.Errorf("kata configuration: no [hypervisor.qemu] section")
		}
		ins := []string{"# Added by satchel-install: see " + string(KataOverridePath), "virtio_fs_extra_args = " + tomlStrings(o.VirtiofsdArgs)}
		lines = append(lines[:sectionEnd], append(ins, lines[sectionEnd:]...)...)
		changed = true
	}
	if !changed {
		return base, false, nil
	}
	head := header("#", "Written by satchel-install from kata's default configuration (the bundle's "+string(KataConfigPath)+"),",
		"changed for this host: "+describeKata(o)+".", "kata reads this file before its defaults.")
	return append([]byte(head), []byte(strings.Join(lines, "\n"))...), true, nil
}

func describeKata(o KataOptions) string {
	var parts []string
	if len(o.VirtiofsdArgs) > 0 {
		parts = append(parts, "virtiofsd gets "+strings.Join(o.VirtiofsdArgs, " "))
	}
	if len(o.DropAnnotations) > 0 {
		parts = append(parts, "pods may not set the annotations "+strings.Join(o.DropAnnotations, ", "))
	}
	return strings.Join(parts, "; ")
}

// parseTOMLStrings reads a one-line TOML array of strings, with an
// optional trailing comment.
func parseTOMLStrings(v string) ([]string, error) {
	v = strings.TrimSpace(v)
	doc, err := parseTOML([]byte("x = " + v))
	if err != nil {
		return nil, err
	}
	arr, ok := doc["x"].([]any)
	if !ok {
		return nil, fmt.Errorf("not a list: %s", v)
	}
	out := []string{}
	for _, e := range arr {
		s, ok := e.(string)
		if !ok {
			return nil, fmt.Errorf("not a list of strings: %s", v)
		}
		out = append(out, s)
	}
	return out, nil
}

func tomlStrings(list []string) string {
	var b bytes.Buffer
	b.WriteByte('[')
	for i, s := range list {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(strconv.Quote(s))
	}
	b.WriteByte(']')
	return b.String()
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
