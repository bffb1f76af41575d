package handlers

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http/httputil"
	"strings"
	"testing"
)

// TestChunkedStream writes events of several sizes through a chunkedStream and decodes what
// reached the connection: the header once, then the body, chunked or not, ending as it should.
// A frame larger than usual is not kept after its write.
func TestChunkedStream(t *testing.T) {
	const header = "HTTP/1.1 200 OK\r\nX: y\r\n\r\n"
	events := []string{"small\n\n", strings.Repeat("s", 3*sseBufferSize) + "\n\n", "after\n\n"}
	for _, chunked := range []bool{true, false} {
		name := map[bool]string{true: "chunked", false: "HTTP/1.0"}[chunked]
		t.Run(name, func(t *testing.T) {
			server, client := net.Pipe()
			received := make(chan []byte, 1)
			go func() {
				b, _ := io.ReadAll(client)
				received <- b
			}()
			cs := newChunkedStream(server, []byte(header), chunked)
			for _, ev := range events {
				// Write, as writeEvent does: a large event bypasses the buffer.
				if _, err := cs.w.Write([]byte(ev)); err != nil {
					t.Fatal(err)
				}
				if err := cs.w.Flush(); err != nil {
					t.Fatal(err)
				}
				if cap(cs.frame) > 2*sseBufferSize {
					t.Errorf("after a %d-byte event the stream keeps a %d-byte frame", len(ev), cap(cs.frame))
				}
			}
			cs.end()
			server.Close()
			got := <-received
			rest, ok := bytes.CutPrefix(got, []byte(header))
			if !ok || bytes.Contains(rest, []byte("X: y")) {
				t.Fatalf("the header is not written exactly once, first: %q", got[:min(len(got), 80)])
			}
			body := rest
			if chunked {
				var err error
				if body, err = io.ReadAll(httputil.NewChunkedReader(bufio.NewReader(bytes.NewReader(rest)))); err != nil {
					t.Fatalf("chunks: %v", err)
				}
			}
			if want := strings.Join(events, ""); string(body) != want {
				t.Errorf("body of %d bytes, want %d: %.60q", len(body), len(want), body)
			}
		})
	}
}
