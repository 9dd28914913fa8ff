// Package config binds the settings a component declares to flags, environment variables and
// `_FILE` secrets, and validates every value before anything starts.
//
// Settings are declared beside the component that uses them (a provider's Settings(), the sink's
// Settings()); only a service's main calls Load, so nothing below main reads the environment.
package config

import (
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ErrInvalid is wrapped by every error Load returns for a bad value; mains exit with code 2 on it.
var ErrInvalid = errors.New("config: invalid setting")

// Kind says how a setting's text is parsed and validated.
type Kind int

const (
	String Kind = iota
	Int
	Duration
	URL
	List // comma-separated, blanks dropped
	Bool
)

// Setting is one configurable value, exposed as --Name and as the environment variable Env.
type Setting struct {
	Name     string // flag name, e.g. "bemo-access-token"
	Env      string // environment variable, e.g. "BEMO_ACCESS_TOKEN"
	Kind     Kind
	Default  string
	Usage    string
	Secret   bool // also read from Env+"_FILE"; never printed
	Required bool
	// Min is the smallest accepted value for Int and Duration settings (inclusive); 0 = no check
	// beyond non-negative.
	Min int64
}

func (s Setting) label() string { return "--" + s.Name + "/" + s.Env }

// Values holds the validated settings. Getters panic on a name that was never declared: that is
// a wiring mistake, caught by the first test that runs the service.
type Values struct {
	raw      map[string]string
	settings map[string]Setting
}

// Load resolves every setting from, in order of precedence, its flag, its environment variable,
// its `_FILE` variable (secrets) and its default, and validates it. All problems are reported
// together, each naming the setting; the error wraps ErrInvalid. getenv is os.Getenv in mains.
func Load(fs *flag.FlagSet, args []string, getenv func(string) string, settings ...[]Setting) (Values, error) {
	v := Values{raw: map[string]string{}, settings: map[string]Setting{}}
	flagVals := map[string]*string{}
	for _, group := range settings {
		for _, s := range group {
			if _, dup := v.settings[s.Name]; dup {
				continue // shared settings (nats-url) may be declared by several components
			}
			v.settings[s.Name] = s
			usage := s.Usage + " (env " + s.Env
			if s.Secret {
				usage += ", or " + s.Env + "_FILE"
			}
			usage += ")"
			def := s.Default
			if s.Secret {
				def = ""
			}
			val := new(string)
			*val = def
			if s.Kind == Bool {
				fs.Var((*boolFlag)(val), s.Name, usage) // --flag alone means true
			} else {
				fs.StringVar(val, s.Name, def, usage)
			}
			flagVals[s.Name] = val
		}
	}
	if err := fs.Parse(args); err != nil {
		return Values{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if fs.NArg() > 0 {
		return Values{}, fmt.Errorf("%w: unexpected arguments %q", ErrInvalid, fs.Args())
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	var errs []error
	names := make([]string, 0, len(v.settings))
	for n := range v.settings {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, name := range names {
		s := v.settings[name]
		val, err := resolve(s, set[name], *flagVals[name], getenv)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if err := check(s, val); err != nil {
			errs = append(errs, err)
			continue
		}
		v.raw[name] = val
	}
	if len(errs) > 0 {
		return Values{}, errors.Join(errs...)
	}
	return v, nil
}

func resolve(s Setting, fromFlag bool, flagVal string, getenv func(string) string) (string, error) {
	if fromFlag {
		return flagVal, nil
	}
	if e := getenv(s.Env); e != "" {
		return e, nil
	}
	if s.Secret {
		if path := getenv(s.Env + "_FILE"); path != "" {
			b, err := os.ReadFile(path)
			if err != nil {
				return "", fmt.Errorf("%w: %s_FILE: cannot read %q: %w", ErrInvalid, s.Env, path, errors.Unwrap(err))
			}
			return strings.TrimRight(string(b), "\r\n"), nil
		}
	}
	return s.Default, nil
}

func check(s Setting, val string) error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s %s", ErrInvalid, s.label(), fmt.Sprintf(format, a...))
	}
	if val == "" {
		if s.Required {
			return bad("is required")
		}
		return nil
	}
	shown := strconv.Quote(val)
	if s.Secret {
		shown = "(secret)"
	}
	switch s.Kind {
	case Int:
		n, err := strconv.ParseInt(val, 10, 64)
		if err != nil {
			return bad("must be an integer, got %s", shown)
		}
		if n < s.Min || n < 0 {
			return bad("must be ≥ %d, got %d", max(s.Min, 0), n)
		}
	case Duration:
		d, err := time.ParseDuration(val)
		if err != nil {
			return bad("must be a duration like 30s or 5m, got %s", shown)
		}
		if d < 0 || int64(d) < s.Min {
			return bad("must be ≥ %s, got %s", time.Duration(s.Min), d)
		}
	case URL:
		u, err := url.Parse(val)
		if err != nil || u.Scheme == "" || u.Host == "" {
			return bad("must be an absolute URL like scheme://host:port, got %s", Redact(val))
		}
	case Bool:
		if _, err := strconv.ParseBool(val); err != nil {
			return bad("must be true or false, got %s", shown)
		}
	case List:
		if s.Required && len(splitList(val)) == 0 {
			return bad("must list at least one value")
		}
	}
	return nil
}

func (v Values) setting(name string) Setting {
	s, ok := v.settings[name]
	if !ok {
		panic("config: setting " + strconv.Quote(name) + " was not declared")
	}
	return s
}

// String returns the setting's text ("" when unset and without default).
func (v Values) String(name string) string { v.setting(name); return v.raw[name] }

// Secret returns a secret setting wrapped so that printing or logging it shows a redaction.
func (v Values) Secret(name string) Secret { v.setting(name); return Secret(v.raw[name]) }

// Int returns an Int setting (0 when unset).
func (v Values) Int(name string) int {
	v.setting(name)
	n, _ := strconv.Atoi(v.raw[name])
	return n
}

// Duration returns a Duration setting (0 when unset).
func (v Values) Duration(name string) time.Duration {
	v.setting(name)
	d, _ := time.ParseDuration(v.raw[name])
	return d
}

// Bool returns a Bool setting (false when unset).
func (v Values) Bool(name string) bool {
	v.setting(name)
	b, _ := strconv.ParseBool(v.raw[name])
	return b
}

// List returns a List setting's items, trimmed, blanks dropped.
func (v Values) List(name string) []string { v.setting(name); return splitList(v.raw[name]) }

// Invalid returns an error wrapping ErrInvalid that names the setting, for checks a component
// makes across settings after Load.
func (v Values) Invalid(name, format string, a ...any) error {
	return fmt.Errorf("%w: %s %s", ErrInvalid, v.setting(name).label(), fmt.Sprintf(format, a...))
}

// With returns a copy of v with the named settings overridden; tests and devstack use it to
// build Values without flags.
func (v Values) With(kv ...string) Values {
	out := Values{raw: map[string]string{}, settings: v.settings}
	for k, val := range v.raw {
		out.raw[k] = val
	}
	for i := 0; i+1 < len(kv); i += 2 {
		out.raw[kv[i]] = kv[i+1]
	}
	return out
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// boolFlag lets a Bool setting be given as a bare --flag, like the flag package's bools.
type boolFlag string

func (b *boolFlag) String() string     { return string(*b) }
func (b *boolFlag) Set(v string) error { *b = boolFlag(v); return nil }
func (b *boolFlag) IsBoolFlag() bool   { return true }
