/*
 * virtio-vsock-user: the bridge between a connection and a host socket
 *
 * A bridge joins one engine connection (VsockConn) to one host stream
 * socket with full stream semantics: credit backpressure both ways,
 * half-close both ways, resets both ways.
 *
 * Copyright (c) 2026 The virtio-vsock-user authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_VIRTIO_VSOCK_USER_BRIDGE_H
#define HW_VIRTIO_VSOCK_USER_BRIDGE_H

#include "vsock-user-endpoint.h"
#include "io/channel-socket.h"

typedef struct VsockBridge VsockBridge;

/* Called once when the bridge is gone (socket closed). */
typedef void (*VsockBridgeGoneFn)(void *opaque, VsockBridge *b);
/* Host-initiated: called once when the guest accepts (RESPONSE). */
typedef void (*VsockBridgeEstablishedFn)(void *opaque, VsockBridge *b);

/*
 * Scratch buffers the bridges of one device share: the main loop runs one
 * read at a time.  Zero-initialised; freed when the bridges are gone.
 */
typedef struct VsockBridgePool {
    uint8_t *spare;             /* SEQPACKET: behind the guest's buffer */
    uint8_t *ahead_idle;        /* a stream read-ahead buffer kept for reuse */
} VsockBridgePool;

void vsock_bridge_pool_free(VsockBridgePool *pool);

/*
 * Create a bridge around the connected socket @sioc (a reference is
 * taken; the socket is made non-blocking).  Nothing happens until the
 * bridge is attached to a connection: either pass vsock_bridge_ops and
 * the bridge to vsock_engine_connect() and then call
 * vsock_bridge_set_conn(), or call vsock_bridge_accept() from a listener's
 * accept callback.  @greeting (may be NULL) is written to the socket when
 * the connection is established, before any guest data.
 */
VsockBridge *vsock_bridge_new(VsockBridgePool *pool, QIOChannelSocket *sioc,
                              const char *name, VsockBridgeGoneFn gone,
                              void *opaque);
extern const VsockConnOps vsock_bridge_ops;
/* Host-initiated: the connection vsock_engine_connect() returned. */
void vsock_bridge_set_conn(VsockBridge *b, VsockConn *conn);
/* Host-initiated: call @fn (with the bridge's opaque) on RESPONSE. */
void vsock_bridge_set_established(VsockBridge *b,
                                  VsockBridgeEstablishedFn fn);
/* Hybrid: after the guest accepts, write "OK <local port>\n" first. */
/*
 * What the bridge serves, for introspection: @kind is a static string
 * ("hybrid", "forward"), @id and @address are copied (either may be NULL).
 */
void vsock_bridge_set_endpoint(VsockBridge *b, const char *kind,
                               const char *id, const char *address);
void vsock_bridge_set_greet_port(VsockBridge *b, bool greet);
/* Guest-initiated: attach to @conn (from an accept callback). */
void vsock_bridge_accept(VsockBridge *b, VsockConn *conn);
/* Drop a bridge that was never attached to a connection. */
void vsock_bridge_discard(VsockBridge *b);

#endif
