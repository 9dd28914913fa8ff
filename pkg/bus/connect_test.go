package bus_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"

	"github.com/chargeline/chargeline/pkg/bus"
)

// runServer starts an embedded nats-server with opts (auth, TLS) on a random port.
func runServer(t *testing.T, opts *server.Options) *server.Server {
	t.Helper()
	opts.Host, opts.Port, opts.NoSigs, opts.NoLog = "127.0.0.1", -1, true, true
	ns, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	t.Cleanup(ns.Shutdown)
	return ns
}

func connect(t *testing.T, c bus.ConnConfig) error {
	t.Helper()
	nc, err := bus.Connect(t.Context(), c, nil)
	if err == nil {
		nc.Close()
	}
	return err
}

func TestConnectAuthentication(t *testing.T) {
	userSeed, userPub := newNKey(t, nkeys.CreateUser)
	seedFile := writeFile(t, "user.nk", userSeed)
	credsFile, operatorOpts := operatorSetup(t)

	tests := []struct {
		name string
		opts *server.Options
		good bus.ConnConfig
		bad  bus.ConnConfig
	}{
		{
			name: "user and password",
			opts: &server.Options{Username: "svc", Password: "s3cret-pw"},
			good: bus.ConnConfig{User: "svc", Password: "s3cret-pw"},
			bad:  bus.ConnConfig{User: "svc", Password: "wrong-pw"},
		},
		{
			name: "token",
			opts: &server.Options{Authorization: "s3cret-token"},
			good: bus.ConnConfig{Token: "s3cret-token"},
			bad:  bus.ConnConfig{Token: "wrong-token"},
		},
		{
			name: "nkey",
			opts: &server.Options{Nkeys: []*server.NkeyUser{{Nkey: userPub}}},
			good: bus.ConnConfig{NKeyFile: seedFile},
			bad:  bus.ConnConfig{},
		},
		{
			name: "creds file (operator mode)",
			opts: operatorOpts,
			good: bus.ConnConfig{CredsFile: credsFile},
			bad:  bus.ConnConfig{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ns := runServer(t, tt.opts)
			tt.good.URL, tt.bad.URL = ns.ClientURL(), ns.ClientURL()
			if err := connect(t, tt.good); err != nil {
				t.Fatalf("good credentials refused: %v", err)
			}
			err := connect(t, tt.bad)
			if err == nil {
				t.Fatal("bad credentials accepted")
			}
			for _, secret := range []string{"s3cret-pw", "wrong-pw", "s3cret-token", "wrong-token", userSeed} {
				if strings.Contains(err.Error(), secret) {
					t.Fatalf("error reveals a secret: %v", err)
				}
			}
		})
	}
}

func TestConnectTLSWithClientCertificate(t *testing.T) {
	dir := t.TempDir()
	ca, caKey := newCert(t, nil, nil, "chargeline test CA", true)
	srvCert, srvKey := newCert(t, ca, caKey, "127.0.0.1", false)
	cliCert, cliKey := newCert(t, ca, caKey, "chargeline-client", false)
	caFile := writePEM(t, dir, "ca.pem", "CERTIFICATE", ca.Raw)
	cliCertFile := writePEM(t, dir, "client.pem", "CERTIFICATE", cliCert.Raw)
	cliKeyFile := writeKey(t, dir, "client-key.pem", cliKey)

	pool := x509.NewCertPool()
	pool.AddCert(ca)
	ns := runServer(t, &server.Options{
		TLS: true, TLSVerify: true, TLSTimeout: 5,
		TLSConfig: &tls.Config{
			Certificates: []tls.Certificate{{Certificate: [][]byte{srvCert.Raw}, PrivateKey: srvKey}},
			ClientCAs:    pool,
			ClientAuth:   tls.RequireAndVerifyClientCert,
			MinVersion:   tls.VersionTLS12,
		},
	})
	url := "tls://" + ns.Addr().String()
	if err := connect(t, bus.ConnConfig{URL: url, CAFile: caFile, CertFile: cliCertFile, KeyFile: cliKeyFile}); err != nil {
		t.Fatalf("TLS with client certificate refused: %v", err)
	}
	if err := connect(t, bus.ConnConfig{URL: url, CAFile: caFile}); err == nil {
		t.Fatal("TLS without a client certificate accepted by a server that requires one")
	}
	if err := connect(t, bus.ConnConfig{URL: url, CertFile: cliCertFile, KeyFile: cliKeyFile}); err == nil {
		t.Fatal("server certificate from an unknown CA accepted")
	}
}

func TestConnectErrorRedactsURLPassword(t *testing.T) {
	err := connect(t, bus.ConnConfig{URL: "nats://svc:hunter2@127.0.0.1:1"})
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("got %v, want a connection error without the password", err)
	}
}

func newNKey(t *testing.T, create func() (nkeys.KeyPair, error)) (seed, pub string) {
	t.Helper()
	kp, err := create()
	if err != nil {
		t.Fatal(err)
	}
	s, _ := kp.Seed()
	p, _ := kp.PublicKey()
	return string(s), p
}

// operatorSetup builds an operator, an account and a user, and returns the user's creds file
// and server options trusting the operator with the account preloaded.
func operatorSetup(t *testing.T) (string, *server.Options) {
	t.Helper()
	okp, _ := nkeys.CreateOperator()
	opub, _ := okp.PublicKey()
	oc := jwt.NewOperatorClaims(opub)
	ojwt, err := oc.Encode(okp)
	if err != nil {
		t.Fatal(err)
	}
	akp, _ := nkeys.CreateAccount()
	apub, _ := akp.PublicKey()
	ac := jwt.NewAccountClaims(apub)
	ajwt, err := ac.Encode(okp)
	if err != nil {
		t.Fatal(err)
	}
	ukp, _ := nkeys.CreateUser()
	upub, _ := ukp.PublicKey()
	uc := jwt.NewUserClaims(upub)
	uc.IssuerAccount = apub
	ujwt, err := uc.Encode(akp)
	if err != nil {
		t.Fatal(err)
	}
	useed, _ := ukp.Seed()
	creds, err := jwt.FormatUserConfig(ujwt, useed)
	if err != nil {
		t.Fatal(err)
	}
	op, err := jwt.DecodeOperatorClaims(ojwt)
	if err != nil {
		t.Fatal(err)
	}
	resolver := &server.MemAccResolver{}
	if err := resolver.Store(apub, ajwt); err != nil {
		t.Fatal(err)
	}
	return writeFile(t, "user.creds", string(creds)), &server.Options{TrustedOperators: []*jwt.OperatorClaims{op}, AccountResolver: resolver}
}

func newCert(t *testing.T, parent *x509.Certificate, parentKey *ecdsa.PrivateKey, cn string, isCA bool) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IsCA:         isCA, BasicConstraintsValid: true,
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
	}
	signer, signerKey := tmpl, key
	if parent != nil {
		signer, signerKey = parent, parentKey
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signerKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func writePEM(t *testing.T, dir, name, typ string, der []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func writeKey(t *testing.T, dir, name string, key *ecdsa.PrivateKey) string {
	t.Helper()
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return writePEM(t, dir, name, "EC PRIVATE KEY", der)
}

// TestConnectEndsWithTheContext: a server that accepts the connection and never speaks (a frozen
// nats-server) holds nats.Connect for its whole timeout; a stop requested meanwhile must end
// Connect with the cancellation, which services treat as a clean stop, not as a failure.
func TestConnectEndsWithTheContext(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close() // held open, silent
		}
	}()
	ctx, cancel := context.WithCancel(t.Context())
	errc := make(chan error, 1)
	go func() {
		nc, err := bus.Connect(ctx, bus.ConnConfig{URL: "nats://" + ln.Addr().String()}, nil)
		if nc != nil {
			nc.Close()
		}
		errc <- err
	}()
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("Connect after cancel = %v, want context.Canceled", err)
	}
}
