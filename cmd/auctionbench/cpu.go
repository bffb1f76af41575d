package main

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// On one machine the bench and the server share the CPUs, so the report says how much of them
// each used during the measurement: a server starved by the bench measures slow.

// cpuTimes is a reading of the CPU time used so far.
type cpuTimes struct {
	at       time.Time
	self     time.Duration
	server   time.Duration
	serverOK bool
}

func (b *bench) cpuNow() cpuTimes {
	t := cpuTimes{at: time.Now()}
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		t.self = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	if b.cfg.PID > 0 {
		if d, err := procCPU(fmt.Sprintf("/proc/%d/stat", b.cfg.PID)); err == nil {
			t.server, t.serverOK = d, true
		}
	}
	return t
}

// procCPU reads utime + stime from /proc/PID/stat. They are in USER_HZ ticks, which Linux
// fixes at 100 per second for user space.
func procCPU(path string) (time.Duration, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	// The command name (field 2) is in parentheses and may hold spaces; count after it.
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("%s: unexpected format", path)
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state), so utime (14) and stime (15) are f[11] and f[12].
	if len(f) < 13 {
		return 0, fmt.Errorf("%s: unexpected format", path)
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("%s: unexpected format", path)
	}
	return time.Duration(u+st) * (time.Second / 100), nil
}

// addCPU reports the CPU used between two readings, in cores.
func (b *bench) addCPU(res *Result, from, to cpuTimes) {
	wall := to.at.Sub(from.at).Seconds()
	if wall <= 0 {
		return
	}
	res.metric("bench_cpu_cores", "bench CPU during measurement", (to.self-from.self).Seconds()/wall, "cores")
	if from.serverOK && to.serverOK {
		res.metric("server_cpu_cores", "server CPU during measurement", (to.server-from.server).Seconds()/wall, "cores")
	}
	if isLoopback(b.cfg.URL) {
		res.note("the bench runs on the server's machine and shares its %d CPUs: CPU the bench uses is not available to the server", runtime.NumCPU())
	}
}

// isLoopback reports whether the base URL names this machine.
func isLoopback(base string) bool {
	u, err := url.Parse(base)
	if err != nil {
		return false
	}
	h := u.Hostname()
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}
