package console

import (
	"net/http"
	"net/url"
	"strings"
)

// apiPrefix is where the API is mounted; the proxy serves it under "/console" + apiPrefix.
const apiPrefix = "/api/v1"

// proxy hands an authenticated console request to the API handler in process, as if it
// had been made to /api/v1 with the admin token. The caller has checked the session and,
// for changes, the CSRF token.
func (c *Console) proxy(api http.Handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		esc := strings.TrimPrefix(r.URL.EscapedPath(), "/console")
		path, err := url.PathUnescape(esc)
		if err != nil || !strings.HasPrefix(esc, apiPrefix+"/") {
			writeError(w, http.StatusNotFound, "not_found", "no such API path")
			return
		}
		r2 := r.Clone(r.Context())
		r2.URL.Path, r2.URL.RawPath = path, esc
		r2.RequestURI = r2.URL.RequestURI()
		r2.Header.Del("Authorization")
		r2.Header.Del("Cookie") // the API never needs the session
		api.ServeHTTP(w, r2)
		// Request metrics are labelled by route: report the API's, not the proxy's.
		if r2.Pattern != "" {
			r.Pattern = r2.Pattern
		}
	}
}
