package deploy

import (
	"bufio"
	"debug/elf"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// goBuild is one `RUN … go build …` step of deploy/Dockerfile.
type goBuild struct {
	env  []string // KEY=VALUE before the command
	args []string // after "go", with ${SERVICE} still in them
}

var runGoBuild = regexp.MustCompile(`^RUN\s+((?:[A-Z0-9_]+=\S+\s+)*)go\s+(build\s.+)$`)

// dockerfileBuilds returns the go build steps of deploy/Dockerfile's build stage.
func dockerfileBuilds(t *testing.T) []goBuild {
	t.Helper()
	f, err := os.Open("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var builds []goBuild
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		m := runGoBuild.FindStringSubmatch(strings.TrimSpace(sc.Text()))
		if m == nil {
			continue
		}
		var b goBuild
		b.env = strings.Fields(m[1])
		// The shell removes the quotes of -ldflags="-s -w"; the fields split inside them.
		b.args = joinQuoted(strings.Fields(m[2]))
		builds = append(builds, b)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return builds
}

// joinQuoted rejoins shell words split inside double quotes and drops the quotes.
func joinQuoted(fields []string) []string {
	var out []string
	var cur []string
	for _, f := range fields {
		if cur != nil {
			cur = append(cur, f)
			if strings.HasSuffix(f, `"`) {
				out = append(out, strings.ReplaceAll(strings.Join(cur, " "), `"`, ""))
				cur = nil
			}
			continue
		}
		if strings.Count(f, `"`) == 1 {
			cur = []string{f}
			continue
		}
		out = append(out, strings.ReplaceAll(f, `"`, ""))
	}
	return out
}

// TestDockerfileBuildsStaticBinaries runs deploy/Dockerfile's go build steps as the image
// build would: in a copy of the build context that .dockerignore leaves (so an ignore rule that
// drops a needed file fails here), with the step's own environment and flags, for every
// directory of services/. Each binary must be static (no ELF interpreter, no shared library):
// the runtime image, distroless/static, has no libc. What is not run here (no container
// engine): the image build itself, the base images, and the final stage's COPY lines, which are
// checked as text.
func TestDockerfileBuildsStaticBinaries(t *testing.T) {
	builds := dockerfileBuilds(t)
	var serviceStep, probeStep *goBuild
	for i, b := range builds {
		switch {
		case slices.Contains(b.args, "./services/${SERVICE}"):
			serviceStep = &builds[i]
		case slices.Contains(b.args, "./deploy/probe"):
			probeStep = &builds[i]
		}
	}
	if serviceStep == nil || probeStep == nil {
		t.Fatalf("deploy/Dockerfile: want a go build of ./services/${SERVICE} and of ./deploy/probe, found %+v", builds)
	}
	for _, b := range builds {
		if !slices.Contains(b.env, "CGO_ENABLED=0") {
			t.Errorf("Dockerfile step go %s builds without CGO_ENABLED=0: a cgo binary needs a libc the runtime image lacks", strings.Join(b.args, " "))
		}
	}
	b, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"FROM gcr.io/distroless/static-debian12:nonroot",
		"COPY --from=build /out/service /usr/local/bin/service",
		"COPY --from=build /out/probe " + probePath,
		"USER nonroot",
		`ENTRYPOINT ["/usr/local/bin/service"]`,
	} {
		if !strings.Contains(string(b), want+"\n") {
			t.Errorf("deploy/Dockerfile lacks the line %q", want)
		}
	}

	ctxDir := buildContext(t)
	entries, err := os.ReadDir(filepath.Join(ctxDir, "services"))
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	run := func(step *goBuild, service string) string {
		t.Helper()
		args := slices.Clone(step.args)
		var bin string
		for i, a := range args {
			args[i] = strings.ReplaceAll(a, "${SERVICE}", service)
			if i > 0 && args[i-1] == "-o" {
				bin = filepath.Join(out, service+"-"+filepath.Base(a))
				args[i] = bin
			}
		}
		cmd := exec.Command("go", args...)
		cmd.Dir = ctxDir
		// The image's platform is the builder's: linux here, as in the golang image.
		cmd.Env = append(os.Environ(), append([]string{"GOOS=linux", "GOARCH=" + runtime.GOARCH}, step.env...)...)
		if o, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("SERVICE=%s: go %s: %v\n%s", service, strings.Join(args, " "), err, o)
		}
		return bin
	}
	var services int
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		services++
		checkStatic(t, "services/"+e.Name(), run(serviceStep, e.Name()))
	}
	if services < 6 {
		t.Errorf("found %d services in the build context, want every one of services/", services)
	}
	checkStatic(t, "deploy/probe", run(probeStep, "probe"))
}

// checkStatic fails unless bin is a statically linked, stripped ELF executable.
func checkStatic(t *testing.T, what, bin string) {
	t.Helper()
	f, err := elf.Open(bin)
	if err != nil {
		t.Errorf("%s: %v", what, err)
		return
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("%s is dynamically linked (%s program header)", what, p.Type)
		}
	}
	if libs, err := f.ImportedLibraries(); err != nil || len(libs) > 0 {
		t.Errorf("%s needs shared libraries %v (%v)", what, libs, err)
	}
	if f.Section(".symtab") != nil {
		t.Errorf("%s keeps its symbol table: -ldflags=-s did not apply", what)
	}
}

// buildContext copies the repository into a temporary directory the way `docker build .`
// sends it: every file except those .dockerignore excludes (with moby's own matcher).
func buildContext(t *testing.T) string {
	t.Helper()
	f, err := os.Open("../.dockerignore")
	if err != nil {
		t.Fatalf("no .dockerignore: `COPY . .` would send .git, .data and bin: %v", err)
	}
	patterns, err := ignorefile.ReadAll(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		t.Fatalf(".dockerignore: %v", err)
	}
	excluded := func(p string) bool {
		ok, err := pm.MatchesOrParentMatches(p)
		if err != nil {
			t.Fatalf(".dockerignore on %s: %v", p, err)
		}
		return ok
	}
	// What must stay out: large, secret or machine-local.
	for _, p := range []string{".git/HEAD", ".data/bench/nats/jetstream/x.blk", "bin/sink", "pkg/sink/sink.test", "cpu-sink.prof", "sink"} {
		if !excluded(p) {
			t.Errorf(".dockerignore lets %s into the build context", p)
		}
	}
	// What the build needs.
	for _, p := range []string{"go.mod", "go.sum", "services/sink/main.go", "pkg/sink/sink.go", "schemas/clickhouse/0002_charging_sessions.sql", "schemas/events/charging_session.v1.schema.json", "deploy/probe/main.go"} {
		if excluded(p) {
			t.Errorf(".dockerignore excludes %s, which the image build needs", p)
		}
	}

	dst := t.TempDir()
	err = filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel("..", path)
		if err != nil || rel == "." {
			return err
		}
		if excluded(filepath.ToSlash(rel)) {
			if d.IsDir() && !pm.Exclusions() {
				return fs.SkipDir
			}
			return nil
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		return copyFile(path, target)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// TestDockerfileGoIsTheBuildToolchain holds the image's Go release to the one the Makefile
// and CI build and scan with: an image built on an older Go would ship the standard-library
// vulnerabilities `make vuln` keeps out.
func TestDockerfileGoIsTheBuildToolchain(t *testing.T) {
	mk, err := os.ReadFile("../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^GOTOOLCHAIN \?= go(\d+\.\d+\.\d+)$`).FindSubmatch(mk)
	if m == nil {
		t.Fatal("Makefile: no `GOTOOLCHAIN ?= go<version>` line")
	}
	df, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	if want := "FROM golang:" + string(m[1]) + " AS build"; !strings.Contains(string(df), want) {
		t.Errorf("deploy/Dockerfile: want %q (the Makefile's GOTOOLCHAIN)", want)
	}
	gomod, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	if want := "\ntoolchain go" + string(m[1]) + "\n"; !strings.Contains(string(gomod), want) {
		t.Errorf("go.mod: want a line %q (the Makefile's GOTOOLCHAIN)", strings.TrimSpace(want))
	}
}
