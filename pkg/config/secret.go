package config

import (
	"fmt"
	"log/slog"
	"net/url"
)

// Secret holds a credential. Every way of printing it (fmt verbs, %#v, slog, encoding) shows a
// redaction; Reveal is the only way to read it, and only clients that send it call Reveal.
type Secret string

const redacted = "[redacted]"

func (s Secret) String() string               { return redacted }
func (s Secret) GoString() string             { return redacted }
func (s Secret) LogValue() slog.Value         { return slog.StringValue(redacted) }
func (s Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }
func (s Secret) Reveal() string               { return string(s) }
func (s Secret) IsZero() bool                 { return s == "" }

// Redact returns raw with any password in its userinfo replaced, for URLs that are logged or
// put in errors (nats://user:pass@host, clickhouse://user:pass@host).
func Redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		if err != nil {
			return "(unparsable URL)"
		}
		return raw
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

// CheckBaseURL reports why raw cannot be a provider's base URL: it must be an absolute http(s)
// URL (like example) without a fragment, and without a query unless allowQuery. The error shows
// raw through Redact; callers wrap it with the setting's name.
func CheckBaseURL(raw, example string, allowQuery bool) error {
	u, err := url.Parse(raw)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return fmt.Errorf("must be an absolute http(s) URL like %s, got %s", example, Redact(raw))
	case allowQuery && u.Fragment != "":
		return fmt.Errorf("must not carry a fragment, got %s", Redact(raw))
	case !allowQuery && (u.RawQuery != "" || u.Fragment != ""):
		return fmt.Errorf("must not carry a query or fragment, got %s", Redact(raw))
	}
	return nil
}
