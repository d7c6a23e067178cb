package config

import (
	"bytes"
	"fmt"
	"reflect"

	"sigs.k8s.io/yaml"
)

// CrictlOptions selects what /etc/crictl.yaml says.
type CrictlOptions struct {
	// Endpoint is containerd's socket; default ContainerdSocket.
	Endpoint string
	// Timeout in seconds, set when the file has none; default 10.
	Timeout int
}

// Crictl merges crictl's settings into /etc/crictl.yaml (cri-tools
// docs/crictl.md). runtime-endpoint and image-endpoint are set to containerd's
// socket; timeout and debug (false) are added only when missing, so a user's
// choice stays. Other keys are kept. existing nil or blank: none. Comments are
// not kept when the file changes (the engine keeps a backup); when nothing
// changes, existing is returned as it is. A user's endpoint that is
// replaced is named in a warning.
func Crictl(existing []byte, opts CrictlOptions) ([]byte, []string, error) {
	if opts.Endpoint == "" {
		opts.Endpoint = ContainerdSocket
	}
	if opts.Timeout == 0 {
		opts.Timeout = 10
	}
	doc := map[string]any{}
	if len(bytes.TrimSpace(existing)) > 0 {
		var v any
		if err := yaml.Unmarshal(existing, &v); err != nil {
			return nil, nil, hintf("fix the YAML, or move the file aside; satchel will not overwrite a file it cannot read",
				"parsing %s: %w", CrictlPath, err)
		}
		switch m := v.(type) {
		case map[string]any:
			doc = m
		case nil: // only comments
		default:
			return nil, nil, hintf("crictl.yaml must be a mapping of keys, e.g. runtime-endpoint: unix:///run/containerd/containerd.sock",
				"%s is a YAML %T, not a mapping", CrictlPath, v)
		}
	}
	orig := deepCopy(doc)
	ep := "unix://" + opts.Endpoint
	var warns []string
	for _, k := range []string{"runtime-endpoint", "image-endpoint"} {
		if old, ok := doc[k]; ok && old != ep {
			warns = append(warns, fmt.Sprintf("%s: %s was %v; satchel points it at the installed containerd (%s). Uninstall puts your value back.", CrictlPath, k, old, ep))
		}
		doc[k] = ep
	}
	if _, ok := doc["timeout"]; !ok {
		doc["timeout"] = opts.Timeout
	}
	if _, ok := doc["debug"]; !ok {
		doc["debug"] = false
	}
	out, err := yaml.Marshal(doc)
	if err != nil {
		return nil, nil, err
	}
	// Compare as decoded by the same parser: numbers in orig are float64.
	var again map[string]any
	if err := yaml.Unmarshal(out, &again); err != nil {
		return nil, nil, fmt.Errorf("crictl.yaml: internal error: %w", err)
	}
	if len(bytes.TrimSpace(existing)) > 0 && reflect.DeepEqual(again, orig) {
		return existing, nil, nil
	}
	return out, warns, nil
}
