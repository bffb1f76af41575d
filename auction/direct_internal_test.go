package auction

import (
	"math"
	"testing"

	"github.com/shopspring/decimal"
)

// The WebSocket writer takes a message from Direct only when MaxDirectMessage more bytes fit in
// the socket's send queue, so the longest outbid notice must stay within it.
func TestOutbidNoticeWithinMaxDirectMessage(t *testing.T) {
	largest := maxAmount.Sub(decimal.New(1, -2)) // 999999999999.99, the largest amount
	msg := encodeOutbid(math.MaxInt64, largest)
	if len(msg) > MaxDirectMessage {
		t.Fatalf("outbid notice %s is %d bytes, over MaxDirectMessage (%d)", msg, len(msg), MaxDirectMessage)
	}
	if want := `{"type":"outbid","auction_id":9223372036854775807,"current_price":"999999999999.99"}`; string(msg) != want {
		t.Errorf("outbid notice %s, want %s", msg, want)
	}
}
