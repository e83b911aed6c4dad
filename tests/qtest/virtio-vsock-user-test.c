/*
 * QTest for virtio-vsock-user: drives the device's virtqueues directly
 *
 * Every case runs on microvm (virtio-mmio) and on pc (virtio-pci).  The
 * test plays the guest driver: it posts rx and event buffers, puts packets
 * on the tx queue and checks the exact headers the device answers with.
 * Headers are encoded here byte by byte, independently of the device's
 * codec.
 *
 * Copyright (c) 2026 The virtio-vsock-user authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
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
                         const char *props)
{
    memset(t, 0, sizeof(*t));
    t->machine = machine;
    t->layout = layout;
    t->next_port = 50000;
    t->qts = vt_start_qemu(machine, props, "");
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

static void vt_init(VT *t, const void *data)
{
    vt_init_full(t, (const char *)data, RX_ONE_BUFFER, "");
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

static uint32_t vt_connect(VT *t, uint32_t dst_port, uint32_t buf_alloc)
{
    uint32_t port = t->next_port++;
    Hdr req = pkt(PARENT_CID, port, dst_port, OP_REQUEST, 0);
    Hdr h;

    req.buf_alloc = buf_alloc;
    t->fwd_cnt = 0;
    vt_send(t, req, NULL);
    vt_recv(t, &h, NULL);
    assert_hdr(&h, PARENT_CID, dst_port, port, OP_RESPONSE, 0, 0);
    g_assert_cmpuint(h.buf_alloc, ==, DEV_BUF_ALLOC);
    g_assert_cmpuint(h.fwd_cnt, ==, 0);
    return port;
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

/*
 * The whole heartbeat as AWS's enclave init does it: connect, write 0xB7,
 * read it back, close.  The device (the parent) closes after the echo; the
 * guest's SHUTDOWN is answered with RST.
 */
static void vt_heartbeat(VT *t)
{
    const uint8_t beat = 0xb7;
    uint8_t data[RX_BUF_SIZE];
    uint32_t port = vt_connect(t, HB_PORT, GUEST_BUF_ALLOC);
    Hdr h;

    vt_send(t, pkt(PARENT_CID, port, HB_PORT, OP_RW, 1), &beat);
    vt_recv(t, &h, data);
    assert_hdr(&h, PARENT_CID, HB_PORT, port, OP_RW, 1, 0);
    g_assert_cmphex(data[0], ==, 0xb7);
    g_assert_cmpuint(h.fwd_cnt, ==, 1);
    g_assert_cmpuint(h.buf_alloc, ==, DEV_BUF_ALLOC);

    /* The parent closes its end after the echo. */
    vt_recv(t, &h, NULL);
    assert_hdr(&h, PARENT_CID, HB_PORT, port, OP_SHUTDOWN, 0,
               SHUT_RCV | SHUT_SEND);

    /* The guest's close(): SHUTDOWN, answered by RST at once. */
    vt_send(t, (Hdr) { .src_cid = GUEST_CID, .dst_cid = PARENT_CID,
                       .src_port = port, .dst_port = HB_PORT,
                       .type = TYPE_STREAM, .op = OP_SHUTDOWN,
                       .flags = SHUT_RCV | SHUT_SEND,
                       .buf_alloc = GUEST_BUF_ALLOC, .fwd_cnt = 1 }, NULL);
    vt_recv(t, &h, NULL);
    assert_hdr(&h, PARENT_CID, HB_PORT, port, OP_RST, 0, 0);
}

static void test_config(const void *data)
{
    VT t;

    vt_init(&t, data);
    g_assert_cmpuint(qvirtio_config_readq(t.vdev, 0), ==, GUEST_CID);
    g_assert_cmpuint(vt_stat(&t, "connections"), ==, 0);
    vt_free(&t);
}

static void test_heartbeat(const void *data)
{
    VT t;

    vt_init(&t, data);
    vt_heartbeat(&t);
    /* Init restarted: it works again, and nothing was left behind. */
    vt_heartbeat(&t);
    vt_heartbeat(&t);
    g_assert_cmpuint(vt_stat(&t, "connections"), ==, 0);
    vt_expect_silence(&t, 3 * NS_PER_SEC);
    vt_free(&t);
}

static void test_heartbeat_split_rx(const void *data)
{
    VT t;

    vt_init_full(&t, (const char *)data, RX_HDR_AND_DATA, "");
    vt_heartbeat(&t);
    vt_free(&t);
}

static void test_heartbeat_off(const void *data)
{
    VT t;
    Hdr h;

    vt_init_full(&t, (const char *)data, RX_ONE_BUFFER, ",heartbeat=off");
    vt_send(&t, pkt(PARENT_CID, 1234, HB_PORT, OP_REQUEST, 0), NULL);
    vt_recv(&t, &h, NULL);
    assert_hdr(&h, PARENT_CID, HB_PORT, 1234, OP_RST, 0, 0);
    vt_free(&t);
}

static void test_unbound_port(const void *data)
{
    VT t;
    Hdr h;

    vt_init(&t, data);
    vt_send(&t, pkt(PARENT_CID, 1234, 4321, OP_REQUEST, 0), NULL);
    vt_recv(&t, &h, NULL);
    assert_hdr(&h, PARENT_CID, 4321, 1234, OP_RST, 0, 0);
    vt_expect_silence(&t, NS_PER_SEC);
    vt_free(&t);
}

static void test_other_cid(const void *data)
{
    VT t;
    Hdr h;

    vt_init(&t, data);
    /* Only the parent CID is terminated here; nobody else can answer. */
    vt_send(&t, pkt(2, 1234, HB_PORT, OP_REQUEST, 0), NULL);
    vt_recv(&t, &h, NULL);
    assert_hdr(&h, 2, HB_PORT, 1234, OP_RST, 0, 0);
    vt_send(&t, pkt(4, 1235, 80, OP_REQUEST, 0), NULL);
    vt_recv(&t, &h, NULL);
    assert_hdr(&h, 4, 80, 1235, OP_RST, 0, 0);
    vt_free(&t);
}

static void test_bad_op_type(const void *data)
{
    VT t;
    Hdr h, bad;
    uint32_t port;

    vt_init(&t, data);
    /* Unknown op on a live connection: RST. */
    port = vt_connect(&t, HB_PORT, GUEST_BUF_ALLOC);
    vt_send(&t, pkt(PARENT_CID, port, HB_PORT, 99, 0), NULL);
    vt_recv(&t, &h, NULL);
    assert_hdr(&h, PARENT_CID, HB_PORT, port, OP_RST, 0, 0);

    /* Unknown op without a connection: RST. */
    vt_send(&t, pkt(PARENT_CID, 2000, 2001, 0, 0), NULL);
    vt_recv(&t, &h, NULL);
    assert_hdr(&h, PARENT_CID, 2001, 2000, OP_RST, 0, 0);

    /* Unknown type: RST (the reply keeps the guest's type). */
    bad = pkt(PARENT_CID, 2002, HB_PORT, OP_REQUEST, 0);
    bad.type = 7;
    vt_send(&t, bad, NULL);
    vt_recv(&t, &h, NULL);
    g_assert_cmpuint(h.op, ==, OP_RST);
    g_assert_cmpuint(h.src_port, ==, HB_PORT);
    g_assert_cmpuint(h.dst_port, ==, 2002);
    g_assert_cmpuint(vt_stat(&t, "connections"), ==, 0);
    vt_free(&t);
}

static void test_orphan_rst(const void *data)
{
    VT t;
    uint64_t before;

    vt_init(&t, data);
    before = vt_stat(&t, "rst-sent");
    vt_send(&t, pkt(PARENT_CID, 1234, HB_PORT, OP_RST, 0), NULL);
    vt_send(&t, pkt(2, 1234, 80, OP_RST, 0), NULL);
    vt_expect_silence(&t, NS_PER_SEC);
    g_assert_cmpuint(vt_stat(&t, "rst-sent"), ==, before);
    vt_heartbeat(&t);
    vt_free(&t);
}

static void test_spoofed_src(const void *data)
{
    VT t;
    Hdr req = pkt(PARENT_CID, 1234, HB_PORT, OP_REQUEST, 0);

    vt_init(&t, data);
    req.src_cid = GUEST_CID + 1;
    vt_send(&t, req, NULL);
    vt_expect_silence(&t, NS_PER_SEC);
    g_assert_cmpuint(vt_stat(&t, "spoofed-packets"), ==, 1);
    g_assert_cmpuint(vt_stat(&t, "connections"), ==, 0);
    vt_free(&t);
}

static void test_zero_credit(const void *data)
{
    const uint8_t beat = 0xb7;
    uint8_t payload[RX_BUF_SIZE];
    Hdr h, upd;
    uint32_t port;
    VT t;

    vt_init(&t, data);
    /* A guest with no receive space gets no data... */
    port = vt_connect(&t, HB_PORT, 0);
    h = pkt(PARENT_CID, port, HB_PORT, OP_RW, 1);
    h.buf_alloc = 0;
    vt_send(&t, h, &beat);
    while (vt_try_recv(&t, &h, NULL, 200 * 1000)) {
        g_assert_cmpuint(h.op, !=, OP_RW);
        g_assert_cmpuint(h.op, ==, OP_CREDIT_UPDATE);
    }
    /* ...until it announces some. */
    upd = pkt(PARENT_CID, port, HB_PORT, OP_CREDIT_UPDATE, 0);
    upd.buf_alloc = 4096;
    vt_send(&t, upd, NULL);
    vt_recv(&t, &h, payload);
    assert_hdr(&h, PARENT_CID, HB_PORT, port, OP_RW, 1, 0);
    g_assert_cmphex(payload[0], ==, 0xb7);
    vt_free(&t);
}

static void test_credit_request(const void *data)
{
    uint32_t port;
    VT t;
    Hdr h;

    vt_init(&t, data);
    port = vt_connect(&t, HB_PORT, GUEST_BUF_ALLOC);
    vt_send(&t, pkt(PARENT_CID, port, HB_PORT, OP_CREDIT_REQUEST, 0), NULL);
    vt_recv(&t, &h, NULL);
    assert_hdr(&h, PARENT_CID, HB_PORT, port, OP_CREDIT_UPDATE, 0, 0);
    g_assert_cmpuint(h.buf_alloc, ==, DEV_BUF_ALLOC);
    g_assert_cmpuint(h.fwd_cnt, ==, 0);
    vt_free(&t);
}

static void test_split_tx(const void *data)
{
    uint8_t b[HDR_SIZE + 1];
    uint8_t payload[RX_BUF_SIZE];
    size_t sizes[] = { 20, 24, 1 };
    uint32_t port;
    VT t;
    Hdr h;

    vt_init(&t, data);
    port = t.next_port;
    /* The REQUEST's header across two descriptors. */
    h = pkt(PARENT_CID, port, HB_PORT, OP_REQUEST, 0);
    hdr_encode(&h, b);
    vt_send_chain(&t, b, sizes, 2);
    vt_recv(&t, &h, NULL);
    assert_hdr(&h, PARENT_CID, HB_PORT, port, OP_RESPONSE, 0, 0);
    /* The RW's header across two, its payload in a third. */
    h = pkt(PARENT_CID, port, HB_PORT, OP_RW, 1);
    hdr_encode(&h, b);
    b[HDR_SIZE] = 0xb7;
    vt_send_chain(&t, b, sizes, 3);
    vt_recv(&t, &h, payload);
    assert_hdr(&h, PARENT_CID, HB_PORT, port, OP_RW, 1, 0);
    g_assert_cmphex(payload[0], ==, 0xb7);
    vt_free(&t);
}

static void test_malformed(const void *data)
{
    uint8_t b[HDR_SIZE + 16] = {};
    size_t size;
    uint32_t head;
    uint64_t addr;
    VT t;
    Hdr h;

    vt_init(&t, data);

    /* A chain shorter than a header. */
    size = 10;
    vt_send_chain(&t, b, &size, 1);

    /* len larger than the chain. */
    h = pkt(PARENT_CID, 1234, HB_PORT, OP_RW, 4096);
    hdr_encode(&h, b);
    size = HDR_SIZE + 16;
    vt_send_chain(&t, b, &size, 1);

    /* A tx chain with a device-writable descriptor. */
    desc_reserve(t.tx, 1);
    addr = guest_alloc(&t.alloc, 64);
    head = qvirtqueue_add(t.qts, t.tx, addr, 64, true, false);
    qvirtqueue_kick(t.qts, t.vdev, t.tx, head);
    qvirtio_wait_used_elem(t.qts, t.vdev, t.tx, head, NULL, TIMEOUT_US);

    /* Nothing of that deserved an answer. */
    vt_expect_silence(&t, NS_PER_SEC);

    g_assert_cmpuint(vt_stat(&t, "connections"), ==, 0);
    qtest_qmp_assert_success(t.qts, "{'execute': 'query-status'}");
    vt_free(&t);
}

static void test_malformed_then_heartbeat(const void *data)
{
    uint8_t b[HDR_SIZE + 16] = {};
    size_t sizes[2] = { 10, 0 };
    uint32_t head;
    Hdr h;
    VT t;

    vt_init(&t, data);
    /* Start over with unusable rx buffers at the head of the ring. */
    qvirtio_reset(t.vdev);
    vt_setup_device(&t, false);
    desc_reserve(t.rx, 1);
    head = qvirtqueue_add(t.qts, t.rx, guest_alloc(&t.alloc, 8), 8, true,
                          false);
    t.rxbuf[head] = (RxBuf) {};
    qvirtqueue_kick(t.qts, t.vdev, t.rx, head);
    desc_reserve(t.rx, 1);
    head = qvirtqueue_add(t.qts, t.rx, guest_alloc(&t.alloc, 4096), 4096,
                          false, false);
    t.rxbuf[head] = (RxBuf) {};
    qvirtqueue_kick(t.qts, t.vdev, t.rx, head);
    for (int i = 0; i < RX_POSTED; i++) {
        vt_post_rx(&t);
    }

    vt_send_chain(&t, b, sizes, 1);
    h = pkt(PARENT_CID, 1234, HB_PORT, OP_RW, 100000);
    hdr_encode(&h, b);
    sizes[0] = HDR_SIZE;
    sizes[1] = 16;
    vt_send_chain(&t, b, sizes, 2);
    vt_heartbeat(&t);
    vt_free(&t);
}

static void test_broken_ring(const void *data)
{
    VT t;

    vt_init(&t, data);
    /* An avail entry naming a descriptor beyond the ring. */
    qvirtqueue_kick(t.qts, t.vdev, t.tx, t.tx->size + 5);
    qtest_qmp_assert_success(t.qts, "{'execute': 'query-status'}");
    /* The device is broken until the driver resets it; then it works. */
    qvirtio_reset(t.vdev);
    vt_setup_device(&t, true);
    vt_heartbeat(&t);
    vt_free(&t);
}

static void test_reset_with_conns(const void *data)
{
    VT t;

    vt_init(&t, data);
    vt_connect(&t, HB_PORT, GUEST_BUF_ALLOC);
    vt_connect(&t, HB_PORT, GUEST_BUF_ALLOC);
    g_assert_cmpuint(vt_stat(&t, "connections"), ==, 2);
    qvirtio_reset(t.vdev);
    g_assert_cmpuint(vt_stat(&t, "connections"), ==, 0);
    vt_setup_device(&t, true);
    vt_heartbeat(&t);
    vt_free(&t);
}

static void test_shutdown_timeout(const void *data)
{
    const uint8_t beat = 0xb7;
    uint32_t port;
    VT t;
    Hdr h;

    vt_init(&t, data);
    port = vt_connect(&t, HB_PORT, GUEST_BUF_ALLOC);
    vt_send(&t, pkt(PARENT_CID, port, HB_PORT, OP_RW, 1), &beat);
    vt_recv(&t, &h, NULL);
    g_assert_cmpuint(h.op, ==, OP_RW);
    vt_recv(&t, &h, NULL);
    g_assert_cmpuint(h.op, ==, OP_SHUTDOWN);
    /* The guest never answers: RST after the shutdown timeout. */
    qtest_clock_step(t.qts, 3 * NS_PER_SEC);
    vt_recv(&t, &h, NULL);
    assert_hdr(&h, PARENT_CID, HB_PORT, port, OP_RST, 0, 0);
    g_assert_cmpuint(vt_stat(&t, "connections"), ==, 0);
    vt_free(&t);
}

static void test_migrate(const void *data)
{
    g_autofree char *dir = g_dir_make_tmp("vsock-user-XXXXXX", NULL);
    g_autofree char *file = g_build_filename(dir, "state", NULL);
    g_autofree char *uri = g_strdup_printf("file:%s", file);
    g_autofree char *incoming = g_strdup_printf("-incoming %s", uri);
    g_autoptr(QDict) rsp = NULL;
    const uint8_t beat = 0xb7;
    uint32_t head, len, port;
    uint8_t ev[4];
    VT t;
    Hdr h;

    vt_init(&t, data);
    port = vt_connect(&t, HB_PORT, GUEST_BUF_ALLOC);

    qtest_qmp_assert_success(t.qts, "{'execute': 'migrate', 'arguments': "
                             "{'uri': %s}}", uri);
    for (;;) {
        const char *status;

        rsp = qtest_qmp(t.qts, "{'execute': 'query-migrate'}");
        status = qdict_get_try_str(qdict_get_qdict(rsp, "return"), "status");
        if (status && !strcmp(status, "completed")) {
            break;
        }
        g_assert(!status || strcmp(status, "failed"));
        qobject_unref(rsp);
        rsp = NULL;
        g_usleep(10 * 1000);
    }
    qtest_quit(t.qts);

    /* The destination: same device, same guest memory. */
    t.qts = vt_start_qemu(t.machine, "", incoming);
    if (t.pdev) {
        t.pcibus->qts = t.qts;
    } else {
        t.mmio.qts = t.qts;
    }

    /* The guest learns that its connections are gone. */
    qvirtio_wait_used_elem(t.qts, t.vdev, t.ev, 0, &len, TIMEOUT_US);
    g_assert_cmpuint(len, ==, 4);
    qtest_memread(t.qts, t.evbuf[0], ev, 4);
    g_assert_cmpuint(ldl_le_p(ev), ==, 0 /* TRANSPORT_RESET */);
    g_assert_false(qvirtqueue_get_buf(t.qts, t.ev, &head, &len));
    g_assert_cmpuint(vt_stat(&t, "connections"), ==, 0);

    /* The old connection is unknown now: its data gets RST. */
    vt_send(&t, pkt(PARENT_CID, port, HB_PORT, OP_RW, 1), &beat);
    vt_recv(&t, &h, NULL);
    assert_hdr(&h, PARENT_CID, HB_PORT, port, OP_RST, 0, 0);
    /* New connections work at once. */
    vt_heartbeat(&t);

    vt_free(&t);
    unlink(file);
    rmdir(dir);
}

static void add_test(const char *machine, const char *name,
                     GTestDataFunc fn)
{
    g_autofree char *path = g_strdup_printf("virtio-vsock-user/%s/%s",
                                            machine, name);

    qtest_add_data_func(path, machine, fn);
}

int main(int argc, char **argv)
{
    static const char *const machines[] = { "microvm", "pc" };

    g_test_init(&argc, &argv, NULL);
    for (size_t i = 0; i < G_N_ELEMENTS(machines); i++) {
        const char *m = machines[i];

        if (!qtest_has_machine(m) || !qtest_has_device(
                !strcmp(m, "pc") ? "virtio-vsock-user-pci" :
                "virtio-vsock-user")) {
            continue;
        }
        add_test(m, "config", test_config);
        add_test(m, "heartbeat", test_heartbeat);
        add_test(m, "heartbeat-split-rx", test_heartbeat_split_rx);
        add_test(m, "heartbeat-off", test_heartbeat_off);
        add_test(m, "unbound-port", test_unbound_port);
        add_test(m, "other-cid", test_other_cid);
        add_test(m, "bad-op-type", test_bad_op_type);
        add_test(m, "orphan-rst", test_orphan_rst);
        add_test(m, "spoofed-src", test_spoofed_src);
        add_test(m, "zero-credit", test_zero_credit);
        add_test(m, "credit-request", test_credit_request);
        add_test(m, "split-tx", test_split_tx);
        add_test(m, "malformed", test_malformed);
        add_test(m, "malformed-then-heartbeat",
                 test_malformed_then_heartbeat);
        add_test(m, "broken-ring", test_broken_ring);
        add_test(m, "reset-with-connections", test_reset_with_conns);
        add_test(m, "shutdown-timeout", test_shutdown_timeout);
        add_test(m, "migrate", test_migrate);
    }
    return g_test_run();
}
