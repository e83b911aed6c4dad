/*
 * virtio-vsock-user: the engine and its tables
 *
 * The engine object: configuration, the connection table keyed by the four
 * addresses, the listener table, creating and dropping connections as a
 * whole, host-initiated connects, the statistics getters, and the
 * re-entrancy depth (vsock_engine_enter/leave): endpoint callbacks may call
 * back into the engine, so freeing connections and the device's wakeup
 * wait for the end of the outermost call.
 *
 * Copyright (c) 2026 The virtio-vsock-user authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/guest-random.h"
#include "qemu/xxhash.h"
#include "vsock-user-engine-int.h"

static guint mix64(uint64_t h, uint64_t v)
{
    h ^= v + 0x9e3779b97f4a7c15ULL + (h << 6) + (h >> 2);
    return (guint)(h ^ (h >> 32));
}

static guint key_hash(gconstpointer p)
{
    const VsockKey *k = p;

    return qemu_xxhash8(k->hash_key, k->local_cid, k->peer_cid,
                        k->local_port, k->peer_port);
}

VsockKey vsock_key(const VsockEngine *e, uint64_t local_cid,
                   uint32_t local_port, uint64_t peer_cid, uint32_t peer_port)
{
    VsockKey k = {
        .local_cid = local_cid, .local_port = local_port,
        .peer_cid = peer_cid, .peer_port = peer_port,
        .hash_key = e->hash_key,
    };
    return k;
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

void vsock_engine_config_init(VsockEngineConfig *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->guest_cid = VSOCK_CID_FIRST_ENCLAVE;
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
        e->cfg.guest_cid = VSOCK_CID_FIRST_ENCLAVE;
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
    /* a SEQPACKET message is at most buf_alloc; VSOCK_MSG_EOR is its flag */
    e->cfg.buf_alloc = MIN(e->cfg.buf_alloc, VSOCK_MAX_BUF_ALLOC);
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
    e->seqpacket = e->cfg.seqpacket;
    qemu_guest_getrandom_nofail(&e->hash_key, sizeof(e->hash_key));
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
            vsock_conn_set_state(c, VSOCK_CONN_CLOSED);
            e->stats.conns_closed++;
        }
        vsock_conn_notify_closed(c, VSOCK_CLOSE_RESET);
        vsock_conn_destroy(c);
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
    vsock_engine_enter(e);
    engine_drop_all(e);
    e->need_wakeup = false;
    vsock_engine_leave(e);
    g_hash_table_destroy(e->conns);
    g_hash_table_destroy(e->listeners);
    g_free(e->rst_ring);
    g_free(e);
}

void vsock_engine_reset(VsockEngine *e)
{
    vsock_engine_enter(e);
    engine_drop_all(e);
    e->need_wakeup = true;
    vsock_engine_leave(e);
}

bool vsock_engine_is_local_cid(const VsockEngine *e, uint64_t cid)
{
    return cid == e->cfg.local_cid;
}

void vsock_engine_set_guest_cid(VsockEngine *e, uint64_t cid)
{
    e->guest_cid = cid;
}

void vsock_engine_set_seqpacket(VsockEngine *e, bool on)
{
    e->seqpacket = on;
}

bool vsock_engine_get_seqpacket(const VsockEngine *e)
{
    return e->seqpacket;
}

const VsockEngineStats *vsock_engine_get_stats(const VsockEngine *e)
{
    return &e->stats;
}

unsigned vsock_engine_conn_count(const VsockEngine *e)
{
    return g_hash_table_size(e->conns);
}

bool vsock_engine_has_conn(const VsockEngine *e, const VsockHdr *h)
{
    VsockKey key = vsock_key(e, h->dst_cid, h->dst_port, h->src_cid,
                             h->src_port);

    return g_hash_table_contains(e->conns, &key);
}

size_t vsock_engine_buffered_bytes(const VsockEngine *e)
{
    return e->buffered;
}

/* The listener for a REQUEST to @addr: its own, else @addr's fallback. */
VsockListener *vsock_engine_find_listener(VsockEngine *e, const VsockAddr *addr)
{
    VsockAddr any = { .cid = addr->cid, .port = VSOCK_PORT_ANY };
    VsockListener *l;

    if (addr->port == VSOCK_PORT_ANY) {
        return NULL; /* not a port one can connect to */
    }
    l = g_hash_table_lookup(e->listeners, addr);
    return l ? l : g_hash_table_lookup(e->listeners, &any);
}

VsockListener *vsock_engine_listen(VsockEngine *e, uint64_t cid,
                                   uint32_t port, unsigned types,
                                   VsockAcceptFn accept, void *opaque)
{
    VsockListener *l;
    VsockAddr addr = { .cid = cid, .port = port };

    types &= VIRTIO_VSOCK_TYPE_STREAM | VIRTIO_VSOCK_TYPE_SEQPACKET;
    if (!accept || !types || !vsock_engine_is_local_cid(e, cid) ||
        g_hash_table_contains(e->listeners, &addr)) {
        return NULL;
    }
    l = g_new0(VsockListener, 1);
    l->addr = addr;
    l->engine = e;
    l->types = types;
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
    VsockKey key = vsock_key(e, cid, port, e->guest_cid, peer_port);

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
        (type != VIRTIO_VSOCK_TYPE_STREAM &&
         (type != VIRTIO_VSOCK_TYPE_SEQPACKET || !e->seqpacket)) ||
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
    key = vsock_key(e, local_cid, local_port, e->guest_cid, peer_port);

    vsock_engine_enter(e);
    c = vsock_conn_new(e, &key, type, VSOCK_CONN_CONNECTING);
    c->host_initiated = true;
    c->ops = ops;
    c->opaque = opaque;
    vsock_conn_owe(c, OWE_REQUEST);
    vsock_timer_start(c, TQ_CONNECT, e->cfg.connect_timeout_ns);
    vsock_engine_leave(e);
    return c;
}

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

void vsock_engine_run_timers(VsockEngine *e)
{
    int64_t now;
    int t;

    vsock_engine_enter(e);
    now = vsock_engine_now(e);
    for (t = 0; t < TQ__MAX; t++) {
        GList *head;

        while ((head = g_queue_peek_head_link(&e->timers[t]))) {
            VsockConn *c = head->data;

            if (c->deadline > now) {
                break;
            }
            vsock_timer_stop(c);
            vsock_conn_kill(c, VSOCK_CLOSE_TIMEOUT, true);
        }
    }
    vsock_engine_leave(e);
}
