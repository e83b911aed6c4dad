/*
 * virtio-vsock-user: what the device drives
 *
 * The device pumps its virtqueues and nothing else: every packet the
 * guest sends goes to one of its backends, and its rx buffers are filled
 * from the backends in turn.  The protocol engine, where connections to
 * the parent CID end inside QEMU, is one backend (vsock-user-local.c);
 * each vsock-user-link, which carries the packets of other QEMUs' guests,
 * is another.  The device never knows which kind it drives.
 *
 * A backend never calls the device.  When it has something for the guest,
 * can take guest packets again or has a new deadline, it schedules the
 * device's bottom half with vsock_backend_wake(); every pass over the
 * queues runs there.
 *
 * Copyright (c) 2026 The virtio-vsock-user authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_VIRTIO_VSOCK_USER_BACKEND_H
#define HW_VIRTIO_VSOCK_USER_BACKEND_H

#include "qemu/queue.h"
#include "vsock-user-info.h"
#include "vsock-user-packet.h"

typedef struct VsockBackend VsockBackend;
typedef struct VsockBackends VsockBackends;

/*
 * How strongly a backend claims a guest packet; the strongest claim wins,
 * the first backend added among equal claims.  A connection the backend
 * has open beats a CID it carries, so that the guest's replies to a
 * connection the engine opened stay in QEMU even when a link carries the
 * parent CID.
 */
typedef enum VsockRoute {
    VSOCK_ROUTE_NONE,           /* not this backend's */
    VSOCK_ROUTE_DEFAULT,        /* the backend of last resort */
    VSOCK_ROUTE_CID,            /* the backend carries dst_cid */
    VSOCK_ROUTE_CONN,           /* one of the backend's open connections */
} VsockRoute;

typedef struct VsockBackendOps {
    /* How strongly @b claims the guest packet @h. */
    VsockRoute (*route)(VsockBackend *b, const VsockHdr *h);
    /*
     * Take the guest packet whose decoded header is @h and whose bytes
     * (header first) are @iov; @iov is the guest's memory and is not
     * kept after the call.
     */
    void (*tx)(VsockBackend *b, const VsockHdr *h, const struct iovec *iov,
               unsigned iov_cnt);
    /*
     * False while the backend could not take another guest packet without
     * dropping a reply it owes; the device stops popping the tx queue
     * until the backend wakes it.  Optional (always ready).
     */
    bool (*tx_ready)(VsockBackend *b);
    /* Has a packet for the guest. */
    bool (*rx_pending)(VsockBackend *b);
    /*
     * Write the next packet for the guest into the rx buffer @iov (device
     * writable, at least a header long, any split) and store its length
     * (header and payload) in *@len; false if there was nothing after all.
     */
    bool (*fill_rx)(VsockBackend *b, const struct iovec *iov,
                    unsigned iov_cnt, size_t *len);
    /* The guest's driver was reset, or its state replaced by loadvm. */
    void (*reset)(VsockBackend *b);
    /* Whether the driver took VIRTIO_VSOCK_F_SEQPACKET. */
    void (*set_seqpacket)(VsockBackend *b, bool on);
    /*
     * The earliest deadline of the backend (QEMU_CLOCK_VIRTUAL ns), or
     * INT64_MAX; run_timers() runs what is due.  Both optional.
     */
    int64_t (*deadline)(VsockBackend *b);
    void (*run_timers)(VsockBackend *b);
    /*
     * For introspection: call @fn for each connection of the guest the
     * backend knows (with @has_port, only those with @port at either
     * end).  @fn must not call into the backend.  Optional.
     */
    void (*foreach_conn)(VsockBackend *b, bool has_port, uint32_t port,
                         VsockConnInfoFn *fn, void *opaque);
} VsockBackendOps;

struct VsockBackend {
    const VsockBackendOps *ops;
    VsockBackends *set;         /* the device's, while added */
    QTAILQ_ENTRY(VsockBackend) next;
};

/* The backends of one device, served in turn. */
struct VsockBackends {
    QTAILQ_HEAD(, VsockBackend) list;
    VsockBackend *rx_next;      /* whose turn it is to fill an rx buffer */
    QEMUBH *wake;               /* the device's bottom half */
};

void vsock_backends_init(VsockBackends *set, QEMUBH *wake);
/* Add @b at the end (its claims lose ties to earlier backends). */
void vsock_backends_add(VsockBackends *set, VsockBackend *b);
void vsock_backends_del(VsockBackend *b);

/* Schedule the device's pass (nothing if @b belongs to no device). */
void vsock_backend_wake(VsockBackend *b);

/* The backend that claims @h most strongly, or NULL if none does. */
VsockBackend *vsock_backends_route(VsockBackends *set, const VsockHdr *h);
bool vsock_backends_tx_ready(VsockBackends *set);
bool vsock_backends_rx_pending(VsockBackends *set);
/* One rx buffer from the next backend in turn that has something. */
bool vsock_backends_fill_rx(VsockBackends *set, const struct iovec *iov,
                            unsigned iov_cnt, size_t *len);
void vsock_backends_reset(VsockBackends *set);
void vsock_backends_set_seqpacket(VsockBackends *set, bool on);
int64_t vsock_backends_deadline(VsockBackends *set);
void vsock_backends_run_timers(VsockBackends *set);
void vsock_backends_foreach_conn(VsockBackends *set, bool has_port,
                                 uint32_t port, VsockConnInfoFn *fn,
                                 void *opaque);

#define VSOCK_BACKENDS_FOREACH(b, set) QTAILQ_FOREACH(b, &(set)->list, next)

#endif
