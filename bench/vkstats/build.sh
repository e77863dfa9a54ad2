#!/bin/sh
# Builds out/vkstats. Needs gcc and the Vulkan headers (Debian: libvulkan-dev).
# libvulkan is not linked: it is dlopen()ed at run time (set LD_LIBRARY_PATH
# to the loader's directory if libvulkan.so.1 is not on the default path).
# Override the header location with VULKAN_INCLUDE=/path/to/include.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$here/out"
inc=""
if [ -n "${VULKAN_INCLUDE:-}" ]; then inc="-I$VULKAN_INCLUDE"; fi
# -ldl is needed on glibc < 2.34 (where dlopen lives in libdl); harmless after.
${CC:-gcc} -O1 -std=c11 -Wall -Wextra -Wno-missing-field-initializers $inc \
  -o "$here/out/vkstats" "$here/vkstats.c" -ldl
echo "built $here/out/vkstats"
# The GPU machine has no SPIR-V assembler: carry this machine's next to vkstats (it links only libc/libstdc++).
if command -v spirv-as >/dev/null; then cp "$(command -v spirv-as)" "$here/out/spirv-as"; echo "copied spirv-as to $here/out"; fi
