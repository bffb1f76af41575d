package auction

import (
	"context"
	"testing"

	"auctionhouse/models"
	"auctionhouse/models/dbtest"
)

// The actor remembers stored request ids only as hashes. A new request whose hash is already
// there (a collision: forced here, since real ones are one in 2^64) must be decided as new once
// the database says nothing is stored under it; a real repeat is answered from the database.
func TestStoredRequestHashes(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, s *models.Store) {
		ctx := context.Background()
		seller, ann := newTestUser(t, s, "seller"), newTestUser(t, s, "ann")
		id := newTestAuction(t, s, seller, nil)
		e := startEngine(t, s, Options{})
		first, err := e.Bid(ctx, id, BidRequest{Bidder: ann, Amount: money("10"), RequestID: "stored"})
		if err != nil {
			t.Fatal(err)
		}

		// A bare actor on the same auction, driven from this goroutine.
		a := newActor(e, id)
		if err := a.load(); err != nil {
			t.Fatal(err)
		}
		if !a.stored.mayHold(requestKey{ann.ID, "stored"}) {
			t.Fatal("the stored request id was not loaded")
		}
		if len(a.requests) != 0 {
			t.Fatalf("%d requests in flight after a load", len(a.requests))
		}

		reply := make(chan result, 1)
		a.handleBid(command{kind: cmdBid, bid: BidRequest{Bidder: ann, Amount: money("99"), RequestID: "stored"}, reply: reply})
		r := <-reply
		if r.err != nil || r.bid.ID != first.Bid.ID || !r.bid.Amount.Equal(money("10")) || !r.leading {
			t.Fatalf("repeat answered %+v, first was %+v", r, first)
		}
		if len(a.pending.bids) != 0 {
			t.Fatal("a repeat placed a bid")
		}

		ghost := requestKey{ann.ID, "never-stored"}
		a.stored.add(ghost)
		a.handleBid(command{kind: cmdBid, bid: BidRequest{Bidder: ann, Amount: money("20"), MaxAmount: money("30"), RequestID: ghost.id}, reply: reply})
		select {
		case r := <-reply:
			t.Fatalf("a colliding new request was answered at once: %+v", r)
		default:
		}
		if len(a.pending.bids) != 1 || *a.pending.bids[0].RequestID != ghost.id || a.requests[ghost] == nil {
			t.Fatalf("the colliding request was not decided as new: pending %+v", a.pending.bids)
		}
	})
}
