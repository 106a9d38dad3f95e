#!/usr/bin/env bash
# Build Glassbox's collector from collector/manifest.yaml with the official builder (ocb).
# The binary, the builder and Go's module and build caches live in $GLASSBOX_CACHE_DIR (default
# ~/.cache/glassbox), outside the repository. A cold build downloads about 2 GB of modules and takes
# about 11 minutes on 2 cores; a build with the same manifest is skipped, a changed manifest rebuilds
# in seconds once the caches are warm.
set -euo pipefail

BUILDER_VERSION=v0.161.0
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
manifest="$here/manifest.yaml"
cache="${GLASSBOX_CACHE_DIR:-$HOME/.cache/glassbox}"
binary="$cache/collector/glassbox-otelcol"
stamp="$cache/collector/manifest.sha256"

if ! grep -q "collector/receiver/otlpreceiver $BUILDER_VERSION" "$manifest"; then
  echo "collector/build.sh: builder $BUILDER_VERSION does not match the collector version in $manifest" >&2
  exit 1
fi

want="$(sha256sum "$manifest" | cut -d' ' -f1) $BUILDER_VERSION"
if [[ -x "$binary" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  echo "collector: $binary is up to date"
  exit 0
fi

if ! command -v go >/dev/null; then
  echo "collector/build.sh: Go is required to build the collector (https://go.dev/dl/); none is on PATH" >&2
  exit 1
fi

export GOPATH="$cache/go" GOMODCACHE="$cache/go/mod" GOCACHE="$cache/go/build" GOFLAGS=-modcacherw
export GOBIN="$cache/bin"
mkdir -p "$cache/collector" "$GOBIN"
if ! "$GOBIN/builder" version 2>/dev/null | grep -q "$BUILDER_VERSION"; then
  echo "collector: installing the builder $BUILDER_VERSION"
  go install "go.opentelemetry.io/collector/cmd/builder@$BUILDER_VERSION"
fi

echo "collector: building $binary (a first build takes about 11 minutes)"
started=$SECONDS
cd "$cache"
"$GOBIN/builder" --config "$manifest"
echo "$want" >"$stamp"
echo "collector: built in $((SECONDS - started)) s"
