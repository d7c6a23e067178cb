// Package importer moves images into containerd (ctr images import, pinned)
// and Docker (docker load), streaming the archives package images writes.
package importer

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/satchel-dev/satchel/install/images"
	"github.com/satchel-dev/satchel/install/runner"
	"github.com/satchel-dev/satchel/manifest"
)

// PinnedLabel keeps an image from containerd's garbage collection (CRI
// honours it since containerd 1.7; older versions ignore it harmlessly).
const PinnedLabel = "io.cri-containerd.pinned=pinned"

// Client talks to containerd through ctr and to Docker through the docker
// CLI, both run by Runner.
type Client struct {
	Runner runner.Runner
	// ContainerdSocket and DockerSocket are where the daemons listen (host paths).
	ContainerdSocket string
	DockerSocket     string
	// InNamespace is set when Runner enters another mount namespace: socket
	// paths are then not checked from here.
	InNamespace bool
	// Progress receives byte counts of long streams (may be nil).
	Progress func(desc string, done, total int64)
}

// SocketExists reports whether p is a socket.
func SocketExists(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode()&os.ModeSocket != 0
}

// ContainerdUp reports whether containerd's socket is there to talk to.
func (c *Client) ContainerdUp() bool { return c.InNamespace || SocketExists(c.ContainerdSocket) }

// DockerUp reports whether Docker's socket is there to talk to.
func (c *Client) DockerUp() bool { return c.InNamespace || SocketExists(c.DockerSocket) }

// Ctr runs ctr against the containerd socket in namespace ns.
func (c *Client) Ctr(ctx context.Context, ctr, ns string, stdin io.Reader, args ...string) ([]byte, error) {
	full := append([]string{"-a", c.ContainerdSocket, "-n", ns}, args...)
	return c.Runner.Run(ctx, runner.Cmd{Path: ctr, Args: full, Stdin: stdin, Timeout: 30 * time.Minute})
}

// List returns a namespace's images: `ctr images ls` prints REF TYPE
// DIGEST SIZE(2 fields) PLATFORMS LABELS.
func (c *Client) List(ctx context.Context, ctr, ns string) (map[string]images.Present, error) {
	out, err := c.Ctr(ctx, ctr, ns, nil, "images", "ls")
	if err != nil {
		return nil, err
	}
	imgs := map[string]images.Present{}
	for i, l := range strings.Split(string(out), "\n") {
		f := strings.Fields(l)
		if i == 0 || len(f) < 4 {
			continue
		}
		labels := f[len(f)-1]
		imgs[f[0]] = images.Present{Ref: f[0], Digest: manifest.Digest(f[2]), Pinned: strings.Contains(labels, PinnedLabel)}
	}
	return imgs, nil
}

func (c *Client) progress(desc string, total int64) func(int64) {
	var done int64
	return func(n int64) {
		done += n
		if c.Progress != nil {
			c.Progress(desc, done, total)
		}
	}
}

// Import streams an image archive from the bundle into `ctr images import
// -` for each namespace and pins it. No copy reaches the disk.
func (c *Client) Import(ctx context.Context, ctr string, ix *manifest.Index, im manifest.Image, blobs images.BlobReader, platform string, namespaces []string) error {
	prog := c.progress("importing "+im.Ref, images.ArchiveSize(ix, im)*int64(len(namespaces)))
	for _, ns := range namespaces {
		err := images.Stream(func(w io.Writer) error {
			return images.WriteArchive(w, ix, im, blobs, platform, prog)
		}, func(r io.Reader) error {
			_, err := c.Ctr(ctx, ctr, ns, r, "images", "import", "-")
			return err
		})
		if err != nil {
			return fmt.Errorf("importing %s into containerd namespace %s: %w", im.Ref, ns, err)
		}
		if _, err := c.Ctr(ctx, ctr, ns, nil, "images", "label", im.Ref, PinnedLabel); err != nil {
			return fmt.Errorf("pinning %s in namespace %s: %w", im.Ref, ns, err)
		}
	}
	return nil
}

// Docker runs the docker CLI against the Docker socket.
func (c *Client) Docker(ctx context.Context, bin string, stdin io.Reader, timeout time.Duration, args ...string) ([]byte, error) {
	full := append([]string{"-H", "unix://" + c.DockerSocket}, args...)
	return c.Runner.Run(ctx, runner.Cmd{Path: bin, Args: full, Stdin: stdin, Timeout: timeout})
}

// DockerAnswers reports whether dockerd answers on its socket.
func (c *Client) DockerAnswers(ctx context.Context, bin string) bool {
	if !c.DockerUp() {
		return false
	}
	_, err := c.Docker(ctx, bin, nil, 20*time.Second, "version", "--format", "{{.Server.Version}}")
	return err == nil
}

// DockerImageID returns Docker's image ID for ref (its config digest).
func (c *Client) DockerImageID(ctx context.Context, bin, ref string) (string, error) {
	_, _, tag := images.RefNames(ref)
	if tag == "" {
		tag = ref
	}
	out, err := c.Docker(ctx, bin, nil, 20*time.Second, "image", "inspect", "--format", "{{.Id}}", tag)
	return strings.TrimSpace(string(out)), err
}

// DockerLoad streams the image archive into `docker load`.
func (c *Client) DockerLoad(ctx context.Context, bin string, ix *manifest.Index, im manifest.Image, blobs images.BlobReader, platform string) error {
	prog := c.progress("docker load "+im.Ref, images.ArchiveSize(ix, im))
	err := images.Stream(func(w io.Writer) error {
		return images.WriteArchive(w, ix, im, blobs, platform, prog)
	}, func(r io.Reader) error {
		_, err := c.Docker(ctx, bin, r, 30*time.Minute, "load")
		return err
	})
	if err != nil {
		return fmt.Errorf("docker load %s: %w", im.Ref, err)
	}
	return nil
}

// WaitContainerd waits until `ctr version` answers on the socket. A
// missing socket fails at once: satchel-images.service starts after
// containerd.service, which is up once its socket is.
func (c *Client) WaitContainerd(ctx context.Context, ctr string, limit time.Duration) error {
	if !c.ContainerdUp() {
		return manifest.HintError(fmt.Errorf("containerd is not running: no socket at %s", c.ContainerdSocket),
			"start containerd (systemctl start containerd), or pass --containerd-socket where it listens, and run the command again")
	}
	deadline := time.Now().Add(limit)
	for {
		_, err := c.Runner.Run(ctx, runner.Cmd{Path: ctr, Args: []string{"-a", c.ContainerdSocket, "version"}, Timeout: 10 * time.Second})
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) || runner.NotStarted(err) {
			return manifest.HintError(fmt.Errorf("containerd does not answer on %s: %w", c.ContainerdSocket, err),
				"start containerd (systemctl start containerd) and run the command again")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}
