# Cross-compiles meshtrain for 64-bit ARM Linux (aarch64) on a Debian x86-64 host,
# with Debian's cross compiler (g++-aarch64-linux-gnu) and the arm64 -dev packages
# installed next to the host's through multiarch (dpkg --add-architecture arm64).
# scripts/cross.sh aarch64 installs all of that and uses this file:
#
#   cmake -S . -B build-aarch64 -DCMAKE_TOOLCHAIN_FILE=cmake/toolchain-aarch64.cmake
#
# Multiarch means there is no separate sysroot: the arm64 libraries live in
# /usr/lib/aarch64-linux-gnu of this very root, and header-only or arch-independent
# packages (Eigen, doctest, zmq.hpp, msgpack) are shared with the host.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)

# find_package/find_library look in lib/aarch64-linux-gnu (never the host's
# lib/x86_64-linux-gnu) because of this.
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)

# cppzmq finds libzmq through pkg-config: show it the arm64 .pc files only.
set(ENV{PKG_CONFIG_LIBDIR} "/usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig")
set(ENV{PKG_CONFIG_PATH} "")

# Lets ctest and add_custom_command run aarch64 programs on the host. Plain
# qemu-aarch64 finds the arm64 loader and libraries where multiarch put them;
# do not add `-L /usr/aarch64-linux-gnu` (the cross compiler's own C library):
# mixing the two C libraries makes programs hang.
find_program(MESHTRAIN_QEMU_AARCH64 qemu-aarch64)
if(MESHTRAIN_QEMU_AARCH64)
  set(CMAKE_CROSSCOMPILING_EMULATOR ${MESHTRAIN_QEMU_AARCH64})
endif()
