//go:build !linux

package handlers

import "net"

// sendQueue is the Linux send-queue probe; elsewhere no write is known to have room, and
// every state goes through the connection's writer goroutine.
type sendQueue struct{}

func newSendQueue(net.Conn) *sendQueue { return nil }

func (*sendQueue) usable() bool     { return false }
func (*sendQueue) hasRoom(int) bool { return false }
func (*sendQueue) wrote(int)        {}
