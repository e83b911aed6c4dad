/*
 * QTest for vsock-user-link against a hostile peer
 *
 * The test plays the QEMU at the other end of a link: it connects to the
 * link's socket, says hello (or does not), and then sends what a hostile
 * or broken peer would.  The device must stay responsive (the monitor
 * answers while the peer floods), count what it drops exactly, and keep
 * its log short.
 *
 * Copyright (c) 2026 The virtio-vsock-user authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/syscall.h>
#include "qemu/bswap.h"
#include "qemu/units.h"
#include "qobject/qdict.h"
#include "libqtest.h"
#include "libqos/virtio-vsock-user.h"

#define PEER_CID        7           /* the guest behind the test's "QEMU" */
#define HELLO_MAGIC     0x4b4e4c56u
#define HELLO_VERSION   1

/*
 * How long the flooding peer streams, and the longest a monitor command
 * may wait meanwhile.  A main loop held by the link answers only once the
 * flood is over, i.e. after about FLOOD_US.
 */
#define FLOOD_US        (3 * G_USEC_PER_SEC)
#define STALL_BOUND_US  (G_USEC_PER_SEC / 2)

typedef struct LinkTest {
    QVsockTest vt;
    char *dir;
    char *path;                 /* the link's socket */
} LinkTest;

/* A microvm whose device has a listening link l0 carrying PEER_CID. */
static void link_test_init(LinkTest *lt, const char *link_props,
                           const char *extra)
{
    g_autofree char *args = NULL;

    lt->dir = qvsock_tmpdir_new("vsock-user-link");
    lt->path = g_strdup_printf("%s/l.sock", lt->dir);
    /* @extra first: the objects the link names (tls-creds) */
    args = g_strdup_printf("%s -object vsock-user-link,id=l0,addr=unix:%s,"
                           "server=on,cids=%u%s", extra, lt->path, PEER_CID,
                           link_props);
    qvsock_test_init(&lt->vt, "microvm", QVSOCK_RX_ONE_BUFFER,
                     ",heartbeat=off", args);
}

static void link_test_free(LinkTest *lt)
{
    qvsock_test_free(&lt->vt);
    qvsock_tmpdir_free(lt->dir);
    g_free(lt->path);
}

static uint64_t link_stat(LinkTest *lt, const char *name)
{
    g_autoptr(QDict) rsp = qtest_qmp(lt->vt.qts, "{'execute': 'qom-get', "
                                     "'arguments': {'path': '/objects/l0', "
                                     "'property': %s}}", name);

    g_assert(qdict_haskey(rsp, "return"));
    return qdict_get_int(rsp, "return");
}

static char *link_state(LinkTest *lt)
{
    g_autoptr(QDict) rsp = qtest_qmp(lt->vt.qts, "{'execute': 'qom-get', "
                                     "'arguments': {'path': '/objects/l0', "
                                     "'property': 'state'}}");

    g_assert(qdict_haskey(rsp, "return"));
    return g_strdup(qdict_get_str(rsp, "return"));
}

/* Wait (monitor round trips, real time) until counter @name is @want. */
static void link_wait_stat(LinkTest *lt, const char *name, uint64_t want)
{
    gint64 end = g_get_monotonic_time() + QVSOCK_TIMEOUT_US;
    uint64_t got;

    while ((got = link_stat(lt, name)) != want &&
           g_get_monotonic_time() < end) {
        g_usleep(10 * 1000);
    }
    g_assert_cmpuint(got, ==, want);
}

static void link_wait_state(LinkTest *lt, const char *want)
{
    gint64 end = g_get_monotonic_time() + QVSOCK_TIMEOUT_US;
    char *got;

    while (strcmp(got = link_state(lt), want) &&
           g_get_monotonic_time() < end) {
        g_free(got);
        g_usleep(10 * 1000);
    }
    g_assert_cmpstr(got, ==, want);
    g_free(got);
}

static void write_all(int fd, const uint8_t *buf, size_t len)
{
    while (len) {
        ssize_t n = write(fd, buf, len);

        g_assert_cmpint(n, >, 0);
        buf += n;
        len -= n;
    }
}

/* A hello from @src_cid carrying @cid (0: an empty CID list) */
static size_t peer_hello(uint8_t *buf, uint64_t src_cid, uint64_t cid)
{
    QVsockHdr h = {
        .src_cid = src_cid, .src_port = HELLO_MAGIC,
        .dst_port = HELLO_VERSION, .len = cid ? 8 : 0,
    };

    qvsock_hdr_encode(&h, buf);
    if (cid) {
        for (int i = 0; i < 8; i++) {
            buf[QVSOCK_HDR_SIZE + i] = cid >> (8 * i);
        }
    }
    return QVSOCK_HDR_SIZE + h.len;
}

/* Connect to the link as the QEMU carrying PEER_CID; the link is up. */
static int peer_connect(LinkTest *lt)
{
    uint8_t hello[QVSOCK_HDR_SIZE + 8];
    uint8_t theirs[QVSOCK_HDR_SIZE + 8];
    uint8_t want[QVSOCK_HDR_SIZE + 8];
    int fd = qvsock_unix_connect(lt->path);

    write_all(fd, hello, peer_hello(hello, PEER_CID, QVSOCK_USER_GUEST_CID));
    /* the device's hello: its guest CID, carrying ours */
    qvsock_host_read(fd, theirs, sizeof(theirs));
    peer_hello(want, QVSOCK_USER_GUEST_CID, PEER_CID);
    g_assert_cmpmem(theirs, sizeof(theirs), want, sizeof(want));
    link_wait_state(lt, "up");
    return fd;
}

/*
 * The link connected to the test's listener @lfd: accept it, check the
 * device's hello and answer it.  Returns the connection.
 */
static int peer_accept(int lfd)
{
    uint8_t hello[QVSOCK_HDR_SIZE + 8];
    uint8_t theirs[QVSOCK_HDR_SIZE + 8];
    uint8_t want[QVSOCK_HDR_SIZE + 8];
    int fd;

    g_assert_true(qvsock_wait_fd(lfd, POLLIN, QVSOCK_HOST_TIMEOUT_MS));
    fd = accept(lfd, NULL, NULL);
    g_assert_cmpint(fd, >=, 0);
    qvsock_host_read(fd, theirs, sizeof(theirs));
    peer_hello(want, QVSOCK_USER_GUEST_CID, PEER_CID);
    g_assert_cmpmem(theirs, sizeof(theirs), want, sizeof(want));
    write_all(fd, hello, peer_hello(hello, PEER_CID, QVSOCK_USER_GUEST_CID));
    return fd;
}

/*
 * The guest connects @port to the peer's port 5000 over the link (up,
 * the peer at @fd): the REQUEST arrives as a frame with the guest's
 * header, and the peer's RESPONSE reaches the guest.
 */
static void peer_take_connection(LinkTest *lt, int fd, uint32_t port)
{
    uint8_t frame[QVSOCK_HDR_SIZE];
    QVsockHdr req = qvsock_pkt(PEER_CID, port, 5000,
                               VIRTIO_VSOCK_OP_REQUEST, 0);
    QVsockHdr h, resp = {
        .src_cid = PEER_CID, .dst_cid = QVSOCK_USER_GUEST_CID,
        .src_port = 5000, .dst_port = port,
        .type = VIRTIO_VSOCK_TYPE_STREAM, .op = VIRTIO_VSOCK_OP_RESPONSE,
        .buf_alloc = 64 * KiB,
    };

    req.buf_alloc = 32 * KiB;
    qvsock_send(&lt->vt, req, NULL);
    qvsock_host_read(fd, frame, sizeof(frame));
    qvsock_hdr_decode(&h, frame);
    g_assert_cmpuint(h.src_cid, ==, QVSOCK_USER_GUEST_CID);
    g_assert_cmpuint(h.dst_cid, ==, PEER_CID);
    g_assert_cmpuint(h.src_port, ==, port);
    g_assert_cmpuint(h.dst_port, ==, 5000);
    g_assert_cmpuint(h.type, ==, VIRTIO_VSOCK_TYPE_STREAM);
    g_assert_cmpuint(h.op, ==, VIRTIO_VSOCK_OP_REQUEST);
    g_assert_cmpuint(h.len, ==, 0);
    g_assert_cmpuint(h.buf_alloc, ==, 32 * KiB);

    qvsock_hdr_encode(&resp, frame);
    write_all(fd, frame, sizeof(frame));
    qvsock_recv(&lt->vt, &h, NULL);
    g_assert_cmpuint(h.src_cid, ==, PEER_CID);
    g_assert_cmpuint(h.dst_cid, ==, QVSOCK_USER_GUEST_CID);
    g_assert_cmpuint(h.src_port, ==, 5000);
    g_assert_cmpuint(h.dst_port, ==, port);
    g_assert_cmpuint(h.op, ==, VIRTIO_VSOCK_OP_RESPONSE);
    g_assert_cmpuint(h.buf_alloc, ==, 64 * KiB);
}

typedef struct Flood {
    int fd;
    const uint8_t *buf;         /* whole frames */
    size_t len;
    uint64_t frames_per_buf;
    gint64 until;
    uint64_t frames;            /* written */
} Flood;

static gpointer flood_thread(gpointer opaque)
{
    Flood *f = opaque;

    while (g_get_monotonic_time() < f->until) {
        write_all(f->fd, f->buf, f->len);
        f->frames += f->frames_per_buf;
    }
    return NULL;
}

/*
 * The peer streams 44-byte frames @h as fast as it can for FLOOD_US; none
 * of them is for the guest's rx queue, so none counts towards
 * max-queued.  Meanwhile every monitor command answers within
 * STALL_BOUND_US, and afterwards counter @stat has every frame.
 */
static void flood_and_ping(LinkTest *lt, int fd, QVsockHdr h,
                           const char *stat)
{
    enum { FRAMES = 1024 };
    g_autofree uint8_t *buf = g_malloc(FRAMES * QVSOCK_HDR_SIZE);
    Flood f = {
        .fd = fd, .buf = buf, .len = FRAMES * QVSOCK_HDR_SIZE,
        .frames_per_buf = FRAMES,
    };
    uint64_t before = link_stat(lt, stat);
    gint64 worst = 0;
    unsigned pings = 0;
    GThread *th;

    for (int i = 0; i < FRAMES; i++) {
        qvsock_hdr_encode(&h, buf + i * QVSOCK_HDR_SIZE);
    }
    f.until = g_get_monotonic_time() + FLOOD_US;
    th = g_thread_new("link-flood", flood_thread, &f);
    while (g_get_monotonic_time() < f.until) {
        gint64 t0 = g_get_monotonic_time();

        qtest_qmp_assert_success(lt->vt.qts, "{'execute': 'query-status'}");
        worst = MAX(worst, g_get_monotonic_time() - t0);
        pings++;
        g_usleep(10 * 1000);
    }
    g_thread_join(th);
    g_test_message("%" PRIu64 " frames in %d ms; %u monitor round trips, "
                   "the longest %" PRId64 " us", f.frames,
                   (int)(FLOOD_US / 1000), pings, worst);
    g_assert_cmpint(worst, <, STALL_BOUND_US);
    link_wait_stat(lt, stat, before + f.frames);
}

/* Frames from a CID the link does not carry: dropped, never queued */
static void test_flood_foreign_src(void)
{
    LinkTest lt;
    int fd;

    link_test_init(&lt, "", "");
    fd = peer_connect(&lt);
    flood_and_ping(&lt, fd, (QVsockHdr) {
        .src_cid = 99, .dst_cid = QVSOCK_USER_GUEST_CID,
        .src_port = 1000, .dst_port = 2000,
        .type = VIRTIO_VSOCK_TYPE_STREAM,
        .op = VIRTIO_VSOCK_OP_CREDIT_UPDATE,
    }, "refused");
    g_assert_cmpuint(link_stat(&lt, "rx-packets"), ==, 0);
    close(fd);
    link_test_free(&lt);
}

/*
 * Frames to a CID that is neither the guest's nor relayed: each refused
 * with an RST back, which the peer never reads
 */
static void test_flood_refused_dst(void)
{
    LinkTest lt;
    int fd;

    link_test_init(&lt, "", "");
    fd = peer_connect(&lt);
    flood_and_ping(&lt, fd, (QVsockHdr) {
        .src_cid = PEER_CID, .dst_cid = 55,
        .src_port = 1000, .dst_port = 2000,
        .type = VIRTIO_VSOCK_TYPE_STREAM,
        .op = VIRTIO_VSOCK_OP_REQUEST,
    }, "refused");
    g_assert_cmpuint(link_stat(&lt, "rx-packets"), ==, 0);
    close(fd);
    link_test_free(&lt);
}

/*
 * A TLS link does not read its channel during the handshake: not even
 * when the guest, reset meanwhile, asks the link for what it has.  The
 * peer starts a TLS record and stalls in the middle of it; the link
 * waits for the rest of the handshake (its state stays "connecting")
 * instead of reading a channel that has no session yet and dropping the
 * connection.
 */
static void test_tls_no_read_in_handshake(void)
{
    /* a TLS handshake record header, its 128 bytes never sent */
    static const uint8_t record[] = { 0x16, 0x03, 0x01, 0x00, 0x80 };
    g_autofree char *psk = qvsock_tmpdir_new("vsock-user-link-psk");
    g_autofree char *keys = g_build_filename(psk, "keys.psk", NULL);
    g_autofree char *extra = g_strdup_printf("-object tls-creds-psk,id=tls0,"
                                             "endpoint=server,dir=%s", psk);
    gint64 end;
    LinkTest lt;
    int fd;

    g_assert_true(g_file_set_contents(keys, "qemu:00112233445566778899aabb"
                                      "ccddeeff\n", -1, NULL));
    link_test_init(&lt, ",tls-creds=tls0", extra);
    fd = qvsock_unix_connect(lt.path);
    link_wait_state(&lt, "connecting");
    qtest_system_reset(lt.vt.qts);
    write_all(fd, record, sizeof(record));
    /* the link waits out the record, for 0.3 s of monitor round trips */
    end = g_get_monotonic_time() + G_USEC_PER_SEC * 3 / 10;
    while (g_get_monotonic_time() < end) {
        g_autofree char *state = link_state(&lt);

        g_assert_cmpstr(state, ==, "connecting");
        g_usleep(10 * 1000);
    }
    g_assert_cmpuint(link_stat(&lt, "tls-failures"), ==, 0);
    /* the peer goes: the handshake fails, counted as such */
    close(fd);
    link_wait_stat(&lt, "tls-failures", 1);
    link_wait_state(&lt, "down");
    g_assert_cmpuint(link_stat(&lt, "garbage"), ==, 0);
    link_test_free(&lt);
    qvsock_tmpdir_free(g_steal_pointer(&psk));
}

/*
 * Hellos the link refuses, each with a message of its own (a CID the link
 * does not carry, a different one each time): every one is counted in
 * hellos-refused, the first 3 are reported, the rest wait for the one
 * line that says how many more there were (at the end of the minute).
 */
static void test_refusal_log_budget(void)
{
    enum { N = 10, REPORTED = 3 };
    g_autofree char *dir = qvsock_tmpdir_new("vsock-user-link-log");
    g_autofree char *errfile = g_build_filename(dir, "stderr", NULL);
    /* libqtest starts QEMU with sh -c: its stderr goes to a file */
    g_autofree char *extra = g_strdup_printf("2>%s", errfile);
    g_autofree char *log = NULL;
    g_autofree char *path = NULL;
    g_auto(GStrv) lines = NULL;
    unsigned refused = 0;
    LinkTest lt;

    link_test_init(&lt, "", extra);
    for (int i = 0; i < N; i++) {
        uint8_t hello[QVSOCK_HDR_SIZE + 8];
        uint8_t theirs[QVSOCK_HDR_SIZE + 8];
        int fd = qvsock_unix_connect(lt.path);

        write_all(fd, hello, peer_hello(hello, 100 + i,
                                        QVSOCK_USER_GUEST_CID));
        qvsock_host_read(fd, theirs, sizeof(theirs));
        qvsock_host_expect_eof(fd);
        close(fd);
        link_wait_stat(&lt, "hellos-refused", i + 1);
    }
    g_assert_cmpuint(link_stat(&lt, "garbage"), ==, 0);
    path = g_strdup(lt.path);
    link_test_free(&lt);   /* QEMU has exited: its stderr is complete */

    g_assert_true(g_file_get_contents(errfile, &log, NULL, NULL));
    lines = g_strsplit(log, "\n", -1);
    for (int i = 0; lines[i]; i++) {
        g_autofree char *want = g_strdup_printf(
            "vsock-user-link 'l0': the guest at the other end (the QEMU "
            "that connected to unix:%s) has CID %d, which is not in this "
            "link's cids: link refused", path, 100 + refused);

        if (strstr(lines[i], "link refused")) {
            g_assert_cmpstr(strstr(lines[i], "vsock-user-link"), ==, want);
            refused++;
        }
        g_assert_null(strstr(lines[i], "more hellos refused"));
    }
    g_assert_cmpuint(refused, ==, REPORTED);
    qvsock_tmpdir_free(g_steal_pointer(&dir));
}

/*
 * QEMU's descriptor of the TCP connection between loopback ports
 * @qemu_port (QEMU's end; -1: any) and @test_port, copied into this process
 * (pidfd_getfd); -1 if the kernel does not let the test do that.
 */
static int qemu_tcp_fd(QTestState *qts, int qemu_port, int test_port)
{
#if defined(SYS_pidfd_open) && defined(SYS_pidfd_getfd)
    int pidfd = syscall(SYS_pidfd_open, qtest_pid(qts), 0);

    if (pidfd < 0) {
        return -1;
    }
    for (int i = 0; i < 1024; i++) {
        struct sockaddr_in local, peer;
        socklen_t ll = sizeof(local), pl = sizeof(peer);
        int fd = syscall(SYS_pidfd_getfd, pidfd, i, 0);

        if (fd < 0) {
            if (errno == EPERM) {
                break;
            }
            continue;
        }
        if (!getsockname(fd, (struct sockaddr *)&local, &ll) &&
            !getpeername(fd, (struct sockaddr *)&peer, &pl) &&
            local.sin_family == AF_INET &&
            (qemu_port < 0 || ntohs(local.sin_port) == qemu_port) &&
            ntohs(peer.sin_port) == test_port) {
            close(pidfd);
            return fd;
        }
        close(fd);
    }
    close(pidfd);
#endif
    return -1;
}

static int local_port(int fd)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);

    g_assert_cmpint(getsockname(fd, (struct sockaddr *)&sa, &len), ==, 0);
    return ntohs(sa.sin_port);
}

/* A TCP connection to 127.0.0.1:@port from loopback address 127.0.0.@n */
static int tcp_connect_from(int port, int n)
{
    struct sockaddr_in src = {
        .sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000000 | n),
    };
    struct sockaddr_in dst = {
        .sin_family = AF_INET, .sin_port = htons(port),
        .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
    };
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    g_assert_cmpint(bind(fd, (struct sockaddr *)&src, sizeof(src)), ==, 0);
    g_assert_cmpint(connect(fd, (struct sockaddr *)&dst, sizeof(dst)), ==, 0);
    return fd;
}

/* A listening link on the test's socket @lfd, added through the monitor */
static void link_add_listening(LinkTest *lt, int lfd)
{
    qvsock_getfd(lt->vt.qts, lfd, "lnk");
    qtest_qmp_assert_success(lt->vt.qts, "{'execute': 'object-add', "
                             "'arguments': {'qom-type': 'vsock-user-link', "
                             "'id': 'l0', 'addr': 'fd:lnk', 'server': true, "
                             "'cids': [%u]}}", PEER_CID);
}

/*
 * Over TCP, connections from one host cannot push the candidate of
 * another out: with the link up, the real peer (127.0.0.2) connects
 * again and is slow to say hello; meanwhile 8 connections from 127.0.0.3
 * come and stay silent.  The real peer's hello still replaces the link's
 * connection.
 */
static void test_candidate_per_host(void)
{
    enum { FLOOD = 8 };
    int port;
    int lfd = qvsock_tcp_listen(&port);
    uint8_t hello[QVSOCK_HDR_SIZE + 8];
    uint8_t theirs[QVSOCK_HDR_SIZE + 8];
    uint8_t want[QVSOCK_HDR_SIZE + 8];
    int first, real, flood[FLOOD];
    LinkTest lt = { 0 };

    qvsock_test_init(&lt.vt, "microvm", QVSOCK_RX_ONE_BUFFER,
                     ",heartbeat=off", "");
    link_add_listening(&lt, lfd);
    peer_hello(hello, PEER_CID, QVSOCK_USER_GUEST_CID);
    peer_hello(want, QVSOCK_USER_GUEST_CID, PEER_CID);
    first = tcp_connect_from(port, 2);
    write_all(first, hello, sizeof(hello));
    qvsock_host_read(first, theirs, sizeof(theirs));
    link_wait_state(&lt, "up");

    real = tcp_connect_from(port, 2);
    qvsock_host_read(real, theirs, sizeof(theirs));
    for (int i = 0; i < FLOOD; i++) {
        flood[i] = tcp_connect_from(port, 3);
        /* its hello from the device: a candidate now */
        qvsock_host_read(flood[i], theirs, sizeof(theirs));
        g_assert_cmpmem(theirs, sizeof(theirs), want, sizeof(want));
    }
    write_all(real, hello, sizeof(hello));
    link_wait_stat(&lt, "reconnects", 1);
    /* the link's first connection went, the real peer's is the link's */
    qvsock_host_expect_eof(first);
    link_wait_state(&lt, "up");
    g_assert_false(qvsock_wait_fd(real, POLLIN, 100));
    g_assert_cmpuint(link_stat(&lt, "garbage"), ==, 0);
    for (int i = 0; i < FLOOD; i++) {
        close(flood[i]);
    }
    close(first);
    close(real);
    qvsock_test_free(&lt.vt);
}

/*
 * A TCP link sends each frame at once (TCP_NODELAY on QEMU's socket),
 * whether it listens (@data true) or connects.
 */
static void test_tcp_nodelay(const void *data)
{
    bool server = GPOINTER_TO_INT(data);
    int port;
    int lfd = qvsock_tcp_listen(&port);
    g_autofree char *args = server ? g_strdup("") : g_strdup_printf(
        "-object vsock-user-link,id=l0,addr=127.0.0.1:%d,cids=%u",
        port, PEER_CID);
    LinkTest lt = { 0 };
    int fd, qfd, one = 0;
    socklen_t len = sizeof(one);

    qvsock_test_init(&lt.vt, "microvm", QVSOCK_RX_ONE_BUFFER,
                     ",heartbeat=off", args);
    if (server) {
        /* QEMU listens on the test's socket: the test's copy is closed */
        link_add_listening(&lt, lfd);
        lfd = -1;
        fd = qvsock_tcp_connect(port);
    } else {
        g_assert_true(qvsock_wait_fd(lfd, POLLIN, QVSOCK_HOST_TIMEOUT_MS));
        fd = accept(lfd, NULL, NULL);
        g_assert_cmpint(fd, >=, 0);
    }
    link_wait_state(&lt, "hello");
    qfd = server ? qemu_tcp_fd(lt.vt.qts, port, local_port(fd)) :
                   qemu_tcp_fd(lt.vt.qts, -1, port);
    if (qfd < 0) {
        g_test_skip("cannot look at QEMU's socket (pidfd_getfd)");
    } else {
        g_assert_cmpint(getsockopt(qfd, IPPROTO_TCP, TCP_NODELAY, &one,
                                   &len), ==, 0);
        g_assert_cmpint(one, !=, 0);
        close(qfd);
    }
    close(fd);
    if (lfd >= 0) {
        close(lfd);
    }
    qvsock_test_free(&lt.vt);
}

/*
 * A link to an IPv6 address: the link connects to the test's listener on
 * [::1], the two hellos cross, and a guest connection to the peer's CID
 * crosses as a frame with the guest's header; the peer's RESPONSE
 * reaches the guest.
 */
static void test_ipv6(void)
{
    struct sockaddr_in6 sa = {
        .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT,
    };
    socklen_t len = sizeof(sa);
    g_autofree char *args = NULL;
    LinkTest lt = { 0 };
    int lfd = socket(AF_INET6, SOCK_STREAM, 0);
    int fd;

    if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        g_test_skip("no IPv6 loopback");
        if (lfd >= 0) {
            close(lfd);
        }
        return;
    }
    g_assert_cmpint(listen(lfd, 1), ==, 0);
    g_assert_cmpint(getsockname(lfd, (struct sockaddr *)&sa, &len), ==, 0);
    args = g_strdup_printf("-object vsock-user-link,id=l0,addr=[::1]:%d,"
                           "cids=%u", ntohs(sa.sin6_port), PEER_CID);
    qvsock_test_init(&lt.vt, "microvm", QVSOCK_RX_ONE_BUFFER,
                     ",heartbeat=off", args);
    fd = peer_accept(lfd);
    link_wait_state(&lt, "up");
    peer_take_connection(&lt, fd, 1234);
    g_assert_cmpuint(link_stat(&lt, "rx-packets"), ==, 1);
    g_assert_cmpuint(link_stat(&lt, "tx-packets"), ==, 1);
    close(fd);
    close(lfd);
    qvsock_test_free(&lt.vt);
}

/*
 * Live migration of a guest with a connecting link, both QEMUs side by
 * side.  The destination, started with -incoming, does not connect while
 * the source's guest runs: its hello would take the link over from it.
 * Once the migration is over it connects and says hello for the same
 * guest CID.  The source, its VM gone, does not connect again when the
 * peer drops its connection (it would take the link back).  On the
 * destination the guest learns that its connections are gone, and a new
 * one crosses the link.
 */
static void test_migrate_live(void)
{
    char *dir = qvsock_tmpdir_new("vsock-user-link-mig");
    g_autofree char *peer = g_strdup_printf("%s/peer.sock", dir);
    g_autofree char *mig = g_strdup_printf("unix:%s/mig.sock", dir);
    g_autofree char *args = g_strdup_printf(
        "-object vsock-user-link,id=l0,addr=unix:%s,cids=%u,reconnect-ms=50",
        peer, PEER_CID);
    g_autofree char *incoming = g_strdup_printf("%s -incoming %s", args, mig);
    int lfd = qvsock_unix_listen(peer, 4);
    LinkTest lt = { 0 };
    QTestState *dst;
    uint32_t len;
    uint8_t ev[4];
    int src_fd, dst_fd;

    qvsock_test_init(&lt.vt, "microvm", QVSOCK_RX_ONE_BUFFER,
                     ",heartbeat=off", args);
    src_fd = peer_accept(lfd);
    link_wait_state(&lt, "up");
    peer_take_connection(&lt, src_fd, 1234);

    dst = qvsock_test_start_twin(&lt.vt, incoming);
    g_assert_false(qvsock_wait_fd(lfd, POLLIN, 300));
    qtest_qmp_assert_success(lt.vt.qts, "{'execute': 'migrate', "
                             "'arguments': {'uri': %s}}", mig);
    for (;;) {
        g_autoptr(QDict) rsp = qtest_qmp(lt.vt.qts,
                                         "{'execute': 'query-migrate'}");
        const char *status = qdict_get_try_str(qdict_get_qdict(rsp, "return"),
                                               "status");

        if (status && !strcmp(status, "completed")) {
            break;
        }
        g_assert(!status || strcmp(status, "failed"));
        g_usleep(10 * 1000);
    }
    dst_fd = peer_accept(lfd);

    /* the peer takes the destination's hello and drops the source */
    close(src_fd);
    g_assert_false(qvsock_wait_fd(lfd, POLLIN, 300));

    qvsock_test_adopt(&lt.vt, dst);
    link_wait_state(&lt, "up");
    qvirtio_wait_used_elem(lt.vt.qts, lt.vt.vdev, lt.vt.ev, 0, &len,
                           QVSOCK_TIMEOUT_US);
    g_assert_cmpuint(len, ==, 4);
    qtest_memread(lt.vt.qts, lt.vt.evbuf[0], ev, 4);
    g_assert_cmpuint(ldl_le_p(ev), ==, 0 /* TRANSPORT_RESET */);
    peer_take_connection(&lt, dst_fd, 1235);
    g_assert_cmpuint(link_stat(&lt, "connections"), ==, 1);
    g_assert_cmpuint(link_stat(&lt, "reconnects"), ==, 0);
    close(dst_fd);
    close(lfd);
    qvsock_test_free(&lt.vt);
    qvsock_tmpdir_free(dir);
}

/*
 * fd: links named through the monitor: the test hands QEMU a socket with
 * getfd and adds the link with object-add.  Connecting (@data false): one
 * end of a socket pair, the link's connection as it is.  Listening (@data
 * true): a bound, listening Unix socket the test then connects to.
 * Either way the hellos cross and a guest connection crosses the link.
 */
static void test_fd_getfd(const void *data)
{
    bool server = GPOINTER_TO_INT(data);
    g_autofree char *dir = qvsock_tmpdir_new("vsock-user-link-fd");
    g_autofree char *path = g_strdup_printf("%s/l.sock", dir);
    uint8_t hello[QVSOCK_HDR_SIZE + 8];
    uint8_t theirs[QVSOCK_HDR_SIZE + 8];
    uint8_t want[QVSOCK_HDR_SIZE + 8];
    LinkTest lt = { 0 };
    int qfd, fd, sv[2];

    if (server) {
        qfd = qvsock_unix_listen(path, 1);
    } else {
        g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), ==, 0);
        qfd = sv[0];
        fd = sv[1];
    }
    qvsock_test_init(&lt.vt, "microvm", QVSOCK_RX_ONE_BUFFER,
                     ",heartbeat=off", "");
    qtest_qmp_fds_assert_success(lt.vt.qts, &qfd, 1, "{'execute': 'getfd', "
                                 "'arguments': {'fdname': 'lnk'}}");
    close(qfd);
    qtest_qmp_assert_success(lt.vt.qts, "{'execute': 'object-add', "
                             "'arguments': {'qom-type': 'vsock-user-link', "
                             "'id': 'l0', 'addr': 'fd:lnk', 'server': %i, "
                             "'cids': [%u]}}", server, PEER_CID);
    if (server) {
        fd = qvsock_unix_connect(path);
    }
    write_all(fd, hello, peer_hello(hello, PEER_CID, QVSOCK_USER_GUEST_CID));
    qvsock_host_read(fd, theirs, sizeof(theirs));
    peer_hello(want, QVSOCK_USER_GUEST_CID, PEER_CID);
    g_assert_cmpmem(theirs, sizeof(theirs), want, sizeof(want));
    link_wait_state(&lt, "up");
    peer_take_connection(&lt, fd, 1234);
    g_assert_cmpuint(link_stat(&lt, "rx-packets"), ==, 1);
    close(fd);
    qvsock_test_free(&lt.vt);
    qvsock_tmpdir_free(g_steal_pointer(&dir));
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    if (!qvsock_has_machine("microvm")) {
        return g_test_run();
    }
    qtest_add_func("virtio-vsock-user-link/flood-foreign-src",
                   test_flood_foreign_src);
    qtest_add_func("virtio-vsock-user-link/flood-refused-dst",
                   test_flood_refused_dst);
    qtest_add_func("virtio-vsock-user-link/tls-no-read-in-handshake",
                   test_tls_no_read_in_handshake);
    qtest_add_func("virtio-vsock-user-link/refusal-log-budget",
                   test_refusal_log_budget);
    qtest_add_data_func("virtio-vsock-user-link/tcp-nodelay-server",
                        GINT_TO_POINTER(true), test_tcp_nodelay);
    qtest_add_data_func("virtio-vsock-user-link/tcp-nodelay-client",
                        GINT_TO_POINTER(false), test_tcp_nodelay);
    qtest_add_func("virtio-vsock-user-link/candidate-per-host",
                   test_candidate_per_host);
    qtest_add_func("virtio-vsock-user-link/ipv6", test_ipv6);
    qtest_add_func("virtio-vsock-user-link/migrate-live", test_migrate_live);
    qtest_add_data_func("virtio-vsock-user-link/fd-getfd-connect",
                        GINT_TO_POINTER(false), test_fd_getfd);
    qtest_add_data_func("virtio-vsock-user-link/fd-getfd-listen",
                        GINT_TO_POINTER(true), test_fd_getfd);
    return g_test_run();
}
