/*
 * virtio-vsock-user: the device's own backend, where connections end in QEMU
 *
 * The protocol engine and the endpoints built from the device's
 * properties: the host fallback listener (guest connections to host
 * sockets) and the hybrid uds-path listener.
 * vsock-user-forward objects and vsock-user chardevs add endpoints of
 * their own to its engine and host endpoints.  To the device it is one
 * backend among others (vsock-user-backend.h).
 *
 * Copyright (c) 2026 The virtio-vsock-user authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_VIRTIO_VSOCK_USER_LOCAL_H
#define HW_VIRTIO_VSOCK_USER_LOCAL_H

#include "vsock-user-backend.h"
#include "vsock-user-engine.h"
#include "vsock-user-host.h"

typedef struct VsockLocal VsockLocal;

typedef struct VsockLocalConfig {
    uint64_t guest_cid;
    uint64_t parent_cid;        /* the engine's local CID */
    uint32_t max_conns;
    uint32_t buf_size;          /* buf_alloc announced to the guest */
    uint32_t max_pending;       /* host-initiated, not accepted yet */
    const char *uds_path;       /* NULL: no hybrid listener */
    int64_t uds_timeout_ms;
    uint32_t uds_max_handshakes;
    bool uds_seqpacket;         /* also <uds_path>.seqpacket */
} VsockLocalConfig;

/* The engine and its endpoints; NULL with @errp set if one cannot start. */
VsockLocal *vsock_local_new(const VsockLocalConfig *cfg, Error **errp);
/* Close every connection, then the host sockets and listeners. */
void vsock_local_free(VsockLocal *l);

VsockBackend *vsock_local_backend(VsockLocal *l);
VsockEngine *vsock_local_engine(VsockLocal *l);
VsockHost *vsock_local_host(VsockLocal *l);

#endif
