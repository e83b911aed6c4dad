/*
 * vsock-stream: move a byte stream over AF_VSOCK and checksum it.
 *
 * usage: vsock-stream [OPTIONS] send CID PORT BYTES
 *        vsock-stream [OPTIONS] recv CID PORT
 *        vsock-stream [OPTIONS] listen PORT send BYTES
 *        vsock-stream [OPTIONS] listen PORT recv
 * options: --chunk N            write()/read() size (default 65536,
 *                               a multiple of 8 for prng)
 *          --pattern zero|prng  data sent (default prng)
 *          --expect BYTES       recv: fail unless exactly BYTES arrive
 *
 * The prng pattern is xorshift64 (shifts 13, 7, 17) from the seed
 * 0x9e3779b97f4a7c15, each 64-bit state emitted little-endian, so a host
 * peer can regenerate it.  Prints one line:
 *   STREAM mode=send|recv bytes=N sha256=HEX ms=T mib_per_s=R
 * Exit codes: 0 ok, 1 socket error, 2 short transfer, 64 usage.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <unistd.h>
#include "vsock-util.h"

static const char *prog = "vsock-stream";

/* ---- SHA-256 (FIPS 180-4) ---- */

typedef struct {
    uint32_t h[8];
    uint64_t len;
    unsigned char buf[64];
    size_t used;
} Sha256;

static const uint32_t sha_k[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1,
    0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3,
    0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
    0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147,
    0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
    0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
    0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
    0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
    0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static uint32_t ror32(uint32_t x, int n)
{
    return (x >> n) | (x << (32 - n));
}

static void sha256_init(Sha256 *s)
{
    static const uint32_t iv[8] = {
        0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
        0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
    };

    memcpy(s->h, iv, sizeof(iv));
    s->len = 0;
    s->used = 0;
}

static void sha256_block(Sha256 *s, const unsigned char *p)
{
    uint32_t w[64], v[8], t1, t2;
    int i;

    for (i = 0; i < 16; i++) {
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
               (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
    }
    for (i = 16; i < 64; i++) {
        uint32_t s0 = ror32(w[i - 15], 7) ^ ror32(w[i - 15], 18) ^
                      (w[i - 15] >> 3);
        uint32_t s1 = ror32(w[i - 2], 17) ^ ror32(w[i - 2], 19) ^
                      (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    memcpy(v, s->h, sizeof(v));
    for (i = 0; i < 64; i++) {
        t1 = v[7] + (ror32(v[4], 6) ^ ror32(v[4], 11) ^ ror32(v[4], 25)) +
             ((v[4] & v[5]) ^ (~v[4] & v[6])) + sha_k[i] + w[i];
        t2 = (ror32(v[0], 2) ^ ror32(v[0], 13) ^ ror32(v[0], 22)) +
             ((v[0] & v[1]) ^ (v[0] & v[2]) ^ (v[1] & v[2]));
        memmove(v + 1, v, 7 * sizeof(v[0]));
        v[4] += t1;
        v[0] = t1 + t2;
    }
    for (i = 0; i < 8; i++) {
        s->h[i] += v[i];
    }
}

static void sha256_update(Sha256 *s, const void *data, size_t len)
{
    const unsigned char *p = data;

    s->len += len;
    if (s->used) {
        size_t n = 64 - s->used < len ? 64 - s->used : len;

        memcpy(s->buf + s->used, p, n);
        s->used += n;
        p += n;
        len -= n;
        if (s->used < 64) {
            return;
        }
        sha256_block(s, s->buf);
        s->used = 0;
    }
    while (len >= 64) {
        sha256_block(s, p);
        p += 64;
        len -= 64;
    }
    memcpy(s->buf, p, len);
    s->used = len;
}

static void sha256_hex(Sha256 *s, char out[65])
{
    uint64_t bits = s->len * 8;
    unsigned char pad[72] = { 0x80 };
    size_t padlen = (s->used < 56 ? 56 : 120) - s->used;
    int i;

    for (i = 0; i < 8; i++) {
        pad[padlen + i] = bits >> (56 - 8 * i);
    }
    sha256_update(s, pad, padlen + 8);
    for (i = 0; i < 8; i++) {
        sprintf(out + 8 * i, "%08x", s->h[i]);
    }
}

/* ---- data pattern ---- */

static uint64_t prng_state = 0x9e3779b97f4a7c15ULL;

static void fill(unsigned char *buf, size_t len, int zero)
{
    size_t i;

    if (zero) {
        memset(buf, 0, len);
        return;
    }
    /* len is always a multiple of 8 except for the last chunk */
    for (i = 0; i < len; i += 8) {
        uint64_t x = prng_state;
        int j;

        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        prng_state = x;
        for (j = 0; j < 8 && i + j < len; j++) {
            buf[i + j] = x >> (8 * j);
        }
    }
}

/* ---- transfer ---- */

static void report(const char *mode, unsigned long long bytes, Sha256 *s,
                   double ms)
{
    char hex[65];

    sha256_hex(s, hex);
    printf("STREAM mode=%s bytes=%llu sha256=%s ms=%.1f mib_per_s=%.2f\n",
           mode, bytes, hex, ms,
           ms > 0 ? bytes / 1048576.0 / (ms / 1000.0) : 0.0);
}

static int do_send(int fd, unsigned long long total, size_t chunk, int zero)
{
    unsigned char *buf = malloc(chunk);
    unsigned long long done = 0;
    Sha256 s;
    double t0 = vu_now_ms();

    if (!buf) {
        perror("malloc");
        return 1;
    }
    sha256_init(&s);
    while (done < total) {
        size_t n = total - done < chunk ? total - done : chunk;

        fill(buf, n, zero);
        sha256_update(&s, buf, n);
        if (vu_write_all(fd, buf, n) < 0) {
            fprintf(stderr, "%s: write after %llu bytes: %s (%s)\n", prog,
                    done, strerror(errno), vu_errname(errno));
            return 1;
        }
        done += n;
    }
    shutdown(fd, SHUT_WR);
    report("send", done, &s, vu_now_ms() - t0);
    free(buf);
    return 0;
}

static int do_recv(int fd, size_t chunk, long long expect)
{
    unsigned char *buf = malloc(chunk);
    unsigned long long done = 0;
    Sha256 s;
    double t0 = vu_now_ms();
    ssize_t n;

    if (!buf) {
        perror("malloc");
        return 1;
    }
    sha256_init(&s);
    for (;;) {
        n = read(fd, buf, chunk);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            fprintf(stderr, "%s: read after %llu bytes: %s (%s)\n", prog,
                    done, strerror(errno), vu_errname(errno));
            return 1;
        }
        if (n == 0) {
            break;
        }
        sha256_update(&s, buf, n);
        done += n;
    }
    report("recv", done, &s, vu_now_ms() - t0);
    free(buf);
    if (expect >= 0 && done != (unsigned long long)expect) {
        fprintf(stderr, "%s: expected %lld bytes, got %llu\n", prog, expect,
                done);
        return 2;
    }
    return 0;
}

static int usage(void)
{
    fprintf(stderr,
            "usage: %s [--chunk N] [--pattern zero|prng] [--expect BYTES]\n"
            "          send CID PORT BYTES | recv CID PORT |\n"
            "          listen PORT send BYTES | listen PORT recv\n", prog);
    return 64;
}

int main(int argc, char **argv)
{
    size_t chunk = 65536;
    int zero = 0, listening = 0, sending, fd, a = 1;
    long long expect = -1;
    unsigned long long bytes = 0;
    unsigned int cid = VMADDR_CID_ANY, port;
    struct sockaddr_vm sa;
    int rc;

    while (a < argc && !strncmp(argv[a], "--", 2)) {
        if (a + 1 >= argc) {
            return usage();
        }
        if (!strcmp(argv[a], "--chunk")) {
            chunk = vu_parse_num(prog, "chunk", argv[a + 1]);
        } else if (!strcmp(argv[a], "--pattern")) {
            zero = !strcmp(argv[a + 1], "zero");
            if (!zero && strcmp(argv[a + 1], "prng")) {
                return usage();
            }
        } else if (!strcmp(argv[a], "--expect")) {
            expect = vu_parse_num(prog, "byte count", argv[a + 1]);
        } else {
            return usage();
        }
        a += 2;
    }
    if (chunk == 0 || chunk > (1 << 24) || (!zero && chunk % 8)) {
        fprintf(stderr, "%s: chunk must be 1..16777216 and, for the prng "
                "pattern, a multiple of 8\n", prog);
        return 64;
    }
    if (a < argc && !strcmp(argv[a], "listen")) {
        listening = 1;
        if (argc - a < 3) {
            return usage();
        }
        port = vu_parse_num(prog, "port", argv[a + 1]);
        a += 2;
    } else if (argc - a >= 3) {
        cid = vu_parse_num(prog, "CID", argv[a + 1]);
        port = vu_parse_num(prog, "port", argv[a + 2]);
        /* move the mode word next to its arguments */
        argv[a + 2] = argv[a];
        a += 2;
    } else {
        return usage();
    }
    if (!strcmp(argv[a], "send") && argc - a == 2) {
        sending = 1;
        bytes = vu_parse_num(prog, "byte count", argv[a + 1]);
    } else if (!strcmp(argv[a], "recv") && argc - a == 1) {
        sending = 0;
    } else {
        return usage();
    }

    fd = socket(AF_VSOCK, SOCK_STREAM, 0);
    if (fd < 0) {
        fprintf(stderr, "%s: socket: %s (%s)\n", prog, strerror(errno),
                vu_errname(errno));
        return 1;
    }
    vu_addr(&sa, cid, port);
    if (listening) {
        int cfd;

        if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
            listen(fd, 1) < 0) {
            fprintf(stderr, "%s: bind/listen port %u: %s (%s)\n", prog, port,
                    strerror(errno), vu_errname(errno));
            return 1;
        }
        printf("STREAM listening port=%u\n", port);
        fflush(stdout);
        cfd = accept(fd, NULL, NULL);
        if (cfd < 0) {
            fprintf(stderr, "%s: accept: %s (%s)\n", prog, strerror(errno),
                    vu_errname(errno));
            return 1;
        }
        close(fd);
        fd = cfd;
    } else if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        fprintf(stderr, "%s: connect %u:%u: %s (%s)\n", prog, cid, port,
                strerror(errno), vu_errname(errno));
        return 1;
    }
    if (sending) {
        rc = do_send(fd, bytes, chunk, zero);
    } else {
        rc = do_recv(fd, chunk, expect);
    }
    close(fd);
    return rc;
}
