/*
 * virtio-vsock-user: the host socket endpoints of one device
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
 * Each joined host socket is a bridge (vsock-user-bridge.h).
 *
 * Copyright (c) 2026 The virtio-vsock-user authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_VIRTIO_VSOCK_USER_HOST_H
#define HW_VIRTIO_VSOCK_USER_HOST_H

#include "vsock-user-bridge.h"
#include "vsock-user-connect-line.h"
#include "qapi/qapi-types-sockets.h"
#include "io/net-listener.h"

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
 * any port).  QEMU's event loop watches their host sockets.
 * At most @max_conns connections (vsock_engine_conn_count() plus
 * cancelled host connects still running), and at most @max_pending of
 * them host-initiated and not yet accepted by the guest.  A device reset
 * needs nothing here: vsock_engine_reset() drops the connections, pending
 * host connects included.
 */
VsockHost *vsock_host_new(VsockEngine *e, uint64_t local_cid,
                          uint32_t max_conns, uint32_t max_pending);
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
 * @seqpacket: also "<path>.seqpacket", the same for SOCK_SEQPACKET clients
 * (the CONNECT line and the answer are one message each).
 */
bool vsock_host_set_uds(VsockHost *h, const char *path, int64_t timeout_ms,
                        uint32_t max_handshakes, bool seqpacket,
                        Error **errp);

/*
 * guest port -> host address, for @owner (whose name for introspection is
 * @id), for guest connections of socket type @type (a SEQPACKET address
 * is a Unix socket path, connected as SOCK_SEQPACKET).  False if already
 * routed.
 */
bool vsock_host_add_route(VsockHost *h, uint32_t guest_port,
                          SocketAddress *addr, VsockType type, void *owner,
                          const char *id);
void vsock_host_del_route(VsockHost *h, uint32_t guest_port, void *owner);

/*
 * A host socket accepted by a forward listener: join it to a connection
 * of @type to @guest_port.
 */
void vsock_host_connect_guest(VsockHost *h, QIOChannelSocket *sioc,
                              uint32_t guest_port, VsockType type,
                              const char *name, const char *id,
                              const char *address);

const VsockHostStats *vsock_host_get_stats(const VsockHost *h);

#endif
