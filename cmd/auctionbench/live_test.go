package main

import (
	"bytes"
	"encoding/json"
	"strconv"
	"testing"
	"unicode/utf8"
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

// stateMessage is an auction message as the server sends one to every watcher.
const stateMessage = `{"type":"auction","auction":{"id":1,"title":"Fanout bench auction","description":"An auction ` +
	`for the fanout scenario: watchers see every price change.","seller":{"id":1,"name":"bench-seller-1764075000"},` +
	`"status":"open","currency":"USD","starting_price":"10.00","current_price":"1200.00","min_next_bid":"1201.00",` +
	`"bid_count":300,"high_bidder":{"id":2,"name":"bench-bidder-0"},"reserve_met":null,"buy_now_price":null,` +
	`"starts_at":"2026-11-25T13:24:22.000Z","ends_at":"2026-11-25T14:24:22.000Z","extension_seconds":0,"winner":null,` +
	`"closed_reason":null,"watchers":10000,"seq":302,"server_time":"2026-11-25T13:24:40.123Z"}}`

// BenchmarkParseLive is the tool's cost of reading one state, which every watcher pays for
// every frame in the fanout scenario.
func BenchmarkParseLive(b *testing.B) {
	msg := []byte(stateMessage)
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		if m, err := parseLive(msg); err != nil || m.State.Seq != 302 {
			b.Fatal(m, err)
		}
	}
}

// FuzzSkipString: skipString ends a string where encoding/json does.
func FuzzSkipString(f *testing.F) {
	for _, s := range []string{`"plain"`, `"a\"b"`, `"a\\"`, `"a\\\"b"`, `"\\\\"x`, `"unterminated\"`, `"é\u00e9"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) == 0 || b[0] != '"' {
			return
		}
		end, err := skipString(b, 0)
		// The reference: the shortest prefix that encoding/json reads as one string.
		want := -1
		for j := 2; j <= len(b); j++ {
			var s string
			if json.Unmarshal(b[:j], &s) == nil {
				want = j
				break
			}
		}
		if want < 0 {
			// Not a valid string: skipString need only not run past the end or claim a
			// string that does not end on a quote.
			if err == nil && (end > len(b) || b[end-1] != '"') {
				t.Fatalf("skipString(%q) = %d for an invalid string", b, end)
			}
			return
		}
		if err != nil || end != want {
			t.Fatalf("skipString(%q) = %d, %v; want %d", b, end, err, want)
		}
	})
}

// FuzzParseLive: where a message is valid JSON, the scanner reads the same type, seq and
// bid_count as encoding/json does.
func FuzzParseLive(f *testing.F) {
	f.Add([]byte(stateMessage))
	f.Add([]byte(`{"auction":{"seq":2,"bid_count":0,"x":[{"}":"]"}]},"type":"snapshot"}`))
	f.Add([]byte(`{"type":"bid_accepted","auction":[1],"bid":{"id":9}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if bytes.IndexByte(b, '\\') >= 0 || !utf8.Valid(b) {
			return // escapes and invalid UTF-8 are read as written, unlike encoding/json
		}
		var top map[string]json.RawMessage
		if json.Unmarshal(b, &top) != nil {
			return
		}
		m, err := parseLive(b)
		var typ string
		if json.Unmarshal(top["type"], &typ) != nil || typ == "" {
			if err == nil {
				t.Fatalf("%s: read as type %q", b, m.Type)
			}
			return
		}
		var auction map[string]json.RawMessage
		isState := (typ == "snapshot" || typ == "auction") && json.Unmarshal(top["auction"], &auction) == nil && auction != nil
		if !isState {
			if err != nil || m.Type != typ || m.HasState {
				t.Fatalf("%s: got %+v, %v; want type %q without a state", b, m, err, typ)
			}
			return
		}
		seq, count := wantUint(auction["seq"]), wantUint(auction["bid_count"])
		if seq < 0 || count < 0 || !followedKinds(auction) {
			return // a state the scanner refuses, or may: not what this compares
		}
		if err != nil || !m.HasState || m.State.Seq != seq || m.State.BidCount != count {
			t.Fatalf("%s: got %+v, %v; want seq %d, bid_count %d", b, m, err, seq, count)
		}
	})
}

// wantUint is a followed integer as the scanner reads one (at most 18 digits), or -1.
func wantUint(raw json.RawMessage) int64 {
	n, err := strconv.ParseUint(string(raw), 10, 62)
	if err != nil || len(raw) > 18 {
		return -1
	}
	return int64(n)
}

// followedKinds reports whether every followed member the object has is of the kind the
// scanner reads: integers for id and watchers, a string or null for the others.
func followedKinds(auction map[string]json.RawMessage) bool {
	for _, k := range []string{"id", "watchers"} {
		if v, ok := auction[k]; ok && wantUint(v) < 0 {
			return false
		}
	}
	for _, k := range []string{"status", "current_price", "min_next_bid"} {
		if v, ok := auction[k]; ok && string(v) != "null" && (len(v) < 2 || v[0] != '"') {
			return false
		}
	}
	return true
}

func TestParseReply(t *testing.T) {
	for _, msg := range []string{
		`{"type":"bid_accepted","request_id":"r1","bid":{"id":9,"amount":"12.50","created_at":"2026-11-25T13:00:00.000Z"},"leading":true}`,
		`{"type":"bid_rejected","request_id":"r2","error":{"code":"bid_too_low","message":"bid at least 13.00 \"USD\""}}`,
		`{"type":"error","request_id":null,"error":{"code":"invalid_request","message":"bad"},"leading":null,"bid":null}`,
		` { "leading" : false , "type" : "bid_accepted" , "bid" : { "id" : 0 } } `,
	} {
		var want bidReply
		if err := json.Unmarshal([]byte(msg), &want); err != nil {
			t.Fatal(err)
		}
		if got, err := parseReply([]byte(msg)); err != nil || got != want {
			t.Errorf("%s:\n got %+v, %v\nwant %+v", msg, got, err, want)
		}
	}
	for _, bad := range []string{`{"type":"bid_accepted","leading":1}`, `{"type":"x","bid":5}`, `{"type":"x","bid":{"id":"9"}}`,
		`{"type":"x","error":[]}`, `{"type":"x","request_id":7}`, `{"type":"x"`} {
		if r, err := parseReply([]byte(bad)); err == nil {
			t.Errorf("%s: read as %+v", bad, r)
		}
	}
}

// BenchmarkParseReply is the tool's cost of reading a bid's answer; hot and many read one per bid.
func BenchmarkParseReply(b *testing.B) {
	msg := []byte(`{"type":"bid_accepted","request_id":"run-1764075000-b17-4242","bid":{"id":123456,"amount":"1234.50","created_at":"2026-11-25T13:00:00.123Z"},"leading":true}`)
	for b.Loop() {
		if r, err := parseReply(msg); err != nil || r.Bid.ID != 123456 {
			b.Fatal(r, err)
		}
	}
}

// FuzzParseReply: for any valid JSON message, the scanner reads a reply as encoding/json does,
// within the integers it reads (at most 18 digits, not negative).
func FuzzParseReply(f *testing.F) {
	f.Add([]byte(`{"type":"bid_accepted","request_id":"r1","bid":{"id":9,"amount":"12.50"},"leading":true}`))
	f.Add([]byte(`{"type":"bid_rejected","request_id":"r2","error":{"code":"bid_too_low","message":"m"}}`))
	f.Add([]byte(`{"type":"error","bid":null,"error":{"code":null},"bid":{"amount":"1"}}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		if !json.Valid(b) || !utf8.Valid(b) || bytes.ContainsAny(b, `\ABCDEFGHIJKLMNOPQRSTUVWXYZ`) {
			return // escapes, invalid UTF-8 and keys in other cases are read as written
		}
		if string(bytes.TrimSpace(b)) == "null" {
			return // no message; encoding/json reads it as an empty reply
		}
		var want bidReply
		wantErr := json.Unmarshal(b, &want)
		got, err := parseReply(b)
		if wantErr == nil && err != nil && !idOutOfRange(b) {
			t.Fatalf("%s: %v; encoding/json reads %+v", b, err, want)
		}
		if wantErr != nil && err == nil {
			t.Fatalf("%s: read as %+v; encoding/json: %v", b, got, wantErr)
		}
		if wantErr == nil && err == nil && got != want {
			t.Fatalf("%s:\n got %+v\nwant %+v", b, got, want)
		}
	})
}

// idOutOfRange reports whether a message's bid id is an integer the scanner does not read.
func idOutOfRange(b []byte) bool {
	var m struct {
		Bid map[string]json.RawMessage `json:"bid"`
	}
	if json.Unmarshal(b, &m) != nil {
		return false
	}
	id, ok := m.Bid["id"]
	return ok && string(id) != "null" && wantUint(id) < 0
}
