/*
 * Unit tests for the virtio-vsock-user protocol engine
 *
 * Each test plays the guest: it feeds packets in as the tx virtqueue
 * would, offers rx buffers and asserts the exact packets that come out.
 * The tests sit in one file per part of the engine; the scriptable
 * endpoint they drive is vsock-user-fixture.c, shared with the fuzzer.
 *
 * Copyright (c) 2026 The virtio-vsock-user authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "vsock-user-fixture.h"

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    vsock_test_register_packet();
    vsock_test_register_conn();
    vsock_test_register_credit();
    vsock_test_register_rx();
    vsock_test_register_shutdown();
    vsock_test_register_tx();
    vsock_test_register_accept();
    vsock_test_register_seqpacket();
    return g_test_run();
}
