#!/usr/bin/env bash
# Boot a debootstrapped amd64 root with systemd-nspawn and run edge-slm.service for real in it:
# READY through sd_notify, an MQTT command answered under the sandbox, and a hung daemon
# killed by the watchdog and restarted.  The root is cached outside the clone.
#
#   tests/rigs/nspawn-service.sh OUTDIR     # writes OUTDIR/result.json
set -euo pipefail
ROOT=${EDGE_SLM_NSPAWN_ROOT:-/var/cache/edge-slm/nspawn-root}
here=$(cd "$(dirname "$0")/../.." && pwd)
out=$(realpath "${1:?usage: $0 OUTDIR}")
mkdir -p "$out"
. "$here/tests/rigs/debootstrap.sh"

need_nspawn
cached_root "$ROOT" --variant=minbase \
  --include=systemd,systemd-sysv,dbus,python3,python3-venv,python3-pip,mosquitto,mosquitto-clients,procps,ca-certificates \
  bookworm "$ROOT" "$MIRROR"
if [ ! -f "$ROOT/.edge-slm-ready-2" ]; then
  chroot "$ROOT" python3 -m venv /opt/edge-slm/venv
  # (ready-2: cryptography joined the core: the shipped bundle is signed and its signature always checked.)
  # Wheels fetched by the host's pip (its index and CA settings), installed offline in the root.
  rm -rf "$ROOT/opt/wheels" && mkdir -p "$ROOT/opt/wheels"
  python3 -m pip download -q --dest "$ROOT/opt/wheels" --only-binary=:all: --python-version 3.11 \
    --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
    onnxruntime numpy 'tokenizers<0.23' 'paho-mqtt>=2.1,<3' 'cryptography>=42'
  chroot "$ROOT" env -u PIP_FIND_LINKS /opt/edge-slm/venv/bin/pip install -q --no-index --find-links /opt/wheels \
    onnxruntime numpy 'tokenizers<0.23' 'paho-mqtt>=2.1,<3' 'cryptography>=42'
  touch "$ROOT/.edge-slm-ready-2"
fi

# This checkout's runtime, units and a config; a short watchdog so the hang is seen quickly.
site=$(chroot "$ROOT" /opt/edge-slm/venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
rm -rf "$ROOT$site/edge_slm" && cp -r "$here/edge_slm" "$ROOT$site/edge_slm"
find "$ROOT$site/edge_slm" -name __pycache__ -prune -exec rm -rf {} +
cat > "$ROOT/opt/edge-slm/venv/bin/edge-slm" <<'SH'
#!/opt/edge-slm/venv/bin/python
import sys
from edge_slm.cli.main import main
sys.exit(main())
SH
chmod +x "$ROOT/opt/edge-slm/venv/bin/edge-slm"
install -m 0644 "$here/systemd/edge-slm.service" "$ROOT/etc/systemd/system/edge-slm.service"
mkdir -p "$ROOT/etc/systemd/system/edge-slm.service.d" "$ROOT/etc/edge-slm"
printf '[Service]\nWatchdogSec=4\nRestartSec=1\n' > "$ROOT/etc/systemd/system/edge-slm.service.d/10-test.conf"
printf '[mqtt]\nhost = "127.0.0.1"\nport = 1883\n' > "$ROOT/etc/edge-slm/default.toml"
ln -sf /etc/systemd/system/edge-slm.service "$ROOT/etc/systemd/system/multi-user.target.wants/edge-slm.service"

cat > "$ROOT/opt/edge-slm/check.sh" <<'SH'
#!/bin/bash
# Runs inside the booted container; writes /result/result.json, then powers off.
set -u
r=/result
ready=no
for i in $(seq 1 120); do
  [ "$(systemctl is-active edge-slm.service)" = active ] && { ready=yes; break; }
  sleep 0.5
done
timeout 20 mosquitto_sub -h 127.0.0.1 -t 'edge-slm/default/intent' -C 1 > $r/intent.json &
sub=$!
sleep 1
mosquitto_pub -h 127.0.0.1 -q 1 -t edge-slm/default/command -m 'turn on the kitchen lights'
wait $sub
pid=$(systemctl show -p MainPID --value edge-slm.service)
user=$(ps -o user= -p "$pid" 2>/dev/null | tr -d ' ')
before=$(systemctl show -p NRestarts --value edge-slm.service)
kill -STOP "$pid"   # a hung daemon: no more watchdog pings
restarted=no
for i in $(seq 1 60); do
  now=$(systemctl show -p NRestarts --value edge-slm.service)
  newpid=$(systemctl show -p MainPID --value edge-slm.service)
  if [ "$now" -gt "$before" ] && [ "$newpid" != "$pid" ] && [ "$(systemctl is-active edge-slm.service)" = active ]; then
    restarted=yes; break
  fi
  sleep 0.5
done
journalctl -u edge-slm.service --no-pager -o cat > $r/journal.txt 2>&1
printf '{"ready": "%s", "user": "%s", "restarted": "%s", "restarts": "%s"}\n' \
  "$ready" "$user" "$restarted" "$(systemctl show -p NRestarts --value edge-slm.service)" > $r/result.json
systemctl poweroff
SH
chmod +x "$ROOT/opt/edge-slm/check.sh"
cat > "$ROOT/etc/systemd/system/edge-slm-check.service" <<'UNIT'
[Unit]
Description=edge-slm service check
After=edge-slm.service mosquitto.service
[Service]
Type=oneshot
ExecStart=/opt/edge-slm/check.sh
UNIT
ln -sf /etc/systemd/system/edge-slm-check.service "$ROOT/etc/systemd/system/multi-user.target.wants/edge-slm-check.service"

rm -f "$out/result.json"
timeout 240 systemd-nspawn -q -D "$ROOT" -b --register=no --keep-unit --private-network \
  --bind="$out:/result" > "$out/console.txt" 2>&1 || true
cat "$out/result.json"
