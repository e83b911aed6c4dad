/*
 * QTest for virtio-vsock-user's SOCK_SEQPACKET: the feature bit, message
 * boundaries between the guest's virtqueues and host Unix SOCK_SEQPACKET
 * sockets, both host conventions and forwards.
 *
 * The test plays the guest driver (libqos QVsockTest, which takes the
 * feature when offered, as Linux does) and the host programs.
 *
 * Copyright (c) 2026 The virtio-vsock-user authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include <poll.h>
#include <sys/un.h>
#include "libqtest.h"
#include "libqos/virtio-vsock-user.h"

#define RX_PAYLOAD (QVSOCK_RX_BUF_SIZE - QVSOCK_HDR_SIZE)

typedef struct ST {
    QVsockTest vt;
    char *dir;
    char *uds;
} ST;

static void st_init(ST *st, const char *props, const char *extra_fmt)
{
    g_autofree char *p = NULL;
    g_autofree char *extra = NULL;

    memset(st, 0, sizeof(*st));
    st->dir = qvsock_tmpdir_new("vsock-user-seq");
    st->uds = g_strdup_printf("%s/v.sock", st->dir);
    p = g_strdup_printf(",heartbeat=off,uds-path=%s%s", st->uds, props);
    /* @extra_fmt may name the directory once, as %s */
    extra = g_strdup_printf(extra_fmt, st->dir);
    qvsock_test_init(&st->vt, "microvm", QVSOCK_RX_ONE_BUFFER, p, extra);
}

static void st_free(ST *st)
{
    g_autofree char *seq = g_strdup_printf("%s.seqpacket", st->uds);

    qvsock_test_free(&st->vt);
    /* the device removed both of its sockets at exit */
    g_assert_false(g_file_test(st->uds, G_FILE_TEST_EXISTS));
    g_assert_false(g_file_test(seq, G_FILE_TEST_EXISTS));
    qvsock_tmpdir_free(st->dir);
    g_free(st->uds);
}

static void seq_addr(struct sockaddr_un *un, const char *path)
{
    memset(un, 0, sizeof(*un));
    un->sun_family = AF_UNIX;
    g_assert_cmpuint(strlen(path), <, sizeof(un->sun_path));
    strcpy(un->sun_path, path);
}

static int seq_listen(const char *path)
{
    struct sockaddr_un un;
    int fd = socket(AF_UNIX, SOCK_SEQPACKET, 0);

    g_assert_cmpint(fd, >=, 0);
    seq_addr(&un, path);
    g_assert_cmpint(bind(fd, (struct sockaddr *)&un, sizeof(un)), ==, 0);
    g_assert_cmpint(listen(fd, 16), ==, 0);
    return fd;
}

static int seq_connect(const char *path)
{
    struct sockaddr_un un;
    int fd = socket(AF_UNIX, SOCK_SEQPACKET, 0);

    g_assert_cmpint(fd, >=, 0);
    seq_addr(&un, path);
    g_assert_cmpint(connect(fd, (struct sockaddr *)&un, sizeof(un)), ==, 0);
    return fd;
}

/* The next host message is exactly @len bytes of @data. */
static void host_expect_msg(int fd, const void *data, size_t len)
{
    g_autofree uint8_t *buf = g_malloc(len + 1);
    ssize_t n;

    g_assert(qvsock_wait_fd(fd, POLLIN, QVSOCK_HOST_TIMEOUT_MS));
    n = recv(fd, buf, len + 1, MSG_DONTWAIT);
    g_assert_cmpint(n, ==, len);
    g_assert_cmpmem(buf, n, data, len);
}

static void host_send_msg(int fd, const void *data, size_t len)
{
    g_assert_cmpint(send(fd, data, len, 0), ==, len);
}

static void fill(uint8_t *p, size_t len, uint8_t salt)
{
    for (size_t i = 0; i < len; i++) {
        p[i] = (uint8_t)(i * 13 + salt + (i >> 8));
    }
}

static QVsockHdr spkt(uint32_t src_port, uint32_t dst_port, uint16_t op,
                      uint32_t len, uint32_t flags)
{
    QVsockHdr h = qvsock_pkt(QVSOCK_USER_PARENT_CID, src_port, dst_port, op,
                             len);

    h.type = VIRTIO_VSOCK_TYPE_SEQPACKET;
    h.flags = flags;
    return h;
}

static void assert_seq_hdr(const QVsockHdr *h, uint32_t src_port,
                           uint32_t dst_port, uint16_t op, uint32_t len,
                           uint32_t flags)
{
    g_assert_cmpuint(h->src_cid, ==, QVSOCK_USER_PARENT_CID);
    g_assert_cmpuint(h->dst_cid, ==, QVSOCK_USER_GUEST_CID);
    g_assert_cmpuint(h->src_port, ==, src_port);
    g_assert_cmpuint(h->dst_port, ==, dst_port);
    g_assert_cmpuint(h->type, ==, VIRTIO_VSOCK_TYPE_SEQPACKET);
    g_assert_cmpuint(h->op, ==, op);
    g_assert_cmpuint(h->len, ==, len);
    g_assert_cmpuint(h->flags, ==, flags);
}

/* The guest opens a SEQPACKET connection; the device answers RESPONSE. */
static void guest_connect(ST *st, uint32_t port, uint32_t dst,
                          uint32_t buf_alloc)
{
    QVsockHdr req = spkt(port, dst, VIRTIO_VSOCK_OP_REQUEST, 0, 0);
    QVsockHdr h;

    req.buf_alloc = buf_alloc;
    st->vt.fwd_cnt = 0;
    qvsock_send(&st->vt, req, NULL);
    qvsock_recv(&st->vt, &h, NULL);
    assert_seq_hdr(&h, dst, port, VIRTIO_VSOCK_OP_RESPONSE, 0, 0);
}

/* The guest receives one message of @len bytes of @data, in rx buffers. */
static void guest_expect_msg(ST *st, uint32_t port, uint32_t src,
                             const uint8_t *data, size_t len, uint32_t eor)
{
    uint8_t pl[QVSOCK_RX_BUF_SIZE];
    size_t off = 0;
    QVsockHdr h;

    while (off < len) {
        size_t piece = MIN(len - off, RX_PAYLOAD);
        bool last = off + piece == len;

        qvsock_recv(&st->vt, &h, pl);
        assert_seq_hdr(&h, src, port, VIRTIO_VSOCK_OP_RW, piece,
                       last ? VIRTIO_VSOCK_SEQ_EOM | eor : 0);
        g_assert_cmpmem(pl, piece, data + off, piece);
        off += piece;
    }
}

static void guest_rst(ST *st, uint32_t port, uint32_t dst)
{
    qvsock_send(&st->vt, spkt(port, dst, VIRTIO_VSOCK_OP_RST, 0, 0), NULL);
}

/* The feature is offered and, taken, the engine speaks SEQPACKET. */
static void test_feature(void)
{
    ST st;
    QVsockHdr h;
    uint64_t f;

    st_init(&st, "", "");
    f = qvirtio_get_features(st.vt.vdev);
    g_assert_true(f & (1ull << 1));
    /* no listener anywhere: RST of the same type */
    qvsock_send(&st.vt, spkt(40000, 5999, VIRTIO_VSOCK_OP_REQUEST, 0, 0), NULL);
    qvsock_recv(&st.vt, &h, NULL);
    assert_seq_hdr(&h, 5999, 40000, VIRTIO_VSOCK_OP_RST, 0, 0);
    st_free(&st);

    /* seqpacket=off: no bit, no .seqpacket socket, SEQPACKET gets RST */
    st_init(&st, ",seqpacket=off", "");
    f = qvirtio_get_features(st.vt.vdev);
    g_assert_false(f & (1ull << 1));
    g_assert_true(g_file_test(st.uds, G_FILE_TEST_EXISTS));
    {
        g_autofree char *seq = g_strdup_printf("%s.seqpacket", st.uds);
        g_autofree char *port = g_strdup_printf("%s_5000", st.uds);
        int lfd = seq_listen(port);

        g_assert_false(g_file_test(seq, G_FILE_TEST_EXISTS));
        qvsock_send(&st.vt, spkt(40000, 5000, VIRTIO_VSOCK_OP_REQUEST, 0, 0),
                    NULL);
        qvsock_recv(&st.vt, &h, NULL);
        assert_seq_hdr(&h, 5000, 40000, VIRTIO_VSOCK_OP_RST, 0, 0);
        g_assert_cmpuint(qvsock_stat(&st.vt, "host-sockets"), ==, 0);
        close(lfd);
    }
    st_free(&st);
}

/*
 * Guest -> host through PATH_<port> as SOCK_SEQPACKET: one guest message
 * (in one packet or in several) is one host message, and back: host
 * messages of 1 byte, one rx buffer plus one, and 64 KiB plus one reach
 * the guest split into rx buffers with EOM on the last piece only.
 */
static void test_g2h_hybrid(void)
{
    static const size_t sizes[] = { 1, RX_PAYLOAD + 1, 64 * 1024 + 1 };
    g_autofree char *path = NULL;
    g_autofree uint8_t *big = g_malloc(64 * 1024 + 1);
    uint8_t msg[6000];
    int lfd, fd;
    QVsockHdr h;
    ST st;

    st_init(&st, "", "");
    path = g_strdup_printf("%s_5000", st.uds);
    lfd = seq_listen(path);
    guest_connect(&st, 40000, 5000, QVSOCK_GUEST_BUF_ALLOC);
    g_assert(qvsock_wait_fd(lfd, POLLIN, QVSOCK_HOST_TIMEOUT_MS));
    fd = accept(lfd, NULL, NULL);
    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpuint(qvsock_stat(&st.vt, "host-sockets"), ==, 1);

    /* one packet, one message */
    qvsock_send(&st.vt,
                spkt(40000, 5000, VIRTIO_VSOCK_OP_RW, 5, VIRTIO_VSOCK_SEQ_EOM),
                "hello");
    host_expect_msg(fd, "hello", 5);
    /* three packets, one message */
    fill(msg, sizeof(msg), 1);
    qvsock_send(&st.vt, spkt(40000, 5000, VIRTIO_VSOCK_OP_RW, 2000, 0), msg);
    qvsock_send(&st.vt, spkt(40000, 5000, VIRTIO_VSOCK_OP_RW, 2000, 0),
                msg + 2000);
    qvsock_send(&st.vt,
                spkt(40000, 5000, VIRTIO_VSOCK_OP_RW, 2000,
                     VIRTIO_VSOCK_SEQ_EOM | VIRTIO_VSOCK_SEQ_EOR),
                msg + 4000);
    host_expect_msg(fd, msg, sizeof(msg));
    qvsock_send(&st.vt,
                spkt(40000, 5000, VIRTIO_VSOCK_OP_RW, 1, VIRTIO_VSOCK_SEQ_EOM),
                "!");
    host_expect_msg(fd, "!", 1);

    /* host -> guest, one host send() at a time */
    for (size_t i = 0; i < G_N_ELEMENTS(sizes); i++) {
        fill(big, sizes[i], i + 7);
        host_send_msg(fd, big, sizes[i]);
        guest_expect_msg(&st, 40000, 5000, big, sizes[i], 0);
    }
    /* two messages queued at once never share a packet */
    host_send_msg(fd, "ab", 2);
    host_send_msg(fd, "cde", 3);
    qvsock_recv(&st.vt, &h, msg);
    assert_seq_hdr(&h, 5000, 40000, VIRTIO_VSOCK_OP_RW, 2,
                   VIRTIO_VSOCK_SEQ_EOM);
    g_assert_cmpmem(msg, 2, "ab", 2);
    qvsock_recv(&st.vt, &h, msg);
    assert_seq_hdr(&h, 5000, 40000, VIRTIO_VSOCK_OP_RW, 3,
                   VIRTIO_VSOCK_SEQ_EOM);
    g_assert_cmpmem(msg, 3, "cde", 3);

    /* the host closes: SHUTDOWN, then the guest's RST ends it */
    close(fd);
    qvsock_recv(&st.vt, &h, NULL);
    assert_seq_hdr(&h, 5000, 40000, VIRTIO_VSOCK_OP_SHUTDOWN, 0, h.flags);
    g_assert_true(h.flags & VIRTIO_VSOCK_SHUTDOWN_SEND);
    guest_rst(&st, 40000, 5000);
    qvsock_expect_silence(&st.vt, 200 * 1000 * 1000);
    g_assert_cmpuint(qvsock_stat(&st.vt, "connections"), ==, 0);
    g_assert_cmpuint(qvsock_stat(&st.vt, "host-sockets"), ==, 0);
    close(lfd);
    st_free(&st);
}

/*
 * What cannot be carried is refused loudly: a type that does not match
 * the host socket, a host message larger than the guest's buffer.
 */
static void test_g2h_refused(void)
{
    g_autofree char *seqpath = NULL;
    g_autofree char *streampath = NULL;
    g_autofree uint8_t *big = g_malloc(8192);
    int slfd, tlfd, fd;
    QVsockHdr h;
    ST st;

    st_init(&st, "", "");
    seqpath = g_strdup_printf("%s_5000", st.uds);
    streampath = g_strdup_printf("%s_5001", st.uds);
    slfd = seq_listen(seqpath);
    tlfd = qvsock_unix_listen(streampath, 4);
    /* SEQPACKET to a stream listener, STREAM to a SEQPACKET listener */
    qvsock_send(&st.vt, spkt(40000, 5001, VIRTIO_VSOCK_OP_REQUEST, 0, 0), NULL);
    qvsock_recv(&st.vt, &h, NULL);
    assert_seq_hdr(&h, 5001, 40000, VIRTIO_VSOCK_OP_RST, 0, 0);
    h = qvsock_pkt(QVSOCK_USER_PARENT_CID, 40001, 5000, VIRTIO_VSOCK_OP_REQUEST,
                   0);
    qvsock_send(&st.vt, h, NULL);
    do {
        qvsock_recv(&st.vt, &h, NULL);
    } while (h.op != VIRTIO_VSOCK_OP_RST);
    qvsock_assert_hdr(&h, QVSOCK_USER_PARENT_CID, 5000, 40001,
                      VIRTIO_VSOCK_OP_RST, 0, 0);
    g_assert_cmpuint(qvsock_stat(&st.vt, "host-sockets"), ==, 0);

    /* a guest with a 4 KiB buffer cannot take an 8 KiB message: RST */
    guest_connect(&st, 40002, 5000, 4096);
    g_assert(qvsock_wait_fd(slfd, POLLIN, QVSOCK_HOST_TIMEOUT_MS));
    fd = accept(slfd, NULL, NULL);
    g_assert_cmpint(fd, >=, 0);
    fill(big, 8192, 3);
    host_send_msg(fd, big, 4096);
    guest_expect_msg(&st, 40002, 5000, big, 4096, 0);
    h = spkt(40002, 5000, VIRTIO_VSOCK_OP_CREDIT_UPDATE, 0, 0);
    h.buf_alloc = 4096;
    h.fwd_cnt = 4096;
    qvsock_send(&st.vt, h, NULL);
    host_send_msg(fd, big, 8192);
    qvsock_recv(&st.vt, &h, NULL);
    assert_seq_hdr(&h, 5000, 40002, VIRTIO_VSOCK_OP_RST, 0, 0);
    g_assert(qvsock_wait_fd(fd, POLLIN, QVSOCK_HOST_TIMEOUT_MS));
    g_assert_cmpint(recv(fd, big, 1, MSG_DONTWAIT), ==, 0);
    close(fd);
    close(slfd);
    close(tlfd);
    st_free(&st);
}

/* Host -> guest through PATH.seqpacket: CONNECT and OK are one message. */
static void test_h2g_hybrid(void)
{
    g_autofree char *seq = NULL;
    g_autofree char *ok = NULL;
    uint8_t msg[RX_PAYLOAD * 2];
    uint32_t hp;
    int fd;
    QVsockHdr h;
    ST st;

    st_init(&st, "", "");
    seq = g_strdup_printf("%s.seqpacket", st.uds);
    fd = seq_connect(seq);
    host_send_msg(fd, "CONNECT 1234\n", 13);
    /* a message before the guest accepted waits for it */
    fill(msg, sizeof(msg), 5);
    host_send_msg(fd, msg, sizeof(msg));
    qvsock_recv(&st.vt, &h, NULL);
    assert_seq_hdr(&h, h.src_port, 1234, VIRTIO_VSOCK_OP_REQUEST, 0, 0);
    hp = h.src_port;
    h = spkt(1234, hp, VIRTIO_VSOCK_OP_RESPONSE, 0, 0);
    h.buf_alloc = QVSOCK_GUEST_BUF_ALLOC;
    qvsock_send(&st.vt, h, NULL);
    ok = g_strdup_printf("OK %u\n", hp);
    host_expect_msg(fd, ok, strlen(ok));
    guest_expect_msg(&st, 1234, hp, msg, sizeof(msg), 0);
    qvsock_send(&st.vt,
                spkt(1234, hp, VIRTIO_VSOCK_OP_RW, 4, VIRTIO_VSOCK_SEQ_EOM),
                "pong");
    host_expect_msg(fd, "pong", 4);
    g_assert_cmpuint(qvsock_stat(&st.vt, "host-sockets"), ==, 1);
    close(fd);

    /* a CONNECT message longer than a CONNECT line: closed */
    fd = seq_connect(seq);
    memset(msg, 'x', sizeof(msg));
    memcpy(msg, "CONNECT 1234\n", 13);
    host_send_msg(fd, msg, 200);
    g_assert(qvsock_wait_fd(fd, POLLIN, QVSOCK_HOST_TIMEOUT_MS));
    g_assert_cmpint(recv(fd, msg, sizeof(msg), MSG_DONTWAIT), ==, 0);
    close(fd);
    st_free(&st);
}

/* Forwards with socket-type=seqpacket, both ways (errors: the cli qtest). */
static void test_forwards(void)
{
    g_autofree char *fwd_path = NULL;
    g_autofree char *lis_path = NULL;
    uint32_t hp;
    int lfd, fd, cfd;
    QVsockHdr h;
    ST st;

    st_init(&st, "",
            "-object vsock-user-forward,id=kms,guest-port=8000,"
            "connect=unix:%1$s/kms.sock,socket-type=seqpacket "
            "-object vsock-user-forward,id=app,guest-port=7000,"
            "listen=unix:%1$s/app.sock,socket-type=seqpacket");
    fwd_path = g_strdup_printf("%s/kms.sock", st.dir);
    lis_path = g_strdup_printf("%s/app.sock", st.dir);

    /* guest -> host */
    lfd = seq_listen(fwd_path);
    guest_connect(&st, 40000, 8000, QVSOCK_GUEST_BUF_ALLOC);
    g_assert(qvsock_wait_fd(lfd, POLLIN, QVSOCK_HOST_TIMEOUT_MS));
    fd = accept(lfd, NULL, NULL);
    g_assert_cmpint(fd, >=, 0);
    qvsock_send(&st.vt,
                spkt(40000, 8000, VIRTIO_VSOCK_OP_RW, 3,
                     VIRTIO_VSOCK_SEQ_EOM | VIRTIO_VSOCK_SEQ_EOR),
                "key");
    host_expect_msg(fd, "key", 3);
    host_send_msg(fd, "value", 5);
    guest_expect_msg(&st, 40000, 8000, (const uint8_t *)"value", 5, 0);
    /* a stream to a seqpacket forward: RST */
    h = qvsock_pkt(QVSOCK_USER_PARENT_CID, 40001, 8000, VIRTIO_VSOCK_OP_REQUEST,
                   0);
    qvsock_send(&st.vt, h, NULL);
    qvsock_recv(&st.vt, &h, NULL);
    qvsock_assert_hdr(&h, QVSOCK_USER_PARENT_CID, 8000, 40001,
                      VIRTIO_VSOCK_OP_RST, 0, 0);

    /* host -> guest */
    cfd = seq_connect(lis_path);
    qvsock_recv(&st.vt, &h, NULL);
    assert_seq_hdr(&h, h.src_port, 7000, VIRTIO_VSOCK_OP_REQUEST, 0, 0);
    hp = h.src_port;
    h = spkt(7000, hp, VIRTIO_VSOCK_OP_RESPONSE, 0, 0);
    h.buf_alloc = QVSOCK_GUEST_BUF_ALLOC;
    qvsock_send(&st.vt, h, NULL);
    host_send_msg(cfd, "m1", 2);
    guest_expect_msg(&st, 7000, hp, (const uint8_t *)"m1", 2, 0);
    qvsock_send(&st.vt,
                spkt(7000, hp, VIRTIO_VSOCK_OP_RW, 2, VIRTIO_VSOCK_SEQ_EOM),
                "r1");
    host_expect_msg(cfd, "r1", 2);
    close(cfd);
    close(fd);
    close(lfd);
    st_free(&st);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    if (!qvsock_has_machine("microvm")) {
        return g_test_run();
    }
    qtest_add_func("virtio-vsock-user-seqpacket/feature", test_feature);
    qtest_add_func("virtio-vsock-user-seqpacket/g2h-hybrid", test_g2h_hybrid);
    qtest_add_func("virtio-vsock-user-seqpacket/g2h-refused",
                   test_g2h_refused);
    qtest_add_func("virtio-vsock-user-seqpacket/h2g-hybrid", test_h2g_hybrid);
    qtest_add_func("virtio-vsock-user-seqpacket/forwards", test_forwards);
    return g_test_run();
}
