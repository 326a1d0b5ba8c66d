# Run by the docs/snippets test: build every snippet target, then run each
# snippet that is a program; any failure fails the test.
execute_process(COMMAND ${CMAKE_COMMAND} --build ${BINARY_DIR} --target docs_snippets --parallel 2
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "a docs snippet does not compile:\n${out}\n${err}")
endif()
string(REPLACE "," ";" programs "${PROGRAMS}")
foreach(p ${programs})
  execute_process(COMMAND ${p} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err
                  TIMEOUT 60)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "snippet ${p} failed (${rc}):\n${out}\n${err}")
  endif()
  message(STATUS "${p}: ok")
endforeach()
