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
 * This file, the lowest of the link's: the frames, the hello, reading and
 * writing the socket, the connections and the queues.  It calls nothing
 * above it: a read step and a write return what happened, and the link's
 * state (vsock-user-link-state.c) decides what follows; the object is in
 * vsock-user-link-object.c.
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
#include "qemu/units.h"
#include "qemu/xxhash.h"
#include "qom/object_interfaces.h"
#include "crypto/tlscreds.h"
#include "io/channel-socket.h"
#include "io/channel-tls.h"
#include "io/net-listener.h"
#include "hw/qdev-core.h"
#include "vsock-user-engine.h"
#include "vsock-user-link.h"
#include "vsock-user-link-int.h"
#include "trace.h"

const char *vsock_link_id(VsockUserLink *l)
{
    return object_get_canonical_path_component(OBJECT(l));
}

const char *vsock_link_dev_name(VsockUserLink *l)
{
    return virtio_vsock_user_id(l->owner.dev) ?: TYPE_VIRTIO_VSOCK_USER;
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

    return qemu_xxhash8(k->hash_key, k->peer_cid, k->local_cid,
                        k->guest_port, k->peer_port);
}

gboolean vsock_link_key_equal(gconstpointer a, gconstpointer b)
{
    const LinkConnKey *x = a, *y = b;

    return x->peer_cid == y->peer_cid && x->local_cid == y->local_cid &&
           x->guest_port == y->guest_port && x->peer_port == y->peer_port;
}

LinkConnKey vsock_link_key(VsockUserLink *l, uint64_t peer_cid,
                           uint64_t local_cid, uint32_t guest_port,
                           uint32_t peer_port)
{
    LinkConnKey k = {
        .peer_cid = peer_cid, .local_cid = local_cid,
        .guest_port = guest_port, .peer_port = peer_port,
        .hash_key = l->hash_key,
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
    return type == VIRTIO_VSOCK_TYPE_STREAM ||
           (type == VIRTIO_VSOCK_TYPE_SEQPACKET && l->guest_seqpacket);
}

bool vsock_link_track(VsockUserLink *l, const LinkConnKey *k, uint16_t type,
                      bool from_peer)
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
    c->from_peer = from_peer;
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
    vsock_backend_wake(&l->backend);
}

void vsock_link_rxq_push(VsockUserLink *l, LinkFrame *f)
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
    f->h.op = VIRTIO_VSOCK_OP_RST;
    vsock_link_rxq_push(l, f);
    trace_vsock_user_link_rst_guest(vsock_link_id(l), peer_cid, peer_port,
                                    guest_port);
}

/* ---- towards the socket ------------------------------------------------- */


bool vsock_link_write(VsockUserLink *l, char **why)
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
            *why = g_strdup_printf("write: %s", error_get_pretty(err));
            error_free(err);
            return false;
        }
        o->off += n;
        if (o->off == o->len) {
            g_queue_pop_head(&l->txq);
            l->txq_bytes -= o->len;
            g_free(o);
        }
    }
    return true;
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
        .type = type, .op = VIRTIO_VSOCK_OP_RST,
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

size_t vsock_link_hello_encode(VsockUserLink *l, uint8_t *buf)
{
    VsockHdr h = {
        .src_cid = l->owner.guest_cid,
        .src_port = LINK_HELLO_MAGIC,
        .dst_port = LINK_HELLO_VERSION,
        .op = VIRTIO_VSOCK_OP_INVALID,
        .len = l->n_cids * 8,
    };

    vsock_hdr_encode(&h, buf);
    for (unsigned i = 0; i < l->n_cids; i++) {
        stq_le_p(buf + VSOCK_HDR_SIZE + 8 * i, l->cids[i]);
    }
    return VSOCK_HDR_SIZE + h.len;
}

void vsock_link_queue_hello(VsockUserLink *l)
{
    LinkOut *o = g_malloc(sizeof(*o) + LINK_HELLO_MAX);

    o->len = vsock_link_hello_encode(l, o->data);
    o->off = 0;
    g_queue_push_tail(&l->txq, o);
    l->txq_bytes += o->len;
}

/* ---- reading the socket ------------------------------------------------- */

bool vsock_link_rx_full(VsockUserLink *l)
{
    return l->rxq_bytes >= l->max_queued;
}

/*
 * Refused hellos are reported within a budget: LINK_REFUSAL_LOG_BURST
 * messages per LINK_REFUSAL_LOG_WINDOW_MS, then one line that says how many
 * more there were.  Without TLS anybody who can reach the address can
 * send hellos, each with a message of its own.  hellos-refused counts
 * them all.
 */
#define LINK_REFUSAL_LOG_BURST      3
#define LINK_REFUSAL_LOG_WINDOW_MS  60000

/* The window ended with refusals not reported: say how many. */
void vsock_link_refusal_summary_cb(void *opaque)
{
    VsockUserLink *l = opaque;

    error_report("vsock-user-link '%s': %" PRIu64 " more hellos refused "
                 "within %d s, not reported one by one (hellos-refused "
                 "counts them all)", vsock_link_id(l),
                 l->refusals_unreported, LINK_REFUSAL_LOG_WINDOW_MS / 1000);
    l->refusals_unreported = 0;
    l->refusal_window = qemu_clock_get_ms(QEMU_CLOCK_REALTIME);
    l->refusals_reported = 0;
}

/*
 * A refusal is reported once, not at every reconnect that repeats it, and
 * within the budget above.
 */
void vsock_link_report_refusal(VsockUserLink *l, const char *msg)
{
    int64_t now = qemu_clock_get_ms(QEMU_CLOCK_REALTIME);

    l->stats.hellos_refused++;
    if (!g_strcmp0(l->last_refusal, msg)) {
        return;
    }
    g_free(l->last_refusal);
    l->last_refusal = g_strdup(msg);
    if (!l->refusals_unreported &&
        now - l->refusal_window >= LINK_REFUSAL_LOG_WINDOW_MS) {
        l->refusal_window = now;
        l->refusals_reported = 0;
    }
    if (l->refusals_reported < LINK_REFUSAL_LOG_BURST) {
        l->refusals_reported++;
        error_report("%s", msg);
        return;
    }
    if (!l->refusals_unreported++) {
        timer_mod(l->refusal_timer,
                  l->refusal_window + LINK_REFUSAL_LOG_WINDOW_MS);
    }
}

const char *vsock_link_peer_desc(VsockUserLink *l)
{
    return l->server ? "the QEMU that connected to" : "the QEMU listening on";
}

char *vsock_link_hello_refusal(VsockUserLink *l, const VsockHdr *h,
                               const uint8_t *payload)
{
    uint64_t peer_cids[LINK_MAX_CIDS];
    unsigned n = h->len / 8;
    bool carries_us = false;
    g_autofree char *theirs = NULL;

    for (unsigned i = 0; i < n; i++) {
        peer_cids[i] = ldq_le_p(payload + 8 * i);
        carries_us |= peer_cids[i] == l->owner.guest_cid;
    }
    if (h->src_cid == l->owner.guest_cid) {
        return g_strdup_printf("vsock-user-link '%s': both ends have guest "
                               "CID %" PRIu64 " (this end: device '%s'; "
                               "the other end: %s %s); every guest linked "
                               "needs its own CID: link refused",
                               vsock_link_id(l), h->src_cid,
                               vsock_link_dev_name(l),
                               vsock_link_peer_desc(l), l->addr_str);
    }
    if (!vsock_link_carries(l, h->src_cid)) {
        return g_strdup_printf("vsock-user-link '%s': the guest at the other "
                               "end (%s %s) has CID %" PRIu64 ", which is "
                               "not in this link's cids: link refused",
                               vsock_link_id(l), vsock_link_peer_desc(l),
                               l->addr_str, h->src_cid);
    }
    if (!carries_us) {
        theirs = vsock_link_cids_str(peer_cids, n);
        return g_strdup_printf("vsock-user-link '%s': the other end (%s %s) "
                               "carries cids=%s, not this guest's CID %"
                               PRIu64 " (device '%s'): link refused",
                               vsock_link_id(l), vsock_link_peer_desc(l),
                               l->addr_str, theirs, l->owner.guest_cid,
                               vsock_link_dev_name(l));
    }
    return NULL;
}

void vsock_link_hello_accepted(VsockUserLink *l, const VsockHdr *h,
                               const uint8_t *payload)
{
    uint64_t peer_cids[LINK_MAX_CIDS];
    g_autofree char *theirs = NULL;

    for (unsigned i = 0; i < h->len / 8; i++) {
        peer_cids[i] = ldq_le_p(payload + 8 * i);
    }
    theirs = vsock_link_cids_str(peer_cids, h->len / 8);
    g_free(l->last_refusal);
    l->last_refusal = NULL;
    l->peer_guest_cid = h->src_cid;
    l->state = LINK_UP;
    timer_del(l->hello_timer);
    l->connect_warned = false;
    l->hello_warned = false;
    l->tls_warned = false;
    if (l->ever_up) {
        l->stats.reconnects++;
    }
    l->ever_up = true;
    trace_vsock_user_link_up(vsock_link_id(l), l->owner.guest_cid,
                             h->src_cid, theirs);
}

const char *vsock_link_check_hello(const VsockHdr *h)
{
    if (h->op != VIRTIO_VSOCK_OP_INVALID || h->src_port != LINK_HELLO_MAGIC) {
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

/* Does the header make sense?  If not, the stream is garbage. */
static const char *link_check_hdr(VsockUserLink *l, const VsockHdr *h)
{
    if (l->state == LINK_HELLO) {
        return vsock_link_check_hello(h);
    }
    if (h->op < VIRTIO_VSOCK_OP_REQUEST ||
        h->op > VIRTIO_VSOCK_OP_CREDIT_REQUEST) {
        return "bad op";
    }
    if (h->type != VIRTIO_VSOCK_TYPE_STREAM &&
        h->type != VIRTIO_VSOCK_TYPE_SEQPACKET) {
        return "bad type";
    }
    if (h->len > VSOCK_MAX_PKT_PAYLOAD) {
        return "len over 64 KiB";
    }
    if (h->len && h->op != VIRTIO_VSOCK_OP_RW) {
        return "payload on a packet other than RW";
    }
    return NULL;
}

LinkRead vsock_link_read(VsockUserLink *l, LinkFrame **frame, size_t *bytes,
                         char **why)
{
    size_t total = VSOCK_HDR_SIZE + (l->in_frame ? l->in_frame->h.len : 0);
    uint8_t *dst = l->got < VSOCK_HDR_SIZE ? l->hdr_buf + l->got :
                   l->in_frame->data + (l->got - VSOCK_HDR_SIZE);
    Error *err = NULL;
    ssize_t n;

    n = qio_channel_read(l->ioc, (char *)dst, total - l->got, &err);
    if (n == QIO_CHANNEL_ERR_BLOCK) {
        return LINK_READ_BLOCKED;
    }
    if (n <= 0) {
        *why = n ? g_strdup_printf("read: %s", error_get_pretty(err)) :
                   g_strdup("the other end closed the link");
        error_free(err);
        return LINK_READ_CLOSED;
    }
    l->got += n;
    *bytes += n;
    if (l->got == VSOCK_HDR_SIZE && !l->in_frame) {
        VsockHdr h;
        const char *bad;

        vsock_hdr_decode(&h, l->hdr_buf);
        bad = link_check_hdr(l, &h);
        if (bad) {
            *why = g_strdup_printf("garbage from the other end (%s): op %u "
                                   "type %u len %u", bad, h.op, h.type,
                                   h.len);
            l->stats.garbage++;
            return LINK_READ_CLOSED;
        }
        l->in_frame = g_malloc(sizeof(LinkFrame) + h.len);
        l->in_frame->h = h;
        l->in_frame->off = 0;
    }
    if (l->in_frame && l->got == VSOCK_HDR_SIZE + l->in_frame->h.len) {
        *frame = l->in_frame;
        l->in_frame = NULL;
        l->got = 0;
        return LINK_READ_FRAME;
    }
    return LINK_READ_MORE;
}

/* ---- the socket and its TLS --------------------------------------------- */

/*
 * A link's frames are small and each one matters now (a SHUTDOWN, a
 * credit update, a one-byte RW): over TCP they go out at once, without
 * waiting for the ACK of the previous one (Nagle).  With TLS, the socket
 * under it.
 */
void vsock_link_socket_setup(QIOChannelSocket *sioc)
{
    int family = sioc->localAddr.ss_family;

    qio_channel_set_blocking(QIO_CHANNEL(sioc), false, NULL);
    if (family == AF_INET || family == AF_INET6) {
        qio_channel_set_delay(QIO_CHANNEL(sioc), false);
    }
}

/* Counted always, reported once until a link comes up. */
void vsock_link_tls_failed(VsockUserLink *l, Error *err)
{
    l->stats.tls_failures++;
    if (!l->tls_warned) {
        error_report("vsock-user-link '%s': TLS with %s %s failed: %s "
                     "(check tls-creds at both ends; further failures "
                     "count in tls-failures)", vsock_link_id(l),
                     vsock_link_peer_desc(l), l->addr_str,
                     error_get_pretty(err));
        l->tls_warned = true;
    }
}

QIOChannel *vsock_link_tls_new(VsockUserLink *l, QIOChannelSocket *sioc,
                               Error **errp)
{
    const char *host = NULL;

    if (l->server) {
        return QIO_CHANNEL(qio_channel_tls_new_server(QIO_CHANNEL(sioc),
                                                      l->tls_creds, NULL,
                                                      errp));
    }
    if (l->addr->type == SOCKET_ADDRESS_TYPE_INET) {
        host = l->addr->u.inet.host;
    }
    return QIO_CHANNEL(qio_channel_tls_new_client(QIO_CHANNEL(sioc),
                                                  l->tls_creds, host, errp));
}
