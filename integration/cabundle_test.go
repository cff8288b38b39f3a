package integration

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hari-crm/webhooks/internal/devtest"
)

// selfSigned writes a self-signed CA certificate named cn to a PEM file.
func selfSigned(t *testing.T, dir, cn string) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, cn+".pem")
	// No final newline: the bundle must still keep the blocks apart.
	b := bytes.TrimRight(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), "\n")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// bundleNames parses every certificate of a PEM bundle.
func bundleNames(t *testing.T, path string) map[string]bool {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			t.Fatalf("bundle %s holds an unparsable certificate: %v", path, err)
		}
		names[c.Subject.CommonName] = true
	}
	if rest := strings.TrimSpace(string(b)); rest != "" {
		t.Fatalf("bundle %s has trailing bytes that are not PEM: %q", path, rest)
	}
	return names
}

func runCABundle(t *testing.T, sslCertFile, out string, pems ...string) (string, error) {
	t.Helper()
	root, err := devtest.Root()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("bash", append([]string{filepath.Join(root, "scripts", "ca-bundle.sh"), out}, pems...)...)
	cmd.Env = append(os.Environ(), "SSL_CERT_FILE="+sslCertFile)
	b, err := cmd.CombinedOutput()
	return string(b), err
}

// make run (and make stack) give the worker a bundle that keeps a user's
// own SSL_CERT_FILE (an internal CA) next to the demo receiver's
// certificate, instead of replacing it.
func TestCABundleKeepsUsersSSLCertFile(t *testing.T) {
	dir := t.TempDir()
	user := selfSigned(t, dir, "internal-ca")
	receiver := selfSigned(t, dir, "demo-receiver")
	out := filepath.Join(dir, "ca-bundle.pem")

	if msg, err := runCABundle(t, user, out, receiver); err != nil {
		t.Fatalf("ca-bundle.sh: %v\n%s", err, msg)
	}
	names := bundleNames(t, out)
	for _, cn := range []string{"internal-ca", "demo-receiver"} {
		if !names[cn] {
			t.Errorf("bundle lacks %s: got %d certificates, want the user's CA and the receiver's", cn, len(names))
		}
	}
	if _, err := os.Stat("/etc/ssl/certs/ca-certificates.crt"); err == nil && len(names) < 3 {
		t.Errorf("bundle has %d certificates, want the system roots too", len(names))
	}

	// The bundle passed back in as SSL_CERT_FILE (a second run in a shell
	// that exported it) is not appended to itself: it does not grow.
	blocks := func() int {
		b, _ := os.ReadFile(out)
		return strings.Count(string(b), "BEGIN CERTIFICATE")
	}
	before := blocks()
	if msg, err := runCABundle(t, out, out, receiver); err != nil {
		t.Fatalf("ca-bundle.sh with its own output: %v\n%s", err, msg)
	}
	if got := blocks(); got > before {
		t.Errorf("bundle rebuilt from itself has %d certificate blocks, want at most %d", got, before)
	}

	// An unreadable SSL_CERT_FILE is an error naming it, and the bundle
	// stays as it was.
	prev, _ := os.ReadFile(out)
	msg, err := runCABundle(t, filepath.Join(dir, "missing.pem"), out, receiver)
	if err == nil || !strings.Contains(msg, "SSL_CERT_FILE") {
		t.Errorf("missing SSL_CERT_FILE: got err %v, output %q; want a failure naming SSL_CERT_FILE", err, msg)
	}
	if now, _ := os.ReadFile(out); !bytes.Equal(now, prev) {
		t.Error("bundle changed after a failed run, want it untouched")
	}
}
