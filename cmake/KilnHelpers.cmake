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
