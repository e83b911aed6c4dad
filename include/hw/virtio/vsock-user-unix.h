/*
 * virtio-vsock-user: Unix SOCK_SEQPACKET sockets
 *
 * Copyright (c) 2026 The virtio-vsock-user authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_VIRTIO_VSOCK_USER_UNIX_H
#define HW_VIRTIO_VSOCK_USER_UNIX_H

#include "io/net-listener.h"

/*
 * A SOCK_SEQPACKET listener on @path (replacing a stale socket file) for
 * QIONetListener clients, named @name.
 */
QIONetListener *vsock_unix_seqpacket_listen(const char *path,
                                            const char *name, Error **errp);

/*
 * A non-blocking SOCK_SEQPACKET connect to @path that succeeds at once or
 * fails (a full backlog is EAGAIN): the descriptor, or -1.
 */
int vsock_unix_seqpacket_connect(const char *path, Error **errp);

#endif
