package main

import (
	"encoding/json"
	"testing"
)

func TestParseLive(t *testing.T) {
	snapshot := `{"type":"snapshot","auction":{"id":7,"title":"a \"seq\":99, {tricky} [title]","description":"x\\\"",` +
		`"seller":{"id":3,"name":"ann","seq":1000},"status":"open","currency":"USD","starting_price":"10.00",` +
		`"current_price":"12.50","min_next_bid":"13.00","bid_count":4,"high_bidder":{"id":5,"name":"bob"},` +
		`"reserve_met":true,"buy_now_price":null,"extra":[{"bid_count":77},[1,2,{"x":"}"}]],"watchers":12,"seq":31,` +
		`"server_time":"2026-11-24T20:15:03.250Z"}}`
	m, err := parseLive([]byte(snapshot))
	if err != nil {
		t.Fatal(err)
	}
	want := liveState{ID: 7, Seq: 31, BidCount: 4, Watchers: 12, Status: "open", Price: "12.50", MinNext: "13.00"}
	if m.Type != "snapshot" || !m.HasState || m.State != want {
		t.Errorf("got %+v, want snapshot %+v", m, want)
	}

	// Spaces anywhere JSON allows them, a null price, and the auction before the type.
	spaced := " { \"auction\" : { \"seq\" : 2 , \"bid_count\" : 0 , \"current_price\" : null , \"min_next_bid\" : \"1.00\" } , \"type\" : \"auction\" } "
	m, err = parseLive([]byte(spaced))
	if err != nil {
		t.Fatal(err)
	}
	if m.Type != "auction" || !m.HasState || m.State.Seq != 2 || m.State.Price != "" || m.State.MinNext != "1.00" {
		t.Errorf("spaced: got %+v", m)
	}

	for _, other := range []string{
		`{"type":"bid_accepted","request_id":"r1","bid":{"id":9,"amount":"12.50"},"leading":true}`,
		`{"type":"outbid","auction_id":7,"current_price":"14.00"}`,
		`{"type":"error","error":{"code":"invalid_request","message":"bad"}}`,
	} {
		m, err := parseLive([]byte(other))
		var ref struct{ Type string }
		_ = json.Unmarshal([]byte(other), &ref)
		if err != nil || m.HasState || m.Type != ref.Type {
			t.Errorf("%s: got %+v, %v", other, m, err)
		}
	}

	for _, bad := range []string{``, `[]`, `{"type":"auction"`, `{"type":}`, `{"type":"auction","auction":{"seq":-1,"bid_count":0}}`,
		`{"auction":{}}`, `{"type":"auction","auction":{"title":"no seq"}}`, `{"type":"x" "y":1}`, `{"type":"x",}`} {
		if m, err := parseLive([]byte(bad)); err == nil {
			t.Errorf("%q: accepted as %+v", bad, m)
		}
	}
}
