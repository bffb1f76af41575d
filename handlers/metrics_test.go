package handlers

import (
	"net/http"
	"regexp"
	"strconv"
	"testing"
)

// metricValue returns the value of one sample line of the Prometheus text format.
func metricValue(t *testing.T, body []byte, sample string) float64 {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(sample) + ` (\S+)$`).FindSubmatch(body)
	if m == nil {
		t.Fatalf("no sample %s in:\n%s", sample, body)
	}
	v, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestMetrics(t *testing.T) {
	eachStore(t, func(t *testing.T, e *env) {
		ann, bob := e.signup("ann"), e.signup("bob")
		a := e.createAuction(ann, map[string]any{"starting_price": "10.00"})
		bids := "/api/v1/auctions/" + itoa(a.ID) + "/bids"
		e.do(http.MethodPost, bids, `{"amount":"10.00"}`, as(bob)).expect(t, http.StatusCreated)
		e.do(http.MethodPost, bids, `{"amount":"11.00"}`, as(bob)).expect(t, http.StatusCreated)
		e.do(http.MethodPost, bids, `{"amount":"1.00"}`, as(ann)).expect(t, http.StatusUnprocessableEntity)

		res := e.do(http.MethodGet, "/metrics", "").expect(t, http.StatusOK)
		if ct := res.Header.Get("Content-Type"); !regexp.MustCompile(`^text/plain`).MatchString(ct) {
			t.Fatalf("content type %q", ct)
		}
		for sample, want := range map[string]float64{
			`auction_bids_total{result="accepted"}`:    2,
			`auction_bids_total{result="own_auction"}`: 1,
			`auction_commit_batch_bids_sum`:            2,
			`auction_bid_to_commit_seconds_count`:      2,
			`auction_active_actors`:                    1,
			`auction_dropped_watchers_total`:           0,
			`auction_live_connections`:                 0,
		} {
			if got := metricValue(t, res.Body, sample); got != want {
				t.Errorf("%s = %v, want %v", sample, got, want)
			}
		}
		if rss := metricValue(t, res.Body, "process_resident_memory_bytes"); rss <= 0 {
			t.Errorf("process_resident_memory_bytes = %v", rss)
		}
	})
}
