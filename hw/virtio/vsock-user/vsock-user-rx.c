/*
 * virtio-vsock-user: rx: packets to the guest
 *
 * Packets are only built when the device offers an rx buffer.  Connections
 * that owe something sit in per-class queues (RST, RESPONSE, REQUEST,
 * data/SHUTDOWN, CREDIT_UPDATE), served in that order except that credit
 * updates alternate with data (vsock-user-rxq.c keeps the queues).  Queue
 * membership is pruned lazily: an entry whose reason went away is dropped
 * when it reaches the head.
 *
 * Copyright (c) 2026 The virtio-vsock-user authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "vsock-user-engine-int.h"

/* Drop stale heads; the head of @q if it owes something, else NULL. */
static VsockConn *rxq_peek(VsockEngine *e, int q)
{
    GList *head;

    while ((head = g_queue_peek_head_link(&e->rxq[q]))) {
        VsockConn *c = head->data;

        if (vsock_conn_owes(c, q)) {
            return c;
        }
        vsock_rxq_del(c, q);
    }
    return NULL;
}

bool vsock_engine_rx_pending(VsockEngine *e)
{
    int q;

    if (e->rst_len) {
        return true;
    }
    for (q = 0; q < RXQ__MAX; q++) {
        if (rxq_peek(e, q)) {
            return true;
        }
    }
    return false;
}

static void conn_hdr(VsockConn *c, VsockHdr *h, uint16_t op)
{
    memset(h, 0, sizeof(*h));
    h->src_cid = c->key.local_cid;
    h->dst_cid = c->key.peer_cid;
    h->src_port = c->key.local_port;
    h->dst_port = c->key.peer_port;
    h->type = c->type;
    h->op = op;
    h->buf_alloc = c->engine->cfg.buf_alloc;
    h->fwd_cnt = c->fwd_cnt;
}

static void emit(VsockEngine *e, VsockConn *c, const VsockHdr *h,
                 const struct iovec *iov, unsigned cnt, size_t *len_out)
{
    vsock_hdr_to_iov(h, iov, cnt);
    *len_out = VSOCK_HDR_SIZE + h->len;
    e->stats.rx_pkts++;
    e->stats.rx_bytes += h->len;
    if (h->op == VIRTIO_VSOCK_OP_RST) {
        e->stats.rst_sent++;
    }
    if (c) {
        c->stats.rx_pkts++;
        c->stats.rx_bytes += h->len;
        /* every packet advertises our credit */
        c->last_fwd_cnt = c->fwd_cnt;
        if (h->op == VIRTIO_VSOCK_OP_CREDIT_UPDATE) {
            e->stats.credit_updates_sent++;
        }
        c->owe &= ~OWE_CREDIT;
        vsock_rxq_del(c, RXQ_CREDIT);
    }
    if (e->ops.packet) {
        e->ops.packet(e->cfg.opaque, true, h);
    }
}

/* Pull endpoint data into the payload area; true if a packet was built. */
static bool build_rw(VsockConn *c, const struct iovec *iov, unsigned cnt,
                     size_t space, size_t *len_out)
{
    VsockEngine *e = c->engine;
    struct iovec local[LOCAL_IOV_MAX];
    struct iovec *piov = local;
    size_t max = MIN(MIN(space, (size_t)vsock_conn_peer_credit(c)),
                     (size_t)VSOCK_MAX_PKT_PAYLOAD);
    size_t got = 0;
    uint32_t flags = 0;
    VsockHdr h;

    if (cnt + 1 > LOCAL_IOV_MAX) {
        piov = g_new(struct iovec, cnt + 1);
    }
    while (got < max && vsock_conn_may_read(c)) {
        unsigned pcnt = iov_copy(piov, cnt + 1, iov, cnt,
                                 VSOCK_HDR_SIZE + got, max - got);
        uint32_t f = 0;
        size_t want = max - got;
        size_t n = c->ops->read(c, c->opaque, piov, pcnt, &f);

        n = MIN(n, want);

        got += n;
        if (n && c->type == VIRTIO_VSOCK_TYPE_SEQPACKET &&
            (f & VIRTIO_VSOCK_SEQ_EOM)) {
            /* a message ends here; the next one gets a packet of its own */
            flags = f & (VIRTIO_VSOCK_SEQ_EOM | VIRTIO_VSOCK_SEQ_EOR);
            break;
        }
        if (n < want) {
            /* a short read says "nothing more for now": stop asking */
            c->want_read = false;
            break;
        }
    }
    if (piov != local) {
        g_free(piov);
    }
    if (c->dead || c->state == VSOCK_CONN_CLOSED || got == 0) {
        return false; /* reset from inside read(): data dropped */
    }
    conn_hdr(c, &h, VIRTIO_VSOCK_OP_RW);
    h.len = got;
    h.flags = flags;
    c->tx_cnt += got;
    emit(e, c, &h, iov, cnt, len_out);
    return true;
}

static bool build_for_conn(VsockConn *c, int q, const struct iovec *iov,
                           unsigned cnt, size_t space, size_t *len_out)
{
    VsockEngine *e = c->engine;
    VsockHdr h;

    switch (q) {
    case RXQ_RST:
        conn_hdr(c, &h, VIRTIO_VSOCK_OP_RST);
        emit(e, c, &h, iov, cnt, len_out);
        vsock_conn_destroy(c);
        return true;
    case RXQ_RESPONSE:
    case RXQ_REQUEST:
        c->owe &= ~(1u << q);
        vsock_rxq_del(c, q);
        conn_hdr(c, &h, q == RXQ_RESPONSE ? VIRTIO_VSOCK_OP_RESPONSE :
                 VIRTIO_VSOCK_OP_REQUEST);
        emit(e, c, &h, iov, cnt, len_out);
        vsock_conn_update_data(c);
        return true;
    case RXQ_DATA:
        if (vsock_conn_data_ready(c)) {
            if (space == 0) {
                return false; /* stays queued for a bigger buffer */
            }
            vsock_rxq_del(c, q);
            if (build_rw(c, iov, cnt, space, len_out)) {
                e->credit_turn = true;
                vsock_conn_update_data(c); /* round robin: back to the tail */
                return true;
            }
            if (!c->dead && (c->owe & OWE_RST)) {
                /* the endpoint reset it from inside read() */
                return build_for_conn(c, RXQ_RST, iov, cnt, space, len_out);
            }
        }
        vsock_rxq_del(c, q);
        if (c->dead || !vsock_conn_shutdown_ready(c)) {
            return false;
        }
        c->owe &= ~OWE_SHUTDOWN;
        c->sent_shutdown = c->local_shutdown;
        conn_hdr(c, &h, VIRTIO_VSOCK_OP_SHUTDOWN);
        h.flags = c->local_shutdown;
        emit(e, c, &h, iov, cnt, len_out);
        return true;
    default:
        conn_hdr(c, &h, VIRTIO_VSOCK_OP_CREDIT_UPDATE);
        emit(e, c, &h, iov, cnt, len_out);
        return true;
    }
}

static bool do_fill(VsockEngine *e, const struct iovec *iov, unsigned cnt,
                    size_t *len_out)
{
    size_t size = iov_size(iov, cnt);
    int q;

    if (size < VSOCK_HDR_SIZE) {
        return false;
    }
    if (e->rst_len) {
        VsockHdr *h = &e->rst_ring[e->rst_head];

        emit(e, NULL, h, iov, cnt, len_out);
        e->rst_head = (e->rst_head + 1) % e->cfg.max_pending_rst;
        if (e->rst_len-- == e->cfg.max_pending_rst) {
            e->need_wakeup = true; /* tx may resume */
        }
        return true;
    }
    /*
     * CREDIT_UPDATE ranks below data, but alternates with it so that busy
     * connections cannot starve another one's credit.
     */
    if (e->credit_turn) {
        VsockConn *c = rxq_peek(e, RXQ_CREDIT);

        e->credit_turn = false;
        if (c && build_for_conn(c, RXQ_CREDIT, iov, cnt,
                                size - VSOCK_HDR_SIZE, len_out)) {
            return true;
        }
    }
    for (q = 0; q < RXQ__MAX; q++) {
        VsockConn *c;

        while ((c = rxq_peek(e, q))) {
            if (build_for_conn(c, q, iov, cnt, size - VSOCK_HDR_SIZE,
                               len_out)) {
                return true;
            }
            if (c->in_rxq[q]) {
                break; /* could not use this buffer; keep the order */
            }
        }
    }
    return false;
}

bool vsock_engine_fill_rx(VsockEngine *e, const struct iovec *iov,
                          unsigned iov_cnt, size_t *len_out)
{
    bool ok;

    vsock_engine_enter(e);
    e->in_fill = true;
    *len_out = 0;
    ok = do_fill(e, iov, iov_cnt, len_out);
    e->in_fill = false;
    vsock_engine_leave(e);
    return ok;
}
