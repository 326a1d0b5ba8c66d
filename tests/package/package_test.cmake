# Run by CTest (see CMakeLists.txt here): install, then build and run the
# consumer against the installed package with find_package (static, shared)
# and with pkg-config (static, shared). Any failure stops with an error.
foreach(v CEXEC_BINARY_DIR CONSUMER_SOURCE_DIR WORK_DIR C_COMPILER PKG_CONFIG)
  if(NOT ${v})
    message(FATAL_ERROR "package_test.cmake: ${v} not set")
  endif()
endforeach()

function(run what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc
                  OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${what} failed (${rc}):\n${ARGN}\n${out}\n${err}")
  endif()
  message(STATUS "${what}: ok")
  set(last_output "${out}" PARENT_SCOPE)
endfunction()

file(REMOVE_RECURSE ${WORK_DIR})
set(prefix ${WORK_DIR}/prefix)
run("install into ${prefix}"
    ${CMAKE_COMMAND} --install ${CEXEC_BINARY_DIR} --prefix ${prefix})

# The libdir under the prefix (lib, lib64 or lib/<multiarch>).
file(GLOB_RECURSE pcfile ${prefix}/*/cexec.pc)
if(NOT pcfile)
  message(FATAL_ERROR "no cexec.pc installed under ${prefix}")
endif()
list(GET pcfile 0 pcfile)
get_filename_component(pcdir ${pcfile} DIRECTORY)
get_filename_component(libdir ${pcdir} DIRECTORY)

# find_package(cexec): one configure, both flavours.
set(b ${WORK_DIR}/cmake)
run("find_package: configure"
    ${CMAKE_COMMAND} -S ${CONSUMER_SOURCE_DIR} -B ${b}
    -DCMAKE_PREFIX_PATH=${prefix} -DCMAKE_C_COMPILER=${C_COMPILER}
    -DCMAKE_BUILD_TYPE=Release)
run("find_package: build" ${CMAKE_COMMAND} --build ${b} --parallel 2)
run("find_package: run (static)" ${b}/consumer_static)
run("find_package: run (shared)" ${b}/consumer_shared)

# pkg-config cexec, the way a Makefile would use it. Static: link
# libcexec.a itself and its dependencies (--static adds Libs.private).
set(ENV{PKG_CONFIG_PATH} "${pcdir}")
execute_process(COMMAND ${PKG_CONFIG} --cflags cexec OUTPUT_VARIABLE cflags
                RESULT_VARIABLE rc OUTPUT_STRIP_TRAILING_WHITESPACE)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "pkg-config --cflags cexec failed")
endif()
execute_process(COMMAND ${PKG_CONFIG} --libs cexec OUTPUT_VARIABLE libs_shared
                OUTPUT_STRIP_TRAILING_WHITESPACE)
execute_process(COMMAND ${PKG_CONFIG} --libs --static cexec OUTPUT_VARIABLE libs_static
                OUTPUT_STRIP_TRAILING_WHITESPACE)
separate_arguments(cflags UNIX_COMMAND "${cflags}")
separate_arguments(libs_shared UNIX_COMMAND "${libs_shared}")
separate_arguments(libs_static UNIX_COMMAND "${libs_static}")
list(TRANSFORM libs_static REPLACE "^-lcexec$" "${libdir}/libcexec.a")

set(exe ${WORK_DIR}/pc-shared)
run("pkg-config: build (shared)" ${C_COMPILER} ${cflags}
    ${CONSUMER_SOURCE_DIR}/main.c -o ${exe} ${libs_shared} -Wl,-rpath,${libdir})
run("pkg-config: run (shared)" ${exe})
set(exe ${WORK_DIR}/pc-static)
run("pkg-config: build (static)" ${C_COMPILER} ${cflags}
    ${CONSUMER_SOURCE_DIR}/main.c -o ${exe} ${libs_static})
run("pkg-config: run (static)" ${exe})

# The shared builds must really use libcexec.so, the static ones must not.
find_program(READELF readelf)
if(READELF)
  foreach(pair "cmake/consumer_shared;1" "pc-shared;1" "cmake/consumer_static;0"
               "pc-static;0")
    list(GET pair 0 f)
    list(GET pair 1 want)
    execute_process(COMMAND ${READELF} -d ${WORK_DIR}/${f} OUTPUT_VARIABLE dyn)
    string(FIND "${dyn}" "libcexec.so" at)
    if((want AND at EQUAL -1) OR (NOT want AND NOT at EQUAL -1))
      message(FATAL_ERROR "${f}: libcexec.so dependency is not as expected")
    endif()
  endforeach()
  message(STATUS "shared/static linkage: as expected")
endif()
file(REMOVE_RECURSE ${WORK_DIR})
