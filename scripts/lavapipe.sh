#!/usr/bin/env bash
# A second CPU adapter for the GPU tier: lavapipe, Mesa's Vulkan driver on llvmpipe, from Debian's
# bookworm-backports (Mesa 25), unpacked into node_modules/.cache/alloy-lavapipe with its own ICD file. Nothing is
# installed system-wide (bookworm's own Mesa 22 lavapipe lacks a Vulkan feature Dawn requires, and upgrading the
# system's Mesa is not this project's business). Unlike SwiftShader it offers shader-f16, has 8-wide subgroups
# and a 128 MiB storage binding limit, as browsers do, and runs the hardware family's barrier-heavy kernels
# ~70× faster. `ALLOY_VULKAN=lavapipe` selects it in Node (src/engine/gpu/node-gpu.ts); the gpu-lavapipe projects
# of vitest.config.ts set it.
# Its libraries' dependencies are bookworm's mesa-vulkan-drivers' (.ci/run installs that package).
#   bash scripts/lavapipe.sh            (idempotent; about 11 MB from deb.debian.org)
set -euo pipefail
cd "$(dirname "$0")/.."
dir=node_modules/.cache/alloy-lavapipe
if [ -f "$dir/lvp_icd.json" ]; then echo "lavapipe: $(cat "$dir/version") in $dir"; exit 0; fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial" "$work/cache/archives/partial"
echo "deb http://deb.debian.org/debian bookworm-backports main" > "$work/sources.list"
apt=(-o "Dir::Etc::SourceList=$work/sources.list" -o Dir::Etc::SourceParts=/dev/null -o "Dir::State::Lists=$work/lists" -o "Dir::Cache=$work/cache" -o APT::Sandbox::User=root)
apt-get "${apt[@]}" update -qq
version=$(apt-cache "${apt[@]}" madison mesa-vulkan-drivers | awk -F'|' '/backports/ { gsub(/ /, "", $2); print $2; exit }')
[ -n "$version" ] || { echo "lavapipe: no mesa-vulkan-drivers in bookworm-backports" >&2; exit 1; }
(cd "$work" && apt-get "${apt[@]}" download "mesa-vulkan-drivers=$version" -qq)
mkdir -p "$dir.tmp"
dpkg -x "$work"/mesa-vulkan-drivers_*.deb "$dir.tmp/root"
lib=$(cd "$dir.tmp/root" && find . -name libvulkan_lvp.so | head -1)
[ -n "$lib" ] || { echo "lavapipe: libvulkan_lvp.so not in mesa-vulkan-drivers $version" >&2; exit 1; }
# the library's absolute path once $dir.tmp is renamed to $dir
printf '{ "file_format_version": "1.0.0", "ICD": { "library_path": "%s", "api_version": "1.3.0" } }\n' "$(pwd)/$dir/root/${lib#./}" > "$dir.tmp/lvp_icd.json"
echo "$version" > "$dir.tmp/version"
rm -rf "$dir" && mv "$dir.tmp" "$dir"
echo "lavapipe: $version in $dir"
