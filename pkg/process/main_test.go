package process_test

import (
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"testing"
)

// The tests run this test binary itself as the child: TestMain turns it into one of the
// children below when childEnv names one, before any test runs.
const (
	childEnv  = "PROCESS_TEST_CHILD"
	markerEnv = "PROCESS_TEST_MARKER" // crash-once: the file saying it crashed already
	codeEnv   = "PROCESS_TEST_CODE"   // exit: the exit code; serve: the exit code on SIGTERM (default 0)
)

func TestMain(m *testing.M) {
	if mode := os.Getenv(childEnv); mode != "" {
		child(mode)
		return
	}
	os.Exit(m.Run())
}

// child is a service with a known behaviour. One that runs prints "ready <pid>" once its
// signal handling is in place, so a test that waits for the line knows a signal reaches the
// code it means to test.
func child(mode string) {
	switch mode {
	case "serve": // exits on SIGTERM, with codeEnv's code or 0
		serve()
	case "ignore": // ignores SIGTERM: only SIGKILL ends it
		signal.Ignore(syscall.SIGTERM)
		fmt.Println("ready", os.Getpid())
		select {}
	case "crash-once": // exits 3 at its first start, serves from the second on
		marker := os.Getenv(markerEnv)
		if _, err := os.Stat(marker); err != nil {
			if err := os.WriteFile(marker, nil, 0o644); err != nil {
				fmt.Println(err)
				os.Exit(1)
			}
			fmt.Println("crashing")
			os.Exit(3)
		}
		serve()
	case "exit": // exits at once with codeEnv's code
		code := exitCode()
		fmt.Println("exiting with", code)
		os.Exit(code)
	default:
		fmt.Println("unknown child", mode)
		os.Exit(1)
	}
}

func serve() {
	code := 0
	if os.Getenv(codeEnv) != "" {
		code = exitCode()
	}
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	fmt.Println("ready", os.Getpid())
	<-term
	fmt.Println("terminated")
	os.Exit(code)
}

func exitCode() int {
	code, err := strconv.Atoi(os.Getenv(codeEnv))
	if err != nil {
		fmt.Println(err)
		os.Exit(1)
	}
	return code
}
