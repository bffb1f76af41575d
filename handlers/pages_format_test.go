package handlers

import (
	"testing"
	"time"
)

func TestMoney(t *testing.T) {
	s := "1234567.50"
	for in, want := range map[any]string{
		"0.05": "$0.05", "12.50": "$12.50", "999.00": "$999.00", "1000.00": "$1,000.00",
		"999999999999.99": "$999,999,999,999.99", &s: "$1,234,567.50", (*string)(nil): "", "": "",
	} {
		if got := money(in); got != want {
			t.Errorf("money(%v) = %q, want %q", in, got, want)
		}
	}
}

func TestFormatTimeLeft(t *testing.T) {
	for d, want := range map[time.Duration]string{
		-time.Second:                   "Ended",
		0:                              "Ended",
		300 * time.Millisecond:         "1s",
		42 * time.Second:               "42s",
		5*time.Minute + 12*time.Second: "5m 12s",
		2*time.Hour + 5*time.Minute:    "2h 5m",
		2*time.Hour + 4*time.Minute + 59*time.Second + time.Millisecond: "2h 5m",
		3*24*time.Hour + 4*time.Hour + 59*time.Minute:                   "3d 4h",
	} {
		if got := formatTimeLeft(d); got != want {
			t.Errorf("formatTimeLeft(%v) = %q, want %q", d, got, want)
		}
	}
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	if got := timeLeft("2030-01-01T02:05:00.000Z", now); got != "2h 5m" {
		t.Errorf("timeLeft = %q", got)
	}
}

func TestLocalPath(t *testing.T) {
	for raw, want := range map[string]string{
		"/":                     "/",
		"/auctions/7":           "/auctions/7",
		"/auctions/7?msg=x#top": "/auctions/7?msg=x#top",
		"":                      "",
		"auctions/7":            "",
		"//evil.example":        "",
		"/\\evil.example":       "",
		"/\tevil":               "",
		"https://evil.example/": "",
		"javascript:alert(1)":   "",
		"/%0d%0aSet-Cookie:x":   "/%0d%0aSet-Cookie:x",
	} {
		if got := localPath(raw); got != want {
			t.Errorf("localPath(%q) = %q, want %q", raw, got, want)
		}
	}
}
