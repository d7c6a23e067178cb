package install

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/satchel-dev/satchel/install/images"
	"github.com/satchel-dev/satchel/install/importer"
	"github.com/satchel-dev/satchel/install/runner"
	"github.com/satchel-dev/satchel/internal/testenv"
)

// TestImportIntoRealContainerd streams the bundle's images into a real
// containerd with a real ctr: the archive format, the image names taken
// from index.json and the pin label are containerd's to judge.
func TestImportIntoRealContainerd(t *testing.T) {
	testenv.SkipShort(t, "starts containerd and dockerd")
	testenv.RequireRoot(t)
	containerd := testenv.RequireBinary(t, "containerd") // Debian: apt-get install containerd
	ctrPath := testenv.RequireBinary(t, "ctr")
	e := newEnv(t, defaultFixture())
	d, err := os.MkdirTemp("/tmp", "ctrd-") // short: unix socket paths are limited to 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	sock := filepath.Join(d, "c.sock")
	cfg := filepath.Join(d, "config.toml")
	os.WriteFile(cfg, []byte(`version = 2
root = "`+d+`/root"
state = "`+d+`/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "`+sock+`"
`), 0o644)
	cmd := exec.Command(containerd, "--config", cfg)
	logf, _ := os.Create(filepath.Join(d, "log"))
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })

	in := e.installer(WithRunner(runner.ExecRunner{}), WithContainerdSocket(sock))
	ctx := context.Background()
	for i := 0; i < 100 && !importer.SocketExists(sock); i++ {
		time.Sleep(100 * time.Millisecond)
	}
	if err := in.images().WaitContainerd(ctx, ctrPath, 20*time.Second); err != nil {
		b, _ := os.ReadFile(filepath.Join(d, "log"))
		t.Fatalf("%v\n%s", err, b)
	}
	src, err := in.Open(ctx, e.bundle)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	for _, im := range e.ix.Images {
		if err := in.images().Import(ctx, ctrPath, src.Index, im, src.bundle, hostPlatform, []string{"k8s.io", "default"}); err != nil {
			b, _ := os.ReadFile(filepath.Join(d, "log"))
			t.Fatalf("import %s: %v\ncontainerd log:\n%s", im.Ref, err, runner.LastLines(string(b), 20))
		}
	}
	for _, ns := range []string{"k8s.io", "default"} {
		got, err := in.images().List(ctx, ctrPath, ns)
		if err != nil {
			t.Fatal(err)
		}
		for _, im := range e.ix.Images {
			g, ok := got[im.Ref]
			if !ok || g.Digest != im.Digest || !g.Pinned {
				t.Errorf("namespace %s: %s: %+v (have %v)", ns, im.Ref, g, keys(got))
			}
		}
	}

	// docker load takes the same stream, through its manifest.json.
	dockerd := testenv.RequireBinary(t, "dockerd")
	dockerCLI := testenv.RequireBinary(t, "docker")
	dsock := filepath.Join(d, "d.sock")
	dcmd := exec.Command(dockerd, "--data-root", d+"/docker", "--exec-root", d+"/dexec", "--pidfile", d+"/docker.pid",
		"-H", "unix://"+dsock, "--containerd", sock, "--iptables=false", "--ip6tables=false", "--bridge=none")
	dlog, _ := os.Create(filepath.Join(d, "dockerd.log"))
	dcmd.Stdout, dcmd.Stderr = dlog, dlog
	if err := dcmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// SIGTERM lets dockerd unmount its data root; a leftover mount is
		// removed lazily so the temp dir can go.
		dcmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { dcmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			dcmd.Process.Kill()
			<-done
		}
		syscall.Unmount(d+"/docker", syscall.MNT_DETACH)
	})
	in = e.installer(WithRunner(runner.ExecRunner{}), WithContainerdSocket(sock), WithDockerSocket(dsock))
	deadline := time.Now().Add(30 * time.Second)
	for !in.images().DockerAnswers(ctx, dockerCLI) {
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(filepath.Join(d, "dockerd.log"))
			testenv.Skipf(t, "dockerd did not come up here (this is about docker, not satchel):\n%s", runner.LastLines(string(b), 10))
		}
		time.Sleep(300 * time.Millisecond)
	}
	for _, im := range e.ix.Images {
		if err := in.images().DockerLoad(ctx, dockerCLI, src.Index, im, src.bundle, hostPlatform); err != nil {
			t.Fatalf("%v", err)
		}
		cfg, err := images.ConfigDigest(e.ix, src.bundle, im, hostPlatform)
		if err != nil {
			t.Fatal(err)
		}
		id, err := in.images().DockerImageID(ctx, dockerCLI, im.Ref)
		if err != nil || id != string(cfg) {
			t.Errorf("docker image %s: id %q (%v), want %s", im.Ref, id, err, cfg)
		}
	}
	out, _ := exec.Command(dockerCLI, "-H", "unix://"+dsock, "images").CombinedOutput()
	if !strings.Contains(string(out), "registry.k8s.io/pause") {
		t.Errorf("docker images:\n%s", out)
	}
}
