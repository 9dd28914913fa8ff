package bus

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/chargeline/chargeline/pkg/config"
)

// ConnSettings declares the NATS connection settings every service shares.
func ConnSettings() []config.Setting {
	return []config.Setting{
		{Name: "nats-url", Env: "NATS_URL", Kind: config.String, Default: "nats://127.0.0.1:4222", Usage: "NATS server URL(s), comma-separated"},
		{Name: "nats-user", Env: "NATS_USER", Usage: "NATS user name"},
		{Name: "nats-password", Env: "NATS_PASSWORD", Secret: true, Usage: "NATS password"},
		{Name: "nats-token", Env: "NATS_TOKEN", Secret: true, Usage: "NATS authentication token"},
		{Name: "nats-creds", Env: "NATS_CREDS", Usage: "path of a NATS credentials (.creds) file"},
		{Name: "nats-nkey", Env: "NATS_NKEY", Usage: "path of a NATS nkey seed file"},
		{Name: "nats-ca", Env: "NATS_CA", Usage: "path of a CA certificate (PEM) to verify the NATS server"},
		{Name: "nats-cert", Env: "NATS_CERT", Usage: "path of a client certificate (PEM) for NATS TLS"},
		{Name: "nats-key", Env: "NATS_KEY", Usage: "path of the client certificate's key (PEM)"},
	}
}

// ConnConfig says how to reach NATS.
type ConnConfig struct {
	URL       string
	User      string
	Password  config.Secret
	Token     config.Secret
	CredsFile string
	NKeyFile  string
	CAFile    string
	CertFile  string
	KeyFile   string
	Name      string // client name shown by the server, e.g. "chargeline-poller"
}

// ConnFrom reads ConnSettings from v.
func ConnFrom(v config.Values, name string) ConnConfig {
	return ConnConfig{
		URL: v.String("nats-url"), User: v.String("nats-user"), Password: v.Secret("nats-password"),
		Token: v.Secret("nats-token"), CredsFile: v.String("nats-creds"), NKeyFile: v.String("nats-nkey"),
		CAFile: v.String("nats-ca"), CertFile: v.String("nats-cert"), KeyFile: v.String("nats-key"), Name: name,
	}
}

// Connect dials NATS. It keeps reconnecting forever once connected: an outage pauses the
// pipeline, it does not end it.
func Connect(ctx context.Context, c ConnConfig, logger *slog.Logger) (*nats.Conn, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	opts := []nats.Option{
		nats.Name(c.Name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(500 * time.Millisecond),
		nats.RetryOnFailedConnect(false),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				logger.Warn("nats disconnected", slog.String("error", err.Error()))
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			logger.Info("nats reconnected", slog.String("url", config.Redact(nc.ConnectedUrl())))
		}),
	}
	if c.User != "" {
		opts = append(opts, nats.UserInfo(c.User, c.Password.Reveal()))
	}
	if !c.Token.IsZero() {
		opts = append(opts, nats.Token(c.Token.Reveal()))
	}
	if c.CredsFile != "" {
		opts = append(opts, nats.UserCredentials(c.CredsFile))
	}
	if c.NKeyFile != "" {
		o, err := nats.NkeyOptionFromSeed(c.NKeyFile)
		if err != nil {
			return nil, fmt.Errorf("bus: read nkey seed --nats-nkey: %w", err)
		}
		opts = append(opts, o)
	}
	if c.CAFile != "" {
		opts = append(opts, nats.RootCAs(c.CAFile))
	}
	if c.CertFile != "" || c.KeyFile != "" {
		opts = append(opts, nats.ClientCert(c.CertFile, c.KeyFile))
	}
	if dl, ok := ctx.Deadline(); ok {
		opts = append(opts, nats.Timeout(time.Until(dl)))
	}
	// nats.Connect takes no context: a server that accepts the connection and then says nothing
	// (frozen, overloaded) holds it for its whole timeout. A stop requested meanwhile ends the
	// wait, and is reported as the cancellation it is, not as a failure to connect.
	type result struct {
		nc  *nats.Conn
		err error
	}
	done := make(chan result, 1)
	go func() {
		nc, err := nats.Connect(c.URL, opts...)
		done <- result{nc, err}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("bus: connect to NATS at %s: %w", config.Redact(c.URL), ctx.Err())
			}
			return nil, fmt.Errorf("bus: connect to NATS at %s: %w", config.Redact(c.URL), r.err)
		}
		return r.nc, nil
	case <-ctx.Done():
		go func() {
			if r := <-done; r.nc != nil {
				r.nc.Close()
			}
		}()
		return nil, fmt.Errorf("bus: connect to NATS at %s: %w", config.Redact(c.URL), ctx.Err())
	}
}

// Drain ends a service's connection: it delivers what the connection still buffers (the last
// acknowledgements) and waits, at most timeout, until it is closed. A connection that is
// reconnecting cannot drain and is closed at once; that loses nothing JetStream holds: an
// acknowledgement that never arrived means a redelivery, which the tables' keys absorb. So the
// error is for the log, not a reason to fail a requested stop.
func Drain(nc *nats.Conn, timeout time.Duration) error {
	closed := nc.StatusChanged(nats.CLOSED)
	if err := nc.Drain(); err != nil {
		nc.Close()
		return fmt.Errorf("bus: drain: %w", err)
	}
	select {
	case <-closed:
		return nil
	case <-time.After(timeout):
		nc.Close()
		return fmt.Errorf("bus: drain did not finish in %s", timeout)
	}
}
