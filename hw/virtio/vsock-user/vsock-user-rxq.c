/*
 * virtio-vsock-user: the rx queues: who has something to say to the guest
 *
 * Passive: connections are put on the queue of what they owe (RST,
 * RESPONSE, REQUEST, data/SHUTDOWN, CREDIT_UPDATE) and taken off again;
 * RSTs for packets without a connection go into a bounded ring.  Nothing
 * here builds a packet or calls a connection: the engine asks when the
 * device offers an rx buffer (vsock-user-rx.c).
 *
 * Copyright (c) 2026 The virtio-vsock-user authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "vsock-user-engine-int.h"

void vsock_rxq_add(VsockConn *c, int q)
{
    VsockEngine *e = c->engine;

    if (c->in_rxq[q] || c->dead) {
        return;
    }
    c->in_rxq[q] = true;
    g_queue_push_tail_link(&e->rxq[q], &c->rxq_link[q]);
    if (!e->in_fill) {
        e->need_wakeup = true;
    }
}

void vsock_rxq_del(VsockConn *c, int q)
{
    if (c->in_rxq[q]) {
        g_queue_unlink(&c->engine->rxq[q], &c->rxq_link[q]);
        c->in_rxq[q] = false;
    }
}

/* Queue an RST answering @h, which has no connection. */
bool vsock_queue_rst(VsockEngine *e, const VsockHdr *h)
{
    VsockHdr *r;

    if (e->rst_len >= e->cfg.max_pending_rst) {
        return false;
    }
    r = &e->rst_ring[(e->rst_head + e->rst_len) % e->cfg.max_pending_rst];
    memset(r, 0, sizeof(*r));
    r->src_cid = h->dst_cid;
    r->dst_cid = h->src_cid;
    r->src_port = h->dst_port;
    r->dst_port = h->src_port;
    r->type = h->type;
    r->op = VIRTIO_VSOCK_OP_RST;
    e->rst_len++;
    if (!e->in_fill) {
        e->need_wakeup = true;
    }
    return true;
}
