/*
 * virtio-vsock-user-pci: the virtio-vsock-user device on virtio-pci
 *
 * Copyright (c) 2026 The virtio-vsock-user authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "hw/virtio/virtio-pci.h"
#include "hw/virtio/virtio-vsock-user.h"
#include "hw/qdev-properties.h"
#include "qapi/error.h"
#include "qemu/module.h"
#include "qom/object.h"

#define TYPE_VIRTIO_VSOCK_USER_PCI "virtio-vsock-user-pci-base"
OBJECT_DECLARE_SIMPLE_TYPE(VirtIOVsockUserPCI, VIRTIO_VSOCK_USER_PCI)

struct VirtIOVsockUserPCI {
    VirtIOPCIProxy parent_obj;
    VirtIOVsockUser vdev;
};

static const Property vsock_user_pci_properties[] = {
    /*
     * Like the other virtio-pci devices that run in QEMU: kicks go
     * through an ioeventfd to the main loop unless ioeventfd=off.
     */
    DEFINE_PROP_BIT("ioeventfd", VirtIOPCIProxy, flags,
                    VIRTIO_PCI_FLAG_USE_IOEVENTFD_BIT, true),
    /* One vector per queue (rx, tx, event) plus one for config changes */
    DEFINE_PROP_UINT32("vectors", VirtIOPCIProxy, nvectors, 4),
};

static void vsock_user_pci_realize(VirtIOPCIProxy *vpci_dev, Error **errp)
{
    VirtIOVsockUserPCI *dev = VIRTIO_VSOCK_USER_PCI(vpci_dev);

    /* vsock has no legacy (virtio 0.9) interface */
    virtio_pci_force_virtio_1(vpci_dev);
    qdev_realize(DEVICE(&dev->vdev), BUS(&vpci_dev->bus), errp);
}

static void vsock_user_pci_class_init(ObjectClass *klass, const void *data)
{
    DeviceClass *dc = DEVICE_CLASS(klass);
    VirtioPCIClass *k = VIRTIO_PCI_CLASS(klass);
    PCIDeviceClass *pcidev_k = PCI_DEVICE_CLASS(klass);

    k->realize = vsock_user_pci_realize;
    set_bit(DEVICE_CATEGORY_MISC, dc->categories);
    device_class_set_props(dc, vsock_user_pci_properties);
    object_class_property_set_description(klass, "ioeventfd",
        "take the guest's kicks through an ioeventfd in QEMU's main loop "
        "(on), or in the vCPU thread that wrote the notify register (off)");
    object_class_property_set_description(klass, "vectors",
        "MSI-X vectors: one per queue (rx, tx, event) and one for "
        "configuration changes");
    pcidev_k->vendor_id = PCI_VENDOR_ID_REDHAT_QUMRANET;
    pcidev_k->device_id = PCI_DEVICE_ID_VIRTIO_VSOCK;
    pcidev_k->revision = 0x00;
    pcidev_k->class_id = PCI_CLASS_COMMUNICATION_OTHER;
}

static void vsock_user_pci_instance_init(Object *obj)
{
    VirtIOVsockUserPCI *dev = VIRTIO_VSOCK_USER_PCI(obj);

    virtio_instance_init_common(obj, &dev->vdev, sizeof(dev->vdev),
                                TYPE_VIRTIO_VSOCK_USER);
}

static const VirtioPCIDeviceTypeInfo vsock_user_pci_info = {
    .base_name = TYPE_VIRTIO_VSOCK_USER_PCI,
    .generic_name = "virtio-vsock-user-pci",
    .non_transitional_name = "virtio-vsock-user-pci-non-transitional",
    .instance_size = sizeof(VirtIOVsockUserPCI),
    .instance_init = vsock_user_pci_instance_init,
    .class_init = vsock_user_pci_class_init,
};

static void vsock_user_pci_register(void)
{
    virtio_pci_types_register(&vsock_user_pci_info);
}

type_init(vsock_user_pci_register)
