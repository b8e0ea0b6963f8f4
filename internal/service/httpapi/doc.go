// Package httpapi is kiln serve's HTTP face: the JSON API under /api/
// (apps, deploy tokens, builds, their logs as text or as a resumable
// Server-Sent Events stream, cancel) and the web page at / (a login form,
// apps, builds and a live log view). Every API call is authenticated with
// a bearer token — the admin token, or a deploy token for its app's
// builds — or with the web page's session cookie, which holds the token
// (HttpOnly, SameSite=Strict; a cookie-authenticated call that changes
// something must also carry the X-Kiln-Request header, which a
// cross-site form cannot add).
package httpapi
