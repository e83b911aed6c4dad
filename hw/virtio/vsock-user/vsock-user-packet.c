/*
 * virtio-vsock-user: packet header codec
 *
 * Copyright (c) 2026 The virtio-vsock-user authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "vsock-user-packet.h"

QEMU_BUILD_BUG_ON(sizeof(struct virtio_vsock_hdr) != VSOCK_HDR_SIZE);

void vsock_hdr_encode(const VsockHdr *hdr, uint8_t *out)
{
    stq_le_p(out + 0, hdr->src_cid);
    stq_le_p(out + 8, hdr->dst_cid);
    stl_le_p(out + 16, hdr->src_port);
    stl_le_p(out + 20, hdr->dst_port);
    stl_le_p(out + 24, hdr->len);
    stw_le_p(out + 28, hdr->type);
    stw_le_p(out + 30, hdr->op);
    stl_le_p(out + 32, hdr->flags);
    stl_le_p(out + 36, hdr->buf_alloc);
    stl_le_p(out + 40, hdr->fwd_cnt);
}

void vsock_hdr_decode(VsockHdr *hdr, const uint8_t *in)
{
    hdr->src_cid = ldq_le_p(in + 0);
    hdr->dst_cid = ldq_le_p(in + 8);
    hdr->src_port = ldl_le_p(in + 16);
    hdr->dst_port = ldl_le_p(in + 20);
    hdr->len = ldl_le_p(in + 24);
    hdr->type = lduw_le_p(in + 28);
    hdr->op = lduw_le_p(in + 30);
    hdr->flags = ldl_le_p(in + 32);
    hdr->buf_alloc = ldl_le_p(in + 36);
    hdr->fwd_cnt = ldl_le_p(in + 40);
}

bool vsock_hdr_from_iov(VsockHdr *hdr, const struct iovec *iov,
                        unsigned iov_cnt)
{
    uint8_t raw[VSOCK_HDR_SIZE];

    if (iov_to_buf(iov, iov_cnt, 0, raw, sizeof(raw)) !=
        sizeof(raw)) {
        return false;
    }
    vsock_hdr_decode(hdr, raw);
    return true;
}

bool vsock_hdr_to_iov(const VsockHdr *hdr, const struct iovec *iov,
                      unsigned iov_cnt)
{
    uint8_t raw[VSOCK_HDR_SIZE];

    if (iov_size(iov, iov_cnt) < sizeof(raw)) {
        return false;
    }
    vsock_hdr_encode(hdr, raw);
    iov_from_buf(iov, iov_cnt, 0, raw, sizeof(raw));
    return true;
}

const char *vsock_op_str(uint16_t op)
{
    static const char *const names[] = {
        [VIRTIO_VSOCK_OP_INVALID] = "INVALID",
        [VIRTIO_VSOCK_OP_REQUEST] = "REQUEST",
        [VIRTIO_VSOCK_OP_RESPONSE] = "RESPONSE",
        [VIRTIO_VSOCK_OP_RST] = "RST",
        [VIRTIO_VSOCK_OP_SHUTDOWN] = "SHUTDOWN",
        [VIRTIO_VSOCK_OP_RW] = "RW",
        [VIRTIO_VSOCK_OP_CREDIT_UPDATE] = "CREDIT_UPDATE",
        [VIRTIO_VSOCK_OP_CREDIT_REQUEST] = "CREDIT_REQUEST",
    };

    if (op < G_N_ELEMENTS(names)) {
        return names[op];
    }
    return "?";
}
