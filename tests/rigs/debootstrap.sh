# Sourced by the root rigs: a debootstrapped root built once and cached outside the clone (the
# marker is written only when debootstrap finished, so an interrupted build starts over).
MIRROR=${EDGE_SLM_MIRROR:-http://deb.debian.org/debian}

# cached_root ROOT DEBOOTSTRAP-ARGS...   (ROOT and $MIRROR are among the arguments, where debootstrap wants them)
cached_root() {
  local root=$1
  shift
  [ -f "$root/.debootstrap-done" ] && return 0
  rm -rf "$root"
  mkdir -p "$(dirname "$root")"
  debootstrap "$@" >/dev/null
  touch "$root/.debootstrap-done"
}

# systemd-nspawn and debootstrap, for the rigs that boot a root.
need_nspawn() {
  command -v systemd-nspawn >/dev/null && command -v debootstrap >/dev/null || \
    apt-get install -y -qq systemd-container debootstrap >/dev/null
}
