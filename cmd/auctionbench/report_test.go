package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func sampleResult() *Result {
	r := &Result{
		Scenario: "hot",
		URL:      "http://127.0.0.1:3000",
		Started:  time.Date(2026, 11, 24, 20, 15, 3, 250e6, time.UTC),
		Measured: 5*time.Second + 2*time.Millisecond,
	}
	r.param("bidders", "bidders", 200, "")
	r.param("duration_s", "duration", 5.0, "s")
	r.metric("processed_per_s", "processed bids/s", 12345.678, "")
	r.metric("final_price", "final price", "1234.50", "")
	r.latency("ack", "ack (send → reply)", ds(500e3, 1500e3, 2e9))
	r.Rejections = map[string]int64{"bid_too_low": 40, "auction_closed": 2}
	r.check("accepted bids = bid_count", true, "%d = %d", 7, 7)
	r.check("no connection dropped", false, "%d of %d dropped", 1, 200)
	r.note("memory from GET /metrics")
	return r
}

func TestWriteTable(t *testing.T) {
	var b strings.Builder
	if err := sampleResult().WriteTable(&b); err != nil {
		t.Fatal(err)
	}
	want := `auctionbench hot  http://127.0.0.1:3000  started 2026-11-24T20:15:03Z, measured 5.002s

parameters
  bidders   200
  duration  5.00 s

results
  processed bids/s  12345.68
  final price       1234.50

latency               count  mean      p50     p90     p99     max
  ack (send → reply)  3      667.33ms  1.50ms  2.000s  2.000s  2.000s

rejections by code
  auction_closed  2
  bid_too_low     40

checks
  PASS  accepted bids = bid_count  7 = 7
  FAIL  no connection dropped      1 of 200 dropped

notes
  - memory from GET /metrics
`
	if got := b.String(); got != want {
		t.Errorf("table:\n%s\nwant:\n%s", got, want)
	}
}

func TestResultJSON(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.json")
	if err := writeJSONFile(path, sampleResult()); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(data, &got); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, data)
	}
	want := map[string]any{
		"scenario":         "hot",
		"url":              "http://127.0.0.1:3000",
		"started_at":       "2026-11-24T20:15:03.250Z",
		"measured_seconds": 5.002,
		"ok":               false,
		"params":           map[string]any{"bidders": 200.0, "duration_s": 5.0},
		"metrics":          map[string]any{"processed_per_s": 12345.678, "final_price": "1234.50"},
		"latency": map[string]any{"ack": map[string]any{
			"count": 3.0, "mean_ms": 667.333, "p50_ms": 1.5, "p90_ms": 2000.0, "p99_ms": 2000.0, "max_ms": 2000.0,
		}},
		"rejections": map[string]any{"auction_closed": 2.0, "bid_too_low": 40.0},
		"checks": []any{
			map[string]any{"name": "accepted bids = bid_count", "ok": true, "detail": "7 = 7"},
			map[string]any{"name": "no connection dropped", "ok": false, "detail": "1 of 200 dropped"},
		},
		"notes": []any{"memory from GET /metrics"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("JSON:\n%s\nwant %v", data, want)
	}

	// An empty result still has every key, with empty maps and lists rather than nulls.
	empty, err := json.Marshal(&Result{Scenario: "idle"})
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"params":{}`, `"metrics":{}`, `"latency":{}`, `"rejections":{}`, `"checks":[]`, `"ok":true`} {
		if !strings.Contains(string(empty), key) {
			t.Errorf("empty result %s lacks %s", empty, key)
		}
	}
}

func TestFmtDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "0µs", 812 * time.Microsecond: "812µs", 999999: "999µs", time.Millisecond: "1.00ms",
		12345 * time.Microsecond: "12.35ms", time.Second: "1.000s", 1205 * time.Millisecond: "1.205s",
	} {
		if got := fmtDuration(d); got != want {
			t.Errorf("fmtDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestParseMetricsRSS(t *testing.T) {
	text := "# HELP process_resident_memory_bytes Resident memory size in bytes.\n" +
		"# TYPE process_resident_memory_bytes gauge\n" +
		"process_resident_memory_bytes_total 1\n" +
		"process_resident_memory_bytes 1.2345678e+07\n"
	if v, ok := parseMetricsRSS(text); !ok || v != 12345678 {
		t.Errorf("got %d, %v", v, ok)
	}
	if _, ok := parseMetricsRSS("go_goroutines 7\n"); ok {
		t.Error("found RSS in metrics without it")
	}
}

func TestReadProcRSS(t *testing.T) {
	path := filepath.Join(t.TempDir(), "status")
	os.WriteFile(path, []byte("Name:\tsrv\nVmPeak:\t  9999 kB\nVmRSS:\t   20480 kB\nThreads:\t4\n"), 0o644)
	if v, err := readProcRSS(path); err != nil || v != 20480*1024 {
		t.Errorf("got %d, %v", v, err)
	}
	if v, err := readProcRSS("/proc/self/status"); err != nil || v <= 0 {
		t.Errorf("own status: %d, %v", v, err)
	}
}

func TestParseArgs(t *testing.T) {
	var sink strings.Builder
	cfg, scenario, timeout, err := parseArgs([]string{"-url", "http://127.0.0.1:9/", "hot", "-bidders", "5", "-duration", "1s"}, &sink)
	if err != nil || scenario != "hot" || cfg.Bidders != 5 || cfg.Duration != time.Second || timeout != time.Second+5*time.Minute {
		t.Errorf("got %+v %q %v %v", cfg, scenario, timeout, err)
	}
	for _, bad := range [][]string{
		{}, {"nope"}, {"-url", "ftp://x", "hot"}, {"-url", "http://h/path", "hot"}, {"hot", "extra"},
		{"-duration", "0s", "hot"}, {"-admin-user", "a", "hot"}, {"-max-fraction", "2", "hot"},
	} {
		if _, _, _, err := parseArgs(bad, &sink); err == nil {
			t.Errorf("parseArgs(%q) accepted", bad)
		}
	}
}

func TestProcCPU(t *testing.T) {
	path := filepath.Join(t.TempDir(), "stat")
	// Field 2 may hold spaces and parentheses; utime = 250 and stime = 50 ticks = 3 s.
	os.WriteFile(path, []byte("4242 (my (odd) srv) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 50 0 0 20 0 9 0 100 0 0\n"), 0o644)
	if d, err := procCPU(path); err != nil || d != 3*time.Second {
		t.Errorf("got %v, %v", d, err)
	}
	if _, err := procCPU(fmt.Sprintf("/proc/%d/stat", os.Getpid())); err != nil {
		t.Errorf("own stat: %v", err)
	}
}

func TestAPIErrorMessages(t *testing.T) {
	e := &apiError{Method: "POST", Path: "/api/v1/users", Status: 429, Code: "rate_limited", Message: "slow down"}
	want := "POST /api/v1/users: unexpected status 429 rate_limited: slow down (" + rateLimitHint + ")"
	if e.Error() != want {
		t.Errorf("got %q\nwant %q", e.Error(), want)
	}
	e = &apiError{Method: "GET", Path: "/api/v1/auctions/7", Status: 500}
	if got := e.Error(); got != "GET /api/v1/auctions/7: unexpected status 500" {
		t.Errorf("got %q", got)
	}
	if !strings.Contains(usageText, "RATE_LIMITS=off") {
		t.Error("the usage text does not mention RATE_LIMITS=off")
	}
}

// TestChooseIO: auto falls back to goroutines where the loops cannot run; epoll asked for
// explicitly does not; an unknown mode names the flag.
func TestChooseIO(t *testing.T) {
	works := func() (string, error) { return "loops", nil }
	fails := func() (string, error) { return "", errors.New("no epoll here") }
	goroutines := func() string { return "goroutines" }
	for _, tc := range []struct {
		mode    string
		loops   func() (string, error)
		want    string
		wantErr string
	}{
		{"", works, "loops", ""},
		{watcherIOAuto, works, "loops", ""},
		{watcherIOAuto, fails, "goroutines", ""},
		{watcherIOEpoll, works, "loops", ""},
		{watcherIOEpoll, fails, "", "-bidder-io epoll: no epoll here"},
		{watcherIOGoroutine, works, "goroutines", ""},
		{"threads", works, "", `-bidder-io must be auto, epoll or goroutine, not "threads"`},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			got, err := chooseIO("-bidder-io", tc.mode, tc.loops, goroutines)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}
