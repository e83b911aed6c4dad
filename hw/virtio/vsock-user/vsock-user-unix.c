/*
 * virtio-vsock-user: Unix sockets QEMU's helpers do not make
 *
 * QEMU's socket helpers make stream sockets only, and their connect()
 * blocks (hence a thread per connect in the async variant); SEQPACKET
 * host peers need a listener and a connect of their own, and a Unix
 * connect that fails rather than waits answers a guest's REQUEST without
 * a thread.  The listener is handed to a QIONetListener, so clients arrive
 * as QIOChannelSockets like any other.
 *
 * Copyright (c) 2026 The virtio-vsock-user authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include <sys/un.h>
#include "qapi/error.h"
#include "qemu/cutils.h"
#include "qemu/sockets.h"
#include "vsock-user-unix.h"

bool vsock_unix_has_seqpacket(void)
{
    int fd = qemu_socket(AF_UNIX, SOCK_SEQPACKET, 0);

    if (fd < 0) {
        return false;
    }
    close(fd);
    return true;
}

bool vsock_unix_path_fits(const char *path, Error **errp)
{
    struct sockaddr_un un;

    if (strlen(path) >= sizeof(un.sun_path)) {
        error_setg(errp, "Unix socket path '%s' is too long (at most %zu "
                   "bytes)", path, sizeof(un.sun_path) - 1);
        return false;
    }
    return true;
}

QIONetListener *vsock_unix_seqpacket_listen(const char *path,
                                            const char *name, Error **errp)
{
    struct sockaddr_un un = { .sun_family = AF_UNIX };
    QIOChannelSocket *sioc;
    QIONetListener *l;
    int fd;

    if (!vsock_unix_path_fits(path, errp)) {
        return NULL;
    }
    pstrcpy(un.sun_path, sizeof(un.sun_path), path);
    fd = qemu_socket(AF_UNIX, SOCK_SEQPACKET, 0);
    if (fd < 0) {
        error_setg_errno(errp, errno, "cannot create a SOCK_SEQPACKET "
                         "socket");
        return NULL;
    }
    /* like QEMU's own Unix listeners: a stale socket file is replaced */
    unlink(path);
    if (bind(fd, (struct sockaddr *)&un, sizeof(un)) < 0 ||
        listen(fd, SOMAXCONN) < 0) {
        error_setg_errno(errp, errno, "cannot listen on '%s'", path);
        close(fd);
        return NULL;
    }
    sioc = qio_channel_socket_new_fd(fd, errp);
    if (!sioc) {
        close(fd);
        unlink(path);
        return NULL;
    }
    l = qio_net_listener_new();
    qio_net_listener_set_name(l, name);
    qio_net_listener_add(l, sioc);
    object_unref(OBJECT(sioc));
    return l;
}

int vsock_unix_connect_now(const char *path, int type, Error **errp)
{
    struct sockaddr_un un = { .sun_family = AF_UNIX };
    int fd, ret;

    if (!vsock_unix_path_fits(path, errp)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    pstrcpy(un.sun_path, sizeof(un.sun_path), path);
    fd = qemu_socket(AF_UNIX, type, 0);
    if (fd < 0) {
        error_setg_errno(errp, errno, "cannot create a Unix socket");
        return -1;
    }
    /* never wait in the main loop: a full backlog fails with EAGAIN */
    if (!qemu_set_blocking(fd, false, errp)) {
        close(fd);
        errno = EINVAL;
        return -1;
    }
    do {
        ret = connect(fd, (struct sockaddr *)&un, sizeof(un));
    } while (ret < 0 && errno == EINTR);
    if (ret < 0) {
        int err = errno;

        error_setg_errno(errp, err, "cannot connect to '%s'", path);
        close(fd);
        errno = err;
        return -1;
    }
    return fd;
}
