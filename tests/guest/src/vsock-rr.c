/*
 * vsock-rr: request/response, many-connection, hold and kill patterns for
 * the host endpoint tests
 * (tests/functional/x86_64/test_vsock_user_host_streams.py).
 *
 * usage: vsock-rr client CID PORT ROUNDS SIZE BIG
 *        vsock-rr server PORT ROUNDS SIZE BIG
 *        vsock-rr many-client CID PORT N
 *        vsock-rr many-server PORT N
 *        vsock-rr hold-send CID PORT
 *        vsock-rr suicide-send CID PORT BYTES
 *        vsock-rr suicide-recv PORT BYTES
 *        vsock-rr hold-client CID PORT N
 *        vsock-rr hold-server PORT N
 *        vsock-rr control CID PORT
 *
 * Messages (the host side builds the same ones):
 *   request(tag, i, size) = "req TAG I " then the letters
 *     'a' + (i + k) % 26 for k = 0, 1, ... up to size - 1 bytes, then "\n"
 *   reply = "ok " + request
 * client/server: ROUNDS connections one after another; in each the client
 * sends request(PORT, i, size), shutdown(SHUT_WR), the server reads it to
 * EOF and answers with the reply, the client reads the reply to EOF.  size
 * is BIG for every tenth round when BIG is not 0, else SIZE.  Prints
 *   RR client|server port=P rounds=N max_ms=X avg_ms=Y
 * many-client/many-server: N connections open at once, each carrying
 * request(j, 0, 64) and its reply (j = connection index of the client).
 * Prints "MANY open|accepted port=P n=N" once all are open, then
 * "MANY client|server port=P ok=N ms=T".
 * hold-send: writes until a write fails; prints
 *   KILL port=P result=ERRNAME bytes=N stall_ms=T read=EOF|ERRNAME
 * (stall_ms: from the end of the last successful write to the failure).
 * suicide-send/suicide-recv: move BYTES, print "SUICIDE mode=M bytes=N",
 * then kill the process with SIGKILL, sockets still open.
 * hold-client/hold-server: open N connections, exchange "hello\n" on each,
 * print "HOLD port=P n=N" and sleep for ever with them open.
 * control: connects, then runs every line the peer sends with system()
 * and answers "rc=N\n"; prints "CTL run: LINE" for each, "CTL EOF" at the
 * end, or "CTL connect result=ERRNAME" (exit 1) when it cannot connect.
 * Failures print "RR-FAIL ..." and exit 1; 64 is a usage error.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include "vsock-util.h"

static const char *prog = "vsock-rr";

#define MANY_SIZE 64

static void fail(const char *what, int err)
{
    printf("RR-FAIL %s: %s\n", what, err ? vu_errname(err) : "mismatch");
    fflush(stdout);
    exit(1);
}

/* request(tag, i, size) into a new buffer; *len gets its length. */
static char *make_request(unsigned int tag, unsigned int i, size_t size,
                          size_t *len)
{
    char head[64];
    size_t hl = snprintf(head, sizeof(head), "req %u %u ", tag, i);
    size_t n = size > hl + 1 ? size : hl + 1;
    char *buf = malloc(n + 3);
    size_t k;

    if (!buf) {
        fail("malloc", ENOMEM);
    }
    /* leave room for the "ok " of the reply in front */
    memcpy(buf + 3, head, hl);
    for (k = 0; hl + k < n - 1; k++) {
        buf[3 + hl + k] = 'a' + (i + k) % 26;
    }
    buf[3 + n - 1] = '\n';
    memcpy(buf, "ok ", 3);
    *len = n;
    return buf;
}

static int vsock_socket(void)
{
    int fd = socket(AF_VSOCK, SOCK_STREAM, 0);

    if (fd < 0) {
        fail("socket", errno);
    }
    return fd;
}

static int connect_to(unsigned int cid, unsigned int port)
{
    struct sockaddr_vm sa;
    int fd = vsock_socket();

    vu_addr(&sa, cid, port);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        fail("connect", errno);
    }
    return fd;
}

static int listen_on(unsigned int port, int backlog)
{
    struct sockaddr_vm sa;
    int fd = vsock_socket();

    vu_addr(&sa, VMADDR_CID_ANY, port);
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        listen(fd, backlog) < 0) {
        fail("bind/listen", errno);
    }
    return fd;
}

static int accept_one(int lfd)
{
    int fd;

    do {
        fd = accept(lfd, NULL, NULL);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0) {
        fail("accept", errno);
    }
    return fd;
}

/* Read to EOF into buf (at most max bytes; more is a failure). */
static size_t read_to_eof(int fd, char *buf, size_t max, const char *what)
{
    size_t got = 0;
    char extra;

    for (;;) {
        ssize_t n = read(fd, got < max ? buf + got : &extra,
                         got < max ? max - got : 1);

        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            fail(what, errno);
        }
        if (n == 0) {
            return got;
        }
        if (got >= max) {
            printf("RR-FAIL %s: more than %zu bytes\n", what, max);
            exit(1);
        }
        got += n;
    }
}

static void write_or_fail(int fd, const void *buf, size_t len,
                          const char *what)
{
    if (vu_write_all(fd, buf, len) < 0) {
        fail(what, errno);
    }
}

static size_t round_size(unsigned int i, size_t size, size_t big)
{
    return big && i % 10 == 9 ? big : size;
}

static int do_rr(int server, unsigned int cid, unsigned int port,
                 unsigned int rounds, size_t size, size_t big)
{
    double max = 0, total = 0;
    int lfd = -1;
    unsigned int i;

    if (server) {
        lfd = listen_on(port, 16);
        printf("RR listening port=%u\n", port);
        fflush(stdout);
    }
    for (i = 0; i < rounds; i++) {
        size_t len, got;
        char *req = make_request(port, i, round_size(i, size, big), &len);
        char *in = malloc(len + 4);
        double t0, dt;
        int fd;

        if (!in) {
            fail("malloc", ENOMEM);
        }
        if (server) {
            fd = accept_one(lfd);
            t0 = vu_now_ms();
            got = read_to_eof(fd, in, len + 1, "server read");
            if (got != len || memcmp(in, req + 3, len)) {
                printf("RR-FAIL round %u: request of %zu bytes, expected "
                       "%zu\n", i, got, len);
                return 1;
            }
            write_or_fail(fd, req, len + 3, "server write");
        } else {
            t0 = vu_now_ms();
            fd = connect_to(cid, port);
            write_or_fail(fd, req + 3, len, "client write");
            if (shutdown(fd, SHUT_WR) < 0) {
                fail("shutdown", errno);
            }
            got = read_to_eof(fd, in, len + 4, "client read");
            if (got != len + 3 || memcmp(in, req, len + 3)) {
                printf("RR-FAIL round %u: reply of %zu bytes, expected "
                       "%zu\n", i, got, len + 3);
                return 1;
            }
        }
        close(fd);
        dt = vu_now_ms() - t0;
        total += dt;
        if (dt > max) {
            max = dt;
        }
        free(req);
        free(in);
    }
    printf("RR %s port=%u rounds=%u max_ms=%.3f avg_ms=%.3f\n",
           server ? "server" : "client", port, rounds, max,
           rounds ? total / rounds : 0.0);
    return 0;
}

static int do_many(int server, unsigned int cid, unsigned int port,
                   unsigned int n)
{
    int *fds = calloc(n, sizeof(int));
    char *seen = calloc(n, 1);
    double t0 = vu_now_ms();
    int lfd = -1;
    unsigned int j;

    if (!fds || !seen) {
        fail("malloc", ENOMEM);
    }
    if (server) {
        lfd = listen_on(port, n);
        printf("MANY listening port=%u\n", port);
        fflush(stdout);
    }
    for (j = 0; j < n; j++) {
        fds[j] = server ? accept_one(lfd) : connect_to(cid, port);
    }
    printf("MANY %s port=%u n=%u\n", server ? "accepted" : "open", port, n);
    fflush(stdout);
    if (!server) {
        for (j = 0; j < n; j++) {
            size_t len;
            char *req = make_request(j, 0, MANY_SIZE, &len);

            write_or_fail(fds[j], req + 3, len, "many write");
            if (shutdown(fds[j], SHUT_WR) < 0) {
                fail("shutdown", errno);
            }
            free(req);
        }
    }
    for (j = 0; j < n; j++) {
        char in[MANY_SIZE + 8];
        size_t len, got;
        unsigned int tag = j, i;
        char *req;

        got = read_to_eof(fds[j], in, sizeof(in) - 1, "many read");
        in[got] = 0;
        if (server) {
            if (sscanf(in, "req %u %u ", &tag, &i) != 2 || tag >= n ||
                seen[tag]) {
                printf("RR-FAIL connection %u: bad request '%.20s'\n", j,
                       in);
                return 1;
            }
            seen[tag] = 1;
        }
        req = make_request(tag, 0, MANY_SIZE, &len);
        if (server) {
            if (got != len || memcmp(in, req + 3, len)) {
                printf("RR-FAIL connection %u: request mismatch\n", j);
                return 1;
            }
            write_or_fail(fds[j], req, len + 3, "many reply");
        } else if (got != len + 3 || memcmp(in, req, len + 3)) {
            printf("RR-FAIL connection %u: reply of %zu bytes '%.20s'\n", j,
                   got, in);
            return 1;
        }
        free(req);
        close(fds[j]);
    }
    printf("MANY %s port=%u ok=%u ms=%.1f\n", server ? "server" : "client",
           port, n, vu_now_ms() - t0);
    return 0;
}

static int do_hold_send(unsigned int cid, unsigned int port)
{
    static char buf[65536];
    unsigned long long bytes = 0;
    double last;
    int fd = connect_to(cid, port);
    int err;
    ssize_t n;

    memset(buf, 'k', sizeof(buf));
    printf("KILL connected port=%u\n", port);
    fflush(stdout);
    last = vu_now_ms();
    for (;;) {
        n = send(fd, buf, sizeof(buf), MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            break;
        }
        bytes += n;
        last = vu_now_ms();
    }
    err = errno;
    printf("KILL port=%u result=%s bytes=%llu stall_ms=%.1f", port,
           vu_errname(err), bytes, vu_now_ms() - last);
    n = read(fd, buf, sizeof(buf));
    printf(" read=%s\n", n == 0 ? "EOF" : n > 0 ? "DATA" : vu_errname(errno));
    fflush(stdout);
    close(fd);
    return 0;
}

static int do_suicide(int sending, unsigned int cid, unsigned int port,
                      unsigned long long total)
{
    static char buf[65536];
    unsigned long long done = 0;
    int fd;

    if (sending) {
        fd = connect_to(cid, port);
    } else {
        int lfd = listen_on(port, 1);

        printf("SUICIDE listening port=%u\n", port);
        fflush(stdout);
        fd = accept_one(lfd);
    }
    memset(buf, 's', sizeof(buf));
    while (done < total) {
        size_t want = total - done < sizeof(buf) ? total - done : sizeof(buf);
        ssize_t n = sending ? send(fd, buf, want, MSG_NOSIGNAL)
                            : read(fd, buf, want);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            fail(sending ? "suicide send" : "suicide read",
                 n < 0 ? errno : EPIPE);
        }
        done += n;
    }
    printf("SUICIDE mode=%s port=%u bytes=%llu\n",
           sending ? "send" : "recv", port, done);
    fflush(stdout);
    raise(SIGKILL);
    return 1;
}

static int do_hold(int server, unsigned int cid, unsigned int port,
                   unsigned int n)
{
    int lfd = -1;
    unsigned int j;

    if (server) {
        lfd = listen_on(port, n);
        printf("HOLD listening port=%u\n", port);
        fflush(stdout);
    }
    for (j = 0; j < n; j++) {
        int fd = server ? accept_one(lfd) : connect_to(cid, port);
        char in[8];
        size_t got = 0;

        write_or_fail(fd, "hello\n", 6, "hold write");
        while (got < 6) {
            ssize_t r = read(fd, in + got, 6 - got);

            if (r <= 0) {
                fail("hold read", r < 0 ? errno : EPIPE);
            }
            got += r;
        }
        if (memcmp(in, "hello\n", 6)) {
            fail("hold hello", 0);
        }
    }
    printf("HOLD port=%u n=%u\n", port, n);
    fflush(stdout);
    for (;;) {
        pause();
    }
    return 0;
}

static int do_control(unsigned int cid, unsigned int port)
{
    struct sockaddr_vm sa;
    char line[512];
    size_t len = 0;
    int fd = vsock_socket();

    vu_addr(&sa, cid, port);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        printf("CTL connect result=%s\n", vu_errname(errno));
        return 1;
    }
    for (;;) {
        char reply[32];
        ssize_t n = read(fd, line + len, 1);
        int rc;

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            printf("CTL EOF\n");
            return 0;
        }
        if (line[len] != '\n') {
            if (++len == sizeof(line)) {
                fail("control line too long", 0);
            }
            continue;
        }
        line[len] = 0;
        len = 0;
        printf("CTL run: %s\n", line);
        fflush(stdout);
        rc = system(line);
        snprintf(reply, sizeof(reply), "rc=%d\n",
                 WIFEXITED(rc) ? WEXITSTATUS(rc) : 128);
        write_or_fail(fd, reply, strlen(reply), "control reply");
    }
}

static int usage(void)
{
    fprintf(stderr, "usage: %s client CID PORT ROUNDS SIZE BIG | "
            "server PORT ROUNDS SIZE BIG |\n"
            "  many-client CID PORT N | many-server PORT N | "
            "hold-send CID PORT |\n"
            "  suicide-send CID PORT BYTES | suicide-recv PORT BYTES |\n"
            "  hold-client CID PORT N | hold-server PORT N | "
            "control CID PORT\n", prog);
    return 64;
}

int main(int argc, char **argv)
{
    const char *m = argc > 1 ? argv[1] : "";
    unsigned long long v[5] = { 0 };
    int i, nargs = argc - 2;

    if (nargs > 5) {
        return usage();
    }
    for (i = 0; i < nargs; i++) {
        v[i] = vu_parse_num(prog, "number", argv[i + 2]);
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (!strcmp(m, "client") && nargs == 5) {
        return do_rr(0, v[0], v[1], v[2], v[3], v[4]);
    } else if (!strcmp(m, "server") && nargs == 4) {
        return do_rr(1, 0, v[0], v[1], v[2], v[3]);
    } else if (!strcmp(m, "many-client") && nargs == 3) {
        return do_many(0, v[0], v[1], v[2]);
    } else if (!strcmp(m, "many-server") && nargs == 2) {
        return do_many(1, 0, v[0], v[1]);
    } else if (!strcmp(m, "hold-send") && nargs == 2) {
        return do_hold_send(v[0], v[1]);
    } else if (!strcmp(m, "suicide-send") && nargs == 3) {
        return do_suicide(1, v[0], v[1], v[2]);
    } else if (!strcmp(m, "suicide-recv") && nargs == 2) {
        return do_suicide(0, 0, v[0], v[1]);
    } else if (!strcmp(m, "hold-client") && nargs == 3) {
        return do_hold(0, v[0], v[1], v[2]);
    } else if (!strcmp(m, "hold-server") && nargs == 2) {
        return do_hold(1, 0, v[0], v[1]);
    } else if (!strcmp(m, "control") && nargs == 2) {
        return do_control(v[0], v[1]);
    }
    return usage();
}
