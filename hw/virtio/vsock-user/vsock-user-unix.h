/*
 * virtio-vsock-user: Unix sockets QEMU's helpers do not make
 * (SOCK_SEQPACKET listeners; connects that never wait)
 *
 * Copyright (c) 2026 The virtio-vsock-user authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_VIRTIO_VSOCK_USER_UNIX_H
#define HW_VIRTIO_VSOCK_USER_UNIX_H

#include "io/net-listener.h"

/*
 * QEMU ignores SIGPIPE on every POSIX host, so where MSG_NOSIGNAL is
 * missing nothing is lost without it; the sockets are non-blocking, so
 * the same holds for MSG_DONTWAIT.
 */
#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL 0
#endif
#ifndef MSG_DONTWAIT
#define MSG_DONTWAIT 0
#endif

/*
 * Whether this host makes Unix SOCK_SEQPACKET sockets (Linux and the
 * BSDs do, macOS does not).
 */
bool vsock_unix_has_seqpacket(void);

/*
 * Whether @path fits a sockaddr_un; otherwise an error naming it.
 * Addresses that are connected to only later (forwards, links) are
 * checked when they are given, so that a path that can never work is
 * refused at once instead of failing at every connection.
 */
bool vsock_unix_path_fits(const char *path, Error **errp);

/*
 * A SOCK_SEQPACKET listener on @path (replacing a stale socket file) for
 * QIONetListener clients, named @name.
 */
QIONetListener *vsock_unix_seqpacket_listen(const char *path,
                                            const char *name, Error **errp);

/*
 * A non-blocking connect of a Unix socket of @type (SOCK_STREAM or
 * SOCK_SEQPACKET) to @path, which succeeds or fails at once: a Unix
 * connect() never waits for the other end's accept(), only for room in
 * its backlog, and that is EAGAIN here.  The descriptor (non-blocking),
 * or -1 with errno and @errp set.
 */
int vsock_unix_connect_now(const char *path, int type, Error **errp);

#endif
