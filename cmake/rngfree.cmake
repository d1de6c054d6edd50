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
  if(slow AND RNGFREE_BUILD_EXHAUSTIVE)
    add_executable(test_${module}_exhaustive ${slow})
    target_link_libraries(test_${module}_exhaustive PRIVATE ${ARGN} GTest::gtest GTest::gtest_main)
    target_include_directories(test_${module}_exhaustive PRIVATE ${PROJECT_SOURCE_DIR}/tests)
    target_compile_definitions(test_${module}_exhaustive PRIVATE RNGFREE_SHARED_DIR="${RNGFREE_SHARED_DIR}"
      RNGFREE_SOURCE_DIR="${PROJECT_SOURCE_DIR}" RNGFREE_BINARY_DIR="${PROJECT_BINARY_DIR}")
    # One label only: gtest_discover_tests (CMake 3.25) splits a "a;b" value into separate arguments.
    gtest_discover_tests(test_${module}_exhaustive PROPERTIES LABELS exhaustive DISCOVERY_TIMEOUT 60)
  endif()
endfunction()

# rngfree_torch_pch(TARGET [UNITY_GROUPS N] [REUSE_FROM OTHER]): libtorch's headers
# (include/rngfree/train/torch.hpp) precompiled for TARGET's sources that include them, directly or
# through one of the project's headers; the target's other sources are compiled as before (a 600 MB
# PCH loaded into a TU that does not need libtorch makes it slower). Parsing <torch/torch.h> is about
# half of each such TU's compile time; the builds are most of CI's time (docs/testing.md).
# RNGFREE_PCH=OFF turns all of this off. Which sources include libtorch is found by reading the
# sources and the project's headers (transitively), so a new file needs no list to be kept.
# UNITY_GROUPS N: those sources are also compiled as N unity files (CMake's UNITY_BUILD, round robin
# in source order), and the target's other sources as N more, without the PCH: each libtorch TU
# instantiates and compiles the same inline code again, so one file of six compiles in well under
# half the time of the six. A new source joins a group; names at namespace scope (anonymous
# namespaces included) must then differ between the group's files. Keeping the PCH out of the other
# groups' unity files names them by CMake's own layout (CMakeFiles/TARGET.dir/Unity/unity_GROUP_cxx.cxx,
# CMake 3.25); if that layout changes they compile with the PCH, slower but still correct.
# REUSE_FROM OTHER: use OTHER's precompiled header instead of building another (it is valid only
# with the same code-generation flags, so TARGET is compiled with -fPIC as the libraries are).
function(rngfree_torch_pch target)
  if(NOT RNGFREE_PCH)
    return()
  endif()
  # The project's headers that include libtorch: start from torch.hpp, add every header that includes one
  # already found, until nothing changes.
  file(GLOB_RECURSE headers CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/include/*.hpp ${PROJECT_SOURCE_DIR}/src/*.hpp
    ${PROJECT_SOURCE_DIR}/tests/*.hpp)
  set(torch_names torch.hpp)
  set(changed TRUE)
  while(changed)
    string(REPLACE "." "\\." alternatives "${torch_names}")
    string(REPLACE ";" "|" alternatives "${alternatives}")
    set(pattern "#include ([<\"](torch/|ATen/)|\"([^\"]*/)?(${alternatives})\")")
    set(changed FALSE)
    foreach(h ${headers})
      get_filename_component(name ${h} NAME)
      if(NOT name IN_LIST torch_names)
        file(STRINGS ${h} hits REGEX "${pattern}")
        if(hits)
          list(APPEND torch_names ${name})
          set(changed TRUE)
        endif()
      endif()
    endforeach()
  endwhile()
  cmake_parse_arguments(PARSE_ARGV 1 arg "" "UNITY_GROUPS;REUSE_FROM" "")
  get_target_property(sources ${target} SOURCES)
  get_target_property(source_dir ${target} SOURCE_DIR)
  set(with 0)
  set(without 0)
  list(LENGTH sources total)
  foreach(src ${sources})
    if(NOT IS_ABSOLUTE ${src})
      set(src ${source_dir}/${src})
    endif()
    file(STRINGS ${src} hits REGEX "${pattern}")
    if(hits)
      if(arg_UNITY_GROUPS)
        math(EXPR group "${with} % ${arg_UNITY_GROUPS}")
        set_source_files_properties(${src} TARGET_DIRECTORY ${target} PROPERTIES UNITY_GROUP torch${group})
      endif()
      math(EXPR with "${with} + 1")
    else()
      set_source_files_properties(${src} TARGET_DIRECTORY ${target} PROPERTIES SKIP_PRECOMPILE_HEADERS ON)
      if(arg_UNITY_GROUPS)
        math(EXPR group "${without} % ${arg_UNITY_GROUPS}")
        set_source_files_properties(${src} TARGET_DIRECTORY ${target} PROPERTIES UNITY_GROUP plain${group})
      endif()
      math(EXPR without "${without} + 1")
    endif()
  endforeach()
  message(STATUS "${target}: libtorch's headers precompiled for ${with} of ${total} sources (RNGFREE_PCH)")
  if(arg_UNITY_GROUPS AND with GREATER 0)
    set_target_properties(${target} PROPERTIES UNITY_BUILD ON UNITY_BUILD_MODE GROUP)
    # The unity files of the sources without libtorch are compiled without the precompiled header.
    get_target_property(binary_dir ${target} BINARY_DIR)
    foreach(i RANGE 1 ${arg_UNITY_GROUPS})
      math(EXPR group "${i} - 1")
      set_source_files_properties(${binary_dir}/CMakeFiles/${target}.dir/Unity/unity_plain${group}_cxx.cxx
        TARGET_DIRECTORY ${target} PROPERTIES SKIP_PRECOMPILE_HEADERS ON)
    endforeach()
  endif()
  if(with GREATER 0 AND arg_REUSE_FROM)
    target_precompile_headers(${target} REUSE_FROM ${arg_REUSE_FROM})
    target_compile_options(${target} PRIVATE -fPIC)
  elseif(with GREATER 0)
    target_precompile_headers(${target} PRIVATE ${PROJECT_SOURCE_DIR}/include/rngfree/train/torch.hpp)
  endif()
endfunction()
