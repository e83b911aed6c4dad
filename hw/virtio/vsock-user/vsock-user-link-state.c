/*
 * virtio-vsock-user: a link's state: connecting and reconnecting,
 * accepting, the TLS handshake, the hello timeout, and link loss (every
 * connection that crossed the link is reset in the local guest)
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
#include "vsock-user-link-int.h"
#include "trace.h"

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
    vsock_link_send_hello(l);
    if (l->ioc) {
        vsock_link_watch_in(l, true);
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
    object_ref(OBJECT(sioc));
    if (l->ioc) {
        /*
         * Perhaps the other QEMU restarted before we noticed it went;
         * perhaps anybody who can reach the address: the new connection
         * replaces ours only once it has proven itself.
         */
        vsock_link_candidate_new(l, sioc);
        return;
    }
    link_start(l, sioc);
}
