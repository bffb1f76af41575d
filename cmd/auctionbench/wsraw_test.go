package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

// serverFrame builds an unmasked frame as a server sends it, with the shortest length encoding.
func serverFrame(fin bool, op byte, payload []byte) []byte {
	b0 := op
	if fin {
		b0 |= 0x80
	}
	out := []byte{b0}
	switch n := len(payload); {
	case n < 126:
		out = append(out, byte(n))
	case n <= 0xFFFF:
		out = append(out, 126)
		out = binary.BigEndian.AppendUint16(out, uint16(n))
	default:
		out = append(out, 127)
		out = binary.BigEndian.AppendUint64(out, uint64(n))
	}
	return append(out, payload...)
}

func TestNextFrame(t *testing.T) {
	big := bytes.Repeat([]byte("x"), 70000)
	mid := bytes.Repeat([]byte("y"), 300)
	tests := []struct {
		name    string
		in      []byte
		fin     bool
		op      byte
		payload []byte
		err     error
	}{
		{"empty", nil, false, 0, nil, nil},
		{"one byte", []byte{0x81}, false, 0, nil, nil},
		{"short text", serverFrame(true, opText, []byte(`{"type":"auction"}`)), true, opText, []byte(`{"type":"auction"}`), nil},
		{"empty ping", serverFrame(true, opPing, nil), true, opPing, []byte{}, nil},
		{"16-bit length", serverFrame(true, opText, mid), true, opText, mid, nil},
		{"64-bit length", serverFrame(true, opText, big), true, opText, big, nil},
		{"not final", serverFrame(false, opText, []byte("ab")), false, opText, []byte("ab"), nil},
		{"truncated payload", serverFrame(true, opText, mid)[:100], false, 0, nil, nil},
		{"truncated 16-bit length", serverFrame(true, opText, mid)[:3], false, 0, nil, nil},
		{"truncated 64-bit length", serverFrame(true, opText, big)[:9], false, 0, nil, nil},
		{"masked", []byte{0x81, 0x82, 1, 2, 3, 4, 'a', 'b'}, false, 0, nil, errMaskedFrame},
		{"too large", append([]byte{0x81, 127}, binary.BigEndian.AppendUint64(nil, maxFrame+1)...), false, 0, nil, errFrameSize},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fin, op, payload, size, err := nextFrame(tt.in)
			if !errors.Is(err, tt.err) {
				t.Fatalf("err %v, want %v", err, tt.err)
			}
			if tt.payload == nil {
				if size != 0 {
					t.Fatalf("size %d for an incomplete or bad frame", size)
				}
				return
			}
			if size != len(tt.in) || fin != tt.fin || op != tt.op || !bytes.Equal(payload, tt.payload) {
				t.Errorf("got fin=%v op=%d size=%d payload %d bytes; want fin=%v op=%d size=%d payload %d bytes",
					fin, op, size, len(payload), tt.fin, tt.op, len(tt.in), len(tt.payload))
			}
		})
	}
}

// Two frames back to back: the first is parsed alone, and the rest starts the second.
func TestNextFrameLeavesTheRest(t *testing.T) {
	in := append(serverFrame(true, opText, []byte("one")), serverFrame(true, opText, []byte("two"))...)
	_, _, p, size, err := nextFrame(in)
	if err != nil || string(p) != "one" {
		t.Fatalf("first: %q, %v", p, err)
	}
	if _, _, p, _, err = nextFrame(in[size:]); err != nil || string(p) != "two" {
		t.Fatalf("second: %q, %v", p, err)
	}
}

func TestClientFrameIsMasked(t *testing.T) {
	payload := []byte{0x03, 0xE8, 'b', 'y', 'e'}
	f := appendClientFrame(nil, opClose, payload)
	if f[0] != 0x80|opClose || f[1] != 0x80|byte(len(payload)) || len(f) != 6+len(payload) {
		t.Fatalf("header % x", f[:2])
	}
	mask := f[2:6]
	got := make([]byte, len(payload))
	for i := range got {
		got[i] = f[6+i] ^ mask[i%4]
	}
	if !bytes.Equal(got, payload) {
		t.Errorf("unmasked payload % x, want % x", got, payload)
	}
	if c := closeCode(closeFrameUnmasked(closeFrame(1000))); c != 1000 {
		t.Errorf("close code %d, want 1000", c)
	}
	if c := closeCode(nil); c != 1005 {
		t.Errorf("close code of an empty payload %d, want 1005", c)
	}
}

func closeFrameUnmasked(f []byte) []byte {
	out := make([]byte, len(f)-6)
	for i := range out {
		out[i] = f[6+i] ^ f[2+i%4]
	}
	return out
}

// FuzzNextFrame: whatever a server sends, the parser neither panics nor claims more bytes than
// it was given, and the payload of a frame it accepts is that frame's last bytes.
func FuzzNextFrame(f *testing.F) {
	f.Add(serverFrame(true, opText, []byte(`{"type":"snapshot"}`)))
	f.Add(serverFrame(true, opText, bytes.Repeat([]byte("z"), 200)))
	f.Add([]byte{0x81, 127, 0, 0, 0, 0, 0, 0, 0, 5, 'h', 'e', 'l', 'l', 'o'})
	f.Add([]byte{0x88, 0x80})
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _, payload, size, err := nextFrame(b)
		if err != nil || size == 0 {
			return
		}
		if size > len(b) || len(payload) > size || len(payload) > maxFrame {
			t.Fatalf("size %d, payload %d, of %d bytes", size, len(payload), len(b))
		}
		if !bytes.Equal(b[size-len(payload):size], payload) {
			t.Fatal("the payload is not the frame's last bytes")
		}
	})
}

// unmaskFrame turns one masked client frame into the unmasked frame a server would send with
// the same content, and returns the bytes it took.
func unmaskFrame(t *testing.T, f []byte) ([]byte, int) {
	t.Helper()
	if len(f) < 2 || f[1]&0x80 == 0 {
		t.Fatalf("not a masked frame: % x", f[:min(len(f), 8)])
	}
	head, n := 2, uint64(f[1]&0x7F)
	switch n {
	case 126:
		head, n = 4, uint64(binary.BigEndian.Uint16(f[2:]))
	case 127:
		head, n = 10, binary.BigEndian.Uint64(f[2:])
	}
	mask := f[head : head+4]
	payload := make([]byte, n)
	for i := range payload {
		payload[i] = f[head+4+i] ^ mask[i%4]
	}
	out := append([]byte{f[0], f[1] & 0x7F}, f[2:head]...)
	return append(out, payload...), head + 4 + int(n)
}

// TestMaskedFrameLengths: every length form (RFC 6455 §5.2) carries the payload masked, and is
// the shortest one that fits.
func TestMaskedFrameLengths(t *testing.T) {
	for _, n := range []int{0, 1, 125, 126, 1000, 0xFFFF, 0x10000} {
		payload := bytes.Repeat([]byte{'a', 'b', 'c'}, n/3+1)[:n]
		f := appendMaskedFrame([]byte("prefix"), opText, payload, [4]byte{1, 2, 0xF0, 0x7F})
		if string(f[:6]) != "prefix" {
			t.Fatalf("%d bytes: the frame overwrote what was there", n)
		}
		got, size := unmaskFrame(t, f[6:])
		if size != len(f)-6 {
			t.Errorf("%d bytes: frame is %d bytes, its header says %d", n, len(f)-6, size)
		}
		if want := serverFrame(true, opText, payload); !bytes.Equal(got, want) {
			t.Errorf("%d bytes: unmasked frame differs from the unmasked form (header % x, want % x)", n, got[:min(len(got), 10)], want[:min(len(want), 10)])
		}
	}
}
