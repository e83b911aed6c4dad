/*
 * virtio-vsock-user: timers
 *
 * One queue per timeout kind (connect, accept, shutdown); each queue has
 * a fixed timeout, so appending keeps it sorted and the next deadline is
 * the earliest of the three heads.  A connection is in at most one.
 * Passive: the engine runs what is due (vsock_engine_run_timers()).
 *
 * Copyright (c) 2026 The virtio-vsock-user authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "vsock-user-engine-int.h"

int64_t vsock_engine_now(VsockEngine *e)
{
    if (e->ops.clock) {
        return e->ops.clock(e->cfg.opaque);
    }
    return g_get_monotonic_time() * 1000;
}

void vsock_timer_stop(VsockConn *c)
{
    if (c->timer >= 0) {
        g_queue_unlink(&c->engine->timers[c->timer], &c->timer_link);
        c->timer = -1;
    }
}

/* Each timer queue has one fixed timeout, so appending keeps it sorted. */
void vsock_timer_start(VsockConn *c, int tq, int64_t timeout)
{
    VsockEngine *e = c->engine;

    vsock_timer_stop(c);
    c->timer = tq;
    c->deadline = vsock_engine_now(e) + timeout;
    g_queue_push_tail_link(&e->timers[tq], &c->timer_link);
    e->need_wakeup = true;
}
