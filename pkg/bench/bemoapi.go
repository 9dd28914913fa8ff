package bench

import (
	"bytes"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/chargeline/chargeline/pkg/providers/bemo"
)

// bemoAPI serves GetSessionsByAccount over a fixed set of records the way the bemo simulator
// does (credentials, from/to day windows, offset/limit paging, Accept-Range and Next-Range
// headers, the Success envelope), but from records grouped by account and day beforehand, so a
// page costs what writing it costs. The poller's client, source and paging are the real ones.
type bemoAPI struct {
	pages map[string][][]byte // "<account> <day>" → sessions in order
}

// maxLimit is the simulator's Accept-Range.
const maxLimit = 1000

func newBemoAPI(recs []record) *bemoAPI {
	a := &bemoAPI{pages: map[string][][]byte{}}
	for _, r := range recs {
		k := r.account + " " + r.day
		a.pages[k] = append(a.pages[k], r.data)
	}
	return a
}

func (a *bemoAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	const prefix, suffix = "/reporting/v1/api/accounts/", "/sessions"
	path := r.URL.Path
	if !strings.HasPrefix(path, prefix) || !strings.HasSuffix(path, suffix) {
		http.Error(w, `{"status":"Error","errors":[{"code":"ResourceNotFound","message":"not found"}],"version":"1.0"}`, http.StatusNotFound)
		return
	}
	if r.Header.Get("Api-Subscription-Key") != bemo.SimSubscriptionKey || strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ") != bemo.SimAccessToken {
		http.Error(w, `{"statusCode":401,"message":"Access denied"}`, http.StatusUnauthorized)
		return
	}
	account := strings.TrimSuffix(strings.TrimPrefix(path, prefix), suffix)
	q := r.URL.Query()
	from, to := q.Get("from"), q.Get("to")
	offset, _ := strconv.Atoi(q.Get("offset"))
	limit, err := strconv.Atoi(q.Get("limit"))
	if err != nil || limit < 1 || limit > maxLimit || from == "" || from != to || offset < 0 {
		// The source asks for one day at a time; anything else is not what this stand-in serves.
		http.Error(w, `{"status":"Error","errors":[{"code":"ArgumentException","message":"bench API serves one-day windows"}],"data":null,"trace":null,"version":"1.0"}`, http.StatusBadRequest)
		return
	}
	all := a.pages[account+" "+from]
	lo := min(offset*limit, len(all))
	hi := min(lo+limit, len(all))
	size := 64
	for _, s := range all[lo:hi] {
		size += len(s) + 1
	}
	var b bytes.Buffer
	b.Grow(size)
	b.WriteString(`{"status":"Success","errors":null,"data":[`)
	for i, s := range all[lo:hi] {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(s)
	}
	b.WriteString(`],"trace":null,"version":"1.0"}`)
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Accept-Range", strconv.Itoa(maxLimit))
	if hi < len(all) {
		next := url.URL{Scheme: "http", Host: r.Host, Path: path}
		nq := r.URL.Query()
		nq.Set("offset", strconv.Itoa(offset+1))
		next.RawQuery = nq.Encode()
		h.Set("Next-Range", next.String())
	}
	_, _ = w.Write(b.Bytes())
}
