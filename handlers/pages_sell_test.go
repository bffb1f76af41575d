package handlers

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestPageSellFormAccess(t *testing.T) {
	eachPagesStore(t, nil, func(t *testing.T, e *env) {
		anon := e.browser()
		anon.get("/auctions/new").expectRedirect(t, "/login?next=%2Fauctions%2Fnew")
		tok := anon.token("/signup")
		anon.post("/auctions", sellFields(tok, nil)).expectRedirect(t, "/login?next=%2Fauctions%2Fnew")

		b := e.browser()
		b.signupForm("seller")
		body := b.get("/auctions/new").expectPage(t, 200)
		for _, id := range []string{"title", "description", "photos", "starting_price", "reserve_price", "buy_now_price", "starts_at", "ends_at", "extension_seconds", "tz_offset_minutes"} {
			element(t, body, id)
		}
		if !strings.Contains(element(t, body, "photos"), "multiple") || !strings.Contains(body, `enctype="multipart/form-data"`) {
			t.Errorf("the photo input must take several files in a multipart form")
		}
		if !strings.Contains(element(t, body, "extension_seconds"), `value="120"`) {
			t.Errorf("the soft-close window should default to 120")
		}
		if !strings.Contains(body, `<script src="/static/js/form.js" defer></script>`) {
			t.Errorf("form.js is not loaded")
		}

		// Without the session's token: 403 and nothing created.
		b.postMultipart("/auctions", sellFields("", map[string]string{"_csrf": ""}), nil).expectPage(t, 403)
		b.postMultipart("/auctions", sellFields("wrong", nil), nil).expectPage(t, 403)
		if n := len(e.listAll()); n != 0 {
			t.Fatalf("%d auctions created without a CSRF token", n)
		}
	})
}

func TestPageSellWithPhotos(t *testing.T) {
	eachPagesStore(t, nil, func(t *testing.T, e *env) {
		b := e.browser()
		b.signupForm("seller")
		tok := b.token("/auctions/new")
		pngData, jpegData, webpData := pngBytes(t), jpegBytes(t), webpBytes(t)
		files := []filePart{
			// Names and claimed types are ignored; only the content counts.
			{"photos", "front.jpeg", "application/octet-stream", pngData},
			{"photos", "side", "image/png", jpegData},
			{"photos", "back.webp", "image/webp", webpData},
			{"photos", "", "application/octet-stream", nil}, // an empty file input
		}
		fields := sellFields(tok, map[string]string{"reserve_price": "20", "buy_now_price": "50.5", "extension_seconds": "60"})
		r := b.postMultipart("/auctions", fields, files)
		if r.Status != 303 || !strings.HasPrefix(r.Header.Get("Location"), "/auctions/") {
			t.Fatalf("status %d, location %q; body %s", r.Status, r.Header.Get("Location"), r.Body)
		}
		views := e.listAll()
		if len(views) != 1 {
			t.Fatalf("%d auctions, want 1", len(views))
		}
		v := views[0]
		if r.Header.Get("Location") != auctionURL(v.ID, "") {
			t.Errorf("redirect to %s, want the new auction %d", r.Header.Get("Location"), v.ID)
		}
		if v.Title != "Brass telescope" || v.StartingPrice != "10.00" || v.BuyNowPrice == nil || *v.BuyNowPrice != "50.50" ||
			v.ReserveMet == nil || v.ExtensionSeconds != 60 || v.Seller.Name != "seller" {
			t.Errorf("auction as created: %+v", v)
		}

		photos, err := e.store.PhotosByAuction(context.Background(), v.ID)
		if err != nil {
			t.Fatal(err)
		}
		want := []struct {
			ct, ext string
			data    []byte
		}{{photoPNG, ".png", pngData}, {photoJPEG, ".jpg", jpegData}, {photoWebP, ".webp", webpData}}
		if len(photos) != len(want) {
			t.Fatalf("%d photos stored, want %d", len(photos), len(want))
		}
		for i, p := range photos {
			if p.ContentType != want[i].ct || !strings.HasSuffix(p.FileName, want[i].ext) || p.Position != i || !photoNamePattern.MatchString(p.FileName) {
				t.Errorf("photo %d: %+v, want %s", i, p, want[i].ct)
			}
			stored, err := os.ReadFile(filepath.Join(e.srv.cfg.UploadDir, p.FileName))
			if err != nil || !bytes.Equal(stored, want[i].data) {
				t.Errorf("photo %d on disk: %v", i, err)
			}
			served := e.do("GET", "/photos/"+p.FileName, "").expect(t, 200)
			if !bytes.Equal(served.Body, want[i].data) || served.Header.Get("Content-Type") != want[i].ct ||
				served.Header.Get("X-Content-Type-Options") != "nosniff" || !strings.Contains(served.Header.Get("Cache-Control"), "max-age=31536000") {
				t.Errorf("photo %d served with %v", i, served.Header)
			}
		}
		// No temporary files are left behind.
		if files := e.uploadedFiles(); len(files) != 3 {
			t.Errorf("upload directory holds %v", files)
		}

		// The auction page shows them, and the list its first one.
		body := b.get(auctionURL(v.ID, "")).expectPage(t, 200)
		for _, p := range photos {
			if !strings.Contains(body, `src="/photos/`+p.FileName+`"`) {
				t.Errorf("photo %s not on the auction page", p.FileName)
			}
		}
		body = b.get("/").expectPage(t, 200)
		if !strings.Contains(body, `src="/photos/`+photos[0].FileName+`"`) {
			t.Errorf("the list does not show the first photo")
		}
	})
}

func TestPageSellRefusesBadPhotos(t *testing.T) {
	const maxBytes = 4 << 10
	eachPagesStore(t, func(c *Config) { c.MaxPhotoBytes = maxBytes; c.MaxPhotos = 2 }, func(t *testing.T, e *env) {
		b := e.browser()
		b.signupForm("seller")
		tok := b.token("/auctions/new")
		big := append(pngBytes(t), bytes.Repeat([]byte{0}, maxBytes)...)
		cases := map[string][]filePart{
			"text named .png":    {{"photos", "cat.png", "image/png", []byte("just some text, not an image at all")}},
			"html named .jpg":    {{"photos", "x.jpg", "image/jpeg", []byte("<html><script>alert(1)</script></html>")}},
			"svg":                {{"photos", "x.svg", "image/svg+xml", []byte(`<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>`)}},
			"png magic only":     {{"photos", "x.png", "image/png", []byte("\x89PNG\r\n\x1a\n garbage")}},
			"riff but not webp":  {{"photos", "x.webp", "image/webp", []byte("RIFF\x10\x00\x00\x00WAVEfmt \x00\x00\x00\x00")}},
			"oversized":          {{"photos", "big.png", "image/png", big}},
			"too many":           {{"photos", "1.png", "image/png", pngBytes(t)}, {"photos", "2.png", "image/png", pngBytes(t)}, {"photos", "3.png", "image/png", pngBytes(t)}},
			"one bad among good": {{"photos", "ok.png", "image/png", pngBytes(t)}, {"photos", "bad.png", "image/png", []byte("nope")}},
		}
		for name, files := range cases {
			r := b.postMultipart("/auctions", sellFields(tok, map[string]string{"title": "Kept title"}), files)
			body := r.expectPage(t, 422)
			if !strings.Contains(body, `class="field has-error"`) || !strings.Contains(element(t, body, "photos"), `aria-invalid="true"`) {
				t.Errorf("%s: no error on the photos field:\n%s", name, body)
			}
			if !strings.Contains(element(t, body, "title"), `value="Kept title"`) {
				t.Errorf("%s: the title was not kept", name)
			}
			if n := len(e.listAll()); n != 0 {
				t.Fatalf("%s: %d auctions created", name, n)
			}
			if files := e.uploadedFiles(); len(files) != 0 {
				t.Fatalf("%s: files stored: %v", name, files)
			}
		}
		body := b.postMultipart("/auctions", sellFields(tok, nil), cases["oversized"]).expectPage(t, 422)
		if !strings.Contains(body, "larger than 4 KB") {
			t.Errorf("the size message does not name the limit:\n%s", body)
		}
		body = b.postMultipart("/auctions", sellFields(tok, nil), cases["too many"]).expectPage(t, 422)
		if !strings.Contains(body, "at most 2 photos") {
			t.Errorf("the count message does not name the limit")
		}
	})
}

func TestPageSellFieldErrors(t *testing.T) {
	eachPagesStore(t, nil, func(t *testing.T, e *env) {
		b := e.browser()
		b.signupForm("seller")
		tok := b.token("/auctions/new")
		past := time.Now().UTC().Add(-time.Hour).Format("2006-01-02T15:04")

		cases := []struct {
			name   string
			fields map[string]string
			// errs are the fields that must be marked, with a piece of their message.
			errs map[string]string
		}{
			{"everything wrong at once", map[string]string{
				"title": " ", "starting_price": "abc", "reserve_price": "-1", "buy_now_price": "1e3",
				"starts_at": "tomorrow", "ends_at": "soon", "extension_seconds": "9999",
			}, map[string]string{
				"title": "Enter a title", "starting_price": "Enter an amount", "reserve_price": "Enter an amount",
				"buy_now_price": "Enter an amount", "starts_at": "Enter a date", "ends_at": "Enter a date",
				"extension_seconds": "between 0 and 3600",
			}},
			{"prices out of order", map[string]string{"starting_price": "10", "reserve_price": "5", "buy_now_price": "7"},
				map[string]string{"reserve_price": "below the starting price", "buy_now_price": "below the starting price"}},
			{"buy now below reserve", map[string]string{"reserve_price": "30", "buy_now_price": "20"},
				map[string]string{"buy_now_price": "below the reserve"}},
			{"end in the past", map[string]string{"ends_at": past}, map[string]string{"ends_at": "in the future"}},
			{"end before start", map[string]string{"starts_at": time.Now().UTC().Add(3 * time.Hour).Format("2006-01-02T15:04")},
				map[string]string{"ends_at": "after the start"}},
			{"missing", map[string]string{"starting_price": "", "ends_at": ""},
				map[string]string{"starting_price": "Enter a starting price", "ends_at": "Enter an end time"}},
			{"three decimals", map[string]string{"starting_price": "10.001"}, map[string]string{"starting_price": "at most two decimals"}},
			{"long title", map[string]string{"title": strings.Repeat("x", 201)}, map[string]string{"title": "at most 200"}},
			{"negative extension", map[string]string{"extension_seconds": "-5"}, map[string]string{"extension_seconds": "whole number"}},
		}
		for _, tc := range cases {
			fields := sellFields(tok, tc.fields)
			body := b.postMultipart("/auctions", fields, nil).expectPage(t, 422)
			for _, field := range []string{"title", "description", "starting_price", "reserve_price", "buy_now_price", "starts_at", "ends_at", "extension_seconds"} {
				input := element(t, body, field)
				msg, bad := tc.errs[field]
				if bad != strings.Contains(input, `aria-invalid="true"`) {
					t.Errorf("%s: field %s marked invalid = %v, want %v", tc.name, field, !bad, bad)
				}
				if bad {
					// The message sits in the field's own block, right after its input.
					rest := body[strings.Index(body, input):]
					block := rest[:strings.Index(rest, "</div>")]
					if !strings.Contains(block, `class="field-error"`) || !strings.Contains(block, msg) {
						t.Errorf("%s: field %s lacks the message %q:\n%s", tc.name, field, msg, block)
					}
				}
				// Every value comes back as typed.
				if v := fields.Get(field); v != "" && field != "description" && !strings.Contains(input, `value="`+htmlAttr(v)+`"`) {
					t.Errorf("%s: field %s lost its value %q: %s", tc.name, field, v, input)
				}
			}
			if !strings.Contains(body, ">"+htmlAttr(fields.Get("description"))+"</textarea>") {
				t.Errorf("%s: the description was not kept", tc.name)
			}
			if n := len(e.listAll()); n != 0 {
				t.Fatalf("%s: %d auctions created", tc.name, n)
			}
		}
	})
}

// htmlAttr escapes s as html/template writes it in attribute values and text.
func htmlAttr(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&#34;", "'", "&#39;", "+", "&#43;").Replace(s)
}

func TestPageSellTimes(t *testing.T) {
	eachPagesStore(t, nil, func(t *testing.T, e *env) {
		b := e.browser()
		b.signupForm("seller")
		tok := b.token("/auctions/new")
		end := time.Now().UTC().Add(48 * time.Hour).Truncate(time.Minute)
		local := end.Format("2006-01-02T15:04")

		// Without an offset, datetime-local is UTC.
		b.postMultipart("/auctions", sellFields(tok, map[string]string{"ends_at": local, "title": "utc"}), nil).expect(t, 303)
		// With the browser's offset (UTC+2 gives -120), the same wall time is two hours earlier in UTC.
		b.postMultipart("/auctions", sellFields(tok, map[string]string{"ends_at": local, "title": "plus two", "tz_offset_minutes": "-120"}), nil).expect(t, 303)
		// An implausible offset is ignored.
		b.postMultipart("/auctions", sellFields(tok, map[string]string{"ends_at": local, "title": "bogus", "tz_offset_minutes": "99999"}), nil).expect(t, 303)
		// Start in the future: scheduled.
		start := time.Now().UTC().Add(24 * time.Hour).Format("2006-01-02T15:04:05")
		b.postMultipart("/auctions", sellFields(tok, map[string]string{"ends_at": local, "starts_at": start, "title": "later"}), nil).expect(t, 303)

		got := map[string]string{}
		status := map[string]string{}
		for _, v := range e.listAll() {
			got[v.Title] = v.EndsAt
			status[v.Title] = string(v.Status)
		}
		for title, want := range map[string]time.Time{"utc": end, "plus two": end.Add(-2 * time.Hour), "bogus": end, "later": end} {
			if got[title] != want.Format("2006-01-02T15:04:05.000Z") {
				t.Errorf("%s: ends_at %s, want %s", title, got[title], want)
			}
		}
		if status["later"] != "scheduled" || status["utc"] != "open" {
			t.Errorf("statuses %v", status)
		}

		// A url-encoded post (no photos) works too.
		b.post("/auctions", sellFields(tok, map[string]string{"title": "no photos"})).expect(t, 303)
	})
}

func TestSniffPhoto(t *testing.T) {
	for name, tc := range map[string]struct {
		data []byte
		want string
	}{
		"png":          {pngBytes(t), photoPNG},
		"jpeg":         {jpegBytes(t), photoJPEG},
		"webp":         {webpBytes(t), photoWebP},
		"gif":          {[]byte("GIF89a\x01\x00\x01\x00\x00\x00\x00;"), ""},
		"text":         {[]byte("hello"), ""},
		"short riff":   {[]byte("RIFF\x04\x00\x00\x00WEBP"), ""},
		"riff too big": {[]byte("RIFF\xff\x00\x00\x00WEBPVP8L\x00\x00\x00\x00"), ""},
		"empty":        {nil, ""},
	} {
		got, err := checkPhoto(tc.data)
		if got != tc.want || (err == nil) != (tc.want != "") {
			t.Errorf("%s: checkPhoto = %q, %v; want %q", name, got, err, tc.want)
		}
	}
}

func TestParseFormTime(t *testing.T) {
	minus90 := -90 * time.Minute
	for _, tc := range []struct {
		raw    string
		offset *time.Duration
		want   string
		ok     bool
	}{
		{"2030-01-02T03:04", nil, "2030-01-02T03:04:00Z", true},
		{"2030-01-02T03:04:05", nil, "2030-01-02T03:04:05Z", true},
		{"2030-01-02T03:04", &minus90, "2030-01-02T01:34:00Z", true},
		{"2030-01-02T03:04:05+02:00", &minus90, "2030-01-02T01:04:05Z", true},
		{"2030-01-02", nil, "", false},
		{"tomorrow", nil, "", false},
	} {
		got, ok := parseFormTime(tc.raw, tc.offset)
		if ok != tc.ok || (ok && got.UTC().Format(time.RFC3339) != tc.want) {
			t.Errorf("parseFormTime(%q) = %v, %v; want %s, %v", tc.raw, got, ok, tc.want, tc.ok)
		}
	}
	if tzOffset("") != nil || tzOffset("abc") != nil || tzOffset("900") != nil || *tzOffset("-120") != -2*time.Hour {
		t.Errorf("tzOffset misreads offsets")
	}
}

func TestPagePhotoNames(t *testing.T) {
	eachPagesStore(t, nil, func(t *testing.T, e *env) {
		secret := filepath.Join(filepath.Dir(e.srv.cfg.UploadDir), "secret.png")
		if err := os.WriteFile(secret, pngBytes(t), 0o600); err != nil {
			t.Fatal(err)
		}
		// A file in the upload directory that the photos table does not know is not served.
		if err := os.WriteFile(filepath.Join(e.srv.cfg.UploadDir, "0123456789abcdef0123456789abcdef.png"), pngBytes(t), 0o600); err != nil {
			t.Fatal(err)
		}
		b := e.browser()
		for _, path := range []string{
			"/photos/../secret.png",
			"/photos/..%2Fsecret.png",
			"/photos/%2e%2e%2fsecret.png",
			"/photos/..%5Csecret.png",
			"/photos/secret.png",
			"/photos/0123456789abcdef0123456789abcdef.png",
			"/photos/0123456789ABCDEF0123456789ABCDEF.png",
			"/photos/0123456789abcdef0123456789abcdef.svg",
			"/photos/.upload-123",
		} {
			r := b.get(path)
			if r.Status != 404 {
				t.Errorf("GET %s: status %d, want 404", path, r.Status)
			}
			if bytes.Contains(r.Body, []byte("PNG")) {
				t.Errorf("GET %s served a file", path)
			}
		}
	})
}
