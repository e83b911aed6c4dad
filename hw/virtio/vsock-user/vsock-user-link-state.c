/*
 * virtio-vsock-user: a link's state: connecting and reconnecting,
 * accepting, the TLS handshake, the hello timeout, and link loss (every
 * connection that crossed the link is reset in the local guest)
 *
 * This file is the one switch on the link's state: every socket watch of
 * the link (and of its candidates) calls in here, reads or writes through
 * vsock-user-link.c, which says what happened, and hands frames on by
 * state: the hello to this file, packets to vsock-user-link-route.c.  The
 * device's calls (the backend ops) come in here too, so that whatever
 * they queue is written, and a failed write takes the link down, from
 * one place.  Nothing below this file calls back up into it.
 *
 * Copyright (c) 2026 The virtio-vsock-user authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/error-report.h"
#include "qemu/timer.h"
#include "crypto/tlscreds.h"
#include "io/channel-socket.h"
#include "io/channel-tls.h"
#include "io/net-listener.h"
#include "qemu/units.h"
#include "vsock-user-link-int.h"
#include "trace.h"

/* The link of @l's device that carries @cid (@l itself included). */
VsockUserLink *vsock_link_sibling(VsockUserLink *l, uint64_t cid)
{
    VsockBackend *b;

    if (!l->backend.set) {
        return NULL;
    }
    VSOCK_BACKENDS_FOREACH(b, l->backend.set) {
        if (b->ops == &vsock_link_backend_ops &&
            vsock_link_carries(vsock_link_of(b), cid)) {
            return vsock_link_of(b);
        }
    }
    return NULL;
}

/* ---- writing ------------------------------------------------------------ */

static gboolean link_out_ready(QIOChannel *ioc, GIOCondition cond,
                               gpointer opaque);

void vsock_link_flush(VsockUserLink *l)
{
    g_autofree char *why = NULL;

    if (!vsock_link_write(l, &why)) {
        vsock_link_down(l, why);
        return;
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

/* ---- reading ------------------------------------------------------------ */

static gboolean link_in_ready(QIOChannel *ioc, GIOCondition cond,
                              gpointer opaque);

/*
 * Only past the TLS handshake (in LINK_HELLO or LINK_UP) is there
 * anything to read: reading a TLS channel during its handshake fails and
 * would drop the link.  Whoever asks for reads earlier (the guest drained
 * its rx queue, or was reset) gets them once the handshake is done.
 */
void vsock_link_watch_in(VsockUserLink *l, bool on)
{
    if (on && !l->in_watch && l->ioc &&
        (l->state == LINK_HELLO || l->state == LINK_UP)) {
        l->in_watch = qio_channel_add_watch(l->ioc,
                                            G_IO_IN | G_IO_HUP | G_IO_ERR,
                                            link_in_ready, l, NULL);
    } else if (!on && l->in_watch) {
        g_source_remove(l->in_watch);
        l->in_watch = 0;
    }
}

static void link_got_hello(VsockUserLink *l, LinkFrame *f)
{
    g_autofree char *msg = vsock_link_hello_refusal(l, &f->h, f->data);

    if (msg) {
        vsock_link_report_refusal(l, msg);
        vsock_link_down(l, "hello refused");
        return;
    }
    vsock_link_hello_accepted(l, &f->h, f->data);
}

/* A whole frame from the socket, by the link's state. */
static void link_got_frame(VsockUserLink *l, LinkFrame *f)
{
    const VsockHdr *h = &f->h;
    VsockUserLink *to = NULL;
    unsigned flush;

    trace_vsock_user_link_rx(vsock_link_id(l), h->src_cid, h->src_port,
                             h->dst_cid, h->dst_port, vsock_op_str(h->op),
                             h->len);
    if (l->state == LINK_HELLO) {
        link_got_hello(l, f);
        g_free(f);
        return;
    }
    if (h->dst_cid != l->owner.guest_cid) {
        to = vsock_link_sibling(l, h->dst_cid);
    }
    flush = vsock_link_peer_frame(l, to, f);
    if (flush & LINK_FLUSH_FROM) {
        vsock_link_flush(l);
    }
    if (flush & LINK_FLUSH_TO) {
        vsock_link_flush(to);
    }
}

/*
 * What one wakeup reads at most: frames of every kind (for the guest,
 * relayed, refused, dropped, answered with an RST) and bytes, whichever
 * runs out first.  Most frames never count towards max-queued, so without
 * this a peer streaming them would hold the main loop (and with it the
 * vCPUs, the monitor and every other device) for as long as it streams.
 * The rest stays in the socket: the watch stays armed (a TLS channel's
 * watch also fires for bytes it has decrypted already), so it is read at
 * the next turn of the main loop.
 */
#define LINK_READ_BUDGET_FRAMES 256
#define LINK_READ_BUDGET_BYTES  (256 * KiB)

static void link_read(VsockUserLink *l)
{
    unsigned frames = 0;
    size_t bytes = 0;

    while (l->ioc && !vsock_link_rx_full(l)) {
        g_autofree char *why = NULL;
        LinkFrame *f = NULL;

        switch (vsock_link_read(l, &f, &bytes, &why)) {
        case LINK_READ_BLOCKED:
            return;
        case LINK_READ_CLOSED:
            vsock_link_down(l, why);
            return;
        case LINK_READ_FRAME:
            link_got_frame(l, f);
            frames++;
            break;
        case LINK_READ_MORE:
            break;
        }
        if (frames >= LINK_READ_BUDGET_FRAMES ||
            bytes >= LINK_READ_BUDGET_BYTES) {
            trace_vsock_user_link_read_budget(vsock_link_id(l), frames,
                                              bytes);
            break;
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

/* ---- the connection ----------------------------------------------------- */

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
            VsockUserLink *o = vsock_link_sibling(l, k->local_cid);

            if (o && o != l) {
                vsock_link_relay_lost(o, k, c->type);
                vsock_link_flush(o);
            }
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
    vsock_link_queue_hello(l);
    vsock_link_flush(l);
    if (l->ioc) {
        vsock_link_watch_in(l, true);
    }
}

/* TLS failed on the link's connection: count, report, drop it; frees @err */
static void link_tls_down(VsockUserLink *l, const char *what, Error *err)
{
    g_autofree char *why = g_strdup_printf("%s: %s", what,
                                           error_get_pretty(err));

    vsock_link_tls_failed(l, err);
    error_free(err);
    vsock_link_down(l, why);
}

static void link_tls_done(QIOTask *task, gpointer opaque)
{
    VsockUserLink *l = opaque;
    Error *err = NULL;

    if (QIO_CHANNEL(qio_task_get_source(task)) != l->ioc) {
        return;                 /* a connection replaced since */
    }
    if (qio_task_propagate_error(task, &err)) {
        link_tls_down(l, "TLS handshake", err);
        return;
    }
    link_established(l);
}

static void link_unref(gpointer opaque)
{
    object_unref(OBJECT(opaque));
}

/* Take a connected socket (ours, or accepted) as the link's. */
static void link_start(VsockUserLink *l, QIOChannelSocket *sioc)
{
    Error *err = NULL;

    l->sioc = sioc;
    vsock_link_socket_setup(sioc);
    l->state = LINK_CONNECTING;
    timer_mod(l->hello_timer, qemu_clock_get_ms(QEMU_CLOCK_REALTIME) +
              l->hello_timeout_ms);
    if (!l->tls_creds) {
        l->ioc = QIO_CHANNEL(sioc);
        object_ref(OBJECT(sioc));
        link_established(l);
        return;
    }
    l->ioc = vsock_link_tls_new(l, sioc, &err);
    if (!l->ioc) {
        link_tls_down(l, "TLS", err);
        return;
    }
    /* the handshake may end after the object is unparented */
    object_ref(OBJECT(l));
    qio_channel_tls_handshake(QIO_CHANNEL_TLS(l->ioc), link_tls_done, l,
                              link_unref, NULL);
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

/*
 * A connecting link connects only for a VM that runs here.  Not on the
 * destination of an incoming migration before the migration is over:
 * the source's link is still the peer's, and a hello from the
 * destination would take it over while the source's guest still uses
 * it.  Nor on the source once its VM has moved: its reconnects would
 * take the link back from the destination, and the two would take
 * turns.  The VM's next start here connects it (the link's VM change
 * state handler).
 */
static bool link_vm_here(void)
{
    return !runstate_check(RUN_STATE_INMIGRATE) &&
           !runstate_check(RUN_STATE_FINISH_MIGRATE) &&
           !runstate_check(RUN_STATE_POSTMIGRATE);
}

void vsock_link_reconnect_cb(void *opaque)
{
    VsockUserLink *l = opaque;

    if (!l->attached || l->server || l->ioc || l->state != LINK_DOWN ||
        l->fd_used) {
        return;
    }
    if (!link_vm_here()) {
        trace_vsock_user_link_connect_deferred(vsock_link_id(l),
                                               RunState_str(runstate_get()));
        return;
    }
    vsock_link_connect(l);
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

/* ---- candidates: accepted while the link has a connection --------------- */

static gboolean link_candidate_in_ready(QIOChannel *ioc, GIOCondition cond,
                                        gpointer opaque)
{
    LinkCandidate *c = opaque;
    VsockUserLink *l = c->l;
    uint8_t cids[LINK_MAX_CIDS * 8];
    VsockHdr h;

    switch (vsock_link_candidate_read(c, &h)) {
    case LINK_CAND_BLOCKED:
        return G_SOURCE_CONTINUE;
    case LINK_CAND_GONE:
        return G_SOURCE_REMOVE;
    case LINK_CAND_HELLO:
        break;
    }
    memcpy(cids, c->in + VSOCK_HDR_SIZE, h.len);
    /* the connections over the old socket ended with the other QEMU */
    vsock_link_down(l, "replaced by a new connection that completed its "
                    "hello");
    vsock_link_candidate_promote(c);
    vsock_link_hello_accepted(l, &h, cids);
    vsock_link_flush(l);
    if (l->ioc) {
        vsock_link_watch_in(l, true);
    }
    return G_SOURCE_REMOVE;
}

static void link_candidate_established(LinkCandidate *c)
{
    if (!vsock_link_candidate_hello(c)) {
        return;
    }
    c->in_watch = qio_channel_add_watch(c->ioc, G_IO_IN | G_IO_HUP | G_IO_ERR,
                                        link_candidate_in_ready, c, NULL);
}

static void link_candidate_tls_done(QIOTask *task, gpointer opaque)
{
    VsockUserLink *l = opaque;
    LinkCandidate *c = vsock_link_candidate_find(l,
                                    QIO_CHANNEL(qio_task_get_source(task)));
    Error *err = NULL;

    if (qio_task_propagate_error(task, &err)) {
        if (c) {
            vsock_link_tls_failed(l, err);
            vsock_link_candidate_drop(c, "TLS handshake failed");
        }
        error_free(err);
        return;
    }
    if (c) {
        c->tls_done = true;
        link_candidate_established(c);
    }
}

/* Takes @sioc. */
static void link_candidate_start(VsockUserLink *l, QIOChannelSocket *sioc)
{
    LinkCandidate *c = vsock_link_candidate_new(l, sioc);

    if (!c) {
        return;
    }
    if (!l->tls_creds) {
        link_candidate_established(c);
        return;
    }
    object_ref(OBJECT(l));
    qio_channel_tls_handshake(QIO_CHANNEL_TLS(c->ioc), link_candidate_tls_done,
                              l, link_unref, NULL);
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
    object_ref(OBJECT(sioc));
    if (l->ioc) {
        /*
         * Perhaps the other QEMU restarted before we noticed it went;
         * perhaps anybody who can reach the address: the new connection
         * replaces ours only once it has proven itself.
         */
        link_candidate_start(l, sioc);
        return;
    }
    link_start(l, sioc);
}

/* ---- the device's calls: the link as one of its backends ---------------- */

static void link_tx(VsockBackend *b, const VsockHdr *h,
                    const struct iovec *iov, unsigned iov_cnt)
{
    VsockUserLink *l = vsock_link_of(b);

    if (vsock_link_guest_packet(l, h, iov, iov_cnt)) {
        vsock_link_flush(l);
    }
}

static bool link_fill_rx(VsockBackend *b, const struct iovec *iov,
                         unsigned iov_cnt, size_t *len)
{
    VsockUserLink *l = vsock_link_of(b);
    bool resume = false;
    bool filled = vsock_link_fill_rx(l, iov, iov_cnt, len, &resume);

    if (resume) {
        vsock_link_watch_in(l, true);
    }
    return filled;
}

/*
 * The guest was reset (or its state replaced by loadvm): tell the other
 * end, with an RST per connection of this guest that crossed the link,
 * and forget the packets still waiting for it.
 */
static void link_reset(VsockBackend *b)
{
    VsockUserLink *l = vsock_link_of(b);

    vsock_link_guest_reset(l);
    vsock_link_flush(l);
    vsock_link_watch_in(l, true);
}

const VsockBackendOps vsock_link_backend_ops = {
    .route = vsock_link_route,
    .tx = link_tx,
    .rx_pending = vsock_link_rx_pending,
    .fill_rx = link_fill_rx,
    .reset = link_reset,
    .set_seqpacket = vsock_link_set_seqpacket,
    .foreach_conn = vsock_link_foreach_conn,
};
