/*
 * libqos driver for virtio-vsock-user
 *
 * Two graph nodes: "virtio-vsock-user" on a virtio bus (virtio-mmio) and
 * "virtio-vsock-user-pci" on a PCI bus.  Both produce the "virtio" and
 * "vsock-user" interfaces.
 *
 * And QVsockTest, the guest driver of the qtests that drive the device's
 * virtqueues directly (see virtio-vsock-user.h).
 *
 * Copyright (c) 2026 The virtio-vsock-user authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/bswap.h"
#include "qemu/units.h"
#include "../libqtest.h"
#include "qemu/module.h"
#include "qobject/qdict.h"
#include "qgraph.h"
#include "malloc-pc.h"
#include "pci-pc.h"
#include "standard-headers/linux/virtio_config.h"
#include "standard-headers/linux/virtio_ring.h"
#include "virtio-vsock-user.h"
#include "standard-headers/linux/virtio_vsock.h"

#define QVSOCK_USER_PROPS "guest-cid=16,parent-cid=3"

static void *qvsock_user_driver(QVsockUser *v, const char *interface)
{
    if (!g_strcmp0(interface, "vsock-user")) {
        return v;
    }
    if (!g_strcmp0(interface, "virtio")) {
        return v->vdev;
    }
    fprintf(stderr, "%s not present in virtio-vsock-user\n", interface);
    g_assert_not_reached();
}

static void *qvsock_user_device_get_driver(void *object,
                                           const char *interface)
{
    QVsockUserDevice *d = object;

    return qvsock_user_driver(&d->vsock, interface);
}

static void *qvsock_user_device_create(void *virtio_dev,
                                       QGuestAllocator *t_alloc, void *addr)
{
    QVsockUserDevice *d = g_new0(QVsockUserDevice, 1);

    d->vsock.vdev = virtio_dev;
    d->obj.get_driver = qvsock_user_device_get_driver;
    return &d->obj;
}

static void *qvsock_user_pci_get_driver(void *object, const char *interface)
{
    QVsockUserPCI *d = object;

    if (!g_strcmp0(interface, "pci-device")) {
        return d->pci_vdev.pdev;
    }
    return qvsock_user_driver(&d->vsock, interface);
}

static void *qvsock_user_pci_create(void *pci_bus, QGuestAllocator *t_alloc,
                                    void *addr)
{
    QVsockUserPCI *d = g_new0(QVsockUserPCI, 1);
    QOSGraphObject *obj = &d->pci_vdev.obj;

    virtio_pci_init(&d->pci_vdev, pci_bus, addr);
    d->vsock.vdev = &d->pci_vdev.vdev;
    obj->get_driver = qvsock_user_pci_get_driver;
    return obj;
}

static void qvsock_user_register_nodes(void)
{
    QPCIAddress addr = { .devfn = QPCI_DEVFN(4, 0) };
    QOSGraphEdgeOptions dev_opts = {
        .extra_device_opts = QVSOCK_USER_PROPS,
    };
    QOSGraphEdgeOptions pci_opts = {
        .extra_device_opts = "addr=04.0," QVSOCK_USER_PROPS,
    };

    qos_node_create_driver("virtio-vsock-user", qvsock_user_device_create);
    qos_node_consumes("virtio-vsock-user", "virtio-bus", &dev_opts);
    qos_node_produces("virtio-vsock-user", "virtio");
    qos_node_produces("virtio-vsock-user", "vsock-user");

    add_qpci_address(&pci_opts, &addr);
    qos_node_create_driver("virtio-vsock-user-pci", qvsock_user_pci_create);
    qos_node_consumes("virtio-vsock-user-pci", "pci-bus", &pci_opts);
    qos_node_produces("virtio-vsock-user-pci", "pci-device");
    qos_node_produces("virtio-vsock-user-pci", "virtio");
    qos_node_produces("virtio-vsock-user-pci", "vsock-user");
}

libqos_init(qvsock_user_register_nodes);

/* ------------------------------------------------------------------ */
/* QVsockTest                                                         */
/* ------------------------------------------------------------------ */

#define MICROVM_VIRTIO_MMIO_BASE 0xfeb00000ULL
#define MICROVM_VIRTIO_MMIO_SLOTS 24
#define MICROVM_RAM_END (128 * MiB)

void qvsock_hdr_encode(const QVsockHdr *h, uint8_t *b)
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

void qvsock_hdr_decode(QVsockHdr *h, const uint8_t *b)
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

QVsockHdr qvsock_pkt(uint64_t dst_cid, uint32_t src_port, uint32_t dst_port,
                     uint16_t op, uint32_t len)
{
    return (QVsockHdr) {
        .src_cid = QVSOCK_USER_GUEST_CID, .dst_cid = dst_cid,
        .src_port = src_port, .dst_port = dst_port, .len = len,
        .type = VIRTIO_VSOCK_TYPE_STREAM, .op = op,
        .buf_alloc = QVSOCK_GUEST_BUF_ALLOC,
    };
}

/*
 * Every test waits for what it posts, so fewer than a ring's worth are
 * ever in flight.  Heads stay below QVSOCK_MAX_DESC, the size of the
 * tables they index.
 */
void qvsock_desc_reserve(QVirtQueue *vq, unsigned n)
{
    if (vq->free_head + n > MIN(vq->size, QVSOCK_MAX_DESC)) {
        vq->free_head = 0;
    }
    vq->num_free = vq->size;
}

void qvsock_post_rx(QVsockTest *t)
{
    uint32_t head;
    QVsockRxBuf b = {};

    qvsock_desc_reserve(t->rx, 2);
    if (t->layout == QVSOCK_RX_ONE_BUFFER) {
        b.n = 1;
        b.size[0] = QVSOCK_RX_BUF_SIZE;
        b.addr[0] = guest_alloc(&t->alloc, QVSOCK_RX_BUF_SIZE);
        head = qvirtqueue_add(t->qts, t->rx, b.addr[0], b.size[0], true,
                              false);
    } else {
        b.n = 2;
        b.size[0] = QVSOCK_HDR_SIZE;
        b.size[1] = QVSOCK_RX_BUF_SIZE;
        b.addr[0] = guest_alloc(&t->alloc, QVSOCK_HDR_SIZE);
        b.addr[1] = guest_alloc(&t->alloc, QVSOCK_RX_BUF_SIZE);
        head = qvirtqueue_add(t->qts, t->rx, b.addr[0], b.size[0], true,
                              true);
        qvirtqueue_add(t->qts, t->rx, b.addr[1], b.size[1], true, false);
    }
    g_assert_cmpuint(head, <, G_N_ELEMENTS(t->rxbuf));
    t->rxbuf[head] = b;
    qvirtqueue_kick(t->qts, t->vdev, t->rx, head);
}

static void qvsock_post_event(QVsockTest *t, int i)
{
    uint32_t head;

    qvsock_desc_reserve(t->ev, 1);
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

void qvsock_setup_device(QVsockTest *t, bool post_buffers)
{
    uint64_t features;

    qvirtio_start_device(t->vdev);
    features = qvirtio_get_features(t->vdev);
    /* virtio-pci: modern only; microvm's virtio-mmio: legacy by default */
    if (t->pdev) {
        g_assert(features & (1ull << VIRTIO_F_VERSION_1));
    }
    /* like Linux, take SOCK_SEQPACKET when the device offers it */
    qvirtio_set_features(t->vdev, features &
                         ((1ull << VIRTIO_F_VERSION_1) |
                          (1ull << VIRTIO_RING_F_INDIRECT_DESC) |
                          (1ull << VIRTIO_VSOCK_F_SEQPACKET)));
    t->rx = qvirtqueue_setup(t->vdev, &t->alloc, 0);
    t->tx = qvirtqueue_setup(t->vdev, &t->alloc, 1);
    t->ev = qvirtqueue_setup(t->vdev, &t->alloc, 2);
    qvirtio_set_driver_ok(t->vdev);
    if (post_buffers) {
        for (int i = 0; i < QVSOCK_EVENT_POSTED; i++) {
            qvsock_post_event(t, i);
        }
        for (int i = 0; i < QVSOCK_RX_POSTED; i++) {
            qvsock_post_rx(t);
        }
    }
}

static void qvsock_attach(QVsockTest *t)
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

static QTestState *qvsock_start_qemu(const char *machine, const char *cids,
                                     const char *props, const char *extra)
{
    const char *sep = cids[0] ? "," : "";

    if (!strcmp(machine, "microvm")) {
        return qtest_initf("-M microvm,acpi=off,rtc=off,pit=off,pic=off "
                           "-m 128M -device virtio-vsock-user%s%s%s %s",
                           sep, cids, props, extra);
    }
    return qtest_initf("-M pc -m 128M -device virtio-vsock-user-pci,"
                       "addr=04.0%s%s%s %s", sep, cids, props, extra);
}

void qvsock_test_init_cids(QVsockTest *t, const char *machine,
                           const char *cids, QVsockRxLayout layout,
                           const char *props, const char *extra)
{
    memset(t, 0, sizeof(*t));
    t->machine = machine;
    t->cids = g_strdup(cids);
    t->props = g_strdup(props);
    t->layout = layout;
    t->next_port = 50000;
    t->qts = qvsock_start_qemu(machine, cids, props, extra);
    if (!strcmp(machine, "microvm")) {
        alloc_init(&t->alloc, 0, 1 * MiB, MICROVM_RAM_END, 4096);
    } else {
        pc_alloc_init(&t->alloc, t->qts, ALLOC_NO_FLAGS);
    }
    for (int i = 0; i < QVSOCK_EVENT_POSTED; i++) {
        t->evbuf[i] = guest_alloc(&t->alloc, 4);
    }
    qvsock_attach(t);
    qvsock_setup_device(t, true);
}

void qvsock_test_init(QVsockTest *t, const char *machine,
                      QVsockRxLayout layout, const char *props,
                      const char *extra)
{
    g_autofree char *cids = g_strdup_printf("guest-cid=%d,parent-cid=%d",
                                            QVSOCK_USER_GUEST_CID,
                                            QVSOCK_USER_PARENT_CID);

    qvsock_test_init_cids(t, machine, cids, layout, props, extra);
}

QTestState *qvsock_test_start_twin(QVsockTest *t, const char *extra)
{
    return qvsock_start_qemu(t->machine, t->cids, t->props, extra);
}

void qvsock_test_adopt(QVsockTest *t, QTestState *qts)
{
    if (t->qts) {
        qtest_quit(t->qts);
    }
    t->qts = qts;
    if (t->pdev) {
        t->pcibus->qts = t->qts;
    } else {
        t->mmio.qts = t->qts;
    }
}

void qvsock_test_restart(QVsockTest *t, const char *extra)
{
    qtest_quit(t->qts);
    /* the old QEMU is gone first: the new one may take its sockets */
    t->qts = NULL;
    qvsock_test_adopt(t, qvsock_start_qemu(t->machine, t->cids, t->props,
                                           extra));
}

void qvsock_test_free(QVsockTest *t)
{
    if (t->pdev) {
        qvirtio_pci_device_disable(t->pdev);
        g_free(t->pdev);
        qpci_free_pc(t->pcibus);
    }
    alloc_destroy(&t->alloc);
    qtest_quit(t->qts);
    g_free(t->cids);
    g_free(t->props);
}

void qvsock_wait_tx_used(QVsockTest *t, uint32_t head)
{
    gint64 end = g_get_monotonic_time() + QVSOCK_TIMEOUT_US;
    uint32_t got;

    while (!qvirtqueue_get_buf(t->qts, t->tx, &got, NULL)) {
        g_assert(g_get_monotonic_time() <= end);
        g_usleep(10);
    }
    g_assert_cmpuint(got, ==, head);
}

bool qvsock_used_notified(QVsockTest *t)
{
    return t->vdev->bus->get_queue_isr_status(t->vdev, t->tx);
}

void qvsock_send_chain(QVsockTest *t, const uint8_t *bytes,
                       const size_t *sizes, unsigned n)
{
    uint32_t head = 0;
    uint64_t addr[8];
    size_t off = 0;

    g_assert_cmpuint(n, <=, G_N_ELEMENTS(addr));
    qvsock_desc_reserve(t->tx, n);
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
    qvsock_wait_tx_used(t, head);
    for (unsigned i = 0; i < n; i++) {
        guest_free(&t->alloc, addr[i]);
    }
}

void qvsock_send(QVsockTest *t, QVsockHdr h, const void *payload)
{
    g_autofree uint8_t *b = g_malloc(QVSOCK_HDR_SIZE + h.len);
    size_t size = QVSOCK_HDR_SIZE + h.len;

    if (h.op == VIRTIO_VSOCK_OP_RW) {
        h.fwd_cnt = t->fwd_cnt;
    }
    qvsock_hdr_encode(&h, b);
    if (h.len) {
        memcpy(b + QVSOCK_HDR_SIZE, payload, h.len);
    }
    qvsock_send_chain(t, b, &size, 1);
}

bool qvsock_try_recv(QVsockTest *t, QVsockHdr *h, uint8_t *payload,
                     gint64 timeout_us)
{
    gint64 end = g_get_monotonic_time() + timeout_us;
    uint32_t head, len;
    uint8_t b[QVSOCK_HDR_SIZE + QVSOCK_RX_BUF_SIZE];
    QVsockRxBuf *rb;

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
        return qvsock_try_recv(t, h, payload, timeout_us);
    }
    g_assert_cmpuint(len, >=, QVSOCK_HDR_SIZE);
    g_assert_cmpuint(len, <=, rb->size[0] + rb->size[1]);
    qtest_memread(t->qts, rb->addr[0], b, MIN(len, rb->size[0]));
    if (len > rb->size[0]) {
        qtest_memread(t->qts, rb->addr[1], b + rb->size[0],
                      len - rb->size[0]);
    }
    qvsock_hdr_decode(h, b);
    g_assert_cmpuint(h->len, ==, len - QVSOCK_HDR_SIZE);
    if (payload) {
        memcpy(payload, b + QVSOCK_HDR_SIZE, h->len);
    }
    if (h->op == VIRTIO_VSOCK_OP_RW) {
        t->fwd_cnt += h->len;
    }
    for (int i = 0; i < rb->n; i++) {
        guest_free(&t->alloc, rb->addr[i]);
    }
    rb->n = 0;
    qvsock_post_rx(t);
    return true;
}

void qvsock_recv(QVsockTest *t, QVsockHdr *h, uint8_t *payload)
{
    g_assert(qvsock_try_recv(t, h, payload, QVSOCK_TIMEOUT_US));
}

void qvsock_expect_silence(QVsockTest *t, int64_t ns)
{
    uint32_t head, len;

    QVsockHdr h;

    for (int i = 0; i < 10; i++) {
        qtest_clock_step(t->qts, ns / 10);
    }
    g_assert_false(qvirtqueue_get_buf(t->qts, t->rx, &head, &len));
    h = qvsock_pkt(QVSOCK_PROBE_CID, QVSOCK_PROBE_PORT, QVSOCK_PROBE_PORT,
                   VIRTIO_VSOCK_OP_REQUEST, 0);
    qvsock_send(t, h, NULL);
    qvsock_recv(t, &h, NULL);
    g_assert_cmpuint(h.src_cid, ==, QVSOCK_PROBE_CID);
    g_assert_cmpuint(h.src_port, ==, QVSOCK_PROBE_PORT);
    g_assert_cmpuint(h.dst_port, ==, QVSOCK_PROBE_PORT);
    g_assert_cmpuint(h.op, ==, VIRTIO_VSOCK_OP_RST);
    g_assert_false(qvirtqueue_get_buf(t->qts, t->rx, &head, &len));
}

void qvsock_assert_hdr(const QVsockHdr *h, uint64_t src_cid,
                       uint32_t src_port, uint32_t dst_port, uint16_t op,
                       uint32_t len, uint32_t flags)
{
    g_assert_cmpuint(h->src_cid, ==, src_cid);
    g_assert_cmpuint(h->dst_cid, ==, QVSOCK_USER_GUEST_CID);
    g_assert_cmpuint(h->src_port, ==, src_port);
    g_assert_cmpuint(h->dst_port, ==, dst_port);
    g_assert_cmpuint(h->type, ==, VIRTIO_VSOCK_TYPE_STREAM);
    g_assert_cmpuint(h->op, ==, op);
    g_assert_cmpuint(h->len, ==, len);
    g_assert_cmpuint(h->flags, ==, flags);
}

uint32_t qvsock_connect(QVsockTest *t, uint32_t dst_port, uint32_t buf_alloc)
{
    uint32_t port = t->next_port++;
    QVsockHdr req = qvsock_pkt(QVSOCK_USER_PARENT_CID, port, dst_port,
                               VIRTIO_VSOCK_OP_REQUEST, 0);
    QVsockHdr h;

    req.buf_alloc = buf_alloc;
    t->fwd_cnt = 0;
    qvsock_send(t, req, NULL);
    qvsock_recv(t, &h, NULL);
    qvsock_assert_hdr(&h, QVSOCK_USER_PARENT_CID, dst_port, port,
                      VIRTIO_VSOCK_OP_RESPONSE, 0, 0);
    g_assert_cmpuint(h.buf_alloc, ==, QVSOCK_DEV_BUF_ALLOC);
    g_assert_cmpuint(h.fwd_cnt, ==, 0);
    return port;
}

uint64_t qvsock_stat(QVsockTest *t, const char *name)
{
    /* On pc the virtio device is the PCI proxy's child. */
    const char *id = strstr(t->props, ",id=");
    g_autofree char *dev = id ?
        g_strndup(id + 4, strcspn(id + 4, ",")) : NULL;
    g_autofree char *path = g_strdup_printf("/machine/%s%s",
        dev ? "peripheral/" : "peripheral-anon/device[0]", dev ? dev : "");
    g_autofree char *full = g_strdup_printf("%s%s", path,
                                            t->pdev ? "/virtio-backend" : "");
    g_autoptr(QDict) rsp = qtest_qmp(t->qts, "{'execute': 'qom-get', "
                                     "'arguments': {'path': %s, "
                                     "'property': %s}}", full, name);

    g_assert(qdict_haskey(rsp, "return"));
    return qdict_get_int(rsp, "return");
}

void qvsock_recv_beat(QVsockTest *t, uint32_t port, QVsockHdr *h)
{
    uint8_t data[QVSOCK_RX_BUF_SIZE];

    qvsock_recv(t, h, data);
    qvsock_assert_hdr(h, QVSOCK_USER_PARENT_CID, QVSOCK_HB_PORT, port,
                      VIRTIO_VSOCK_OP_RW, 1, 0);
    g_assert_cmphex(data[0], ==, 0xb7);
}

void qvsock_heartbeat(QVsockTest *t)
{
    const uint8_t beat = 0xb7;
    uint32_t port = qvsock_connect(t, QVSOCK_HB_PORT, QVSOCK_GUEST_BUF_ALLOC);
    QVsockHdr h, bye;

    qvsock_send(t, qvsock_pkt(QVSOCK_USER_PARENT_CID, port, QVSOCK_HB_PORT,
                              VIRTIO_VSOCK_OP_RW, 1), &beat);
    qvsock_recv_beat(t, port, &h);
    g_assert_cmpuint(h.fwd_cnt, ==, 1);
    g_assert_cmpuint(h.buf_alloc, ==, QVSOCK_DEV_BUF_ALLOC);

    /* The parent closes its end after the echo. */
    qvsock_recv(t, &h, NULL);
    qvsock_assert_hdr(&h, QVSOCK_USER_PARENT_CID, QVSOCK_HB_PORT, port,
                      VIRTIO_VSOCK_OP_SHUTDOWN, 0,
                      VIRTIO_VSOCK_SHUTDOWN_RCV | VIRTIO_VSOCK_SHUTDOWN_SEND);

    /* The guest's close(): SHUTDOWN, answered by RST at once. */
    bye = qvsock_pkt(QVSOCK_USER_PARENT_CID, port, QVSOCK_HB_PORT,
                     VIRTIO_VSOCK_OP_SHUTDOWN, 0);
    bye.flags = VIRTIO_VSOCK_SHUTDOWN_RCV | VIRTIO_VSOCK_SHUTDOWN_SEND;
    bye.fwd_cnt = 1;
    qvsock_send(t, bye, NULL);
    qvsock_recv(t, &h, NULL);
    qvsock_assert_hdr(&h, QVSOCK_USER_PARENT_CID, QVSOCK_HB_PORT, port,
                      VIRTIO_VSOCK_OP_RST, 0, 0);
}

bool qvsock_has_machine(const char *machine)
{
    return qtest_has_machine(machine) &&
           qtest_has_device(!strcmp(machine, "pc") ? "virtio-vsock-user-pci" :
                            "virtio-vsock-user");
}

static void qvsock_add_test(const char *suite, const char *machine,
                            const char *name, GTestDataFunc fn)
{
    g_autofree char *path = g_strdup_printf("%s/%s/%s", suite, machine,
                                            name);

    qtest_add_data_func(path, machine, fn);
}

void qvsock_add_tests(const char *suite, const QVsockTestCase *cases,
                      size_t n)
{
    static const char *const machines[] = { "microvm", "pc" };

    for (size_t i = 0; i < G_N_ELEMENTS(machines); i++) {
        const char *m = machines[i];

        if (!qvsock_has_machine(m)) {
            continue;
        }
        for (size_t k = 0; k < n; k++) {
            if (!cases[k].microvm_only || !strcmp(m, "microvm")) {
                qvsock_add_test(suite, m, cases[k].name, cases[k].fn);
            }
        }
    }
}
