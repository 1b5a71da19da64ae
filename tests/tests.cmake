# Test registration: one executable per tests/<label>/test_*.c, labelled by its folder
# (unit, kernels -> kernel, golden, e2e, slow). Shell tests tests/e2e/test_*.sh get the trdi binary
# path as $1. Test data lives in tests/data (copied from the shared reference data).
set(TRDI_TEST_DATA ${PROJECT_SOURCE_DIR}/tests/data)
foreach(dir unit kernels golden e2e slow)
  if(dir STREQUAL "kernels")
    set(label kernel)
  else()
    set(label ${dir})
  endif()
  file(GLOB srcs CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/tests/${dir}/test_*.c)
  foreach(src ${srcs})
    get_filename_component(name ${src} NAME_WE)
    add_executable(${name} ${src})
    target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}/src ${PROJECT_SOURCE_DIR}/tests
                                               ${CBLAS_INCLUDE_DIR})
    target_compile_definitions(${name} PRIVATE TRDI_TEST_DATA="${TRDI_TEST_DATA}"
                                               TRDI_CLI_PATH="$<TARGET_FILE:trdi_cli>")
    target_link_libraries(${name} PRIVATE trdi)
    add_dependencies(${name} trdi_cli)
    add_test(NAME ${name} COMMAND ${name})
    set_tests_properties(${name} PROPERTIES LABELS ${label} TIMEOUT 600)
  endforeach()
  file(GLOB scripts CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/tests/${dir}/test_*.sh)
  foreach(script ${scripts})
    get_filename_component(name ${script} NAME_WE)
    add_test(NAME ${name} COMMAND bash ${script} $<TARGET_FILE:trdi_cli> ${TRDI_TEST_DATA})
    set_tests_properties(${name} PROPERTIES LABELS ${label} TIMEOUT 600)
  endforeach()
endforeach()

# Fuzz targets: tests/fuzz/fuzz_*.c built with clang -fsanitize=fuzzer; each runs briefly on its
# corpus (tests/fuzz/corpus/<name>) as a ctest with label fuzz.
if(TRDI_FUZZ)
  add_custom_target(fuzz_targets)
  file(GLOB fuzz_srcs CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/tests/fuzz/fuzz_*.c)
  foreach(src ${fuzz_srcs})
    get_filename_component(name ${src} NAME_WE)
    add_executable(${name} ${src})
    target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}/src)
    target_compile_options(${name} PRIVATE -fsanitize=fuzzer)
    target_link_options(${name} PRIVATE -fsanitize=fuzzer)
    target_link_libraries(${name} PRIVATE trdi)
    add_dependencies(fuzz_targets ${name})
    set(corpus ${PROJECT_SOURCE_DIR}/tests/fuzz/corpus/${name})
    # New inputs go to a corpus folder in the build tree; the committed seeds are read only.
    set(work ${CMAKE_BINARY_DIR}/fuzz-corpus/${name})
    add_test(NAME ${name}
             COMMAND bash -c "mkdir -p '${work}' && exec '$<TARGET_FILE:${name}>' -max_total_time=\${TRDI_FUZZ_SECONDS:-20} -rss_limit_mb=2048 -artifact_prefix='${work}/' '${work}' '${corpus}'")
    set_tests_properties(${name} PROPERTIES LABELS fuzz TIMEOUT 120)
  endforeach()
endif()
