#!/usr/bin/env bash
# A throwaway etcd for the tests of the discovery/etcd module.
#
# Installs Debian's etcd-server and etcd-client if missing, starts etcd on
# loopback ports that are not etcd's defaults (client 23790, peer 23800;
# override with FERRY_ETCD_CLIENT_PORT / FERRY_ETCD_PEER_PORT) with a
# temporary data directory, and waits until it answers its health check.
#
# Three ways to use it:
#
#   bash .ci/etcd.sh                    # start, print the endpoint, run until Ctrl-C
#   bash .ci/etcd.sh CMD ARGS...        # start, run CMD with FERRY_ETCD_ENDPOINTS set, stop
#                                       # e.g. (cd discovery/etcd && bash ../../.ci/etcd.sh go test -race ./...)
#   source .ci/etcd.sh; ferry_etcd_start; ...; ferry_etcd_stop
#                                       # .ci/run does this; start exports FERRY_ETCD_ENDPOINTS
#
# If an etcd already answers at the endpoint (one left running by hand),
# it is used as is and not stopped.

FERRY_ETCD_CLIENT_PORT=${FERRY_ETCD_CLIENT_PORT:-23790}
FERRY_ETCD_PEER_PORT=${FERRY_ETCD_PEER_PORT:-23800}
ferry_etcd_pid=
ferry_etcd_dir=

# ferry_etcd_healthy ENDPOINT: true when etcd answers GET /health with
# {"health":"true"}.
ferry_etcd_healthy() {
	local out
	out=$(curl -fsS --max-time 2 "$1/health" 2>/dev/null) || return 1
	[[ $out == *'"health":"true"'* ]]
}

# ferry_etcd_install: installs etcd-server (and etcdctl) from Debian when
# the etcd binary is missing, retrying a failed download.
ferry_etcd_install() {
	if command -v etcd >/dev/null 2>&1 && command -v curl >/dev/null 2>&1; then
		return 0
	fi
	local try log
	log=$(mktemp)
	for try in 1 2 3; do
		if { DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=120 update -qq &&
			DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=120 install -y -qq \
				--no-install-recommends etcd-server etcd-client curl; } >"$log" 2>&1; then
			rm -f "$log"
			return 0
		fi
		echo "etcd.sh: apt-get failed (try $try of 3)" >&2
		sleep 10
	done
	cat "$log" >&2
	rm -f "$log"
	return 1
}

# ferry_etcd_start: starts etcd (unless one is already healthy there),
# waits up to 30 s for it, and exports FERRY_ETCD_ENDPOINTS.
ferry_etcd_start() {
	local ep="http://127.0.0.1:$FERRY_ETCD_CLIENT_PORT" i
	ferry_etcd_install || return 1
	if ferry_etcd_healthy "$ep"; then
		echo "etcd.sh: using the etcd already running at $ep"
		export FERRY_ETCD_ENDPOINTS=$ep
		return 0
	fi
	ferry_etcd_dir=$(mktemp -d /tmp/ferry-etcd.XXXXXX)
	etcd --name ferry-ci --data-dir "$ferry_etcd_dir/data" \
		--listen-client-urls "$ep" --advertise-client-urls "$ep" \
		--listen-peer-urls "http://127.0.0.1:$FERRY_ETCD_PEER_PORT" \
		--initial-advertise-peer-urls "http://127.0.0.1:$FERRY_ETCD_PEER_PORT" \
		--initial-cluster "ferry-ci=http://127.0.0.1:$FERRY_ETCD_PEER_PORT" \
		>"$ferry_etcd_dir/etcd.log" 2>&1 &
	ferry_etcd_pid=$!
	for ((i = 0; i < 300; i++)); do
		if ferry_etcd_healthy "$ep"; then
			echo "etcd.sh: etcd $(etcd --version 2>/dev/null | head -1 | awk '{print $3}') ready at $ep (pid $ferry_etcd_pid)"
			export FERRY_ETCD_ENDPOINTS=$ep
			return 0
		fi
		if ! kill -0 "$ferry_etcd_pid" 2>/dev/null; then
			break
		fi
		sleep 0.1
	done
	echo "etcd.sh: etcd did not become healthy at $ep; its log:" >&2
	tail -n 30 "$ferry_etcd_dir/etcd.log" >&2
	ferry_etcd_stop
	return 1
}

# ferry_etcd_stop: stops the etcd that ferry_etcd_start started, if any,
# and removes its data directory.
ferry_etcd_stop() {
	if [[ -n $ferry_etcd_pid ]]; then
		kill "$ferry_etcd_pid" 2>/dev/null || true
		wait "$ferry_etcd_pid" 2>/dev/null || true
		ferry_etcd_pid=
	fi
	if [[ -n $ferry_etcd_dir ]]; then
		rm -rf "$ferry_etcd_dir"
		ferry_etcd_dir=
	fi
}

# Run directly (not sourced): start, then run the command or wait.
if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
	set -euo pipefail
	trap ferry_etcd_stop EXIT
	trap 'exit 130' INT TERM
	ferry_etcd_start
	if [[ $# -gt 0 ]]; then
		"$@"
		exit
	fi
	echo "export FERRY_ETCD_ENDPOINTS=$FERRY_ETCD_ENDPOINTS   # in the shell that runs the tests; Ctrl-C stops etcd"
	if [[ -n $ferry_etcd_pid ]]; then
		wait "$ferry_etcd_pid"
	fi
fi
