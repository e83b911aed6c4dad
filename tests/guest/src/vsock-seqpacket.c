/*
 * vsock-seqpacket: send and check SOCK_SEQPACKET messages, one connection.
 *
 * usage: vsock-seqpacket [OPTIONS] connect CID PORT STEP...
 *        vsock-seqpacket [OPTIONS] listen PORT STEP...
 *
 * listen binds PORT, prints "SEQ listening port=P" and accepts one
 * connection.  Then the STEPs run in order:
 *   send:SIZES   one send() per size, message i of size n being
 *                pattern(i, n): byte k = (131 k + 29 i + 7 n) mod 251
 *   recv:SIZES   one recvmsg() per size; each must return exactly message
 *                i of that size (length, content, no MSG_TRUNC).  A size
 *                with a suffix is received into a buffer of half its size
 *                (at least 1 byte), and the rest must be discarded:
 *                  Nt  plain recvmsg: returns N/2, MSG_TRUNC set
 *                  NT  recvmsg(MSG_TRUNC): returns N, MSG_TRUNC set
 *   eof          the next recv() returns 0 (no message more)
 *   sleep:MS     pause
 * SIZES is a comma-separated list; each step counts i from 0.
 * Options:
 *   --eor           send every message with MSG_EOR
 *   --expect-eor=0|1  every message received must (1) or must not (0)
 *                   carry MSG_EOR (default: not checked)
 *   --delay-ms=N    sleep N ms before each recvmsg (a slow receiver)
 *   --timeout=S     SO_RCVTIMEO / SO_SNDTIMEO and the accept bound (60)
 * Prints "SEQ recv i=I size=N ret=R flags=F" per message received,
 * "SEQPACKET send|recv port=P n=N bytes=B" after each step and
 * "SEQPACKET done port=P" at the end.  A failure prints "SEQ-FAIL ..."
 * and exits 1; 2 when the connection could not be made (the line then
 * says "SEQ-FAIL connect result=ERRNAME"); 64 is a usage error.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <poll.h>
#include <unistd.h>
#include <sys/time.h>
#include "vsock-util.h"

static const char *prog = "vsock-seqpacket";
static unsigned int port;
static int send_flags;
static int expect_eor = -1;
static unsigned long delay_ms;
static unsigned long timeout_s = 60;

static void fail(int code, const char *fmt, const char *what, int err)
{
    printf("SEQ-FAIL port=%u ", port);
    printf(fmt, what);
    if (err) {
        printf(" result=%s", vu_errname(err));
    }
    printf("\n");
    fflush(stdout);
    exit(code);
}

static unsigned char pattern(size_t i, size_t n, size_t k)
{
    return (131 * (k % 251) + 29 * (i % 251) + 7 * (n % 251)) % 251;
}

static void fill(unsigned char *buf, size_t i, size_t n, size_t len)
{
    size_t k;

    for (k = 0; k < len; k++) {
        buf[k] = pattern(i, n, k);
    }
}

/* Index of the first byte that differs from pattern(i, n), or len. */
static size_t check(const unsigned char *buf, size_t i, size_t n, size_t len)
{
    size_t k = 0;

    while (k < len && buf[k] == pattern(i, n, k)) {
        k++;
    }
    return k;
}

static void set_timeouts(int fd)
{
    struct timeval tv = { .tv_sec = timeout_s };

    if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0) {
        fail(1, "%s", "setsockopt", errno);
    }
}

static int open_connection(int argc, char **argv, int *used)
{
    struct sockaddr_vm sa;
    int fd, lfd;

    if (argc >= 3 && !strcmp(argv[0], "connect")) {
        unsigned int cid = vu_parse_num(prog, "CID", argv[1]);

        port = vu_parse_num(prog, "port", argv[2]);
        *used = 3;
        fd = socket(AF_VSOCK, SOCK_SEQPACKET, 0);
        if (fd < 0) {
            fail(2, "%s", "socket", errno);
        }
        set_timeouts(fd);
        vu_addr(&sa, cid, port);
        if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
            fail(2, "%s", "connect", errno);
        }
        return fd;
    }
    if (argc >= 2 && !strcmp(argv[0], "listen")) {
        struct pollfd pfd;

        port = vu_parse_num(prog, "port", argv[1]);
        *used = 2;
        lfd = socket(AF_VSOCK, SOCK_SEQPACKET, 0);
        if (lfd < 0) {
            fail(2, "%s", "socket", errno);
        }
        vu_addr(&sa, VMADDR_CID_ANY, port);
        if (bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
            listen(lfd, 4) < 0) {
            fail(2, "%s", "bind/listen", errno);
        }
        printf("SEQ listening port=%u\n", port);
        fflush(stdout);
        pfd.fd = lfd;
        pfd.events = POLLIN;
        if (poll(&pfd, 1, timeout_s * 1000) != 1) {
            fail(2, "%s", "accept timeout", 0);
        }
        fd = accept(lfd, NULL, NULL);
        if (fd < 0) {
            fail(2, "%s", "accept", errno);
        }
        close(lfd);
        set_timeouts(fd);
        return fd;
    }
    fprintf(stderr, "%s: expected 'connect CID PORT' or 'listen PORT'\n",
            prog);
    exit(64);
}

static void do_send(int fd, size_t i, size_t n)
{
    unsigned char *buf = malloc(n ? n : 1);
    ssize_t r;

    if (!buf) {
        fail(1, "%s", "malloc", ENOMEM);
    }
    fill(buf, i, n, n);
    do {
        r = send(fd, buf, n, send_flags);
    } while (r < 0 && errno == EINTR);
    if (r < 0) {
        char what[64];

        snprintf(what, sizeof(what), "send i=%zu size=%zu", i, n);
        fail(1, "%s", what, errno);
    }
    if ((size_t)r != n) {
        char what[80];

        snprintf(what, sizeof(what), "send i=%zu size=%zu returned %zd",
                 i, n, r);
        fail(1, "%s", what, 0);
    }
    free(buf);
}

static void do_recv(int fd, size_t i, size_t n, char mode)
{
    size_t want = mode ? (n / 2 ? n / 2 : 1) : n;
    size_t cap = mode ? want : n + 4096;   /* room to see a longer one */
    unsigned char *buf = malloc(cap);
    struct iovec iov = { .iov_base = buf, .iov_len = cap };
    struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
    size_t expect_ret = mode == 'T' ? n : want;
    int trunc = mode != 0 && want < n;
    char what[200];
    ssize_t r;
    size_t bad;

    if (!buf) {
        fail(1, "%s", "malloc", ENOMEM);
    }
    if (delay_ms) {
        usleep(delay_ms * 1000);
    }
    do {
        r = recvmsg(fd, &msg, mode == 'T' ? MSG_TRUNC : 0);
    } while (r < 0 && errno == EINTR);
    if (r < 0) {
        snprintf(what, sizeof(what), "recv i=%zu size=%zu", i, n);
        fail(1, "%s", what, errno);
    }
    printf("SEQ recv i=%zu size=%zu ret=%zd flags=%s%s\n", i, n, r,
           msg.msg_flags & MSG_TRUNC ? "TRUNC," : "",
           msg.msg_flags & MSG_EOR ? "EOR" : "");
    if ((size_t)r != expect_ret) {
        snprintf(what, sizeof(what), "recv i=%zu size=%zu%.1s: returned %zd, "
                 "expected %zu", i, n, &mode, r, expect_ret);
        fail(1, "%s", what, 0);
    }
    if (!!(msg.msg_flags & MSG_TRUNC) != trunc) {
        snprintf(what, sizeof(what), "recv i=%zu size=%zu: MSG_TRUNC %s",
                 i, n, trunc ? "missing" : "set");
        fail(1, "%s", what, 0);
    }
    if (expect_eor >= 0 && !!(msg.msg_flags & MSG_EOR) != expect_eor) {
        snprintf(what, sizeof(what), "recv i=%zu size=%zu: MSG_EOR %s",
                 i, n, expect_eor ? "missing" : "set");
        fail(1, "%s", what, 0);
    }
    bad = check(buf, i, n, want);
    if (bad != want) {
        snprintf(what, sizeof(what), "recv i=%zu size=%zu: byte %zu is %u, "
                 "expected %u", i, n, bad, buf[bad], pattern(i, n, bad));
        fail(1, "%s", what, 0);
    }
    free(buf);
}

static void do_eof(int fd)
{
    unsigned char c[64];
    ssize_t r;

    do {
        r = recv(fd, c, sizeof(c), 0);
    } while (r < 0 && errno == EINTR);
    if (r != 0) {
        char what[64];

        snprintf(what, sizeof(what), "eof: recv returned %zd", r);
        fail(1, "%s", what, r < 0 ? errno : 0);
    }
    printf("SEQPACKET eof port=%u\n", port);
}

static void run_list(int fd, int sending, char *list)
{
    size_t i = 0, bytes = 0;
    char *tok, *save = NULL;

    for (tok = strtok_r(list, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save), i++) {
        size_t len = strlen(tok), n;
        char mode = 0;

        if (len && (tok[len - 1] == 't' || tok[len - 1] == 'T')) {
            mode = tok[len - 1];
            tok[len - 1] = 0;
            if (sending) {
                fprintf(stderr, "%s: suffix %c only for recv\n", prog, mode);
                exit(64);
            }
        }
        n = vu_parse_num(prog, "size", tok);
        if (sending) {
            do_send(fd, i, n);
        } else {
            do_recv(fd, i, n, mode);
        }
        bytes += n;
    }
    printf("SEQPACKET %s port=%u n=%zu bytes=%zu\n",
           sending ? "send" : "recv", port, i, bytes);
    fflush(stdout);
}

int main(int argc, char **argv)
{
    int a = 1, used, fd;

    for (; a < argc && !strncmp(argv[a], "--", 2); a++) {
        if (!strcmp(argv[a], "--eor")) {
            send_flags |= MSG_EOR;
        } else if (!strncmp(argv[a], "--expect-eor=", 13)) {
            expect_eor = vu_parse_num(prog, "--expect-eor", argv[a] + 13);
        } else if (!strncmp(argv[a], "--delay-ms=", 11)) {
            delay_ms = vu_parse_num(prog, "--delay-ms", argv[a] + 11);
        } else if (!strncmp(argv[a], "--timeout=", 10)) {
            timeout_s = vu_parse_num(prog, "--timeout", argv[a] + 10);
        } else {
            fprintf(stderr, "%s: unknown option '%s'\n", prog, argv[a]);
            return 64;
        }
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    fd = open_connection(argc - a, argv + a, &used);
    for (a += used; a < argc; a++) {
        if (!strncmp(argv[a], "send:", 5)) {
            run_list(fd, 1, argv[a] + 5);
        } else if (!strncmp(argv[a], "recv:", 5)) {
            run_list(fd, 0, argv[a] + 5);
        } else if (!strcmp(argv[a], "eof")) {
            do_eof(fd);
        } else if (!strncmp(argv[a], "sleep:", 6)) {
            usleep(vu_parse_num(prog, "sleep", argv[a] + 6) * 1000);
        } else {
            fprintf(stderr, "%s: unknown step '%s'\n", prog, argv[a]);
            return 64;
        }
    }
    close(fd);
    printf("SEQPACKET done port=%u\n", port);
    return 0;
}
