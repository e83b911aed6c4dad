/*
 * virtio-vsock-user: the virtio socket protocol engine
 *
 * Connections live in a hash table keyed by their four addresses.  What a
 * connection owes the guest is a small set of flags plus a membership in
 * one of the per-class rx queues (RST, RESPONSE, REQUEST, data/SHUTDOWN,
 * CREDIT_UPDATE); packets are only built when the device offers an rx
 * buffer.  Queue membership is pruned lazily: an entry whose reason went
 * away is dropped when it reaches the head.  RSTs for packets without a
 * connection go into a bounded ring.
 *
 * Copyright (c) 2026 The virtio-vsock-user authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifdef VSOCK_USER_STANDALONE
#include <string.h>
#else
#include "qemu/osdep.h"
#endif
#include "vsock-user-engine-int.h"

/* ---------------------------------------------------------------------- */
/* Strings                                                                */
/* ---------------------------------------------------------------------- */

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

/* ---------------------------------------------------------------------- */
/* Hashing                                                                */
/* ---------------------------------------------------------------------- */

static guint mix64(uint64_t h, uint64_t v)
{
    h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
    return (guint)(h ^ (h >> 32));
}

static guint key_hash(gconstpointer p)
{
    const VsockKey *k = p;
    uint64_t h = 0;

    h = mix64(h, k->local_cid);
    h = mix64(h, k->peer_cid);
    h = mix64(h, ((uint64_t)k->local_port << 32) | k->peer_port);
    return (guint)h;
}

static gboolean key_equal(gconstpointer a, gconstpointer b)
{
    const VsockKey *x = a, *y = b;

    return x->local_cid == y->local_cid && x->peer_cid == y->peer_cid &&
           x->local_port == y->local_port && x->peer_port == y->peer_port;
}

static guint addr_hash(gconstpointer p)
{
    const VsockAddr *a = p;

    return mix64(mix64(0, a->cid), a->port);
}

static gboolean addr_equal(gconstpointer a, gconstpointer b)
{
    const VsockAddr *x = a, *y = b;

    return x->cid == y->cid && x->port == y->port;
}

/* ---------------------------------------------------------------------- */
/* Engine plumbing                                                        */
/* ---------------------------------------------------------------------- */

static int64_t engine_now(VsockEngine *e)
{
    if (e->ops.clock) {
        return e->ops.clock(e->cfg.opaque);
    }
    return g_get_monotonic_time() * 1000;
}

static void engine_enter(VsockEngine *e)
{
    e->depth++;
}

static void ring_free(VsockEngine *e, VsockRing *r)
{
    e->buffered -= r->len;
    g_free(r->buf);
    memset(r, 0, sizeof(*r));
}

static void engine_leave(VsockEngine *e)
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

static void set_state(VsockConn *c, VsockConnState s)
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

static void rxq_add(VsockConn *c, int q)
{
    VsockEngine *e = c->engine;

    if (c->in_rxq[q] || c->dead) {
        return;
    }
    c->in_rxq[q] = true;
    g_queue_push_tail_link(&e->rxq[q], &c->rxq_link[q]);
    if (!e->in_fill) {
        e->need_wakeup = true;
    }
}

static void rxq_del(VsockConn *c, int q)
{
    if (c->in_rxq[q]) {
        g_queue_unlink(&c->engine->rxq[q], &c->rxq_link[q]);
        c->in_rxq[q] = false;
    }
}

static void timer_stop(VsockConn *c)
{
    if (c->timer >= 0) {
        g_queue_unlink(&c->engine->timers[c->timer], &c->timer_link);
        c->timer = -1;
    }
}

/* Each timer queue has one fixed timeout, so appending keeps it sorted. */
static void timer_start(VsockConn *c, int tq, int64_t timeout)
{
    VsockEngine *e = c->engine;

    timer_stop(c);
    c->timer = tq;
    c->deadline = engine_now(e) + timeout;
    g_queue_push_tail_link(&e->timers[tq], &c->timer_link);
    e->need_wakeup = true;
}

/* Bytes the guest can still take from us. */
static uint32_t peer_credit(const VsockConn *c)
{
    uint32_t in_flight = c->tx_cnt - c->peer_fwd_cnt;

    if (in_flight > c->peer_buf_alloc) {
        return 0; /* guest shrank its buffer; wait for it */
    }
    return c->peer_buf_alloc - in_flight;
}

/* The endpoint may be asked for data (credit aside). */
static bool conn_may_read(const VsockConn *c)
{
    return c->state == VSOCK_CONN_ESTABLISHED && c->ops && c->ops->read &&
           c->want_read && !(c->peer_shutdown & VSOCK_SHUTDOWN_RCV) &&
           !(c->sent_shutdown & VSOCK_SHUTDOWN_SEND) &&
           !(c->owe & OWE_RESPONSE);
}

static bool conn_data_ready(const VsockConn *c)
{
    return conn_may_read(c) && peer_credit(c) > 0;
}

/* SHUTDOWN goes out after the data the endpoint made readable before. */
static bool conn_shutdown_ready(const VsockConn *c)
{
    return (c->owe & OWE_SHUTDOWN) && !conn_may_read(c) &&
           !(c->owe & OWE_RESPONSE);
}

static bool conn_owes(const VsockConn *c, int q)
{
    switch (q) {
    case RXQ_DATA:
        return conn_data_ready(c) || conn_shutdown_ready(c);
    default:
        return c->owe & (1u << q);
    }
}

static void conn_update_data(VsockConn *c)
{
    if (conn_owes(c, RXQ_DATA)) {
        rxq_add(c, RXQ_DATA);
    }
}

static void conn_owe(VsockConn *c, unsigned what)
{
    int q;

    c->owe |= what;
    for (q = 0; q < RXQ__MAX; q++) {
        if (what & (1u << q)) {
            if (q == RXQ_DATA) {
                conn_update_data(c);
            } else {
                rxq_add(c, q);
            }
        }
    }
}

/* Remove a connection from the table; its memory goes on leave. */
static void conn_destroy(VsockConn *c)
{
    VsockEngine *e = c->engine;
    int q;

    if (c->dead) {
        return;
    }
    for (q = 0; q < RXQ__MAX; q++) {
        rxq_del(c, q);
    }
    timer_stop(c);
    ring_free(e, &c->ring);
    g_hash_table_remove(e->conns, &c->key);
    c->dead = true;
    c->ops = NULL;
    e->graveyard = g_slist_prepend(e->graveyard, c);
}

/* Detach the endpoint and tell it the connection is gone. */
static void conn_notify_closed(VsockConn *c, VsockCloseReason reason)
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
static void conn_kill(VsockConn *c, VsockCloseReason reason, bool rst)
{
    VsockEngine *e = c->engine;
    int q;

    if (c->dead || c->state == VSOCK_CONN_CLOSED) {
        return;
    }
    timer_stop(c);
    ring_free(e, &c->ring);
    for (q = 0; q < RXQ__MAX; q++) {
        rxq_del(c, q);
    }
    if (c->owe & OWE_REQUEST) {
        rst = false; /* the guest never heard of it */
    }
    c->owe = 0;
    c->want_read = false;
    if (c->state == VSOCK_CONN_ACCEPTING && rst && !c->in_accept) {
        e->stats.conns_refused++; /* the guest's REQUEST got RST */
    }
    set_state(c, VSOCK_CONN_CLOSED);
    e->stats.conns_closed++;
    if (rst) {
        conn_owe(c, OWE_RST);
    }
    conn_notify_closed(c, reason);
    if (!rst) {
        conn_destroy(c);
    }
}

static VsockConn *conn_new(VsockEngine *e, const VsockKey *key,
                           VsockType type, VsockConnState state)
{
    VsockConn *c = g_new0(VsockConn, 1);

    c->key = *key;
    c->engine = e;
    c->type = type;
    c->state = state;
    c->timer = -1;
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

/* The endpoint took @n guest bytes. */
static void conn_consumed(VsockConn *c, uint32_t n)
{
    c->fwd_cnt += n;
    if (c->state == VSOCK_CONN_ESTABLISHED &&
        c->fwd_cnt - c->last_fwd_cnt >= conn_threshold(c)) {
        conn_owe(c, OWE_CREDIT);
    }
}

/*
 * Pass guest shutdowns on once the data before them is delivered; both
 * directions shut and drained -> RST.
 */
static void conn_check_peer_shutdown(VsockConn *c)
{
    uint32_t report = c->peer_shutdown;

    if (c->dead || c->state != VSOCK_CONN_ESTABLISHED) {
        return;
    }
    if (c->ring.len) {
        report &= ~VSOCK_SHUTDOWN_SEND;
    }
    if (report == VSOCK_SHUTDOWN_BOTH) {
        conn_kill(c, VSOCK_CLOSE_PEER_SHUTDOWN, true);
        return;
    }
    if (report & ~c->reported_shutdown) {
        c->reported_shutdown |= report;
        if (c->ops && c->ops->shutdown) {
            c->ops->shutdown(c, c->opaque, c->reported_shutdown);
        }
    }
}

static void conn_drain_once(VsockConn *c);

/* Offer buffered guest data to the endpoint until it stops taking it. */
static void conn_drain(VsockConn *c)
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
        ring_free(c->engine, r);
    }
    conn_check_peer_shutdown(c);
}

static void conn_drain_once(VsockConn *c)
{
    VsockRing *r = &c->ring;

    while (r->len && !c->dead && c->ops && c->ops->write) {
        struct iovec iov[2];
        unsigned cnt = 1;
        uint32_t first = MIN(r->len, r->cap - r->head);
        size_t n;

        iov[0].iov_base = r->buf + r->head;
        iov[0].iov_len = first;
        if (first < r->len) {
            iov[1].iov_base = r->buf;
            iov[1].iov_len = r->len - first;
            cnt = 2;
        }
        n = c->ops->write(c, c->opaque, iov, cnt, 0);
        if (c->dead || !r->buf) {
            return; /* closed from inside the callback */
        }
        n = MIN(n, r->len);
        if (n == 0) {
            break;
        }
        r->head = (r->head + n) % r->cap;
        r->len -= n;
        c->engine->buffered -= n;
        conn_consumed(c, n);
    }
}

static void ring_append(VsockEngine *e, VsockRing *r, uint32_t cap,
                        const struct iovec *iov, unsigned cnt,
                        size_t offset, uint32_t len)
{
    uint32_t tail, first;

    if (!r->buf) {
        r->buf = g_malloc(cap);
        r->cap = cap;
        r->head = 0;
        r->len = 0;
    }
    /* the caller checked len + r->len <= cap */
    tail = (r->head + r->len) % r->cap;
    first = MIN(len, r->cap - tail);
    vsock_iov_to_buf(iov, cnt, offset, r->buf + tail, first);
    vsock_iov_to_buf(iov, cnt, offset + first, r->buf, len - first);
    r->len += len;
    e->buffered += len;
}

/* ---------------------------------------------------------------------- */
/* Configuration                                                          */
/* ---------------------------------------------------------------------- */

void vsock_engine_config_init(VsockEngineConfig *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->guest_cid = DEFAULT_GUEST_CID;
    cfg->local_cid = VSOCK_CID_PARENT;
    cfg->max_conns = DEFAULT_MAX_CONNS;
    cfg->buf_alloc = DEFAULT_BUF_ALLOC;
    cfg->max_pending_rst = DEFAULT_MAX_PENDING_RST;
    cfg->connect_timeout_ns = DEFAULT_CONNECT_TIMEOUT_NS;
    cfg->accept_timeout_ns = DEFAULT_ACCEPT_TIMEOUT_NS;
    cfg->shutdown_timeout_ns = DEFAULT_SHUTDOWN_TIMEOUT_NS;
}

VsockEngine *vsock_engine_new(const VsockEngineConfig *cfg)
{
    VsockEngine *e = g_new0(VsockEngine, 1);
    int i;

    e->cfg = *cfg;
    if (!e->cfg.guest_cid) {
        e->cfg.guest_cid = DEFAULT_GUEST_CID;
    }
    if (!e->cfg.local_cid) {
        e->cfg.local_cid = VSOCK_CID_PARENT;
    }
    if (!e->cfg.max_conns) {
        e->cfg.max_conns = DEFAULT_MAX_CONNS;
    }
    if (!e->cfg.buf_alloc) {
        e->cfg.buf_alloc = DEFAULT_BUF_ALLOC;
    }
    if (!e->cfg.max_pending_rst) {
        e->cfg.max_pending_rst = DEFAULT_MAX_PENDING_RST;
    }
    if (e->cfg.connect_timeout_ns <= 0) {
        e->cfg.connect_timeout_ns = DEFAULT_CONNECT_TIMEOUT_NS;
    }
    if (e->cfg.accept_timeout_ns <= 0) {
        e->cfg.accept_timeout_ns = DEFAULT_ACCEPT_TIMEOUT_NS;
    }
    if (e->cfg.shutdown_timeout_ns <= 0) {
        e->cfg.shutdown_timeout_ns = DEFAULT_SHUTDOWN_TIMEOUT_NS;
    }
    if (cfg->ops) {
        e->ops = *cfg->ops;
    }
    e->guest_cid = e->cfg.guest_cid;
    e->local_cids = g_array_new(false, false, sizeof(uint64_t));
    g_array_append_val(e->local_cids, e->cfg.local_cid);
    e->conns = g_hash_table_new(key_hash, key_equal);
    e->listeners = g_hash_table_new_full(addr_hash, addr_equal, NULL,
                                         g_free);
    for (i = 0; i < RXQ__MAX; i++) {
        g_queue_init(&e->rxq[i]);
    }
    for (i = 0; i < TQ__MAX; i++) {
        g_queue_init(&e->timers[i]);
    }
    e->rst_ring = g_new0(VsockHdr, e->cfg.max_pending_rst);
    e->next_port = EPHEMERAL_PORT_FIRST;
    return e;
}

static void engine_drop_all(VsockEngine *e)
{
    GHashTableIter it;
    gpointer value;
    GSList *list = NULL, *l;

    g_hash_table_iter_init(&it, e->conns);
    while (g_hash_table_iter_next(&it, NULL, &value)) {
        list = g_slist_prepend(list, value);
    }
    for (l = list; l; l = l->next) {
        VsockConn *c = l->data;

        if (!c->dead && c->state != VSOCK_CONN_CLOSED) {
            set_state(c, VSOCK_CONN_CLOSED);
            e->stats.conns_closed++;
        }
        conn_notify_closed(c, VSOCK_CLOSE_RESET);
        conn_destroy(c);
    }
    g_slist_free(list);
    e->rst_head = 0;
    e->rst_len = 0;
}

void vsock_engine_free(VsockEngine *e)
{
    if (!e) {
        return;
    }
    engine_enter(e);
    engine_drop_all(e);
    e->need_wakeup = false;
    engine_leave(e);
    g_hash_table_destroy(e->conns);
    g_hash_table_destroy(e->listeners);
    g_array_free(e->local_cids, true);
    g_free(e->rst_ring);
    g_free(e);
}

void vsock_engine_reset(VsockEngine *e)
{
    engine_enter(e);
    engine_drop_all(e);
    e->need_wakeup = true;
    engine_leave(e);
}

void vsock_engine_add_local_cid(VsockEngine *e, uint64_t cid)
{
    if (!vsock_engine_is_local_cid(e, cid)) {
        g_array_append_val(e->local_cids, cid);
    }
}

bool vsock_engine_is_local_cid(const VsockEngine *e, uint64_t cid)
{
    for (guint i = 0; i < e->local_cids->len; i++) {
        if (g_array_index(e->local_cids, uint64_t, i) == cid) {
            return true;
        }
    }
    return false;
}

void vsock_engine_set_guest_cid(VsockEngine *e, uint64_t cid)
{
    e->guest_cid = cid;
}

uint64_t vsock_engine_get_guest_cid(const VsockEngine *e)
{
    return e->guest_cid;
}

const VsockEngineStats *vsock_engine_get_stats(const VsockEngine *e)
{
    return &e->stats;
}

unsigned vsock_engine_conn_count(const VsockEngine *e)
{
    return g_hash_table_size(e->conns);
}

size_t vsock_engine_buffered_bytes(const VsockEngine *e)
{
    return e->buffered;
}

/* ---------------------------------------------------------------------- */
/* tx: packets from the guest                                             */
/* ---------------------------------------------------------------------- */

/* Queue an RST answering @h, which has no connection. */
static bool queue_rst(VsockEngine *e, const VsockHdr *h)
{
    VsockHdr *r;

    if (e->rst_len >= e->cfg.max_pending_rst) {
        return false;
    }
    r = &e->rst_ring[(e->rst_head + e->rst_len) % e->cfg.max_pending_rst];
    memset(r, 0, sizeof(*r));
    r->src_cid = h->dst_cid;
    r->dst_cid = h->src_cid;
    r->src_port = h->dst_port;
    r->dst_port = h->src_port;
    r->type = h->type;
    r->op = VSOCK_OP_RST;
    e->rst_len++;
    if (!e->in_fill) {
        e->need_wakeup = true;
    }
    return true;
}

static VsockTxResult refuse(VsockEngine *e, const VsockHdr *h,
                            VsockTxResult why)
{
    if (!queue_rst(e, h)) {
        return VSOCK_TX_RST_DROPPED;
    }
    return why;
}

/* The listener for a REQUEST to @addr: its own, else @addr's fallback. */
static VsockListener *find_listener(VsockEngine *e, const VsockAddr *addr)
{
    VsockAddr any = { .cid = addr->cid, .port = VSOCK_PORT_ANY };
    VsockListener *l;

    if (addr->port == VSOCK_PORT_ANY) {
        return NULL; /* not a port one can connect to */
    }
    l = g_hash_table_lookup(e->listeners, addr);
    return l ? l : g_hash_table_lookup(e->listeners, &any);
}

/*
 * An accepted connection: RESPONSE, then data.  @quiet: accepted from
 * inside the accept callback, so the observer sees it born established.
 */
static void conn_accepted(VsockConn *c, bool quiet)
{
    VsockEngine *e = c->engine;

    timer_stop(c);
    if (quiet) {
        c->state = VSOCK_CONN_ESTABLISHED;
    } else {
        set_state(c, VSOCK_CONN_ESTABLISHED);
    }
    e->stats.conns_opened++;
    conn_owe(c, OWE_RESPONSE);
    if (c->local_shutdown == VSOCK_SHUTDOWN_BOTH) {
        timer_start(c, TQ_SHUTDOWN, e->cfg.shutdown_timeout_ns);
    }
}

static VsockTxResult handle_request(VsockEngine *e, const VsockHdr *h,
                                    const VsockKey *key)
{
    VsockAddr addr = { .cid = h->dst_cid, .port = h->dst_port };
    VsockListener *l = find_listener(e, &addr);
    VsockAcceptResult res;
    VsockConn *c;

    if (!l || l->type != h->type) {
        e->stats.conns_refused++;
        return refuse(e, h, VSOCK_TX_NO_LISTENER);
    }
    if (g_hash_table_size(e->conns) >= e->cfg.max_conns) {
        e->stats.conns_refused++;
        return refuse(e, h, VSOCK_TX_CONN_LIMIT);
    }
    c = conn_new(e, key, h->type, VSOCK_CONN_ACCEPTING);
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
            conn_destroy(c);
        }
        e->stats.conns_refused++;
        return refuse(e, h, VSOCK_TX_NO_LISTENER);
    }
    if (res == VSOCK_ACCEPT_DEFER && !c->accept_now) {
        timer_start(c, TQ_ACCEPT, e->cfg.accept_timeout_ns);
        return VSOCK_TX_OK;
    }
    conn_accepted(c, true);
    return VSOCK_TX_OK;
}

static VsockTxResult handle_rw(VsockConn *c, const VsockHdr *h,
                               const struct iovec *iov, unsigned cnt)
{
    VsockEngine *e = c->engine;
    struct iovec local[LOCAL_IOV_MAX];
    struct iovec *piov = local;
    unsigned pcnt;
    size_t taken = 0;

    if (c->state == VSOCK_CONN_CLOSING) {
        /* we closed: discard, but keep the guest's credit moving */
        c->recv_cnt += h->len;
        c->fwd_cnt += h->len;
        return VSOCK_TX_OK;
    }
    if (c->peer_shutdown & VSOCK_SHUTDOWN_SEND) {
        conn_kill(c, VSOCK_CLOSE_PROTOCOL, true);
        return VSOCK_TX_BAD_OP;
    }
    if ((uint64_t)(c->recv_cnt - c->fwd_cnt) + h->len > e->cfg.buf_alloc) {
        conn_kill(c, VSOCK_CLOSE_PROTOCOL, true);
        return VSOCK_TX_CREDIT_OVERRUN;
    }
    if (h->len == 0 && (c->type == VSOCK_TYPE_STREAM || !h->flags)) {
        return VSOCK_TX_OK;
    }
    c->recv_cnt += h->len;
    c->stats.tx_bytes += h->len;
    e->stats.tx_bytes += h->len;

    if (!c->ring.len && c->ops && c->ops->write) {
        if (cnt + 1 > LOCAL_IOV_MAX) {
            piov = g_new(struct iovec, cnt + 1);
        }
        pcnt = vsock_iov_slice(iov, cnt, VSOCK_HDR_SIZE, h->len, piov,
                               cnt + 1, NULL);
        taken = c->ops->write(c, c->opaque, piov, pcnt, h->flags);
        if (piov != local) {
            g_free(piov);
        }
        taken = MIN(taken, h->len);
        if (c->dead || c->state != VSOCK_CONN_ESTABLISHED) {
            /* closed from inside the callback: the rest is discarded */
            c->fwd_cnt += h->len;
            return VSOCK_TX_OK;
        }
    }
    if (taken < h->len) {
        ring_append(e, &c->ring, e->cfg.buf_alloc, iov, cnt,
                    VSOCK_HDR_SIZE + taken, h->len - taken);
    }
    if (taken) {
        conn_consumed(c, taken);
    }
    return VSOCK_TX_OK;
}

static void handle_shutdown(VsockConn *c, const VsockHdr *h)
{
    uint32_t flags = h->flags & VSOCK_SHUTDOWN_BOTH;

    c->peer_shutdown |= flags;
    if (c->state == VSOCK_CONN_CLOSING) {
        /* we are done too: answer at once */
        conn_kill(c, VSOCK_CLOSE_PEER_SHUTDOWN, true);
        return;
    }
    conn_check_peer_shutdown(c);
}

static VsockTxResult handle_conn_packet(VsockConn *c, const VsockHdr *h,
                                        const struct iovec *iov,
                                        unsigned cnt)
{
    VsockEngine *e = c->engine;

    c->stats.tx_pkts++;
    if (h->type != c->type) {
        conn_kill(c, VSOCK_CLOSE_PROTOCOL, true);
        return VSOCK_TX_BAD_TYPE;
    }
    if (c->state == VSOCK_CONN_ACCEPTING) {
        /* nothing but RST is valid before our RESPONSE, not even REQUEST */
        conn_kill(c, VSOCK_CLOSE_PROTOCOL, true);
        return VSOCK_TX_BAD_OP;
    }
    if (h->op != VSOCK_OP_REQUEST) {
        c->peer_buf_alloc = h->buf_alloc;
        c->peer_fwd_cnt = h->fwd_cnt;
    }
    switch (h->op) {
    case VSOCK_OP_RESPONSE:
        if (c->state != VSOCK_CONN_CONNECTING || (c->owe & OWE_REQUEST)) {
            conn_kill(c, VSOCK_CLOSE_PROTOCOL, true);
            return VSOCK_TX_BAD_OP;
        }
        timer_stop(c);
        set_state(c, VSOCK_CONN_ESTABLISHED);
        e->stats.conns_opened++;
        if (c->ops && c->ops->connected) {
            c->ops->connected(c, c->opaque);
        }
        if (!c->dead) {
            conn_update_data(c);
        }
        return VSOCK_TX_OK;
    case VSOCK_OP_RW:
        if (c->state == VSOCK_CONN_CONNECTING) {
            conn_kill(c, VSOCK_CLOSE_PROTOCOL, true);
            return VSOCK_TX_BAD_OP;
        }
        return handle_rw(c, h, iov, cnt);
    case VSOCK_OP_SHUTDOWN:
        if (c->state == VSOCK_CONN_CONNECTING) {
            conn_kill(c, VSOCK_CLOSE_PROTOCOL, true);
            return VSOCK_TX_BAD_OP;
        }
        handle_shutdown(c, h);
        return VSOCK_TX_OK;
    case VSOCK_OP_CREDIT_UPDATE:
        conn_update_data(c);
        return VSOCK_TX_OK;
    case VSOCK_OP_CREDIT_REQUEST:
        if (c->state == VSOCK_CONN_ESTABLISHED) {
            conn_owe(c, OWE_CREDIT);
        }
        conn_update_data(c);
        return VSOCK_TX_OK;
    default:
        /* REQUEST on a live connection, or an unknown op */
        conn_kill(c, VSOCK_CLOSE_PROTOCOL, true);
        return VSOCK_TX_BAD_OP;
    }
}

static VsockTxResult do_tx(VsockEngine *e, const struct iovec *iov,
                           unsigned cnt, size_t total_len)
{
    VsockHdr h;
    VsockKey key;
    VsockConn *c;

    total_len = MIN(total_len, vsock_iov_size(iov, cnt));
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
    key.local_cid = h.dst_cid;
    key.local_port = h.dst_port;
    key.peer_cid = h.src_cid;
    key.peer_port = h.src_port;
    c = g_hash_table_lookup(e->conns, &key);
    if (h.op == VSOCK_OP_RST) {
        /* never answered */
        e->stats.rst_received++;
        if (c && c->state != VSOCK_CONN_CLOSED) {
            c->stats.tx_pkts++;
            conn_kill(c, c->state == VSOCK_CONN_CONNECTING ?
                      VSOCK_CLOSE_REFUSED : VSOCK_CLOSE_PEER_RST, false);
        } else if (c) {
            conn_destroy(c); /* our RST is moot now */
        }
        return VSOCK_TX_OK;
    }
    if (!vsock_engine_is_local_cid(e, h.dst_cid)) {
        return refuse(e, &h, VSOCK_TX_BAD_DST_CID);
    }
    if (h.type != VSOCK_TYPE_STREAM && h.type != VSOCK_TYPE_SEQPACKET) {
        if (c) {
            conn_kill(c, VSOCK_CLOSE_PROTOCOL, true);
            return VSOCK_TX_BAD_TYPE;
        }
        return refuse(e, &h, VSOCK_TX_BAD_TYPE);
    }
    if (!c) {
        if (h.op == VSOCK_OP_REQUEST) {
            return handle_request(e, &h, &key);
        }
        if (h.op < VSOCK_OP_REQUEST || h.op > VSOCK_OP_CREDIT_REQUEST) {
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

    engine_enter(e);
    r = do_tx(e, iov, iov_cnt, total_len);
    e->stats.results[r]++;
    engine_leave(e);
    return r;
}

bool vsock_engine_tx_ready(VsockEngine *e)
{
    return e->rst_len < e->cfg.max_pending_rst;
}

/* ---------------------------------------------------------------------- */
/* rx: packets to the guest                                               */
/* ---------------------------------------------------------------------- */

/* Drop stale heads; true if @q's head owes something. */
static VsockConn *rxq_peek(VsockEngine *e, int q)
{
    GList *head;

    while ((head = g_queue_peek_head_link(&e->rxq[q]))) {
        VsockConn *c = head->data;

        if (conn_owes(c, q)) {
            return c;
        }
        rxq_del(c, q);
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
    if (h->op == VSOCK_OP_RST) {
        e->stats.rst_sent++;
    }
    if (c) {
        c->stats.rx_pkts++;
        c->stats.rx_bytes += h->len;
        /* every packet advertises our credit */
        c->last_fwd_cnt = c->fwd_cnt;
        if (h->op == VSOCK_OP_CREDIT_UPDATE) {
            e->stats.credit_updates_sent++;
        }
        c->owe &= ~OWE_CREDIT;
        rxq_del(c, RXQ_CREDIT);
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
    size_t max = MIN(MIN(space, (size_t)peer_credit(c)),
                     (size_t)VSOCK_MAX_PKT_PAYLOAD);
    size_t got = 0;
    uint32_t flags = 0;
    VsockHdr h;

    if (cnt + 1 > LOCAL_IOV_MAX) {
        piov = g_new(struct iovec, cnt + 1);
    }
    while (got < max && conn_may_read(c)) {
        unsigned pcnt = vsock_iov_slice(iov, cnt, VSOCK_HDR_SIZE + got,
                                        max - got, piov, cnt + 1, NULL);
        uint32_t f = 0;
        size_t n = c->ops->read(c, c->opaque, piov, pcnt, &f);

        n = MIN(n, max - got);
        if (n == 0) {
            c->want_read = false;
            break;
        }
        got += n;
        if (c->type == VSOCK_TYPE_SEQPACKET && (f & VSOCK_SEQ_EOM)) {
            flags = f & (VSOCK_SEQ_EOM | VSOCK_SEQ_EOR);
            break;
        }
    }
    if (piov != local) {
        g_free(piov);
    }
    if (c->dead || c->state == VSOCK_CONN_CLOSED || got == 0) {
        return false; /* reset from inside read(): data dropped */
    }
    conn_hdr(c, &h, VSOCK_OP_RW);
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
        conn_hdr(c, &h, VSOCK_OP_RST);
        emit(e, c, &h, iov, cnt, len_out);
        conn_destroy(c);
        return true;
    case RXQ_RESPONSE:
    case RXQ_REQUEST:
        c->owe &= ~(1u << q);
        rxq_del(c, q);
        conn_hdr(c, &h, q == RXQ_RESPONSE ? VSOCK_OP_RESPONSE :
                 VSOCK_OP_REQUEST);
        emit(e, c, &h, iov, cnt, len_out);
        conn_update_data(c);
        return true;
    case RXQ_DATA:
        if (conn_data_ready(c)) {
            if (space == 0) {
                return false; /* stays queued for a bigger buffer */
            }
            rxq_del(c, q);
            if (build_rw(c, iov, cnt, space, len_out)) {
                e->credit_turn = true;
                conn_update_data(c); /* round robin: back to the tail */
                return true;
            }
            if (!c->dead && (c->owe & OWE_RST)) {
                /* the endpoint reset it from inside read() */
                return build_for_conn(c, RXQ_RST, iov, cnt, space, len_out);
            }
        }
        rxq_del(c, q);
        if (c->dead || !conn_shutdown_ready(c)) {
            return false;
        }
        c->owe &= ~OWE_SHUTDOWN;
        c->sent_shutdown = c->local_shutdown;
        conn_hdr(c, &h, VSOCK_OP_SHUTDOWN);
        h.flags = c->local_shutdown;
        emit(e, c, &h, iov, cnt, len_out);
        return true;
    default:
        conn_hdr(c, &h, VSOCK_OP_CREDIT_UPDATE);
        emit(e, c, &h, iov, cnt, len_out);
        return true;
    }
}

static bool do_fill(VsockEngine *e, const struct iovec *iov, unsigned cnt,
                    size_t *len_out)
{
    size_t size = vsock_iov_size(iov, cnt);
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

    engine_enter(e);
    e->in_fill = true;
    *len_out = 0;
    ok = do_fill(e, iov, iov_cnt, len_out);
    e->in_fill = false;
    engine_leave(e);
    return ok;
}

/* ---------------------------------------------------------------------- */
/* Timers                                                                 */
/* ---------------------------------------------------------------------- */

int64_t vsock_engine_next_deadline(VsockEngine *e)
{
    int64_t d = INT64_MAX;
    int t;

    for (t = 0; t < TQ__MAX; t++) {
        GList *head = g_queue_peek_head_link(&e->timers[t]);

        if (head) {
            d = MIN(d, ((VsockConn *)head->data)->deadline);
        }
    }
    return d;
}

void vsock_engine_run_now(VsockEngine *e)
{
    if (!e->depth && e->ops.run_now) {
        e->ops.run_now(e->cfg.opaque);
    }
}

void vsock_engine_run_timers(VsockEngine *e)
{
    int64_t now;
    int t;

    engine_enter(e);
    now = engine_now(e);
    for (t = 0; t < TQ__MAX; t++) {
        GList *head;

        while ((head = g_queue_peek_head_link(&e->timers[t]))) {
            VsockConn *c = head->data;

            if (c->deadline > now) {
                break;
            }
            timer_stop(c);
            conn_kill(c, VSOCK_CLOSE_TIMEOUT, true);
        }
    }
    engine_leave(e);
}

/* ---------------------------------------------------------------------- */
/* Endpoint API                                                           */
/* ---------------------------------------------------------------------- */

VsockListener *vsock_engine_listen(VsockEngine *e, uint64_t cid,
                                   uint32_t port, VsockType type,
                                   VsockAcceptFn accept, void *opaque)
{
    VsockListener *l;
    VsockAddr addr = { .cid = cid, .port = port };

    if (!accept || !vsock_engine_is_local_cid(e, cid) ||
        g_hash_table_contains(e->listeners, &addr)) {
        return NULL;
    }
    l = g_new0(VsockListener, 1);
    l->addr = addr;
    l->engine = e;
    l->type = type;
    l->accept = accept;
    l->opaque = opaque;
    g_hash_table_insert(e->listeners, &l->addr, l);
    return l;
}

void vsock_listener_free(VsockListener *l)
{
    if (l) {
        g_hash_table_remove(l->engine->listeners, &l->addr);
    }
}

static bool local_port_free(VsockEngine *e, uint64_t cid, uint32_t port,
                            uint32_t peer_port)
{
    VsockAddr addr = { .cid = cid, .port = port };
    VsockKey key = {
        .local_cid = cid, .local_port = port,
        .peer_cid = e->guest_cid, .peer_port = peer_port,
    };

    return !g_hash_table_contains(e->listeners, &addr) &&
           !g_hash_table_contains(e->conns, &key);
}

VsockConn *vsock_engine_connect(VsockEngine *e, uint64_t local_cid,
                                uint32_t local_port, uint32_t peer_port,
                                VsockType type, const VsockConnOps *ops,
                                void *opaque)
{
    VsockConn *c;
    VsockKey key;

    if (!ops || !vsock_engine_is_local_cid(e, local_cid) ||
        peer_port == VSOCK_PORT_ANY ||
        (type != VSOCK_TYPE_STREAM && type != VSOCK_TYPE_SEQPACKET) ||
        g_hash_table_size(e->conns) >= e->cfg.max_conns) {
        return NULL;
    }
    if (local_port == VSOCK_PORT_ANY) {
        unsigned tries = g_hash_table_size(e->conns) +
                         g_hash_table_size(e->listeners) + 1;

        do {
            local_port = e->next_port;
            e->next_port = e->next_port >= VSOCK_PORT_ANY - 1 ?
                           EPHEMERAL_PORT_FIRST : e->next_port + 1;
        } while (!local_port_free(e, local_cid, local_port, peer_port) &&
                 --tries);
        if (!tries) {
            return NULL;
        }
    } else if (!local_port_free(e, local_cid, local_port, peer_port)) {
        return NULL;
    }
    key.local_cid = local_cid;
    key.local_port = local_port;
    key.peer_cid = e->guest_cid;
    key.peer_port = peer_port;

    engine_enter(e);
    c = conn_new(e, &key, type, VSOCK_CONN_CONNECTING);
    c->ops = ops;
    c->opaque = opaque;
    conn_owe(c, OWE_REQUEST);
    timer_start(c, TQ_CONNECT, e->cfg.connect_timeout_ns);
    engine_leave(e);
    return c;
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
    engine_enter(e);
    conn_accepted(conn, false);
    engine_leave(e);
}

void vsock_conn_notify_readable(VsockConn *conn)
{
    VsockEngine *e = conn->engine;

    if (conn->dead || !conn->ops) {
        return;
    }
    engine_enter(e);
    conn->want_read = true;
    conn_update_data(conn);
    engine_leave(e);
}

void vsock_conn_notify_writable(VsockConn *conn)
{
    VsockEngine *e = conn->engine;

    if (conn->dead || !conn->ops) {
        return;
    }
    engine_enter(e);
    conn_drain(conn);
    engine_leave(e);
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
    engine_enter(e);
    conn->local_shutdown |= flags;
    if (conn->state == VSOCK_CONN_CONNECTING ||
        conn->state == VSOCK_CONN_ACCEPTING) {
        /* nothing to say yet; the flags go out after RESPONSE */
        conn->owe |= OWE_SHUTDOWN;
    } else {
        conn_owe(conn, OWE_SHUTDOWN);
    }
    if (conn->local_shutdown == VSOCK_SHUTDOWN_BOTH &&
        conn->state == VSOCK_CONN_ESTABLISHED) {
        timer_start(conn, TQ_SHUTDOWN, e->cfg.shutdown_timeout_ns);
    }
    engine_leave(e);
}

void vsock_conn_close(VsockConn *conn)
{
    VsockEngine *e = conn->engine;

    if (conn->dead || !conn->ops || conn->state == VSOCK_CONN_CLOSED) {
        return;
    }
    engine_enter(e);
    conn->ops = NULL;
    if (conn->state == VSOCK_CONN_CONNECTING ||
        conn->state == VSOCK_CONN_ACCEPTING) {
        conn_kill(conn, VSOCK_CLOSE_RESET, true);
    } else {
        uint32_t n = conn->ring.len;

        ring_free(e, &conn->ring);
        conn->fwd_cnt += n; /* discarded counts as consumed */
        conn->want_read = false;
        conn->local_shutdown = VSOCK_SHUTDOWN_BOTH;
        set_state(conn, VSOCK_CONN_CLOSING);
        conn_owe(conn, OWE_SHUTDOWN);
        timer_start(conn, TQ_SHUTDOWN, e->cfg.shutdown_timeout_ns);
    }
    engine_leave(e);
}

void vsock_conn_reset(VsockConn *conn)
{
    VsockEngine *e = conn->engine;

    if (conn->dead || !conn->ops || conn->state == VSOCK_CONN_CLOSED) {
        return;
    }
    engine_enter(e);
    conn->ops = NULL;
    conn_kill(conn, VSOCK_CLOSE_RESET, true);
    engine_leave(e);
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
    return peer_credit(conn);
}

uint32_t vsock_conn_get_buffered(const VsockConn *conn)
{
    return conn->ring.len;
}

const VsockConnStats *vsock_conn_get_stats(const VsockConn *conn)
{
    return &conn->stats;
}
