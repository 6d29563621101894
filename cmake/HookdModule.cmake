# hookd_module(NAME <name> SOURCES ... DEPS ...)
# Makes the static library hookd_<name> with our warning set; include paths are
# rooted at src/ so headers are included as "core/domain.hpp".
set(HOOKD_WARNINGS -Wall -Wextra -Wpedantic -Werror -Wshadow -Wold-style-cast -Wnon-virtual-dtor)

function(hookd_module)
  cmake_parse_arguments(M "" "NAME" "SOURCES;DEPS;PUBLIC_DEPS" ${ARGN})
  add_library(hookd_${M_NAME} STATIC ${M_SOURCES})
  target_include_directories(hookd_${M_NAME} PUBLIC ${PROJECT_SOURCE_DIR}/src)
  target_compile_options(hookd_${M_NAME} PRIVATE ${HOOKD_WARNINGS})
  target_link_libraries(hookd_${M_NAME} PUBLIC ${M_PUBLIC_DEPS} PRIVATE ${M_DEPS})
  target_compile_definitions(hookd_${M_NAME} PUBLIC HOOKD_VERSION="${PROJECT_VERSION}")
endfunction()

# hookd_test(NAME <name> SOURCES ... DEPS ...): one GoogleTest binary registered with ctest.
function(hookd_test)
  cmake_parse_arguments(T "" "NAME" "SOURCES;DEPS" ${ARGN})
  add_executable(${T_NAME} ${T_SOURCES})
  target_compile_options(${T_NAME} PRIVATE ${HOOKD_WARNINGS})
  target_link_libraries(${T_NAME} PRIVATE ${T_DEPS} GTest::gtest GTest::gtest_main Threads::Threads)
  gtest_discover_tests(${T_NAME} DISCOVERY_TIMEOUT 60 PROPERTIES TIMEOUT 120)
endfunction()
