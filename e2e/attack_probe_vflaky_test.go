package e2e_test

// The siege's fresh client runs in a process of its own, as a fresh
// client would: in the test process it waited behind the attack's own
// goroutines (96 sessions opening 1,023 streams each, under -race), and
// its latency measured the attacking process, not the server. At the
// moment an in-process probe of TestAttackAuditSilentStreams took its
// 2 s and failed (3 of 4 subtests, with a busy loop beside the test), a
// fresh client in another process was answered within 0.55 s.

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/ferryrpc/ferry"
)

// probeEnv, set to the server's address, makes the test binary a probing
// process (TestMain): for each line on its stdin it probes once and
// writes a probeResult line, until its stdin ends.
const probeEnv = "FERRY_E2E_PROBE_ADDR"

// probeResult is one probe, as the probing process reports it.
type probeResult struct {
	Took  time.Duration // the probe's time, second try included
	First string        // the first try's error, when a second try was made
	Err   string        // the (last) try's error; empty when it succeeded
}

// serveProbes is the probing process's main: it returns its exit code.
func serveProbes(addr string, in io.Reader, out io.Writer) int {
	lines := bufio.NewScanner(in)
	enc := json.NewEncoder(out)
	for range 10_000 {
		if !lines.Scan() {
			return 0
		}
		took, err := probeAdd(addr)
		var r probeResult
		if err != nil && ferry.NotExecuted(err) && strings.Contains(err.Error(), "session handshake") {
			// At a connection bound, a fresh client whose hello the
			// loaded server has not read yet can be the "oldest that sent
			// none yet" another newcomer closes (SECURITY.md): Dial fails
			// not executed, and a client may dial again. Once, here: a
			// lockout fails the second try too.
			r.First = err.Error()
			var again time.Duration
			again, err = probeAdd(addr)
			took += again
		}
		r.Took = took
		if err != nil {
			r.Err = err.Error()
		}
		if enc.Encode(r) != nil {
			return 1
		}
	}
	return 0
}

// prober is a probing process, started by startProber.
type prober struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Scanner
}

// startProber starts the test binary as a probing process for addr.
func startProber(addr string) (*prober, error) {
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), probeEnv+"="+addr)
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return &prober{cmd: cmd, in: in, out: bufio.NewScanner(out)}, nil
}

// probe has the probing process probe once and returns what it saw.
func (p *prober) probe() (probeResult, error) {
	var r probeResult
	if _, err := io.WriteString(p.in, "probe\n"); err != nil {
		return r, err
	}
	if !p.out.Scan() {
		return r, fmt.Errorf("the probing process ended: %w", errors.Join(p.out.Err(), io.ErrUnexpectedEOF))
	}
	err := json.Unmarshal(p.out.Bytes(), &r)
	return r, err
}

// stop ends the probing process (its stdin ends) and waits for it.
func (p *prober) stop() error {
	p.in.Close()
	return p.cmd.Wait()
}
