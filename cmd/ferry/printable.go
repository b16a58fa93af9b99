package main

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// printable returns s with the characters a terminal acts on written as
// Go escapes (\x1b, \r, \u009b): C0 controls but newline and tab, DEL,
// C1 controls and bytes that are not UTF-8. What a server sends (error
// messages, method names, a health status) is printed through it, so
// that it cannot clear the screen, move the cursor, set the window title
// or rewrite what was printed before it.
func printable(s string) string {
	if strings.IndexFunc(s, isControl) < 0 && utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	for len(s) > 0 {
		r, size := utf8.DecodeRuneInString(s)
		switch {
		case r == utf8.RuneError && size == 1:
			b.WriteString(`\x` + strconv.FormatUint(uint64(s[0])|0x100, 16)[1:])
		case isControl(r):
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteString(s[:size])
		}
		s = s[size:]
	}
	return b.String()
}

// isControl reports whether a terminal may act on r: a C0 control but
// newline and tab, DEL, or a C1 control.
func isControl(r rune) bool {
	return r < 0x20 && r != '\n' && r != '\t' || r >= 0x7f && r < 0xa0
}

// jsonSafe returns the JSON text b with DEL and the C1 controls, which
// encoding/json writes as they are, written as \u escapes: the same
// strings to a JSON reader, nothing for a terminal to act on. (Outside
// strings JSON has no such characters.)
func jsonSafe(b []byte) []byte {
	if bytes.IndexFunc(b, func(r rune) bool { return r >= 0x7f && r < 0xa0 }) < 0 {
		return b
	}
	out := make([]byte, 0, len(b)+16)
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		if r >= 0x7f && r < 0xa0 {
			out = fmt.Appendf(out, `\u%04x`, r)
		} else {
			out = append(out, b[:size]...)
		}
		b = b[size:]
	}
	return out
}
