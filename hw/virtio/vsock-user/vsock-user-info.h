/*
 * virtio-vsock-user: snapshots of the engine's connections
 *
 * For introspection (QMP query-vsock-user, HMP info vsock-user): what a
 * user needs to tell why a connection hangs, in the protocol's own terms.
 *
 * Copyright (c) 2026 The virtio-vsock-user authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_VIRTIO_VSOCK_USER_INFO_H
#define HW_VIRTIO_VSOCK_USER_INFO_H

#include "vsock-user-endpoint.h"

typedef struct VsockConnInfo {
    VsockType type;
    VsockConnState state;
    uint64_t local_cid;
    uint32_t local_port;
    uint64_t peer_cid;
    uint32_t peer_port;
    bool host_initiated;        /* vsock_engine_connect(), not a REQUEST */
    uint32_t peer_buf_alloc;    /* the guest's buf_alloc, last heard */
    uint32_t peer_fwd_cnt;      /* the guest's fwd_cnt, last heard */
    uint32_t fwd_cnt;           /* guest bytes the endpoint took */
    uint32_t credit_to_peer;    /* bytes we may still send the guest */
    uint32_t credit_from_peer;  /* bytes the guest may still send us */
    uint32_t buffered;          /* guest bytes held for the endpoint */
    uint32_t peer_shutdown;     /* SHUTDOWN flags the guest sent */
    uint32_t local_shutdown;    /* SHUTDOWN flags sent to the guest */
    int64_t age_ns;             /* engine clock since it was created */
    VsockConnStats stats;
    VsockEndpointInfo endpoint; /* from ops->describe(); NULLs if none */
} VsockConnInfo;

typedef void VsockConnInfoFn(const VsockConnInfo *info, void *opaque);

/*
 * Call @fn for every live connection (with @has_port, only those whose
 * local or peer port is @port), in no particular order.  @fn must not
 * call into the engine.
 */
void vsock_engine_foreach_conn(VsockEngine *e, bool has_port, uint32_t port,
                               VsockConnInfoFn *fn, void *opaque);

#endif
