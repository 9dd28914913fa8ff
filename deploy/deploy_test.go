// Package deploy holds the deployment files (Dockerfile; compose.yaml lives at the top); its
// tests check them against what the services really read.
package deploy

import (
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"

	"github.com/chargeline/chargeline/pkg/process"
)

// envRe finds the environment variables a service's --help lists: "(env NAME" and "or NAME_FILE".
var envRe = regexp.MustCompile(`\(env ([A-Z0-9_]+)(?:, or ([A-Z0-9_]+_FILE))?\)`)

// serviceEnv builds the service and returns every environment variable it reads.
func serviceEnv(t *testing.T, service string) []string {
	t.Helper()
	return helpEnv(t, buildService(t, service), service)
}

// buildService builds services/<service> into a temporary directory and returns the binary.
func buildService(t *testing.T, service string) string {
	t.Helper()
	return buildPackage(t, "./services/"+service)
}

// buildPackage builds a main package of this module (a path from the module root, e.g.
// ./deploy/probe) into a temporary directory and returns the binary.
func buildPackage(t *testing.T, pkg string) string {
	t.Helper()
	dir := t.TempDir()
	if err := process.Build(t.Context(), "", dir, pkg); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, path.Base(pkg))
}

// helpEnv returns every environment variable the service binary's --help lists.
func helpEnv(t *testing.T, bin, service string) []string {
	t.Helper()
	out, _ := exec.Command(bin, "--help").CombinedOutput() // --help exits 0 or 2 by flag package rules
	var env []string
	for _, m := range envRe.FindAllStringSubmatch(string(out), -1) {
		env = append(env, m[1])
		if m[2] != "" {
			env = append(env, m[2])
		}
	}
	if len(env) == 0 {
		t.Fatalf("%s --help lists no environment variables:\n%s", service, out)
	}
	return env
}

func loadCompose(t *testing.T) *types.Project {
	t.Helper()
	p, err := loader.LoadWithContext(t.Context(), types.ConfigDetails{
		WorkingDir:  "..",
		ConfigFiles: []types.ConfigFile{{Filename: "../compose.yaml"}},
		Environment: map[string]string{},
	}, func(o *loader.Options) { o.SetProjectName("chargeline", true) })
	if err != nil {
		t.Fatalf("compose.yaml does not load: %v", err)
	}
	return p
}

func TestComposeMatchesTheServices(t *testing.T) {
	p := loadCompose(t)

	images := map[string]string{"nats": "nats:", "clickhouse": "clickhouse/clickhouse-server:"}
	for name, prefix := range images {
		svc, ok := p.Services[name]
		if !ok {
			t.Fatalf("compose.yaml has no %q service", name)
		}
		if !strings.HasPrefix(svc.Image, prefix) {
			t.Errorf("service %s: image %q, want %s…", name, svc.Image, prefix)
		}
	}
	if !slices.Contains(p.Services["nats"].Command, "--jetstream") {
		t.Errorf("nats runs without JetStream: %v", p.Services["nats"].Command)
	}

	// compose service → the chargeline service (services/<name>) it builds.
	built := map[string]string{"providersim": "providersim", "normalizer": "normalizer", "sink": "sink",
		"poller-bemo": "poller", "poller-pip": "poller", "poller-mews": "poller", "poller-plugsurfing": "poller", "poller-inpost": "poller"}
	envs := map[string][]string{}
	for composeName, service := range built {
		svc, ok := p.Services[composeName]
		if !ok {
			t.Errorf("compose.yaml has no %q service", composeName)
			continue
		}
		if svc.Build == nil || svc.Build.Dockerfile != "deploy/Dockerfile" || svc.Build.Args["SERVICE"] == nil || *svc.Build.Args["SERVICE"] != service {
			t.Errorf("service %s must build deploy/Dockerfile with SERVICE=%s, got %+v", composeName, service, svc.Build)
		}
		if envs[service] == nil {
			envs[service] = serviceEnv(t, service)
		}
		for key := range svc.Environment {
			if !slices.Contains(envs[service], key) {
				t.Errorf("service %s sets %s, which services/%s does not read", composeName, key, service)
			}
		}
	}
	// Every provider has a poller, pointed at providersim, with its own provider chosen.
	for _, name := range []string{"bemo", "pip", "mews", "plugsurfing", "inpost"} {
		env := p.Services["poller-"+name].Environment
		if env["POLLER_PROVIDER"] == nil || *env["POLLER_PROVIDER"] != name || env["NATS_URL"] == nil {
			t.Errorf("poller-%s: POLLER_PROVIDER %v, NATS_URL %v", name, env["POLLER_PROVIDER"], env["NATS_URL"])
		}
		prefix := strings.ToUpper(name) + "_"
		for key := range env {
			if strings.Contains(key, "_") && key != "NATS_URL" && key != "POLL_INTERVAL" && key != "HTTP_ADDR" && key != "POLLER_PROVIDER" && !strings.HasPrefix(key, prefix) {
				t.Errorf("poller-%s sets %s, another provider's setting", name, key)
			}
		}
	}
	if p.Services["sink"].Environment["CLICKHOUSE_DSN"] == nil {
		t.Error("sink does not set CLICKHOUSE_DSN")
	}
}
