/*
 * QTest for virtio-vsock-user's host endpoints
 *
 * The test plays the guest driver on the device's virtqueues (with
 * libqos's QVsockTest, as virtio-vsock-user-test.c does) and, at the same
 * time, the host programs on real Unix and TCP loopback sockets in a
 * temporary directory: the hybrid uds-path convention both ways, the
 * CONNECT line parser, per-port forwards, half-close both ways and resets
 * (data flow: virtio-vsock-user-host-data-test.c).
 *
 * Copyright (c) 2026 The virtio-vsock-user authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "libqtest.h"
#include "qobject/qdict.h"
#include "libqos/virtio-vsock-user.h"
#include "standard-headers/linux/virtio_config.h"

#define NS_PER_SEC 1000000000LL

/* Guest -> host through PATH_<port>, guest closes its sending side first */
static void test_g2h_hybrid(void)
{
    QVsockHostTest ht;
    int lfd, fd;
    QVsockHdr h;

    qvsock_ht_init(&ht, "", "");
    lfd = qvsock_ht_listen_port(&ht, 5000);
    fd = qvsock_connect_host(&ht.vt, 40000, 5000, lfd, QVSOCK_GUEST_BUF_ALLOC);
    g_assert_cmpuint(qvsock_stat(&ht.vt, "host-sockets"), ==, 1);

    qvsock_ht_send_text(&ht, 40000, 5000, "hello host");
    qvsock_host_expect(fd, "hello host");
    qvsock_host_write(fd, "hello guest");
    qvsock_ht_expect_text(&ht, 40000, 5000, "hello guest");

    /* guest SHUT_WR: the host reads EOF, and can still answer */
    qvsock_ht_shutdown(&ht, 40000, 5000, VIRTIO_VSOCK_SHUTDOWN_SEND);
    qvsock_host_expect_eof(fd);
    qvsock_host_write(fd, "response after EOF");
    qvsock_ht_expect_text(&ht, 40000, 5000, "response after EOF");

    /* the host closes too: the guest sees its EOF, then the close */
    close(fd);
    qvsock_recv(&ht.vt, &h, NULL);
    qvsock_assert_hdr(&h, QVSOCK_USER_PARENT_CID, 5000, 40000,
                      VIRTIO_VSOCK_OP_SHUTDOWN, 0, h.flags);
    g_assert_true(h.flags & VIRTIO_VSOCK_SHUTDOWN_SEND);
    qvsock_send(&ht.vt, qvsock_ht_pkt(40000, 5000, VIRTIO_VSOCK_OP_RST, 0),
                NULL);
    qvsock_expect_silence(&ht.vt, NS_PER_SEC);
    g_assert_cmpuint(qvsock_stat(&ht.vt, "connections"), ==, 0);
    g_assert_cmpuint(qvsock_stat(&ht.vt, "host-sockets"), ==, 0);
    close(lfd);
    qvsock_ht_free(&ht);
}

/* Guest -> host, the host closes its sending side first */
static void test_g2h_host_eof(void)
{
    QVsockHostTest ht;
    int lfd, fd;
    QVsockHdr h;

    qvsock_ht_init(&ht, "", "");
    lfd = qvsock_ht_listen_port(&ht, 5001);
    fd = qvsock_connect_host(&ht.vt, 40001, 5001, lfd, QVSOCK_GUEST_BUF_ALLOC);
    qvsock_host_write(fd, "request");
    shutdown(fd, SHUT_WR);
    qvsock_ht_expect_text(&ht, 40001, 5001, "request");
    qvsock_recv(&ht.vt, &h, NULL);
    qvsock_assert_hdr(&h, QVSOCK_USER_PARENT_CID, 5001, 40001,
                      VIRTIO_VSOCK_OP_SHUTDOWN, 0, VIRTIO_VSOCK_SHUTDOWN_SEND);
    /* guest data still flows to the host */
    qvsock_ht_send_text(&ht, 40001, 5001, "answer");
    qvsock_host_expect(fd, "answer");
    /* the guest's close: SHUTDOWN both ways, answered by RST */
    qvsock_ht_shutdown(&ht, 40001, 5001,
                       VIRTIO_VSOCK_SHUTDOWN_SEND | VIRTIO_VSOCK_SHUTDOWN_RCV);
    qvsock_recv(&ht.vt, &h, NULL);
    g_assert_cmpuint(h.op, ==, VIRTIO_VSOCK_OP_RST);
    qvsock_host_expect_eof(fd);
    close(fd);
    close(lfd);
    qvsock_ht_free(&ht);
}

/* No PATH_<port> listener: RST; guest RST: the host sees the close */
static void test_g2h_refused_and_rst(void)
{
    QVsockHostTest ht;
    int lfd, fd;
    QVsockHdr h;

    qvsock_ht_init(&ht, "", "");
    qvsock_send(&ht.vt, qvsock_ht_pkt(40002, 5002, VIRTIO_VSOCK_OP_REQUEST, 0),
                NULL);
    qvsock_recv(&ht.vt, &h, NULL);
    qvsock_assert_hdr(&h, QVSOCK_USER_PARENT_CID, 5002, 40002,
                      VIRTIO_VSOCK_OP_RST, 0, 0);
    g_assert_cmpuint(qvsock_stat(&ht.vt, "host-connect-failed"), ==, 1);

    lfd = qvsock_ht_listen_port(&ht, 5002);
    fd = qvsock_connect_host(&ht.vt, 40003, 5002, lfd, QVSOCK_GUEST_BUF_ALLOC);
    qvsock_ht_send_text(&ht, 40003, 5002, "x");
    qvsock_host_expect(fd, "x");
    qvsock_send(&ht.vt, qvsock_ht_pkt(40003, 5002, VIRTIO_VSOCK_OP_RST, 0),
                NULL);
    qvsock_host_expect_eof(fd);
    qvsock_expect_silence(&ht.vt, NS_PER_SEC);
    g_assert_cmpuint(qvsock_stat(&ht.vt, "connections"), ==, 0);
    close(fd);
    close(lfd);
    qvsock_ht_free(&ht);
}

/*
 * The device's connect to PATH_<port> is stuck: the guest hears nothing
 * until the host connect is done.  Release it: accept the filler, then
 * the device's socket, which must read EOF (cancelled connect).
 */
static void host_release_cancelled(QVsockHostTest *ht, int lfd, int filler)
{
    int ffd, fd;

    ffd = qvsock_host_accept(&ht->vt, lfd);
    fd = qvsock_host_accept(&ht->vt, lfd);
    qvsock_host_expect_eof(fd);
    g_assert_cmpuint(qvsock_stat(&ht->vt, "host-sockets"), ==, 0);
    g_assert_cmpuint(qvsock_stat(&ht->vt, "connections"), ==, 0);
    close(fd);
    close(ffd);
    close(filler);
}

/*
 * The guest connects @port to the parent's @dst, but the device's connect
 * to PATH_<dst> is stuck on a full backlog.  Returns the listener,
 * *@filler the client that fills its backlog.
 */
static int g2h_start_pending(QVsockHostTest *ht, uint32_t port, uint32_t dst,
                             int *filler)
{
    g_autofree char *path = g_strdup_printf("%s_%u", ht->uds, dst);
    int lfd = qvsock_unix_listen_full(path, filler);

    qvsock_send(&ht->vt, qvsock_ht_pkt(port, dst, VIRTIO_VSOCK_OP_REQUEST, 0),
                NULL);
    return lfd;
}

/*
 * Let the cancelled connect on @lfd finish, then connect guest @port to
 * @dst through @lfd and move a few bytes.
 */
static void release_and_connect_again(QVsockHostTest *ht, int lfd, int filler,
                                      uint32_t port, uint32_t dst)
{
    int fd;

    host_release_cancelled(ht, lfd, filler);
    qvsock_expect_silence(&ht->vt, NS_PER_SEC / 10);
    fd = qvsock_connect_host(&ht->vt, port, dst, lfd, QVSOCK_GUEST_BUF_ALLOC);
    qvsock_ht_send_text(ht, port, dst, "again");
    qvsock_host_expect(fd, "again");
    close(fd);
}

/* Guest RST while the host connect is pending: cancelled, no answer */
static void test_g2h_pending_rst(void)
{
    QVsockHostTest ht;
    int lfd, filler;

    qvsock_ht_init(&ht, "", "");
    lfd = g2h_start_pending(&ht, 40006, 5006, &filler);
    qvsock_expect_silence(&ht.vt, NS_PER_SEC / 2);
    /* a pending connection counts */
    g_assert_cmpuint(qvsock_stat(&ht.vt, "connections"), ==, 1);
    g_assert_cmpuint(qvsock_stat(&ht.vt, "host-sockets"), ==, 0);
    qvsock_send(&ht.vt, qvsock_ht_pkt(40006, 5006, VIRTIO_VSOCK_OP_RST, 0),
                NULL);
    /* never answered, not even when the accept timeout would have hit */
    qvsock_expect_silence(&ht.vt, 3 * NS_PER_SEC);
    g_assert_cmpuint(qvsock_stat(&ht.vt, "connections"), ==, 0);
    /* the same guest port connects again and gets through */
    release_and_connect_again(&ht, lfd, filler, 40006, 5006);
    g_assert_cmpuint(qvsock_stat(&ht.vt, "host-connect-failed"), ==, 0);
    close(lfd);
    qvsock_ht_free(&ht);
}

/* The host connect outlasts the accept timeout: RST, then cancelled */
static void test_g2h_pending_timeout(void)
{
    QVsockHostTest ht;
    int lfd, filler;
    QVsockHdr h;

    qvsock_ht_init(&ht, "", "");
    lfd = g2h_start_pending(&ht, 40007, 5007, &filler);
    qvsock_expect_silence(&ht.vt, 19 * NS_PER_SEC / 10);
    qtest_clock_step(ht.vt.qts, NS_PER_SEC / 5);
    qvsock_recv(&ht.vt, &h, NULL);
    qvsock_assert_hdr(&h, QVSOCK_USER_PARENT_CID, 5007, 40007,
                      VIRTIO_VSOCK_OP_RST, 0, 0);
    g_assert_cmpuint(qvsock_stat(&ht.vt, "connections"), ==, 0);
    g_assert_cmpuint(qvsock_stat(&ht.vt, "host-connect-failed"), ==, 1);
    /* a guest RST after ours is not answered either */
    qvsock_send(&ht.vt, qvsock_ht_pkt(40007, 5007, VIRTIO_VSOCK_OP_RST, 0),
                NULL);
    qvsock_expect_silence(&ht.vt, NS_PER_SEC);
    host_release_cancelled(&ht, lfd, filler);
    qvsock_expect_silence(&ht.vt, NS_PER_SEC / 10);
    g_assert_cmpuint(qvsock_stat(&ht.vt, "host-connect-failed"), ==, 1);
    close(lfd);
    qvsock_ht_free(&ht);
}

/*
 * A cancelled host connect that has not returned yet still holds a socket
 * and a thread, so it counts against max-connections: a guest cannot pile
 * up connects to an address that never answers.
 */
static void test_g2h_pending_orphan(void)
{
    QVsockHostTest ht;
    int lfd, filler;
    QVsockHdr h;

    qvsock_ht_init(&ht, ",max-connections=1", "");
    lfd = g2h_start_pending(&ht, 40009, 5009, &filler);
    qvsock_expect_silence(&ht.vt, NS_PER_SEC / 2);
    qvsock_send(&ht.vt, qvsock_ht_pkt(40009, 5009, VIRTIO_VSOCK_OP_RST, 0),
                NULL);
    qvsock_expect_silence(&ht.vt, NS_PER_SEC / 10);
    g_assert_cmpuint(qvsock_stat(&ht.vt, "connections"), ==, 0);
    /* its connect is still under way: a new REQUEST is refused at once */
    qvsock_send(&ht.vt, qvsock_ht_pkt(40010, 5009, VIRTIO_VSOCK_OP_REQUEST, 0),
                NULL);
    qvsock_recv(&ht.vt, &h, NULL);
    qvsock_assert_hdr(&h, QVSOCK_USER_PARENT_CID, 5009, 40010,
                      VIRTIO_VSOCK_OP_RST, 0, 0);
    g_assert_cmpuint(qvsock_stat(&ht.vt, "host-refused"), ==, 1);
    g_assert_cmpuint(qvsock_stat(&ht.vt, "connections"), ==, 0);
    /* once it has returned and its socket is closed, connects go through */
    release_and_connect_again(&ht, lfd, filler, 40010, 5009);
    close(lfd);
    qvsock_ht_free(&ht);
}

/* Device reset while the host connect is pending */
static void test_g2h_pending_reset(void)
{
    QVsockHostTest ht;
    int lfd, filler;

    qvsock_ht_init(&ht, "", "");
    lfd = g2h_start_pending(&ht, 40008, 5008, &filler);
    qvsock_expect_silence(&ht.vt, NS_PER_SEC / 2);
    g_assert_cmpuint(qvsock_stat(&ht.vt, "connections"), ==, 1);
    qtest_system_reset(ht.vt.qts);
    g_assert_cmpuint(qvsock_stat(&ht.vt, "connections"), ==, 0);
    host_release_cancelled(&ht, lfd, filler);
    close(lfd);
    qvsock_ht_free(&ht);
}

/*
 * A guest rx buffer placed on the transport's own registers (microvm's
 * virtio-mmio): the REQUEST for a host client is written into it from the
 * device's bottom half, and the header's zero bytes 4..7 would land on
 * STATUS and reset the device in the middle of its flush.  The bottom half
 * holds the transport's re-entrancy guard, so the write is blocked: the
 * device stays up and the connection waits for the guest's answer.
 */
static void test_rx_buffer_on_registers(void)
{
    const uint64_t status = 0x70;   /* virtio-mmio STATUS register */
    QVsockHostTest ht;
    uint32_t head, got, len;
    int64_t end;
    int fd;

    qvsock_ht_init(&ht, "", "");
    qvirtio_reset(ht.vt.vdev);
    qvsock_setup_device(&ht.vt, false);
    qvsock_desc_reserve(ht.vt.rx, 1);
    head = qvirtqueue_add(ht.vt.qts, ht.vt.rx, ht.vt.mmio.addr + status - 4,
                          64, true, false);
    ht.vt.rxbuf[head] = (QVsockRxBuf) {};
    qvirtqueue_kick(ht.vt.qts, ht.vt.vdev, ht.vt.rx, head);
    g_assert_cmpuint(qtest_readl(ht.vt.qts, ht.vt.mmio.addr + status) &
                     VIRTIO_CONFIG_S_DRIVER_OK, !=, 0);

    fd = qvsock_unix_connect(ht.uds);
    qvsock_host_write(fd, "CONNECT 1234\n");
    end = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
    while (!qvirtqueue_get_buf(ht.vt.qts, ht.vt.rx, &got, &len)) {
        g_assert_cmpint(g_get_monotonic_time(), <, end);
        qtest_clock_step(ht.vt.qts, 100);
        g_usleep(100);
    }
    g_assert_cmpuint(got, ==, head);
    g_assert_cmpuint(len, ==, QVSOCK_HDR_SIZE);
    g_assert_cmpuint(qtest_readl(ht.vt.qts, ht.vt.mmio.addr + status) &
                     VIRTIO_CONFIG_S_DRIVER_OK, !=, 0);
    g_assert_cmpuint(qvsock_stat(&ht.vt, "connections"), ==, 1);
    close(fd);
    qvsock_ht_free(&ht);
}


static void test_h2g_hybrid(void)
{
    QVsockHostTest ht;
    g_autofree char *ok = NULL;
    uint32_t hp;
    int fd;

    qvsock_ht_init(&ht, "", "");
    fd = qvsock_unix_connect(ht.uds);
    /* application data in the same write must not be swallowed */
    hp = qvsock_ht_h2g_connect(&ht, fd, "CONNECT 1234\nearly bytes", 1234);
    qvsock_respond(&ht.vt, 1234, hp);
    ok = g_strdup_printf("OK %u\n", hp);
    qvsock_host_expect(fd, ok);
    qvsock_ht_expect_text(&ht, 1234, hp, "early bytes");
    qvsock_ht_send_text(&ht, 1234, hp, "from guest");
    qvsock_host_expect(fd, "from guest");
    g_assert_cmpuint(qvsock_stat(&ht.vt, "host-sockets"), ==, 1);
    close(fd);
    {
        QVsockHdr h;

        qvsock_recv(&ht.vt, &h, NULL);
        qvsock_assert_hdr(&h, QVSOCK_USER_PARENT_CID, hp, 1234,
                          VIRTIO_VSOCK_OP_SHUTDOWN, 0,
                          VIRTIO_VSOCK_SHUTDOWN_SEND);
    }
    qvsock_send(&ht.vt, qvsock_ht_pkt(1234, hp, VIRTIO_VSOCK_OP_RST, 0), NULL);

    /* the guest refuses: the client is closed */
    fd = qvsock_unix_connect(ht.uds);
    hp = qvsock_ht_h2g_connect(&ht, fd, "CONNECT 1235\n", 1235);
    qvsock_send(&ht.vt, qvsock_ht_pkt(1235, hp, VIRTIO_VSOCK_OP_RST, 0), NULL);
    qvsock_host_expect_eof(fd);
    close(fd);
    qvsock_ht_free(&ht);
}

/* The CONNECT parser table */
static void test_h2g_parser(void)
{
    static const char *const bad[] = {
        "\n", "CONNECT\n", "CONNECT\t\n", "CONNECT x\n", "CONNECTS 5\n",
        "CONNECT -1\n", "CONNECT +1\n", "CONNECT 4294967295\n",
        "CONNECT 4294967296\n", "CONNECT 99999999999999999999\n",
        "CONNECT 1 2\n", "CONNECT 0x10\n", "C\xc3\x96NNECT 5\n",
        "CONNECT 5\xc2\xa0\n", "GET / HTTP/1.0\r\n",
        "CONNECT                                 5\n",
        "CONNECT 1234567890123456789012345678901234567890",
    };
    static const struct {
        const char *part1, *part2;
        uint32_t port;
    } good[] = {
        { "CONN", "ECT 77\n", 77 },
        { "CoNnEcT 78", "\n", 78 },
        { "connect   79  ", "\r\n", 79 },
        { "  CONNECT\t80\n", "", 80 },
        { "CONNECT 4294967294\n", "", 4294967294u },
        { "CONNECT 0\n", "", 0 },
    };
    QVsockHostTest ht;
    int fd;

    qvsock_ht_init(&ht, ",uds-connect-timeout=300", "");
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        fd = qvsock_unix_connect(ht.uds);
        qvsock_host_write(fd, bad[i]);
        qvsock_host_expect_eof(fd);
        close(fd);
    }
    /* no newline at all, and a silent client: timed out */
    fd = qvsock_unix_connect(ht.uds);
    qvsock_host_write(fd, "CONNECT 5");
    qvsock_host_expect_eof(fd);
    close(fd);
    fd = qvsock_unix_connect(ht.uds);
    qvsock_host_expect_eof(fd);
    close(fd);
    /* nothing reached the guest */
    qvsock_expect_silence(&ht.vt, NS_PER_SEC);
    g_assert_cmpuint(qvsock_stat(&ht.vt, "host-bad-connect"), ==,
                     G_N_ELEMENTS(bad) + 2);

    for (size_t i = 0; i < G_N_ELEMENTS(good); i++) {
        g_autofree char *ok = NULL;
        uint32_t hp;
        QVsockHdr h;

        fd = qvsock_unix_connect(ht.uds);
        qvsock_host_write(fd, good[i].part1);
        /*
         * Two monitor round trips: a main-loop pass that answers one has
         * also seen the client (the first accepts it) and its bytes (the
         * second reads them), which were there before the command, so
         * part2 arrives in a read of its own.
         */
        for (int k = 0; k < 2; k++) {
            qtest_qmp_assert_success(ht.vt.qts,
                                     "{'execute': 'query-status'}");
        }
        hp = qvsock_ht_h2g_connect(&ht, fd, good[i].part2, good[i].port);
        qvsock_respond(&ht.vt, good[i].port, hp);
        ok = g_strdup_printf("OK %u\n", hp);
        qvsock_host_expect(fd, ok);
        close(fd);
        qvsock_recv(&ht.vt, &h, NULL);
        g_assert_cmpuint(h.op, ==, VIRTIO_VSOCK_OP_SHUTDOWN);
        qvsock_send(&ht.vt,
                    qvsock_ht_pkt(good[i].port, hp, VIRTIO_VSOCK_OP_RST, 0),
                    NULL);
    }
    qvsock_ht_free(&ht);
}

/* Per-port forwards: guest port -> unix socket, TCP listener -> guest */
static void test_forwards(void)
{
    QVsockHostTest ht;
    g_autofree char *extra = NULL;
    g_autofree char *kms = NULL;
    g_autofree char *dir = NULL;
    int tport;
    int tfd = qvsock_tcp_listen(&tport);
    int lfd, fd, cfd;
    uint32_t hp;
    GError *err = NULL;

    dir = g_dir_make_tmp("vsock-user-fwd-XXXXXX", &err);
    g_assert_no_error(err);
    kms = g_strdup_printf("%s/kms.sock", dir);
    lfd = qvsock_unix_listen(kms, 64);
    extra = g_strdup_printf(
        "-object vsock-user-forward,id=kms,guest-port=8000,connect=unix:%s",
        kms);
    qvsock_ht_init(&ht, "", extra);
    /* the TCP forward listens on the test's socket, added at run time */
    qvsock_getfd(ht.vt.qts, tfd, "web");
    qtest_qmp_assert_success(ht.vt.qts, "{'execute': 'object-add', "
                             "'arguments': {'qom-type': 'vsock-user-forward',"
                             " 'id': 'web', 'listen': 'fd:web', "
                             "'guest-port': 80}}");

    /* guest -> unix forward, twice at the same time */
    fd = qvsock_connect_host(&ht.vt, 41000, 8000, lfd, QVSOCK_GUEST_BUF_ALLOC);
    cfd = qvsock_connect_host(&ht.vt, 41001, 8000, lfd, QVSOCK_GUEST_BUF_ALLOC);
    qvsock_ht_send_text(&ht, 41000, 8000, "one");
    qvsock_ht_send_text(&ht, 41001, 8000, "two");
    qvsock_host_expect(fd, "one");
    qvsock_host_expect(cfd, "two");
    qvsock_host_write(cfd, "TWO");
    qvsock_ht_expect_text(&ht, 41001, 8000, "TWO");
    close(fd);
    close(cfd);
    for (int i = 0; i < 2; i++) {
        QVsockHdr h;

        qvsock_recv(&ht.vt, &h, NULL);
        g_assert_cmpuint(h.op, ==, VIRTIO_VSOCK_OP_SHUTDOWN);
        qvsock_send(&ht.vt,
                    qvsock_ht_pkt(h.dst_port, 8000, VIRTIO_VSOCK_OP_RST, 0),
                    NULL);
    }

    /* TCP listener -> guest port 80 */
    fd = qvsock_tcp_connect(tport);
    qvsock_host_write(fd, "GET /");
    {
        QVsockHdr h;

        qvsock_recv(&ht.vt, &h, NULL);
        g_assert_cmpuint(h.op, ==, VIRTIO_VSOCK_OP_REQUEST);
        g_assert_cmpuint(h.dst_port, ==, 80);
        hp = h.src_port;
    }
    qvsock_respond(&ht.vt, 80, hp);
    qvsock_ht_expect_text(&ht, 80, hp, "GET /");
    qvsock_ht_send_text(&ht, 80, hp, "200 OK");
    qvsock_host_expect(fd, "200 OK");
    /* guest RST: TCP peer sees a reset or EOF */
    qvsock_send(&ht.vt, qvsock_ht_pkt(80, hp, VIRTIO_VSOCK_OP_RST, 0), NULL);
    qvsock_host_expect_eof(fd);
    close(fd);

    /* object-add at run time */
    {
        g_autofree char *kms2 = g_strdup_printf("%s/kms2.sock", dir);
        int lfd2 = qvsock_unix_listen(kms2, 64);
        QDict *rsp = qtest_qmp(ht.vt.qts, "{'execute': 'object-add', "
                               "'arguments': {'qom-type': "
                               "'vsock-user-forward', 'id': 'late', "
                               "'guest-port': 8001, 'connect': %s}}",
                               g_strdup_printf("unix:%s", kms2));

        g_assert(qdict_haskey(rsp, "return"));
        qobject_unref(rsp);
        fd = qvsock_connect_host(&ht.vt, 41002, 8001, lfd2,
                                 QVSOCK_GUEST_BUF_ALLOC);
        qvsock_ht_send_text(&ht, 41002, 8001, "late");
        qvsock_host_expect(fd, "late");
        close(fd);
        close(lfd2);
        unlink(kms2);
    }
    close(lfd);
    unlink(kms);
    rmdir(dir);
    qvsock_ht_free(&ht);
}


int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    if (!qvsock_has_machine("microvm")) {
        return g_test_run();
    }
    qtest_add_func("virtio-vsock-user-host/g2h-hybrid", test_g2h_hybrid);
    qtest_add_func("virtio-vsock-user-host/g2h-host-eof", test_g2h_host_eof);
    qtest_add_func("virtio-vsock-user-host/g2h-refused-rst",
                   test_g2h_refused_and_rst);
    qtest_add_func("virtio-vsock-user-host/g2h-pending-rst",
                   test_g2h_pending_rst);
    qtest_add_func("virtio-vsock-user-host/g2h-pending-timeout",
                   test_g2h_pending_timeout);
    qtest_add_func("virtio-vsock-user-host/g2h-pending-orphan",
                   test_g2h_pending_orphan);
    qtest_add_func("virtio-vsock-user-host/g2h-pending-reset",
                   test_g2h_pending_reset);
    qtest_add_func("virtio-vsock-user-host/h2g-hybrid", test_h2g_hybrid);
    qtest_add_func("virtio-vsock-user-host/rx-buffer-on-registers",
                   test_rx_buffer_on_registers);
    qtest_add_func("virtio-vsock-user-host/h2g-parser", test_h2g_parser);
    qtest_add_func("virtio-vsock-user-host/forwards", test_forwards);
    return g_test_run();
}
