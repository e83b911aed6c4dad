/*
 * Engine unit tests: rx scheduling: buffer layouts, coalescing, fairness
 * between connections, credit updates among data, RST rules and the RST
 * queue.
 *
 * Copyright (c) 2026 The virtio-vsock-user authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "vsock-user-fixture.h"

static void test_rx_layouts(void)
{
    Fixture f;
    TestConn *tc;
    g_autofree uint8_t *data = g_malloc(20000);
    uint8_t hdr[VSOCK_HDR_SIZE], page[4096], p1[10], p2[30];
    struct iovec two[2] = { { hdr, sizeof(hdr) }, { page, sizeof(page) } };
    struct iovec split[4] = {
        { p1, 10 }, { p2, 30 }, { hdr, 4 + 5 }, { page, 4096 },
    };
    uint8_t raw[VSOCK_HDR_SIZE];
    size_t len;
    VsockHdr h;

    fx_init(&f);
    tc = fx_connect(&f);
    fill_pattern(data, 20000, 0);
    tc_push(tc, data, 20000);

    /* one 4096-byte buffer: 4052 bytes of payload */
    {
        uint8_t one[4096];
        struct iovec iov = { one, sizeof(one) };

        g_assert_true(vsock_engine_fill_rx(f.e, &iov, 1, &len));
        g_assert_cmpuint(len, ==, 4096);
        vsock_hdr_decode(&h, one);
        check_hdr(&h, VIRTIO_VSOCK_OP_RW, LPORT, GPORT, 4052, 0, 0);
        g_assert_cmpmem(one + VSOCK_HDR_SIZE, 4052, data, 4052);
    }
    /* 44 + 4096 chain: a full page of payload */
    g_assert_true(vsock_engine_fill_rx(f.e, two, 2, &len));
    g_assert_cmpuint(len, ==, 44 + 4096);
    vsock_hdr_decode(&h, hdr);
    check_hdr(&h, VIRTIO_VSOCK_OP_RW, LPORT, GPORT, 4096, 0, 0);
    g_assert_cmpmem(page, 4096, data + 4052, 4096);
    /* header split over three buffers, payload over two */
    g_assert_true(vsock_engine_fill_rx(f.e, split, 4, &len));
    g_assert_cmpuint(len, ==, 44 + 4096 + 5);
    memcpy(raw, p1, 10);
    memcpy(raw + 10, p2, 30);
    memcpy(raw + 40, hdr, 4);
    vsock_hdr_decode(&h, raw);
    check_hdr(&h, VIRTIO_VSOCK_OP_RW, LPORT, GPORT, 4101, 0, 0);
    g_assert_cmpmem(hdr + 4, 5, data + 8148, 5);
    g_assert_cmpmem(page, 4096, data + 8153, 4096);
    /* too small for a header: nothing written, nothing lost */
    {
        uint8_t tiny[43];
        struct iovec iov = { tiny, sizeof(tiny) };

        g_assert_false(vsock_engine_fill_rx(f.e, &iov, 1, &len));
        g_assert_cmpuint(len, ==, 0);
    }
    /* exactly a header: cannot carry data, data stays pending */
    {
        uint8_t only[VSOCK_HDR_SIZE];
        struct iovec iov = { only, sizeof(only) };

        g_assert_false(vsock_engine_fill_rx(f.e, &iov, 1, &len));
        g_assert_true(vsock_engine_rx_pending(f.e));
    }
    {
        g_autofree uint8_t *rest = g_malloc(65536);

        g_assert_cmpint(fx_rx(&f, 65536, &h, rest), ==, 20000 - 12249);
        g_assert_cmpmem(rest, 20000 - 12249, data + 12249, 20000 - 12249);
    }
    fx_expect_none(&f);
    fx_fini(&f);
}

static void test_coalesce(void)
{
    Fixture f;
    TestConn *tc;
    VsockHdr h;
    uint8_t p[4096];
    g_autofree uint8_t *data = g_malloc(10000);
    size_t off = 0;
    int i, n;

    fx_init(&f);
    tc = fx_connect(&f);
    fill_pattern(data, 10000, 0);
    /* 1000 writes of 10 bytes */
    for (i = 0; i < 1000; i++) {
        tc_push(tc, data + i * 10, 10);
    }
    n = fx_rx(&f, 4096, &h, p);
    g_assert_cmpint(n, ==, 4052);
    g_assert_cmpmem(p, n, data, n);
    off += n;
    n = fx_rx(&f, 4096, &h, p);
    g_assert_cmpint(n, ==, 4052);
    g_assert_cmpmem(p, n, data + off, n);
    off += n;
    n = fx_rx(&f, 4096, &h, p);
    g_assert_cmpint(n, ==, 10000 - 8104);
    g_assert_cmpmem(p, n, data + off, n);
    fx_expect_none(&f);
    g_assert_cmpuint(vsock_engine_get_stats(f.e)->rx_pkts, ==, 4);
    fx_fini(&f);
}

static void test_fairness(void)
{
    Fixture f;
    TestConn *a, *b;
    g_autofree uint8_t *data = g_malloc0(40000);
    unsigned from_a = 0, from_b = 0;
    VsockHdr h;
    int i;

    fx_init(&f);
    a = fx_connect(&f);
    g_assert_cmpint(fx_send_full(&f, GUEST, PARENT, GPORT + 1, LPORT,
                                 VIRTIO_VSOCK_TYPE_STREAM,
                                 VIRTIO_VSOCK_OP_REQUEST, 0, GUEST_BUF, 0, NULL,
                                 0),
                    ==, VSOCK_TX_OK);
    g_assert_cmpint(fx_rx(&f, 4096, &h, NULL), ==, 0);
    b = g_ptr_array_index(f.tconns, 1);
    tc_push(a, data, 40000);
    tc_push(b, data, 40000);
    for (i = 0; i < 8; i++) {
        g_assert_cmpint(fx_rx(&f, 4096, &h, NULL), ==, 4052);
        /* strictly alternating */
        g_assert_cmpuint(h.dst_port, ==, i % 2 ? GPORT + 1 : GPORT);
        if (h.dst_port == GPORT) {
            from_a++;
        } else {
            from_b++;
        }
    }
    g_assert_cmpuint(from_a, ==, 4);
    g_assert_cmpuint(from_b, ==, 4);
    fx_fini(&f);
}

static void test_credit_not_starved(void)
{
    Fixture f;
    TestConn *a, *b;
    g_autofree uint8_t *data = g_malloc0(200000);
    VsockHdr h;
    bool seen = false;
    int i;

    /* a busy sender must not starve b's CREDIT_UPDATE */
    fx_init(&f);
    a = fx_connect(&f);
    fx_send_full(&f, GUEST, PARENT, GPORT + 1, LPORT, VIRTIO_VSOCK_TYPE_STREAM,
                 VIRTIO_VSOCK_OP_REQUEST, 0, GUEST_BUF, 0, NULL, 0);
    fx_rx(&f, 4096, &h, NULL);
    b = g_ptr_array_index(f.tconns, 1);
    g_assert_nonnull(b);
    tc_push(a, data, 200000);
    fx_send_full(&f, GUEST, PARENT, GPORT + 1, LPORT, VIRTIO_VSOCK_TYPE_STREAM,
                 VIRTIO_VSOCK_OP_CREDIT_REQUEST, 0, GUEST_BUF, 0, NULL, 0);
    for (i = 0; i < 3; i++) {
        fx_rx(&f, 4096, &h, NULL);
        if (h.op == VIRTIO_VSOCK_OP_CREDIT_UPDATE) {
            g_assert_cmpuint(h.dst_port, ==, GPORT + 1);
            seen = true;
        }
    }
    g_assert_true(seen);
    fx_fini(&f);
}

static void test_rst_rules(void)
{
    Fixture f;
    TestConn *tc;
    const VsockEngineStats *st;

    fx_init(&f);
    st = vsock_engine_get_stats(f.e);
    /* orphan RST: no reply */
    g_assert_cmpint(fx_send(&f, VIRTIO_VSOCK_OP_RST, 0, 0, NULL, 0), ==,
                    VSOCK_TX_OK);
    fx_expect_none(&f);
    /* RST with a bad type or to a foreign CID: still no reply */
    fx_send_full(&f, GUEST, 77, GPORT, LPORT, 9, VIRTIO_VSOCK_OP_RST, 0, 0, 0,
                 NULL, 0);
    fx_expect_none(&f);
    g_assert_cmpuint(st->rst_received, ==, 2);
    /* packet for an unknown connection */
    g_assert_cmpint(fx_send(&f, VIRTIO_VSOCK_OP_RW, 0, 0, "x", 1), ==,
                    VSOCK_TX_NO_CONN);
    fx_expect_orphan_rst(&f, PARENT, LPORT, GPORT, VIRTIO_VSOCK_TYPE_STREAM);
    g_assert_cmpint(fx_send(&f, VIRTIO_VSOCK_OP_SHUTDOWN, 3, 0, NULL, 0), ==,
                    VSOCK_TX_NO_CONN);
    fx_expect_orphan_rst(&f, PARENT, LPORT, GPORT, VIRTIO_VSOCK_TYPE_STREAM);
    /* unknown op without connection */
    g_assert_cmpint(fx_send(&f, 42, 0, 0, NULL, 0), ==, VSOCK_TX_BAD_OP);
    fx_expect_orphan_rst(&f, PARENT, LPORT, GPORT, VIRTIO_VSOCK_TYPE_STREAM);
    g_assert_cmpint(fx_send(&f, VIRTIO_VSOCK_OP_INVALID, 0, 0, NULL, 0), ==,
                    VSOCK_TX_BAD_OP);
    fx_expect_orphan_rst(&f, PARENT, LPORT, GPORT, VIRTIO_VSOCK_TYPE_STREAM);
    /* unknown type */
    g_assert_cmpint(fx_send_full(&f, GUEST, PARENT, GPORT, LPORT, 3,
                                 VIRTIO_VSOCK_OP_REQUEST, 0, GUEST_BUF, 0, NULL,
                                 0), ==, VSOCK_TX_BAD_TYPE);
    fx_expect_orphan_rst(&f, PARENT, LPORT, GPORT, 3);
    /* dst_cid we do not serve (host, 2) */
    g_assert_cmpint(fx_send_full(&f, GUEST, VSOCK_CID_HOST, GPORT, LPORT,
                                 VIRTIO_VSOCK_TYPE_STREAM,
                                 VIRTIO_VSOCK_OP_REQUEST, 0, GUEST_BUF, 0, NULL,
                                 0),
                    ==, VSOCK_TX_BAD_DST_CID);
    fx_expect_orphan_rst(&f, VSOCK_CID_HOST, LPORT, GPORT,
                         VIRTIO_VSOCK_TYPE_STREAM);
    fx_expect_none(&f);

    /* unknown op on a live connection: RST and gone */
    tc = fx_connect(&f);
    g_assert_cmpint(fx_send(&f, 8, 0, 0, NULL, 0), ==, VSOCK_TX_BAD_OP);
    g_assert_true(tc->closed);
    g_assert_cmpint(tc->reason, ==, VSOCK_CLOSE_PROTOCOL);
    fx_expect(&f, VIRTIO_VSOCK_OP_RST, 0, 0, 0);
    fx_expect_none(&f);
    /* unknown type on a live connection */
    tc = fx_connect(&f);
    g_assert_cmpint(fx_send_full(&f, GUEST, PARENT, GPORT, LPORT, 7,
                                 VIRTIO_VSOCK_OP_RW, 0, GUEST_BUF, 0, "x", 1),
                    ==, VSOCK_TX_BAD_TYPE);
    g_assert_true(tc->closed);
    fx_expect(&f, VIRTIO_VSOCK_OP_RST, 0, 0, 0);
    /* duplicate REQUEST on a live connection */
    tc = fx_connect(&f);
    g_assert_cmpint(fx_send(&f, VIRTIO_VSOCK_OP_REQUEST, 0, 0, NULL, 0), ==,
                    VSOCK_TX_BAD_OP);
    g_assert_true(tc->closed);
    fx_expect(&f, VIRTIO_VSOCK_OP_RST, 0, 0, 0);
    fx_expect_none(&f);
    /* the guest RSTs while our RST is queued: ours is dropped */
    tc = fx_connect(&f);
    fx_send(&f, 9, 0, 0, NULL, 0);
    fx_send(&f, VIRTIO_VSOCK_OP_RST, 0, 0, NULL, 0);
    fx_expect_none(&f);
    g_assert_cmpuint(vsock_engine_conn_count(f.e), ==, 0);
    g_assert_cmpuint(st->results[VSOCK_TX_BAD_OP], ==, 5);
    fx_fini(&f);
}

static void test_orphan_rst_keeps_new_conn(void)
{
    Fixture f;
    TestConn *tc;

    /* a stale RST for another port pair must not hurt a live connection */
    fx_init(&f);
    tc = fx_connect(&f);
    fx_send_full(&f, GUEST, PARENT, GPORT + 5, LPORT, VIRTIO_VSOCK_TYPE_STREAM,
                 VIRTIO_VSOCK_OP_RST, 0, 0, 0, NULL, 0);
    fx_expect_none(&f);
    g_assert_false(tc->closed);
    g_assert_cmpuint(vsock_engine_conn_count(f.e), ==, 1);
    fx_fini(&f);
}

static void test_rst_queue_bound(void)
{
    Fixture f;
    unsigned i, wakeups;

    fx_init(&f); /* max_pending_rst 4 */
    for (i = 0; i < 4; i++) {
        g_assert_true(vsock_engine_tx_ready(f.e));
        g_assert_cmpint(fx_send_full(&f, GUEST, PARENT, 100 + i, 1,
                                     VIRTIO_VSOCK_TYPE_STREAM,
                                     VIRTIO_VSOCK_OP_RW, 0, 0, 0, NULL, 0),
                        ==, VSOCK_TX_NO_CONN);
    }
    g_assert_false(vsock_engine_tx_ready(f.e));
    /* a device that ignores tx_ready loses the reply, not memory */
    g_assert_cmpint(fx_send_full(&f, GUEST, PARENT, 200, 1,
                                 VIRTIO_VSOCK_TYPE_STREAM, VIRTIO_VSOCK_OP_RW,
                                 0, 0, 0, NULL, 0),
                    ==, VSOCK_TX_RST_DROPPED);
    wakeups = f.wakeups;
    fx_expect_orphan_rst(&f, PARENT, 1, 100, VIRTIO_VSOCK_TYPE_STREAM);
    g_assert_true(vsock_engine_tx_ready(f.e));
    g_assert_cmpuint(f.wakeups, ==, wakeups + 1); /* tx may resume */
    for (i = 1; i < 4; i++) {
        fx_expect_orphan_rst(&f, PARENT, 1, 100 + i, VIRTIO_VSOCK_TYPE_STREAM);
    }
    fx_expect_none(&f);
    fx_fini(&f);
}

void vsock_test_register_rx(void)
{
    g_test_add_func("/vsock/rx/layouts", test_rx_layouts);
    g_test_add_func("/vsock/rx/coalesce", test_coalesce);
    g_test_add_func("/vsock/rx/fairness", test_fairness);
    g_test_add_func("/vsock/rx/credit-not-starved",
                    test_credit_not_starved);
    g_test_add_func("/vsock/rst/rules", test_rst_rules);
    g_test_add_func("/vsock/rst/orphan-keeps-conn",
                    test_orphan_rst_keeps_new_conn);
    g_test_add_func("/vsock/rst/queue-bound", test_rst_queue_bound);
}
