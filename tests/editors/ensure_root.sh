#!/usr/bin/env bash
# Builds (once) a Debian root holding Krita and GIMP 3 for the end-to-end tests, and prints its path.
#   ensure_root.sh [trixie|sid]      trixie (default): Krita 5.2.9 + GIMP 3.0.4 (Debian 13)
#                                    sid: the newer editors of Debian unstable (Krita 5.3.x + GIMP 3.2.x), plus
#                                    python3-pyqt6 so the Krita plugin's PyQt6 path can be imported (Krita 6 is Qt6)
# Debian 12's own Krita lacks the mask API and its GIMP is 2.10, so the editors come from these roots.
# The roots are cached (default ~/.cache/mam-editors/SUITE, or $MAM_EDITORS_CACHE/SUITE); a finished root
# carries a stamp file so an interrupted build is redone rather than trusted. The stamp lists the
# packages installed; a root stamped with an older list gets the missing packages added in place.
# sid's Release file can be older than its Valid-Until date on the mirror, so apt is told not to check it there.
# xvfb + xdotool: GIMP has no undo procedure in its PDB, so the GIMP test presses Ctrl+Z in a virtual display.
set -euo pipefail
SUITE="${1:-trixie}"
case "$SUITE" in
  trixie) EXTRA=""; APT_OPTS=() ;;
  sid)    EXTRA=" python3-pyqt6"; APT_OPTS=(-o Acquire::Check-Valid-Until=false) ;;
  *) echo "ensure_root.sh: unknown suite '$SUITE' (trixie or sid)" >&2; exit 2 ;;
esac
ROOT="${MAM_EDITORS_CACHE:-$HOME/.cache/mam-editors}/$SUITE"
STAMP="$ROOT/.mam-editors-ready"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
PKGS="gimp gir1.2-gimp-3.0 python3-gi krita python3-pyqt5 xvfb xdotool$EXTRA"

ready() { [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$PKGS" ]; }
if ready; then echo "$ROOT"; exit 0; fi
mkdir -p "$(dirname "$ROOT")"
exec 9>"${ROOT%/}.lock"
flock 9
if ready; then echo "$ROOT"; exit 0; fi

install_packages() {
  mount -t proc proc "$ROOT/proc"
  trap 'umount "$ROOT/proc" 2>/dev/null || true' EXIT
  chroot "$ROOT" env DEBIAN_FRONTEND=noninteractive apt-get "${APT_OPTS[@]}" update -qq >&2
  chroot "$ROOT" env DEBIAN_FRONTEND=noninteractive apt-get "${APT_OPTS[@]}" install -y -qq \
    --no-install-recommends $PKGS >&2
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
debootstrap --variant=minbase --include=python3,python3-gi "$SUITE" "$ROOT" "$MIRROR" >&2
install_packages
echo "$ROOT"
