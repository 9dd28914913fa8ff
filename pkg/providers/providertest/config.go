package providertest

import (
	"errors"
	"strings"
	"testing"

	"github.com/chargeline/chargeline/pkg/config"
)

// CheckValidate checks err, what a provider Config's Validate returned, against want: nil
// means the config is valid, so err must be nil; otherwise err must wrap config.ErrInvalid and
// say each of want (operators read it, so the settings are named as they type them). It
// reports whether err was an expected error, for a caller that checks more of it (that it shows
// no secret).
func CheckValidate(t testing.TB, err error, want []string) bool {
	t.Helper()
	if want == nil {
		if err != nil {
			t.Fatalf("Validate() = %v, want nil", err)
		}
		return false
	}
	if !errors.Is(err, config.ErrInvalid) {
		t.Fatalf("Validate() = %v, want an error wrapping config.ErrInvalid", err)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("Validate() = %q, does not say %q", err, w)
		}
	}
	return true
}
