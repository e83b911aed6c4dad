/*
 * virtio-vsock-user: packet header codec and scatter list helpers
 *
 * Copyright (c) 2026 The virtio-vsock-user authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifdef VSOCK_USER_STANDALONE
#include <string.h>
#else
#include "qemu/osdep.h"
#endif
#include "hw/virtio/vsock-user-packet.h"

static void put_le16(uint8_t *p, uint16_t v)
{
    p[0] = v;
    p[1] = v >> 8;
}

static void put_le32(uint8_t *p, uint32_t v)
{
    put_le16(p, v);
    put_le16(p + 2, v >> 16);
}

static void put_le64(uint8_t *p, uint64_t v)
{
    put_le32(p, v);
    put_le32(p + 4, v >> 32);
}

static uint16_t get_le16(const uint8_t *p)
{
    return p[0] | (uint16_t)p[1] << 8;
}

static uint32_t get_le32(const uint8_t *p)
{
    return get_le16(p) | (uint32_t)get_le16(p + 2) << 16;
}

static uint64_t get_le64(const uint8_t *p)
{
    return get_le32(p) | (uint64_t)get_le32(p + 4) << 32;
}

void vsock_hdr_encode(const VsockHdr *hdr, uint8_t *out)
{
    put_le64(out + 0, hdr->src_cid);
    put_le64(out + 8, hdr->dst_cid);
    put_le32(out + 16, hdr->src_port);
    put_le32(out + 20, hdr->dst_port);
    put_le32(out + 24, hdr->len);
    put_le16(out + 28, hdr->type);
    put_le16(out + 30, hdr->op);
    put_le32(out + 32, hdr->flags);
    put_le32(out + 36, hdr->buf_alloc);
    put_le32(out + 40, hdr->fwd_cnt);
}

void vsock_hdr_decode(VsockHdr *hdr, const uint8_t *in)
{
    hdr->src_cid = get_le64(in + 0);
    hdr->dst_cid = get_le64(in + 8);
    hdr->src_port = get_le32(in + 16);
    hdr->dst_port = get_le32(in + 20);
    hdr->len = get_le32(in + 24);
    hdr->type = get_le16(in + 28);
    hdr->op = get_le16(in + 30);
    hdr->flags = get_le32(in + 32);
    hdr->buf_alloc = get_le32(in + 36);
    hdr->fwd_cnt = get_le32(in + 40);
}

bool vsock_hdr_from_iov(VsockHdr *hdr, const struct iovec *iov,
                        unsigned iov_cnt)
{
    uint8_t raw[VSOCK_HDR_SIZE];

    if (vsock_iov_to_buf(iov, iov_cnt, 0, raw, sizeof(raw)) !=
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

    if (vsock_iov_size(iov, iov_cnt) < sizeof(raw)) {
        return false;
    }
    vsock_hdr_encode(hdr, raw);
    vsock_iov_from_buf(iov, iov_cnt, 0, raw, sizeof(raw));
    return true;
}

const char *vsock_op_str(uint16_t op)
{
    static const char *const names[] = {
        [VSOCK_OP_INVALID] = "INVALID",
        [VSOCK_OP_REQUEST] = "REQUEST",
        [VSOCK_OP_RESPONSE] = "RESPONSE",
        [VSOCK_OP_RST] = "RST",
        [VSOCK_OP_SHUTDOWN] = "SHUTDOWN",
        [VSOCK_OP_RW] = "RW",
        [VSOCK_OP_CREDIT_UPDATE] = "CREDIT_UPDATE",
        [VSOCK_OP_CREDIT_REQUEST] = "CREDIT_REQUEST",
    };

    if (op < G_N_ELEMENTS(names)) {
        return names[op];
    }
    return "?";
}

size_t vsock_iov_size(const struct iovec *iov, unsigned iov_cnt)
{
    size_t total = 0;
    unsigned i;

    for (i = 0; i < iov_cnt; i++) {
        total += iov[i].iov_len;
    }
    return total;
}

/* Walk @bytes of the list from @offset; copy in direction @to_iov. */
static size_t iov_copy(const struct iovec *iov, unsigned iov_cnt,
                       size_t offset, uint8_t *buf, size_t bytes,
                       bool to_iov)
{
    size_t done = 0;
    unsigned i;

    for (i = 0; i < iov_cnt && done < bytes; i++) {
        size_t n;

        if (offset >= iov[i].iov_len) {
            offset -= iov[i].iov_len;
            continue;
        }
        n = MIN(iov[i].iov_len - offset, bytes - done);
        if (to_iov) {
            memcpy((uint8_t *)iov[i].iov_base + offset, buf + done, n);
        } else {
            memcpy(buf + done, (uint8_t *)iov[i].iov_base + offset, n);
        }
        done += n;
        offset = 0;
    }
    return done;
}

size_t vsock_iov_to_buf(const struct iovec *iov, unsigned iov_cnt,
                        size_t offset, void *buf, size_t bytes)
{
    return iov_copy(iov, iov_cnt, offset, buf, bytes, false);
}

size_t vsock_iov_from_buf(const struct iovec *iov, unsigned iov_cnt,
                          size_t offset, const void *buf, size_t bytes)
{
    return iov_copy(iov, iov_cnt, offset, (uint8_t *)buf, bytes, true);
}

unsigned vsock_iov_slice(const struct iovec *src, unsigned src_cnt,
                         size_t offset, size_t bytes,
                         struct iovec *dst, unsigned dst_max,
                         size_t *covered)
{
    size_t done = 0;
    unsigned i, n = 0;

    for (i = 0; i < src_cnt && done < bytes && n < dst_max; i++) {
        size_t len;

        if (offset >= src[i].iov_len) {
            offset -= src[i].iov_len;
            continue;
        }
        len = MIN(src[i].iov_len - offset, bytes - done);
        dst[n].iov_base = (uint8_t *)src[i].iov_base + offset;
        dst[n].iov_len = len;
        n++;
        done += len;
        offset = 0;
    }
    if (covered) {
        *covered = done;
    }
    return n;
}
