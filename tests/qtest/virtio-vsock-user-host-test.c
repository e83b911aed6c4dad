/*
 * QTest for virtio-vsock-user's host endpoints
 *
 * The test plays the guest driver on the device's virtqueues (as in
 * virtio-vsock-user-test.c) and, at the same time, the host programs on
 * real Unix and TCP loopback sockets in a temporary directory: the hybrid
 * uds-path convention both ways, the CONNECT line parser, per-port
 * forwards, half-close both ways, resets, credit backpressure both ways
 * and file descriptors across a device reset.
 *
 * Copyright (c) 2026 The virtio-vsock-user authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include <poll.h>
#include <sys/un.h>
#include <netinet/in.h>
#include "qemu/bswap.h"
#include "qemu/units.h"
#include "libqtest.h"
#include "qobject/qdict.h"
#include "libqos/libqos-malloc.h"
#include "libqos/malloc-pc.h"
#include "libqos/pci-pc.h"
#include "libqos/virtio.h"
#include "libqos/virtio-mmio.h"
#include "libqos/virtio-pci.h"
#include "standard-headers/linux/virtio_config.h"
#include "standard-headers/linux/virtio_ring.h"

#define GUEST_CID 16
#define PARENT_CID 3
#define HB_PORT 9000
#define HDR_SIZE 44
#define DEV_BUF_ALLOC (256 * 1024)
#define GUEST_BUF_ALLOC (256 * 1024)
#define RX_BUF_SIZE 4096
#define RX_POSTED 16
#define EVENT_POSTED 8
#define MAX_DESC 256
#define NS_PER_SEC 1000000000LL
#define TIMEOUT_US (10 * 1000 * 1000)

#define MICROVM_VIRTIO_MMIO_BASE 0xfeb00000ULL
#define MICROVM_VIRTIO_MMIO_SLOTS 24
#define MICROVM_RAM_END (128 * MiB)

enum {
    TYPE_STREAM = 1,
    OP_REQUEST = 1, OP_RESPONSE, OP_RST, OP_SHUTDOWN, OP_RW,
    OP_CREDIT_UPDATE, OP_CREDIT_REQUEST,
    SHUT_RCV = 1, SHUT_SEND = 2,
};

typedef struct Hdr {
    uint64_t src_cid, dst_cid;
    uint32_t src_port, dst_port, len;
    uint16_t type, op;
    uint32_t flags, buf_alloc, fwd_cnt;
} Hdr;

typedef struct RxBuf {
    uint64_t addr[2];
    uint32_t size[2];
    int n;
} RxBuf;

typedef enum RxLayout {
    RX_ONE_BUFFER,      /* Linux >= 6.x: one 4 KiB buffer, header + data */
    RX_HDR_AND_DATA,    /* older guests: 44-byte header + 4 KiB payload */
} RxLayout;

typedef struct VT {
    const char *machine;
    QTestState *qts;
    QGuestAllocator alloc;
    QPCIBus *pcibus;
    QVirtioPCIDevice *pdev;
    QVirtioMMIODevice mmio;
    QVirtioDevice *vdev;
    QVirtQueue *rx, *tx, *ev;
    RxLayout layout;
    RxBuf rxbuf[MAX_DESC];
    uint64_t evbuf[EVENT_POSTED];
    uint32_t next_port;
    uint32_t fwd_cnt;        /* what the test (guest) has consumed */
} VT;

static void hdr_encode(const Hdr *h, uint8_t *b)
{
    stq_le_p(b, h->src_cid);
    stq_le_p(b + 8, h->dst_cid);
    stl_le_p(b + 16, h->src_port);
    stl_le_p(b + 20, h->dst_port);
    stl_le_p(b + 24, h->len);
    stw_le_p(b + 28, h->type);
    stw_le_p(b + 30, h->op);
    stl_le_p(b + 32, h->flags);
    stl_le_p(b + 36, h->buf_alloc);
    stl_le_p(b + 40, h->fwd_cnt);
}

static void hdr_decode(Hdr *h, const uint8_t *b)
{
    h->src_cid = ldq_le_p(b);
    h->dst_cid = ldq_le_p(b + 8);
    h->src_port = ldl_le_p(b + 16);
    h->dst_port = ldl_le_p(b + 20);
    h->len = ldl_le_p(b + 24);
    h->type = lduw_le_p(b + 28);
    h->op = lduw_le_p(b + 30);
    h->flags = ldl_le_p(b + 32);
    h->buf_alloc = ldl_le_p(b + 36);
    h->fwd_cnt = ldl_le_p(b + 40);
}

/* A guest packet from GUEST_CID:@src_port to @dst_cid:@dst_port */
static Hdr pkt(uint64_t dst_cid, uint32_t src_port, uint32_t dst_port,
               uint16_t op, uint32_t len)
{
    return (Hdr) {
        .src_cid = GUEST_CID, .dst_cid = dst_cid,
        .src_port = src_port, .dst_port = dst_port, .len = len,
        .type = TYPE_STREAM, .op = op, .buf_alloc = GUEST_BUF_ALLOC,
    };
}

/*
 * Descriptors: libqos hands them out in increasing order; restart at 0
 * when a chain would run past the table.  Every test waits for what it
 * posts, so fewer than a ring's worth are ever in flight.
 */
static void desc_reserve(QVirtQueue *vq, unsigned n)
{
    if (vq->free_head + n > vq->size) {
        vq->free_head = 0;
    }
    vq->num_free = vq->size;
}

static void vt_post_rx(VT *t)
{
    uint32_t head;
    RxBuf b = {};

    desc_reserve(t->rx, 2);
    if (t->layout == RX_ONE_BUFFER) {
        b.n = 1;
        b.size[0] = RX_BUF_SIZE;
        b.addr[0] = guest_alloc(&t->alloc, RX_BUF_SIZE);
        head = qvirtqueue_add(t->qts, t->rx, b.addr[0], b.size[0], true,
                              false);
    } else {
        b.n = 2;
        b.size[0] = HDR_SIZE;
        b.size[1] = RX_BUF_SIZE;
        b.addr[0] = guest_alloc(&t->alloc, HDR_SIZE);
        b.addr[1] = guest_alloc(&t->alloc, RX_BUF_SIZE);
        head = qvirtqueue_add(t->qts, t->rx, b.addr[0], b.size[0], true,
                              true);
        qvirtqueue_add(t->qts, t->rx, b.addr[1], b.size[1], true, false);
    }
    g_assert_cmpuint(head, <, G_N_ELEMENTS(t->rxbuf));
    t->rxbuf[head] = b;
    qvirtqueue_kick(t->qts, t->vdev, t->rx, head);
}

static void vt_post_event(VT *t, int i)
{
    uint32_t head;

    desc_reserve(t->ev, 1);
    qtest_memset(t->qts, t->evbuf[i], 0xff, 4);
    head = qvirtqueue_add(t->qts, t->ev, t->evbuf[i], 4, true, false);
    qvirtqueue_kick(t->qts, t->vdev, t->ev, head);
}

static uint64_t microvm_find_vsock(QTestState *qts)
{
    for (int i = 0; i < MICROVM_VIRTIO_MMIO_SLOTS; i++) {
        uint64_t base = MICROVM_VIRTIO_MMIO_BASE + i * 512;

        if (qtest_readl(qts, base) == 0x74726976 /* "virt" */ &&
            qtest_readl(qts, base + 8) == 19 /* VIRTIO_ID_VSOCK */) {
            return base;
        }
    }
    g_assert_not_reached();
}

/* Bring the device up the way a guest driver does. */
static void vt_setup_device(VT *t, bool post_buffers)
{
    uint64_t features;

    qvirtio_start_device(t->vdev);
    features = qvirtio_get_features(t->vdev);
    /* virtio-pci: modern only; microvm's virtio-mmio: legacy by default */
    if (t->pdev) {
        g_assert(features & (1ull << VIRTIO_F_VERSION_1));
    }
    qvirtio_set_features(t->vdev, features &
                         ((1ull << VIRTIO_F_VERSION_1) |
                          (1ull << VIRTIO_RING_F_INDIRECT_DESC)));
    t->rx = qvirtqueue_setup(t->vdev, &t->alloc, 0);
    t->tx = qvirtqueue_setup(t->vdev, &t->alloc, 1);
    t->ev = qvirtqueue_setup(t->vdev, &t->alloc, 2);
    qvirtio_set_driver_ok(t->vdev);
    if (post_buffers) {
        for (int i = 0; i < EVENT_POSTED; i++) {
            vt_post_event(t, i);
        }
        for (int i = 0; i < RX_POSTED; i++) {
            vt_post_rx(t);
        }
    }
}

static void vt_attach(VT *t)
{
    if (!strcmp(t->machine, "microvm")) {
        qvirtio_mmio_init_device(&t->mmio, t->qts,
                                 microvm_find_vsock(t->qts), 4096);
        t->vdev = &t->mmio.vdev;
    } else {
        QPCIAddress addr = { .devfn = QPCI_DEVFN(4, 0) };

        t->pcibus = qpci_new_pc(t->qts, &t->alloc);
        t->pdev = virtio_pci_new(t->pcibus, &addr);
        g_assert_nonnull(t->pdev);
        qvirtio_pci_device_enable(t->pdev);
        t->vdev = &t->pdev->vdev;
    }
}

static QTestState *vt_start_qemu(const char *machine, const char *props,
                                 const char *extra)
{
    if (!strcmp(machine, "microvm")) {
        return qtest_initf("-M microvm,acpi=off,rtc=off,pit=off,pic=off "
                           "-m 128M -device virtio-vsock-user,guest-cid=%d,"
                           "parent-cid=%d%s %s", GUEST_CID, PARENT_CID,
                           props, extra);
    }
    return qtest_initf("-M pc -m 128M -device virtio-vsock-user-pci,"
                       "addr=04.0,guest-cid=%d,parent-cid=%d%s %s",
                       GUEST_CID, PARENT_CID, props, extra);
}

static void vt_init_full(VT *t, const char *machine, RxLayout layout,
                         const char *extra,
                         const char *props)
{
    memset(t, 0, sizeof(*t));
    t->machine = machine;
    t->layout = layout;
    t->next_port = 50000;
    t->qts = vt_start_qemu(machine, props, extra);
    if (!strcmp(machine, "microvm")) {
        alloc_init(&t->alloc, 0, 1 * MiB, MICROVM_RAM_END, 4096);
    } else {
        pc_alloc_init(&t->alloc, t->qts, ALLOC_NO_FLAGS);
    }
    for (int i = 0; i < EVENT_POSTED; i++) {
        t->evbuf[i] = guest_alloc(&t->alloc, 4);
    }
    vt_attach(t);
    vt_setup_device(t, true);
}

static void vt_free(VT *t)
{
    if (t->pdev) {
        qvirtio_pci_device_disable(t->pdev);
        g_free(t->pdev);
        qpci_free_pc(t->pcibus);
    }
    alloc_destroy(&t->alloc);
    qtest_quit(t->qts);
}

/* Put one chain of read-only buffers on the tx queue and wait for it. */
static void vt_send_chain(VT *t, const uint8_t *bytes, const size_t *sizes,
                          unsigned n)
{
    uint32_t head = 0;
    uint64_t addr[8];
    size_t off = 0;

    g_assert_cmpuint(n, <=, G_N_ELEMENTS(addr));
    desc_reserve(t->tx, n);
    for (unsigned i = 0; i < n; i++) {
        uint32_t idx;

        addr[i] = guest_alloc(&t->alloc, MAX(sizes[i], 1));
        qtest_memwrite(t->qts, addr[i], bytes + off, sizes[i]);
        off += sizes[i];
        idx = qvirtqueue_add(t->qts, t->tx, addr[i], sizes[i], false,
                             i + 1 < n);
        if (i == 0) {
            head = idx;
        }
    }
    qvirtqueue_kick(t->qts, t->vdev, t->tx, head);
    qvirtio_wait_used_elem(t->qts, t->vdev, t->tx, head, NULL, TIMEOUT_US);
    for (unsigned i = 0; i < n; i++) {
        guest_free(&t->alloc, addr[i]);
    }
}

/* A packet in one descriptor, as Linux sends it. */
static void vt_send(VT *t, Hdr h, const void *payload)
{
    g_autofree uint8_t *b = g_malloc(HDR_SIZE + h.len);
    size_t size = HDR_SIZE + h.len;

    if (h.op == OP_RW) {
        h.fwd_cnt = t->fwd_cnt;
    }
    hdr_encode(&h, b);
    if (h.len) {
        memcpy(b + HDR_SIZE, payload, h.len);
    }
    vt_send_chain(t, b, &size, 1);
}

/* Wait for the next used rx buffer; false on timeout. */
static bool vt_try_recv(VT *t, Hdr *h, uint8_t *payload, gint64 timeout_us)
{
    gint64 end = g_get_monotonic_time() + timeout_us;
    uint32_t head, len;
    uint8_t b[HDR_SIZE + RX_BUF_SIZE];
    RxBuf *rb;

    while (!qvirtqueue_get_buf(t->qts, t->rx, &head, &len)) {
        if (g_get_monotonic_time() > end) {
            return false;
        }
        qtest_clock_step(t->qts, 100);
        g_usleep(100);
    }
    g_assert_cmpuint(head, <, G_N_ELEMENTS(t->rxbuf));
    rb = &t->rxbuf[head];
    if (rb->n == 0) {
        /* A buffer the test made unusable on purpose: discarded. */
        g_assert_cmpuint(len, ==, 0);
        return vt_try_recv(t, h, payload, timeout_us);
    }
    g_assert_cmpuint(len, >=, HDR_SIZE);
    g_assert_cmpuint(len, <=, rb->size[0] + rb->size[1]);
    qtest_memread(t->qts, rb->addr[0], b, MIN(len, rb->size[0]));
    if (len > rb->size[0]) {
        qtest_memread(t->qts, rb->addr[1], b + rb->size[0],
                      len - rb->size[0]);
    }
    hdr_decode(h, b);
    g_assert_cmpuint(h->len, ==, len - HDR_SIZE);
    if (payload) {
        memcpy(payload, b + HDR_SIZE, h->len);
    }
    if (h->op == OP_RW) {
        t->fwd_cnt += h->len;
    }
    for (int i = 0; i < rb->n; i++) {
        guest_free(&t->alloc, rb->addr[i]);
    }
    rb->n = 0;
    vt_post_rx(t);
    return true;
}

static void vt_recv(VT *t, Hdr *h, uint8_t *payload)
{
    g_assert(vt_try_recv(t, h, payload, TIMEOUT_US));
}

/* Nothing arrives on rx while the clock moves by @ns. */
static void vt_expect_silence(VT *t, int64_t ns)
{
    uint32_t head, len;

    for (int i = 0; i < 10; i++) {
        qtest_clock_step(t->qts, ns / 10);
    }
    g_assert_false(qvirtqueue_get_buf(t->qts, t->rx, &head, &len));
}

static void assert_hdr(const Hdr *h, uint64_t src_cid, uint32_t src_port,
                       uint32_t dst_port, uint16_t op, uint32_t len,
                       uint32_t flags)
{
    g_assert_cmpuint(h->src_cid, ==, src_cid);
    g_assert_cmpuint(h->dst_cid, ==, GUEST_CID);
    g_assert_cmpuint(h->src_port, ==, src_port);
    g_assert_cmpuint(h->dst_port, ==, dst_port);
    g_assert_cmpuint(h->type, ==, TYPE_STREAM);
    g_assert_cmpuint(h->op, ==, op);
    g_assert_cmpuint(h->len, ==, len);
    g_assert_cmpuint(h->flags, ==, flags);
}

static uint64_t vt_stat(VT *t, const char *name)
{
    /* On pc the virtio device is the PCI proxy's child. */
    const char *path = t->pdev ?
        "/machine/peripheral-anon/device[0]/virtio-backend" :
        "/machine/peripheral-anon/device[0]";
    g_autoptr(QDict) rsp = qtest_qmp(t->qts, "{'execute': 'qom-get', "
                                     "'arguments': {'path': %s, "
                                     "'property': %s}}", path, name);

    g_assert(qdict_haskey(rsp, "return"));
    return qdict_get_int(rsp, "return");
}


/* ---------------------------------------------------------------------- */
/* The host side                                                          */
/* ---------------------------------------------------------------------- */

#define HOST_TIMEOUT_MS 10000

typedef struct HT {
    VT vt;
    char *dir;
    char *uds;             /* the device's uds-path */
} HT;

static int unix_listen_at(const char *path)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);

    g_assert_cmpint(fd, >=, 0);
    g_assert_cmpuint(strlen(path), <, sizeof(sa.sun_path));
    strcpy(sa.sun_path, path);
    unlink(path);
    g_assert_cmpint(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), ==, 0);
    g_assert_cmpint(listen(fd, 64), ==, 0);
    return fd;
}

/*
 * A Unix listener whose backlog is full: the device's next (blocking)
 * connect to @path waits until the test accepts the first client.
 * Returns the listener, *@filler the client that fills the backlog.
 */
static int unix_listen_full(const char *path, int *filler)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    int fd = unix_listen_at(path);

    g_assert_cmpint(listen(fd, 0), ==, 0);
    *filler = socket(AF_UNIX, SOCK_STREAM, 0);
    g_assert_cmpint(*filler, >=, 0);
    strcpy(sa.sun_path, path);
    g_assert_cmpint(connect(*filler, (struct sockaddr *)&sa, sizeof(sa)),
                    ==, 0);
    return fd;
}

static int unix_connect_to(const char *path)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);

    g_assert_cmpint(fd, >=, 0);
    strcpy(sa.sun_path, path);
    g_assert_cmpint(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), ==, 0);
    return fd;
}

static int tcp_free_port(void)
{
    struct sockaddr_in sa = {
        .sin_family = AF_INET,
        .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
    };
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int port;

    g_assert_cmpint(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), ==, 0);
    g_assert_cmpint(getsockname(fd, (struct sockaddr *)&sa, &len), ==, 0);
    port = ntohs(sa.sin_port);
    close(fd);
    return port;
}

static int tcp_connect_to(int port)
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

static bool wait_fd(int fd, short events, int ms)
{
    struct pollfd p = { .fd = fd, .events = events };

    return poll(&p, 1, ms) == 1;
}

/* Accept one connection; the device connects from a thread. */
static int host_accept(HT *ht, int lfd)
{
    gint64 end = g_get_monotonic_time() + HOST_TIMEOUT_MS * 1000LL;
    int fd;

    while (!wait_fd(lfd, POLLIN, 1)) {
        g_assert_cmpint(g_get_monotonic_time(), <, end);
        qtest_clock_step(ht->vt.qts, 100);
    }
    fd = accept(lfd, NULL, NULL);
    g_assert_cmpint(fd, >=, 0);
    return fd;
}

/* Read exactly @len bytes. */
static void host_read(HT *ht, int fd, void *buf, size_t len)
{
    size_t got = 0;

    while (got < len) {
        ssize_t n;

        g_assert(wait_fd(fd, POLLIN, HOST_TIMEOUT_MS));
        n = read(fd, (char *)buf + got, len - got);
        g_assert_cmpint(n, >, 0);
        got += n;
    }
}

static void host_expect(HT *ht, int fd, const char *text)
{
    g_autofree char *buf = g_malloc(strlen(text) + 1);

    host_read(ht, fd, buf, strlen(text));
    buf[strlen(text)] = 0;
    g_assert_cmpstr(buf, ==, text);
}

/* The host socket reads EOF (or a reset). */
static void host_expect_eof(HT *ht, int fd)
{
    char c;
    ssize_t n;

    g_assert(wait_fd(fd, POLLIN, HOST_TIMEOUT_MS));
    n = read(fd, &c, 1);
    g_assert(n == 0 || (n < 0 && errno == ECONNRESET));
}

static void host_write(int fd, const char *text)
{
    g_assert_cmpint(write(fd, text, strlen(text)), ==, strlen(text));
}

static void ht_init(HT *ht, const char *props, const char *extra)
{
    g_autofree char *p = NULL;
    GError *err = NULL;

    memset(ht, 0, sizeof(*ht));
    ht->dir = g_dir_make_tmp("vsock-user-host-XXXXXX", &err);
    g_assert_no_error(err);
    ht->uds = g_strdup_printf("%s/v.sock", ht->dir);
    p = g_strdup_printf(",heartbeat=off,uds-path=%s%s", ht->uds, props);
    vt_init_full(&ht->vt, "microvm", RX_ONE_BUFFER, extra, p);
}

static void ht_free(HT *ht)
{
    g_autoptr(GDir) d = NULL;
    const char *name;

    vt_free(&ht->vt);
    /* the device removed its own socket at exit */
    g_assert_false(g_file_test(ht->uds, G_FILE_TEST_EXISTS));
    d = g_dir_open(ht->dir, 0, NULL);
    while ((name = g_dir_read_name(d))) {
        g_autofree char *path = g_build_filename(ht->dir, name, NULL);

        unlink(path);
    }
    rmdir(ht->dir);
    g_free(ht->dir);
    g_free(ht->uds);
}

static Hdr gpkt(uint32_t src_port, uint32_t dst_port, uint16_t op,
                uint32_t len)
{
    return pkt(PARENT_CID, src_port, dst_port, op, len);
}

/* Guest data on an established connection. */
static void guest_send_text(HT *ht, uint32_t port, uint32_t dst,
                            const char *text)
{
    vt_send(&ht->vt, gpkt(port, dst, OP_RW, strlen(text)), text);
}

/* Next packet is RW with exactly @text. */
static void guest_expect_text(HT *ht, uint32_t port, uint32_t src,
                              const char *text)
{
    uint8_t data[RX_BUF_SIZE];
    Hdr h;

    vt_recv(&ht->vt, &h, data);
    assert_hdr(&h, PARENT_CID, src, port, OP_RW, strlen(text), 0);
    g_assert_cmpmem(data, h.len, text, strlen(text));
}

/* The guest connects to @dst; the test accepts on @lfd.  Returns fd. */
static int guest_connect_host(HT *ht, uint32_t port, uint32_t dst, int lfd,
                              uint32_t buf_alloc)
{
    Hdr req = gpkt(port, dst, OP_REQUEST, 0);
    Hdr h;
    int fd;

    req.buf_alloc = buf_alloc;
    ht->vt.fwd_cnt = 0;
    vt_send(&ht->vt, req, NULL);
    fd = host_accept(ht, lfd);
    vt_recv(&ht->vt, &h, NULL);
    assert_hdr(&h, PARENT_CID, dst, port, OP_RESPONSE, 0, 0);
    g_assert_cmpuint(h.buf_alloc, ==, DEV_BUF_ALLOC);
    return fd;
}

/* ---------------------------------------------------------------------- */

/* Guest -> host through PATH_<port>, guest closes its sending side first */
static void test_g2h_hybrid(void)
{
    HT ht;
    g_autofree char *lpath = NULL;
    int lfd, fd;
    Hdr h;

    ht_init(&ht, "", "");
    lpath = g_strdup_printf("%s_5000", ht.uds);
    lfd = unix_listen_at(lpath);
    fd = guest_connect_host(&ht, 40000, 5000, lfd, GUEST_BUF_ALLOC);
    g_assert_cmpuint(vt_stat(&ht.vt, "host-sockets"), ==, 1);

    guest_send_text(&ht, 40000, 5000, "hello host");
    host_expect(&ht, fd, "hello host");
    host_write(fd, "hello guest");
    guest_expect_text(&ht, 40000, 5000, "hello guest");

    /* guest SHUT_WR: the host reads EOF, and can still answer */
    vt_send(&ht.vt, (Hdr) { .src_cid = GUEST_CID, .dst_cid = PARENT_CID,
                            .src_port = 40000, .dst_port = 5000,
                            .type = TYPE_STREAM, .op = OP_SHUTDOWN,
                            .flags = SHUT_SEND,
                            .buf_alloc = GUEST_BUF_ALLOC,
                            .fwd_cnt = ht.vt.fwd_cnt }, NULL);
    host_expect_eof(&ht, fd);
    host_write(fd, "response after EOF");
    guest_expect_text(&ht, 40000, 5000, "response after EOF");

    /* the host closes too: the guest sees its EOF, then the close */
    close(fd);
    vt_recv(&ht.vt, &h, NULL);
    assert_hdr(&h, PARENT_CID, 5000, 40000, OP_SHUTDOWN, 0, h.flags);
    g_assert_true(h.flags & SHUT_SEND);
    vt_send(&ht.vt, (Hdr) { .src_cid = GUEST_CID, .dst_cid = PARENT_CID,
                            .src_port = 40000, .dst_port = 5000,
                            .type = TYPE_STREAM, .op = OP_RST,
                            .buf_alloc = GUEST_BUF_ALLOC }, NULL);
    vt_expect_silence(&ht.vt, NS_PER_SEC);
    g_assert_cmpuint(vt_stat(&ht.vt, "connections"), ==, 0);
    g_assert_cmpuint(vt_stat(&ht.vt, "host-sockets"), ==, 0);
    close(lfd);
    ht_free(&ht);
}

/* Guest -> host, the host closes its sending side first */
static void test_g2h_host_eof(void)
{
    HT ht;
    g_autofree char *lpath = NULL;
    int lfd, fd;
    Hdr h;

    ht_init(&ht, "", "");
    lpath = g_strdup_printf("%s_5001", ht.uds);
    lfd = unix_listen_at(lpath);
    fd = guest_connect_host(&ht, 40001, 5001, lfd, GUEST_BUF_ALLOC);
    host_write(fd, "request");
    shutdown(fd, SHUT_WR);
    guest_expect_text(&ht, 40001, 5001, "request");
    vt_recv(&ht.vt, &h, NULL);
    assert_hdr(&h, PARENT_CID, 5001, 40001, OP_SHUTDOWN, 0, SHUT_SEND);
    /* guest data still flows to the host */
    guest_send_text(&ht, 40001, 5001, "answer");
    host_expect(&ht, fd, "answer");
    /* the guest's close: SHUTDOWN both ways, answered by RST */
    vt_send(&ht.vt, (Hdr) { .src_cid = GUEST_CID, .dst_cid = PARENT_CID,
                            .src_port = 40001, .dst_port = 5001,
                            .type = TYPE_STREAM, .op = OP_SHUTDOWN,
                            .flags = SHUT_SEND | SHUT_RCV,
                            .buf_alloc = GUEST_BUF_ALLOC,
                            .fwd_cnt = ht.vt.fwd_cnt }, NULL);
    vt_recv(&ht.vt, &h, NULL);
    g_assert_cmpuint(h.op, ==, OP_RST);
    host_expect_eof(&ht, fd);
    close(fd);
    close(lfd);
    ht_free(&ht);
}

/* No PATH_<port> listener: RST; guest RST: the host sees the close */
static void test_g2h_refused_and_rst(void)
{
    HT ht;
    g_autofree char *lpath = NULL;
    int lfd, fd;
    Hdr h;

    ht_init(&ht, "", "");
    vt_send(&ht.vt, gpkt(40002, 5002, OP_REQUEST, 0), NULL);
    vt_recv(&ht.vt, &h, NULL);
    assert_hdr(&h, PARENT_CID, 5002, 40002, OP_RST, 0, 0);
    g_assert_cmpuint(vt_stat(&ht.vt, "host-connect-failed"), ==, 1);

    lpath = g_strdup_printf("%s_5002", ht.uds);
    lfd = unix_listen_at(lpath);
    fd = guest_connect_host(&ht, 40003, 5002, lfd, GUEST_BUF_ALLOC);
    guest_send_text(&ht, 40003, 5002, "x");
    host_expect(&ht, fd, "x");
    vt_send(&ht.vt, gpkt(40003, 5002, OP_RST, 0), NULL);
    host_expect_eof(&ht, fd);
    vt_expect_silence(&ht.vt, NS_PER_SEC);
    g_assert_cmpuint(vt_stat(&ht.vt, "connections"), ==, 0);
    close(fd);
    close(lfd);
    ht_free(&ht);
}

/*
 * The device's connect to PATH_<port> is stuck: the guest hears nothing
 * until the host connect is done.  Release it: accept the filler, then
 * the device's socket, which must read EOF (cancelled connect).
 */
static void host_release_cancelled(HT *ht, int lfd, int filler)
{
    int ffd, fd;

    ffd = host_accept(ht, lfd);
    fd = host_accept(ht, lfd);
    host_expect_eof(ht, fd);
    g_assert_cmpuint(vt_stat(&ht->vt, "host-sockets"), ==, 0);
    g_assert_cmpuint(vt_stat(&ht->vt, "connections"), ==, 0);
    close(fd);
    close(ffd);
    close(filler);
}

/* Guest RST while the host connect is pending: cancelled, no answer */
static void test_g2h_pending_rst(void)
{
    HT ht;
    g_autofree char *lpath = NULL;
    int lfd, filler, fd;

    ht_init(&ht, "", "");
    lpath = g_strdup_printf("%s_5006", ht.uds);
    lfd = unix_listen_full(lpath, &filler);
    vt_send(&ht.vt, gpkt(40006, 5006, OP_REQUEST, 0), NULL);
    vt_expect_silence(&ht.vt, NS_PER_SEC / 2);
    /* a pending connection counts */
    g_assert_cmpuint(vt_stat(&ht.vt, "connections"), ==, 1);
    g_assert_cmpuint(vt_stat(&ht.vt, "host-sockets"), ==, 0);
    vt_send(&ht.vt, gpkt(40006, 5006, OP_RST, 0), NULL);
    /* never answered, not even when the accept timeout would have hit */
    vt_expect_silence(&ht.vt, 3 * NS_PER_SEC);
    g_assert_cmpuint(vt_stat(&ht.vt, "connections"), ==, 0);
    host_release_cancelled(&ht, lfd, filler);
    vt_expect_silence(&ht.vt, NS_PER_SEC / 10);
    g_assert_cmpuint(vt_stat(&ht.vt, "host-connect-failed"), ==, 0);

    /* the same guest port connects again and gets through */
    fd = guest_connect_host(&ht, 40006, 5006, lfd, GUEST_BUF_ALLOC);
    guest_send_text(&ht, 40006, 5006, "again");
    host_expect(&ht, fd, "again");
    close(fd);
    close(lfd);
    ht_free(&ht);
}

/* The host connect outlasts the accept timeout: RST, then cancelled */
static void test_g2h_pending_timeout(void)
{
    HT ht;
    g_autofree char *lpath = NULL;
    int lfd, filler;
    Hdr h;

    ht_init(&ht, "", "");
    lpath = g_strdup_printf("%s_5007", ht.uds);
    lfd = unix_listen_full(lpath, &filler);
    vt_send(&ht.vt, gpkt(40007, 5007, OP_REQUEST, 0), NULL);
    vt_expect_silence(&ht.vt, 19 * NS_PER_SEC / 10);
    qtest_clock_step(ht.vt.qts, NS_PER_SEC / 5);
    vt_recv(&ht.vt, &h, NULL);
    assert_hdr(&h, PARENT_CID, 5007, 40007, OP_RST, 0, 0);
    g_assert_cmpuint(vt_stat(&ht.vt, "connections"), ==, 0);
    g_assert_cmpuint(vt_stat(&ht.vt, "host-connect-failed"), ==, 1);
    /* a guest RST after ours is not answered either */
    vt_send(&ht.vt, gpkt(40007, 5007, OP_RST, 0), NULL);
    vt_expect_silence(&ht.vt, NS_PER_SEC);
    host_release_cancelled(&ht, lfd, filler);
    vt_expect_silence(&ht.vt, NS_PER_SEC / 10);
    g_assert_cmpuint(vt_stat(&ht.vt, "host-connect-failed"), ==, 1);
    close(lfd);
    ht_free(&ht);
}

/* Device reset while the host connect is pending */
static void test_g2h_pending_reset(void)
{
    HT ht;
    g_autofree char *lpath = NULL;
    int lfd, filler;

    ht_init(&ht, "", "");
    lpath = g_strdup_printf("%s_5008", ht.uds);
    lfd = unix_listen_full(lpath, &filler);
    vt_send(&ht.vt, gpkt(40008, 5008, OP_REQUEST, 0), NULL);
    vt_expect_silence(&ht.vt, NS_PER_SEC / 2);
    g_assert_cmpuint(vt_stat(&ht.vt, "connections"), ==, 1);
    qtest_system_reset(ht.vt.qts);
    g_assert_cmpuint(vt_stat(&ht.vt, "connections"), ==, 0);
    host_release_cancelled(&ht, lfd, filler);
    close(lfd);
    ht_free(&ht);
}

/* Host -> guest: CONNECT, then application data right behind the line */
static uint32_t h2g_connect(HT *ht, int fd, const char *line,
                            uint32_t guest_port)
{
    Hdr h;

    host_write(fd, line);
    vt_recv(&ht->vt, &h, NULL);
    g_assert_cmpuint(h.op, ==, OP_REQUEST);
    g_assert_cmpuint(h.src_cid, ==, PARENT_CID);
    g_assert_cmpuint(h.dst_port, ==, guest_port);
    return h.src_port;
}

static void guest_respond(HT *ht, uint32_t guest_port, uint32_t host_port)
{
    ht->vt.fwd_cnt = 0;
    vt_send(&ht->vt, gpkt(guest_port, host_port, OP_RESPONSE, 0), NULL);
}

static void test_h2g_hybrid(void)
{
    HT ht;
    g_autofree char *ok = NULL;
    uint32_t hp;
    int fd;

    ht_init(&ht, "", "");
    fd = unix_connect_to(ht.uds);
    /* application data in the same write must not be swallowed */
    hp = h2g_connect(&ht, fd, "CONNECT 1234\nearly bytes", 1234);
    guest_respond(&ht, 1234, hp);
    ok = g_strdup_printf("OK %u\n", hp);
    host_expect(&ht, fd, ok);
    guest_expect_text(&ht, 1234, hp, "early bytes");
    guest_send_text(&ht, 1234, hp, "from guest");
    host_expect(&ht, fd, "from guest");
    g_assert_cmpuint(vt_stat(&ht.vt, "host-sockets"), ==, 1);
    close(fd);
    {
        Hdr h;

        vt_recv(&ht.vt, &h, NULL);
        assert_hdr(&h, PARENT_CID, hp, 1234, OP_SHUTDOWN, 0, SHUT_SEND);
    }
    vt_send(&ht.vt, gpkt(1234, hp, OP_RST, 0), NULL);

    /* the guest refuses: the client is closed */
    fd = unix_connect_to(ht.uds);
    hp = h2g_connect(&ht, fd, "CONNECT 1235\n", 1235);
    vt_send(&ht.vt, gpkt(1235, hp, OP_RST, 0), NULL);
    host_expect_eof(&ht, fd);
    close(fd);
    ht_free(&ht);
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
    HT ht;
    int fd;

    ht_init(&ht, ",uds-connect-timeout=300", "");
    for (size_t i = 0; i < G_N_ELEMENTS(bad); i++) {
        fd = unix_connect_to(ht.uds);
        host_write(fd, bad[i]);
        host_expect_eof(&ht, fd);
        close(fd);
    }
    /* no newline at all, and a silent client: timed out */
    fd = unix_connect_to(ht.uds);
    host_write(fd, "CONNECT 5");
    host_expect_eof(&ht, fd);
    close(fd);
    fd = unix_connect_to(ht.uds);
    host_expect_eof(&ht, fd);
    close(fd);
    /* nothing reached the guest */
    vt_expect_silence(&ht.vt, NS_PER_SEC);
    g_assert_cmpuint(vt_stat(&ht.vt, "host-bad-connect"), ==,
                     G_N_ELEMENTS(bad) + 2);

    for (size_t i = 0; i < G_N_ELEMENTS(good); i++) {
        g_autofree char *ok = NULL;
        uint32_t hp;
        Hdr h;

        fd = unix_connect_to(ht.uds);
        host_write(fd, good[i].part1);
        g_usleep(20 * 1000);
        hp = h2g_connect(&ht, fd, good[i].part2, good[i].port);
        guest_respond(&ht, good[i].port, hp);
        ok = g_strdup_printf("OK %u\n", hp);
        host_expect(&ht, fd, ok);
        close(fd);
        vt_recv(&ht.vt, &h, NULL);
        g_assert_cmpuint(h.op, ==, OP_SHUTDOWN);
        vt_send(&ht.vt, gpkt(good[i].port, hp, OP_RST, 0), NULL);
    }
    ht_free(&ht);
}

/* Per-port forwards: guest port -> unix socket, TCP listener -> guest */
static void test_forwards(void)
{
    HT ht;
    g_autofree char *extra = NULL;
    g_autofree char *kms = NULL;
    g_autofree char *dir = NULL;
    int tport = tcp_free_port();
    int lfd, fd, cfd;
    uint32_t hp;
    GError *err = NULL;

    dir = g_dir_make_tmp("vsock-user-fwd-XXXXXX", &err);
    g_assert_no_error(err);
    kms = g_strdup_printf("%s/kms.sock", dir);
    lfd = unix_listen_at(kms);
    extra = g_strdup_printf(
        "-object vsock-user-forward,id=kms,guest-port=8000,connect=unix:%s "
        "-object vsock-user-forward,id=web,listen=tcp:127.0.0.1:%d,"
        "guest-port=80", kms, tport);
    ht_init(&ht, "", extra);

    /* guest -> unix forward, twice at the same time */
    fd = guest_connect_host(&ht, 41000, 8000, lfd, GUEST_BUF_ALLOC);
    cfd = guest_connect_host(&ht, 41001, 8000, lfd, GUEST_BUF_ALLOC);
    guest_send_text(&ht, 41000, 8000, "one");
    guest_send_text(&ht, 41001, 8000, "two");
    host_expect(&ht, fd, "one");
    host_expect(&ht, cfd, "two");
    host_write(cfd, "TWO");
    guest_expect_text(&ht, 41001, 8000, "TWO");
    close(fd);
    close(cfd);
    for (int i = 0; i < 2; i++) {
        Hdr h;

        vt_recv(&ht.vt, &h, NULL);
        g_assert_cmpuint(h.op, ==, OP_SHUTDOWN);
        vt_send(&ht.vt, gpkt(h.dst_port, 8000, OP_RST, 0), NULL);
    }

    /* TCP listener -> guest port 80 */
    fd = tcp_connect_to(tport);
    host_write(fd, "GET /");
    {
        Hdr h;

        vt_recv(&ht.vt, &h, NULL);
        g_assert_cmpuint(h.op, ==, OP_REQUEST);
        g_assert_cmpuint(h.dst_port, ==, 80);
        hp = h.src_port;
    }
    guest_respond(&ht, 80, hp);
    guest_expect_text(&ht, 80, hp, "GET /");
    guest_send_text(&ht, 80, hp, "200 OK");
    host_expect(&ht, fd, "200 OK");
    /* guest RST: TCP peer sees a reset or EOF */
    vt_send(&ht.vt, gpkt(80, hp, OP_RST, 0), NULL);
    host_expect_eof(&ht, fd);
    close(fd);

    /* object-add at run time */
    {
        g_autofree char *kms2 = g_strdup_printf("%s/kms2.sock", dir);
        int lfd2 = unix_listen_at(kms2);
        QDict *rsp = qtest_qmp(ht.vt.qts, "{'execute': 'object-add', "
                               "'arguments': {'qom-type': "
                               "'vsock-user-forward', 'id': 'late', "
                               "'guest-port': 8001, 'connect': %s}}",
                               g_strdup_printf("unix:%s", kms2));

        g_assert(qdict_haskey(rsp, "return"));
        qobject_unref(rsp);
        fd = guest_connect_host(&ht, 41002, 8001, lfd2, GUEST_BUF_ALLOC);
        guest_send_text(&ht, 41002, 8001, "late");
        host_expect(&ht, fd, "late");
        close(fd);
        close(lfd2);
        unlink(kms2);
    }
    close(lfd);
    unlink(kms);
    rmdir(dir);
    ht_free(&ht);
}

/* Host -> guest backpressure: never more RW than the guest's credit */
static void test_backpressure_h2g(void)
{
    enum { CREDIT = 8192, TOTAL = 64 * 1024 };
    HT ht;
    g_autofree char *lpath = NULL;
    g_autofree uint8_t *buf = g_malloc(TOTAL);
    g_autofree uint8_t *got = g_malloc(TOTAL);
    uint8_t data[RX_BUF_SIZE];
    uint32_t rcvd = 0;
    int lfd, fd;
    Hdr h;

    for (int i = 0; i < TOTAL; i++) {
        buf[i] = i * 7 + (i >> 9);
    }
    ht_init(&ht, "", "");
    lpath = g_strdup_printf("%s_5003", ht.uds);
    lfd = unix_listen_at(lpath);
    fd = guest_connect_host(&ht, 40004, 5003, lfd, CREDIT);
    g_assert_cmpint(write(fd, buf, TOTAL), ==, TOTAL);
    while (rcvd < TOTAL) {
        uint32_t window = rcvd + CREDIT;

        while (rcvd < window) {
            vt_recv(&ht.vt, &h, data);
            assert_hdr(&h, PARENT_CID, 5003, 40004, OP_RW, h.len, 0);
            g_assert_cmpuint(rcvd + h.len, <=, window);
            memcpy(got + rcvd, data, h.len);
            rcvd += h.len;
        }
        /* credit exhausted: nothing more until the guest frees space */
        vt_expect_silence(&ht.vt, NS_PER_SEC / 10);
        vt_send(&ht.vt, (Hdr) { .src_cid = GUEST_CID, .dst_cid = PARENT_CID,
                                .src_port = 40004, .dst_port = 5003,
                                .type = TYPE_STREAM,
                                .op = OP_CREDIT_UPDATE,
                                .buf_alloc = CREDIT, .fwd_cnt = rcvd },
                NULL);
    }
    g_assert_cmpmem(got, TOTAL, buf, TOTAL);
    close(fd);
    close(lfd);
    ht_free(&ht);
}

/* Guest -> host backpressure: credit stops while the host does not read */
static void test_backpressure_g2h(void)
{
    enum { DEV_BUF = 16384, CHUNK = 4000 };
    HT ht;
    g_autofree char *lpath = NULL;
    uint8_t chunk[CHUNK];
    uint8_t rd[CHUNK];
    uint64_t sent = 0, fwd = 0, checked = 0;
    int stalls = 0;
    int lfd, fd;
    Hdr h;

    /* the test's DEV_BUF_ALLOC check does not apply: own handshake */
    ht_init(&ht, ",buf-size=16384", "");
    lpath = g_strdup_printf("%s_5004", ht.uds);
    lfd = unix_listen_at(lpath);
    vt_send(&ht.vt, gpkt(40005, 5004, OP_REQUEST, 0), NULL);
    fd = host_accept(&ht, lfd);
    vt_recv(&ht.vt, &h, NULL);
    assert_hdr(&h, PARENT_CID, 5004, 40005, OP_RESPONSE, 0, 0);
    g_assert_cmpuint(h.buf_alloc, ==, DEV_BUF);

    /* send while the device gives credit; the host reads nothing */
    while (stalls < 3) {
        if (sent - fwd + CHUNK <= DEV_BUF) {
            for (int i = 0; i < CHUNK; i++) {
                chunk[i] = (sent + i) * 13;
            }
            vt_send(&ht.vt, gpkt(40005, 5004, OP_RW, CHUNK), chunk);
            sent += CHUNK;
            g_assert_cmpuint(sent, <, 16 * MiB);
            continue;
        }
        vt_send(&ht.vt, gpkt(40005, 5004, OP_CREDIT_REQUEST, 0), NULL);
        do {
            vt_recv(&ht.vt, &h, NULL);
        } while (h.op != OP_CREDIT_UPDATE);
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

        host_read(&ht, fd, rd, n);
        for (size_t i = 0; i < n; i++) {
            g_assert_cmpuint(rd[i], ==, (uint8_t)((checked + i) * 13));
        }
        checked += n;
    }
    vt_send(&ht.vt, gpkt(40005, 5004, OP_CREDIT_REQUEST, 0), NULL);
    do {
        vt_recv(&ht.vt, &h, NULL);
    } while (h.op != OP_CREDIT_UPDATE || h.fwd_cnt != sent);
    close(fd);
    close(lfd);
    ht_free(&ht);
}

static int count_fds(pid_t pid)
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

/* Device reset with open connections of every kind: no fd left behind */
static void test_reset_fds(void)
{
    enum { N = 8 };
    HT ht;
    g_autofree char *lpath = NULL;
    int lfd, hfd[N], cfd[N];
    pid_t pid;
    int base;

    ht_init(&ht, "", "");
    pid = qtest_pid(ht.vt.qts);
    base = count_fds(pid);
    lpath = g_strdup_printf("%s_5005", ht.uds);
    lfd = unix_listen_at(lpath);
    for (int i = 0; i < N; i++) {
        hfd[i] = guest_connect_host(&ht, 42000 + i, 5005, lfd,
                                    GUEST_BUF_ALLOC);
        cfd[i] = unix_connect_to(ht.uds);
        guest_respond(&ht, 6000 + (i % 2),
                      h2g_connect(&ht, cfd[i], i % 2 ? "CONNECT 6001\n" :
                                  "CONNECT 6000\n", 6000 + (i % 2)));
    }
    g_assert_cmpint(count_fds(pid), >=, base + 2 * N);
    g_assert_cmpuint(vt_stat(&ht.vt, "host-sockets"), ==, 2 * N);
    qtest_system_reset(ht.vt.qts);
    g_assert_cmpuint(vt_stat(&ht.vt, "host-sockets"), ==, 0);
    /* (startup may still have held a few transient fds at "base") */
    g_assert_cmpint(count_fds(pid), <=, base);
    for (int i = 0; i < N; i++) {
        host_expect_eof(&ht, hfd[i]);
        close(hfd[i]);
        close(cfd[i]);
    }
    close(lfd);
    ht_free(&ht);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    if (!qtest_has_machine("microvm") ||
        !qtest_has_device("virtio-vsock-user")) {
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
    qtest_add_func("virtio-vsock-user-host/g2h-pending-reset",
                   test_g2h_pending_reset);
    qtest_add_func("virtio-vsock-user-host/h2g-hybrid", test_h2g_hybrid);
    qtest_add_func("virtio-vsock-user-host/h2g-parser", test_h2g_parser);
    qtest_add_func("virtio-vsock-user-host/forwards", test_forwards);
    qtest_add_func("virtio-vsock-user-host/backpressure-h2g",
                   test_backpressure_h2g);
    qtest_add_func("virtio-vsock-user-host/backpressure-g2h",
                   test_backpressure_g2h);
    qtest_add_func("virtio-vsock-user-host/reset-fds", test_reset_fds);
    return g_test_run();
}
