package install

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strings"
)

// unitDir is where satchel's units live, inside the root.
const unitDir = "/etc/systemd/system"

// services manages systemd units. On the running system with systemd as
// init it uses `systemctl`; on any other root it enables units offline
// (`systemctl --root=R enable`, or by creating the [Install] symlinks
// itself when systemctl is absent) and never starts anything.
type services struct {
	in *Installer
	// online is decided once per Installer: systemd is PID 1 and root is "/".
	online *bool
}

// Online reports whether units can be started now: the root is the
// running system and systemd runs as PID 1.
func (s *services) Online() bool {
	if s.online == nil {
		v := false
		if s.in.Live() {
			if f, err := s.in.Facts(); err == nil {
				v = f.SystemdInit
			}
		}
		s.online = &v
	}
	return *s.online
}

func (s *services) systemctl(ctx context.Context, args ...string) ([]byte, error) {
	if !s.Online() {
		args = append([]string{"--root=" + s.in.root}, args...)
	}
	return s.in.runner.Run(ctx, Cmd{Path: "systemctl", Args: args})
}

// enabled reports whether unit is enabled.
func (s *services) enabled(ctx context.Context, unit string) (bool, error) {
	if s.Online() {
		_, err := s.in.runner.Run(ctx, Cmd{Path: "systemctl", Args: []string{"is-enabled", "--quiet", unit}})
		return err == nil, nil
	}
	links, err := s.installLinks(unit)
	if err != nil {
		return false, err
	}
	if len(links) == 0 {
		return false, nil
	}
	for _, l := range links {
		hp, err := s.in.path(l)
		if err != nil {
			return false, err
		}
		if _, err := os.Lstat(hp); err != nil {
			return false, nil
		}
	}
	return true, nil
}

// active reports whether unit is running (always false offline).
func (s *services) active(ctx context.Context, unit string) bool {
	if !s.Online() {
		return false
	}
	_, err := s.in.runner.Run(ctx, Cmd{Path: "systemctl", Args: []string{"is-active", "--quiet", unit}})
	return err == nil
}

func (s *services) enable(ctx context.Context, unit string, now bool) error {
	args := []string{"enable"}
	if now && s.Online() {
		args = append(args, "--now")
	}
	_, err := s.systemctl(ctx, append(args, unit)...)
	if err != nil && !s.Online() && notStarted(err) {
		return s.linkInstall(unit, true)
	}
	return err
}

func (s *services) disable(ctx context.Context, unit string) error {
	args := []string{"disable"}
	if s.Online() {
		args = append(args, "--now")
	}
	_, err := s.systemctl(ctx, append(args, unit)...)
	if err != nil && !s.Online() && notStarted(err) {
		return s.linkInstall(unit, false)
	}
	return err
}

func (s *services) start(ctx context.Context, unit string) error {
	if !s.Online() {
		return nil
	}
	_, err := s.systemctl(ctx, "start", unit)
	return err
}

func (s *services) restart(ctx context.Context, unit string) error {
	if !s.Online() {
		return nil
	}
	_, err := s.systemctl(ctx, "restart", unit)
	return err
}

func (s *services) stop(ctx context.Context, unit string) error {
	if !s.Online() {
		return nil
	}
	_, err := s.systemctl(ctx, "stop", unit)
	return err
}

func (s *services) reload(ctx context.Context) error {
	if !s.Online() {
		return nil
	}
	_, err := s.systemctl(ctx, "daemon-reload")
	return err
}

// installLinks returns the symlinks `systemctl enable` creates for a unit in
// unitDir: one per WantedBy= and RequiredBy= target of its [Install] section.
func (s *services) installLinks(unit string) ([]string, error) {
	hp, err := s.in.path(path.Join(unitDir, unit))
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(hp)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var links []string
	section := ""
	sc := bufio.NewScanner(bytes.NewReader(b))
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
		for _, t := range strings.Fields(v) {
			links = append(links, path.Join(unitDir, t+suffix, unit))
		}
	}
	return links, sc.Err()
}

// linkInstall creates or removes the [Install] symlinks itself, as
// `systemctl --root enable/disable` would, for roots prepared on a machine
// without systemctl.
func (s *services) linkInstall(unit string, on bool) error {
	links, err := s.installLinks(unit)
	if err != nil {
		return err
	}
	for _, l := range links {
		hp, err := s.in.path(l)
		if err != nil {
			return err
		}
		if !on {
			if err := removeFile(hp); err != nil {
				return err
			}
			removeEmptyDirs([]string{path.Dir(hp)})
			continue
		}
		dirs, err := missingDirs(path.Dir(hp))
		if err != nil {
			return err
		}
		if err := mkdirs(dirs); err != nil {
			return err
		}
		if err := symlinkAtomic(hp, hp+tempSuffix, path.Join(unitDir, unit)); err != nil {
			return fmt.Errorf("enabling %s: %w", unit, err)
		}
	}
	return nil
}
