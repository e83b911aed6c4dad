/*
 * virtio-vsock-user: the device's own backend, where connections end in QEMU
 *
 * The device's realize hands its properties over once; from then on the
 * engine and its endpoints run on their own: the device passes guest
 * packets and rx buffers through the backend interface, QEMU's event
 * loop runs the host sockets' handlers, and the engine wakes the device
 * when it has something for the guest.
 *
 * Copyright (c) 2026 The virtio-vsock-user authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/log.h"
#include "qemu/timer.h"
#include "vsock-user-local.h"
#include "vsock-user-unix.h"
#include "trace.h"

struct VsockLocal {
    VsockBackend backend;
    VsockEngine *engine;
    VsockHost *host;
};

static VsockLocal *local_of(VsockBackend *b)
{
    return container_of(b, VsockLocal, backend);
}

/* ---- the engine's callbacks ------------------------------------------- */

static int64_t local_clock(void *opaque)
{
    return qemu_clock_get_ns(QEMU_CLOCK_VIRTUAL);
}

static void local_wakeup(void *opaque)
{
    VsockLocal *l = opaque;

    vsock_backend_wake(&l->backend);
}

static void local_trace_packet(void *opaque, bool to_guest, const VsockHdr *h)
{
    if (to_guest) {
        trace_virtio_vsock_user_rx_pkt(h->src_cid, h->src_port, h->dst_cid,
                                       h->dst_port, vsock_op_str(h->op),
                                       h->type, h->len, h->flags,
                                       h->buf_alloc, h->fwd_cnt);
    } else {
        trace_virtio_vsock_user_tx_pkt(h->src_cid, h->src_port, h->dst_cid,
                                       h->dst_port, vsock_op_str(h->op),
                                       h->type, h->len, h->flags,
                                       h->buf_alloc, h->fwd_cnt);
    }
}

static void local_trace_state(void *opaque, const VsockConn *c,
                              VsockConnState old_state,
                              VsockConnState new_state)
{
    trace_virtio_vsock_user_conn_state(vsock_conn_get_local_cid(c),
                                       vsock_conn_get_local_port(c),
                                       vsock_conn_get_peer_port(c),
                                       vsock_conn_state_str(old_state),
                                       vsock_conn_state_str(new_state));
}

static const VsockEngineOps local_engine_ops = {
    .clock = local_clock,
    .wakeup = local_wakeup,
    .packet = local_trace_packet,
    .state_change = local_trace_state,
};

/* ---- the backend ------------------------------------------------------ */

static VsockRoute local_route(VsockBackend *b, const VsockHdr *h)
{
    return vsock_engine_has_conn(local_of(b)->engine, h) ?
           VSOCK_ROUTE_CONN : VSOCK_ROUTE_DEFAULT;
}

/* Guest mistakes are logged; every outcome is traced. */
static void local_tx(VsockBackend *b, const VsockHdr *h,
                     const struct iovec *iov, unsigned iov_cnt)
{
    VsockTxResult r = vsock_engine_handle_tx(local_of(b)->engine, iov,
                                             iov_cnt,
                                             iov_size(iov, iov_cnt));

    switch (r) {
    case VSOCK_TX_OK:
        return;
    case VSOCK_TX_NO_CONN:
    case VSOCK_TX_NO_LISTENER:
    case VSOCK_TX_BAD_DST_CID:
    case VSOCK_TX_CONN_LIMIT:
    case VSOCK_TX_RST_DROPPED:
        break;
    default:
        qemu_log_mask(LOG_GUEST_ERROR, "virtio-vsock-user: tx packet: %s\n",
                      vsock_tx_result_str(r));
        break;
    }
    trace_virtio_vsock_user_tx_result(vsock_tx_result_str(r));
}

static bool local_tx_ready(VsockBackend *b)
{
    return vsock_engine_tx_ready(local_of(b)->engine);
}

static bool local_rx_pending(VsockBackend *b)
{
    return vsock_engine_rx_pending(local_of(b)->engine);
}

static bool local_fill_rx(VsockBackend *b, const struct iovec *iov,
                          unsigned iov_cnt, size_t *len)
{
    return vsock_engine_fill_rx(local_of(b)->engine, iov, iov_cnt, len);
}

static void local_reset(VsockBackend *b)
{
    VsockEngine *e = local_of(b)->engine;

    trace_virtio_vsock_user_reset(vsock_engine_conn_count(e));
    vsock_engine_reset(e);
}

static void local_set_seqpacket(VsockBackend *b, bool on)
{
    vsock_engine_set_seqpacket(local_of(b)->engine, on);
}

static int64_t local_deadline(VsockBackend *b)
{
    return vsock_engine_next_deadline(local_of(b)->engine);
}

static void local_run_timers(VsockBackend *b)
{
    vsock_engine_run_timers(local_of(b)->engine);
}

static void local_foreach_conn(VsockBackend *b, bool has_port, uint32_t port,
                               VsockConnInfoFn *fn, void *opaque)
{
    vsock_engine_foreach_conn(local_of(b)->engine, has_port, port, fn,
                              opaque);
}

static const VsockBackendOps local_backend_ops = {
    .route = local_route,
    .tx = local_tx,
    .tx_ready = local_tx_ready,
    .rx_pending = local_rx_pending,
    .fill_rx = local_fill_rx,
    .reset = local_reset,
    .set_seqpacket = local_set_seqpacket,
    .deadline = local_deadline,
    .run_timers = local_run_timers,
    .foreach_conn = local_foreach_conn,
};

/* ---- putting it together ---------------------------------------------- */

VsockLocal *vsock_local_new(const VsockLocalConfig *cfg, Error **errp)
{
    VsockLocal *l = g_new0(VsockLocal, 1);
    VsockEngineConfig ec;

    l->backend.ops = &local_backend_ops;
    vsock_engine_config_init(&ec);
    ec.guest_cid = cfg->guest_cid;
    ec.local_cid = cfg->parent_cid;
    ec.max_conns = cfg->max_conns;
    ec.buf_alloc = cfg->buf_size;
    ec.ops = &local_engine_ops;
    ec.opaque = l;
    l->engine = vsock_engine_new(&ec);
    l->host = vsock_host_new(l->engine, cfg->parent_cid, cfg->max_conns,
                             cfg->max_pending);
    /* <uds-path>.seqpacket where the host has Unix SOCK_SEQPACKET sockets */
    if (cfg->uds_path &&
        !vsock_host_set_uds(l->host, cfg->uds_path, cfg->uds_timeout_ms,
                            cfg->uds_max_handshakes,
                            cfg->uds_seqpacket && vsock_unix_has_seqpacket(),
                            errp)) {
        vsock_local_free(l);
        return NULL;
    }
    return l;
}

/*
 * In the order the engine needs: the engine closes every connection (the
 * bridges see closed()), then the host sockets and listeners go.
 */
void vsock_local_free(VsockLocal *l)
{
    if (!l) {
        return;
    }
    vsock_backends_del(&l->backend);
    vsock_engine_free(l->engine);
    vsock_host_free(l->host);
    g_free(l);
}

VsockBackend *vsock_local_backend(VsockLocal *l)
{
    return &l->backend;
}

VsockEngine *vsock_local_engine(VsockLocal *l)
{
    return l->engine;
}

VsockHost *vsock_local_host(VsockLocal *l)
{
    return l->host;
}
