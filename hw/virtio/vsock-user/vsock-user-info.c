/*
 * virtio-vsock-user: snapshots of the engine's connections
 *
 * Copyright (c) 2026 The virtio-vsock-user authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "vsock-user-engine-int.h"
#include "vsock-user-info.h"

/* What the guest believes it may still send: it knows last_fwd_cnt. */
static uint32_t credit_from_peer(const VsockConn *c)
{
    uint32_t in_flight = c->recv_cnt - c->last_fwd_cnt;
    uint32_t buf_alloc = c->engine->cfg.buf_alloc;

    return in_flight >= buf_alloc ? 0 : buf_alloc - in_flight;
}

static void conn_info(const VsockConn *c, int64_t now, VsockConnInfo *info)
{
    memset(info, 0, sizeof(*info));
    info->type = c->type;
    info->state = c->state;
    info->local_cid = c->key.local_cid;
    info->local_port = c->key.local_port;
    info->peer_cid = c->key.peer_cid;
    info->peer_port = c->key.peer_port;
    info->host_initiated = c->host_initiated;
    info->peer_buf_alloc = c->peer_buf_alloc;
    info->peer_fwd_cnt = c->peer_fwd_cnt;
    info->fwd_cnt = c->fwd_cnt;
    info->credit_to_peer = vsock_conn_peer_credit(c);
    info->credit_from_peer = credit_from_peer(c);
    info->buffered = c->ring.len;
    info->peer_shutdown = c->peer_shutdown;
    info->local_shutdown = c->sent_shutdown;
    info->age_ns = now > c->created ? now - c->created : 0;
    info->stats = c->stats;
}

void vsock_engine_foreach_conn(VsockEngine *e, bool has_port, uint32_t port,
                               VsockConnInfoFn *fn, void *opaque)
{
    int64_t now = vsock_engine_now(e);
    GHashTableIter it;
    gpointer value;

    g_hash_table_iter_init(&it, e->conns);
    while (g_hash_table_iter_next(&it, NULL, &value)) {
        VsockConn *c = value;
        VsockConnInfo info;

        if (c->dead || (has_port && c->key.local_port != port &&
                        c->key.peer_port != port)) {
            continue;
        }
        conn_info(c, now, &info);
        if (c->ops && c->ops->describe) {
            c->ops->describe(c, c->opaque, &info.endpoint);
        }
        fn(&info, opaque);
    }
}
