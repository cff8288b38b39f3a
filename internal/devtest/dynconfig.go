package devtest

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/hari-crm/webhooks/service"
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
// DynamicConfigFile and its --search-attribute flags for our search
// attributes (created with its namespace), followed by extra.
func devServerArgs(extra []string) ([]string, error) {
	vals, err := DynamicConfigValues()
	if err != nil {
		return nil, err
	}
	attrs := service.CLISearchAttributes()
	args := make([]string, 0, 2*len(vals)+2*len(attrs)+len(extra))
	for _, v := range vals {
		args = append(args, "--dynamic-config-value", v)
	}
	for _, a := range attrs {
		args = append(args, "--search-attribute", a)
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
// ServerGCEnv in its environment (testsuite.StartDevServer starts the CLI
// with the caller's environment, which must not change for the caller's
// other children), and a cleanup that removes it. The executable is a
// two-line script that execs the CLI, so the server keeps its process. It
// is written to a fresh private folder (os.MkdirTemp: mode 0700, a random
// name, so no other local user can plant or swap it), and the caller
// removes it once the server is up: by then the script has exec'd the CLI
// and is not read again.
func gcLauncher(cli string) (exe string, cleanup func(), err error) {
	env, err := ServerGCEnv()
	if err != nil {
		return "", nil, err
	}
	if len(env) == 0 {
		return cli, func() {}, nil
	}
	dir, err := os.MkdirTemp("", "hari-temporal-")
	if err != nil {
		return "", nil, err
	}
	cleanup = func() { _ = os.RemoveAll(dir) }
	script := fmt.Sprintf("#!/bin/sh\nexec env %s '%s' \"$@\"\n", strings.Join(env, " "), strings.ReplaceAll(cli, "'", `'\''`))
	path := filepath.Join(dir, "temporal.sh")
	if err := os.WriteFile(path, []byte(script), 0o700); err != nil {
		cleanup()
		return "", nil, err
	}
	return path, cleanup, nil
}
