/*
 * virtio-vsock-user: the virtio socket protocol engine, as the device sees it
 *
 * The engine terminates the guest's virtio-vsock connections in user space
 * (virtio 1.3, section 5.10).  It is independent of QEMU's device plumbing:
 * the virtio device feeds it packets popped from the tx virtqueue and asks
 * it to fill buffers popped from the rx virtqueue; endpoints (the Nitro
 * heartbeat, host sockets, ...) plug into it through listeners and
 * connections, declared in "hw/virtio/vsock-user-endpoint.h".
 *
 * Naming: "tx" and "rx" follow virtio's point of view.  tx packets come
 * from the guest, rx packets go to the guest.
 *
 * Threading: the engine is not thread safe; call it from one thread (the
 * QEMU main loop).
 *
 * Bounds: everything a guest can make the engine hold is bounded by the
 * configuration: max_conns connections, each buffering at most buf_alloc
 * bytes of guest data (a SEQPACKET one also 4 bytes per buffered message
 * of at least one byte), each owing at most one of each control reply,
 * plus max_pending_rst queued RSTs for packets without a connection.
 *
 * Copyright (c) 2026 The virtio-vsock-user authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_VIRTIO_VSOCK_USER_ENGINE_H
#define HW_VIRTIO_VSOCK_USER_ENGINE_H

#include "vsock-user-packet.h"

typedef struct VsockEngine VsockEngine;
typedef struct VsockConn VsockConn;

typedef enum VsockConnState {
    VSOCK_CONN_CONNECTING,   /* host-initiated, REQUEST owed or sent */
    VSOCK_CONN_ACCEPTING,    /* guest-initiated, accept deferred */
    VSOCK_CONN_ESTABLISHED,  /* incl. half-closed */
    VSOCK_CONN_CLOSING,      /* endpoint closed; SHUTDOWN owed or sent */
    VSOCK_CONN_CLOSED,       /* RST owed or sent; freed soon */
} VsockConnState;

const char *vsock_conn_state_str(VsockConnState s);

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
    /* Observer: a packet went to (@to_guest) or came from the guest. */
    void (*packet)(void *opaque, bool to_guest, const VsockHdr *hdr);
    /* Observer: a connection changed state. */
    void (*state_change)(void *opaque, const VsockConn *conn,
                         VsockConnState old_state,
                         VsockConnState new_state);
} VsockEngineOps;

typedef struct VsockEngineConfig {
    uint64_t guest_cid;
    uint64_t local_cid;          /* the CID terminated here (the parent) */
    uint32_t max_conns;          /* connection limit */
    uint32_t buf_alloc;          /* per-connection rx buffer we advertise */
    uint32_t credit_threshold;   /* cap on bytes freed per update; 0: none */
    uint32_t max_pending_rst;    /* RSTs for packets without a connection */
    bool seqpacket;              /* SOCK_SEQPACKET (else its packets: RST) */
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
 * or less), max_pending_rst 64, no SEQPACKET,
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

/* Set the guest's CID (e.g. before a TRANSPORT_RESET). */
void vsock_engine_set_guest_cid(VsockEngine *e, uint64_t cid);

/*
 * Whether the guest's driver took VIRTIO_VSOCK_F_SEQPACKET.  Off, its
 * SEQPACKET packets get RST and vsock_engine_connect() refuses the type.
 * Set it before the driver starts (it does not touch open connections).
 */
void vsock_engine_set_seqpacket(VsockEngine *e, bool on);
bool vsock_engine_get_seqpacket(const VsockEngine *e);

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
/* Does the guest packet @h belong to one of the engine's connections? */
bool vsock_engine_has_conn(const VsockEngine *e, const VsockHdr *h);
/* Guest bytes held in connection buffers, all connections together. */
size_t vsock_engine_buffered_bytes(const VsockEngine *e);

#endif
