/*
 * virtio-vsock-user: the engine as endpoints see it
 *
 * An endpoint (the Nitro heartbeat, a host socket bridge, ...) listens on
 * a local (CID, port) for guest connections or connects to the guest, then
 * moves bytes through VsockConnOps: the engine pushes guest data with
 * write() and pulls data for the guest with read(), only when the guest
 * offered an rx buffer and has credit for it.
 *
 * Threading: like the engine, endpoints run in one thread (the QEMU main
 * loop).
 *
 * Ownership rules:
 * - A VsockConn is owned by the engine.  An endpoint learns about it in
 *   its accept callback or from vsock_engine_connect().  Exactly one of
 *   these two events ends the endpoint's use of a connection (a deferred
 *   accept included: see VsockAcceptFn):
 *     a) the endpoint calls vsock_conn_close(): afterwards the engine never
 *        calls the endpoint for that connection again, and the endpoint
 *        must not touch the VsockConn pointer any more;
 *     b) the engine calls ops->closed(): afterwards the endpoint must not
 *        touch the VsockConn pointer (calling vsock_conn_close() from
 *        inside closed() is harmless, but pointless).
 * - Every endpoint callback may call any vsock_conn_*() function on any
 *   connection, including closing the connection it is called for; the
 *   engine defers freeing memory until its outermost call returns.
 * - Endpoint callbacks must not call vsock_engine_free() or
 *   vsock_engine_reset().
 *
 * Copyright (c) 2026 The virtio-vsock-user authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_VIRTIO_VSOCK_USER_ENDPOINT_H
#define HW_VIRTIO_VSOCK_USER_ENDPOINT_H

#include "vsock-user-engine.h"

typedef struct VsockListener VsockListener;

typedef enum VsockCloseReason {
    VSOCK_CLOSE_PEER_RST,      /* guest sent RST */
    VSOCK_CLOSE_PEER_SHUTDOWN, /* guest shut down both ways; we sent RST */
    VSOCK_CLOSE_REFUSED,       /* guest answered our REQUEST with RST */
    VSOCK_CLOSE_TIMEOUT,       /* REQUEST, SHUTDOWN or accept too late */
    VSOCK_CLOSE_PROTOCOL,      /* guest broke the protocol; we sent RST */
    VSOCK_CLOSE_RESET,         /* vsock_engine_reset() or _free() */
} VsockCloseReason;

/* Counters (monotonic, never reset except by vsock_engine_free()). */
typedef struct VsockConnStats {
    uint64_t tx_pkts;       /* packets from the guest */
    uint64_t tx_bytes;      /* RW payload bytes from the guest */
    uint64_t rx_pkts;       /* packets to the guest */
    uint64_t rx_bytes;      /* RW payload bytes to the guest */
} VsockConnStats;

/*
 * What serves a connection, for introspection (query-vsock-user): @kind
 * names the endpoint ("heartbeat", "hybrid", "forward"), @id the object
 * behind it and @address its host socket, each NULL where it has none.
 * The strings belong to the endpoint and need only last the call.
 */
typedef struct VsockEndpointInfo {
    const char *kind;
    const char *id;
    const char *address;
} VsockEndpointInfo;

/* Per-connection callbacks of an endpoint (all but write/read optional). */
typedef struct VsockConnOps {
    /* A host-initiated connection was accepted (RESPONSE). */
    void (*connected)(VsockConn *conn, void *opaque);
    /*
     * PUSH, guest -> endpoint: RW payload @iov (never empty).  Return how
     * many bytes were taken (0..size).  The rest is held by the engine
     * (bounded by buf_alloc) until the endpoint calls
     * vsock_conn_notify_writable(), then offered again.  The guest's
     * credit (fwd_cnt) only advances by the bytes taken.
     *
     * SEQPACKET: @iov is one whole message and @flags VIRTIO_VSOCK_SEQ_EOM,
     * with VIRTIO_VSOCK_SEQ_EOR if the guest ended a record with it (MSG_EOR).
     * Take all of it (return its size) or nothing: anything less means nothing,
     * and the same message comes again after vsock_conn_notify_writable().  For
     * STREAM @flags is 0.
     */
    size_t (*write)(VsockConn *conn, void *opaque,
                    const struct iovec *iov, unsigned iov_cnt,
                    uint32_t flags);
    /*
     * PULL, endpoint -> guest: copy at most size(@iov) bytes into @iov
     * (guest memory once the device runs) and return how many.  Called
     * only after vsock_conn_notify_readable() and only while the guest
     * has credit: this is how the endpoint learns it may send again.
     * Returning less than asked (0 included) means "nothing more for now"
     * and the engine stops asking until the next
     * vsock_conn_notify_readable(), so an endpoint whose source ran dry
     * (a stream socket's short read) need not be asked again to say so.
     *
     * SEQPACKET: return the next piece of the current message, and set
     * *@flags to VIRTIO_VSOCK_SEQ_EOM (| VIRTIO_VSOCK_SEQ_EOR for a record's
     * end) with the piece that ends it; the engine sends no two messages in one
     * packet.  A message may take several calls (rx buffers, credit and
     * the 64 KiB packet limit split it), but must fit the guest's buffer
     * (vsock_conn_get_peer_buf_alloc()) or the guest cannot take it.
     * Never return an empty message: 0 means "nothing for now".
     */
    size_t (*read)(VsockConn *conn, void *opaque,
                   const struct iovec *iov, unsigned iov_cnt,
                   uint32_t *flags);
    /*
     * The guest shut down one or both directions; @flags is the sticky
     * union so far.  SEND is reported only after all the guest's data
     * was taken by write() (half-close: EOF).  RCV means no more read().
     */
    void (*shutdown)(VsockConn *conn, void *opaque, uint32_t flags);
    /* The connection is gone (see the ownership rules at the top). */
    void (*closed)(VsockConn *conn, void *opaque, VsockCloseReason reason);
    /* Say what serves the connection (fill in @info; all fields NULL). */
    void (*describe)(VsockConn *conn, void *opaque, VsockEndpointInfo *info);
} VsockConnOps;

/* What an accept callback decides about a guest REQUEST. */
typedef enum VsockAcceptResult {
    VSOCK_ACCEPT_REFUSE,    /* RST; @conn is gone when the callback returns */
    VSOCK_ACCEPT_NOW,       /* RESPONSE; the connection is established */
    VSOCK_ACCEPT_DEFER,     /* decide later: see below */
} VsockAcceptResult;

/*
 * Accept callback of a listener, called for a guest REQUEST with @conn in
 * state VSOCK_CONN_ACCEPTING.  Call vsock_conn_set_ops() on @conn, then
 * return VSOCK_ACCEPT_NOW to accept it at once or VSOCK_ACCEPT_DEFER to
 * decide later; without ops the REQUEST is refused whatever the callback
 * returns.  VSOCK_ACCEPT_REFUSE refuses it (RST).
 *
 * A deferred connection stays VSOCK_CONN_ACCEPTING: it counts against
 * max_conns and the guest hears nothing yet.  The endpoint ends the wait
 * with vsock_conn_accept() (RESPONSE, then data may flow) or
 * vsock_conn_reset() / vsock_conn_close() (RST).  Meanwhile
 * vsock_conn_notify_readable() and vsock_conn_shutdown() are remembered
 * for after the RESPONSE.  Otherwise ops->closed() ends it: a guest RST
 * (VSOCK_CLOSE_PEER_RST), any other guest packet on it (RST,
 * VSOCK_CLOSE_PROTOCOL), no decision within accept_timeout_ns (RST,
 * VSOCK_CLOSE_TIMEOUT), or an engine reset (VSOCK_CLOSE_RESET).
 */
typedef VsockAcceptResult (*VsockAcceptFn)(VsockListener *l,
                                           VsockConn *conn, void *opaque);

/*
 * Listen on (@cid, @port) for guest connections of the socket types in
 * @types, VsockType values or-ed together (they are distinct bits:
 * VIRTIO_VSOCK_TYPE_STREAM | VIRTIO_VSOCK_TYPE_SEQPACKET takes both); a REQUEST
 * of any other type gets RST.  @cid must be a local CID.  @port VSOCK_PORT_ANY
 * is a fallback listener for @cid: it gets the REQUESTs to ports of @cid
 * that have no listener of their own (a port's own listener always
 * decides, even when it does not take the REQUEST's type).  Returns NULL
 * if that address (or the fallback of @cid) is already taken, or @types
 * names no type.
 */
VsockListener *vsock_engine_listen(VsockEngine *e, uint64_t cid,
                                   uint32_t port, unsigned types,
                                   VsockAcceptFn accept, void *opaque);

/* Stop listening.  Established connections stay. */
void vsock_listener_free(VsockListener *l);

/*
 * Connect to the guest's @peer_port from (@local_cid, @local_port);
 * @local_port VSOCK_PORT_ANY allocates an unused ephemeral port.  Sends a
 * REQUEST; ops->connected() or ops->closed(VSOCK_CLOSE_REFUSED or
 * _TIMEOUT) follows.  Returns NULL on bad arguments, address in use or
 * connection limit.
 */
VsockConn *vsock_engine_connect(VsockEngine *e, uint64_t local_cid,
                                uint32_t local_port, uint32_t peer_port,
                                VsockType type, const VsockConnOps *ops,
                                void *opaque);

/*
 * Attach an endpoint to a connection (from the accept callback, or while
 * its accept is deferred).
 */
void vsock_conn_set_ops(VsockConn *conn, const VsockConnOps *ops,
                        void *opaque);

/*
 * Accept a connection whose accept was deferred: the guest gets RESPONSE
 * and the connection is VSOCK_CONN_ESTABLISHED.  Does nothing for a
 * connection in any other state.  Called from inside the accept callback
 * itself, it makes VSOCK_ACCEPT_DEFER mean VSOCK_ACCEPT_NOW.
 */
void vsock_conn_accept(VsockConn *conn);

/* The endpoint has data for the guest: read() will be called. */
void vsock_conn_notify_readable(VsockConn *conn);

/* The endpoint can take guest data again: write() will be called. */
void vsock_conn_notify_writable(VsockConn *conn);

/*
 * Shut down direction(s) towards the guest (sticky).  SEND: after the
 * data made readable so far, the guest gets SHUTDOWN(SEND) and read() is
 * no longer called.
 */
void vsock_conn_shutdown(VsockConn *conn, uint32_t flags);

/*
 * The endpoint is done with the connection: no more callbacks.  Data the
 * engine already pulled is delivered, then the guest gets SHUTDOWN
 * (RCV|SEND); guest data still arriving is discarded; the connection is
 * RST when the guest answers or after the shutdown timeout.  Safe to call
 * from inside any callback, including read() (the bytes read are still
 * delivered).
 */
void vsock_conn_close(VsockConn *conn);

/*
 * Abort: RST to the guest right away, no more callbacks, buffered data
 * discarded.  For a connection whose accept was deferred this is the
 * refusal.
 */
void vsock_conn_reset(VsockConn *conn);

VsockEngine *vsock_conn_get_engine(const VsockConn *conn);
VsockConnState vsock_conn_get_state(const VsockConn *conn);
VsockType vsock_conn_get_type(const VsockConn *conn);
uint64_t vsock_conn_get_local_cid(const VsockConn *conn);
uint32_t vsock_conn_get_local_port(const VsockConn *conn);
uint64_t vsock_conn_get_peer_cid(const VsockConn *conn);
uint32_t vsock_conn_get_peer_port(const VsockConn *conn);
/* Sticky SHUTDOWN flags the guest sent. */
uint32_t vsock_conn_get_peer_shutdown(const VsockConn *conn);
/* Bytes the guest can still accept from us (its credit). */
uint32_t vsock_conn_get_peer_credit(const VsockConn *conn);
/* The guest's receive buffer for this connection (its buf_alloc). */
uint32_t vsock_conn_get_peer_buf_alloc(const VsockConn *conn);
/* Guest bytes the engine holds for the endpoint. */
uint32_t vsock_conn_get_buffered(const VsockConn *conn);
const VsockConnStats *vsock_conn_get_stats(const VsockConn *conn);

const char *vsock_close_reason_str(VsockCloseReason r);

#endif
