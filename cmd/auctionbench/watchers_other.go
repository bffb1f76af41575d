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
