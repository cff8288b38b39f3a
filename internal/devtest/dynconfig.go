package devtest

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// DynamicConfigFile is the dynamic config every server of this repository
// runs with, relative to the module root (docker-compose.yml and
// `make stack` read the file itself; dev servers get its values as flags).
const DynamicConfigFile = "deploy/dynamicconfig.yaml"

// DynamicConfigValues reads DynamicConfigFile as the dev server's
// --dynamic-config-value arguments, KEY=JSON, sorted by key. Only plain
// values are supported (one entry per key, no constraints): the dev server
// has no way to take the others.
func DynamicConfigValues() ([]string, error) {
	root, err := Root()
	if err != nil {
		return nil, err
	}
	path := filepath.Join(root, DynamicConfigFile)
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var doc map[string][]map[string]any
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	keys := make([]string, 0, len(doc))
	for k := range doc {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	vals := make([]string, 0, len(keys))
	for _, k := range keys {
		entries := doc[k]
		if len(entries) != 1 || len(entries[0]) != 1 {
			return nil, fmt.Errorf("%s: %s: want one entry with only a value (a dev server takes no constraints), got %v", path, k, entries)
		}
		v, ok := entries[0]["value"]
		if !ok {
			return nil, fmt.Errorf("%s: %s: the entry has no value", path, k)
		}
		j, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", path, k, err)
		}
		vals = append(vals, k+"="+string(j))
	}
	return vals, nil
}

// devServerArgs is the dev server's --dynamic-config-value flags for
// DynamicConfigFile, followed by extra.
func devServerArgs(extra []string) ([]string, error) {
	vals, err := DynamicConfigValues()
	if err != nil {
		return nil, err
	}
	args := make([]string, 0, 2*len(vals)+len(extra))
	for _, v := range vals {
		args = append(args, "--dynamic-config-value", v)
	}
	return append(args, extra...), nil
}

// ServerEnvFile holds, among the server's environment, the Go runtime's
// GOGC and GOMEMLIMIT that every Temporal server here runs with.
const ServerEnvFile = "deploy/temporal.env"

// ServerGCEnv is GOGC and GOMEMLIMIT of ServerEnvFile, as NAME=VALUE.
func ServerGCEnv() ([]string, error) {
	root, err := Root()
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(filepath.Join(root, ServerEnvFile))
	if err != nil {
		return nil, err
	}
	var env []string
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), "="); ok && (k == "GOGC" || k == "GOMEMLIMIT") {
			if v == "" || strings.ContainsAny(v, " '\"$`\\") {
				return nil, fmt.Errorf("%s: %s=%q: want a plain value", ServerEnvFile, k, v)
			}
			env = append(env, k+"="+v)
		}
	}
	return env, nil
}

// gcLauncher returns an executable that runs the Temporal CLI at cli with
// ServerGCEnv in its environment (a dev server is started with the
// caller's environment, which must not change for the caller's other
// children): a two-line script that execs the CLI, so the server keeps
// its process. It is written once per content under the temp folder.
func gcLauncher(cli string) (string, error) {
	env, err := ServerGCEnv()
	if err != nil {
		return "", err
	}
	if len(env) == 0 {
		return cli, nil
	}
	script := fmt.Sprintf("#!/bin/sh\nexec env %s '%s' \"$@\"\n", strings.Join(env, " "), strings.ReplaceAll(cli, "'", `'\''`))
	sum := sha256.Sum256([]byte(script))
	path := filepath.Join(os.TempDir(), fmt.Sprintf("hari-temporal-%x.sh", sum[:8]))
	if b, err := os.ReadFile(path); err == nil && string(b) == script {
		return path, nil
	}
	tmp, err := os.CreateTemp(os.TempDir(), "hari-temporal-*.sh")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(script); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Chmod(0o755); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Close(); err != nil {
		return "", err
	}
	return path, os.Rename(tmp.Name(), path)
}
