// Package systems lists every system the comparison runs.
package systems

import (
	"github.com/ferryrpc/ferry/benchmarks/bench"
	"github.com/ferryrpc/ferry/benchmarks/systems/ferrysys"
	"github.com/ferryrpc/ferry/benchmarks/systems/grpcsys"
	"github.com/ferryrpc/ferry/benchmarks/systems/netrpcsys"
	"github.com/ferryrpc/ferry/benchmarks/systems/rawecho"
)

// All returns the systems in the order tables and charts list them.
func All() []bench.System {
	return []bench.System{
		ferrysys.Sync(),
		ferrysys.Reflect(),
		ferrysys.Async(),
		ferrysys.Plain(),
		grpcsys.Proto(),
		grpcsys.Raw(),
		netrpcsys.Gob(),
		rawecho.TCP(),
		rawecho.Yamux(),
	}
}
