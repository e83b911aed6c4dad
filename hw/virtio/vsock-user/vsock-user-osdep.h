/*
 * virtio-vsock-user: the QEMU helpers the engine uses, with or without QEMU
 *
 * Inside QEMU the engine uses util/iov.c and bswap.h.  The unit tests,
 * fuzzer and micro-benchmark build the engine without QEMU
 * (-DVSOCK_USER_STANDALONE); for them this header provides the same
 * functions with the same behaviour on top of libc and glib.
 *
 * Copyright (c) 2026 The virtio-vsock-user authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_VIRTIO_VSOCK_USER_OSDEP_H
#define HW_VIRTIO_VSOCK_USER_OSDEP_H

#ifndef VSOCK_USER_STANDALONE

#include "qemu/iov.h"
#include "qemu/bswap.h"

#else

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/uio.h>
#include <glib.h>

/* osdep.h, for standard-headers/ */
#define QEMU_PACKED __attribute__((packed))

/* util/iov.c */

static inline size_t iov_size(const struct iovec *iov,
                              const unsigned int iov_cnt)
{
    size_t len = 0;

    for (unsigned int i = 0; i < iov_cnt; i++) {
        len += iov[i].iov_len;
    }
    return len;
}

static inline size_t iov_from_buf(const struct iovec *iov,
                                  unsigned int iov_cnt, size_t offset,
                                  const void *buf, size_t bytes)
{
    size_t done = 0;

    for (unsigned int i = 0; (offset || done < bytes) && i < iov_cnt; i++) {
        if (offset < iov[i].iov_len) {
            size_t len = MIN(iov[i].iov_len - offset, bytes - done);

            memcpy((uint8_t *)iov[i].iov_base + offset,
                   (const uint8_t *)buf + done, len);
            done += len;
            offset = 0;
        } else {
            offset -= iov[i].iov_len;
        }
    }
    return done;
}

static inline size_t iov_to_buf(const struct iovec *iov,
                                const unsigned int iov_cnt, size_t offset,
                                void *buf, size_t bytes)
{
    size_t done = 0;

    for (unsigned int i = 0; (offset || done < bytes) && i < iov_cnt; i++) {
        if (offset < iov[i].iov_len) {
            size_t len = MIN(iov[i].iov_len - offset, bytes - done);

            memcpy((uint8_t *)buf + done,
                   (const uint8_t *)iov[i].iov_base + offset, len);
            done += len;
            offset = 0;
        } else {
            offset -= iov[i].iov_len;
        }
    }
    return done;
}

static inline unsigned iov_copy(struct iovec *dst_iov,
                                unsigned int dst_iov_cnt,
                                const struct iovec *iov,
                                unsigned int iov_cnt,
                                size_t offset, size_t bytes)
{
    unsigned int i, j;

    for (i = 0, j = 0;
         i < iov_cnt && j < dst_iov_cnt && (offset || bytes); i++) {
        size_t len;

        if (offset >= iov[i].iov_len) {
            offset -= iov[i].iov_len;
            continue;
        }
        len = MIN(bytes, iov[i].iov_len - offset);
        dst_iov[j].iov_base = (uint8_t *)iov[i].iov_base + offset;
        dst_iov[j].iov_len = len;
        j++;
        bytes -= len;
        offset = 0;
    }
    return j;
}

/* bswap.h: little-endian loads and stores at any alignment */

static inline int lduw_le_p(const void *ptr)
{
    uint16_t v;

    memcpy(&v, ptr, sizeof(v));
    return GUINT16_FROM_LE(v);
}

static inline int ldl_le_p(const void *ptr)
{
    uint32_t v;

    memcpy(&v, ptr, sizeof(v));
    return GUINT32_FROM_LE(v);
}

static inline uint64_t ldq_le_p(const void *ptr)
{
    uint64_t v;

    memcpy(&v, ptr, sizeof(v));
    return GUINT64_FROM_LE(v);
}

static inline void stw_le_p(void *ptr, uint16_t v)
{
    v = GUINT16_TO_LE(v);
    memcpy(ptr, &v, sizeof(v));
}

static inline void stl_le_p(void *ptr, uint32_t v)
{
    v = GUINT32_TO_LE(v);
    memcpy(ptr, &v, sizeof(v));
}

static inline void stq_le_p(void *ptr, uint64_t v)
{
    v = GUINT64_TO_LE(v);
    memcpy(ptr, &v, sizeof(v));
}

#endif /* VSOCK_USER_STANDALONE */

#endif
