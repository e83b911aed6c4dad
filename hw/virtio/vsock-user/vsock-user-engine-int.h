/*
 * virtio-vsock-user: the protocol engine's private structures
 *
 * Shared by the engine's source files only; the device and the endpoints
 * see opaque handles (vsock-user-engine.h, vsock-user-endpoint.h).
 *
 * Copyright (c) 2026 The virtio-vsock-user authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_VIRTIO_VSOCK_USER_ENGINE_INT_H
#define HW_VIRTIO_VSOCK_USER_ENGINE_INT_H

#include "vsock-user-engine.h"
#include "vsock-user-endpoint.h"

#define DEFAULT_MAX_CONNS 1024
#define DEFAULT_BUF_ALLOC (256 * 1024)
#define VSOCK_MAX_BUF_ALLOC (1024 * 1024 * 1024)
#define DEFAULT_MAX_PENDING_RST 64
#define DEFAULT_CONNECT_TIMEOUT_NS (2 * 1000000000LL)
#define DEFAULT_ACCEPT_TIMEOUT_NS (2 * 1000000000LL)
#define DEFAULT_SHUTDOWN_TIMEOUT_NS (2 * 1000000000LL)
#define EPHEMERAL_PORT_FIRST 49152u
#define LOCAL_IOV_MAX 8

/* rx queue classes, in priority order */
enum {
    RXQ_RST,
    RXQ_RESPONSE,
    RXQ_REQUEST,
    RXQ_DATA,       /* RW, then SHUTDOWN */
    RXQ_CREDIT,
    RXQ__MAX,
};

/* control packets a connection owes the guest */
#define OWE_RST (1u << RXQ_RST)
#define OWE_RESPONSE (1u << RXQ_RESPONSE)
#define OWE_REQUEST (1u << RXQ_REQUEST)
#define OWE_SHUTDOWN (1u << RXQ_DATA)
#define OWE_CREDIT (1u << RXQ_CREDIT)

enum {
    TQ_CONNECT,
    TQ_ACCEPT,
    TQ_SHUTDOWN,
    TQ__MAX,
};

typedef struct VsockAddr {
    uint64_t cid;
    uint32_t port;
} VsockAddr;

/*
 * A connection's four addresses, and the engine's secret hash key: the
 * guest chooses ports, and with a hash it could predict, it could choose
 * ports that all land in one bucket.  Made by vsock_key() only.
 */
typedef struct VsockKey {
    uint64_t local_cid;
    uint64_t peer_cid;
    uint32_t local_port;
    uint32_t peer_port;
    uint64_t hash_key;          /* the table's, not part of the identity */
} VsockKey;

/* Guest data the endpoint has not taken yet; at most buf_alloc bytes. */
typedef struct VsockRing {
    uint8_t *buf;
    uint32_t cap;
    uint32_t head;
    uint32_t len;
} VsockRing;

/*
 * SEQPACKET: the complete messages in a connection's ring, oldest first,
 * each its length with VSOCK_MSG_EOR set for a record's end.  A message
 * holds at least one byte (empty ones are not kept), so there are at most
 * buf_alloc of them.
 */
#define VSOCK_MSG_EOR 0x80000000u
#define VSOCK_MSG_LEN(m) ((m) & ~VSOCK_MSG_EOR)

typedef struct VsockMsgQueue {
    uint32_t *msg;
    uint32_t cap;
    uint32_t head;
    uint32_t n;
} VsockMsgQueue;

struct VsockListener {
    VsockAddr addr;
    VsockEngine *engine;
    unsigned types;             /* VsockType values accepted (bits) */
    VsockAcceptFn accept;
    void *opaque;
};

struct VsockConn {
    /* laid out so that no padding is left between the fields */
    VsockKey key;
    VsockEngine *engine;
    const VsockConnOps *ops;    /* NULL once the endpoint is detached */
    void *opaque;
    VsockType type;
    VsockConnState state;
    unsigned owe;
    int timer;                  /* TQ_* or -1 */
    GList rxq_link[RXQ__MAX];
    GList timer_link;
    int64_t deadline;
    int64_t created;            /* engine clock */
    bool in_rxq[RXQ__MAX];
    bool dead;                  /* removed from the table, freed soon */
    bool in_accept;             /* inside the listener's accept callback */
    bool accept_now;            /* vsock_conn_accept() from in there */
    bool host_initiated;        /* by vsock_engine_connect() */
    bool write_blocked;         /* write() took less than offered */
    bool want_read;
    bool draining;              /* inside conn_drain() */
    bool drain_again;

    /* guest -> endpoint */
    uint32_t recv_cnt;          /* RW bytes received */
    uint32_t fwd_cnt;           /* RW bytes the endpoint took */
    uint32_t last_fwd_cnt;      /* fwd_cnt we last told the guest */
    uint32_t msg_partial;       /* SEQPACKET: ring bytes after the last */
    uint32_t peer_shutdown;     /* sticky flags from the guest */
    uint32_t reported_shutdown; /* flags passed to ops->shutdown */
    VsockRing ring;
    VsockMsgQueue msgs;         /* SEQPACKET: complete messages in ring */

    /* endpoint -> guest */
    uint32_t tx_cnt;            /* RW bytes sent */
    uint32_t peer_buf_alloc;
    uint32_t peer_fwd_cnt;
    uint32_t local_shutdown;    /* sticky flags towards the guest */
    uint32_t sent_shutdown;     /* flags the guest has been sent */

    VsockConnStats stats;
};

struct VsockEngine {
    VsockEngineConfig cfg;
    VsockEngineOps ops;
    uint64_t guest_cid;
    bool seqpacket;             /* SOCK_SEQPACKET offered and taken */
    GHashTable *conns;          /* VsockKey -> VsockConn */
    uint64_t hash_key;          /* random, for the keys of @conns */
    GHashTable *listeners;      /* VsockAddr -> VsockListener */
    GQueue rxq[RXQ__MAX];
    GQueue timers[TQ__MAX];
    VsockHdr *rst_ring;         /* RSTs for packets without connection */
    unsigned rst_head;
    unsigned rst_len;
    GSList *graveyard;          /* connections to free on the way out */
    unsigned depth;
    bool need_wakeup;
    bool in_fill;
    bool credit_turn;           /* a data packet went; credit goes next */
    uint32_t next_port;
    size_t buffered;
    VsockEngineStats stats;
};

/*
 * Functions shared between the engine's files, by the file that defines
 * them.
 */

/* vsock-user-engine.c */
/* The engine terminates @cid (cfg.local_cid, the parent). */
bool vsock_engine_is_local_cid(const VsockEngine *e, uint64_t cid);
/* The listener for a REQUEST to @addr: its own, else @addr's fallback. */
VsockListener *vsock_engine_find_listener(VsockEngine *e,
                                          const VsockAddr *addr);

/* vsock-user-conn.c */
/* Every engine entry point: frees and the wakeup wait for the outermost. */
void vsock_engine_enter(VsockEngine *e);
void vsock_engine_leave(VsockEngine *e);
void vsock_conn_set_state(VsockConn *c, VsockConnState s);
/* Bytes the guest can still take from us. */
uint32_t vsock_conn_peer_credit(const VsockConn *c);
/* The endpoint may be asked for data (credit aside). */
bool vsock_conn_may_read(const VsockConn *c);
bool vsock_conn_data_ready(const VsockConn *c);
/* SHUTDOWN goes out after the data the endpoint made readable before. */
bool vsock_conn_shutdown_ready(const VsockConn *c);
bool vsock_conn_owes(const VsockConn *c, int q);
void vsock_conn_update_data(VsockConn *c);
void vsock_conn_owe(VsockConn *c, unsigned what);
/* Drop the guest data held for the endpoint; returns its size. */
uint32_t vsock_conn_drop_buffered(VsockConn *c);
/* Offer buffered guest data to the endpoint until it stops taking it. */
void vsock_conn_drain(VsockConn *c);
/* Remove a connection from the table; its memory goes on leave. */
void vsock_conn_destroy(VsockConn *c);
/* Detach the endpoint and tell it the connection is gone. */
void vsock_conn_notify_closed(VsockConn *c, VsockCloseReason reason);
/*
 * End a connection: with @rst the guest gets an RST first (the connection
 * stays in the table, CLOSED, until it is sent), otherwise it goes now.
 */
void vsock_conn_kill(VsockConn *c, VsockCloseReason reason, bool rst);
/* The engine clock (ns), for timers and connection ages. */
int64_t vsock_engine_now(VsockEngine *e);

VsockKey vsock_key(const VsockEngine *e, uint64_t local_cid,
                   uint32_t local_port, uint64_t peer_cid, uint32_t peer_port);
VsockConn *vsock_conn_new(VsockEngine *e, const VsockKey *key,
                          VsockType type, VsockConnState state);
/* The endpoint took @n guest bytes. */
void vsock_conn_consumed(VsockConn *c, uint32_t n);
/* Owe the guest a credit update if it needs one now. */
void vsock_conn_check_credit(VsockConn *c);
/*
 * Pass guest shutdowns on once the data before them is delivered; both
 * directions shut and drained -> RST.
 */
void vsock_conn_check_peer_shutdown(VsockConn *c);
/*
 * An accepted connection: RESPONSE, then data.  @quiet: accepted from
 * inside the accept callback, so the observer sees it born established.
 */
void vsock_conn_accepted(VsockConn *c, bool quiet);

/* vsock-user-ring.c; each keeps e->buffered, the bytes of all rings. */
void vsock_ring_free(VsockEngine *e, VsockRing *r);
/* Copy @len bytes of @iov from @offset in; the caller checked the room. */
void vsock_ring_append(VsockEngine *e, VsockRing *r, uint32_t cap,
                       const struct iovec *iov, unsigned cnt,
                       size_t offset, uint32_t len);
/* Describe the ring's bytes, oldest first, in @iov[2]; returns the count. */
unsigned vsock_ring_peek(const VsockRing *r, struct iovec *iov);
/* Like vsock_ring_peek(), but only the @n oldest bytes (n <= r->len). */
unsigned vsock_ring_peek_n(const VsockRing *r, struct iovec *iov,
                           uint32_t n);
/* Drop the @n oldest bytes (at most r->len). */
void vsock_ring_consume(VsockEngine *e, VsockRing *r, uint32_t n);
/* SEQPACKET message boundaries of the ring. */
void vsock_msgs_push(VsockMsgQueue *q, uint32_t m);
uint32_t vsock_msgs_head(const VsockMsgQueue *q);
void vsock_msgs_pop(VsockMsgQueue *q);
void vsock_msgs_free(VsockMsgQueue *q);

/* vsock-user-timer.c */
void vsock_timer_stop(VsockConn *c);
/* Each timer queue has one fixed timeout, so appending keeps it sorted. */
void vsock_timer_start(VsockConn *c, int tq, int64_t timeout);

/* vsock-user-rxq.c */
void vsock_rxq_add(VsockConn *c, int q);
void vsock_rxq_del(VsockConn *c, int q);
/* Queue an RST answering @h, which has no connection. */
bool vsock_queue_rst(VsockEngine *e, const VsockHdr *h);

#endif
