/*
 * nitro-heartbeat: the parent's side of the Nitro Enclaves heartbeat
 *
 * Copyright (c) 2026 The virtio-vsock-user authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_NITRO_HEARTBEAT_H
#define HW_NITRO_HEARTBEAT_H

#include "chardev/char-fe.h"
#include "hw/qdev-core.h"
#include "qom/object.h"

#define TYPE_NITRO_HEARTBEAT "nitro-heartbeat"
OBJECT_DECLARE_SIMPLE_TYPE(NitroHeartbeatState, NITRO_HEARTBEAT)

/* The enclave's init connects to the parent (CID 3) on this port. */
#define NITRO_HEARTBEAT_PORT 9000
/* ...and sends this byte, which must come back. */
#define NITRO_HEARTBEAT_BYTE 0xb7

struct NitroHeartbeatState {
    DeviceState parent_obj;

    CharFrontend chr;
    bool own_chardev;   /* made here: the host vsock listener */
    bool done;          /* answered since the last reset */
};

#endif
