#!/usr/bin/env bash
# A real Home Assistant Core in a debootstrapped Debian testing root (Home Assistant 2026.3 and
# later need Python >= 3.14.2, which no Debian stable has).  The root is cached outside the clone;
# it shares the host's network, so Home Assistant, Mosquitto and edge-slm meet on loopback.
#
#   tests/rigs/ha-root.sh prepare               # build or reuse the cached root (~3 min the first time)
#   tests/rigs/ha-root.sh start CONFIG_DIR LOG  # run `hass` on CONFIG_DIR (a host path) in the background
#   tests/rigs/ha-root.sh stop                  # stop it and unmount
set -euo pipefail
ROOT=${EDGE_SLM_HA_ROOT:-/var/cache/edge-slm/ha-root}
. "$(cd "$(dirname "$0")" && pwd)/debootstrap.sh"
HA_VERSION=${EDGE_SLM_HA_VERSION:-2026.11.0}
# The integrations the rig uses, with their requirements installed ahead (`hass --skip-pip`).
INTEGRATIONS="mqtt wyoming conversation template input_boolean light cover switch http api config
onboarding auth websocket_api intent assist_pipeline homeassistant frontend cloud camera stream
marketplace radio_frequency infrared automation blueprint event text"

in_root() {
  # env -i: the host's PIP_* settings and pip.conf must not leak into the root.
  chroot "$ROOT" env -i HOME=/root PATH=/opt/ha/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt LANG=C.UTF-8 "$@"
}

mounts() {
  for fs in proc sys dev; do
    mountpoint -q "$ROOT/$fs" || { mount --rbind "/$fs" "$ROOT/$fs"; mount --make-rslave "$ROOT/$fs"; }
  done
  cp /etc/resolv.conf "$ROOT/etc/resolv.conf" 2>/dev/null || true
}

unmount() {
  for fs in proc sys dev; do
    mountpoint -q "$ROOT/$fs" && umount -R "$ROOT/$fs" 2>/dev/null || true
  done
  mountpoint -q "$ROOT/config" && umount "$ROOT/config" 2>/dev/null || true
}

prepare() {
  command -v debootstrap >/dev/null || apt-get install -y -qq debootstrap >/dev/null
  # bookworm's debootstrap has no forky script; sid's works for testing.
  cached_root "$ROOT" --variant=minbase --include=ca-certificates forky "$ROOT" "$MIRROR" \
    /usr/share/debootstrap/scripts/sid
  if [ ! -f "$ROOT/.python-done" ]; then
    echo 'Acquire::Check-Valid-Until "false";' > "$ROOT/etc/apt/apt.conf.d/99no-valid-until"
    # TLS from inside the root goes through this machine's outbound CA.
    cp /usr/local/share/ca-certificates/*.crt "$ROOT/usr/local/share/ca-certificates/" 2>/dev/null || true
    mounts
    trap unmount EXIT
    in_root apt-get update -qq
    # build-essential: pymicro-vad and pyspeex-noise have no Python 3.14 wheels on PyPI.
    in_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      python3 python3-venv python3-dev build-essential >/dev/null
    in_root update-ca-certificates >/dev/null
    touch "$ROOT/.python-done"
  fi
  if [ ! -f "$ROOT/.ha-$HA_VERSION" ]; then
    mounts
    trap unmount EXIT
    rm -rf "$ROOT/opt/ha"
    in_root python3 -m venv /opt/ha
    in_root /opt/ha/bin/pip install -q --upgrade pip
    in_root /opt/ha/bin/pip install -q "homeassistant==$HA_VERSION"
    touch "$ROOT/.ha-$HA_VERSION"
  fi
  # Keyed by the version and the integration list: a change to either installs what is missing.
  local reqs
  reqs=".reqs-$(echo "$HA_VERSION $INTEGRATIONS" | md5sum | cut -c1-12)"
  if [ ! -f "$ROOT/$reqs" ]; then
    mounts
    trap unmount EXIT
    # The integrations' own requirements, read with Home Assistant's loader, pinned by its constraints.
    cat > "$ROOT/opt/requirements.py" <<'PY'
import asyncio, sys
from homeassistant import loader
from homeassistant.core import HomeAssistant

async def main(names):
    hass = HomeAssistant("/tmp/ha-requirements")
    loader.async_setup(hass)
    seen, todo, reqs = set(), list(names), set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            integration = await loader.async_get_integration(hass, name)
        except loader.IntegrationNotFound:
            continue
        reqs.update(integration.requirements)
        todo.extend(integration.dependencies)
        todo.extend(integration.after_dependencies or [])
    print("\n".join(sorted(reqs)))

asyncio.run(main(sys.argv[1:]))
PY
    in_root /opt/ha/bin/python /opt/requirements.py $INTEGRATIONS > "$ROOT/opt/requirements.txt"
    # The constraints path holds a glob: expand it inside the root.
    in_root sh -c '/opt/ha/bin/pip install -q -r /opt/requirements.txt -c /opt/ha/lib/python3*/site-packages/homeassistant/package_constraints.txt'
    touch "$ROOT/$reqs"
  fi
}

start() {
  local config log
  config=$(realpath "${1:?usage: $0 start CONFIG_DIR LOG}")
  log=$(realpath -m "${2:?usage: $0 start CONFIG_DIR LOG}")
  # One Home Assistant at a time in the root: one left by a killed run is stopped first.
  pkill -f '/opt/ha/bin/hass' 2>/dev/null && sleep 2 || true
  mountpoint -q "$ROOT/config" && umount "$ROOT/config" 2>/dev/null || true
  mounts
  mkdir -p "$ROOT/config"
  mountpoint -q "$ROOT/config" || mount --bind "$config" "$ROOT/config"
  in_root /opt/ha/bin/hass -c /config --skip-pip >"$log" 2>&1 &
  echo $! > "$ROOT/config/.rig-pid"
  echo $!
}

stop() {
  if [ -f "$ROOT/config/.rig-pid" ]; then
    pid=$(cat "$ROOT/config/.rig-pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$ROOT/config/.rig-pid"
  fi
  pkill -f '/opt/ha/bin/hass' 2>/dev/null || true
  sleep 0.5
  unmount
}

case "${1:-}" in
  prepare) prepare ;;
  start) shift; start "$@" ;;
  stop) stop ;;
  *) echo "usage: $0 prepare | start CONFIG_DIR LOG | stop" >&2; exit 2 ;;
esac
