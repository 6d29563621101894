# hookd_embed(OUT <file.cpp> NAMESPACE <ns> FILES <abs paths...>)
# Generates a .cpp defining `const std::vector<hookd::EmbeddedFile>& ns::Files()`
# with the bytes of each file, so assets ship inside the binary.
function(hookd_embed)
  cmake_parse_arguments(E "" "OUT;NAMESPACE;BASE" "FILES" ${ARGN})
  string(REPLACE ";" "|" files_arg "${E_FILES}")
  add_custom_command(
    OUTPUT ${E_OUT}
    COMMAND ${CMAKE_COMMAND} -DOUT=${E_OUT} -DNAMESPACE=${E_NAMESPACE} -DBASE=${E_BASE}
            "-DFILES=${files_arg}" -P ${PROJECT_SOURCE_DIR}/cmake/EmbedScript.cmake
    DEPENDS ${E_FILES} ${PROJECT_SOURCE_DIR}/cmake/EmbedScript.cmake
    COMMENT "Embedding ${E_NAMESPACE} assets" VERBATIM)
endfunction()
