package handlers

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"net"
	"net/http"
	"testing"
	"time"

	fws "github.com/fasthttp/websocket"
)

// The frames appendTextFrame builds, several in one write, are read back by the WebSocket
// library's client as the same text messages: every length encoding of RFC 6455 §5.2.
func TestAppendTextFrame(t *testing.T) {
	sizes := []int{0, 1, 125, 126, 127, 1000, 65535, 65536, 70000}
	var frames []byte
	var want [][]byte
	for i, n := range sizes {
		p := bytes.Repeat([]byte{byte('a' + i)}, n)
		want = append(want, p)
		frames = appendTextFrame(frames, p)
	}

	client, server := net.Pipe()
	defer client.Close()
	go serveCannedFrames(t, server, frames)
	d := fws.Dialer{
		NetDialContext:   func(context.Context, string, string) (net.Conn, error) { return client, nil },
		HandshakeTimeout: 5 * time.Second,
		ReadBufferSize:   1024,
	}
	conn, _, err := d.Dial("ws://test/ws", nil)
	if err != nil {
		t.Fatalf("handshake: %v", err)
	}
	conn.SetReadLimit(1 << 20)
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	for i, w := range want {
		mt, got, err := conn.ReadMessage()
		if err != nil {
			t.Fatalf("message %d (%d bytes): %v", i, len(w), err)
		}
		if mt != fws.TextMessage || !bytes.Equal(got, w) {
			t.Fatalf("message %d: type %d, %d bytes; want a text message of %d bytes", i, mt, len(got), len(w))
		}
	}
}

// serveCannedFrames answers a WebSocket handshake on conn and then writes frames in one write.
func serveCannedFrames(t *testing.T, conn net.Conn, frames []byte) {
	defer conn.Close()
	req, err := http.ReadRequest(bufio.NewReader(conn))
	if err != nil {
		t.Errorf("read handshake: %v", err)
		return
	}
	sum := sha1.Sum([]byte(req.Header.Get("Sec-WebSocket-Key") + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	answer := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Accept: " + base64.StdEncoding.EncodeToString(sum[:]) + "\r\n\r\n"
	if _, err := conn.Write(append([]byte(answer), frames...)); err != nil {
		t.Errorf("write frames: %v", err)
	}
	// Keep the pipe open until the client has read everything and closes it.
	_, _ = conn.Read(make([]byte, 1))
}
