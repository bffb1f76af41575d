package handlers

import (
	"io"
	"net"
	"testing"
	"time"
)

// hijacked mimics fasthttp's wrapper of a hijacked connection.
type hijacked struct{ net.Conn }

func (h hijacked) UnsafeConn() net.Conn { return h.Conn }

func TestSendQueue(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()

	if !newSendQueue(hijacked{server}).hasRoom(1) {
		t.Fatal("no room in the empty queue of a hijacked TCP connection")
	}
	q := newSendQueue(server)
	if !q.usable() || !q.hasRoom(100) {
		t.Fatal("no room in an empty send queue")
	}
	if q.hasRoom(q.budget + 1) {
		t.Fatalf("room for %d bytes with a budget of %d", q.budget+1, q.budget)
	}

	// The client reads nothing: fill its receive buffer and the server's send queue, counting
	// the writes as the WebSocket writer does.
	chunk := make([]byte, 4096)
	_ = server.SetWriteDeadline(time.Now().Add(200 * time.Millisecond))
	for {
		n, err := server.Write(chunk)
		q.wrote(n)
		if err != nil {
			break
		}
	}
	if q.hasRoom(100) {
		t.Fatal("room reported in the send queue of a client that reads nothing")
	}

	// Once the client has read it all, the kernel is asked again and there is room.
	go func() { _, _ = io.Copy(io.Discard, client) }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		q.credit = 0 // ask the kernel
		if q.hasRoom(100) && q.credit == q.budget-controlReserve {
			break // the queue is empty
		}
		if time.Now().After(deadline) {
			t.Fatalf("credit %d after the client read everything, want %d", q.credit, q.budget-controlReserve)
		}
		time.Sleep(time.Millisecond)
	}

	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if p := newSendQueue(a); p.usable() || p.hasRoom(1) {
		t.Fatal("a pipe is not a socket, yet has room")
	}
}
