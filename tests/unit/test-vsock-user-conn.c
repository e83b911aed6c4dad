/*
 * Engine unit tests: connection lifecycle: handshakes both ways, refusals,
 * the connection limit, host ports, endpoint callbacks that close or reset
 * from inside, engine reset and the observer callbacks.
 *
 * Copyright (c) 2026 The virtio-vsock-user authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "vsock-user-fixture.h"

static void test_guest_handshake(void)
{
    Fixture f;
    TestConn *tc;

    fx_init(&f);
    tc = fx_connect(&f);
    g_assert_nonnull(tc->conn);
    g_assert_cmpint(vsock_conn_get_state(tc->conn), ==,
                    VSOCK_CONN_ESTABLISHED);
    g_assert_cmpuint(vsock_conn_get_peer_cid(tc->conn), ==, GUEST);
    g_assert_cmpuint(vsock_conn_get_peer_port(tc->conn), ==, GPORT);
    g_assert_cmpuint(vsock_conn_get_local_cid(tc->conn), ==, PARENT);
    g_assert_cmpuint(vsock_conn_get_local_port(tc->conn), ==, LPORT);
    g_assert_cmpuint(vsock_conn_get_peer_credit(tc->conn), ==, GUEST_BUF);
    g_assert_cmpuint(vsock_engine_conn_count(f.e), ==, 1);
    g_assert_cmpuint(vsock_engine_get_stats(f.e)->conns_opened, ==, 1);
    g_assert_cmpuint(f.pkts_in, ==, 1);
    g_assert_cmpuint(f.pkts_out, ==, 1);
    fx_fini(&f);
    /* engine teardown tells the endpoint */
}

static void test_data_before_response(void)
{
    Fixture f;
    TestConn *tc;
    VsockHdr h;
    uint8_t p[16];

    /* endpoint makes data readable from accept: RESPONSE still first */
    fx_init(&f);
    g_assert_cmpint(fx_send(&f, VIRTIO_VSOCK_OP_REQUEST, 0, 0, NULL, 0), ==,
                    VSOCK_TX_OK);
    tc = g_ptr_array_index(f.tconns, 0);
    tc_push(tc, "hello", 5);
    fx_expect(&f, VIRTIO_VSOCK_OP_RESPONSE, 0, 0, 0);
    g_assert_cmpint(fx_rx(&f, 4096, &h, p), ==, 5);
    check_hdr(&h, VIRTIO_VSOCK_OP_RW, LPORT, GPORT, 5, 0, 0);
    g_assert_cmpmem(p, 5, "hello", 5);
    fx_expect_none(&f);
    fx_fini(&f);
}

static void test_refuse_no_listener(void)
{
    Fixture f;

    fx_init(&f);
    g_assert_cmpint(fx_send_full(&f, GUEST, PARENT, GPORT, LPORT + 1,
                                 VIRTIO_VSOCK_TYPE_STREAM,
                                 VIRTIO_VSOCK_OP_REQUEST, 0, GUEST_BUF, 0, NULL,
                                 0),
                    ==, VSOCK_TX_NO_LISTENER);
    fx_expect_orphan_rst(&f, PARENT, LPORT + 1, GPORT,
                         VIRTIO_VSOCK_TYPE_STREAM);
    fx_expect_none(&f);
    /* SEQPACKET to a STREAM listener: refused as well */
    g_assert_cmpint(fx_send_full(&f, GUEST, PARENT, GPORT, LPORT,
                                 VIRTIO_VSOCK_TYPE_SEQPACKET,
                                 VIRTIO_VSOCK_OP_REQUEST, 0, GUEST_BUF, 0, NULL,
                                 0),
                    ==, VSOCK_TX_NO_LISTENER);
    fx_expect_orphan_rst(&f, PARENT, LPORT, GPORT, VIRTIO_VSOCK_TYPE_SEQPACKET);
    g_assert_cmpuint(vsock_engine_conn_count(f.e), ==, 0);
    g_assert_cmpuint(vsock_engine_get_stats(f.e)->conns_refused, ==, 2);
    fx_fini(&f);
}

static void test_refuse_by_endpoint(void)
{
    Fixture f;

    fx_init(&f);
    f.refuse = true;
    g_assert_cmpint(fx_send(&f, VIRTIO_VSOCK_OP_REQUEST, 0, 0, NULL, 0), ==,
                    VSOCK_TX_NO_LISTENER);
    fx_expect_orphan_rst(&f, PARENT, LPORT, GPORT, VIRTIO_VSOCK_TYPE_STREAM);
    fx_expect_none(&f);
    g_assert_cmpuint(vsock_engine_conn_count(f.e), ==, 0);
    /* later connections work */
    f.refuse = false;
    fx_connect(&f);
    fx_fini(&f);
}

static void test_conn_limit(void)
{
    Fixture f;
    unsigned i;

    fx_init(&f); /* max_conns 8 */
    for (i = 0; i < 8; i++) {
        g_assert_cmpint(fx_send_full(&f, GUEST, PARENT, 2000 + i, LPORT,
                                     VIRTIO_VSOCK_TYPE_STREAM,
                                     VIRTIO_VSOCK_OP_REQUEST, 0, GUEST_BUF, 0,
                                     NULL, 0),
                        ==, VSOCK_TX_OK);
    }
    g_assert_cmpint(
        fx_send_full(&f, GUEST, PARENT, 3000, LPORT, VIRTIO_VSOCK_TYPE_STREAM,
                     VIRTIO_VSOCK_OP_REQUEST, 0, GUEST_BUF, 0, NULL, 0),
        ==, VSOCK_TX_CONN_LIMIT);
    g_assert_cmpuint(vsock_engine_conn_count(f.e), ==, 8);
    /* RST first (priority), then the eight RESPONSEs in order */
    fx_expect_orphan_rst(&f, PARENT, LPORT, 3000, VIRTIO_VSOCK_TYPE_STREAM);
    for (i = 0; i < 8; i++) {
        VsockHdr h;

        g_assert_cmpint(fx_rx(&f, 4096, &h, NULL), ==, 0);
        check_hdr(&h, VIRTIO_VSOCK_OP_RESPONSE, LPORT, 2000 + i, 0, 0, 0);
    }
    fx_expect_none(&f);
    /* host side connect is limited too */
    g_assert_null(vsock_engine_connect(f.e, PARENT, VSOCK_PORT_ANY, 77,
                                       VIRTIO_VSOCK_TYPE_STREAM, &tc_ops,
                                       NULL));
    /* one goes away, a new one fits */
    g_assert_cmpint(fx_send_full(&f, GUEST, PARENT, 2000, LPORT,
                                 VIRTIO_VSOCK_TYPE_STREAM, VIRTIO_VSOCK_OP_RST,
                                 0, GUEST_BUF, 0, NULL, 0),
                    ==, VSOCK_TX_OK);
    fx_expect_none(&f);
    g_assert_cmpint(
        fx_send_full(&f, GUEST, PARENT, 3000, LPORT, VIRTIO_VSOCK_TYPE_STREAM,
                     VIRTIO_VSOCK_OP_REQUEST, 0, GUEST_BUF, 0, NULL, 0),
        ==, VSOCK_TX_OK);
    g_assert_cmpuint(vsock_engine_conn_count(f.e), ==, 8);
    fx_fini(&f);
}

static void test_host_handshake(void)
{
    Fixture f;
    TestConn *tc;
    VsockHdr h;
    uint32_t port;

    fx_init(&f);
    tc = tc_new(&f);
    tc->conn = vsock_engine_connect(f.e, PARENT, VSOCK_PORT_ANY, 7000,
                                    VIRTIO_VSOCK_TYPE_STREAM, &tc_ops, tc);
    g_assert_nonnull(tc->conn);
    g_assert_cmpint(vsock_conn_get_state(tc->conn), ==,
                    VSOCK_CONN_CONNECTING);
    port = vsock_conn_get_local_port(tc->conn);
    g_assert_cmpuint(port, >=, 1024);
    g_assert_cmpuint(port, !=, VSOCK_PORT_ANY);
    /* data made readable early waits for the RESPONSE */
    tc_push(tc, "abc", 3);
    g_assert_cmpint(fx_rx(&f, 4096, &h, NULL), ==, 0);
    check_hdr(&h, VIRTIO_VSOCK_OP_REQUEST, port, 7000, 0, 0, 0);
    fx_expect_none(&f);
    g_assert_cmpint(f.now + 2000000000LL, ==,
                    vsock_engine_next_deadline(f.e));
    g_assert_cmpint(
        fx_send_full(&f, GUEST, PARENT, 7000, port, VIRTIO_VSOCK_TYPE_STREAM,
                     VIRTIO_VSOCK_OP_RESPONSE, 0, GUEST_BUF, 0, NULL, 0),
        ==, VSOCK_TX_OK);
    g_assert_true(tc->connected);
    g_assert_cmpint(vsock_conn_get_state(tc->conn), ==,
                    VSOCK_CONN_ESTABLISHED);
    g_assert_cmpint(vsock_engine_next_deadline(f.e), ==, INT64_MAX);
    g_assert_cmpint(fx_rx(&f, 4096, &h, NULL), ==, 3);
    check_hdr(&h, VIRTIO_VSOCK_OP_RW, port, 7000, 3, 0, 0);
    fx_expect_none(&f);
    /* and the timeout does nothing now */
    f.now += 3000000000LL;
    vsock_engine_run_timers(f.e);
    fx_expect_none(&f);
    g_assert_false(tc->closed);
    vsock_engine_free(f.e);
    f.e = NULL;
    g_assert_true(tc->closed);
    g_assert_cmpint(tc->reason, ==, VSOCK_CLOSE_RESET);
    fx_fini(&f);
}

static void test_host_refused(void)
{
    Fixture f;
    TestConn *tc;
    VsockHdr h;
    uint32_t port;

    fx_init(&f);
    tc = tc_new(&f);
    tc->conn = vsock_engine_connect(f.e, PARENT, 4444, 7000,
                                    VIRTIO_VSOCK_TYPE_STREAM, &tc_ops, tc);
    port = vsock_conn_get_local_port(tc->conn);
    g_assert_cmpuint(port, ==, 4444);
    g_assert_cmpint(fx_rx(&f, 4096, &h, NULL), ==, 0);
    check_hdr(&h, VIRTIO_VSOCK_OP_REQUEST, 4444, 7000, 0, 0, 0);
    g_assert_cmpint(fx_send_full(&f, GUEST, PARENT, 7000, 4444,
                                 VIRTIO_VSOCK_TYPE_STREAM, VIRTIO_VSOCK_OP_RST,
                                 0, 0, 0, NULL, 0),
                    ==, VSOCK_TX_OK);
    g_assert_true(tc->closed);
    g_assert_cmpint(tc->reason, ==, VSOCK_CLOSE_REFUSED);
    fx_expect_none(&f); /* never answer an RST */
    g_assert_cmpuint(vsock_engine_conn_count(f.e), ==, 0);
    fx_fini(&f);
}

static void test_host_timeout(void)
{
    Fixture f;
    TestConn *tc;
    VsockHdr h;
    uint32_t port;

    fx_init(&f);
    tc = tc_new(&f);
    tc->conn = vsock_engine_connect(f.e, PARENT, VSOCK_PORT_ANY, 7000,
                                    VIRTIO_VSOCK_TYPE_STREAM, &tc_ops, tc);
    port = vsock_conn_get_local_port(tc->conn);
    g_assert_cmpint(fx_rx(&f, 4096, &h, NULL), ==, 0);
    check_hdr(&h, VIRTIO_VSOCK_OP_REQUEST, port, 7000, 0, 0, 0);
    f.now += 2000000000LL - 1;
    vsock_engine_run_timers(f.e);
    g_assert_false(tc->closed);
    f.now += 1;
    vsock_engine_run_timers(f.e);
    g_assert_true(tc->closed);
    g_assert_cmpint(tc->reason, ==, VSOCK_CLOSE_TIMEOUT);
    g_assert_cmpint(fx_rx(&f, 4096, &h, NULL), ==, 0);
    check_hdr(&h, VIRTIO_VSOCK_OP_RST, port, 7000, 0, 0, 0);
    fx_expect_none(&f);
    /* a late RESPONSE is a packet for an unknown connection */
    g_assert_cmpint(
        fx_send_full(&f, GUEST, PARENT, 7000, port, VIRTIO_VSOCK_TYPE_STREAM,
                     VIRTIO_VSOCK_OP_RESPONSE, 0, GUEST_BUF, 0, NULL, 0),
        ==, VSOCK_TX_NO_CONN);
    fx_expect_orphan_rst(&f, PARENT, port, 7000, VIRTIO_VSOCK_TYPE_STREAM);
    g_assert_cmpint(vsock_engine_next_deadline(f.e), ==, INT64_MAX);
    fx_fini(&f);
}

static void test_host_ports(void)
{
    Fixture f;
    VsockConn *a, *b, *c;

    fx_init(&f);
    a = vsock_engine_connect(f.e, PARENT, VSOCK_PORT_ANY, 7000,
                             VIRTIO_VSOCK_TYPE_STREAM, &tc_ops, tc_new(&f));
    b = vsock_engine_connect(f.e, PARENT, VSOCK_PORT_ANY, 7000,
                             VIRTIO_VSOCK_TYPE_STREAM, &tc_ops, tc_new(&f));
    g_assert_nonnull(a);
    g_assert_nonnull(b);
    g_assert_cmpuint(vsock_conn_get_local_port(a), !=,
                     vsock_conn_get_local_port(b));
    /* explicit port already used towards the same guest port */
    g_assert_null(
        vsock_engine_connect(f.e, PARENT, vsock_conn_get_local_port(a), 7000,
                             VIRTIO_VSOCK_TYPE_STREAM, &tc_ops, NULL));
    /* listener port is not handed out */
    g_assert_null(vsock_engine_connect(
        f.e, PARENT, LPORT, 7000, VIRTIO_VSOCK_TYPE_STREAM, &tc_ops, NULL));
    /* not a local CID */
    g_assert_null(vsock_engine_connect(f.e, 99, VSOCK_PORT_ANY, 7000,
                                       VIRTIO_VSOCK_TYPE_STREAM, &tc_ops,
                                       NULL));
    c = vsock_engine_connect(f.e, PARENT, VSOCK_PORT_ANY, 7001,
                             VIRTIO_VSOCK_TYPE_STREAM, &tc_ops, tc_new(&f));
    g_assert_nonnull(c);
    fx_fini(&f);
}

static void test_close_in_write(void)
{
    Fixture f;
    TestConn *tc;

    fx_init(&f);
    tc = fx_connect(&f);
    tc->close_in_write = true;
    tc->write_limit = 2;
    g_assert_cmpint(fx_send(&f, VIRTIO_VSOCK_OP_RW, 0, 0, "hello", 5), ==,
                    VSOCK_TX_OK);
    g_assert_cmpuint(vsock_engine_buffered_bytes(f.e), ==, 0);
    fx_expect(&f, VIRTIO_VSOCK_OP_SHUTDOWN, 0, VSOCK_SHUTDOWN_BOTH, 5);
    fx_send(&f, VIRTIO_VSOCK_OP_RST, 0, 0, NULL, 0);
    fx_expect_none(&f);
    g_assert_cmpuint(vsock_engine_conn_count(f.e), ==, 0);
    fx_fini(&f);
}

static void test_reset_in_read(void)
{
    Fixture f;
    TestConn *tc;

    fx_init(&f);
    tc = fx_connect(&f);
    tc->reset_in_read = true;
    tc_push(tc, "data", 4);
    fx_expect(&f, VIRTIO_VSOCK_OP_RST, 0, 0, 0);
    fx_expect_none(&f);
    g_assert_cmpuint(vsock_engine_conn_count(f.e), ==, 0);
    g_assert_false(tc->closed);
    fx_fini(&f);
}

static void test_reset(void)
{
    Fixture f;
    TestConn *a, *b, *c;
    uint8_t data[1000] = { 0 };

    fx_init(&f);
    f.accept_write_limit = 0;
    a = fx_connect(&f);
    fx_send(&f, VIRTIO_VSOCK_OP_RW, 0, 0, data, sizeof(data));
    tc_push(a, data, 100);
    fx_send_full(&f, GUEST, PARENT, GPORT + 1, LPORT, VIRTIO_VSOCK_TYPE_STREAM,
                 VIRTIO_VSOCK_OP_REQUEST, 0, GUEST_BUF, 0, NULL, 0);
    b = g_ptr_array_index(f.tconns, 1);
    c = tc_new(&f);
    c->conn = vsock_engine_connect(f.e, PARENT, VSOCK_PORT_ANY, 9,
                                   VIRTIO_VSOCK_TYPE_STREAM, &tc_ops, c);
    fx_send(&f, VIRTIO_VSOCK_OP_RW, 0, 0, data, 1); /* nothing: no RST queued */
    fx_send_full(&f, GUEST, PARENT, 1, 1, VIRTIO_VSOCK_TYPE_STREAM,
                 VIRTIO_VSOCK_OP_RW, 0, 0, 0, NULL, 0);
    g_assert_cmpuint(vsock_engine_conn_count(f.e), ==, 3);
    g_assert_cmpuint(vsock_engine_buffered_bytes(f.e), ==, 1001);
    g_assert_true(vsock_engine_rx_pending(f.e));
    vsock_engine_reset(f.e);
    g_assert_true(a->closed && b->closed && c->closed);
    g_assert_cmpint(a->reason, ==, VSOCK_CLOSE_RESET);
    g_assert_cmpuint(vsock_engine_conn_count(f.e), ==, 0);
    g_assert_cmpuint(vsock_engine_buffered_bytes(f.e), ==, 0);
    g_assert_cmpint(vsock_engine_next_deadline(f.e), ==, INT64_MAX);
    fx_expect_none(&f);
    /* listeners stay */
    fx_connect(&f);
    fx_fini(&f);
}

static void test_observer(void)
{
    Fixture f;

    fx_init(&f);
    fx_connect(&f);
    fx_send(&f, VIRTIO_VSOCK_OP_SHUTDOWN, VSOCK_SHUTDOWN_BOTH, 0, NULL, 0);
    fx_expect(&f, VIRTIO_VSOCK_OP_RST, 0, 0, 0);
    g_assert_cmpuint(f.pkts_in, ==, 2);
    g_assert_cmpuint(f.pkts_out, ==, 2);
    g_assert_cmpuint(f.state_changes, ==, 1); /* established -> closed */
    g_assert_cmpuint(vsock_engine_get_stats(f.e)->rst_sent, ==, 1);
    g_assert_cmpuint(vsock_engine_get_stats(f.e)->conns_closed, ==, 1);
    fx_fini(&f);
}

void vsock_test_register_conn(void)
{
    g_test_add_func("/vsock/handshake/guest", test_guest_handshake);
    g_test_add_func("/vsock/handshake/data-before-response",
                    test_data_before_response);
    g_test_add_func("/vsock/handshake/refuse-no-listener",
                    test_refuse_no_listener);
    g_test_add_func("/vsock/handshake/refuse-by-endpoint",
                    test_refuse_by_endpoint);
    g_test_add_func("/vsock/handshake/conn-limit", test_conn_limit);
    g_test_add_func("/vsock/handshake/host", test_host_handshake);
    g_test_add_func("/vsock/handshake/host-refused", test_host_refused);
    g_test_add_func("/vsock/handshake/host-timeout", test_host_timeout);
    g_test_add_func("/vsock/handshake/host-ports", test_host_ports);
    g_test_add_func("/vsock/callbacks/close-in-write",
                    test_close_in_write);
    g_test_add_func("/vsock/callbacks/reset-in-read", test_reset_in_read);
    g_test_add_func("/vsock/reset", test_reset);
    g_test_add_func("/vsock/observer", test_observer);
}
