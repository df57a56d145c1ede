package console

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Cookie names. Over https the cookie is __Host- prefixed and Secure; on plain http
// (a server on 127.0.0.1 without TLS) a Secure cookie would never come back, so it is
// sent without Secure there, still HttpOnly and SameSite=Strict.
const (
	cookiePlain  = "chathooks_session"
	cookieSecure = "__Host-chathooks_session"
)

// CSRFHeader carries the page's CSRF token on every change made through the proxy.
const CSRFHeader = "X-CSRF-Token"

// session is a verified session cookie value.
type session struct {
	raw     string
	expires time.Time
}

func (c *Console) mac(parts ...string) []byte {
	m := hmac.New(sha256.New, c.o.SessionKey)
	for _, p := range parts {
		m.Write([]byte(p))
		m.Write([]byte{0})
	}
	return m.Sum(nil)
}

// newSession signs an expiry bound to the current admin token.
func (c *Console) newSession(now time.Time) string {
	exp := strconv.FormatInt(now.Add(c.o.SessionTTL).Unix(), 10)
	return exp + "." + base64.RawURLEncoding.EncodeToString(c.mac("session", exp, c.o.AdminHash))
}

func (c *Console) verifySession(v string) (session, bool) {
	exp, sig, ok := strings.Cut(v, ".")
	if !ok {
		return session{}, false
	}
	got, err := base64.RawURLEncoding.DecodeString(sig)
	if err != nil || !hmac.Equal(got, c.mac("session", exp, c.o.AdminHash)) {
		return session{}, false
	}
	n, err := strconv.ParseInt(exp, 10, 64)
	if err != nil {
		return session{}, false
	}
	t := time.Unix(n, 0)
	if !c.o.Clock.Now().Before(t) {
		return session{}, false
	}
	return session{raw: v, expires: t}, true
}

// secure reports whether the request reached the server over https (directly, or behind a
// proxy whose public base URL is https).
func (c *Console) secure(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	if c.o.BaseURL != nil {
		if u, err := url.Parse(c.o.BaseURL()); err == nil && u.Scheme == "https" {
			return true
		}
	}
	return false
}

func (c *Console) cookieName(r *http.Request) string {
	if c.secure(r) {
		return cookieSecure
	}
	return cookiePlain
}

func (c *Console) sessionOf(r *http.Request) (session, bool) {
	ck, err := r.Cookie(c.cookieName(r))
	if err != nil {
		return session{}, false
	}
	return c.verifySession(ck.Value)
}

func (c *Console) csrfToken(s session) string {
	return base64.RawURLEncoding.EncodeToString(c.mac("csrf", s.raw))
}

func (c *Console) csrfOK(r *http.Request, s session, token string) bool {
	got, err := base64.RawURLEncoding.DecodeString(token)
	return err == nil && token != "" && hmac.Equal(got, c.mac("csrf", s.raw))
}

// sameOrigin refuses a change whose Origin (or Fetch Metadata) says it came from another
// site: a second line behind SameSite=Strict and the CSRF token.
func sameOrigin(r *http.Request) bool {
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" {
		return false
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	return err == nil && u.Host == r.Host
}

func unsafeMethod(m string) bool {
	return m != http.MethodGet && m != http.MethodHead && m != http.MethodOptions
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]any{"error": map[string]string{"code": code, "message": msg}})
}

// session requires a valid session cookie, and for changes a same-origin request with the
// CSRF token in X-CSRF-Token.
func (c *Console) session(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s, ok := c.sessionOf(r)
		if !ok {
			writeError(w, http.StatusUnauthorized, "unauthenticated", "sign in to the console first")
			return
		}
		if unsafeMethod(r.Method) && (!sameOrigin(r) || !c.csrfOK(r, s, r.Header.Get(CSRFHeader))) {
			writeError(w, http.StatusForbidden, "permission_denied", "missing or invalid CSRF token: reload the page")
			return
		}
		// The same request goes on (not a copy): the proxy reports the API's route pattern
		// on it for the request metrics.
		next(w, r)
	}
}

func (c *Console) setCookie(w http.ResponseWriter, r *http.Request, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{
		Name: c.cookieName(r), Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: c.secure(r), SameSite: http.SameSiteStrictMode,
	})
}

// signIn checks the admin token from the form in constant time and sets the session.
func (c *Console) signIn(w http.ResponseWriter, r *http.Request) {
	next := safeNext(r.PostFormValue("next"))
	if !sameOrigin(r) {
		writeError(w, http.StatusForbidden, "permission_denied", "cross-site sign-in refused")
		return
	}
	tok := strings.TrimSpace(r.PostFormValue("token"))
	sum := sha256.Sum256([]byte(tok))
	if tok == "" || subtle.ConstantTimeCompare([]byte(hex.EncodeToString(sum[:])), []byte(c.o.AdminHash)) != 1 {
		c.render(w, http.StatusUnauthorized, c.signin, pageData{Title: "Sign in", Next: next, Page: "signin",
			Error: "That is not the admin token. It was printed once when the server first started (or set with --admin-token)."})
		return
	}
	c.setCookie(w, r, c.newSession(c.o.Clock.Now()), int(c.o.SessionTTL/time.Second))
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// signOut clears the session (the form carries the CSRF token as a field).
func (c *Console) signOut(w http.ResponseWriter, r *http.Request) {
	if s, ok := c.sessionOf(r); ok {
		if !sameOrigin(r) || !c.csrfOK(r, s, r.PostFormValue("csrf")) {
			writeError(w, http.StatusForbidden, "permission_denied", "missing or invalid CSRF token: reload the page")
			return
		}
	}
	c.setCookie(w, r, "", -1)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}
