package handlers

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"html"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"auctionhouse/auction"
	"auctionhouse/models"
	"auctionhouse/models/dbtest"
)

// Helpers of the page tests: a server with templates, static files and an upload directory,
// and a "browser" that keeps cookies and posts forms the way a real one does.

// pagesConfig is the configuration of a server with pages, its photos in a fresh directory.
func pagesConfig(t *testing.T) Config {
	return Config{
		Templates: os.DirFS("../templates"),
		Static:    os.DirFS("../static"),
		UploadDir: t.TempDir(),
	}
}

// eachPagesStore is eachStore with pages; mod, if not nil, adjusts the configuration.
func eachPagesStore(t *testing.T, mod func(*Config), fn func(t *testing.T, e *env)) {
	t.Helper()
	dbtest.Each(t, func(t *testing.T, s *models.Store) {
		cfg := pagesConfig(t)
		if mod != nil {
			mod(&cfg)
		}
		fn(t, newEnv(t, s, cfg, nil))
	})
}

// browser is one visitor: it keeps the cookies the server sets and sends them back.
type browser struct {
	e       *env
	cookies map[string]string
}

func (e *env) browser() *browser { return &browser{e: e, cookies: map[string]string{}} }

// send makes one request with the browser's cookies and keeps the cookies of the answer.
func (b *browser) send(req *http.Request, opts ...reqOpt) response {
	b.e.t.Helper()
	for name, value := range b.cookies {
		req.AddCookie(&http.Cookie{Name: name, Value: value})
	}
	for _, o := range opts {
		o(req)
	}
	res, err := b.e.app.Test(req, -1)
	if err != nil {
		b.e.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		b.e.t.Fatalf("%s %s: read body: %v", req.Method, req.URL, err)
	}
	for _, c := range res.Cookies() {
		if c.MaxAge < 0 || c.Value == "" || (!c.Expires.IsZero() && c.Expires.Before(time.Now())) {
			delete(b.cookies, c.Name)
		} else {
			b.cookies[c.Name] = c.Value
		}
	}
	return response{Status: res.StatusCode, Body: body, Header: res.Header, raw: res}
}

// get loads a page.
func (b *browser) get(path string, opts ...reqOpt) response {
	b.e.t.Helper()
	return b.send(httptest.NewRequest("GET", path, nil), opts...)
}

// post submits an url-encoded form.
func (b *browser) post(path string, form url.Values, opts ...reqOpt) response {
	b.e.t.Helper()
	req := httptest.NewRequest("POST", path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.send(req, opts...)
}

// filePart is one file of a multipart form: its name as the browser gives it, the type the
// browser claims, and the bytes.
type filePart struct {
	field, name, contentType string
	data                     []byte
}

// postMultipart submits a multipart form with fields and files.
func (b *browser) postMultipart(path string, fields url.Values, files []filePart, opts ...reqOpt) response {
	b.e.t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for name, values := range fields {
		for _, v := range values {
			if err := w.WriteField(name, v); err != nil {
				b.e.t.Fatal(err)
			}
		}
	}
	for _, f := range files {
		h := textproto.MIMEHeader{}
		h.Set("Content-Disposition", `form-data; name="`+f.field+`"; filename="`+f.name+`"`)
		h.Set("Content-Type", f.contentType)
		part, err := w.CreatePart(h)
		if err != nil {
			b.e.t.Fatal(err)
		}
		if _, err := part.Write(f.data); err != nil {
			b.e.t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		b.e.t.Fatal(err)
	}
	req := httptest.NewRequest("POST", path, &buf)
	req.Header.Set("Content-Type", w.FormDataContentType())
	return b.send(req, opts...)
}

var csrfMetaPattern = regexp.MustCompile(`<meta name="csrf-token" content="([^"]*)">`)

// csrfOf returns the token of a page's <meta name="csrf-token">, failing the test without one.
func csrfOf(t *testing.T, r response) string {
	t.Helper()
	m := csrfMetaPattern.FindSubmatch(r.Body)
	if m == nil || len(m[1]) == 0 {
		t.Fatalf("no csrf-token meta in the page:\n%s", r.Body)
	}
	return string(m[1])
}

// token loads a page and returns its CSRF token.
func (b *browser) token(path string) string {
	b.e.t.Helper()
	return csrfOf(b.e.t, b.get(path).expect(b.e.t, 200))
}

// signupForm creates an account through the signup form; the browser is signed in afterwards.
func (b *browser) signupForm(name string) {
	b.e.t.Helper()
	tok := b.token("/signup")
	r := b.post("/signup", url.Values{"_csrf": {tok}, "username": {name}, "password": {testPassword}})
	r.expectRedirect(b.e.t, "/")
}

// loginForm signs in through the login form.
func (b *browser) loginForm(name, password string) {
	b.e.t.Helper()
	tok := b.token("/login")
	b.post("/login", url.Values{"_csrf": {tok}, "username": {name}, "password": {password}}).expectRedirect(b.e.t, "/")
}

// adminBrowser is a browser signed in as the administrator that main would create.
func (e *env) adminBrowser() *browser {
	e.t.Helper()
	if err := e.srv.EnsureAdmin(context.Background(), "root", "admin password"); err != nil {
		e.t.Fatalf("EnsureAdmin: %v", err)
	}
	b := e.browser()
	b.loginForm("root", "admin password")
	return b
}

// expectRedirect fails the test unless the answer is 303 See Other to location.
func (r response) expectRedirect(t *testing.T, location string) response {
	t.Helper()
	if r.Status != http.StatusSeeOther {
		t.Fatalf("status %d, want 303 to %s; body %s", r.Status, location, r.Body)
	}
	if got := r.Header.Get("Location"); got != location {
		t.Fatalf("redirect to %q, want %q", got, location)
	}
	return r
}

// expectPage fails the test unless the answer is an HTML page with this status that follows
// the rules every page keeps: a CSRF meta tag, CSS and scripts only from /static, no inline
// script (the JSON data block aside) and no inline style.
func (r response) expectPage(t *testing.T, status int) string {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d; body %s", r.Status, status, r.Body)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Fatalf("Content-Type %q, want HTML; body %s", ct, r.Body)
	}
	body := string(r.Body)
	csrfOf(t, r)
	if !strings.Contains(body, `<link rel="stylesheet" href="/static/css/app.css">`) {
		t.Errorf("the page does not load /static/css/app.css")
	}
	if strings.Contains(body, "<style") || regexp.MustCompile(`\sstyle=`).MatchString(body) {
		t.Errorf("the page has inline style")
	}
	for _, m := range regexp.MustCompile(`<script[^>]*>`).FindAllString(body, -1) {
		if !strings.Contains(m, `src="/static/js/`) && m != `<script id="initial-state" type="application/json">` {
			t.Errorf("inline or foreign script: %s", m)
		}
	}
	if regexp.MustCompile(`<[^>]*\son[a-z]+=`).MatchString(body) {
		t.Errorf("the page has an inline event handler")
	}
	return body
}

// element returns the opening tag of the element with this id, or fails the test.
func element(t *testing.T, body, id string) string {
	t.Helper()
	m := regexp.MustCompile(`<[a-z0-9]+[^>]*\sid="` + regexp.QuoteMeta(id) + `"[^>]*>`).FindString(body)
	if m == "" {
		t.Fatalf("no element #%s in the page", id)
	}
	return m
}

// hasElement reports whether the page has an element with this id.
func hasElement(body, id string) bool {
	return regexp.MustCompile(`\sid="` + regexp.QuoteMeta(id) + `"`).MatchString(body)
}

// textOf returns the text inside the element with this id (up to its first closing tag),
// unescaped.
func textOf(t *testing.T, body, id string) string {
	t.Helper()
	open := element(t, body, id)
	rest := body[strings.Index(body, open)+len(open):]
	end := strings.Index(rest, "</")
	if end < 0 {
		t.Fatalf("#%s is not closed", id)
	}
	return html.UnescapeString(strings.TrimSpace(rest[:end]))
}

// initialState decodes the page's <script id="initial-state"> as the live script would.
func initialState(t *testing.T, body string) auction.View {
	t.Helper()
	const open = `<script id="initial-state" type="application/json">`
	i := strings.Index(body, open)
	if i < 0 {
		t.Fatalf("no initial-state in the page")
	}
	rest := body[i+len(open):]
	end := strings.Index(rest, "</script>")
	if end < 0 {
		t.Fatalf("initial-state is not closed")
	}
	var v auction.View
	if err := json.Unmarshal([]byte(rest[:end]), &v); err != nil {
		t.Fatalf("initial-state is not the auction's JSON (%v): %s", err, rest[:end])
	}
	return v
}

// Tiny images of each accepted type, made by the standard encoders (WebP has none: a 1×1
// lossless file).
func pngBytes(t *testing.T) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 4, 3))
	img.Set(1, 1, color.RGBA{200, 30, 30, 255})
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func jpegBytes(t *testing.T) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 4, 3))
	img.Set(2, 1, color.RGBA{30, 30, 200, 255})
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, nil); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func webpBytes(t *testing.T) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString("UklGRhoAAABXRUJQVlA4TA0AAAAvAAAAEAcQERGIiP4HAA==")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sellFields is a valid seller's form ending in an hour, with fields overridden by mod (an
// empty string removes the field).
func sellFields(csrfToken string, mod map[string]string) url.Values {
	v := url.Values{
		"_csrf":             {csrfToken},
		"title":             {"Brass telescope"},
		"description":       {"Works; slight dent."},
		"starting_price":    {"10.00"},
		"ends_at":           {time.Now().UTC().Add(time.Hour).Format("2006-01-02T15:04")},
		"extension_seconds": {"120"},
	}
	for k, val := range mod {
		if val == "" {
			v.Del(k)
		} else {
			v.Set(k, val)
		}
	}
	return v
}

// listAll lists every auction straight from the engine, to check what was (not) created.
func (e *env) listAll() []auction.View {
	e.t.Helper()
	views, err := e.engine.List(context.Background(), auction.ListOptions{Limit: auction.MaxListLimit})
	if err != nil {
		e.t.Fatal(err)
	}
	return views
}

// uploadedFiles lists the names in the upload directory.
func (e *env) uploadedFiles() []string {
	e.t.Helper()
	entries, err := os.ReadDir(e.srv.cfg.UploadDir)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		e.t.Fatal(err)
	}
	var names []string
	for _, en := range entries {
		names = append(names, en.Name())
	}
	return names
}

// newRequest is a bodiless request for browser.send.
func newRequest(method, path string) *http.Request { return httptest.NewRequest(method, path, nil) }
