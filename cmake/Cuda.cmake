# R1WB_CUDA=AUTO builds the CUDA backend whenever nvcc is found, so the CUDA code is always compiled
# even on machines without a GPU; GPU tests then report "skipped" at run time.
set(R1WB_HAVE_CUDA OFF)
if(NOT R1WB_CUDA STREQUAL "OFF")
  if(NOT CMAKE_CUDA_COMPILER)
    find_program(R1WB_NVCC nvcc HINTS /usr/local/cuda/bin ENV CUDA_HOME PATH_SUFFIXES bin)
    if(R1WB_NVCC)
      set(CMAKE_CUDA_COMPILER ${R1WB_NVCC})
    endif()
  endif()
  include(CheckLanguage)
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    # Architectures are passed as explicit -gencode flags: sm_90a needs the "a" target for wgmma.
    set(CMAKE_CUDA_ARCHITECTURES OFF)
    enable_language(CUDA)
    find_package(CUDAToolkit REQUIRED)
    set(CMAKE_CUDA_STANDARD 17)  # CMake 3.25 knows no CUDA20 flags for nvcc
    set(CMAKE_CUDA_STANDARD_REQUIRED ON)
    set(R1WB_HAVE_CUDA ON)
  elseif(R1WB_CUDA STREQUAL "ON")
    message(FATAL_ERROR "R1WB_CUDA=ON but no CUDA compiler (nvcc) was found")
  endif()
endif()
message(STATUS "R1 Workbench CUDA backend: ${R1WB_HAVE_CUDA}")

function(r1wb_cuda_target target)
  foreach(arch IN LISTS R1WB_CUDA_ARCH)
    string(REGEX REPLACE "[^0-9]" "" num "${arch}")
    target_compile_options(${target} PRIVATE
      $<$<COMPILE_LANGUAGE:CUDA>:-gencode=arch=compute_${arch},code=sm_${arch}>)
  endforeach()
  target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:CUDA>:--expt-relaxed-constexpr -lineinfo>)
endfunction()
