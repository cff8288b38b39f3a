package devtest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
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
		"system.forceSearchAttributesCacheRefreshOnRead=false",
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

// A dev server started here runs with deploy/temporal.env's GOGC and
// GOMEMLIMIT, and the caller's own environment stays as it was.
func TestDevServerRunsWithTheServersGCSettings(t *testing.T) {
	want, err := ServerGCEnv()
	if err != nil {
		t.Fatal(err)
	}
	if len(want) != 2 {
		t.Fatalf("ServerGCEnv() = %q, want GOGC and GOMEMLIMIT from %s", want, ServerEnvFile)
	}
	before := os.Environ()
	s := StartServer(t)
	pid := serverPID(t, s.HostPort)
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Split(string(b), "\x00")
	for _, kv := range want {
		if !slices.Contains(got, kv) {
			t.Errorf("dev server (pid %d) environment lacks %s", pid, kv)
		}
	}
	if after := os.Environ(); !slices.Equal(after, before) {
		t.Errorf("the test process's environment changed: got %q, want %q", after, before)
	}
}

// serverPID is the dev server's process listening on hostPort.
func serverPID(t *testing.T, hostPort string) int {
	t.Helper()
	_, port, _ := strings.Cut(hostPort, ":")
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		cmd, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || !strings.Contains(string(cmd), "\x00start-dev\x00") || !strings.Contains(string(cmd), "\x00--port\x00"+port+"\x00") {
			continue
		}
		if strings.HasPrefix(string(cmd), "/bin/sh") || strings.HasPrefix(string(cmd), "sh\x00") {
			continue
		}
		pid, err := strconv.Atoi(e.Name())
		if err == nil {
			return pid
		}
	}
	t.Fatalf("no dev server process for %s", hostPort)
	return 0
}

// The launcher that gives the dev server its GC settings lives in a
// private folder of its own (no other local user can plant or swap it),
// and nothing of it is left in the temp folder once the server is up.
func TestDevServerLeavesNoLauncherInTemp(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp) // os.TempDir, so only this test's launchers land here

	exe, cleanup, err := gcLauncher("/bin/true")
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Dir(exe)
	if filepath.Dir(dir) != tmp {
		t.Fatalf("launcher %s: got folder %s, want a fresh folder under %s", exe, dir, tmp)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != 0o700 {
		t.Errorf("launcher folder %s: got mode %o, want 700", dir, got)
	}
	cleanup()
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("launcher folder %s after cleanup: got err %v, want it gone", dir, err)
	}

	StartServer(t)
	ents, err := os.ReadDir(tmp)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "hari-temporal") {
			t.Errorf("%s holds %s after the dev server started, want no launcher left", tmp, e.Name())
		}
	}
}

// A dev server started here has every search attribute the workflows set
// from the moment it answers: a workflow started at once with all of them
// is accepted. They are created with its namespace (--search-attribute);
// added afterwards, with the search-attribute cache on
// (deploy/dynamicconfig.yaml), the server would refuse them until its
// caches refresh, and the first publishes after a start would fail.
func TestDevServerKnowsOurSearchAttributesAtOnce(t *testing.T) {
	s := StartServer(t)
	c := s.Client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := StartWithEverySearchAttribute(ctx, c); err != nil {
		t.Fatalf("start a workflow with every search attribute right after the server started: %v", err)
	}
}
