/*
 * virtio-vsock-user: the hybrid vsock CONNECT line
 *
 * A host client of a device's uds-path (Firecracker's hybrid vsock
 * convention) starts with "CONNECT <port>\n".  Parsing it is plain C with
 * glib, so the unit tests run it on its own.
 *
 * Copyright (c) 2026 The virtio-vsock-user authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_VIRTIO_VSOCK_USER_CONNECT_LINE_H
#define HW_VIRTIO_VSOCK_USER_CONNECT_LINE_H

/* Longest hybrid CONNECT line, newline included. */
#define VSOCK_CONNECT_LINE_MAX 32

/*
 * Parse one hybrid CONNECT line: @len bytes at @buf, ending with '\n'.
 * Accepted: optional blanks, "connect" in any case, one or more blanks,
 * a decimal port 0..4294967294, optional blanks, optional '\r', '\n'.
 * Returns true and stores the port, or false for anything else (empty,
 * junk, sign, out of range, non-ASCII, NUL, over-long, no newline).
 */
bool vsock_parse_connect_line(const char *buf, size_t len, uint32_t *port);

#endif
