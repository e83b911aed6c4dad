/*
 * virtio-vsock-user: tx: packets from the guest
 *
 * One receive entry point: vsock_engine_handle_tx() validates the header,
 * looks the connection up and dispatches on the connection's state first
 * (none, connecting, accepting, connected), then on the op.
 *
 * Copyright (c) 2026 The virtio-vsock-user authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "vsock-user-engine-int.h"

const char *vsock_tx_result_str(VsockTxResult r)
{
    static const char *const names[VSOCK_TX__MAX] = {
        [VSOCK_TX_OK] = "ok",
        [VSOCK_TX_NO_CONN] = "packet for an unknown connection",
        [VSOCK_TX_NO_LISTENER] = "connection refused",
        [VSOCK_TX_SHORT_HDR] = "descriptor chain shorter than the header",
        [VSOCK_TX_BAD_LEN] = "header len exceeds the descriptor chain",
        [VSOCK_TX_BAD_SRC_CID] = "src_cid is not the guest's CID",
        [VSOCK_TX_BAD_DST_CID] = "dst_cid is not served by this device",
        [VSOCK_TX_BAD_TYPE] = "unknown socket type",
        [VSOCK_TX_BAD_OP] = "unknown or unexpected op",
        [VSOCK_TX_CREDIT_OVERRUN] = "data beyond the credit granted",
        [VSOCK_TX_RST_DROPPED] = "RST queue full, reply dropped",
        [VSOCK_TX_CONN_LIMIT] = "connection limit reached",
    };

    if ((unsigned)r < VSOCK_TX__MAX && names[r]) {
        return names[r];
    }
    return "?";
}

static VsockTxResult refuse(VsockEngine *e, const VsockHdr *h,
                            VsockTxResult why)
{
    if (!vsock_queue_rst(e, h)) {
        return VSOCK_TX_RST_DROPPED;
    }
    return why;
}

static VsockTxResult handle_request(VsockEngine *e, const VsockHdr *h,
                                    const VsockKey *key)
{
    VsockAddr addr = { .cid = h->dst_cid, .port = h->dst_port };
    VsockListener *l = vsock_engine_find_listener(e, &addr);
    VsockAcceptResult res;
    VsockConn *c;

    if (!l || !(l->types & h->type)) {
        e->stats.conns_refused++;
        return refuse(e, h, VSOCK_TX_NO_LISTENER);
    }
    if (g_hash_table_size(e->conns) >= e->cfg.max_conns) {
        e->stats.conns_refused++;
        return refuse(e, h, VSOCK_TX_CONN_LIMIT);
    }
    c = vsock_conn_new(e, key, h->type, VSOCK_CONN_ACCEPTING);
    c->peer_buf_alloc = h->buf_alloc;
    c->peer_fwd_cnt = h->fwd_cnt;
    c->stats.tx_pkts++;
    c->owe = OWE_RESPONSE; /* holds data back until RESPONSE is out */
    c->in_accept = true;
    res = l->accept(l, c, l->opaque);
    c->in_accept = false;
    if ((res != VSOCK_ACCEPT_NOW && res != VSOCK_ACCEPT_DEFER) || !c->ops ||
        c->dead || c->state != VSOCK_CONN_ACCEPTING) {
        /* refused, or closed from inside the callback */
        c->ops = NULL;
        if (!c->dead) {
            vsock_conn_destroy(c);
        }
        e->stats.conns_refused++;
        return refuse(e, h, VSOCK_TX_NO_LISTENER);
    }
    if (res == VSOCK_ACCEPT_DEFER && !c->accept_now) {
        vsock_timer_start(c, TQ_ACCEPT, e->cfg.accept_timeout_ns);
        return VSOCK_TX_OK;
    }
    vsock_conn_accepted(c, true);
    return VSOCK_TX_OK;
}

/*
 * Offer the packet's payload to the endpoint's write() straight from the
 * tx buffers.  Returns the bytes taken; sets *@gone (and returns 0) if
 * the endpoint closed the connection from inside the callback.
 */
static size_t offer_payload(VsockConn *c, const VsockHdr *h,
                            const struct iovec *iov, unsigned cnt,
                            uint32_t flags, bool *gone)
{
    struct iovec local[LOCAL_IOV_MAX] = { { 0 } };
    struct iovec *piov = local;
    unsigned pcnt;
    size_t taken;

    if (cnt + 1 > LOCAL_IOV_MAX) {
        piov = g_new(struct iovec, cnt + 1);
    }
    pcnt = iov_copy(piov, cnt + 1, iov, cnt, VSOCK_HDR_SIZE, h->len);
    taken = c->ops->write(c, c->opaque, piov, pcnt, flags);
    if (piov != local) {
        g_free(piov);
    }
    *gone = c->dead || c->state != VSOCK_CONN_ESTABLISHED;
    if (*gone) {
        /* closed from inside the callback: the rest is discarded */
        c->fwd_cnt += h->len;
        return 0;
    }
    return MIN(taken, h->len);
}

/*
 * SEQPACKET keeps the guest's message boundaries: the endpoint gets each
 * message whole in one write(), straight from the tx buffers when the
 * message fits one packet and nothing is queued before it, else once its
 * last piece (EOM) is in the ring.  Empty messages are not kept (Linux
 * never sends them).
 */
static VsockTxResult handle_rw_seqpacket(VsockConn *c, const VsockHdr *h,
                                         const struct iovec *iov,
                                         unsigned cnt)
{
    VsockEngine *e = c->engine;
    bool eom = h->flags & VIRTIO_VSOCK_SEQ_EOM;
    uint32_t flags = h->flags & (VIRTIO_VSOCK_SEQ_EOM | VIRTIO_VSOCK_SEQ_EOR);
    bool gone;

    if (!h->len && !(eom && c->msg_partial)) {
        return VSOCK_TX_OK;
    }
    c->recv_cnt += h->len;
    c->stats.tx_bytes += h->len;
    e->stats.tx_bytes += h->len;
    vsock_conn_check_credit(c);

    if (eom && !c->ring.len && !c->write_blocked && c->ops &&
        c->ops->write) {
        if (offer_payload(c, h, iov, cnt, flags, &gone) == h->len) {
            vsock_conn_consumed(c, h->len);
            return VSOCK_TX_OK;
        }
        if (gone) {
            return VSOCK_TX_OK;
        }
        c->write_blocked = true; /* all or nothing: it took nothing */
    }
    if (h->len) {
        vsock_ring_append(e, &c->ring, e->cfg.buf_alloc, iov, cnt,
                          VSOCK_HDR_SIZE, h->len);
    }
    c->msg_partial += h->len;
    if (eom) {
        vsock_msgs_push(&c->msgs, c->msg_partial |
                        (flags & VIRTIO_VSOCK_SEQ_EOR ? VSOCK_MSG_EOR : 0));
        c->msg_partial = 0;
        if (!c->write_blocked) {
            vsock_conn_drain(c);
        }
    }
    return VSOCK_TX_OK;
}

static VsockTxResult handle_rw(VsockConn *c, const VsockHdr *h,
                               const struct iovec *iov, unsigned cnt)
{
    VsockEngine *e = c->engine;
    size_t taken = 0;

    if (c->state == VSOCK_CONN_CLOSING) {
        /* we closed: discard, but keep the guest's credit moving */
        c->recv_cnt += h->len;
        c->fwd_cnt += h->len;
        return VSOCK_TX_OK;
    }
    if (c->peer_shutdown & VIRTIO_VSOCK_SHUTDOWN_SEND) {
        vsock_conn_kill(c, VSOCK_CLOSE_PROTOCOL, true);
        return VSOCK_TX_BAD_OP;
    }
    if ((uint64_t)(c->recv_cnt - c->fwd_cnt) + h->len > e->cfg.buf_alloc) {
        vsock_conn_kill(c, VSOCK_CLOSE_PROTOCOL, true);
        return VSOCK_TX_CREDIT_OVERRUN;
    }
    if (c->type == VIRTIO_VSOCK_TYPE_SEQPACKET) {
        return handle_rw_seqpacket(c, h, iov, cnt);
    }
    if (h->len == 0) {
        return VSOCK_TX_OK;
    }
    c->recv_cnt += h->len;
    c->stats.tx_bytes += h->len;
    e->stats.tx_bytes += h->len;

    if (!c->ring.len && c->ops && c->ops->write) {
        bool gone;

        taken = offer_payload(c, h, iov, cnt, 0, &gone);
        if (gone) {
            return VSOCK_TX_OK;
        }
    }
    if (taken < h->len) {
        vsock_ring_append(e, &c->ring, e->cfg.buf_alloc, iov, cnt,
                          VSOCK_HDR_SIZE + taken, h->len - taken);
    }
    if (taken) {
        vsock_conn_consumed(c, taken);
    }
    return VSOCK_TX_OK;
}

static void handle_shutdown(VsockConn *c, const VsockHdr *h)
{
    uint32_t flags = h->flags & VSOCK_SHUTDOWN_BOTH;

    c->peer_shutdown |= flags;
    if (c->state == VSOCK_CONN_CLOSING) {
        /* we are done too: answer at once */
        vsock_conn_kill(c, VSOCK_CLOSE_PEER_SHUTDOWN, true);
        return;
    }
    vsock_conn_check_peer_shutdown(c);
}

/* Host-initiated, REQUEST owed or sent: only RESPONSE moves it on. */
static VsockTxResult recv_connecting(VsockConn *c, const VsockHdr *h)
{
    VsockEngine *e = c->engine;

    switch (h->op) {
    case VIRTIO_VSOCK_OP_RESPONSE:
        if (c->owe & OWE_REQUEST) {
            /* the guest cannot answer a REQUEST it was not sent */
            vsock_conn_kill(c, VSOCK_CLOSE_PROTOCOL, true);
            return VSOCK_TX_BAD_OP;
        }
        vsock_timer_stop(c);
        vsock_conn_set_state(c, VSOCK_CONN_ESTABLISHED);
        e->stats.conns_opened++;
        if (c->ops && c->ops->connected) {
            c->ops->connected(c, c->opaque);
        }
        if (!c->dead) {
            vsock_conn_update_data(c);
        }
        return VSOCK_TX_OK;
    case VIRTIO_VSOCK_OP_CREDIT_UPDATE:
    case VIRTIO_VSOCK_OP_CREDIT_REQUEST:
        vsock_conn_update_data(c);
        return VSOCK_TX_OK;
    default:
        /* RW, SHUTDOWN, REQUEST or an unknown op before the RESPONSE */
        vsock_conn_kill(c, VSOCK_CLOSE_PROTOCOL, true);
        return VSOCK_TX_BAD_OP;
    }
}

/* Established or closing (our SHUTDOWN owed or sent). */
static VsockTxResult recv_connected(VsockConn *c, const VsockHdr *h,
                                    const struct iovec *iov, unsigned cnt)
{
    switch (h->op) {
    case VIRTIO_VSOCK_OP_RW:
        return handle_rw(c, h, iov, cnt);
    case VIRTIO_VSOCK_OP_SHUTDOWN:
        handle_shutdown(c, h);
        return VSOCK_TX_OK;
    case VIRTIO_VSOCK_OP_CREDIT_UPDATE:
        vsock_conn_update_data(c);
        return VSOCK_TX_OK;
    case VIRTIO_VSOCK_OP_CREDIT_REQUEST:
        if (c->state == VSOCK_CONN_ESTABLISHED) {
            vsock_conn_owe(c, OWE_CREDIT);
        }
        vsock_conn_update_data(c);
        return VSOCK_TX_OK;
    default:
        /* RESPONSE or REQUEST on a live connection, or an unknown op */
        vsock_conn_kill(c, VSOCK_CLOSE_PROTOCOL, true);
        return VSOCK_TX_BAD_OP;
    }
}

/* A packet (not RST) of a connection that is not CLOSED: state first. */
static VsockTxResult handle_conn_packet(VsockConn *c, const VsockHdr *h,
                                        const struct iovec *iov,
                                        unsigned cnt)
{
    c->stats.tx_pkts++;
    if (h->type != c->type) {
        vsock_conn_kill(c, VSOCK_CLOSE_PROTOCOL, true);
        return VSOCK_TX_BAD_TYPE;
    }
    if (c->state == VSOCK_CONN_ACCEPTING) {
        /* nothing but RST is valid before our RESPONSE, not even REQUEST */
        vsock_conn_kill(c, VSOCK_CLOSE_PROTOCOL, true);
        return VSOCK_TX_BAD_OP;
    }
    if (h->op != VIRTIO_VSOCK_OP_REQUEST) {
        c->peer_buf_alloc = h->buf_alloc;
        c->peer_fwd_cnt = h->fwd_cnt;
    }
    switch (c->state) {
    case VSOCK_CONN_CONNECTING:
        return recv_connecting(c, h);
    case VSOCK_CONN_ESTABLISHED:
    case VSOCK_CONN_CLOSING:
        return recv_connected(c, h, iov, cnt);
    default:
        return VSOCK_TX_OK; /* CLOSED: the caller answered already */
    }
}

static VsockTxResult do_tx(VsockEngine *e, const struct iovec *iov,
                           unsigned cnt, size_t total_len)
{
    VsockHdr h;
    VsockKey key;
    VsockConn *c;

    total_len = MIN(total_len, iov_size(iov, cnt));
    if (total_len < VSOCK_HDR_SIZE) {
        return VSOCK_TX_SHORT_HDR;
    }
    vsock_hdr_from_iov(&h, iov, cnt);
    e->stats.tx_pkts++;
    if (e->ops.packet) {
        e->ops.packet(e->cfg.opaque, false, &h);
    }
    if (h.len > total_len - VSOCK_HDR_SIZE) {
        return VSOCK_TX_BAD_LEN;
    }
    if (h.src_cid != e->guest_cid) {
        return VSOCK_TX_BAD_SRC_CID;
    }
    key = vsock_key(e, h.dst_cid, h.dst_port, h.src_cid, h.src_port);
    c = g_hash_table_lookup(e->conns, &key);
    if (h.op == VIRTIO_VSOCK_OP_RST) {
        /* never answered */
        e->stats.rst_received++;
        if (c && c->state != VSOCK_CONN_CLOSED) {
            c->stats.tx_pkts++;
            vsock_conn_kill(c, c->state == VSOCK_CONN_CONNECTING ?
                            VSOCK_CLOSE_REFUSED : VSOCK_CLOSE_PEER_RST, false);
        } else if (c) {
            vsock_conn_destroy(c); /* our RST is moot now */
        }
        return VSOCK_TX_OK;
    }
    if (!vsock_engine_is_local_cid(e, h.dst_cid)) {
        return refuse(e, &h, VSOCK_TX_BAD_DST_CID);
    }
    if (h.type != VIRTIO_VSOCK_TYPE_STREAM &&
        (h.type != VIRTIO_VSOCK_TYPE_SEQPACKET || !e->seqpacket)) {
        if (c) {
            vsock_conn_kill(c, VSOCK_CLOSE_PROTOCOL, true);
            return VSOCK_TX_BAD_TYPE;
        }
        return refuse(e, &h, VSOCK_TX_BAD_TYPE);
    }
    if (!c) {
        if (h.op == VIRTIO_VSOCK_OP_REQUEST) {
            return handle_request(e, &h, &key);
        }
        if (h.op < VIRTIO_VSOCK_OP_REQUEST ||
            h.op > VIRTIO_VSOCK_OP_CREDIT_REQUEST) {
            return refuse(e, &h, VSOCK_TX_BAD_OP);
        }
        return refuse(e, &h, VSOCK_TX_NO_CONN);
    }
    if (c->state == VSOCK_CONN_CLOSED) {
        return VSOCK_TX_OK; /* an RST is on its way */
    }
    return handle_conn_packet(c, &h, iov, cnt);
}

VsockTxResult vsock_engine_handle_tx(VsockEngine *e,
                                     const struct iovec *iov,
                                     unsigned iov_cnt, size_t total_len)
{
    VsockTxResult r;

    vsock_engine_enter(e);
    r = do_tx(e, iov, iov_cnt, total_len);
    e->stats.results[r]++;
    vsock_engine_leave(e);
    return r;
}

bool vsock_engine_tx_ready(VsockEngine *e)
{
    return e->rst_len < e->cfg.max_pending_rst;
}
