# Conventions that let each test, example and benchmark own its settings in
# its own source file, so adding one needs no edit to a shared list:
#
#   /* CEXEC_TEST_LABELS: tsan slow */   labels for ctest -L (tsan: also run
#                                        in the ThreadSanitizer build)
#   /* CEXEC_TEST_ARGS: --count 10 */    for examples and benchmarks: run it
#                                        as a test with these arguments
#   /* CEXEC_TEST_TIMEOUT: 300 */        seconds (default 120)
#   /* CEXEC_LINK: m */                  extra libraries to link

function(cexec_read_marker src key out)
  file(STRINGS ${src} lines REGEX "${key}:" LIMIT_COUNT 1)
  set(value "")
  set(found FALSE)
  if(lines)
    list(GET lines 0 line)
    string(REGEX REPLACE ".*${key}:[ ]*" "" value "${line}")
    string(REGEX REPLACE "[ ]*\\*/.*$" "" value "${value}")
    string(STRIP "${value}" value)
    set(found TRUE)
  endif()
  set(${out} "${value}" PARENT_SCOPE)
  set(${out}_FOUND ${found} PARENT_SCOPE)
endfunction()

function(cexec_program_settings target src)
  cexec_read_marker(${src} CEXEC_LINK link)
  if(link)
    separate_arguments(link UNIX_COMMAND "${link}")
    target_link_libraries(${target} PRIVATE ${link})
  endif()
endfunction()

# A test program: tests/<folder>/<name>_test.c, linked with cmocka.
function(cexec_add_test src)
  get_filename_component(name ${src} NAME_WE)
  get_filename_component(dir ${src} DIRECTORY)
  get_filename_component(folder ${dir} NAME)
  add_executable(${name} ${src})
  target_link_libraries(${name} PRIVATE cexec_static PkgConfig::CMOCKA)
  target_include_directories(${name} PRIVATE ${CMAKE_SOURCE_DIR}/tests)
  cexec_program_settings(${name} ${src})
  add_test(NAME ${folder}/${name} COMMAND ${name})
  cexec_read_marker(${src} CEXEC_TEST_LABELS labels)
  separate_arguments(labels UNIX_COMMAND "${labels}")
  cexec_read_marker(${src} CEXEC_TEST_TIMEOUT timeout)
  if(NOT timeout)
    set(timeout 120)
  endif()
  set_tests_properties(${folder}/${name} PROPERTIES LABELS "${folder};${labels}"
                       TIMEOUT ${timeout})
endfunction()

# An example or benchmark: one executable per .c file; registered as a test
# when it names CEXEC_TEST_ARGS (an empty value runs it with no arguments).
function(cexec_add_program src label)
  get_filename_component(name ${src} NAME_WE)
  set(target ${label}_${name})
  add_executable(${target} ${src})
  set_target_properties(${target} PROPERTIES OUTPUT_NAME ${name})
  target_link_libraries(${target} PRIVATE cexec_static)
  cexec_program_settings(${target} ${src})
  cexec_read_marker(${src} CEXEC_TEST_ARGS args)
  if(args_FOUND AND CEXEC_BUILD_TESTS)
    separate_arguments(args UNIX_COMMAND "${args}")
    add_test(NAME ${label}/${name} COMMAND ${target} ${args})
    cexec_read_marker(${src} CEXEC_TEST_LABELS labels)
    separate_arguments(labels UNIX_COMMAND "${labels}")
    cexec_read_marker(${src} CEXEC_TEST_TIMEOUT timeout)
    if(NOT timeout)
      set(timeout 120)
    endif()
    set_tests_properties(${label}/${name} PROPERTIES LABELS "${label};${labels}"
                         TIMEOUT ${timeout})
  endif()
endfunction()

# Adds every <dir>/*.c as a program and every subfolder with a
# CMakeLists.txt as a subdirectory.
function(cexec_add_programs_in label)
  file(GLOB sources CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*.c)
  foreach(src ${sources})
    cexec_add_program(${src} ${label})
  endforeach()
  file(GLOB subdirs LIST_DIRECTORIES true ${CMAKE_CURRENT_SOURCE_DIR}/*)
  foreach(d ${subdirs})
    if(IS_DIRECTORY ${d} AND EXISTS ${d}/CMakeLists.txt)
      add_subdirectory(${d})
    endif()
  endforeach()
endfunction()
