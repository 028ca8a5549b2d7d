#!/usr/bin/env bash
# Install edge-slm as a hardened systemd service, or remove it.
#
#   sudo systemd/install.sh install [--profile pi-4] [--instance default] [--source DIR]
#   sudo systemd/install.sh uninstall [--instance default] [--purge]
#
# install: a venv under /opt/edge-slm, the units, /etc/edge-slm/<instance>.toml from a device
# profile (kept if it exists), the extras that config needs, a drop-in with the profile's limits,
# then enable and start. Run it again after changing the config to install what it now needs.
set -euo pipefail

PREFIX=${EDGE_SLM_PREFIX:-/opt/edge-slm}
ETC=${EDGE_SLM_ETC:-/etc/edge-slm}
UNITS=${EDGE_SLM_UNITS:-/etc/systemd/system}
SYSTEMCTL=${SYSTEMCTL:-systemctl}
here=$(cd "$(dirname "$0")/.." && pwd)

action=${1:-}; shift || true
profile=x86-dev; instance=default; source=$here; purge=no
while [ $# -gt 0 ]; do
  case "$1" in
    --profile) profile=$2; shift 2 ;;
    --instance) instance=$2; shift 2 ;;
    --source) source=$2; shift 2 ;;
    --purge) purge=yes; shift ;;
    *) echo "unknown option: $1" >&2; exit 2 ;;
  esac
done
case "$instance" in (*[!A-Za-z0-9_-]*|"") echo "instance must be letters, digits, - or _" >&2; exit 2 ;; esac
unit="edge-slm@${instance}.service"

do_install() {
  local profile_file="$source/device_configs/$profile.toml"
  [ -f "$profile_file" ] || { echo "no device profile $profile_file" >&2; exit 2; }
  mkdir -p "$PREFIX" "$ETC"
  [ -x "$PREFIX/venv/bin/python" ] || python3 -m venv "$PREFIX/venv"
  "$PREFIX/venv/bin/pip" install --quiet --upgrade "$source"
  cp "$source/README.md" "$PREFIX/README.md"
  install -m 0644 "$source/systemd/edge-slm.service" "$source/systemd/edge-slm@.service" "$UNITS/"
  local config="$ETC/$instance.toml"
  [ -f "$config" ] || install -m 0644 "$profile_file" "$config"
  # The extras the config turns on (voice, home, wyoming): a service never starts into a missing module.
  local extras
  extras=$("$PREFIX/venv/bin/python" -m edge_slm.service.install extras "$config")
  if [ -n "$extras" ]; then
    echo "installing the extras $config needs: $extras"
    "$PREFIX/venv/bin/pip" install --quiet "$source[$extras]"
  fi
  # Fail here, with the reason, rather than in a restart loop later.
  "$PREFIX/venv/bin/python" -m edge_slm.service.install dropin "$config" > /dev/null
  mkdir -p "$UNITS/$unit.d"
  "$PREFIX/venv/bin/python" -m edge_slm.service.install dropin "$config" > "$UNITS/$unit.d/10-profile.conf"
  $SYSTEMCTL daemon-reload
  $SYSTEMCTL enable --now "$unit"
  echo "installed $unit (config $config); logs: journalctl -u $unit -f"
}

do_uninstall() {
  $SYSTEMCTL disable --now "$unit" 2>/dev/null || true
  rm -rf "$UNITS/$unit.d"
  if ! ls "$UNITS"/multi-user.target.wants/edge-slm@*.service >/dev/null 2>&1; then
    rm -f "$UNITS/edge-slm.service" "$UNITS/edge-slm@.service"
    rm -rf "$PREFIX"
  fi
  [ "$purge" = yes ] && rm -f "$ETC/$instance.toml"
  $SYSTEMCTL daemon-reload
  echo "removed $unit"
}

case "$action" in
  install) do_install ;;
  uninstall) do_uninstall ;;
  *) echo "usage: $0 install|uninstall [--profile NAME] [--instance NAME] [--source DIR] [--purge]" >&2; exit 2 ;;
esac
