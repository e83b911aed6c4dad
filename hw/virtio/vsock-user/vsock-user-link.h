/*
 * virtio-vsock-user: links between devices in different QEMU processes
 *
 * A vsock-user-link object carries the packets of a virtio-vsock-user
 * device's guest to and from another QEMU's device over a stream socket,
 * so that the two guests talk AF_VSOCK to each other.  Each link is one
 * of the device's backends (vsock-user-backend.h): it claims the guest
 * packets whose dst_cid it carries and fills rx buffers in its turn.
 *
 * Copyright (c) 2026 The virtio-vsock-user authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_VIRTIO_VSOCK_USER_LINK_H
#define HW_VIRTIO_VSOCK_USER_LINK_H

#include "hw/virtio/virtio-vsock-user.h"
#include "qom/object.h"

#define TYPE_VSOCK_USER_LINK "vsock-user-link"
OBJECT_DECLARE_SIMPLE_TYPE(VsockUserLink, VSOCK_USER_LINK)

/* The device a link is attached to, and what it takes from it. */
typedef struct VsockLinkOwner {
    VirtIOVsockUser *dev;
    uint64_t guest_cid;
    uint32_t max_conns;         /* connections tracked per link */
} VsockLinkOwner;

#endif
