# Sourced by ./stack and .ci/run: puts a Node >= 22 and the pinned pnpm on PATH.
#
# Many machines still ship Node 20. Rather than asking the user to upgrade, we
# fetch the official Node binary that the npm registry publishes as the package
# `node-<os>-<arch>` into .toolchain/ (gitignored) and use it for everything.
# The same package carries Node's C headers, which node-gyp needs to compile
# native addons (better-sqlite3) without downloading headers from elsewhere.

STACK_NODE_VERSION="24.21.0"
STACK_MIN_NODE_MAJOR=22
STACK_ROOT="${STACK_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
STACK_TOOLS="$STACK_ROOT/.toolchain"

_stack_log() { printf '[stack] %s\n' "$*" >&2; }

_stack_node_major() {
  command -v node >/dev/null 2>&1 || { echo 0; return; }
  node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0
}

_stack_install_node() {
  local os arch pkg
  case "$(uname -s)" in
    Linux) os=linux ;;
    Darwin) os=darwin ;;
    *) _stack_log "unsupported OS $(uname -s): install Node >= $STACK_MIN_NODE_MAJOR yourself"; return 1 ;;
  esac
  case "$(uname -m)" in
    x86_64 | amd64) arch=x64 ;;
    aarch64 | arm64) arch=arm64 ;;
    *) _stack_log "unsupported CPU $(uname -m): install Node >= $STACK_MIN_NODE_MAJOR yourself"; return 1 ;;
  esac
  pkg="node-$os-$arch@$STACK_NODE_VERSION"
  command -v npm >/dev/null 2>&1 || { _stack_log "npm is needed to fetch $pkg"; return 1; }
  _stack_log "system Node is older than $STACK_MIN_NODE_MAJOR; fetching $pkg from the npm registry"
  local tmp="$STACK_TOOLS/.fetch"
  rm -rf "$tmp" && mkdir -p "$tmp"
  npm install --prefix "$tmp" --no-save --no-package-lock --loglevel=error "$pkg" >&2
  rm -rf "$STACK_TOOLS/node"
  mv "$tmp/node_modules/node-$os-$arch" "$STACK_TOOLS/node"
  rm -rf "$tmp"
}

stack_toolchain() {
  if [ -x "$STACK_TOOLS/node/bin/node" ] && [ "$("$STACK_TOOLS/node/bin/node" -p 'process.versions.node')" = "$STACK_NODE_VERSION" ]; then
    export PATH="$STACK_TOOLS/node/bin:$PATH"
  elif [ "$(_stack_node_major)" -lt "$STACK_MIN_NODE_MAJOR" ]; then
    _stack_install_node || return 1
    export PATH="$STACK_TOOLS/node/bin:$PATH"
  fi
  # node-gyp compiles against the headers of the Node that runs the code.
  local prefix
  prefix="$(cd "$(dirname "$(command -v node)")/.." && pwd)"
  if [ -f "$prefix/include/node/node.h" ]; then
    export npm_config_nodedir="$prefix"
  fi

  local want_pnpm
  want_pnpm="$(node -p 'require(process.argv[1]).packageManager.split("@")[1]' "$STACK_ROOT/package.json")"
  if [ ! -x "$STACK_TOOLS/pnpm/node_modules/.bin/pnpm" ] ||
    [ "$("$STACK_TOOLS/pnpm/node_modules/.bin/pnpm" --version 2>/dev/null)" != "$want_pnpm" ]; then
    _stack_log "fetching pnpm@$want_pnpm from the npm registry"
    rm -rf "$STACK_TOOLS/pnpm" && mkdir -p "$STACK_TOOLS/pnpm"
    npm install --prefix "$STACK_TOOLS/pnpm" --no-save --no-package-lock --loglevel=error "pnpm@$want_pnpm" >&2
  fi
  export PATH="$STACK_TOOLS/pnpm/node_modules/.bin:$PATH"
  export TURBO_TELEMETRY_DISABLED=1 NEXT_TELEMETRY_DISABLED=1 DO_NOT_TRACK=1
  _stack_log "node $(node --version), pnpm $(pnpm --version)"
}
