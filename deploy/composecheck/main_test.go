package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The repository's docker-compose.yml passes; each way of drifting from
// what make stack runs is caught with a message naming the service.
func TestCompose(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	real, err := os.ReadFile(filepath.Join(root, "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		old, new string
		wantErr  string
	}{
		{name: "as committed"},
		{name: "deprecated image", old: "image: temporalio/server:1.29.1", new: "image: temporalio/auto-setup:1.29.1", wantErr: "service temporal uses temporalio/auto-setup:1.29.1, which Temporal no longer builds"},
		{name: "other server version", old: "image: temporalio/server:1.29.1", new: "image: temporalio/server:1.30.1", wantErr: "service temporal: image temporalio/server:1.30.1, want temporalio/server:1.29.1"},
		{name: "environment overridden", old: "      BIND_ON_IP: 0.0.0.0\n", new: "      BIND_ON_IP: 0.0.0.0\n      NUM_HISTORY_SHARDS: \"512\"\n", wantErr: `service temporal: NUM_HISTORY_SHARDS is "512", want "4" as in deploy/temporal.env`},
		{name: "image's own config", old: "--config config-hari --env hari", new: "--env docker", wantErr: "want temporal-server --config config-hari --env hari"},
		{name: "other dynamic config", old: "./deploy/dynamicconfig.yaml:", new: "./deploy/other.yaml:", wantErr: "no bind mount of " + filepath.Join(root, "deploy", "dynamicconfig.yaml")},
		{name: "not compose", old: "services:\n", new: "services:\n  bad: [1]\n", wantErr: "services.bad"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := string(real)
			if tt.old != "" {
				if !strings.Contains(body, tt.old) {
					t.Fatalf("docker-compose.yml no longer contains %q: update the test", tt.old)
				}
				body = strings.Replace(body, tt.old, tt.new, 1)
			}
			f := filepath.Join(t.TempDir(), "docker-compose.yml")
			if err := os.WriteFile(f, []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
			err := checkIn(context.Background(), f, root)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("got error %v, want none", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("got error %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}
