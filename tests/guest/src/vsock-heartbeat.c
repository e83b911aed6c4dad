/*
 * vsock-heartbeat: the Nitro Enclaves "enclave ready" handshake.
 *
 * Does what an enclave's init does before it runs anything else:
 * socket(AF_VSOCK, SOCK_STREAM), connect to the parent (CID 3, port 9000),
 * write the byte 0xB7, read one byte back that must be 0xB7, close().
 *
 * usage: vsock-heartbeat [--cid CID] [--port PORT] [--count N] [--quiet]
 *                        [--linger SECS] [--max-close-ms MS]
 *
 * --count repeats the handshake N times (a new socket each time) and prints
 * "HEARTBEAT OK count=N total_ms=T avg_ms=A max_ms=M max_close_ms=C".
 * --linger sets SO_LINGER so that close() blocks until the peer has answered
 * our SHUTDOWN with RST (or SECS pass); --max-close-ms fails the run when a
 * close() takes longer than MS, which catches a peer that never sends RST.
 *
 * Exit codes: 0 success, 1 socket(), 2 connect(), 3 write(), 4 read()
 * failed, 5 end of stream, 6 wrong byte, 7 close(), 8 close() too slow,
 * 64 usage.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <unistd.h>
#include "vsock-util.h"

#define HEARTBEAT_BYTE 0xB7

static const char *prog = "vsock-heartbeat";

static int fail(int rc, const char *what, int iter)
{
    int err = errno;

    fprintf(stderr, "%s: heartbeat %d: %s: %s (%s)\n", prog, iter, what,
            strerror(err), vu_errname(err));
    return rc;
}

static int linger_secs = -1;
static double close_ms;

/* One heartbeat; returns 0 or an exit code. */
static int heartbeat(unsigned int cid, unsigned int port, int iter)
{
    double t0;
    struct sockaddr_vm sa;
    unsigned char b = HEARTBEAT_BYTE;
    ssize_t n;
    int fd;

    fd = socket(AF_VSOCK, SOCK_STREAM, 0);
    if (fd < 0) {
        return fail(1, "socket", iter);
    }
    if (linger_secs >= 0) {
        struct linger l = { .l_onoff = 1, .l_linger = linger_secs };

        if (setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l)) < 0) {
            return fail(1, "setsockopt(SO_LINGER)", iter);
        }
    }
    vu_addr(&sa, cid, port);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        return fail(2, "connect", iter);
    }
    do {
        n = write(fd, &b, 1);
    } while (n < 0 && errno == EINTR);
    if (n != 1) {
        return fail(3, "write", iter);
    }
    b = 0;
    do {
        n = read(fd, &b, 1);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        return fail(4, "read", iter);
    }
    if (n == 0) {
        fprintf(stderr, "%s: heartbeat %d: read: end of stream\n", prog,
                iter);
        return 5;
    }
    if (b != HEARTBEAT_BYTE) {
        fprintf(stderr, "%s: heartbeat %d: got 0x%02x, expected 0x%02x\n",
                prog, iter, b, HEARTBEAT_BYTE);
        return 6;
    }
    t0 = vu_now_ms();
    if (close(fd) < 0) {
        return fail(7, "close", iter);
    }
    close_ms = vu_now_ms() - t0;
    return 0;
}

int main(int argc, char **argv)
{
    unsigned int cid = 3, port = 9000;
    unsigned long long count = 1;
    double start, t0, dt, max = 0, max_close = 0;
    double max_close_allowed = -1;
    int quiet = 0;
    unsigned long long i;
    int rc;

    for (int a = 1; a < argc; a++) {
        if (!strcmp(argv[a], "--cid") && a + 1 < argc) {
            cid = vu_parse_num(prog, "CID", argv[++a]);
        } else if (!strcmp(argv[a], "--port") && a + 1 < argc) {
            port = vu_parse_num(prog, "port", argv[++a]);
        } else if (!strcmp(argv[a], "--count") && a + 1 < argc) {
            count = vu_parse_num(prog, "count", argv[++a]);
        } else if (!strcmp(argv[a], "--linger") && a + 1 < argc) {
            linger_secs = vu_parse_num(prog, "linger", argv[++a]);
        } else if (!strcmp(argv[a], "--max-close-ms") && a + 1 < argc) {
            max_close_allowed = vu_parse_num(prog, "time", argv[++a]);
        } else if (!strcmp(argv[a], "--quiet")) {
            quiet = 1;
        } else {
            fprintf(stderr, "usage: %s [--cid CID] [--port PORT] "
                    "[--count N] [--quiet]\n"
                    "       [--linger SECS] [--max-close-ms MS]\n", prog);
            return 64;
        }
    }

    start = vu_now_ms();
    for (i = 0; i < count; i++) {
        t0 = vu_now_ms();
        rc = heartbeat(cid, port, (int)i);
        if (rc) {
            printf("HEARTBEAT FAIL after %llu ok, rc=%d\n", i, rc);
            return rc;
        }
        dt = vu_now_ms() - t0;
        if (dt > max) {
            max = dt;
        }
        if (close_ms > max_close) {
            max_close = close_ms;
        }
        if (max_close_allowed >= 0 && close_ms > max_close_allowed) {
            printf("HEARTBEAT FAIL heartbeat %llu: close() took %.1f ms "
                   "(limit %.0f ms): the peer did not answer SHUTDOWN "
                   "with RST\n", i, close_ms, max_close_allowed);
            return 8;
        }
        if (!quiet && count <= 10) {
            printf("heartbeat %llu ok in %.3f ms\n", i, dt);
        }
    }
    dt = vu_now_ms() - start;
    printf("HEARTBEAT OK count=%llu total_ms=%.1f avg_ms=%.3f max_ms=%.3f "
           "max_close_ms=%.3f\n", count, dt, count ? dt / count : 0.0, max,
           max_close);
    return 0;
}
