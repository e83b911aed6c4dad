/*
 * QTest for virtio-vsock-user's host endpoints: data flow
 *
 * As virtio-vsock-user-host-test.c, the test plays the guest driver on the
 * device's virtqueues and the host programs on real Unix sockets: credit
 * backpressure both ways, the bridge's read-ahead of host data, and file
 * descriptors across a device reset.
 *
 * Copyright (c) 2026 The virtio-vsock-user authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/units.h"
#include "libqtest.h"
#include "libqos/virtio-vsock-user.h"

#define NS_PER_SEC 1000000000LL

/* Host -> guest backpressure: never more RW than the guest's credit */
static void test_backpressure_h2g(void)
{
    enum { CREDIT = 8192, TOTAL = 64 * 1024 };
    QVsockHostTest ht;
    g_autofree uint8_t *buf = qvsock_pattern_new(TOTAL, 7);
    g_autofree uint8_t *got = g_malloc(TOTAL);
    uint32_t rcvd = 0;
    int lfd, fd;
    QVsockHdr upd;

    qvsock_ht_init(&ht, "", "");
    lfd = qvsock_ht_listen_port(&ht, 5003);
    fd = qvsock_connect_host(&ht.vt, 40004, 5003, lfd, CREDIT);
    g_assert_cmpint(write(fd, buf, TOTAL), ==, TOTAL);
    while (rcvd < TOTAL) {
        uint32_t window = rcvd + CREDIT;

        while (rcvd < window) {
            qvsock_ht_recv_data(&ht, 40004, 5003, got, &rcvd, window);
        }
        /* credit exhausted: nothing more until the guest frees space */
        qvsock_expect_silence(&ht.vt, NS_PER_SEC / 10);
        upd = qvsock_ht_pkt(40004, 5003, VIRTIO_VSOCK_OP_CREDIT_UPDATE, 0);
        upd.buf_alloc = CREDIT;
        upd.fwd_cnt = rcvd;
        qvsock_send(&ht.vt, upd, NULL);
    }
    g_assert_cmpmem(got, TOTAL, buf, TOTAL);
    close(fd);
    close(lfd);
    qvsock_ht_free(&ht);
}

/*
 * Host -> guest, one recvmsg() for several rx buffers: every byte in order,
 * each packet within its buffer, the host's EOF only after the last byte;
 * a guest RST while bytes read ahead are held drops them with the socket.
 */
static void test_h2g_read_ahead(void)
{
    enum { TOTAL = 150 * 1024 + 123 };
    QVsockHostTest ht;
    g_autofree uint8_t *buf = qvsock_pattern_new(TOTAL, 13);
    g_autofree uint8_t *got = g_malloc(TOTAL);
    uint8_t data[QVSOCK_RX_BUF_SIZE];
    uint32_t rcvd = 0;
    int lfd, fd;
    QVsockHdr h;

    qvsock_ht_init(&ht, "", "");
    lfd = qvsock_ht_listen_port(&ht, 5006);
    fd = qvsock_connect_host(&ht.vt, 40006, 5006, lfd, QVSOCK_GUEST_BUF_ALLOC);
    g_assert_cmpint(write(fd, buf, TOTAL), ==, TOTAL);
    shutdown(fd, SHUT_WR);
    while (rcvd < TOTAL) {
        qvsock_ht_recv_data(&ht, 40006, 5006, got, &rcvd, TOTAL);
    }
    g_assert_cmpmem(got, TOTAL, buf, TOTAL);
    qvsock_recv(&ht.vt, &h, NULL);
    qvsock_assert_hdr(&h, QVSOCK_USER_PARENT_CID, 5006, 40006,
                      VIRTIO_VSOCK_OP_SHUTDOWN, 0, VIRTIO_VSOCK_SHUTDOWN_SEND);
    qvsock_send(&ht.vt, qvsock_ht_pkt(40006, 5006, VIRTIO_VSOCK_OP_RST, 0),
                NULL);
    qvsock_host_expect_eof(fd);
    close(fd);

    fd = qvsock_connect_host(&ht.vt, 40007, 5006, lfd, QVSOCK_GUEST_BUF_ALLOC);
    g_assert_cmpint(write(fd, buf, 32 * 1024), ==, 32 * 1024);
    qvsock_recv(&ht.vt, &h, data);
    g_assert_cmpuint(h.op, ==, VIRTIO_VSOCK_OP_RW);
    g_assert_cmpmem(data, h.len, buf, h.len);
    qvsock_send(&ht.vt, qvsock_ht_pkt(40007, 5006, VIRTIO_VSOCK_OP_RST, 0),
                NULL);
    qvsock_host_expect_eof(fd);
    g_assert_cmpuint(qvsock_stat(&ht.vt, "connections"), ==, 0);
    close(fd);
    close(lfd);
    qvsock_ht_free(&ht);
}

/* Guest -> host backpressure: credit stops while the host does not read */
static void test_backpressure_g2h(void)
{
    enum { DEV_BUF = 16384, CHUNK = 4000 };
    QVsockHostTest ht;
    uint8_t chunk[CHUNK];
    uint8_t rd[CHUNK];
    uint64_t sent = 0, fwd = 0, checked = 0;
    int stalls = 0;
    int lfd, fd;
    QVsockHdr h;

    /* the test's QVSOCK_DEV_BUF_ALLOC check does not apply: own handshake */
    qvsock_ht_init(&ht, ",buf-size=16384", "");
    lfd = qvsock_ht_listen_port(&ht, 5004);
    qvsock_send(&ht.vt, qvsock_ht_pkt(40005, 5004, VIRTIO_VSOCK_OP_REQUEST, 0),
                NULL);
    fd = qvsock_host_accept(&ht.vt, lfd);
    qvsock_recv(&ht.vt, &h, NULL);
    qvsock_assert_hdr(&h, QVSOCK_USER_PARENT_CID, 5004, 40005,
                      VIRTIO_VSOCK_OP_RESPONSE, 0, 0);
    g_assert_cmpuint(h.buf_alloc, ==, DEV_BUF);

    /* send while the device gives credit; the host reads nothing */
    while (stalls < 3) {
        if (sent - fwd + CHUNK <= DEV_BUF) {
            for (int i = 0; i < CHUNK; i++) {
                chunk[i] = (sent + i) * 13;
            }
            qvsock_send(&ht.vt,
                        qvsock_ht_pkt(40005, 5004, VIRTIO_VSOCK_OP_RW, CHUNK),
                        chunk);
            sent += CHUNK;
            g_assert_cmpuint(sent, <, 16 * MiB);
            continue;
        }
        qvsock_send(
            &ht.vt,
            qvsock_ht_pkt(40005, 5004, VIRTIO_VSOCK_OP_CREDIT_REQUEST, 0),
            NULL);
        do {
            qvsock_recv(&ht.vt, &h, NULL);
        } while (h.op != VIRTIO_VSOCK_OP_CREDIT_UPDATE);
        stalls = h.fwd_cnt == fwd ? stalls + 1 : 0;
        fwd = h.fwd_cnt;
    }
    /* stalled with the device's buffer full */
    g_assert_cmpuint(sent - fwd, >, DEV_BUF - CHUNK);
    g_test_message("stalled after %" PRIu64 " bytes, %" PRIu64 " taken",
                   sent, fwd);

    /* the host drains: everything arrives in order, credit resumes */
    while (checked < sent) {
        size_t n = MIN(sizeof(rd), sent - checked);

        qvsock_host_read(fd, rd, n);
        for (size_t i = 0; i < n; i++) {
            g_assert_cmpuint(rd[i], ==, (uint8_t)((checked + i) * 13));
        }
        checked += n;
    }
    qvsock_send(&ht.vt,
                qvsock_ht_pkt(40005, 5004, VIRTIO_VSOCK_OP_CREDIT_REQUEST, 0),
                NULL);
    do {
        qvsock_recv(&ht.vt, &h, NULL);
    } while (h.op != VIRTIO_VSOCK_OP_CREDIT_UPDATE || h.fwd_cnt != sent);
    close(fd);
    close(lfd);
    qvsock_ht_free(&ht);
}

/* Device reset with open connections of every kind: no fd left behind */
static void test_reset_fds(void)
{
    enum { N = 8 };
    QVsockHostTest ht;
    int lfd, hfd[N], cfd[N];
    pid_t pid;
    int base;

    qvsock_ht_init(&ht, "", "");
    pid = qtest_pid(ht.vt.qts);
    base = qvsock_count_fds(pid);
    lfd = qvsock_ht_listen_port(&ht, 5005);
    for (int i = 0; i < N; i++) {
        hfd[i] = qvsock_connect_host(&ht.vt, 42000 + i, 5005, lfd,
                                    QVSOCK_GUEST_BUF_ALLOC);
        cfd[i] = qvsock_unix_connect(ht.uds);
        qvsock_respond(&ht.vt, 6000 + (i % 2),
                       qvsock_ht_h2g_connect(&ht, cfd[i], i % 2 ?
                                             "CONNECT 6001\n" :
                                             "CONNECT 6000\n",
                                             6000 + (i % 2)));
    }
    g_assert_cmpint(qvsock_count_fds(pid), >=, base + 2 * N);
    g_assert_cmpuint(qvsock_stat(&ht.vt, "host-sockets"), ==, 2 * N);
    qtest_system_reset(ht.vt.qts);
    g_assert_cmpuint(qvsock_stat(&ht.vt, "host-sockets"), ==, 0);
    /* (startup may still have held a few transient fds at "base") */
    g_assert_cmpint(qvsock_count_fds(pid), <=, base);
    for (int i = 0; i < N; i++) {
        qvsock_host_expect_eof(hfd[i]);
        close(hfd[i]);
        close(cfd[i]);
    }
    close(lfd);
    qvsock_ht_free(&ht);
}

/*
 * A vsock-user-link that carries the parent CID takes the guest's new
 * connections to the parent (the parent is a real guest behind it), but a
 * connection QEMU itself opened to the guest stays in QEMU: the guest's
 * RESPONSE and data for a host client's connection must reach that
 * client, not the link.
 */
static void test_link_carries_parent(void)
{
    QVsockHostTest ht;
    g_autofree char *dir = qvsock_tmpdir_new("vsock-user-linkp");
    g_autofree char *extra = g_strdup_printf(
        "-object vsock-user-link,id=l0,addr=unix:%s/l.sock,server=on,"
        "cids=%u", dir, QVSOCK_USER_PARENT_CID);
    g_autofree char *ok = NULL;
    QVsockHdr h;
    uint32_t hp;
    int fd;

    qvsock_ht_init(&ht, "", extra);
    fd = qvsock_unix_connect(ht.uds);
    hp = qvsock_ht_h2g_connect(&ht, fd, "CONNECT 1234\n", 1234);
    qvsock_respond(&ht.vt, 1234, hp);
    ok = g_strdup_printf("OK %u\n", hp);
    qvsock_host_expect(fd, ok);
    qvsock_ht_send_text(&ht, 1234, hp, "to the host client");
    qvsock_host_expect(fd, "to the host client");
    qvsock_host_write(fd, "to the guest");
    qvsock_ht_expect_text(&ht, 1234, hp, "to the guest");
    g_assert_cmpuint(qvsock_stat(&ht.vt, "connections"), ==, 1);

    /* a new connection to the parent goes to the link, which is down */
    qvsock_send(&ht.vt, qvsock_ht_pkt(1300, 5000, VIRTIO_VSOCK_OP_REQUEST, 0),
                NULL);
    qvsock_recv(&ht.vt, &h, NULL);
    qvsock_assert_hdr(&h, QVSOCK_USER_PARENT_CID, 5000, 1300,
                      VIRTIO_VSOCK_OP_RST, 0, 0);
    g_assert_cmpuint(qvsock_stat(&ht.vt, "connections"), ==, 1);
    g_assert_cmpuint(qvsock_stat(&ht.vt, "host-connect-failed"), ==, 0);
    close(fd);
    qvsock_ht_free(&ht);
    qvsock_tmpdir_free(g_steal_pointer(&dir));
}

typedef struct HostWrite {
    int fd;
    const uint8_t *buf;
    size_t len;
} HostWrite;

static gpointer host_write_fn(gpointer opaque)
{
    HostWrite *w = opaque;

    while (w->len) {
        ssize_t n = write(w->fd, w->buf, w->len);

        g_assert_cmpint(n, >, 0);
        w->buf += n;
        w->len -= n;
    }
    g_free(w);
    return NULL;
}

/*
 * The host writes @len bytes of @buf to @fd from a thread: more than a
 * socket's buffer may hold before the guest reads.
 */
static GThread *host_write_thread(int fd, const uint8_t *buf, size_t len)
{
    HostWrite *w = g_new(HostWrite, 1);

    *w = (HostWrite) { .fd = fd, .buf = buf, .len = len };
    return g_thread_new("host-write", host_write_fn, w);
}

/* The guest sends @len bytes of @buf on @port -> parent @dst as RW packets */
static void guest_send_all(QVsockHostTest *ht, uint32_t port, uint32_t dst,
                           const uint8_t *buf, uint32_t len)
{
    enum { CHUNK = 3000 };        /* not a divisor of anything on the way */

    for (uint32_t off = 0; off < len; off += CHUNK) {
        uint32_t n = MIN(CHUNK, len - off);

        qvsock_send(&ht->vt,
                    qvsock_ht_pkt(port, dst, VIRTIO_VSOCK_OP_RW, n),
                    buf + off);
    }
}

/*
 * Both directions of a stream forward, byte for byte: a connect=tcp
 * forward (the guest connects, the test's TCP server answers) and a
 * listen=unix forward (the test connects, the guest's port answers),
 * 100 KiB each way, within the credit both sides announce.
 */
static void test_forwards_byte_exact(void)
{
    enum { TOTAL = 100 * KiB + 7 };
    g_autofree uint8_t *g2h = qvsock_pattern_new(TOTAL, 21);
    g_autofree uint8_t *h2g = qvsock_pattern_new(TOTAL, 22);
    g_autofree uint8_t *got = g_malloc(TOTAL);
    g_autofree char *extra = NULL;
    g_autofree char *path = NULL;
    char *dir;
    QVsockHostTest ht;
    GThread *th;
    uint32_t rcvd, hp;
    int port, lfd, fd;

    lfd = qvsock_tcp_listen(&port);
    dir = qvsock_tmpdir_new("vsock-user-fwd");
    path = g_strdup_printf("%s/svc.sock", dir);
    extra = g_strdup_printf(
        "-object vsock-user-forward,id=db,guest-port=8100,"
        "connect=tcp:127.0.0.1:%d "
        "-object vsock-user-forward,id=svc,listen=unix:%s,guest-port=81",
        port, path);
    qvsock_ht_init(&ht, "", extra);

    /* guest -> TCP server through connect=tcp */
    fd = qvsock_connect_host(&ht.vt, 41100, 8100, lfd,
                             QVSOCK_GUEST_BUF_ALLOC);
    guest_send_all(&ht, 41100, 8100, g2h, TOTAL);
    qvsock_host_read(fd, got, TOTAL);
    g_assert_cmpmem(got, TOTAL, g2h, TOTAL);
    th = host_write_thread(fd, h2g, TOTAL);
    rcvd = 0;
    while (rcvd < TOTAL) {
        qvsock_ht_recv_data(&ht, 41100, 8100, got, &rcvd, TOTAL);
    }
    g_thread_join(th);
    g_assert_cmpmem(got, TOTAL, h2g, TOTAL);
    qvsock_send(&ht.vt, qvsock_ht_pkt(41100, 8100, VIRTIO_VSOCK_OP_RST, 0),
                NULL);
    qvsock_host_expect_eof(fd);
    close(fd);

    /* a Unix client -> guest port 81 through listen=unix */
    fd = qvsock_unix_connect(path);
    hp = qvsock_expect_request(&ht.vt, 81);
    qvsock_respond(&ht.vt, 81, hp);
    th = host_write_thread(fd, h2g, TOTAL);
    rcvd = 0;
    while (rcvd < TOTAL) {
        qvsock_ht_recv_data(&ht, 81, hp, got, &rcvd, TOTAL);
    }
    g_thread_join(th);
    g_assert_cmpmem(got, TOTAL, h2g, TOTAL);
    guest_send_all(&ht, 81, hp, g2h, TOTAL);
    qvsock_host_read(fd, got, TOTAL);
    g_assert_cmpmem(got, TOTAL, g2h, TOTAL);
    qvsock_send(&ht.vt, qvsock_ht_pkt(81, hp, VIRTIO_VSOCK_OP_RST, 0), NULL);
    qvsock_host_expect_eof(fd);
    close(fd);

    g_assert_cmpuint(qvsock_stat(&ht.vt, "connections"), ==, 0);
    close(lfd);
    qvsock_ht_free(&ht);
    qvsock_tmpdir_free(dir);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    if (!qvsock_has_machine("microvm")) {
        return g_test_run();
    }
    qtest_add_func("virtio-vsock-user-host/backpressure-h2g",
                   test_backpressure_h2g);
    qtest_add_func("virtio-vsock-user-host/h2g-read-ahead",
                   test_h2g_read_ahead);
    qtest_add_func("virtio-vsock-user-host/backpressure-g2h",
                   test_backpressure_g2h);
    qtest_add_func("virtio-vsock-user-host/reset-fds", test_reset_fds);
    qtest_add_func("virtio-vsock-user-host/link-carries-parent",
                   test_link_carries_parent);
    qtest_add_func("virtio-vsock-user-host/forwards-byte-exact",
                   test_forwards_byte_exact);
    return g_test_run();
}
