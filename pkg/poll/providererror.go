package poll

import (
	"context"
	"errors"
	"reflect"
	"strconv"
	"sync"
)

// ProviderError is implemented by provider clients' error types that carry what the provider
// answered: the HTTP status and the provider's own error code (a Be-Mo envelope code, a
// Plugsurfing result.code). Retry reports every failed attempt whose error wraps one to the
// scheduler polling the scope, which counts it in chargeline_poller_provider_errors_total
// {provider, status, code}. Optional: other errors (timeouts, resets) show up as
// chargeline_poller_requests_total{status="error"} instead.
type ProviderError interface {
	error
	HTTPStatus() int      // the response's status; 200 for an error carried in a 200 body
	ProviderCode() string // the provider's error code; "" when it sent none
}

// maxCodeLen bounds a code label: codes come from the provider's documented vocabulary, but a
// misbehaving server must not make labels of arbitrary text.
const maxCodeLen = 40

// errorLabels returns the status and code labels of a provider error.
func errorLabels(pe ProviderError) (status, code string) {
	code = pe.ProviderCode()
	if code == "" {
		code = "none"
	}
	if len(code) > maxCodeLen {
		code = code[:maxCodeLen]
	}
	return strconv.Itoa(pe.HTTPStatus()), code
}

type errorObserverKey struct{}

// errorObserver receives the provider errors of one scope's poll. Nested Retry loops see the
// same error twice (the inner attempt's, then the inner loop's result as the outer attempt's):
// it counts an error value once.
type errorObserver struct {
	mu   sync.Mutex
	last ProviderError
	fn   func(ProviderError)
}

// withErrorObserver returns a ctx under which Retry reports provider errors to fn.
func withErrorObserver(ctx context.Context, fn func(ProviderError)) context.Context {
	return context.WithValue(ctx, errorObserverKey{}, &errorObserver{fn: fn})
}

// observeError reports err to ctx's observer if it wraps a ProviderError.
func observeError(ctx context.Context, err error) {
	o, ok := ctx.Value(errorObserverKey{}).(*errorObserver)
	if !ok {
		return
	}
	var pe ProviderError
	if !errors.As(err, &pe) {
		return
	}
	// Only comparable error values can be recognised again; every provider's is a pointer.
	comparable := reflect.TypeOf(pe).Comparable()
	o.mu.Lock()
	seen := comparable && o.last == pe
	if comparable {
		o.last = pe
	}
	o.mu.Unlock()
	if !seen {
		o.fn(pe)
	}
}
