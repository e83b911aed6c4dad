/*
 * virtio-vsock-user: the backends of one device, served in turn
 *
 * Copyright (c) 2026 The virtio-vsock-user authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/main-loop.h"
#include "vsock-user-backend.h"

void vsock_backends_init(VsockBackends *set, QEMUBH *wake)
{
    QTAILQ_INIT(&set->list);
    set->rx_next = NULL;
    set->wake = wake;
}

void vsock_backends_add(VsockBackends *set, VsockBackend *b)
{
    b->set = set;
    QTAILQ_INSERT_TAIL(&set->list, b, next);
    vsock_backend_wake(b);
}

void vsock_backends_del(VsockBackend *b)
{
    VsockBackends *set = b->set;

    if (!set) {
        return;
    }
    if (set->rx_next == b) {
        set->rx_next = QTAILQ_NEXT(b, next);
    }
    QTAILQ_REMOVE(&set->list, b, next);
    b->set = NULL;
}

void vsock_backend_wake(VsockBackend *b)
{
    if (b->set && b->set->wake) {
        qemu_bh_schedule(b->set->wake);
    }
}

VsockBackend *vsock_backends_route(VsockBackends *set, const VsockHdr *h)
{
    VsockBackend *b, *best = NULL;
    VsockRoute best_route = VSOCK_ROUTE_NONE;

    VSOCK_BACKENDS_FOREACH(b, set) {
        VsockRoute r = b->ops->route(b, h);

        if (r > best_route) {
            best = b;
            best_route = r;
        }
    }
    return best;
}

bool vsock_backends_tx_ready(VsockBackends *set)
{
    VsockBackend *b;

    VSOCK_BACKENDS_FOREACH(b, set) {
        if (b->ops->tx_ready && !b->ops->tx_ready(b)) {
            return false;
        }
    }
    return true;
}

bool vsock_backends_rx_pending(VsockBackends *set)
{
    VsockBackend *b;

    VSOCK_BACKENDS_FOREACH(b, set) {
        if (b->ops->rx_pending(b)) {
            return true;
        }
    }
    return false;
}

/*
 * Each rx buffer goes to the backend after the one that filled the last,
 * so that a busy backend cannot starve the others.
 */
bool vsock_backends_fill_rx(VsockBackends *set, const struct iovec *iov,
                            unsigned iov_cnt, size_t *len)
{
    VsockBackend *start = set->rx_next ?: QTAILQ_FIRST(&set->list);
    VsockBackend *b = start;

    while (b) {
        VsockBackend *after = QTAILQ_NEXT(b, next) ?: QTAILQ_FIRST(&set->list);

        if (b->ops->rx_pending(b) && b->ops->fill_rx(b, iov, iov_cnt, len)) {
            set->rx_next = after;
            return true;
        }
        b = after == start ? NULL : after;
    }
    return false;
}

void vsock_backends_reset(VsockBackends *set)
{
    VsockBackend *b;

    VSOCK_BACKENDS_FOREACH(b, set) {
        b->ops->reset(b);
    }
}

void vsock_backends_set_seqpacket(VsockBackends *set, bool on)
{
    VsockBackend *b;

    VSOCK_BACKENDS_FOREACH(b, set) {
        b->ops->set_seqpacket(b, on);
    }
}

int64_t vsock_backends_deadline(VsockBackends *set)
{
    int64_t deadline = INT64_MAX;
    VsockBackend *b;

    VSOCK_BACKENDS_FOREACH(b, set) {
        if (b->ops->deadline) {
            deadline = MIN(deadline, b->ops->deadline(b));
        }
    }
    return deadline;
}

void vsock_backends_run_timers(VsockBackends *set)
{
    VsockBackend *b;

    VSOCK_BACKENDS_FOREACH(b, set) {
        if (b->ops->run_timers) {
            b->ops->run_timers(b);
        }
    }
}

void vsock_backends_foreach_conn(VsockBackends *set, bool has_port,
                                 uint32_t port, VsockConnInfoFn *fn,
                                 void *opaque)
{
    VsockBackend *b;

    VSOCK_BACKENDS_FOREACH(b, set) {
        if (b->ops->foreach_conn) {
            b->ops->foreach_conn(b, has_port, port, fn, opaque);
        }
    }
}
