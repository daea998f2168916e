#!/usr/bin/env bash
# Installs mqbase (docs/operations.md#installing-as-a-service-make-install): the binary, its
# man page generated from its help, a default configuration (kept when one exists) and the
# systemd unit. `make install` runs it with the release build.
#   scripts/install.sh [--binary PATH] [--prefix /usr/local] [--sysconfdir /etc] [--destdir ROOT]
# DESTDIR (or --destdir) stages everything under ROOT, as packagers do; paths inside the files
# are the final ones.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
binary="$root/build/release/mqbase"
prefix="${PREFIX:-/usr/local}"
sysconfdir="${SYSCONFDIR:-/etc}"
destdir="${DESTDIR:-}"
unitdir="${UNITDIR:-/etc/systemd/system}"
while [ $# -gt 0 ]; do
  case "$1" in
    --binary) binary="$2"; shift 2 ;;
    --prefix) prefix="$2"; shift 2 ;;
    --sysconfdir) sysconfdir="$2"; shift 2 ;;
    --destdir) destdir="$2"; shift 2 ;;
    --unitdir) unitdir="$2"; shift 2 ;;
    *) echo "install.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ -x "$binary" ] || { echo "install.sh: no binary at $binary (make release first)" >&2; exit 1; }

bindir="$prefix/bin"
mandir="$prefix/share/man/man1"
install -d "$destdir$bindir" "$destdir$mandir" "$destdir$sysconfdir/mqbase" "$destdir$unitdir"
install -m 0755 "$binary" "$destdir$bindir/mqbase"
"$root/scripts/manpage.sh" "$binary" | gzip -9n > "$destdir$mandir/mqbase.1.gz"
chmod 0644 "$destdir$mandir/mqbase.1.gz"
if [ -e "$destdir$sysconfdir/mqbase/mqbase.toml" ]; then
  echo "install.sh: keeping the existing $destdir$sysconfdir/mqbase/mqbase.toml"
else
  install -m 0644 "$root/packaging/mqbase.toml" "$destdir$sysconfdir/mqbase/mqbase.toml"
fi
sed -e "s|@BINDIR@|$bindir|g" -e "s|@SYSCONFDIR@|$sysconfdir|g" "$root/packaging/mqbase.service.in" \
  > "$destdir$unitdir/mqbase.service"
chmod 0644 "$destdir$unitdir/mqbase.service"
echo "installed: $destdir$bindir/mqbase, $destdir$mandir/mqbase.1.gz, $destdir$sysconfdir/mqbase/mqbase.toml, $destdir$unitdir/mqbase.service"
if [ -z "$destdir" ] && command -v systemctl >/dev/null 2>&1; then
  echo "next: systemctl daemon-reload && systemctl enable --now mqbase"
fi
