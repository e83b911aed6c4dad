/*
 * vsock-connect: try one connect() and report how it ended.
 *
 * usage: vsock-connect [--type stream|seqpacket] CID PORT
 *
 * Prints one line "CONNECT cid=C port=P result=NAME elapsed_ms=T" where NAME
 * is OK or the errno name (ECONNRESET, ETIMEDOUT, ...).  Exit code 0 when
 * connected, 1 when connect() failed, 2 when socket() failed, 64 usage.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <unistd.h>
#include "vsock-util.h"

static const char *prog = "vsock-connect";

int main(int argc, char **argv)
{
    struct sockaddr_vm sa;
    unsigned int cid, port;
    int type = SOCK_STREAM;
    double t0, dt;
    int a = 1, fd, rc, err;

    if (a + 1 < argc && !strcmp(argv[a], "--type")) {
        if (!strcmp(argv[a + 1], "seqpacket")) {
            type = SOCK_SEQPACKET;
        } else if (strcmp(argv[a + 1], "stream")) {
            fprintf(stderr, "%s: unknown type '%s'\n", prog, argv[a + 1]);
            return 64;
        }
        a += 2;
    }
    if (argc - a != 2) {
        fprintf(stderr, "usage: %s [--type stream|seqpacket] CID PORT\n",
                prog);
        return 64;
    }
    cid = vu_parse_num(prog, "CID", argv[a]);
    port = vu_parse_num(prog, "port", argv[a + 1]);

    fd = socket(AF_VSOCK, type, 0);
    if (fd < 0) {
        err = errno;
        printf("CONNECT cid=%u port=%u result=%s elapsed_ms=0 socket: %s\n",
               cid, port, vu_errname(err), strerror(err));
        return 2;
    }
    vu_addr(&sa, cid, port);
    t0 = vu_now_ms();
    rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
    err = errno;
    dt = vu_now_ms() - t0;
    if (rc == 0) {
        printf("CONNECT cid=%u port=%u result=OK elapsed_ms=%.3f\n",
               cid, port, dt);
        close(fd);
        return 0;
    }
    printf("CONNECT cid=%u port=%u result=%s elapsed_ms=%.3f (%s)\n",
           cid, port, vu_errname(err), dt, strerror(err));
    close(fd);
    return 1;
}
