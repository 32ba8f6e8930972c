# libcache_embed(<target> VERSION_SCRIPT <file> REDIS_DEFINE <macro>
#                [STATIC_HIREDIS <bool>])
#
# Links the engine STATICALLY into a language binding's module (<target>, a
# MODULE library: Python's _core, Node's libcache.node), its symbols hidden:
# one file to ship, no libcache.so to find at run time, and no clash with
# another libcache in the same process. Only what the version script exports
# leaves the module.
#
# The Redis adapter (redis/, when hiredis was found) goes in too: its objects
# and its C ABI's translation unit, compiled into <target> with LIBCACHE_STATIC
# (from libcache_static) so that no cache_redis_* symbol is exported, and
# <macro> defined so that the binding's sources know they have it. hiredis is
# linked statically when STATIC_HIREDIS (default ON) and the system has
# libhiredis.a (Debian's libhiredis-dev does; it is position-independent),
# its symbols kept local: the module then needs no libhiredis at run time.
# Otherwise the module links libhiredis.so (a run-time dependency).
function(libcache_embed target)
  cmake_parse_arguments(E "" "VERSION_SCRIPT;REDIS_DEFINE;STATIC_HIREDIS" "" ${ARGN})
  if(NOT DEFINED E_STATIC_HIREDIS)
    set(E_STATIC_HIREDIS ON)
  endif()
  set(root ${CMAKE_CURRENT_FUNCTION_LIST_DIR}/..)
  target_link_libraries(${target} PRIVATE libcache::cache_static)
  target_link_options(${target} PRIVATE -Wl,--version-script=${E_VERSION_SCRIPT})
  set_property(TARGET ${target} APPEND PROPERTY LINK_DEPENDS ${E_VERSION_SCRIPT})
  if(NOT TARGET libcache_redis_objects)
    return()
  endif()
  target_sources(${target} PRIVATE $<TARGET_OBJECTS:libcache_redis_objects> ${root}/redis/src/cache_redis.cc)
  target_include_directories(${target} PRIVATE ${root} ${root}/redis/include ${LIBCACHE_HIREDIS_INCLUDE_DIR})
  target_compile_definitions(${target} PRIVATE ${E_REDIS_DEFINE})
  get_filename_component(libdir ${LIBCACHE_HIREDIS_LIBRARY} DIRECTORY)
  find_library(LIBCACHE_HIREDIS_STATIC NAMES libhiredis.a HINTS ${libdir} NO_DEFAULT_PATH)
  if(E_STATIC_HIREDIS AND LIBCACHE_HIREDIS_STATIC)
    target_link_libraries(${target} PRIVATE ${LIBCACHE_HIREDIS_STATIC})
    target_link_options(${target} PRIVATE -Wl,--exclude-libs,libhiredis.a)
  else()
    target_link_libraries(${target} PRIVATE ${LIBCACHE_HIREDIS_LIBRARY})
  endif()
endfunction()
