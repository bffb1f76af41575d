package main

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func ds(ns ...int) []time.Duration {
	out := make([]time.Duration, len(ns))
	for i, n := range ns {
		out[i] = time.Duration(n)
	}
	return out
}

func TestPercentile(t *testing.T) {
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[i] = time.Duration(i + 1) // 1..100
	}
	tests := []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one sample p50", ds(7), 50, 7},
		{"one sample p99", ds(7), 99, 7},
		{"two samples p50 is the lower", ds(1, 2), 50, 1},
		{"two samples p51 is the upper", ds(1, 2), 51, 2},
		{"four samples p50", ds(10, 20, 30, 40), 50, 20},
		{"four samples p75", ds(10, 20, 30, 40), 75, 30},
		{"four samples p76", ds(10, 20, 30, 40), 76, 40},
		{"five samples p50 is the median", ds(1, 2, 3, 4, 5), 50, 3},
		{"1..100 p50", hundred, 50, 50},
		{"1..100 p90", hundred, 90, 90},
		{"1..100 p99 (no float drift to 100)", hundred, 99, 99},
		{"1..100 p99.5", hundred, 99.5, 100},
		{"1..100 p100 is the max", hundred, 100, 100},
		{"1..100 tiny p is the min", hundred, 0.001, 1},
		{"ten samples p99 is the max", ds(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 99, 10},
		{"duplicates", ds(5, 5, 5, 9), 75, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Percentile(tt.sorted, tt.p); got != tt.want {
				t.Errorf("Percentile(%v, %v) = %v, want %v", tt.sorted, tt.p, got, tt.want)
			}
		})
	}
}

func TestSummarize(t *testing.T) {
	tests := []struct {
		name string
		in   []time.Duration
		want Summary
	}{
		{"empty", nil, Summary{}},
		{"one", ds(42), Summary{Count: 1, Mean: 42, P50: 42, P90: 42, P99: 42, Max: 42}},
		{"unsorted input", ds(30, 10, 20), Summary{Count: 3, Mean: 20, P50: 20, P90: 30, P99: 30, Max: 30}},
		{"mean rounds", ds(1, 2), Summary{Count: 2, Mean: 2, P50: 1, P90: 2, P99: 2, Max: 2}},
		{"outlier shows in p99 and max only", append(slices.Repeat(ds(1), 99), 1000),
			Summary{Count: 100, Mean: 11, P50: 1, P90: 1, P99: 1, Max: 1000}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Summarize(tt.in); got != tt.want {
				t.Errorf("Summarize = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestPercentileMatchesDefinition checks random inputs against the definition itself: the
// smallest sample with at least p% of the samples at or below it.
func TestPercentileMatchesDefinition(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		n := 1 + rng.IntN(300)
		s := make([]time.Duration, n)
		for i := range s {
			s[i] = time.Duration(rng.IntN(50))
		}
		slices.Sort(s)
		for _, p := range []float64{1, 25, 50, 90, 99, 99.9, 100} {
			var want time.Duration
			for _, v := range s {
				atOrBelow := 0
				for _, w := range s {
					if w <= v {
						atOrBelow++
					}
				}
				if float64(atOrBelow) >= p/100*float64(n)-1e-9 {
					want = v
					break
				}
			}
			if got := Percentile(s, p); got != want {
				t.Fatalf("n=%d p=%v: got %v, want %v (%v)", n, p, got, want, s)
			}
		}
	}
}
