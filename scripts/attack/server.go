package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// buildServer builds examples/arith/server into dir and returns the
// binary's path.
func buildServer(ctx context.Context, dir string) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(out)))
	if root == "." || root == "" {
		return "", errors.New("attack: run inside the ferry module")
	}
	bin := filepath.Join(dir, "arith-server")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./examples/arith/server")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %w\n%s", err, out)
	}
	return bin, nil
}

// child is a running server process.
type child struct {
	cmd    *exec.Cmd
	pid    int
	addr   string
	exited chan struct{} // closed once the process is reaped
	stderr *capBuffer
	killed bool // we ended it because it passed the memory cap
	mu     sync.Mutex
}

// addressSlack is what a Go server's address space holds beyond its RSS:
// an idle arith server maps 1.6 GB.
const addressSlack = 4 << 30

// startServer starts bin on a free loopback port and waits for its
// "listening on" line. With memCap > 0, its address space is capped at
// memCap + addressSlack, so that one huge allocation fails at once instead
// of filling the machine; the sampler kills the server when its RSS
// passes memCap.
func startServer(bin string, memCap int64) (*child, error) {
	cmd := exec.Command(bin, "-addr", "127.0.0.1:0")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	c := &child{cmd: cmd, exited: make(chan struct{}), stderr: &capBuffer{max: 64 << 10}}
	cmd.Stderr = c.stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c.pid = cmd.Process.Pid
	go func() {
		_ = cmd.Wait()
		close(c.exited)
	}()
	if memCap > 0 {
		if err := capAddressSpace(c.pid, memCap+addressSlack); err != nil {
			c.stop()
			return nil, fmt.Errorf("cap the server's memory: %w", err)
		}
	}
	line := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		if sc.Scan() {
			line <- sc.Text()
		}
		close(line)
		for sc.Scan() { // keep the pipe drained
		}
	}()
	select {
	case l, ok := <-line:
		addr, found := strings.CutPrefix(l, "listening on ")
		if !ok || !found {
			c.stop()
			return nil, fmt.Errorf("server said %q, not its address (stderr: %s)", l, c.stderr.summary())
		}
		c.addr = addr
		return c, nil
	case <-time.After(30 * time.Second):
		c.stop()
		return nil, errors.New("server did not report its address in 30 s")
	}
}

func (c *child) alive() bool {
	select {
	case <-c.exited:
		return false
	default:
		return true
	}
}

// kill ends the process because it passed the memory cap.
func (c *child) kill() {
	c.mu.Lock()
	c.killed = true
	c.mu.Unlock()
	_ = c.cmd.Process.Kill()
}

func (c *child) wasKilled() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.killed
}

// stop kills the process and waits for it (bounded).
func (c *child) stop() {
	_ = c.cmd.Process.Kill()
	select {
	case <-c.exited:
	case <-time.After(10 * time.Second):
	}
}

// countFDs reports how many files pid has open: its connections, mostly.
func countFDs(pid int) (int, error) {
	d, err := os.Open(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return 0, err
	}
	defer d.Close()
	n := 0
	for range 1000 { // 1000 reads of 100 names bound it
		names, err := d.Readdirnames(100)
		n += len(names)
		if err != nil {
			break
		}
	}
	return n, nil
}

// procStats is one reading of /proc/PID.
type procStats struct {
	rss, hwm int64         // bytes
	cpu      time.Duration // user + system
}

// readProc reads the RSS, its peak and the CPU time of pid.
func readProc(pid int) (procStats, error) {
	var st procStats
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return st, err
	}
	for _, l := range strings.Split(string(status), "\n") {
		k, v, ok := strings.Cut(l, ":")
		if !ok || (k != "VmRSS" && k != "VmHWM") {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			return st, fmt.Errorf("%s: %w", k, err)
		}
		if k == "VmRSS" {
			st.rss = kb << 10
		} else {
			st.hwm = kb << 10
		}
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return st, err
	}
	// Fields after the command name, which is in parentheses and may
	// hold spaces: state is field 3, utime 14 and stime 15.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return st, errors.New("malformed /proc stat")
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 13 {
		return st, errors.New("short /proc stat")
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	stt, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return st, err
	}
	const ticksPerSecond = 100 // USER_HZ on every Linux port Go supports
	st.cpu = time.Duration(ut+stt) * time.Second / ticksPerSecond
	return st, nil
}

// capBuffer keeps the first max bytes written to it.
type capBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (w *capBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if room := w.max - len(w.b); room > 0 {
		w.b = append(w.b, p[:min(len(p), room)]...)
	}
	return len(p), nil
}

// summary is the first line of a Go runtime crash, or else the first
// line written.
func (w *capBuffer) summary() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	lines := strings.Split(strings.TrimSpace(string(w.b)), "\n")
	for _, l := range lines {
		if strings.HasPrefix(l, "fatal error:") || strings.HasPrefix(l, "panic:") || strings.HasPrefix(l, "runtime:") {
			return l
		}
	}
	return lines[0]
}
