package server

// resourceErrors are the Accept errors that tell of the want of a
// resource that frees up as connections close (acceptRetryable): none
// this system names.
var resourceErrors []error
