package events

import (
	"encoding/json"
	"fmt"
	"math/big"
	"regexp"
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
	r, ok := new(big.Rat).SetString(s)
	if !ok || strings.ContainsAny(s, "xXpP_") {
		return "", fmt.Errorf("%w: %q is not a decimal number", ErrUnmappable, s)
	}
	// Exponent forms are exact rationals with a power-of-ten denominator: find its scale.
	scale := 0
	for d := new(big.Int).Set(r.Denom()); d.Cmp(big.NewInt(1)) > 0 && scale <= 30; scale++ {
		d.Quo(d, big.NewInt(10))
	}
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
