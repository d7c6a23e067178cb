package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
)

// DockerOptions selects what daemon.json says.
type DockerOptions struct {
	// Runtimes lists the installed runtimes Docker should offer besides its
	// built-in runc: Runsc and/or Kata (Runc is accepted and ignored).
	Runtimes []string
	// RunscPath is runsc's binary; default /usr/local/bin/runsc.
	RunscPath string
	// DefaultRuntime becomes default-runtime ("runc", "runsc", "kata"); ""
	// leaves what the file says.
	DefaultRuntime string
	// RegistryMirrors become registry-mirrors where Docker can use them
	// (see DaemonJSON) and insecure-registries for plain-HTTP ones.
	RegistryMirrors []RegistryMirror
}

// DaemonJSON merges satchel's runtimes into daemon.json. existing is the
// current file (nil or blank: none). Every existing key and value is kept,
// including keys satchel does not know, except where they would stop dockerd
// from starting (reported in the warnings):
//
//   - runtimes.runsc gets "path" (a runc-compatible binary, as `runsc install`
//     writes) and loses "runtimeType"/"options", which dockerd refuses next to a path;
//   - runtimes.kata gets "runtimeType": "io.containerd.kata.v2" and loses
//     "path" and "runtimeArgs": kata 2.x/3.x has no OCI CLI, so the path form
//     fails with `Invalid command "create"`;
//   - registry mirrors: Docker mirrors only Docker Hub, and puts a mirror's
//     path in front of /v2/ rather than after it (moby
//     daemon/pkg/registry/service_v2.go uses mirrors for docker.io only;
//     distribution v2.8 registry/api/v2/urls.go resolves /v2/... against
//     the mirror URL; Docker docs "Mirror the Docker Hub library": "Only the
//     central Hub can be mirrored"). So a docker.io (or _default) mirror
//     without a path goes into registry-mirrors, ahead of any the file
//     lists; any other is explained in a warning (Docker still pulls from
//     the mirror by the images' pushed names, with the CA in
//     /etc/docker/certs.d). A plain-HTTP (or skip_verify) mirror's host goes
//     into insecure-registries, which nothing else adds;
//   - a "containerd" key equal to the socket docker.service passes with
//     --containerd is removed (dockerd refuses a directive given both as a flag
//     and in the file); a different socket is an error.
//
// The output is indented with 4 spaces, as `runsc install` writes it. When
// nothing changes, existing is returned as it is. Invalid JSON is an error:
// the file is never overwritten with something that lost its settings.
func DaemonJSON(existing []byte, opts DockerOptions) ([]byte, []string, error) {
	if opts.RunscPath == "" {
		opts.RunscPath = BinDir + "/runsc"
	}
	for _, r := range opts.Runtimes {
		if r != Runc && r != Runsc && r != Kata {
			return nil, nil, fmt.Errorf("daemon.json: unknown runtime %q (want %s or %s)", r, Runsc, Kata)
		}
	}
	if d := opts.DefaultRuntime; d != "" && d != Runc && !slices.Contains(opts.Runtimes, d) {
		return nil, nil, hintf("pick runc or one of the installed runtimes", "default runtime %q is not installed for Docker", d)
	}

	doc := map[string]any{}
	if len(bytes.TrimSpace(existing)) > 0 {
		dec := json.NewDecoder(bytes.NewReader(existing))
		dec.UseNumber() // keep numbers exactly as written
		var v any
		err := dec.Decode(&v)
		if err == nil && dec.More() {
			err = fmt.Errorf("data after the JSON object")
		}
		if err != nil {
			return nil, nil, hintf("fix the JSON (check it with `python3 -m json.tool "+string(DaemonJSONPath)+"`), or move the file aside; satchel never overwrites a daemon.json it cannot read",
				"parsing %s: %w", DaemonJSONPath, err)
		}
		m, ok := v.(map[string]any)
		if !ok {
			return nil, nil, hintf("daemon.json must hold one JSON object { ... }", "%s is a JSON %T, not an object", DaemonJSONPath, v)
		}
		doc = m
	}
	orig := deepCopy(doc)
	var warnings []string
	warn := func(format string, args ...any) { warnings = append(warnings, fmt.Sprintf(format, args...)) }

	if c, ok := doc["containerd"]; ok {
		if c != ContainerdSocket {
			return nil, nil, hintf(fmt.Sprintf("remove \"containerd\" from %s: satchel's docker.service passes --containerd=%s, and dockerd refuses a setting given both ways", DaemonJSONPath, ContainerdSocket),
				"%s sets \"containerd\": %v, but docker.service uses the bundled containerd at %s", DaemonJSONPath, c, ContainerdSocket)
		}
		delete(doc, "containerd")
		warn("removed \"containerd\" from %s: docker.service passes the same socket with --containerd, and dockerd refuses a setting given both ways", DaemonJSONPath)
	}

	if slices.Contains(opts.Runtimes, Runsc) || slices.Contains(opts.Runtimes, Kata) {
		rts := map[string]any{}
		if v, ok := doc["runtimes"]; ok {
			if rts, ok = v.(map[string]any); !ok {
				return nil, nil, hintf(`write it as an object, e.g. "runtimes": {}`, "%s: runtimes is a JSON %T, not an object", DaemonJSONPath, v)
			}
		}
		doc["runtimes"] = rts
		rt := func(name string) (map[string]any, error) {
			v, ok := rts[name]
			if !ok {
				m := map[string]any{}
				rts[name] = m
				return m, nil
			}
			m, ok := v.(map[string]any)
			if !ok {
				return nil, hintf("write it as an object", "%s: runtimes.%s is a JSON %T, not an object", DaemonJSONPath, name, v)
			}
			return m, nil
		}
		drop := func(m map[string]any, name string, keys ...string) {
			for _, k := range keys {
				if _, ok := m[k]; ok {
					delete(m, k)
					warn("removed runtimes.%s.%s from %s: dockerd refuses it next to the form satchel configures", name, k, DaemonJSONPath)
				}
			}
		}
		if slices.Contains(opts.Runtimes, Runsc) {
			m, err := rt(Runsc)
			if err != nil {
				return nil, nil, err
			}
			m["path"] = opts.RunscPath
			drop(m, Runsc, "runtimeType", "options")
		}
		if slices.Contains(opts.Runtimes, Kata) {
			m, err := rt(Kata)
			if err != nil {
				return nil, nil, err
			}
			m["runtimeType"] = KataRuntimeType
			drop(m, Kata, "path", "runtimeArgs")
		}
	}
	if err := dockerMirrors(doc, opts.RegistryMirrors, warn); err != nil {
		return nil, nil, err
	}
	if opts.DefaultRuntime != "" {
		doc["default-runtime"] = opts.DefaultRuntime
	}

	if reflect.DeepEqual(doc, orig) && len(bytes.TrimSpace(existing)) > 0 {
		return existing, warnings, nil
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "    ")
	if err := enc.Encode(doc); err != nil {
		return nil, nil, err
	}
	return buf.Bytes(), warnings, nil
}

// dockerMirrors merges the registry mirrors Docker can use into
// registry-mirrors, and plain-HTTP mirror hosts into insecure-registries.
func dockerMirrors(doc map[string]any, mirrors []RegistryMirror, warn func(string, ...any)) error {
	if len(mirrors) == 0 {
		return nil
	}
	hasHub := slices.ContainsFunc(mirrors, func(m RegistryMirror) bool { return m.Registry == "docker.io" })
	var hub, insecure []string
	for _, m := range mirrors {
		scheme, host, err := m.URL()
		if err != nil {
			return err
		}
		name := m.Endpoint
		if _, after, ok := strings.Cut(name, "://"); ok {
			name = after
		}
		name = strings.TrimSuffix(name, "/")
		switch {
		case m.Registry != "docker.io" && (m.Registry != "_default" || hasHub):
			warn("Docker mirrors only Docker Hub (%s registry-mirrors): for images of %s it does not use %s; pull them there by their names on the mirror (%s/<repository>:<tag>); containerd, crictl and nerdctl use the mirror",
				DaemonJSONPath, m.Registry, m.Endpoint, name)
		case m.HasPath():
			warn("Docker cannot use registry mirror %s for %s: registry-mirrors put a mirror's path in front of /v2/, the mirror serves it after; pull Docker Hub images there by their names on the mirror (%s/<repository>:<tag>); containerd, crictl and nerdctl use the mirror",
				m.Endpoint, m.Registry, name)
		default:
			hub = append(hub, scheme+"://"+host)
		}
		if scheme == "http" || m.SkipVerify {
			insecure = append(insecure, host)
		}
	}
	if err := mergeList(doc, "registry-mirrors", hub); err != nil {
		return err
	}
	return mergeList(doc, "insecure-registries", insecure)
}

// mergeList puts ours first in a list of strings, then the file's other
// entries in their order (a trailing slash does not make an entry differ).
func mergeList(doc map[string]any, key string, ours []string) error {
	if len(ours) == 0 {
		return nil
	}
	norm := func(s string) string { return strings.TrimSuffix(s, "/") }
	var out []any
	seen := map[string]bool{}
	for _, s := range ours {
		if !seen[norm(s)] {
			seen[norm(s)] = true
			out = append(out, s)
		}
	}
	if v, ok := doc[key]; ok {
		list, ok := v.([]any)
		if !ok {
			return hintf(`write it as a list of strings, e.g. "`+key+`": []`, "%s: %s is a JSON %T, not a list", DaemonJSONPath, key, v)
		}
		for _, e := range list {
			s, ok := e.(string)
			if !ok {
				return hintf(`write it as a list of strings`, "%s: %s holds a JSON %T, not a string", DaemonJSONPath, key, e)
			}
			if !seen[norm(s)] {
				seen[norm(s)] = true
				out = append(out, s)
			}
		}
	}
	doc[key] = out
	return nil
}
