/*
 * virtio-vsock-user: routing packets through a device's links
 *
 * The link as one of the device's backends (vsock-user-backend.h): it
 * claims the guest packets whose dst_cid it carries and sends them over
 * its socket, and fills the guest's rx buffers with the frames it read,
 * split to their size.  A frame for a CID another link of the same
 * device carries is relayed when relay-cids allows it (the link's state,
 * vsock-user-link-state.c, finds the other link among the device's
 * backends).  Nothing here writes a socket or watches one: what is
 * queued for a socket, the caller flushes; the functions say which.
 *
 * Budget rule, towards the socket: a guest packet with payload that would
 * take the bytes queued for the socket over max-queued, or a packet
 * without payload that would take them LINK_CTRL_HEADROOM beyond it,
 * resets its connection: an RST to the guest and one to the other end
 * (counted in resets).  The guest's tx queue never waits for a link.
 * Relayed frames obey the same rule at the link they leave by: a frame
 * over that link's budget resets its connection at both ends (RST back
 * over the link it came from, RST on over the other); the link they came
 * by never waits either.  Only frames for the guest are split into rx
 * buffers; relayed frames pass unchanged.
 *
 * Copyright (c) 2026 The virtio-vsock-user authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/iov.h"
#include "qemu/log.h"
#include "vsock-user-link-int.h"
#include "trace.h"

static void link_guest_error(VsockUserLink *l, const VsockHdr *h,
                             const char *what)
{
    l->stats.guest_errors++;
    qemu_log_mask(LOG_GUEST_ERROR, "virtio-vsock-user: packet %" PRIu64
                  ":%" PRIu32 " -> %" PRIu64 ":%" PRIu32 " op %u for "
                  "vsock-user-link '%s': %s\n", h->src_cid, h->src_port,
                  h->dst_cid, h->dst_port, h->op, vsock_link_id(l), what);
}

/* Reset a connection of the guest: RST to the guest and the other end. */
static void link_reset_conn(VsockUserLink *l, const VsockHdr *h,
                            const char *why)
{
    LinkConnKey k = vsock_link_key(l, h->dst_cid, l->owner.guest_cid,
                                   h->src_port, h->dst_port);

    trace_vsock_user_link_reset(vsock_link_id(l), h->src_port, h->dst_cid,
                                h->dst_port, why);
    l->stats.resets++;
    g_hash_table_remove(l->conns, &k);
    vsock_link_rst_to_guest(l, h->dst_cid, h->dst_port, h->src_port, h->type,
                            true);
    vsock_link_rst_to_peer(l, h->src_port, h->dst_cid, h->dst_port, h->type);
    vsock_link_wake_owner(l);
}

bool vsock_link_guest_packet(VsockUserLink *l, const VsockHdr *h,
                             const struct iovec *iov, unsigned iov_cnt)
{
    size_t payload = iov_size(iov, iov_cnt) - VSOCK_HDR_SIZE;
    LinkConnKey k = vsock_link_key(l, h->dst_cid, l->owner.guest_cid,
                                   h->src_port, h->dst_port);
    size_t cost = VSOCK_HDR_SIZE + h->len;

    if (h->src_cid != l->owner.guest_cid) {
        link_guest_error(l, h, "src_cid is not the guest's CID; dropped");
        return false;
    }
    if (h->len > payload) {
        link_guest_error(l, h, "len exceeds the descriptor chain; dropped");
        return false;
    }
    if (h->op == VIRTIO_VSOCK_OP_RST) {
        g_hash_table_remove(l->conns, &k);
        if (vsock_link_type_ok(l, h->type) && !h->len) {
            vsock_link_rst_to_peer(l, h->src_port, h->dst_cid, h->dst_port,
                                   h->type);
            l->stats.tx_pkts++;
            return true;
        }
        return false;
    }
    if (!vsock_link_type_ok(l, h->type) || h->op < VIRTIO_VSOCK_OP_REQUEST ||
        h->op > VIRTIO_VSOCK_OP_CREDIT_REQUEST ||
        h->len > VSOCK_MAX_PKT_PAYLOAD ||
        (h->len && h->op != VIRTIO_VSOCK_OP_RW)) {
        link_guest_error(l, h, "bad type, op or len; reset");
        link_reset_conn(l, h, "malformed guest packet");
        return false;
    }
    if (l->state != LINK_UP) {
        link_reset_conn(l, h, "link down");
        return false;
    }
    if (h->op == VIRTIO_VSOCK_OP_REQUEST &&
        !vsock_link_track(l, &k, h->type, false)) {
        link_reset_conn(l, h, "max-connections reached");
        return false;
    }
    if (h->op == VIRTIO_VSOCK_OP_RESPONSE) {
        vsock_link_established(l, &k);
    }
    if ((h->len && l->txq_bytes + cost > l->max_queued) ||
        l->txq_bytes + cost > l->max_queued + LINK_CTRL_HEADROOM) {
        link_reset_conn(l, h, "over max-queued");
        return false;
    }
    trace_vsock_user_link_tx(vsock_link_id(l), h->src_port, h->dst_cid,
                             h->dst_port, vsock_op_str(h->op), h->len);
    vsock_link_queue_frame(l, h, iov, iov_cnt, VSOCK_HDR_SIZE);
    l->stats.tx_pkts++;
    l->stats.tx_bytes += h->len;
    return true;
}

VsockRoute vsock_link_route(VsockBackend *b, const VsockHdr *h)
{
    return vsock_link_carries(vsock_link_of(b), h->dst_cid) ?
           VSOCK_ROUTE_CID : VSOCK_ROUTE_NONE;
}

/* ---- relaying between two links of the device ------------------------- */

static bool link_relays(VsockUserLink *l, uint64_t cid)
{
    for (unsigned i = 0; i < l->n_relay; i++) {
        if (l->relay_cids[i] == cid) {
            return true;
        }
    }
    return false;
}

/* The key of a relayed connection at the link the frame leaves by. */
static LinkConnKey link_relay_key_out(VsockUserLink *to, const VsockHdr *h)
{
    return vsock_link_key(to, h->dst_cid, h->src_cid, h->src_port,
                          h->dst_port);
}

/* ... and at the link it came by. */
static LinkConnKey link_relay_key_in(VsockUserLink *from, const VsockHdr *h)
{
    return vsock_link_key(from, h->src_cid, h->dst_cid, h->dst_port,
                          h->src_port);
}

static unsigned link_relay_refuse(VsockUserLink *from, const VsockHdr *h,
                                  const char *why)
{
    from->stats.refused++;
    trace_vsock_user_link_relay_refused(vsock_link_id(from), h->src_cid,
                                        h->src_port, h->dst_cid, h->dst_port,
                                        why);
    qemu_log_mask(LOG_GUEST_ERROR, "virtio-vsock-user: vsock-user-link '%s': "
                  "packet %" PRIu64 ":%" PRIu32 " -> %" PRIu64 ":%" PRIu32
                  " op %u from the other end refused: %s\n",
                  vsock_link_id(from), h->src_cid, h->src_port, h->dst_cid,
                  h->dst_port, h->op, why);
    if (h->op != VIRTIO_VSOCK_OP_RST) {
        vsock_link_rst_over(from, h->dst_cid, h->dst_port, h->src_cid,
                            h->src_port, h->type);
        return LINK_FLUSH_FROM;
    }
    return 0;
}

/* Reset a relayed connection at both ends. */
static unsigned link_relay_reset(VsockUserLink *from, VsockUserLink *to,
                                 const VsockHdr *h, const char *why)
{
    LinkConnKey kin = link_relay_key_in(from, h);
    LinkConnKey kout = link_relay_key_out(to, h);

    trace_vsock_user_link_relay_reset(vsock_link_id(from), vsock_link_id(to),
                                      h->src_cid, h->src_port, h->dst_cid,
                                      h->dst_port, why);
    to->stats.resets++;
    g_hash_table_remove(from->conns, &kin);
    g_hash_table_remove(to->conns, &kout);
    vsock_link_rst_over(from, h->dst_cid, h->dst_port, h->src_cid,
                        h->src_port, h->type);
    vsock_link_rst_over(to, h->src_cid, h->src_port, h->dst_cid,
                        h->dst_port, h->type);
    return LINK_FLUSH_FROM | LINK_FLUSH_TO;
}

static unsigned link_relay(VsockUserLink *from, VsockUserLink *to,
                           LinkFrame *f)
{
    const VsockHdr *h = &f->h;
    LinkConnKey kin, kout;
    unsigned flush = 0;
    size_t cost = VSOCK_HDR_SIZE + h->len;
    struct iovec iov = { .iov_base = f->data, .iov_len = h->len };

    if (!to || to == from) {
        flush = link_relay_refuse(from, h, "dst_cid is neither this "
                                  "guest's nor carried by another link");
        goto out;
    }
    if (!link_relays(from, h->dst_cid)) {
        flush = link_relay_refuse(from, h, "dst_cid is carried by another "
                                  "link, but not in this link's relay-cids");
        goto out;
    }
    kin = link_relay_key_in(from, h);
    kout = link_relay_key_out(to, h);
    if (h->op == VIRTIO_VSOCK_OP_RST) {
        g_hash_table_remove(from->conns, &kin);
        g_hash_table_remove(to->conns, &kout);
        vsock_link_rst_over(to, h->src_cid, h->src_port, h->dst_cid,
                            h->dst_port, h->type);
        flush = LINK_FLUSH_TO;
        from->stats.relayed++;
        goto out;
    }
    if (to->state != LINK_UP) {
        flush = link_relay_reset(from, to, h, "the other link is down");
        goto out;
    }
    if (h->op == VIRTIO_VSOCK_OP_REQUEST &&
        (!vsock_link_track(from, &kin, h->type, true) ||
         !vsock_link_track(to, &kout, h->type, false))) {
        flush = link_relay_reset(from, to, h, "max-connections reached");
        goto out;
    }
    if (h->op == VIRTIO_VSOCK_OP_RESPONSE) {
        vsock_link_established(from, &kin);
        vsock_link_established(to, &kout);
    }
    if ((h->len && to->txq_bytes + cost > to->max_queued) ||
        to->txq_bytes + cost > to->max_queued + LINK_CTRL_HEADROOM) {
        flush = link_relay_reset(from, to, h, "over max-queued");
        goto out;
    }
    trace_vsock_user_link_relay(vsock_link_id(from), vsock_link_id(to),
                                h->src_cid, h->src_port, h->dst_cid,
                                h->dst_port, vsock_op_str(h->op), h->len);
    vsock_link_queue_frame(to, h, &iov, 1, 0);
    from->stats.relayed++;
    to->stats.tx_pkts++;
    to->stats.tx_bytes += h->len;
    flush = LINK_FLUSH_TO;
out:
    g_free(f);
    return flush;
}

/* ---- frames from the other end, past the hello -------------------------- */

unsigned vsock_link_peer_frame(VsockUserLink *l, VsockUserLink *to,
                               LinkFrame *f)
{
    const VsockHdr *h = &f->h;
    LinkConnKey k = vsock_link_key(l, h->src_cid, l->owner.guest_cid,
                                   h->dst_port, h->src_port);
    unsigned flush = 0;

    if (!vsock_link_carries(l, h->src_cid)) {
        l->stats.refused++;
        trace_vsock_user_link_drop(vsock_link_id(l),
                                   "src_cid not carried by the link");
        g_free(f);
        return 0;
    }
    if (h->dst_cid != l->owner.guest_cid) {
        return link_relay(l, to, f);
    }
    if (!vsock_link_type_ok(l, h->type)) {
        /* as the guest's own transport would: RST, of the same type */
        l->stats.refused++;
        trace_vsock_user_link_drop(vsock_link_id(l),
                                   "socket type the guest does not speak");
        if (h->op != VIRTIO_VSOCK_OP_RST) {
            vsock_link_rst_to_peer(l, h->dst_port, h->src_cid, h->src_port,
                                   h->type);
            flush = LINK_FLUSH_FROM;
        }
        g_free(f);
        return flush;
    }
    if (h->op == VIRTIO_VSOCK_OP_RST) {
        g_hash_table_remove(l->conns, &k);
    } else if (h->op == VIRTIO_VSOCK_OP_RESPONSE) {
        vsock_link_established(l, &k);
    } else if (h->op == VIRTIO_VSOCK_OP_REQUEST &&
               !vsock_link_track(l, &k, h->type, true)) {
        l->stats.resets++;
        trace_vsock_user_link_drop(vsock_link_id(l),
                                   "REQUEST over max-connections");
        vsock_link_rst_to_peer(l, h->dst_port, h->src_cid, h->src_port,
                               h->type);
        g_free(f);
        return LINK_FLUSH_FROM;
    }
    l->stats.rx_pkts++;
    l->stats.rx_bytes += h->len;
    vsock_link_rxq_push(l, f);
    vsock_link_wake_owner(l);
    return 0;
}

void vsock_link_relay_lost(VsockUserLink *o, const LinkConnKey *k,
                           uint16_t type)
{
    LinkConnKey ko;

    ko = vsock_link_key(o, k->local_cid, k->peer_cid, k->peer_port,
                        k->guest_port);
    o->stats.resets++;
    g_hash_table_remove(o->conns, &ko);
    vsock_link_rst_over(o, k->peer_cid, k->peer_port, k->local_cid,
                        k->guest_port, type);
}

bool vsock_link_rx_pending(VsockBackend *b)
{
    return !g_queue_is_empty(&vsock_link_of(b)->rxq);
}

/*
 * One rx buffer from the head packet.  A packet larger than the buffer
 * goes in pieces, each with its own header (len adjusted, the credit
 * fields as sent); a SEQPACKET message's EOM/EOR only on its last piece.
 */
bool vsock_link_fill_rx(VsockUserLink *l, const struct iovec *iov,
                        unsigned iov_cnt, size_t *len, bool *resume)
{
    LinkFrame *f = g_queue_peek_head(&l->rxq);
    size_t room = iov_size(iov, iov_cnt) - VSOCK_HDR_SIZE;
    uint32_t left, piece;
    VsockHdr h;

    if (!f) {
        return false;
    }
    left = f->h.len - f->off;
    piece = MIN(left, room);
    h = f->h;
    h.len = piece;
    if (piece < left) {
        h.flags &= ~(VIRTIO_VSOCK_SEQ_EOM | VIRTIO_VSOCK_SEQ_EOR);
    }
    vsock_hdr_to_iov(&h, iov, iov_cnt);
    iov_from_buf(iov, iov_cnt, VSOCK_HDR_SIZE, f->data + f->off, piece);
    *len = VSOCK_HDR_SIZE + piece;
    trace_vsock_user_link_rx_piece(vsock_link_id(l), f->h.src_port,
                                   f->h.dst_port, vsock_op_str(f->h.op),
                                   f->off, piece, f->h.len);
    f->off += piece;
    if (f->off == f->h.len) {
        g_queue_pop_head(&l->rxq);
        l->rxq_bytes -= sizeof(*f) + f->h.len;
        g_free(f);
        *resume = l->rxq_bytes < l->max_queued / 2;
    } else if (!piece) {
        qemu_log_mask(LOG_GUEST_ERROR, "virtio-vsock-user: rx buffer of "
                      "%zu bytes holds no payload\n", room + VSOCK_HDR_SIZE);
    }
    return true;
}

void vsock_link_set_seqpacket(VsockBackend *b, bool on)
{
    vsock_link_of(b)->guest_seqpacket = on;
}

/*
 * The guest was reset: queue an RST for the other end per connection of
 * this guest that crossed the link, and forget the packets still waiting
 * for the guest.
 */
void vsock_link_guest_reset(VsockUserLink *l)
{
    GHashTableIter it;
    gpointer key, value;
    unsigned n = 0;

    g_hash_table_iter_init(&it, l->conns);
    while (g_hash_table_iter_next(&it, &key, &value)) {
        const LinkConnKey *k = key;

        if (k->local_cid != l->owner.guest_cid) {
            continue;       /* relayed: not this guest's */
        }
        vsock_link_rst_to_peer(l, k->guest_port, k->peer_cid,
                               k->peer_port, ((LinkConn *)value)->type);
        g_hash_table_iter_remove(&it);
        n++;
    }
    l->stats.resets += n;
    vsock_link_rxq_clear(l);
    trace_vsock_user_link_guest_reset(vsock_link_id(l), n);
}

/*
 * The connections that crossed the link, seen from the guest's side: the
 * far end (across the link) is the local end, the guest's the peer, as
 * for the engine's connections.  QEMU holds no data and no credit of
 * its own on them, so those fields stay 0.
 */
void vsock_link_foreach_conn(VsockBackend *b, bool has_port, uint32_t port,
                             VsockConnInfoFn *fn, void *opaque)
{
    VsockUserLink *l = vsock_link_of(b);
    int64_t now = qemu_clock_get_ms(QEMU_CLOCK_REALTIME);
    GHashTableIter it;
    gpointer key, value;

    g_hash_table_iter_init(&it, l->conns);
    while (g_hash_table_iter_next(&it, &key, &value)) {
        const LinkConnKey *k = key;
        const LinkConn *c = value;
        VsockConnInfo ci = {
            .type = c->type,
            .state = c->established ? VSOCK_CONN_ESTABLISHED :
                     c->from_peer ? VSOCK_CONN_CONNECTING :
                     VSOCK_CONN_ACCEPTING,
            .local_cid = k->peer_cid,
            .local_port = k->peer_port,
            .peer_cid = k->local_cid,
            .peer_port = k->guest_port,
            .host_initiated = c->from_peer,
            .age_ns = (now - c->requested_ms) * SCALE_MS,
            .endpoint = {
                .kind = "link",
                .id = vsock_link_id(l),
                .address = l->addr_str,
            },
        };

        if (!has_port || port == k->peer_port || port == k->guest_port) {
            fn(&ci, opaque);
        }
    }
}
