/*
 * libqos driver for virtio-vsock-user
 *
 * Copyright (c) 2026 The virtio-vsock-user authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef TESTS_LIBQOS_VIRTIO_VSOCK_USER_H
#define TESTS_LIBQOS_VIRTIO_VSOCK_USER_H

#include "qgraph.h"
#include "virtio.h"
#include "virtio-pci.h"

/* The CIDs the graph's devices are created with */
#define QVSOCK_USER_GUEST_CID 16
#define QVSOCK_USER_PARENT_CID 3

typedef struct QVsockUser {
    QVirtioDevice *vdev;
} QVsockUser;

typedef struct QVsockUserPCI {
    QVirtioPCIDevice pci_vdev;
    QVsockUser vsock;
} QVsockUserPCI;

typedef struct QVsockUserDevice {
    QOSGraphObject obj;
    QVsockUser vsock;
} QVsockUserDevice;

#endif
