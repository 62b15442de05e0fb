#!/usr/bin/env bash
# The device check on a lent GPU machine, from the repository root, with .device-kit carried (made here by
# `node bench/device/pack.mjs`). The device tool's call:
#   run  carry: [".device-kit"]  timeout_s: 540  command: bash bench/device/run-on-device.sh
# Everything lands in $OUT (device.json, device.md, log.txt, gpu.txt); back here, `npx tsx bench/device/import.ts
# <files_at>` files it. BUDGET (seconds, default 420) stops the check from starting a section after it, so a run
# keeps inside the call's limit with what it measured. A rehearsal here, on SwiftShader, on tiny shapes (a kit
# without the Debian packages, which would be unpacked over /):
#   node bench/device/pack.mjs --no-debs && OUT=/tmp/device-check bash bench/device/run-on-device.sh --quick
set -uo pipefail
kit=.device-kit
out=${OUT:-/tmp/device-check}
bin=/tmp/alloy-device/bin
mkdir -p "$out" "$bin" "$kit/node_modules/webgpu/dist/linux-x64"
# Python's lzma, not xz: the lent image holds Python for certain
unxz() { python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' "$1" "$2"; }
unxz "$kit/node.xz" "$bin/node" && chmod +x "$bin/node" || exit 1
unxz "$kit/dawn.node.xz" "$kit/node_modules/webgpu/dist/linux-x64/dawn.node" || exit 1
shopt -s nullglob
# The Vulkan loader and the GL dispatch libraries NVIDIA's driver loads, unpacked over / as the device notes do
# (their recipe is what ran Vulkan there); skipped where there are none (a rehearsal with --no-debs)
for f in "$kit"/debs/*.deb; do dpkg -x "$f" /; done
ldconfig 2>/dev/null
# NVIDIA's Vulkan driver: where the machine mounts it (the device notes), else the usual folders, else the
# loader's own search
for icd in /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json /usr/share/vulkan/icd.d/nvidia_icd.json /etc/vulkan/icd.d/nvidia_icd.json; do
  if [ -f "$icd" ]; then export VK_DRIVER_FILES=$icd VK_ICD_FILENAMES=$icd; break; fi
done
{
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv || echo "no nvidia-smi"
  echo "Vulkan ICD: ${VK_ICD_FILENAMES:-loader search}"
} > "$out/gpu.txt" 2>&1
"$bin/node" "$kit/device-check.mjs" --out "$out" --budget "${BUDGET:-420}" "$@" 2>&1 | tee "$out/log.txt"
