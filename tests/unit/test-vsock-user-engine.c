/*
 * Unit tests for the virtio-vsock-user protocol engine
 *
 * Each test plays the guest: it feeds packets in as the tx virtqueue
 * would, offers rx buffers and asserts the exact packets that come out.
 *
 * Copyright (c) 2026 The virtio-vsock-user authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <string.h>
#include "hw/virtio/vsock-user-endpoint.h"
#include "hw/virtio/vsock-user-heartbeat.h"

#define GUEST 16
#define PARENT 3
#define LPORT 5000
#define GPORT 1234
#define BUF_ALLOC (64 * 1024)
#define GUEST_BUF (256 * 1024)

/* ---------------------------------------------------------------------- */
/* A scriptable endpoint                                                  */
/* ---------------------------------------------------------------------- */

typedef struct TestConn {
    VsockConn *conn;
    GByteArray *in;       /* bytes the guest sent us */
    GByteArray *out;      /* bytes to send to the guest */
    size_t out_pos;
    size_t write_limit;   /* bytes write() may still take; SIZE_MAX: all */
    unsigned writes;
    unsigned reads;
    uint32_t shutdown_flags;
    unsigned shutdown_calls;
    size_t in_at_shutdown;
    bool connected;
    bool closed;
    VsockCloseReason reason;
    bool close_in_write;
    bool reset_in_read;
    bool close_in_read;
    bool run_now_in_read;
    VsockListener *listener; /* that accepted it */
} TestConn;

typedef struct Fixture {
    VsockEngine *e;
    int64_t now;
    unsigned wakeups;
    unsigned run_nows;
    bool refuse;
    bool defer;           /* accept_cb answers VSOCK_ACCEPT_DEFER */
    bool accept_in_cb;    /* ... after calling vsock_conn_accept() */
    size_t accept_write_limit;
    GPtrArray *tconns;
    unsigned state_changes;
    unsigned pkts_in;
    unsigned pkts_out;
    VsockEngineConfig cfg;
} Fixture;

static size_t tc_write(VsockConn *conn, void *opaque,
                       const struct iovec *iov, unsigned iov_cnt,
                       uint32_t flags)
{
    TestConn *tc = opaque;
    size_t len = iov_size(iov, iov_cnt);
    size_t n = MIN(len, tc->write_limit);
    guint old = tc->in->len;

    tc->writes++;
    if (tc->write_limit != SIZE_MAX) {
        tc->write_limit -= n;
    }
    g_byte_array_set_size(tc->in, old + n);
    g_assert_cmpuint(iov_to_buf(iov, iov_cnt, 0, tc->in->data + old,
                                n), ==, n);
    if (tc->close_in_write) {
        vsock_conn_close(conn);
    }
    return n;
}

static size_t tc_read(VsockConn *conn, void *opaque,
                      const struct iovec *iov, unsigned iov_cnt,
                      uint32_t *flags)
{
    TestConn *tc = opaque;
    size_t avail = tc->out->len - tc->out_pos;
    size_t n = iov_from_buf(iov, iov_cnt, 0,
                            tc->out->data + tc->out_pos, avail);

    tc->reads++;
    tc->out_pos += n;
    if (tc->reset_in_read) {
        vsock_conn_reset(conn);
    }
    if (tc->close_in_read) {
        vsock_conn_close(conn);
    }
    if (tc->run_now_in_read) {
        vsock_engine_run_now(vsock_conn_get_engine(conn));
    }
    return n;
}

static void tc_shutdown(VsockConn *conn, void *opaque, uint32_t flags)
{
    TestConn *tc = opaque;

    tc->shutdown_flags = flags;
    tc->shutdown_calls++;
    tc->in_at_shutdown = tc->in->len;
}

static void tc_connected(VsockConn *conn, void *opaque)
{
    TestConn *tc = opaque;

    tc->connected = true;
}

static void tc_closed(VsockConn *conn, void *opaque,
                      VsockCloseReason reason)
{
    TestConn *tc = opaque;

    g_assert_false(tc->closed);
    tc->closed = true;
    tc->reason = reason;
    tc->conn = NULL;
}

static const VsockConnOps tc_ops = {
    .connected = tc_connected,
    .write = tc_write,
    .read = tc_read,
    .shutdown = tc_shutdown,
    .closed = tc_closed,
};

static TestConn *tc_new(Fixture *f)
{
    TestConn *tc = g_new0(TestConn, 1);

    tc->in = g_byte_array_new();
    tc->out = g_byte_array_new();
    tc->write_limit = f->accept_write_limit;
    g_ptr_array_add(f->tconns, tc);
    return tc;
}

static void tc_free(gpointer p)
{
    TestConn *tc = p;

    g_byte_array_unref(tc->in);
    g_byte_array_unref(tc->out);
    g_free(tc);
}

static void tc_push(TestConn *tc, const void *data, size_t len)
{
    g_byte_array_append(tc->out, data, len);
    vsock_conn_notify_readable(tc->conn);
}

static VsockAcceptResult accept_cb(VsockListener *l, VsockConn *conn,
                                   void *opaque)
{
    Fixture *f = opaque;
    TestConn *tc;

    if (f->refuse) {
        return VSOCK_ACCEPT_REFUSE;
    }
    tc = tc_new(f);
    tc->conn = conn;
    tc->listener = l;
    g_assert_cmpint(vsock_conn_get_state(conn), ==, VSOCK_CONN_ACCEPTING);
    vsock_conn_set_ops(conn, &tc_ops, tc);
    if (f->accept_in_cb) {
        vsock_conn_accept(conn);
    }
    return f->defer ? VSOCK_ACCEPT_DEFER : VSOCK_ACCEPT_NOW;
}

static int64_t clock_cb(void *opaque)
{
    return ((Fixture *)opaque)->now;
}

static void wakeup_cb(void *opaque)
{
    ((Fixture *)opaque)->wakeups++;
}

static void run_now_cb(void *opaque)
{
    ((Fixture *)opaque)->run_nows++;
}

static void packet_cb(void *opaque, bool to_guest, const VsockHdr *h)
{
    Fixture *f = opaque;

    if (to_guest) {
        f->pkts_out++;
    } else {
        f->pkts_in++;
    }
}

static void state_cb(void *opaque, const VsockConn *c, VsockConnState o,
                     VsockConnState n)
{
    ((Fixture *)opaque)->state_changes++;
}

static const VsockEngineOps fx_ops = {
    .clock = clock_cb,
    .wakeup = wakeup_cb,
    .run_now = run_now_cb,
    .packet = packet_cb,
    .state_change = state_cb,
};

static void fx_init_cfg(Fixture *f, const VsockEngineConfig *cfg)
{
    memset(f, 0, sizeof(*f));
    f->now = 1000;
    f->accept_write_limit = SIZE_MAX;
    f->tconns = g_ptr_array_new_with_free_func(tc_free);
    if (cfg) {
        f->cfg = *cfg;
    } else {
        vsock_engine_config_init(&f->cfg);
        f->cfg.guest_cid = GUEST;
        f->cfg.local_cid = PARENT;
        f->cfg.buf_alloc = BUF_ALLOC;
        f->cfg.credit_threshold = BUF_ALLOC / 4;
        f->cfg.max_conns = 8;
        f->cfg.max_pending_rst = 4;
    }
    f->cfg.ops = &fx_ops;
    f->cfg.opaque = f;
    f->e = vsock_engine_new(&f->cfg);
    g_assert_nonnull(vsock_engine_listen(f->e, PARENT, LPORT,
                                         VSOCK_TYPE_STREAM, accept_cb, f));
}

static void fx_init(Fixture *f)
{
    fx_init_cfg(f, NULL);
}

static void fx_fini(Fixture *f)
{
    vsock_engine_free(f->e);
    g_ptr_array_unref(f->tconns);
}

/* Build and feed one guest packet (contiguous). */
static VsockTxResult fx_send_full(Fixture *f, uint64_t src_cid,
                                  uint64_t dst_cid, uint32_t src_port,
                                  uint32_t dst_port, uint16_t type,
                                  uint16_t op, uint32_t flags,
                                  uint32_t buf_alloc, uint32_t fwd_cnt,
                                  const void *payload, uint32_t len)
{
    VsockHdr h = {
        .src_cid = src_cid, .dst_cid = dst_cid,
        .src_port = src_port, .dst_port = dst_port,
        .len = len, .type = type, .op = op, .flags = flags,
        .buf_alloc = buf_alloc, .fwd_cnt = fwd_cnt,
    };
    g_autofree uint8_t *buf = g_malloc(VSOCK_HDR_SIZE + len);
    struct iovec iov = { buf, VSOCK_HDR_SIZE + len };

    vsock_hdr_encode(&h, buf);
    if (len) {
        memcpy(buf + VSOCK_HDR_SIZE, payload, len);
    }
    return vsock_engine_handle_tx(f->e, &iov, 1, iov.iov_len);
}

static VsockTxResult fx_send(Fixture *f, uint16_t op, uint32_t flags,
                             uint32_t fwd_cnt, const void *payload,
                             uint32_t len)
{
    return fx_send_full(f, GUEST, PARENT, GPORT, LPORT, VSOCK_TYPE_STREAM,
                        op, flags, GUEST_BUF, fwd_cnt, payload, len);
}

/* Offer one rx buffer of @size bytes; returns the payload length or -1. */
static int fx_rx(Fixture *f, size_t size, VsockHdr *h, uint8_t *payload)
{
    g_autofree uint8_t *buf = g_malloc0(size);
    struct iovec iov = { buf, size };
    size_t len = 0;

    if (!vsock_engine_fill_rx(f->e, &iov, 1, &len)) {
        g_assert_cmpuint(len, ==, 0);
        return -1;
    }
    g_assert_cmpuint(len, >=, VSOCK_HDR_SIZE);
    g_assert_cmpuint(len, <=, size);
    vsock_hdr_decode(h, buf);
    g_assert_cmpuint(h->len, ==, len - VSOCK_HDR_SIZE);
    if (payload) {
        memcpy(payload, buf + VSOCK_HDR_SIZE, h->len);
    }
    return h->len;
}

static void check_hdr(const VsockHdr *h, uint16_t op, uint32_t src_port,
                      uint32_t dst_port, uint32_t len, uint32_t flags,
                      uint32_t fwd_cnt)
{
    g_assert_cmpuint(h->src_cid, ==, PARENT);
    g_assert_cmpuint(h->dst_cid, ==, GUEST);
    g_assert_cmpstr(vsock_op_str(h->op), ==, vsock_op_str(op));
    g_assert_cmpuint(h->src_port, ==, src_port);
    g_assert_cmpuint(h->dst_port, ==, dst_port);
    g_assert_cmpuint(h->len, ==, len);
    g_assert_cmpuint(h->type, ==, VSOCK_TYPE_STREAM);
    g_assert_cmpuint(h->flags, ==, flags);
    g_assert_cmpuint(h->buf_alloc, ==, BUF_ALLOC);
    g_assert_cmpuint(h->fwd_cnt, ==, fwd_cnt);
}

/* Expect exactly one packet of the default connection. */
static void fx_expect(Fixture *f, uint16_t op, uint32_t len,
                      uint32_t flags, uint32_t fwd_cnt)
{
    VsockHdr h;

    g_assert_true(vsock_engine_rx_pending(f->e));
    g_assert_cmpint(fx_rx(f, 4096, &h, NULL), ==, (int)len);
    check_hdr(&h, op, LPORT, GPORT, len, flags, fwd_cnt);
}

/* An RST for a packet without connection: buf_alloc and fwd_cnt 0. */
static void fx_expect_orphan_rst(Fixture *f, uint64_t src_cid,
                                 uint32_t src_port, uint32_t dst_port,
                                 uint16_t type)
{
    VsockHdr h;

    g_assert_cmpint(fx_rx(f, 4096, &h, NULL), ==, 0);
    g_assert_cmpuint(h.op, ==, VSOCK_OP_RST);
    g_assert_cmpuint(h.src_cid, ==, src_cid);
    g_assert_cmpuint(h.dst_cid, ==, GUEST);
    g_assert_cmpuint(h.src_port, ==, src_port);
    g_assert_cmpuint(h.dst_port, ==, dst_port);
    g_assert_cmpuint(h.type, ==, type);
    g_assert_cmpuint(h.flags, ==, 0);
    g_assert_cmpuint(h.buf_alloc, ==, 0);
    g_assert_cmpuint(h.fwd_cnt, ==, 0);
}

static void fx_expect_none(Fixture *f)
{
    VsockHdr h;

    g_assert_false(vsock_engine_rx_pending(f->e));
    g_assert_cmpint(fx_rx(f, 4096, &h, NULL), ==, -1);
}

/* Guest connects to LPORT; returns the endpoint's connection. */
static TestConn *fx_connect(Fixture *f)
{
    guint n = f->tconns->len;

    g_assert_cmpint(fx_send(f, VSOCK_OP_REQUEST, 0, 0, NULL, 0), ==,
                    VSOCK_TX_OK);
    fx_expect(f, VSOCK_OP_RESPONSE, 0, 0, 0);
    fx_expect_none(f);
    g_assert_cmpuint(f->tconns->len, ==, n + 1);
    return g_ptr_array_index(f->tconns, n);
}

static void fill_pattern(uint8_t *p, size_t len, size_t start)
{
    for (size_t i = 0; i < len; i++) {
        p[i] = (uint8_t)((start + i) * 7 + 3);
    }
}

/* ---------------------------------------------------------------------- */
/* Codec                                                                  */
/* ---------------------------------------------------------------------- */

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
    g_assert_cmpstr(vsock_op_str(VSOCK_OP_CREDIT_REQUEST), ==,
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

/* ---------------------------------------------------------------------- */
/* Handshakes                                                             */
/* ---------------------------------------------------------------------- */

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
    g_assert_cmpint(fx_send(&f, VSOCK_OP_REQUEST, 0, 0, NULL, 0), ==,
                    VSOCK_TX_OK);
    tc = g_ptr_array_index(f.tconns, 0);
    tc_push(tc, "hello", 5);
    fx_expect(&f, VSOCK_OP_RESPONSE, 0, 0, 0);
    g_assert_cmpint(fx_rx(&f, 4096, &h, p), ==, 5);
    check_hdr(&h, VSOCK_OP_RW, LPORT, GPORT, 5, 0, 0);
    g_assert_cmpmem(p, 5, "hello", 5);
    fx_expect_none(&f);
    fx_fini(&f);
}

static void test_refuse_no_listener(void)
{
    Fixture f;

    fx_init(&f);
    g_assert_cmpint(fx_send_full(&f, GUEST, PARENT, GPORT, LPORT + 1,
                                 VSOCK_TYPE_STREAM, VSOCK_OP_REQUEST, 0,
                                 GUEST_BUF, 0, NULL, 0), ==,
                    VSOCK_TX_NO_LISTENER);
    fx_expect_orphan_rst(&f, PARENT, LPORT + 1, GPORT, VSOCK_TYPE_STREAM);
    fx_expect_none(&f);
    /* SEQPACKET to a STREAM listener: refused as well */
    g_assert_cmpint(fx_send_full(&f, GUEST, PARENT, GPORT, LPORT,
                                 VSOCK_TYPE_SEQPACKET, VSOCK_OP_REQUEST, 0,
                                 GUEST_BUF, 0, NULL, 0), ==,
                    VSOCK_TX_NO_LISTENER);
    fx_expect_orphan_rst(&f, PARENT, LPORT, GPORT, VSOCK_TYPE_SEQPACKET);
    g_assert_cmpuint(vsock_engine_conn_count(f.e), ==, 0);
    g_assert_cmpuint(vsock_engine_get_stats(f.e)->conns_refused, ==, 2);
    fx_fini(&f);
}

static void test_refuse_by_endpoint(void)
{
    Fixture f;

    fx_init(&f);
    f.refuse = true;
    g_assert_cmpint(fx_send(&f, VSOCK_OP_REQUEST, 0, 0, NULL, 0), ==,
                    VSOCK_TX_NO_LISTENER);
    fx_expect_orphan_rst(&f, PARENT, LPORT, GPORT, VSOCK_TYPE_STREAM);
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
                                     VSOCK_TYPE_STREAM, VSOCK_OP_REQUEST,
                                     0, GUEST_BUF, 0, NULL, 0), ==,
                        VSOCK_TX_OK);
    }
    g_assert_cmpint(fx_send_full(&f, GUEST, PARENT, 3000, LPORT,
                                 VSOCK_TYPE_STREAM, VSOCK_OP_REQUEST, 0,
                                 GUEST_BUF, 0, NULL, 0), ==,
                    VSOCK_TX_CONN_LIMIT);
    g_assert_cmpuint(vsock_engine_conn_count(f.e), ==, 8);
    /* RST first (priority), then the eight RESPONSEs in order */
    fx_expect_orphan_rst(&f, PARENT, LPORT, 3000, VSOCK_TYPE_STREAM);
    for (i = 0; i < 8; i++) {
        VsockHdr h;

        g_assert_cmpint(fx_rx(&f, 4096, &h, NULL), ==, 0);
        check_hdr(&h, VSOCK_OP_RESPONSE, LPORT, 2000 + i, 0, 0, 0);
    }
    fx_expect_none(&f);
    /* host side connect is limited too */
    g_assert_null(vsock_engine_connect(f.e, PARENT, VSOCK_PORT_ANY, 77,
                                       VSOCK_TYPE_STREAM, &tc_ops, NULL));
    /* one goes away, a new one fits */
    g_assert_cmpint(fx_send_full(&f, GUEST, PARENT, 2000, LPORT,
                                 VSOCK_TYPE_STREAM, VSOCK_OP_RST, 0,
                                 GUEST_BUF, 0, NULL, 0), ==, VSOCK_TX_OK);
    fx_expect_none(&f);
    g_assert_cmpint(fx_send_full(&f, GUEST, PARENT, 3000, LPORT,
                                 VSOCK_TYPE_STREAM, VSOCK_OP_REQUEST, 0,
                                 GUEST_BUF, 0, NULL, 0), ==, VSOCK_TX_OK);
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
                                    VSOCK_TYPE_STREAM, &tc_ops, tc);
    g_assert_nonnull(tc->conn);
    g_assert_cmpint(vsock_conn_get_state(tc->conn), ==,
                    VSOCK_CONN_CONNECTING);
    port = vsock_conn_get_local_port(tc->conn);
    g_assert_cmpuint(port, >=, 1024);
    g_assert_cmpuint(port, !=, VSOCK_PORT_ANY);
    /* data made readable early waits for the RESPONSE */
    tc_push(tc, "abc", 3);
    g_assert_cmpint(fx_rx(&f, 4096, &h, NULL), ==, 0);
    check_hdr(&h, VSOCK_OP_REQUEST, port, 7000, 0, 0, 0);
    fx_expect_none(&f);
    g_assert_cmpint(f.now + 2000000000LL, ==,
                    vsock_engine_next_deadline(f.e));
    g_assert_cmpint(fx_send_full(&f, GUEST, PARENT, 7000, port,
                                 VSOCK_TYPE_STREAM, VSOCK_OP_RESPONSE, 0,
                                 GUEST_BUF, 0, NULL, 0), ==, VSOCK_TX_OK);
    g_assert_true(tc->connected);
    g_assert_cmpint(vsock_conn_get_state(tc->conn), ==,
                    VSOCK_CONN_ESTABLISHED);
    g_assert_cmpint(vsock_engine_next_deadline(f.e), ==, INT64_MAX);
    g_assert_cmpint(fx_rx(&f, 4096, &h, NULL), ==, 3);
    check_hdr(&h, VSOCK_OP_RW, port, 7000, 3, 0, 0);
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
                                    VSOCK_TYPE_STREAM, &tc_ops, tc);
    port = vsock_conn_get_local_port(tc->conn);
    g_assert_cmpuint(port, ==, 4444);
    g_assert_cmpint(fx_rx(&f, 4096, &h, NULL), ==, 0);
    check_hdr(&h, VSOCK_OP_REQUEST, 4444, 7000, 0, 0, 0);
    g_assert_cmpint(fx_send_full(&f, GUEST, PARENT, 7000, 4444,
                                 VSOCK_TYPE_STREAM, VSOCK_OP_RST, 0,
                                 0, 0, NULL, 0), ==, VSOCK_TX_OK);
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
                                    VSOCK_TYPE_STREAM, &tc_ops, tc);
    port = vsock_conn_get_local_port(tc->conn);
    g_assert_cmpint(fx_rx(&f, 4096, &h, NULL), ==, 0);
    check_hdr(&h, VSOCK_OP_REQUEST, port, 7000, 0, 0, 0);
    f.now += 2000000000LL - 1;
    vsock_engine_run_timers(f.e);
    g_assert_false(tc->closed);
    f.now += 1;
    vsock_engine_run_timers(f.e);
    g_assert_true(tc->closed);
    g_assert_cmpint(tc->reason, ==, VSOCK_CLOSE_TIMEOUT);
    g_assert_cmpint(fx_rx(&f, 4096, &h, NULL), ==, 0);
    check_hdr(&h, VSOCK_OP_RST, port, 7000, 0, 0, 0);
    fx_expect_none(&f);
    /* a late RESPONSE is a packet for an unknown connection */
    g_assert_cmpint(fx_send_full(&f, GUEST, PARENT, 7000, port,
                                 VSOCK_TYPE_STREAM, VSOCK_OP_RESPONSE, 0,
                                 GUEST_BUF, 0, NULL, 0), ==,
                    VSOCK_TX_NO_CONN);
    fx_expect_orphan_rst(&f, PARENT, port, 7000, VSOCK_TYPE_STREAM);
    g_assert_cmpint(vsock_engine_next_deadline(f.e), ==, INT64_MAX);
    fx_fini(&f);
}

static void test_host_ports(void)
{
    Fixture f;
    VsockConn *a, *b, *c;

    fx_init(&f);
    a = vsock_engine_connect(f.e, PARENT, VSOCK_PORT_ANY, 7000,
                             VSOCK_TYPE_STREAM, &tc_ops, tc_new(&f));
    b = vsock_engine_connect(f.e, PARENT, VSOCK_PORT_ANY, 7000,
                             VSOCK_TYPE_STREAM, &tc_ops, tc_new(&f));
    g_assert_nonnull(a);
    g_assert_nonnull(b);
    g_assert_cmpuint(vsock_conn_get_local_port(a), !=,
                     vsock_conn_get_local_port(b));
    /* explicit port already used towards the same guest port */
    g_assert_null(vsock_engine_connect(f.e, PARENT,
                                       vsock_conn_get_local_port(a), 7000,
                                       VSOCK_TYPE_STREAM, &tc_ops, NULL));
    /* listener port is not handed out */
    g_assert_null(vsock_engine_connect(f.e, PARENT, LPORT, 7000,
                                       VSOCK_TYPE_STREAM, &tc_ops, NULL));
    /* not a local CID */
    g_assert_null(vsock_engine_connect(f.e, 99, VSOCK_PORT_ANY, 7000,
                                       VSOCK_TYPE_STREAM, &tc_ops, NULL));
    c = vsock_engine_connect(f.e, PARENT, VSOCK_PORT_ANY, 7001,
                             VSOCK_TYPE_STREAM, &tc_ops, tc_new(&f));
    g_assert_nonnull(c);
    fx_fini(&f);
}

/* ---------------------------------------------------------------------- */
/* Data and credit                                                        */
/* ---------------------------------------------------------------------- */

static void test_guest_to_host(void)
{
    Fixture f;
    TestConn *tc;
    uint8_t data[3000];

    fx_init(&f);
    tc = fx_connect(&f);
    fill_pattern(data, sizeof(data), 0);
    g_assert_cmpint(fx_send(&f, VSOCK_OP_RW, 0, 0, data, 1000), ==,
                    VSOCK_TX_OK);
    g_assert_cmpint(fx_send(&f, VSOCK_OP_RW, 0, 0, data + 1000, 2000), ==,
                    VSOCK_TX_OK);
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
        fx_send(&f, VSOCK_OP_RW, 0, 0, data, 4096);
        fx_expect_none(&f);
    }
    fx_send(&f, VSOCK_OP_RW, 0, 0, data, 4095);
    fx_expect_none(&f); /* 16383 freed: one short of 16 KiB */
    fx_send(&f, VSOCK_OP_RW, 0, 0, data, 1);
    fx_expect(&f, VSOCK_OP_CREDIT_UPDATE, 0, 0, 16384);
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
                                 VSOCK_TYPE_STREAM, VSOCK_OP_REQUEST, 0,
                                 8192, 0, NULL, 0), ==, VSOCK_TX_OK);
    fx_expect(&f, VSOCK_OP_RESPONSE, 0, 0, 0);
    fx_send_full(&f, GUEST, PARENT, GPORT, LPORT, VSOCK_TYPE_STREAM,
                 VSOCK_OP_RW, 0, 8192, 0, data, 4095);
    fx_expect_none(&f);
    fx_send_full(&f, GUEST, PARENT, GPORT, LPORT, VSOCK_TYPE_STREAM,
                 VSOCK_OP_RW, 0, 8192, 0, data, 1);
    fx_expect(&f, VSOCK_OP_CREDIT_UPDATE, 0, 0, 4096);
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
    g_assert_cmpint(fx_send_full(&f, GUEST, PARENT, GPORT, LPORT,
                                 VSOCK_TYPE_STREAM, VSOCK_OP_REQUEST, 0,
                                 guest_buf, 0, NULL, 0), ==, VSOCK_TX_OK);
    g_assert_cmpint(fx_rx(&f, 4096, &h, NULL), ==, 0);
    g_assert_cmpstr(vsock_op_str(h.op), ==, "RESPONSE");
    while (sent < expect - 1) {
        uint32_t n = MIN(sizeof(data), expect - 1 - sent);

        g_assert_cmpint(fx_send_full(&f, GUEST, PARENT, GPORT, LPORT,
                                     VSOCK_TYPE_STREAM, VSOCK_OP_RW, 0,
                                     guest_buf, 0, data, n), ==,
                        VSOCK_TX_OK);
        sent += n;
        g_assert_false(vsock_engine_rx_pending(f.e));
    }
    /* one byte short so far; this one crosses it */
    fx_send_full(&f, GUEST, PARENT, GPORT, LPORT, VSOCK_TYPE_STREAM,
                 VSOCK_OP_RW, 0, guest_buf, 0, data, 1);
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

/*
 * vsock_engine_run_now() reaches the device only outside engine calls: an
 * endpoint's event handler may ask, an endpoint callback may not.
 */
static void test_run_now(void)
{
    Fixture f;
    TestConn *tc;
    VsockHdr h;
    uint8_t got[8];

    fx_init(&f);
    tc = fx_connect(&f);
    vsock_engine_run_now(f.e);
    g_assert_cmpuint(f.run_nows, ==, 1);

    /* from inside read(), i.e. inside vsock_engine_fill_rx(): nothing */
    tc->run_now_in_read = true;
    tc_push(tc, "ping", 4);
    g_assert_cmpint(fx_rx(&f, 4096, &h, got), ==, 4);
    g_assert_cmpmem(got, 4, "ping", 4);
    g_assert_cmpuint(tc->reads, >=, 1);
    g_assert_cmpuint(f.run_nows, ==, 1);
    fx_fini(&f);
}

static void test_credit_request(void)
{
    Fixture f;
    uint8_t data[100] = { 0 };

    fx_init(&f);
    fx_connect(&f);
    fx_send(&f, VSOCK_OP_RW, 0, 0, data, 100);
    g_assert_cmpint(fx_send(&f, VSOCK_OP_CREDIT_REQUEST, 0, 0, NULL, 0), ==,
                    VSOCK_TX_OK);
    fx_expect(&f, VSOCK_OP_CREDIT_UPDATE, 0, 0, 100);
    fx_expect_none(&f);
    /* a second request gets a second answer */
    fx_send(&f, VSOCK_OP_CREDIT_REQUEST, 0, 0, NULL, 0);
    fx_expect(&f, VSOCK_OP_CREDIT_UPDATE, 0, 0, 100);
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
                                 VSOCK_TYPE_STREAM, VSOCK_OP_REQUEST, 0,
                                 10000, 0, NULL, 0), ==, VSOCK_TX_OK);
    fx_expect(&f, VSOCK_OP_RESPONSE, 0, 0, 0);
    tc = g_ptr_array_index(f.tconns, 0);
    fill_pattern(data, 20000, 0);
    tc_push(tc, data, 20000);
    /* the guest's 10000 bytes of credit, in 4 KiB buffers */
    while ((n = fx_rx(&f, 4096, &h, got + total)) > 0) {
        check_hdr(&h, VSOCK_OP_RW, LPORT, GPORT, n, 0, 0);
        total += n;
    }
    g_assert_cmpuint(total, ==, 10000);
    g_assert_cmpuint(vsock_conn_get_peer_credit(tc->conn), ==, 0);
    fx_expect_none(&f);
    /* the guest read 6000: exactly 6000 more */
    fx_send_full(&f, GUEST, PARENT, GPORT, LPORT, VSOCK_TYPE_STREAM,
                 VSOCK_OP_CREDIT_UPDATE, 0, 10000, 6000, NULL, 0);
    n = fx_rx(&f, 65536, &h, got + total);
    g_assert_cmpint(n, ==, 6000);
    total += n;
    fx_expect_none(&f);
    /* the guest shrinks its buffer below what is in flight: no credit */
    fx_send_full(&f, GUEST, PARENT, GPORT, LPORT, VSOCK_TYPE_STREAM,
                 VSOCK_OP_CREDIT_UPDATE, 0, 5000, 6000, NULL, 0);
    g_assert_cmpuint(vsock_conn_get_peer_credit(tc->conn), ==, 0);
    fx_expect_none(&f);
    fx_send_full(&f, GUEST, PARENT, GPORT, LPORT, VSOCK_TYPE_STREAM,
                 VSOCK_OP_CREDIT_UPDATE, 0, 10000, 16000, NULL, 0);
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
    g_assert_cmpint(fx_send(&f, VSOCK_OP_RW, 0, 0, data, 60000), ==,
                    VSOCK_TX_OK);
    g_assert_cmpint(fx_send(&f, VSOCK_OP_RW, 0, 0, data + 60000,
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
    fx_expect(&f, VSOCK_OP_CREDIT_UPDATE, 0, 0, 20000);
    /* the guest may send 20000 more, not one byte beyond */
    g_assert_cmpint(fx_send(&f, VSOCK_OP_RW, 0, 0, data, 20000), ==,
                    VSOCK_TX_OK);
    g_assert_cmpint(fx_send(&f, VSOCK_OP_RW, 0, 0, data, 1), ==,
                    VSOCK_TX_CREDIT_OVERRUN);
    g_assert_true(tc->closed);
    g_assert_cmpint(tc->reason, ==, VSOCK_CLOSE_PROTOCOL);
    g_assert_cmpuint(vsock_engine_buffered_bytes(f.e), ==, 0);
    fx_expect(&f, VSOCK_OP_RST, 0, 0, 20000);
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
    fx_send(&f, VSOCK_OP_RW, 0, 0, data, 10000);
    fx_send(&f, VSOCK_OP_RW, 0, 0, data + 10000, 10000);
    fx_send(&f, VSOCK_OP_RW, 0, 0, data + 20000, 10000);
    g_assert_cmpuint(tc->in->len, ==, 700);
    while (tc->in->len < sizeof(data)) {
        guint before = tc->in->len;

        tc->write_limit = 700;
        vsock_conn_notify_writable(tc->conn);
        g_assert_cmpuint(tc->in->len, >, before);
    }
    g_assert_cmpmem(tc->in->data, tc->in->len, data, sizeof(data));
    g_assert_cmpuint(vsock_engine_buffered_bytes(f.e), ==, 0);
    fx_expect(&f, VSOCK_OP_CREDIT_UPDATE, 0, 0, 30000);
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

        g_assert_cmpint(fx_send(&f, VSOCK_OP_RW, 0, 0, data, n), ==,
                        VSOCK_TX_OK);
        sent += n;
        while (fx_rx(&f, 4096, &h, NULL) >= 0) {
            g_assert_cmpuint(h.op, ==, VSOCK_OP_CREDIT_UPDATE);
            g_assert_cmpuint(h.fwd_cnt, ==, (uint32_t)sent);
        }
        g_byte_array_set_size(tc->in, 0);
    }
    g_assert_cmpuint(vsock_conn_get_stats(tc->conn)->tx_bytes, ==, total);
    fx_send(&f, VSOCK_OP_CREDIT_REQUEST, 0, 0, NULL, 0);
    fx_expect(&f, VSOCK_OP_CREDIT_UPDATE, 0, 0, (uint32_t)total);

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
            fx_send(&f, VSOCK_OP_CREDIT_UPDATE, 0, guest_fwd, NULL, 0);
            continue;
        }
        vsock_hdr_decode(&h, rx);
        g_assert_cmpuint(h.op, ==, VSOCK_OP_RW);
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

/* ---------------------------------------------------------------------- */
/* rx layouts, coalescing, fairness                                       */
/* ---------------------------------------------------------------------- */

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
        check_hdr(&h, VSOCK_OP_RW, LPORT, GPORT, 4052, 0, 0);
        g_assert_cmpmem(one + VSOCK_HDR_SIZE, 4052, data, 4052);
    }
    /* 44 + 4096 chain: a full page of payload */
    g_assert_true(vsock_engine_fill_rx(f.e, two, 2, &len));
    g_assert_cmpuint(len, ==, 44 + 4096);
    vsock_hdr_decode(&h, hdr);
    check_hdr(&h, VSOCK_OP_RW, LPORT, GPORT, 4096, 0, 0);
    g_assert_cmpmem(page, 4096, data + 4052, 4096);
    /* header split over three buffers, payload over two */
    g_assert_true(vsock_engine_fill_rx(f.e, split, 4, &len));
    g_assert_cmpuint(len, ==, 44 + 4096 + 5);
    memcpy(raw, p1, 10);
    memcpy(raw + 10, p2, 30);
    memcpy(raw + 40, hdr, 4);
    vsock_hdr_decode(&h, raw);
    check_hdr(&h, VSOCK_OP_RW, LPORT, GPORT, 4101, 0, 0);
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
                                 VSOCK_TYPE_STREAM, VSOCK_OP_REQUEST, 0,
                                 GUEST_BUF, 0, NULL, 0), ==, VSOCK_TX_OK);
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
    fx_send_full(&f, GUEST, PARENT, GPORT + 1, LPORT, VSOCK_TYPE_STREAM,
                 VSOCK_OP_REQUEST, 0, GUEST_BUF, 0, NULL, 0);
    fx_rx(&f, 4096, &h, NULL);
    b = g_ptr_array_index(f.tconns, 1);
    g_assert_nonnull(b);
    tc_push(a, data, 200000);
    fx_send_full(&f, GUEST, PARENT, GPORT + 1, LPORT, VSOCK_TYPE_STREAM,
                 VSOCK_OP_CREDIT_REQUEST, 0, GUEST_BUF, 0, NULL, 0);
    for (i = 0; i < 3; i++) {
        fx_rx(&f, 4096, &h, NULL);
        if (h.op == VSOCK_OP_CREDIT_UPDATE) {
            g_assert_cmpuint(h.dst_port, ==, GPORT + 1);
            seen = true;
        }
    }
    g_assert_true(seen);
    fx_fini(&f);
}

/* ---------------------------------------------------------------------- */
/* Shutdown                                                               */
/* ---------------------------------------------------------------------- */

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
    fx_send(&f, VSOCK_OP_RW, 0, 0, "request", 7);
    g_assert_cmpint(fx_send(&f, VSOCK_OP_SHUTDOWN, VSOCK_SHUTDOWN_SEND, 0,
                            NULL, 0), ==, VSOCK_TX_OK);
    g_assert_cmpuint(tc->shutdown_calls, ==, 0); /* data first */
    g_assert_cmpuint(vsock_conn_get_peer_shutdown(tc->conn), ==,
                     VSOCK_SHUTDOWN_SEND);
    tc->write_limit = 3;
    vsock_conn_notify_writable(tc->conn);
    g_assert_cmpuint(tc->shutdown_calls, ==, 0);
    tc->write_limit = SIZE_MAX;
    vsock_conn_notify_writable(tc->conn);
    g_assert_cmpuint(tc->shutdown_calls, ==, 1);
    g_assert_cmpuint(tc->shutdown_flags, ==, VSOCK_SHUTDOWN_SEND);
    g_assert_cmpuint(tc->in_at_shutdown, ==, 7);
    g_assert_cmpmem(tc->in->data, 7, "request", 7);
    /* more guest data after SHUT_WR is a protocol error... later */
    /* the response still flows to the guest */
    tc_push(tc, "response", 8);
    g_assert_cmpint(fx_rx(&f, 4096, &h, p), ==, 8);
    check_hdr(&h, VSOCK_OP_RW, LPORT, GPORT, 8, 0, 7);
    g_assert_cmpmem(p, 8, "response", 8);
    /* endpoint closes: SHUTDOWN(3); guest answers RST */
    vsock_conn_close(tc->conn);
    fx_expect(&f, VSOCK_OP_SHUTDOWN, 0, VSOCK_SHUTDOWN_BOTH, 7);
    fx_expect_none(&f);
    g_assert_cmpint(fx_send(&f, VSOCK_OP_RST, 0, 0, NULL, 0), ==,
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
    fx_send(&f, VSOCK_OP_SHUTDOWN, VSOCK_SHUTDOWN_SEND, 0, NULL, 0);
    g_assert_cmpuint(tc->shutdown_flags, ==, VSOCK_SHUTDOWN_SEND);
    g_assert_cmpint(fx_send(&f, VSOCK_OP_RW, 0, 0, "x", 1), ==,
                    VSOCK_TX_BAD_OP);
    g_assert_true(tc->closed);
    fx_expect(&f, VSOCK_OP_RST, 0, 0, 0);
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
    fx_send(&f, VSOCK_OP_SHUTDOWN, VSOCK_SHUTDOWN_RCV, 0, NULL, 0);
    g_assert_cmpuint(tc->shutdown_flags, ==, VSOCK_SHUTDOWN_RCV);
    /* the guest will not receive: no RW goes out */
    fx_expect_none(&f);
    g_assert_cmpuint(tc->reads, ==, 0);
    /* guest data still flows */
    fx_send(&f, VSOCK_OP_RW, 0, 0, "abc", 3);
    g_assert_cmpmem(tc->in->data, tc->in->len, "abc", 3);
    /* flags are sticky: SEND alone now means both */
    fx_send(&f, VSOCK_OP_SHUTDOWN, VSOCK_SHUTDOWN_SEND, 0, NULL, 0);
    g_assert_true(tc->closed);
    g_assert_cmpint(tc->reason, ==, VSOCK_CLOSE_PEER_SHUTDOWN);
    fx_expect(&f, VSOCK_OP_RST, 0, 0, 3);
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
    g_assert_cmpint(fx_send(&f, VSOCK_OP_SHUTDOWN, VSOCK_SHUTDOWN_BOTH, 0,
                            NULL, 0), ==, VSOCK_TX_OK);
    g_assert_true(tc->closed);
    g_assert_cmpint(tc->reason, ==, VSOCK_CLOSE_PEER_SHUTDOWN);
    fx_expect(&f, VSOCK_OP_RST, 0, 0, 0);
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
    fx_send(&f, VSOCK_OP_RW, 0, 0, "last words", 10);
    fx_send(&f, VSOCK_OP_SHUTDOWN, VSOCK_SHUTDOWN_BOTH, 0, NULL, 0);
    g_assert_false(tc->closed);
    g_assert_cmpuint(tc->shutdown_flags, ==, VSOCK_SHUTDOWN_RCV);
    fx_expect_none(&f);
    tc->write_limit = SIZE_MAX;
    vsock_conn_notify_writable(tc->conn);
    g_assert_cmpmem(tc->in->data, tc->in->len, "last words", 10);
    g_assert_true(tc->closed);
    g_assert_cmpint(tc->reason, ==, VSOCK_CLOSE_PEER_SHUTDOWN);
    fx_expect(&f, VSOCK_OP_RST, 0, 0, 10);
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
    check_hdr(&h, VSOCK_OP_RW, LPORT, GPORT, 3, 0, 0);
    fx_expect(&f, VSOCK_OP_SHUTDOWN, 0, VSOCK_SHUTDOWN_BOTH, 0);
    fx_expect_none(&f);
    g_assert_cmpint(vsock_conn_get_state(tc->conn), ==,
                    VSOCK_CONN_CLOSING);
    /* data from the guest is dropped now, credit keeps moving */
    g_assert_cmpint(fx_send(&f, VSOCK_OP_RW, 0, 0, "late", 4), ==,
                    VSOCK_TX_OK);
    g_assert_cmpuint(tc->in->len, ==, 0);
    fx_send(&f, VSOCK_OP_SHUTDOWN, VSOCK_SHUTDOWN_BOTH, 0, NULL, 0);
    fx_expect(&f, VSOCK_OP_RST, 0, 0, 4);
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
    fx_expect(&f, VSOCK_OP_SHUTDOWN, 0, VSOCK_SHUTDOWN_BOTH, 0);
    fx_expect_none(&f);
    f.now += 1999999999LL;
    vsock_engine_run_timers(f.e);
    fx_expect_none(&f);
    f.now += 1;
    vsock_engine_run_timers(f.e);
    fx_expect(&f, VSOCK_OP_RST, 0, 0, 0);
    fx_expect_none(&f);
    g_assert_cmpuint(vsock_engine_conn_count(f.e), ==, 0);
    g_assert_cmpint(vsock_engine_next_deadline(f.e), ==, INT64_MAX);
    /* the guest's late RST is not answered */
    fx_send(&f, VSOCK_OP_RST, 0, 0, NULL, 0);
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
    vsock_conn_shutdown(tc->conn, VSOCK_SHUTDOWN_SEND);
    g_assert_cmpint(fx_rx(&f, 4096, &h, NULL), ==, 10);
    fx_expect(&f, VSOCK_OP_SHUTDOWN, 0, VSOCK_SHUTDOWN_SEND, 0);
    fx_expect_none(&f);
    /* more readable data after SHUTDOWN(SEND) is not sent */
    tc_push(tc, "x", 1);
    fx_expect_none(&f);
    /* the guest keeps sending */
    fx_send(&f, VSOCK_OP_RW, 0, 0, "reply", 5);
    g_assert_cmpmem(tc->in->data, tc->in->len, "reply", 5);
    /* and then closes */
    fx_send(&f, VSOCK_OP_SHUTDOWN, VSOCK_SHUTDOWN_BOTH, 0, NULL, 0);
    g_assert_true(tc->closed);
    fx_expect(&f, VSOCK_OP_RST, 0, 0, 5);
    fx_expect_none(&f);
    fx_fini(&f);
}

/* ---------------------------------------------------------------------- */
/* RST rules and guest mistakes                                           */
/* ---------------------------------------------------------------------- */

static void test_rst_rules(void)
{
    Fixture f;
    TestConn *tc;
    const VsockEngineStats *st;

    fx_init(&f);
    st = vsock_engine_get_stats(f.e);
    /* orphan RST: no reply */
    g_assert_cmpint(fx_send(&f, VSOCK_OP_RST, 0, 0, NULL, 0), ==,
                    VSOCK_TX_OK);
    fx_expect_none(&f);
    /* RST with a bad type or to a foreign CID: still no reply */
    fx_send_full(&f, GUEST, 77, GPORT, LPORT, 9, VSOCK_OP_RST, 0, 0, 0,
                 NULL, 0);
    fx_expect_none(&f);
    g_assert_cmpuint(st->rst_received, ==, 2);
    /* packet for an unknown connection */
    g_assert_cmpint(fx_send(&f, VSOCK_OP_RW, 0, 0, "x", 1), ==,
                    VSOCK_TX_NO_CONN);
    fx_expect_orphan_rst(&f, PARENT, LPORT, GPORT, VSOCK_TYPE_STREAM);
    g_assert_cmpint(fx_send(&f, VSOCK_OP_SHUTDOWN, 3, 0, NULL, 0), ==,
                    VSOCK_TX_NO_CONN);
    fx_expect_orphan_rst(&f, PARENT, LPORT, GPORT, VSOCK_TYPE_STREAM);
    /* unknown op without connection */
    g_assert_cmpint(fx_send(&f, 42, 0, 0, NULL, 0), ==, VSOCK_TX_BAD_OP);
    fx_expect_orphan_rst(&f, PARENT, LPORT, GPORT, VSOCK_TYPE_STREAM);
    g_assert_cmpint(fx_send(&f, VSOCK_OP_INVALID, 0, 0, NULL, 0), ==,
                    VSOCK_TX_BAD_OP);
    fx_expect_orphan_rst(&f, PARENT, LPORT, GPORT, VSOCK_TYPE_STREAM);
    /* unknown type */
    g_assert_cmpint(fx_send_full(&f, GUEST, PARENT, GPORT, LPORT, 3,
                                 VSOCK_OP_REQUEST, 0, GUEST_BUF, 0, NULL,
                                 0), ==, VSOCK_TX_BAD_TYPE);
    fx_expect_orphan_rst(&f, PARENT, LPORT, GPORT, 3);
    /* dst_cid we do not serve (host, 2) */
    g_assert_cmpint(fx_send_full(&f, GUEST, VSOCK_CID_HOST, GPORT, LPORT,
                                 VSOCK_TYPE_STREAM, VSOCK_OP_REQUEST, 0,
                                 GUEST_BUF, 0, NULL, 0), ==,
                    VSOCK_TX_BAD_DST_CID);
    fx_expect_orphan_rst(&f, VSOCK_CID_HOST, LPORT, GPORT,
                         VSOCK_TYPE_STREAM);
    fx_expect_none(&f);

    /* unknown op on a live connection: RST and gone */
    tc = fx_connect(&f);
    g_assert_cmpint(fx_send(&f, 8, 0, 0, NULL, 0), ==, VSOCK_TX_BAD_OP);
    g_assert_true(tc->closed);
    g_assert_cmpint(tc->reason, ==, VSOCK_CLOSE_PROTOCOL);
    fx_expect(&f, VSOCK_OP_RST, 0, 0, 0);
    fx_expect_none(&f);
    /* unknown type on a live connection */
    tc = fx_connect(&f);
    g_assert_cmpint(fx_send_full(&f, GUEST, PARENT, GPORT, LPORT, 7,
                                 VSOCK_OP_RW, 0, GUEST_BUF, 0, "x", 1), ==,
                    VSOCK_TX_BAD_TYPE);
    g_assert_true(tc->closed);
    fx_expect(&f, VSOCK_OP_RST, 0, 0, 0);
    /* duplicate REQUEST on a live connection */
    tc = fx_connect(&f);
    g_assert_cmpint(fx_send(&f, VSOCK_OP_REQUEST, 0, 0, NULL, 0), ==,
                    VSOCK_TX_BAD_OP);
    g_assert_true(tc->closed);
    fx_expect(&f, VSOCK_OP_RST, 0, 0, 0);
    fx_expect_none(&f);
    /* the guest RSTs while our RST is queued: ours is dropped */
    tc = fx_connect(&f);
    fx_send(&f, 9, 0, 0, NULL, 0);
    fx_send(&f, VSOCK_OP_RST, 0, 0, NULL, 0);
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
    fx_send_full(&f, GUEST, PARENT, GPORT + 5, LPORT, VSOCK_TYPE_STREAM,
                 VSOCK_OP_RST, 0, 0, 0, NULL, 0);
    fx_expect_none(&f);
    g_assert_false(tc->closed);
    g_assert_cmpuint(vsock_engine_conn_count(f.e), ==, 1);
    fx_fini(&f);
}

static void test_spoofed_src(void)
{
    Fixture f;
    const VsockEngineStats *st;

    fx_init(&f);
    st = vsock_engine_get_stats(f.e);
    g_assert_cmpint(fx_send_full(&f, GUEST + 1, PARENT, GPORT, LPORT,
                                 VSOCK_TYPE_STREAM, VSOCK_OP_REQUEST, 0,
                                 GUEST_BUF, 0, NULL, 0), ==,
                    VSOCK_TX_BAD_SRC_CID);
    g_assert_cmpint(fx_send_full(&f, VSOCK_CID_HOST, PARENT, GPORT, LPORT,
                                 VSOCK_TYPE_STREAM, VSOCK_OP_RW, 0,
                                 GUEST_BUF, 0, "x", 1), ==,
                    VSOCK_TX_BAD_SRC_CID);
    fx_expect_none(&f);
    g_assert_cmpuint(vsock_engine_conn_count(f.e), ==, 0);
    g_assert_cmpuint(st->results[VSOCK_TX_BAD_SRC_CID], ==, 2);
    /* a new guest CID takes effect */
    vsock_engine_set_guest_cid(f.e, GUEST + 1);
    g_assert_cmpint(fx_send_full(&f, GUEST + 1, PARENT, GPORT, LPORT,
                                 VSOCK_TYPE_STREAM, VSOCK_OP_REQUEST, 0,
                                 GUEST_BUF, 0, NULL, 0), ==, VSOCK_TX_OK);
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
        .dst_port = LPORT, .len = 101, .type = VSOCK_TYPE_STREAM,
        .op = VSOCK_OP_RW, .buf_alloc = GUEST_BUF,
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
        .dst_port = LPORT, .len = 300, .type = VSOCK_TYPE_STREAM,
        .op = VSOCK_OP_RW, .buf_alloc = GUEST_BUF,
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

static void test_rst_queue_bound(void)
{
    Fixture f;
    unsigned i, wakeups;

    fx_init(&f); /* max_pending_rst 4 */
    for (i = 0; i < 4; i++) {
        g_assert_true(vsock_engine_tx_ready(f.e));
        g_assert_cmpint(fx_send_full(&f, GUEST, PARENT, 100 + i, 1,
                                     VSOCK_TYPE_STREAM, VSOCK_OP_RW, 0, 0,
                                     0, NULL, 0), ==, VSOCK_TX_NO_CONN);
    }
    g_assert_false(vsock_engine_tx_ready(f.e));
    /* a device that ignores tx_ready loses the reply, not memory */
    g_assert_cmpint(fx_send_full(&f, GUEST, PARENT, 200, 1,
                                 VSOCK_TYPE_STREAM, VSOCK_OP_RW, 0, 0, 0,
                                 NULL, 0), ==, VSOCK_TX_RST_DROPPED);
    wakeups = f.wakeups;
    fx_expect_orphan_rst(&f, PARENT, 1, 100, VSOCK_TYPE_STREAM);
    g_assert_true(vsock_engine_tx_ready(f.e));
    g_assert_cmpuint(f.wakeups, ==, wakeups + 1); /* tx may resume */
    for (i = 1; i < 4; i++) {
        fx_expect_orphan_rst(&f, PARENT, 1, 100 + i, VSOCK_TYPE_STREAM);
    }
    fx_expect_none(&f);
    fx_fini(&f);
}

/* ---------------------------------------------------------------------- */
/* Callbacks that close or reset from inside                              */
/* ---------------------------------------------------------------------- */

static void test_close_in_write(void)
{
    Fixture f;
    TestConn *tc;

    fx_init(&f);
    tc = fx_connect(&f);
    tc->close_in_write = true;
    tc->write_limit = 2;
    g_assert_cmpint(fx_send(&f, VSOCK_OP_RW, 0, 0, "hello", 5), ==,
                    VSOCK_TX_OK);
    g_assert_cmpuint(vsock_engine_buffered_bytes(f.e), ==, 0);
    fx_expect(&f, VSOCK_OP_SHUTDOWN, 0, VSOCK_SHUTDOWN_BOTH, 5);
    fx_send(&f, VSOCK_OP_RST, 0, 0, NULL, 0);
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
    fx_expect(&f, VSOCK_OP_RST, 0, 0, 0);
    fx_expect_none(&f);
    g_assert_cmpuint(vsock_engine_conn_count(f.e), ==, 0);
    g_assert_false(tc->closed);
    fx_fini(&f);
}

/* ---------------------------------------------------------------------- */
/* Heartbeat                                                              */
/* ---------------------------------------------------------------------- */

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
                     VSOCK_TYPE_STREAM, op, fl, GUEST_BUF, 0, data, len)
#define HB_EXPECT(op_, len_, fl_, fwd_) \
        do { \
            g_assert_cmpint(fx_rx(&f, 4096, &h, p), ==, len_); \
            g_assert_cmpuint(h.op, ==, op_); \
            g_assert_cmpuint(h.src_cid, ==, PARENT); \
            g_assert_cmpuint(h.dst_cid, ==, GUEST); \
            g_assert_cmpuint(h.src_port, ==, VSOCK_HEARTBEAT_PORT); \
            g_assert_cmpuint(h.dst_port, ==, port); \
            g_assert_cmpuint(h.type, ==, VSOCK_TYPE_STREAM); \
            g_assert_cmpuint(h.flags, ==, fl_); \
            g_assert_cmpuint(h.buf_alloc, ==, BUF_ALLOC); \
            g_assert_cmpuint(h.fwd_cnt, ==, fwd_); \
        } while (0)

        /* connect(3, 9000) */
        g_assert_cmpint(HB_SEND(VSOCK_OP_REQUEST, 0, NULL, 0), ==,
                        VSOCK_TX_OK);
        HB_EXPECT(VSOCK_OP_RESPONSE, 0, 0, 0);
        fx_expect_none(&f);
        /* write 0xB7 -> 0xB7 comes back, then the parent closes */
        byte = i == 7 ? 0x42 : VSOCK_HEARTBEAT_BYTE;
        g_assert_cmpint(HB_SEND(VSOCK_OP_RW, 0, &byte, 1), ==,
                        VSOCK_TX_OK);
        HB_EXPECT(VSOCK_OP_RW, 1, 0, 1);
        g_assert_cmpuint(p[0], ==, byte);
        HB_EXPECT(VSOCK_OP_SHUTDOWN, 0, VSOCK_SHUTDOWN_BOTH, 1);
        fx_expect_none(&f);
        /* close(): SHUTDOWN(3) -> RST at once */
        g_assert_cmpint(HB_SEND(VSOCK_OP_SHUTDOWN, VSOCK_SHUTDOWN_BOTH,
                                NULL, 0), ==, VSOCK_TX_OK);
        HB_EXPECT(VSOCK_OP_RST, 0, 0, 1);
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
                 VSOCK_TYPE_STREAM, VSOCK_OP_REQUEST, 0, GUEST_BUF, 0,
                 NULL, 0);
    fx_send_full(&f, GUEST, PARENT, 1, VSOCK_HEARTBEAT_PORT,
                 VSOCK_TYPE_STREAM, VSOCK_OP_RST, 0, GUEST_BUF, 0,
                 NULL, 0);
    g_assert_cmpuint(vsock_engine_conn_count(f.e), ==, 0);
    /* freeing the heartbeat with a connection open */
    fx_send_full(&f, GUEST, PARENT, 2, VSOCK_HEARTBEAT_PORT,
                 VSOCK_TYPE_STREAM, VSOCK_OP_REQUEST, 0, GUEST_BUF, 0,
                 NULL, 0);
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
                 VSOCK_TYPE_STREAM, VSOCK_OP_REQUEST, 0, GUEST_BUF, 0,
                 NULL, 0);
    fx_send_full(&f, GUEST, PARENT, 5, VSOCK_HEARTBEAT_PORT,
                 VSOCK_TYPE_STREAM, VSOCK_OP_RW, 0, GUEST_BUF, 0,
                 &byte, 1);
    g_assert_cmpint(fx_rx(&f, 4096, &h, NULL), ==, 0);
    g_assert_cmpuint(h.op, ==, VSOCK_OP_RESPONSE);
    g_assert_cmpint(fx_rx(&f, 4096, &h, NULL), ==, 1);
    g_assert_cmpint(fx_rx(&f, 4096, &h, NULL), ==, 0);
    g_assert_cmpuint(h.op, ==, VSOCK_OP_SHUTDOWN);
    fx_send_full(&f, GUEST, PARENT, 5, VSOCK_HEARTBEAT_PORT,
                 VSOCK_TYPE_STREAM, VSOCK_OP_RST, 0, GUEST_BUF, 1,
                 NULL, 0);
    fx_expect_none(&f);
    g_assert_cmpuint(vsock_engine_conn_count(f.e), ==, 0);
    g_assert_cmpuint(vsock_heartbeat_get_count(hb), ==, 1);
    vsock_heartbeat_free(hb);
    fx_fini(&f);
}

/* ---------------------------------------------------------------------- */
/* Fallback listeners and deferred accept                                 */
/* ---------------------------------------------------------------------- */

#define NS (1000000000LL)

/* A guest packet from @gport to @lport. */
static VsockTxResult fx_send_to(Fixture *f, uint32_t gport, uint32_t lport,
                                uint16_t op, const void *payload,
                                uint32_t len)
{
    return fx_send_full(f, GUEST, PARENT, gport, lport, VSOCK_TYPE_STREAM,
                        op, 0, GUEST_BUF, 0, payload, len);
}

/* Expect exactly one packet of the connection (@lport, @gport). */
static void fx_expect_on(Fixture *f, uint32_t lport, uint32_t gport,
                         uint16_t op, uint32_t len, uint32_t flags,
                         uint32_t fwd_cnt, uint8_t *payload)
{
    VsockHdr h;

    g_assert_true(vsock_engine_rx_pending(f->e));
    g_assert_cmpint(fx_rx(f, 4096, &h, payload), ==, (int)len);
    check_hdr(&h, op, lport, gport, len, flags, fwd_cnt);
}

/* The guest connects to LPORT from GPORT; the endpoint defers. */
static TestConn *fx_connect_deferred(Fixture *f)
{
    guint n = f->tconns->len;
    TestConn *tc;

    f->defer = true;
    g_assert_cmpint(fx_send(f, VSOCK_OP_REQUEST, 0, 0, NULL, 0), ==,
                    VSOCK_TX_OK);
    f->defer = false;
    fx_expect_none(f);
    g_assert_cmpuint(f->tconns->len, ==, n + 1);
    tc = g_ptr_array_index(f->tconns, n);
    g_assert_nonnull(tc->conn);
    g_assert_cmpint(vsock_conn_get_state(tc->conn), ==,
                    VSOCK_CONN_ACCEPTING);
    return tc;
}

static void test_fallback_listener(void)
{
    Fixture f;
    VsockHeartbeat *hb;
    VsockListener *any, *seq;
    TestConn *tc;
    const VsockEngineStats *st;

    fx_init(&f); /* exact listener on LPORT */
    st = vsock_engine_get_stats(f.e);
    hb = vsock_heartbeat_new(f.e, PARENT, VSOCK_HEARTBEAT_PORT);
    g_assert_nonnull(hb);
    any = vsock_engine_listen(f.e, PARENT, VSOCK_PORT_ANY,
                              VSOCK_TYPE_STREAM, accept_cb, &f);
    g_assert_nonnull(any);
    /* one fallback per CID, and only on local CIDs */
    g_assert_null(vsock_engine_listen(f.e, PARENT, VSOCK_PORT_ANY,
                                      VSOCK_TYPE_STREAM, accept_cb, &f));
    g_assert_null(vsock_engine_listen(f.e, PARENT, VSOCK_PORT_ANY,
                                      VSOCK_TYPE_SEQPACKET, accept_cb,
                                      &f));
    g_assert_null(vsock_engine_listen(f.e, VSOCK_CID_HOST, VSOCK_PORT_ANY,
                                      VSOCK_TYPE_STREAM, accept_cb, &f));

    /* a port without a listener of its own: the fallback */
    g_assert_cmpint(fx_send_to(&f, GPORT, 6001, VSOCK_OP_REQUEST, NULL, 0),
                    ==, VSOCK_TX_OK);
    fx_expect_on(&f, 6001, GPORT, VSOCK_OP_RESPONSE, 0, 0, 0, NULL);
    fx_expect_none(&f);
    g_assert_cmpuint(f.tconns->len, ==, 1);
    tc = g_ptr_array_index(f.tconns, 0);
    g_assert_true(tc->listener == any);
    g_assert_cmpuint(vsock_conn_get_local_port(tc->conn), ==, 6001);
    g_assert_cmpint(fx_send_to(&f, GPORT, 6001, VSOCK_OP_RW, "ab", 2), ==,
                    VSOCK_TX_OK);
    g_assert_cmpmem(tc->in->data, tc->in->len, "ab", 2);

    /* the exact listener keeps precedence */
    tc = fx_connect(&f);
    g_assert_true(tc->listener != any);
    g_assert_cmpuint(vsock_conn_get_local_port(tc->conn), ==, LPORT);

    /* and so does the heartbeat on 9000: the fallback never hears of it */
    g_assert_cmpint(fx_send_to(&f, GPORT, VSOCK_HEARTBEAT_PORT,
                               VSOCK_OP_REQUEST, NULL, 0), ==, VSOCK_TX_OK);
    fx_expect_on(&f, VSOCK_HEARTBEAT_PORT, GPORT, VSOCK_OP_RESPONSE, 0, 0,
                 0, NULL);
    fx_expect_none(&f);
    g_assert_cmpuint(f.tconns->len, ==, 2);
    g_assert_cmpuint(vsock_engine_conn_count(f.e), ==, 3);

    /* a port's own listener decides even for another type */
    seq = vsock_engine_listen(f.e, PARENT, 6000, VSOCK_TYPE_SEQPACKET,
                              accept_cb, &f);
    g_assert_nonnull(seq);
    g_assert_cmpint(fx_send_to(&f, GPORT, 6000, VSOCK_OP_REQUEST, NULL, 0),
                    ==, VSOCK_TX_NO_LISTENER);
    fx_expect_orphan_rst(&f, PARENT, 6000, GPORT, VSOCK_TYPE_STREAM);
    /* the fallback is STREAM only */
    g_assert_cmpint(fx_send_full(&f, GUEST, PARENT, GPORT, 6002,
                                 VSOCK_TYPE_SEQPACKET, VSOCK_OP_REQUEST, 0,
                                 GUEST_BUF, 0, NULL, 0), ==,
                    VSOCK_TX_NO_LISTENER);
    fx_expect_orphan_rst(&f, PARENT, 6002, GPORT, VSOCK_TYPE_SEQPACKET);
    /* port 0xffffffff is nobody's */
    g_assert_cmpint(fx_send_to(&f, GPORT, VSOCK_PORT_ANY, VSOCK_OP_REQUEST,
                               NULL, 0), ==, VSOCK_TX_NO_LISTENER);
    fx_expect_orphan_rst(&f, PARENT, VSOCK_PORT_ANY, GPORT,
                         VSOCK_TYPE_STREAM);
    /* the fallback refuses like any listener */
    f.refuse = true;
    g_assert_cmpint(fx_send_to(&f, GPORT, 6003, VSOCK_OP_REQUEST, NULL, 0),
                    ==, VSOCK_TX_NO_LISTENER);
    fx_expect_orphan_rst(&f, PARENT, 6003, GPORT, VSOCK_TYPE_STREAM);
    f.refuse = false;
    fx_expect_none(&f);
    g_assert_cmpuint(st->conns_refused, ==, 4);

    /* host-initiated connections do not care about the fallback */
    tc = tc_new(&f);
    tc->conn = vsock_engine_connect(f.e, PARENT, 7777, 7000,
                                    VSOCK_TYPE_STREAM, &tc_ops, tc);
    g_assert_nonnull(tc->conn);
    fx_expect_on(&f, 7777, 7000, VSOCK_OP_REQUEST, 0, 0, 0, NULL);

    /* without the fallback the port is refused; its connection stays */
    vsock_listener_free(any);
    g_assert_cmpint(fx_send_to(&f, GPORT + 1, 6001, VSOCK_OP_REQUEST, NULL,
                               0), ==, VSOCK_TX_NO_LISTENER);
    fx_expect_orphan_rst(&f, PARENT, 6001, GPORT + 1, VSOCK_TYPE_STREAM);
    g_assert_cmpint(fx_send_to(&f, GPORT, 6001, VSOCK_OP_RW, "c", 1), ==,
                    VSOCK_TX_OK);
    tc = g_ptr_array_index(f.tconns, 0);
    g_assert_cmpmem(tc->in->data, tc->in->len, "abc", 3);
    /* and it can be registered again */
    any = vsock_engine_listen(f.e, PARENT, VSOCK_PORT_ANY,
                              VSOCK_TYPE_STREAM, accept_cb, &f);
    g_assert_nonnull(any);
    vsock_listener_free(seq);
    vsock_heartbeat_free(hb);
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
    fx_expect(&f, VSOCK_OP_RESPONSE, 0, 0, 0);
    g_assert_cmpint(fx_rx(&f, 4096, &(VsockHdr){ 0 }, p), ==, 5);
    g_assert_cmpmem(p, 5, "early", 5);
    fx_expect_none(&f);
    /* now data flows both ways */
    g_assert_cmpint(fx_send(&f, VSOCK_OP_RW, 0, 5, "hi", 2), ==,
                    VSOCK_TX_OK);
    g_assert_cmpmem(tc->in->data, tc->in->len, "hi", 2);
    tc_push(tc, "yo", 2);
    fx_expect(&f, VSOCK_OP_RW, 2, 0, 2);
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
    g_assert_cmpint(fx_send_to(&f, GPORT + 1, LPORT, VSOCK_OP_REQUEST, NULL,
                               0), ==, VSOCK_TX_OK);
    f.accept_in_cb = false;
    f.defer = false;
    fx_expect_on(&f, LPORT, GPORT + 1, VSOCK_OP_RESPONSE, 0, 0, 0, NULL);
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
    vsock_conn_shutdown(tc->conn, VSOCK_SHUTDOWN_SEND);
    fx_expect_none(&f);
    vsock_conn_accept(tc->conn);
    fx_expect(&f, VSOCK_OP_RESPONSE, 0, 0, 0);
    fx_expect(&f, VSOCK_OP_RW, 3, 0, 0);
    fx_expect(&f, VSOCK_OP_SHUTDOWN, 0, VSOCK_SHUTDOWN_SEND, 0);
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
    fx_expect(&f, VSOCK_OP_RST, 0, 0, 0);
    fx_expect_none(&f);
    g_assert_false(tc->closed); /* no callbacks after reset */
    g_assert_cmpuint(tc->reads, ==, 0);
    g_assert_cmpuint(vsock_engine_conn_count(f.e), ==, 0);
    g_assert_cmpint(vsock_engine_next_deadline(f.e), ==, INT64_MAX);
    g_assert_cmpuint(st->conns_refused, ==, 1);
    g_assert_cmpuint(st->conns_opened, ==, 0);
    /* the guest's packets on it now meet no connection */
    g_assert_cmpint(fx_send(&f, VSOCK_OP_RW, 0, 0, "x", 1), ==,
                    VSOCK_TX_NO_CONN);
    fx_expect_orphan_rst(&f, PARENT, LPORT, GPORT, VSOCK_TYPE_STREAM);

    /* vsock_conn_close() on a pending connection refuses it too */
    tc = fx_connect_deferred(&f);
    vsock_conn_close(tc->conn);
    fx_expect(&f, VSOCK_OP_RST, 0, 0, 0);
    fx_expect_none(&f);
    g_assert_false(tc->closed);
    g_assert_cmpuint(vsock_engine_conn_count(f.e), ==, 0);
    g_assert_cmpuint(st->conns_refused, ==, 2);

    /* the guest RSTs while our RST is queued: ours is dropped */
    tc = fx_connect_deferred(&f);
    vsock_conn_reset(tc->conn);
    g_assert_cmpint(fx_send(&f, VSOCK_OP_RST, 0, 0, NULL, 0), ==,
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
    g_assert_nonnull(vsock_engine_listen(f.e, PARENT, 6000,
                                         VSOCK_TYPE_STREAM, accept_no_ops,
                                         &calls));
    g_assert_cmpint(fx_send_to(&f, GPORT, 6000, VSOCK_OP_REQUEST, NULL, 0),
                    ==, VSOCK_TX_NO_LISTENER);
    g_assert_cmpuint(calls, ==, 1);
    fx_expect_orphan_rst(&f, PARENT, 6000, GPORT, VSOCK_TYPE_STREAM);
    fx_expect_none(&f);
    tc = tc_new(&f);
    g_assert_nonnull(vsock_engine_listen(f.e, PARENT, 6001,
                                         VSOCK_TYPE_STREAM, accept_reset,
                                         tc));
    g_assert_cmpint(fx_send_to(&f, GPORT, 6001, VSOCK_OP_REQUEST, NULL, 0),
                    ==, VSOCK_TX_NO_LISTENER);
    fx_expect_orphan_rst(&f, PARENT, 6001, GPORT, VSOCK_TYPE_STREAM);
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
    g_assert_cmpint(fx_send(&f, VSOCK_OP_RST, 0, 0, NULL, 0), ==,
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
    fx_expect(&f, VSOCK_OP_RESPONSE, 0, 0, 0);
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
    g_assert_cmpint(fx_send_to(&f, GPORT + 1, LPORT, VSOCK_OP_REQUEST, NULL,
                               0), ==, VSOCK_TX_OK);
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
    fx_expect(&f, VSOCK_OP_RST, 0, 0, 0);
    fx_expect_none(&f);
    g_assert_cmpint(vsock_engine_next_deadline(f.e), ==, f.now + NS / 2);
    /* b is accepted in time and outlives its deadline */
    vsock_conn_accept(b->conn);
    fx_expect_on(&f, LPORT, GPORT + 1, VSOCK_OP_RESPONSE, 0, 0, 0, NULL);
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
    fx_expect(&f, VSOCK_OP_RST, 0, 0, 0);
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
        g_assert_cmpint(fx_send_to(&f, 2000 + i, LPORT, VSOCK_OP_REQUEST,
                                   NULL, 0), ==, VSOCK_TX_OK);
        tc[i] = g_ptr_array_index(f.tconns, i);
    }
    fx_expect_none(&f);
    g_assert_cmpuint(vsock_engine_conn_count(f.e), ==, 8);
    /* pending connections count against the limit */
    g_assert_cmpint(fx_send_to(&f, 3000, LPORT, VSOCK_OP_REQUEST, NULL, 0),
                    ==, VSOCK_TX_CONN_LIMIT);
    fx_expect_orphan_rst(&f, PARENT, LPORT, 3000, VSOCK_TYPE_STREAM);
    g_assert_cmpuint(f.tconns->len, ==, 8);
    g_assert_null(vsock_engine_connect(f.e, PARENT, VSOCK_PORT_ANY, 77,
                                       VSOCK_TYPE_STREAM, &tc_ops, NULL));
    /* accepting one does not free a slot */
    vsock_conn_accept(tc[0]->conn);
    fx_expect_on(&f, LPORT, 2000, VSOCK_OP_RESPONSE, 0, 0, 0, NULL);
    g_assert_cmpint(fx_send_to(&f, 3000, LPORT, VSOCK_OP_REQUEST, NULL, 0),
                    ==, VSOCK_TX_CONN_LIMIT);
    fx_expect_orphan_rst(&f, PARENT, LPORT, 3000, VSOCK_TYPE_STREAM);
    /* resetting one does, once its RST is out */
    vsock_conn_reset(tc[1]->conn);
    fx_expect_on(&f, LPORT, 2001, VSOCK_OP_RST, 0, 0, 0, NULL);
    fx_expect_none(&f);
    g_assert_cmpuint(vsock_engine_conn_count(f.e), ==, 7);
    g_assert_cmpint(fx_send_to(&f, 3000, LPORT, VSOCK_OP_REQUEST, NULL, 0),
                    ==, VSOCK_TX_OK);
    g_assert_cmpuint(vsock_engine_conn_count(f.e), ==, 8);
    /* so does a timeout */
    f.now += 2 * NS;
    vsock_engine_run_timers(f.e);
    for (i = 2; i < 8; i++) {
        g_assert_true(tc[i]->closed);
        g_assert_cmpint(tc[i]->reason, ==, VSOCK_CLOSE_TIMEOUT);
        fx_expect_on(&f, LPORT, 2000 + i, VSOCK_OP_RST, 0, 0, 0, NULL);
    }
    fx_expect_on(&f, LPORT, 3000, VSOCK_OP_RST, 0, 0, 0, NULL);
    fx_expect_none(&f);
    g_assert_false(tc[0]->closed);
    g_assert_cmpuint(vsock_engine_conn_count(f.e), ==, 1);
    fx_fini(&f);
}

static void test_defer_guest_packets(void)
{
    static const uint16_t ops[] = {
        VSOCK_OP_RW, VSOCK_OP_SHUTDOWN, VSOCK_OP_CREDIT_UPDATE,
        VSOCK_OP_CREDIT_REQUEST, VSOCK_OP_RESPONSE, VSOCK_OP_REQUEST, 42,
    };
    Fixture f;
    TestConn *tc;
    const VsockEngineStats *st;

    fx_init(&f);
    st = vsock_engine_get_stats(f.e);
    for (unsigned i = 0; i < G_N_ELEMENTS(ops); i++) {
        const char *data = ops[i] == VSOCK_OP_RW ? "data" : NULL;

        tc = fx_connect_deferred(&f);
        g_assert_cmpint(fx_send(&f, ops[i], 0, 0, data, data ? 4 : 0), ==,
                        VSOCK_TX_BAD_OP);
        g_assert_true(tc->closed);
        g_assert_cmpint(tc->reason, ==, VSOCK_CLOSE_PROTOCOL);
        g_assert_cmpuint(tc->in->len, ==, 0);
        /* exactly one RST, and no second connection (duplicate REQUEST) */
        fx_expect(&f, VSOCK_OP_RST, 0, 0, 0);
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
                                 VSOCK_TYPE_SEQPACKET, VSOCK_OP_RW, 0,
                                 GUEST_BUF, 0, "x", 1), ==,
                    VSOCK_TX_BAD_TYPE);
    g_assert_true(tc->closed);
    g_assert_cmpint(tc->reason, ==, VSOCK_CLOSE_PROTOCOL);
    fx_expect(&f, VSOCK_OP_RST, 0, 0, 0);
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

/* ---------------------------------------------------------------------- */
/* Reset                                                                  */
/* ---------------------------------------------------------------------- */

static void test_reset(void)
{
    Fixture f;
    TestConn *a, *b, *c;
    uint8_t data[1000] = { 0 };

    fx_init(&f);
    f.accept_write_limit = 0;
    a = fx_connect(&f);
    fx_send(&f, VSOCK_OP_RW, 0, 0, data, sizeof(data));
    tc_push(a, data, 100);
    fx_send_full(&f, GUEST, PARENT, GPORT + 1, LPORT, VSOCK_TYPE_STREAM,
                 VSOCK_OP_REQUEST, 0, GUEST_BUF, 0, NULL, 0);
    b = g_ptr_array_index(f.tconns, 1);
    c = tc_new(&f);
    c->conn = vsock_engine_connect(f.e, PARENT, VSOCK_PORT_ANY, 9,
                                   VSOCK_TYPE_STREAM, &tc_ops, c);
    fx_send(&f, VSOCK_OP_RW, 0, 0, data, 1); /* nothing: no RST queued */
    fx_send_full(&f, GUEST, PARENT, 1, 1, VSOCK_TYPE_STREAM, VSOCK_OP_RW,
                 0, 0, 0, NULL, 0);
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
    fx_send(&f, VSOCK_OP_SHUTDOWN, VSOCK_SHUTDOWN_BOTH, 0, NULL, 0);
    fx_expect(&f, VSOCK_OP_RST, 0, 0, 0);
    g_assert_cmpuint(f.pkts_in, ==, 2);
    g_assert_cmpuint(f.pkts_out, ==, 2);
    g_assert_cmpuint(f.state_changes, ==, 1); /* established -> closed */
    g_assert_cmpuint(vsock_engine_get_stats(f.e)->rst_sent, ==, 1);
    g_assert_cmpuint(vsock_engine_get_stats(f.e)->conns_closed, ==, 1);
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
                                         VSOCK_TYPE_SEQPACKET, accept_cb,
                                         &f));
    fx_send_full(&f, GUEST, PARENT, GPORT, 6000, VSOCK_TYPE_SEQPACKET,
                 VSOCK_OP_REQUEST, 0, GUEST_BUF, 0, NULL, 0);
    g_assert_cmpint(fx_rx(&f, 4096, &h, NULL), ==, 0);
    g_assert_cmpuint(h.op, ==, VSOCK_OP_RESPONSE);
    g_assert_cmpuint(h.type, ==, VSOCK_TYPE_SEQPACKET);
    tc = g_ptr_array_index(f.tconns, 0);
    g_assert_cmpint(vsock_conn_get_type(tc->conn), ==,
                    VSOCK_TYPE_SEQPACKET);
    g_assert_cmpint(fx_send_full(&f, GUEST, PARENT, GPORT, 6000,
                                 VSOCK_TYPE_SEQPACKET, VSOCK_OP_RW,
                                 VSOCK_SEQ_EOM | VSOCK_SEQ_EOR, GUEST_BUF,
                                 0, "msg", 3), ==, VSOCK_TX_OK);
    g_assert_cmpmem(tc->in->data, tc->in->len, "msg", 3);
    /* a STREAM packet on it is a type mismatch */
    g_assert_cmpint(fx_send_full(&f, GUEST, PARENT, GPORT, 6000,
                                 VSOCK_TYPE_STREAM, VSOCK_OP_RW, 0,
                                 GUEST_BUF, 0, "x", 1), ==,
                    VSOCK_TX_BAD_TYPE);
    g_assert_true(tc->closed);
    fx_fini(&f);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/vsock/codec/header", test_codec);
    g_test_add_func("/vsock/codec/iov-slice", test_iov_slice);
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
    g_test_add_func("/vsock/data/guest-to-host", test_guest_to_host);
    g_test_add_func("/vsock/credit/update-threshold",
                    test_credit_update_threshold);
    g_test_add_func("/vsock/credit/threshold-small-guest",
                    test_credit_threshold_small_guest);
    g_test_add_func("/vsock/credit/threshold-auto",
                    test_credit_threshold_auto);
    g_test_add_func("/vsock/credit/request", test_credit_request);
    g_test_add_func("/vsock/engine/run-now", test_run_now);
    g_test_add_func("/vsock/credit/host-to-guest",
                    test_host_to_guest_credit);
    g_test_add_func("/vsock/credit/backpressure-overrun",
                    test_backpressure_and_overrun);
    g_test_add_func("/vsock/credit/drain-order", test_drain_order);
    g_test_add_func("/vsock/credit/fwd-cnt-wrap", test_fwd_cnt_wrap);
    g_test_add_func("/vsock/rx/layouts", test_rx_layouts);
    g_test_add_func("/vsock/rx/coalesce", test_coalesce);
    g_test_add_func("/vsock/rx/fairness", test_fairness);
    g_test_add_func("/vsock/rx/credit-not-starved",
                    test_credit_not_starved);
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
    g_test_add_func("/vsock/rst/rules", test_rst_rules);
    g_test_add_func("/vsock/rst/orphan-keeps-conn",
                    test_orphan_rst_keeps_new_conn);
    g_test_add_func("/vsock/rst/queue-bound", test_rst_queue_bound);
    g_test_add_func("/vsock/tx/spoofed-src", test_spoofed_src);
    g_test_add_func("/vsock/tx/bad-len", test_bad_len);
    g_test_add_func("/vsock/tx/payload-many-buffers",
                    test_payload_many_buffers);
    g_test_add_func("/vsock/callbacks/close-in-write",
                    test_close_in_write);
    g_test_add_func("/vsock/callbacks/reset-in-read", test_reset_in_read);
    g_test_add_func("/vsock/heartbeat/200", test_heartbeat);
    g_test_add_func("/vsock/heartbeat/guest-rst", test_heartbeat_guest_rst);
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
    g_test_add_func("/vsock/reset", test_reset);
    g_test_add_func("/vsock/observer", test_observer);
    g_test_add_func("/vsock/seqpacket/flags", test_seqpacket_flags);
    return g_test_run();
}
