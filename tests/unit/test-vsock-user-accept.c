/*
 * Engine unit tests: fallback listeners and deferred accept.
 *
 * Copyright (c) 2026 The virtio-vsock-user authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "vsock-user-fixture.h"

static void test_fallback_listener(void)
{
    Fixture f;
    VsockListener *any, *seq, *own;
    TestConn *tc;
    const VsockEngineStats *st;

    fx_init(&f); /* exact listener on LPORT */
    st = vsock_engine_get_stats(f.e);
    own = vsock_engine_listen(f.e, PARENT, 9000, VIRTIO_VSOCK_TYPE_STREAM,
                              fx_accept, &f);
    g_assert_nonnull(own);
    any = vsock_engine_listen(f.e, PARENT, VSOCK_PORT_ANY,
                              VIRTIO_VSOCK_TYPE_STREAM, fx_accept, &f);
    g_assert_nonnull(any);
    /* one fallback per CID, and only on local CIDs */
    g_assert_null(vsock_engine_listen(f.e, PARENT, VSOCK_PORT_ANY,
                                      VIRTIO_VSOCK_TYPE_STREAM, fx_accept, &f));
    g_assert_null(vsock_engine_listen(f.e, PARENT, VSOCK_PORT_ANY,
                                      VIRTIO_VSOCK_TYPE_SEQPACKET, fx_accept,
                                      &f));
    g_assert_null(vsock_engine_listen(f.e, VSOCK_CID_HOST, VSOCK_PORT_ANY,
                                      VIRTIO_VSOCK_TYPE_STREAM, fx_accept, &f));

    /* a port without a listener of its own: the fallback */
    g_assert_cmpint(
        fx_send_to(&f, GPORT, 6001, VIRTIO_VSOCK_OP_REQUEST, NULL, 0), ==,
        VSOCK_TX_OK);
    fx_expect_on(&f, 6001, GPORT, VIRTIO_VSOCK_OP_RESPONSE, 0, 0, 0, NULL);
    fx_expect_none(&f);
    g_assert_cmpuint(f.tconns->len, ==, 1);
    tc = g_ptr_array_index(f.tconns, 0);
    g_assert_true(tc->listener == any);
    g_assert_cmpuint(vsock_conn_get_local_port(tc->conn), ==, 6001);
    g_assert_cmpint(fx_send_to(&f, GPORT, 6001, VIRTIO_VSOCK_OP_RW, "ab", 2),
                    ==, VSOCK_TX_OK);
    g_assert_cmpmem(tc->in->data, tc->in->len, "ab", 2);

    /* the exact listener keeps precedence */
    tc = fx_connect(&f);
    g_assert_true(tc->listener != any);
    g_assert_cmpuint(vsock_conn_get_local_port(tc->conn), ==, LPORT);

    /* and so does another port's own: the fallback never hears of it */
    g_assert_cmpint(fx_send_to(&f, GPORT, 9000, VIRTIO_VSOCK_OP_REQUEST,
                               NULL, 0), ==, VSOCK_TX_OK);
    fx_expect_on(&f, 9000, GPORT, VIRTIO_VSOCK_OP_RESPONSE, 0, 0, 0, NULL);
    fx_expect_none(&f);
    g_assert_cmpuint(f.tconns->len, ==, 3);
    tc = g_ptr_array_index(f.tconns, 2);
    g_assert_true(tc->listener == own);
    g_assert_cmpuint(vsock_engine_conn_count(f.e), ==, 3);

    /* a port's own listener decides even for another type */
    seq = vsock_engine_listen(f.e, PARENT, 6000, VIRTIO_VSOCK_TYPE_SEQPACKET,
                              fx_accept, &f);
    g_assert_nonnull(seq);
    g_assert_cmpint(
        fx_send_to(&f, GPORT, 6000, VIRTIO_VSOCK_OP_REQUEST, NULL, 0), ==,
        VSOCK_TX_NO_LISTENER);
    fx_expect_orphan_rst(&f, PARENT, 6000, GPORT, VIRTIO_VSOCK_TYPE_STREAM);
    /* the fallback is STREAM only */
    g_assert_cmpint(fx_send_full(&f, GUEST, PARENT, GPORT, 6002,
                                 VIRTIO_VSOCK_TYPE_SEQPACKET,
                                 VIRTIO_VSOCK_OP_REQUEST, 0, GUEST_BUF, 0, NULL,
                                 0),
                    ==, VSOCK_TX_NO_LISTENER);
    fx_expect_orphan_rst(&f, PARENT, 6002, GPORT, VIRTIO_VSOCK_TYPE_SEQPACKET);
    /* port 0xffffffff is nobody's */
    g_assert_cmpint(
        fx_send_to(&f, GPORT, VSOCK_PORT_ANY, VIRTIO_VSOCK_OP_REQUEST, NULL, 0),
        ==, VSOCK_TX_NO_LISTENER);
    fx_expect_orphan_rst(&f, PARENT, VSOCK_PORT_ANY, GPORT,
                         VIRTIO_VSOCK_TYPE_STREAM);
    /* the fallback refuses like any listener */
    f.refuse = true;
    g_assert_cmpint(
        fx_send_to(&f, GPORT, 6003, VIRTIO_VSOCK_OP_REQUEST, NULL, 0), ==,
        VSOCK_TX_NO_LISTENER);
    fx_expect_orphan_rst(&f, PARENT, 6003, GPORT, VIRTIO_VSOCK_TYPE_STREAM);
    f.refuse = false;
    fx_expect_none(&f);
    g_assert_cmpuint(st->conns_refused, ==, 4);

    /* host-initiated connections do not care about the fallback */
    tc = tc_new(&f);
    tc->conn = vsock_engine_connect(f.e, PARENT, 7777, 7000,
                                    VIRTIO_VSOCK_TYPE_STREAM, &tc_ops, tc);
    g_assert_nonnull(tc->conn);
    fx_expect_on(&f, 7777, 7000, VIRTIO_VSOCK_OP_REQUEST, 0, 0, 0, NULL);

    /* without the fallback the port is refused; its connection stays */
    vsock_listener_free(any);
    g_assert_cmpint(
        fx_send_to(&f, GPORT + 1, 6001, VIRTIO_VSOCK_OP_REQUEST, NULL, 0), ==,
        VSOCK_TX_NO_LISTENER);
    fx_expect_orphan_rst(&f, PARENT, 6001, GPORT + 1, VIRTIO_VSOCK_TYPE_STREAM);
    g_assert_cmpint(fx_send_to(&f, GPORT, 6001, VIRTIO_VSOCK_OP_RW, "c", 1), ==,
                    VSOCK_TX_OK);
    tc = g_ptr_array_index(f.tconns, 0);
    g_assert_cmpmem(tc->in->data, tc->in->len, "abc", 3);
    /* and it can be registered again */
    any = vsock_engine_listen(f.e, PARENT, VSOCK_PORT_ANY,
                              VIRTIO_VSOCK_TYPE_STREAM, fx_accept, &f);
    g_assert_nonnull(any);
    vsock_listener_free(seq);
    vsock_listener_free(own);
    fx_fini(&f);
}

static void test_defer_accept(void)
{
    Fixture f;
    TestConn *tc;
    const VsockEngineStats *st;
    uint8_t p[16];

    fx_init(&f);
    st = vsock_engine_get_stats(f.e);
    tc = fx_connect_deferred(&f);
    g_assert_cmpuint(vsock_engine_conn_count(f.e), ==, 1);
    g_assert_cmpuint(st->conns_opened, ==, 0);
    g_assert_cmpint(vsock_engine_next_deadline(f.e), ==, f.now + 2 * NS);
    g_assert_cmpuint(f.state_changes, ==, 0);
    /* data made readable while pending waits for the RESPONSE */
    tc_push(tc, "early", 5);
    fx_expect_none(&f);
    g_assert_cmpuint(tc->reads, ==, 0);
    f.now += NS;
    vsock_engine_run_timers(f.e);
    fx_expect_none(&f);

    f.wakeups = 0;
    vsock_conn_accept(tc->conn);
    g_assert_cmpuint(f.wakeups, ==, 1);
    g_assert_cmpint(vsock_conn_get_state(tc->conn), ==,
                    VSOCK_CONN_ESTABLISHED);
    g_assert_cmpuint(f.state_changes, ==, 1); /* accepting -> established */
    g_assert_cmpuint(st->conns_opened, ==, 1);
    g_assert_cmpint(vsock_engine_next_deadline(f.e), ==, INT64_MAX);
    fx_expect(&f, VIRTIO_VSOCK_OP_RESPONSE, 0, 0, 0);
    g_assert_cmpint(fx_rx(&f, 4096, &(VsockHdr){ 0 }, p), ==, 5);
    g_assert_cmpmem(p, 5, "early", 5);
    fx_expect_none(&f);
    /* now data flows both ways */
    g_assert_cmpint(fx_send(&f, VIRTIO_VSOCK_OP_RW, 0, 5, "hi", 2), ==,
                    VSOCK_TX_OK);
    g_assert_cmpmem(tc->in->data, tc->in->len, "hi", 2);
    tc_push(tc, "yo", 2);
    fx_expect(&f, VIRTIO_VSOCK_OP_RW, 2, 0, 2);
    fx_expect_none(&f);
    /* accepting again, or late, does nothing; no timeout any more */
    vsock_conn_accept(tc->conn);
    f.now += 5 * NS;
    vsock_engine_run_timers(f.e);
    fx_expect_none(&f);
    g_assert_false(tc->closed);
    g_assert_cmpuint(st->conns_refused, ==, 0);

    /* accept from inside the callback, then DEFER: accepted at once */
    f.accept_in_cb = true;
    f.defer = true;
    g_assert_cmpint(
        fx_send_to(&f, GPORT + 1, LPORT, VIRTIO_VSOCK_OP_REQUEST, NULL, 0), ==,
        VSOCK_TX_OK);
    f.accept_in_cb = false;
    f.defer = false;
    fx_expect_on(&f, LPORT, GPORT + 1, VIRTIO_VSOCK_OP_RESPONSE, 0, 0, 0, NULL);
    fx_expect_none(&f);
    tc = g_ptr_array_index(f.tconns, 1);
    g_assert_cmpint(vsock_conn_get_state(tc->conn), ==,
                    VSOCK_CONN_ESTABLISHED);
    g_assert_cmpuint(f.state_changes, ==, 1); /* born established */
    g_assert_cmpint(vsock_engine_next_deadline(f.e), ==, INT64_MAX);
    g_assert_cmpuint(st->conns_opened, ==, 2);
    fx_fini(&f);
}

static void test_defer_shutdown(void)
{
    Fixture f;
    TestConn *tc;

    /* the endpoint shuts down while pending: SHUTDOWN after RESPONSE */
    fx_init(&f);
    tc = fx_connect_deferred(&f);
    tc_push(tc, "bye", 3);
    vsock_conn_shutdown(tc->conn, VIRTIO_VSOCK_SHUTDOWN_SEND);
    fx_expect_none(&f);
    vsock_conn_accept(tc->conn);
    fx_expect(&f, VIRTIO_VSOCK_OP_RESPONSE, 0, 0, 0);
    fx_expect(&f, VIRTIO_VSOCK_OP_RW, 3, 0, 0);
    fx_expect(&f, VIRTIO_VSOCK_OP_SHUTDOWN, 0, VIRTIO_VSOCK_SHUTDOWN_SEND, 0);
    fx_expect_none(&f);
    fx_fini(&f);
}

static void test_defer_reset(void)
{
    Fixture f;
    TestConn *tc;
    const VsockEngineStats *st;

    fx_init(&f);
    st = vsock_engine_get_stats(f.e);
    tc = fx_connect_deferred(&f);
    tc_push(tc, "never", 5);
    f.wakeups = 0;
    vsock_conn_reset(tc->conn);
    g_assert_cmpuint(f.wakeups, ==, 1);
    /* RST from the connection: our buf_alloc, nothing consumed */
    fx_expect(&f, VIRTIO_VSOCK_OP_RST, 0, 0, 0);
    fx_expect_none(&f);
    g_assert_false(tc->closed); /* no callbacks after reset */
    g_assert_cmpuint(tc->reads, ==, 0);
    g_assert_cmpuint(vsock_engine_conn_count(f.e), ==, 0);
    g_assert_cmpint(vsock_engine_next_deadline(f.e), ==, INT64_MAX);
    g_assert_cmpuint(st->conns_refused, ==, 1);
    g_assert_cmpuint(st->conns_opened, ==, 0);
    /* the guest's packets on it now meet no connection */
    g_assert_cmpint(fx_send(&f, VIRTIO_VSOCK_OP_RW, 0, 0, "x", 1), ==,
                    VSOCK_TX_NO_CONN);
    fx_expect_orphan_rst(&f, PARENT, LPORT, GPORT, VIRTIO_VSOCK_TYPE_STREAM);

    /* vsock_conn_close() on a pending connection refuses it too */
    tc = fx_connect_deferred(&f);
    vsock_conn_close(tc->conn);
    fx_expect(&f, VIRTIO_VSOCK_OP_RST, 0, 0, 0);
    fx_expect_none(&f);
    g_assert_false(tc->closed);
    g_assert_cmpuint(vsock_engine_conn_count(f.e), ==, 0);
    g_assert_cmpuint(st->conns_refused, ==, 2);

    /* the guest RSTs while our RST is queued: ours is dropped */
    tc = fx_connect_deferred(&f);
    vsock_conn_reset(tc->conn);
    g_assert_cmpint(fx_send(&f, VIRTIO_VSOCK_OP_RST, 0, 0, NULL, 0), ==,
                    VSOCK_TX_OK);
    fx_expect_none(&f);
    g_assert_cmpuint(vsock_engine_conn_count(f.e), ==, 0);
    fx_fini(&f);
}

/* An accept callback that defers without attaching an endpoint. */
static VsockAcceptResult accept_no_ops(VsockListener *l, VsockConn *conn,
                                       void *opaque)
{
    (*(unsigned *)opaque)++;
    return VSOCK_ACCEPT_DEFER;
}

/* An accept callback that resets the connection, then defers. */
static VsockAcceptResult accept_reset(VsockListener *l, VsockConn *conn,
                                      void *opaque)
{
    vsock_conn_set_ops(conn, &tc_ops, opaque);
    vsock_conn_reset(conn);
    return VSOCK_ACCEPT_DEFER;
}

static void test_defer_refused_in_callback(void)
{
    Fixture f;
    unsigned calls = 0;
    TestConn *tc;

    fx_init(&f);
    g_assert_nonnull(vsock_engine_listen(
        f.e, PARENT, 6000, VIRTIO_VSOCK_TYPE_STREAM, accept_no_ops, &calls));
    g_assert_cmpint(
        fx_send_to(&f, GPORT, 6000, VIRTIO_VSOCK_OP_REQUEST, NULL, 0), ==,
        VSOCK_TX_NO_LISTENER);
    g_assert_cmpuint(calls, ==, 1);
    fx_expect_orphan_rst(&f, PARENT, 6000, GPORT, VIRTIO_VSOCK_TYPE_STREAM);
    fx_expect_none(&f);
    tc = tc_new(&f);
    g_assert_nonnull(vsock_engine_listen(f.e, PARENT, 6001,
                                         VIRTIO_VSOCK_TYPE_STREAM, accept_reset,
                                         tc));
    g_assert_cmpint(
        fx_send_to(&f, GPORT, 6001, VIRTIO_VSOCK_OP_REQUEST, NULL, 0), ==,
        VSOCK_TX_NO_LISTENER);
    fx_expect_orphan_rst(&f, PARENT, 6001, GPORT, VIRTIO_VSOCK_TYPE_STREAM);
    fx_expect_none(&f);
    g_assert_false(tc->closed);
    g_assert_cmpuint(vsock_engine_conn_count(f.e), ==, 0);
    g_assert_cmpint(vsock_engine_next_deadline(f.e), ==, INT64_MAX);
    g_assert_cmpuint(vsock_engine_get_stats(f.e)->conns_refused, ==, 2);
    fx_fini(&f);
}

static void test_defer_guest_rst(void)
{
    Fixture f;
    TestConn *tc;

    fx_init(&f);
    tc = fx_connect_deferred(&f);
    g_assert_cmpint(fx_send(&f, VIRTIO_VSOCK_OP_RST, 0, 0, NULL, 0), ==,
                    VSOCK_TX_OK);
    g_assert_true(tc->closed);
    g_assert_cmpint(tc->reason, ==, VSOCK_CLOSE_PEER_RST);
    fx_expect_none(&f); /* never answer an RST */
    g_assert_cmpuint(vsock_engine_conn_count(f.e), ==, 0);
    g_assert_cmpint(vsock_engine_next_deadline(f.e), ==, INT64_MAX);
    g_assert_cmpuint(vsock_engine_get_stats(f.e)->conns_refused, ==, 0);
    /* the guest may connect again from the same port */
    tc = fx_connect_deferred(&f);
    vsock_conn_accept(tc->conn);
    fx_expect(&f, VIRTIO_VSOCK_OP_RESPONSE, 0, 0, 0);
    fx_expect_none(&f);
    fx_fini(&f);
}

static void test_defer_timeout(void)
{
    Fixture f;
    VsockEngineConfig cfg;
    TestConn *a, *b;

    fx_init(&f);
    a = fx_connect_deferred(&f);
    f.now += NS / 2;
    f.defer = true;
    g_assert_cmpint(
        fx_send_to(&f, GPORT + 1, LPORT, VIRTIO_VSOCK_OP_REQUEST, NULL, 0), ==,
        VSOCK_TX_OK);
    f.defer = false;
    b = g_ptr_array_index(f.tconns, 1);
    g_assert_cmpint(vsock_engine_next_deadline(f.e), ==,
                    f.now - NS / 2 + 2 * NS);
    f.now += 3 * NS / 2 - 1;     /* 1 ns before a's deadline */
    vsock_engine_run_timers(f.e);
    g_assert_false(a->closed);
    fx_expect_none(&f);
    f.now += 1;
    vsock_engine_run_timers(f.e);
    g_assert_true(a->closed);
    g_assert_cmpint(a->reason, ==, VSOCK_CLOSE_TIMEOUT);
    g_assert_false(b->closed);
    fx_expect(&f, VIRTIO_VSOCK_OP_RST, 0, 0, 0);
    fx_expect_none(&f);
    g_assert_cmpint(vsock_engine_next_deadline(f.e), ==, f.now + NS / 2);
    /* b is accepted in time and outlives its deadline */
    vsock_conn_accept(b->conn);
    fx_expect_on(&f, LPORT, GPORT + 1, VIRTIO_VSOCK_OP_RESPONSE, 0, 0, 0, NULL);
    f.now += NS;
    vsock_engine_run_timers(f.e);
    fx_expect_none(&f);
    g_assert_false(b->closed);
    g_assert_cmpuint(vsock_engine_conn_count(f.e), ==, 1);
    g_assert_cmpuint(vsock_engine_get_stats(f.e)->conns_refused, ==, 1);
    fx_fini(&f);

    /* the timeout is configurable */
    vsock_engine_config_init(&cfg);
    g_assert_cmpint(cfg.accept_timeout_ns, ==, 2 * NS);
    cfg.guest_cid = GUEST;
    cfg.local_cid = PARENT;
    cfg.buf_alloc = BUF_ALLOC;
    cfg.accept_timeout_ns = NS / 10;
    fx_init_cfg(&f, &cfg);
    a = fx_connect_deferred(&f);
    g_assert_cmpint(vsock_engine_next_deadline(f.e), ==, f.now + NS / 10);
    f.now += NS / 10;
    vsock_engine_run_timers(f.e);
    g_assert_true(a->closed);
    g_assert_cmpint(a->reason, ==, VSOCK_CLOSE_TIMEOUT);
    fx_expect(&f, VIRTIO_VSOCK_OP_RST, 0, 0, 0);
    fx_expect_none(&f);
    fx_fini(&f);
}

static void test_defer_limit(void)
{
    Fixture f;
    TestConn *tc[8];
    unsigned i;

    fx_init(&f); /* max_conns 8 */
    f.defer = true;
    for (i = 0; i < 8; i++) {
        g_assert_cmpint(fx_send_to(&f, 2000 + i, LPORT, VIRTIO_VSOCK_OP_REQUEST,
                                   NULL, 0), ==, VSOCK_TX_OK);
        tc[i] = g_ptr_array_index(f.tconns, i);
    }
    fx_expect_none(&f);
    g_assert_cmpuint(vsock_engine_conn_count(f.e), ==, 8);
    /* pending connections count against the limit */
    g_assert_cmpint(
        fx_send_to(&f, 3000, LPORT, VIRTIO_VSOCK_OP_REQUEST, NULL, 0), ==,
        VSOCK_TX_CONN_LIMIT);
    fx_expect_orphan_rst(&f, PARENT, LPORT, 3000, VIRTIO_VSOCK_TYPE_STREAM);
    g_assert_cmpuint(f.tconns->len, ==, 8);
    g_assert_null(vsock_engine_connect(f.e, PARENT, VSOCK_PORT_ANY, 77,
                                       VIRTIO_VSOCK_TYPE_STREAM, &tc_ops,
                                       NULL));
    /* accepting one does not free a slot */
    vsock_conn_accept(tc[0]->conn);
    fx_expect_on(&f, LPORT, 2000, VIRTIO_VSOCK_OP_RESPONSE, 0, 0, 0, NULL);
    g_assert_cmpint(
        fx_send_to(&f, 3000, LPORT, VIRTIO_VSOCK_OP_REQUEST, NULL, 0), ==,
        VSOCK_TX_CONN_LIMIT);
    fx_expect_orphan_rst(&f, PARENT, LPORT, 3000, VIRTIO_VSOCK_TYPE_STREAM);
    /* resetting one does, once its RST is out */
    vsock_conn_reset(tc[1]->conn);
    fx_expect_on(&f, LPORT, 2001, VIRTIO_VSOCK_OP_RST, 0, 0, 0, NULL);
    fx_expect_none(&f);
    g_assert_cmpuint(vsock_engine_conn_count(f.e), ==, 7);
    g_assert_cmpint(
        fx_send_to(&f, 3000, LPORT, VIRTIO_VSOCK_OP_REQUEST, NULL, 0), ==,
        VSOCK_TX_OK);
    g_assert_cmpuint(vsock_engine_conn_count(f.e), ==, 8);
    /* so does a timeout */
    f.now += 2 * NS;
    vsock_engine_run_timers(f.e);
    for (i = 2; i < 8; i++) {
        g_assert_true(tc[i]->closed);
        g_assert_cmpint(tc[i]->reason, ==, VSOCK_CLOSE_TIMEOUT);
        fx_expect_on(&f, LPORT, 2000 + i, VIRTIO_VSOCK_OP_RST, 0, 0, 0, NULL);
    }
    fx_expect_on(&f, LPORT, 3000, VIRTIO_VSOCK_OP_RST, 0, 0, 0, NULL);
    fx_expect_none(&f);
    g_assert_false(tc[0]->closed);
    g_assert_cmpuint(vsock_engine_conn_count(f.e), ==, 1);
    fx_fini(&f);
}

static void test_defer_guest_packets(void)
{
    static const uint16_t ops[] = {
        VIRTIO_VSOCK_OP_RW,
        VIRTIO_VSOCK_OP_SHUTDOWN,
        VIRTIO_VSOCK_OP_CREDIT_UPDATE,
        VIRTIO_VSOCK_OP_CREDIT_REQUEST,
        VIRTIO_VSOCK_OP_RESPONSE,
        VIRTIO_VSOCK_OP_REQUEST,
        42,
    };
    Fixture f;
    TestConn *tc;
    const VsockEngineStats *st;

    fx_init(&f);
    st = vsock_engine_get_stats(f.e);
    for (unsigned i = 0; i < G_N_ELEMENTS(ops); i++) {
        const char *data = ops[i] == VIRTIO_VSOCK_OP_RW ? "data" : NULL;

        tc = fx_connect_deferred(&f);
        g_assert_cmpint(fx_send(&f, ops[i], 0, 0, data, data ? 4 : 0), ==,
                        VSOCK_TX_BAD_OP);
        g_assert_true(tc->closed);
        g_assert_cmpint(tc->reason, ==, VSOCK_CLOSE_PROTOCOL);
        g_assert_cmpuint(tc->in->len, ==, 0);
        /* exactly one RST, and no second connection (duplicate REQUEST) */
        fx_expect(&f, VIRTIO_VSOCK_OP_RST, 0, 0, 0);
        fx_expect_none(&f);
        g_assert_cmpuint(f.tconns->len, ==, i + 1);
        g_assert_cmpuint(vsock_engine_conn_count(f.e), ==, 0);
        g_assert_cmpuint(vsock_engine_buffered_bytes(f.e), ==, 0);
        g_assert_cmpint(vsock_engine_next_deadline(f.e), ==, INT64_MAX);
    }
    g_assert_cmpuint(st->results[VSOCK_TX_BAD_OP], ==, G_N_ELEMENTS(ops));
    g_assert_cmpuint(st->conns_refused, ==, G_N_ELEMENTS(ops));
    /* a type mismatch on a pending connection */
    tc = fx_connect_deferred(&f);
    g_assert_cmpint(fx_send_full(&f, GUEST, PARENT, GPORT, LPORT,
                                 VIRTIO_VSOCK_TYPE_SEQPACKET,
                                 VIRTIO_VSOCK_OP_RW, 0, GUEST_BUF, 0, "x", 1),
                    ==, VSOCK_TX_BAD_TYPE);
    g_assert_true(tc->closed);
    g_assert_cmpint(tc->reason, ==, VSOCK_CLOSE_PROTOCOL);
    fx_expect(&f, VIRTIO_VSOCK_OP_RST, 0, 0, 0);
    fx_expect_none(&f);
    fx_fini(&f);
}

static void test_defer_reset_engine(void)
{
    Fixture f;
    TestConn *a, *b;

    fx_init(&f);
    a = fx_connect_deferred(&f);
    vsock_engine_reset(f.e);
    g_assert_true(a->closed);
    g_assert_cmpint(a->reason, ==, VSOCK_CLOSE_RESET);
    g_assert_cmpuint(vsock_engine_conn_count(f.e), ==, 0);
    g_assert_cmpint(vsock_engine_next_deadline(f.e), ==, INT64_MAX);
    fx_expect_none(&f);
    b = fx_connect_deferred(&f);
    vsock_engine_free(f.e);
    f.e = NULL;
    g_assert_true(b->closed);
    g_assert_cmpint(b->reason, ==, VSOCK_CLOSE_RESET);
    fx_fini(&f);
}

void vsock_test_register_accept(void)
{
    g_test_add_func("/vsock/accept/fallback-listener",
                    test_fallback_listener);
    g_test_add_func("/vsock/accept/defer-accept", test_defer_accept);
    g_test_add_func("/vsock/accept/defer-shutdown", test_defer_shutdown);
    g_test_add_func("/vsock/accept/defer-reset", test_defer_reset);
    g_test_add_func("/vsock/accept/defer-refused-in-callback",
                    test_defer_refused_in_callback);
    g_test_add_func("/vsock/accept/defer-guest-rst", test_defer_guest_rst);
    g_test_add_func("/vsock/accept/defer-timeout", test_defer_timeout);
    g_test_add_func("/vsock/accept/defer-limit", test_defer_limit);
    g_test_add_func("/vsock/accept/defer-guest-packets",
                    test_defer_guest_packets);
    g_test_add_func("/vsock/accept/defer-engine-reset",
                    test_defer_reset_engine);
}
