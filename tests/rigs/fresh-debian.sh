#!/usr/bin/env bash
# The README as a new user meets it, on a fresh Debian 12: a debootstrapped minbase root with only
# an init (systemd) and none of the packages the README installs, booted with systemd-nspawn.  In
# it, as root: git from apt, a clone of this checkout, README command 1 (install and demo), the
# README's next steps word for word (parse; the daemon on device_configs/x86-dev.toml beside the
# system's mosquitto; mosquitto_sub and both mosquitto_pub lines), then README command 2 (install
# everything the tests need and run the whole suite).  The commands are read from README.md, so
# the README is what is tested.  The pristine root is cached outside the clone; each run works on
# a fresh copy of it.
#
#   tests/rigs/fresh-debian.sh OUTDIR     # writes OUTDIR/steps.txt, OUTDIR/log.txt and more
set -euo pipefail
PRISTINE=${EDGE_SLM_FRESH_ROOT:-/var/cache/edge-slm/fresh-root}
WORK=${EDGE_SLM_FRESH_WORK:-/var/cache/edge-slm/fresh-run}
here=$(cd "$(dirname "$0")/../.." && pwd)
out=$(realpath "${1:?usage: $0 OUTDIR}")
mkdir -p "$out"
. "$here/tests/rigs/debootstrap.sh"

need_nspawn
# An init and nothing else: no python3-venv, mosquitto, git, espeak-ng, sox, portaudio.
cached_root "$PRISTINE" --variant=minbase --include=systemd,systemd-sysv,dbus bookworm "$PRISTINE" "$MIRROR"
rm -rf "$WORK"
cp -a "$PRISTINE" "$WORK"

# The lines the README gives, taken from it (a README edit changes what is run).
readme="$here/README.md"
cmd1=$(grep -m1 -E '^\$\(command -v sudo\) apt-get .* edge-slm demo$' "$readme")
cmd2=$(grep -m1 -E '^\$\(command -v sudo\) apt-get .* python -m pytest -q$' "$readme")
step_lines=(
  'edge-slm parse "turn on the kitchen lights"'
  'edge-slm run --config device_configs/x86-dev.toml'
  "mosquitto_sub -t 'edge-slm/default/#' -v &"
  'mosquitto_pub -t edge-slm/default/command -m "turn off the porch light"'
  "mosquitto_pub -t edge-slm/default/command -m '{\"text\": \"turn on the lights\", \"id\": \"c1\", \"area\": \"kitchen\"}'"
)
for line in "${step_lines[@]}"; do
  grep -qF -- "$line" "$readme" || { echo "README no longer says: $line" >&2; exit 3; }
done
printf '%s\n' "$cmd1" > "$WORK/root/cmd1.sh"
printf '%s\n' "$cmd2" > "$WORK/root/cmd2.sh"

# This checkout as a clone sees it: committed history plus the working tree's files.
(cd "$here" && git ls-files -co --exclude-standard -z | tar --null -T - -cf "$WORK/root/tree.tar")

# The machine's own way to its package indexes (mirror settings, pip's index and CA), nothing else.
apt-config dump | grep -E '^Acquire::(http|https)::Proxy |^Acquire::Check-(Valid-Until|Date) ' \
  > "$WORK/etc/apt/apt.conf.d/90host-access" || true
binds=(--bind-ro="$here:/src")
envs=()
for d in /opt/wheels /opt/pypi /opt/pypi-more /etc/xdg/pip; do
  [ -e "$d" ] && binds+=(--bind-ro="$d:$d")
done
for f in /etc/pip.conf /root/.config/pip/pip.conf; do
  [ -f "$f" ] && mkdir -p "$WORK$(dirname "$f")" && grep -v '^cert' "$f" > "$WORK$f"
done
ca=$(python3 -c 'import ssl; print(ssl.get_default_verify_paths().openssl_cafile)' 2>/dev/null || true)
[ -f "${PIP_CERT:-}" ] && ca=$PIP_CERT
if [ -f "$ca" ]; then binds+=(--bind-ro="$ca:/etc/host-ca.crt"); envs+=("PIP_CERT=/etc/host-ca.crt"); fi

cat > "$WORK/root/check.sh" <<'SH'
#!/bin/bash
# Inside the booted root: each step's outcome to /result/steps.txt, every word to /result/log.txt.
exec > /result/log.txt 2>&1
set -u
export HOME=/root DEBIAN_FRONTEND=noninteractive PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
[ -f /etc/host-env ] && set -a && . /etc/host-env && set +a
step() { echo "$1 $2" >> /result/steps.txt; }
cd /root
echo "== git"
apt-get update -qq && apt-get install -y -qq git >/dev/null && git clone -q /src edge-slm \
  && tar -xf /root/tree.tar -C edge-slm && step git ok || step git fail
cd /root/edge-slm
echo "== README command 1"
timeout 1800 bash -c "$(cat /root/cmd1.sh)" > /result/cmd1.txt 2>&1; step cmd1 "rc=$?"

echo "== next steps, in a new shell"
timeout 120 bash -c '. .venv/bin/activate && edge-slm parse "turn on the kitchen lights"' > /result/parse.txt 2>&1
step parse "rc=$?"
systemctl start mosquitto; step mosquitto "$(systemctl is-active mosquitto)"
bash -c '. .venv/bin/activate && exec edge-slm run --config device_configs/x86-dev.toml' > /result/run.txt 2>&1 &
run=$!
for i in $(seq 1 60); do
  timeout 2 mosquitto_sub -t 'edge-slm/default/status' -C 1 -W 1 2>/dev/null | grep -q online && break
  sleep 1
done
mosquitto_sub -t 'edge-slm/default/#' -v > /result/sub.txt &
sub=$!
sleep 1
mosquitto_pub -t edge-slm/default/command -m "turn off the porch light"; step pub1 "rc=$?"
mosquitto_pub -t edge-slm/default/command -m '{"text": "turn on the lights", "id": "c1", "area": "kitchen"}'; step pub2 "rc=$?"
sleep 3
kill $sub; kill -TERM $run; wait $run; step run_exit "rc=$?"

echo "== README command 2"
timeout 3000 bash -c "$(cat /root/cmd2.sh)" > /result/cmd2.txt 2>&1; step cmd2 "rc=$?"
step done ok
systemctl poweroff
SH
chmod +x "$WORK/root/check.sh"
: > "$WORK/etc/host-env"
for e in "${envs[@]}"; do printf '%s\n' "$e" >> "$WORK/etc/host-env"; done
env | grep -E '^PIP_' | grep -v '^PIP_CERT=' >> "$WORK/etc/host-env" || true
cat > "$WORK/etc/systemd/system/readme-check.service" <<'UNIT'
[Unit]
Description=the README on a fresh machine
After=network.target
[Service]
Type=oneshot
ExecStart=/root/check.sh
TimeoutStartSec=infinity
UNIT
ln -sf /etc/systemd/system/readme-check.service "$WORK/etc/systemd/system/multi-user.target.wants/readme-check.service"

rm -f "$out/steps.txt"
mkdir -p "$WORK/result"
timeout 5400 systemd-nspawn -q -D "$WORK" -b --register=no --keep-unit "${binds[@]}" \
  --bind="$out:/result" > "$out/console.txt" 2>&1 || true
cat "$out/steps.txt"
rm -rf "$WORK"
