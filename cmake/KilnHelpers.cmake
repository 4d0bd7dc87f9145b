# Warnings as errors for kiln's own code only; third-party headers come in as SYSTEM.
add_library(kiln_warnings INTERFACE)
target_compile_options(kiln_warnings INTERFACE -Wall -Wextra -Werror)

# kiln_test(NAME SOURCES... [LIBS ...] [LABELS ...]): a GoogleTest binary registered with ctest.
# LABELS asan and tsan put it in the sanitizer suites (scripts/sanitize.sh).
function(kiln_test name)
  cmake_parse_arguments(ARG "" "" "SOURCES;LIBS;LABELS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_LIBS} GTest::gtest_main GTest::gmock kiln_warnings)
  add_test(NAME ${name} COMMAND ${name})
  if(ARG_LABELS)
    set_tests_properties(${name} PROPERTIES LABELS "${ARG_LABELS}")
  endif()
  # LABELS asan / tsan: part of that sanitizer suite (kiln_asan_tests / kiln_tsan_tests).
  foreach(sanitizer asan tsan)
    if(sanitizer IN_LIST ARG_LABELS)
      set_property(GLOBAL APPEND PROPERTY KILN_${sanitizer}_TESTS ${name})
    endif()
  endforeach()
endfunction()

# kiln_fuzz_target(NAME SOURCES... [LIBS ...] CORPUS DIR [FUZZ_ARGS ...]): a libFuzzer target
# (LLVMFuzzerTestOneInput) with its checked-in seed corpus DIR (relative to the current source
# directory). The target kiln_fuzzers builds every fuzz target and only what they need.
# - Normal builds link the corpus replay driver and register NAME as a test labelled
#   corpus-replay, so `make test` runs every seed once. (A label containing "fuzz" would match
#   make test's exclusion regex.)
# - -DKILN_FUZZ=ON builds (clang, `make fuzz`) link libFuzzer and register NAME as a test
#   labelled fuzz: scripts/run-fuzzer.sh fuzzes for $FUZZ_SECONDS with FUZZ_ARGS (libFuzzer
#   flags), on a work corpus in NAME.work/ in the build tree; the checked-in corpus is only read.
add_custom_target(kiln_fuzzers)
function(kiln_fuzz_target name)
  cmake_parse_arguments(ARG "" "CORPUS" "SOURCES;LIBS;FUZZ_ARGS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  add_dependencies(kiln_fuzzers ${name})
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR})
  target_link_libraries(${name} PRIVATE ${ARG_LIBS} kiln_warnings)
  set(corpus ${CMAKE_CURRENT_SOURCE_DIR}/${ARG_CORPUS})
  # For targets whose LLVMFuzzerInitialize reads the seeds.
  target_compile_definitions(${name} PRIVATE KILN_FUZZ_SEED_CORPUS="${corpus}")
  if(KILN_FUZZ)
    target_link_options(${name} PRIVATE -fsanitize=fuzzer)
    add_test(NAME ${name}
      COMMAND ${PROJECT_SOURCE_DIR}/scripts/run-fuzzer.sh $<TARGET_FILE:${name}>
        ${CMAKE_CURRENT_BINARY_DIR}/${name}.work ${corpus} ${ARG_FUZZ_ARGS})
    set_tests_properties(${name} PROPERTIES LABELS fuzz)
  else()
    target_sources(${name} PRIVATE ${PROJECT_SOURCE_DIR}/runtime_service/testing/fuzz_replay_main.cc)
    add_test(NAME ${name} COMMAND ${name} ${corpus})
    set_tests_properties(${name} PROPERTIES LABELS corpus-replay)
  endif()
endfunction()

# kiln_forbid_links(TARGET FORBIDDEN...): fails configuration when TARGET links any FORBIDDEN
# target, directly or through the libraries it links (the layer rules of docs/architecture.md).
# Call it after every target is defined.
function(kiln_forbid_links target)
  set(pending ${target})
  set(seen)
  while(pending)
    list(POP_FRONT pending current)
    if(current IN_LIST seen OR NOT TARGET ${current})
      continue()
    endif()
    list(APPEND seen ${current})
    if(NOT current STREQUAL target AND current IN_LIST ARGN)
      message(FATAL_ERROR "layer rule: ${target} must not link ${current} (docs/architecture.md, "
                          "Layers)")
    endif()
    get_target_property(type ${current} TYPE)
    set(links)
    if(NOT type STREQUAL "INTERFACE_LIBRARY")
      get_target_property(direct ${current} LINK_LIBRARIES)
      if(direct)
        list(APPEND links ${direct})
      endif()
    endif()
    get_target_property(interface ${current} INTERFACE_LINK_LIBRARIES)
    if(interface)
      list(APPEND links ${interface})
    endif()
    foreach(link IN LISTS links)
      # $<LINK_ONLY:x> (a static library's private dependency) still links x.
      string(REGEX REPLACE "^\\$<LINK_ONLY:(.*)>$" "\\1" link "${link}")
      list(APPEND pending ${link})
    endforeach()
  endwhile()
endfunction()
