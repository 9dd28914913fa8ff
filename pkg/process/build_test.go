package process_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chargeline/chargeline/pkg/process"
)

// TestBuildCompilesIntoBinDir: each package becomes a binary named after its directory in
// binDir; a package that does not compile is an error with the compiler's output.
func TestBuildCompilesIntoBinDir(t *testing.T) {
	mod := t.TempDir()
	write := func(name, text string) {
		t.Helper()
		path := filepath.Join(mod, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("go.mod", "module example.com/buildtest\n\ngo 1.26\n")
	write("cmd/hello/main.go", "package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(\"hello\") }\n")
	write("cmd/bye/main.go", "package main\n\nimport \"fmt\"\n\nfunc main() { fmt.Println(\"bye\") }\n")
	write("cmd/broken/main.go", "package main\n\nfunc main() { undefinedCall() }\n")

	bin := filepath.Join(t.TempDir(), "bin")
	if err := process.Build(t.Context(), mod, bin, "./cmd/hello", "./cmd/bye"); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"hello", "bye"} {
		out, err := exec.Command(filepath.Join(bin, name)).Output()
		if err != nil || strings.TrimSpace(string(out)) != name {
			t.Errorf("%s printed %q, %v; want %q", name, out, err, name)
		}
	}
	err := process.Build(t.Context(), mod, bin, "./cmd/broken")
	if err == nil || !strings.Contains(err.Error(), "undefinedCall") {
		t.Errorf("Build of a broken package = %v, want the compiler's complaint", err)
	}
}

// TestModuleDirFindsChargeline: from a package directory, ModuleDir is the module root.
func TestModuleDirFindsChargeline(t *testing.T) {
	dir, err := process.ModuleDir()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "pkg", "process", "doc.go")); err != nil {
		t.Errorf("ModuleDir() = %s, not the module holding this package: %v", dir, err)
	}
}
