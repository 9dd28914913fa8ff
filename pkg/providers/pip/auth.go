package pip

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/chargeline/chargeline/pkg/config"
	"github.com/chargeline/chargeline/pkg/poll"
)

// refreshMargin is how long before its expiry a cached token is replaced (half its lifetime
// when that is shorter), so a request never leaves with a token about to expire.
const refreshMargin = 30 * time.Second

// tokens hands out the bearer token: the static one, or one obtained with the OAuth2 client
// credentials grant, cached until shortly before it expires. It is safe for concurrent use;
// concurrent callers wait for one token request instead of each making their own.
type tokens struct {
	static string
	cc     *clientcredentials.Config // nil with a static token
	hc     *http.Client              // carries the token requests too (timeouts, tests' transports)
	url    string                    // the token endpoint, redacted for errors

	mu      sync.Mutex
	tok     *oauth2.Token
	fetched time.Time
}

func newTokens(cfg Config, hc *http.Client) *tokens {
	if !cfg.AccessToken.IsZero() {
		return &tokens{static: cfg.AccessToken.Reveal()}
	}
	style := oauth2.AuthStyleInHeader
	if cfg.TokenAuthStyle == AuthStyleParams {
		style = oauth2.AuthStyleInParams
	}
	return &tokens{
		cc: &clientcredentials.Config{
			ClientID:     cfg.ClientID,
			ClientSecret: cfg.ClientSecret.Reveal(),
			TokenURL:     cfg.TokenURL,
			Scopes:       cfg.Scopes,
			// An explicit style: auto-detection sends a second token request after any failure
			// (a 429 or 500 included), which would defeat Retry-After.
			AuthStyle: style,
		},
		hc:  hc,
		url: config.Redact(cfg.TokenURL),
	}
}

// refreshable reports whether a refused token can be replaced by a new one.
func (t *tokens) refreshable() bool { return t.cc != nil }

// get returns the token to send and whether this call obtained it from the token endpoint (a
// token that fresh is not worth refreshing when the API refuses it). Token endpoint failures
// come back classified: *TokenError (poll.ErrAuth) for refused credentials, poll's retryable
// errors for 429, 5xx and transport failures.
func (t *tokens) get(ctx context.Context) (string, bool, error) {
	if t.cc == nil {
		return t.static, false, nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	now := time.Now() // the clock golang.org/x/oauth2 computes Expiry with
	if t.tok != nil && t.usable(now) {
		return t.tok.AccessToken, false, nil
	}
	tok, err := t.cc.Token(context.WithValue(ctx, oauth2.HTTPClient, t.hc))
	if err != nil {
		return "", false, t.classify(ctx, err)
	}
	t.tok, t.fetched = tok, now
	return tok.AccessToken, true, nil
}

// usable reports whether the cached token has more than the refresh margin left.
func (t *tokens) usable(now time.Time) bool {
	if t.tok.Expiry.IsZero() {
		return true // no expires_in: used until the API refuses it
	}
	margin := min(refreshMargin, t.tok.Expiry.Sub(t.fetched)/2)
	return now.Before(t.tok.Expiry.Add(-margin))
}

// invalidate forgets the cached token if it is still tok, so the next get fetches a new one.
func (t *tokens) invalidate(tok string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.tok != nil && t.tok.AccessToken == tok {
		t.tok = nil
	}
}

func (t *tokens) classify(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		return err
	}
	var re *oauth2.RetrieveError
	if errors.As(err, &re) && re.Response != nil {
		te := &TokenError{
			Status:      re.Response.StatusCode,
			Code:        poll.SafeText(re.ErrorCode),
			Description: poll.SafeText(re.ErrorDescription),
			URL:         t.url,
		}
		if te.Code == "" && te.Description == "" {
			te.Description = poll.SafeText(string(re.Body))
		}
		if te.Status == http.StatusRequestTimeout {
			return &poll.TemporaryError{Err: te}
		}
		return poll.HTTPStatusError(re.Response, te)
	}
	// A transport failure, or a 2xx body that is not a token (truncated in transit, most
	// likely): worth a few more attempts.
	var ue *url.Error
	if errors.As(err, &ue) {
		ue.URL = t.url // the configured URL may carry a password
	}
	return &poll.TemporaryError{Err: fmt.Errorf("token endpoint %s: %w", t.url, err)}
}
