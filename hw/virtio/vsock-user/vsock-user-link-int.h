/*
 * virtio-vsock-user: what the two halves of a vsock-user-link share
 *
 * vsock-user-link.c is the socket side (framing, hello, reading, writing,
 * reconnecting); vsock-user-link-object.c is the QOM object and the side
 * the device calls (routing guest packets, filling rx buffers, resets).
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

/* vsock-user-link-route.c: the link as one of the device's backends */
extern const VsockBackendOps vsock_link_backend_ops;

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
void vsock_link_rxq_clear(VsockUserLink *l);
/* @bounded: give up when the queue is far over budget (guest-driven) */
void vsock_link_rst_to_guest(VsockUserLink *l, uint64_t peer_cid,
                             uint32_t peer_port, uint32_t guest_port,
                             uint16_t type, bool bounded);

/* Queue a frame for the socket (@h->len payload bytes from @offset). */
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

/* The link of @l's device that carries @cid (@l itself included), or NULL. */
VsockUserLink *vsock_link_sibling(VsockUserLink *l, uint64_t cid);
/*
 * A frame from @l's socket whose dst_cid is not the guest's (either type,
 * whatever the local guest speaks): relay it to
 * the link that carries dst_cid if @l's relay-cids allow, else refuse it
 * (RST back).  Takes @f.
 */
void vsock_link_relay(VsockUserLink *l, LinkFrame *f);
/*
 * @l lost relayed connection @k (its socket went): RST to the local end,
 * over the other link, which forgets it too.
 */
void vsock_link_relay_lost(VsockUserLink *l, const LinkConnKey *k,
                           uint16_t type);
/* Write what the socket takes now; wait for it to take the rest. */
void vsock_link_flush(VsockUserLink *l);

/* Read the socket (once past the TLS handshake), or stop reading it. */
void vsock_link_watch_in(VsockUserLink *l, bool on);
bool vsock_link_rx_full(VsockUserLink *l);

/* vsock-user-link.c, for vsock-user-link-state.c and -candidate.c */
void vsock_link_send_hello(VsockUserLink *l);
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

/* vsock-user-link-state.c */
/* Non-blocking, and over TCP without Nagle's delay. */
void vsock_link_socket_setup(QIOChannelSocket *sioc);
void vsock_link_close_channel(VsockUserLink *l);
void vsock_link_down(VsockUserLink *l, const char *why);
void vsock_link_connect(VsockUserLink *l);
void vsock_link_reconnect_cb(void *opaque);
void vsock_link_hello_timeout_cb(void *opaque);
void vsock_link_accept(QIONetListener *listener, QIOChannelSocket *sioc,
                       gpointer opaque);
/* Start TLS on @sioc for @l (server or client side); NULL with @errp. */
QIOChannel *vsock_link_tls_new(VsockUserLink *l, QIOChannelSocket *sioc,
                               Error **errp);
void vsock_link_tls_failed(VsockUserLink *l, Error *err);

/* vsock-user-link-candidate.c */
/*
 * A connection accepted while the link has one: it becomes the link's
 * only once its TLS handshake and hello are complete and good.  Takes
 * @sioc.
 */
void vsock_link_candidate_new(VsockUserLink *l, QIOChannelSocket *sioc);
void vsock_link_candidates_clear(VsockUserLink *l);

#endif
