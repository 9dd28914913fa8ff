package process

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
)

// Build compiles the main packages pkgs (paths relative to the module, e.g.
// "./services/sink") into binDir, each binary named after its package's directory, from the
// module at moduleDir ("" = ModuleDir()).
func Build(ctx context.Context, moduleDir, binDir string, pkgs ...string) error {
	if len(pkgs) == 0 {
		return errors.New("process: build: no package named")
	}
	if moduleDir == "" {
		var err error
		if moduleDir, err = ModuleDir(); err != nil {
			return err
		}
	}
	// The go on PATH is the toolchain the caller chose; a test binary run without one on PATH
	// still knows the GOROOT it was built by.
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	if err := os.MkdirAll(binDir, 0o755); err != nil {
		return fmt.Errorf("process: build: %w", err)
	}
	// A trailing separator makes -o a directory even for a single package.
	args := append([]string{"build", "-o", binDir + string(filepath.Separator)}, pkgs...)
	cmd := exec.CommandContext(ctx, goBin, args...)
	cmd.Dir = moduleDir
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("process: go build %s: %w\n%s", strings.Join(pkgs, " "), err, out)
	}
	return nil
}

// ModuleDir walks up from the working directory to chargeline's go.mod and returns its
// directory: a test runs in its package's directory, a harness anywhere inside the module.
func ModuleDir() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("process: %w", err)
	}
	for dir := wd; ; {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.Contains(string(b), "module github.com/chargeline/chargeline\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("process: %s is not inside the chargeline module", wd)
		}
		dir = parent
	}
}
