# Use ccache when it is installed: libtorch headers make cold builds slow. Paths under the
# source tree are hashed relative to it (base_dir; hash_dir off), so that two clones of the
# project at different paths (a CI checkout, a second worktree) share the cache.
find_program(CCACHE_PROGRAM ccache)
if(CCACHE_PROGRAM AND NOT CMAKE_CXX_COMPILER_LAUNCHER)
  set(CMAKE_CXX_COMPILER_LAUNCHER
      "${CMAKE_COMMAND};-E;env;CCACHE_BASEDIR=${PROJECT_SOURCE_DIR};CCACHE_NOHASHDIR=1;${CCACHE_PROGRAM}")
  message(STATUS "cohort: compiling through ${CCACHE_PROGRAM} (base_dir ${PROJECT_SOURCE_DIR})")
endif()
