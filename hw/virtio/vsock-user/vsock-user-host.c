/*
 * virtio-vsock-user: host endpoints of one device
 *
 * Guest -> host: a fallback listener on the parent CID gets the guest's
 * REQUESTs to every port without a listener of its own (the heartbeat
 * keeps 9000).  For a routed port (a per-port forward, or any port when
 * uds-path is set) it defers the accept and connects to the host address
 * in the background: on success the connection is joined to the host
 * socket and accepted (RESPONSE), on failure it is reset (RST).  The guest
 * never sees RESPONSE for a host peer that is not there.  A guest RST, the
 * engine's accept timeout or a device reset while the connect is under
 * way cancel it: the socket is closed as soon as the connect returns.
 *
 * Host -> guest, hybrid: clients of the uds-path listener send one line,
 * "CONNECT <port>\n", read without consuming anything after it; the device
 * then connects to that guest port and answers "OK <local port>\n".
 *
 * SOCK_SEQPACKET: a Unix socket's type is fixed per path, and the CONNECT
 * line belongs to streams, so messages get paths of their own.  A guest
 * SEQPACKET REQUEST to a hybrid port connects a SOCK_SEQPACKET socket to
 * "<uds-path>_<port>"; host clients of "<uds-path>.seqpacket" (a
 * SOCK_SEQPACKET listener) send "CONNECT <port>\n" as their first message
 * and get "OK <local port>\n" as one message, then each message is one
 * vsock message.  A forward's route carries its socket type.
 *
 * Host peers are not trusted to finish what they start, and QEMU's file
 * descriptors are shared with everything else it does, so what they make
 * it hold before the guest has a connection is bounded twice: clients
 * still sending their CONNECT line (max_handshakes), and host-initiated
 * connections the guest has not accepted yet (max_pending, hybrid and
 * listen= forwards alike).  A client beyond a bound is accepted and
 * closed at once, so it sees EOF rather than a hang in the backlog, and
 * the listener goes on serving the others.
 *
 * Copyright (c) 2026 The virtio-vsock-user authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qapi/clone-visitor.h"
#include "qapi/qapi-visit-sockets.h"
#include "qemu/cutils.h"
#include "qemu/error-report.h"
#include "qemu/main-loop.h"
#include "qemu/sockets.h"
#include "qemu/timer.h"
#include "io/net-listener.h"
#include "system/system.h"
#include "vsock-user-host.h"
#include "vsock-user-unix.h"
#include "trace.h"

typedef struct HostRoute {
    SocketAddress *addr;
    VsockType type;
    void *owner;
    char *id;                   /* the owner's, for introspection */
} HostRoute;

/* A deferred guest connection waiting for its host connection. */
typedef struct PendingConnect {
    VsockHost *h;               /* NULL once the host is gone */
    VsockConn *conn;            /* NULL once cancelled */
    char *name;
    QIOChannelSocket *sioc;
    VsockEndpointInfo endpoint; /* owned copies of id and address */
} PendingConnect;

/* A hybrid client that has not sent its CONNECT line yet. */
typedef struct HybridClient {
    VsockHost *h;
    QIOChannelSocket *sioc;
    int fd;
    bool seqpacket;             /* a client of <uds-path>.seqpacket */
    bool closed;                /* its socket is closed */
    char line[VSOCK_CONNECT_LINE_MAX];
    size_t len;
    QEMUTimer *timer;
    char *name;
} HybridClient;

struct VsockHost {
    VsockEngine *engine;
    uint64_t local_cid;
    uint32_t max_conns;
    uint32_t max_handshakes;
    uint32_t max_pending;
    GHashTable *routes;         /* guest port -> HostRoute */
    GHashTable *bridges;        /* set of VsockBridge */
    GHashTable *clients;        /* set of HybridClient */
    GHashTable *waiting;        /* bridges the guest has not accepted */
    GHashTable *orphans;        /* set of cancelled, unfinished connects */
    char *uds_path;
    QIONetListener *uds;
    char *uds_seq_path;         /* <uds-path>.seqpacket, or NULL */
    QIONetListener *uds_seq;
    int64_t timeout_ms;
    VsockBridgePool pool;       /* the bridges' scratch buffers */
    Notifier exit;              /* remove uds_path when QEMU exits */
    uint64_t serial;
    VsockHostStats stats;
};

/* A host-initiated bridge is no longer waiting for the guest. */
static void host_bridge_unwait(VsockHost *h, VsockBridge *b)
{
    if (g_hash_table_remove(h->waiting, b)) {
        h->stats.pending = g_hash_table_size(h->waiting);
        trace_vsock_user_host_pending_done(h->stats.pending);
    }
}

static void host_bridge_established(void *opaque, VsockBridge *b)
{
    host_bridge_unwait(opaque, b);
}

static void host_bridge_gone(void *opaque, VsockBridge *b)
{
    VsockHost *h = opaque;

    host_bridge_unwait(h, b);
    g_hash_table_remove(h->bridges, b);
    h->stats.bridges = g_hash_table_size(h->bridges);
}

static VsockBridge *host_bridge_new(VsockHost *h, QIOChannelSocket *sioc,
                                    const char *name)
{
    VsockBridge *b = vsock_bridge_new(&h->pool, sioc, name,
                                      host_bridge_gone, h);

    g_hash_table_add(h->bridges, b);
    h->stats.bridges = g_hash_table_size(h->bridges);
    h->stats.opened++;
    return b;
}

/*
 * Pending guest -> host connects are engine connections too; cancelled ones
 * still hold a socket and a connect thread until the connect returns, so
 * they count as well, or a guest that gives up on connects to an address
 * that never answers could start them without bound.
 */
static unsigned host_busy(VsockHost *h)
{
    return vsock_engine_conn_count(h->engine) +
           g_hash_table_size(h->orphans);
}

/* ---------------------------------------------------------------------- */
/* Guest -> host                                                          */
/* ---------------------------------------------------------------------- */

/* Where a guest connection to @port of @type goes; NULL: refuse. */
static SocketAddress *host_route_for(VsockHost *h, uint32_t port,
                                     VsockType type, const char **why)
{
    HostRoute *r = g_hash_table_lookup(h->routes, GUINT_TO_POINTER(port));
    SocketAddress *addr;

    *why = "no route";
    if (r) {
        if (r->type != type) {
            *why = "socket type of the forward differs";
            return NULL;
        }
        return QAPI_CLONE(SocketAddress, r->addr);
    }
    if (!h->uds_path) {
        return NULL;
    }
    addr = g_new0(SocketAddress, 1);
    addr->type = SOCKET_ADDRESS_TYPE_UNIX;
    addr->u.q_unix.path = g_strdup_printf("%s_%u", h->uds_path, port);
    return addr;
}

static char *host_addr_str(const SocketAddress *addr)
{
    switch (addr->type) {
    case SOCKET_ADDRESS_TYPE_UNIX:
        return g_strdup_printf("unix:%s", addr->u.q_unix.path);
    case SOCKET_ADDRESS_TYPE_INET:
        return g_strdup_printf("inet:%s:%s", addr->u.inet.host,
                               addr->u.inet.port);
    case SOCKET_ADDRESS_TYPE_FD:
        return g_strdup_printf("fd:%s", addr->u.fd.str);
    default:
        return g_strdup(SocketAddressType_str(addr->type));
    }
}

static void pending_free(PendingConnect *p)
{
    if (p->sioc) {
        object_unref(OBJECT(p->sioc));
    }
    g_free(p->name);
    g_free((char *)p->endpoint.id);
    g_free((char *)p->endpoint.address);
    g_free(p);
}

/* The connection went away before its host connect finished. */
static void pending_closed(VsockConn *conn, void *opaque,
                           VsockCloseReason reason)
{
    PendingConnect *p = opaque;

    trace_vsock_user_host_connect_cancelled(p->name,
                                            vsock_close_reason_str(reason));
    if (reason == VSOCK_CLOSE_TIMEOUT) {
        p->h->stats.connect_failed++;
    }
    /* the connect finishes on its own; host_connect_done() frees @p */
    p->conn = NULL;
    g_hash_table_add(p->h->orphans, p);
}

static void pending_describe(VsockConn *conn, void *opaque,
                             VsockEndpointInfo *info)
{
    PendingConnect *p = opaque;

    *info = p->endpoint;
}

/* While the accept is deferred the engine only calls closed() (and asks). */
static const VsockConnOps pending_ops = {
    .closed = pending_closed,
    .describe = pending_describe,
};

static void host_connect_done(QIOTask *task, gpointer opaque)
{
    PendingConnect *p = opaque;
    VsockConn *conn = p->conn;
    VsockHost *h = p->h;
    Error *err = NULL;
    VsockBridge *b;

    if (!conn) {
        /* cancelled: closing the socket is all that is left to do */
        trace_vsock_user_host_connect_dropped(p->name);
        if (h) {
            g_hash_table_remove(h->orphans, p);
        }
        pending_free(p);
        return;
    }
    p->conn = NULL;
    if (qio_task_propagate_error(task, &err)) {
        trace_vsock_user_host_connect_failed(p->name,
                                             error_get_pretty(err));
        error_free(err);
        h->stats.connect_failed++;
        vsock_conn_reset(conn);                 /* RST */
        pending_free(p);
        return;
    }
    trace_vsock_user_host_connect_done(p->name, p->sioc->fd);
    b = host_bridge_new(h, p->sioc, p->name);
    vsock_bridge_set_endpoint(b, p->endpoint.kind, p->endpoint.id,
                              p->endpoint.address);
    vsock_bridge_accept(b, conn);
    vsock_conn_accept(conn);                    /* RESPONSE */
    pending_free(p);
}

/*
 * A Unix connect() completes or fails at once, so the guest's REQUEST is
 * answered without a thread: RESPONSE or RST in the same pass.  Only a
 * full backlog (EAGAIN) waits, and only for a stream, in the thread of
 * qio_channel_socket_connect_async() as before (VSOCK_ACCEPT_DEFER, -1
 * here); a SEQPACKET connect is refused then.
 */
static int host_accept_unix(VsockHost *h, VsockConn *conn, PendingConnect *p,
                            SocketAddress *addr)
{
    bool seqpacket = vsock_conn_get_type(conn) == VIRTIO_VSOCK_TYPE_SEQPACKET;
    Error *err = NULL;
    VsockBridge *b;
    int fd;

    fd = vsock_unix_connect_now(addr->u.q_unix.path,
                                seqpacket ? SOCK_SEQPACKET : SOCK_STREAM,
                                &err);
    if (fd < 0 && errno == EAGAIN && !seqpacket) {
        error_free(err);
        return -1;
    }
    if (fd >= 0) {
        object_unref(OBJECT(p->sioc));
        p->sioc = qio_channel_socket_new_fd(fd, &err);
        if (!p->sioc) {
            close(fd);
        }
    }
    if (err) {
        trace_vsock_user_host_connect_failed(p->name, error_get_pretty(err));
        error_free(err);
        h->stats.connect_failed++;
        pending_free(p);    /* refused: the engine calls no ops of @conn */
        return VSOCK_ACCEPT_REFUSE;
    }
    trace_vsock_user_host_connect_done(p->name, p->sioc->fd);
    b = host_bridge_new(h, p->sioc, p->name);
    vsock_bridge_set_endpoint(b, p->endpoint.kind, p->endpoint.id,
                              p->endpoint.address);
    vsock_bridge_accept(b, conn);
    pending_free(p);
    return VSOCK_ACCEPT_NOW;
}

/* Abstract (Linux) Unix addresses take QEMU's own connect. */
static bool host_addr_abstract(const SocketAddress *addr)
{
#ifdef CONFIG_LINUX
    return addr->u.q_unix.has_abstract && addr->u.q_unix.abstract;
#else
    return false;
#endif
}

/* Fallback listener: a guest REQUEST to a port without a listener. */
static VsockAcceptResult host_accept(VsockListener *l, VsockConn *conn,
                                     void *opaque)
{
    VsockHost *h = opaque;
    uint32_t port = vsock_conn_get_local_port(conn);
    SocketAddress *addr;
    PendingConnect *p;
    HostRoute *route;
    g_autofree char *name = g_strdup_printf("%" PRIu64 ":%" PRIu32
                                            "<-%" PRIu32,
                                            vsock_conn_get_local_cid(conn),
                                            port,
                                            vsock_conn_get_peer_port(conn));

    const char *why;

    addr = host_route_for(h, port, vsock_conn_get_type(conn), &why);
    if (!addr) {
        trace_vsock_user_host_refused(name, why);
        return VSOCK_ACCEPT_REFUSE;
    }
    if (host_busy(h) > h->max_conns) {      /* @conn is counted already */
        h->stats.refused++;
        trace_vsock_user_host_refused(name, "connection limit");
        qapi_free_SocketAddress(addr);
        return VSOCK_ACCEPT_REFUSE;
    }
    p = g_new0(PendingConnect, 1);
    p->h = h;
    p->conn = conn;
    p->name = g_steal_pointer(&name);
    p->sioc = qio_channel_socket_new();
    route = g_hash_table_lookup(h->routes, GUINT_TO_POINTER(port));
    p->endpoint.kind = route ? "forward" : "hybrid";
    p->endpoint.id = g_strdup(route ? route->id : NULL);
    p->endpoint.address = host_addr_str(addr);
    vsock_conn_set_ops(conn, &pending_ops, p);
    if (trace_event_get_state_backends(TRACE_VSOCK_USER_HOST_CONNECT)) {
        g_autofree char *dst = host_addr_str(addr);

        trace_vsock_user_host_connect(p->name, dst);
    }
    if (addr->type == SOCKET_ADDRESS_TYPE_UNIX && !host_addr_abstract(addr)) {
        int ret = host_accept_unix(h, conn, p, addr);

        if (ret >= 0) {
            qapi_free_SocketAddress(addr);
            return ret;
        }
    }
    qio_channel_socket_connect_async(p->sioc, addr, host_connect_done, p,
                                     NULL, NULL);
    qapi_free_SocketAddress(addr);
    return VSOCK_ACCEPT_DEFER;
}

bool vsock_host_add_route(VsockHost *h, uint32_t guest_port,
                          SocketAddress *addr, VsockType type, void *owner,
                          const char *id)
{
    HostRoute *r;

    if (g_hash_table_contains(h->routes, GUINT_TO_POINTER(guest_port))) {
        return false;
    }
    r = g_new0(HostRoute, 1);
    r->addr = QAPI_CLONE(SocketAddress, addr);
    r->type = type;
    r->owner = owner;
    r->id = g_strdup(id);
    g_hash_table_insert(h->routes, GUINT_TO_POINTER(guest_port), r);
    return true;
}

void vsock_host_del_route(VsockHost *h, uint32_t guest_port, void *owner)
{
    HostRoute *r = g_hash_table_lookup(h->routes,
                                       GUINT_TO_POINTER(guest_port));

    if (r && r->owner == owner) {
        g_hash_table_remove(h->routes, GUINT_TO_POINTER(guest_port));
    }
}

static void host_route_free(gpointer data)
{
    HostRoute *r = data;

    qapi_free_SocketAddress(r->addr);
    g_free(r->id);
    g_free(r);
}

/* ---------------------------------------------------------------------- */
/* Host -> guest                                                          */
/* ---------------------------------------------------------------------- */

/*
 * Join the connected host socket @sioc (the caller keeps its reference) to
 * a new connection to @guest_port; @greet_port: tell the host client the
 * local port ("OK <port>") once the guest accepts, as hybrid clients expect.
 */
static void host_open_guest(VsockHost *h, QIOChannelSocket *sioc,
                            uint32_t guest_port, VsockType type,
                            const char *name, bool greet_port,
                            const char *kind, const char *id,
                            const char *address)
{
    VsockBridge *b;
    VsockConn *conn;

    if (host_busy(h) >= h->max_conns) {
        h->stats.refused++;
        trace_vsock_user_host_refused(name, "connection limit");
        qio_channel_close(QIO_CHANNEL(sioc), NULL);
        return;
    }
    if (g_hash_table_size(h->waiting) >= h->max_pending) {
        h->stats.pending_refused++;
        trace_vsock_user_host_pending_full(name, h->max_pending);
        qio_channel_close(QIO_CHANNEL(sioc), NULL);
        return;
    }
    b = host_bridge_new(h, sioc, name);
    vsock_bridge_set_endpoint(b, kind, id, address);
    vsock_bridge_set_greet_port(b, greet_port);
    vsock_bridge_set_established(b, host_bridge_established);
    conn = vsock_engine_connect(h->engine, h->local_cid, VSOCK_PORT_ANY,
                                guest_port, type, &vsock_bridge_ops, b);
    if (!conn) {
        h->stats.refused++;
        trace_vsock_user_host_refused(name, "engine refused");
        vsock_bridge_discard(b);
        return;
    }
    trace_vsock_user_host_connect_guest(name, guest_port,
                                        vsock_conn_get_local_port(conn));
    vsock_bridge_set_conn(b, conn);
    g_hash_table_add(h->waiting, b);
    h->stats.pending = g_hash_table_size(h->waiting);
    trace_vsock_user_host_pending(name, h->stats.pending);
}

void vsock_host_connect_guest(VsockHost *h, QIOChannelSocket *sioc,
                              uint32_t guest_port, VsockType type,
                              const char *name, const char *id,
                              const char *address)
{
    host_open_guest(h, sioc, guest_port, type, name, false, "forward", id,
                    address);
}

/*
 * Before the socket is closed: a handler left on a closed descriptor
 * would hit whatever file takes its number next.
 */
static void hybrid_client_close(HybridClient *c)
{
    qemu_set_fd_handler(c->fd, NULL, NULL, NULL);
    qio_channel_close(QIO_CHANNEL(c->sioc), NULL);
    c->closed = true;
}

static void hybrid_client_free(gpointer data)
{
    HybridClient *c = data;

    if (!c->closed) {
        /* the socket lives on in a bridge */
        qemu_set_fd_handler(c->fd, NULL, NULL, NULL);
    }
    timer_free(c->timer);
    object_unref(OBJECT(c->sioc));
    g_free(c->name);
    g_free(c);
}

static void hybrid_client_remove(HybridClient *c)
{
    VsockHost *h = c->h;

    g_hash_table_remove(h->clients, c);
    h->stats.handshakes = g_hash_table_size(h->clients);
}

static void hybrid_client_drop(HybridClient *c, const char *why)
{
    VsockHost *h = c->h;

    trace_vsock_user_hybrid_drop(c->name, why);
    h->stats.bad_connect++;
    hybrid_client_close(c);
    hybrid_client_remove(c);
}

static void hybrid_client_timeout(void *opaque)
{
    hybrid_client_drop(opaque, "timeout");
}

/* The client asked for @port: open the guest connection. */
static void hybrid_client_open(HybridClient *c, uint32_t port)
{
    VsockHost *h = c->h;
    g_autofree char *name = g_strdup(c->name);
    g_autofree char *address = NULL;
    QIOChannelSocket *sioc = c->sioc;
    bool seqpacket = c->seqpacket;

    trace_vsock_user_hybrid_connect(c->name, port);
    /* The client record goes; its socket and name live on in a bridge. */
    object_ref(OBJECT(sioc));
    hybrid_client_remove(c);
    address = g_strdup_printf("unix:%s", seqpacket ? h->uds_seq_path :
                              h->uds_path);
    host_open_guest(h, sioc, port,
                    seqpacket ? VIRTIO_VSOCK_TYPE_SEQPACKET :
                    VIRTIO_VSOCK_TYPE_STREAM,
                    name, true, "hybrid", NULL, address);
    object_unref(OBJECT(sioc));
}

/*
 * What a recv() of the client's CONNECT line returned: true if it got
 * bytes; otherwise nothing yet (EAGAIN) or the client is dropped.
 */
static bool hybrid_client_got(HybridClient *c, ssize_t n)
{
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        return false;
    }
    if (n <= 0) {
        hybrid_client_drop(c, n == 0 ? "EOF before CONNECT" : "recv error");
        return false;
    }
    return true;
}

/* The whole line is in c->line: parse it and open the connection. */
static void hybrid_client_line_done(HybridClient *c)
{
    uint32_t port;

    if (!vsock_parse_connect_line(c->line, c->len, &port)) {
        hybrid_client_drop(c, "bad CONNECT line");
        return;
    }
    hybrid_client_open(c, port);
}

/* SEQPACKET: the first message is the whole CONNECT line. */
static void hybrid_client_message(HybridClient *c)
{
    struct iovec iov = { .iov_base = c->line, .iov_len = sizeof(c->line) };
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
    ssize_t n;

    do {
        n = recvmsg(c->fd, &msg, MSG_DONTWAIT);
    } while (n < 0 && errno == EINTR);
    if (!hybrid_client_got(c, n)) {
        return;
    }
    if (msg.msg_flags & MSG_TRUNC) {
        hybrid_client_drop(c, "CONNECT line too long");
        return;
    }
    c->len = n;
    hybrid_client_line_done(c);
}

static void hybrid_client_readable(void *opaque)
{
    HybridClient *c = opaque;
    char peek[VSOCK_CONNECT_LINE_MAX];
    size_t room = sizeof(c->line) - c->len;
    char *nl;
    ssize_t n, take;

    if (c->seqpacket) {
        hybrid_client_message(c);
        return;
    }
    do {
        n = recv(c->fd, peek, room, MSG_PEEK | MSG_DONTWAIT);
    } while (n < 0 && errno == EINTR);
    if (!hybrid_client_got(c, n)) {
        return;
    }
    /* consume the line and nothing after it */
    nl = memchr(peek, '\n', n);
    take = nl ? nl - peek + 1 : n;
    do {
        n = recv(c->fd, c->line + c->len, take, MSG_DONTWAIT);
    } while (n < 0 && errno == EINTR);
    if (n != take) {
        hybrid_client_drop(c, "recv error");
        return;
    }
    c->len += n;
    if (!nl) {
        if (c->len == sizeof(c->line)) {
            hybrid_client_drop(c, "CONNECT line too long");
        }
        return;
    }
    hybrid_client_line_done(c);
}

static void hybrid_accept(QIONetListener *listener, QIOChannelSocket *sioc,
                          gpointer opaque)
{
    VsockHost *h = opaque;
    HybridClient *c;
    bool seqpacket = listener == h->uds_seq;

    ++h->serial;
    if (g_hash_table_size(h->clients) >= h->max_handshakes) {
        /* the listener closes its reference to @sioc after we return */
        h->stats.handshake_refused++;
        trace_vsock_user_hybrid_full(h->serial, sioc->fd, h->max_handshakes);
        qio_channel_close(QIO_CHANNEL(sioc), NULL);
        return;
    }
    c = g_new0(HybridClient, 1);
    c->h = h;
    c->sioc = sioc;
    object_ref(OBJECT(sioc));
    c->fd = sioc->fd;
    c->seqpacket = seqpacket;
    c->name = g_strdup_printf("%s#%" PRIu64, seqpacket ? "uds-seq" : "uds",
                              h->serial);
    qio_channel_set_blocking(QIO_CHANNEL(sioc), false, NULL);
    c->timer = timer_new_ms(QEMU_CLOCK_REALTIME, hybrid_client_timeout, c);
    timer_mod(c->timer, qemu_clock_get_ms(QEMU_CLOCK_REALTIME) +
              h->timeout_ms);
    g_hash_table_add(h->clients, c);
    h->stats.handshakes = g_hash_table_size(h->clients);
    qemu_set_fd_handler(c->fd, hybrid_client_readable, NULL, c);
    trace_vsock_user_hybrid_accept(c->name, c->fd);
}

static void host_exit_notify(Notifier *n, void *data)
{
    VsockHost *h = container_of(n, VsockHost, exit);

    /* QEMU does not unrealize devices at exit: remove the sockets here */
    unlink(h->uds_path);
    if (h->uds_seq_path) {
        unlink(h->uds_seq_path);
    }
}

bool vsock_host_set_uds(VsockHost *h, const char *path, int64_t timeout_ms,
                        uint32_t max_handshakes, bool seqpacket,
                        Error **errp)
{
    SocketAddress addr = {
        .type = SOCKET_ADDRESS_TYPE_UNIX,
        .u.q_unix.path = (char *)path,
    };
    QIONetListener *l = qio_net_listener_new();

    qio_net_listener_set_name(l, "vsock-user-uds");
    if (qio_net_listener_open_sync(l, &addr, SOMAXCONN, errp) < 0) {
        object_unref(OBJECT(l));
        return false;
    }
    qio_net_listener_set_client_func(l, hybrid_accept, h, NULL);
    if (seqpacket) {
        g_autofree char *seq_path = g_strdup_printf("%s.seqpacket", path);

        h->uds_seq = vsock_unix_seqpacket_listen(seq_path, "vsock-user-uds-seq",
                                                 errp);
        if (!h->uds_seq) {
            error_prepend(errp, "uds-path SOCK_SEQPACKET socket: ");
            qio_net_listener_disconnect(l);
            object_unref(OBJECT(l));
            unlink(path);
            return false;
        }
        qio_net_listener_set_client_func(h->uds_seq, hybrid_accept, h, NULL);
        h->uds_seq_path = g_steal_pointer(&seq_path);
        trace_vsock_user_hybrid_listen(h->uds_seq_path);
    }
    h->uds = l;
    h->uds_path = g_strdup(path);
    h->timeout_ms = timeout_ms;
    h->max_handshakes = max_handshakes;
    h->exit.notify = host_exit_notify;
    qemu_add_exit_notifier(&h->exit);
    trace_vsock_user_hybrid_listen(path);
    return true;
}

/* ---------------------------------------------------------------------- */

VsockHost *vsock_host_new(VsockEngine *e, uint64_t local_cid,
                          uint32_t max_conns, uint32_t max_pending)
{
    VsockHost *h = g_new0(VsockHost, 1);
    VsockListener *fallback;

    h->engine = e;
    h->local_cid = local_cid;
    h->max_conns = max_conns;
    h->max_pending = max_pending;
    h->routes = g_hash_table_new_full(NULL, NULL, NULL, host_route_free);
    h->bridges = g_hash_table_new(NULL, NULL);
    h->clients = g_hash_table_new_full(NULL, NULL, hybrid_client_free,
                                       NULL);
    h->orphans = g_hash_table_new(NULL, NULL);
    h->waiting = g_hash_table_new(NULL, NULL);
    /* the engine owns the listener: vsock_engine_free() drops it */
    fallback = vsock_engine_listen(
        e, local_cid, VSOCK_PORT_ANY,
        VIRTIO_VSOCK_TYPE_STREAM | VIRTIO_VSOCK_TYPE_SEQPACKET, host_accept, h);
    assert(fallback);
    return h;
}

void vsock_host_free(VsockHost *h)
{
    GHashTableIter it;
    gpointer key;

    if (!h) {
        return;
    }
    /* bridges left over were never attached; the engine dropped the rest */
    g_hash_table_iter_init(&it, h->bridges);
    while (g_hash_table_iter_next(&it, &key, NULL)) {
        g_hash_table_iter_steal(&it);
        vsock_bridge_discard(key);
    }
    g_hash_table_destroy(h->bridges);
    g_hash_table_destroy(h->waiting);
    g_hash_table_iter_init(&it, h->clients);
    while (g_hash_table_iter_next(&it, &key, NULL)) {
        hybrid_client_close(key);
    }
    g_hash_table_destroy(h->clients);
    /* connects still running free themselves; they must not see @h */
    g_hash_table_iter_init(&it, h->orphans);
    while (g_hash_table_iter_next(&it, &key, NULL)) {
        ((PendingConnect *)key)->h = NULL;
    }
    g_hash_table_destroy(h->orphans);
    if (h->uds) {
        qemu_remove_exit_notifier(&h->exit);
        qio_net_listener_disconnect(h->uds);
        object_unref(OBJECT(h->uds));
    }
    if (h->uds_seq) {
        qio_net_listener_disconnect(h->uds_seq);
        object_unref(OBJECT(h->uds_seq));
        unlink(h->uds_seq_path);
        g_free(h->uds_seq_path);
    }
    g_hash_table_destroy(h->routes);
    vsock_bridge_pool_free(&h->pool);
    g_free(h->uds_path);
    g_free(h);
}

const VsockHostStats *vsock_host_get_stats(const VsockHost *h)
{
    return &h->stats;
}
