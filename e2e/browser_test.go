package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// chromiumPath is Debian's chromium. CI installs it (.ci/run); elsewhere the tests skip without it.
const chromiumPath = "/usr/bin/chromium"

// requireChromium returns the browser's path, skipping the test when it is missing outside CI and
// failing it in CI, where a skipped browser suite would hide every regression of the pages.
func requireChromium(t *testing.T) string {
	t.Helper()
	path := chromiumPath
	if _, err := os.Stat(path); err != nil {
		if p, lerr := exec.LookPath("chromium"); lerr == nil {
			path = p
		} else {
			if os.Getenv("CI") == "true" {
				t.Fatalf("e2e: chromium is not installed (%s) and CI=true; install it with "+
					"`apt-get install -y chromium`", chromiumPath)
			}
			t.Skipf("e2e: chromium is not installed (%s); install it with `apt-get install -y chromium` "+
				"to run the browser tests", chromiumPath)
		}
	}
	return path
}

// screenshotDir is where every visited page is saved: $E2E_SCREENSHOTS, or a temporary directory.
func screenshotDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("E2E_SCREENSHOTS")
	if dir == "" {
		return t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("e2e: screenshot directory %s: %v", dir, err)
	}
	return dir
}

// browser is one headless chromium with its own profile: its own cookies, so its own user.
type browser struct {
	t     *testing.T
	name  string
	ctx   context.Context
	base  string
	shots *shots

	mu       sync.Mutex
	problems []string // uncaught exceptions and console calls
}

// shots numbers the screenshots of one test run, across browsers, in the order they are taken.
type shots struct {
	dir string
	mu  sync.Mutex
	n   int
}

// testScript runs before any script of every page. It wraps WebSocket so that a test can cut
// the page's live connection and hold it down (as a network that swallows packets would), make
// every new attempt fail at once, or close the socket right after the next frame is sent (so
// that its answer is lost), and then let it come back. It records the frames sent. It changes
// nothing until asked.
const testScript = `(() => {
  const Real = window.WebSocket;
  if (!Real) return;
  const real = new Set();
  const fakes = new Set();
  let mode = '';
  let closeAfterSend = false;
  const sent = [];
  class Fake extends EventTarget {
    constructor(url) {
      super();
      this.url = url; this.readyState = 0; this.protocol = ''; this.extensions = '';
      this.bufferedAmount = 0; this.binaryType = 'blob';
      this.onopen = null; this.onclose = null; this.onmessage = null; this.onerror = null;
    }
    send() { throw new DOMException('not open', 'InvalidStateError'); }
    close() { this._fail(1006); }
    _fail(code) {
      if (this.readyState === 3) return;
      this.readyState = 3;
      fakes.delete(this);
      const err = new Event('error');
      if (this.onerror) this.onerror(err);
      this.dispatchEvent(err);
      const ev = new CloseEvent('close', { code: code, wasClean: false });
      if (this.onclose) this.onclose(ev);
      this.dispatchEvent(ev);
    }
  }
  function WS(url, protocols) {
    if (mode) {
      const f = new Fake(url);
      fakes.add(f);
      if (mode === 'fail') setTimeout(() => f._fail(1006), 10);
      return f;
    }
    const s = protocols === undefined ? new Real(url) : new Real(url, protocols);
    s.send = function (data) {
      Real.prototype.send.call(this, data);
      try { sent.push(JSON.parse(data)); } catch (e) { sent.push(String(data)); }
      if (closeAfterSend) {
        // The frame is on its way; the answer will find the socket closing and be lost.
        closeAfterSend = false;
        this.close(4002, 'e2e');
      }
    };
    real.add(s);
    s.addEventListener('close', () => real.delete(s));
    return s;
  }
  WS.prototype = Real.prototype;
  WS.CONNECTING = 0; WS.OPEN = 1; WS.CLOSING = 2; WS.CLOSED = 3;
  window.WebSocket = WS;
  window.__e2e = {
    cut(how) { mode = how || 'hang'; for (const s of real) s.close(4001, 'e2e'); },
    restore() { mode = ''; for (const f of Array.from(fakes)) f._fail(1006); },
    loseNextAnswer() { closeAfterSend = true; },
    sent() { return sent.slice(); },
    openSockets() { let n = 0; for (const s of real) if (s.readyState === 1) n++; return n; },
    fakeSockets() { return fakes.size; },
  };
})();`

// newBrowser starts a browser with a fresh profile; width×height is its viewport, mobile
// emulates a phone (touch, device metrics).
func newBrowser(t *testing.T, execPath, name, base string, sh *shots, width, height int64, mobile bool) *browser {
	t.Helper()
	profile, err := os.MkdirTemp("", "e2e-chromium-")
	if err != nil {
		t.Fatalf("e2e: profile directory: %v", err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(execPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(int(width), int(height)),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-background-timer-throttling", true),
		chromedp.Flag("disable-renderer-backgrounding", true),
		chromedp.Flag("disable-backgrounding-occluded-windows", true),
		chromedp.Flag("disable-features", "Translate,MediaRouter,OptimizationHints"),
		chromedp.Flag("password-store", "basic"),
		chromedp.Flag("use-mock-keychain", true),
		chromedp.Flag("lang", "en-US"),
		chromedp.Env("TZ=UTC"),
	}
	actx, acancel := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancel()
		acancel()
		_ = os.RemoveAll(profile)
	})
	b := &browser{t: t, name: name, ctx: ctx, base: base, shots: sh}

	// The first Run starts the browser; it must not carry a timeout (see chromedp.Run).
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("e2e: start chromium for %s: %v", name, err)
	}
	if err := chromedp.Listen(ctx, b.onEvent); err != nil {
		t.Fatalf("e2e: listen to %s: %v", name, err)
	}
	viewport := []chromedp.EmulateViewportOption{}
	if mobile {
		viewport = append(viewport, chromedp.EmulateMobile, chromedp.EmulateTouch, chromedp.EmulateScale(2),
			chromedp.EmulatePortrait)
	}
	b.do("set up the page",
		chromedp.EmulateViewport(width, height, viewport...),
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument,
				page.AddScriptToEvaluateOnNewDocumentParams{Source: testScript})
			return err
		}),
	)
	return b
}

// onEvent records what a page says on its console and the exceptions it throws: the pages'
// scripts must do neither.
func (b *browser) onEvent(ev any) {
	switch ev := ev.(type) {
	case *runtime.EventExceptionThrown:
		d := ev.ExceptionDetails
		text := d.Text
		if d.Exception != nil && d.Exception.Description != "" {
			text += " " + d.Exception.Description
		}
		b.mu.Lock()
		b.problems = append(b.problems, fmt.Sprintf("uncaught exception at %s:%d: %s", d.URL, d.LineNumber, text))
		b.mu.Unlock()
	case *runtime.EventConsoleAPICalled:
		var parts []string
		for _, a := range ev.Args {
			if a.Value != nil {
				parts = append(parts, string(a.Value))
			} else {
				parts = append(parts, a.Description)
			}
		}
		b.mu.Lock()
		b.problems = append(b.problems, fmt.Sprintf("console.%s: %s", ev.Type, strings.Join(parts, " ")))
		b.mu.Unlock()
	}
}

// checkQuiet fails the test if the page threw or wrote to the console.
func (b *browser) checkQuiet() {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, p := range b.problems {
		b.t.Errorf("e2e: %s's page: %s", b.name, p)
	}
	b.problems = nil
}

const stepTimeout = 15 * time.Second

// do runs the steps with a timeout and fails the test (with a screenshot) if they fail.
func (b *browser) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.fail(what, err)
	}
}

// fail saves a screenshot of the page as it is and ends the test.
func (b *browser) fail(what string, err error) {
	b.t.Helper()
	b.screenshot("FAILED-" + what)
	state, _ := b.evalString(`(() => { const m = document.querySelector('main'); return location.href + '\n' + (m ? m.innerText : document.body ? document.body.innerText : '') })()`)
	b.t.Fatalf("e2e: %s: %s: %v\npage: %s", b.name, what, err, state)
}

// eval evaluates a JavaScript expression in the page and returns its result as T.
func eval[T any](b *browser, expr string) (T, error) {
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	return chromedp.Run(ctx, chromedp.Evaluate[T](expr))
}

func (b *browser) evalString(expr string) (string, error) { return eval[string](b, expr) }

// mustEval is eval that fails the test on an error.
func mustEval[T any](b *browser, what, expr string) T {
	b.t.Helper()
	v, err := eval[T](b, expr)
	if err != nil {
		b.fail(what, err)
	}
	return v
}

// text is the trimmed text of the element matched by sel, or "" if there is none.
func (b *browser) text(sel string) string {
	b.t.Helper()
	return mustEval[string](b, "read "+sel, `(() => { const e = document.querySelector(`+jsString(sel)+`); return e ? e.textContent.trim().replace(/\s+/g, ' ') : '' })()`)
}

// waitFor evaluates the JavaScript predicate every 100 ms until it is true, for at most
// timeout. Errors while the page navigates (no document, a context destroyed) are retried.
func (b *browser) waitFor(what, predicate string, timeout time.Duration) {
	b.t.Helper()
	deadline := time.Now().Add(timeout)
	var lastErr error
	for {
		ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`!!(`+predicate+`)`))
		cancel()
		if err == nil && ok {
			return
		}
		lastErr = err
		if b.ctx.Err() != nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	err := fmt.Errorf("not within %s: %s", timeout, predicate)
	if lastErr != nil {
		err = fmt.Errorf("%w (last error: %v)", err, lastErr)
	}
	b.fail(what, err)
}

// waitText waits until the element's text (trimmed, runs of spaces as one) matches re. re is
// run by JavaScript: keep to the syntax both share; a leading (?i) becomes the flag i.
func (b *browser) waitText(sel string, re *regexp.Regexp, timeout time.Duration) {
	b.t.Helper()
	src, flags := re.String(), ""
	if rest, ok := strings.CutPrefix(src, "(?i)"); ok {
		src, flags = rest, "i"
	}
	b.waitFor(fmt.Sprintf("%s to match %s", sel, re), `(() => { const e = document.querySelector(`+jsString(sel)+
		`); return !!e && new RegExp(`+jsString(src)+`, `+jsString(flags)+`).test(e.textContent.trim().replace(/\s+/g, ' ')) })()`, timeout)
}

// navigate loads path and waits for the document to be complete.
func (b *browser) navigate(path string) {
	b.t.Helper()
	b.do("navigate to "+path, chromedp.Navigate(b.base+path))
	b.waitFor("load "+path, `document.readyState === 'complete'`, stepTimeout)
}

// path is the current location's path.
func (b *browser) path() string {
	b.t.Helper()
	return mustEval[string](b, "read the location", `location.pathname`)
}

// screenshot saves a full-page PNG named after the step.
func (b *browser) screenshot(step string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Logf("e2e: screenshot %s/%s: %v", b.name, step, err)
		return
	}
	b.shots.mu.Lock()
	b.shots.n++
	n := b.shots.n
	b.shots.mu.Unlock()
	name := fmt.Sprintf("%02d-%s-%s.png", n, b.name, slug(step))
	if err := os.WriteFile(filepath.Join(b.shots.dir, name), buf, 0o644); err != nil {
		b.t.Errorf("e2e: save screenshot: %v", err)
	}
}

var nonSlug = regexp.MustCompile(`[^a-z0-9]+`)

func slug(s string) string {
	s = strings.Trim(nonSlug.ReplaceAllString(strings.ToLower(s), "-"), "-")
	if len(s) > 60 {
		s = s[:60]
	}
	return s
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	var sb strings.Builder
	sb.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			sb.WriteByte('\\')
			sb.WriteRune(r)
		case r == '\n':
			sb.WriteString(`\n`)
		case r < 0x20 || r == 0x2028 || r == 0x2029:
			fmt.Fprintf(&sb, `\u%04x`, r)
		default:
			sb.WriteRune(r)
		}
	}
	sb.WriteByte('"')
	return sb.String()
}
