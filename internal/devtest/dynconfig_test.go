package devtest

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"
)

// The dev servers of the tests and the benchmark run with
// deploy/dynamicconfig.yaml's values, as compose and make stack do.
func TestDynamicConfigValuesReadTheSharedFile(t *testing.T) {
	vals, err := DynamicConfigValues()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"matching.enableFairness=true",
		"matching.numTaskqueueReadPartitions=1",
		"matching.numTaskqueueWritePartitions=1",
	} {
		if !slices.Contains(vals, want) {
			t.Errorf("DynamicConfigValues() = %q, want it to hold %q", vals, want)
		}
	}
}

// `make run` passes the same values by hand: scripts/run.sh must hold each
// of the shared file's values, and no other.
func TestRunScriptHasTheSharedDynamicConfig(t *testing.T) {
	vals, err := DynamicConfigValues()
	if err != nil {
		t.Fatal(err)
	}
	root, err := Root()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, "scripts", "run.sh"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range regexp.MustCompile(`--dynamic-config-value (\S+)`).FindAllStringSubmatch(string(b), -1) {
		got = append(got, m[1])
	}
	slices.Sort(got)
	if !slices.Equal(got, vals) {
		t.Errorf("scripts/run.sh passes --dynamic-config-value %q, want %q (%s)", got, vals, DynamicConfigFile)
	}
}
