//go:build !windows && !plan9

package server

import "syscall"

// resourceErrors are the Accept errors that tell of the want of a
// resource that frees up as connections close (acceptRetryable): file
// descriptors, in the process or the system; buffer space; memory.
var resourceErrors = []error{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM}
