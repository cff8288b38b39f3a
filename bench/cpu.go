package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// The parts whose CPU time is reported per delivery, in print order. With
// the dev server (SQLite) the database is inside the server's process.
var cpuParts = []string{"server", "postgres", "redis", "worker", "loadgen"}

var cpuLabels = map[string]string{
	"server": "Temporal server", "postgres": "PostgreSQL", "redis": "Redis",
	"worker": "worker", "loadgen": "load generator and receivers",
}

// cpuSnap is the CPU time (user+system, from /proc) each part has used so far.
type cpuSnap map[string]time.Duration

// cpuNow reads the CPU time of the server, its database, Redis, the given
// workers and this process (publishers, receivers, in-process workers).
func (e *env) cpuNow(workers ...*workerProc) cpuSnap {
	s := cpuSnap{"loadgen": procCPU(os.Getpid())}
	if e.stack != nil {
		if pid, err := e.stack.PID("temporal"); err == nil {
			s["server"] = procCPU(pid)
		}
		if pid, err := e.stack.PostgresPID(); err == nil {
			s["postgres"] = treeCPU(pid)
		}
	} else if e.srv != nil {
		s["server"] = procCPU(serverPIDOf(e.srv.HostPort))
	}
	if e.redis != nil {
		s["redis"] = procCPU(e.redis.PID())
	}
	for _, w := range workers {
		s["worker"] += procCPU(w.cmd.Process.Pid)
	}
	return s
}

// cpuLine prints CPU milliseconds per delivery of each part between two
// snapshots, and the product's (server, its database and the worker).
func cpuLine(n int, before, after cpuSnap) string {
	per := float64(max(n, 1))
	var parts []string
	var product float64
	for _, k := range cpuParts {
		if _, ok := after[k]; !ok {
			continue
		}
		v := ms(after[k]-before[k]) / per
		parts = append(parts, fmt.Sprintf("%s %.2f", cpuLabels[k], v))
		if k == "server" || k == "postgres" || k == "worker" {
			product += v
		}
	}
	return fmt.Sprintf("CPU ms per delivery: %s; product (server + database + worker) %.2f (load average %s)", strings.Join(parts, ", "), product, loadAvg())
}

// treeCPU is the CPU time of a process, of its live children and of its
// children that ended (PostgreSQL's postmaster and its backends).
func treeCPU(pid int) time.Duration {
	total := procCPU(pid) + reapedCPU(pid)
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if parentOf(child) == pid {
			total += procCPU(child)
		}
	}
	return total
}

// statFields are the fields of /proc/PID/stat after the command name.
func statFields(pid int) []string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil
	}
	return strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
}

func parentOf(pid int) int {
	f := statFields(pid)
	if len(f) < 2 {
		return 0
	}
	ppid, _ := strconv.Atoi(f[1])
	return ppid
}

// reapedCPU is cutime+cstime: the CPU time of children the process waited for.
func reapedCPU(pid int) time.Duration {
	f := statFields(pid)
	if len(f) < 15 {
		return 0
	}
	cut, _ := strconv.ParseInt(f[13], 10, 64)
	cst, _ := strconv.ParseInt(f[14], 10, 64)
	return time.Duration(cut+cst) * time.Second / 100 // USER_HZ
}
