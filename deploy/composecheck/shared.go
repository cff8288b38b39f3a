package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/compose-spec/compose-go/v2/dotenv"
	"github.com/compose-spec/compose-go/v2/types"
)

// checkShared checks that compose runs what `make stack` tests: the same
// environment lists, the same server config template and dynamic config,
// and the images of the versions tools/go.mod builds.
func checkShared(p *types.Project) error {
	root := p.WorkingDir
	temporalEnv, err := dotenv.Read(filepath.Join(root, "deploy", "temporal.env"))
	if err != nil {
		return err
	}
	workerEnv, err := dotenv.Read(filepath.Join(root, "deploy", "worker.env"))
	if err != nil {
		return err
	}
	server, ui, err := toolVersions(filepath.Join(root, "tools", "go.mod"))
	if err != nil {
		return err
	}
	var errs []string
	fail := func(format string, a ...any) { errs = append(errs, fmt.Sprintf(format, a...)) }
	svc := func(name string) (types.ServiceConfig, bool) {
		s, err := p.GetService(name)
		if err != nil {
			fail("service %s is missing", name)
			return s, false
		}
		return s, true
	}
	hasEnv := func(s types.ServiceConfig, want map[string]string, list string) {
		for _, k := range sortedKeys(want) {
			got := s.Environment[k]
			if got == nil || *got != want[k] {
				fail("service %s: %s is %s, want %q as in %s", s.Name, k, show(got), want[k], list)
			}
		}
	}

	if s, ok := svc("temporal"); ok {
		hasEnv(s, temporalEnv, "deploy/temporal.env")
		if want := "temporalio/server:" + server; s.Image != want {
			fail("service temporal: image %s, want %s (tools/go.mod builds server %s for make stack)", s.Image, want, server)
		}
		cmd := strings.Join(append(append([]string{}, s.Entrypoint...), s.Command...), " ")
		if !strings.Contains(cmd, "--env hari") || !strings.Contains(cmd, "--config config-hari") {
			fail("service temporal: runs %q, want temporal-server --config config-hari --env hari (deploy/temporal/hari.yaml, as make stack)", cmd)
		}
		mounts(s, fail, map[string]string{
			filepath.Join(root, "deploy", "temporal"):           "/etc/temporal/config-hari",
			filepath.Join(root, "deploy", "dynamicconfig.yaml"): temporalEnv["DYNAMIC_CONFIG_FILE_PATH"],
		})
	}
	for _, name := range []string{"temporal-admin-tools", "temporal-create-namespace"} {
		if s, ok := svc(name); ok {
			hasEnv(s, temporalEnv, "deploy/temporal.env")
			if !strings.HasPrefix(s.Image, "temporalio/admin-tools:"+server) {
				fail("service %s: image %s, want temporalio/admin-tools:%s...", name, s.Image, server)
			}
			mounts(s, fail, map[string]string{filepath.Join(root, "deploy"): "/hari/deploy"})
		}
	}
	if s, ok := svc("temporal-ui"); ok {
		if want := "temporalio/ui:" + ui; s.Image != want {
			fail("service temporal-ui: image %s, want %s (tools/go.mod builds ui-server %s for make stack)", s.Image, want, ui)
		}
	}
	for _, name := range []string{"worker", "worker-2"} {
		if s, ok := svc(name); ok {
			hasEnv(s, workerEnv, "deploy/worker.env")
			if s.Environment["HARI_REDIS_ADDR"] == nil {
				fail("service %s: no HARI_REDIS_ADDR: two workers must share the limit through Redis", name)
			}
		}
	}
	for _, s := range p.Services {
		if strings.HasPrefix(s.Image, "temporalio/auto-setup") {
			fail("service %s uses %s, which Temporal no longer builds", s.Name, s.Image)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "\n"))
	}
	return nil
}

func mounts(s types.ServiceConfig, fail func(string, ...any), want map[string]string) {
	for _, src := range sortedKeys(want) {
		if !slices.ContainsFunc(s.Volumes, func(v types.ServiceVolumeConfig) bool {
			return v.Type == types.VolumeTypeBind && v.Source == src && v.Target == want[src]
		}) {
			fail("service %s: no bind mount of %s at %s", s.Name, src, want[src])
		}
	}
}

// toolVersions reads the server and UI versions tools/go.mod pins.
func toolVersions(path string) (server, ui string, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", "", err
	}
	find := func(mod string) string {
		m := regexp.MustCompile(`(?m)^\s*` + regexp.QuoteMeta(mod) + `\s+v(\S+)`).FindSubmatch(b)
		if m == nil {
			return ""
		}
		return string(m[1])
	}
	server, ui = find("go.temporal.io/server"), find("github.com/temporalio/ui-server/v2")
	if server == "" || ui == "" {
		return "", "", fmt.Errorf("%s: server or ui-server version not found", path)
	}
	return server, ui, nil
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func show(v *string) string {
	if v == nil {
		return "unset"
	}
	return fmt.Sprintf("%q", *v)
}
