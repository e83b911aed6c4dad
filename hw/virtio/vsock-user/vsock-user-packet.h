/*
 * virtio-vsock-user: the virtio socket wire format
 *
 * Protocol constants, the 44-byte packet header and its codec (virtio 1.3,
 * section 5.10.6), shared by the engine, the device and the endpoints.
 *
 * Copyright (c) 2026 The virtio-vsock-user authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_VIRTIO_VSOCK_USER_PACKET_H
#define HW_VIRTIO_VSOCK_USER_PACKET_H

#include "qemu/bswap.h"
#include "qemu/iov.h"
#include "standard-headers/linux/virtio_vsock.h"

/* ---------------------------------------------------------------------- */
/* Protocol constants                                                     */
/* ---------------------------------------------------------------------- */

/*
 * The wire format itself (header layout, types, ops, SHUTDOWN and RW
 * flags) comes from standard-headers/linux/virtio_vsock.h.  What follows
 * is what that header does not carry: the CIDs and the "any" port belong
 * to the socket API (linux/vm_sockets.h, which QEMU does not import), and
 * the rest are this implementation's own limits and conventions.
 */

/* sizeof(struct virtio_vsock_hdr), as a plain int for arithmetic */
#define VSOCK_HDR_SIZE 44

/* Largest payload the engine puts into one rx packet. */
#define VSOCK_MAX_PKT_PAYLOAD (64 * 1024)

/* CIDs: 0, 1, 2 and "any" are reserved; guests have the rest */
#define VSOCK_CID_HYPERVISOR 0
#define VSOCK_CID_LOCAL 1
#define VSOCK_CID_HOST 2
#define VSOCK_CID_FIRST_GUEST 3
#define VSOCK_CID_MAX_GUEST 0xfffffffeu
#define VSOCK_CID_ANY 0xffffffffu
/* A Nitro enclave reaches its parent instance at 3; the first is CID 16. */
#define VSOCK_CID_PARENT 3
#define VSOCK_CID_FIRST_ENCLAVE 16
#define VSOCK_PORT_ANY 0xffffffffu

/* A socket type (VIRTIO_VSOCK_TYPE_*), under QEMU's naming for types. */
typedef enum virtio_vsock_type VsockType;

/* Both SHUTDOWN flags: the peer will neither receive nor send. */
#define VSOCK_SHUTDOWN_BOTH \
    (VIRTIO_VSOCK_SHUTDOWN_RCV | VIRTIO_VSOCK_SHUTDOWN_SEND)

/* ---------------------------------------------------------------------- */
/* Packet codec                                                           */
/* ---------------------------------------------------------------------- */

/* The decoded header, host byte order. */
typedef struct VsockHdr {
    uint64_t src_cid;
    uint64_t dst_cid;
    uint32_t src_port;
    uint32_t dst_port;
    uint32_t len;
    uint16_t type;
    uint16_t op;
    uint32_t flags;
    uint32_t buf_alloc;
    uint32_t fwd_cnt;
} VsockHdr;

/* Encode @hdr into 44 little-endian bytes at @out. */
void vsock_hdr_encode(const VsockHdr *hdr, uint8_t *out);

/* Decode 44 little-endian bytes at @in into @hdr. */
void vsock_hdr_decode(VsockHdr *hdr, const uint8_t *in);

/*
 * Decode the header at the start of a scatter list (any split).
 * Returns false if the list holds fewer than 44 bytes.
 */
bool vsock_hdr_from_iov(VsockHdr *hdr, const struct iovec *iov,
                        unsigned iov_cnt);

/*
 * Encode the header at the start of a scatter list (any split).
 * Returns false (writing nothing) if the list holds fewer than 44 bytes.
 */
bool vsock_hdr_to_iov(const VsockHdr *hdr, const struct iovec *iov,
                      unsigned iov_cnt);

/* Human readable op name ("RW", ...); "?" for unknown values. */
const char *vsock_op_str(uint16_t op);

#endif
