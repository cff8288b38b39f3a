package devtest

import (
	"bufio"
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hari-crm/webhooks/codec"
)

// StackEnv is the variable that points the integration suite at the
// production shape: HARI_STACK=1 starts `make stack` (scripts/stack.sh) on
// free ports in a fresh folder, and the tests then use its Temporal server
// (on PostgreSQL) and its two worker processes instead of a dev server and
// an in-process worker.
const StackEnv = "HARI_STACK"

// StackWanted reports whether the suite runs against the stack.
func StackWanted() bool { return os.Getenv(StackEnv) == "1" }

// Stack is a running scripts/stack.sh.
type Stack struct {
	Dir string
	// Env is what the stack wrote to stack.env: its addresses and files.
	Env    map[string]string
	Server *Server
	cmd    *exec.Cmd
	log    *os.File
}

// StartStack starts scripts/stack.sh in a new folder under .data/ and waits
// until every part answers. The workers trust the certificate that every
// httptest TLS server presents, reach 127.0.0.1 and take direct targets, as
// the in-process worker of the dev server's runs does.
func StartStack(ctx context.Context) (*Stack, error) {
	return StartStackWith(ctx, StackOptions{})
}

// StackOptions changes what StartStackWith starts.
type StackOptions struct {
	// ServerOnly starts PostgreSQL and the Temporal server only, for a
	// caller that runs its own workers and Redis (the benchmark).
	ServerOnly bool
	// Prefix names the stack's folder under .data/ (default "stack-test-").
	Prefix string
	// Env is added to the script's environment (NAME=VALUE).
	Env []string
}

// StartStackWith is StartStack with options.
func StartStackWith(ctx context.Context, opts StackOptions) (*Stack, error) {
	root, err := Root()
	if err != nil {
		return nil, err
	}
	for _, b := range []string{"temporal", "temporal-server", "temporal-sql-tool", "temporal-ui-server"} {
		if _, err := os.Stat(filepath.Join(root, "bin", b)); err != nil {
			return nil, fmt.Errorf("bin/%s is missing: run `make stack-bins` (make stack-test does)", b)
		}
	}
	if err := os.MkdirAll(filepath.Join(root, ".data"), 0o755); err != nil {
		return nil, err
	}
	prefix := opts.Prefix
	if prefix == "" {
		prefix = "stack-test-"
	}
	dir, err := os.MkdirTemp(filepath.Join(root, ".data"), prefix)
	if err != nil {
		return nil, err
	}
	// PostgreSQL runs as the postgres user when we are root: it must be
	// able to reach its folder.
	if err := os.Chmod(dir, 0o755); err != nil {
		return nil, err
	}
	probe := httptest.NewTLSServer(nil)
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: probe.Certificate().Raw})
	probe.Close()
	caFile := filepath.Join(dir, "httptest.pem")
	if err := os.WriteFile(caFile, certPEM, 0o644); err != nil {
		return nil, err
	}
	log, err := os.Create(filepath.Join(dir, "stack.out"))
	if err != nil {
		return nil, err
	}
	// The script starts with SIGHUP and SIGINT at their defaults, as in a
	// terminal, whatever this process inherited: under nohup (or as a
	// background job of a shell) they arrive ignored, a shell cannot trap
	// a signal it was started with ignored, and the tests that close the
	// stack's "terminal" or press Ctrl-C would find it deaf.
	cmd := exec.Command("env", "--default-signal=HUP,INT", filepath.Join(root, "scripts", "stack.sh"))
	cmd.Dir = root
	cmd.Env = append(os.Environ(),
		"STACK_DIR="+dir,
		"STACK_FREE_PORTS=1",
		"STACK_WATCH_PID="+strconv.Itoa(os.Getpid()),
		"SSL_CERT_FILE="+caFile,
		"HARI_ALLOW_CIDRS=127.0.0.1/32",
		"HARI_ALLOW_DIRECT_TARGETS=1",
	)
	if opts.ServerOnly {
		cmd.Env = append(cmd.Env, "STACK_SERVER_ONLY=1")
	}
	cmd.Env = append(cmd.Env, opts.Env...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		log.Close()
		return nil, err
	}
	s := &Stack{Dir: dir, cmd: cmd, log: log}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	envFile := filepath.Join(dir, "stack.env")
	for {
		if _, err := os.Stat(envFile); err == nil {
			break
		}
		select {
		case err := <-exited:
			out, _ := os.ReadFile(log.Name())
			log.Close()
			return nil, fmt.Errorf("scripts/stack.sh ended before the stack was up (%v):\n%s", err, tail(out, 40))
		case <-ctx.Done():
			s.Stop()
			out, _ := os.ReadFile(log.Name())
			return nil, fmt.Errorf("stack not up: %w\n%s", ctx.Err(), tail(out, 40))
		case <-time.After(250 * time.Millisecond):
		}
	}
	go func() { <-exited }() // reaped again by Stop's Wait: keep one waiter
	if s.Env, err = readEnv(envFile); err != nil {
		s.Stop()
		return nil, err
	}
	spec, err := os.ReadFile(s.Env["HARI_CODEC_KEYS_FILE"])
	if err != nil {
		s.Stop()
		return nil, err
	}
	keySpec := strings.TrimSpace(string(spec))
	keys, err := codec.ParseKeys(keySpec)
	if err != nil {
		s.Stop()
		return nil, err
	}
	s.Server = &Server{HostPort: s.Env["TEMPORAL_ADDRESS"], Keys: keys, KeySpec: keySpec}
	return s, nil
}

// Stop stops the stack as Ctrl-C does (every part in order, PostgreSQL
// last), waits for it and removes its folder. It sends SIGTERM to the
// script, which a script started with SIGINT ignored (by nohup, or as a
// background job of another script) still takes. A stack that has not
// stopped within a minute is killed part by part (each part runs in a
// session of its own, outside the script's process group) before its
// folder is removed.
func (s *Stack) Stop() {
	_ = syscall.Kill(s.cmd.Process.Pid, syscall.SIGTERM)
	s.WaitExited(60 * time.Second)
	// Whatever still runs (a script that did not stop, or parts it left)
	// goes before the folder does.
	s.kill()
	s.log.Close()
	if os.Getenv("HARI_STACK_KEEP") == "" {
		// A cluster kept outside the folder (the postgres user could not
		// reach it: scripts/stack.sh, pgdata.path) goes too.
		if pg := s.Env["PGDATA"]; pg != "" && !strings.HasPrefix(pg, s.Dir+string(filepath.Separator)) {
			_ = os.RemoveAll(filepath.Dir(pg))
		}
		_ = os.RemoveAll(s.Dir)
	}
}

// Signal sends sig to the script's process group, as a terminal does on
// Ctrl-C (SIGINT) or when it closes (SIGHUP).
func (s *Stack) Signal(sig syscall.Signal) error { return syscall.Kill(-s.cmd.Process.Pid, sig) }

// WaitExited waits until the script has exited.
func (s *Stack) WaitExited(timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if syscall.Kill(s.cmd.Process.Pid, 0) != nil {
			return true
		}
		time.Sleep(100 * time.Millisecond)
	}
	return false
}

// kill ends whatever of the stack still runs: the script's group, every
// part, and PostgreSQL at once.
func (s *Stack) kill() {
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	for _, name := range []string{"worker1", "worker2", "ui", "temporal", "redis"} {
		if pid, err := s.PID(name); err == nil {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	if s.Env["PGDATA"] == "" {
		return
	}
	if _, err := os.Stat(filepath.Join(s.Env["PGDATA"], "postmaster.pid")); err != nil {
		return // PostgreSQL has stopped
	}
	args := []string{filepath.Join(s.Env["PG_BIN"], "pg_ctl"), "-D", s.Env["PGDATA"], "stop", "-m", "immediate"}
	if os.Getuid() == 0 {
		args = append([]string{"runuser", "-u", "postgres", "--"}, args...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_ = exec.CommandContext(ctx, args[0], args[1:]...).Run()
}

// ProcessGroup is the process group of scripts/stack.sh, the group a
// Ctrl-C in its terminal would signal.
func (s *Stack) ProcessGroup() int { return s.cmd.Process.Pid }

// PID is the process ID of a supervised part: worker1, worker2, temporal,
// redis or ui.
func (s *Stack) PID(name string) (int, error) {
	b, err := os.ReadFile(filepath.Join(s.Env["RUN_DIR"], name+".pid"))
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}

// PostgresPID is the PID of the stack's postmaster (the parent of every
// PostgreSQL backend).
func (s *Stack) PostgresPID() (int, error) {
	b, err := os.ReadFile(filepath.Join(s.Env["PGDATA"], "postmaster.pid"))
	if err != nil {
		return 0, err
	}
	first, _, _ := strings.Cut(string(b), "\n")
	return strconv.Atoi(strings.TrimSpace(first))
}

// WaitRestarted waits until the supervisor has started name again (a PID
// other than old) and returns the new PID.
func (s *Stack) WaitRestarted(name string, old int, timeout time.Duration) (int, error) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if pid, err := s.PID(name); err == nil && pid != old && syscall.Kill(pid, 0) == nil {
			return pid, nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return 0, fmt.Errorf("%s was not started again within %s", name, timeout)
}

// RestartPostgres restarts the stack's PostgreSQL (fast shutdown: open
// sessions are cut) and waits until it accepts connections again.
func (s *Stack) RestartPostgres(ctx context.Context) error {
	// -l: the new postmaster logs to its file, not to our pipe (which it
	// would hold open for ever).
	args := []string{filepath.Join(s.Env["PG_BIN"], "pg_ctl"), "-D", s.Env["PGDATA"], "-l", filepath.Join(s.Env["PGDATA"], "postgresql.log"),
		"restart", "-m", "fast", "-w", "-t", "60"}
	if os.Getuid() == 0 {
		args = append([]string{"runuser", "-u", "postgres", "--"}, args...)
	}
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("pg_ctl restart: %w\n%s", err, out)
	}
	return nil
}

// Log returns the end of a part's log (logs/NAME.log), for failure messages.
func (s *Stack) Log(name string) string {
	b, _ := os.ReadFile(filepath.Join(s.Dir, "logs", name+".log"))
	return tail(b, 30)
}

func readEnv(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	env := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		if ok {
			env[k] = v
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	for _, k := range []string{"TEMPORAL_ADDRESS", "HARI_CODEC_KEYS_FILE", "RUN_DIR", "PGDATA", "PG_BIN"} {
		if env[k] == "" {
			return nil, errors.New(path + " lacks " + k)
		}
	}
	return env, nil
}

func tail(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
