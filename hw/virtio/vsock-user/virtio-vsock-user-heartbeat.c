/*
 * virtio-vsock-user: the heartbeat= property
 *
 * heartbeat=on (auto: when parent-cid is 3) answers the Nitro Enclaves
 * heartbeat with the device model a machine uses for it: a
 * nitro-heartbeat on a vsock-user chardev that listens on port 9000 of
 * this device.  The device has no heartbeat code of its own.  The
 * chardev is named after the device (ID-heartbeat, or
 * vsock-user-heartbeat for a device without an id), which is how
 * query-vsock-user names the connection's endpoint.
 *
 * Copyright (c) 2026 The virtio-vsock-user authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "chardev/char-vsock-user.h"
#include "hw/nitro/heartbeat.h"
#include "hw/qdev-properties.h"
#include "hw/qdev-properties-system.h"
#include "hw/virtio/virtio-vsock-user.h"

static bool heartbeat_wanted(VirtIOVsockUser *s)
{
    return s->heartbeat == ON_OFF_AUTO_ON ||
           (s->heartbeat == ON_OFF_AUTO_AUTO &&
            s->parent_cid == VIRTIO_VSOCK_USER_PARENT_CID);
}

bool virtio_vsock_user_heartbeat_start(VirtIOVsockUser *s, Error **errp)
{
    const char *devid = virtio_vsock_user_id(s);
    g_autofree char *id = devid ? g_strdup_printf("%s-heartbeat", devid) :
                          g_strdup("vsock-user-heartbeat");
    DeviceState *hb;
    Chardev *chr;

    if (!heartbeat_wanted(s)) {
        return true;
    }
    if (qemu_chr_find(id)) {
        error_setg(errp, "heartbeat: its chardev would be '%s', which "
                   "exists already; %s, or set heartbeat=off", id,
                   devid ? "rename that chardev" :
                   "give the device an id (its heartbeat chardev is then "
                   "ID-heartbeat)");
        return false;
    }
    chr = vsock_user_chardev_new_for(s, id, NITRO_HEARTBEAT_PORT, errp);
    if (!chr) {
        error_prepend(errp, "heartbeat: ");
        return false;
    }
    hb = qdev_new(TYPE_NITRO_HEARTBEAT);
    object_property_add_child(OBJECT(s), "nitro-heartbeat", OBJECT(hb));
    qdev_prop_set_chr(hb, "chardev", chr);
    if (!qdev_realize_and_unref(hb, NULL, errp)) {
        object_unparent(OBJECT(hb));
        object_unparent(OBJECT(chr));
        return false;
    }
    s->heartbeat_dev = hb;
    return true;
}

void virtio_vsock_user_heartbeat_stop(VirtIOVsockUser *s)
{
    Chardev *chr;

    if (!s->heartbeat_dev) {
        return;
    }
    chr = NITRO_HEARTBEAT(s->heartbeat_dev)->chr.chr;
    object_unparent(OBJECT(s->heartbeat_dev));
    s->heartbeat_dev = NULL;
    if (chr) {
        object_unparent(OBJECT(chr));
    }
}
