/*
 * virtio-vsock-user: one epoll set for a device's host sockets
 *
 * Every bridged host socket registered with the main loop on its own makes
 * each main-loop iteration cost as much as the number of connections
 * (ppoll() walks them all): with 10,000 idle connections a ping-pong was
 * 57x slower.  The host sockets of a device share one epoll set instead,
 * and the main loop sees only its descriptor.  The device owns the set:
 * when sockets are ready the main loop calls the device, which runs their
 * handlers (vsock_poll_dispatch()) and then flushes once for the batch,
 * not once per socket.  Endpoints only add, watch and remove sockets.
 *
 * Copyright (c) 2026 The virtio-vsock-user authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_VIRTIO_VSOCK_USER_POLL_H
#define HW_VIRTIO_VSOCK_USER_POLL_H

typedef struct VsockPoll VsockPoll;
typedef struct VsockPollFd VsockPollFd;
typedef void VsockPollFn(void *opaque);

/*
 * The main loop calls @ready(@opaque) while sockets in the set are ready;
 * it must call vsock_poll_dispatch().
 */
VsockPoll *vsock_poll_new(VsockPollFn *ready, void *opaque, Error **errp);
/* Every VsockPollFd must have been removed. */
void vsock_poll_free(VsockPoll *p);
/*
 * Run the handlers of one batch of ready sockets; returns how many were
 * ready (0: none, no handler ran).
 */
unsigned vsock_poll_dispatch(VsockPoll *p);

/* Watch @fd for nothing yet; @in and @out run when it is ready. */
VsockPollFd *vsock_poll_add(VsockPoll *p, int fd, VsockPollFn *in,
                            VsockPollFn *out, void *opaque);
/*
 * What to watch @pf for now (level-triggered, like qemu_set_fd_handler).
 * False if the kernel refused (out of epoll watches): the socket is not
 * watched for what was asked.
 */
bool vsock_poll_watch(VsockPollFd *pf, bool in, bool out);
/*
 * Stop watching and forget @pf (before its descriptor is closed).  Safe
 * from inside a handler, also for another VsockPollFd of the same batch.
 */
void vsock_poll_remove(VsockPollFd *pf);

#endif
