# The HTTP request parser as a small static library, shared by the example
# server (examples/http), its unit test (tests/examples) and the fuzz targets
# (tests/fuzz). Included from each of those folders; the guard defines the
# target once, whichever folder is configured first (examples may be off).
include_guard(GLOBAL)
add_library(cexec_http_parser STATIC ${CMAKE_CURRENT_LIST_DIR}/http_parser.c)
target_include_directories(cexec_http_parser PUBLIC ${CMAKE_CURRENT_LIST_DIR})
