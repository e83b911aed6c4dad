/*
 * virtio-vsock-user: the virtio socket protocol engine
 *
 * The engine terminates the guest's virtio-vsock connections in user space
 * (virtio 1.3, section 5.10).  It is independent of QEMU's device plumbing:
 * the virtio device feeds it packets popped from the tx virtqueue and asks
 * it to fill buffers popped from the rx virtqueue; endpoints (the Nitro
 * heartbeat, host sockets, ...) plug into it through listeners and
 * connections.
 *
 * Naming: "tx" and "rx" follow virtio's point of view.  tx packets come
 * from the guest, rx packets go to the guest.
 *
 * Threading: the engine is not thread safe; call it from one thread (the
 * QEMU main loop).
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
 * Bounds: everything a guest can make the engine hold is bounded by the
 * configuration: max_conns connections, each buffering at most buf_alloc
 * bytes of guest data, each owing at most one of each control reply, plus
 * max_pending_rst queued RSTs for packets without a connection.
 *
 * Copyright (c) 2026 The virtio-vsock-user authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_VIRTIO_VSOCK_USER_ENGINE_H
#define HW_VIRTIO_VSOCK_USER_ENGINE_H

#ifdef VSOCK_USER_STANDALONE
/* Outside QEMU; inside QEMU "qemu/osdep.h" provides all of this. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>
#include <glib.h>
#endif

/* ---------------------------------------------------------------------- */
/* Protocol constants                                                     */
/* ---------------------------------------------------------------------- */

#define VSOCK_HDR_SIZE 44

/* Largest payload the engine puts into one rx packet. */
#define VSOCK_MAX_PKT_PAYLOAD (64 * 1024)

/* Reserved CIDs */
#define VSOCK_CID_HYPERVISOR 0
#define VSOCK_CID_LOCAL 1
#define VSOCK_CID_HOST 2
#define VSOCK_CID_PARENT 3      /* Nitro's parent instance */
#define VSOCK_PORT_ANY 0xffffffffu

typedef enum VsockType {
    VSOCK_TYPE_STREAM = 1,
    VSOCK_TYPE_SEQPACKET = 2,
} VsockType;

typedef enum VsockOp {
    VSOCK_OP_INVALID = 0,
    VSOCK_OP_REQUEST = 1,
    VSOCK_OP_RESPONSE = 2,
    VSOCK_OP_RST = 3,
    VSOCK_OP_SHUTDOWN = 4,
    VSOCK_OP_RW = 5,
    VSOCK_OP_CREDIT_UPDATE = 6,
    VSOCK_OP_CREDIT_REQUEST = 7,
} VsockOp;

/* SHUTDOWN flags (sticky) */
#define VSOCK_SHUTDOWN_RCV 1u
#define VSOCK_SHUTDOWN_SEND 2u
#define VSOCK_SHUTDOWN_BOTH (VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND)

/* SEQPACKET RW flags */
#define VSOCK_SEQ_EOM 1u
#define VSOCK_SEQ_EOR 2u

/* ---------------------------------------------------------------------- */
/* Packet codec                                                           */
/* ---------------------------------------------------------------------- */

/* The decoded header, host byte order. */
typedef struct VsockHdr {
    uint64_t src_cid;
    uint64_t dst_cid;
    uint32_t src_port;
    uint32_t dst_port;
    uint32_t len;
    uint16_t type;
    uint16_t op;
    uint32_t flags;
    uint32_t buf_alloc;
    uint32_t fwd_cnt;
} VsockHdr;

/* Encode @hdr into 44 little-endian bytes at @out. */
void vsock_hdr_encode(const VsockHdr *hdr, uint8_t *out);

/* Decode 44 little-endian bytes at @in into @hdr. */
void vsock_hdr_decode(VsockHdr *hdr, const uint8_t *in);

/*
 * Decode the header at the start of a scatter list (any split).
 * Returns false if the list holds fewer than 44 bytes.
 */
bool vsock_hdr_from_iov(VsockHdr *hdr, const struct iovec *iov,
                        unsigned iov_cnt);

/*
 * Encode the header at the start of a scatter list (any split).
 * Returns false (writing nothing) if the list holds fewer than 44 bytes.
 */
bool vsock_hdr_to_iov(const VsockHdr *hdr, const struct iovec *iov,
                      unsigned iov_cnt);

/* Human readable op name ("RW", ...); "?" for unknown values. */
const char *vsock_op_str(uint16_t op);

/* Scatter list helpers */

/* Total bytes of a scatter list. */
size_t vsock_iov_size(const struct iovec *iov, unsigned iov_cnt);

/*
 * Copy up to @bytes from the list, starting @offset bytes in, to @buf.
 * Returns the number of bytes copied.
 */
size_t vsock_iov_to_buf(const struct iovec *iov, unsigned iov_cnt,
                        size_t offset, void *buf, size_t bytes);

/*
 * Copy up to @bytes from @buf into the list, starting @offset bytes in.
 * Returns the number of bytes copied.
 */
size_t vsock_iov_from_buf(const struct iovec *iov, unsigned iov_cnt,
                          size_t offset, const void *buf, size_t bytes);

/*
 * Describe @bytes bytes of @src starting at @offset as a new list in @dst
 * (at most @dst_max entries, no copying).  Returns the number of entries
 * used; *@covered (if not NULL) receives the bytes described, which is
 * less than @bytes if @src is shorter or @dst_max too small.
 */
unsigned vsock_iov_slice(const struct iovec *src, unsigned src_cnt,
                         size_t offset, size_t bytes,
                         struct iovec *dst, unsigned dst_max,
                         size_t *covered);

/* ---------------------------------------------------------------------- */
/* Engine                                                                 */
/* ---------------------------------------------------------------------- */

typedef struct VsockEngine VsockEngine;
typedef struct VsockConn VsockConn;
typedef struct VsockListener VsockListener;

typedef enum VsockConnState {
    VSOCK_CONN_CONNECTING,   /* host-initiated, REQUEST owed or sent */
    VSOCK_CONN_ACCEPTING,    /* guest-initiated, accept deferred */
    VSOCK_CONN_ESTABLISHED,  /* incl. half-closed */
    VSOCK_CONN_CLOSING,      /* endpoint closed; SHUTDOWN owed or sent */
    VSOCK_CONN_CLOSED,       /* RST owed or sent; freed soon */
} VsockConnState;

typedef enum VsockCloseReason {
    VSOCK_CLOSE_PEER_RST,      /* guest sent RST */
    VSOCK_CLOSE_PEER_SHUTDOWN, /* guest shut down both ways; we sent RST */
    VSOCK_CLOSE_REFUSED,       /* guest answered our REQUEST with RST */
    VSOCK_CLOSE_TIMEOUT,       /* REQUEST, SHUTDOWN or accept too late */
    VSOCK_CLOSE_PROTOCOL,      /* guest broke the protocol; we sent RST */
    VSOCK_CLOSE_RESET,         /* vsock_engine_reset() or _free() */
} VsockCloseReason;

/*
 * Result of vsock_engine_handle_tx().  Everything but VSOCK_TX_OK is a
 * guest mistake worth a LOG_GUEST_ERROR (except VSOCK_TX_NO_CONN and
 * VSOCK_TX_NO_LISTENER, which are normal races/refusals and are only
 * reported for tracing).
 */
typedef enum VsockTxResult {
    VSOCK_TX_OK,
    VSOCK_TX_NO_CONN,          /* no such connection: RST sent */
    VSOCK_TX_NO_LISTENER,      /* REQUEST refused: RST sent */
    VSOCK_TX_SHORT_HDR,        /* chain shorter than 44 bytes: dropped */
    VSOCK_TX_BAD_LEN,          /* hdr.len exceeds the chain: dropped */
    VSOCK_TX_BAD_SRC_CID,      /* src_cid is not the guest's: dropped */
    VSOCK_TX_BAD_DST_CID,      /* dst_cid not terminated here: RST */
    VSOCK_TX_BAD_TYPE,         /* unknown type: RST */
    VSOCK_TX_BAD_OP,           /* unknown or misplaced op: RST */
    VSOCK_TX_CREDIT_OVERRUN,   /* RW beyond the credit we gave: RST */
    VSOCK_TX_RST_DROPPED,      /* an RST was owed but the queue was full */
    VSOCK_TX_CONN_LIMIT,       /* REQUEST over the connection limit: RST */
    VSOCK_TX__MAX,
} VsockTxResult;

/* Human readable description of a VsockTxResult. */
const char *vsock_tx_result_str(VsockTxResult r);

/* Counters (monotonic, never reset except by vsock_engine_free()). */
typedef struct VsockConnStats {
    uint64_t tx_pkts;       /* packets from the guest */
    uint64_t tx_bytes;      /* RW payload bytes from the guest */
    uint64_t rx_pkts;       /* packets to the guest */
    uint64_t rx_bytes;      /* RW payload bytes to the guest */
} VsockConnStats;

typedef struct VsockEngineStats {
    uint64_t tx_pkts;
    uint64_t tx_bytes;
    uint64_t rx_pkts;
    uint64_t rx_bytes;
    uint64_t rst_sent;
    uint64_t rst_received;
    uint64_t conns_opened;   /* accepted or established */
    uint64_t conns_refused;  /* REQUEST answered with RST, or ours refused */
    uint64_t conns_closed;
    uint64_t credit_updates_sent;
    uint64_t results[VSOCK_TX__MAX]; /* handle_tx outcomes, by result */
} VsockEngineStats;

/* Callbacks from the engine to the device (all optional). */
typedef struct VsockEngineOps {
    /*
     * Monotonic time in nanoseconds.  NULL: g_get_monotonic_time().
     * Tests pass virtual time here.
     */
    int64_t (*clock)(void *opaque);
    /*
     * Something changed that the device should act upon soon: rx work
     * became pending, vsock_engine_tx_ready() may have become true, or
     * vsock_engine_next_deadline() changed.  Called at the end of an
     * engine call (never in the middle of one), including calls made by
     * the device itself.  Must not call into the engine synchronously:
     * schedule a bottom half that flushes rx, resumes tx and re-arms the
     * timer.
     */
    void (*wakeup)(void *opaque);
    /*
     * Act now on what wakeup() asked for, synchronously; may call into the
     * engine.  Only called from vsock_engine_run_now(), outside any engine
     * call.  NULL: wakeup() alone.
     */
    void (*run_now)(void *opaque);
    /* Observer: a packet went to (@to_guest) or came from the guest. */
    void (*packet)(void *opaque, bool to_guest, const VsockHdr *hdr);
    /* Observer: a connection changed state. */
    void (*state_change)(void *opaque, const VsockConn *conn,
                         VsockConnState old_state,
                         VsockConnState new_state);
} VsockEngineOps;

typedef struct VsockEngineConfig {
    uint64_t guest_cid;
    uint64_t local_cid;          /* first terminated CID (the parent) */
    uint32_t max_conns;          /* connection limit */
    uint32_t buf_alloc;          /* per-connection rx buffer we advertise */
    uint32_t credit_threshold;   /* cap on bytes freed per update; 0: none */
    uint32_t max_pending_rst;    /* RSTs for packets without a connection */
    int64_t connect_timeout_ns;  /* host-initiated REQUEST */
    int64_t accept_timeout_ns;   /* deferred accept -> RST */
    int64_t shutdown_timeout_ns; /* our SHUTDOWN unanswered -> RST */
    const VsockEngineOps *ops;
    void *opaque;
} VsockEngineConfig;

/*
 * Fill @cfg with defaults: guest_cid 16, local_cid 3, max_conns 1024,
 * buf_alloc 256 KiB, credit_threshold 0 (a CREDIT_UPDATE once less than
 * 64 KiB of the guest's window is left, or at half of a window of 128 KiB
 * or less), max_pending_rst 64,
 * connect timeout 2 s, accept timeout 2 s (a Linux guest's default
 * connect timeout), shutdown timeout 2 s, no ops.
 */
void vsock_engine_config_init(VsockEngineConfig *cfg);

/* Create an engine; values of 0 in @cfg fall back to the defaults. */
VsockEngine *vsock_engine_new(const VsockEngineConfig *cfg);

/*
 * Free the engine: every connection is dropped (endpoints get closed()
 * with VSOCK_CLOSE_RESET) and listeners are freed without callbacks.
 */
void vsock_engine_free(VsockEngine *e);

/* Terminate another local CID (besides cfg->local_cid). */
void vsock_engine_add_local_cid(VsockEngine *e, uint64_t cid);
bool vsock_engine_is_local_cid(const VsockEngine *e, uint64_t cid);

/* Set the guest's CID (e.g. before a TRANSPORT_RESET). */
void vsock_engine_set_guest_cid(VsockEngine *e, uint64_t cid);
uint64_t vsock_engine_get_guest_cid(const VsockEngine *e);

/*
 * Process one packet the guest placed in a tx descriptor chain.
 * @iov/@iov_cnt describe the chain's readable buffers, @total_len how many
 * bytes of it the driver made available (clamped to the list's size).
 * Never retains @iov: payload the endpoint does not take is copied.
 */
VsockTxResult vsock_engine_handle_tx(VsockEngine *e,
                                     const struct iovec *iov,
                                     unsigned iov_cnt, size_t total_len);

/*
 * False when the engine cannot take another tx packet without risking
 * dropping a reply (its RST queue is full).  The device should stop
 * popping the tx queue until the guest posts rx buffers and the wakeup
 * callback fires.
 */
bool vsock_engine_tx_ready(VsockEngine *e);

/* True when the engine has a packet for the guest. */
bool vsock_engine_rx_pending(VsockEngine *e);

/*
 * Build one packet for the guest into an rx descriptor chain (writable
 * buffers @iov/@iov_cnt, any split).  Returns true and stores the bytes
 * written (44 + payload) in *@len_out if a packet was written; false if
 * nothing is pending or the chain is shorter than 44 bytes.  It can
 * return false even right after vsock_engine_rx_pending() said true (an
 * endpoint had nothing to read after all): give the buffer back then.
 */
bool vsock_engine_fill_rx(VsockEngine *e, const struct iovec *iov,
                          unsigned iov_cnt, size_t *len_out);

/*
 * For an endpoint's own event handler (its host socket became readable or
 * writable), after its vsock_conn_notify_*() calls and outside any engine
 * call: lets the device move the packets those allowed right away instead
 * of in a later main-loop pass.  The endpoint must be ready for any of its
 * callbacks, closed() included, during this call.  Does nothing inside an
 * engine call.
 */
void vsock_engine_run_now(VsockEngine *e);

/*
 * Run the timers due at the engine clock's current time (connect, accept
 * and shutdown timeouts).  Cheap to call too early.
 */
void vsock_engine_run_timers(VsockEngine *e);

/* The earliest pending deadline (clock ns), or INT64_MAX if none. */
int64_t vsock_engine_next_deadline(VsockEngine *e);

/*
 * Drop every connection (device reset, TRANSPORT_RESET): endpoints get
 * closed() with VSOCK_CLOSE_RESET, all queued replies and buffered data
 * are released.  Listeners stay.
 */
void vsock_engine_reset(VsockEngine *e);

const VsockEngineStats *vsock_engine_get_stats(const VsockEngine *e);
unsigned vsock_engine_conn_count(const VsockEngine *e);
/* Guest bytes held in connection buffers, all connections together. */
size_t vsock_engine_buffered_bytes(const VsockEngine *e);

/* ---------------------------------------------------------------------- */
/* Endpoints                                                              */
/* ---------------------------------------------------------------------- */

/* Per-connection callbacks of an endpoint (all but write/read optional). */
typedef struct VsockConnOps {
    /* A host-initiated connection was accepted (RESPONSE). */
    void (*connected)(VsockConn *conn, void *opaque);
    /*
     * PUSH, guest -> endpoint: RW payload @iov (never empty for STREAM).
     * @flags carries EOM/EOR for SEQPACKET (0 for STREAM).  Return how
     * many bytes were taken (0..size).  The rest is held by the engine
     * (bounded by buf_alloc) until the endpoint calls
     * vsock_conn_notify_writable(), then offered again.  The guest's
     * credit (fwd_cnt) only advances by the bytes taken.
     */
    size_t (*write)(VsockConn *conn, void *opaque,
                    const struct iovec *iov, unsigned iov_cnt,
                    uint32_t flags);
    /*
     * PULL, endpoint -> guest: copy at most size(@iov) bytes into @iov
     * (guest memory once the device runs) and return how many.  Called
     * only after vsock_conn_notify_readable() and only while the guest
     * has credit: this is how the endpoint learns it may send again.
     * Returning 0 means "nothing more for now" and the engine stops
     * asking until the next vsock_conn_notify_readable().  For SEQPACKET
     * set *@flags to VSOCK_SEQ_EOM (| EOR) on the last chunk of a message.
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
 * Listen on (@cid, @port) for guest connections of @type.  @cid must be
 * a local CID.  @port VSOCK_PORT_ANY is a fallback listener for @cid: it
 * gets the REQUESTs to ports of @cid that have no listener of their own
 * (a port's own listener always decides, even when its type differs from
 * the REQUEST's).  Returns NULL if that address (or the fallback of @cid)
 * is already taken.
 */
VsockListener *vsock_engine_listen(VsockEngine *e, uint64_t cid,
                                   uint32_t port, VsockType type,
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
/* Guest bytes the engine holds for the endpoint. */
uint32_t vsock_conn_get_buffered(const VsockConn *conn);
const VsockConnStats *vsock_conn_get_stats(const VsockConn *conn);

const char *vsock_conn_state_str(VsockConnState s);
const char *vsock_close_reason_str(VsockCloseReason r);

#endif
