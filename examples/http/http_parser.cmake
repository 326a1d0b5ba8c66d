# The HTTP protocol code of the example server (request parser and the
# I/O-free connection logic) as a small static library, shared by the server
# (examples/http), its unit tests (tests/examples) and the fuzz targets
# (tests/fuzz). Included from each of those folders; the guard defines the
# target once, whichever folder is configured first (examples may be off).
include_guard(GLOBAL)
add_library(cexec_http STATIC ${CMAKE_CURRENT_LIST_DIR}/http_parser.c
                              ${CMAKE_CURRENT_LIST_DIR}/http_conn.c)
target_include_directories(cexec_http PUBLIC ${CMAKE_CURRENT_LIST_DIR})

# The server's spare-connection list (spares.c) works on a loop's timed
# scheduler, so it links cexec; a target of its own keeps cexec_http free of it.
add_library(cexec_http_spares STATIC ${CMAKE_CURRENT_LIST_DIR}/spares.c)
target_include_directories(cexec_http_spares PUBLIC ${CMAKE_CURRENT_LIST_DIR})
target_link_libraries(cexec_http_spares PUBLIC cexec_static)
