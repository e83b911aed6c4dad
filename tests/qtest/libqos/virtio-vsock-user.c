/*
 * libqos driver for virtio-vsock-user
 *
 * Two graph nodes: "virtio-vsock-user" on a virtio bus (virtio-mmio) and
 * "virtio-vsock-user-pci" on a PCI bus.  Both produce the "virtio" and
 * "vsock-user" interfaces.
 *
 * Copyright (c) 2026 The virtio-vsock-user authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "../libqtest.h"
#include "qemu/module.h"
#include "qgraph.h"
#include "virtio-vsock-user.h"

#define QVSOCK_USER_PROPS "guest-cid=16,parent-cid=3"

static void *qvsock_user_driver(QVsockUser *v, const char *interface)
{
    if (!g_strcmp0(interface, "vsock-user")) {
        return v;
    }
    if (!g_strcmp0(interface, "virtio")) {
        return v->vdev;
    }
    fprintf(stderr, "%s not present in virtio-vsock-user\n", interface);
    g_assert_not_reached();
}

static void *qvsock_user_device_get_driver(void *object,
                                           const char *interface)
{
    QVsockUserDevice *d = object;

    return qvsock_user_driver(&d->vsock, interface);
}

static void *qvsock_user_device_create(void *virtio_dev,
                                       QGuestAllocator *t_alloc, void *addr)
{
    QVsockUserDevice *d = g_new0(QVsockUserDevice, 1);

    d->vsock.vdev = virtio_dev;
    d->obj.get_driver = qvsock_user_device_get_driver;
    return &d->obj;
}

static void *qvsock_user_pci_get_driver(void *object, const char *interface)
{
    QVsockUserPCI *d = object;

    if (!g_strcmp0(interface, "pci-device")) {
        return d->pci_vdev.pdev;
    }
    return qvsock_user_driver(&d->vsock, interface);
}

static void *qvsock_user_pci_create(void *pci_bus, QGuestAllocator *t_alloc,
                                    void *addr)
{
    QVsockUserPCI *d = g_new0(QVsockUserPCI, 1);
    QOSGraphObject *obj = &d->pci_vdev.obj;

    virtio_pci_init(&d->pci_vdev, pci_bus, addr);
    d->vsock.vdev = &d->pci_vdev.vdev;
    obj->get_driver = qvsock_user_pci_get_driver;
    return obj;
}

static void qvsock_user_register_nodes(void)
{
    QPCIAddress addr = { .devfn = QPCI_DEVFN(4, 0) };
    QOSGraphEdgeOptions dev_opts = {
        .extra_device_opts = QVSOCK_USER_PROPS,
    };
    QOSGraphEdgeOptions pci_opts = {
        .extra_device_opts = "addr=04.0," QVSOCK_USER_PROPS,
    };

    qos_node_create_driver("virtio-vsock-user", qvsock_user_device_create);
    qos_node_consumes("virtio-vsock-user", "virtio-bus", &dev_opts);
    qos_node_produces("virtio-vsock-user", "virtio");
    qos_node_produces("virtio-vsock-user", "vsock-user");

    add_qpci_address(&pci_opts, &addr);
    qos_node_create_driver("virtio-vsock-user-pci", qvsock_user_pci_create);
    qos_node_consumes("virtio-vsock-user-pci", "pci-bus", &pci_opts);
    qos_node_produces("virtio-vsock-user-pci", "pci-device");
    qos_node_produces("virtio-vsock-user-pci", "virtio");
    qos_node_produces("virtio-vsock-user-pci", "vsock-user");
}

libqos_init(qvsock_user_register_nodes);
