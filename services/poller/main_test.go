package main

import (
	"strings"
	"testing"

	"github.com/chargeline/chargeline/pkg/pipeline"
	"github.com/chargeline/chargeline/pkg/service"
)

// TestInvalidConfigurationExitsTwoNamingTheSetting runs the real main wiring: every bad value
// stops the poller before it connects anywhere, with exit code 2 and the setting's name.
func TestInvalidConfigurationExitsTwoNamingTheSetting(t *testing.T) {
	good := []string{"--http-addr=", "--provider=bemo", "--bemo-access-token=t", "--bemo-subscription-key=k", "--bemo-accounts=a"}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{name: "unknown provider", args: []string{"--http-addr=", "--provider=nope"}, want: "unknown provider"},
		{name: "missing provider", args: []string{"--http-addr="}, want: "--provider/POLLER_PROVIDER is required"},
		{name: "missing token", args: []string{"--http-addr=", "--provider=bemo", "--bemo-subscription-key=k", "--bemo-accounts=a"}, want: "BEMO_ACCESS_TOKEN"},
		{name: "empty account list", args: []string{"--http-addr=", "--provider=bemo", "--bemo-access-token=t", "--bemo-subscription-key=k", "--bemo-accounts=,"}, want: "BEMO_ACCOUNTS"},
		{name: "malformed provider URL", args: append(good, "--bemo-base-url=::nope"), want: "BEMO_BASE_URL"},
		{name: "bad poll interval", args: append(good, "--poll-interval=often"), want: "--poll-interval/POLL_INTERVAL"},
		{name: "bad duplicate window", args: append(good, "--duplicate-window=-1h"), want: "--duplicate-window/DUPLICATE_WINDOW"},
		{name: "bad log level", args: append(good, "--log-level=loud"), want: "--log-level/LOG_LEVEL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr strings.Builder
			code := service.Main("poller", tt.args, &stderr, pipeline.PollerSettings(), pipeline.ServePoller)
			if code != service.ExitConfig {
				t.Fatalf("exit code %d, want %d; output:\n%s", code, service.ExitConfig, stderr.String())
			}
			if !strings.Contains(stderr.String(), tt.want) {
				t.Fatalf("output does not name %q:\n%s", tt.want, stderr.String())
			}
			if strings.Contains(stderr.String(), "=t ") || strings.Contains(stderr.String(), `"t"`) {
				t.Fatalf("output reveals a secret:\n%s", stderr.String())
			}
		})
	}
}
