package debug

import (
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"runtime"
	"strconv"
	"time"

	"github.com/ferryrpc/ferry/server"
)

// Handler returns the /debug/ferry page: s's connections with their calls
// and errors, and methods with per-method calls, errors by code, in-flight
// calls, handler-time percentiles and the calls refused before a handler
// ran, by code; the calls denied (permission_denied); the calls made (when ClientInterceptor is installed); a
// chart of calls per second over the last minute and a handler-time histogram,
// all in one HTML document with inline SVG and no external assets. s may
// be nil (no connections or idle methods then).
//
// Query parameters: format=json returns the Snapshot as JSON instead;
// refresh=N (1 to 3600) reloads the page every N seconds.
func (st *Stats) Handler(s *server.Server) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		snap := st.Snapshot(s)
		w.Header().Set("Cache-Control", "no-store")
		if r.URL.Query().Get("format") == "json" {
			w.Header().Set("Content-Type", "application/json")
			enc := json.NewEncoder(w)
			enc.SetIndent("", "  ")
			_ = enc.Encode(snap)
			return
		}
		v := pageView{
			Snapshot:   snap,
			Now:        time.Now(),
			Goroutines: runtime.NumGoroutine(),
			Rate:       rateChart(snap.Rate),
			Latency:    latencyChart(snap.Latency),
		}
		if n, err := strconv.Atoi(r.URL.Query().Get("refresh")); err == nil && n >= 1 && n <= 3600 {
			v.Refresh = n
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		if err := page.Execute(w, v); err != nil {
			http.Error(w, "ferry: rendering the debug page: "+err.Error(), http.StatusInternalServerError)
		}
	})
}

type pageView struct {
	Snapshot
	Now        time.Time
	Goroutines int
	Refresh    int
	Rate       chart
	Latency    chart
}

// fmtDur prints a duration with three significant digits.
func fmtDur(d time.Duration) string {
	switch {
	case d == 0:
		return "0"
	case d < time.Microsecond:
		return fmt.Sprintf("%dns", d)
	case d < time.Millisecond:
		return fmt.Sprintf("%.3gµs", float64(d)/1e3)
	case d < time.Second:
		return fmt.Sprintf("%.3gms", float64(d)/1e6)
	}
	return fmt.Sprintf("%.3gs", d.Seconds())
}

var page = template.Must(template.New("page").Funcs(template.FuncMap{
	"dur": fmtDur,
	"age": func(now, t time.Time) string { return fmtDur(now.Sub(t).Round(time.Second)) },
}).Parse(pageHTML))

const pageHTML = `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
{{if .Refresh}}<meta http-equiv="refresh" content="{{.Refresh}}">{{end}}
<title>Ferry debug</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}
h1{font-size:1.4em}h2{font-size:1.1em;margin-top:1.5em}
table{border-collapse:collapse}td,th{padding:.2em .8em;border-bottom:1px solid #ddd;text-align:right}
td:first-child,th:first-child{text-align:left}.err{color:#b00}.muted{color:#777}
svg{background:#fafafa;border:1px solid #ddd}
</style></head><body>
<h1>Ferry</h1>
<p class="muted">up {{dur .Uptime}} · {{.Goroutines}} goroutines · {{.Now.Format "2006-01-02 15:04:05 MST"}} ·
<a href="?refresh=2">auto-refresh</a> · <a href="?format=json">JSON</a> ·
<span class="denied{{if .Denied}} err{{end}}">{{.Denied}} calls denied</span></p>

<h2>Calls per second, last minute</h2>
{{template "chart" .Rate}}

<h2 id="methods">Methods served</h2>
<p class="muted">calls, errors and latency of the calls a handler ran: handler time, measured around the handler by the
statistics' interceptor, and time since read, from reading the call's message (decoding, waiting for a handler slot, the handler);
refused: calls refused before any handler ran (arguments, unknown method, limits, authentication, shutdown), by code.</p>
<table><thead><tr><th>method</th><th>kind</th><th>calls</th><th>errors</th><th>in flight</th>
<th>handler p50</th><th>p90</th><th>p99</th><th>max</th><th>since read p50</th><th>p99</th><th>error codes</th><th>refused</th><th>refused codes</th></tr></thead><tbody>
{{range .Methods}}<tr class="method" data-method="{{.Name}}"><td>{{.Name}}</td><td>{{.Kind}}</td>
<td class="calls">{{.Calls}}</td><td class="errors{{if .Errors}} err{{end}}">{{.Errors}}</td><td class="inflight">{{.InFlight}}</td>
<td>{{dur .P50}}</td><td>{{dur .P90}}</td><td>{{dur .P99}}</td><td>{{dur .Max}}</td>
<td class="sinceread">{{dur .SinceReadP50}}</td><td>{{dur .SinceReadP99}}</td>
<td>{{range $code, $n := .Codes}}{{$code}}: {{$n}} {{end}}</td>
<td class="refused{{if .Refused}} err{{end}}">{{.Refused}}</td><td class="refusedcodes">{{range $code, $n := .RefusedCodes}}{{$code}}: {{$n}} {{end}}</td></tr>
{{else}}<tr><td colspan="14" class="muted">no methods</td></tr>{{end}}
</tbody></table>
{{if .Client}}
<h2 id="client">Calls made</h2>
<p class="muted">calls this side made (debug.Stats.ClientInterceptor); latency: the round trip.</p>
<table><thead><tr><th>method</th><th>calls</th><th>errors</th><th>in flight</th>
<th>round-trip p50</th><th>p90</th><th>p99</th><th>max</th><th>error codes</th></tr></thead><tbody>
{{range .Client}}<tr class="client" data-method="{{.Name}}"><td>{{.Name}}</td>
<td class="calls">{{.Calls}}</td><td class="errors{{if .Errors}} err{{end}}">{{.Errors}}</td><td class="inflight">{{.InFlight}}</td>
<td>{{dur .P50}}</td><td>{{dur .P90}}</td><td>{{dur .P99}}</td><td>{{dur .Max}}</td>
<td>{{range $code, $n := .Codes}}{{$code}}: {{$n}} {{end}}</td></tr>
{{end}}</tbody></table>
{{end}}

<h2 id="streams">Streams</h2>
<table><thead><tr><th>method</th><th>kind</th><th>open</th><th>opened</th><th>received</th><th>sent</th><th>errors</th>
<th>p50</th><th>p90</th><th>p99</th><th>max</th><th>error codes</th></tr></thead><tbody>
{{range .Streams}}<tr class="stream" data-method="{{.Name}}"><td>{{.Name}}</td><td>{{.Kind}}</td>
<td class="open">{{.Open}}</td><td class="opened">{{.Opened}}</td><td>{{.Received}}</td><td>{{.Sent}}</td>
<td class="errors{{if .Errors}} err{{end}}">{{.Errors}}</td>
<td>{{dur .P50}}</td><td>{{dur .P90}}</td><td>{{dur .P99}}</td><td>{{dur .Max}}</td>
<td>{{range $code, $n := .Codes}}{{$code}}: {{$n}} {{end}}</td></tr>
{{else}}<tr><td colspan="12" class="muted">no streaming methods</td></tr>{{end}}
</tbody></table>

<h2>Handler time, all methods</h2>
{{template "chart" .Latency}}

<h2 id="conns">Connections ({{len .Conns}})</h2>
<table><thead><tr><th>remote</th><th>protocol</th><th>age</th><th>streams</th><th>call streams</th><th>running</th><th>calls</th><th>errors</th></tr></thead><tbody>
{{range .Conns}}<tr class="conn"><td>{{.Remote}}</td><td>{{.Protocol}}</td><td>{{age $.Now .Since}}</td><td>{{.Streams}}</td><td>{{.CallStreams}}</td><td>{{.Running}}</td><td class="calls">{{.Calls}}</td><td class="errors">{{.Errors}}</td></tr>
{{else}}<tr><td colspan="8" class="muted">none</td></tr>{{end}}
</tbody></table>
</body></html>
{{define "chart"}}<svg class="{{.Class}}" xmlns="http://www.w3.org/2000/svg" width="{{.W}}" height="{{.H}}" viewBox="0 0 {{.W}} {{.H}}" role="img" aria-label="{{.Label}}">
<text x="4" y="12" font-size="10" fill="#777">{{.Top}}</text>
<text x="4" y="{{.H}}" dy="-3" font-size="10" fill="#777">{{.Left}}</text>
<text x="{{.W}}" y="{{.H}}" dx="-4" dy="-3" font-size="10" fill="#777" text-anchor="end">{{.Right}}</text>
{{range .Bars}}<rect x="{{.X}}" y="{{.Y}}" width="{{.W}}" height="{{.H}}" fill="{{.Fill}}"><title>{{.Title}}</title></rect>
{{end}}</svg>{{end}}`
