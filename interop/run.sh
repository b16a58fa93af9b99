#!/usr/bin/env bash
# Interop tests: independently written MessagePack-RPC clients (Python with
# Debian's python3-msgpack, Node with the npm package msgpack5rpc) against
# the arith example server over TCP.
#
# Builds examples/arith/server, starts it on 127.0.0.1:0, reads the address
# from its first stdout line, runs both suites, then stops it with SIGTERM
# and requires a graceful exit (status 0). Exits non-zero if anything failed.
#
# Needs: go, node + npm, and python3 with msgpack (apt-get install
# python3-msgpack); .ci/run installs them.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

tmp=$(mktemp -d)
pid=
cleanup() {
	if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
		kill -KILL "$pid" 2>/dev/null || true
	fi
	exec 3<&- 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM # run the EXIT trap on a signal too

# Python: the first interpreter that has msgpack. Debian's package installs
# into /usr/bin/python3, which another python3 on PATH (pyenv) may shadow.
python=
for p in /usr/bin/python3 python3; do
	if command -v "$p" >/dev/null && "$p" -c 'import msgpack' 2>/dev/null; then
		python=$p
		break
	fi
done
if [[ -z $python ]]; then
	echo "interop: no python3 with msgpack (apt-get install python3-msgpack)" >&2
	exit 1
fi
if [[ ! -d interop/node/node_modules ]]; then
	(cd interop/node && npm ci --no-audit --no-fund --loglevel=error)
fi

echo "interop: building examples/arith/server"
go build -o "$tmp/arith-server" ./examples/arith/server

# The server's stdout goes through a FIFO so that reading its first line
# waits exactly as long as the server takes to listen.
mkfifo "$tmp/stdout"
"$tmp/arith-server" -addr 127.0.0.1:0 >"$tmp/stdout" 2>"$tmp/stderr" &
pid=$!
exec 3<"$tmp/stdout"
line=
if ! read -r -t 30 line <&3 || [[ $line != "listening on "* ]]; then
	echo "interop: the server did not announce its address (first line: '$line')" >&2
	cat "$tmp/stderr" >&2
	exit 1
fi
addr=${line#listening on }
echo "interop: server pid $pid on $addr"

passed=0
failed=0
# suite NAME CMD...: runs one suite and adds up its closing line
# "N passed, N failed"; a suite that fails without one counts as 1 failed.
suite() {
	local name=$1 rc=0 last
	shift
	"$@" | tee "$tmp/$name.out" || rc=$?
	last=$(tail -n 1 "$tmp/$name.out")
	if [[ $last =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
		passed=$((passed + BASH_REMATCH[1]))
		failed=$((failed + BASH_REMATCH[2]))
		if [[ $rc -ne 0 && ${BASH_REMATCH[2]} -eq 0 ]]; then
			failed=$((failed + 1))
		fi
	else
		echo "FAIL $name suite ended without a summary line (exit status $rc)"
		failed=$((failed + 1))
	fi
}

echo "interop: python ($("$python" --version 2>&1), msgpack $("$python" -c 'import msgpack; print(".".join(map(str, msgpack.version)))'))"
suite python "$python" interop/python/test_arith.py "$addr"
echo "interop: node $(node --version), msgpack5rpc $(node -p 'require("./interop/node/node_modules/msgpack5rpc/package.json").version')"
suite node node interop/node/test.js "$addr"

# Graceful shutdown: SIGTERM, and the server must exit 0 on its own.
kill -TERM "$pid"
if ! timeout 30 tail --pid="$pid" -s 0.1 -f /dev/null; then
	echo "interop: FAIL the server did not exit within 30 s of SIGTERM" >&2
	kill -KILL "$pid" 2>/dev/null || true
fi
status=0
wait "$pid" || status=$?
pid=
if [[ $status -ne 0 ]]; then
	echo "FAIL server exited with status $status after SIGTERM"
	cat "$tmp/stderr" >&2
	failed=$((failed + 1))
else
	echo "ok   server shut down gracefully on SIGTERM (exit 0)"
	passed=$((passed + 1))
fi

echo "interop: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
