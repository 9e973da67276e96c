#pragma once
// Entry point for suites that need CUDA devices: with fewer than they need, the suite reports "skipped" to
// CTest (exit code 77, SKIP_RETURN_CODE) instead of passing.
#include <QtTest/QtTest>

#include <cstdio>

#include "engine/runtime/runtime.h"

#define R1_GPUS_TEST_MAIN(TestClass, gpus)                                                       \
  int main(int argc, char** argv) {                                                              \
    if (r1::cuda_device_count() < (gpus)) {                                                      \
      std::printf("SKIP: %s needs %d CUDA device(s) and %d were found\n", #TestClass, int(gpus), \
                  r1::cuda_device_count());                                                      \
      return 77;                                                                                 \
    }                                                                                            \
    TestClass tc;                                                                                \
    QTEST_SET_MAIN_SOURCE_PATH                                                                   \
    return QTest::qExec(&tc, argc, argv);                                                        \
  }

#define R1_GPU_TEST_MAIN(TestClass) R1_GPUS_TEST_MAIN(TestClass, 1)
