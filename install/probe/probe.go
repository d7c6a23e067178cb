// Package probe gathers what the planner needs to know about a root and
// the services running on it, so that planning itself (package plan)
// reads nothing and runs nothing.
package probe

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"time"

	"github.com/satchel-dev/satchel/install/images"
	"github.com/satchel-dev/satchel/install/importer"
	"github.com/satchel-dev/satchel/install/plan"
	"github.com/satchel-dev/satchel/install/rootfs"
	"github.com/satchel-dev/satchel/install/runner"
	"github.com/satchel-dev/satchel/install/systemd"
	"github.com/satchel-dev/satchel/manifest"
)

// MaxContent bounds a file whose content the plan reads (configurations).
const MaxContent = 1 << 20

// Fill adds what a plan asked for (plan.NeedError) to t, as root has it.
func Fill(root *rootfs.Root, t *plan.MapTree, need *plan.NeedError) error {
	if err := fill(root, t, need.Entries, need.Contents); err != nil {
		return err
	}
	for _, p := range need.Lists {
		if _, ok := t.Lists[p]; ok {
			continue
		}
		names, err := root.ReadDir(p)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			t.Lists[p] = nil
		case err != nil:
			return err
		case names == nil:
			t.Lists[p] = []string{}
		default:
			t.Lists[p] = names
		}
	}
	return nil
}

func fill(root *rootfs.Root, t *plan.MapTree, entries, contents []rootfs.Path) error {
	for _, p := range entries {
		if _, ok := t.Entries[p]; ok {
			continue
		}
		e, err := Entry(root, p)
		if err != nil {
			return err
		}
		t.Entries[p] = e
	}
	for _, p := range contents {
		if _, ok := t.Contents[p]; ok {
			continue
		}
		b, err := root.ReadFile(p, MaxContent)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			t.Contents[p] = nil
		case err != nil:
			return err
		case b == nil:
			t.Contents[p] = []byte{}
		default:
			t.Contents[p] = b
		}
	}
	return nil
}

// Entry describes what is at p, once symlinks among its parents are
// followed as on the installed system.
func Entry(root *rootfs.Root, p rootfs.Path) (plan.Entry, error) {
	e := plan.Entry{Path: p, Resolved: p}
	res, err := root.Resolve(p, false)
	if err != nil {
		var pe *rootfs.PathError
		if errors.As(err, &pe) {
			e.ResolveErr = pe.Err.Error()
			return e, nil
		}
		return e, err
	}
	e.Resolved = res
	info, err := root.Lstat(res)
	if errors.Is(err, fs.ErrNotExist) {
		return e, nil
	}
	if err != nil {
		return e, err
	}
	e.Mode, e.UID, e.GID, e.Size = info.Mode, info.UID, info.GID, info.Size
	switch {
	case info.IsSymlink():
		e.Kind, e.Target = plan.EntrySymlink, info.Target
	case info.IsRegular():
		e.Kind = plan.EntryFile
		if e.Digest, err = Digest(root, res); err != nil {
			return e, err
		}
	case info.IsDir():
		e.Kind = plan.EntryDir
	default:
		e.Kind = plan.EntryOther
	}
	return e, nil
}

// Digest is the sha256 of a regular file in the root.
func Digest(root *rootfs.Root, p rootfs.Path) (manifest.Digest, error) {
	f, err := root.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("reading %s: %w", p, err)
	}
	return manifest.FromHash(manifest.SHA256, h), nil
}

// Services says how to reach the services the probe asks.
type Services struct {
	Root    *rootfs.Root
	Runner  runner.Runner
	Systemd *systemd.Manager
	Images  *importer.Client
	// Live is set when the root is the running system.
	Live bool
	// InNamespace is set when commands run in another mount namespace:
	// tools are then named by their in-root paths.
	InNamespace bool
	// Units, Namespaces and Refs name what to ask about.
	Units      []string
	Namespaces []string
	Refs       []string
	// Kubeconfig, when set, has kubectl asked for RuntimeClasses.
	Kubeconfig string
}

// binDir is where bundled tools are installed, inside the root.
const binDir rootfs.Path = "/usr/local/bin"

// Tool returns how to run an installed tool: its in-root path when
// commands run inside the root's namespace, else its host path when it
// is installed in the root, else what PATH finds ("" for none).
func (s *Services) Tool(name string) string {
	p := binDir.Join(name)
	if s.InNamespace {
		return string(p)
	}
	// Resolved inside the root: /usr/local may be a symlink there, and a
	// tool's absolute symlink must not lead to the host's file.
	if res, err := s.Root.Resolve(p, true); err == nil {
		if info, err := s.Root.Lstat(res); err == nil && info.IsRegular() {
			return s.Root.HostPath(res)
		}
	}
	if l, err := s.Runner.LookPath(name); err == nil {
		return l
	}
	return ""
}

// Observe asks the running services what the planner needs: units'
// states, containerd's and Docker's images, kubectl's RuntimeClasses.
func Observe(ctx context.Context, s *Services) plan.Observed {
	o := plan.Observed{Units: map[string]plan.UnitState{}, Images: map[string]map[string]images.Present{}, ImageErrors: map[string]string{}, DockerImages: map[string]string{}}
	for _, u := range s.Units {
		en, _ := s.Systemd.Enabled(ctx, u)
		o.Units[u] = plan.UnitState{Enabled: en, Active: s.Systemd.Active(ctx, u)}
	}
	o.BinDir = s.Root.HostPath(binDir)
	if s.InNamespace {
		o.BinDir = string(binDir)
	}
	for _, t := range []string{"ctr", "docker", "kubectl"} {
		if s.InNamespace {
			continue
		}
		if p, err := s.Runner.LookPath(t); err == nil {
			if o.HostTools == nil {
				o.HostTools = map[string]string{}
			}
			o.HostTools[t] = p
		}
	}
	if s.Live && s.Images.ContainerdUp() {
		o.ContainerdUp = true
		if ctr := s.Tool("ctr"); ctr != "" {
			for _, ns := range s.Namespaces {
				list, err := s.Images.List(ctx, ctr, ns)
				if err != nil {
					o.ImageErrors[ns] = err.Error()
					continue
				}
				o.Images[ns] = list
			}
		}
	}
	if docker := s.Tool("docker"); docker != "" && s.Live {
		o.Docker = docker
		if s.Images.DockerAnswers(ctx, docker) {
			o.DockerUp = true
			for _, ref := range s.Refs {
				if id, err := s.Images.DockerImageID(ctx, docker, ref); err == nil {
					o.DockerImages[ref] = id
				}
			}
		}
	}
	if s.Kubeconfig != "" {
		if kubectl := s.Tool("kubectl"); kubectl != "" {
			o.Kubectl = kubectl
			out, err := s.Runner.Run(ctx, runner.Cmd{Path: kubectl, Args: []string{"--kubeconfig", s.Kubeconfig, "get", "runtimeclass", "-o", "name"}, Timeout: time.Minute})
			if err == nil {
				for _, l := range strings.Split(string(out), "\n") {
					if _, name, ok := strings.Cut(strings.TrimSpace(l), "/"); ok {
						o.RuntimeClasses = append(o.RuntimeClasses, name)
					}
				}
			}
		}
	}
	return o
}
