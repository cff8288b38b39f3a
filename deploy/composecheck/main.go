// Command composecheck validates docker-compose.yml without a container
// engine (none runs on the machines this project is built and tested on):
// it loads the file with compose-spec/compose-go, the loader Docker
// Compose itself uses, which checks it against the Compose specification's
// schema, resolves env_file, interpolation and anchors, and checks
// references between services. It then checks what `make stack` relies on
// compose sharing with it. Its own module keeps compose-go out of the
// service's and the tools' dependency graphs. Run by CI:
//
//	cd deploy/composecheck && go run . ../../docker-compose.yml
package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/compose-spec/compose-go/v2/cli"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: composecheck path/to/docker-compose.yml")
		os.Exit(2)
	}
	if err := check(context.Background(), os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "composecheck:", err)
		os.Exit(1)
	}
	fmt.Println("composecheck: ok")
}

func check(ctx context.Context, path string) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return err
	}
	return checkIn(ctx, abs, filepath.Dir(abs))
}

// checkIn loads the compose file at abs with dir as the project folder
// (where ./deploy and tools/go.mod are).
func checkIn(ctx context.Context, abs, dir string) error {
	// The secrets compose requires from .env (`${VAR:?...}`): given dummy
	// values here, as a user's .env would.
	env := []string{
		"HARI_CODEC_KEYS=k1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
		"HARI_API_KEYS=a1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
		"HARI_CODEC_TOKEN=token",
	}
	opts, err := cli.NewProjectOptions([]string{abs},
		cli.WithWorkingDirectory(dir),
		cli.WithEnv(env),
		cli.WithName("hari"),
	)
	if err != nil {
		return err
	}
	p, err := opts.LoadProject(ctx)
	if err != nil {
		return err
	}
	return checkShared(p)
}
