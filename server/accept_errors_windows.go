package server

import "syscall"

// resourceErrors are the Accept errors that tell of the want of a
// resource that frees up as connections close (acceptRetryable). Winsock
// reports the want of sockets and of buffer space with its own codes,
// which the syscall package's EMFILE and ENOBUFS are not.
var resourceErrors = []error{
	syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM,
	syscall.Errno(10024), // WSAEMFILE
	syscall.Errno(10055), // WSAENOBUFS
	syscall.Errno(8),     // ERROR_NOT_ENOUGH_MEMORY
}
