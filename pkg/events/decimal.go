package events

import (
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
)

// Decimal returns n as a plain decimal string ("20.0", "1.21", "-3"), converting exponent
// forms ("1.5e2" → "150") without going through a float, so no cent is ever rounded away.
func Decimal(n json.Number) (string, error) {
	s := string(n)
	if isPlainDecimal(s) {
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

// AddDecimals adds decimal strings exactly; it is used for totals. The result has as many
// decimals as the input with the most ("0.10" + "2" = "2.10").
func AddDecimals(a ...string) (string, error) {
	if sum, ok := addFixed(a); ok {
		return sum, nil
	}
	return addRat(a)
}

// ScaleDecimal multiplies the decimal s by 10^exp exactly and drops the trailing zeros of the
// fraction ("16530", -3 → "16.53"); ok is false when s is not a number. With exp 0, s is
// returned as it is.
func ScaleDecimal(s string, exp int) (string, bool) {
	if exp == 0 {
		return s, true
	}
	if m, scale, ok := parseFixed(s); ok && exp > -maxFixedDigits && exp < maxFixedDigits {
		if exp < 0 {
			scale -= exp
		} else if scale >= exp {
			scale -= exp
		} else {
			m, ok = mulPow10(m, exp-scale)
			scale = 0
		}
		if ok {
			return trimFraction(formatFixed(m, scale)), true
		}
	}
	return scaleRat(s, exp)
}

func scaleRat(s string, exp int) (string, bool) {
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return "", false
	}
	scale := 0
	if i := strings.IndexByte(s, '.'); i >= 0 {
		scale = len(s) - i - 1
	}
	p := new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(abs(exp))), nil))
	if exp > 0 {
		r.Mul(r, p)
		scale = max(scale-exp, 0)
	} else {
		r.Quo(r, p)
		scale -= exp
	}
	return trimFraction(r.FloatString(scale)), true
}

func trimFraction(s string) string {
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// The decimals providers send ("-12.50", "3") fit an int64 with their decimal point removed:
// adding them there costs a few nanoseconds and no allocation, where big.Rat cost 49
// allocations for a three-line total (the sums were a tenth of the normalizer's CPU in the
// `make bench` profile). Anything else (more digits, exponents, fractions) takes big.Rat's path;
// FuzzAddDecimalsAgreesWithBigRat holds the two to the same results.
const maxFixedDigits = 18

var pow10 = func() (p [maxFixedDigits + 1]int64) {
	p[0] = 1
	for i := 1; i < len(p); i++ {
		p[i] = p[i-1] * 10
	}
	return p
}()

// isPlainDecimal reports whether s is -?(0|[1-9][0-9]*)(\.[0-9]+)?: the form Decimal keeps.
func isPlainDecimal(s string) bool {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i == len(s):
		return false
	case s[i] == '0':
		i++
	case '1' <= s[i] && s[i] <= '9':
		for i < len(s) && '0' <= s[i] && s[i] <= '9' {
			i++
		}
	default:
		return false
	}
	if i == len(s) {
		return true
	}
	if s[i] != '.' || i+1 == len(s) {
		return false
	}
	for i++; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// parseFixed reads s = -?[0-9]+(\.[0-9]+)? of at most maxFixedDigits digits as m·10^-scale.
func parseFixed(s string) (m int64, scale int, ok bool) {
	i, neg := 0, false
	if i < len(s) && s[i] == '-' {
		i, neg = 1, true
	}
	start, point := i, -1
	for ; i < len(s); i++ {
		switch c := s[i]; {
		case '0' <= c && c <= '9':
			m = m*10 + int64(c-'0')
		case c == '.' && point < 0 && i > start:
			point = i
		default:
			return 0, 0, false
		}
	}
	digits := i - start
	if point >= 0 {
		scale = i - point - 1
		digits--
	}
	if digits == 0 || digits > maxFixedDigits || (point >= 0 && scale == 0) {
		return 0, 0, false
	}
	if neg {
		m = -m
	}
	return m, scale, true
}

func mulPow10(m int64, k int) (int64, bool) {
	if k < 0 || k > maxFixedDigits {
		return 0, false
	}
	p := pow10[k]
	if m > math.MaxInt64/p || m < math.MinInt64/p {
		return 0, false
	}
	return m * p, true
}

// formatFixed writes m·10^-scale as big.Rat's FloatString(scale) does.
func formatFixed(m int64, scale int) string {
	u := uint64(m)
	if m < 0 {
		u = uint64(-m) // also right for math.MinInt64
	}
	var buf [48]byte
	digits := strconv.AppendUint(buf[:0], u, 10)
	for len(digits) <= scale {
		digits = append(digits, 0)
		copy(digits[1:], digits)
		digits[0] = '0'
	}
	out := make([]byte, 0, len(digits)+2)
	if m < 0 {
		out = append(out, '-')
	}
	if scale == 0 {
		return string(append(out, digits...))
	}
	out = append(out, digits[:len(digits)-scale]...)
	out = append(out, '.')
	return string(append(out, digits[len(digits)-scale:]...))
}

func addFixed(a []string) (string, bool) {
	scale := 0
	for _, s := range a {
		_, sc, ok := parseFixed(s)
		if !ok {
			return "", false
		}
		scale = max(scale, sc)
	}
	var sum int64
	for _, s := range a {
		m, sc, _ := parseFixed(s)
		m, ok := mulPow10(m, scale-sc)
		if !ok {
			return "", false
		}
		next := sum + m
		if (m > 0 && next < sum) || (m < 0 && next > sum) {
			return "", false
		}
		sum = next
	}
	return formatFixed(sum, scale), true
}

func addRat(a []string) (string, error) {
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
