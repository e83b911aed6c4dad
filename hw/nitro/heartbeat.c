/*
 * nitro-heartbeat: the parent's side of the Nitro Enclaves heartbeat
 *
 * An enclave's init connects to its parent (CID 3) on vsock port 9000
 * as soon as it boots, writes one byte, 0xB7, and carries on only once
 * the parent has written the same byte back.  This device model plays
 * that parent on a chardev: it echoes the first byte it reads, stops
 * reading and hangs up the connection.  It answers once per boot; a
 * system reset arms it again, so a rebooted enclave gets its answer too.
 * While it is answered, it keeps its chardev's frontend closed, which a
 * vsock-user chardev takes as "refuse guest connections".
 *
 *   -device nitro-heartbeat,chardev=ID
 *       on any chardev: a vsock-user chardev listening on port 9000 of a
 *       virtio-vsock-user device, as that device's heartbeat= property
 *       creates it, or a socket chardev
 *   -device nitro-heartbeat
 *       without chardev= it opens the parent instance's own listener: a
 *       host AF_VSOCK server socket on port 9000 of any CID, as a real
 *       parent needs when the enclave runs on Nitro hardware
 *
 * Copyright (c) 2026 The virtio-vsock-user authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qapi/qapi-types-char.h"
#include "qemu/module.h"
#include "chardev/char.h"
#include "hw/nitro/heartbeat.h"
#include "hw/qdev-properties.h"
#include "hw/qdev-properties-system.h"
#include "hw/resettable.h"
#include "system/reset.h"
#include "trace.h"

static int heartbeat_can_read(void *opaque)
{
    NitroHeartbeatState *s = opaque;

    return s->done ? 0 : 1;
}

static void heartbeat_event(void *opaque, QEMUChrEvent event)
{
    trace_nitro_heartbeat_event(event);
}

static void heartbeat_read(void *opaque, const uint8_t *buf, int size)
{
    NitroHeartbeatState *s = opaque;

    if (s->done || size < 1) {
        return;
    }
    /* whatever the byte is: the enclave's init judges the answer */
    qemu_chr_fe_write_all(&s->chr, buf, 1);
    s->done = true;
    trace_nitro_heartbeat_done();
    /* one-shot: read no more, and hang up once the echo is out */
    qemu_chr_fe_set_handlers(&s->chr, NULL, NULL, NULL, NULL, NULL, NULL,
                             true);
    qemu_chr_fe_disconnect(&s->chr);
}

static void heartbeat_arm(NitroHeartbeatState *s)
{
    s->done = false;
    qemu_chr_fe_set_handlers(&s->chr, heartbeat_can_read, heartbeat_read,
                             heartbeat_event, NULL, s, NULL, true);
}

static void heartbeat_reset_hold(Object *obj, ResetType type)
{
    NitroHeartbeatState *s = NITRO_HEARTBEAT(obj);

    if (s->done) {
        trace_nitro_heartbeat_rearm();
        heartbeat_arm(s);
    }
}

/* The parent instance's own listener: vsock, any CID, port 9000. */
static Chardev *heartbeat_host_chardev(Error **errp)
{
    ChardevBackend *backend = g_new0(ChardevBackend, 1);
    ChardevSocket *sock = g_new0(ChardevSocket, 1);
    SocketAddressLegacy *addr = g_new0(SocketAddressLegacy, 1);
    Chardev *chr;

    addr->type = SOCKET_ADDRESS_TYPE_VSOCK;
    addr->u.vsock.data = g_new0(VsockSocketAddress, 1);
    addr->u.vsock.data->cid = g_strdup("4294967295");
    addr->u.vsock.data->port = g_strdup_printf("%d", NITRO_HEARTBEAT_PORT);
    sock->addr = addr;
    sock->has_server = true;
    sock->server = true;
    backend->type = CHARDEV_BACKEND_KIND_SOCKET;
    backend->u.socket.data = sock;
    chr = qemu_chardev_new(NULL, TYPE_CHARDEV_SOCKET, backend, NULL, errp);
    qapi_free_ChardevBackend(backend);
    return chr;
}

static void heartbeat_realize(DeviceState *dev, Error **errp)
{
    NitroHeartbeatState *s = NITRO_HEARTBEAT(dev);

    if (!qemu_chr_fe_backend_connected(&s->chr)) {
        Chardev *chr = heartbeat_host_chardev(errp);

        if (!chr) {
            error_prepend(errp, "nitro-heartbeat: without chardev=, the "
                          "host vsock listener on port %d failed: ",
                          NITRO_HEARTBEAT_PORT);
            return;
        }
        if (!qemu_chr_fe_init(&s->chr, chr, errp)) {
            object_unparent(OBJECT(chr));
            return;
        }
        s->own_chardev = true;
    }
    heartbeat_arm(s);
    qemu_register_resettable(OBJECT(dev));
}

static void heartbeat_unrealize(DeviceState *dev)
{
    NitroHeartbeatState *s = NITRO_HEARTBEAT(dev);

    qemu_unregister_resettable(OBJECT(dev));
    qemu_chr_fe_deinit(&s->chr, s->own_chardev);
}

static bool heartbeat_get_done(Object *obj, Error **errp)
{
    return NITRO_HEARTBEAT(obj)->done;
}

static const Property heartbeat_props[] = {
    DEFINE_PROP_CHR("chardev", NitroHeartbeatState, chr),
};

static void heartbeat_class_init(ObjectClass *oc, const void *data)
{
    DeviceClass *dc = DEVICE_CLASS(oc);
    ResettableClass *rc = RESETTABLE_CLASS(oc);

    dc->desc = "Nitro Enclaves heartbeat: echoes the enclave's first byte";
    dc->realize = heartbeat_realize;
    dc->unrealize = heartbeat_unrealize;
    rc->phases.hold = heartbeat_reset_hold;
    set_bit(DEVICE_CATEGORY_MISC, dc->categories);
    device_class_set_props(dc, heartbeat_props);
    object_class_property_set_description(oc, "chardev",
        "chardev the enclave's heartbeat arrives on (default: a host "
        "vsock listener on port 9000)");
    object_class_property_add_bool(oc, "done", heartbeat_get_done, NULL);
    object_class_property_set_description(oc, "done",
        "the heartbeat was answered since the last reset");
}

static const TypeInfo heartbeat_info = {
    .name = TYPE_NITRO_HEARTBEAT,
    .parent = TYPE_DEVICE,
    .instance_size = sizeof(NitroHeartbeatState),
    .class_init = heartbeat_class_init,
};

static void heartbeat_register_types(void)
{
    type_register_static(&heartbeat_info);
}

type_init(heartbeat_register_types)
