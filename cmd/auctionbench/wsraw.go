package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"time"
)

// A minimal WebSocket client for watchers read by an event loop (watchers_epoll_linux.go): the
// upgrade by hand, so that no library's buffered reader holds bytes past the snapshot, and the
// frame format of RFC 6455 §5.2. Watchers only receive; the only frames they send are pongs and
// the final close.

// WebSocket opcodes (RFC 6455 §5.2).
const (
	opContinuation = 0x0
	opText         = 0x1
	opBinary       = 0x2
	opClose        = 0x8
	opPing         = 0x9
	opPong         = 0xA
)

// maxFrame bounds one frame from the server; the contract's messages are far smaller.
const maxFrame = 1 << 20

var (
	errMaskedFrame = errors.New("the server sent a masked frame (RFC 6455 §5.1 forbids it)")
	errFrameSize   = fmt.Errorf("the server sent a frame over %d bytes", maxFrame)
)

// nextFrame parses the first frame in b. size is the bytes it takes, 0 when b does not yet hold
// all of it; payload aliases b.
func nextFrame(b []byte) (fin bool, op byte, payload []byte, size int, err error) {
	if len(b) < 2 {
		return false, 0, nil, 0, nil
	}
	fin, op = b[0]&0x80 != 0, b[0]&0x0F
	if b[1]&0x80 != 0 {
		return false, 0, nil, 0, errMaskedFrame
	}
	n, head := uint64(b[1]&0x7F), 2
	switch n {
	case 126:
		if len(b) < 4 {
			return false, 0, nil, 0, nil
		}
		n, head = uint64(binary.BigEndian.Uint16(b[2:])), 4
	case 127:
		if len(b) < 10 {
			return false, 0, nil, 0, nil
		}
		n, head = binary.BigEndian.Uint64(b[2:]), 10
	}
	if n > maxFrame {
		return false, 0, nil, 0, errFrameSize
	}
	if uint64(len(b)-head) < n {
		return false, 0, nil, 0, nil
	}
	end := head + int(n)
	return fin, op, b[head:end], end, nil
}

// appendClientFrame appends one final frame, masked with a random key (clients must mask,
// RFC 6455 §5.3).
func appendClientFrame(dst []byte, op byte, payload []byte) []byte {
	var mask [4]byte
	_, _ = rand.Read(mask[:])
	return appendMaskedFrame(dst, op, payload, mask)
}

// appendMaskedFrame appends one final frame masked with mask, in the shortest length form.
func appendMaskedFrame(dst []byte, op byte, payload []byte, mask [4]byte) []byte {
	n := len(payload)
	switch {
	case n <= 125:
		dst = append(dst, 0x80|op, 0x80|byte(n))
	case n <= 0xFFFF:
		dst = append(dst, 0x80|op, 0x80|126)
		dst = binary.BigEndian.AppendUint16(dst, uint16(n))
	default:
		dst = append(dst, 0x80|op, 0x80|127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(n))
	}
	dst = append(dst, mask[:]...)
	for i, c := range payload {
		dst = append(dst, c^mask[i%4])
	}
	return dst
}

// closeFrame is a client close frame with code.
func closeFrame(code uint16) []byte {
	var p [2]byte
	binary.BigEndian.PutUint16(p[:], code)
	return appendClientFrame(nil, opClose, p[:])
}

// closeCode reads the code of a close frame's payload (1005: none given).
func closeCode(payload []byte) int64 {
	if len(payload) < 2 {
		return 1005
	}
	return int64(binary.BigEndian.Uint16(payload))
}

// acceptKey is the Sec-WebSocket-Accept a server must answer key with (RFC 6455 §4.2.2).
func acceptKey(key string) string {
	h := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(h[:])
}

// dialRaw opens a live connection to an auction by hand, retrying as dial does, and reads its
// snapshot; a token signs it in. It returns the connection, whatever the server sent after the
// snapshot, and the snapshot's state.
func (w *wsDialer) dialRaw(ctx context.Context, auctionID int64, token string) (net.Conn, []byte, liveState, error) {
	path := fmt.Sprintf("/ws/auctions/%d", auctionID)
	u, err := url.Parse(w.base + path)
	if err != nil || u.Scheme != "ws" {
		return nil, nil, liveState{}, fmt.Errorf("raw watchers need a ws:// server, not %s", w.base)
	}
	var (
		conn net.Conn
		rest []byte
		st   liveState
	)
	err = retryDial(ctx, func() (bool, error) {
		c, r, s, resp, err := w.upgradeRaw(ctx, u, token)
		if err == nil {
			conn, rest, st = c, r, s
			return false, nil
		}
		retry := true
		if resp != nil || c == nil {
			err, retry = w.dialError(path, resp, err)
		} else {
			err = fmt.Errorf("GET %s: %w", path, err)
		}
		if c != nil {
			c.Close()
		}
		return retry, err
	})
	if err != nil {
		return nil, nil, liveState{}, err
	}
	return conn, rest, st, nil
}

// upgradeRaw is one attempt of dialRaw. With a nil connection the server was not reached; with
// a response, it refused the upgrade; otherwise the upgrade or the snapshot went wrong.
func (w *wsDialer) upgradeRaw(ctx context.Context, u *url.URL, token string) (net.Conn, []byte, liveState, *http.Response, error) {
	conn, err := (&net.Dialer{Timeout: 10 * time.Second}).DialContext(ctx, "tcp", u.Host)
	if err != nil {
		return nil, nil, liveState{}, nil, err
	}
	_ = conn.SetDeadline(time.Now().Add(snapshotWait))
	var k [16]byte
	_, _ = rand.Read(k[:])
	key := base64.StdEncoding.EncodeToString(k[:])
	auth := ""
	if token != "" {
		auth = "Authorization: Bearer " + token + "\r\n"
	}
	req := "GET " + u.RequestURI() + " HTTP/1.1\r\nHost: " + u.Host +
		"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key +
		"\r\nSec-WebSocket-Version: 13\r\n" + auth + "\r\n"
	if _, err := conn.Write([]byte(req)); err != nil {
		return conn, nil, liveState{}, nil, err
	}
	br := bufio.NewReaderSize(conn, 4096)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodGet, URL: u})
	if err != nil {
		return conn, nil, liveState{}, nil, fmt.Errorf("read the upgrade answer: %w", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		return conn, nil, liveState{}, resp, fmt.Errorf("upgrade refused")
	}
	if got := resp.Header.Get("Sec-WebSocket-Accept"); got != acceptKey(key) {
		return conn, nil, liveState{}, nil, fmt.Errorf("wrong Sec-WebSocket-Accept %q", got)
	}
	buf := make([]byte, br.Buffered(), 4096)
	_, _ = br.Read(buf)
	for {
		fin, op, payload, size, err := nextFrame(buf)
		if err != nil {
			return conn, nil, liveState{}, nil, err
		}
		if size > 0 {
			if op != opText || !fin {
				return conn, nil, liveState{}, nil, fmt.Errorf("first frame has opcode %d, not one whole text message", op)
			}
			m, err := parseLive(payload)
			if err != nil {
				return conn, nil, liveState{}, nil, fmt.Errorf("first message: %v", err)
			}
			if m.Type != "snapshot" || !m.HasState {
				return conn, nil, liveState{}, nil, fmt.Errorf("first message is %q, not a snapshot", m.Type)
			}
			_ = conn.SetDeadline(time.Time{})
			return conn, buf[size:], m.State, nil, nil
		}
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := conn.Read(buf[len(buf):cap(buf)])
		if err != nil {
			return conn, nil, liveState{}, nil, fmt.Errorf("no snapshot after connecting: %s", netReason(err))
		}
		buf = buf[:len(buf)+n]
	}
}
