#!/usr/bin/env bash
# The committed protobuf-c code in Sources/CProtobufC must be what protoc-c makes of Protos/ now.
set -euo pipefail
cd "$(dirname "$0")/../.."
fresh=$(mktemp -d)
trap 'rm -rf "$fresh"' EXIT
scripts/generate-protos --out "$fresh"
status=0
for f in "$fresh"/*.pb-c.c; do
  diff -u "Sources/CProtobufC/$(basename "$f")" "$f" || status=1
done
for f in "$fresh"/include/*.pb-c.h; do
  diff -u "Sources/CProtobufC/include/$(basename "$f")" "$f" || status=1
done
if [ "$status" -ne 0 ]; then
  echo "transport-protos-current: generated code is stale; run scripts/generate-protos and commit" >&2
  exit 1
fi
echo "transport-protos-current: ok"
