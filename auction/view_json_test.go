package auction

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/shopspring/decimal"
)

// wantAuctionJSON is what encoding/json makes of the View: the contract's reference encoding.
func wantAuctionJSON(t testing.TB, s *State, now time.Time) []byte {
	t.Helper()
	v := NewView(s, now)
	want, err := json.Marshal(&v)
	if err != nil {
		t.Fatal(err)
	}
	return want
}

func TestAppendAuctionMatchesNewView(t *testing.T) {
	now := time.Date(2026, 11, 25, 13, 4, 5, 678_900_000, time.FixedZone("CET", 3600))
	open := benchState()
	cases := map[string]func(s *State){
		"open with a leader": func(*State) {},
		"no bids yet": func(s *State) {
			s.CurrentPrice, s.Leader, s.BidCount = decimal.NullDecimal{}, UserRef{}, 0
		},
		"reserve not met, buy now": func(s *State) {
			s.ReservePrice = decimal.NewNullDecimal(decimal.RequireFromString("5000"))
			s.BuyNowPrice = decimal.NewNullDecimal(decimal.RequireFromString("9999.9"))
		},
		"reserve met": func(s *State) {
			s.ReservePrice = decimal.NewNullDecimal(decimal.RequireFromString("1000.00"))
		},
		"closed with a winner": func(s *State) {
			s.Status, s.ClosedReason, s.Winner = StatusClosed, "ended", s.Leader
		},
		"cancelled": func(s *State) {
			s.Status, s.ClosedReason = StatusCancelled, "cancelled"
		},
		"text to escape": func(s *State) {
			s.Title = `"Quoted" <b>bold</b> & back\slash`
			s.Description = "line\nbreak\ttab\x01 \u2028 é 日本 \xff invalid"
			s.Seller.Name = "ann<script>"
		},
		"amounts beyond int64 cents and with more decimals": func(s *State) {
			s.StartingPrice = decimal.RequireFromString("123456789012345678901234.5")
			s.CurrentPrice = decimal.NewNullDecimal(decimal.RequireFromString("0.005"))
		},
		"negative and zero amounts": func(s *State) {
			s.StartingPrice = decimal.RequireFromString("-0.07")
			s.CurrentPrice = decimal.NewNullDecimal(decimal.Zero)
		},
		"zero state": func(s *State) { *s = State{} },
	}
	for name, change := range cases {
		t.Run(name, func(t *testing.T) {
			s := open
			change(&s)
			got := appendAuction(nil, &s, now)
			if want := wantAuctionJSON(t, &s, now); !bytes.Equal(got, want) {
				t.Fatalf("appendAuction differs from encoding/json:\n got %s\nwant %s", got, want)
			}
		})
	}
}

func TestUpdateMessages(t *testing.T) {
	s := benchState()
	now := time.Now()
	u := newUpdate(&s, now)
	later := now.Add(1500 * time.Millisecond)
	for _, tc := range []struct {
		msg  []byte
		kind string
		at   time.Time
	}{
		{u.JSON, "auction", now},
		{u.Message("snapshot", later), "snapshot", later},
	} {
		v := NewView(&s, tc.at)
		want, err := json.Marshal(struct {
			Type    string `json:"type"`
			Auction *View  `json:"auction"`
		}{tc.kind, &v})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(tc.msg, want) {
			t.Errorf("%s message:\n got %s\nwant %s", tc.kind, tc.msg, want)
		}
	}
	if u.Seq != s.Seq {
		t.Errorf("Seq %d, want %d", u.Seq, s.Seq)
	}
}

// FuzzAppendAuction: whatever the free text, names and numbers, the hand-written encoding is
// encoding/json's.
func FuzzAppendAuction(f *testing.F) {
	f.Add("clock", "walnut <case> & \"key\"", "ann", "ended", int64(123450), int64(7), int64(-1), 3)
	f.Add("\xff\xfe", "\u2028\u2029\x00", "日本", "", int64(-5), int64(1<<62), int64(0), -2)
	f.Fuzz(func(t *testing.T, title, desc, name, reason string, cents, id, seq int64, exp int) {
		s := benchState()
		s.Title, s.Description, s.Seller.Name, s.Leader.Name, s.ClosedReason = title, desc, name, name, reason
		s.ID, s.Seq, s.BidCount, s.Watchers = id, seq, int(cents%1000), int(id%1000)
		s.CurrentPrice = decimal.NewNullDecimal(decimal.New(cents, int32(exp%6)))
		s.StartingPrice = decimal.New(cents/3, -2)
		now := time.Unix(0, cents).Add(time.Duration(seq))
		got := appendAuction(nil, &s, now)
		if want := wantAuctionJSON(t, &s, now); !bytes.Equal(got, want) {
			t.Fatalf("appendAuction differs from encoding/json:\n got %s\nwant %s", got, want)
		}
	})
}

// TestAppendJSONString: each character encoding/json escapes, alone, so that none can hide
// behind another that also takes the slow path.
func TestAppendJSONString(t *testing.T) {
	for _, s := range []string{"", "plain text 123", "&", "<", ">", `"`, `\`, "\x00", "\x1f", " ", "\x7f", "é", "\u2028", "\u2029", "\xff", "a\xc3"} {
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendJSONString([]byte("x"), s); !bytes.Equal(got, append([]byte("x"), want...)) {
			t.Errorf("appendJSONString(%q) = %s, want x%s", s, got, want)
		}
	}
}

// TestAppendTime: the written-out layout is FormatTime's, across the years it handles itself
// and those it leaves to the layout interpreter.
func TestAppendTime(t *testing.T) {
	for _, tm := range []time.Time{
		{},
		time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2026, 2, 28, 23, 59, 59, 999_999_999, time.FixedZone("X", -5*3600)),
		time.Date(2026, 11, 25, 9, 5, 7, 1_000_000, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Unix(1<<40, 123_456_789),
	} {
		if got, want := string(appendTime(nil, tm)), `"`+FormatTime(tm)+`"`; got != want {
			t.Errorf("appendTime(%v) = %s, want %s", tm, got, want)
		}
	}
}

// FuzzAppendTime compares appendTime with FormatTime over any instant.
func FuzzAppendTime(f *testing.F) {
	f.Add(int64(0), int64(0))
	f.Add(int64(1795000000), int64(999_999_999))
	f.Fuzz(func(t *testing.T, sec, nsec int64) {
		tm := time.Unix(sec, nsec)
		if got, want := string(appendTime(nil, tm)), `"`+FormatTime(tm)+`"`; got != want {
			t.Fatalf("appendTime(%v) = %s, want %s", tm, got, want)
		}
	})
}
