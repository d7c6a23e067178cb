// Package systemd enables, starts and stops units. On the running system
// with systemd as init it uses `systemctl`; on any other root it enables
// units offline (`systemctl --root=R enable`, or by creating the [Install]
// symlinks itself when systemctl is absent) and never starts anything.
package systemd

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"

	"github.com/satchel-dev/satchel/install/rootfs"
	"github.com/satchel-dev/satchel/install/runner"
)

// UnitDir is where satchel's units live, inside the root.
const UnitDir rootfs.Path = "/etc/systemd/system"

// maxUnitSize bounds what is read of a unit file.
const maxUnitSize = 1 << 20

// Manager manages units under one root.
type Manager struct {
	Root   *rootfs.Root
	Runner runner.Runner
	// Online is set when units can be started now: the root is the running
	// system and systemd runs as PID 1.
	Online bool
}

func (m *Manager) systemctl(ctx context.Context, args ...string) ([]byte, error) {
	if !m.Online {
		args = append([]string{"--root=" + m.Root.Dir()}, args...)
	}
	return m.Runner.Run(ctx, runner.Cmd{Path: "systemctl", Args: args})
}

// Enabled reports whether unit is enabled.
func (m *Manager) Enabled(ctx context.Context, unit string) (bool, error) {
	if m.Online {
		_, err := m.Runner.Run(ctx, runner.Cmd{Path: "systemctl", Args: []string{"is-enabled", "--quiet", unit}})
		return err == nil, nil
	}
	links, err := m.InstallLinks(unit)
	if err != nil || len(links) == 0 {
		return false, err
	}
	for _, l := range links {
		if _, err := m.Root.Lstat(l); err != nil {
			return false, nil
		}
	}
	return true, nil
}

// Active reports whether unit is running (always false offline).
func (m *Manager) Active(ctx context.Context, unit string) bool {
	if !m.Online {
		return false
	}
	_, err := m.Runner.Run(ctx, runner.Cmd{Path: "systemctl", Args: []string{"is-active", "--quiet", unit}})
	return err == nil
}

// Enable enables unit (without starting it).
func (m *Manager) Enable(ctx context.Context, unit string) error {
	_, err := m.systemctl(ctx, "enable", unit)
	if err != nil && !m.Online && runner.NotStarted(err) {
		return m.linkInstall(unit, true)
	}
	return err
}

// Disable disables unit, and stops it on the running system.
func (m *Manager) Disable(ctx context.Context, unit string) error {
	args := []string{"disable"}
	if m.Online {
		args = append(args, "--now")
	}
	_, err := m.systemctl(ctx, append(args, unit)...)
	if err != nil && !m.Online && runner.NotStarted(err) {
		return m.linkInstall(unit, false)
	}
	return err
}

// Start, Restart, Stop and Reload act only on the running system.
func (m *Manager) Start(ctx context.Context, unit string) error { return m.online(ctx, "start", unit) }

// Restart restarts unit.
func (m *Manager) Restart(ctx context.Context, unit string) error {
	return m.online(ctx, "restart", unit)
}

// Stop stops unit.
func (m *Manager) Stop(ctx context.Context, unit string) error { return m.online(ctx, "stop", unit) }

// Reload runs daemon-reload.
func (m *Manager) Reload(ctx context.Context) error { return m.online(ctx, "daemon-reload") }

func (m *Manager) online(ctx context.Context, args ...string) error {
	if !m.Online {
		return nil
	}
	_, err := m.systemctl(ctx, args...)
	return err
}

// InstallLinks returns the symlinks `systemctl enable` creates for a unit in
// UnitDir: one per WantedBy= and RequiredBy= target of its [Install] section.
func (m *Manager) InstallLinks(unit string) ([]rootfs.Path, error) {
	b, err := m.Root.ReadFile(UnitDir.Join(unit), maxUnitSize)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return InstallLinks(unit, b), nil
}

// InstallLinks reads the [Install] section of a unit's text.
func InstallLinks(unit string, text []byte) []rootfs.Path {
	var links []rootfs.Path
	section := ""
	sc := bufio.NewScanner(bytes.NewReader(text))
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(l, "[") {
			section = l
			continue
		}
		if section != "[Install]" {
			continue
		}
		k, v, ok := strings.Cut(l, "=")
		if !ok {
			continue
		}
		suffix := ""
		switch strings.TrimSpace(k) {
		case "WantedBy":
			suffix = ".wants"
		case "RequiredBy":
			suffix = ".requires"
		default:
			continue
		}
		if strings.TrimSpace(v) == "" {
			// An empty assignment resets the list, as systemctl enable reads it.
			links = slices.DeleteFunc(links, func(l rootfs.Path) bool { return strings.HasSuffix(string(l.Dir()), suffix) })
			continue
		}
		for _, t := range strings.Fields(v) {
			if strings.ContainsAny(t, "/\x00") || t == ".." {
				continue
			}
			links = append(links, UnitDir.Join(t+suffix, unit))
		}
	}
	return links
}

// linkInstall creates or removes the [Install] symlinks itself, as
// `systemctl --root enable/disable` would, for roots prepared on a machine
// without systemctl.
func (m *Manager) linkInstall(unit string, on bool) error {
	links, err := m.InstallLinks(unit)
	if err != nil {
		return err
	}
	for _, l := range links {
		if !on {
			if err := m.Root.Remove(l); err != nil {
				return err
			}
			m.Root.RemoveDir(l.Dir()) // only when empty
			continue
		}
		if _, err := m.Root.MkdirAll(l.Dir()); err != nil {
			return err
		}
		if err := m.Root.Symlink(string(UnitDir.Join(unit)), l, "."+l.Base()+".satchel-tmp"); err != nil {
			return fmt.Errorf("enabling %s: %w", unit, err)
		}
	}
	return nil
}
