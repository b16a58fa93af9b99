package main

import (
	"testing"

	"go.uber.org/goleak"
)

// The quickstart is the README's demo: make sure it keeps working and
// leaves nothing running.
func TestQuickstart(t *testing.T) {
	defer goleak.VerifyNone(t)
	main()
}
