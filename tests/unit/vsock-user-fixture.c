/*
 * A scriptable endpoint and engine fixture for the engine's tests
 *
 * See vsock-user-fixture.h.
 *
 * Copyright (c) 2026 The virtio-vsock-user authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "vsock-user-fixture.h"

static size_t tc_write(VsockConn *conn, void *opaque,
                       const struct iovec *iov, unsigned iov_cnt,
                       uint32_t flags)
{
    TestConn *tc = opaque;
    size_t len = iov_size(iov, iov_cnt);
    size_t n = MIN(len, tc->write_limit);

    tc->writes++;
    g_assert_cmpuint(len, >, 0);
    if (vsock_conn_get_type(conn) == VIRTIO_VSOCK_TYPE_SEQPACKET) {
        TcMsg m = { .len = len, .flags = flags };

        /* one whole message, all or nothing */
        g_assert_cmphex(flags & ~(VIRTIO_VSOCK_SEQ_EOM | VIRTIO_VSOCK_SEQ_EOR),
                        ==, 0);
        g_assert_true(flags & VIRTIO_VSOCK_SEQ_EOM);
        if (n < len) {
            tc->partial_writes++;
            return 0;
        }
        g_array_append_val(tc->in_msgs, m);
    } else {
        g_assert_cmpuint(flags, ==, 0);
    }
    if (tc->write_limit != SIZE_MAX) {
        tc->write_limit -= n;
    }
    if (tc->pattern) {
        for (size_t i = 0; i < n; i++) {
            uint8_t b;

            iov_to_buf(iov, iov_cnt, i, &b, 1);
            g_assert_cmpuint(b, ==, fx_pattern(tc->in_total + i,
                                               tc->in_salt));
        }
    } else {
        guint old = tc->in->len;

        g_byte_array_set_size(tc->in, old + n);
        g_assert_cmpuint(iov_to_buf(iov, iov_cnt, 0, tc->in->data + old,
                                    n), ==, n);
    }
    tc->in_total += n;
    tc->partial_writes += n < len;
    if (tc->close_in_write) {
        vsock_conn_close(conn);
    }
    return n;
}

/* Fill @iov with up to @n pattern bytes from tc->out_pos on. */
static size_t tc_read_pattern(TestConn *tc, const struct iovec *iov,
                              unsigned iov_cnt)
{
    size_t n = MIN(iov_size(iov, iov_cnt), tc->out_avail);
    size_t off = 0;

    while (off < n) {
        uint8_t chunk[256];
        size_t c = MIN(n - off, sizeof(chunk));

        for (size_t i = 0; i < c; i++) {
            chunk[i] = fx_pattern(tc->out_pos + off + i, tc->out_salt);
        }
        iov_from_buf(iov, iov_cnt, off, chunk, c);
        off += c;
    }
    tc->out_avail -= n;
    return n;
}

/*
 * SEQPACKET: the next piece of the current message, EOM with its last.
 * Pattern mode makes messages of fx_pattern_msg_len(out_salt) bytes.
 */
static size_t tc_read_msg(TestConn *tc, const struct iovec *iov,
                          unsigned iov_cnt, uint32_t *flags)
{
    size_t room = iov_size(iov, iov_cnt);
    uint32_t len, mflags = 0;
    size_t n;

    if (tc->pattern) {
        len = fx_pattern_msg_len(tc->out_salt);
        if (tc->out_avail < len - tc->out_msg_pos) {
            return 0; /* only whole messages */
        }
        n = tc_read_pattern(tc, iov, iov_cnt);
        if (n > len - tc->out_msg_pos) {
            tc->out_avail += n - (len - tc->out_msg_pos);
            n = len - tc->out_msg_pos;
        }
    } else {
        const TcMsg *m;

        if (tc->out_msg >= tc->out_msgs->len) {
            return 0;
        }
        m = &g_array_index(tc->out_msgs, TcMsg, tc->out_msg);
        len = m->len;
        mflags = m->flags;
        n = MIN(room, len - tc->out_msg_pos);
        iov_from_buf(iov, iov_cnt, 0, tc->out->data + tc->out_pos, n);
    }
    tc->out_msg_pos += n;
    if (tc->out_msg_pos == len) {
        *flags = VIRTIO_VSOCK_SEQ_EOM | mflags;
        tc->out_msg++;
        tc->out_msg_pos = 0;
    }
    return n;
}

static size_t tc_read(VsockConn *conn, void *opaque,
                      const struct iovec *iov, unsigned iov_cnt,
                      uint32_t *flags)
{
    TestConn *tc = opaque;
    size_t n;

    if (vsock_conn_get_type(conn) == VIRTIO_VSOCK_TYPE_SEQPACKET) {
        n = tc_read_msg(tc, iov, iov_cnt, flags);
    } else if (tc->pattern) {
        n = tc_read_pattern(tc, iov, iov_cnt);
    } else {
        n = iov_from_buf(iov, iov_cnt, 0, tc->out->data + tc->out_pos,
                         tc->out->len - tc->out_pos);
    }
    tc->reads++;
    tc->out_pos += n;
    if (tc->reset_in_read) {
        vsock_conn_reset(conn);
    }
    if (tc->close_in_read) {
        vsock_conn_close(conn);
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

    if (tc->f->closed_hook) {
        tc->f->closed_hook(tc, conn, reason);
    }
    g_assert_false(tc->closed);
    tc->closed = true;
    tc->reason = reason;
    tc->conn = NULL;
}

const VsockConnOps tc_ops = {
    .connected = tc_connected,
    .write = tc_write,
    .read = tc_read,
    .shutdown = tc_shutdown,
    .closed = tc_closed,
};

TestConn *tc_new(Fixture *f)
{
    TestConn *tc = g_new0(TestConn, 1);

    tc->f = f;
    tc->pattern = f->pattern;
    tc->in = g_byte_array_new();
    tc->out = g_byte_array_new();
    tc->in_msgs = g_array_new(false, false, sizeof(TcMsg));
    tc->out_msgs = g_array_new(false, false, sizeof(TcMsg));
    tc->write_limit = f->accept_write_limit;
    g_ptr_array_add(f->tconns, tc);
    return tc;
}

static void tc_free(gpointer p)
{
    TestConn *tc = p;

    g_byte_array_unref(tc->in);
    g_byte_array_unref(tc->out);
    g_array_unref(tc->in_msgs);
    g_array_unref(tc->out_msgs);
    g_free(tc);
}

void tc_push(TestConn *tc, const void *data, size_t len)
{
    g_byte_array_append(tc->out, data, len);
    vsock_conn_notify_readable(tc->conn);
}

void tc_push_msg(TestConn *tc, const void *data, size_t len,
                 uint32_t flags)
{
    TcMsg m = { .len = len, .flags = flags };

    g_assert_cmpuint(len, >, 0);
    g_array_append_val(tc->out_msgs, m);
    tc_push(tc, data, len);
}

VsockAcceptResult fx_accept(VsockListener *l, VsockConn *conn,
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
    tc->in_salt = vsock_conn_get_peer_port(conn);
    tc->out_salt = vsock_conn_get_local_port(conn);
    if (f->no_ops) {
        tc->gone = true;
        return VSOCK_ACCEPT_NOW; /* refused all the same */
    }
    vsock_conn_set_ops(conn, &tc_ops, tc);
    if (f->accept_in_cb) {
        vsock_conn_accept(conn);
    } else if (f->defer) {
        tc->pending = true;
        tc->deadline = f->now + f->cfg.accept_timeout_ns;
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
    .packet = packet_cb,
    .state_change = state_cb,
};

void fx_init_full(Fixture *f, const VsockEngineConfig *cfg,
                  VsockAcceptFn accept)
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
        f->cfg.seqpacket = true;
    }
    f->cfg.ops = &fx_ops;
    f->cfg.opaque = f;
    f->e = vsock_engine_new(&f->cfg);
    g_assert_nonnull(vsock_engine_listen(f->e, PARENT, LPORT,
                                         VIRTIO_VSOCK_TYPE_STREAM,
                                         accept ? accept : fx_accept, f));
}

void fx_init_cfg(Fixture *f, const VsockEngineConfig *cfg)
{
    fx_init_full(f, cfg, NULL);
}

void fx_init(Fixture *f)
{
    fx_init_cfg(f, NULL);
}

void fx_fini(Fixture *f)
{
    vsock_engine_free(f->e);
    g_ptr_array_unref(f->tconns);
}

unsigned fx_live_conns(Fixture *f)
{
    unsigned n = 0;

    for (guint i = 0; i < f->tconns->len; i++) {
        TestConn *tc = g_ptr_array_index(f->tconns, i);

        n += !tc->closed && !tc->gone;
    }
    return n;
}

/* Build and feed one guest packet (contiguous). */
VsockTxResult fx_send_full(Fixture *f, uint64_t src_cid,
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

VsockTxResult fx_send(Fixture *f, uint16_t op, uint32_t flags,
                      uint32_t fwd_cnt, const void *payload,
                      uint32_t len)
{
    return fx_send_full(f, GUEST, PARENT, GPORT, LPORT,
                        VIRTIO_VSOCK_TYPE_STREAM, op, flags, GUEST_BUF, fwd_cnt,
                        payload, len);
}

/* Offer one rx buffer of @size bytes; returns the payload length or -1. */
int fx_rx(Fixture *f, size_t size, VsockHdr *h, uint8_t *payload)
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

void check_hdr(const VsockHdr *h, uint16_t op, uint32_t src_port,
               uint32_t dst_port, uint32_t len, uint32_t flags,
               uint32_t fwd_cnt)
{
    check_hdr_type(h, VIRTIO_VSOCK_TYPE_STREAM, op, src_port, dst_port, len,
                   flags, fwd_cnt);
}

void check_hdr_type(const VsockHdr *h, uint16_t type, uint16_t op,
                    uint32_t src_port, uint32_t dst_port, uint32_t len,
                    uint32_t flags, uint32_t fwd_cnt)
{
    g_assert_cmpuint(h->src_cid, ==, PARENT);
    g_assert_cmpuint(h->dst_cid, ==, GUEST);
    g_assert_cmpstr(vsock_op_str(h->op), ==, vsock_op_str(op));
    g_assert_cmpuint(h->src_port, ==, src_port);
    g_assert_cmpuint(h->dst_port, ==, dst_port);
    g_assert_cmpuint(h->len, ==, len);
    g_assert_cmpuint(h->type, ==, type);
    g_assert_cmpuint(h->flags, ==, flags);
    g_assert_cmpuint(h->buf_alloc, ==, BUF_ALLOC);
    g_assert_cmpuint(h->fwd_cnt, ==, fwd_cnt);
}

/* Expect exactly one packet of the default connection. */
void fx_expect(Fixture *f, uint16_t op, uint32_t len,
               uint32_t flags, uint32_t fwd_cnt)
{
    VsockHdr h;

    g_assert_true(vsock_engine_rx_pending(f->e));
    g_assert_cmpint(fx_rx(f, 4096, &h, NULL), ==, (int)len);
    check_hdr(&h, op, LPORT, GPORT, len, flags, fwd_cnt);
}

/* An RST for a packet without connection: buf_alloc and fwd_cnt 0. */
void fx_expect_orphan_rst(Fixture *f, uint64_t src_cid,
                          uint32_t src_port, uint32_t dst_port,
                          uint16_t type)
{
    VsockHdr h;

    g_assert_cmpint(fx_rx(f, 4096, &h, NULL), ==, 0);
    g_assert_cmpuint(h.op, ==, VIRTIO_VSOCK_OP_RST);
    g_assert_cmpuint(h.src_cid, ==, src_cid);
    g_assert_cmpuint(h.dst_cid, ==, GUEST);
    g_assert_cmpuint(h.src_port, ==, src_port);
    g_assert_cmpuint(h.dst_port, ==, dst_port);
    g_assert_cmpuint(h.type, ==, type);
    g_assert_cmpuint(h.flags, ==, 0);
    g_assert_cmpuint(h.buf_alloc, ==, 0);
    g_assert_cmpuint(h.fwd_cnt, ==, 0);
}

void fx_expect_none(Fixture *f)
{
    VsockHdr h;

    g_assert_false(vsock_engine_rx_pending(f->e));
    g_assert_cmpint(fx_rx(f, 4096, &h, NULL), ==, -1);
}

/* Guest connects to LPORT; returns the endpoint's connection. */
TestConn *fx_connect(Fixture *f)
{
    guint n = f->tconns->len;

    g_assert_cmpint(fx_send(f, VIRTIO_VSOCK_OP_REQUEST, 0, 0, NULL, 0), ==,
                    VSOCK_TX_OK);
    fx_expect(f, VIRTIO_VSOCK_OP_RESPONSE, 0, 0, 0);
    fx_expect_none(f);
    g_assert_cmpuint(f->tconns->len, ==, n + 1);
    return g_ptr_array_index(f->tconns, n);
}

void fill_pattern(uint8_t *p, size_t len, size_t start)
{
    for (size_t i = 0; i < len; i++) {
        p[i] = (uint8_t)((start + i) * 7 + 3);
    }
}


/* A guest packet from @gport to @lport. */
VsockTxResult fx_send_to(Fixture *f, uint32_t gport, uint32_t lport,
                         uint16_t op, const void *payload,
                         uint32_t len)
{
    return fx_send_full(f, GUEST, PARENT, gport, lport,
                        VIRTIO_VSOCK_TYPE_STREAM, op, 0, GUEST_BUF, 0, payload,
                        len);
}

/* Expect exactly one packet of the connection (@lport, @gport). */
void fx_expect_on(Fixture *f, uint32_t lport, uint32_t gport,
                  uint16_t op, uint32_t len, uint32_t flags,
                  uint32_t fwd_cnt, uint8_t *payload)
{
    VsockHdr h;

    g_assert_true(vsock_engine_rx_pending(f->e));
    g_assert_cmpint(fx_rx(f, 4096, &h, payload), ==, (int)len);
    check_hdr(&h, op, lport, gport, len, flags, fwd_cnt);
}

/* The guest connects to LPORT from GPORT; the endpoint defers. */
TestConn *fx_connect_deferred(Fixture *f)
{
    guint n = f->tconns->len;
    TestConn *tc;

    f->defer = true;
    g_assert_cmpint(fx_send(f, VIRTIO_VSOCK_OP_REQUEST, 0, 0, NULL, 0), ==,
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
