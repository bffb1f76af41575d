package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"strings"
	"text/tabwriter"
	"time"
)

// Result is what one scenario measured. The same value prints as a table (WriteTable) and as
// JSON (MarshalJSON); keys are snake_case for JSON, labels are for people.
type Result struct {
	Scenario string
	URL      string
	Started  time.Time
	// Measured is the length of the measurement window (bidding, or holding connections).
	Measured time.Duration

	Params    []Field
	Metrics   []Field
	Latencies []LatencyField
	// Rejections counts bid rejections by error code.
	Rejections map[string]int64
	Checks     []Check
	Notes      []string
}

// Field is one named value: an int, int64, float64 or string, with an optional unit.
type Field struct {
	Key   string
	Label string
	Value any
	Unit  string
}

// LatencyField is one latency distribution.
type LatencyField struct {
	Key   string
	Label string
	Summary
}

// Check is a pass/fail verdict on the server's behaviour.
type Check struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail,omitempty"`
}

func (r *Result) param(key, label string, v any, unit string) {
	r.Params = append(r.Params, Field{key, label, v, unit})
}

func (r *Result) metric(key, label string, v any, unit string) {
	r.Metrics = append(r.Metrics, Field{key, label, v, unit})
}

func (r *Result) latency(key, label string, samples []time.Duration) {
	r.Latencies = append(r.Latencies, LatencyField{key, label, Summarize(samples)})
}

func (r *Result) check(name string, ok bool, format string, args ...any) {
	r.Checks = append(r.Checks, Check{Name: name, OK: ok, Detail: fmt.Sprintf(format, args...)})
}

func (r *Result) note(format string, args ...any) {
	r.Notes = append(r.Notes, fmt.Sprintf(format, args...))
}

// OK reports whether every check passed.
func (r *Result) OK() bool {
	for _, c := range r.Checks {
		if !c.OK {
			return false
		}
	}
	return true
}

// WriteTable prints the result for people.
func (r *Result) WriteTable(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "auctionbench %s  %s  started %s, measured %s\n", r.Scenario, r.URL,
		r.Started.UTC().Format(time.RFC3339), fmtDuration(r.Measured))

	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	section := func(title string, fields []Field) {
		if len(fields) == 0 {
			return
		}
		fmt.Fprintf(tw, "\n%s\n", title)
		for _, f := range fields {
			fmt.Fprintf(tw, "  %s\t%s\n", f.Label, fmtValue(f.Value, f.Unit))
		}
	}
	section("parameters", r.Params)
	section("results", r.Metrics)
	if len(r.Latencies) > 0 {
		fmt.Fprintf(tw, "\nlatency\tcount\tmean\tp50\tp90\tp99\tmax\n")
		for _, l := range r.Latencies {
			fmt.Fprintf(tw, "  %s\t%d\t%s\t%s\t%s\t%s\t%s\n", l.Label, l.Count,
				fmtDuration(l.Mean), fmtDuration(l.P50), fmtDuration(l.P90), fmtDuration(l.P99), fmtDuration(l.Max))
		}
	}
	if len(r.Rejections) > 0 {
		fmt.Fprintf(tw, "\nrejections by code\n")
		for _, code := range sortedKeys(r.Rejections) {
			fmt.Fprintf(tw, "  %s\t%d\n", code, r.Rejections[code])
		}
	}
	if len(r.Checks) > 0 {
		fmt.Fprintf(tw, "\nchecks\n")
		for _, c := range r.Checks {
			verdict := "PASS"
			if !c.OK {
				verdict = "FAIL"
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\n", verdict, c.Name, c.Detail)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(r.Notes) > 0 {
		b.WriteString("\nnotes\n")
		for _, n := range r.Notes {
			b.WriteString("  - " + n + "\n")
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// jsonLatency is a latency distribution in JSON, in milliseconds with microsecond precision.
type jsonLatency struct {
	Count  int     `json:"count"`
	MeanMS float64 `json:"mean_ms"`
	P50MS  float64 `json:"p50_ms"`
	P90MS  float64 `json:"p90_ms"`
	P99MS  float64 `json:"p99_ms"`
	MaxMS  float64 `json:"max_ms"`
}

// MarshalJSON writes the result with maps keyed by Field.Key, so that jq '.metrics.x' works.
func (r *Result) MarshalJSON() ([]byte, error) {
	fields := func(fs []Field) map[string]any {
		m := make(map[string]any, len(fs))
		for _, f := range fs {
			v := f.Value
			if x, ok := v.(float64); ok {
				v = round(x, 3)
			}
			m[f.Key] = v
		}
		return m
	}
	lat := make(map[string]jsonLatency, len(r.Latencies))
	for _, l := range r.Latencies {
		lat[l.Key] = jsonLatency{l.Count, ms(l.Mean), ms(l.P50), ms(l.P90), ms(l.P99), ms(l.Max)}
	}
	rej := r.Rejections
	if rej == nil {
		rej = map[string]int64{}
	}
	checks := r.Checks
	if checks == nil {
		checks = []Check{}
	}
	return json.Marshal(struct {
		Scenario        string                 `json:"scenario"`
		URL             string                 `json:"url"`
		StartedAt       string                 `json:"started_at"`
		MeasuredSeconds float64                `json:"measured_seconds"`
		OK              bool                   `json:"ok"`
		Params          map[string]any         `json:"params"`
		Metrics         map[string]any         `json:"metrics"`
		LatencyMS       map[string]jsonLatency `json:"latency"`
		Rejections      map[string]int64       `json:"rejections"`
		Checks          []Check                `json:"checks"`
		Notes           []string               `json:"notes,omitempty"`
	}{
		r.Scenario, r.URL, r.Started.UTC().Format("2006-01-02T15:04:05.000Z07:00"),
		round(r.Measured.Seconds(), 3), r.OK(),
		fields(r.Params), fields(r.Metrics), lat, rej, checks, r.Notes,
	})
}

// writeJSONFile writes the result, indented, to path.
func writeJSONFile(path string, r *Result) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write -json file: %w", err)
	}
	return nil
}

func fmtValue(v any, unit string) string {
	var s string
	switch x := v.(type) {
	case float64:
		s = fmt.Sprintf("%.2f", x)
	case time.Duration:
		s = fmtDuration(x)
	default:
		s = fmt.Sprint(x)
	}
	if unit != "" {
		s += " " + unit
	}
	return s
}

// fmtDuration prints a latency with three significant-ish digits: 812µs, 12.34ms, 1.205s.
func fmtDuration(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%dµs", d.Microseconds())
	case d < time.Second:
		return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
	default:
		return fmt.Sprintf("%.3fs", d.Seconds())
	}
}

func ms(d time.Duration) float64 { return round(float64(d)/float64(time.Millisecond), 3) }

func round(x float64, places int) float64 {
	p := math.Pow(10, float64(places))
	return math.Round(x*p) / p
}
