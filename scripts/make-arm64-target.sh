#!/usr/bin/env bash
# Build an emulated aarch64 Debian root with python3, numpy and ai-edge-litert (aarch64 wheel), for
# profiling edgekit models "on ARM" (NEON + XNNPACK) through qemu user-mode emulation.
#
#   sudo scripts/make-arm64-target.sh [ROOT]        (default ROOT: .arm64-root; ~9 minutes on 2 cores)
#
# Facts measured on this kind of machine: the second debootstrap stage runs emulated (~7 min); binfmt_misc
# must be mounted; XNNPACK needs /sys/devices/system/cpu/{possible,present} (binding the host's /sys makes
# the interpreter segfault); run with QEMU_CPU=cortex-a76 (qemu's default "max" CPU gives wrong int8 results
# under XNNPACK). The root's venv is /opt/edgekit (python: /opt/edgekit/bin/python).
set -euo pipefail
ROOT=$(realpath -m "${1:-.arm64-root}")
MIRROR=${MIRROR:-http://deb.debian.org/debian}
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo

if [ -x "$ROOT/opt/edgekit/bin/python" ]; then echo "arm64 root already built: $ROOT"; exit 0; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get install -y -qq --no-install-recommends debootstrap qemu-user-static binfmt-support >/dev/null

mountpoint -q /proc/sys/fs/binfmt_misc || $SUDO mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
$SUDO update-binfmts --enable qemu-aarch64 2>/dev/null || true

if [ ! -e "$ROOT/debootstrap/debootstrap" ] && [ ! -x "$ROOT/usr/bin/python3" ]; then
  $SUDO debootstrap --arch=arm64 --foreign --variant=minbase --include=python3,python3-venv,python3-pip \
    bookworm "$ROOT" "$MIRROR"
fi
$SUDO cp /usr/bin/qemu-aarch64-static "$ROOT/usr/bin/"
export QEMU_CPU=cortex-a76
if [ -e "$ROOT/debootstrap/debootstrap" ]; then
  $SUDO chroot "$ROOT" /debootstrap/debootstrap --second-stage
fi
$SUDO mkdir -p "$ROOT/sys/devices/system/cpu" "$ROOT/etc/ssl/certs"
echo 0-1 | $SUDO tee "$ROOT/sys/devices/system/cpu/possible" "$ROOT/sys/devices/system/cpu/present" >/dev/null
$SUDO cp /etc/ssl/certs/ca-certificates.crt "$ROOT/etc/ssl/certs/"
mountpoint -q "$ROOT/proc" || $SUDO mount -t proc proc "$ROOT/proc"
trap '$SUDO umount "$ROOT/proc" 2>/dev/null || true' EXIT
$SUDO chroot "$ROOT" /usr/bin/python3 -m venv /opt/edgekit
$SUDO chroot "$ROOT" /opt/edgekit/bin/pip install -q --cert /etc/ssl/certs/ca-certificates.crt numpy ai-edge-litert
$SUDO chroot "$ROOT" /opt/edgekit/bin/python -c "import numpy, ai_edge_litert.interpreter as i; print('arm64 root ready:', numpy.__version__)"
