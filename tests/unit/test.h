/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A minimal test harness: each unit test is one executable, exit status 0 on success. */
#ifndef TERRARIUM_TEST_H
#define TERRARIUM_TEST_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int test_failures;
static int test_checks;

#define CHECK(cond)                                                                  \
    do {                                                                             \
        test_checks++;                                                               \
        if (!(cond)) {                                                               \
            test_failures++;                                                         \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
        }                                                                            \
    } while (0)

#define CHECK_EQ(a, b)                                                                         \
    do {                                                                                       \
        unsigned long long a__ = (unsigned long long)(a), b__ = (unsigned long long)(b);       \
        test_checks++;                                                                         \
        if (a__ != b__) {                                                                      \
            test_failures++;                                                                   \
            fprintf(stderr, "%s:%d: CHECK_EQ failed: %s == %s (0x%llx != 0x%llx)\n", __FILE__, \
                    __LINE__, #a, #b, a__, b__);                                               \
        }                                                                                      \
    } while (0)

#define RUN_TEST(fn)                                                         \
    do {                                                                     \
        int before__ = test_failures;                                        \
        fn();                                                                \
        printf("%s %s\n", test_failures == before__ ? "ok  " : "FAIL", #fn); \
    } while (0)

#define TEST_SKIP(...)                \
    do {                              \
        printf("SKIP: " __VA_ARGS__); \
        printf("\n");                 \
        exit(77);                     \
    } while (0)

static inline int test_finish(void)
{
    printf("%d checks, %d failed\n", test_checks, test_failures);
    return test_failures ? 1 : 0;
}

#endif
