#pragma once
// Entry point for suites that need a CUDA device: with none, the suite reports "skipped" to CTest
// (exit code 77, SKIP_RETURN_CODE) instead of passing.
#include <QtTest/QtTest>

#include <cstdio>

#include "engine/runtime/runtime.h"

#define R1_GPU_TEST_MAIN(TestClass)                                                 \
  int main(int argc, char** argv) {                                                 \
    if (r1::cuda_device_count() == 0) {                                             \
      std::printf("SKIP: %s needs a CUDA device and none was found\n", #TestClass); \
      return 77;                                                                    \
    }                                                                               \
    TestClass tc;                                                                   \
    QTEST_SET_MAIN_SOURCE_PATH                                                      \
    return QTest::qExec(&tc, argc, argv);                                           \
  }
