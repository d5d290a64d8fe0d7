#!/usr/bin/env bash
# Builds (once) a Debian 13 "trixie" root holding Krita 5.2 and GIMP 3 for the end-to-end tests.
# Debian 12's own Krita lacks the mask API and its GIMP is 2.10, so the editors come from trixie.
# The root is cached (default ~/.cache/mam-editors/trixie, or $MAM_EDITORS_ROOT); a finished root
# carries a stamp file so an interrupted build is redone rather than trusted. The stamp lists the
# packages installed; a root stamped with an older list gets the missing packages added in place.
# xvfb + xdotool: GIMP has no undo procedure in its PDB, so the GIMP test presses Ctrl+Z in a virtual display.
set -euo pipefail
ROOT="${MAM_EDITORS_ROOT:-$HOME/.cache/mam-editors/trixie}"
STAMP="$ROOT/.mam-editors-ready"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
PKGS="gimp gir1.2-gimp-3.0 python3-gi krita python3-pyqt5 xvfb xdotool"

ready() { [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$PKGS" ]; }
if ready; then echo "$ROOT"; exit 0; fi
mkdir -p "$(dirname "$ROOT")"
exec 9>"${ROOT%/}.lock"
flock 9
if ready; then echo "$ROOT"; exit 0; fi

install_packages() {
  mount -t proc proc "$ROOT/proc"
  trap 'umount "$ROOT/proc" 2>/dev/null || true' EXIT
  chroot "$ROOT" env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
  chroot "$ROOT" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $PKGS >&2
  chroot "$ROOT" apt-get clean >&2
  echo "$PKGS" > "$STAMP"
}

if [ -f "$STAMP" ]; then
  install_packages
  echo "$ROOT"
  exit 0
fi

if ! command -v debootstrap >/dev/null; then
  apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >&2
fi
umount "$ROOT/proc" 2>/dev/null || true
rm -rf "$ROOT"
debootstrap --variant=minbase --include=python3,python3-gi trixie "$ROOT" "$MIRROR" >&2
install_packages
echo "$ROOT"
