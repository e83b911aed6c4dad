/*
 * Unit tests of the hybrid vsock CONNECT line parser
 *
 * The same table as the host qtest's parser case (which feeds each line to
 * a running device's uds-path), here against the parser alone, plus the
 * edges of its length bound.
 *
 * Copyright (c) 2026 The virtio-vsock-user authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "hw/virtio/vsock-user/vsock-user-connect-line.h"

static bool parse(const char *line, uint32_t *port)
{
    return vsock_parse_connect_line(line, strlen(line), port);
}

static void test_bad(void)
{
    static const char *const bad[] = {
        "", "\n", "CONNECT\n", "CONNECT\t\n", "CONNECT x\n", "CONNECTS 5\n",
        "CONNECT -1\n", "CONNECT +1\n", "CONNECT 4294967295\n",
        "CONNECT 4294967296\n", "CONNECT 99999999999999999999\n",
        "CONNECT 1 2\n", "CONNECT 0x10\n", "C\xc3\x96NNECT 5\n",
        "CONNECT 5\xc2\xa0\n", "GET / HTTP/1.0\r\n",
        "CONNECT                                 5\n",
        "CONNECT 1234567890123456789012345678901234567890",
        "CONNECT 5", "CONNECT 5\r", "CONNECT 5\n\n", "CONNECT5\n",
        "\rCONNECT 5\n", "CONNECT 5\r\r\n",
    };

    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        uint32_t port = 12345;

        g_assert_false(parse(bad[i], &port));
        g_assert_cmpuint(port, ==, 12345);      /* untouched */
    }
}

static void test_nul(void)
{
    static const char line[] = "CONNECT 5\0\n";
    uint32_t port = 7;

    g_assert_false(vsock_parse_connect_line(line, sizeof(line) - 1, &port));
    g_assert_cmpuint(port, ==, 7);
}

static void test_good(void)
{
    static const struct {
        const char *line;
        uint32_t port;
    } good[] = {
        { "CONNECT 77\n", 77 },
        { "CoNnEcT 78\n", 78 },
        { "connect   79  \r\n", 79 },
        { "  CONNECT\t80\n", 80 },
        { "CONNECT 4294967294\n", 4294967294u },
        { "CONNECT 0\n", 0 },
        { "CONNECT 0005\n", 5 },
    };

    for (size_t i = 0; i < G_N_ELEMENTS(good); i++) {
        uint32_t port = 12345;

        g_assert_true(parse(good[i].line, &port));
        g_assert_cmpuint(port, ==, good[i].port);
    }
}

/* VSOCK_CONNECT_LINE_MAX bytes, newline included, and not one more */
static void test_length_bound(void)
{
    char line[VSOCK_CONNECT_LINE_MAX + 2];
    size_t pad = VSOCK_CONNECT_LINE_MAX - strlen("CONNECT 9\n");
    uint32_t port = 0;

    memset(line, ' ', sizeof(line));
    memcpy(line + pad, "CONNECT 9\n", strlen("CONNECT 9\n"));
    g_assert_true(vsock_parse_connect_line(line, VSOCK_CONNECT_LINE_MAX,
                                           &port));
    g_assert_cmpuint(port, ==, 9);
    memmove(line + 1, line, VSOCK_CONNECT_LINE_MAX);
    line[0] = ' ';
    port = 0;
    g_assert_false(vsock_parse_connect_line(line, VSOCK_CONNECT_LINE_MAX + 1,
                                            &port));
    g_assert_cmpuint(port, ==, 0);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/vsock/connect-line/bad", test_bad);
    g_test_add_func("/vsock/connect-line/nul", test_nul);
    g_test_add_func("/vsock/connect-line/good", test_good);
    g_test_add_func("/vsock/connect-line/length-bound", test_length_bound);
    return g_test_run();
}
