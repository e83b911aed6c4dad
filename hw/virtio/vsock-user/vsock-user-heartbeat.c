/*
 * virtio-vsock-user: the Nitro Enclaves heartbeat endpoint
 *
 * Built only on the engine's endpoint API.  Each accepted connection
 * takes the first byte the guest sends (later bytes are discarded), makes
 * it readable, hands it out in read() and closes the connection right
 * there: the engine delivers the byte, then SHUTDOWN, and answers the
 * guest's SHUTDOWN or RST.
 *
 * Copyright (c) 2026 The virtio-vsock-user authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "vsock-user-heartbeat.h"

struct VsockHeartbeat {
    VsockEngine *engine;
    VsockListener *listener;
    GHashTable *conns;          /* VsockConn -> HeartbeatConn */
    uint64_t count;
    int last_byte;
};

typedef struct HeartbeatConn {
    VsockHeartbeat *hb;
    VsockConn *conn;
    bool have_byte;
    uint8_t byte;
} HeartbeatConn;

static void hb_conn_forget(HeartbeatConn *hc)
{
    g_hash_table_remove(hc->hb->conns, hc->conn);
}

static size_t hb_write(VsockConn *conn, void *opaque,
                       const struct iovec *iov, unsigned iov_cnt,
                       uint32_t flags)
{
    HeartbeatConn *hc = opaque;
    size_t len = iov_size(iov, iov_cnt);

    if (!hc->have_byte && len > 0) {
        iov_to_buf(iov, iov_cnt, 0, &hc->byte, 1);
        hc->have_byte = true;
        hc->hb->last_byte = hc->byte;
        vsock_conn_notify_readable(conn);
    }
    return len; /* everything after the first byte is discarded */
}

static size_t hb_read(VsockConn *conn, void *opaque,
                      const struct iovec *iov, unsigned iov_cnt,
                      uint32_t *flags)
{
    HeartbeatConn *hc = opaque;

    if (!hc->have_byte || iov_from_buf(iov, iov_cnt, 0,
                                       &hc->byte, 1) != 1) {
        return 0;
    }
    hc->hb->count++;
    /* the byte just read still goes out, then SHUTDOWN */
    vsock_conn_close(conn);
    hb_conn_forget(hc);
    return 1;
}

static void hb_shutdown(VsockConn *conn, void *opaque, uint32_t flags)
{
    HeartbeatConn *hc = opaque;

    if ((flags & VIRTIO_VSOCK_SHUTDOWN_SEND) && !hc->have_byte) {
        /* the guest gave up before sending its byte */
        vsock_conn_close(conn);
        hb_conn_forget(hc);
    }
}

static void hb_closed(VsockConn *conn, void *opaque,
                      VsockCloseReason reason)
{
    hb_conn_forget(opaque);
}

static void hb_describe(VsockConn *conn, void *opaque, VsockEndpointInfo *info)
{
    info->kind = "heartbeat";
}

static const VsockConnOps hb_conn_ops = {
    .write = hb_write,
    .read = hb_read,
    .shutdown = hb_shutdown,
    .closed = hb_closed,
    .describe = hb_describe,
};

static VsockAcceptResult hb_accept(VsockListener *l, VsockConn *conn,
                                   void *opaque)
{
    VsockHeartbeat *hb = opaque;
    HeartbeatConn *hc = g_new0(HeartbeatConn, 1);

    hc->hb = hb;
    hc->conn = conn;
    g_hash_table_insert(hb->conns, conn, hc);
    vsock_conn_set_ops(conn, &hb_conn_ops, hc);
    return VSOCK_ACCEPT_NOW;
}

VsockHeartbeat *vsock_heartbeat_new(VsockEngine *e, uint64_t cid,
                                    uint32_t port)
{
    VsockHeartbeat *hb = g_new0(VsockHeartbeat, 1);

    hb->engine = e;
    hb->last_byte = -1;
    hb->conns = g_hash_table_new_full(NULL, NULL, NULL, g_free);
    hb->listener = vsock_engine_listen(e, cid, port, VIRTIO_VSOCK_TYPE_STREAM,
                                       hb_accept, hb);
    if (!hb->listener) {
        g_hash_table_destroy(hb->conns);
        g_free(hb);
        return NULL;
    }
    return hb;
}

void vsock_heartbeat_free(VsockHeartbeat *hb)
{
    GHashTableIter it;
    gpointer key;

    if (!hb) {
        return;
    }
    vsock_listener_free(hb->listener);
    g_hash_table_iter_init(&it, hb->conns);
    while (g_hash_table_iter_next(&it, &key, NULL)) {
        vsock_conn_close(key);
    }
    g_hash_table_destroy(hb->conns);
    g_free(hb);
}

uint64_t vsock_heartbeat_get_count(const VsockHeartbeat *hb)
{
    return hb->count;
}

int vsock_heartbeat_get_last_byte(const VsockHeartbeat *hb)
{
    return hb->last_byte;
}
