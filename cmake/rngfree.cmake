# Shared compile settings: warnings on, IEEE arithmetic (never -ffast-math), optional sanitizers.
add_library(rngfree_options INTERFACE)
target_compile_options(rngfree_options INTERFACE -Wall -Wextra -Wpedantic -Wno-unused-parameter
  $<$<CONFIG:Release>:-O3> -fno-fast-math)
target_compile_definitions(rngfree_options INTERFACE RNGFREE_VERSION="${PROJECT_VERSION}")
if(RNGFREE_NATIVE)
  target_compile_options(rngfree_options INTERFACE -march=native)
endif()
if(RNGFREE_SANITIZE)
  target_compile_options(rngfree_options INTERFACE -fsanitize=address,undefined -fno-omit-frame-pointer
    -fno-sanitize-recover=undefined)
  target_link_options(rngfree_options INTERFACE -fsanitize=address,undefined)
endif()

if(RNGFREE_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "RNGFREE_FUZZ=ON needs clang (libFuzzer): configure with -DCMAKE_CXX_COMPILER=clang++ "
                        "or use the asan preset")
  endif()
  # Coverage feedback for libFuzzer in every library; only the fuzz targets link libFuzzer's main.
  target_compile_options(rngfree_options INTERFACE -fsanitize=fuzzer-no-link)
endif()

# rngfree_module(NAME DIR [DEPS ...]): a library from src/DIR/*.cpp, public headers in include/.
function(rngfree_module name dir)
  file(GLOB_RECURSE srcs CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/src/${dir}/*.cpp)
  if(NOT srcs)  # a module not written yet: headers only
    add_library(${name} INTERFACE)
    target_include_directories(${name} INTERFACE ${PROJECT_SOURCE_DIR}/include)
    target_link_libraries(${name} INTERFACE rngfree_options ${ARGN})
    return()
  endif()
  add_library(${name} STATIC ${srcs})
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR}/include)
  target_link_libraries(${name} PUBLIC rngfree_options ${ARGN})
  set_target_properties(${name} PROPERTIES POSITION_INDEPENDENT_CODE ON)
endfunction()

# rngfree_tests(MODULE LIBS...): tests/MODULE/*_test.cpp -> test_MODULE (label MODULE),
# tests/MODULE/*_exhaustive.cpp -> test_MODULE_exhaustive (label exhaustive, not in the default run).
function(rngfree_tests module)
  file(GLOB fast CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/tests/${module}/*_test.cpp)
  file(GLOB slow CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/tests/${module}/*_exhaustive.cpp)
  if(fast)
    add_executable(test_${module} ${fast})
    target_link_libraries(test_${module} PRIVATE ${ARGN} GTest::gtest GTest::gtest_main)
    target_include_directories(test_${module} PRIVATE ${PROJECT_SOURCE_DIR}/tests)
    target_compile_definitions(test_${module} PRIVATE RNGFREE_SHARED_DIR="${RNGFREE_SHARED_DIR}"
      RNGFREE_SOURCE_DIR="${PROJECT_SOURCE_DIR}" RNGFREE_BINARY_DIR="${PROJECT_BINARY_DIR}")
    gtest_discover_tests(test_${module} PROPERTIES LABELS "${module}" DISCOVERY_TIMEOUT 60)
    # Command-line tests run the built program: building a test target builds it too, so the
    # project's own test run never lacks it (a missing program fails those tests, never skips them).
    add_dependencies(test_${module} rngfree)
  endif()
  if(slow)
    add_executable(test_${module}_exhaustive ${slow})
    target_link_libraries(test_${module}_exhaustive PRIVATE ${ARGN} GTest::gtest GTest::gtest_main)
    target_include_directories(test_${module}_exhaustive PRIVATE ${PROJECT_SOURCE_DIR}/tests)
    target_compile_definitions(test_${module}_exhaustive PRIVATE RNGFREE_SHARED_DIR="${RNGFREE_SHARED_DIR}"
      RNGFREE_SOURCE_DIR="${PROJECT_SOURCE_DIR}" RNGFREE_BINARY_DIR="${PROJECT_BINARY_DIR}")
    # One label only: gtest_discover_tests (CMake 3.25) splits a "a;b" value into separate arguments.
    gtest_discover_tests(test_${module}_exhaustive PROPERTIES LABELS exhaustive DISCOVERY_TIMEOUT 60)
  endif()
endfunction()
