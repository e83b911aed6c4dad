/*
 * virtio-vsock-user: connections a listening link accepts while it has
 * one
 *
 * Whoever can reach a listening link's address can connect to it.  If a
 * new connection replaced the link's at once, any such connection would
 * reset every stream over a working link, TLS or not.  So a connection
 * accepted while the link has one is a candidate: it does its TLS
 * handshake and the hello exchange on its own, and replaces the link's
 * connection only when the other end's hello is good (the case it is
 * for: the other QEMU restarted before this one noticed it went).  A
 * candidate that fails, is refused or says nothing within
 * hello-timeout-ms is closed, counted like a failed link connection
 * (tls-failures, garbage, hello-timeouts) and leaves the link alone.
 * At most LINK_MAX_CANDIDATES wait at a time: a newer one pushes out
 * the oldest, so a flood of silent connections holds no more than that;
 * over TCP, at most one per host (candidate_same_host()).
 *
 * A candidate reads exactly the hello frame and nothing more: what the
 * other end sends after it stays in the socket for the link to read.
 *
 * Copyright (c) 2026 The virtio-vsock-user authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/error-report.h"
#include "qemu/timer.h"
#include "io/channel-socket.h"
#include "io/channel-tls.h"
#include "vsock-user-link-int.h"
#include "trace.h"

static void candidate_free(LinkCandidate *c)
{
    if (c->in_watch) {
        g_source_remove(c->in_watch);
    }
    if (c->out_watch) {
        g_source_remove(c->out_watch);
    }
    timer_free(c->timer);
    if (c->ioc) {
        qio_channel_close(c->ioc, NULL);
        object_unref(OBJECT(c->ioc));
    }
    object_unref(OBJECT(c->sioc));
    g_free(c);
}

void vsock_link_candidate_drop(LinkCandidate *c, const char *why)
{
    VsockUserLink *l = c->l;

    trace_vsock_user_link_candidate_drop(vsock_link_id(l), why,
                                         g_queue_get_length(&l->candidates));
    g_queue_remove(&l->candidates, c);
    candidate_free(c);
}

void vsock_link_candidates_clear(VsockUserLink *l)
{
    LinkCandidate *c;

    while ((c = g_queue_pop_head(&l->candidates))) {
        candidate_free(c);
    }
}

LinkCandidate *vsock_link_candidate_find(VsockUserLink *l, QIOChannel *ioc)
{
    for (GList *e = l->candidates.head; e; e = e->next) {
        LinkCandidate *c = e->data;

        if (c->ioc == ioc) {
            return c;
        }
    }
    return NULL;
}

void vsock_link_candidate_promote(LinkCandidate *c)
{
    VsockUserLink *l = c->l;

    g_queue_remove(&l->candidates, c);
    if (c->in_watch) {
        g_source_remove(c->in_watch);
    }
    if (c->out_watch) {
        g_source_remove(c->out_watch);
    }
    timer_free(c->timer);
    l->sioc = c->sioc;
    l->ioc = c->ioc;
    if (c->out_off < c->out_len) {
        /* the rest of our hello goes first */
        LinkOut *o = g_malloc(sizeof(*o) + c->out_len - c->out_off);

        o->len = c->out_len - c->out_off;
        o->off = 0;
        memcpy(o->data, c->out + c->out_off, o->len);
        g_queue_push_tail(&l->txq, o);
        l->txq_bytes += o->len;
    }
    g_free(c);
    trace_vsock_user_link_candidate_up(vsock_link_id(l));
}

static gboolean candidate_out_ready(QIOChannel *ioc, GIOCondition cond,
                                    gpointer opaque);

/* Write our hello; false if the candidate is gone. */
static bool candidate_flush(LinkCandidate *c)
{
    while (c->out_off < c->out_len) {
        Error *err = NULL;
        ssize_t n = qio_channel_write(c->ioc, (char *)c->out + c->out_off,
                                      c->out_len - c->out_off, &err);

        if (n == QIO_CHANNEL_ERR_BLOCK) {
            if (!c->out_watch) {
                c->out_watch = qio_channel_add_watch(c->ioc, G_IO_OUT,
                                                     candidate_out_ready,
                                                     c, NULL);
            }
            return true;
        }
        if (n < 0) {
            error_free(err);
            vsock_link_candidate_drop(c, "write failed");
            return false;
        }
        c->out_off += n;
    }
    return true;
}

static gboolean candidate_out_ready(QIOChannel *ioc, GIOCondition cond,
                                    gpointer opaque)
{
    LinkCandidate *c = opaque;

    c->out_watch = 0;
    candidate_flush(c);
    return G_SOURCE_REMOVE;
}

LinkCandRead vsock_link_candidate_read(LinkCandidate *c, VsockHdr *h)
{
    VsockUserLink *l = c->l;
    g_autofree char *refusal = NULL;

    for (;;) {
        size_t want = VSOCK_HDR_SIZE;
        Error *err = NULL;
        ssize_t n;

        if (c->got >= VSOCK_HDR_SIZE) {
            const char *bad;

            vsock_hdr_decode(h, c->in);
            bad = vsock_link_check_hello(h);
            if (bad) {
                l->stats.garbage++;
                c->in_watch = 0;
                vsock_link_candidate_drop(c, bad);
                return LINK_CAND_GONE;
            }
            want += h->len;
        }
        if (c->got == want) {
            break;
        }
        n = qio_channel_read(c->ioc, (char *)c->in + c->got, want - c->got,
                             &err);
        if (n == QIO_CHANNEL_ERR_BLOCK) {
            return LINK_CAND_BLOCKED;
        }
        if (n <= 0) {
            error_free(err);
            c->in_watch = 0;
            vsock_link_candidate_drop(c, n ? "read failed" :
                                      "closed by the other end");
            return LINK_CAND_GONE;
        }
        c->got += n;
    }
    c->in_watch = 0;
    refusal = vsock_link_hello_refusal(l, h, c->in + VSOCK_HDR_SIZE);
    if (refusal) {
        vsock_link_report_refusal(l, refusal);
        vsock_link_candidate_drop(c, "hello refused");
        return LINK_CAND_GONE;
    }
    return LINK_CAND_HELLO;
}

bool vsock_link_candidate_hello(LinkCandidate *c)
{
    c->out_len = vsock_link_hello_encode(c->l, c->out);
    return candidate_flush(c);
}

static void candidate_timeout_cb(void *opaque)
{
    LinkCandidate *c = opaque;
    VsockUserLink *l = c->l;

    l->stats.hello_timeouts++;
    if (!l->hello_warned) {
        /* once until a link comes up: a port scanner must not flood */
        warn_report("vsock-user-link '%s' (%s): a new connection did not "
                    "complete %s within hello-timeout-ms (%" PRIu32 " ms); "
                    "dropped, the link's connection stays", vsock_link_id(l),
                    l->addr_str, c->tls_done || !l->tls_creds ?
                    "its hello" : "the TLS handshake", l->hello_timeout_ms);
        l->hello_warned = true;
    }
    vsock_link_candidate_drop(c, "no hello within hello-timeout-ms");
}

/*
 * The candidate from the same IP host as @sioc, if any.  Over TCP a host
 * has one candidate at a time: its newer connection replaces its older
 * one (a restarted QEMU reconnecting), so connections from one host
 * cannot push out the candidates of others, the real peer's among them.
 * Unix sockets (all local) share the LINK_MAX_CANDIDATES slots.
 */
static LinkCandidate *candidate_same_host(VsockUserLink *l,
                                          QIOChannelSocket *sioc)
{
    const struct sockaddr_storage *a = &sioc->remoteAddr;

    if (a->ss_family != AF_INET && a->ss_family != AF_INET6) {
        return NULL;
    }
    for (GList *e = l->candidates.head; e; e = e->next) {
        LinkCandidate *c = e->data;
        const struct sockaddr_storage *b = &c->sioc->remoteAddr;

        if (b->ss_family != a->ss_family) {
            continue;
        }
        if (a->ss_family == AF_INET ?
            ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
            ((const struct sockaddr_in *)b)->sin_addr.s_addr :
            !memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
                    &((const struct sockaddr_in6 *)b)->sin6_addr,
                    sizeof(struct in6_addr))) {
            return c;
        }
    }
    return NULL;
}

LinkCandidate *vsock_link_candidate_new(VsockUserLink *l,
                                        QIOChannelSocket *sioc)
{
    LinkCandidate *c = candidate_same_host(l, sioc);
    Error *err = NULL;

    if (c) {
        vsock_link_candidate_drop(c, "replaced by a newer connection from "
                                  "its host");
    } else if (g_queue_get_length(&l->candidates) >= LINK_MAX_CANDIDATES) {
        vsock_link_candidate_drop(g_queue_peek_head(&l->candidates),
                                  "pushed out by a newer connection");
    }
    c = g_new0(LinkCandidate, 1);
    c->l = l;
    c->sioc = sioc;
    vsock_link_socket_setup(sioc);
    c->timer = timer_new_ms(QEMU_CLOCK_REALTIME, candidate_timeout_cb, c);
    timer_mod(c->timer, qemu_clock_get_ms(QEMU_CLOCK_REALTIME) +
              l->hello_timeout_ms);
    g_queue_push_tail(&l->candidates, c);
    trace_vsock_user_link_candidate(vsock_link_id(l),
                                    g_queue_get_length(&l->candidates));
    if (!l->tls_creds) {
        c->ioc = QIO_CHANNEL(sioc);
        object_ref(OBJECT(sioc));
        return c;
    }
    c->ioc = vsock_link_tls_new(l, sioc, &err);
    if (!c->ioc) {
        vsock_link_tls_failed(l, err);
        error_free(err);
        vsock_link_candidate_drop(c, "TLS failed to start");
        return NULL;
    }
    return c;
}
