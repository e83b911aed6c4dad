/*
 * Engine unit tests: the Nitro heartbeat endpoint on the engine.
 *
 * Copyright (c) 2026 The virtio-vsock-user authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "hw/virtio/vsock-user/vsock-user-heartbeat.h"
#include "vsock-user-fixture.h"

static void test_heartbeat(void)
{
    Fixture f;
    VsockHeartbeat *hb;
    uint8_t byte = VSOCK_HEARTBEAT_BYTE;
    int i;

    fx_init(&f);
    hb = vsock_heartbeat_new(f.e, PARENT, VSOCK_HEARTBEAT_PORT);
    g_assert_nonnull(hb);
    g_assert_null(vsock_heartbeat_new(f.e, PARENT, VSOCK_HEARTBEAT_PORT));
    g_assert_cmpint(vsock_heartbeat_get_last_byte(hb), ==, -1);
    for (i = 0; i < 200; i++) {
        uint32_t port = 40000 + (i % 3);
        VsockHdr h;
        uint8_t p[8];

#define HB_SEND(op, fl, data, len) \
        fx_send_full(&f, GUEST, PARENT, port, VSOCK_HEARTBEAT_PORT, \
                     VIRTIO_VSOCK_TYPE_STREAM, op, fl, GUEST_BUF, 0, data, len)
#define HB_EXPECT(op_, len_, fl_, fwd_) \
        do { \
            g_assert_cmpint(fx_rx(&f, 4096, &h, p), ==, len_); \
            g_assert_cmpuint(h.op, ==, op_); \
            g_assert_cmpuint(h.src_cid, ==, PARENT); \
            g_assert_cmpuint(h.dst_cid, ==, GUEST); \
            g_assert_cmpuint(h.src_port, ==, VSOCK_HEARTBEAT_PORT); \
            g_assert_cmpuint(h.dst_port, ==, port); \
            g_assert_cmpuint(h.type, ==, VIRTIO_VSOCK_TYPE_STREAM); \
            g_assert_cmpuint(h.flags, ==, fl_); \
            g_assert_cmpuint(h.buf_alloc, ==, BUF_ALLOC); \
            g_assert_cmpuint(h.fwd_cnt, ==, fwd_); \
        } while (0)

        /* connect(3, 9000) */
        g_assert_cmpint(HB_SEND(VIRTIO_VSOCK_OP_REQUEST, 0, NULL, 0), ==,
                        VSOCK_TX_OK);
        HB_EXPECT(VIRTIO_VSOCK_OP_RESPONSE, 0, 0, 0);
        fx_expect_none(&f);
        /* write 0xB7 -> 0xB7 comes back, then the parent closes */
        byte = i == 7 ? 0x42 : VSOCK_HEARTBEAT_BYTE;
        g_assert_cmpint(HB_SEND(VIRTIO_VSOCK_OP_RW, 0, &byte, 1), ==,
                        VSOCK_TX_OK);
        HB_EXPECT(VIRTIO_VSOCK_OP_RW, 1, 0, 1);
        g_assert_cmpuint(p[0], ==, byte);
        HB_EXPECT(VIRTIO_VSOCK_OP_SHUTDOWN, 0, VSOCK_SHUTDOWN_BOTH, 1);
        fx_expect_none(&f);
        /* close(): SHUTDOWN(3) -> RST at once */
        g_assert_cmpint(HB_SEND(VIRTIO_VSOCK_OP_SHUTDOWN, VSOCK_SHUTDOWN_BOTH,
                                NULL, 0), ==, VSOCK_TX_OK);
        HB_EXPECT(VIRTIO_VSOCK_OP_RST, 0, 0, 1);
        fx_expect_none(&f);
        g_assert_cmpuint(vsock_engine_conn_count(f.e), ==, 0);
        g_assert_cmpint(vsock_engine_next_deadline(f.e), ==, INT64_MAX);
#undef HB_SEND
#undef HB_EXPECT
    }
    g_assert_cmpuint(vsock_heartbeat_get_count(hb), ==, 200);
    g_assert_cmpint(vsock_heartbeat_get_last_byte(hb), ==,
                    VSOCK_HEARTBEAT_BYTE);
    /* a guest that connects and leaves without writing */
    fx_send_full(&f, GUEST, PARENT, 1, VSOCK_HEARTBEAT_PORT,
                 VIRTIO_VSOCK_TYPE_STREAM, VIRTIO_VSOCK_OP_REQUEST, 0,
                 GUEST_BUF, 0, NULL, 0);
    fx_send_full(&f, GUEST, PARENT, 1, VSOCK_HEARTBEAT_PORT,
                 VIRTIO_VSOCK_TYPE_STREAM, VIRTIO_VSOCK_OP_RST, 0, GUEST_BUF, 0,
                 NULL, 0);
    g_assert_cmpuint(vsock_engine_conn_count(f.e), ==, 0);
    /* freeing the heartbeat with a connection open */
    fx_send_full(&f, GUEST, PARENT, 2, VSOCK_HEARTBEAT_PORT,
                 VIRTIO_VSOCK_TYPE_STREAM, VIRTIO_VSOCK_OP_REQUEST, 0,
                 GUEST_BUF, 0, NULL, 0);
    vsock_heartbeat_free(hb);
    fx_fini(&f);
}

static void test_heartbeat_guest_rst(void)
{
    Fixture f;
    VsockHeartbeat *hb;
    uint8_t byte = VSOCK_HEARTBEAT_BYTE;
    VsockHdr h;

    /* the guest answers our SHUTDOWN with RST itself */
    fx_init(&f);
    hb = vsock_heartbeat_new(f.e, PARENT, VSOCK_HEARTBEAT_PORT);
    fx_send_full(&f, GUEST, PARENT, 5, VSOCK_HEARTBEAT_PORT,
                 VIRTIO_VSOCK_TYPE_STREAM, VIRTIO_VSOCK_OP_REQUEST, 0,
                 GUEST_BUF, 0, NULL, 0);
    fx_send_full(&f, GUEST, PARENT, 5, VSOCK_HEARTBEAT_PORT,
                 VIRTIO_VSOCK_TYPE_STREAM, VIRTIO_VSOCK_OP_RW, 0, GUEST_BUF, 0,
                 &byte, 1);
    g_assert_cmpint(fx_rx(&f, 4096, &h, NULL), ==, 0);
    g_assert_cmpuint(h.op, ==, VIRTIO_VSOCK_OP_RESPONSE);
    g_assert_cmpint(fx_rx(&f, 4096, &h, NULL), ==, 1);
    g_assert_cmpint(fx_rx(&f, 4096, &h, NULL), ==, 0);
    g_assert_cmpuint(h.op, ==, VIRTIO_VSOCK_OP_SHUTDOWN);
    fx_send_full(&f, GUEST, PARENT, 5, VSOCK_HEARTBEAT_PORT,
                 VIRTIO_VSOCK_TYPE_STREAM, VIRTIO_VSOCK_OP_RST, 0, GUEST_BUF, 1,
                 NULL, 0);
    fx_expect_none(&f);
    g_assert_cmpuint(vsock_engine_conn_count(f.e), ==, 0);
    g_assert_cmpuint(vsock_heartbeat_get_count(hb), ==, 1);
    vsock_heartbeat_free(hb);
    fx_fini(&f);
}

void vsock_test_register_heartbeat(void)
{
    g_test_add_func("/vsock/heartbeat/200", test_heartbeat);
    g_test_add_func("/vsock/heartbeat/guest-rst", test_heartbeat_guest_rst);
}
