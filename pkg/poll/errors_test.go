package poll

import (
	"context"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestSafeText(t *testing.T) {
	for in, want := range map[string]string{
		"  plain  ":                      "plain",
		"line\nforged=1\r\x00":           "line forged=1",
		"bad \xff utf8":                  "bad ? utf8",
		"token s3cret in the body":       "token [redacted] in the body",
		strings.Repeat("é", 200) + "end": strings.Repeat("é", 150) + "…",
	} {
		got := SafeText(in, "s3cret")
		if got != want {
			t.Errorf("SafeText(%q) = %q, want %q", in, got, want)
		}
		if !utf8.ValidString(got) {
			t.Errorf("SafeText(%q) = %q is not valid UTF-8", in, got)
		}
	}
}

func TestTransportError(t *testing.T) {
	err := errors.New("connection reset")
	var tmp *TemporaryError
	if !errors.As(TransportError(context.Background(), err), &tmp) {
		t.Error("a transport failure while polling is not temporary")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if got := TransportError(ctx, err); got != err {
		t.Errorf("after the context ended: %v, want the error as is (not retried)", got)
	}
}
