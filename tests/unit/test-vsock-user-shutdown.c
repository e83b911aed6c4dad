/*
 * Engine unit tests: shutdown and half-close in both directions, shutdown
 * timeouts.
 *
 * Copyright (c) 2026 The virtio-vsock-user authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "vsock-user-fixture.h"

static void test_guest_half_close(void)
{
    Fixture f;
    TestConn *tc;
    VsockHdr h;
    uint8_t p[4096];

    /* request / SHUT_WR / response with buffered data */
    fx_init(&f);
    f.accept_write_limit = 0;
    tc = fx_connect(&f);
    fx_send(&f, VIRTIO_VSOCK_OP_RW, 0, 0, "request", 7);
    g_assert_cmpint(fx_send(&f, VIRTIO_VSOCK_OP_SHUTDOWN,
                            VIRTIO_VSOCK_SHUTDOWN_SEND, 0, NULL, 0),
                    ==, VSOCK_TX_OK);
    g_assert_cmpuint(tc->shutdown_calls, ==, 0); /* data first */
    g_assert_cmpuint(vsock_conn_get_peer_shutdown(tc->conn), ==,
                     VIRTIO_VSOCK_SHUTDOWN_SEND);
    tc->write_limit = 3;
    vsock_conn_notify_writable(tc->conn);
    g_assert_cmpuint(tc->shutdown_calls, ==, 0);
    tc->write_limit = SIZE_MAX;
    vsock_conn_notify_writable(tc->conn);
    g_assert_cmpuint(tc->shutdown_calls, ==, 1);
    g_assert_cmpuint(tc->shutdown_flags, ==, VIRTIO_VSOCK_SHUTDOWN_SEND);
    g_assert_cmpuint(tc->in_at_shutdown, ==, 7);
    g_assert_cmpmem(tc->in->data, 7, "request", 7);
    /* more guest data after SHUT_WR is a protocol error... later */
    /* the response still flows to the guest */
    tc_push(tc, "response", 8);
    g_assert_cmpint(fx_rx(&f, 4096, &h, p), ==, 8);
    check_hdr(&h, VIRTIO_VSOCK_OP_RW, LPORT, GPORT, 8, 0, 7);
    g_assert_cmpmem(p, 8, "response", 8);
    /* endpoint closes: SHUTDOWN(3); guest answers RST */
    vsock_conn_close(tc->conn);
    fx_expect(&f, VIRTIO_VSOCK_OP_SHUTDOWN, 0, VSOCK_SHUTDOWN_BOTH, 7);
    fx_expect_none(&f);
    g_assert_cmpint(fx_send(&f, VIRTIO_VSOCK_OP_RST, 0, 0, NULL, 0), ==,
                    VSOCK_TX_OK);
    fx_expect_none(&f);
    g_assert_cmpuint(vsock_engine_conn_count(f.e), ==, 0);
    g_assert_false(tc->closed); /* closed by the endpoint: no callback */
    fx_fini(&f);
}

static void test_guest_rw_after_shut_wr(void)
{
    Fixture f;
    TestConn *tc;

    fx_init(&f);
    tc = fx_connect(&f);
    fx_send(&f, VIRTIO_VSOCK_OP_SHUTDOWN, VIRTIO_VSOCK_SHUTDOWN_SEND, 0, NULL,
            0);
    g_assert_cmpuint(tc->shutdown_flags, ==, VIRTIO_VSOCK_SHUTDOWN_SEND);
    g_assert_cmpint(fx_send(&f, VIRTIO_VSOCK_OP_RW, 0, 0, "x", 1), ==,
                    VSOCK_TX_BAD_OP);
    g_assert_true(tc->closed);
    fx_expect(&f, VIRTIO_VSOCK_OP_RST, 0, 0, 0);
    fx_expect_none(&f);
    fx_fini(&f);
}

static void test_guest_shutdown_rcv_then_send(void)
{
    Fixture f;
    TestConn *tc;

    fx_init(&f);
    tc = fx_connect(&f);
    tc_push(tc, "pending", 7);
    fx_send(&f, VIRTIO_VSOCK_OP_SHUTDOWN, VIRTIO_VSOCK_SHUTDOWN_RCV, 0, NULL,
            0);
    g_assert_cmpuint(tc->shutdown_flags, ==, VIRTIO_VSOCK_SHUTDOWN_RCV);
    /* the guest will not receive: no RW goes out */
    fx_expect_none(&f);
    g_assert_cmpuint(tc->reads, ==, 0);
    /* guest data still flows */
    fx_send(&f, VIRTIO_VSOCK_OP_RW, 0, 0, "abc", 3);
    g_assert_cmpmem(tc->in->data, tc->in->len, "abc", 3);
    /* flags are sticky: SEND alone now means both */
    fx_send(&f, VIRTIO_VSOCK_OP_SHUTDOWN, VIRTIO_VSOCK_SHUTDOWN_SEND, 0, NULL,
            0);
    g_assert_true(tc->closed);
    g_assert_cmpint(tc->reason, ==, VSOCK_CLOSE_PEER_SHUTDOWN);
    fx_expect(&f, VIRTIO_VSOCK_OP_RST, 0, 0, 3);
    fx_expect_none(&f);
    g_assert_cmpuint(vsock_engine_conn_count(f.e), ==, 0);
    fx_fini(&f);
}

static void test_guest_close_both(void)
{
    Fixture f;
    TestConn *tc;

    /* guest close(): SHUTDOWN(3) answered with RST at once */
    fx_init(&f);
    tc = fx_connect(&f);
    g_assert_cmpint(
        fx_send(&f, VIRTIO_VSOCK_OP_SHUTDOWN, VSOCK_SHUTDOWN_BOTH, 0, NULL, 0),
        ==, VSOCK_TX_OK);
    g_assert_true(tc->closed);
    g_assert_cmpint(tc->reason, ==, VSOCK_CLOSE_PEER_SHUTDOWN);
    fx_expect(&f, VIRTIO_VSOCK_OP_RST, 0, 0, 0);
    fx_expect_none(&f);
    g_assert_cmpuint(vsock_engine_conn_count(f.e), ==, 0);
    g_assert_cmpint(vsock_engine_next_deadline(f.e), ==, INT64_MAX);
    fx_fini(&f);
}

static void test_guest_close_with_buffered(void)
{
    Fixture f;
    TestConn *tc;

    /* RST only once the endpoint took the guest's last bytes */
    fx_init(&f);
    f.accept_write_limit = 0;
    tc = fx_connect(&f);
    fx_send(&f, VIRTIO_VSOCK_OP_RW, 0, 0, "last words", 10);
    fx_send(&f, VIRTIO_VSOCK_OP_SHUTDOWN, VSOCK_SHUTDOWN_BOTH, 0, NULL, 0);
    g_assert_false(tc->closed);
    g_assert_cmpuint(tc->shutdown_flags, ==, VIRTIO_VSOCK_SHUTDOWN_RCV);
    fx_expect_none(&f);
    tc->write_limit = SIZE_MAX;
    vsock_conn_notify_writable(tc->conn);
    g_assert_cmpmem(tc->in->data, tc->in->len, "last words", 10);
    g_assert_true(tc->closed);
    g_assert_cmpint(tc->reason, ==, VSOCK_CLOSE_PEER_SHUTDOWN);
    fx_expect(&f, VIRTIO_VSOCK_OP_RST, 0, 0, 10);
    fx_expect_none(&f);
    fx_fini(&f);
}

static void test_host_close_then_guest_shutdown(void)
{
    Fixture f;
    TestConn *tc;
    VsockHdr h;
    uint8_t p[16];

    fx_init(&f);
    tc = fx_connect(&f);
    tc_push(tc, "bye", 3);
    /* close after making data readable: data goes first, then SHUTDOWN */
    tc->close_in_read = true;
    g_assert_cmpint(fx_rx(&f, 4096, &h, p), ==, 3);
    check_hdr(&h, VIRTIO_VSOCK_OP_RW, LPORT, GPORT, 3, 0, 0);
    fx_expect(&f, VIRTIO_VSOCK_OP_SHUTDOWN, 0, VSOCK_SHUTDOWN_BOTH, 0);
    fx_expect_none(&f);
    g_assert_cmpint(vsock_conn_get_state(tc->conn), ==,
                    VSOCK_CONN_CLOSING);
    /* data from the guest is dropped now, credit keeps moving */
    g_assert_cmpint(fx_send(&f, VIRTIO_VSOCK_OP_RW, 0, 0, "late", 4), ==,
                    VSOCK_TX_OK);
    g_assert_cmpuint(tc->in->len, ==, 0);
    fx_send(&f, VIRTIO_VSOCK_OP_SHUTDOWN, VSOCK_SHUTDOWN_BOTH, 0, NULL, 0);
    fx_expect(&f, VIRTIO_VSOCK_OP_RST, 0, 0, 4);
    fx_expect_none(&f);
    g_assert_cmpuint(vsock_engine_conn_count(f.e), ==, 0);
    g_assert_false(tc->closed);
    fx_fini(&f);
}

static void test_host_shutdown_timeout(void)
{
    Fixture f;
    TestConn *tc;

    fx_init(&f);
    tc = fx_connect(&f);
    vsock_conn_close(tc->conn);
    g_assert_cmpint(vsock_engine_next_deadline(f.e), ==,
                    f.now + 2000000000LL);
    fx_expect(&f, VIRTIO_VSOCK_OP_SHUTDOWN, 0, VSOCK_SHUTDOWN_BOTH, 0);
    fx_expect_none(&f);
    f.now += 1999999999LL;
    vsock_engine_run_timers(f.e);
    fx_expect_none(&f);
    f.now += 1;
    vsock_engine_run_timers(f.e);
    fx_expect(&f, VIRTIO_VSOCK_OP_RST, 0, 0, 0);
    fx_expect_none(&f);
    g_assert_cmpuint(vsock_engine_conn_count(f.e), ==, 0);
    g_assert_cmpint(vsock_engine_next_deadline(f.e), ==, INT64_MAX);
    /* the guest's late RST is not answered */
    fx_send(&f, VIRTIO_VSOCK_OP_RST, 0, 0, NULL, 0);
    fx_expect_none(&f);
    fx_fini(&f);
}

static void test_host_half_close(void)
{
    Fixture f;
    TestConn *tc;
    VsockHdr h;

    fx_init(&f);
    tc = fx_connect(&f);
    tc_push(tc, "0123456789", 10);
    vsock_conn_shutdown(tc->conn, VIRTIO_VSOCK_SHUTDOWN_SEND);
    g_assert_cmpint(fx_rx(&f, 4096, &h, NULL), ==, 10);
    fx_expect(&f, VIRTIO_VSOCK_OP_SHUTDOWN, 0, VIRTIO_VSOCK_SHUTDOWN_SEND, 0);
    fx_expect_none(&f);
    /* more readable data after SHUTDOWN(SEND) is not sent */
    tc_push(tc, "x", 1);
    fx_expect_none(&f);
    /* the guest keeps sending */
    fx_send(&f, VIRTIO_VSOCK_OP_RW, 0, 0, "reply", 5);
    g_assert_cmpmem(tc->in->data, tc->in->len, "reply", 5);
    /* and then closes */
    fx_send(&f, VIRTIO_VSOCK_OP_SHUTDOWN, VSOCK_SHUTDOWN_BOTH, 0, NULL, 0);
    g_assert_true(tc->closed);
    fx_expect(&f, VIRTIO_VSOCK_OP_RST, 0, 0, 5);
    fx_expect_none(&f);
    fx_fini(&f);
}

void vsock_test_register_shutdown(void)
{
    g_test_add_func("/vsock/shutdown/guest-half-close",
                    test_guest_half_close);
    g_test_add_func("/vsock/shutdown/guest-rw-after-shut-wr",
                    test_guest_rw_after_shut_wr);
    g_test_add_func("/vsock/shutdown/guest-rcv-then-send",
                    test_guest_shutdown_rcv_then_send);
    g_test_add_func("/vsock/shutdown/guest-close", test_guest_close_both);
    g_test_add_func("/vsock/shutdown/guest-close-buffered",
                    test_guest_close_with_buffered);
    g_test_add_func("/vsock/shutdown/host-close-guest-shutdown",
                    test_host_close_then_guest_shutdown);
    g_test_add_func("/vsock/shutdown/host-timeout",
                    test_host_shutdown_timeout);
    g_test_add_func("/vsock/shutdown/host-half-close",
                    test_host_half_close);
}
