package handlers

import (
	"fmt"
	"html/template"
	"net/url"
	"strings"
	"time"

	"auctionhouse/auction"
)

// pageFuncs are the helpers the templates may call. Each returns plain text, which
// html/template escapes like any other value; none returns template.HTML.
func pageFuncs() template.FuncMap {
	return template.FuncMap{
		"money":       money,
		"timeLeft":    timeLeft,
		"when":        when,
		"statusLabel": statusLabel,
		"inc":         func(i int) int { return i + 1 },
	}
}

// money shows a contract amount ("1250.00") as people read it ("$1,250.00"). The amounts are
// in USD, the only currency auctions have. A nil or empty amount shows as "".
func money(v any) string {
	var s string
	switch a := v.(type) {
	case string:
		s = a
	case *string:
		if a == nil {
			return ""
		}
		s = *a
	default:
		return fmt.Sprint(v)
	}
	if s == "" {
		return ""
	}
	whole, frac, hasFrac := strings.Cut(s, ".")
	var b strings.Builder
	b.WriteByte('$')
	for i := range len(whole) {
		if i > 0 && (len(whole)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteByte(whole[i])
	}
	if hasFrac {
		b.WriteByte('.')
		b.WriteString(frac)
	}
	return b.String()
}

// timeLeft is the time from now until an RFC 3339 instant, in the two largest units ("2h 5m",
// "3d 4h", "42s"), or "Ended" once it has passed. The live script counts down from the
// element's data-ends-at; this is what a page without it shows.
func timeLeft(until string, now time.Time) string {
	t, err := time.Parse(time.RFC3339Nano, until)
	if err != nil {
		return ""
	}
	return formatTimeLeft(t.Sub(now))
}

func formatTimeLeft(d time.Duration) string {
	if d <= 0 {
		return "Ended"
	}
	// Round up, so that "0s" never shows while there is still time.
	secs := int64((d + time.Second - 1) / time.Second)
	days, secs := secs/86400, secs%86400
	hours, secs := secs/3600, secs%3600
	mins, secs := secs/60, secs%60
	switch {
	case days > 0:
		return fmt.Sprintf("%dd %dh", days, hours)
	case hours > 0:
		return fmt.Sprintf("%dh %dm", hours, mins)
	case mins > 0:
		return fmt.Sprintf("%dm %ds", mins, secs)
	default:
		return fmt.Sprintf("%ds", secs)
	}
}

// when shows an RFC 3339 instant for people, in UTC (the server cannot know the reader's zone;
// the <time datetime> beside it lets scripts show local time).
func when(ts string) string {
	t, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil {
		return ts
	}
	return t.UTC().Format("Jan 2, 2006 15:04 UTC")
}

// statusLabel names an auction status for people.
func statusLabel(status auction.Status) string {
	switch status {
	case auction.StatusScheduled:
		return "Scheduled"
	case auction.StatusOpen:
		return "Open"
	case auction.StatusClosed:
		return "Closed"
	case auction.StatusCancelled:
		return "Cancelled"
	}
	return string(status)
}

// localPath returns raw if it is a path on this site that is safe to redirect to after signing
// in, else "". It must start with a single "/": "//evil.example" and "/\evil.example" are
// other sites to browsers. Control characters and backslashes are refused outright, since
// browsers strip or rewrite them in ways that could turn a path into a host.
func localPath(raw string) string {
	const maxLen = 2048
	if raw == "" || len(raw) > maxLen || raw[0] != '/' || strings.HasPrefix(raw, "//") {
		return ""
	}
	for i := 0; i < len(raw); i++ {
		if ch := raw[i]; ch < 0x20 || ch == 0x7f || ch == '\\' {
			return ""
		}
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
		return ""
	}
	return raw
}
