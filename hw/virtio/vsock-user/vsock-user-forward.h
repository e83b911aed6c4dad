/*
 * virtio-vsock-user: vsock-user-forward objects
 *
 * -object vsock-user-forward,id=ID,guest-port=P,connect=ADDR|listen=ADDR
 * forwards one guest port to or from a host socket address, through the
 * host endpoints of the device it attaches to.
 *
 * Copyright (c) 2026 The virtio-vsock-user authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_VIRTIO_VSOCK_USER_FORWARD_H
#define HW_VIRTIO_VSOCK_USER_FORWARD_H

#include "vsock-user-host.h"
#include "qom/object.h"

#define TYPE_VSOCK_USER_FORWARD "vsock-user-forward"
OBJECT_DECLARE_SIMPLE_TYPE(VsockUserForward, VSOCK_USER_FORWARD)

#endif
