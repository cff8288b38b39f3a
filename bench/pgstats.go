package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// pgWrites is what PostgreSQL's statistics count for Temporal's two
// databases: committed transactions and rows written (inserted, updated,
// deleted).
type pgWrites struct {
	ok          bool
	xacts, rows int64
}

// pgNow reads pg_stat_database through psql (Debian's postgresql-client);
// zero when the backend is not PostgreSQL or psql is missing.
func (e *env) pgNow() pgWrites {
	if e.stack == nil {
		return pgWrites{}
	}
	// Backends flush their counters at most once a second.
	time.Sleep(1500 * time.Millisecond)
	pw, err := os.ReadFile(filepath.Join(e.stack.Dir, "pg.password"))
	if err != nil {
		return pgWrites{}
	}
	cmd := exec.Command("psql", "-h", "127.0.0.1", "-p", e.stack.Env["PG_PORT"], "-U", "temporal", "-d", "temporal", "-Atc",
		"select sum(xact_commit), sum(tup_inserted + tup_updated + tup_deleted) from pg_stat_database where datname in ('temporal', 'temporal_visibility')")
	cmd.Env = append(os.Environ(), "PGPASSWORD="+strings.TrimSpace(string(pw)))
	out, err := cmd.Output()
	if err != nil {
		return pgWrites{}
	}
	f := strings.Split(strings.TrimSpace(string(out)), "|")
	if len(f) != 2 {
		return pgWrites{}
	}
	x, err1 := strconv.ParseInt(f[0], 10, 64)
	r, err2 := strconv.ParseInt(f[1], 10, 64)
	if err1 != nil || err2 != nil {
		return pgWrites{}
	}
	return pgWrites{ok: true, xacts: x, rows: r}
}

// pgLine is the persistence writes per delivery between two readings ("" if unknown).
func pgLine(n int, before, after pgWrites) string {
	if !before.ok || !after.ok {
		return ""
	}
	per := float64(max(n, 1))
	return fmt.Sprintf("\n        PostgreSQL per delivery: %.1f transactions (reads included), %.1f rows written (temporal and temporal_visibility)",
		float64(after.xacts-before.xacts)/per, float64(after.rows-before.rows)/per)
}
