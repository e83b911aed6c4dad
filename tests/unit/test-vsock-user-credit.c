/*
 * Engine unit tests: credit: guest data to the endpoint, when CREDIT_UPDATE
 * goes out, CREDIT_REQUEST, the guest's window towards us, backpressure into
 * the ring and fwd_cnt wrap-around.
 *
 * Copyright (c) 2026 The virtio-vsock-user authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "vsock-user-fixture.h"

static void test_guest_to_host(void)
{
    Fixture f;
    TestConn *tc;
    uint8_t data[3000];

    fx_init(&f);
    tc = fx_connect(&f);
    fill_pattern(data, sizeof(data), 0);
    g_assert_cmpint(fx_send(&f, VIRTIO_VSOCK_OP_RW, 0, 0, data, 1000), ==,
                    VSOCK_TX_OK);
    g_assert_cmpint(fx_send(&f, VIRTIO_VSOCK_OP_RW, 0, 0, data + 1000, 2000),
                    ==, VSOCK_TX_OK);
    g_assert_cmpmem(tc->in->data, tc->in->len, data, sizeof(data));
    /* 3000 < threshold 16 KiB: no CREDIT_UPDATE yet */
    fx_expect_none(&f);
    g_assert_cmpuint(vsock_conn_get_stats(tc->conn)->tx_bytes, ==, 3000);
    g_assert_cmpuint(vsock_engine_get_stats(f.e)->tx_bytes, ==, 3000);
    fx_fini(&f);
}

static void test_credit_update_threshold(void)
{
    Fixture f;
    uint8_t data[4096] = { 0 };
    int i;

    fx_init(&f);
    fx_connect(&f);
    for (i = 0; i < 3; i++) {
        fx_send(&f, VIRTIO_VSOCK_OP_RW, 0, 0, data, 4096);
        fx_expect_none(&f);
    }
    fx_send(&f, VIRTIO_VSOCK_OP_RW, 0, 0, data, 4095);
    fx_expect_none(&f); /* 16383 freed: one short of 16 KiB */
    fx_send(&f, VIRTIO_VSOCK_OP_RW, 0, 0, data, 1);
    fx_expect(&f, VIRTIO_VSOCK_OP_CREDIT_UPDATE, 0, 0, 16384);
    fx_expect_none(&f);
    g_assert_cmpuint(vsock_engine_get_stats(f.e)->credit_updates_sent, ==,
                     1);
    fx_fini(&f);
}

static void test_credit_threshold_small_guest(void)
{
    Fixture f;
    uint8_t data[4096] = { 0 };

    /* a guest buffer of 8 KiB caps the window: update at 4 KiB */
    fx_init(&f);
    g_assert_cmpint(fx_send_full(&f, GUEST, PARENT, GPORT, LPORT,
                                 VIRTIO_VSOCK_TYPE_STREAM,
                                 VIRTIO_VSOCK_OP_REQUEST, 0, 8192, 0, NULL, 0),
                    ==, VSOCK_TX_OK);
    fx_expect(&f, VIRTIO_VSOCK_OP_RESPONSE, 0, 0, 0);
    fx_send_full(&f, GUEST, PARENT, GPORT, LPORT, VIRTIO_VSOCK_TYPE_STREAM,
                 VIRTIO_VSOCK_OP_RW, 0, 8192, 0, data, 4095);
    fx_expect_none(&f);
    fx_send_full(&f, GUEST, PARENT, GPORT, LPORT, VIRTIO_VSOCK_TYPE_STREAM,
                 VIRTIO_VSOCK_OP_RW, 0, 8192, 0, data, 1);
    fx_expect(&f, VIRTIO_VSOCK_OP_CREDIT_UPDATE, 0, 0, 4096);
    fx_fini(&f);
}

/*
 * credit_threshold 0 (the default): CREDIT_UPDATE once less than 64 KiB of
 * the guest's window (the smaller of both buffers) is left, or at half of
 * a window of 128 KiB or less.
 */
static void check_auto_threshold(uint32_t guest_buf, uint32_t expect)
{
    VsockEngineConfig cfg;
    Fixture f;
    uint8_t data[4096] = { 0 };
    uint32_t sent = 0;
    VsockHdr h;

    vsock_engine_config_init(&cfg);
    g_assert_cmpuint(cfg.credit_threshold, ==, 0);
    g_assert_cmpuint(cfg.buf_alloc, ==, 256 * 1024);
    cfg.guest_cid = GUEST;
    cfg.local_cid = PARENT;
    fx_init_cfg(&f, &cfg);
    g_assert_cmpint(
        fx_send_full(&f, GUEST, PARENT, GPORT, LPORT, VIRTIO_VSOCK_TYPE_STREAM,
                     VIRTIO_VSOCK_OP_REQUEST, 0, guest_buf, 0, NULL, 0),
        ==, VSOCK_TX_OK);
    g_assert_cmpint(fx_rx(&f, 4096, &h, NULL), ==, 0);
    g_assert_cmpstr(vsock_op_str(h.op), ==, "RESPONSE");
    while (sent < expect - 1) {
        uint32_t n = MIN(sizeof(data), expect - 1 - sent);

        g_assert_cmpint(fx_send_full(&f, GUEST, PARENT, GPORT, LPORT,
                                     VIRTIO_VSOCK_TYPE_STREAM,
                                     VIRTIO_VSOCK_OP_RW, 0, guest_buf, 0, data,
                                     n),
                        ==, VSOCK_TX_OK);
        sent += n;
        g_assert_false(vsock_engine_rx_pending(f.e));
    }
    /* one byte short so far; this one crosses it */
    fx_send_full(&f, GUEST, PARENT, GPORT, LPORT, VIRTIO_VSOCK_TYPE_STREAM,
                 VIRTIO_VSOCK_OP_RW, 0, guest_buf, 0, data, 1);
    g_assert_cmpint(fx_rx(&f, 4096, &h, NULL), ==, 0);
    g_assert_cmpstr(vsock_op_str(h.op), ==, "CREDIT_UPDATE");
    g_assert_cmpuint(h.fwd_cnt, ==, expect);
    g_assert_cmpuint(h.buf_alloc, ==, 256 * 1024);
    g_assert_false(vsock_engine_rx_pending(f.e));
    fx_fini(&f);
}

static void test_credit_threshold_auto(void)
{
    /* Linux's default buffer: 256 KiB window, update at 192 KiB */
    check_auto_threshold(256 * 1024, 192 * 1024);
    /* a bigger guest buffer: our 256 KiB is the window */
    check_auto_threshold(1024 * 1024, 192 * 1024);
    /* a window of two packets or less: update at half */
    check_auto_threshold(128 * 1024, 64 * 1024);
    check_auto_threshold(8 * 1024, 4 * 1024);
    /* one byte over two packets: window minus one packet */
    check_auto_threshold(128 * 1024 + 1, 64 * 1024 + 1);
}

static void test_credit_request(void)
{
    Fixture f;
    uint8_t data[100] = { 0 };

    fx_init(&f);
    fx_connect(&f);
    fx_send(&f, VIRTIO_VSOCK_OP_RW, 0, 0, data, 100);
    g_assert_cmpint(fx_send(&f, VIRTIO_VSOCK_OP_CREDIT_REQUEST, 0, 0, NULL, 0),
                    ==, VSOCK_TX_OK);
    fx_expect(&f, VIRTIO_VSOCK_OP_CREDIT_UPDATE, 0, 0, 100);
    fx_expect_none(&f);
    /* a second request gets a second answer */
    fx_send(&f, VIRTIO_VSOCK_OP_CREDIT_REQUEST, 0, 0, NULL, 0);
    fx_expect(&f, VIRTIO_VSOCK_OP_CREDIT_UPDATE, 0, 0, 100);
    fx_expect_none(&f);
    fx_fini(&f);
}

static void test_host_to_guest_credit(void)
{
    Fixture f;
    TestConn *tc;
    VsockHdr h;
    g_autofree uint8_t *data = g_malloc(20000);
    g_autofree uint8_t *got = g_malloc(20000);
    size_t total = 0;
    int n;

    fx_init(&f);
    g_assert_cmpint(fx_send_full(&f, GUEST, PARENT, GPORT, LPORT,
                                 VIRTIO_VSOCK_TYPE_STREAM,
                                 VIRTIO_VSOCK_OP_REQUEST, 0, 10000, 0, NULL, 0),
                    ==, VSOCK_TX_OK);
    fx_expect(&f, VIRTIO_VSOCK_OP_RESPONSE, 0, 0, 0);
    tc = g_ptr_array_index(f.tconns, 0);
    fill_pattern(data, 20000, 0);
    tc_push(tc, data, 20000);
    /* the guest's 10000 bytes of credit, in 4 KiB buffers */
    while ((n = fx_rx(&f, 4096, &h, got + total)) > 0) {
        check_hdr(&h, VIRTIO_VSOCK_OP_RW, LPORT, GPORT, n, 0, 0);
        total += n;
    }
    g_assert_cmpuint(total, ==, 10000);
    g_assert_cmpuint(vsock_conn_get_peer_credit(tc->conn), ==, 0);
    fx_expect_none(&f);
    /* the guest read 6000: exactly 6000 more */
    fx_send_full(&f, GUEST, PARENT, GPORT, LPORT, VIRTIO_VSOCK_TYPE_STREAM,
                 VIRTIO_VSOCK_OP_CREDIT_UPDATE, 0, 10000, 6000, NULL, 0);
    n = fx_rx(&f, 65536, &h, got + total);
    g_assert_cmpint(n, ==, 6000);
    total += n;
    fx_expect_none(&f);
    /* the guest shrinks its buffer below what is in flight: no credit */
    fx_send_full(&f, GUEST, PARENT, GPORT, LPORT, VIRTIO_VSOCK_TYPE_STREAM,
                 VIRTIO_VSOCK_OP_CREDIT_UPDATE, 0, 5000, 6000, NULL, 0);
    g_assert_cmpuint(vsock_conn_get_peer_credit(tc->conn), ==, 0);
    fx_expect_none(&f);
    fx_send_full(&f, GUEST, PARENT, GPORT, LPORT, VIRTIO_VSOCK_TYPE_STREAM,
                 VIRTIO_VSOCK_OP_CREDIT_UPDATE, 0, 10000, 16000, NULL, 0);
    while ((n = fx_rx(&f, 4096, &h, got + total)) > 0) {
        total += n;
    }
    g_assert_cmpuint(total, ==, 20000);
    g_assert_cmpmem(got, 20000, data, 20000);
    /* nothing left: the engine stopped asking */
    g_assert_cmpuint(tc->out_pos, ==, 20000);
    fx_expect_none(&f);
    fx_fini(&f);
}

static void test_backpressure_and_overrun(void)
{
    Fixture f;
    TestConn *tc;
    g_autofree uint8_t *data = g_malloc(BUF_ALLOC);

    fx_init(&f);
    f.accept_write_limit = 0; /* endpoint takes nothing */
    tc = fx_connect(&f);
    fill_pattern(data, BUF_ALLOC, 0);
    /* exactly our buf_alloc is fine */
    g_assert_cmpint(fx_send(&f, VIRTIO_VSOCK_OP_RW, 0, 0, data, 60000), ==,
                    VSOCK_TX_OK);
    g_assert_cmpint(fx_send(&f, VIRTIO_VSOCK_OP_RW, 0, 0, data + 60000,
                            BUF_ALLOC - 60000), ==, VSOCK_TX_OK);
    g_assert_cmpuint(vsock_conn_get_buffered(tc->conn), ==, BUF_ALLOC);
    g_assert_cmpuint(vsock_engine_buffered_bytes(f.e), ==, BUF_ALLOC);
    fx_expect_none(&f); /* nothing consumed, no credit to give */
    /* endpoint takes 10000 bytes */
    tc->write_limit = 10000;
    vsock_conn_notify_writable(tc->conn);
    g_assert_cmpuint(tc->in->len, ==, 10000);
    g_assert_cmpuint(vsock_conn_get_buffered(tc->conn), ==,
                     BUF_ALLOC - 10000);
    fx_expect_none(&f); /* 10000 < 16384 */
    tc->write_limit = 10000;
    vsock_conn_notify_writable(tc->conn);
    fx_expect(&f, VIRTIO_VSOCK_OP_CREDIT_UPDATE, 0, 0, 20000);
    /* the guest may send 20000 more, not one byte beyond */
    g_assert_cmpint(fx_send(&f, VIRTIO_VSOCK_OP_RW, 0, 0, data, 20000), ==,
                    VSOCK_TX_OK);
    g_assert_cmpint(fx_send(&f, VIRTIO_VSOCK_OP_RW, 0, 0, data, 1), ==,
                    VSOCK_TX_CREDIT_OVERRUN);
    g_assert_true(tc->closed);
    g_assert_cmpint(tc->reason, ==, VSOCK_CLOSE_PROTOCOL);
    g_assert_cmpuint(vsock_engine_buffered_bytes(f.e), ==, 0);
    fx_expect(&f, VIRTIO_VSOCK_OP_RST, 0, 0, 20000);
    fx_expect_none(&f);
    g_assert_cmpuint(vsock_engine_conn_count(f.e), ==, 0);
    g_assert_cmpuint(tc->in->len, ==, 20000);
    g_assert_cmpmem(tc->in->data, 20000, data, 20000);
    fx_fini(&f);
}

static void test_drain_order(void)
{
    Fixture f;
    TestConn *tc;
    uint8_t data[30000];

    /* partial takes keep order: buffered bytes go before new ones */
    fx_init(&f);
    f.accept_write_limit = 700;
    tc = fx_connect(&f);
    fill_pattern(data, sizeof(data), 0);
    fx_send(&f, VIRTIO_VSOCK_OP_RW, 0, 0, data, 10000);
    fx_send(&f, VIRTIO_VSOCK_OP_RW, 0, 0, data + 10000, 10000);
    fx_send(&f, VIRTIO_VSOCK_OP_RW, 0, 0, data + 20000, 10000);
    g_assert_cmpuint(tc->in->len, ==, 700);
    while (tc->in->len < sizeof(data)) {
        guint before = tc->in->len;

        tc->write_limit = 700;
        vsock_conn_notify_writable(tc->conn);
        g_assert_cmpuint(tc->in->len, >, before);
    }
    g_assert_cmpmem(tc->in->data, tc->in->len, data, sizeof(data));
    g_assert_cmpuint(vsock_engine_buffered_bytes(f.e), ==, 0);
    fx_expect(&f, VIRTIO_VSOCK_OP_CREDIT_UPDATE, 0, 0, 30000);
    fx_fini(&f);
}

static void test_fwd_cnt_wrap(void)
{
    Fixture f;
    TestConn *tc;
    g_autofree uint8_t *data = g_malloc0(65536);
    g_autofree uint8_t *rx = g_malloc(65536 + VSOCK_HDR_SIZE);
    uint64_t total = (1ULL << 32) + 3 * 65536 + 123;
    uint64_t sent = 0, recvd = 0;
    uint32_t guest_fwd = 0;

    fx_init(&f);
    tc = fx_connect(&f);
    /* guest -> host across 2^32: fwd_cnt must wrap, never stall */
    while (sent < total) {
        uint32_t n = MIN(total - sent, 32768);
        VsockHdr h;

        g_assert_cmpint(fx_send(&f, VIRTIO_VSOCK_OP_RW, 0, 0, data, n), ==,
                        VSOCK_TX_OK);
        sent += n;
        while (fx_rx(&f, 4096, &h, NULL) >= 0) {
            g_assert_cmpuint(h.op, ==, VIRTIO_VSOCK_OP_CREDIT_UPDATE);
            g_assert_cmpuint(h.fwd_cnt, ==, (uint32_t)sent);
        }
        g_byte_array_set_size(tc->in, 0);
    }
    g_assert_cmpuint(vsock_conn_get_stats(tc->conn)->tx_bytes, ==, total);
    fx_send(&f, VIRTIO_VSOCK_OP_CREDIT_REQUEST, 0, 0, NULL, 0);
    fx_expect(&f, VIRTIO_VSOCK_OP_CREDIT_UPDATE, 0, 0, (uint32_t)total);

    /* host -> guest across 2^32: credit with wrapped counters */
    g_byte_array_set_size(tc->out, 65536);
    vsock_conn_notify_readable(tc->conn);
    while (recvd < total) {
        struct iovec iov = { rx, 65536 + VSOCK_HDR_SIZE };
        size_t len;
        VsockHdr h;

        if (tc->out_pos == tc->out->len) {
            tc->out_pos = 0;
            vsock_conn_notify_readable(tc->conn);
        }
        if (!vsock_engine_fill_rx(f.e, &iov, 1, &len)) {
            /* out of credit: the guest reads everything */
            g_assert_cmpuint(vsock_conn_get_peer_credit(tc->conn), ==, 0);
            guest_fwd = (uint32_t)recvd;
            fx_send(&f, VIRTIO_VSOCK_OP_CREDIT_UPDATE, 0, guest_fwd, NULL, 0);
            continue;
        }
        vsock_hdr_decode(&h, rx);
        g_assert_cmpuint(h.op, ==, VIRTIO_VSOCK_OP_RW);
        g_assert_cmpuint(h.len, <=, GUEST_BUF - (uint32_t)(recvd -
                                                           guest_fwd));
        recvd += h.len;
    }
    /* whole packets: the last one may go past total */
    g_assert_cmpuint(recvd, ==, vsock_conn_get_stats(tc->conn)->rx_bytes);
    g_assert_cmpuint(recvd - total, <, 65536);
    g_assert_cmpuint(recvd % 65536, ==, 0);
    fx_fini(&f);
}

void vsock_test_register_credit(void)
{
    g_test_add_func("/vsock/data/guest-to-host", test_guest_to_host);
    g_test_add_func("/vsock/credit/update-threshold",
                    test_credit_update_threshold);
    g_test_add_func("/vsock/credit/threshold-small-guest",
                    test_credit_threshold_small_guest);
    g_test_add_func("/vsock/credit/threshold-auto",
                    test_credit_threshold_auto);
    g_test_add_func("/vsock/credit/request", test_credit_request);
    g_test_add_func("/vsock/credit/host-to-guest",
                    test_host_to_guest_credit);
    g_test_add_func("/vsock/credit/backpressure-overrun",
                    test_backpressure_and_overrun);
    g_test_add_func("/vsock/credit/drain-order", test_drain_order);
    g_test_add_func("/vsock/credit/fwd-cnt-wrap", test_fwd_cnt_wrap);
}
