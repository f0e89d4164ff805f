#!/usr/bin/env bash
# Installed on each host as /opt/cascadia/install-release; the release workflow
# calls it with a bundle from a tag. Unpacks into /opt/cascadia/releases/<tag>,
# flips the /opt/cascadia/current symlink, restarts the named systemd units and
# rolls the symlink back if a unit fails to come up.
set -euo pipefail
bundle=$1 tag=$2
shift 2
root=/opt/cascadia
dest="$root/releases/$tag"
mkdir -p "$dest"
tar -C "$dest" -xzf "$bundle"
previous=$(readlink -f "$root/current" 2>/dev/null || true)
ln -sfn "$dest" "$root/current.new" && mv -T "$root/current.new" "$root/current"
for unit in "$@"; do
  systemctl restart "$unit"
  if ! systemctl is-active --quiet "$unit"; then
    echo "$unit failed to start on $tag; rolling back" >&2
    if [ -n "$previous" ]; then
      ln -sfn "$previous" "$root/current.new" && mv -T "$root/current.new" "$root/current"
      systemctl restart "$unit"
    fi
    exit 1
  fi
done
rm -f "$bundle"
echo "installed $tag: $*"
