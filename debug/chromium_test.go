package debug_test

import (
	"bytes"
	"context"
	"net/http/httptest"
	"os"
	"os/exec"
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// chromium returns the path of a Chromium binary, skipping the test when
// there is none unless FERRY_REQUIRE_CHROMIUM=1 (as in CI) makes that a
// failure.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("FERRY_REQUIRE_CHROMIUM") == "1" {
		t.Fatal("chromium is not installed and FERRY_REQUIRE_CHROMIUM=1")
	}
	t.Skip("chromium is not installed (apt-get install chromium); FERRY_REQUIRE_CHROMIUM=1 makes this a failure")
	return ""
}

// TestDebugPageInChromium loads /debug/ferry from a live server into a
// real headless Chromium and checks the DOM it renders: the methods with
// their counts, the connection, and the inline SVG charts.
func TestDebugPageInChromium(t *testing.T) {
	bin := chromium(t)
	f := start(t)
	f.traffic(t, 7) // 7 × Arith.Add, 1 × Arith.Div failing
	var r int64
	require.Error(t, f.c.Call(t.Context(), "Arith.Add", "not args", &r)) // refused before the handler
	web := httptest.NewServer(f.st.Handler(f.srv))
	defer web.Close()

	ctx, cancel := context.WithTimeout(t.Context(), 25*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin,
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage", "--disable-crash-reporter",
		"--user-data-dir="+t.TempDir(), "--dump-dom", web.URL+"/debug/ferry")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	dom, err := cmd.Output()
	require.NoError(t, err, "chromium: %s", stderr.String())
	page := string(dom)

	row := func(method string) string {
		re := regexp.MustCompile(`(?s)<tr class="method" data-method="` + regexp.QuoteMeta(method) + `">.*?</tr>`)
		m := re.FindString(page)
		require.NotEmpty(t, m, "no row for %s in:\n%s", method, page)
		return m
	}
	assert.Contains(t, row("Arith.Add"), `<td class="calls">7</td>`)
	assert.Contains(t, row("Arith.Add"), `<td class="errors">0</td>`)
	assert.Contains(t, row("Arith.Add"), `<td class="refused err">1</td>`)
	assert.Contains(t, row("Arith.Add"), `invalid_argument: 1`)
	assert.Contains(t, row("Arith.Div"), `<td class="errors err">1</td>`)
	assert.Contains(t, row("Arith.Div"), `invalid_argument: 1`)
	assert.Contains(t, row("Gate.Wait"), `<td class="calls">0</td>`)
	assert.Regexp(t, `<tr class="conn"><td>127\.0\.0\.1:\d+</td><td>session</td>.*<td class="calls">8</td><td class="errors">1</td>`, page)
	assert.Regexp(t, `<svg class="rate"[^>]*>`, page)
	assert.Regexp(t, `<svg class="latency"[^>]*>`, page)
	assert.Regexp(t, `<rect [^>]*fill="#c33"`, page, "the failed call is drawn in red")
}
