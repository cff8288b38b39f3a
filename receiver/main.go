// Command receiver is a demo HTTPS webhook receiver: it prints every
// delivery, checks its signature, and answers with a chosen status. It
// uses a self-signed certificate that it creates on first use; give that
// certificate to the worker through SSL_CERT_FILE.
//
//	receiver -addr 127.0.0.1:9443 -secret demo-secret-2026 -cert .data/receiver
package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"time"

	"github.com/hari-crm/webhooks/signature"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "receiver:", err)
		os.Exit(1)
	}
}

func run() error {
	addr := flag.String("addr", "127.0.0.1:9443", "listen address")
	secret := flag.String("secret", os.Getenv("RECEIVER_SECRET"), "webhook secret to verify signatures with (env RECEIVER_SECRET)")
	certBase := flag.String("cert", ".data/receiver", "certificate path prefix: PREFIX.pem and PREFIX.key, created if missing")
	genOnly := flag.Bool("gen-cert", false, "create the certificate if missing, then exit")
	status := flag.Int("status", http.StatusOK, "status code to answer with")
	failFirst := flag.Int("fail-first", 0, "answer 503 to the first N requests (to watch retries)")
	flag.Parse()

	cert, err := loadOrCreate(*certBase)
	if err != nil {
		return err
	}
	if *genOnly {
		fmt.Printf("certificate: %s.pem\n", *certBase)
		return nil
	}
	var n atomic.Int64
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, "read body", http.StatusBadRequest)
			return
		}
		i := n.Add(1)
		verified := "no secret configured"
		if *secret != "" {
			verified = "INVALID"
			if signature.VerifyRequest(*secret, r.Header, body) {
				verified = "valid"
			}
		}
		code := *status
		if int(i) <= *failFirst {
			code = http.StatusServiceUnavailable
		}
		fmt.Printf("#%d %s %s  id=%s event=%s attempt=%s signature=%s -> %d\n  %s\n",
			i, time.Now().Format(time.RFC3339), r.URL.Path,
			r.Header.Get(signature.HeaderID), r.Header.Get(signature.HeaderEvent), r.Header.Get(signature.HeaderAttempt),
			verified, code, body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		fmt.Fprintf(w, `{"received":%d,"signature":%q}`, i, verified)
	})
	srv := &http.Server{
		Addr:              *addr,
		Handler:           handler,
		ReadHeaderTimeout: 5 * time.Second,
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
	}
	fmt.Printf("receiver listening on https://%s (certificate %s.pem)\n", *addr, *certBase)
	if err := srv.ListenAndServeTLS("", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// loadOrCreate returns the certificate at base.pem/base.key, creating a
// self-signed one for localhost and 127.0.0.1 when they do not exist.
func loadOrCreate(base string) (tls.Certificate, error) {
	certFile, keyFile := base+".pem", base+".key"
	if cert, err := tls.LoadX509KeyPair(certFile, keyFile); err == nil {
		return cert, nil
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "HARi demo receiver"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().AddDate(2, 0, 0),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return tls.Certificate{}, err
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return tls.Certificate{}, fmt.Errorf("write certificate: %w", err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return tls.Certificate{}, fmt.Errorf("write key: %w", err)
	}
	return tls.LoadX509KeyPair(certFile, keyFile)
}
