/*
 * QTest for query-vsock-user and info vsock-user
 *
 * The test, as the guest driver, opens connections in known states (to
 * the heartbeat's chardev, to host sockets behind uds-path and a
 * forward, from a hybrid host client) and checks every field QMP
 * reports for them, then the HMP table of one case character by
 * character.
 *
 * Copyright (c) 2026 The virtio-vsock-user authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include <poll.h>
#include "libqtest.h"
#include "qobject/qdict.h"
#include "qobject/qlist.h"
#include "qobject/qstring.h"
#include "libqos/virtio-vsock-user.h"

#define BUF_ALLOC QVSOCK_DEV_BUF_ALLOC   /* the device's buf-size */
#define CHUNK 4096

typedef struct QT {
    QVsockTest vt;
    char *dir;
    char *uds;
} QT;

static void qt_init(QT *qt, const char *machine, const char *extra_props)
{
    g_autofree char *props = NULL;
    g_autofree char *extra = NULL;

    memset(qt, 0, sizeof(*qt));
    qt->dir = qvsock_tmpdir_new("vsock-user-qmp");
    qt->uds = g_strdup_printf("%s/v.sock", qt->dir);
    props = g_strdup_printf(",id=vs0,uds-path=%s%s", qt->uds, extra_props);
    extra = g_strdup_printf("-object vsock-user-forward,id=fw0,"
                            "guest-port=5400,connect=unix:%s/fw.sock",
                            qt->dir);
    qvsock_test_init(&qt->vt, machine, QVSOCK_RX_ONE_BUFFER, props, extra);
}

static void qt_free(QT *qt)
{
    qvsock_test_free(&qt->vt);
    qvsock_tmpdir_free(qt->dir);
    g_free(qt->uds);
}

static QVsockHdr gpkt(uint32_t src_port, uint32_t dst_port, uint16_t op,
                      uint32_t len)
{
    QVsockHdr h = qvsock_pkt(QVSOCK_USER_PARENT_CID, src_port, dst_port, op,
                             len);

    h.buf_alloc = QVSOCK_GUEST_BUF_ALLOC;
    return h;
}

/* query-vsock-user, for @device (or NULL) and @port (or -1) */
static QList *query(QT *qt, const char *device, int64_t port)
{
    QDict *args = qdict_new();
    QDict *rsp;
    QList *list;

    if (device) {
        qdict_put_str(args, "device", device);
    }
    if (port >= 0) {
        qdict_put_int(args, "port", port);
    }
    rsp = qtest_qmp(qt->vt.qts, "{'execute': 'query-vsock-user', "
                    "'arguments': %p}", args);
    g_assert(qdict_haskey(rsp, "return"));
    list = qlist_copy(qdict_get_qlist(rsp, "return"));
    qobject_unref(rsp);
    return list;
}

/* The one device's connections, filtered by @port */
static QList *conns_on(QT *qt, uint32_t port)
{
    QList *devs = query(qt, NULL, port);
    QDict *dev;
    QList *conns;

    g_assert_cmpuint(qlist_size(devs), ==, 1);
    dev = qobject_to(QDict, qlist_peek(devs));
    conns = qlist_copy(qdict_get_qlist(dev, "connections"));
    qobject_unref(devs);
    return conns;
}

/* The one connection on @port */
static QDict *conn_on(QT *qt, uint32_t port)
{
    QList *conns = conns_on(qt, port);
    QDict *c;

    g_assert_cmpuint(qlist_size(conns), ==, 1);
    c = qobject_to(QDict, qlist_peek(conns));
    qobject_ref(c);
    qobject_unref(conns);
    return c;
}

static void assert_shutdown(QDict *c, const char *key, bool rcv, bool send)
{
    QDict *sh = qdict_get_qdict(c, key);

    g_assert_cmpint(qdict_get_bool(sh, "receive"), ==, rcv);
    g_assert_cmpint(qdict_get_bool(sh, "send"), ==, send);
    g_assert_cmpuint(qdict_size(sh), ==, 2);
}

typedef struct Want {
    const char *state;
    uint32_t local_port, peer_port;
    bool host_initiated;
    const char *endpoint, *id, *address;
    uint64_t tx_bytes, tx_packets, rx_bytes, rx_packets;
    uint32_t peer_buf_alloc, peer_fwd_cnt, fwd_cnt;
    uint32_t credit_to_guest, credit_from_guest, buffered;
    bool shut_from_rcv, shut_from_send, shut_to_rcv, shut_to_send;
} Want;

/* Every field of @c but age-ms, which is checked by the caller. */
static void assert_conn(QDict *c, const Want *w)
{
    g_assert_cmpstr(qdict_get_str(c, "type"), ==, "stream");
    g_assert_cmpstr(qdict_get_str(c, "state"), ==, w->state);
    g_assert_cmpuint(qdict_get_int(c, "local-cid"), ==,
                     QVSOCK_USER_PARENT_CID);
    g_assert_cmpuint(qdict_get_int(c, "local-port"), ==, w->local_port);
    g_assert_cmpuint(qdict_get_int(c, "peer-cid"), ==, QVSOCK_USER_GUEST_CID);
    g_assert_cmpuint(qdict_get_int(c, "peer-port"), ==, w->peer_port);
    g_assert_cmpint(qdict_get_bool(c, "host-initiated"), ==,
                    w->host_initiated);
    g_assert_cmpstr(qdict_get_str(c, "endpoint"), ==, w->endpoint);
    g_assert_cmpstr(qdict_get_try_str(c, "endpoint-id"), ==, w->id);
    g_assert_cmpstr(qdict_get_try_str(c, "endpoint-address"), ==,
                    w->address);
    g_assert_cmpuint(qdict_get_int(c, "tx-bytes"), ==, w->tx_bytes);
    g_assert_cmpuint(qdict_get_int(c, "tx-packets"), ==, w->tx_packets);
    g_assert_cmpuint(qdict_get_int(c, "rx-bytes"), ==, w->rx_bytes);
    g_assert_cmpuint(qdict_get_int(c, "rx-packets"), ==, w->rx_packets);
    g_assert_cmpuint(qdict_get_int(c, "peer-buf-alloc"), ==,
                     w->peer_buf_alloc);
    g_assert_cmpuint(qdict_get_int(c, "peer-fwd-cnt"), ==, w->peer_fwd_cnt);
    g_assert_cmpuint(qdict_get_int(c, "fwd-cnt"), ==, w->fwd_cnt);
    g_assert_cmpuint(qdict_get_int(c, "credit-to-guest"), ==,
                     w->credit_to_guest);
    g_assert_cmpuint(qdict_get_int(c, "credit-from-guest"), ==,
                     w->credit_from_guest);
    g_assert_cmpuint(qdict_get_int(c, "buffered"), ==, w->buffered);
    assert_shutdown(c, "shutdown-from-guest", w->shut_from_rcv,
                    w->shut_from_send);
    assert_shutdown(c, "shutdown-to-guest", w->shut_to_rcv, w->shut_to_send);
    g_assert(qdict_haskey(c, "age-ms"));
    /* 22 members, the two optional ones where the endpoint has them */
    g_assert_cmpuint(qdict_size(c), ==,
                     21 + !!w->id + !!w->address);
}

/* The device as a whole, and the heartbeat connection established. */
static void test_established(const void *data)
{
    QT qt;
    QList *devs;
    QDict *dev, *c;
    QList *counters, *features;
    QListEntry *e;
    uint32_t port;
    int64_t before;
    int i;
    Want w = {
        .state = "established", .local_port = QVSOCK_HB_PORT,
        .endpoint = "chardev", .id = "vs0-heartbeat",
        .tx_packets = 1, .rx_packets = 1,
        .peer_buf_alloc = QVSOCK_GUEST_BUF_ALLOC,
        .credit_to_guest = QVSOCK_GUEST_BUF_ALLOC,
        .credit_from_guest = BUF_ALLOC,
    };

    qt_init(&qt, data, "");
    before = qtest_clock_step(qt.vt.qts, 1);
    port = qvsock_connect(&qt.vt, QVSOCK_HB_PORT, QVSOCK_GUEST_BUF_ALLOC);
    w.peer_port = port;
    qtest_clock_step(qt.vt.qts, 25 * 1000 * 1000);     /* 25 ms */

    devs = query(&qt, NULL, -1);
    g_assert_cmpuint(qlist_size(devs), ==, 1);
    dev = qobject_to(QDict, qlist_peek(devs));
    g_assert_cmpstr(qdict_get_str(dev, "id"), ==, "vs0");
    g_assert_cmpstr(qdict_get_str(dev, "qom-path"), ==,
                    !strcmp(data, "pc") ?
                    "/machine/peripheral/vs0/virtio-backend" :
                    "/machine/peripheral/vs0");
    g_assert_cmpuint(qdict_get_int(dev, "guest-cid"), ==,
                     QVSOCK_USER_GUEST_CID);
    g_assert_cmpuint(qdict_get_int(dev, "parent-cid"), ==,
                     QVSOCK_USER_PARENT_CID);
    /* QVsockTest, like Linux, takes SEQPACKET when the device offers it */
    features = qdict_get_qlist(dev, "features");
    g_assert_cmpuint(qlist_size(features), ==, 2);
    i = 0;
    QLIST_FOREACH_ENTRY(features, e) {
        g_assert_cmpstr(qstring_get_str(qobject_to(QString, e->value)), ==,
                        i++ ? "seqpacket" : "stream");
    }
    /* the counters are the QOM properties, in the same order */
    counters = qdict_get_qlist(dev, "counters");
    g_assert_cmpuint(qlist_size(counters), ==, 14);
    QLIST_FOREACH_ENTRY(counters, e) {
        QDict *ct = qobject_to(QDict, qlist_entry_obj(e));

        g_assert_cmpuint(qdict_get_int(ct, "value"), ==,
                         qvsock_stat(&qt.vt, qdict_get_str(ct, "name")));
    }
    g_assert_cmpuint(qlist_size(qdict_get_qlist(dev, "connections")), ==, 1);
    c = qobject_to(QDict, qlist_peek(qdict_get_qlist(dev, "connections")));
    assert_conn(c, &w);
    g_assert_cmpuint(qdict_get_int(c, "age-ms"), ==,
                     (qtest_clock_step(qt.vt.qts, 1) - before) / 1000000);
    qobject_unref(devs);

    /*
     * One heartbeat byte each way, then the heartbeat closes its end:
     * the connection waits, endpoint gone, for the guest's RST.
     */
    {
        const uint8_t beat = 0xb7;
        QVsockHdr h;

        qvsock_send(&qt.vt, gpkt(port, QVSOCK_HB_PORT, VIRTIO_VSOCK_OP_RW, 1),
                    &beat);
        qvsock_recv_beat(&qt.vt, port, &h);
        qvsock_recv(&qt.vt, &h, NULL);
        qvsock_assert_hdr(&h, QVSOCK_USER_PARENT_CID, QVSOCK_HB_PORT, port,
                          VIRTIO_VSOCK_OP_SHUTDOWN, 0,
                          VIRTIO_VSOCK_SHUTDOWN_RCV |
                              VIRTIO_VSOCK_SHUTDOWN_SEND);
    }
    c = conn_on(&qt, QVSOCK_HB_PORT);
    w.state = "closing", w.endpoint = "none", w.id = NULL;
    w.tx_bytes = 1, w.tx_packets = 2, w.rx_bytes = 1, w.rx_packets = 3;
    w.fwd_cnt = 1, w.credit_to_guest = QVSOCK_GUEST_BUF_ALLOC - 1;
    w.shut_to_rcv = true, w.shut_to_send = true;
    assert_conn(c, &w);
    qobject_unref(c);

    /* filters: another port, another device, the QOM path, the proxy */
    {
        QList *l = conns_on(&qt, 1);

        g_assert_cmpuint(qlist_size(l), ==, 0);
        qobject_unref(l);
    }
    {
        QDict *rsp = qtest_qmp(qt.vt.qts, "{'execute': 'query-vsock-user', "
                               "'arguments': {'device': 'nope'}}");

        g_assert_cmpstr(qdict_get_str(qdict_get_qdict(rsp, "error"),
                                      "class"), ==, "DeviceNotFound");
        g_assert_cmpstr(qdict_get_str(qdict_get_qdict(rsp, "error"),
                                      "desc"), ==,
                        "'nope' is not a virtio-vsock-user device");
        qobject_unref(rsp);
    }
    {
        QList *l = query(&qt, "vs0", -1);

        g_assert_cmpuint(qlist_size(l), ==, 1);
        qobject_unref(l);
        l = query(&qt, "/machine/peripheral/vs0", -1);
        g_assert_cmpuint(qlist_size(l), ==, 1);
        qobject_unref(l);
    }
    qt_free(&qt);
}

/*
 * Half-closed each way, to host sockets: the guest shuts its sending side
 * of one connection (uds-path), the host shuts its sending side of
 * another (the forward).
 */
static void test_half_closed(const void *data)
{
    QT qt;
    g_autofree char *path = NULL;
    g_autofree char *fwd = NULL;
    g_autofree char *addr = NULL;
    g_autofree char *faddr = NULL;
    int lfd, ffd, hfd, hfd2;
    QVsockHdr h, sh;
    QDict *c;
    char buf[8];
    Want w = {
        .state = "established", .endpoint = "hybrid",
        .peer_buf_alloc = QVSOCK_GUEST_BUF_ALLOC,
        .credit_to_guest = QVSOCK_GUEST_BUF_ALLOC,
        .credit_from_guest = BUF_ALLOC,
    };

    qt_init(&qt, data, ",heartbeat=off");
    path = g_strdup_printf("%s_5100", qt.uds);
    addr = g_strdup_printf("unix:%s", path);
    fwd = g_strdup_printf("%s/fw.sock", qt.dir);
    faddr = g_strdup_printf("unix:%s", fwd);
    lfd = qvsock_unix_listen(path, 4);
    ffd = qvsock_unix_listen(fwd, 4);

    /* guest -> host, then the guest's SHUTDOWN(SEND): the host reads EOF */
    hfd = qvsock_connect_host(&qt.vt, 43000, 5100, lfd, QVSOCK_GUEST_BUF_ALLOC);
    sh = gpkt(43000, 5100, VIRTIO_VSOCK_OP_SHUTDOWN, 0);
    sh.flags = VIRTIO_VSOCK_SHUTDOWN_SEND;
    qvsock_send(&qt.vt, sh, NULL);
    g_assert(qvsock_wait_fd(hfd, POLLIN, QVSOCK_HOST_TIMEOUT_MS));
    g_assert_cmpint(read(hfd, buf, sizeof(buf)), ==, 0);
    c = conn_on(&qt, 43000);
    w.local_port = 5100, w.peer_port = 43000, w.address = addr;
    w.tx_packets = 2, w.rx_packets = 1, w.shut_from_send = true;
    assert_conn(c, &w);
    qobject_unref(c);

    /* guest -> forward, then the host's SHUT_WR: SHUTDOWN(SEND) to guest */
    hfd2 = qvsock_connect_host(&qt.vt, 43001, 5400, ffd,
                               QVSOCK_GUEST_BUF_ALLOC);
    g_assert_cmpint(shutdown(hfd2, SHUT_WR), ==, 0);
    qvsock_recv(&qt.vt, &h, NULL);
    qvsock_assert_hdr(&h, QVSOCK_USER_PARENT_CID, 5400, 43001,
                      VIRTIO_VSOCK_OP_SHUTDOWN, 0, VIRTIO_VSOCK_SHUTDOWN_SEND);
    c = conn_on(&qt, 43001);
    w.local_port = 5400, w.peer_port = 43001;
    w.endpoint = "forward", w.id = "fw0", w.address = faddr;
    w.tx_packets = 1, w.rx_packets = 2;
    w.shut_from_send = false, w.shut_to_send = true;
    assert_conn(c, &w);
    qobject_unref(c);

    close(hfd);
    close(hfd2);
    close(lfd);
    close(ffd);
    qt_free(&qt);
}

/*
 * Out of credit with data buffered in QEMU: the host peer never reads, so
 * the guest (the test) sends until the device grants no more.
 */
static void test_out_of_credit(const void *data)
{
    QT qt;
    g_autofree char *path = NULL;
    g_autofree char *addr = NULL;
    g_autofree uint8_t *chunk = g_malloc0(CHUNK);
    uint32_t credit = BUF_ALLOC, told = 0, sent = 0, pkts = 1;
    QVsockHdr h;
    QDict *c;
    int lfd, hfd;

    qt_init(&qt, data, ",heartbeat=off");
    path = g_strdup_printf("%s_5200", qt.uds);
    addr = g_strdup_printf("unix:%s", path);
    lfd = qvsock_unix_listen(path, 4);
    hfd = qvsock_connect_host(&qt.vt, 44000, 5200, lfd, QVSOCK_GUEST_BUF_ALLOC);
    for (;;) {
        while (credit) {
            uint32_t n = MIN(credit, CHUNK);

            qvsock_send(&qt.vt, gpkt(44000, 5200, VIRTIO_VSOCK_OP_RW, n),
                        chunk);
            sent += n;
            credit -= n;
            pkts++;
        }
        /* the device grants more as its host socket takes data */
        if (!qvsock_try_recv(&qt.vt, &h, NULL, 500 * 1000)) {
            break;
        }
        qvsock_assert_hdr(&h, QVSOCK_USER_PARENT_CID, 5200, 44000,
                          VIRTIO_VSOCK_OP_CREDIT_UPDATE, 0, 0);
        told = h.fwd_cnt;
        credit = h.buf_alloc - (sent - told);
    }
    c = conn_on(&qt, 44000);
    g_assert_cmpstr(qdict_get_str(c, "state"), ==, "established");
    g_assert_cmpstr(qdict_get_str(c, "endpoint"), ==, "hybrid");
    g_assert_cmpstr(qdict_get_str(c, "endpoint-address"), ==, addr);
    g_assert_cmpuint(qdict_get_int(c, "tx-bytes"), ==, sent);
    g_assert_cmpuint(qdict_get_int(c, "tx-packets"), ==, pkts);
    g_assert_cmpuint(qdict_get_int(c, "credit-from-guest"), ==, 0);
    g_assert_cmpuint(sent - told, ==, BUF_ALLOC);
    /* what the host socket has not taken is in QEMU */
    g_assert_cmpuint(qdict_get_int(c, "buffered"), ==,
                     sent - qdict_get_int(c, "fwd-cnt"));
    g_assert_cmpuint(qdict_get_int(c, "buffered"), >, 0);
    g_assert_cmpuint(qdict_get_int(c, "fwd-cnt"), >=, told);
    qobject_unref(c);
    close(hfd);
    close(lfd);
    qt_free(&qt);
}

/*
 * A host connect in progress (the host listener's backlog is full), and a
 * hybrid host client's connection the guest has not answered yet.
 */
static void test_connecting(const void *data)
{
    QT qt;
    g_autofree char *path = NULL;
    g_autofree char *addr = NULL;
    g_autofree char *uaddr = NULL;
    int lfd, filler, cfd, hfd;
    QVsockHdr h;
    QDict *c;
    Want w = {
        .state = "accepting", .local_port = 5300, .peer_port = 45000,
        .endpoint = "hybrid", .tx_packets = 1,
        .peer_buf_alloc = QVSOCK_GUEST_BUF_ALLOC,
        .credit_to_guest = QVSOCK_GUEST_BUF_ALLOC,
        .credit_from_guest = BUF_ALLOC,
    };

    qt_init(&qt, data, ",heartbeat=off");
    path = g_strdup_printf("%s_5300", qt.uds);
    addr = g_strdup_printf("unix:%s", path);
    uaddr = g_strdup_printf("unix:%s", qt.uds);
    lfd = qvsock_unix_listen_full(path, &filler);
    qvsock_send(&qt.vt, gpkt(45000, 5300, VIRTIO_VSOCK_OP_REQUEST, 0), NULL);
    qvsock_expect_silence(&qt.vt, 100 * 1000 * 1000);
    c = conn_on(&qt, 45000);
    w.address = addr;
    assert_conn(c, &w);
    qobject_unref(c);
    g_assert_cmpuint(qvsock_stat(&qt.vt, "connections"), ==, 1);

    /* host -> guest: CONNECT, and the guest's REQUEST owed or sent */
    cfd = qvsock_unix_connect(qt.uds);
    g_assert_cmpint(write(cfd, "CONNECT 7000\n", 13), ==, 13);
    qvsock_recv(&qt.vt, &h, NULL);
    g_assert_cmpuint(h.op, ==, VIRTIO_VSOCK_OP_REQUEST);
    g_assert_cmpuint(h.dst_port, ==, 7000);
    c = conn_on(&qt, 7000);
    memset(&w, 0, sizeof(w));
    w.state = "connecting", w.local_port = h.src_port, w.peer_port = 7000;
    w.host_initiated = true, w.endpoint = "hybrid", w.address = uaddr;
    w.rx_packets = 1, w.credit_from_guest = BUF_ALLOC;
    assert_conn(c, &w);
    qobject_unref(c);

    /* let the blocked connect finish: the first connection goes on */
    hfd = accept(lfd, NULL, NULL);
    g_assert_cmpint(hfd, >=, 0);
    close(hfd);
    close(filler);
    close(cfd);
    close(lfd);
    qt_free(&qt);
}

/* The HMP table of the heartbeat connection, character by character */
static void test_hmp(const void *data)
{
    QT qt;
    uint32_t port;
    g_autofree char *out = NULL;
    g_autofree char *want = NULL;

    qt_init(&qt, data, "");
    port = qvsock_connect(&qt.vt, QVSOCK_HB_PORT, QVSOCK_GUEST_BUF_ALLOC);
    out = qtest_hmp(qt.vt.qts, "info vsock-user");
    want = g_strdup_printf(
        "vs0: guest-cid 16, parent-cid 3, 1 connection\r\n"
        "T State   Local      Guest Rcvd Sent Cr>g Cr<g Held Shut   Age "
        "Endpoint\r\n"
        "s ESTAB    9000 %10u    0    0 256K 256K    0 --/--   0s "
        "vs0-heartbeat\r\n", port);
    g_assert_cmpstr(out, ==, want);
    g_free(out);
    out = qtest_hmp(qt.vt.qts, "info vsock-user vs0 1");
    g_assert_cmpstr(out, ==, "vs0: guest-cid 16, parent-cid 3, "
                    "0 connections on that port\r\n");
    g_free(out);
    out = qtest_hmp(qt.vt.qts, "info vsock-user nope");
    g_assert_cmpstr(out, ==, "Error: 'nope' is not a virtio-vsock-user "
                    "device\r\n");
    qt_free(&qt);
}

/*
 * 1000 connections in one reply: all of them, in port order.  How long
 * the reply takes is printed (a figure, not a pass criterion).  They go
 * to the forward, whose host listener keeps them in its backlog.
 */
static void test_many(const void *data)
{
    QT qt;
    QList *conns;
    QListEntry *e;
    uint32_t last = 0;
    gint64 t0;
    unsigned n = 0;
    g_autofree char *fwd = NULL;
    int lfd;

    qt_init(&qt, data, "");
    fwd = g_strdup_printf("%s/fw.sock", qt.dir);
    lfd = qvsock_unix_listen(fwd, 1024);
    for (int i = 0; i < 1000; i++) {
        qvsock_connect(&qt.vt, 5400, QVSOCK_GUEST_BUF_ALLOC);
    }
    t0 = g_get_monotonic_time();
    conns = conns_on(&qt, 5400);
    g_test_message("query-vsock-user with 1000 connections: %" PRId64
                   " us", g_get_monotonic_time() - t0);
    g_assert_cmpuint(qlist_size(conns), ==, 1000);
    QLIST_FOREACH_ENTRY(conns, e) {
        QDict *c = qobject_to(QDict, qlist_entry_obj(e));
        uint32_t p = qdict_get_int(c, "peer-port");

        g_assert_cmpuint(p, >, last);
        last = p;
        n++;
    }
    g_assert_cmpuint(n, ==, 1000);
    qobject_unref(conns);
    qt_free(&qt);
    close(lfd);
}

/* qom-get of a link's state, until it is @want (the link is real time) */
static void wait_link_state(QTestState *qts, const char *want)
{
    for (int i = 0; i < 500; i++) {
        QDict *rsp = qtest_qmp(qts, "{'execute': 'qom-get', 'arguments': "
                               "{'path': '/objects/l0', "
                               "'property': 'state'}}");
        bool done = !strcmp(qdict_get_str(rsp, "return"), want);

        qobject_unref(rsp);
        if (done) {
            return;
        }
        g_usleep(10 * 1000);
    }
    g_assert_not_reached();
}

/* A packet a link brought from one guest to the other, unchanged */
static void assert_linked(const QVsockHdr *h, uint64_t src_cid,
                          uint32_t src_port, uint64_t dst_cid,
                          uint32_t dst_port, uint16_t op)
{
    g_assert_cmpuint(h->src_cid, ==, src_cid);
    g_assert_cmpuint(h->src_port, ==, src_port);
    g_assert_cmpuint(h->dst_cid, ==, dst_cid);
    g_assert_cmpuint(h->dst_port, ==, dst_port);
    g_assert_cmpuint(h->op, ==, op);
    g_assert_cmpuint(h->len, ==, 0);
    /* an RST is the link's own, the others the guest's as they were */
    g_assert_cmpuint(h->buf_alloc, ==,
                     op == VIRTIO_VSOCK_OP_RST ? 0 : QVSOCK_GUEST_BUF_ALLOC);
}

/* How many connections @qts's one device lists on @port */
static size_t n_conns(QTestState *qts, uint32_t port)
{
    QDict *rsp = qtest_qmp(qts, "{'execute': 'query-vsock-user', "
                           "'arguments': {'port': %u}}", port);
    QDict *dev = qobject_to(QDict,
                            qlist_peek(qdict_get_qlist(rsp, "return")));
    size_t n = qlist_size(qdict_get_qlist(dev, "connections"));

    qobject_unref(rsp);
    return n;
}

/* The one connection of @qts's device on @port, which a link carries */
static void assert_link_conn(QTestState *qts, uint32_t port,
                             const char *state, uint64_t local_cid,
                             uint32_t local_port, uint64_t peer_cid,
                             uint32_t peer_port, bool host_initiated,
                             const char *address)
{
    QDict *rsp = qtest_qmp(qts, "{'execute': 'query-vsock-user', "
                           "'arguments': {'port': %u}}", port);
    QList *devs = qdict_get_qlist(rsp, "return");
    QDict *dev = qobject_to(QDict, qlist_peek(devs));
    QList *conns = qdict_get_qlist(dev, "connections");
    QDict *c = qobject_to(QDict, qlist_peek(conns));

    g_assert_cmpuint(qlist_size(devs), ==, 1);
    g_assert_cmpuint(qlist_size(conns), ==, 1);
    g_assert_cmpstr(qdict_get_str(c, "type"), ==, "stream");
    g_assert_cmpstr(qdict_get_str(c, "state"), ==, state);
    g_assert_cmpuint(qdict_get_int(c, "local-cid"), ==, local_cid);
    g_assert_cmpuint(qdict_get_int(c, "local-port"), ==, local_port);
    g_assert_cmpuint(qdict_get_int(c, "peer-cid"), ==, peer_cid);
    g_assert_cmpuint(qdict_get_int(c, "peer-port"), ==, peer_port);
    g_assert_cmpint(qdict_get_bool(c, "host-initiated"), ==, host_initiated);
    g_assert_cmpstr(qdict_get_str(c, "endpoint"), ==, "link");
    g_assert_cmpstr(qdict_get_str(c, "endpoint-id"), ==, "l0");
    g_assert_cmpstr(qdict_get_str(c, "endpoint-address"), ==, address);
    /* QEMU holds no data or credit of its own on a linked connection */
    g_assert_cmpuint(qdict_get_int(c, "tx-bytes"), ==, 0);
    g_assert_cmpuint(qdict_get_int(c, "buffered"), ==, 0);
    g_assert_cmpuint(qdict_get_int(c, "credit-to-guest"), ==, 0);
    g_assert_cmpuint(qdict_get_int(c, "credit-from-guest"), ==, 0);
    g_assert_cmpuint(qdict_get_int(c, "age-ms"), <, 60 * 1000);
    g_assert_cmpuint(qdict_size(c), ==, 23);
    qobject_unref(rsp);
}

/*
 * Two QEMUs whose devices a link joins: a connection between their
 * guests is listed on both, with the link as its endpoint, in the state
 * its handshake reached, and gone after the RST.
 */
static void test_link(const void *data)
{
    const char *machine = data;
    g_autofree char *dir = qvsock_tmpdir_new("vsock-user-qmpl");
    g_autofree char *addr = g_strdup_printf("unix:%s/l.sock", dir);
    g_autofree char *xa = g_strdup_printf(
        "-object vsock-user-link,id=l0,addr=%s,server=on,cids=17", addr);
    g_autofree char *xb = g_strdup_printf(
        "-object vsock-user-link,id=l0,addr=%s,cids=16", addr);
    QVsockTest a, b;
    QVsockHdr h;

    qvsock_test_init_cids(&a, machine, "guest-cid=16,parent-cid=3",
                          QVSOCK_RX_ONE_BUFFER, ",heartbeat=off", xa);
    qvsock_test_init_cids(&b, machine, "guest-cid=17,parent-cid=3",
                          QVSOCK_RX_ONE_BUFFER, ",heartbeat=off", xb);
    wait_link_state(a.qts, "up");
    wait_link_state(b.qts, "up");

    /* guest 16 port 1300 connects to guest 17 port 5000 */
    qvsock_send(&a, qvsock_pkt(17, 1300, 5000, VIRTIO_VSOCK_OP_REQUEST, 0),
                NULL);
    qvsock_recv(&b, &h, NULL);
    assert_linked(&h, 16, 1300, 17, 5000, VIRTIO_VSOCK_OP_REQUEST);
    assert_link_conn(a.qts, 1300, "accepting", 17, 5000, 16, 1300, false,
                     addr);
    assert_link_conn(b.qts, 5000, "connecting", 16, 1300, 17, 5000, true,
                     addr);

    h = qvsock_pkt(16, 5000, 1300, VIRTIO_VSOCK_OP_RESPONSE, 0);
    h.src_cid = 17;
    qvsock_send(&b, h, NULL);
    qvsock_recv(&a, &h, NULL);
    assert_linked(&h, 17, 5000, 16, 1300, VIRTIO_VSOCK_OP_RESPONSE);
    assert_link_conn(a.qts, 1300, "established", 17, 5000, 16, 1300, false,
                     addr);
    assert_link_conn(b.qts, 5000, "established", 16, 1300, 17, 5000, true,
                     addr);

    /* the RST ends it on both sides */
    qvsock_send(&a, qvsock_pkt(17, 1300, 5000, VIRTIO_VSOCK_OP_RST, 0),
                NULL);
    qvsock_recv(&b, &h, NULL);
    assert_linked(&h, 16, 1300, 17, 5000, VIRTIO_VSOCK_OP_RST);
    g_assert_cmpuint(n_conns(a.qts, 1300), ==, 0);
    g_assert_cmpuint(n_conns(b.qts, 5000), ==, 0);

    qvsock_test_free(&b);
    qvsock_test_free(&a);
    qvsock_tmpdir_free(g_steal_pointer(&dir));
}

static const QVsockTestCase tests[] = {
    { "established", test_established },
    { "half-closed", test_half_closed, true },
    { "out-of-credit", test_out_of_credit, true },
    { "connecting", test_connecting, true },
    { "hmp", test_hmp, true },
    { "many", test_many, true },
    { "link", test_link, true },
};

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    qvsock_add_tests("virtio-vsock-user-qmp", tests, G_N_ELEMENTS(tests));
    return g_test_run();
}
