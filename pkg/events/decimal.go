package events

import (
	"encoding/json"
	"fmt"
	"math/big"
	"regexp"
	"strconv"
	"strings"
)

var plainDecimal = regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?$`)

// Decimal returns n as a plain decimal string ("20.0", "1.21", "-3"), converting exponent
// forms ("1.5e2" → "150") without going through a float, so no cent is ever rounded away.
func Decimal(n json.Number) (string, error) {
	s := string(n)
	if plainDecimal.MatchString(s) {
		return s, nil
	}
	// Bound the exponent before big.Rat expands 1e999999999 into a billion digits.
	if _, exp, ok := strings.Cut(strings.ToLower(s), "e"); ok {
		if e, err := strconv.Atoi(exp); err != nil || e > 30 || e < -30 {
			return "", fmt.Errorf("%w: %q is out of range", ErrUnmappable, s)
		}
	}
	r, ok := new(big.Rat).SetString(s)
	if !ok || strings.ContainsAny(s, "xXpP_") {
		return "", fmt.Errorf("%w: %q is not a decimal number", ErrUnmappable, s)
	}
	// An exponent form has exactly len(fraction digits) - exponent decimals; the reduced
	// rational's denominator cannot tell (1.25e-2 = 1/80).
	mant, exp, _ := strings.Cut(strings.ToLower(s), "e")
	e, err := strconv.Atoi(exp)
	if err != nil {
		return "", fmt.Errorf("%w: %q is not a decimal number", ErrUnmappable, s)
	}
	scale := 0
	if _, frac, ok := strings.Cut(mant, "."); ok {
		scale = len(frac)
	}
	scale = max(scale-e, 0)
	if scale > 30 {
		return "", fmt.Errorf("%w: %q has too many decimals", ErrUnmappable, s)
	}
	return r.FloatString(scale), nil
}

// AddDecimals adds decimal strings exactly; it is used for totals.
func AddDecimals(a ...string) (string, error) {
	sum := new(big.Rat)
	scale := 0
	for _, s := range a {
		r, ok := new(big.Rat).SetString(s)
		if !ok {
			return "", fmt.Errorf("%w: %q is not a decimal number", ErrUnmappable, s)
		}
		if i := strings.IndexByte(s, '.'); i >= 0 && len(s)-i-1 > scale {
			scale = len(s) - i - 1
		}
		sum.Add(sum, r)
	}
	return sum.FloatString(scale), nil
}
