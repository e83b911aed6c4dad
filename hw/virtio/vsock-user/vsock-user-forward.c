/*
 * virtio-vsock-user: per-port forwards between guest ports and host sockets
 *
 *   -object vsock-user-forward,id=kms,guest-port=8000,connect=unix:/run/k.sock
 *       every guest connection to (parent CID, 8000) connects to the host
 *       address (any SocketAddress string: unix:PATH, HOST:PORT, ...)
 *   -object vsock-user-forward,id=web,listen=tcp:127.0.0.1:5000,guest-port=80
 *       every connection accepted on the host address opens a connection
 *       to the guest's port 80
 *   vsock=ID  attach to that virtio-vsock-user device (default: the only one)
 *   socket-type=seqpacket  forward SOCK_SEQPACKET connections to or from a Unix
 *       SOCK_SEQPACKET socket (default: stream)
 *
 * A forward attaches to its device when the machine is ready, or at once
 * when it is created later (object-add): virtio-vsock-user-attach.c.
 *
 * Copyright (c) 2026 The virtio-vsock-user authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qapi/qapi-visit-sockets.h"
#include "qapi/qapi-types-vsock-user.h"
#include "qapi/visitor.h"
#include "qemu/module.h"
#include "qemu/sockets.h"
#include "qom/object_interfaces.h"
#include "io/net-listener.h"
#include "hw/qdev-core.h"
#include "hw/virtio/virtio-vsock-user.h"
#include "vsock-user-forward.h"
#include "vsock-user-unix.h"
#include "trace.h"

struct VsockUserForward {
    Object parent_obj;

    /* properties */
    bool has_port;
    uint32_t guest_port;
    char *connect;
    char *listen;
    char *vsock;
    int type;                   /* VsockUserSocketType */

    bool complete;
    SocketAddress *addr;
    QIONetListener *listener;
    VirtIOVsockUserAttach attach;
    Notifier detach;            /* the device goes */
    VsockHost *host;            /* the device's, once attached */
    uint64_t serial;
};

static VsockType forward_type(VsockUserForward *f)
{
    return f->type == VSOCK_USER_SOCKET_TYPE_SEQPACKET ?
           VIRTIO_VSOCK_TYPE_SEQPACKET : VIRTIO_VSOCK_TYPE_STREAM;
}

static void forward_detach(VsockUserForward *f)
{
    if (!f->host) {
        return;
    }
    if (f->connect) {
        vsock_host_del_route(f->host, f->guest_port, f);
    }
    virtio_vsock_user_remove_detach_notifier(&f->detach);
    f->host = NULL;
}

static void forward_detach_notify(Notifier *n, void *data)
{
    forward_detach(container_of(n, VsockUserForward, detach));
}

static bool forward_attach(VirtIOVsockUserAttach *a, Error **errp)
{
    VsockUserForward *f = container_of(a, VsockUserForward, attach);
    const char *id = object_get_canonical_path_component(OBJECT(f));
    g_autofree char *what = g_strdup_printf("vsock-user-forward '%s'", id);
    VirtIOVsockUser *dev = virtio_vsock_user_find(f->vsock, what, errp);
    VsockHost *h;

    if (!dev) {
        return false;
    }
    h = virtio_vsock_user_get_host(dev);
    if (f->connect &&
        !vsock_host_add_route(h, f->guest_port, f->addr, forward_type(f), f,
                              id)) {
        error_setg(errp, "vsock-user-forward '%s': guest port %" PRIu32
                   " is already forwarded", id, f->guest_port);
        return false;
    }
    f->host = h;
    f->detach.notify = forward_detach_notify;
    virtio_vsock_user_add_detach_notifier(dev, &f->detach);
    trace_vsock_user_forward_attach(id, f->guest_port);
    return true;
}

static void forward_accept(QIONetListener *listener, QIOChannelSocket *sioc,
                           gpointer opaque)
{
    VsockUserForward *f = opaque;
    g_autofree char *name = g_strdup_printf("%s#%" PRIu64,
        object_get_canonical_path_component(OBJECT(f)), ++f->serial);

    if (!f->host) {
        /* no device (yet): refuse */
        trace_vsock_user_host_refused(name, "no device attached");
        qio_channel_close(QIO_CHANNEL(sioc), NULL);
        return;
    }
    vsock_host_connect_guest(f->host, sioc, f->guest_port, forward_type(f),
                             name,
                             object_get_canonical_path_component(OBJECT(f)),
                             f->listen);
}

static void forward_complete(UserCreatable *uc, Error **errp)
{
    VsockUserForward *f = VSOCK_USER_FORWARD(uc);
    const char *id = object_get_canonical_path_component(OBJECT(f));

    if (!f->has_port) {
        error_setg(errp, "vsock-user-forward '%s': guest-port is required",
                   id);
        return;
    }
    if (f->guest_port == VSOCK_PORT_ANY) {
        error_setg(errp, "vsock-user-forward '%s': guest-port 4294967295 "
                   "is reserved (any)", id);
        return;
    }
    if (!!f->connect == !!f->listen) {
        error_setg(errp, "vsock-user-forward '%s': set exactly one of "
                   "connect=ADDRESS (guest to host) and listen=ADDRESS "
                   "(host to guest)", id);
        return;
    }
    f->addr = socket_parse(f->connect ? f->connect : f->listen, errp);
    if (!f->addr) {
        error_prepend(errp, "vsock-user-forward '%s': ", id);
        return;
    }
    if (f->addr->type == SOCKET_ADDRESS_TYPE_UNIX &&
        !vsock_unix_path_fits(f->addr->u.q_unix.path, errp)) {
        error_prepend(errp, "vsock-user-forward '%s': ", id);
        return;
    }
    if (forward_type(f) == VIRTIO_VSOCK_TYPE_SEQPACKET &&
        f->addr->type != SOCKET_ADDRESS_TYPE_UNIX) {
        error_setg(errp, "vsock-user-forward '%s': socket-type=seqpacket "
                   "needs a unix:PATH address", id);
        return;
    }
    if (forward_type(f) == VIRTIO_VSOCK_TYPE_SEQPACKET &&
        !vsock_unix_has_seqpacket()) {
        error_setg(errp, "vsock-user-forward '%s': socket-type=seqpacket "
                   "needs Unix SOCK_SEQPACKET sockets, which this host "
                   "does not have", id);
        return;
    }
    if (f->listen && forward_type(f) == VIRTIO_VSOCK_TYPE_SEQPACKET) {
        f->listener = vsock_unix_seqpacket_listen(f->addr->u.q_unix.path,
                                                  "vsock-user-forward",
                                                  errp);
        if (!f->listener) {
            error_prepend(errp, "vsock-user-forward '%s': ", id);
            return;
        }
        qio_net_listener_set_client_func(f->listener, forward_accept, f,
                                         NULL);
    } else if (f->listen) {
        f->listener = qio_net_listener_new();
        qio_net_listener_set_name(f->listener, "vsock-user-forward");
        if (qio_net_listener_open_sync(f->listener, f->addr, SOMAXCONN,
                                       errp) < 0) {
            error_prepend(errp, "vsock-user-forward '%s': ", id);
            object_unref(OBJECT(f->listener));
            f->listener = NULL;
            return;
        }
        qio_net_listener_set_client_func(f->listener, forward_accept, f,
                                         NULL);
    }
    f->complete = true;
    trace_vsock_user_forward_new(id, f->guest_port,
                                 f->connect ? "connect" : "listen",
                                 f->connect ? f->connect : f->listen);

    f->attach.attach = forward_attach;
    if (!virtio_vsock_user_attach_when_ready(&f->attach, errp)) {
        goto fail;
    }
    return;

fail:
    f->complete = false;
    if (f->listener) {
        qio_net_listener_disconnect(f->listener);
        object_unref(OBJECT(f->listener));
        f->listener = NULL;
    }
}

static void forward_set_str(VsockUserForward *f, char **field,
                            const char *value, Error **errp)
{
    if (f->complete) {
        error_setg(errp, "vsock-user-forward properties cannot change");
        return;
    }
    g_free(*field);
    *field = g_strdup(value);
}

static char *forward_get_connect(Object *obj, Error **errp)
{
    return g_strdup(VSOCK_USER_FORWARD(obj)->connect);
}

static void forward_set_connect(Object *obj, const char *v, Error **errp)
{
    VsockUserForward *f = VSOCK_USER_FORWARD(obj);

    forward_set_str(f, &f->connect, v, errp);
}

static char *forward_get_listen(Object *obj, Error **errp)
{
    return g_strdup(VSOCK_USER_FORWARD(obj)->listen);
}

static void forward_set_listen(Object *obj, const char *v, Error **errp)
{
    VsockUserForward *f = VSOCK_USER_FORWARD(obj);

    forward_set_str(f, &f->listen, v, errp);
}

static char *forward_get_vsock(Object *obj, Error **errp)
{
    return g_strdup(VSOCK_USER_FORWARD(obj)->vsock);
}

static void forward_set_vsock(Object *obj, const char *v, Error **errp)
{
    VsockUserForward *f = VSOCK_USER_FORWARD(obj);

    forward_set_str(f, &f->vsock, v, errp);
}

static int forward_get_type(Object *obj, Error **errp)
{
    return VSOCK_USER_FORWARD(obj)->type;
}

static void forward_set_type(Object *obj, int value, Error **errp)
{
    VsockUserForward *f = VSOCK_USER_FORWARD(obj);

    if (f->complete) {
        error_setg(errp, "vsock-user-forward properties cannot change");
        return;
    }
    f->type = value;
}

static void forward_get_port(Object *obj, Visitor *v, const char *name,
                             void *opaque, Error **errp)
{
    VsockUserForward *f = VSOCK_USER_FORWARD(obj);

    visit_type_uint32(v, name, &f->guest_port, errp);
}

static void forward_set_port(Object *obj, Visitor *v, const char *name,
                             void *opaque, Error **errp)
{
    VsockUserForward *f = VSOCK_USER_FORWARD(obj);
    uint32_t value;

    if (f->complete) {
        error_setg(errp, "vsock-user-forward properties cannot change");
        return;
    }
    if (!visit_type_uint32(v, name, &value, errp)) {
        return;
    }
    f->guest_port = value;
    f->has_port = true;
}

static void forward_finalize(Object *obj)
{
    VsockUserForward *f = VSOCK_USER_FORWARD(obj);

    virtio_vsock_user_attach_cancel(&f->attach);
    forward_detach(f);
    if (f->listener) {
        qio_net_listener_disconnect(f->listener);
        object_unref(OBJECT(f->listener));
    }
    qapi_free_SocketAddress(f->addr);
    g_free(f->connect);
    g_free(f->listen);
    g_free(f->vsock);
}

static void forward_class_init(ObjectClass *oc, const void *data)
{
    UserCreatableClass *ucc = USER_CREATABLE_CLASS(oc);

    ucc->complete = forward_complete;
    object_class_property_add(oc, "guest-port", "uint32", forward_get_port,
                              forward_set_port, NULL, NULL);
    object_class_property_set_description(oc, "guest-port",
        "the guest's vsock port (listen) or the parent's port the guest "
        "connects to (connect)");
    object_class_property_add_str(oc, "connect", forward_get_connect,
                                  forward_set_connect);
    object_class_property_set_description(oc, "connect",
        "host address each guest connection is forwarded to");
    object_class_property_add_str(oc, "listen", forward_get_listen,
                                  forward_set_listen);
    object_class_property_set_description(oc, "listen",
        "host address to listen on; connections go to guest-port");
    object_class_property_add_str(oc, "vsock", forward_get_vsock,
                                  forward_set_vsock);
    object_class_property_set_description(oc, "vsock",
        "id of the virtio-vsock-user device or of its PCI proxy (default: "
        "the only one)");
    object_class_property_add_enum(oc, "socket-type", "VsockUserSocketType",
                                   &VsockUserSocketType_lookup,
                                   forward_get_type, forward_set_type);
    object_class_property_set_description(oc, "socket-type",
        "socket type: stream (default) or seqpacket (unix: addresses, "
        "SOCK_SEQPACKET)");
}

static const TypeInfo forward_info = {
    .name = TYPE_VSOCK_USER_FORWARD,
    .parent = TYPE_OBJECT,
    .instance_size = sizeof(VsockUserForward),
    .instance_finalize = forward_finalize,
    .class_init = forward_class_init,
    .interfaces = (const InterfaceInfo[]) {
        { TYPE_USER_CREATABLE },
        { }
    },
};

static void forward_register_types(void)
{
    type_register_static(&forward_info);
}

type_init(forward_register_types)
