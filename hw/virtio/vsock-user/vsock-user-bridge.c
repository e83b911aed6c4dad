/*
 * virtio-vsock-user: bridge between an engine connection and a host socket
 *
 * Stream semantics, direction by direction:
 * - host -> guest: the engine calls read() only while the guest has credit
 *   and an rx buffer; read() receives straight into the guest's buffer,
 *   and behind it up to 64 KiB more (within the guest's credit) that the
 *   next reads hand out without a system call.
 *   When the socket has nothing (EAGAIN, or a short read, which empties a
 *   stream socket and tells the engine to stop asking) the bridge watches
 *   it for input (a QEMU fd handler) and tells the engine with
 *   vsock_conn_notify_readable(), which wakes the device: its bottom half
 *   runs once the main loop has run the handlers of every socket that was
 *   ready.  The watch stays armed while the engine keeps reading (no
 *   handler change per message); it is dropped only when the socket
 *   stays readable for two events and the engine did not read since it
 *   was told (a guest without credit or without rx buffers), so such a
 *   guest costs nothing.
 *   Host EOF becomes SHUTDOWN(SEND).
 * - guest -> host: write() sends what the socket takes and returns that
 *   count; the engine holds the rest (bounded by its buf_alloc, which stops
 *   the guest's credit).  Only then the bridge watches for writability,
 *   and calls vsock_conn_notify_writable() once.  The guest's SHUTDOWN(SEND)
 *   arrives after its data was taken and becomes shutdown(SHUT_WR).
 * - both directions shut: the connection closes; guest RST or a reset ->
 *   the host socket is closed abortively (SO_LINGER 0); host socket errors
 *   -> RST to the guest.
 *
 * SEQPACKET (a Unix SOCK_SEQPACKET host socket): one message is one
 * sendmsg()/recvmsg() on the host side.  The engine hands write() whole
 * guest messages, sent whole or not at all (EAGAIN: the engine keeps the
 * message).  read() receives a host message into the guest's buffer with
 * a spare buffer behind it, so one recvmsg() takes a message larger than
 * that buffer too; the rest is kept and handed out by the next reads,
 * EOM with the last piece.  A message the guest could never take (beyond
 * its buf_alloc or the spare buffer) or one the host socket refuses as too
 * big resets the connection: it is never cut silently.  recvmsg() 0 is
 * EOF, as for any AF_UNIX SOCK_SEQPACKET reader (an empty host message
 * cannot be told apart).
 *
 * Copyright (c) 2026 The virtio-vsock-user authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/iov.h"
#include "qemu/main-loop.h"
#include "qemu/sockets.h"
#include "vsock-user-bridge.h"
#include "vsock-user-unix.h"
#include "trace.h"

/*
 * Behind the guest's buffer for a host message larger than it: shared by
 * the bridges of a device (the main loop runs one read at a time), 1 MiB,
 * more than a Linux guest's largest default buf_alloc (256 KiB).
 */
#define BRIDGE_SPARE_SIZE (1024 * 1024)

/*
 * Stream: how much one recvmsg() may take beyond the guest's rx buffer,
 * kept for the connection's next buffers.  Each buffer holds 3.7 KiB of a
 * Linux guest's data, and a system call per buffer was two thirds of the
 * main loop's time while it filled the rx queue (with the BQL held, so
 * the guest could not start on them).  At most this much per connection
 * is held, and only until the guest's next rx buffers take it.
 */
#define BRIDGE_READ_AHEAD (64 * 1024)

/* What a host Unix socket accepts as one message: ask for plenty. */
#define BRIDGE_SEQPACKET_SNDBUF (4 * 1024 * 1024)

struct VsockBridge {
    /* pointers and sizes first, flags last: no padding between them */
    VsockBridgePool *pool;      /* the device's scratch buffers */
    QIOChannelSocket *sioc;     /* NULL: the bridge owns fd itself */
    uint8_t *msg;               /* host bytes kept: a message's rest, */
                                /* or what a stream read ahead */
    VsockConn *conn;            /* NULL before attach and after close */
    char *name;
    VsockEndpointInfo endpoint; /* for introspection; id and address are */
                                /* interned: one copy per endpoint */
    VsockBridgeGoneFn gone;
    VsockBridgeEstablishedFn established;
    void *opaque;
    size_t msg_len;
    size_t msg_off;
    int fd;
    uint32_t msg_flags;         /* its VIRTIO_VSOCK_SEQ_EOR */
    unsigned unread_events;     /* readable events since, without a read */
    unsigned depth;             /* nesting of entry points */

    bool seqpacket;             /* message mode: SOCK_SEQPACKET */
    bool greet;                 /* write "OK <port>\n" once established */
    bool greeting;              /* ... and it is not all out yet */
    uint8_t greet_off;          /* bytes of it written */
    bool watch_in;              /* what the fd handler should watch for */
    bool watch_out;
    bool fd_in;                 /* ... and watches for now */
    bool fd_out;
    bool notified;              /* the engine was told the socket is ready */
    bool read_since;            /* ... and read from it since */
    bool host_eof;              /* host sent EOF: SHUTDOWN(SEND) to guest */
    bool guest_eof;             /* guest shut SEND: SHUT_WR owed */
    bool shut_wr_done;
    bool dead;                  /* socket closed; free at depth 0 */
};

static void bridge_in_ready(void *opaque);
static void bridge_out_ready(void *opaque);

static void bridge_error(VsockBridge *b, const char *op, int err);

/* QEMU's event loop watches the socket for what the bridge needs now. */
static void bridge_update_fd(VsockBridge *b)
{
    if (b->dead ||
        (b->fd_in == b->watch_in && b->fd_out == b->watch_out)) {
        return;
    }
    b->fd_in = b->watch_in;
    b->fd_out = b->watch_out;
    qemu_set_fd_handler(b->fd, b->fd_in ? bridge_in_ready : NULL,
                        b->fd_out ? bridge_out_ready : NULL, b);
}

/*
 * An endpoint's id and address are the same for each of its connections,
 * thousands of them when idle: share one reference-counted copy.
 */
static const char *bridge_intern(const char *s)
{
    return s ? g_ref_string_new_intern(s) : NULL;
}

static void bridge_unintern(const char *s)
{
    if (s) {
        g_ref_string_release((char *)s);
    }
}

static void bridge_enter(VsockBridge *b)
{
    b->depth++;
}

static void bridge_leave(VsockBridge *b)
{
    if (--b->depth == 0 && b->dead) {
        g_free(b->msg);
        g_free(b->name);
        bridge_unintern(b->endpoint.id);
        bridge_unintern(b->endpoint.address);
        g_free(b);
    }
}

/* Close the host socket; @abort: RST it (SO_LINGER 0) where possible. */
static void bridge_finish(VsockBridge *b, bool abort, const char *why)
{
    if (b->dead) {
        return;
    }
    trace_vsock_user_bridge_close(b->name, why, abort);
    if (b->fd_in || b->fd_out) {
        qemu_set_fd_handler(b->fd, NULL, NULL, NULL);
    }
    b->dead = true;
    b->conn = NULL;
    b->watch_in = b->watch_out = b->fd_in = b->fd_out = false;
    if (abort) {
        struct linger l = { .l_onoff = 1, .l_linger = 0 };

        /* Unix sockets ignore it; TCP peers see ECONNRESET */
        setsockopt(b->fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
    }
    if (b->sioc) {
        qio_channel_close(QIO_CHANNEL(b->sioc), NULL);
        object_unref(OBJECT(b->sioc));
        b->sioc = NULL;
    } else {
        close(b->fd);
    }
    if (b->gone) {
        b->gone(b->opaque, b);
    }
}

/* A host socket error: RST to the guest and close. */
static void bridge_error(VsockBridge *b, const char *op, int err)
{
    VsockConn *conn = b->conn;

    trace_vsock_user_bridge_error(b->name, op, strerror(err));
    bridge_finish(b, true, "host socket error");
    if (conn) {
        vsock_conn_reset(conn);
    }
}

/* Both directions are done: close the connection cleanly. */
static void bridge_check_done(VsockBridge *b)
{
    VsockConn *conn = b->conn;

    if (!b->dead && b->host_eof && b->shut_wr_done) {
        bridge_finish(b, false, "both directions shut");
        if (conn) {
            vsock_conn_close(conn);
        }
    }
}

/*
 * Returns false if the greeting is not out yet (or the socket failed).
 * Its text is made again from the port at each try rather than kept: a
 * few bytes less for each of thousands of idle connections.
 */
static bool bridge_flush_greeting(VsockBridge *b)
{
    char text[sizeof("OK 4294967295\n")];
    int len;

    if (!b->greeting) {
        return true;
    }
    if (!b->conn) {
        return false;
    }
    len = snprintf(text, sizeof(text), "OK %" PRIu32 "\n",
                   vsock_conn_get_local_port(b->conn));
    while (b->greet_off < len) {
        ssize_t n = send(b->fd, text + b->greet_off, len - b->greet_off,
                         MSG_NOSIGNAL | MSG_DONTWAIT);

        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                b->watch_out = true;
                bridge_update_fd(b);
            } else {
                bridge_error(b, "send", errno);
            }
            return false;
        }
        b->greet_off += n;
    }
    b->greeting = false;
    return true;
}

/* The guest's SHUTDOWN(SEND), once everything before it is written. */
static void bridge_shut_wr(VsockBridge *b)
{
    if (b->dead || !b->guest_eof || b->shut_wr_done ||
        !bridge_flush_greeting(b)) {
        return;
    }
    b->shut_wr_done = true;
    trace_vsock_user_bridge_shut_wr(b->name);
    if (shutdown(b->fd, SHUT_WR) < 0 && errno != ENOTCONN) {
        bridge_error(b, "shutdown", errno);
        return;
    }
    bridge_check_done(b);
}

static void bridge_attach(VsockBridge *b, VsockConn *conn)
{
    int size = BRIDGE_SEQPACKET_SNDBUF;

    b->conn = conn;
    if (!b->seqpacket &&
        vsock_conn_get_type(conn) == VIRTIO_VSOCK_TYPE_SEQPACKET) {
        b->seqpacket = true;
        /* a message must fit the send buffer whole; Linux caps the ask */
        setsockopt(b->fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
    }
}

static void bridge_start(VsockBridge *b)
{
    if (b->greet) {
        b->greeting = true;
        if (!bridge_flush_greeting(b)) {
            return;
        }
    }
    vsock_conn_notify_readable(b->conn);
}

static void bridge_in_ready(void *opaque)
{
    VsockBridge *b = opaque;

    bridge_enter(b);
    trace_vsock_user_bridge_readable(b->name);
    if (b->notified && !b->read_since) {
        /*
         * Told, and not read since.  The device reads in a bottom half
         * that may run only after the main loop polled once more, so one
         * such event is expected; a second means the engine cannot take
         * data now (it reads when it can), and the watch goes.  Dropping
         * it at the first would add and remove the handler every round.
         */
        if (++b->unread_events > 1) {
            b->watch_in = false;
            bridge_update_fd(b);
        }
    } else if (b->conn) {
        b->notified = true;
        b->read_since = false;
        b->unread_events = 0;
        vsock_conn_notify_readable(b->conn);
    }
    bridge_leave(b);
}

static void bridge_out_ready(void *opaque)
{
    VsockBridge *b = opaque;

    bridge_enter(b);
    b->watch_out = false;
    bridge_update_fd(b);
    trace_vsock_user_bridge_writable(b->name);
    if (bridge_flush_greeting(b)) {
        bridge_shut_wr(b);
        if (!b->dead && b->conn) {
            vsock_conn_notify_writable(b->conn);
        }
    }
    bridge_leave(b);
}

/* Engine callbacks */

static void bridge_connected(VsockConn *conn, void *opaque)
{
    VsockBridge *b = opaque;

    bridge_enter(b);
    trace_vsock_user_bridge_connected(b->name,
                                      vsock_conn_get_local_port(conn),
                                      vsock_conn_get_peer_port(conn));
    bridge_attach(b, conn);
    if (b->established) {
        b->established(b->opaque, b);
    }
    bridge_start(b);
    bridge_leave(b);
}

static size_t bridge_write(VsockConn *conn, void *opaque,
                           const struct iovec *iov, unsigned iov_cnt,
                           uint32_t flags)
{
    VsockBridge *b = opaque;
    struct msghdr msg = {
        .msg_iov = (struct iovec *)iov,
        .msg_iovlen = iov_cnt,
    };
    size_t size = iov_size(iov, iov_cnt);
    ssize_t n;

    if (b->dead) {
        return size;
    }
    bridge_enter(b);
    if (!bridge_flush_greeting(b)) {
        n = 0;
        goto out;
    }
    do {
        n = sendmsg(b->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            n = 0;
        } else {
            /* EMSGSIZE: a message larger than the host socket takes */
            bridge_error(b, "sendmsg", errno);
            n = 0;
            goto out;
        }
    } else if (b->seqpacket && (size_t)n != size) {
        bridge_error(b, "sendmsg", EMSGSIZE); /* never cut a message */
        n = 0;
        goto out;
    }
    trace_vsock_user_bridge_write(b->name, size, n);
    if ((size_t)n < size) {
        /* the engine keeps the rest; tell it when there is room */
        b->watch_out = true;
        bridge_update_fd(b);
    }
out:
    bridge_leave(b);
    return n;
}

/*
 * Copy out the next of the host's bytes the bridge kept (the rest of a
 * message, or what a stream read ahead); msg_len is 0 once all are out.
 */
static size_t bridge_hand_out(VsockBridge *b, const struct iovec *iov,
                              unsigned iov_cnt)
{
    size_t n = iov_from_buf(iov, iov_cnt, 0, b->msg + b->msg_off,
                            b->msg_len - b->msg_off);

    b->msg_off += n;
    if (b->msg_off == b->msg_len) {
        b->msg_len = 0;
    }
    return n;
}

/*
 * SEQPACKET: the next piece of the current host message; else what
 * recvmsg() returned, errno set for a message too big to carry.
 */
static ssize_t bridge_read_msg(VsockBridge *b, VsockConn *conn,
                               const struct iovec *iov, unsigned iov_cnt,
                               uint32_t *flags)
{
    size_t room = iov_size(iov, iov_cnt);
    struct iovec local[9];
    struct iovec *v = local;
    struct msghdr msg = { 0 };
    uint32_t peer_buf;
    ssize_t n;

    if (b->msg) {
        n = bridge_hand_out(b, iov, iov_cnt);
        if (!b->msg_len) {
            *flags = VIRTIO_VSOCK_SEQ_EOM | b->msg_flags;
            g_free(b->msg);
            b->msg = NULL;
        }
        return n;
    }
    if (!b->pool->spare) {
        b->pool->spare = g_malloc(BRIDGE_SPARE_SIZE);
    }
    if (iov_cnt + 1 > G_N_ELEMENTS(local)) {
        v = g_new(struct iovec, iov_cnt + 1);
    }
    memcpy(v, iov, iov_cnt * sizeof(*iov));
    v[iov_cnt].iov_base = b->pool->spare;
    v[iov_cnt].iov_len = BRIDGE_SPARE_SIZE;
    msg.msg_iov = v;
    msg.msg_iovlen = iov_cnt + 1;
    do {
        n = recvmsg(b->fd, &msg, MSG_DONTWAIT);
    } while (n < 0 && errno == EINTR);
    if (v != local) {
        g_free(v);
    }
    if (n <= 0) {
        return n; /* the caller handles EAGAIN, errors and EOF */
    }
    peer_buf = vsock_conn_get_peer_buf_alloc(conn);
    if ((msg.msg_flags & MSG_TRUNC) || (size_t)n > peer_buf) {
        trace_vsock_user_bridge_msg_too_big(b->name, n, peer_buf);
        errno = EMSGSIZE;
        return -1;
    }
    trace_vsock_user_bridge_read(b->name, room, n);
    b->msg_flags = msg.msg_flags & MSG_EOR ? VIRTIO_VSOCK_SEQ_EOR : 0;
    if ((size_t)n <= room) {
        *flags = VIRTIO_VSOCK_SEQ_EOM | b->msg_flags;
        return n;
    }
    b->msg_len = n - room;
    b->msg_off = 0;
    b->msg = g_memdup2(b->pool->spare, b->msg_len);
    return room;
}

/* Stream read-ahead buffers: reuse the idle one rather than allocate. */
static uint8_t *bridge_ahead_get(VsockBridge *b)
{
    uint8_t *buf = b->pool->ahead_idle;

    b->pool->ahead_idle = NULL;
    return buf ? buf : g_malloc(BRIDGE_READ_AHEAD);
}

static void bridge_ahead_put(VsockBridge *b, uint8_t *buf)
{
    if (b->pool->ahead_idle) {
        g_free(buf);
    } else {
        b->pool->ahead_idle = buf;
    }
}

/*
 * Stream: hand out what the last recvmsg() read ahead into @room bytes.
 * A short copy (the rest is gone) tells the engine to wait for the
 * socket, which is watched from then on.
 */
static size_t bridge_read_ahead_out(VsockBridge *b, const struct iovec *iov,
                                    unsigned iov_cnt, size_t room)
{
    size_t n = bridge_hand_out(b, iov, iov_cnt);

    if (!b->msg_len) {
        bridge_ahead_put(b, b->msg);
        b->msg = NULL;
        if (n < room) {
            b->watch_in = true;
            bridge_update_fd(b);
        }
    }
    return n;
}

/*
 * Stream: receive into the guest's @room bytes, and behind them into a
 * read-ahead buffer up to what the guest's credit allows beyond them, at
 * most BRIDGE_READ_AHEAD: one system call then serves the next rx buffers
 * of this connection too.  Returns what recvmsg() returned (the part behind
 * the guest's buffer is kept), with *@empty set if the socket is empty.
 */
static ssize_t bridge_recv_stream(VsockBridge *b, VsockConn *conn,
                                  const struct iovec *iov, unsigned iov_cnt,
                                  size_t room, bool *empty)
{
    uint32_t credit = vsock_conn_get_peer_credit(conn);
    size_t ahead = credit > room ? MIN(credit - room, BRIDGE_READ_AHEAD) : 0;
    struct iovec local[9];
    struct iovec *v = (struct iovec *)iov;
    struct msghdr msg = { 0 };
    uint8_t *buf = NULL;
    ssize_t n;

    if (ahead < room || iov_cnt + 1 > G_N_ELEMENTS(local)) {
        ahead = 0;              /* not worth a copy */
    } else {
        buf = bridge_ahead_get(b);
        v = local;
        memcpy(v, iov, iov_cnt * sizeof(*iov));
        v[iov_cnt].iov_base = buf;
        v[iov_cnt].iov_len = ahead;
    }
    msg.msg_iov = v;
    msg.msg_iovlen = iov_cnt + (ahead != 0);
    do {
        n = recvmsg(b->fd, &msg, MSG_DONTWAIT);
    } while (n < 0 && errno == EINTR);
    /* a stream socket returns all it holds when it holds less */
    *empty = n > 0 && (size_t)n < room + ahead;
    if (n > 0 && (size_t)n > room) {
        b->msg = buf;
        b->msg_len = n - room;
        b->msg_off = 0;
    } else if (buf) {
        bridge_ahead_put(b, buf);
    }
    return n;
}

static size_t bridge_read(VsockConn *conn, void *opaque,
                          const struct iovec *iov, unsigned iov_cnt,
                          uint32_t *flags)
{
    VsockBridge *b = opaque;
    size_t want = iov_size(iov, iov_cnt);
    bool empty = false;
    ssize_t n;

    if (b->dead || b->host_eof) {
        return 0;
    }
    bridge_enter(b);
    b->read_since = true;
    if (b->seqpacket) {
        n = bridge_read_msg(b, conn, iov, iov_cnt, flags);
        if (n > 0) {
            goto out;
        }
    } else if (b->msg) {
        n = bridge_read_ahead_out(b, iov, iov_cnt, want);
        goto out;
    } else {
        n = bridge_recv_stream(b, conn, iov, iov_cnt, want, &empty);
    }
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            /* nothing now: wait for the socket, then notify the engine */
            b->watch_in = true;
            bridge_update_fd(b);
        } else {
            bridge_error(b, "recvmsg", errno);
        }
        n = 0;
    } else if (n == 0) {
        trace_vsock_user_bridge_host_eof(b->name);
        b->host_eof = true;
        vsock_conn_shutdown(conn, VIRTIO_VSOCK_SHUTDOWN_SEND);
        bridge_check_done(b);
    } else {
        trace_vsock_user_bridge_read(b->name, want, n);
        if (empty) {
            /*
             * A stream socket returns all it holds: it is empty now (a
             * short read tells the engine so, or the end of what was read
             * ahead will).  Watch it.
             */
            b->watch_in = true;
            bridge_update_fd(b);
        }
        n = MIN((size_t)n, want);
    }
out:
    bridge_leave(b);
    return n;
}

static void bridge_shutdown(VsockConn *conn, void *opaque, uint32_t flags)
{
    VsockBridge *b = opaque;

    bridge_enter(b);
    trace_vsock_user_bridge_guest_shutdown(b->name, flags);
    if (flags & VIRTIO_VSOCK_SHUTDOWN_RCV) {
        /* the guest reads no more: stop reading the host for it */
        b->watch_in = false;
        bridge_update_fd(b);
    }
    if ((flags & VIRTIO_VSOCK_SHUTDOWN_SEND) && !b->guest_eof) {
        b->guest_eof = true;
        bridge_shut_wr(b);
    }
    bridge_leave(b);
}

static void bridge_closed(VsockConn *conn, void *opaque,
                          VsockCloseReason reason)
{
    VsockBridge *b = opaque;

    bridge_enter(b);
    b->conn = NULL;
    /* a clean close only when the guest shut down both ways */
    bridge_finish(b, reason != VSOCK_CLOSE_PEER_SHUTDOWN &&
                     reason != VSOCK_CLOSE_REFUSED &&
                     reason != VSOCK_CLOSE_TIMEOUT,
                  vsock_close_reason_str(reason));
    bridge_leave(b);
}

static void bridge_describe(VsockConn *conn, void *opaque,
                            VsockEndpointInfo *info)
{
    VsockBridge *b = opaque;

    *info = b->endpoint;
}

const VsockConnOps vsock_bridge_ops = {
    .connected = bridge_connected,
    .write = bridge_write,
    .read = bridge_read,
    .shutdown = bridge_shutdown,
    .closed = bridge_closed,
    .describe = bridge_describe,
};

VsockBridge *vsock_bridge_new(VsockBridgePool *pool, QIOChannelSocket *sioc,
                              const char *name, VsockBridgeGoneFn gone,
                              void *opaque)
{
    VsockBridge *b = g_new0(VsockBridge, 1);

    b->pool = pool;
    /*
     * The bridge only needs the descriptor: a copy of it lets the caller
     * drop the channel object, about half a kilobyte per connection
     * (two socket addresses, the QOM object and its property table), which
     * adds up with thousands of idle connections.  Without a descriptor
     * to spare, keep the channel.
     */
    b->fd = qemu_dup(sioc->fd);
    if (b->fd < 0) {
        object_ref(OBJECT(sioc));
        b->sioc = sioc;
        b->fd = sioc->fd;
    }
    b->name = g_strdup(name);
    b->gone = gone;
    b->opaque = opaque;
    /* non-blocking is a property of the socket, shared by both copies */
    qemu_set_blocking(b->fd, false, NULL);
    trace_vsock_user_bridge_new(b->name, b->fd);
    return b;
}

void vsock_bridge_set_conn(VsockBridge *b, VsockConn *conn)
{
    bridge_attach(b, conn);
}

void vsock_bridge_set_established(VsockBridge *b,
                                  VsockBridgeEstablishedFn fn)
{
    b->established = fn;
}

void vsock_bridge_set_endpoint(VsockBridge *b, const char *kind,
                               const char *id, const char *address)
{
    b->endpoint.kind = kind;
    bridge_unintern(b->endpoint.id);
    bridge_unintern(b->endpoint.address);
    b->endpoint.id = bridge_intern(id);
    b->endpoint.address = bridge_intern(address);
}

void vsock_bridge_set_greet_port(VsockBridge *b, bool greet)
{
    b->greet = greet;
}

void vsock_bridge_accept(VsockBridge *b, VsockConn *conn)
{
    bridge_enter(b);
    bridge_attach(b, conn);
    vsock_conn_set_ops(conn, &vsock_bridge_ops, b);
    trace_vsock_user_bridge_connected(b->name,
                                      vsock_conn_get_local_port(conn),
                                      vsock_conn_get_peer_port(conn));
    bridge_start(b);
    bridge_leave(b);
}

void vsock_bridge_discard(VsockBridge *b)
{
    bridge_enter(b);
    bridge_finish(b, false, "discarded");
    bridge_leave(b);
}

void vsock_bridge_pool_free(VsockBridgePool *pool)
{
    g_free(pool->spare);
    g_free(pool->ahead_idle);
    pool->spare = pool->ahead_idle = NULL;
}
