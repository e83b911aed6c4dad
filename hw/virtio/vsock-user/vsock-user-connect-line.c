/*
 * virtio-vsock-user: the hybrid vsock CONNECT line
 *
 * Copyright (c) 2026 The virtio-vsock-user authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "vsock-user-connect-line.h"
#include "vsock-user-packet.h"

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

bool vsock_parse_connect_line(const char *buf, size_t len, uint32_t *port)
{
    static const char word[] = "connect";
    size_t i = 0, end;
    uint64_t value = 0;
    size_t digits = 0;

    if (len == 0 || len > VSOCK_CONNECT_LINE_MAX || buf[len - 1] != '\n') {
        return false;
    }
    end = len - 1;
    if (end > 0 && buf[end - 1] == '\r') {
        end--;
    }
    while (i < end && is_blank(buf[i])) {
        i++;
    }
    for (size_t k = 0; k < sizeof(word) - 1; k++, i++) {
        if (i >= end || g_ascii_tolower(buf[i]) != word[k]) {
            return false;
        }
    }
    if (i >= end || !is_blank(buf[i])) {
        return false;
    }
    while (i < end && is_blank(buf[i])) {
        i++;
    }
    while (i < end && g_ascii_isdigit(buf[i])) {
        value = value * 10 + (buf[i] - '0');
        if (value >= VSOCK_PORT_ANY) {
            return false;   /* 0xffffffff is "any"; larger is not a port */
        }
        digits++;
        i++;
    }
    while (i < end && is_blank(buf[i])) {
        i++;
    }
    if (!digits || i != end) {
        return false;
    }
    *port = value;
    return true;
}
