# Warnings as errors on our own targets only (never on third-party headers, which come in as SYSTEM).
# -Wno-restrict: GCC 12 reports false positives inside libstdc++ string concatenation (GCC bug 105329).
function(r1wb_warnings target)
  target_compile_options(${target} PRIVATE
    $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wpedantic -Werror -Wshadow -Wnon-virtual-dtor
                              -Wcast-align -Wunused -Woverloaded-virtual -Wno-missing-field-initializers
                              $<$<CXX_COMPILER_ID:GNU>:-Wno-restrict>>
    $<$<COMPILE_LANGUAGE:CUDA>:-Werror=all-warnings -Xcompiler=-Wall,-Wextra,-Werror>)
endfunction()
