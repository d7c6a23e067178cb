package config

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/satchel-dev/satchel/internal/testenv"
)

// TestVirtiofsdSandboxOn419 proves the kata setting for Kylin V10's 4.19
// kernel with the real program: a real virtiofsd ≥ 1.4 (Debian's build,
// test/e2e/realbins.sh) under a seccomp filter that answers pidfd_open(2)
// with ENOSYS, as a 4.19 kernel without the backport does, fails to enter
// its default sandbox; with --sandbox=chroot — what satchel adds to
// kata's virtio_fs_extra_args (KataConfig) — it starts and serves its
// vhost-user socket. Without KVM no guest connects; the socket accepting a
// connection is what QEMU needs and what failed in kata-containers#11139
// ("vhost-fs.sock: Connection refused").
func TestVirtiofsdSandboxOn419(t *testing.T) {
	testenv.RequireRoot(t) // the chroot and namespace sandboxes need it
	bin := testenv.RequireRealBin(t, "virtiofsd")
	out, _ := exec.Command(bin, "--version").CombinedOutput()
	m := regexp.MustCompile(`(\d+)\.(\d+)\.(\d+)`).FindSubmatch(out)
	if m == nil || string(m[1]) == "1" && len(m[2]) == 1 && m[2][0] < '4' {
		t.Fatalf("need virtiofsd ≥ 1.4 (the first whose sandbox uses pidfd_open), have %q", out)
	}
	shared := t.TempDir()
	os.WriteFile(filepath.Join(shared, "hello"), []byte("hi\n"), 0o644)

	start := func(t *testing.T, enosys bool, args ...string) (sock string, wait func() (string, error)) {
		sock = filepath.Join(t.TempDir(), "vhost-fs.sock")
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		cmd := exec.CommandContext(ctx, bin, append([]string{"--socket-path", sock, "--shared-dir", shared, "--cache", "never"}, args...)...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if enosys {
			cmd = testenv.WithENOSYS(t, []string{"pidfd_open"}, cmd)
			cmd.Stderr = &stderr
		}
		if err := cmd.Start(); err != nil {
			cancel()
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		t.Cleanup(func() {
			cmd.Process.Kill()
			cancel()
		})
		return sock, func() (string, error) {
			select {
			case err := <-done:
				return stderr.String(), err
			case <-time.After(2 * time.Second):
				return stderr.String(), nil // still running
			}
		}
	}

	t.Run("control: default sandbox starts where pidfd_open exists", func(t *testing.T) {
		sock, wait := start(t, false)
		c, err := dialWhenReady(sock, 10*time.Second)
		if err != nil {
			t.Fatalf("socket: %v", err)
		}
		defer c.Close()
		if stderr, err := wait(); err != nil {
			t.Fatalf("virtiofsd exited: %v\n%s", err, stderr)
		}
	})

	t.Run("default sandbox fails without pidfd_open", func(t *testing.T) {
		sock, wait := start(t, true)
		// It enters its sandbox before it listens: it dies without ever
		// offering QEMU a socket (or, if a version listens first, at the
		// first connection).
		if c, err := dialWhenReady(sock, 5*time.Second); err == nil {
			c.Close()
		}
		stderr, err := wait()
		if err == nil {
			t.Fatalf("virtiofsd kept running with pidfd_open missing; stderr:\n%s", stderr)
		}
		// "Error entering sandbox: Fork(... code: 38 ...)": ENOSYS is 38.
		if !strings.Contains(stderr, "sandbox") {
			t.Errorf("the failure is not the sandbox's:\n%s", stderr)
		}
	})

	t.Run("--sandbox=chroot starts and serves its socket", func(t *testing.T) {
		sock, wait := start(t, true, "--sandbox=chroot")
		c, err := dialWhenReady(sock, 10*time.Second)
		if err != nil {
			t.Fatalf("socket: %v", err)
		}
		defer c.Close()
		if stderr, err := wait(); err != nil {
			t.Fatalf("virtiofsd exited: %v\n%s", err, stderr)
		}
	})
}

func dialWhenReady(sock string, limit time.Duration) (net.Conn, error) {
	deadline := time.Now().Add(limit)
	for {
		c, err := net.Dial("unix", sock)
		if err == nil || time.Now().After(deadline) {
			return c, err
		}
		time.Sleep(50 * time.Millisecond)
	}
}
