/*
 * virtio-vsock-user: one epoll set for a device's host sockets
 *
 * Copyright (c) 2026 The virtio-vsock-user authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include <sys/epoll.h>
#include "qapi/error.h"
#include "qemu/main-loop.h"
#include "vsock-user-poll.h"
#include "trace.h"

/* Ready sockets handled per wakeup; more wait for the next one. */
#define VSOCK_POLL_BATCH 64

struct VsockPollFd {
    VsockPoll *p;
    int fd;
    VsockPollFn *in;
    VsockPollFn *out;
    void *opaque;
    uint32_t events;            /* what epoll watches for now */
    bool dead;
};

struct VsockPoll {
    int epfd;
    VsockPollFn *ready;
    void *opaque;
    unsigned depth;             /* inside vsock_poll_dispatch() */
    GSList *dead;               /* removed inside it, freed on the way out */
};

static void poll_ready(void *opaque)
{
    VsockPoll *p = opaque;

    p->ready(p->opaque);
}

unsigned vsock_poll_dispatch(VsockPoll *p)
{
    struct epoll_event ev[VSOCK_POLL_BATCH];
    int n;

    do {
        n = epoll_wait(p->epfd, ev, ARRAY_SIZE(ev), 0);
    } while (n < 0 && errno == EINTR);
    if (n <= 0) {
        return 0;
    }
    trace_vsock_user_poll_ready(n);
    p->depth++;
    for (int i = 0; i < n; i++) {
        VsockPollFd *pf = ev[i].data.ptr;
        uint32_t got = ev[i].events;

        /* an error or hangup wakes whichever side is watched */
        if (!pf->dead && (pf->events & EPOLLIN) &&
            (got & (EPOLLIN | EPOLLHUP | EPOLLERR))) {
            pf->in(pf->opaque);
        }
        if (!pf->dead && (pf->events & EPOLLOUT) &&
            (got & (EPOLLOUT | EPOLLHUP | EPOLLERR))) {
            pf->out(pf->opaque);
        }
    }
    if (--p->depth == 0) {
        g_slist_free_full(p->dead, g_free);
        p->dead = NULL;
    }
    return n;
}

VsockPoll *vsock_poll_new(VsockPollFn *ready, void *opaque, Error **errp)
{
    VsockPoll *p;
    int epfd = epoll_create1(EPOLL_CLOEXEC);

    if (epfd < 0) {
        error_setg_errno(errp, errno, "cannot create an epoll set for the "
                         "host sockets");
        return NULL;
    }
    p = g_new0(VsockPoll, 1);
    p->epfd = epfd;
    p->ready = ready;
    p->opaque = opaque;
    qemu_set_fd_handler(epfd, poll_ready, NULL, p);
    return p;
}

void vsock_poll_free(VsockPoll *p)
{
    if (!p) {
        return;
    }
    qemu_set_fd_handler(p->epfd, NULL, NULL, NULL);
    close(p->epfd);
    g_slist_free_full(p->dead, g_free);
    g_free(p);
}

VsockPollFd *vsock_poll_add(VsockPoll *p, int fd, VsockPollFn *in,
                            VsockPollFn *out, void *opaque)
{
    VsockPollFd *pf = g_new0(VsockPollFd, 1);

    pf->p = p;
    pf->fd = fd;
    pf->in = in;
    pf->out = out;
    pf->opaque = opaque;
    return pf;
}

bool vsock_poll_watch(VsockPollFd *pf, bool in, bool out)
{
    struct epoll_event ev = {
        .events = (in ? EPOLLIN : 0) | (out ? EPOLLOUT : 0),
        .data.ptr = pf,
    };
    int op;

    if (pf->dead || ev.events == pf->events) {
        return true;
    }
    /*
     * A socket watched for nothing leaves the set: epoll reports hangups
     * and errors whatever it watches for, which would wake us for ever.
     */
    op = !ev.events ? EPOLL_CTL_DEL :
         !pf->events ? EPOLL_CTL_ADD : EPOLL_CTL_MOD;
    if (epoll_ctl(pf->p->epfd, op, pf->fd, &ev) < 0) {
        /* out of epoll watches (fs.epoll.max_user_watches), say */
        trace_vsock_user_poll_error(pf->fd, op, strerror(errno));
        return false;
    }
    pf->events = ev.events;
    return true;
}

void vsock_poll_remove(VsockPollFd *pf)
{
    VsockPoll *p;

    if (!pf) {
        return;
    }
    p = pf->p;
    vsock_poll_watch(pf, false, false);
    pf->dead = true;
    if (p->depth) {
        p->dead = g_slist_prepend(p->dead, pf);
    } else {
        g_free(pf);
    }
}
