package auction

import (
	"testing"
	"unsafe"
)

// An actor allocates its whole mailbox when it starts, and a server may run one actor for each
// of thousands of auctions with watchers: the mailbox must stay a few KiB.
func TestMailboxMemory(t *testing.T) {
	const budget = 16 << 10
	size := int(unsafe.Sizeof(command{})) * DefaultMailboxSize
	if size > budget {
		t.Fatalf("an actor's mailbox takes %d bytes (%d commands of %d bytes); keep it under %d",
			size, DefaultMailboxSize, unsafe.Sizeof(command{}), budget)
	}
	a := newActor(&Engine{opts: Options{}.withDefaults()}, 1)
	if cap(a.mailbox) != DefaultMailboxSize {
		t.Fatalf("mailbox of %d commands, want DefaultMailboxSize (%d)", cap(a.mailbox), DefaultMailboxSize)
	}
}
