/*
 * libqos for virtio-vsock-user: the host's side of the qtests
 *
 * Host programs on real Unix and TCP loopback sockets that the device's
 * host endpoints connect to or accept from, in a temporary directory per
 * test (see virtio-vsock-user.h).
 *
 * Copyright (c) 2026 The virtio-vsock-user authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include <poll.h>
#include <sys/un.h>
#include <netinet/in.h>
#include "../libqtest.h"
#include "virtio-vsock-user.h"

char *qvsock_tmpdir_new(const char *prefix)
{
    g_autofree char *tmpl = g_strdup_printf("%s-XXXXXX", prefix);
    GError *err = NULL;
    char *dir = g_dir_make_tmp(tmpl, &err);

    g_assert_no_error(err);
    return dir;
}

void qvsock_tmpdir_free(char *dir)
{
    g_autoptr(GDir) d = g_dir_open(dir, 0, NULL);
    const char *name;

    while (d && (name = g_dir_read_name(d))) {
        g_autofree char *path = g_build_filename(dir, name, NULL);

        unlink(path);
    }
    rmdir(dir);
    g_free(dir);
}

int qvsock_unix_listen(const char *path, int backlog)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);

    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpuint(strlen(path), <, sizeof(sa.sun_path));
    strcpy(sa.sun_path, path);
    unlink(path);
    g_assert_cmpint(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), ==, 0);
    g_assert_cmpint(listen(fd, backlog), ==, 0);
    return fd;
}

int qvsock_unix_connect(const char *path)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);

    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpuint(strlen(path), <, sizeof(sa.sun_path));
    strcpy(sa.sun_path, path);
    g_assert_cmpint(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), ==, 0);
    return fd;
}

bool qvsock_wait_fd(int fd, short events, int ms)
{
    struct pollfd p = { .fd = fd, .events = events };

    return poll(&p, 1, ms) == 1;
}

int qvsock_unix_listen_full(const char *path, int *filler)
{
    int fd = qvsock_unix_listen(path, 0);

    *filler = qvsock_unix_connect(path);
    return fd;
}

int qvsock_host_accept(QVsockTest *t, int lfd)
{
    gint64 end = g_get_monotonic_time() + QVSOCK_TIMEOUT_US;
    int fd;

    /* the device connects from a thread; its timers run on the qtest clock */
    while (!qvsock_wait_fd(lfd, POLLIN, 1)) {
        g_assert_cmpint(g_get_monotonic_time(), <, end);
        qtest_clock_step(t->qts, 100);
    }
    fd = accept(lfd, NULL, NULL);
    g_assert_cmpint(fd, >=, 0);
    return fd;
}

int qvsock_connect_host(QVsockTest *t, uint32_t port, uint32_t dst, int lfd,
                        uint32_t buf_alloc)
{
    QVsockHdr req = qvsock_pkt(QVSOCK_USER_PARENT_CID, port, dst,
                               VIRTIO_VSOCK_OP_REQUEST, 0);
    QVsockHdr h;
    int fd;

    req.buf_alloc = buf_alloc;
    t->fwd_cnt = 0;
    qvsock_send(t, req, NULL);
    fd = qvsock_host_accept(t, lfd);
    qvsock_recv(t, &h, NULL);
    qvsock_assert_hdr(&h, QVSOCK_USER_PARENT_CID, dst, port,
                      VIRTIO_VSOCK_OP_RESPONSE, 0, 0);
    g_assert_cmpuint(h.buf_alloc, ==, QVSOCK_DEV_BUF_ALLOC);
    return fd;
}

uint32_t qvsock_expect_request(QVsockTest *t, uint32_t guest_port)
{
    QVsockHdr h;

    qvsock_recv(t, &h, NULL);
    g_assert_cmpuint(h.op, ==, VIRTIO_VSOCK_OP_REQUEST);
    g_assert_cmpuint(h.src_cid, ==, QVSOCK_USER_PARENT_CID);
    g_assert_cmpuint(h.dst_port, ==, guest_port);
    return h.src_port;
}

void qvsock_respond(QVsockTest *t, uint32_t guest_port, uint32_t host_port)
{
    t->fwd_cnt = 0;
    qvsock_send(t, qvsock_pkt(QVSOCK_USER_PARENT_CID, guest_port, host_port,
                              VIRTIO_VSOCK_OP_RESPONSE, 0), NULL);
}

int qvsock_count_fds(pid_t pid)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/fd", pid);
    g_autoptr(GDir) d = g_dir_open(path, 0, NULL);
    int n = 0;

    g_assert_nonnull(d);
    while (g_dir_read_name(d)) {
        n++;
    }
    return n;
}

int qvsock_tcp_listen(int *port)
{
    struct sockaddr_in sa = {
        .sin_family = AF_INET,
        .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
    };
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    g_assert_cmpint(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), ==, 0);
    g_assert_cmpint(listen(fd, 64), ==, 0);
    g_assert_cmpint(getsockname(fd, (struct sockaddr *)&sa, &len), ==, 0);
    *port = ntohs(sa.sin_port);
    return fd;
}

void qvsock_getfd(QTestState *qts, int fd, const char *name)
{
    qtest_qmp_fds_assert_success(qts, &fd, 1, "{'execute': 'getfd', "
                                 "'arguments': {'fdname': %s}}", name);
    close(fd);
}

int qvsock_tcp_connect(int port)
{
    struct sockaddr_in sa = {
        .sin_family = AF_INET,
        .sin_port = htons(port),
        .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
    };
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    g_assert_cmpint(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), ==, 0);
    return fd;
}

void qvsock_host_read(int fd, void *buf, size_t len)
{
    size_t got = 0;

    while (got < len) {
        ssize_t n;

        g_assert(qvsock_wait_fd(fd, POLLIN, QVSOCK_HOST_TIMEOUT_MS));
        n = read(fd, (char *)buf + got, len - got);
        g_assert_cmpint(n, >, 0);
        got += n;
    }
}

void qvsock_host_expect(int fd, const char *text)
{
    g_autofree char *buf = g_malloc(strlen(text) + 1);

    qvsock_host_read(fd, buf, strlen(text));
    buf[strlen(text)] = 0;
    g_assert_cmpstr(buf, ==, text);
}

void qvsock_host_expect_eof(int fd)
{
    char c;
    ssize_t n;

    g_assert(qvsock_wait_fd(fd, POLLIN, QVSOCK_HOST_TIMEOUT_MS));
    n = read(fd, &c, 1);
    g_assert(n == 0 || (n < 0 && errno == ECONNRESET));
}

/* The host-endpoint tests' device and guest steps (QVsockHostTest) */

void qvsock_ht_init(QVsockHostTest *ht, const char *props, const char *extra)
{
    g_autofree char *p = NULL;

    memset(ht, 0, sizeof(*ht));
    ht->dir = qvsock_tmpdir_new("vsock-user-host");
    ht->uds = g_strdup_printf("%s/v.sock", ht->dir);
    p = g_strdup_printf(",heartbeat=off,uds-path=%s%s", ht->uds, props);
    qvsock_test_init(&ht->vt, "microvm", QVSOCK_RX_ONE_BUFFER, p, extra);
}

void qvsock_ht_free(QVsockHostTest *ht)
{
    qvsock_test_free(&ht->vt);
    /* the device removed its own socket at exit */
    g_assert_false(g_file_test(ht->uds, G_FILE_TEST_EXISTS));
    qvsock_tmpdir_free(ht->dir);
    g_free(ht->uds);
}

void qvsock_host_write(int fd, const char *text)
{
    g_assert_cmpint(write(fd, text, strlen(text)), ==, strlen(text));
}

int qvsock_ht_listen_port(QVsockHostTest *ht, uint32_t port)
{
    g_autofree char *path = g_strdup_printf("%s_%u", ht->uds, port);

    return qvsock_unix_listen(path, 64);
}

QVsockHdr qvsock_ht_pkt(uint32_t src_port, uint32_t dst_port, uint16_t op,
                        uint32_t len)
{
    return qvsock_pkt(QVSOCK_USER_PARENT_CID, src_port, dst_port, op, len);
}

void qvsock_ht_shutdown(QVsockHostTest *ht, uint32_t port, uint32_t dst,
                        uint32_t flags)
{
    QVsockHdr h = qvsock_ht_pkt(port, dst, VIRTIO_VSOCK_OP_SHUTDOWN, 0);

    h.flags = flags;
    h.fwd_cnt = ht->vt.fwd_cnt;
    qvsock_send(&ht->vt, h, NULL);
}

void qvsock_ht_send_text(QVsockHostTest *ht, uint32_t port, uint32_t dst,
                         const char *text)
{
    qvsock_send(&ht->vt,
                qvsock_ht_pkt(port, dst, VIRTIO_VSOCK_OP_RW, strlen(text)),
                text);
}

void qvsock_ht_expect_text(QVsockHostTest *ht, uint32_t port, uint32_t src,
                           const char *text)
{
    uint8_t data[QVSOCK_RX_BUF_SIZE];
    QVsockHdr h;

    qvsock_recv(&ht->vt, &h, data);
    qvsock_assert_hdr(&h, QVSOCK_USER_PARENT_CID, src, port, VIRTIO_VSOCK_OP_RW,
                      strlen(text), 0);
    g_assert_cmpmem(data, h.len, text, strlen(text));
}

uint32_t qvsock_ht_h2g_connect(QVsockHostTest *ht, int fd, const char *line,
                               uint32_t guest_port)
{
    QVsockHdr h;

    qvsock_host_write(fd, line);
    qvsock_recv(&ht->vt, &h, NULL);
    g_assert_cmpuint(h.op, ==, VIRTIO_VSOCK_OP_REQUEST);
    g_assert_cmpuint(h.src_cid, ==, QVSOCK_USER_PARENT_CID);
    g_assert_cmpuint(h.dst_port, ==, guest_port);
    return h.src_port;
}

uint8_t *qvsock_pattern_new(size_t len, unsigned salt)
{
    uint8_t *buf = g_malloc(len);

    for (size_t i = 0; i < len; i++) {
        buf[i] = i * salt + (i >> (salt & 15));
    }
    return buf;
}

void qvsock_ht_recv_data(QVsockHostTest *ht, uint32_t port, uint32_t src,
                         uint8_t *got, uint32_t *rcvd, uint32_t limit)
{
    uint8_t data[QVSOCK_RX_BUF_SIZE];
    QVsockHdr h;

    qvsock_recv(&ht->vt, &h, data);
    qvsock_assert_hdr(&h, QVSOCK_USER_PARENT_CID, src, port, VIRTIO_VSOCK_OP_RW,
                      h.len, 0);
    g_assert_cmpuint(h.len, >, 0);
    g_assert_cmpuint(h.len, <=, QVSOCK_RX_BUF_SIZE - QVSOCK_HDR_SIZE);
    g_assert_cmpuint(*rcvd + h.len, <=, limit);
    memcpy(got + *rcvd, data, h.len);
    *rcvd += h.len;
}
