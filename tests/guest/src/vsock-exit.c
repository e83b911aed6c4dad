/*
 * vsock-exit: make QEMU exit with a chosen status.
 *
 * usage: vsock-exit CODE
 *
 * Writes CODE to the isa-debug-exit device at I/O port 0xf4 (QEMU option
 * -device isa-debug-exit,iobase=0xf4,iosize=0x04).  QEMU then exits with
 * status (CODE << 1) | 1.  Returns 1 if the write did not stop the machine
 * (no such device), so callers can fall back to "reboot -f".
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <errno.h>
#include <sys/io.h>

#define DEBUG_EXIT_PORT 0xf4

int main(int argc, char **argv)
{
    unsigned long code = 0;
    const char *p;

    if (argc != 2) {
        fprintf(stderr, "usage: vsock-exit CODE\n");
        return 64;
    }
    for (p = argv[1]; *p >= '0' && *p <= '9' && code <= 0x7f; p++) {
        code = code * 10 + (*p - '0');
    }
    if (*p || p == argv[1] || code > 0x7f) {
        fprintf(stderr, "vsock-exit: CODE must be 0..127\n");
        return 64;
    }
    if (ioperm(DEBUG_EXIT_PORT, 4, 1) < 0) {
        fprintf(stderr, "vsock-exit: ioperm: %s\n", strerror(errno));
        return 1;
    }
    outl(code, DEBUG_EXIT_PORT);
    /* Still running: there is no debug-exit device. */
    usleep(100000);
    return 1;
}
