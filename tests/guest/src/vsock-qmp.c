/*
 * vsock-qmp: a QMP client the guest runs against its own QEMU's monitor,
 * reached over vsock (-chardev vsock-user,... -mon chardev=...).
 *
 * Connects to CID:PORT, reads the greeting, negotiates capabilities, runs
 * query-status and prints "QMP OK status=STATUS greeting=VERSION" with
 * what QEMU answered.  Every line is checked for what a QMP server must
 * send; a line may take several reads.
 *
 * usage: vsock-qmp [--cid CID] [--port PORT]
 *
 * Exit codes: 0 success, 1 socket(), 2 connect(), 3 write(), 4 read()
 * failed or end of stream, 5 an unexpected answer, 64 usage.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <unistd.h>
#include "vsock-util.h"

static const char *prog = "vsock-qmp";

static char line[4096];

/* Read one line (up to "\n", which is kept) into line[]; 0 or 4. */
static int read_line(int fd)
{
    size_t len = 0;

    while (len < sizeof(line) - 1) {
        ssize_t n = read(fd, line + len, 1);

        if (n <= 0) {
            fprintf(stderr, "%s: read: %s\n", prog,
                    n ? strerror(errno) : "end of stream");
            return 4;
        }
        if (line[len++] == '\n') {
            line[len] = '\0';
            return 0;
        }
    }
    fprintf(stderr, "%s: a line longer than %zu bytes\n", prog, len);
    return 4;
}

/* The number after "@key": in @s, or -1 */
static int json_int(const char *s, const char *key)
{
    char pat[32];
    const char *p;

    snprintf(pat, sizeof(pat), "\"%s\": ", key);
    p = strstr(s, pat);
    return p ? atoi(p + strlen(pat)) : -1;
}

/* Send @cmd, read the answer into line[]; it must contain @want. */
static int command(int fd, const char *cmd, const char *want)
{
    int rc;

    printf("-> %s", cmd);
    if (vu_write_all(fd, cmd, strlen(cmd)) < 0) {
        fprintf(stderr, "%s: write: %s\n", prog, strerror(errno));
        return 3;
    }
    rc = read_line(fd);
    if (rc) {
        return rc;
    }
    printf("<- %s", line);
    if (!strstr(line, want)) {
        fprintf(stderr, "%s: expected %s\n", prog, want);
        return 5;
    }
    return 0;
}

int main(int argc, char **argv)
{
    unsigned int cid = 3, port = 4444;
    char version[64] = "?";
    struct sockaddr_vm sa;
    const char *p;
    char status[32];
    int fd, rc;

    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--cid") && i + 1 < argc) {
            cid = vu_parse_num(prog, "CID", argv[++i]);
        } else if (!strcmp(argv[i], "--port") && i + 1 < argc) {
            port = vu_parse_num(prog, "port", argv[++i]);
        } else {
            fprintf(stderr, "usage: %s [--cid CID] [--port PORT]\n", prog);
            return 64;
        }
    }
    fd = socket(AF_VSOCK, SOCK_STREAM, 0);
    if (fd < 0) {
        fprintf(stderr, "%s: socket: %s\n", prog, strerror(errno));
        return 1;
    }
    vu_addr(&sa, cid, port);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        fprintf(stderr, "%s: connect %u:%u: %s (%s)\n", prog, cid, port,
                strerror(errno), vu_errname(errno));
        return 2;
    }
    rc = read_line(fd);
    if (rc) {
        return rc;
    }
    printf("<- %s", line);
    p = strstr(line, "\"qemu\": {");
    if (strncmp(line, "{\"QMP\": {\"version\": ", 20) || !p) {
        fprintf(stderr, "%s: not a QMP greeting\n", prog);
        return 5;
    }
    snprintf(version, sizeof(version), "%d.%d.%d", json_int(p, "major"),
             json_int(p, "minor"), json_int(p, "micro"));
    rc = command(fd, "{\"execute\": \"qmp_capabilities\"}\n",
                 "{\"return\": {}}");
    if (!rc) {
        rc = command(fd, "{\"execute\": \"query-status\"}\n",
                     "{\"return\": {");
    }
    if (rc) {
        return rc;
    }
    p = strstr(line, "\"status\": \"");
    if (!p || sscanf(p, "\"status\": \"%31[a-z-]\"", status) != 1) {
        fprintf(stderr, "%s: no status in the answer\n", prog);
        return 5;
    }
    close(fd);
    printf("QMP OK status=%s greeting=%s\n", status, version);
    return 0;
}
