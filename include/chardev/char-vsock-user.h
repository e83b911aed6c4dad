/*
 * vsock-user chardev: any chardev frontend on one vsock port of a
 * virtio-vsock-user device
 *
 * Copyright (c) 2026 The virtio-vsock-user authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef CHARDEV_CHAR_VSOCK_USER_H
#define CHARDEV_CHAR_VSOCK_USER_H

#include "chardev/char.h"
#include "hw/virtio/virtio-vsock-user.h"

#define TYPE_CHARDEV_VSOCK_USER "chardev-vsock-user"

/*
 * Frontend -> guest bytes the chardev holds while the guest has no
 * credit for them.  A frontend that waits for room (the monitor, serial
 * ports, virtio-serial) loses nothing; one that writes without waiting
 * (qemu_chr_fe_write_all()) has what does not fit dropped, so it never
 * holds QEMU's main loop.
 */
#define VSOCK_USER_CHR_OUT_MAX (16 * 1024)

/*
 * A listening (server=on) vsock-user chardev @id on @port of @dev, for
 * a device's own frontend (the heartbeat= property): attached to @dev at
 * once instead of looking a device up by id when the machine is ready.
 * Remove it with object_unparent().  NULL with @errp set if @id or the
 * port is taken.
 */
Chardev *vsock_user_chardev_new_for(VirtIOVsockUser *dev, const char *id,
                                    uint32_t port, Error **errp);

#endif
