package bus

import (
	"fmt"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// RunEmbedded starts an in-process nats-server with JetStream storing in dir, listening on
// host:port (port -1 = random). It is the local default (devstack) and the tests' server; the
// caller owns Shutdown and WaitForShutdown.
func RunEmbedded(dir, host string, port int) (*server.Server, error) {
	ns, err := server.NewServer(&server.Options{
		Host:      host,
		Port:      port,
		JetStream: true,
		StoreDir:  dir,
		NoSigs:    true, // signals belong to main
		NoLog:     true,
	})
	if err != nil {
		return nil, fmt.Errorf("bus: embedded nats-server: %w", err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(30 * time.Second) {
		ns.Shutdown()
		return nil, fmt.Errorf("bus: embedded nats-server not ready after 30s")
	}
	return ns, nil
}
