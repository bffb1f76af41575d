package handlers

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"sync"
)

// pageHoles are the parts of a cached page that differ from one request to the next. Each is
// written into the page's HTML as it is, so each must be holeSafe. (The bid form's request id
// differs too, but a visitor who is not signed in gets no bid form.)
type pageHoles struct {
	CSRF     string // the visitor's CSRF token
	TimeLeft string // the countdown as the server's clock sees it now
	// ServerTime is the server_time of the auction object in the page's initial state, which
	// the live script sets its clock by.
	ServerTime string
}

func (h pageHoles) list() [3]string { return [3]string{h.CSRF, h.TimeLeft, h.ServerTime} }

// safe reports whether every hole is holeSafe.
func (h pageHoles) safe() bool {
	for _, v := range h.list() {
		if !holeSafe(v) {
			return false
		}
	}
	return true
}

// holeSafe reports whether v reads the same in every context html/template escapes for (text,
// attribute values, JSON strings in a script): tokens are base64url, a time left is digits,
// letters and spaces, an RFC 3339 time adds ':' and '.'.
func holeSafe(v string) bool {
	for i := 0; i < len(v); i++ {
		c := v[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '-' || c == '_' || c == ' ' || c == ':' || c == '.'
		if !ok {
			return false
		}
	}
	return true
}

// anonPages keeps the auction page as an anonymous visitor sees it, rendered once per state of
// the auction (its seq) with marks where the holes go; a view then only fills the holes in.
// html/template spent half of the server's CPU on a page view (BENCHMARKS.md, auction page),
// and the crowd that watches the last minute of an auction is mostly not signed in.
type anonPages struct {
	// marks stand in for the holes while the page is rendered for the cache. They are random,
	// so user text cannot contain one, and holeSafe, so escaping leaves them as they are.
	marks pageHoles
	mu    sync.Mutex
	pages map[int64]*splicedPage // by auction id: one version of each
}

// anonPagesMax bounds the cached pages, each a few KiB.
const anonPagesMax = 1024

func newAnonPages() *anonPages {
	mark := func(name string) string {
		b := make([]byte, 16)
		_, _ = rand.Read(b) // never fails (crypto/rand)
		return "hole" + name + hex.EncodeToString(b)
	}
	return &anonPages{
		marks: pageHoles{CSRF: mark("csrf"), TimeLeft: mark("left"), ServerTime: mark("now")},
		pages: make(map[int64]*splicedPage),
	}
}

// splicedPage is a rendered page cut at its holes: text[0], hole[0], text[1], …, text[n].
type splicedPage struct {
	version int64
	text    [][]byte
	holes   []int // indexes into pageHoles.list
	size    int   // of the text alone
}

// lookup returns the cached page of auction id at version, or nil.
func (c *anonPages) lookup(id, version int64) *splicedPage {
	c.mu.Lock()
	defer c.mu.Unlock()
	if p := c.pages[id]; p != nil && p.version == version {
		return p
	}
	return nil
}

// store keeps p for auction id, unless a newer version is already there.
func (c *anonPages) store(id int64, p *splicedPage) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if old := c.pages[id]; old != nil && old.version > p.version {
		return
	}
	if _, ok := c.pages[id]; !ok && len(c.pages) >= anonPagesMax {
		for k := range c.pages { // any one: a dropped page is only rendered again
			delete(c.pages, k)
			break
		}
	}
	c.pages[id] = p
}

// splice cuts html, rendered with c.marks in the holes, at the marks.
func (c *anonPages) splice(version int64, html []byte) *splicedPage {
	marks := c.marks.list()
	p := &splicedPage{version: version}
	for {
		at, hole := -1, -1
		for i, m := range marks {
			if j := bytes.Index(html, []byte(m)); j >= 0 && (at < 0 || j < at) {
				at, hole = j, i
			}
		}
		if at < 0 {
			break
		}
		p.text = append(p.text, html[:at])
		p.holes = append(p.holes, hole)
		p.size += at
		html = html[at+len(marks[hole]):]
	}
	p.text = append(p.text, html)
	p.size += len(html)
	return p
}

// fill returns the page with h in its holes.
func (p *splicedPage) fill(h pageHoles) []byte {
	values := h.list()
	n := p.size
	for _, i := range p.holes {
		n += len(values[i])
	}
	out := make([]byte, 0, n)
	for i, t := range p.text {
		out = append(out, t...)
		if i < len(p.holes) {
			out = append(out, values[p.holes[i]]...)
		}
	}
	return out
}
