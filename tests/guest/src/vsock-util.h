/*
 * Small helpers shared by the guest test programs.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef VSOCK_UTIL_H
#define VSOCK_UTIL_H

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <linux/vm_sockets.h>

/* Milliseconds on the monotonic clock, with sub-millisecond precision. */
static inline double vu_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}

/* Symbolic name of an errno value, e.g. "ECONNRESET". */
static inline const char *vu_errname(int err)
{
#define VU_E(x) case x: return #x
    switch (err) {
    VU_E(EPERM); VU_E(ENOENT); VU_E(EINTR); VU_E(EIO); VU_E(EBADF);
    VU_E(EAGAIN); VU_E(ENOMEM); VU_E(EACCES); VU_E(EFAULT); VU_E(ENODEV);
    VU_E(EINVAL); VU_E(EPIPE); VU_E(ENOSYS); VU_E(ENOTSOCK);
    VU_E(EMSGSIZE); VU_E(EPROTOTYPE); VU_E(EPROTONOSUPPORT);
    VU_E(ESOCKTNOSUPPORT); VU_E(EOPNOTSUPP); VU_E(EAFNOSUPPORT);
    VU_E(EADDRINUSE); VU_E(EADDRNOTAVAIL); VU_E(ENETDOWN);
    VU_E(ENETUNREACH); VU_E(ECONNABORTED); VU_E(ECONNRESET);
    VU_E(ENOBUFS); VU_E(EISCONN); VU_E(ENOTCONN); VU_E(ETIMEDOUT);
    VU_E(ECONNREFUSED); VU_E(EHOSTDOWN); VU_E(EHOSTUNREACH);
    VU_E(EALREADY); VU_E(EINPROGRESS);
    default:
        return "E?";
    }
#undef VU_E
}

/* Parse an unsigned decimal number; exit with status 64 on error. */
static inline unsigned long long vu_parse_num(const char *prog,
                                              const char *what,
                                              const char *s)
{
    unsigned long long v = 0;
    const char *p = s;

    do {
        if (*p < '0' || *p > '9' || v > (ULLONG_MAX - 9) / 10) {
            fprintf(stderr, "%s: invalid %s '%s'\n", prog, what, s);
            exit(64);
        }
        v = v * 10 + (*p - '0');
    } while (*++p);
    return v;
}

/* Fill in a vsock address. */
static inline void vu_addr(struct sockaddr_vm *sa, unsigned int cid,
                           unsigned int port)
{
    memset(sa, 0, sizeof(*sa));
    sa->svm_family = AF_VSOCK;
    sa->svm_cid = cid;
    sa->svm_port = port;
}

/* write() all of buf; returns 0 or -1 with errno set. */
static inline int vu_write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;

    while (len > 0) {
        ssize_t n = write(fd, p, len);

        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -1;
        }
        p += n;
        len -= n;
    }
    return 0;
}

#endif
