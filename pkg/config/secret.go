package config

import (
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
