/*
 * The engine's fuzz target on fixed inputs
 *
 * The target (tests/qtest/fuzz/vsock-user-engine-fuzz.c) checks its
 * invariants itself and aborts when one fails.  libFuzzer needs clang
 * and QEMU's fuzzing build; this runs the same target in the ordinary
 * build on inputs from seeded generators, so that every make check
 * exercises it and a change that breaks the target's build or one of its
 * invariants on these inputs fails at once.  Input i is the same on every
 * run; --verbose names each input before it runs, so the last one named
 * before an abort is the one that failed.
 *
 * Copyright (c) 2026 The virtio-vsock-user authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "vsock-user-fixture.h"

#define RANDOM_INPUTS 3000
#define FUZZ_MAX_INPUT 4096

/* Input @i: bytes from a generator seeded with @i, of a length it picks. */
static size_t make_input(uint8_t *buf, guint32 i)
{
    GRand *r = g_rand_new_with_seed(i);
    size_t len = g_rand_int_range(r, 1, FUZZ_MAX_INPUT + 1);

    for (size_t j = 0; j < len; j++) {
        buf[j] = g_rand_int(r);
    }
    g_rand_free(r);
    return len;
}

/* Every prefix of a run of one byte value: the edges of each command. */
static void test_uniform(void)
{
    static const uint8_t values[] = { 0x00, 0x01, 0x05, 0x06, 0x7f, 0xff };
    uint8_t buf[256];

    for (size_t v = 0; v < G_N_ELEMENTS(values); v++) {
        memset(buf, values[v], sizeof(buf));
        for (size_t len = 0; len <= sizeof(buf); len += 17) {
            g_assert_cmpint(LLVMFuzzerTestOneInput(buf, len), ==, 0);
        }
    }
}

static void test_random(void)
{
    g_autofree uint8_t *buf = g_malloc(FUZZ_MAX_INPUT);

    for (guint32 i = 0; i < RANDOM_INPUTS; i++) {
        size_t len = make_input(buf, i);

        if (g_test_verbose()) {
            g_test_message("input %u, %zu bytes", i, len);
        }
        g_assert_cmpint(LLVMFuzzerTestOneInput(buf, len), ==, 0);
    }
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/vsock-user/engine-fuzz/uniform", test_uniform);
    g_test_add_func("/vsock-user/engine-fuzz/random", test_random);
    return g_test_run();
}
