package main

import (
	"errors"
	"io"
	"os"
	"runtime/pprof"
	"runtime/trace"
)

// profiled runs f under the CPU profile and the execution trace that
// -cpuprofile and -trace ask for, so that both cover the whole run, every
// system and both ends of each; it stops them and closes their files
// before it returns, also when f fails.
func profiled(cfg *config, f func() error) error {
	stopProfile, err := startProfile(cfg.cpuProfile, pprof.StartCPUProfile, pprof.StopCPUProfile)
	if err != nil {
		return err
	}
	stopTrace, err := startProfile(cfg.trace, trace.Start, trace.Stop)
	if err != nil {
		return errors.Join(err, stopProfile())
	}
	err = f()
	return errors.Join(err, stopTrace(), stopProfile())
}

// startProfile creates path and starts writing to it with start; the
// returned function stops and closes it. An empty path starts nothing.
func startProfile(path string, start func(io.Writer) error, stop func()) (func() error, error) {
	if path == "" {
		return func() error { return nil }, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := start(f); err != nil {
		return nil, errors.Join(err, f.Close())
	}
	return func() error { stop(); return f.Close() }, nil
}
