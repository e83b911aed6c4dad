/*
 * Engine unit tests: the header codec and the scatter-list slices handed to
 * endpoints.
 *
 * Copyright (c) 2026 The virtio-vsock-user authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "vsock-user-fixture.h"

static void assert_hdr_equal(const VsockHdr *a, const VsockHdr *b)
{
    g_assert_cmpuint(a->src_cid, ==, b->src_cid);
    g_assert_cmpuint(a->dst_cid, ==, b->dst_cid);
    g_assert_cmpuint(a->src_port, ==, b->src_port);
    g_assert_cmpuint(a->dst_port, ==, b->dst_port);
    g_assert_cmpuint(a->len, ==, b->len);
    g_assert_cmpuint(a->type, ==, b->type);
    g_assert_cmpuint(a->op, ==, b->op);
    g_assert_cmpuint(a->flags, ==, b->flags);
    g_assert_cmpuint(a->buf_alloc, ==, b->buf_alloc);
    g_assert_cmpuint(a->fwd_cnt, ==, b->fwd_cnt);
}

static void test_codec(void)
{
    static const uint8_t expect[VSOCK_HDR_SIZE] = {
        0x10, 0, 0, 0, 0, 0, 0, 0x01,          /* src_cid */
        0x03, 0, 0, 0, 0, 0, 0, 0,             /* dst_cid */
        0xd2, 0x04, 0, 0,                      /* src_port 1234 */
        0x28, 0x23, 0, 0,                      /* dst_port 9000 */
        0x01, 0x02, 0x03, 0x04,                /* len */
        0x01, 0x00,                            /* type */
        0x05, 0x00,                            /* op */
        0x03, 0, 0, 0x80,                      /* flags */
        0x00, 0x00, 0x04, 0x00,                /* buf_alloc 256 KiB */
        0xff, 0xff, 0xff, 0xff,                /* fwd_cnt */
    };
    VsockHdr h = {
        .src_cid = 0x0100000000000010ULL, .dst_cid = 3,
        .src_port = 1234, .dst_port = 9000, .len = 0x04030201,
        .type = 1, .op = 5, .flags = 0x80000003,
        .buf_alloc = 256 * 1024, .fwd_cnt = 0xffffffff,
    };
    uint8_t raw[VSOCK_HDR_SIZE];
    VsockHdr d;

    vsock_hdr_encode(&h, raw);
    g_assert_cmpmem(raw, sizeof(raw), expect, sizeof(expect));
    vsock_hdr_decode(&d, expect);
    assert_hdr_equal(&d, &h);

    /* every split of the header over three buffers */
    for (size_t a = 0; a <= VSOCK_HDR_SIZE; a++) {
        for (size_t b = a; b <= VSOCK_HDR_SIZE; b++) {
            uint8_t buf[VSOCK_HDR_SIZE + 1] = { 0 };
            struct iovec iov[3] = {
                { buf, a }, { buf + a, b - a },
                { buf + b, VSOCK_HDR_SIZE - b },
            };

            g_assert_true(vsock_hdr_to_iov(&h, iov, 3));
            g_assert_cmpmem(buf, VSOCK_HDR_SIZE, expect, VSOCK_HDR_SIZE);
            memset(&d, 0, sizeof(d));
            g_assert_true(vsock_hdr_from_iov(&d, iov, 3));
            assert_hdr_equal(&d, &h);
        }
    }
    {
        struct iovec iov = { raw, VSOCK_HDR_SIZE - 1 };

        g_assert_false(vsock_hdr_from_iov(&d, &iov, 1));
        g_assert_false(vsock_hdr_to_iov(&h, &iov, 1));
    }
    g_assert_cmpstr(vsock_op_str(VIRTIO_VSOCK_OP_CREDIT_REQUEST), ==,
                    "CREDIT_REQUEST");
    g_assert_cmpstr(vsock_op_str(99), ==, "?");
    g_assert_cmpstr(vsock_tx_result_str(VSOCK_TX_BAD_LEN), !=, "?");
}

/* The slices the engine hands endpoints (iov_copy, or the stand-in). */
static void test_iov_slice(void)
{
    uint8_t a[3], b[5], c[2];
    struct iovec src[3] = { { a, 3 }, { b, 5 }, { c, 2 } };
    struct iovec dst[3];
    size_t covered;
    unsigned n;

    n = iov_copy(dst, 3, src, 3, 2, 7);
    covered = iov_size(dst, n);
    g_assert_cmpuint(n, ==, 3);
    g_assert_cmpuint(covered, ==, 7);
    g_assert_true(dst[0].iov_base == a + 2 && dst[0].iov_len == 1);
    g_assert_true(dst[1].iov_base == b && dst[1].iov_len == 5);
    g_assert_true(dst[2].iov_base == c && dst[2].iov_len == 1);
    n = iov_copy(dst, 3, src, 3, 8, 100);
    covered = iov_size(dst, n);
    g_assert_cmpuint(n, ==, 1);
    g_assert_cmpuint(covered, ==, 2);
    n = iov_copy(dst, 1, src, 3, 0, 10);
    covered = iov_size(dst, n);
    g_assert_cmpuint(n, ==, 1);
    g_assert_cmpuint(covered, ==, 3);
    n = iov_copy(dst, 3, src, 3, 10, 1);
    covered = iov_size(dst, n);
    g_assert_cmpuint(n, ==, 0);
    g_assert_cmpuint(covered, ==, 0);
}

void vsock_test_register_packet(void)
{
    g_test_add_func("/vsock/codec/header", test_codec);
    g_test_add_func("/vsock/codec/iov-slice", test_iov_slice);
}
