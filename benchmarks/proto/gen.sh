#!/usr/bin/env bash
# Regenerates proto/benchpb from proto/bench.proto.
#
# Needs protoc (Debian: apt-get install protobuf-compiler). The Go plugins
# are installed into a cache folder at pinned versions: protoc-gen-go at the
# google.golang.org/protobuf version this module requires (so generated code
# and runtime match), protoc-gen-go-grpc at PROTOC_GEN_GO_GRPC_VERSION, whose
# generated code needs grpc >= 1.64 (this module uses 1.85).
set -euo pipefail

PROTOC_GEN_GO_GRPC_VERSION=v1.6.2

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
mod="$(cd "$here/.." && pwd)"
command -v protoc >/dev/null || { echo "gen.sh: protoc not found (apt-get install protobuf-compiler)" >&2; exit 1; }

protobuf_version="$(cd "$mod" && go list -m -f '{{.Version}}' google.golang.org/protobuf)"
bin="${FERRY_PROTOC_BIN:-$(go env GOCACHE)/ferry-bench-protoc-plugins}"
mkdir -p "$bin"
GOBIN="$bin" go install "google.golang.org/protobuf/cmd/protoc-gen-go@${protobuf_version}"
GOBIN="$bin" go install "google.golang.org/grpc/cmd/protoc-gen-go-grpc@${PROTOC_GEN_GO_GRPC_VERSION}"

cd "$here"
PATH="$bin:$PATH" protoc -I . \
  --go_out=benchpb --go_opt=paths=source_relative \
  --go-grpc_out=benchpb --go-grpc_opt=paths=source_relative \
  bench.proto
echo "gen.sh: regenerated $(ls benchpb/*.pb.go | tr '\n' ' ')(protoc $(protoc --version | cut -d' ' -f2), protoc-gen-go ${protobuf_version}, protoc-gen-go-grpc ${PROTOC_GEN_GO_GRPC_VERSION})"
