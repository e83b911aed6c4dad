/*
 * QTest for virtio-vsock-user's bounds on host peers
 *
 * Host clients that connect and then do nothing, send half a CONNECT
 * line or garbage must not make QEMU hold file descriptors without bound
 * before they are connections: at most uds-max-handshakes clients in the
 * CONNECT handshake, at most host-max-pending host connections waiting for
 * the guest to accept.  The test floods the device's sockets with
 * thousands of such clients against small bounds and checks QEMU's open
 * descriptors (/proc/PID/fd), that the clients beyond a bound are closed
 * at once, the refusal counters, that a guest stream keeps its bytes, and
 * that well-behaved clients are served again once the flood is gone.  The
 * test plays the guest driver with libqos's QVsockTest.
 *
 * Copyright (c) 2026 The virtio-vsock-user authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include <poll.h>
#include <sys/resource.h>
#include <sys/un.h>
#include "libqtest.h"
#include "qemu/cutils.h"
#include "libqos/virtio-vsock-user.h"

/*
 * Descriptors QEMU may hold beyond the bound and the test's own
 * connections: one being accepted and closed while the test counts.
 */
#define FD_OVERHEAD 2

#define FLOOD 2000
#define FLOOD_BATCH 250
#define HANDSHAKES 64
#define PENDING 8
#define CHUNK 1000

typedef struct FT {
    QVsockTest vt;
    char *dir;
    char *uds;
    pid_t pid;
} FT;

/* @forward: also a listen= forward on DIR/f.sock with these options */
static void ft_init(FT *ft, const char *props, const char *forward)
{
    g_autofree char *p = NULL;
    g_autofree char *extra = NULL;

    memset(ft, 0, sizeof(*ft));
    ft->dir = qvsock_tmpdir_new("vsock-user-flood");
    ft->uds = g_strdup_printf("%s/v.sock", ft->dir);
    p = g_strdup_printf(",heartbeat=off,uds-path=%s%s", ft->uds, props);
    extra = forward ? g_strdup_printf("-object vsock-user-forward,id=f,%s,"
                                      "listen=unix:%s/f.sock", forward,
                                      ft->dir) : g_strdup("");
    qvsock_test_init(&ft->vt, "microvm", QVSOCK_RX_ONE_BUFFER, p, extra);
    ft->pid = qtest_pid(ft->vt.qts);
}

static void ft_free(FT *ft)
{
    qvsock_test_free(&ft->vt);
    qvsock_tmpdir_free(ft->dir);
    g_free(ft->uds);
}

/* The test holds thousands of sockets at once. */
static void raise_fd_limit(void)
{
    struct rlimit rl;

    g_assert_cmpint(getrlimit(RLIMIT_NOFILE, &rl), ==, 0);
    if (rl.rlim_cur < FLOOD + 256) {
        g_assert_cmpuint(rl.rlim_max, >=, FLOOD + 256);
        rl.rlim_cur = FLOOD + 256;
        g_assert_cmpint(setrlimit(RLIMIT_NOFILE, &rl), ==, 0);
    }
}

static void host_write(int fd, const void *buf, size_t len)
{
    g_assert_cmpint(write(fd, buf, len), ==, len);
}

/*
 * A flood client writes into a socket QEMU may have closed already (that
 * is the point): the write either goes in whole or fails with EPIPE or
 * ECONNRESET, and never raises SIGPIPE.
 */
static void flood_write(int fd, const void *buf, size_t len)
{
    ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

    if (n < 0) {
        g_assert_true(errno == EPIPE || errno == ECONNRESET);
    } else {
        g_assert_cmpint(n, ==, len);
    }
}

/* Nothing to read, and not closed: QEMU holds the client. */
static void host_expect_open(int fd)
{
    g_assert_false(qvsock_wait_fd(fd, POLLIN, 0));
}

/* Wait (bounded) until the device's statistic @name reads @value. */
static void wait_stat(FT *ft, const char *name, uint64_t value)
{
    gint64 end = g_get_monotonic_time() + QVSOCK_HOST_TIMEOUT_MS * 1000LL;

    while (qvsock_stat(&ft->vt, name) != value) {
        g_assert_cmpint(g_get_monotonic_time(), <, end);
        g_usleep(1000);
    }
}

static QVsockHdr gpkt(uint32_t src_port, uint32_t dst_port, uint16_t op,
                      uint32_t len)
{
    return qvsock_pkt(QVSOCK_USER_PARENT_CID, src_port, dst_port, op, len);
}

/* One chunk each way on an established stream, checked byte by byte. */
static void stream_round(FT *ft, uint32_t port, uint32_t dst, int fd,
                         unsigned round)
{
    uint8_t out[CHUNK], in[CHUNK], data[QVSOCK_RX_BUF_SIZE];
    size_t got = 0;

    for (size_t i = 0; i < CHUNK; i++) {
        out[i] = (uint8_t)(round * 131 + i * 7);
    }
    qvsock_send(&ft->vt, gpkt(port, dst, VIRTIO_VSOCK_OP_RW, CHUNK), out);
    qvsock_host_read(fd, in, CHUNK);
    g_assert_cmpmem(in, CHUNK, out, CHUNK);

    for (size_t i = 0; i < CHUNK; i++) {
        out[i] = (uint8_t)(round * 17 + i * 3 + 1);
    }
    host_write(fd, out, CHUNK);
    while (got < CHUNK) {
        QVsockHdr h;

        qvsock_recv(&ft->vt, &h, data);
        qvsock_assert_hdr(&h, QVSOCK_USER_PARENT_CID, dst, port,
                          VIRTIO_VSOCK_OP_RW, h.len, 0);
        g_assert_cmpuint(got + h.len, <=, CHUNK);
        g_assert_cmpmem(data, h.len, out + got, h.len);
        got += h.len;
    }
}

/* What each flood client sends right after connecting */
static const char *const junk[] = {
    NULL,                                   /* nothing: idle */
    "CONNECT 12",                           /* half a CONNECT line */
    "\x01\xff garbage \x7f\n",              /* garbage */
    "connect connect connect connect connect connect\n",    /* too long */
};

/*
 * Clients in the CONNECT handshake: HANDSHAKES idle or half-line clients
 * fill the bound, FLOOD more are each closed at once while a guest stream
 * goes on, QEMU's descriptors stay within the bound, and once the
 * holders go a legitimate CONNECT is served again.
 */
static void test_flood_handshakes(void)
{
    FT ft;
    g_autofree char *path = NULL;
    g_autofree char *ok = NULL;
    int hold[HANDSHAKES], flood[FLOOD_BATCH];
    int lfd, sfd, base, fd;
    unsigned round = 0;
    uint32_t hp;

    raise_fd_limit();
    /* no timeout during the test: the holders stay until they close */
    ft_init(&ft, ",uds-max-handshakes=64,uds-connect-timeout=600000", NULL);
    g_assert_cmpuint(qvsock_stat(&ft.vt, "host-handshakes"), ==, 0);

    /* a guest stream to PATH_5100, open through the whole flood */
    path = g_strdup_printf("%s_5100", ft.uds);
    lfd = qvsock_unix_listen(path, 16);
    sfd = qvsock_connect_host(&ft.vt, 43000, 5100, lfd, QVSOCK_GUEST_BUF_ALLOC);
    stream_round(&ft, 43000, 5100, sfd, round++);
    base = qvsock_count_fds(ft.pid);

    /* fill the bound: idle clients and half CONNECT lines */
    for (int i = 0; i < HANDSHAKES; i++) {
        hold[i] = qvsock_unix_connect(ft.uds);
        if (i % 2) {
            host_write(hold[i], junk[1], strlen(junk[1]));
        }
    }
    wait_stat(&ft, "host-handshakes", HANDSHAKES);
    g_assert_cmpint(qvsock_count_fds(ft.pid), ==, base + HANDSHAKES);

    /* the flood: every client beyond the bound is closed at once */
    for (int done = 0; done < FLOOD; done += FLOOD_BATCH) {
        for (int i = 0; i < FLOOD_BATCH; i++) {
            const char *j = junk[(done + i) % G_N_ELEMENTS(junk)];

            flood[i] = qvsock_unix_connect(ft.uds);
            if (j) {
                flood_write(flood[i], j, strlen(j));
            }
        }
        for (int i = 0; i < FLOOD_BATCH; i++) {
            qvsock_host_expect_eof(flood[i]);
            g_assert_cmpint(qvsock_count_fds(ft.pid), <=,
                            base + HANDSHAKES + FD_OVERHEAD);
            close(flood[i]);
        }
        stream_round(&ft, 43000, 5100, sfd, round++);
    }
    g_assert_cmpuint(qvsock_stat(&ft.vt, "host-handshake-refused"), ==,
                     FLOOD);
    g_assert_cmpuint(qvsock_stat(&ft.vt, "host-handshakes"), ==, HANDSHAKES);
    g_assert_cmpuint(qvsock_stat(&ft.vt, "host-bad-connect"), ==, 0);
    g_assert_cmpint(qvsock_count_fds(ft.pid), ==, base + HANDSHAKES);
    for (int i = 0; i < HANDSHAKES; i++) {
        host_expect_open(hold[i]);
    }

    /* a legitimate CONNECT while the bound is full is closed, too */
    fd = qvsock_unix_connect(ft.uds);
    flood_write(fd, "CONNECT 1234\n", 13);
    qvsock_host_expect_eof(fd);
    close(fd);
    g_assert_cmpuint(qvsock_stat(&ft.vt, "host-handshake-refused"), ==,
                     FLOOD + 1);

    /* the holders go: QEMU is back to where it started */
    for (int i = 0; i < HANDSHAKES; i++) {
        close(hold[i]);
    }
    wait_stat(&ft, "host-handshakes", 0);
    g_assert_cmpuint(qvsock_stat(&ft.vt, "host-bad-connect"), ==, HANDSHAKES);
    g_assert_cmpint(qvsock_count_fds(ft.pid), ==, base);

    /* and serves a legitimate CONNECT again */
    fd = qvsock_unix_connect(ft.uds);
    host_write(fd, "CONNECT 1234\n", 13);
    hp = qvsock_expect_request(&ft.vt, 1234);
    qvsock_respond(&ft.vt, 1234, hp);
    ok = g_strdup_printf("OK %u\n", hp);
    {
        char buf[32] = "";

        qvsock_host_read(fd, buf, strlen(ok));
        g_assert_cmpstr(buf, ==, ok);
    }
    stream_round(&ft, 1234, hp, fd, round++);
    stream_round(&ft, 43000, 5100, sfd, round++);
    g_assert_cmpint(qvsock_count_fds(ft.pid), ==, base + 1);
    g_assert_cmpuint(qvsock_stat(&ft.vt, "host-handshake-refused"), ==,
                     FLOOD + 1);

    /* the guest resets both streams: their host sockets close */
    qvsock_send(&ft.vt, gpkt(1234, hp, VIRTIO_VSOCK_OP_RST, 0), NULL);
    qvsock_send(&ft.vt, gpkt(43000, 5100, VIRTIO_VSOCK_OP_RST, 0), NULL);
    qvsock_host_expect_eof(fd);
    qvsock_host_expect_eof(sfd);
    close(fd);
    close(sfd);
    wait_stat(&ft, "host-sockets", 0);
    g_assert_cmpint(qvsock_count_fds(ft.pid), ==, base - 1);
    close(lfd);
    ft_free(&ft);
}

/*
 * Host connections waiting for the guest to accept: PENDING clients of a
 * listen= forward fill the bound (the guest does not answer their
 * REQUESTs), forward and hybrid clients beyond it are closed at once and
 * never reach the guest; one accept makes room for one more.
 */
static void test_flood_pending(void)
{
    enum { EXTRA = 200 };
    FT ft;
    g_autofree char *fwd = NULL;
    int wait[PENDING], fd[EXTRA];
    uint32_t hp[PENDING];
    int base, cfd;
    uint32_t chp;

    raise_fd_limit();
    ft_init(&ft, ",host-max-pending=8", "guest-port=7000");
    fwd = g_strdup_printf("%s/f.sock", ft.dir);
    base = qvsock_count_fds(ft.pid);

    for (int i = 0; i < PENDING; i++) {
        wait[i] = qvsock_unix_connect(fwd);
        hp[i] = qvsock_expect_request(&ft.vt, 7000);
    }
    g_assert_cmpuint(qvsock_stat(&ft.vt, "host-pending"), ==, PENDING);
    g_assert_cmpint(qvsock_count_fds(ft.pid), ==, base + PENDING);

    /* beyond the bound: forward clients and hybrid CONNECTs alike */
    for (int i = 0; i < EXTRA; i++) {
        if (i % 2) {
            fd[i] = qvsock_unix_connect(ft.uds);
            host_write(fd[i], "CONNECT 7000\n", 13);
        } else {
            fd[i] = qvsock_unix_connect(fwd);
        }
    }
    for (int i = 0; i < EXTRA; i++) {
        qvsock_host_expect_eof(fd[i]);
        g_assert_cmpint(qvsock_count_fds(ft.pid), <=,
                        base + PENDING + FD_OVERHEAD);
        close(fd[i]);
    }
    g_assert_cmpuint(qvsock_stat(&ft.vt, "host-pending-refused"), ==, EXTRA);
    g_assert_cmpuint(qvsock_stat(&ft.vt, "host-pending"), ==, PENDING);
    g_assert_cmpuint(qvsock_stat(&ft.vt, "host-refused"), ==, 0);
    g_assert_cmpuint(qvsock_stat(&ft.vt, "host-handshakes"), ==, 0);
    /* none of them reached the guest (well within the connect timeout) */
    qvsock_expect_silence(&ft.vt, 100 * 1000 * 1000);
    g_assert_cmpint(qvsock_count_fds(ft.pid), ==, base + PENDING);

    /* the guest accepts one: it is a connection, and one more may wait */
    qvsock_respond(&ft.vt, 7000, hp[0]);
    wait_stat(&ft, "host-pending", PENDING - 1);
    stream_round(&ft, 7000, hp[0], wait[0], 0);
    cfd = qvsock_unix_connect(ft.uds);
    host_write(cfd, "CONNECT 7000\n", 13);
    chp = qvsock_expect_request(&ft.vt, 7000);
    g_assert_cmpuint(qvsock_stat(&ft.vt, "host-pending"), ==, PENDING);

    /* the guest refuses the waiting ones: their clients see EOF */
    qvsock_send(&ft.vt, gpkt(7000, chp, VIRTIO_VSOCK_OP_RST, 0), NULL);
    qvsock_host_expect_eof(cfd);
    close(cfd);
    for (int i = 1; i < PENDING; i++) {
        qvsock_send(&ft.vt, gpkt(7000, hp[i], VIRTIO_VSOCK_OP_RST, 0), NULL);
        qvsock_host_expect_eof(wait[i]);
        close(wait[i]);
    }
    g_assert_cmpuint(qvsock_stat(&ft.vt, "host-pending"), ==, 0);
    qvsock_send(&ft.vt, gpkt(7000, hp[0], VIRTIO_VSOCK_OP_RST, 0), NULL);
    qvsock_host_expect_eof(wait[0]);
    close(wait[0]);
    wait_stat(&ft, "host-sockets", 0);
    g_assert_cmpint(qvsock_count_fds(ft.pid), ==, base);
    g_assert_cmpuint(qvsock_stat(&ft.vt, "host-pending-refused"), ==, EXTRA);
    ft_free(&ft);
}

static long rss_kib(pid_t pid)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/status", pid);
    g_autofree char *text = NULL;
    const char *line;
    long kib;

    g_assert_true(g_file_get_contents(path, &text, NULL, NULL));
    line = strstr(text, "VmRSS:");
    g_assert_nonnull(line);
    line += strlen("VmRSS:");
    while (*line == ' ' || *line == '\t') {
        line++;
    }
    g_assert_cmpint(qemu_strtol(line, &line, 10, &kib), ==, 0);
    return kib;
}

/* A client that goes away at once, or after @text */
static void client_vanish(const char *path, const char *text)
{
    int fd = qvsock_unix_connect(path);

    if (text) {
        flood_write(fd, text, strlen(text));
    }
    close(fd);
}

/*
 * One storm: hybrid clients that vanish at once, after half a CONNECT
 * line or after garbage; hybrid and forward clients that vanish before the
 * guest answers their connection (the guest refuses it); forward clients
 * that are accepted, send a little and vanish (the guest reads the bytes,
 * then EOF).  A guest stream goes on between the batches.
 */
static void storm(FT *ft, const char *fwd, int sfd, unsigned *round)
{
    enum { BATCH = 40 };
    static const char *const early[] = {
        NULL, "CONNECT 70", "\x01\xff garbage \x7f\n",
    };

    for (int b = 0; b < 3; b++) {
        /* hybrid clients that never finish their CONNECT line */
        for (int i = 0; i < BATCH; i++) {
            client_vanish(ft->uds, early[i % G_N_ELEMENTS(early)]);
        }
        for (int i = 0; i < BATCH / 4; i++) {
            QVsockHdr h;
            uint8_t data[QVSOCK_RX_BUF_SIZE];
            uint32_t hp;
            int fd;

            /* CONNECT, then gone before the guest answers: refused */
            client_vanish(ft->uds, "CONNECT 7000\n");
            hp = qvsock_expect_request(&ft->vt, 7000);
            qvsock_send(&ft->vt, gpkt(7000, hp, VIRTIO_VSOCK_OP_RST, 0), NULL);
            /* a forward client the guest never gets to accept */
            client_vanish(fwd, NULL);
            hp = qvsock_expect_request(&ft->vt, 7000);
            qvsock_send(&ft->vt, gpkt(7000, hp, VIRTIO_VSOCK_OP_RST, 0), NULL);
            /* accepted, ten bytes, gone: the guest reads them, then EOF */
            fd = qvsock_unix_connect(fwd);
            hp = qvsock_expect_request(&ft->vt, 7000);
            qvsock_respond(&ft->vt, 7000, hp);
            host_write(fd, "0123456789", 10);
            close(fd);
            qvsock_recv(&ft->vt, &h, data);
            qvsock_assert_hdr(&h, QVSOCK_USER_PARENT_CID, hp, 7000,
                              VIRTIO_VSOCK_OP_RW, 10, 0);
            g_assert_cmpmem(data, 10, "0123456789", 10);
            qvsock_recv(&ft->vt, &h, NULL);
            qvsock_assert_hdr(&h, QVSOCK_USER_PARENT_CID, hp, 7000,
                              VIRTIO_VSOCK_OP_SHUTDOWN, 0,
                              VIRTIO_VSOCK_SHUTDOWN_SEND);
            qvsock_send(&ft->vt, gpkt(7000, hp, VIRTIO_VSOCK_OP_RST, 0), NULL);
        }
        stream_round(ft, 43000, 5100, sfd, (*round)++);
    }
    wait_stat(ft, "host-handshakes", 0);
    wait_stat(ft, "host-pending", 0);
    wait_stat(ft, "host-sockets", 1);           /* the guest stream's */
}

/*
 * Storms of misbehaving host clients leave nothing behind: after a first
 * storm (which grows QEMU's tables and heap to their working size), three
 * more leave QEMU's descriptors exactly as they were and its memory within
 * 1 MiB, while the guest stream's bytes stay exact throughout.
 */
static void test_storm(void)
{
    FT ft;
    g_autofree char *path = NULL;
    g_autofree char *fwd = NULL;
    unsigned round = 0;
    int lfd, sfd, fds;
    long rss;

    ft_init(&ft, ",uds-connect-timeout=600000", "guest-port=7000");
    fwd = g_strdup_printf("%s/f.sock", ft.dir);
    path = g_strdup_printf("%s_5100", ft.uds);
    lfd = qvsock_unix_listen(path, 16);
    sfd = qvsock_connect_host(&ft.vt, 43000, 5100, lfd, QVSOCK_GUEST_BUF_ALLOC);
    stream_round(&ft, 43000, 5100, sfd, round++);

    storm(&ft, fwd, sfd, &round);
    fds = qvsock_count_fds(ft.pid);
    rss = rss_kib(ft.pid);
    for (int i = 0; i < 3; i++) {
        storm(&ft, fwd, sfd, &round);
    }
    g_test_message("after 3 storms: %d -> %d fds, VmRSS %ld -> %ld KiB",
                   fds, qvsock_count_fds(ft.pid), rss, rss_kib(ft.pid));
    g_assert_cmpint(qvsock_count_fds(ft.pid), ==, fds);
    /*
     * Under AddressSanitizer (make check-asan sets ASAN_OPTIONS for QEMU)
     * freed memory waits in ASan's quarantine, so RSS grows with any
     * churn at all; there the descriptors are the bound, and ASan itself
     * reports what is really lost.
     */
    if (!g_getenv("ASAN_OPTIONS")) {
        g_assert_cmpint(rss_kib(ft.pid) - rss, <, 1024);
    }
    /* every hybrid client that vanished before its line, 40 a batch */
    wait_stat(&ft, "host-bad-connect", 4 * 3 * 40);
    stream_round(&ft, 43000, 5100, sfd, round++);
    close(sfd);
    close(lfd);
    ft_free(&ft);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    qtest_add_func("virtio-vsock-user-flood/handshakes",
                   test_flood_handshakes);
    qtest_add_func("virtio-vsock-user-flood/pending", test_flood_pending);
    qtest_add_func("virtio-vsock-user-flood/storm", test_storm);
    return g_test_run();
}
