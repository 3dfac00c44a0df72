#!/usr/bin/env bash
# Builds collector/bin/otelcol-llm from collector/builder-config.yaml with the OpenTelemetry Collector Builder.
#
# Needs only Go and the Go module proxy. Idempotent: does nothing when the binary is newer than the manifest
# and was built from its current content (a checksum stamp next to the binary); otherwise reuses the Go module
# and build caches, so a warm rebuild takes seconds and a cold one about ten minutes on two cores.
#
# Environment:
#   OTELCOL_BUILDER_VERSION  builder release to install (default: the release the manifest pins)
#   FORCE=1                  rebuild even when the binary is up to date
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"

manifest="$here/builder-config.yaml"
binary="$here/bin/otelcol-llm"
tools="$here/_build/tools"
builder_version="${OTELCOL_BUILDER_VERSION:-v0.161.0}"

stamp="$binary.sha256"
checksum="$(cat "$manifest" "$here/$(basename "$0")" | sha256sum | cut -d' ' -f1)"
if [ "${FORCE:-0}" != "1" ] && [ -x "$binary" ] && [ "$binary" -nt "$manifest" ] \
    && [ "$(cat "$stamp" 2>/dev/null)" = "$checksum" ]; then
  echo "collector: $binary is up to date (FORCE=1 rebuilds)"
  exit 0
fi

if ! command -v go >/dev/null 2>&1; then
  for candidate in /usr/local/go/bin /usr/lib/go/bin; do
    if [ -x "$candidate/go" ]; then PATH="$candidate:$PATH"; fi
  done
fi
if ! command -v go >/dev/null 2>&1; then
  echo "collector: Go is required (https://go.dev/dl/) to build the collector" >&2
  exit 1
fi

export GOFLAGS="${GOFLAGS:--mod=mod}"
export GOPROXY="${GOPROXY:-https://proxy.golang.org,direct}"
export CGO_ENABLED="${CGO_ENABLED:-0}"

builder="$tools/builder"
if [ ! -x "$builder" ] || [ "$(cat "$tools/builder.version" 2>/dev/null)" != "$builder_version" ]; then
  echo "collector: installing go.opentelemetry.io/collector/cmd/builder@$builder_version"
  mkdir -p "$tools"
  GOBIN="$tools" go install "go.opentelemetry.io/collector/cmd/builder@$builder_version"
  echo "$builder_version" > "$tools/builder.version"
fi

echo "collector: building with $(go version | awk '{print $3}') from $manifest"
start=$(date +%s)
"$builder" --config "$manifest"
mkdir -p "$here/bin"
# Copy to a temporary name first so an interrupted copy never leaves a half-written binary that looks fresh.
cp "$here/_build/src/otelcol-llm" "$binary.tmp"
mv -f "$binary.tmp" "$binary"
echo "$checksum" > "$stamp"
echo "collector: built $binary in $(( $(date +%s) - start )) s"
"$binary" --version
