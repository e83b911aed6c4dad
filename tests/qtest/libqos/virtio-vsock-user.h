/*
 * libqos driver for virtio-vsock-user
 *
 * Two parts: the qos-graph nodes ("virtio-vsock-user" on virtio-mmio,
 * "virtio-vsock-user-pci" on PCI), and QVsockTest, a small guest driver
 * for the qtests that drive the device's virtqueues directly on microvm
 * (virtio-mmio) or pc (virtio-pci): it starts QEMU, brings the device up,
 * posts rx and event buffers, sends and receives packets and encodes the
 * 44-byte packet header byte by byte, independently of the device's codec.
 *
 * Copyright (c) 2026 The virtio-vsock-user authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef TESTS_LIBQOS_VIRTIO_VSOCK_USER_H
#define TESTS_LIBQOS_VIRTIO_VSOCK_USER_H

#include "../libqtest.h"
#include "qgraph.h"
#include "libqos-malloc.h"
#include "pci.h"
#include "virtio.h"
#include "virtio-mmio.h"
#include "virtio-pci.h"
#include "standard-headers/linux/virtio_vsock.h"

/* The CIDs the graph's and QVsockTest's devices are created with */
#define QVSOCK_USER_GUEST_CID 16
#define QVSOCK_USER_PARENT_CID 3

typedef struct QVsockUser {
    QVirtioDevice *vdev;
} QVsockUser;

typedef struct QVsockUserPCI {
    QVirtioPCIDevice pci_vdev;
    QVsockUser vsock;
} QVsockUserPCI;

typedef struct QVsockUserDevice {
    QOSGraphObject obj;
    QVsockUser vsock;
} QVsockUserDevice;

/* ------------------------------------------------------------------ */
/* QVsockTest: the test as the guest driver                            */
/* ------------------------------------------------------------------ */

#define QVSOCK_HB_PORT 9000                 /* the device's heartbeat */
#define QVSOCK_HDR_SIZE 44
#define QVSOCK_DEV_BUF_ALLOC (256 * 1024)   /* the device's default */
#define QVSOCK_GUEST_BUF_ALLOC (256 * 1024) /* what the test announces */
#define QVSOCK_RX_BUF_SIZE 4096
#define QVSOCK_RX_POSTED 16
#define QVSOCK_EVENT_POSTED 8
#define QVSOCK_MAX_DESC 256
#define QVSOCK_TIMEOUT_US (10 * 1000 * 1000)

/* struct virtio_vsock_hdr, decoded */
typedef struct QVsockHdr {
    uint64_t src_cid, dst_cid;
    uint32_t src_port, dst_port, len;
    uint16_t type, op;
    uint32_t flags, buf_alloc, fwd_cnt;
} QVsockHdr;

/* One posted rx chain; n == 0: none, or unusable on purpose */
typedef struct QVsockRxBuf {
    uint64_t addr[2];
    uint32_t size[2];
    int n;
} QVsockRxBuf;

typedef enum QVsockRxLayout {
    QVSOCK_RX_ONE_BUFFER,   /* Linux >= 6.x: one 4 KiB buffer, hdr + data */
    QVSOCK_RX_HDR_AND_DATA, /* older guests: 44-byte header + 4 KiB data */
} QVsockRxLayout;

typedef struct QVsockTest {
    const char *machine;     /* "microvm" or "pc" */
    char *cids;              /* the device's CID properties */
    char *props;             /* extra -device properties */
    QTestState *qts;
    QGuestAllocator alloc;
    QPCIBus *pcibus;         /* pc only */
    QVirtioPCIDevice *pdev;  /* pc only */
    QVirtioMMIODevice mmio;  /* microvm only */
    QVirtioDevice *vdev;
    QVirtQueue *rx, *tx, *ev;
    QVsockRxLayout layout;
    QVsockRxBuf rxbuf[QVSOCK_MAX_DESC]; /* by head descriptor */
    uint64_t evbuf[QVSOCK_EVENT_POSTED];
    uint32_t next_port;      /* qvsock_connect()'s next guest port */
    uint32_t fwd_cnt;        /* what the test (guest) has consumed */
} QVsockTest;

/* Encode @h into the 44 bytes at @b (little endian). */
void qvsock_hdr_encode(const QVsockHdr *h, uint8_t *b);
/* Decode the 44 bytes at @b into @h. */
void qvsock_hdr_decode(QVsockHdr *h, const uint8_t *b);

/* A stream packet from the guest's CID:@src_port to @dst_cid:@dst_port. */
QVsockHdr qvsock_pkt(uint64_t dst_cid, uint32_t src_port, uint32_t dst_port,
                     uint16_t op, uint32_t len);

/*
 * Start QEMU on @machine ("microvm" or "pc") with the device, created
 * with the test's CIDs plus @props (",name=value..." or ""), and @extra
 * more command line ("" for none); attach to it, bring it up and post
 * rx buffers laid out as @layout, and the event buffers.
 */
void qvsock_test_init(QVsockTest *t, const char *machine,
                      QVsockRxLayout layout, const char *props,
                      const char *extra);

/* The same, with the device's CID properties @cids ("" for none). */
void qvsock_test_init_cids(QVsockTest *t, const char *machine,
                           const char *cids, QVsockRxLayout layout,
                           const char *props, const char *extra);

/*
 * Quit QEMU and start it again with the same device and @extra, keeping
 * all guest-side state: the destination of a migration.
 */
void qvsock_test_restart(QVsockTest *t, const char *extra);

/*
 * A second QEMU with the same machine and device as @t's and @extra
 * (which names its -incoming): the destination of a live migration,
 * running beside @t's QEMU.
 */
QTestState *qvsock_test_start_twin(QVsockTest *t, const char *extra);
/* @t's QEMU quits, and @qts (a twin) becomes @t's QEMU. */
void qvsock_test_adopt(QVsockTest *t, QTestState *qts);

void qvsock_test_free(QVsockTest *t);

/*
 * Bring the device up the way a guest driver does (after a reset, too);
 * with @post_buffers, post the event buffers and QVSOCK_RX_POSTED rx
 * buffers.
 */
void qvsock_setup_device(QVsockTest *t, bool post_buffers);

/*
 * libqos hands descriptors out in increasing order; restart at 0 when a
 * chain of @n would run past the table.  Call before adding a chain.
 */
void qvsock_desc_reserve(QVirtQueue *vq, unsigned n);

/* Post one rx buffer (chain) laid out as t->layout. */
void qvsock_post_rx(QVsockTest *t);

/*
 * Put one chain of @n read-only buffers, @sizes[i] bytes each taken in
 * turn from @bytes, on the tx queue and wait until the device used it.
 */
void qvsock_send_chain(QVsockTest *t, const uint8_t *bytes,
                       const size_t *sizes, unsigned n);

/*
 * Send @h with @payload (h.len bytes) in one descriptor, as Linux does;
 * an RW packet carries t->fwd_cnt.
 */
void qvsock_send(QVsockTest *t, QVsockHdr h, const void *payload);

/*
 * Wait until the device used the tx chain @head.  Like a driver, this looks
 * at the used ring instead of waiting for an interrupt: the device may hold
 * a tx notification back for a while.
 */
void qvsock_wait_tx_used(QVsockTest *t, uint32_t head);

/*
 * Whether the device notified used buffers since the last call (reading
 * the interrupt status acknowledges it).
 */
bool qvsock_used_notified(QVsockTest *t);

/*
 * Wait up to @timeout_us for the next packet on rx; decode its header
 * into @h and, unless NULL, copy its data to @payload (room for
 * QVSOCK_RX_BUF_SIZE).  Counts RW data in t->fwd_cnt and posts a new rx
 * buffer.  False on timeout.
 */
bool qvsock_try_recv(QVsockTest *t, QVsockHdr *h, uint8_t *payload,
                     gint64 timeout_us);

/* qvsock_try_recv() that must succeed within QVSOCK_TIMEOUT_US. */
void qvsock_recv(QVsockTest *t, QVsockHdr *h, uint8_t *payload);

/*
 * Nothing arrives on rx while the clock moves by @ns.  A probe closes the
 * window: a REQUEST to QVSOCK_PROBE_CID, whose RST must be the one packet
 * that arrives, so that what QEMU had decided to send by then (replies
 * that wait for a host socket's event included) is seen, not missed
 * because it came a moment after the clock step.  The probe counts one
 * rst-sent.
 */
#define QVSOCK_PROBE_CID 1000
#define QVSOCK_PROBE_PORT 0xfffffff0u
void qvsock_expect_silence(QVsockTest *t, int64_t ns);

/* @h is a stream packet to the guest with these fields. */
void qvsock_assert_hdr(const QVsockHdr *h, uint64_t src_cid,
                       uint32_t src_port, uint32_t dst_port, uint16_t op,
                       uint32_t len, uint32_t flags);

/*
 * Connect the next guest port (t->next_port) to the parent's @dst_port,
 * announcing @buf_alloc; check the device's RESPONSE.  Returns the guest
 * port.
 */
uint32_t qvsock_connect(QVsockTest *t, uint32_t dst_port, uint32_t buf_alloc);

/* The device's statistics property @name (qom-get). */
uint64_t qvsock_stat(QVsockTest *t, const char *name);

/*
 * Receive the heartbeat's echo: RW of one byte, 0xB7, from the parent's
 * QVSOCK_HB_PORT to @port; its header in @h.
 */
void qvsock_recv_beat(QVsockTest *t, uint32_t port, QVsockHdr *h);

/*
 * The whole heartbeat as AWS's enclave init does it: connect, write 0xB7,
 * read it back, close.  The device (the parent) closes after the echo;
 * the guest's SHUTDOWN is answered with RST.
 */
void qvsock_heartbeat(QVsockTest *t);

/*
 * Test registration: does this QEMU have @machine ("microvm" or "pc")
 * and the device's variant for it?
 */
bool qvsock_has_machine(const char *machine);

typedef struct QVsockTestCase {
    const char *name;
    GTestDataFunc fn;
    bool microvm_only;
} QVsockTestCase;

/*
 * Add every case of @cases (@n) as SUITE/MACHINE/NAME, with the machine
 * as its data, for microvm and then pc, on those of the two this QEMU
 * has.
 */
void qvsock_add_tests(const char *suite, const QVsockTestCase *cases,
                      size_t n);

/* ------------------------------------------------------------------ */
/* The host's side (virtio-vsock-user-host.c)                          */
/* ------------------------------------------------------------------ */

#define QVSOCK_HOST_TIMEOUT_MS 10000

/* A new temporary directory /tmp/@prefix-XXXXXX for a test's sockets. */
char *qvsock_tmpdir_new(const char *prefix);
/* Remove @dir and the files in it, and free the string. */
void qvsock_tmpdir_free(char *dir);

/* Host-side Unix stream sockets for the tests' host peers */
int qvsock_unix_listen(const char *path, int backlog);
int qvsock_unix_connect(const char *path);
bool qvsock_wait_fd(int fd, short events, int ms);
/*
 * A Unix listener whose backlog is full: the device's next (blocking)
 * connect to @path waits until the test accepts the first client.
 * Returns the listener, *@filler the client that fills the backlog.
 */
int qvsock_unix_listen_full(const char *path, int *filler);

/* How many descriptors process @pid (QEMU) holds open */
int qvsock_count_fds(pid_t pid);

/* Accept the device's connection on @lfd (it connects from a thread). */
int qvsock_host_accept(QVsockTest *t, int lfd);
/*
 * The guest connects @port to the parent's @dst, announcing @buf_alloc;
 * the test accepts on @lfd and gets the RESPONSE.  Returns the host fd.
 */
int qvsock_connect_host(QVsockTest *t, uint32_t port, uint32_t dst, int lfd,
                        uint32_t buf_alloc);
/* The next packet is a host-initiated REQUEST to @guest_port: its port. */
uint32_t qvsock_expect_request(QVsockTest *t, uint32_t guest_port);
/* The guest accepts the host's connection from @host_port. */
void qvsock_respond(QVsockTest *t, uint32_t guest_port, uint32_t host_port);

/*
 * A TCP socket listening on 127.0.0.1, its port in *@port: QEMU takes it
 * as fd:NAME after qvsock_getfd(), so no port is found free, closed and
 * bound again.  And a client connected to a loopback port.
 */
int qvsock_tcp_listen(int *port);
int qvsock_tcp_connect(int port);
/* QEMU gets @fd as monitor fd @name (getfd); the test's copy is closed. */
void qvsock_getfd(QTestState *qts, int fd, const char *name);
/* Read exactly @len bytes from @fd (within QVSOCK_HOST_TIMEOUT_MS each). */
void qvsock_host_read(int fd, void *buf, size_t len);
/* The next bytes on @fd are exactly @text. */
void qvsock_host_expect(int fd, const char *text);
/* @fd reads EOF, or ECONNRESET (closed with bytes it sent unread). */
void qvsock_host_expect_eof(int fd);

/*
 * The host-endpoint tests: a microvm with the device's uds-path in a
 * temporary directory, heartbeat off, rx buffers laid out as a Linux 6.x
 * guest posts them (QVSOCK_RX_ONE_BUFFER).
 */
typedef struct QVsockHostTest {
    QVsockTest vt;
    char *dir;
    char *uds;             /* the device's uds-path */
} QVsockHostTest;

/* @props: more device properties (",name=value..."); @extra: QEMU args */
void qvsock_ht_init(QVsockHostTest *ht, const char *props, const char *extra);
/* Also checks that the device removed its socket at exit. */
void qvsock_ht_free(QVsockHostTest *ht);
/* Write all of @text to @fd. */
void qvsock_host_write(int fd, const char *text);
/* Listen on the device's PATH_<port>: where guest connections go */
int qvsock_ht_listen_port(QVsockHostTest *ht, uint32_t port);
/* A guest packet to the parent */
QVsockHdr qvsock_ht_pkt(uint32_t src_port, uint32_t dst_port, uint16_t op,
                        uint32_t len);
/* The guest shuts its connection down (@flags: VIRTIO_VSOCK_SHUTDOWN_*). */
void qvsock_ht_shutdown(QVsockHostTest *ht, uint32_t port, uint32_t dst,
                        uint32_t flags);
/* Guest data on an established connection */
void qvsock_ht_send_text(QVsockHostTest *ht, uint32_t port, uint32_t dst,
                         const char *text);
/* The next packet is RW with exactly @text. */
void qvsock_ht_expect_text(QVsockHostTest *ht, uint32_t port, uint32_t src,
                           const char *text);
/*
 * Host -> guest: the host writes @line (CONNECT ...) on @fd; the next
 * packet is the REQUEST to @guest_port.  Returns the host's port.
 */
uint32_t qvsock_ht_h2g_connect(QVsockHostTest *ht, int fd, const char *line,
                               uint32_t guest_port);
/* @len bytes of a pattern that repeats only far apart (@salt varies it) */
uint8_t *qvsock_pattern_new(size_t len, unsigned salt);
/*
 * The next packet from host port @src to guest @port is data within one rx
 * buffer and within @limit bytes in all; append it to @got at *@rcvd.
 */
void qvsock_ht_recv_data(QVsockHostTest *ht, uint32_t port, uint32_t src,
                         uint8_t *got, uint32_t *rcvd, uint32_t limit);

#endif
