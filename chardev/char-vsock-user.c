/*
 * vsock-user chardev: any chardev frontend on one vsock port of a
 * virtio-vsock-user device
 *
 *   -chardev vsock-user,id=ID,port=P[,vsock=DEVID][,server=on|off]
 *            [,cid=N][,reconnect-ms=MS]
 *
 * server=on (the default) listens on port P of the device's parent CID;
 * server=off connects to the guest's port P when the machine starts, at
 * once after every reset of the device, and reconnect-ms of guest time
 * after a refusal, a timeout or a close (docs/system/devices/virtio/
 * vsock-user-chardev.rst).
 *
 * One connection at a time, as a socket chardev has: a guest connect
 * while one is open, or while no frontend is open, is refused with RST.
 * The frontend is called only from the chardev's own bottom half and
 * GSource, never from inside the engine, so whatever it does (a monitor
 * command included) cannot pull the engine out from under its caller.
 *
 * Flow control, without loss and without unbounded growth:
 * - guest -> frontend: write() takes only what qemu_chr_be_can_write()
 *   allows; the rest stays in the engine, whose credit stops the guest,
 *   until the frontend can read again (chr_accept_input, or a GSource
 *   that looks at can_write on every main-loop turn, as char-io does).
 * - frontend -> guest: a buffer of VSOCK_USER_CHR_OUT_MAX bytes, drained
 *   by the engine's read() under the guest's credit.  When it is full a
 *   write gets EAGAIN and chr_add_watch(G_IO_OUT) tells the frontend
 *   when there is room again; a writer that retries at once instead
 *   (qemu_chr_fe_write_all()) has the rest dropped, rather than holding
 *   the main loop that the guest needs to make room.
 *
 * Copyright (c) 2026 The virtio-vsock-user authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/cutils.h"
#include "qemu/fifo8.h"
#include "qemu/iov.h"
#include "qemu/main-loop.h"
#include "qemu/module.h"
#include "qemu/option.h"
#include "qemu/queue.h"
#include "qemu/timer.h"
#include "chardev/char-fe.h"
#include "chardev/char-vsock-user.h"
#include "hw/qdev-core.h"
#include "hw/virtio/vsock-user/vsock-user-endpoint.h"
#include "trace.h"

/* Guest bytes handed to the frontend per bottom-half run */
#define CHR_IN_MAX      4096
#define CHR_PUMP_BUDGET (16 * 1024)

typedef struct VsockUserChardev VsockUserChardev;

/* A chr_add_watch() source: ready when a write would not wait. */
typedef struct VsockUserWatch {
    GSource source;
    VsockUserChardev *s;        /* NULL once the chardev is gone */
    GIOCondition cond;
    QLIST_ENTRY(VsockUserWatch) next;
} VsockUserWatch;

/* The GSource that notices a frontend able to read again. */
typedef struct VsockUserPoll {
    GSource source;
    VsockUserChardev *s;
} VsockUserPoll;

struct VsockUserChardev {
    Chardev parent_obj;

    /* options */
    uint32_t port;
    char *vsock;
    bool server;
    bool has_cid;
    uint64_t cid;
    int64_t reconnect_ms;

    bool started;               /* the runtime state below exists */
    VirtIOVsockUserAttach attach;
    Notifier detach;
    VirtIOVsockUser *dev;       /* NULL until attached, and once it goes */
    VsockEngine *engine;
    VsockListener *listener;
    QEMUTimer *reconnect;

    VsockConn *conn;            /* the connection, or NULL */
    bool connected;             /* established: data flows */
    bool closing;               /* the frontend disconnected */
    bool guest_rcv_shut;        /* the guest reads no more */
    bool fe_open;

    /* what the frontend is owed, handed over by chr_pump() */
    QEMUBH *bh;
    VsockUserPoll *poll;
    bool open_owed;
    bool close_owed;
    bool opened;                /* OPENED delivered, CLOSED not yet */

    /* guest -> frontend */
    uint8_t in_buf[CHR_IN_MAX];
    uint32_t in_len, in_off;
    bool in_blocked;            /* the engine holds guest bytes for us */

    /* frontend -> guest */
    Fifo8 out;
    unsigned out_watches;       /* G_IO_OUT watches waiting for room */
    bool out_refused;           /* EAGAIN given, no watch added since */
    QLIST_HEAD(, VsockUserWatch) watches;
};

DECLARE_INSTANCE_CHECKER(VsockUserChardev, VSOCK_USER_CHARDEV,
                         TYPE_CHARDEV_VSOCK_USER)

static const char *chr_id(VsockUserChardev *s)
{
    return CHARDEV(s)->label;
}

static void chr_connect(VsockUserChardev *s);

/* ---- the connection ---------------------------------------------------- */

static void chr_conn_start(VsockUserChardev *s)
{
    s->connected = true;
    s->closing = false;
    s->guest_rcv_shut = false;
    s->out_refused = false;
    fifo8_reset(&s->out);
    s->open_owed = true;
    trace_vsock_user_chr_open(chr_id(s), vsock_conn_get_local_port(s->conn),
                              vsock_conn_get_peer_port(s->conn));
    qemu_bh_schedule(s->bh);
}

/*
 * server=off connects again: at once after a reset of the device (the
 * guest's driver starting, a reboot, a migration), after reconnect-ms
 * otherwise, if it is set.
 */
static void chr_retry(VsockUserChardev *s, bool at_once)
{
    if (s->server || !s->engine || (!at_once && !s->reconnect_ms)) {
        return;
    }
    trace_vsock_user_chr_reconnect(chr_id(s), at_once ? 0 : s->reconnect_ms);
    timer_mod(s->reconnect, qemu_clock_get_ms(QEMU_CLOCK_VIRTUAL) +
              (at_once ? 0 : s->reconnect_ms));
}

/* The connection is gone: the frontend hears CLOSED (if it heard OPENED). */
static void chr_conn_gone(VsockUserChardev *s, const char *why)
{
    bool was_connected = s->connected;

    s->conn = NULL;
    s->connected = false;
    s->closing = false;
    s->in_blocked = false;
    fifo8_reset(&s->out);
    if (was_connected) {
        trace_vsock_user_chr_close(chr_id(s), why);
        if (s->open_owed) {
            /* the frontend never heard of it: nothing to tell */
            s->open_owed = false;
            if (!s->close_owed) {
                /* (else what is pending is the previous connection's) */
                s->in_len = s->in_off = 0;
            }
        } else {
            s->close_owed = true;
        }
        qemu_bh_schedule(s->bh);
    }
}

/* We end the connection: no more callbacks from the engine. */
static void chr_conn_close(VsockUserChardev *s, const char *why)
{
    VsockConn *conn = s->conn;

    if (conn) {
        vsock_conn_close(conn);
        chr_conn_gone(s, why);
        chr_retry(s, false);
    }
}

/* PUSH, guest -> frontend: only what the frontend can read now. */
static size_t chr_vsock_write(VsockConn *conn, void *opaque,
                              const struct iovec *iov, unsigned iov_cnt,
                              uint32_t flags)
{
    VsockUserChardev *s = opaque;
    size_t size = iov_size(iov, iov_cnt);
    int room;
    size_t take;

    if (s->closing) {
        return size;    /* the frontend hung up: nobody reads it */
    }
    if (s->open_owed || s->close_owed || s->in_len) {
        s->in_blocked = true;
        qemu_bh_schedule(s->bh);
        return 0;
    }
    room = qemu_chr_be_can_write(CHARDEV(s));
    if (room <= 0) {
        s->in_blocked = true;
        return 0;
    }
    take = MIN(MIN(size, (size_t)room), sizeof(s->in_buf));
    iov_to_buf(iov, iov_cnt, 0, s->in_buf, take);
    s->in_len = take;
    s->in_off = 0;
    s->in_blocked = take < size;
    qemu_bh_schedule(s->bh);
    return take;
}

/* PULL, frontend -> guest: what the frontend wrote, under the credit. */
static size_t chr_vsock_read(VsockConn *conn, void *opaque,
                             const struct iovec *iov, unsigned iov_cnt,
                             uint32_t *flags)
{
    VsockUserChardev *s = opaque;
    size_t done = 0;

    for (unsigned i = 0; i < iov_cnt && !fifo8_is_empty(&s->out); i++) {
        done += fifo8_pop_buf(&s->out, iov[i].iov_base,
                              MIN(iov[i].iov_len, fifo8_num_used(&s->out)));
    }
    trace_vsock_user_chr_to_guest(chr_id(s), done, fifo8_num_used(&s->out));
    if (s->closing && fifo8_is_empty(&s->out)) {
        /* everything the frontend wrote before it hung up is out */
        chr_conn_close(s, "the frontend disconnected");
    } else if (done && s->out_watches) {
        /* room for a writer that waits; its loop may be asleep */
        qemu_notify_event();
    }
    return done;
}

static void chr_vsock_shutdown(VsockConn *conn, void *opaque, uint32_t flags)
{
    VsockUserChardev *s = opaque;

    /* SEND alone: no more input, output still flows (half-close) */
    if (flags & VIRTIO_VSOCK_SHUTDOWN_RCV) {
        s->guest_rcv_shut = true;
        fifo8_reset(&s->out);
        if (s->out_watches) {
            qemu_notify_event();
        }
    }
}

static void chr_vsock_connected(VsockConn *conn, void *opaque)
{
    chr_conn_start(opaque);
}

static void chr_vsock_closed(VsockConn *conn, void *opaque,
                             VsockCloseReason reason)
{
    chr_conn_gone(opaque, vsock_close_reason_str(reason));
    chr_retry(opaque, reason == VSOCK_CLOSE_RESET);
}

static void chr_vsock_describe(VsockConn *conn, void *opaque,
                               VsockEndpointInfo *info)
{
    info->kind = "chardev";
    info->id = chr_id(opaque);
}

static const VsockConnOps chr_vsock_ops = {
    .connected = chr_vsock_connected,
    .write = chr_vsock_write,
    .read = chr_vsock_read,
    .shutdown = chr_vsock_shutdown,
    .closed = chr_vsock_closed,
    .describe = chr_vsock_describe,
};

static VsockAcceptResult chr_vsock_accept(VsockListener *l, VsockConn *conn,
                                          void *opaque)
{
    VsockUserChardev *s = opaque;
    const char *why = s->conn ? "a connection is open" :
                      !s->fe_open ? "no frontend is open" : NULL;

    if (why) {
        trace_vsock_user_chr_refuse(chr_id(s),
                                    vsock_conn_get_peer_port(conn), why);
        return VSOCK_ACCEPT_REFUSE;
    }
    s->conn = conn;
    vsock_conn_set_ops(conn, &chr_vsock_ops, s);
    chr_conn_start(s);
    return VSOCK_ACCEPT_NOW;
}

/* server=off: connect to the guest's port (again, with reconnect-ms). */
static void chr_connect(VsockUserChardev *s)
{
    if (s->conn || !s->engine) {
        return;
    }
    trace_vsock_user_chr_connect(chr_id(s), s->dev->guest_cid, s->port);
    s->conn = vsock_engine_connect(s->engine, s->dev->parent_cid,
                                   VSOCK_PORT_ANY, s->port,
                                   VIRTIO_VSOCK_TYPE_STREAM, &chr_vsock_ops, s);
    if (!s->conn) {
        trace_vsock_user_chr_close(chr_id(s), "no connection available");
        chr_retry(s, false);
    }
}

static void chr_reconnect_cb(void *opaque)
{
    chr_connect(opaque);
}

/* ---- the frontend's side: events and guest bytes, in order ------------- */

/* Hand the frontend what it is owed: the bottom half, and the GSource's. */
static void chr_pump(void *opaque)
{
    VsockUserChardev *s = opaque;
    Chardev *chr = CHARDEV(s);
    size_t budget = CHR_PUMP_BUDGET;

    if (s->close_owed) {
        /* the last bytes of the old connection, as far as they go in */
        while (s->in_off < s->in_len && qemu_chr_be_can_write(chr) > 0) {
            uint32_t off = s->in_off;
            uint32_t n = MIN(s->in_len - off,
                             (uint32_t)qemu_chr_be_can_write(chr));

            s->in_off += n;
            qemu_chr_be_write(chr, s->in_buf + off, n);
        }
        s->in_len = s->in_off = 0;
        s->close_owed = false;
        s->opened = false;
        trace_vsock_user_chr_event(chr_id(s), CHR_EVENT_CLOSED);
        qemu_chr_be_event(chr, CHR_EVENT_CLOSED);
    }
    if (s->open_owed) {
        s->open_owed = false;
        s->opened = true;
        trace_vsock_user_chr_event(chr_id(s), CHR_EVENT_OPENED);
        qemu_chr_be_event(chr, CHR_EVENT_OPENED);
    }
    while (budget) {
        int room;

        while (s->in_off < s->in_len &&
               (room = qemu_chr_be_can_write(chr)) > 0) {
            uint32_t off = s->in_off;
            uint32_t n = MIN(s->in_len - off, (uint32_t)room);

            /* (the frontend may hang up from inside its read handler) */
            s->in_off += n;
            budget -= MIN(budget, n);
            trace_vsock_user_chr_to_frontend(chr_id(s), n);
            qemu_chr_be_write(chr, s->in_buf + off, n);
        }
        if (s->in_off < s->in_len || s->open_owed || s->close_owed) {
            return;     /* the frontend is full, or it reconnected */
        }
        s->in_len = s->in_off = 0;
        if (!s->in_blocked || !s->conn) {
            s->in_blocked = false;
            return;
        }
        if (!budget) {
            qemu_bh_schedule(s->bh);
            return;
        }
        s->in_blocked = false;
        /* the engine offers what it holds again, through write() */
        vsock_conn_notify_writable(s->conn);
        if (!s->in_len) {
            return;
        }
    }
}

static gboolean chr_poll_prepare(GSource *source, gint *timeout)
{
    VsockUserChardev *s = ((VsockUserPoll *)source)->s;

    *timeout = -1;
    return s && (s->in_off < s->in_len || s->in_blocked) &&
           qemu_chr_be_can_write(CHARDEV(s)) > 0;
}

static gboolean chr_poll_check(GSource *source)
{
    return chr_poll_prepare(source, &(gint){0});
}

static gboolean chr_poll_dispatch(GSource *source, GSourceFunc cb,
                                  gpointer data)
{
    VsockUserChardev *s = ((VsockUserPoll *)source)->s;

    if (s) {
        chr_pump(s);
    }
    return G_SOURCE_CONTINUE;
}

static GSourceFuncs chr_poll_funcs = {
    .prepare = chr_poll_prepare,
    .check = chr_poll_check,
    .dispatch = chr_poll_dispatch,
};

/* ---- Chardev methods ---------------------------------------------------- */

static int chr_write(Chardev *chr, const uint8_t *buf, int len)
{
    VsockUserChardev *s = VSOCK_USER_CHARDEV(chr);
    uint32_t room, n;

    if (!s->connected || s->closing || s->guest_rcv_shut) {
        /* nobody to send it to, as with a socket chardev */
        trace_vsock_user_chr_drop(chr_id(s), len, "not connected");
        return len;
    }
    room = fifo8_num_free(&s->out);
    if (!room) {
        if (s->out_watches || !s->out_refused) {
            s->out_refused = true;
            trace_vsock_user_chr_full(chr_id(s), len);
            errno = EAGAIN;
            return -1;
        }
        /* the writer retries without waiting for room: do not hold it */
        trace_vsock_user_chr_drop(chr_id(s), len, "buffer full");
        return len;
    }
    n = MIN((uint32_t)len, room);
    fifo8_push_all(&s->out, buf, n);
    s->out_refused = false;
    vsock_conn_notify_readable(s->conn);
    return n;
}

static bool chr_watch_ready(VsockUserWatch *w)
{
    VsockUserChardev *s = w->s;
    bool writes_pass;

    if (!s) {
        return true;
    }
    /* writes pass at once when they have nowhere to go */
    writes_pass = !s->connected || s->closing || s->guest_rcv_shut;
    if ((w->cond & G_IO_HUP) && !s->connected) {
        return true;
    }
    return (w->cond & G_IO_OUT) &&
           (writes_pass || fifo8_num_free(&s->out) > 0);
}

static gboolean chr_watch_prepare(GSource *source, gint *timeout)
{
    *timeout = -1;
    return chr_watch_ready((VsockUserWatch *)source);
}

static gboolean chr_watch_check(GSource *source)
{
    return chr_watch_ready((VsockUserWatch *)source);
}

static gboolean chr_watch_dispatch(GSource *source, GSourceFunc cb,
                                   gpointer data)
{
    VsockUserWatch *w = (VsockUserWatch *)source;
    GIOCondition cond = w->cond & (G_IO_OUT | G_IO_HUP);

    if (w->s && w->s->connected) {
        cond &= ~G_IO_HUP;
    }
    return cb ? ((FEWatchFunc)cb)(NULL, cond, data) : G_SOURCE_REMOVE;
}

static void chr_watch_finalize(GSource *source)
{
    VsockUserWatch *w = (VsockUserWatch *)source;

    if (w->s) {
        if (w->cond & G_IO_OUT) {
            w->s->out_watches--;
        }
        QLIST_REMOVE(w, next);
    }
}

static GSourceFuncs chr_watch_funcs = {
    .prepare = chr_watch_prepare,
    .check = chr_watch_check,
    .dispatch = chr_watch_dispatch,
    .finalize = chr_watch_finalize,
};

static GSource *chr_add_watch(Chardev *chr, GIOCondition cond)
{
    VsockUserChardev *s = VSOCK_USER_CHARDEV(chr);
    VsockUserWatch *w;

    w = (VsockUserWatch *)g_source_new(&chr_watch_funcs, sizeof(*w));
    w->s = s;
    w->cond = cond;
    QLIST_INSERT_HEAD(&s->watches, w, next);
    if (cond & G_IO_OUT) {
        s->out_watches++;
        s->out_refused = false;
    }
    return &w->source;
}

static void chr_accept_input(Chardev *chr)
{
    VsockUserChardev *s = VSOCK_USER_CHARDEV(chr);

    if (s->started) {
        qemu_bh_schedule(s->bh);
    }
}

static void chr_set_fe_open(Chardev *chr, int fe_open)
{
    VSOCK_USER_CHARDEV(chr)->fe_open = fe_open;
}

/* The frontend hangs up: the guest still gets what it wrote before. */
static void chr_disconnect(Chardev *chr)
{
    VsockUserChardev *s = VSOCK_USER_CHARDEV(chr);

    if (!s->conn) {
        return;
    }
    if (!s->connected || fifo8_is_empty(&s->out)) {
        chr_conn_close(s, "the frontend disconnected");
        return;
    }
    s->closing = true;
    s->in_len = s->in_off = 0;
    trace_vsock_user_chr_draining(chr_id(s), fifo8_num_used(&s->out));
}

/* ---- attaching to a device ---------------------------------------------- */

static void chr_detach(VsockUserChardev *s)
{
    if (!s->engine) {
        return;
    }
    timer_del(s->reconnect);
    vsock_listener_free(s->listener);
    s->listener = NULL;
    s->engine = NULL;           /* no retry from chr_conn_close() */
    chr_conn_close(s, "the device went away");
    virtio_vsock_user_remove_detach_notifier(&s->detach);
    s->dev = NULL;
}

static void chr_detach_notify(Notifier *n, void *data)
{
    chr_detach(container_of(n, VsockUserChardev, detach));
}

static bool chr_bind(VsockUserChardev *s, VirtIOVsockUser *dev, Error **errp)
{
    const char *devid = virtio_vsock_user_id(dev) ?: "(no id)";
    VsockEngine *e = virtio_vsock_user_get_engine(dev);

    if (s->has_cid && s->cid != dev->guest_cid) {
        error_setg(errp, "vsock-user chardev '%s': cid=%" PRIu64 " is not "
                   "the guest's CID (%" PRIu64 ") of virtio-vsock-user '%s'",
                   chr_id(s), s->cid, dev->guest_cid, devid);
        return false;
    }
    if (s->server) {
        s->listener = vsock_engine_listen(e, dev->parent_cid, s->port,
                                          VIRTIO_VSOCK_TYPE_STREAM,
                                          chr_vsock_accept, s);
        if (!s->listener) {
            error_setg(errp, "vsock-user chardev '%s': port %" PRIu32
                       " of virtio-vsock-user '%s' is already taken",
                       chr_id(s), s->port, devid);
            return false;
        }
    }
    s->dev = dev;
    s->engine = e;
    s->detach.notify = chr_detach_notify;
    virtio_vsock_user_add_detach_notifier(dev, &s->detach);
    trace_vsock_user_chr_attach(chr_id(s), devid, s->server ? "listen" :
                                "connect", s->port);
    if (!s->server) {
        chr_connect(s);
    }
    return true;
}

static bool chr_attach(VirtIOVsockUserAttach *a, Error **errp)
{
    VsockUserChardev *s = container_of(a, VsockUserChardev, attach);
    g_autofree char *what = g_strdup_printf("vsock-user chardev '%s'",
                                            chr_id(s));
    VirtIOVsockUser *dev = virtio_vsock_user_find(s->vsock, what, errp);

    return dev && chr_bind(s, dev, errp);
}

static void chr_start(VsockUserChardev *s)
{
    Chardev *chr = CHARDEV(s);

    s->started = true;
    fifo8_create(&s->out, VSOCK_USER_CHR_OUT_MAX);
    s->bh = qemu_bh_new(chr_pump, s);
    s->reconnect = timer_new_ms(QEMU_CLOCK_VIRTUAL, chr_reconnect_cb, s);
    s->poll = (VsockUserPoll *)g_source_new(&chr_poll_funcs,
                                            sizeof(*s->poll));
    s->poll->s = s;
    g_source_attach(&s->poll->source, chr->gcontext);
    chr->filename = g_strdup_printf("vsock-user:%s%s%" PRIu32 ",server=%s",
                                    s->vsock ?: "", s->vsock ? ":" : "",
                                    s->port, s->server ? "on" : "off");
}

static void chr_open(Chardev *chr, ChardevBackend *backend, bool *be_opened,
                     Error **errp)
{
    VsockUserChardev *s = VSOCK_USER_CHARDEV(chr);
    ChardevVsockUser *o = backend->u.vsock_user.data;

    *be_opened = false;
    if (o->port == VSOCK_PORT_ANY) {
        error_setg(errp, "vsock-user chardev '%s': port=%" PRIu32 " is "
                   "reserved (any); use 0 to 4294967294", chr->label,
                   o->port);
        return;
    }
    s->server = !o->has_server || o->server;
    if (s->server && o->has_cid) {
        error_setg(errp, "vsock-user chardev '%s': cid= is for server=off "
                   "(QEMU connects to the guest's CID); a server listens on "
                   "the parent's CID", chr->label);
        return;
    }
    if (s->server && o->has_reconnect_ms) {
        error_setg(errp, "vsock-user chardev '%s': reconnect-ms= is for "
                   "server=off", chr->label);
        return;
    }
    if (o->has_reconnect_ms && o->reconnect_ms < 0) {
        error_setg(errp, "vsock-user chardev '%s': reconnect-ms=%" PRId64
                   " must not be negative", chr->label, o->reconnect_ms);
        return;
    }
    s->port = o->port;
    s->vsock = g_strdup(o->vsock);
    s->has_cid = o->has_cid;
    s->cid = o->cid;
    s->reconnect_ms = o->has_reconnect_ms ? o->reconnect_ms : 0;
    chr_start(s);
    s->attach.attach = chr_attach;
    virtio_vsock_user_attach_when_ready(&s->attach, errp);
}

static void chr_parse(QemuOpts *opts, ChardevBackend *backend, Error **errp)
{
    const char *port = qemu_opt_get(opts, "port");
    ChardevVsockUser *o;
    uint64_t v;

    /* the command line's errors come with the option in front */
    if (!port) {
        error_setg(errp, "port=P is required");
        return;
    }
    if (qemu_strtou64(port, NULL, 0, &v) < 0 || v >= VSOCK_PORT_ANY) {
        error_setg(errp, "port=%s is out of range (0 to 4294967294)", port);
        return;
    }
    backend->type = CHARDEV_BACKEND_KIND_VSOCK_USER;
    o = backend->u.vsock_user.data = g_new0(ChardevVsockUser, 1);
    qemu_chr_parse_common(opts, qapi_ChardevVsockUser_base(o));
    o->port = v;
    o->vsock = g_strdup(qemu_opt_get(opts, "vsock"));
    o->has_server = qemu_opt_get(opts, "server");
    o->server = qemu_opt_get_bool(opts, "server", true);
    o->has_cid = qemu_opt_get(opts, "cid");
    o->cid = qemu_opt_get_number(opts, "cid", 0);
    o->has_reconnect_ms = qemu_opt_get(opts, "reconnect-ms");
    o->reconnect_ms = qemu_opt_get_number(opts, "reconnect-ms", 0);
}

Chardev *vsock_user_chardev_new_for(VirtIOVsockUser *dev, const char *id,
                                    uint32_t port, Error **errp)
{
    Object *obj;
    VsockUserChardev *s;

    if (qemu_chr_find(id)) {
        error_setg(errp, "a chardev named '%s' exists already", id);
        return NULL;
    }
    obj = object_new(TYPE_CHARDEV_VSOCK_USER);
    s = VSOCK_USER_CHARDEV(obj);
    CHARDEV(s)->label = g_strdup(id);
    s->port = port;
    s->server = true;
    chr_start(s);
    if (!chr_bind(s, dev, errp) ||
        !object_property_try_add_child(object_get_container("chardevs"), id,
                                       obj, errp)) {
        object_unref(obj);
        return NULL;
    }
    object_unref(obj);
    return CHARDEV(s);
}

static void chr_finalize(Object *obj)
{
    VsockUserChardev *s = VSOCK_USER_CHARDEV(obj);
    VsockUserWatch *w, *next;

    if (!s->started) {
        return;
    }
    virtio_vsock_user_attach_cancel(&s->attach);
    chr_detach(s);
    QLIST_FOREACH_SAFE(w, &s->watches, next, next) {
        QLIST_REMOVE(w, next);
        w->s = NULL;
    }
    s->poll->s = NULL;
    g_source_destroy(&s->poll->source);
    g_source_unref(&s->poll->source);
    timer_free(s->reconnect);
    qemu_bh_delete(s->bh);
    fifo8_destroy(&s->out);
    g_free(s->vsock);
}

static void chr_class_init(ObjectClass *oc, const void *data)
{
    ChardevClass *cc = CHARDEV_CLASS(oc);

    cc->parse = chr_parse;
    cc->open = chr_open;
    cc->chr_write = chr_write;
    cc->chr_add_watch = chr_add_watch;
    cc->chr_accept_input = chr_accept_input;
    cc->chr_set_fe_open = chr_set_fe_open;
    cc->chr_disconnect = chr_disconnect;
}

static const TypeInfo chr_info = {
    .name = TYPE_CHARDEV_VSOCK_USER,
    .parent = TYPE_CHARDEV,
    .instance_size = sizeof(VsockUserChardev),
    .instance_finalize = chr_finalize,
    .class_init = chr_class_init,
};

static void chr_register_types(void)
{
    type_register_static(&chr_info);
}

type_init(chr_register_types);
