#!/bin/sh
# Run by `npm install`: builds the batch UDP reader (udp-batch.c) on Linux. Without it edgeban still
# runs, and reads UDP through Node's dgram, which is slower: the daemon warns at start.
[ "$(uname -s)" = Linux ] || exit 0
# Node's own headers where Node is installed, so that node-gyp needs no download
prefix="$(dirname "$(dirname "$(command -v node)")")"
if [ -z "${npm_config_nodedir:-}" ] && [ -f "$prefix/include/node/node_api.h" ]; then set -- --nodedir="$prefix"; fi
node-gyp rebuild "$@" >native/build.log 2>&1 && rm -f native/build.log && exit 0
echo "edgeban: the batch UDP reader was not built (see native/build.log; it needs make, a C compiler and python3)." >&2
echo "edgeban: UDP will be read through Node's dgram instead, which loses datagrams at high rates." >&2
exit 0
