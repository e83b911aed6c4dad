/*
 * virtio-vsock-user: the connection state machine and credit
 *
 * What a connection owes the guest is a small set of flags plus a
 * membership in the per-class rx queues (vsock-user-rxq.c).  This file owns
 * the state changes (accept, close, kill, destroy), the owed-reply flags,
 * the credit on both sides (the guest's window towards us, the updates we
 * owe it), delivering buffered guest data to the endpoint, and the
 * endpoint-facing vsock_conn_*() functions.
 *
 * Copyright (c) 2026 The virtio-vsock-user authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "vsock-user-engine-int.h"

/*
 * The engine's re-entrancy depth: an endpoint callback may close or reset
 * any connection, so memory is freed, and the device woken, only when the
 * outermost engine call returns.
 */
void vsock_engine_enter(VsockEngine *e)
{
    e->depth++;
}

void vsock_engine_leave(VsockEngine *e)
{
    if (--e->depth) {
        return;
    }
    while (e->graveyard) {
        VsockConn *c = e->graveyard->data;

        e->graveyard = g_slist_delete_link(e->graveyard, e->graveyard);
        g_free(c);
    }
    if (e->need_wakeup) {
        e->need_wakeup = false;
        if (e->ops.wakeup) {
            e->ops.wakeup(e->cfg.opaque);
        }
    }
}

const char *vsock_conn_state_str(VsockConnState s)
{
    switch (s) {
    case VSOCK_CONN_CONNECTING:
        return "connecting";
    case VSOCK_CONN_ACCEPTING:
        return "accepting";
    case VSOCK_CONN_ESTABLISHED:
        return "established";
    case VSOCK_CONN_CLOSING:
        return "closing";
    case VSOCK_CONN_CLOSED:
        return "closed";
    }
    return "?";
}

const char *vsock_close_reason_str(VsockCloseReason r)
{
    switch (r) {
    case VSOCK_CLOSE_PEER_RST:
        return "peer reset";
    case VSOCK_CLOSE_PEER_SHUTDOWN:
        return "peer shut down";
    case VSOCK_CLOSE_REFUSED:
        return "refused";
    case VSOCK_CLOSE_TIMEOUT:
        return "timeout";
    case VSOCK_CLOSE_PROTOCOL:
        return "protocol error";
    case VSOCK_CLOSE_RESET:
        return "reset";
    }
    return "?";
}

void vsock_conn_set_state(VsockConn *c, VsockConnState s)
{
    VsockEngine *e = c->engine;
    VsockConnState old = c->state;

    if (old == s) {
        return;
    }
    c->state = s;
    if (e->ops.state_change) {
        e->ops.state_change(e->cfg.opaque, c, old, s);
    }
}

/* Bytes the guest can still take from us. */
uint32_t vsock_conn_peer_credit(const VsockConn *c)
{
    uint32_t in_flight = c->tx_cnt - c->peer_fwd_cnt;

    if (in_flight > c->peer_buf_alloc) {
        return 0; /* guest shrank its buffer; wait for it */
    }
    return c->peer_buf_alloc - in_flight;
}

/* The endpoint may be asked for data (credit aside). */
bool vsock_conn_may_read(const VsockConn *c)
{
    return c->state == VSOCK_CONN_ESTABLISHED && c->ops && c->ops->read &&
           c->want_read && !(c->peer_shutdown & VIRTIO_VSOCK_SHUTDOWN_RCV) &&
           !(c->sent_shutdown & VIRTIO_VSOCK_SHUTDOWN_SEND) &&
           !(c->owe & OWE_RESPONSE);
}

bool vsock_conn_data_ready(const VsockConn *c)
{
    return vsock_conn_may_read(c) && vsock_conn_peer_credit(c) > 0;
}

/* SHUTDOWN goes out after the data the endpoint made readable before. */
bool vsock_conn_shutdown_ready(const VsockConn *c)
{
    return (c->owe & OWE_SHUTDOWN) && !vsock_conn_may_read(c) &&
           !(c->owe & OWE_RESPONSE);
}

bool vsock_conn_owes(const VsockConn *c, int q)
{
    switch (q) {
    case RXQ_DATA:
        return vsock_conn_data_ready(c) || vsock_conn_shutdown_ready(c);
    default:
        return c->owe & (1u << q);
    }
}

void vsock_conn_update_data(VsockConn *c)
{
    if (vsock_conn_owes(c, RXQ_DATA)) {
        vsock_rxq_add(c, RXQ_DATA);
    }
}

void vsock_conn_owe(VsockConn *c, unsigned what)
{
    int q;

    c->owe |= what;
    for (q = 0; q < RXQ__MAX; q++) {
        if (what & (1u << q)) {
            if (q == RXQ_DATA) {
                vsock_conn_update_data(c);
            } else {
                vsock_rxq_add(c, q);
            }
        }
    }
}

/* Drop the guest data held for the endpoint; returns its size. */
uint32_t vsock_conn_drop_buffered(VsockConn *c)
{
    uint32_t n = c->ring.len;

    vsock_ring_free(c->engine, &c->ring);
    vsock_msgs_free(&c->msgs);
    c->msg_partial = 0;
    return n;
}

/* Remove a connection from the table; its memory goes on leave. */
void vsock_conn_destroy(VsockConn *c)
{
    VsockEngine *e = c->engine;
    int q;

    if (c->dead) {
        return;
    }
    for (q = 0; q < RXQ__MAX; q++) {
        vsock_rxq_del(c, q);
    }
    vsock_timer_stop(c);
    vsock_conn_drop_buffered(c);
    g_hash_table_remove(e->conns, &c->key);
    c->dead = true;
    c->ops = NULL;
    e->graveyard = g_slist_prepend(e->graveyard, c);
}

/* Detach the endpoint and tell it the connection is gone. */
void vsock_conn_notify_closed(VsockConn *c, VsockCloseReason reason)
{
    const VsockConnOps *ops = c->ops;

    c->ops = NULL;
    if (ops && ops->closed) {
        ops->closed(c, c->opaque, reason);
    }
}

/*
 * End a connection: with @rst the guest gets an RST first (the connection
 * stays in the table, CLOSED, until it is sent), otherwise it goes now.
 */
void vsock_conn_kill(VsockConn *c, VsockCloseReason reason, bool rst)
{
    VsockEngine *e = c->engine;
    int q;

    if (c->dead || c->state == VSOCK_CONN_CLOSED) {
        return;
    }
    vsock_timer_stop(c);
    vsock_conn_drop_buffered(c);
    for (q = 0; q < RXQ__MAX; q++) {
        vsock_rxq_del(c, q);
    }
    if (c->owe & OWE_REQUEST) {
        rst = false; /* the guest never heard of it */
    }
    c->owe = 0;
    c->want_read = false;
    if (c->state == VSOCK_CONN_ACCEPTING && rst && !c->in_accept) {
        e->stats.conns_refused++; /* the guest's REQUEST got RST */
    }
    vsock_conn_set_state(c, VSOCK_CONN_CLOSED);
    e->stats.conns_closed++;
    if (rst) {
        vsock_conn_owe(c, OWE_RST);
    }
    vsock_conn_notify_closed(c, reason);
    if (!rst) {
        vsock_conn_destroy(c);
    }
}

VsockConn *vsock_conn_new(VsockEngine *e, const VsockKey *key,
                          VsockType type, VsockConnState state)
{
    VsockConn *c = g_new0(VsockConn, 1);

    c->key = *key;
    c->engine = e;
    c->type = type;
    c->state = state;
    c->timer = -1;
    c->created = vsock_engine_now(e);
    for (int q = 0; q < RXQ__MAX; q++) {
        c->rxq_link[q].data = c;
    }
    c->timer_link.data = c;
    g_hash_table_insert(e->conns, &c->key, c);
    return c;
}

/*
 * How much the guest may send before it hears of the space we freed.  Its
 * window is the smaller of our buffer and its own (Linux caps the credit
 * it uses at its own buffer size).  Like Linux's own receiver, update once
 * less than one full-size packet of that window is left; a window of two
 * packets or less is updated at half.  Each update costs the guest an
 * interrupt and a wakeup, so fewer, later updates move bulk data faster
 * (measured with make bench: a quarter or half of the window is slower
 * than window minus 64 KiB), while one packet of headroom keeps the sender
 * going as the update travels.  cfg.credit_threshold, if set, caps it.
 */
static uint32_t conn_threshold(const VsockConn *c)
{
    uint32_t window = c->engine->cfg.buf_alloc;
    uint32_t t;

    if (c->peer_buf_alloc && c->peer_buf_alloc < window) {
        window = c->peer_buf_alloc;
    }
    if (window > 2 * VSOCK_MAX_PKT_PAYLOAD) {
        t = window - VSOCK_MAX_PKT_PAYLOAD;
    } else {
        t = window / 2;
    }
    if (c->engine->cfg.credit_threshold) {
        t = MIN(t, c->engine->cfg.credit_threshold);
    }
    return MAX(t, 1);
}

/*
 * Owe the guest an update when it has sent the threshold since the last
 * one and part of that was taken.  For a stream that happens once the
 * endpoint took the threshold; a SEQPACKET sender may be stuck with less
 * taken, the rest of its window a message we hold until its EOM, which
 * it cannot finish without more credit.
 */
void vsock_conn_check_credit(VsockConn *c)
{
    uint32_t t = conn_threshold(c);

    if (c->state == VSOCK_CONN_ESTABLISHED &&
        (c->fwd_cnt - c->last_fwd_cnt >= t ||
         (c->type == VIRTIO_VSOCK_TYPE_SEQPACKET &&
          c->fwd_cnt != c->last_fwd_cnt &&
          c->recv_cnt - c->last_fwd_cnt >= t))) {
        vsock_conn_owe(c, OWE_CREDIT);
    }
}

/* The endpoint took @n guest bytes. */
void vsock_conn_consumed(VsockConn *c, uint32_t n)
{
    c->fwd_cnt += n;
    vsock_conn_check_credit(c);
}

/*
 * Pass guest shutdowns on once the data before them is delivered; both
 * directions shut and drained -> RST.
 */
void vsock_conn_check_peer_shutdown(VsockConn *c)
{
    uint32_t report = c->peer_shutdown;

    if (c->dead || c->state != VSOCK_CONN_ESTABLISHED) {
        return;
    }
    if (c->type == VIRTIO_VSOCK_TYPE_SEQPACKET ? c->msgs.n : c->ring.len) {
        report &= ~VIRTIO_VSOCK_SHUTDOWN_SEND;
    } else if ((report & VIRTIO_VSOCK_SHUTDOWN_SEND) && c->msg_partial) {
        /* a message the guest will never finish: nobody gets to see it */
        vsock_conn_consumed(c, vsock_conn_drop_buffered(c));
    }
    if (report == VSOCK_SHUTDOWN_BOTH) {
        vsock_conn_kill(c, VSOCK_CLOSE_PEER_SHUTDOWN, true);
        return;
    }
    if (report & ~c->reported_shutdown) {
        c->reported_shutdown |= report;
        if (c->ops && c->ops->shutdown) {
            c->ops->shutdown(c, c->opaque, c->reported_shutdown);
        }
    }
}

/* SEQPACKET: one write() per complete message, all of it or nothing. */
static void conn_drain_msgs(VsockConn *c)
{
    VsockRing *r = &c->ring;

    while (c->msgs.n && !c->dead && c->ops && c->ops->write) {
        uint32_t m = vsock_msgs_head(&c->msgs);
        uint32_t len = VSOCK_MSG_LEN(m);
        struct iovec iov[2];
        unsigned cnt = vsock_ring_peek_n(r, iov, len);
        size_t n;

        n = c->ops->write(c, c->opaque, iov, cnt, VIRTIO_VSOCK_SEQ_EOM |
                          (m & VSOCK_MSG_EOR ? VIRTIO_VSOCK_SEQ_EOR : 0));
        if (c->dead || !r->buf) {
            return; /* closed from inside the callback */
        }
        if (n < len) {
            c->write_blocked = true;
            break;
        }
        vsock_msgs_pop(&c->msgs);
        vsock_ring_consume(c->engine, r, len);
        vsock_conn_consumed(c, len);
    }
}

static void conn_drain_once(VsockConn *c)
{
    VsockRing *r = &c->ring;

    if (c->type == VIRTIO_VSOCK_TYPE_SEQPACKET) {
        conn_drain_msgs(c);
        return;
    }
    while (r->len && !c->dead && c->ops && c->ops->write) {
        struct iovec iov[2];
        unsigned cnt = vsock_ring_peek(r, iov);
        size_t n;

        n = c->ops->write(c, c->opaque, iov, cnt, 0);
        if (c->dead || !r->buf) {
            return; /* closed from inside the callback */
        }
        n = MIN(n, r->len);
        if (n == 0) {
            break;
        }
        vsock_ring_consume(c->engine, r, n);
        vsock_conn_consumed(c, n);
    }
}

/* Offer buffered guest data to the endpoint until it stops taking it. */
void vsock_conn_drain(VsockConn *c)
{
    VsockRing *r = &c->ring;

    if (c->draining) {
        c->drain_again = true; /* notify_writable() from write() */
        return;
    }
    c->draining = true;
    c->drain_again = true;
    while (c->drain_again) {
        c->drain_again = false;
        conn_drain_once(c);
        if (c->dead || !r->buf) {
            break;
        }
    }
    c->draining = false;
    if (!c->dead && !r->len && r->buf) {
        vsock_ring_free(c->engine, r);
    }
    vsock_conn_check_peer_shutdown(c);
}

/*
 * An accepted connection: RESPONSE, then data.  @quiet: accepted from
 * inside the accept callback, so the observer sees it born established.
 */
void vsock_conn_accepted(VsockConn *c, bool quiet)
{
    VsockEngine *e = c->engine;

    vsock_timer_stop(c);
    if (quiet) {
        c->state = VSOCK_CONN_ESTABLISHED;
    } else {
        vsock_conn_set_state(c, VSOCK_CONN_ESTABLISHED);
    }
    e->stats.conns_opened++;
    vsock_conn_owe(c, OWE_RESPONSE);
    if (c->local_shutdown == VSOCK_SHUTDOWN_BOTH) {
        vsock_timer_start(c, TQ_SHUTDOWN, e->cfg.shutdown_timeout_ns);
    }
}

void vsock_conn_set_ops(VsockConn *conn, const VsockConnOps *ops,
                        void *opaque)
{
    if (conn->dead || conn->state == VSOCK_CONN_CLOSED ||
        conn->state == VSOCK_CONN_CLOSING) {
        return;
    }
    conn->ops = ops;
    conn->opaque = opaque;
}

void vsock_conn_accept(VsockConn *conn)
{
    VsockEngine *e = conn->engine;

    if (conn->dead || conn->state != VSOCK_CONN_ACCEPTING) {
        return;
    }
    if (conn->in_accept) {
        conn->accept_now = true; /* handle_request() finishes the job */
        return;
    }
    vsock_engine_enter(e);
    vsock_conn_accepted(conn, false);
    vsock_engine_leave(e);
}

void vsock_conn_notify_readable(VsockConn *conn)
{
    VsockEngine *e = conn->engine;

    if (conn->dead || !conn->ops) {
        return;
    }
    vsock_engine_enter(e);
    conn->want_read = true;
    vsock_conn_update_data(conn);
    vsock_engine_leave(e);
}

void vsock_conn_notify_writable(VsockConn *conn)
{
    VsockEngine *e = conn->engine;

    if (conn->dead || !conn->ops) {
        return;
    }
    vsock_engine_enter(e);
    conn->write_blocked = false;
    vsock_conn_drain(conn);
    vsock_engine_leave(e);
}

void vsock_conn_shutdown(VsockConn *conn, uint32_t flags)
{
    VsockEngine *e = conn->engine;
    uint32_t old = conn->local_shutdown;

    flags &= VSOCK_SHUTDOWN_BOTH;
    if (conn->dead || !conn->ops || conn->state == VSOCK_CONN_CLOSED ||
        (old | flags) == old) {
        return;
    }
    vsock_engine_enter(e);
    conn->local_shutdown |= flags;
    if (conn->state == VSOCK_CONN_CONNECTING ||
        conn->state == VSOCK_CONN_ACCEPTING) {
        /* nothing to say yet; the flags go out after RESPONSE */
        conn->owe |= OWE_SHUTDOWN;
    } else {
        vsock_conn_owe(conn, OWE_SHUTDOWN);
    }
    if (conn->local_shutdown == VSOCK_SHUTDOWN_BOTH &&
        conn->state == VSOCK_CONN_ESTABLISHED) {
        vsock_timer_start(conn, TQ_SHUTDOWN, e->cfg.shutdown_timeout_ns);
    }
    vsock_engine_leave(e);
}

void vsock_conn_close(VsockConn *conn)
{
    VsockEngine *e = conn->engine;

    if (conn->dead || !conn->ops || conn->state == VSOCK_CONN_CLOSED) {
        return;
    }
    vsock_engine_enter(e);
    conn->ops = NULL;
    if (conn->state == VSOCK_CONN_CONNECTING ||
        conn->state == VSOCK_CONN_ACCEPTING) {
        vsock_conn_kill(conn, VSOCK_CLOSE_RESET, true);
    } else {
        /* discarded counts as consumed */
        conn->fwd_cnt += vsock_conn_drop_buffered(conn);
        conn->want_read = false;
        conn->local_shutdown = VSOCK_SHUTDOWN_BOTH;
        vsock_conn_set_state(conn, VSOCK_CONN_CLOSING);
        vsock_conn_owe(conn, OWE_SHUTDOWN);
        vsock_timer_start(conn, TQ_SHUTDOWN, e->cfg.shutdown_timeout_ns);
    }
    vsock_engine_leave(e);
}

void vsock_conn_reset(VsockConn *conn)
{
    VsockEngine *e = conn->engine;

    if (conn->dead || !conn->ops || conn->state == VSOCK_CONN_CLOSED) {
        return;
    }
    vsock_engine_enter(e);
    conn->ops = NULL;
    vsock_conn_kill(conn, VSOCK_CLOSE_RESET, true);
    vsock_engine_leave(e);
}

VsockEngine *vsock_conn_get_engine(const VsockConn *conn)
{
    return conn->engine;
}

VsockConnState vsock_conn_get_state(const VsockConn *conn)
{
    return conn->state;
}

VsockType vsock_conn_get_type(const VsockConn *conn)
{
    return conn->type;
}

uint64_t vsock_conn_get_local_cid(const VsockConn *conn)
{
    return conn->key.local_cid;
}

uint32_t vsock_conn_get_local_port(const VsockConn *conn)
{
    return conn->key.local_port;
}

uint64_t vsock_conn_get_peer_cid(const VsockConn *conn)
{
    return conn->key.peer_cid;
}

uint32_t vsock_conn_get_peer_port(const VsockConn *conn)
{
    return conn->key.peer_port;
}

uint32_t vsock_conn_get_peer_shutdown(const VsockConn *conn)
{
    return conn->peer_shutdown;
}

uint32_t vsock_conn_get_peer_credit(const VsockConn *conn)
{
    return vsock_conn_peer_credit(conn);
}

uint32_t vsock_conn_get_peer_buf_alloc(const VsockConn *conn)
{
    return conn->peer_buf_alloc;
}

uint32_t vsock_conn_get_buffered(const VsockConn *conn)
{
    return conn->ring.len;
}

const VsockConnStats *vsock_conn_get_stats(const VsockConn *conn)
{
    return &conn->stats;
}
