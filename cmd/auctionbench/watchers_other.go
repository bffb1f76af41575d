//go:build !linux

package main

import (
	"errors"
	"time"
)

// newEpollPool is Linux-only; elsewhere watchers are read by goroutines.
func newEpollPool(*wsDialer, time.Time) (watcherPool, error) {
	return nil, errors.New("epoll watchers need Linux")
}

// newLoopBidding is Linux-only; elsewhere bidders run on goroutines.
func newLoopBidding(*wsDialer, time.Time) (biddingIO, error) {
	return nil, errors.New("epoll bidders need Linux")
}
