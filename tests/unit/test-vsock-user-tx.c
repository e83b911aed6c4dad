/*
 * Engine unit tests: malformed guest packets, payload over many buffers,
 * SEQPACKET flags.
 *
 * Copyright (c) 2026 The virtio-vsock-user authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "vsock-user-fixture.h"

static void test_spoofed_src(void)
{
    Fixture f;
    const VsockEngineStats *st;

    fx_init(&f);
    st = vsock_engine_get_stats(f.e);
    g_assert_cmpint(fx_send_full(&f, GUEST + 1, PARENT, GPORT, LPORT,
                                 VIRTIO_VSOCK_TYPE_STREAM,
                                 VIRTIO_VSOCK_OP_REQUEST, 0, GUEST_BUF, 0, NULL,
                                 0),
                    ==, VSOCK_TX_BAD_SRC_CID);
    g_assert_cmpint(fx_send_full(&f, VSOCK_CID_HOST, PARENT, GPORT, LPORT,
                                 VIRTIO_VSOCK_TYPE_STREAM, VIRTIO_VSOCK_OP_RW,
                                 0, GUEST_BUF, 0, "x", 1),
                    ==, VSOCK_TX_BAD_SRC_CID);
    fx_expect_none(&f);
    g_assert_cmpuint(vsock_engine_conn_count(f.e), ==, 0);
    g_assert_cmpuint(st->results[VSOCK_TX_BAD_SRC_CID], ==, 2);
    /* a new guest CID takes effect */
    vsock_engine_set_guest_cid(f.e, GUEST + 1);
    g_assert_cmpint(fx_send_full(&f, GUEST + 1, PARENT, GPORT, LPORT,
                                 VIRTIO_VSOCK_TYPE_STREAM,
                                 VIRTIO_VSOCK_OP_REQUEST, 0, GUEST_BUF, 0, NULL,
                                 0),
                    ==, VSOCK_TX_OK);
    fx_fini(&f);
}

static void test_bad_len(void)
{
    Fixture f;
    TestConn *tc;
    uint8_t buf[VSOCK_HDR_SIZE + 100];
    struct iovec iov[2];
    VsockHdr h = {
        .src_cid = GUEST, .dst_cid = PARENT, .src_port = GPORT,
        .dst_port = LPORT, .len = 101, .type = VIRTIO_VSOCK_TYPE_STREAM,
        .op = VIRTIO_VSOCK_OP_RW, .buf_alloc = GUEST_BUF,
    };
    const VsockEngineStats *st;

    fx_init(&f);
    st = vsock_engine_get_stats(f.e);
    tc = fx_connect(&f);
    memset(buf, 0xaa, sizeof(buf));
    vsock_hdr_encode(&h, buf);
    /* chain of 144 bytes claims 101 bytes of payload */
    iov[0].iov_base = buf;
    iov[0].iov_len = 50;
    iov[1].iov_base = buf + 50;
    iov[1].iov_len = sizeof(buf) - 50;
    g_assert_cmpint(vsock_engine_handle_tx(f.e, iov, 2, sizeof(buf)), ==,
                    VSOCK_TX_BAD_LEN);
    /* total_len shorter than the buffers counts, not the buffers */
    h.len = 100;
    vsock_hdr_encode(&h, buf);
    g_assert_cmpint(vsock_engine_handle_tx(f.e, iov, 2, sizeof(buf) - 1),
                    ==, VSOCK_TX_BAD_LEN);
    /* total_len larger than the buffers is clamped */
    g_assert_cmpint(vsock_engine_handle_tx(f.e, iov, 1, 10000), ==,
                    VSOCK_TX_BAD_LEN);
    g_assert_cmpint(vsock_engine_handle_tx(f.e, iov, 1, 43), ==,
                    VSOCK_TX_SHORT_HDR);
    g_assert_cmpint(vsock_engine_handle_tx(f.e, NULL, 0, 0), ==,
                    VSOCK_TX_SHORT_HDR);
    g_assert_cmpuint(tc->in->len, ==, 0);
    fx_expect_none(&f);
    g_assert_false(tc->closed);
    /* a correct one, header split 50/94 */
    g_assert_cmpint(vsock_engine_handle_tx(f.e, iov, 2, sizeof(buf)), ==,
                    VSOCK_TX_OK);
    g_assert_cmpuint(tc->in->len, ==, 100);
    g_assert_cmpuint(tc->in->data[0], ==, 0xaa);
    g_assert_cmpuint(st->results[VSOCK_TX_BAD_LEN], ==, 3);
    g_assert_cmpuint(st->results[VSOCK_TX_SHORT_HDR], ==, 2);
    fx_fini(&f);
}

static void test_payload_many_buffers(void)
{
    Fixture f;
    TestConn *tc;
    uint8_t buf[VSOCK_HDR_SIZE + 300];
    struct iovec iov[VSOCK_HDR_SIZE + 300];
    VsockHdr h = {
        .src_cid = GUEST, .dst_cid = PARENT, .src_port = GPORT,
        .dst_port = LPORT, .len = 300, .type = VIRTIO_VSOCK_TYPE_STREAM,
        .op = VIRTIO_VSOCK_OP_RW, .buf_alloc = GUEST_BUF,
    };
    unsigned i;

    /* one byte per descriptor, header included */
    fx_init(&f);
    tc = fx_connect(&f);
    vsock_hdr_encode(&h, buf);
    fill_pattern(buf + VSOCK_HDR_SIZE, 300, 0);
    for (i = 0; i < sizeof(buf); i++) {
        iov[i].iov_base = buf + i;
        iov[i].iov_len = 1;
    }
    g_assert_cmpint(vsock_engine_handle_tx(f.e, iov, sizeof(buf),
                                           sizeof(buf)), ==, VSOCK_TX_OK);
    g_assert_cmpmem(tc->in->data, tc->in->len, buf + VSOCK_HDR_SIZE, 300);
    fx_fini(&f);
}

static void test_seqpacket_flags(void)
{
    Fixture f;
    TestConn *tc;
    VsockHdr h;

    /* EOM/EOR survive the codec and reach the endpoint */
    fx_init(&f);
    g_assert_nonnull(vsock_engine_listen(f.e, PARENT, 6000,
                                         VIRTIO_VSOCK_TYPE_SEQPACKET, fx_accept,
                                         &f));
    fx_send_full(&f, GUEST, PARENT, GPORT, 6000, VIRTIO_VSOCK_TYPE_SEQPACKET,
                 VIRTIO_VSOCK_OP_REQUEST, 0, GUEST_BUF, 0, NULL, 0);
    g_assert_cmpint(fx_rx(&f, 4096, &h, NULL), ==, 0);
    g_assert_cmpuint(h.op, ==, VIRTIO_VSOCK_OP_RESPONSE);
    g_assert_cmpuint(h.type, ==, VIRTIO_VSOCK_TYPE_SEQPACKET);
    tc = g_ptr_array_index(f.tconns, 0);
    g_assert_cmpint(vsock_conn_get_type(tc->conn), ==,
                    VIRTIO_VSOCK_TYPE_SEQPACKET);
    g_assert_cmpint(fx_send_full(&f, GUEST, PARENT, GPORT, 6000,
                                 VIRTIO_VSOCK_TYPE_SEQPACKET,
                                 VIRTIO_VSOCK_OP_RW,
                                 VIRTIO_VSOCK_SEQ_EOM | VIRTIO_VSOCK_SEQ_EOR,
                                 GUEST_BUF, 0, "msg", 3),
                    ==, VSOCK_TX_OK);
    g_assert_cmpmem(tc->in->data, tc->in->len, "msg", 3);
    /* a STREAM packet on it is a type mismatch */
    g_assert_cmpint(fx_send_full(&f, GUEST, PARENT, GPORT, 6000,
                                 VIRTIO_VSOCK_TYPE_STREAM, VIRTIO_VSOCK_OP_RW,
                                 0, GUEST_BUF, 0, "x", 1),
                    ==, VSOCK_TX_BAD_TYPE);
    g_assert_true(tc->closed);
    fx_fini(&f);
}

void vsock_test_register_tx(void)
{
    g_test_add_func("/vsock/tx/spoofed-src", test_spoofed_src);
    g_test_add_func("/vsock/tx/bad-len", test_bad_len);
    g_test_add_func("/vsock/tx/payload-many-buffers",
                    test_payload_many_buffers);
    g_test_add_func("/vsock/seqpacket/flags", test_seqpacket_flags);
}
