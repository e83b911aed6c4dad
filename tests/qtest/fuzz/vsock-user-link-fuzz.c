/*
 * libFuzzer targets for vsock-user-link: the fuzzer is the other QEMU
 *
 * A microvm with a virtio-vsock-user device (guest CID 16) and a link l0
 * carrying CID 7 (relaying to CID 8, carried by a second link l1 that
 * never connects) on a Unix socket in a temporary directory.  Two targets:
 *
 *   vsock-user-link-listen   QEMU listens (server=on), the fuzzer connects
 *   vsock-user-link-connect  the fuzzer listens, QEMU connects (server=off,
 *                            reconnect-ms=1)
 *
 * An input is one connection of the peer.  Its first byte holds flags:
 *
 *   RAW_HELLO   the peer sends no hello of its own: the input's bytes are
 *               all it sends (so the hello is fuzzed too); otherwise a
 *               valid hello (CID 7, carrying 16) goes first
 *   GUEST       a driver brings the device up and posts rx buffers before
 *               the peer connects, takes whatever the device puts in them
 *               and answers as a listener would (RESPONSE, RW echoed,
 *               CREDIT_UPDATE, RST for SHUTDOWN), so that frames cross
 *               the link both ways; without it nobody drains the link's
 *               queue to the guest, which must then stop reading at
 *               max-queued
 *   NO_READ     the peer reads nothing until it closes
 *   REPEAT      the frames are sent 1 + 64 * input[1] times (at most
 *               1 MiB in all): a flood from a few bytes of input
 *   HALF_CLOSE  the peer shuts down its write side first and keeps
 *               reading until QEMU has seen the end
 *   RESET       the guest is reset while the peer is still connected
 *
 * The rest is written to the socket as it comes, while QEMU's main loop
 * runs (without blocking), until QEMU has read everything or stopped
 * reading.  Then the peer closes, the machine is reset and a qtest round
 * trip must answer.  It aborts (a crash for libFuzzer) when:
 *
 *   - what QEMU sends is not its hello (exactly) followed by well-formed
 *     frames to CID 7;
 *   - one turn of the main loop takes more than QEMU_FUZZ_LINK_STALL_MS
 *     (default 1000) of this thread's CPU time, or consumes more of the
 *     peer's bytes than the link's read budget allows (256 frames or
 *     256 KiB, plus the frame under way, plus slack for how SIOCOUTQ
 *     counts): the link held the loop;
 *   - the link's queues hold more than max-queued allows (towards the
 *     guest: one frame plus the room for RSTs over it, plus one RST per
 *     tracked connection; towards the socket: the room for control
 *     frames, twice, plus a hello);
 *   - a connecting link does not connect again within 10 s;
 *   - the device hands the guest a malformed used buffer.
 *
 * Run through make fuzz-link (scripts/fuzz-link.sh); seeds and the
 * dictionary: tests/fuzz/vsock-user-link-seeds.py.
 *
 * Copyright (c) 2026 The virtio-vsock-user authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/ioctl.h>
#include <poll.h>
#include <linux/sockios.h>

#include "qemu/main-loop.h"
#include "qemu/units.h"
#include "qom/object.h"
#include "system/runstate.h"
#include "tests/qtest/libqtest.h"
#include "tests/qtest/libqos/virtio-mmio.h"
#include "tests/qtest/libqos/virtio-vsock-user.h"
#include "hw/virtio/vsock-user/vsock-user-link-int.h"
#include "fuzz.h"

#define GUEST_CID       16
#define PEER_CID        7
#define RELAY_CID       8
#define MAX_CONNS       64
#define MAX_QUEUED      (128 * 1024)

#define F_RAW_HELLO     0x01
#define F_GUEST         0x02
#define F_NO_READ       0x04
#define F_REPEAT        0x08
#define F_HALF_CLOSE    0x10
#define F_RESET         0x20

#define FLOOD_MAX       (1 * MiB)
/* what the peer's socket may hold: the whole of an input, flood included */
#define PEER_SNDBUF     (4 * MiB)
/*
 * Bytes one turn of the main loop may take from the peer's socket: the
 * link's read budget (256 KiB), the frame under way when it runs out, and
 * slack for how SIOCOUTQ counts: the memory of the socket buffers, each
 * freed once it is read whole (a Unix stream buffer holds up to 32 KiB
 * and a page of data when the peer writes in large pieces, which it
 * does: a flood is written from one buffer, not frame by frame, whose
 * per-buffer overhead would count more than the data).
 */
#define TURN_BYTES_MAX  (256 * KiB + VSOCK_HDR_SIZE + VSOCK_MAX_PKT_PAYLOAD + \
                         128 * KiB)
#define CONNECT_WAIT_US (10 * G_USEC_PER_SEC)
/* turns of the main loop with nothing happening that end a phase */
#define IDLE_TURNS      8
/* a bound on every phase, whatever the input */
#define PHASE_TURNS     100000
#define MICROVM_MMIO    0xfeb00000ULL
#define MICROVM_SLOTS   24
#define PROBE_ADDR      0x1000
/* the guest's answers in flight at most (a quarter of its tx queue) */
#define TX_INFLIGHT_MAX 32

#define CHECK(cond) \
    do { \
        if (!(cond)) { \
            fprintf(stderr, "vsock-user-link-fuzz: invariant failed: %s " \
                    "(%s:%d)\n", #cond, __FILE__, __LINE__); \
            abort(); \
        } \
    } while (0)

/* What QEMU sent so far on this connection, parsed frame by frame. */
typedef struct PeerIn {
    uint8_t hdr[VSOCK_HDR_SIZE + 8];
    size_t got;
    uint32_t skip;              /* payload bytes of the frame to drop */
    bool hello_seen;
    uint64_t frames;
} PeerIn;

typedef struct LinkFuzz {
    bool server;                /* QEMU listens */
    char *dir;
    char *path;                 /* l0's socket */
    int lfd;                    /* ours, when QEMU connects */
    int64_t stall_us;
    bool debug;                 /* QEMU_FUZZ_LINK_DEBUG: a line per input */
    VsockUserLink *link;
    QVsockTest guest;
    bool guest_up;
    uint64_t tx_addr[QVSOCK_MAX_DESC];  /* by head; 0: free */
    unsigned tx_inflight;
    uint64_t mmio_base;
} LinkFuzz;

/*
 * libFuzzer's callbacks take no context of ours: the one target that runs
 * in this process keeps its state here.
 */
static LinkFuzz *link_fuzz_state;

/* A hello from CID @src carrying @cid: what the other QEMU sends. */
static size_t hello_encode(uint8_t *buf, uint64_t src, uint64_t cid)
{
    QVsockHdr h = {
        .src_cid = src, .src_port = LINK_HELLO_MAGIC,
        .dst_port = LINK_HELLO_VERSION, .len = 8,
    };

    qvsock_hdr_encode(&h, buf);
    stq_le_p(buf + VSOCK_HDR_SIZE, cid);
    return VSOCK_HDR_SIZE + 8;
}

/* Check one frame QEMU sent (its header, once whole). */
static void peer_in_frame(PeerIn *in)
{
    QVsockHdr h;

    qvsock_hdr_decode(&h, in->hdr);
    if (!in->hello_seen) {
        uint8_t want[VSOCK_HDR_SIZE + 8];

        /* QEMU's hello first, whatever the peer sent */
        hello_encode(want, GUEST_CID, PEER_CID);
        CHECK(in->got == sizeof(want));
        CHECK(!memcmp(in->hdr, want, sizeof(want)));
        in->hello_seen = true;
        return;
    }
    CHECK(h.op >= VIRTIO_VSOCK_OP_REQUEST &&
          h.op <= VIRTIO_VSOCK_OP_CREDIT_REQUEST);
    CHECK(h.type == VIRTIO_VSOCK_TYPE_STREAM ||
          h.type == VIRTIO_VSOCK_TYPE_SEQPACKET);
    CHECK(h.len <= VSOCK_MAX_PKT_PAYLOAD);
    CHECK(!h.len || h.op == VIRTIO_VSOCK_OP_RW);
    CHECK(h.dst_cid == PEER_CID);
    in->skip = h.len;
    in->frames++;
}

static void peer_in_bytes(PeerIn *in, const uint8_t *b, size_t n)
{
    while (n) {
        size_t want, take;

        if (in->skip) {
            take = MIN(n, in->skip);
            in->skip -= take;
            b += take;
            n -= take;
            continue;
        }
        /* a hello's 8 bytes of CIDs are checked with its header */
        want = in->hello_seen ? VSOCK_HDR_SIZE : VSOCK_HDR_SIZE + 8;
        take = MIN(n, want - in->got);
        memcpy(in->hdr + in->got, b, take);
        in->got += take;
        b += take;
        n -= take;
        if (in->got == want) {
            peer_in_frame(in);
            in->got = 0;
        }
    }
}

/* Read what QEMU sent; true if anything came, *eof once it closed. */
static bool peer_read(int fd, PeerIn *in, bool *eof)
{
    uint8_t buf[16 * KiB];
    bool any = false;

    for (int i = 0; i < 64; i++) {
        ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);

        if (n > 0) {
            peer_in_bytes(in, buf, n);
            any = true;
            continue;
        }
        if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
            *eof = true;
        }
        break;
    }
    return any;
}

static int outq(int fd)
{
    int n = 0;

    if (ioctl(fd, SIOCOUTQ, &n) < 0) {
        return 0;
    }
    return n;
}

static bool hung_up(int fd)
{
    struct pollfd pfd = { .fd = fd, .events = POLLRDHUP };

    return poll(&pfd, 1, 0) > 0 && (pfd.revents & (POLLHUP | POLLRDHUP |
                                                   POLLERR));
}

static void check_link_bounds(LinkFuzz *lf)
{
    VsockUserLink *l = lf->link;

    CHECK(l->rxq_bytes <= l->max_queued + LINK_CTRL_HEADROOM +
          sizeof(LinkFrame) + VSOCK_MAX_PKT_PAYLOAD +
          MAX_CONNS * sizeof(LinkFrame));
    CHECK(l->txq_bytes <= l->max_queued + 2 * LINK_CTRL_HEADROOM +
          VSOCK_HDR_SIZE + LINK_HELLO_MAX);
}

/* Take back the tx buffers the device is done with. */
static bool guest_tx_reclaim(LinkFuzz *lf)
{
    QVsockTest *t = &lf->guest;
    uint32_t head, len;
    bool any = false;

    while (qvirtqueue_get_buf(t->qts, t->tx, &head, &len)) {
        CHECK(head < QVSOCK_MAX_DESC && lf->tx_addr[head]);
        guest_free(&t->alloc, lf->tx_addr[head]);
        lf->tx_addr[head] = 0;
        lf->tx_inflight--;
        any = true;
    }
    return any;
}

/*
 * The guest answers what comes from the peer as a Linux guest's listener
 * would, so that the link's other direction runs too: a RESPONSE to a
 * REQUEST, the same bytes back for RW, a CREDIT_UPDATE for a
 * CREDIT_REQUEST, an RST for a SHUTDOWN.  Without waiting for the device:
 * at most TX_INFLIGHT_MAX answers in flight, the rest are not sent.
 */
static void guest_answer(LinkFuzz *lf, const QVsockHdr *in,
                         const uint8_t *payload)
{
    QVsockTest *t = &lf->guest;
    QVsockHdr h = {
        .src_cid = GUEST_CID, .dst_cid = in->src_cid,
        .src_port = in->dst_port, .dst_port = in->src_port,
        .type = in->type, .buf_alloc = QVSOCK_GUEST_BUF_ALLOC,
        .fwd_cnt = t->fwd_cnt,
    };
    uint8_t b[VSOCK_HDR_SIZE + QVSOCK_RX_BUF_SIZE];
    uint64_t addr;
    uint32_t head;

    switch (in->op) {
    case VIRTIO_VSOCK_OP_REQUEST:
        h.op = VIRTIO_VSOCK_OP_RESPONSE;
        break;
    case VIRTIO_VSOCK_OP_RW:
        h.op = VIRTIO_VSOCK_OP_RW;
        h.len = in->len;
        h.flags = in->flags;
        break;
    case VIRTIO_VSOCK_OP_CREDIT_REQUEST:
        h.op = VIRTIO_VSOCK_OP_CREDIT_UPDATE;
        break;
    case VIRTIO_VSOCK_OP_SHUTDOWN:
        h.op = VIRTIO_VSOCK_OP_RST;
        break;
    default:
        return;
    }
    guest_tx_reclaim(lf);
    if (lf->tx_inflight >= TX_INFLIGHT_MAX) {
        return;
    }
    qvsock_hdr_encode(&h, b);
    memcpy(b + VSOCK_HDR_SIZE, payload, h.len);
    addr = guest_alloc(&t->alloc, VSOCK_HDR_SIZE + h.len);
    qtest_memwrite(t->qts, addr, b, VSOCK_HDR_SIZE + h.len);
    qvsock_desc_reserve(t->tx, 1);
    head = qvirtqueue_add(t->qts, t->tx, addr, VSOCK_HDR_SIZE + h.len, false,
                          false);
    CHECK(head < QVSOCK_MAX_DESC && !lf->tx_addr[head]);
    lf->tx_addr[head] = addr;
    lf->tx_inflight++;
    qvirtqueue_kick(t->qts, t->vdev, t->tx, head);
}

/* Take the used rx buffers back, check them, post new ones. */
static bool guest_drain(LinkFuzz *lf)
{
    QVsockTest *t = &lf->guest;
    uint32_t head, len;
    bool any = false;

    for (int i = 0; lf->guest_up && i < QVSOCK_MAX_DESC &&
         qvirtqueue_get_buf(t->qts, t->rx, &head, &len); i++) {
        QVsockRxBuf *rb;
        uint8_t b[QVSOCK_RX_BUF_SIZE];
        QVsockHdr h;

        CHECK(head < QVSOCK_MAX_DESC);
        rb = &t->rxbuf[head];
        CHECK(rb->n == 1);
        CHECK(len >= VSOCK_HDR_SIZE && len <= rb->size[0]);
        qtest_memread(t->qts, rb->addr[0], b, len);
        qvsock_hdr_decode(&h, b);
        CHECK(h.len == len - VSOCK_HDR_SIZE);
        CHECK(h.dst_cid == GUEST_CID);
        if (h.op == VIRTIO_VSOCK_OP_RW) {
            t->fwd_cnt += h.len;
        }
        guest_free(&t->alloc, rb->addr[0]);
        rb->n = 0;
        qvsock_post_rx(t);
        guest_answer(lf, &h, b + VSOCK_HDR_SIZE);
        any = true;
    }
    if (lf->guest_up) {
        any |= guest_tx_reclaim(lf);
    }
    return any;
}

/*
 * CPU time of this thread: what QEMU's main loop spends here.  Not wall
 * time: on a shared machine a process can be paused for seconds (both link
 * targets once saw the same 1.85 s turn at the same moment, whose inputs
 * replay in 160 and 563 ms).
 */
static int64_t thread_cpu_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec * G_USEC_PER_SEC + ts.tv_nsec / 1000;
}

/* One turn of the main loop, timed, and what it took from the peer. */
static void turn(LinkFuzz *lf, int fd)
{
    int before = fd >= 0 ? outq(fd) : 0;
    int64_t start = thread_cpu_us();
    int64_t took;

    main_loop_wait(true);
    took = thread_cpu_us() - start;
    if (took > lf->stall_us) {
        fprintf(stderr, "vsock-user-link-fuzz: one turn of the main loop "
                "took %" PRId64 " us of CPU\n", took);
    }
    CHECK(took <= lf->stall_us);
    /* once QEMU has closed, what it never read goes at once */
    if (fd >= 0 && !hung_up(fd)) {
        CHECK(before - outq(fd) <= (int)TURN_BYTES_MAX);
    }
    check_link_bounds(lf);
}

/*
 * Write @len bytes of @data and run the main loop until QEMU has read them
 * or stopped reading; read what it sends meanwhile (with @read).
 */
static void peer_exchange(LinkFuzz *lf, int fd, PeerIn *in,
                          const uint8_t *data, size_t len, bool read)
{
    size_t off = 0;
    unsigned idle = 0;
    bool eof = false;
    bool wr_dead = false;

    for (int i = 0; i < PHASE_TURNS && idle < IDLE_TURNS; i++) {
        bool progress = false;
        int q;

        while (!wr_dead && off < len) {
            ssize_t n = send(fd, data + off, len - off,
                             MSG_DONTWAIT | MSG_NOSIGNAL);

            if (n < 0) {
                /* EAGAIN: the buffer is full; anything else: QEMU closed */
                wr_dead = errno != EAGAIN && errno != EINTR;
                break;
            }
            progress = true;
            off += n;
        }
        q = outq(fd);
        turn(lf, fd);
        progress |= outq(fd) != q;
        if (read && !eof) {
            progress |= peer_read(fd, in, &eof);
        }
        progress |= guest_drain(lf);
        if (progress || g_main_context_pending(NULL)) {
            idle = 0;
        } else {
            idle++;
        }
    }
}

/* Run the main loop until nothing happens for IDLE_TURNS turns. */
static void settle(LinkFuzz *lf)
{
    unsigned idle = 0;

    for (int i = 0; i < PHASE_TURNS && idle < IDLE_TURNS; i++) {
        turn(lf, -1);
        if (guest_drain(lf) || g_main_context_pending(NULL)) {
            idle = 0;
        } else {
            idle++;
        }
    }
}

static void guest_up(LinkFuzz *lf, QTestState *s)
{
    QVsockTest *t = &lf->guest;

    memset(t, 0, sizeof(*t));
    memset(lf->tx_addr, 0, sizeof(lf->tx_addr));
    lf->tx_inflight = 0;
    t->machine = "microvm";
    t->qts = s;
    t->layout = QVSOCK_RX_ONE_BUFFER;
    alloc_init(&t->alloc, 0, 1 * MiB, 128 * MiB, 4096);
    qvirtio_mmio_init_device(&t->mmio, s, lf->mmio_base, 4096);
    t->vdev = &t->mmio.vdev;
    qvsock_setup_device(t, true);
    lf->guest_up = true;
}

static void guest_down(LinkFuzz *lf)
{
    QVsockTest *t = &lf->guest;

    if (!lf->guest_up) {
        return;
    }
    qvirtqueue_cleanup(t->vdev->bus, t->rx, &t->alloc);
    qvirtqueue_cleanup(t->vdev->bus, t->tx, &t->alloc);
    qvirtqueue_cleanup(t->vdev->bus, t->ev, &t->alloc);
    alloc_destroy(&t->alloc);
    lf->guest_up = false;
}

static int peer_connect(LinkFuzz *lf)
{
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    CHECK(fd >= 0);
    g_strlcpy(sun.sun_path, lf->path, sizeof(sun.sun_path));
    /* QEMU listens: the connection is queued at once, accepted later */
    CHECK(connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0);
    return fd;
}

/* QEMU connects (again) once the main loop runs its reconnect timer. */
static int peer_accept(LinkFuzz *lf)
{
    int64_t end = g_get_monotonic_time() + CONNECT_WAIT_US;

    for (;;) {
        int fd = accept4(lf->lfd, NULL, NULL, SOCK_CLOEXEC);

        if (fd >= 0) {
            return fd;
        }
        CHECK(errno == EAGAIN || errno == EINTR);
        if (g_get_monotonic_time() > end) {
            fprintf(stderr, "vsock-user-link-fuzz: the link did not "
                    "connect again within %d s\n",
                    (int)(CONNECT_WAIT_US / G_USEC_PER_SEC));
            abort();
        }
        turn(lf, -1);
        if (!g_main_context_pending(NULL)) {
            g_usleep(100);  /* its connect runs in a thread */
        }
    }
}

static void link_fuzz(QTestState *s, const unsigned char *data, size_t size)
{
    LinkFuzz *lf = link_fuzz_state;
    uint8_t flags = size ? data[0] : 0;
    uint8_t hello[VSOCK_HDR_SIZE + 8];
    unsigned reps = 1;
    g_autofree uint8_t *flood = NULL;
    PeerIn in = { 0 };
    int sndbuf = PEER_SNDBUF;
    int fd;

    data += MIN(size, 1);
    size -= MIN(size, 1);
    if ((flags & F_REPEAT) && size) {
        reps = 1 + 64 * data[0];
        data++;
        size--;
        if (size) {
            reps = MIN(reps, MAX(1, FLOOD_MAX / size));
        }
    }
    if (reps > 1 && size) {
        flood = g_malloc(size * reps);
        for (unsigned i = 0; i < reps; i++) {
            memcpy(flood + i * size, data, size);
        }
        data = flood;
        size *= reps;
    }
    if (flags & F_GUEST) {
        guest_up(lf, s);
    }
    fd = lf->server ? peer_connect(lf) : peer_accept(lf);
    /* as root, a buffer for the whole flood; otherwise the default */
    if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf,
                   sizeof(sndbuf)) < 0) {
        /* the default buffer: floods arrive in smaller pieces */
    }
    if (!(flags & F_RAW_HELLO)) {
        peer_exchange(lf, fd, &in, hello,
                      hello_encode(hello, PEER_CID, GUEST_CID),
                      !(flags & F_NO_READ));
    }
    peer_exchange(lf, fd, &in, data, size, !(flags & F_NO_READ));
    if (flags & F_RESET) {
        qemu_system_reset(SHUTDOWN_CAUSE_GUEST_RESET);
        guest_down(lf);
        peer_exchange(lf, fd, &in, NULL, 0, !(flags & F_NO_READ));
    }
    if (flags & F_HALF_CLOSE) {
        shutdown(fd, SHUT_WR);
        peer_exchange(lf, fd, &in, NULL, 0, true);
    }
    close(fd);
    /* let QEMU see the close, then start the next input from a reset */
    settle(lf);
    if (!lf->server && vsock_link_rx_full(lf->link)) {
        /*
         * A link that stopped reading for a guest that does not drain its
         * queue sees the end of the stream only after the frames before
         * it, so only once a guest takes them (a connecting link has no
         * candidates to replace a dead connection).  Be that guest, so
         * that the reconnect invariant holds from here on.
         */
        if (!lf->guest_up) {
            guest_up(lf, s);
        }
        settle(lf);
    }
    if (lf->debug) {
        VsockUserLink *l = lf->link;
        g_autofree char *state = object_property_get_str(OBJECT(l), "state",
                                                         &error_abort);

        fprintf(stderr, "vsock-user-link-fuzz: flags 0x%02x, %zu bytes "
                "(%u times);"
                " QEMU sent %" PRIu64 " frames%s; link %s: rx-packets %" PRIu64
                ", refused %" PRIu64 ", garbage %" PRIu64 ", resets %"
                PRIu64 ", hellos-refused %" PRIu64 "\n", flags, size, reps,
                in.frames, in.hello_seen ? " after its hello" : "",
                state,
                l->stats.rx_pkts, l->stats.refused, l->stats.garbage,
                l->stats.resets, l->stats.hellos_refused);
    }
    guest_down(lf);
    fuzz_reset(s);
    flush_events(s);
    /* the machine still answers */
    qtest_writel(s, PROBE_ADDR, 0x4b4e4c56);
    CHECK(qtest_readl(s, PROBE_ADDR) == 0x4b4e4c56);
}

static void link_pre_fuzz(QTestState *s)
{
    LinkFuzz *lf = link_fuzz_state;
    Object *obj = object_resolve_path_component(object_get_objects_root(),
                                                "l0");

    CHECK(obj);
    lf->link = VSOCK_USER_LINK(obj);
    for (int i = 0; i < MICROVM_SLOTS; i++) {
        uint64_t base = MICROVM_MMIO + i * 512;

        if (qtest_readl(s, base) == 0x74726976 /* "virt" */ &&
            qtest_readl(s, base + 8) == 19 /* VIRTIO_ID_VSOCK */) {
            lf->mmio_base = base;
        }
    }
    CHECK(lf->mmio_base);
    lf->debug = getenv("QEMU_FUZZ_LINK_DEBUG") != NULL;
    if (getenv("QEMU_FUZZ_LINK_STALL_MS")) {
        lf->stall_us = g_ascii_strtoll(getenv("QEMU_FUZZ_LINK_STALL_MS"),
                                       NULL, 0) * 1000;
    }
}

static void link_fuzz_cleanup(void)
{
    LinkFuzz *lf = link_fuzz_state;

    unlink(lf->path);
    if (lf->server) {
        g_autofree char *l1 = g_strdup_printf("%s/l1.sock", lf->dir);

        unlink(l1);
    }
    rmdir(lf->dir);
}

static GString *link_cmdline(FuzzTarget *t)
{
    LinkFuzz *lf = g_new0(LinkFuzz, 1);
    GString *cmd = g_string_new(NULL);

    lf->server = t->opaque != NULL;
    lf->dir = g_dir_make_tmp("qemu-fuzz-link.XXXXXX", NULL);
    CHECK(lf->dir);
    lf->path = g_strdup_printf("%s/l0.sock", lf->dir);
    lf->lfd = -1;
    lf->stall_us = G_USEC_PER_SEC;
    if (!lf->server) {
        struct sockaddr_un sun = { .sun_family = AF_UNIX };

        /* QEMU connects to us from its first turn of the main loop on */
        lf->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC |
                         SOCK_NONBLOCK, 0);
        CHECK(lf->lfd >= 0);
        g_strlcpy(sun.sun_path, lf->path, sizeof(sun.sun_path));
        CHECK(bind(lf->lfd, (struct sockaddr *)&sun, sizeof(sun)) == 0);
        CHECK(listen(lf->lfd, 4) == 0);
    }
    link_fuzz_state = lf;
    atexit(link_fuzz_cleanup);
    g_string_printf(cmd, "%s -display none -machine microvm,accel=qtest,"
                    "acpi=off,rtc=off,pit=off,pic=off -m 128M -nodefaults "
                    "-device virtio-vsock-user,guest-cid=%d,parent-cid=3,"
                    "heartbeat=off,max-connections=%d "
                    "-object vsock-user-link,id=l0,addr=unix:%s,server=%s,"
                    "cids=%d,relay-cids=%d,max-queued=%d,reconnect-ms=1 "
                    "-object vsock-user-link,id=l1,addr=unix:%s/l1.sock,"
                    "server=on,cids=%d",
                    TARGET_NAME, GUEST_CID, MAX_CONNS, lf->path,
                    lf->server ? "on" : "off", PEER_CID, RELAY_CID,
                    MAX_QUEUED, lf->dir, RELAY_CID);
    return cmd;
}

static void register_link_fuzz_targets(void)
{
    fuzz_add_target(&(FuzzTarget){
        .name = "vsock-user-link-listen",
        .description = "vsock-user-link with server=on: the fuzzer connects "
                       "as the other QEMU and sends hello and frames",
        .get_init_cmdline = link_cmdline,
        .pre_fuzz = link_pre_fuzz,
        .fuzz = link_fuzz,
        .opaque = (void *)1,
    });
    fuzz_add_target(&(FuzzTarget){
        .name = "vsock-user-link-connect",
        .description = "vsock-user-link with server=off: QEMU connects to "
                       "the fuzzer, which sends hello and frames",
        .get_init_cmdline = link_cmdline,
        .pre_fuzz = link_pre_fuzz,
        .fuzz = link_fuzz,
    });
}

fuzz_target_init(register_link_fuzz_targets);
