/*
 * virtio-vsock-user: the Nitro Enclaves heartbeat endpoint
 *
 * Plays the parent's side of the enclave's "ready" heartbeat: listens on
 * (parent CID, 9000), accepts, reads the first byte, writes the same byte
 * back, then closes (SHUTDOWN after the echo; the guest's SHUTDOWN is
 * answered with RST at once).  Every connection is independent, so
 * heartbeats can repeat.
 *
 * Copyright (c) 2026 The virtio-vsock-user authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_VIRTIO_VSOCK_USER_HEARTBEAT_H
#define HW_VIRTIO_VSOCK_USER_HEARTBEAT_H

#include "vsock-user-endpoint.h"

#define VSOCK_HEARTBEAT_PORT 9000
#define VSOCK_HEARTBEAT_BYTE 0xb7

typedef struct VsockHeartbeat VsockHeartbeat;

/*
 * Listen on (@cid, @port) of @e.  Returns NULL if the address is taken.
 * The heartbeat must be freed before the engine.
 */
VsockHeartbeat *vsock_heartbeat_new(VsockEngine *e, uint64_t cid,
                                    uint32_t port);

/* Stop listening and close the heartbeat's open connections. */
void vsock_heartbeat_free(VsockHeartbeat *hb);

/* Number of bytes echoed so far (one per completed heartbeat). */
uint64_t vsock_heartbeat_get_count(const VsockHeartbeat *hb);

/* The last byte received, or -1 if none yet. */
int vsock_heartbeat_get_last_byte(const VsockHeartbeat *hb);

#endif
