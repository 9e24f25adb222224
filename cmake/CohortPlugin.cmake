# cohort_add_plugin(<name> SOURCES <src>... [LIBRARIES <lib>...])
#
# Builds a cohort plugin: a shared library named libcohort_plugin_<name>.so
# that links against the SDK only (cohort::sdk, plus LIBRARIES), which is where the
# plugin loader looks for it. <name> is the CMake-friendly spelling; the name
# users write in a recipe is the one the plugin's descriptor declares.
# Works in the cohort tree and out of tree after find_package(cohort).
function(cohort_add_plugin name)
  cmake_parse_arguments(ARG "" "OUTPUT_DIRECTORY;INSTALL_DESTINATION" "SOURCES;LIBRARIES" ${ARGN})
  if(NOT ARG_SOURCES)
    message(FATAL_ERROR "cohort_add_plugin(${name}): SOURCES is required")
  endif()
  set(target cohort_plugin_${name})
  add_library(${target} MODULE ${ARG_SOURCES})
  target_link_libraries(${target} PRIVATE cohort::sdk ${ARG_LIBRARIES})
  set_target_properties(${target} PROPERTIES
    PREFIX "lib"
    OUTPUT_NAME "cohort_plugin_${name}"
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON)
  if(ARG_OUTPUT_DIRECTORY)
    set_target_properties(${target} PROPERTIES LIBRARY_OUTPUT_DIRECTORY "${ARG_OUTPUT_DIRECTORY}")
  elseif(DEFINED COHORT_PLUGIN_OUTPUT_DIRECTORY)
    set_target_properties(${target} PROPERTIES LIBRARY_OUTPUT_DIRECTORY "${COHORT_PLUGIN_OUTPUT_DIRECTORY}")
  endif()
  if(ARG_INSTALL_DESTINATION)
    install(TARGETS ${target} LIBRARY DESTINATION "${ARG_INSTALL_DESTINATION}")
  endif()
  add_library(cohort::plugin::${name} ALIAS ${target})
endfunction()
