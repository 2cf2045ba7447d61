#!/usr/bin/env bash
# Builds etcd 3.4's own load generator (tools/benchmark) offline and caches the binary outside
# the repository, for bench/etcd-grpc.mjs (which runs this itself). Nothing of etcd's code is committed: the sources come
# from a local mirror of github.com/etcd-io/etcd (ETCD_REPO, a git directory: the search tool's
# `fetch github:etcd-io/etcd` leaves one under /work/.mirror) at the v3.4 tag matching Debian's
# etcd, and every dependency from Debian's golang-etcd-server-dev (GOPATH mode, no network).
#
#   bash bench/build-etcd-benchmark.sh        # prints the binary's path
#
# Needs: golang-go, golang-etcd-server-dev (apt), git. Cache: $XDG_CACHE_HOME/raftwork (or ~/.cache).
set -euo pipefail
tag=${ETCD_TAG:-v3.4.23}
repo=${ETCD_REPO:-/work/.mirror/etcd-io+etcd/repo}
cache=${XDG_CACHE_HOME:-$HOME/.cache}/raftwork
bin=$cache/etcd-benchmark-$tag
if [ -x "$bin" ]; then echo "$bin"; exit 0; fi
command -v go >/dev/null || { echo "build-etcd-benchmark: go not found (apt install golang-go)" >&2; exit 3; }
[ -d /usr/share/gocode/src/go.etcd.io/etcd ] ||
  { echo "build-etcd-benchmark: apt install golang-etcd-server-dev first" >&2; exit 3; }
git --git-dir="$repo" rev-parse -q --verify "$tag^{commit}" >/dev/null ||
  { echo "build-etcd-benchmark: no $tag in $repo (set ETCD_REPO to a clone of etcd-io/etcd)" >&2; exit 3; }

gopath=$(mktemp -d)
trap 'chmod -R u+w "$gopath" 2>/dev/null; rm -rf "$gopath"' EXIT
mkdir -p "$gopath/src/go.etcd.io"
# Debian's sources, read-only, except etcd itself: a private copy that gains tools/benchmark.
for d in /usr/share/gocode/src/*; do
  [ "$(basename "$d")" = go.etcd.io ] || ln -s "$d" "$gopath/src/$(basename "$d")"
done
for d in /usr/share/gocode/src/go.etcd.io/*; do
  [ "$(basename "$d")" = etcd ] || ln -s "$d" "$gopath/src/go.etcd.io/$(basename "$d")"
done
cp -r /usr/share/gocode/src/go.etcd.io/etcd "$gopath/src/go.etcd.io/etcd"
chmod -R u+w "$gopath/src/go.etcd.io/etcd"
git --git-dir="$repo" archive "$tag" tools/benchmark | tar -x -C "$gopath/src/go.etcd.io/etcd"
mkdir -p "$cache"
(cd "$gopath/src/go.etcd.io/etcd/tools/benchmark" &&
  GOPATH=$gopath GO111MODULE=off GOCACHE="$cache/go-build" go build -o "$bin.tmp" .)
mv "$bin.tmp" "$bin"
echo "$bin"
