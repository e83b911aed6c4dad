/*
 * virtio-vsock-user: the byte ring
 *
 * Guest data the endpoint has not taken yet, at most buf_alloc bytes per
 * connection.  Allocated on first use (most connections never need it,
 * since the endpoint takes the guest's data straight from the tx buffers)
 * and freed once empty.  A SEQPACKET connection keeps its message
 * boundaries beside it, in a queue of message lengths that grows as
 * needed and goes with the ring.
 *
 * Copyright (c) 2026 The virtio-vsock-user authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "vsock-user-engine-int.h"

void vsock_ring_free(VsockEngine *e, VsockRing *r)
{
    e->buffered -= r->len;
    g_free(r->buf);
    memset(r, 0, sizeof(*r));
}

void vsock_ring_append(VsockEngine *e, VsockRing *r, uint32_t cap,
                       const struct iovec *iov, unsigned cnt,
                       size_t offset, uint32_t len)
{
    uint32_t tail, first;

    if (!r->buf) {
        r->buf = g_malloc(cap);
        r->cap = cap;
        r->head = 0;
        r->len = 0;
    }
    /* the caller checked len + r->len <= cap */
    tail = (r->head + r->len) % r->cap;
    first = MIN(len, r->cap - tail);
    iov_to_buf(iov, cnt, offset, r->buf + tail, first);
    iov_to_buf(iov, cnt, offset + first, r->buf, len - first);
    r->len += len;
    e->buffered += len;
}

unsigned vsock_ring_peek_n(const VsockRing *r, struct iovec *iov,
                           uint32_t n)
{
    uint32_t first = MIN(n, r->cap - r->head);

    iov[0].iov_base = r->buf + r->head;
    iov[0].iov_len = first;
    if (first < n) {
        iov[1].iov_base = r->buf;
        iov[1].iov_len = n - first;
        return 2;
    }
    return 1;
}

unsigned vsock_ring_peek(const VsockRing *r, struct iovec *iov)
{
    return vsock_ring_peek_n(r, iov, r->len);
}

void vsock_ring_consume(VsockEngine *e, VsockRing *r, uint32_t n)
{
    r->head = (r->head + n) % r->cap;
    r->len -= n;
    e->buffered -= n;
}

void vsock_msgs_push(VsockMsgQueue *q, uint32_t m)
{
    if (q->n == q->cap) {
        uint32_t cap = q->cap ? q->cap * 2 : 8;
        uint32_t *msg = g_new(uint32_t, cap);
        uint32_t i;

        for (i = 0; i < q->n; i++) {
            msg[i] = q->msg[(q->head + i) % q->cap];
        }
        g_free(q->msg);
        q->msg = msg;
        q->cap = cap;
        q->head = 0;
    }
    q->msg[(q->head + q->n) % q->cap] = m;
    q->n++;
}

uint32_t vsock_msgs_head(const VsockMsgQueue *q)
{
    return q->msg[q->head];
}

void vsock_msgs_pop(VsockMsgQueue *q)
{
    q->head = (q->head + 1) % q->cap;
    if (!--q->n) {
        vsock_msgs_free(q); /* most of the time there is one at most */
    }
}

void vsock_msgs_free(VsockMsgQueue *q)
{
    g_free(q->msg);
    memset(q, 0, sizeof(*q));
}
