package freeport_test

import (
	"net"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/chargeline/chargeline/pkg/freeport"
)

func TestGetIsFreeAndBelowTheEphemeralRange(t *testing.T) {
	low := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			low, _ = strconv.Atoi(f[0])
		}
	}
	if low-10000 < 1000 {
		t.Fatalf("this test needs an ephemeral range starting above 11000, the machine's starts at %d", low)
	}
	for range 20 {
		port, err := freeport.Get()
		if err != nil {
			t.Fatal(err)
		}
		if port < 10000 || port >= low {
			t.Fatalf("port %d outside [10000, %d): the kernel hands out %d and above on :0", port, low, low)
		}
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			t.Fatalf("port %d is not free: %v", port, err)
		}
		ln.Close()
	}
}

func TestInUse(t *testing.T) {
	if !freeport.InUse("<Error> Application: Net Exception: Address already in use: 127.0.0.1:35655") {
		t.Error("ClickHouse's bind failure not recognised")
	}
	if !freeport.InUse("java.net.BindException: Address already in use") {
		t.Error("ZooKeeper's bind failure not recognised")
	}
	if freeport.InUse("Net Exception: Connection refused") {
		t.Error("another failure taken for a bind failure")
	}
}
