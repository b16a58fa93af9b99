package e2e_test

import (
	"context"
	"testing"
	"time"

	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/faultnet"
	"github.com/ferryrpc/ferry/server"
)

func TestScratchCloseStalled(t *testing.T) {
	for _, mode := range clientModes {
		for _, who := range []string{"client", "server"} {
			t.Run(mode.name+"/"+who, func(t *testing.T) {
				s := newServer(t)
				b := newBlocker()
				server.Handle(s, "Block.Wait", b.handle)
				f := faultnet.New()
				c := dialFaulty(t, s, f, mode.opts...)
				calls := []*client.Call{}
				for range 4 {
					calls = append(calls, c.Go(t.Context(), "Block.Wait", struct{}{}, nil))
				}
				for range 4 {
					<-b.started
				}
				f.Stall(faultnet.Both)
				t0 := time.Now()
				if who == "client" {
					c.Close()
				} else {
					ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
					s.Shutdown(ctx)
					cancel()
				}
				t.Logf("%s close took %v", who, time.Since(t0))
				for _, call := range calls {
					<-call.Done()
				}
				t.Logf("calls done after %v: %v", time.Since(t0), calls[0].Err())
				f.Heal()
			})
		}
	}
}
