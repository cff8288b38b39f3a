package devtest

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"

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
