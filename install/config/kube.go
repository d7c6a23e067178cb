package config

import (
	"bytes"
	"fmt"
	"slices"
	"strings"

	"sigs.k8s.io/yaml"
)

// RuntimeClasses renders Kubernetes RuntimeClass manifests (node.k8s.io/v1)
// for the installed sandboxed runtimes among Runsc and Kata, one YAML document
// each. The class name equals the handler, which equals containerd's runtime
// name (what kubelet passes to CRI). Runc needs no class and is skipped.
// No runtimes: nil.
func RuntimeClasses(runtimes []string) ([]byte, error) {
	var docs [][]byte
	for _, h := range []string{Runsc, Kata} {
		if !slices.Contains(runtimes, h) {
			continue
		}
		b, err := yaml.Marshal(map[string]any{
			"apiVersion": "node.k8s.io/v1",
			"kind":       "RuntimeClass",
			"metadata": map[string]any{
				"name":   h,
				"labels": map[string]any{"app.kubernetes.io/managed-by": "satchel"},
			},
			"handler": h,
		})
		if err != nil {
			return nil, err
		}
		docs = append(docs, b)
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
			out = append(out, h)
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
