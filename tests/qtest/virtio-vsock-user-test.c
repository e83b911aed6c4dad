/*
 * QTest for virtio-vsock-user: drives the device's virtqueues directly
 *
 * Every case runs on microvm (virtio-mmio) and on pc (virtio-pci).  The
 * test plays the guest driver: it posts rx and event buffers, puts packets
 * on the tx queue and checks the exact headers the device answers with.
 * The guest driver is QVsockTest (libqos/virtio-vsock-user.c), which
 * encodes headers byte by byte, independently of the device's codec.
 *
 * Copyright (c) 2026 The virtio-vsock-user authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/bswap.h"
#include "libqtest.h"
#include "qobject/qdict.h"
#include "libqos/virtio-vsock-user.h"
#include "standard-headers/linux/virtio_config.h"

#define NS_PER_SEC 1000000000LL

/* A test of the device on the machine named by @data */
static void test_init(QVsockTest *t, const void *data)
{
    qvsock_test_init(t, data, QVSOCK_RX_ONE_BUFFER, "", "");
}

static void test_config(const void *data)
{
    QVsockTest t;

    test_init(&t, data);
    g_assert_cmpuint(qvirtio_config_readq(t.vdev, 0), ==,
                     QVSOCK_USER_GUEST_CID);
    g_assert_cmpuint(qvsock_stat(&t, "connections"), ==, 0);
    qvsock_test_free(&t);
}

/* A REQUEST from guest @port to the parent's @dst gets RST at once. */
static void expect_refused(QVsockTest *t, uint32_t port, uint32_t dst)
{
    QVsockHdr h;

    qvsock_send(t, qvsock_pkt(QVSOCK_USER_PARENT_CID, port, dst,
                              VIRTIO_VSOCK_OP_REQUEST, 0), NULL);
    qvsock_recv(t, &h, NULL);
    qvsock_assert_hdr(&h, QVSOCK_USER_PARENT_CID, dst, port,
                      VIRTIO_VSOCK_OP_RST, 0, 0);
}

static void test_heartbeat(const void *data)
{
    QVsockTest t;

    test_init(&t, data);
    qvsock_heartbeat(&t);
    g_assert_cmpuint(qvsock_stat(&t, "connections"), ==, 0);
    /*
     * Answered once per boot, as a parent instance does (a system reset
     * arms it again: virtio-vsock-user-chardev-test): refused now, and
     * nothing was left behind.
     */
    expect_refused(&t, 1234, QVSOCK_HB_PORT);
    g_assert_cmpuint(qvsock_stat(&t, "connections"), ==, 0);
    qvsock_expect_silence(&t, 3 * NS_PER_SEC);
    qvsock_test_free(&t);
}

static void test_heartbeat_split_rx(const void *data)
{
    QVsockTest t;

    qvsock_test_init(&t, data, QVSOCK_RX_HDR_AND_DATA, "", "");
    qvsock_heartbeat(&t);
    qvsock_test_free(&t);
}

static void test_heartbeat_off(const void *data)
{
    QVsockTest t;
    QVsockHdr h;

    qvsock_test_init(&t, data, QVSOCK_RX_ONE_BUFFER, ",heartbeat=off",
                     "");
    qvsock_send(&t, qvsock_pkt(QVSOCK_USER_PARENT_CID, 1234, QVSOCK_HB_PORT,
                               VIRTIO_VSOCK_OP_REQUEST, 0), NULL);
    qvsock_recv(&t, &h, NULL);
    qvsock_assert_hdr(&h, QVSOCK_USER_PARENT_CID, QVSOCK_HB_PORT, 1234,
                      VIRTIO_VSOCK_OP_RST, 0, 0);
    qvsock_test_free(&t);
}

static void test_unbound_port(const void *data)
{
    QVsockTest t;
    QVsockHdr h;

    test_init(&t, data);
    qvsock_send(&t, qvsock_pkt(QVSOCK_USER_PARENT_CID, 1234, 4321,
                               VIRTIO_VSOCK_OP_REQUEST, 0), NULL);
    qvsock_recv(&t, &h, NULL);
    qvsock_assert_hdr(&h, QVSOCK_USER_PARENT_CID, 4321, 1234,
                      VIRTIO_VSOCK_OP_RST, 0, 0);
    qvsock_expect_silence(&t, NS_PER_SEC);
    qvsock_test_free(&t);
}

static void test_other_cid(const void *data)
{
    QVsockTest t;
    QVsockHdr h;

    test_init(&t, data);
    /* Only the parent CID is terminated here; nobody else can answer. */
    qvsock_send(&t, qvsock_pkt(2, 1234, QVSOCK_HB_PORT,
                               VIRTIO_VSOCK_OP_REQUEST, 0), NULL);
    qvsock_recv(&t, &h, NULL);
    qvsock_assert_hdr(&h, 2, QVSOCK_HB_PORT, 1234, VIRTIO_VSOCK_OP_RST, 0, 0);
    qvsock_send(&t, qvsock_pkt(4, 1235, 80, VIRTIO_VSOCK_OP_REQUEST, 0), NULL);
    qvsock_recv(&t, &h, NULL);
    qvsock_assert_hdr(&h, 4, 80, 1235, VIRTIO_VSOCK_OP_RST, 0, 0);
    qvsock_test_free(&t);
}

static void test_bad_op_type(const void *data)
{
    QVsockTest t;
    QVsockHdr h, bad;
    uint32_t port;

    test_init(&t, data);
    /* Unknown op on a live connection: RST. */
    port = qvsock_connect(&t, QVSOCK_HB_PORT, QVSOCK_GUEST_BUF_ALLOC);
    qvsock_send(&t, qvsock_pkt(QVSOCK_USER_PARENT_CID, port, QVSOCK_HB_PORT,
                               99, 0), NULL);
    qvsock_recv(&t, &h, NULL);
    qvsock_assert_hdr(&h, QVSOCK_USER_PARENT_CID, QVSOCK_HB_PORT, port,
                      VIRTIO_VSOCK_OP_RST, 0, 0);

    /* Unknown op without a connection: RST. */
    qvsock_send(&t, qvsock_pkt(QVSOCK_USER_PARENT_CID, 2000, 2001, 0, 0), NULL);
    qvsock_recv(&t, &h, NULL);
    qvsock_assert_hdr(&h, QVSOCK_USER_PARENT_CID, 2001, 2000,
                      VIRTIO_VSOCK_OP_RST, 0, 0);

    /* Unknown type: RST (the reply keeps the guest's type). */
    bad = qvsock_pkt(QVSOCK_USER_PARENT_CID, 2002, QVSOCK_HB_PORT,
                     VIRTIO_VSOCK_OP_REQUEST, 0);
    bad.type = 7;
    qvsock_send(&t, bad, NULL);
    qvsock_recv(&t, &h, NULL);
    g_assert_cmpuint(h.op, ==, VIRTIO_VSOCK_OP_RST);
    g_assert_cmpuint(h.src_port, ==, QVSOCK_HB_PORT);
    g_assert_cmpuint(h.dst_port, ==, 2002);
    g_assert_cmpuint(qvsock_stat(&t, "connections"), ==, 0);
    qvsock_test_free(&t);
}

static void test_orphan_rst(const void *data)
{
    QVsockTest t;
    uint64_t before;

    test_init(&t, data);
    before = qvsock_stat(&t, "rst-sent");
    qvsock_send(&t, qvsock_pkt(QVSOCK_USER_PARENT_CID, 1234, QVSOCK_HB_PORT,
                               VIRTIO_VSOCK_OP_RST, 0), NULL);
    qvsock_send(&t, qvsock_pkt(2, 1234, 80, VIRTIO_VSOCK_OP_RST, 0), NULL);
    qvsock_expect_silence(&t, NS_PER_SEC);
    /* only the silence probe's */
    g_assert_cmpuint(qvsock_stat(&t, "rst-sent"), ==, before + 1);
    qvsock_heartbeat(&t);
    qvsock_test_free(&t);
}

/*
 * Tx completions need no interrupt of their own: a used tx chain is
 * notified with the next rx notification, once 32 chains wait, or after
 * 200 us of virtual time, whichever comes first.
 */
static void test_tx_notify(const void *data)
{
    QVsockTest t;
    QVsockHdr rst = qvsock_pkt(QVSOCK_USER_PARENT_CID, 1234,
                               QVSOCK_HB_PORT, VIRTIO_VSOCK_OP_RST, 0);
    QVsockHdr req = qvsock_pkt(QVSOCK_USER_PARENT_CID, 1235, 4321,
                               VIRTIO_VSOCK_OP_REQUEST, 0);
    QVsockHdr h;

    test_init(&t, data);
    qvsock_heartbeat(&t);
    qvsock_expect_silence(&t, NS_PER_SEC);
    qvsock_used_notified(&t);
    g_assert_false(qvsock_used_notified(&t));

    /* No reply: the chain is used at once, the notification follows. */
    qvsock_send(&t, rst, NULL);
    g_assert_false(qvsock_used_notified(&t));
    qtest_clock_step(t.qts, 199 * 1000);
    g_assert_false(qvsock_used_notified(&t));
    qtest_clock_step(t.qts, 1000);
    g_assert_true(qvsock_used_notified(&t));
    qtest_clock_step(t.qts, NS_PER_SEC);
    g_assert_false(qvsock_used_notified(&t));

    /* A quarter of the queue is notified without waiting. */
    for (int i = 0; i < 31; i++) {
        qvsock_send(&t, rst, NULL);
    }
    g_assert_false(qvsock_used_notified(&t));
    qvsock_send(&t, rst, NULL);
    g_assert_true(qvsock_used_notified(&t));

    /* An rx notification takes the waiting tx completions along. */
    qvsock_send(&t, rst, NULL);
    qvsock_send(&t, req, NULL);
    qvsock_recv(&t, &h, NULL);
    qvsock_assert_hdr(&h, QVSOCK_USER_PARENT_CID, 4321, 1235,
                      VIRTIO_VSOCK_OP_RST, 0, 0);
    qvsock_used_notified(&t);
    qtest_clock_step(t.qts, NS_PER_SEC / 1000);
    g_assert_false(qvsock_used_notified(&t));
    qvsock_expect_silence(&t, NS_PER_SEC);
    g_assert_cmpuint(qvsock_stat(&t, "connections"), ==, 0);
    qvsock_test_free(&t);
}

/* The PCI proxy's ioeventfd property, for a device created with id=vsock0 */
static bool pci_ioeventfd(QVsockTest *t)
{
    g_autoptr(QDict) rsp = qtest_qmp(t->qts, "{'execute': 'qom-get', "
                                     "'arguments': {'path': "
                                     "'/machine/peripheral/vsock0', "
                                     "'property': 'ioeventfd'}}");

    g_assert(qdict_haskey(rsp, "return"));
    return qdict_get_bool(rsp, "return");
}

/*
 * With the transport's ioeventfd off, a kick runs the device in the
 * thread that wrote the notify register instead of in the main loop.
 */
static void test_kick_inline(const void *data)
{
    const char *machine = data;
    bool pci = !strcmp(machine, "pc");
    QVsockTest t;
    QVsockHdr rst = qvsock_pkt(QVSOCK_USER_PARENT_CID, 1234,
                               QVSOCK_HB_PORT, VIRTIO_VSOCK_OP_RST, 0);

    qvsock_test_init(&t, machine, QVSOCK_RX_ONE_BUFFER,
                     pci ? ",id=vsock0,ioeventfd=off" : "",
                     pci ? "" : "-global virtio-mmio.ioeventfd=off");
    if (pci) {
        g_assert_false(pci_ioeventfd(&t));
    }
    qvsock_heartbeat(&t);
    expect_refused(&t, 1235, 4321);
    qvsock_expect_silence(&t, NS_PER_SEC);
    qvsock_used_notified(&t);
    for (int i = 0; i < 31; i++) {
        qvsock_send(&t, rst, NULL);
    }
    g_assert_false(qvsock_used_notified(&t));
    qvsock_send(&t, rst, NULL);
    g_assert_true(qvsock_used_notified(&t));
    expect_refused(&t, 1236, 4321);
    g_assert_cmpuint(qvsock_stat(&t, "connections"), ==, 0);
    qvsock_test_free(&t);
}

/* virtio-vsock-user-pci takes its kicks through an ioeventfd by default. */
static void test_kick_eventfd_default(const void *data)
{
    QVsockTest t;

    qvsock_test_init(&t, data, QVSOCK_RX_ONE_BUFFER, ",id=vsock0", "");
    g_assert_true(pci_ioeventfd(&t));
    qvsock_heartbeat(&t);
    qvsock_test_free(&t);
}

static void test_spoofed_src(const void *data)
{
    QVsockTest t;
    QVsockHdr req = qvsock_pkt(QVSOCK_USER_PARENT_CID, 1234, QVSOCK_HB_PORT,
                               VIRTIO_VSOCK_OP_REQUEST, 0);

    test_init(&t, data);
    req.src_cid = QVSOCK_USER_GUEST_CID + 1;
    qvsock_send(&t, req, NULL);
    qvsock_expect_silence(&t, NS_PER_SEC);
    g_assert_cmpuint(qvsock_stat(&t, "spoofed-packets"), ==, 1);
    g_assert_cmpuint(qvsock_stat(&t, "connections"), ==, 0);
    qvsock_test_free(&t);
}

static void test_zero_credit(const void *data)
{
    const uint8_t beat = 0xb7;
    QVsockHdr h, upd;
    uint32_t port;
    QVsockTest t;

    test_init(&t, data);
    /* A guest with no receive space gets no data... */
    port = qvsock_connect(&t, QVSOCK_HB_PORT, 0);
    h = qvsock_pkt(QVSOCK_USER_PARENT_CID, port, QVSOCK_HB_PORT,
                   VIRTIO_VSOCK_OP_RW, 1);
    h.buf_alloc = 0;
    qvsock_send(&t, h, &beat);
    while (qvsock_try_recv(&t, &h, NULL, 200 * 1000)) {
        g_assert_cmpuint(h.op, !=, VIRTIO_VSOCK_OP_RW);
        g_assert_cmpuint(h.op, ==, VIRTIO_VSOCK_OP_CREDIT_UPDATE);
    }
    /* ...until it announces some. */
    upd = qvsock_pkt(QVSOCK_USER_PARENT_CID, port, QVSOCK_HB_PORT,
                     VIRTIO_VSOCK_OP_CREDIT_UPDATE, 0);
    upd.buf_alloc = 4096;
    qvsock_send(&t, upd, NULL);
    qvsock_recv_beat(&t, port, &h);
    qvsock_test_free(&t);
}

static void test_credit_request(const void *data)
{
    uint32_t port;
    QVsockTest t;
    QVsockHdr h;

    test_init(&t, data);
    port = qvsock_connect(&t, QVSOCK_HB_PORT, QVSOCK_GUEST_BUF_ALLOC);
    qvsock_send(&t, qvsock_pkt(QVSOCK_USER_PARENT_CID, port, QVSOCK_HB_PORT,
                               VIRTIO_VSOCK_OP_CREDIT_REQUEST, 0), NULL);
    qvsock_recv(&t, &h, NULL);
    qvsock_assert_hdr(&h, QVSOCK_USER_PARENT_CID, QVSOCK_HB_PORT, port,
                      VIRTIO_VSOCK_OP_CREDIT_UPDATE, 0, 0);
    g_assert_cmpuint(h.buf_alloc, ==, QVSOCK_DEV_BUF_ALLOC);
    g_assert_cmpuint(h.fwd_cnt, ==, 0);
    qvsock_test_free(&t);
}

static void test_split_tx(const void *data)
{
    uint8_t b[QVSOCK_HDR_SIZE + 1];
    size_t sizes[] = { 20, 24, 1 };
    uint32_t port;
    QVsockTest t;
    QVsockHdr h;

    test_init(&t, data);
    port = t.next_port;
    /* The REQUEST's header across two descriptors. */
    h = qvsock_pkt(QVSOCK_USER_PARENT_CID, port, QVSOCK_HB_PORT,
                   VIRTIO_VSOCK_OP_REQUEST, 0);
    qvsock_hdr_encode(&h, b);
    qvsock_send_chain(&t, b, sizes, 2);
    qvsock_recv(&t, &h, NULL);
    qvsock_assert_hdr(&h, QVSOCK_USER_PARENT_CID, QVSOCK_HB_PORT, port,
                      VIRTIO_VSOCK_OP_RESPONSE, 0, 0);
    /* The RW's header across two, its payload in a third. */
    h = qvsock_pkt(QVSOCK_USER_PARENT_CID, port, QVSOCK_HB_PORT,
                   VIRTIO_VSOCK_OP_RW, 1);
    qvsock_hdr_encode(&h, b);
    b[QVSOCK_HDR_SIZE] = 0xb7;
    qvsock_send_chain(&t, b, sizes, 3);
    qvsock_recv_beat(&t, port, &h);
    qvsock_test_free(&t);
}

static void test_malformed(const void *data)
{
    uint8_t b[QVSOCK_HDR_SIZE + 16] = {};
    size_t size;
    uint32_t head;
    uint64_t addr;
    QVsockTest t;
    QVsockHdr h;

    test_init(&t, data);

    /* A chain shorter than a header. */
    size = 10;
    qvsock_send_chain(&t, b, &size, 1);

    /* len larger than the chain. */
    h = qvsock_pkt(QVSOCK_USER_PARENT_CID, 1234, QVSOCK_HB_PORT,
                   VIRTIO_VSOCK_OP_RW, 4096);
    qvsock_hdr_encode(&h, b);
    size = QVSOCK_HDR_SIZE + 16;
    qvsock_send_chain(&t, b, &size, 1);

    /* A tx chain with a device-writable descriptor. */
    qvsock_desc_reserve(t.tx, 1);
    addr = guest_alloc(&t.alloc, 64);
    head = qvirtqueue_add(t.qts, t.tx, addr, 64, true, false);
    qvirtqueue_kick(t.qts, t.vdev, t.tx, head);
    qvsock_wait_tx_used(&t, head);

    /* Nothing of that deserved an answer. */
    qvsock_expect_silence(&t, NS_PER_SEC);

    g_assert_cmpuint(qvsock_stat(&t, "connections"), ==, 0);
    qtest_qmp_assert_success(t.qts, "{'execute': 'query-status'}");
    qvsock_test_free(&t);
}

static void test_malformed_then_heartbeat(const void *data)
{
    uint8_t b[QVSOCK_HDR_SIZE + 16] = {};
    size_t sizes[2] = { 10, 0 };
    uint32_t head;
    QVsockHdr h;
    QVsockTest t;

    test_init(&t, data);
    /* Start over with unusable rx buffers at the head of the ring. */
    qvirtio_reset(t.vdev);
    qvsock_setup_device(&t, false);
    qvsock_desc_reserve(t.rx, 1);
    head = qvirtqueue_add(t.qts, t.rx, guest_alloc(&t.alloc, 8), 8, true,
                          false);
    t.rxbuf[head] = (QVsockRxBuf) {};
    qvirtqueue_kick(t.qts, t.vdev, t.rx, head);
    qvsock_desc_reserve(t.rx, 1);
    head = qvirtqueue_add(t.qts, t.rx, guest_alloc(&t.alloc, 4096), 4096,
                          false, false);
    t.rxbuf[head] = (QVsockRxBuf) {};
    qvirtqueue_kick(t.qts, t.vdev, t.rx, head);
    for (int i = 0; i < QVSOCK_RX_POSTED; i++) {
        qvsock_post_rx(&t);
    }

    qvsock_send_chain(&t, b, sizes, 1);
    h = qvsock_pkt(QVSOCK_USER_PARENT_CID, 1234, QVSOCK_HB_PORT,
                   VIRTIO_VSOCK_OP_RW, 100000);
    qvsock_hdr_encode(&h, b);
    sizes[0] = QVSOCK_HDR_SIZE;
    sizes[1] = 16;
    qvsock_send_chain(&t, b, sizes, 2);
    qvsock_heartbeat(&t);
    qvsock_test_free(&t);
}

/*
 * A guest that stops giving rx buffers: the device owes it an RST for
 * every REQUEST to an unbound port.  It holds a bounded number of them,
 * then stops taking tx chains instead of dropping replies or growing;
 * once rx buffers come, every RST goes out in order and tx drains.
 */
static void test_rx_full_pauses_tx(const void *data)
{
    enum { N = 100 };
    uint8_t b[QVSOCK_HDR_SIZE];
    uint64_t addr[N];
    uint32_t head, len;
    unsigned used = 0;
    QVsockTest t;
    QVsockHdr h;

    test_init(&t, data);
    qvirtio_reset(t.vdev);
    qvsock_setup_device(&t, false);
    for (int i = 0; i < N; i++) {
        h = qvsock_pkt(QVSOCK_USER_PARENT_CID, 1000 + i, 4000 + i,
                       VIRTIO_VSOCK_OP_REQUEST, 0);
        qvsock_hdr_encode(&h, b);
        addr[i] = guest_alloc(&t.alloc, sizeof(b));
        qtest_memwrite(t.qts, addr[i], b, sizeof(b));
        qvsock_desc_reserve(t.tx, 1);
        head = qvirtqueue_add(t.qts, t.tx, addr[i], sizeof(b), false, false);
        qvirtqueue_kick(t.qts, t.vdev, t.tx, head);
    }
    for (int i = 0; i < 10; i++) {
        qtest_clock_step(t.qts, 1000 * 1000);
    }
    while (qvirtqueue_get_buf(t.qts, t.tx, &head, &len)) {
        used++;
    }
    g_assert_cmpuint(used, >, 0);
    g_assert_cmpuint(used, <, N);

    /* rx buffers: every owed RST, in order, then the rest of tx. */
    for (int i = 0; i < QVSOCK_RX_POSTED; i++) {
        qvsock_post_rx(&t);
    }
    for (int i = 0; i < N; i++) {
        qvsock_recv(&t, &h, NULL);
        qvsock_assert_hdr(&h, QVSOCK_USER_PARENT_CID, 4000 + i, 1000 + i,
                          VIRTIO_VSOCK_OP_RST, 0, 0);
    }
    while (used < N) {
        gint64 end = g_get_monotonic_time() + QVSOCK_TIMEOUT_US;

        while (!qvirtqueue_get_buf(t.qts, t.tx, &head, &len)) {
            g_assert_cmpint(g_get_monotonic_time(), <, end);
            qtest_clock_step(t.qts, 100);
        }
        used++;
    }
    qvsock_expect_silence(&t, NS_PER_SEC);
    g_assert_cmpuint(qvsock_stat(&t, "connections"), ==, 0);
    qvsock_heartbeat(&t);
    qvsock_test_free(&t);
}

static void test_broken_ring(const void *data)
{
    QVsockHdr h = qvsock_pkt(QVSOCK_USER_PARENT_CID, 1000, QVSOCK_HB_PORT,
                             VIRTIO_VSOCK_OP_REQUEST, 0);
    uint8_t b[QVSOCK_HDR_SIZE];
    uint32_t head, len;
    uint64_t addr;
    QVsockTest t;

    test_init(&t, data);
    /* An avail entry naming a descriptor beyond the ring. */
    qvirtqueue_kick(t.qts, t.vdev, t.tx, t.tx->size + 5);
    /*
     * The device stops: a valid REQUEST after it is never taken from the
     * ring nor answered, and with virtio 1.x the device says so
     * (DEVICE_NEEDS_RESET in its status); QEMU runs on.
     */
    qvsock_hdr_encode(&h, b);
    addr = guest_alloc(&t.alloc, sizeof(b));
    qtest_memwrite(t.qts, addr, b, sizeof(b));
    qvsock_desc_reserve(t.tx, 1);
    head = qvirtqueue_add(t.qts, t.tx, addr, sizeof(b), false, false);
    qvirtqueue_kick(t.qts, t.vdev, t.tx, head);
    g_assert_false(qvsock_try_recv(&t, &h, NULL, QVSOCK_TIMEOUT_US / 10));
    g_assert_false(qvirtqueue_get_buf(t.qts, t.tx, &head, &len));
    if (t.pdev) {
        g_assert_cmphex(t.vdev->bus->get_status(t.vdev) &
                        VIRTIO_CONFIG_S_NEEDS_RESET, ==,
                        VIRTIO_CONFIG_S_NEEDS_RESET);
    }
    g_assert_cmpuint(qvsock_stat(&t, "connections"), ==, 0);
    qtest_qmp_assert_success(t.qts, "{'execute': 'query-status'}");
    /* The device is broken until the driver resets it; then it works. */
    qvirtio_reset(t.vdev);
    qvsock_setup_device(&t, true);
    qvsock_heartbeat(&t);
    qvsock_test_free(&t);
}

static void test_reset_with_conns(const void *data)
{
    QVsockTest t;

    test_init(&t, data);
    qvsock_connect(&t, QVSOCK_HB_PORT, QVSOCK_GUEST_BUF_ALLOC);
    /* the heartbeat takes one connection at a time */
    expect_refused(&t, 1234, QVSOCK_HB_PORT);
    g_assert_cmpuint(qvsock_stat(&t, "connections"), ==, 1);
    qvirtio_reset(t.vdev);
    g_assert_cmpuint(qvsock_stat(&t, "connections"), ==, 0);
    qvsock_setup_device(&t, true);
    qvsock_heartbeat(&t);
    qvsock_test_free(&t);
}

static void test_shutdown_timeout(const void *data)
{
    const uint8_t beat = 0xb7;
    uint32_t port;
    QVsockTest t;
    QVsockHdr h;

    test_init(&t, data);
    port = qvsock_connect(&t, QVSOCK_HB_PORT, QVSOCK_GUEST_BUF_ALLOC);
    qvsock_send(&t, qvsock_pkt(QVSOCK_USER_PARENT_CID, port, QVSOCK_HB_PORT,
                               VIRTIO_VSOCK_OP_RW, 1), &beat);
    qvsock_recv(&t, &h, NULL);
    g_assert_cmpuint(h.op, ==, VIRTIO_VSOCK_OP_RW);
    qvsock_recv(&t, &h, NULL);
    g_assert_cmpuint(h.op, ==, VIRTIO_VSOCK_OP_SHUTDOWN);
    /* The guest never answers: RST after the shutdown timeout. */
    qtest_clock_step(t.qts, 3 * NS_PER_SEC);
    qvsock_recv(&t, &h, NULL);
    qvsock_assert_hdr(&h, QVSOCK_USER_PARENT_CID, QVSOCK_HB_PORT, port,
                      VIRTIO_VSOCK_OP_RST, 0, 0);
    g_assert_cmpuint(qvsock_stat(&t, "connections"), ==, 0);
    qvsock_test_free(&t);
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
    QVsockTest t;
    QVsockHdr h;

    test_init(&t, data);
    port = qvsock_connect(&t, QVSOCK_HB_PORT, QVSOCK_GUEST_BUF_ALLOC);

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

    /* The destination: same device, same guest memory. */
    qvsock_test_restart(&t, incoming);

    /* The guest learns that its connections are gone. */
    qvirtio_wait_used_elem(t.qts, t.vdev, t.ev, 0, &len, QVSOCK_TIMEOUT_US);
    g_assert_cmpuint(len, ==, 4);
    qtest_memread(t.qts, t.evbuf[0], ev, 4);
    g_assert_cmpuint(ldl_le_p(ev), ==, 0 /* TRANSPORT_RESET */);
    g_assert_false(qvirtqueue_get_buf(t.qts, t.ev, &head, &len));
    g_assert_cmpuint(qvsock_stat(&t, "connections"), ==, 0);

    /* The old connection is unknown now: its data gets RST. */
    qvsock_send(&t, qvsock_pkt(QVSOCK_USER_PARENT_CID, port, QVSOCK_HB_PORT,
                               VIRTIO_VSOCK_OP_RW, 1), &beat);
    qvsock_recv(&t, &h, NULL);
    qvsock_assert_hdr(&h, QVSOCK_USER_PARENT_CID, QVSOCK_HB_PORT, port,
                      VIRTIO_VSOCK_OP_RST, 0, 0);
    /* New connections work at once. */
    qvsock_heartbeat(&t);

    qvsock_test_free(&t);
    unlink(file);
    rmdir(dir);
}

/*
 * A guest rx buffer placed on virtio-mmio's own STATUS register: the
 * header bytes 4..7 (zero) would land on STATUS and reset the device in
 * the middle of its pass.  Every pass runs in the device's guarded bottom
 * half, whichever way it starts, so the write is blocked and the device
 * stays up.  The device is brought up again with @normal ordinary rx
 * buffers, for the packets the caller expects first, and that one after
 * them; returns its head.
 */
static uint32_t post_register_rx(QVsockTest *t, unsigned normal)
{
    const uint64_t status = 0x70;   /* virtio-mmio STATUS register */
    uint32_t head;

    qvirtio_reset(t->vdev);
    qvsock_setup_device(t, false);
    for (unsigned i = 0; i < normal; i++) {
        qvsock_post_rx(t);
    }
    qvsock_desc_reserve(t->rx, 1);
    head = qvirtqueue_add(t->qts, t->rx, t->mmio.addr + status - 4, 64,
                          true, false);
    t->rxbuf[head] = (QVsockRxBuf) {};
    qvirtqueue_kick(t->qts, t->vdev, t->rx, head);
    return head;
}

static void assert_driver_ok(QVsockTest *t)
{
    g_assert_cmpuint(qtest_readl(t->qts, t->mmio.addr + 0x70) &
                     VIRTIO_CONFIG_S_DRIVER_OK, !=, 0);
}

/* Wait for the used entry of rx chain @head, stepping the clock by @step. */
static void wait_rx_used(QVsockTest *t, uint32_t head, int64_t step)
{
    int64_t end = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;
    uint32_t got, len;

    while (!qvirtqueue_get_buf(t->qts, t->rx, &got, &len)) {
        g_assert_cmpint(g_get_monotonic_time(), <, end);
        qtest_clock_step(t->qts, step);
    }
    g_assert_cmpuint(got, ==, head);
    g_assert_cmpuint(len, ==, QVSOCK_HDR_SIZE);
}

/* The pass a tx kick starts (through the ioeventfd, the default). */
static void test_rx_on_registers_kick(const void *data)
{
    QVsockTest t;
    uint32_t head;

    test_init(&t, data);
    head = post_register_rx(&t, 0);
    assert_driver_ok(&t);
    /* a REQUEST to a port nobody listens on: the device owes an RST */
    qvsock_send(&t, qvsock_pkt(QVSOCK_USER_PARENT_CID, 1234, 4321,
                               VIRTIO_VSOCK_OP_REQUEST, 0), NULL);
    wait_rx_used(&t, head, 0);
    assert_driver_ok(&t);
    g_assert_cmpuint(qvsock_stat(&t, "rst-sent"), ==, 1);
    qvsock_test_free(&t);
}

/* The pass the device's timer starts (a SHUTDOWN the guest never answers). */
static void test_rx_on_registers_timer(const void *data)
{
    const uint8_t beat = 0xb7;
    QVsockTest t;
    uint32_t head, got, len;

    test_init(&t, data);
    /* RESPONSE, the echo and the heartbeat's SHUTDOWN; then the RST */
    head = post_register_rx(&t, 3);
    qvsock_send(&t, qvsock_pkt(QVSOCK_USER_PARENT_CID, 1234, QVSOCK_HB_PORT,
                               VIRTIO_VSOCK_OP_REQUEST, 0), NULL);
    qvsock_send(&t, qvsock_pkt(QVSOCK_USER_PARENT_CID, 1234, QVSOCK_HB_PORT,
                               VIRTIO_VSOCK_OP_RW, 1), &beat);
    for (int i = 0; i < 3; i++) {
        int64_t end = g_get_monotonic_time() + 10 * G_USEC_PER_SEC;

        while (!qvirtqueue_get_buf(t.qts, t.rx, &got, &len)) {
            g_assert_cmpint(g_get_monotonic_time(), <, end);
            qtest_clock_step(t.qts, 0);
        }
        g_assert_cmpuint(got, !=, head);
    }
    g_assert_cmpuint(qvsock_stat(&t, "rst-sent"), ==, 0);
    wait_rx_used(&t, head, NS_PER_SEC / 4);
    assert_driver_ok(&t);
    g_assert_cmpuint(qvsock_stat(&t, "rst-sent"), ==, 1);
    g_assert_cmpuint(qvsock_stat(&t, "connections"), ==, 0);
    qvsock_test_free(&t);
}

static const QVsockTestCase tests[] = {
    { "config", test_config },
    { "heartbeat", test_heartbeat },
    { "heartbeat-split-rx", test_heartbeat_split_rx },
    { "heartbeat-off", test_heartbeat_off },
    { "unbound-port", test_unbound_port },
    { "other-cid", test_other_cid },
    { "bad-op-type", test_bad_op_type },
    { "orphan-rst", test_orphan_rst },
    { "tx-notify", test_tx_notify },
    { "kick-inline", test_kick_inline },
    { "spoofed-src", test_spoofed_src },
    { "zero-credit", test_zero_credit },
    { "credit-request", test_credit_request },
    { "split-tx", test_split_tx },
    { "malformed", test_malformed },
    { "malformed-then-heartbeat", test_malformed_then_heartbeat },
    { "rx-full-pauses-tx", test_rx_full_pauses_tx },
    { "broken-ring", test_broken_ring },
    { "reset-with-connections", test_reset_with_conns },
    { "shutdown-timeout", test_shutdown_timeout },
    { "migrate", test_migrate },
    { "rx-on-registers-kick", test_rx_on_registers_kick, true },
    { "rx-on-registers-timer", test_rx_on_registers_timer, true },
};

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    qvsock_add_tests("virtio-vsock-user", tests, G_N_ELEMENTS(tests));
    if (qvsock_has_machine("pc")) {
        qtest_add_data_func("virtio-vsock-user/pc/kick-eventfd-default",
                            "pc", test_kick_eventfd_default);
    }
    return g_test_run();
}
