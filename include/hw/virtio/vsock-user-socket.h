/*
 * virtio-vsock-user: host socket endpoints
 *
 * A bridge joins one engine connection (VsockConn) to one host stream
 * socket with full stream semantics: credit backpressure both ways,
 * half-close both ways, resets both ways.
 *
 * VsockHost holds every host endpoint of one device:
 * - guest -> host routes: a guest REQUEST to (parent CID, port) that no
 *   other listener takes reaches the host's fallback listener, which
 *   defers the accept and opens a non-blocking connection to a host
 *   SocketAddress (a per-port forward, or the hybrid "<uds-path>_<port>"
 *   convention); the guest gets RESPONSE only once that connection
 *   succeeded, RST otherwise (or after the engine's accept timeout);
 * - the hybrid Unix listener (uds-path): a client writes "CONNECT <port>\n"
 *   and is joined to a connection to that guest port, "OK <port>\n";
 * - host listeners of vsock-user-forward objects.
 *
 * Copyright (c) 2026 The virtio-vsock-user authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_VIRTIO_VSOCK_USER_SOCKET_H
#define HW_VIRTIO_VSOCK_USER_SOCKET_H

#include "hw/virtio/vsock-user-connect-line.h"
#include "hw/virtio/vsock-user-endpoint.h"
#include "hw/virtio/vsock-user-poll.h"
#include "io/channel-socket.h"
#include "qapi/qapi-types-sockets.h"
#include "qom/object.h"

/* Default time a hybrid client has to send its CONNECT line. */
#define VSOCK_CONNECT_TIMEOUT_MS 5000

/*
 * Default bounds on what host peers make QEMU hold before a guest
 * connection exists: hybrid clients still sending their CONNECT line, and
 * host-initiated connections waiting for the guest to accept.  A
 * well-behaved client spends one round trip in either state, so an eighth
 * of the default max-connections (1024) leaves room for bursts while a
 * flood of idle clients holds no more than that many descriptors.
 */
#define VSOCK_MAX_HANDSHAKES 128
#define VSOCK_MAX_PENDING 128

/* ---------------------------------------------------------------------- */
/* Bridge: one VsockConn <-> one host socket                              */
/* ---------------------------------------------------------------------- */

typedef struct VsockBridge VsockBridge;

/* Called once when the bridge is gone (socket closed). */
typedef void (*VsockBridgeGoneFn)(void *opaque, VsockBridge *b);
/* Host-initiated: called once when the guest accepts (RESPONSE). */
typedef void (*VsockBridgeEstablishedFn)(void *opaque, VsockBridge *b);

/*
 * Create a bridge around the connected socket @sioc (a reference is
 * taken; the socket is made non-blocking).  Nothing happens until the
 * bridge is attached to a connection: either pass vsock_bridge_ops and
 * the bridge to vsock_engine_connect() and then call
 * vsock_bridge_set_conn(), or call vsock_bridge_accept() from a listener's
 * accept callback.  @greeting (may be NULL) is written to the socket when
 * the connection is established, before any guest data.
 */
VsockBridge *vsock_bridge_new(VsockPoll *poll, QIOChannelSocket *sioc,
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

/* ---------------------------------------------------------------------- */
/* Host endpoints of one device                                           */
/* ---------------------------------------------------------------------- */

typedef struct VsockHost VsockHost;

typedef struct VsockHostStats {
    uint64_t bridges;        /* open host sockets joined to connections */
    uint64_t opened;         /* bridges ever opened */
    uint64_t refused;        /* host or guest connections refused */
    uint64_t connect_failed; /* guest -> host connects that failed */
    uint64_t bad_connect;    /* hybrid clients with a bad CONNECT line */
    uint64_t handshakes;     /* hybrid clients before their CONNECT line */
    uint64_t handshake_refused; /* ... closed at once: too many */
    uint64_t pending;        /* host-initiated, waiting for the guest */
    uint64_t pending_refused;   /* ... closed at once: too many */
} VsockHostStats;

/*
 * Host endpoints for @e; registers the fallback listener on (@local_cid,
 * any port).  At most @max_conns connections (vsock_engine_conn_count()
 * plus cancelled host connects still running), and at most @max_pending
 * of them host-initiated and not yet accepted by the guest.  A device
 * reset needs nothing here: vsock_engine_reset() drops the connections,
 * pending host connects included.
 */
VsockHost *vsock_host_new(VsockEngine *e, uint64_t local_cid,
                          uint32_t max_conns, uint32_t max_pending,
                          Error **errp);
/*
 * Close every host socket and listener.  Call it after vsock_engine_free():
 * that closes the connections (and cancels the pending host connects)
 * and frees the fallback listener.
 */
void vsock_host_free(VsockHost *h);

/*
 * Serve the hybrid convention on the Unix socket @path (a stale socket
 * file is replaced; it is removed again by vsock_host_free()).  A client
 * has @timeout_ms to send its CONNECT line; while @max_handshakes clients
 * are doing so, new clients are closed as soon as they are accepted.
 */
bool vsock_host_set_uds(VsockHost *h, const char *path, int64_t timeout_ms,
                        uint32_t max_handshakes, Error **errp);

/*
 * guest port -> host address, for @owner (whose name for introspection is
 * @id).  False if already routed.
 */
bool vsock_host_add_route(VsockHost *h, uint32_t guest_port,
                          SocketAddress *addr, void *owner, const char *id);
void vsock_host_del_route(VsockHost *h, uint32_t guest_port, void *owner);

/* A host socket accepted by a forward listener: join it to @guest_port. */
void vsock_host_connect_guest(VsockHost *h, QIOChannelSocket *sioc,
                              uint32_t guest_port, const char *name,
                              const char *id, const char *address);

const VsockHostStats *vsock_host_get_stats(const VsockHost *h);

/* ---------------------------------------------------------------------- */
/* vsock-user-forward objects                                             */
/* ---------------------------------------------------------------------- */

#define TYPE_VSOCK_USER_FORWARD "vsock-user-forward"
OBJECT_DECLARE_SIMPLE_TYPE(VsockUserForward, VSOCK_USER_FORWARD)

/*
 * Attach every forward that names @dev_id (or no device) to @h; called at
 * the device's realize.  Detach them again before vsock_host_free().
 */
bool vsock_user_forward_attach_all(VsockHost *h, Object *dev,
                                   Error **errp);
void vsock_user_forward_detach_all(VsockHost *h);

#endif
