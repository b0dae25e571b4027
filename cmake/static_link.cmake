# MESHTRAIN_STATIC=ON: a meshtrain binary that can be copied onto a board with
# little more than its C library (docs/edge.md). Included by the top-level
# CMakeLists.txt after the find_package calls; sets MESHTRAIN_TOML for the config layer.
#
# What goes in, what stays shared, and why:
# - libstdc++ and libgcc: -static-libstdc++ -static-libgcc on the executable.
# - toml++: Debian ships only libtomlplusplus.so, so the config layer compiles the
#   library itself in header-only mode.
# - zlib: libz.a (ZLIB_USE_STATIC_LIBS, set before find_package(ZLIB)).
# - libzmq: libzmq.a and every library its pkg-config file lists that has a .a.
# - glibc (libc, libm, librt, libpthread, libdl) stays shared: a static glibc
#   cannot load the NSS and Kerberos modules libzmq may ask for. Kerberos
#   (libgssapi_krb5 and friends) stays shared because Debian ships no .a of it.

# toml++ as a header-only library.
add_library(meshtrain_toml_header_only INTERFACE)
get_target_property(_meshtrain_toml_includes tomlplusplus::tomlplusplus INTERFACE_INCLUDE_DIRECTORIES)
target_include_directories(meshtrain_toml_header_only SYSTEM INTERFACE ${_meshtrain_toml_includes})
target_compile_definitions(meshtrain_toml_header_only INTERFACE TOML_HEADER_ONLY=1)
set(MESHTRAIN_TOML meshtrain_toml_header_only)

# libzmq.a with its dependencies, in the order `pkg-config --static` gives them.
find_package(PkgConfig REQUIRED)
pkg_check_modules(MESHTRAIN_ZMQ REQUIRED libzmq)
set(_meshtrain_glibc c m rt dl pthread resolv util anl)
set(_meshtrain_zmq_link)
set(_meshtrain_zmq_shared)
set(_meshtrain_zmq_missing)
foreach(_flag IN LISTS MESHTRAIN_ZMQ_STATIC_LDFLAGS)
  if(_flag MATCHES "^-l(.+)$")
    set(_name ${CMAKE_MATCH_1})
  elseif(_flag MATCHES "^lib(.+)\\.a$")  # norm.pc names libprotokit.a bare
    set(_name ${CMAKE_MATCH_1})
  else()
    continue()  # -L dirs, -pthread (Threads::Threads covers it)
  endif()
  if(_name STREQUAL "stdc++" OR _name IN_LIST _meshtrain_glibc)
    continue()
  endif()
  find_library(MESHTRAIN_STATIC_${_name} NAMES lib${_name}.a)
  find_library(MESHTRAIN_SHARED_${_name} NAMES ${_name})
  if(MESHTRAIN_STATIC_${_name})
    list(APPEND _meshtrain_zmq_link ${MESHTRAIN_STATIC_${_name}})
  elseif(MESHTRAIN_SHARED_${_name})
    list(APPEND _meshtrain_zmq_link ${_name})
    list(APPEND _meshtrain_zmq_shared ${_name})
  else()
    # pkg-config lists every library of every optional transport (NORM pulls
    # libxml2, which lists liblzma); an archive only needs the ones it uses,
    # and the linker names any that is really missing.
    list(APPEND _meshtrain_zmq_missing ${_name})
  endif()
endforeach()
list(POP_FRONT _meshtrain_zmq_link _meshtrain_zmq_archive)
if(NOT _meshtrain_zmq_archive MATCHES "libzmq\\.a$")
  message(FATAL_ERROR "MESHTRAIN_STATIC needs libzmq.a (Debian: libzmq3-dev); found '${_meshtrain_zmq_archive}'")
endif()
# cppzmq's FindZeroMQ made `libzmq` an imported target for libzmq.so; point it at the archive.
set_target_properties(libzmq PROPERTIES
  IMPORTED_LOCATION ${_meshtrain_zmq_archive}
  INTERFACE_LINK_LIBRARIES "${_meshtrain_zmq_link};Threads::Threads")
list(REMOVE_DUPLICATES _meshtrain_zmq_shared)
list(JOIN _meshtrain_zmq_shared " " _meshtrain_shared_text)
message(STATUS "MESHTRAIN_STATIC: libzmq.a linked; still shared: glibc ${_meshtrain_shared_text}")
if(_meshtrain_zmq_missing)
  list(JOIN _meshtrain_zmq_missing " " _meshtrain_missing_text)
  message(STATUS "MESHTRAIN_STATIC: not installed, left out: ${_meshtrain_missing_text}")
endif()
