/*
 * qos-graph test for virtio-vsock-user: every machine of the graph that
 * can host the device (pc, q35 through PCI; virtio-mmio machines)
 *
 * The protocol itself is covered by virtio-vsock-user-test, which drives
 * microvm and pc directly.
 *
 * Copyright (c) 2026 The virtio-vsock-user authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "libqtest.h"
#include "qemu/module.h"
#include "libqos/qgraph.h"
#include "libqos/virtio-vsock-user.h"
#include "standard-headers/linux/virtio_config.h"

static void vsock_user_config(void *obj, void *data, QGuestAllocator *alloc)
{
    QVsockUser *v = obj;
    uint64_t features;

    qvirtio_start_device(v->vdev);
    features = qvirtio_get_features(v->vdev);
    qvirtio_set_features(v->vdev, features & (1ull << VIRTIO_F_VERSION_1));
    qvirtio_set_driver_ok(v->vdev);
    g_assert_cmpuint(qvirtio_config_readq(v->vdev, 0), ==,
                     QVSOCK_USER_GUEST_CID);
    /* The upper half of guest_cid is reserved and reads as zero. */
    g_assert_cmpuint(qvirtio_config_readl(v->vdev, 4), ==, 0);
}

static void register_vsock_user_test(void)
{
    qos_add_test("config", "vsock-user", vsock_user_config, NULL);
}

libqos_init(register_vsock_user_test);
