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

#include "vsock-user-osdep.h"

/* ---------------------------------------------------------------------- */
/* Protocol constants                                                     */
/* ---------------------------------------------------------------------- */

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

typedef enum VsockType {
    VSOCK_TYPE_STREAM = 1,
    VSOCK_TYPE_SEQPACKET = 2,
} VsockType;

typedef enum VsockOp {
    VSOCK_OP_INVALID = 0,
    VSOCK_OP_REQUEST = 1,
    VSOCK_OP_RESPONSE = 2,
    VSOCK_OP_RST = 3,
    VSOCK_OP_SHUTDOWN = 4,
    VSOCK_OP_RW = 5,
    VSOCK_OP_CREDIT_UPDATE = 6,
    VSOCK_OP_CREDIT_REQUEST = 7,
} VsockOp;

/* SHUTDOWN flags (sticky) */
#define VSOCK_SHUTDOWN_RCV 1u
#define VSOCK_SHUTDOWN_SEND 2u
#define VSOCK_SHUTDOWN_BOTH (VSOCK_SHUTDOWN_RCV | VSOCK_SHUTDOWN_SEND)

/* SEQPACKET RW flags */
#define VSOCK_SEQ_EOM 1u
#define VSOCK_SEQ_EOR 2u

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
