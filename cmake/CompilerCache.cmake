# Use ccache when it is installed: libtorch headers make cold builds slow.
find_program(CCACHE_PROGRAM ccache)
if(CCACHE_PROGRAM AND NOT CMAKE_CXX_COMPILER_LAUNCHER)
  set(CMAKE_CXX_COMPILER_LAUNCHER "${CCACHE_PROGRAM}")
  message(STATUS "cohort: compiling through ${CCACHE_PROGRAM}")
endif()
