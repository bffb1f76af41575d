package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// rss is one reading of the server's resident memory.
type rss struct {
	bytes  int64
	source string // "/proc/PID/status" or "GET /metrics"
	err    string // why there is no reading
}

func (r rss) ok() bool { return r.source != "" && r.err == "" }

// serverRSS reads the server's resident memory: VmRSS from /proc/PID/status when -pid is given,
// else process_resident_memory_bytes from GET /metrics when the server exports it.
func (b *bench) serverRSS(ctx context.Context) rss {
	if b.cfg.PID > 0 {
		n, err := readProcRSS(fmt.Sprintf("/proc/%d/status", b.cfg.PID))
		if err != nil {
			return rss{err: err.Error()}
		}
		return rss{bytes: n, source: fmt.Sprintf("/proc/%d/status VmRSS", b.cfg.PID)}
	}
	text, ok, err := b.api.metricsText(ctx)
	if err != nil {
		return rss{err: err.Error()}
	}
	if !ok {
		return rss{err: "no -pid given and the server has no GET /metrics"}
	}
	v, ok := parseMetricsRSS(text)
	if !ok {
		return rss{err: "no -pid given and GET /metrics has no process_resident_memory_bytes"}
	}
	return rss{bytes: v, source: "GET /metrics process_resident_memory_bytes"}
}

// readProcRSS reads VmRSS (kB) from a /proc/PID/status file, in bytes.
func readProcRSS(path string) (int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("read the server's memory: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			fields := strings.Fields(rest)
			if len(fields) == 2 && fields[1] == "kB" {
				n, err := strconv.ParseInt(fields[0], 10, 64)
				if err == nil {
					return n * 1024, nil
				}
			}
			return 0, fmt.Errorf("%s: unexpected VmRSS line %q", path, line)
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("%s has no VmRSS (a kernel thread, or not Linux?)", path)
}

// parseMetricsRSS finds process_resident_memory_bytes in Prometheus text format.
func parseMetricsRSS(text string) (int64, bool) {
	for line := range strings.SplitSeq(text, "\n") {
		name, rest, ok := strings.Cut(strings.TrimSpace(line), " ")
		if !ok || (name != "process_resident_memory_bytes" && !strings.HasPrefix(name, "process_resident_memory_bytes{")) {
			continue
		}
		fields := strings.Fields(rest)
		if len(fields) == 0 {
			return 0, false
		}
		// A byte count, not money: the exposition format writes it as a float (1.2e+07).
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil || v < 0 {
			return 0, false
		}
		return int64(v), true
	}
	return 0, false
}

// addRSS reports the server's memory before and after; with conns > 0 also per connection.
func (b *bench) addRSS(res *Result, before, after rss, conns int) {
	if !before.ok() || !after.ok() {
		why := before.err
		if why == "" {
			why = after.err
		}
		res.note("server memory not measured: %s", why)
		return
	}
	const mib = 1 << 20
	res.metric("rss_before_mib", "server RSS before", float64(before.bytes)/mib, "MiB")
	res.metric("rss_after_mib", "server RSS after", float64(after.bytes)/mib, "MiB")
	if conns > 0 {
		res.metric("rss_per_conn_kib", "server RSS per connection ((after − before) / connections)",
			float64(after.bytes-before.bytes)/float64(conns)/1024, "KiB")
	}
	res.note("memory from %s", before.source)
}

// raiseFileLimit raises this process's open-file limit to its hard limit and returns it.
func raiseFileLimit() (uint64, error) {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return 0, err
	}
	if r.Cur < r.Max {
		r.Cur = r.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
			return 0, err
		}
	}
	return r.Cur, nil
}

// checkFileLimit refuses to start a scenario that needs more descriptors than this process has.
func checkFileLimit(conns int) error {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return nil
	}
	need := uint64(conns) + 256
	if need > r.Cur {
		return fmt.Errorf("%d connections need about %d open files but this process may open %d; raise the hard limit (ulimit -Hn) and run again", conns, need, r.Cur)
	}
	return nil
}
