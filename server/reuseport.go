package server

import "fmt"

// checkReuseNetwork accepts the networks ListenReusePort serves.
func checkReuseNetwork(network string) error {
	switch network {
	case "tcp", "tcp4", "tcp6":
		return nil
	}
	return fmt.Errorf("ferry: ListenReusePort: network %q is not tcp, tcp4 or tcp6", network)
}
