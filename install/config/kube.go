package config

import (
	"bytes"
	"fmt"
	"slices"
	"strings"

	"sigs.k8s.io/yaml"
)

// runtimeClass is one RuntimeClass satchel renders.
type runtimeClass struct {
	name, handler string
	// overhead is the pod's fixed overhead (a kata pod runs a VM).
	overhead map[string]any
}

// runtimeClasses are the classes for each sandboxed runtime handler. The
// handler equals containerd's runtime name (what kubelet passes to CRI).
// gVisor's documentation names its class "gvisor" with handler runsc
// (g3doc/user_guide/containerd/quick_start.md L211-223 @release-20260817.0),
// so both names work; kata's overhead is kata-deploy's for QEMU
// (tools/packaging/kata-deploy/runtimeclasses/kata-qemu.yaml @3.7.0).
var runtimeClasses = map[string][]runtimeClass{
	Runsc: {{name: Runsc, handler: Runsc}, {name: "gvisor", handler: Runsc}},
	Kata:  {{name: Kata, handler: Kata, overhead: map[string]any{"podFixed": map[string]any{"memory": "160Mi", "cpu": "250m"}}}},
}

// RuntimeClasses renders Kubernetes RuntimeClass manifests (node.k8s.io/v1)
// for the installed sandboxed runtimes among Runsc and Kata, one YAML
// document each. Runc needs no class and is skipped. No runtimes: nil.
func RuntimeClasses(runtimes []string) ([]byte, error) {
	var docs [][]byte
	for _, h := range []string{Runsc, Kata} {
		if !slices.Contains(runtimes, h) {
			continue
		}
		for _, rc := range runtimeClasses[h] {
			m := map[string]any{
				"apiVersion": "node.k8s.io/v1",
				"kind":       "RuntimeClass",
				"metadata": map[string]any{
					"name":   rc.name,
					"labels": map[string]any{"app.kubernetes.io/managed-by": "satchel"},
				},
				"handler": rc.handler,
			}
			if rc.overhead != nil {
				m["overhead"] = rc.overhead
			}
			b, err := yaml.Marshal(m)
			if err != nil {
				return nil, err
			}
			docs = append(docs, b)
		}
	}
	for _, r := range runtimes {
		if r != Runc && r != Runsc && r != Kata {
			return nil, fmt.Errorf("runtimeclasses: unknown runtime %q", r)
		}
	}
	if len(docs) == 0 {
		return nil, nil
	}
	head := header("#", "Written by satchel-install: RuntimeClasses for the installed sandboxed runtimes.",
		"Apply with: kubectl apply -f "+string(RuntimeClassesPath))
	return append([]byte(head+"---\n"), bytes.Join(docs, []byte("---\n"))...), nil
}

// RuntimeClassNames are the RuntimeClasses RuntimeClasses renders for runtimes.
func RuntimeClassNames(runtimes []string) []string {
	var out []string
	for _, h := range []string{Runsc, Kata} {
		if slices.Contains(runtimes, h) {
			for _, rc := range runtimeClasses[h] {
				out = append(out, rc.name)
			}
		}
	}
	return out
}

// ProfileScript renders /etc/profile.d/satchel.sh: it puts each of dirs
// (default /usr/local/bin) on PATH when missing, so login shells find the
// installed tools (sudo's secure_path and some distributions' root PATH
// leave /usr/local/bin out).
func ProfileScript(dirs ...string) ([]byte, error) {
	if len(dirs) == 0 {
		dirs = []string{BinDir}
	}
	var b strings.Builder
	b.WriteString(header("#", "Written by satchel-install: the installed container tools on PATH.", ownedNote))
	for _, d := range dirs {
		if !strings.HasPrefix(d, "/") || strings.ContainsAny(d, ":'\"\\$` \n") {
			return nil, fmt.Errorf("profile.d: %q is not a plain absolute directory", d)
		}
		fmt.Fprintf(&b, "case \":${PATH}:\" in\n*:%s:*) ;;\n*) PATH=\"%s${PATH:+:${PATH}}\"; export PATH ;;\nesac\n", d, d)
	}
	return []byte(b.String()), nil
}
