/*
 * virtio-vsock-user: links between devices in different QEMU processes
 *
 *   -object vsock-user-link,id=l0,addr=unix:/run/l.sock,server=on,cids=16
 *   -object vsock-user-link,id=l0,addr=unix:/run/l.sock,cids=3[,cids=..]
 *
 * A link is one stream socket (any SocketAddress; one side listens, the
 * other connects and reconnects) that carries virtio_vsock_hdr frames:
 * the 44 little-endian header bytes, then len payload bytes, exactly as
 * the guests sent them.  Both ends first send a hello frame (op INVALID,
 * magic ports, the sender's guest CID in src_cid and its cids list as
 * payload), so that a mistaken setup (the same CID on both ends, a CID
 * the other end does not expect) is refused with an error naming both
 * ends instead of mixing up traffic.
 *
 * Nothing read from the socket is trusted: a frame with a bad header (op,
 * type, len) ends the connection, and so does a peer that has not
 * completed its hello (TLS handshake included) hello-timeout-ms after the
 * socket connected; a frame from a CID the link does not carry is dropped
 * and counted; a frame to a CID that is not this guest's is relayed to
 * the link that carries it if relay-cids names it, else refused with an
 * RST back (vsock-user-link-object.c).
 * Memory is bounded by max-queued in each direction: reading stops while
 * that many bytes wait for the guest's rx buffers, and guest data that
 * would queue more towards the socket resets its connection (RST to the
 * guest and to the other end), so a stalled peer never stalls the
 * device's tx queue and no byte of a connection is dropped silently.
 *
 * The link tracks the connections that cross it (at most the device's
 * max-connections): when the socket goes, each gets an RST in the local
 * guest; when the local guest is reset, each gets an RST at the other end.
 *
 * Copyright (c) 2026 The virtio-vsock-user authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qapi/qapi-visit-sockets.h"
#include "qapi/qapi-builtin-visit.h"
#include "qapi/visitor.h"
#include "qemu/error-report.h"
#include "qemu/log.h"
#include "qemu/module.h"
#include "qemu/sockets.h"
#include "qemu/timer.h"
#include "qom/object_interfaces.h"
#include "crypto/tlscreds.h"
#include "io/channel-socket.h"
#include "io/channel-tls.h"
#include "io/net-listener.h"
#include "hw/qdev-core.h"
#include "hw/virtio/vsock-user-engine.h"
#include "hw/virtio/vsock-user-link.h"
#include "vsock-user-link-int.h"
#include "trace.h"

#define LINK_HELLO_MAGIC    0x4b4e4c56u     /* "VLNK" */
#define LINK_HELLO_VERSION  1

const char *vsock_link_id(VsockUserLink *l)
{
    return object_get_canonical_path_component(OBJECT(l));
}

const char *vsock_link_dev_name(VsockUserLink *l)
{
    DeviceState *d = DEVICE(l->owner.dev);
    Object *parent = l->owner.dev->parent;

    if (d->id) {
        return d->id;
    }
    if (parent && object_dynamic_cast(parent, TYPE_DEVICE) &&
        DEVICE(parent)->id) {
        return DEVICE(parent)->id;
    }
    return object_get_typename(l->owner.dev);
}

bool vsock_link_carries(VsockUserLink *l, uint64_t cid)
{
    for (unsigned i = 0; i < l->n_cids; i++) {
        if (l->cids[i] == cid) {
            return true;
        }
    }
    return false;
}

char *vsock_link_cids_str(const uint64_t *cids, unsigned n)
{
    GString *s = g_string_new(NULL);

    for (unsigned i = 0; i < n; i++) {
        g_string_append_printf(s, "%s%" PRIu64, i ? "," : "", cids[i]);
    }
    return g_string_free(s, false);
}

/* ---- connection tracking ------------------------------------------------ */

guint vsock_link_key_hash(gconstpointer p)
{
    const LinkConnKey *k = p;

    return g_int64_hash(&k->peer_cid) ^ g_int64_hash(&k->local_cid) ^
           (k->guest_port * 0x9e3779b1u) ^ k->peer_port;
}

gboolean vsock_link_key_equal(gconstpointer a, gconstpointer b)
{
    return !memcmp(a, b, sizeof(LinkConnKey));
}

LinkConnKey vsock_link_key(uint64_t peer_cid, uint64_t local_cid,
                           uint32_t guest_port, uint32_t peer_port)
{
    LinkConnKey k = {
        .peer_cid = peer_cid, .local_cid = local_cid,
        .guest_port = guest_port, .peer_port = peer_port,
    };
    return k;
}

/* false if the table is full */
/*
 * A REQUEST nobody answered (the other end ignored it, and Linux gives up
 * a connect() after 2 s without telling the peer) is forgotten after this
 * long, once room is needed.
 */
#define LINK_REQUEST_EXPIRE_MS 10000

static gboolean link_conn_stale(gpointer key, gpointer value, gpointer opaque)
{
    const LinkConn *c = value;

    return !c->established &&
           *(int64_t *)opaque - c->requested_ms > LINK_REQUEST_EXPIRE_MS;
}

bool vsock_link_type_ok(VsockUserLink *l, uint16_t type)
{
    return type == VSOCK_TYPE_STREAM ||
           (type == VSOCK_TYPE_SEQPACKET && l->guest_seqpacket);
}

bool vsock_link_track(VsockUserLink *l, const LinkConnKey *k, uint16_t type)
{
    int64_t now = qemu_clock_get_ms(QEMU_CLOCK_REALTIME);
    LinkConn *c;

    if (g_hash_table_contains(l->conns, k)) {
        return true;
    }
    if (g_hash_table_size(l->conns) >= l->owner.max_conns) {
        g_hash_table_foreach_remove(l->conns, link_conn_stale, &now);
    }
    if (g_hash_table_size(l->conns) >= l->owner.max_conns) {
        return false;
    }
    c = g_new0(LinkConn, 1);
    c->type = type;
    c->requested_ms = now;
    g_hash_table_insert(l->conns, g_memdup2(k, sizeof(*k)), c);
    return true;
}

void vsock_link_established(VsockUserLink *l, const LinkConnKey *k)
{
    LinkConn *c = g_hash_table_lookup(l->conns, k);

    if (c) {
        c->established = true;
    }
}

/* ---- towards the guest -------------------------------------------------- */

void vsock_link_wake_owner(VsockUserLink *l)
{
    if (l->attached && l->owner.wakeup) {
        l->owner.wakeup(l->owner.opaque);
    }
}

static void link_rxq_push(VsockUserLink *l, LinkFrame *f)
{
    g_queue_push_tail(&l->rxq, f);
    l->rxq_bytes += sizeof(*f) + f->h.len;
}

void vsock_link_rxq_clear(VsockUserLink *l)
{
    g_queue_clear_full(&l->rxq, g_free);
    l->rxq_bytes = 0;
}

/* An RST to the local guest for the connection (guest_port, peer). */
void vsock_link_rst_to_guest(VsockUserLink *l, uint64_t peer_cid,
                             uint32_t peer_port, uint32_t guest_port,
                             uint16_t type, bool bounded)
{
    LinkFrame *f;

    if (bounded && l->rxq_bytes > l->max_queued + LINK_CTRL_HEADROOM) {
        trace_vsock_user_link_drop(vsock_link_id(l),
                                   "RST to guest: queue full");
        return;
    }
    f = g_malloc0(sizeof(*f));
    f->h.src_cid = peer_cid;
    f->h.src_port = peer_port;
    f->h.dst_cid = l->owner.guest_cid;
    f->h.dst_port = guest_port;
    f->h.type = type;
    f->h.op = VSOCK_OP_RST;
    link_rxq_push(l, f);
    trace_vsock_user_link_rst_guest(vsock_link_id(l), peer_cid, peer_port,
                                    guest_port);
}

/* ---- towards the socket ------------------------------------------------- */


static gboolean link_out_ready(QIOChannel *ioc, GIOCondition cond,
                               gpointer opaque);

void vsock_link_flush(VsockUserLink *l)
{
    LinkOut *o;

    while (l->ioc && (o = g_queue_peek_head(&l->txq))) {
        Error *err = NULL;
        ssize_t n = qio_channel_write(l->ioc, (char *)o->data + o->off,
                                      o->len - o->off, &err);

        if (n == QIO_CHANNEL_ERR_BLOCK) {
            break;
        }
        if (n < 0) {
            g_autofree char *why = g_strdup_printf("write: %s",
                                                   error_get_pretty(err));
            error_free(err);
            vsock_link_down(l, why);
            return;
        }
        o->off += n;
        if (o->off == o->len) {
            g_queue_pop_head(&l->txq);
            l->txq_bytes -= o->len;
            g_free(o);
        }
    }
    if (!l->ioc) {
        return;
    }
    if (!g_queue_is_empty(&l->txq) && !l->out_watch) {
        l->out_watch = qio_channel_add_watch(l->ioc, G_IO_OUT,
                                             link_out_ready, l, NULL);
    } else if (g_queue_is_empty(&l->txq) && l->out_watch) {
        g_source_remove(l->out_watch);
        l->out_watch = 0;
    }
}

static gboolean link_out_ready(QIOChannel *ioc, GIOCondition cond,
                               gpointer opaque)
{
    VsockUserLink *l = opaque;

    l->out_watch = 0;
    vsock_link_flush(l);
    return G_SOURCE_REMOVE;
}

void vsock_link_queue_frame(VsockUserLink *l, const VsockHdr *h,
                             const struct iovec *iov, unsigned iov_cnt,
                             size_t offset)
{
    LinkOut *o = g_malloc(sizeof(*o) + VSOCK_HDR_SIZE + h->len);

    o->len = VSOCK_HDR_SIZE + h->len;
    o->off = 0;
    vsock_hdr_encode(h, o->data);
    if (h->len) {
        iov_to_buf(iov, iov_cnt, offset, o->data + VSOCK_HDR_SIZE,
                         h->len);
    }
    g_queue_push_tail(&l->txq, o);
    l->txq_bytes += o->len;
}

/* An RST to the other end, if the link is up and has room for it. */
void vsock_link_rst_over(VsockUserLink *l, uint64_t src_cid,
                         uint32_t src_port, uint64_t dst_cid,
                         uint32_t dst_port, uint16_t type)
{
    VsockHdr h = {
        .src_cid = src_cid, .src_port = src_port,
        .dst_cid = dst_cid, .dst_port = dst_port,
        .type = type, .op = VSOCK_OP_RST,
    };

    if (l->state != LINK_UP ||
        l->txq_bytes > l->max_queued + 2 * LINK_CTRL_HEADROOM) {
        return;
    }
    vsock_link_queue_frame(l, &h, NULL, 0, 0);
    trace_vsock_user_link_rst_peer(vsock_link_id(l), src_cid, src_port,
                                   dst_cid, dst_port);
}

void vsock_link_rst_to_peer(VsockUserLink *l, uint32_t guest_port,
                            uint64_t peer_cid, uint32_t peer_port,
                            uint16_t type)
{
    vsock_link_rst_over(l, l->owner.guest_cid, guest_port, peer_cid,
                        peer_port, type);
}

static void link_send_hello(VsockUserLink *l)
{
    uint8_t payload[LINK_MAX_CIDS * 8];
    struct iovec iov = { .iov_base = payload };
    VsockHdr h = {
        .src_cid = l->owner.guest_cid,
        .src_port = LINK_HELLO_MAGIC,
        .dst_port = LINK_HELLO_VERSION,
        .op = VSOCK_OP_INVALID,
        .len = l->n_cids * 8,
    };

    for (unsigned i = 0; i < l->n_cids; i++) {
        stq_le_p(payload + 8 * i, l->cids[i]);
    }
    iov.iov_len = h.len;
    vsock_link_queue_frame(l, &h, &iov, 1, 0);
    vsock_link_flush(l);
}

/* ---- reading the socket ------------------------------------------------- */

static gboolean link_in_ready(QIOChannel *ioc, GIOCondition cond,
                              gpointer opaque);

void vsock_link_watch_in(VsockUserLink *l, bool on)
{
    if (on && !l->in_watch && l->ioc) {
        l->in_watch = qio_channel_add_watch(l->ioc,
                                            G_IO_IN | G_IO_HUP | G_IO_ERR,
                                            link_in_ready, l, NULL);
    } else if (!on && l->in_watch) {
        g_source_remove(l->in_watch);
        l->in_watch = 0;
    }
}

bool vsock_link_rx_full(VsockUserLink *l)
{
    return l->rxq_bytes >= l->max_queued;
}

/* A refusal is reported once, not at every reconnect that repeats it. */
static void link_refuse(VsockUserLink *l, const char *msg)
{
    if (g_strcmp0(l->last_refusal, msg)) {
        error_report("%s", msg);
        g_free(l->last_refusal);
        l->last_refusal = g_strdup(msg);
    }
    vsock_link_down(l, "hello refused");
}

static const char *link_peer_desc(VsockUserLink *l)
{
    return l->server ? "the QEMU that connected to" : "the QEMU listening on";
}

static void link_got_hello(VsockUserLink *l, LinkFrame *f)
{
    uint64_t peer_cids[LINK_MAX_CIDS];
    unsigned n = f->h.len / 8;
    bool carries_us = false;
    g_autofree char *theirs = NULL;
    g_autofree char *msg = NULL;

    for (unsigned i = 0; i < n; i++) {
        peer_cids[i] = ldq_le_p(f->data + 8 * i);
        carries_us |= peer_cids[i] == l->owner.guest_cid;
    }
    theirs = vsock_link_cids_str(peer_cids, n);
    if (f->h.src_cid == l->owner.guest_cid) {
        msg = g_strdup_printf("vsock-user-link '%s': both ends have guest "
                              "CID %" PRIu64 " (this end: device '%s'; "
                              "the other end: %s %s); every guest linked "
                              "needs its own CID: link refused",
                              vsock_link_id(l), f->h.src_cid,
                              vsock_link_dev_name(l),
                              link_peer_desc(l), l->addr_str);
    } else if (!vsock_link_carries(l, f->h.src_cid)) {
        msg = g_strdup_printf("vsock-user-link '%s': the guest at the other "
                              "end (%s %s) has CID %" PRIu64 ", which is "
                              "not in this link's cids: link refused",
                              vsock_link_id(l), link_peer_desc(l), l->addr_str,
                              f->h.src_cid);
    } else if (!carries_us) {
        msg = g_strdup_printf("vsock-user-link '%s': the other end (%s %s) "
                              "carries cids=%s, not this guest's CID %"
                              PRIu64 " (device '%s'): link refused",
                              vsock_link_id(l), link_peer_desc(l), l->addr_str,
                              theirs, l->owner.guest_cid,
                              vsock_link_dev_name(l));
    }
    if (msg) {
        link_refuse(l, msg);
        return;
    }
    g_free(l->last_refusal);
    l->last_refusal = NULL;
    l->peer_guest_cid = f->h.src_cid;
    l->state = LINK_UP;
    timer_del(l->hello_timer);
    l->connect_warned = false;
    l->hello_warned = false;
    l->tls_warned = false;
    if (l->ever_up) {
        l->stats.reconnects++;
    }
    l->ever_up = true;
    trace_vsock_user_link_up(vsock_link_id(l), l->owner.guest_cid, f->h.src_cid,
                             theirs);
}

/* Does the header make sense?  If not, the stream is garbage. */
static const char *link_check_hdr(VsockUserLink *l, const VsockHdr *h)
{
    if (l->state == LINK_HELLO) {
        if (h->op != VSOCK_OP_INVALID || h->src_port != LINK_HELLO_MAGIC) {
            return "first frame is not a hello";
        }
        if (h->dst_port != LINK_HELLO_VERSION) {
            return "hello of an unknown version";
        }
        if (h->len % 8 || h->len > LINK_MAX_CIDS * 8) {
            return "hello with a bad CID list";
        }
        return NULL;
    }
    if (h->op < VSOCK_OP_REQUEST || h->op > VSOCK_OP_CREDIT_REQUEST) {
        return "bad op";
    }
    if (h->type != VSOCK_TYPE_STREAM && h->type != VSOCK_TYPE_SEQPACKET) {
        return "bad type";
    }
    if (h->len > VSOCK_MAX_PKT_PAYLOAD) {
        return "len over 64 KiB";
    }
    if (h->len && h->op != VSOCK_OP_RW) {
        return "payload on a packet other than RW";
    }
    return NULL;
}

static void link_got_frame(VsockUserLink *l, LinkFrame *f)
{
    const VsockHdr *h = &f->h;
    LinkConnKey k = vsock_link_key(h->src_cid, l->owner.guest_cid,
                                   h->dst_port, h->src_port);

    trace_vsock_user_link_rx(vsock_link_id(l), h->src_cid, h->src_port,
                             h->dst_cid, h->dst_port, vsock_op_str(h->op),
                             h->len);
    if (l->state == LINK_HELLO) {
        link_got_hello(l, f);
        g_free(f);
        return;
    }
    if (!vsock_link_carries(l, h->src_cid)) {
        l->stats.refused++;
        trace_vsock_user_link_drop(vsock_link_id(l),
                                   "src_cid not carried by the link");
        g_free(f);
        return;
    }
    if (h->dst_cid != l->owner.guest_cid) {
        vsock_link_relay(l, f);
        return;
    }
    if (!vsock_link_type_ok(l, h->type)) {
        /* as the guest's own transport would: RST, of the same type */
        l->stats.refused++;
        trace_vsock_user_link_drop(vsock_link_id(l),
                                   "socket type the guest does not speak");
        if (h->op != VSOCK_OP_RST) {
            vsock_link_rst_to_peer(l, h->dst_port, h->src_cid, h->src_port,
                                   h->type);
            vsock_link_flush(l);
        }
        g_free(f);
        return;
    }
    if (h->op == VSOCK_OP_RST) {
        g_hash_table_remove(l->conns, &k);
    } else if (h->op == VSOCK_OP_RESPONSE) {
        vsock_link_established(l, &k);
    } else if (h->op == VSOCK_OP_REQUEST &&
               !vsock_link_track(l, &k, h->type)) {
        l->stats.resets++;
        trace_vsock_user_link_drop(vsock_link_id(l),
                                   "REQUEST over max-connections");
        vsock_link_rst_to_peer(l, h->dst_port, h->src_cid, h->src_port,
                               h->type);
        vsock_link_flush(l);
        g_free(f);
        return;
    }
    l->stats.rx_pkts++;
    l->stats.rx_bytes += h->len;
    link_rxq_push(l, f);
    vsock_link_wake_owner(l);
}

static void link_read(VsockUserLink *l)
{
    while (l->ioc && !vsock_link_rx_full(l)) {
        size_t total = VSOCK_HDR_SIZE + (l->in_frame ? l->in_frame->h.len : 0);
        uint8_t *dst = l->got < VSOCK_HDR_SIZE ? l->hdr_buf + l->got :
                       l->in_frame->data + (l->got - VSOCK_HDR_SIZE);
        Error *err = NULL;
        ssize_t n;

        n = qio_channel_read(l->ioc, (char *)dst, total - l->got, &err);
        if (n == QIO_CHANNEL_ERR_BLOCK) {
            return;
        }
        if (n <= 0) {
            g_autofree char *why = n ? g_strdup_printf("read: %s",
                                       error_get_pretty(err)) :
                                   g_strdup("the other end closed the link");
            error_free(err);
            vsock_link_down(l, why);
            return;
        }
        l->got += n;
        if (l->got == VSOCK_HDR_SIZE && !l->in_frame) {
            VsockHdr h;
            const char *bad;

            vsock_hdr_decode(&h, l->hdr_buf);
            bad = link_check_hdr(l, &h);
            if (bad) {
                g_autofree char *why = g_strdup_printf("garbage from the "
                    "other end (%s): op %u type %u len %u", bad, h.op,
                    h.type, h.len);
                l->stats.garbage++;
                vsock_link_down(l, why);
                return;
            }
            l->in_frame = g_malloc(sizeof(LinkFrame) + h.len);
            l->in_frame->h = h;
            l->in_frame->off = 0;
        }
        if (l->in_frame && l->got == VSOCK_HDR_SIZE + l->in_frame->h.len) {
            LinkFrame *f = l->in_frame;

            l->in_frame = NULL;
            l->got = 0;
            link_got_frame(l, f);
        }
    }
    if (l->ioc && vsock_link_rx_full(l)) {
        trace_vsock_user_link_rx_full(vsock_link_id(l), l->rxq_bytes);
        vsock_link_watch_in(l, false);
    }
}

static gboolean link_in_ready(QIOChannel *ioc, GIOCondition cond,
                              gpointer opaque)
{
    VsockUserLink *l = opaque;

    link_read(l);
    return G_SOURCE_CONTINUE;
}

/* ---- link state --------------------------------------------------------- */


void vsock_link_close_channel(VsockUserLink *l)
{
    if (l->hello_timer) {
        timer_del(l->hello_timer);
    }
    vsock_link_watch_in(l, false);
    if (l->out_watch) {
        g_source_remove(l->out_watch);
        l->out_watch = 0;
    }
    if (l->ioc) {
        qio_channel_close(l->ioc, NULL);
        object_unref(OBJECT(l->ioc));
        l->ioc = NULL;
    }
    if (l->sioc) {
        object_unref(OBJECT(l->sioc));
        l->sioc = NULL;
    }
    g_free(l->in_frame);
    l->in_frame = NULL;
    l->got = 0;
    g_queue_clear_full(&l->txq, g_free);
    l->txq_bytes = 0;
}

/*
 * The socket is gone: every connection that crossed it is reset in the
 * local guest (its sockets see ECONNRESET, not a hang).
 */
void vsock_link_down(VsockUserLink *l, const char *why)
{
    g_autoptr(GHashTable) conns = NULL;
    GHashTableIter it;
    gpointer key, value;
    unsigned n = 0;

    if (l->state == LINK_DOWN && !l->ioc) {
        return;
    }
    vsock_link_close_channel(l);
    l->state = LINK_DOWN;
    /*
     * A relayed connection's RST goes out by another link, whose own
     * failure may come back here: walk a table nobody else changes.
     */
    conns = l->conns;
    l->conns = g_hash_table_new_full(vsock_link_key_hash,
                                     vsock_link_key_equal, g_free, g_free);
    g_hash_table_iter_init(&it, conns);
    while (g_hash_table_iter_next(&it, &key, &value)) {
        const LinkConnKey *k = key;
        const LinkConn *c = value;

        if (k->local_cid == l->owner.guest_cid) {
            vsock_link_rst_to_guest(l, k->peer_cid, k->peer_port,
                                    k->guest_port, c->type, false);
            n++;
        } else {
            vsock_link_relay_lost(l, k, c->type);
        }
    }
    l->stats.resets += n;
    trace_vsock_user_link_down(vsock_link_id(l), why, n);
    if (n) {
        vsock_link_wake_owner(l);
    }
    if (l->fd_used && !l->server) {
        /* the descriptor is closed: its number may name another file now */
        warn_report("vsock-user-link '%s': the link over %s is gone (%s); "
                    "an fd: link connects once and does not reconnect",
                    vsock_link_id(l), l->addr_str, why);
        return;
    }
    if (l->attached && !l->server) {
        timer_mod(l->reconnect_timer,
                  qemu_clock_get_ms(QEMU_CLOCK_REALTIME) + l->reconnect_ms);
    }
}

static void link_established(VsockUserLink *l)
{
    l->state = LINK_HELLO;
    trace_vsock_user_link_hello(vsock_link_id(l), l->addr_str);
    link_send_hello(l);
    if (l->ioc) {
        vsock_link_watch_in(l, true);
    }
}

static void link_tls_done(QIOTask *task, gpointer opaque)
{
    VsockUserLink *l = opaque;
    Error *err = NULL;

    if (QIO_CHANNEL(qio_task_get_source(task)) != l->ioc) {
        return;                 /* a connection replaced since */
    }
    if (qio_task_propagate_error(task, &err)) {
        g_autofree char *why = g_strdup_printf("TLS handshake: %s",
                                               error_get_pretty(err));
        l->stats.tls_failures++;
        if (!l->tls_warned) {
            /* once until a link comes up; each is counted and traced */
            error_report("vsock-user-link '%s': TLS with %s %s failed: %s "
                         "(check tls-creds at both ends; further failures "
                         "count in tls-failures)", vsock_link_id(l),
                         link_peer_desc(l), l->addr_str,
                         error_get_pretty(err));
            l->tls_warned = true;
        }
        error_free(err);
        vsock_link_down(l, why);
        return;
    }
    link_established(l);
}

/* Take a connected socket (ours, or accepted) as the link's. */
static void link_start(VsockUserLink *l, QIOChannelSocket *sioc)
{
    Error *err = NULL;

    l->sioc = sioc;
    qio_channel_set_blocking(QIO_CHANNEL(sioc), false, NULL);
    l->state = LINK_CONNECTING;
    timer_mod(l->hello_timer, qemu_clock_get_ms(QEMU_CLOCK_REALTIME) +
              l->hello_timeout_ms);
    if (!l->tls_creds) {
        l->ioc = QIO_CHANNEL(sioc);
        object_ref(OBJECT(sioc));
        link_established(l);
        return;
    }
    if (l->server) {
        l->ioc = QIO_CHANNEL(qio_channel_tls_new_server(QIO_CHANNEL(sioc),
                                                        l->tls_creds, NULL,
                                                        &err));
    } else {
        const char *host = l->addr->type == SOCKET_ADDRESS_TYPE_INET ?
                           l->addr->u.inet.host : NULL;

        l->ioc = QIO_CHANNEL(qio_channel_tls_new_client(QIO_CHANNEL(sioc),
                                                        l->tls_creds, host,
                                                        &err));
    }
    if (!l->ioc) {
        g_autofree char *why = g_strdup_printf("TLS: %s",
                                               error_get_pretty(err));
        error_free(err);
        l->stats.tls_failures++;
        vsock_link_down(l, why);
        return;
    }
    qio_channel_tls_handshake(QIO_CHANNEL_TLS(l->ioc), link_tls_done, l,
                              NULL, NULL);
}

typedef struct LinkAttempt {
    VsockUserLink *l;
    uint64_t attempt;
} LinkAttempt;

static void link_attempt_free(gpointer p)
{
    LinkAttempt *a = p;

    object_unref(OBJECT(a->l));
    g_free(a);
}

static void link_connected(QIOTask *task, gpointer opaque)
{
    LinkAttempt *a = opaque;
    VsockUserLink *l = a->l;
    QIOChannelSocket *sioc = QIO_CHANNEL_SOCKET(qio_task_get_source(task));
    Error *err = NULL;

    if (qio_task_propagate_error(task, &err)) {
        if (a->attempt == l->attempt && l->attached) {
            /* once per outage, so that a wrong addr does not go unseen */
            if (!l->connect_warned) {
                warn_report("vsock-user-link '%s': cannot connect to %s: "
                            "%s; retrying every %" PRIu32 " ms",
                            vsock_link_id(l), l->addr_str,
                            error_get_pretty(err), l->reconnect_ms);
                l->connect_warned = true;
            }
            trace_vsock_user_link_connect_failed(vsock_link_id(l),
                                                 error_get_pretty(err));
            l->state = LINK_DOWN;
            timer_mod(l->reconnect_timer,
                      qemu_clock_get_ms(QEMU_CLOCK_REALTIME) +
                      l->reconnect_ms);
        }
        error_free(err);
        return;
    }
    if (a->attempt != l->attempt || !l->attached) {
        return;                 /* detached meanwhile */
    }
    object_ref(OBJECT(sioc));
    link_start(l, sioc);
}

void vsock_link_connect(VsockUserLink *l)
{
    QIOChannelSocket *sioc = qio_channel_socket_new();
    LinkAttempt *a = g_new0(LinkAttempt, 1);

    a->l = l;
    a->attempt = ++l->attempt;
    if (l->addr->type == SOCKET_ADDRESS_TYPE_FD) {
        l->fd_used = true;
    }
    object_ref(OBJECT(l));
    l->state = LINK_CONNECTING;
    trace_vsock_user_link_connect(vsock_link_id(l), l->addr_str);
    qio_channel_socket_connect_async(sioc, l->addr, link_connected, a,
                                     link_attempt_free, NULL);
    object_unref(OBJECT(sioc));
}

void vsock_link_reconnect_cb(void *opaque)
{
    VsockUserLink *l = opaque;

    if (l->attached && !l->ioc && l->state == LINK_DOWN && !l->fd_used) {
        vsock_link_connect(l);
    }
}

/*
 * The other end connected but has not completed its hello (or the TLS
 * handshake before it): a peer that says nothing, or half a frame, must
 * not hold the link.
 */
void vsock_link_hello_timeout_cb(void *opaque)
{
    VsockUserLink *l = opaque;
    g_autofree char *why = NULL;

    if (!l->ioc && !l->sioc) {
        return;
    }
    if (l->state == LINK_UP) {
        return;
    }
    l->stats.hello_timeouts++;
    why = g_strdup_printf("no hello from the other end within %" PRIu32
                          " ms (%s, %zu bytes of a frame read)",
                          l->hello_timeout_ms,
                          l->state == LINK_HELLO ? "after ours" :
                          "TLS handshake", l->got);
    trace_vsock_user_link_hello_timeout(vsock_link_id(l), l->hello_timeout_ms,
                                        l->got);
    if (!l->hello_warned) {
        /* once until a link comes up: a port scanner must not flood */
        warn_report("vsock-user-link '%s' (%s): %s; connection dropped",
                    vsock_link_id(l), l->addr_str, why);
        l->hello_warned = true;
    }
    vsock_link_down(l, why);
}

void vsock_link_accept(QIONetListener *listener, QIOChannelSocket *sioc,
                        gpointer opaque)
{
    VsockUserLink *l = opaque;

    if (!l->attached) {
        trace_vsock_user_link_drop(vsock_link_id(l), "connection before a "
                                   "device took the link: closed");
        qio_channel_close(QIO_CHANNEL(sioc), NULL);
        return;
    }
    if (l->ioc) {
        /* the other QEMU restarted before we noticed it went */
        vsock_link_down(l, "replaced by a new connection");
    }
    object_ref(OBJECT(sioc));
    link_start(l, sioc);
}
