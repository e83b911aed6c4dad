/*
 * vsock-bench: the guest half of make bench (tests/bench/vsock-user-bench.py)
 *
 * usage: vsock-bench [--cid CID] [--port PORT]
 *
 * Connects to the host driver's control port (vsock CID:PORT, default 2:4999,
 * retried for 10 s) and runs the commands the driver sends, one text line
 * each, answering "ok [guest_ms=T]" or "err <reason>" on the control
 * connection.  The host does all the timing; guest times are informative.
 *
 *   open vsock CID PORT [BUFSIZE] | open serial NAME | open tcp IPV4 PORT
 *                            make it the data channel (closes the last one);
 *                            NAME is a virtio-serial port name; BUFSIZE
 *                            sets SO_VM_SOCKETS_BUFFER_SIZE (and _MAX)
 *   irqs                     "ok" and the interrupt counts of the virtio
 *                            devices: vsock=N console=N net=N
 *   send BYTES CHUNK         write BYTES of zeros to the data channel in
 *                            CHUNK-byte writes
 *   recv BYTES CHUNK         read BYTES from the data channel, then write
 *                            one acknowledgement byte to it
 *   ping ROUNDS              ROUNDS times: read one byte, write it back
 *   close                    close the data channel
 *   connrate CID PORT N      N times: connect(), close()
 *   idle CID PORT N          open N connections and keep them; the reply
 *                            adds the median and the maximum connect()
 *                            time of the first and of the last 100, and of
 *                            the whole command, in TSC cycles (the host
 *                            converts them with its own clock)
 *   streams send|recv CID PORT N BYTES CHUNK
 *                            open N connections and move BYTES in all
 *                            (BYTES/N each) over them at once, in CHUNK
 *                            writes or reads, multiplexed with poll();
 *                            recv then writes one acknowledgement byte to
 *                            each; the connections are closed at the end
 *   release                  close the idle connections
 *   quit                     exit 0
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include "vsock-util.h"

static const char *prog = "vsock-bench";

static int ctl = -1;
static int data = -1;
static int *idle_fds;
static unsigned long idle_cnt;
static unsigned char *buf;
static size_t buf_size;

static void reply(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

static void reply(const char *fmt, ...)
{
    char line[256];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
    va_end(ap);
    if (n < 0 || n > (int)sizeof(line) - 2) {
        n = sizeof(line) - 2;
    }
    line[n++] = '\n';
    if (vu_write_all(ctl, line, n) < 0) {
        fprintf(stderr, "%s: control write: %s\n", prog, strerror(errno));
        exit(1);
    }
}

/* One line from the control connection, without its newline. */
static int read_line(char *line, size_t size)
{
    size_t len = 0;

    for (;;) {
        char c;
        ssize_t n = read(ctl, &c, 1);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return -1;
        }
        if (c == '\n') {
            line[len] = 0;
            return 0;
        }
        if (len + 1 < size) {
            line[len++] = c;
        }
    }
}

static int read_all(int fd, void *p, size_t len)
{
    char *q = p;

    while (len > 0) {
        ssize_t n = read(fd, q, len);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            if (n == 0) {
                errno = EPIPE;
            }
            return -1;
        }
        q += n;
        len -= n;
    }
    return 0;
}

/* connect() @fd, or close it keeping connect()'s errno; returns @fd or -1 */
static int connect_or_close(int fd, const struct sockaddr *sa, socklen_t len)
{
    if (connect(fd, sa, len) < 0) {
        int err = errno;

        close(fd);
        errno = err;
        return -1;
    }
    return fd;
}

static int vsock_connect(unsigned int cid, unsigned int port,
                         unsigned long long bufsize)
{
    struct sockaddr_vm sa;
    int fd = socket(AF_VSOCK, SOCK_STREAM, 0);

    if (fd < 0) {
        return -1;
    }
    if (bufsize) {
        setsockopt(fd, AF_VSOCK, SO_VM_SOCKETS_BUFFER_MAX_SIZE, &bufsize,
                   sizeof(bufsize));
        setsockopt(fd, AF_VSOCK, SO_VM_SOCKETS_BUFFER_SIZE, &bufsize,
                   sizeof(bufsize));
    }
    vu_addr(&sa, cid, port);
    return connect_or_close(fd, (struct sockaddr *)&sa, sizeof(sa));
}

static int tcp_connect(const char *ip, unsigned int port)
{
    struct sockaddr_in sa = { .sin_family = AF_INET };
    int one = 1;
    int fd;

    sa.sin_port = htons(port);
    if (inet_pton(AF_INET, ip, &sa.sin_addr) != 1) {
        errno = EINVAL;
        return -1;
    }
    fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) {
        return -1;
    }
    /* ping-pong must not wait for Nagle */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return connect_or_close(fd, (struct sockaddr *)&sa, sizeof(sa));
}

/* /dev/vportNpM of the virtio-serial port called NAME. */
static int serial_open(const char *name)
{
    DIR *d = opendir("/sys/class/virtio-ports");
    struct dirent *de;
    int fd = -1;

    if (!d) {
        return -1;
    }
    errno = ENOENT;
    while ((de = readdir(d)) != NULL) {
        char path[300], got[64] = "";
        FILE *f;

        if (de->d_name[0] == '.') {
            continue;
        }
        snprintf(path, sizeof(path), "/sys/class/virtio-ports/%s/name",
                 de->d_name);
        f = fopen(path, "r");
        if (!f) {
            continue;
        }
        if (fgets(got, sizeof(got), f)) {
            got[strcspn(got, "\n")] = 0;
        }
        fclose(f);
        if (!strcmp(got, name)) {
            snprintf(path, sizeof(path), "/dev/%s", de->d_name);
            fd = open(path, O_RDWR);
            break;
        }
    }
    closedir(d);
    return fd;
}

static int grow_buf(size_t chunk)
{
    if (chunk > buf_size) {
        free(buf);
        buf = calloc(1, chunk);
        buf_size = buf ? chunk : 0;
    }
    return buf ? 0 : -1;
}

static void cmd_send(unsigned long long total, size_t chunk)
{
    double t0 = vu_now_ms();
    unsigned long long done = 0;

    if (grow_buf(chunk) < 0) {
        reply("err malloc");
        return;
    }
    while (done < total) {
        size_t n = total - done < chunk ? total - done : chunk;

        if (vu_write_all(data, buf, n) < 0) {
            reply("err write after %llu bytes: %s", done,
                  vu_errname(errno));
            return;
        }
        done += n;
    }
    reply("ok guest_ms=%.3f", vu_now_ms() - t0);
}

static void cmd_recv(unsigned long long total, size_t chunk)
{
    double t0 = vu_now_ms();
    unsigned long long done = 0;
    unsigned char ack = 'A';

    if (grow_buf(chunk) < 0) {
        reply("err malloc");
        return;
    }
    while (done < total) {
        size_t want = total - done < chunk ? total - done : chunk;
        ssize_t n = read(data, buf, want);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            reply("err read after %llu bytes: %s", done,
                  n ? vu_errname(errno) : "EOF");
            return;
        }
        done += n;
    }
    if (vu_write_all(data, &ack, 1) < 0) {
        reply("err ack: %s", vu_errname(errno));
        return;
    }
    reply("ok guest_ms=%.3f", vu_now_ms() - t0);
}

static void cmd_ping(unsigned long rounds)
{
    double t0 = vu_now_ms();
    unsigned char c;
    unsigned long i;

    for (i = 0; i < rounds; i++) {
        if (read_all(data, &c, 1) < 0 || vu_write_all(data, &c, 1) < 0) {
            reply("err round %lu: %s", i, vu_errname(errno));
            return;
        }
    }
    reply("ok guest_ms=%.3f", vu_now_ms() - t0);
}

static void cmd_connrate(unsigned int cid, unsigned int port,
                         unsigned long n)
{
    double t0 = vu_now_ms();
    unsigned long i;

    for (i = 0; i < n; i++) {
        int fd = vsock_connect(cid, port, 0);

        if (fd < 0) {
            reply("err connect %lu: %s", i, vu_errname(errno));
            return;
        }
        close(fd);
    }
    reply("ok guest_ms=%.3f", vu_now_ms() - t0);
}

static void cmd_release(void)
{
    unsigned long i;

    for (i = 0; i < idle_cnt; i++) {
        close(idle_fds[i]);
    }
    free(idle_fds);
    idle_fds = NULL;
    idle_cnt = 0;
}

/*
 * A cycle counter that does not depend on the guest's clocksource: under
 * TCG the kernel may fall back to jiffies (4 ms steps), which turns every
 * connect() time into 0 or 4000 us.
 */
static double cycles(void)
{
#if defined(__x86_64__) || defined(__i386__)
    return (double)__builtin_ia32_rdtsc();
#else
    return vu_now_ms() * 1e6;
#endif
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

/* Median and maximum of @n connect() times (sorts them). */
static void lat_stats(double *v, unsigned long n, double *medp, double *maxp)
{
    qsort(v, n, sizeof(*v), cmp_double);
    *medp = n ? v[n / 2] : 0;
    *maxp = n ? v[n - 1] : 0;
}

static void cmd_idle(unsigned int cid, unsigned int port, unsigned long n)
{
    double t0 = vu_now_ms(), c0 = cycles();
    unsigned long k = n < 100 ? n : 100;
    double *lat = calloc(n ? n : 1, sizeof(double));
    double fmed, fmax, lmed, lmax;
    struct rlimit rl;

    cmd_release();
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < n + 64) {
        rl.rlim_cur = n + 64;
        if (rl.rlim_max < rl.rlim_cur) {
            rl.rlim_max = rl.rlim_cur;
        }
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    idle_fds = calloc(n ? n : 1, sizeof(int));
    if (!idle_fds || !lat) {
        free(lat);
        reply("err malloc");
        return;
    }
    for (idle_cnt = 0; idle_cnt < n; idle_cnt++) {
        double t = cycles();
        int fd = vsock_connect(cid, port, 0);

        if (fd < 0) {
            free(lat);
            reply("err connect %lu: %s", idle_cnt, vu_errname(errno));
            return;
        }
        lat[idle_cnt] = cycles() - t;
        idle_fds[idle_cnt] = fd;
    }
    t0 = vu_now_ms() - t0;
    c0 = cycles() - c0;
    lat_stats(lat + n - k, k, &lmed, &lmax);
    lat_stats(lat, k, &fmed, &fmax);
    free(lat);
    reply("ok guest_ms=%.3f first_med_cyc=%.0f first_max_cyc=%.0f "
          "last_med_cyc=%.0f last_max_cyc=%.0f total_cyc=%.0f", t0, fmed,
          fmax, lmed, lmax, c0);
}

/*
 * N connections moving @total bytes at once: each stream's share is
 * written (or read) whenever poll() says it can take more, so the device
 * sees N streams interleaved rather than one after the other.
 */
static void cmd_streams(int sending, unsigned int cid, unsigned int port,
                        unsigned long n, unsigned long long total,
                        size_t chunk)
{
    double t0 = vu_now_ms();
    struct pollfd *pfd = calloc(n ? n : 1, sizeof(*pfd));
    unsigned long long *left = calloc(n ? n : 1, sizeof(*left));
    unsigned long i, bad = 0, active = 0;
    const char *err = NULL;
    int saved = 0;

    if (!pfd || !left || grow_buf(chunk) < 0) {
        free(pfd);
        free(left);
        reply("err malloc");
        return;
    }
    for (i = 0; i < n; i++) {
        pfd[i].fd = vsock_connect(cid, port, 0);
        if (pfd[i].fd < 0) {
            err = "connect";
            saved = errno;
            bad = i;
            n = i;
            goto out;
        }
        fcntl(pfd[i].fd, F_SETFL, fcntl(pfd[i].fd, F_GETFL) | O_NONBLOCK);
        pfd[i].events = sending ? POLLOUT : POLLIN;
        left[i] = total / n + (i < total % n);
        active += left[i] > 0;
    }
    while (active) {
        if (poll(pfd, n, -1) < 0) {
            if (errno == EINTR) {
                continue;
            }
            err = "poll";
            saved = errno;
            goto out;
        }
        for (i = 0; i < n; i++) {
            size_t want = left[i] < chunk ? left[i] : chunk;
            ssize_t got;

            if (!pfd[i].revents || !left[i]) {
                continue;
            }
            got = sending ? write(pfd[i].fd, buf, want)
                          : read(pfd[i].fd, buf, want);
            if (got < 0 && (errno == EAGAIN || errno == EINTR)) {
                continue;
            }
            if (got <= 0) {
                err = sending ? "write" : "read";
                saved = got ? errno : EPIPE;
                bad = i;
                goto out;
            }
            left[i] -= got;
            if (!left[i]) {
                pfd[i].events = 0;
                active--;
            }
        }
    }
    if (!sending) {
        unsigned char ack = 'A';

        for (i = 0; i < n; i++) {
            fcntl(pfd[i].fd, F_SETFL, fcntl(pfd[i].fd, F_GETFL) & ~O_NONBLOCK);
            if (vu_write_all(pfd[i].fd, &ack, 1) < 0) {
                err = "ack";
                saved = errno;
                bad = i;
                goto out;
            }
        }
    }
out:
    for (i = 0; i < n; i++) {
        close(pfd[i].fd);
    }
    free(pfd);
    free(left);
    if (err) {
        reply("err streams %s on stream %lu: %s", err, bad,
              vu_errname(saved));
    } else {
        reply("ok guest_ms=%.3f", vu_now_ms() - t0);
    }
}

/* "vsock", "console" or "net" for virtioN, from its virtio device ID. */
static const char *virtio_kind(const char *name)
{
    char path[128], id[16] = "";
    FILE *f;

    snprintf(path, sizeof(path), "/sys/bus/virtio/devices/%s/device", name);
    f = fopen(path, "r");
    if (f) {
        if (!fgets(id, sizeof(id), f)) {
            id[0] = 0;
        }
        fclose(f);
    }
    if (!strncmp(id, "0x0013", 6)) {
        return "vsock";
    }
    if (!strncmp(id, "0x0003", 6)) {
        return "console";
    }
    if (!strncmp(id, "0x0001", 6)) {
        return "net";
    }
    return name;
}

/* Sum of every CPU's count for each interrupt line named virtio*. */
static void cmd_irqs(void)
{
    FILE *f = fopen("/proc/interrupts", "r");
    char line[512], out[200] = "ok";
    size_t len = 2;

    if (!f) {
        reply("err /proc/interrupts: %s", strerror(errno));
        return;
    }
    while (fgets(line, sizeof(line), f)) {
        unsigned long long sum = 0, v = 0;
        char *p = strchr(line, ':');
        char *name = p ? strstr(p, "virtio") : NULL;

        if (!name) {
            continue;
        }
        name[strcspn(name, " \t\n-")] = 0;
        /* the per-CPU counts between the colon and the chip name */
        for (p++; *p == ' ' || (*p >= '0' && *p <= '9'); p++) {
            if (*p == ' ') {
                sum += v;
                v = 0;
            } else {
                v = v * 10 + (*p - '0');
            }
        }
        sum += v;
        len += snprintf(out + len, sizeof(out) - len, " %s=%llu",
                        virtio_kind(name), sum);
        if (len >= sizeof(out)) {
            break;
        }
    }
    fclose(f);
    reply("%s", out);
}

static void close_data(void)
{
    if (data >= 0) {
        close(data);
        data = -1;
    }
}

static void run(char *line)
{
    char a[64], b[64];
    unsigned long long x, y, z;
    unsigned long n;

    z = 0;
    if (sscanf(line, "open vsock %llu %llu %llu", &x, &y, &z) >= 2) {
        close_data();
        data = vsock_connect(x, y, z);
    } else if (sscanf(line, "open serial %63s", a) == 1) {
        close_data();
        data = serial_open(a);
    } else if (sscanf(line, "open tcp %63s %63s", a, b) == 2) {
        close_data();
        data = tcp_connect(a, vu_parse_num(prog, "port", b));
    } else if (sscanf(line, "send %llu %llu", &x, &y) == 2 && y > 0) {
        cmd_send(x, y);
        return;
    } else if (sscanf(line, "recv %llu %llu", &x, &y) == 2 && y > 0) {
        cmd_recv(x, y);
        return;
    } else if (sscanf(line, "ping %llu", &x) == 1) {
        cmd_ping(x);
        return;
    } else if (!strcmp(line, "close")) {
        close_data();
        reply("ok");
        return;
    } else if (sscanf(line, "connrate %llu %llu %llu", &x, &y, &z) == 3) {
        cmd_connrate(x, y, z);
        return;
    } else if (sscanf(line, "idle %llu %llu %llu", &x, &y, &z) == 3) {
        cmd_idle(x, y, z);
        return;
    } else if (sscanf(line, "streams %63s %llu %llu %lu %llu %63s", a, &x,
                      &y, &n, &z, b) == 6 && n > 0 &&
               (!strcmp(a, "send") || !strcmp(a, "recv"))) {
        cmd_streams(!strcmp(a, "send"), x, y, n, z,
                    vu_parse_num(prog, "chunk", b));
        return;
    } else if (!strcmp(line, "release")) {
        cmd_release();
        reply("ok");
        return;
    } else if (!strcmp(line, "irqs")) {
        cmd_irqs();
        return;
    } else if (!strcmp(line, "quit")) {
        reply("ok");
        exit(0);
    } else {
        reply("err unknown command '%s'", line);
        return;
    }
    /* the open commands */
    if (data < 0) {
        reply("err open: %s (%s)", strerror(errno), vu_errname(errno));
    } else {
        reply("ok");
    }
}

int main(int argc, char **argv)
{
    unsigned int cid = 2, port = 4999;
    char line[256];
    double deadline;
    int a;

    for (a = 1; a + 1 < argc; a += 2) {
        if (!strcmp(argv[a], "--cid")) {
            cid = vu_parse_num(prog, "CID", argv[a + 1]);
        } else if (!strcmp(argv[a], "--port")) {
            port = vu_parse_num(prog, "port", argv[a + 1]);
        } else {
            break;
        }
    }
    if (a != argc) {
        fprintf(stderr, "usage: %s [--cid CID] [--port PORT]\n", prog);
        return 64;
    }
    deadline = vu_now_ms() + 10000;
    while ((ctl = vsock_connect(cid, port, 0)) < 0) {
        if (vu_now_ms() > deadline) {
            fprintf(stderr, "%s: control connect to %u:%u: %s\n", prog,
                    cid, port, strerror(errno));
            return 1;
        }
        usleep(100000);
    }
    while (read_line(line, sizeof(line)) == 0) {
        run(line);
    }
    fprintf(stderr, "%s: control connection closed\n", prog);
    return 1;
}
