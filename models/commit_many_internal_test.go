package models

import (
	"slices"
	"strings"
	"testing"
)

// TestPGCommitManySetsEveryColumn keeps pgCommitMany in step with CommitBatch: it must set
// exactly the columns of auctionUpdateSet, in order, each from its own unnested column. A column
// added to CommitBatch but not here would otherwise go unwritten silently, on PostgreSQL and on
// this path alone.
func TestPGCommitManySetsEveryColumn(t *testing.T) {
	_, set, _ := strings.Cut(pgCommitMany, "UPDATE auctions a SET ")
	set, _, _ = strings.Cut(set, "\n\tFROM u\n")
	var want, got []string
	for part := range strings.SplitSeq(auctionUpdateSet, ",") {
		col, v, _ := strings.Cut(strings.TrimSpace(part), " = ")
		if v == "?" {
			want = append(want, col)
		}
	}
	for part := range strings.SplitSeq(set, ",") {
		col, v, _ := strings.Cut(strings.TrimSpace(part), " = ")
		if v == "u."+col || v == "u."+col+"::numeric" {
			got = append(got, col)
		}
	}
	if len(want) == 0 || !slices.Equal(got, want) {
		t.Fatalf("pgCommitMany sets %v, CommitBatch sets %v", got, want)
	}
	if n := len(auctionUpdateArgs(&Auction{}, 0)); n != len(want)+2 {
		t.Fatalf("auctionUpdateArgs gives %d values for %d columns plus id and seq", n, len(want))
	}
}
