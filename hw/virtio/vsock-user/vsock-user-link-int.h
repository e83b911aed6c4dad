/*
 * virtio-vsock-user: what the files of a vsock-user-link share
 *
 * They are layers, and each calls only the ones below it:
 *
 *   vsock-user-link-object.c     the QOM object: properties, attach, detach
 *   vsock-user-link-state.c      the one switch on the link's state: every
 *                                socket watch and timer of the link,
 *                                connect, accept, down, the backend ops
 *   vsock-user-link-route.c      guest packets, the other end's frames,
 *                                relaying, rx buffers (returns what to
 *                                flush; never writes or watches a socket)
 *   vsock-user-link-candidate.c  accepted connections proving themselves
 *   vsock-user-link.c            frames in and out (a read step returns
 *                                what happened), the hello, the table of
 *                                connections, the queues, TLS setup
 *
 * Copyright (c) 2026 The virtio-vsock-user authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_VIRTIO_VSOCK_USER_LINK_INT_H
#define HW_VIRTIO_VSOCK_USER_LINK_INT_H

#include "crypto/tlscreds.h"
#include "io/channel-socket.h"
#include "io/net-listener.h"
#include "qapi/qapi-types-sockets.h"
#include "qemu/notify.h"
#include "qemu/timer.h"
#include "system/runstate.h"
#include "hw/virtio/virtio-vsock-user.h"
#include "vsock-user-backend.h"
#include "vsock-user-engine.h"
#include "vsock-user-link.h"

#define LINK_MAX_CIDS       64
#define LINK_DEFAULT_QUEUED (4 * 1024 * 1024)
#define LINK_MIN_QUEUED     (VSOCK_HDR_SIZE + VSOCK_MAX_PKT_PAYLOAD)
/*
 * Room above max-queued for packets without payload (credit updates,
 * shutdowns, RSTs): they are what lets the connections over budget end.
 */
#define LINK_CTRL_HEADROOM  (1024 * VSOCK_HDR_SIZE)
/*
 * From the socket connected to the other end's hello (TLS handshake
 * included): a peer that connects and says nothing is dropped then.
 */
#define LINK_DEFAULT_HELLO_TIMEOUT_MS   10000
#define LINK_MAX_HELLO_TIMEOUT_MS       3600000

#define LINK_HELLO_MAGIC    0x4b4e4c56u     /* "VLNK" */
#define LINK_HELLO_VERSION  1
#define LINK_HELLO_MAX      (VSOCK_HDR_SIZE + LINK_MAX_CIDS * 8)
/*
 * Connections a listening link holds while they prove themselves (TLS,
 * hello) next to the one it has; a newer one pushes out the oldest.
 */
#define LINK_MAX_CANDIDATES 4

typedef enum LinkState {
    LINK_DOWN,
    LINK_CONNECTING,            /* socket or TLS handshake under way */
    LINK_HELLO,                 /* ours sent, theirs awaited */
    LINK_UP,
} LinkState;

/* A packet for the guest; @off bytes of its payload were delivered. */
typedef struct LinkFrame {
    VsockHdr h;
    uint32_t off;
    uint8_t data[];
} LinkFrame;

/* Bytes for the socket. */
typedef struct LinkOut {
    size_t len;
    size_t off;
    uint8_t data[];
} LinkOut;

/*
 * A connection that crossed the link.  The local end is this device's
 * guest (@local_cid is its CID), or, for a connection relayed between two
 * links of the device, the guest behind the other link (relay-cids).
 */
typedef struct LinkConnKey {
    uint64_t peer_cid;
    uint64_t local_cid;
    uint32_t guest_port;        /* the local end's port */
    uint32_t peer_port;
    uint64_t hash_key;          /* the table's, not part of the identity */
} LinkConnKey;

/* What the link knows of a crossed connection. */
typedef struct LinkConn {
    uint16_t type;              /* its socket type, for the RSTs */
    bool established;           /* a RESPONSE crossed */
    bool from_peer;             /* the other end's REQUEST opened it */
    int64_t requested_ms;       /* when its REQUEST crossed */
} LinkConn;

typedef struct LinkStats {
    uint64_t tx_pkts;           /* guest -> socket */
    uint64_t tx_bytes;
    uint64_t rx_pkts;           /* socket -> guest */
    uint64_t rx_bytes;
    uint64_t refused;           /* socket frames dropped for their CIDs */
    uint64_t garbage;           /* connections ended for a bad frame */
    uint64_t resets;            /* connections the link reset */
    uint64_t reconnects;        /* link up again after it was down */
    uint64_t guest_errors;      /* malformed guest packets for the link */
    uint64_t hello_timeouts;    /* peers dropped for a hello not in time */
    uint64_t tls_failures;      /* TLS sessions that failed to start */
    uint64_t relayed;           /* frames relayed onward to another link */
    uint64_t hellos_refused;    /* hellos refused, candidates' included */
} LinkStats;

struct VsockUserLink {
    Object parent_obj;

    /* properties */
    char *vsock;
    char *addr_str;
    char *tls_creds_id;
    bool server;
    uint32_t cids[LINK_MAX_CIDS];
    unsigned n_cids;
    uint32_t relay_cids[LINK_MAX_CIDS];  /* dst_cids routed onward */
    unsigned n_relay;
    uint32_t max_queued;
    uint32_t reconnect_ms;
    uint32_t hello_timeout_ms;

    bool complete;
    SocketAddress *addr;
    QCryptoTLSCreds *tls_creds;
    QIONetListener *listener;

    VirtIOVsockUserAttach attach;
    VsockBackend backend;       /* what the device drives */
    Notifier detach;            /* the device goes */
    VsockLinkOwner owner;
    bool attached;
    bool guest_seqpacket;       /* the local driver took SEQPACKET */

    LinkState state;
    QIOChannelSocket *sioc;     /* the socket under @ioc */
    QIOChannel *ioc;            /* what is read and written: @sioc or TLS */
    guint in_watch;
    guint out_watch;
    QEMUTimer *reconnect_timer;
    VMChangeStateEntry *vm_state;   /* connects once the VM runs here */
    QEMUTimer *hello_timer;     /* hello-timeout-ms */
    bool hello_warned;          /* a hello timeout was reported */
    bool tls_warned;            /* a TLS failure was reported */
    bool fd_used;               /* server=off, fd:N: connects once only */
    uint64_t attempt;           /* tells a stale connect callback apart */
    bool ever_up;
    bool connect_warned;        /* a failed connect was reported */
    uint64_t peer_guest_cid;
    char *last_refusal;         /* reported once until it changes */
    QEMUTimer *refusal_timer;   /* the end of a window with refusals unsaid */
    int64_t refusal_window;     /* when the reporting window started (ms) */
    unsigned refusals_reported; /* in this window */
    uint64_t refusals_unreported;   /* in this window, over its budget */

    /* the frame being read */
    uint8_t hdr_buf[VSOCK_HDR_SIZE];
    size_t got;
    LinkFrame *in_frame;

    GQueue rxq;                 /* LinkFrame: for the guest */
    size_t rxq_bytes;
    GQueue txq;                 /* LinkOut: for the socket */
    size_t txq_bytes;
    GHashTable *conns;          /* LinkConnKey -> LinkConn */
    uint64_t hash_key;          /* random, for the keys of @conns */
    GQueue candidates;          /* LinkCandidate, oldest first */

    LinkStats stats;
};

typedef struct LinkCandidate {
    VsockUserLink *l;
    QIOChannelSocket *sioc;
    QIOChannel *ioc;            /* @sioc or TLS over it */
    guint in_watch;
    guint out_watch;
    QEMUTimer *timer;           /* hello-timeout-ms */
    bool tls_done;
    uint8_t out[LINK_HELLO_MAX];    /* our hello */
    size_t out_len;
    size_t out_off;
    uint8_t in[LINK_HELLO_MAX];     /* theirs */
    size_t got;
} LinkCandidate;

static inline VsockUserLink *vsock_link_of(VsockBackend *b)
{
    return container_of(b, VsockUserLink, backend);
}

/* ---- vsock-user-link.c: the lowest layer, calls nothing of the link ---- */

const char *vsock_link_id(VsockUserLink *l);
const char *vsock_link_dev_name(VsockUserLink *l);
bool vsock_link_carries(VsockUserLink *l, uint64_t cid);
char *vsock_link_cids_str(const uint64_t *cids, unsigned n);

guint vsock_link_key_hash(gconstpointer p);
gboolean vsock_link_key_equal(gconstpointer a, gconstpointer b);
/*
 * The key of a connection in @l's table.  The table's hash is keyed with
 * a secret of the link: the other end chooses ports, and with a hash it
 * could predict, it could make every lookup walk one long chain.
 */
LinkConnKey vsock_link_key(VsockUserLink *l, uint64_t peer_cid,
                           uint64_t local_cid, uint32_t guest_port,
                           uint32_t peer_port);
/* Track a connection; false if max_conns are tracked already. */
bool vsock_link_track(VsockUserLink *l, const LinkConnKey *k, uint16_t type,
                      bool from_peer);
/*
 * A socket type the local guest speaks: STREAM, SEQPACKET once its
 * driver took the feature.  A Linux guest ignores an RST of another type
 * than its socket's, so every RST carries the connection's type.
 */
bool vsock_link_type_ok(VsockUserLink *l, uint16_t type);
void vsock_link_established(VsockUserLink *l, const LinkConnKey *k);

void vsock_link_wake_owner(VsockUserLink *l);
/* Queue @f for the guest (takes it). */
void vsock_link_rxq_push(VsockUserLink *l, LinkFrame *f);
void vsock_link_rxq_clear(VsockUserLink *l);
bool vsock_link_rx_full(VsockUserLink *l);
/* @bounded: give up when the queue is far over budget (guest-driven) */
void vsock_link_rst_to_guest(VsockUserLink *l, uint64_t peer_cid,
                             uint32_t peer_port, uint32_t guest_port,
                             uint16_t type, bool bounded);

/*
 * Queue a frame for the socket (@h->len payload bytes from @offset).
 * Whatever queues, the caller flushes (vsock_link_flush()).
 */
void vsock_link_queue_frame(VsockUserLink *l, const VsockHdr *h,
                            const struct iovec *iov, unsigned iov_cnt,
                            size_t offset);
void vsock_link_rst_to_peer(VsockUserLink *l, uint32_t guest_port,
                            uint64_t peer_cid, uint32_t peer_port,
                            uint16_t type);
/* An RST frame from (@src_cid, @src_port) over @l, if up and in budget. */
void vsock_link_rst_over(VsockUserLink *l, uint64_t src_cid,
                         uint32_t src_port, uint64_t dst_cid,
                         uint32_t dst_port, uint16_t type);
/*
 * Write what the socket takes now.  false if the write failed: why in
 * @why (g_free it); the caller takes the link down.
 */
bool vsock_link_write(VsockUserLink *l, char **why);

/* What one step of reading the link's socket did. */
typedef enum LinkRead {
    LINK_READ_BLOCKED,          /* nothing more to read now */
    LINK_READ_MORE,             /* bytes of a frame, not all of it yet */
    LINK_READ_FRAME,            /* a whole frame: in *frame, yours */
    LINK_READ_CLOSED,           /* read failed, EOF or garbage: why */
} LinkRead;
/*
 * One read from the socket (@l->ioc set) towards the frame under way;
 * the bytes read are added to @bytes.  A header that is not one (a hello
 * while in LINK_HELLO, a packet's once up) counts in garbage and reads
 * as LINK_READ_CLOSED.  @why is set for LINK_READ_CLOSED (g_free it).
 */
LinkRead vsock_link_read(VsockUserLink *l, LinkFrame **frame, size_t *bytes,
                         char **why);

/* Queue our hello for the socket. */
void vsock_link_queue_hello(VsockUserLink *l);
/* Our hello frame into @buf (LINK_HELLO_MAX bytes); its length. */
size_t vsock_link_hello_encode(VsockUserLink *l, uint8_t *buf);
/* Why a hello's header is not one (NULL: it is). */
const char *vsock_link_check_hello(const VsockHdr *h);
/* Why the other end's hello is refused (g_free it), or NULL. */
char *vsock_link_hello_refusal(VsockUserLink *l, const VsockHdr *h,
                               const uint8_t *payload);
/* Count a refused hello; report @msg if new and within the log budget. */
void vsock_link_report_refusal(VsockUserLink *l, const char *msg);
void vsock_link_refusal_summary_cb(void *opaque);
/* The other end's hello was good: the link is up. */
void vsock_link_hello_accepted(VsockUserLink *l, const VsockHdr *h,
                               const uint8_t *payload);
/* Who the other end is, for messages: "the QEMU listening on" ... */
const char *vsock_link_peer_desc(VsockUserLink *l);

/* Non-blocking, and over TCP without Nagle's delay. */
void vsock_link_socket_setup(QIOChannelSocket *sioc);
/* Start TLS on @sioc for @l (server or client side); NULL with @errp. */
QIOChannel *vsock_link_tls_new(VsockUserLink *l, QIOChannelSocket *sioc,
                               Error **errp);
void vsock_link_tls_failed(VsockUserLink *l, Error *err);

/* ---- vsock-user-link-candidate.c: uses vsock-user-link.c -------------- */

/*
 * A connection accepted while the link has one: it becomes the link's
 * only once its TLS handshake and hello are complete and good.  Takes
 * @sioc.  NULL if it is gone already (TLS failed to start); else the
 * caller starts its TLS handshake, or, without TLS, its hello.
 */
LinkCandidate *vsock_link_candidate_new(VsockUserLink *l,
                                        QIOChannelSocket *sioc);
LinkCandidate *vsock_link_candidate_find(VsockUserLink *l, QIOChannel *ioc);
void vsock_link_candidate_drop(LinkCandidate *c, const char *why);
/* Send our hello; false if the candidate is gone. */
bool vsock_link_candidate_hello(LinkCandidate *c);

typedef enum LinkCandRead {
    LINK_CAND_BLOCKED,          /* its hello is not complete yet */
    LINK_CAND_GONE,             /* dropped: bad, refused, closed */
    LINK_CAND_HELLO,            /* a good hello, in @h and c->in */
} LinkCandRead;
/* Read towards the end of the hello frame, never past it. */
LinkCandRead vsock_link_candidate_read(LinkCandidate *c, VsockHdr *h);
/*
 * Its hello was good: the candidate's socket (and the rest of our hello)
 * is the link's from now on; @c is freed.  The link's old connection must
 * be gone already.
 */
void vsock_link_candidate_promote(LinkCandidate *c);
void vsock_link_candidates_clear(VsockUserLink *l);

/* ---- vsock-user-link-route.c: uses vsock-user-link.c ------------------ */

/* What the caller of a route function flushes afterwards. */
#define LINK_FLUSH_FROM     1   /* the link the packet came by */
#define LINK_FLUSH_TO       2   /* the link a relayed frame leaves by */

VsockRoute vsock_link_route(VsockBackend *b, const VsockHdr *h);
/* A packet from the guest for @l: true if @l is to be flushed. */
bool vsock_link_guest_packet(VsockUserLink *l, const VsockHdr *h,
                             const struct iovec *iov, unsigned iov_cnt);
/*
 * A frame from @l's socket, past the hello.  For the guest: queued.  Its
 * dst_cid not the guest's (either type, whatever the local guest
 * speaks): relayed to @to (the link of the device that carries dst_cid,
 * or NULL) if @l's relay-cids allow, else refused (RST back).  Takes @f;
 * returns LINK_FLUSH_* bits.
 */
unsigned vsock_link_peer_frame(VsockUserLink *l, VsockUserLink *to,
                               LinkFrame *f);
/*
 * The link that lost relayed connection @k (its socket went) is not @o:
 * RST to the local end over @o, which forgets it too.  Flush @o after.
 */
void vsock_link_relay_lost(VsockUserLink *o, const LinkConnKey *k,
                           uint16_t type);
bool vsock_link_rx_pending(VsockBackend *b);
/*
 * One rx buffer from the head frame; @resume: a frame left the queue and
 * the queue is below half its budget, so reading may go on.
 */
bool vsock_link_fill_rx(VsockUserLink *l, const struct iovec *iov,
                        unsigned iov_cnt, size_t *len, bool *resume);
void vsock_link_set_seqpacket(VsockBackend *b, bool on);
/* The guest was reset: RSTs for the other end (flush after), rxq gone. */
void vsock_link_guest_reset(VsockUserLink *l);
void vsock_link_foreach_conn(VsockBackend *b, bool has_port, uint32_t port,
                             VsockConnInfoFn *fn, void *opaque);

/* ---- vsock-user-link-state.c: uses all of the above ------------------- */

/* The link as one of the device's backends */
extern const VsockBackendOps vsock_link_backend_ops;

/* The link of @l's device that carries @cid (@l itself included), or NULL. */
VsockUserLink *vsock_link_sibling(VsockUserLink *l, uint64_t cid);
/* Write what the socket takes now; wait for it to take the rest. */
void vsock_link_flush(VsockUserLink *l);
/* Read the socket (once past the TLS handshake), or stop reading it. */
void vsock_link_watch_in(VsockUserLink *l, bool on);
void vsock_link_close_channel(VsockUserLink *l);
void vsock_link_down(VsockUserLink *l, const char *why);
void vsock_link_connect(VsockUserLink *l);
/* Connect a connecting link that is down, if the VM runs here. */
void vsock_link_reconnect_cb(void *opaque);
void vsock_link_hello_timeout_cb(void *opaque);
void vsock_link_accept(QIONetListener *listener, QIOChannelSocket *sioc,
                       gpointer opaque);

#endif
