#!/usr/bin/env bash
# Installs Mesa's lavapipe (software Vulkan) so Dawn, and with it grilly's WebGPU backend, runs on a
# machine without a GPU. Debian bookworm's own Mesa 22.3 is refused by Dawn (it lacks
# shaderUniform*ArrayDynamicIndexing); bookworm-backports carries Mesa 25.x, which works.
set -euo pipefail
if command -v vulkaninfo >/dev/null 2>&1 && vulkaninfo --summary 2>/dev/null | grep -qi 'llvmpipe'; then
  echo "install-vulkan: lavapipe already present"; exit 0
fi
sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
. /etc/os-release
if [ "${VERSION_CODENAME:-}" = bookworm ]; then
  list=/etc/apt/sources.list.d/bookworm-backports.list
  [ -f "$list" ] || echo "deb http://deb.debian.org/debian bookworm-backports main" | $sudo tee "$list" >/dev/null
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq -t bookworm-backports mesa-vulkan-drivers libvulkan1 vulkan-tools >/dev/null
else
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq mesa-vulkan-drivers libvulkan1 vulkan-tools >/dev/null
fi
echo "install-vulkan: $(dpkg-query -W -f='mesa-vulkan-drivers ${Version}' mesa-vulkan-drivers)"
