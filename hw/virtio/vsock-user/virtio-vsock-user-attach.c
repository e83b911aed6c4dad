/*
 * virtio-vsock-user: how objects find a device and attach to it
 *
 * vsock-user-link, vsock-user-forward and the vsock-user chardev work
 * through a device, which they name with vsock=ID (the device's own id
 * or its PCI proxy's), or not at all when there is only one.  One rule
 * for all of them: an object created on the command line attaches when
 * the machine is ready (objects are created before devices), one created
 * at run time (object-add, chardev-add) attaches at once; either way an
 * error names the object and what is wrong.  The device never looks for
 * them: they come to it, and it tells them when it goes.
 *
 * Copyright (c) 2026 The virtio-vsock-user authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/error-report.h"
#include "hw/qdev-core.h"
#include "hw/virtio/virtio-vsock-user.h"
#include "system/system.h"
#include "vsock-user-backend.h"
#include "vsock-user-local.h"

const char *virtio_vsock_user_id(VirtIOVsockUser *s)
{
    DeviceState *dev = DEVICE(s);
    BusState *bus = qdev_get_parent_bus(dev);

    if (dev->id) {
        return dev->id;
    }
    return bus && bus->parent ? bus->parent->id : NULL;
}

/* @obj itself, or the virtio-vsock-user inside the PCI proxy @obj. */
static VirtIOVsockUser *vsock_user_of(Object *obj)
{
    Object *child;

    if (!obj) {
        return NULL;
    }
    if (object_dynamic_cast(obj, TYPE_VIRTIO_VSOCK_USER)) {
        return VIRTIO_VSOCK_USER(obj);
    }
    child = object_resolve_path_component(obj, "virtio-backend");
    return child && object_dynamic_cast(child, TYPE_VIRTIO_VSOCK_USER) ?
           VIRTIO_VSOCK_USER(child) : NULL;
}

VirtIOVsockUser *virtio_vsock_user_find(const char *id, const char *what,
                                        Error **errp)
{
    VirtIOVsockUser *s;
    bool ambiguous = false;

    if (id) {
        s = vsock_user_of(object_resolve_path_component(
                              machine_get_container("peripheral"), id));
        if (!s) {
            error_setg(errp, "%s: vsock=%s: no virtio-vsock-user device "
                       "has that id", what, id);
            return NULL;
        }
    } else {
        s = (VirtIOVsockUser *)
            object_resolve_path_type("", TYPE_VIRTIO_VSOCK_USER, &ambiguous);
        if (ambiguous) {
            error_setg(errp, "%s: there are several virtio-vsock-user "
                       "devices; name one with vsock=ID", what);
            return NULL;
        }
        if (!s) {
            error_setg(errp, "%s: there is no virtio-vsock-user device "
                       "(add one with -device)", what);
            return NULL;
        }
    }
    if (!DEVICE(s)->realized) {
        error_setg(errp, "%s: virtio-vsock-user '%s' is not realized", what,
                   virtio_vsock_user_id(s) ?: "(no id)");
        return NULL;
    }
    return s;
}

static void attach_machine_done(Notifier *n, void *data)
{
    VirtIOVsockUserAttach *a = container_of(n, VirtIOVsockUserAttach,
                                            machine_done);
    Error *err = NULL;

    notifier_remove(&a->machine_done);
    a->waiting = false;
    if (!a->attach(a, &err)) {
        error_report_err(err);
        exit(1);
    }
}

bool virtio_vsock_user_attach_when_ready(VirtIOVsockUserAttach *a,
                                         Error **errp)
{
    if (phase_check(PHASE_MACHINE_READY)) {
        return a->attach(a, errp);
    }
    a->machine_done.notify = attach_machine_done;
    a->waiting = true;
    qemu_add_machine_init_done_notifier(&a->machine_done);
    return true;
}

void virtio_vsock_user_attach_cancel(VirtIOVsockUserAttach *a)
{
    if (a->waiting) {
        notifier_remove(&a->machine_done);
        a->waiting = false;
    }
}

void virtio_vsock_user_add_detach_notifier(VirtIOVsockUser *s, Notifier *n)
{
    notifier_list_add(&s->detach, n);
}

void virtio_vsock_user_remove_detach_notifier(Notifier *n)
{
    notifier_remove(n);
}

void virtio_vsock_user_add_backend(VirtIOVsockUser *s, VsockBackend *b)
{
    vsock_backends_add(s->backends, b);
}

VsockEngine *virtio_vsock_user_get_engine(VirtIOVsockUser *s)
{
    return vsock_local_engine(s->local);
}

VsockHost *virtio_vsock_user_get_host(VirtIOVsockUser *s)
{
    return vsock_local_host(s->local);
}
