# cohort_component(<target> <folder> <prefix>)
#
# Gives <target> its own include root in which the only thing visible is <folder> under
# the name <prefix>, so that `#include "<prefix>/x.hpp"` works in <target> and in the
# targets that link it, and nowhere else: a component cannot include a header of a
# component it does not depend on. (The root is a folder in the build tree holding one
# symbolic link.)
function(cohort_component target folder prefix)
  set(root "${CMAKE_BINARY_DIR}/component-includes/${target}")
  file(MAKE_DIRECTORY "${root}")
  if(NOT EXISTS "${root}/${prefix}")
    file(CREATE_LINK "${folder}" "${root}/${prefix}" SYMBOLIC)
  endif()
  get_target_property(type ${target} TYPE)
  if(type STREQUAL "EXECUTABLE")
    target_include_directories(${target} PRIVATE "$<BUILD_INTERFACE:${root}>")
  else()
    target_include_directories(${target} PUBLIC "$<BUILD_INTERFACE:${root}>")
  endif()
endfunction()

# cohort_hide_symbols(<target>): only what is marked COHORT_API is exported.
function(cohort_hide_symbols target)
  set_target_properties(${target} PROPERTIES CXX_VISIBILITY_PRESET hidden VISIBILITY_INLINES_HIDDEN ON)
endfunction()

# cohort_shared_library(<target> <export-name> <source>...): one of the shared libraries
# (config, memory, sdk): versioned, symbols hidden unless COHORT_API, alias and installed
# export cohort::<export-name>.
function(cohort_shared_library target export_name)
  add_library(${target} SHARED ${ARGN})
  add_library(cohort::${export_name} ALIAS ${target})
  set_target_properties(${target} PROPERTIES OUTPUT_NAME ${target} VERSION ${PROJECT_VERSION}
                        SOVERSION ${PROJECT_VERSION_MAJOR}.${PROJECT_VERSION_MINOR} EXPORT_NAME ${export_name})
  cohort_hide_symbols(${target})
  install(TARGETS ${target} EXPORT cohortTargets LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
endfunction()
