// Package freeport finds a loopback TCP port for a server that binds it later (a child
// process, a cluster whose peers must know each other's ports before any starts).
//
// The port comes from below the kernel's ephemeral range. A port from that range (what
// listening on :0 hands out) can be taken, between the check and the server's bind, by anyone
// else on the machine listening on :0 or dialling out — in `go test ./...`, by the servers of
// the packages running beside this one. Below the range, only another picker like this one can
// take it, and a random start makes that rare; callers that can retry on "address already in
// use" should still do so.
package freeport

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
)

// lowest is the smallest port handed out: above the well-known and most registered services.
const lowest = 10000

// Get returns a loopback TCP port that is free now.
func Get() (int, error) {
	hi := ephemeralLow() // exclusive
	if hi-lowest >= 1000 {
		for range 50 {
			port := lowest + rand.IntN(hi-lowest)
			if free(port) {
				return port, nil
			}
		}
	}
	// A machine whose ephemeral range starts low: take one from it.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("freeport: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func free(port int) bool {
	ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		return false
	}
	ln.Close()
	return true
}

// ephemeralLow returns the first port of the kernel's ephemeral range (Linux's
// ip_local_port_range; 32768, its default, elsewhere or when unreadable).
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil && n > 0 && n <= 65535 {
				return n
			}
		}
	}
	return 32768
}

// InUse reports whether a server's output says its bind failed with "address already in
// use", the one start failure a fresh port cures.
func InUse(output string) bool {
	return strings.Contains(strings.ToLower(output), "address already in use")
}
