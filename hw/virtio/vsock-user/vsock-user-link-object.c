/*
 * virtio-vsock-user: the vsock-user-link object
 *
 * Properties (errors at creation):
 *   addr=ADDRESS    unix:PATH, HOST:PORT (tcp), fd:N
 *   server=on|off   listen on addr (on) or connect to it (off, default)
 *   cids=N[,cids=M] the CIDs reachable through the link (the other guest's)
 *   relay-cids=N    CIDs of other links of the device that frames from this
 *                   link may be relayed to (default: none, refused)
 *   vsock=ID        the virtio-vsock-user device (default: the only one)
 *   max-queued=N    the byte budget of each direction (default 4 MiB)
 *   reconnect-ms=N  with server=off, the pause between connect attempts
 *   hello-timeout-ms=N  a connected peer must complete TLS and its hello
 *                   within N ms (default 10000)
 *   tls-creds=ID    a tls-creds-x509/psk object: the link runs over TLS
 *
 * What the device calls to route packets through the links (and the
 * budget rule) is in vsock-user-link-route.c; the socket side in
 * vsock-user-link.c.
 *
 * Copyright (c) 2026 The virtio-vsock-user authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qapi/qapi-visit-sockets.h"
#include "qapi/qapi-builtin-visit.h"
#include "qapi/visitor.h"
#include "qemu/guest-random.h"
#include "qemu/error-report.h"
#include "qemu/log.h"
#include "qemu/module.h"
#include "qemu/sockets.h"
#include "qom/object_interfaces.h"
#include "hw/qdev-core.h"
#include "system/system.h"
#include "standard-headers/linux/virtio_vsock.h"
#include "vsock-user-link-int.h"
#include "vsock-user-unix.h"
#include "trace.h"

/* ---- attaching to the device ------------------------------------------ */

/*
 * The CIDs a link carries are its own: not the device's guest's, and
 * not another link's of the same device.  relay-cids may name CIDs of
 * links attached later (object-add): a frame for a CID no link carries
 * is refused when it comes.
 */
static bool link_check_cids_free(VsockUserLink *l, VirtIOVsockUser *dev,
                                  Error **errp)
{
    VsockBackend *b;

    for (unsigned c = 0; c < l->n_cids; c++) {
        if (l->cids[c] == dev->guest_cid) {
            error_setg(errp, "vsock-user-link '%s': cids include %" PRIu32
                       ", the CID of its device's own guest",
                       vsock_link_id(l), l->cids[c]);
            return false;
        }
    }
    VSOCK_BACKENDS_FOREACH(b, dev->backends) {
        VsockUserLink *o;

        if (b->ops != &vsock_link_backend_ops) {
            continue;
        }
        o = container_of(b, VsockUserLink, backend);
        for (unsigned c = 0; c < l->n_cids; c++) {
            /* by name, whichever of the two attached first */
            bool o_first = strcmp(vsock_link_id(o), vsock_link_id(l)) < 0;

            if (vsock_link_carries(o, l->cids[c])) {
                error_setg(errp, "vsock-user-links '%s' and '%s' both carry "
                           "CID %" PRIu32 "; a CID is reachable through one "
                           "link only",
                           vsock_link_id(o_first ? o : l),
                           vsock_link_id(o_first ? l : o), l->cids[c]);
                return false;
            }
        }
    }
    return true;
}

static void link_detach_notify(Notifier *n, void *data);

/* The VM runs here again (or for the first time, after migrating in). */
static void link_vm_state_change(void *opaque, bool running, RunState state)
{
    if (running) {
        vsock_link_reconnect_cb(opaque);
    }
}

static bool link_attach(VirtIOVsockUserAttach *a, Error **errp)
{
    VsockUserLink *l = container_of(a, VsockUserLink, attach);
    g_autofree char *what = g_strdup_printf("vsock-user-link '%s'",
                                            vsock_link_id(l));
    VirtIOVsockUser *dev = virtio_vsock_user_find(l->vsock, what, errp);

    if (!dev || !link_check_cids_free(l, dev, errp)) {
        return false;
    }
    l->owner = (VsockLinkOwner) {
        .dev = dev,
        .guest_cid = dev->guest_cid,
        .max_conns = dev->max_connections,
    };
    l->guest_seqpacket = virtio_vdev_has_feature(VIRTIO_DEVICE(dev),
                                                 VIRTIO_VSOCK_F_SEQPACKET);
    l->attached = true;
    l->detach.notify = link_detach_notify;
    virtio_vsock_user_add_detach_notifier(dev, &l->detach);
    virtio_vsock_user_add_backend(dev, &l->backend);
    trace_vsock_user_link_attach(vsock_link_id(l), l->owner.guest_cid);
    vsock_link_reconnect_cb(l);
    return true;
}

static void link_detach(VsockUserLink *l)
{
    if (!l->attached) {
        return;
    }
    l->attached = false;
    vsock_backends_del(&l->backend);
    virtio_vsock_user_remove_detach_notifier(&l->detach);
    timer_del(l->reconnect_timer);
    l->attempt++;               /* a connect under way is dropped */
    vsock_link_candidates_clear(l);
    vsock_link_down(l, "device gone");
    g_hash_table_remove_all(l->conns);
    vsock_link_rxq_clear(l);
    memset(&l->owner, 0, sizeof(l->owner));
}

static void link_detach_notify(Notifier *n, void *data)
{
    link_detach(container_of(n, VsockUserLink, detach));
}

/* ---- the object ------------------------------------------------------- */

/* A CID list property: no reserved CID, none twice. */
static bool link_check_cids(const char *id, const char *prop,
                            const uint32_t *cids, unsigned n, Error **errp)
{
    for (unsigned i = 0; i < n; i++) {
        if (cids[i] <= VSOCK_CID_HOST || cids[i] == VSOCK_CID_ANY) {
            error_setg(errp, "vsock-user-link '%s': %s=%" PRIu32 " is "
                       "reserved (0, 1, 2 and 4294967295); a linked guest "
                       "has a CID in 3..4294967294", id, prop, cids[i]);
            return false;
        }
        for (unsigned j = 0; j < i; j++) {
            if (cids[j] == cids[i]) {
                error_setg(errp, "vsock-user-link '%s': %s=%" PRIu32
                           " is given twice", id, prop, cids[i]);
                return false;
            }
        }
    }
    return true;
}

static void link_complete(UserCreatable *uc, Error **errp)
{
    VsockUserLink *l = VSOCK_USER_LINK(uc);
    const char *id = vsock_link_id(l);

    if (!l->addr_str) {
        error_setg(errp, "vsock-user-link '%s': addr is required (unix:PATH, "
                   "HOST:PORT or fd:NAME)", id);
        return;
    }
    if (!l->n_cids) {
        error_setg(errp, "vsock-user-link '%s': cids is required: the CID of "
                   "the guest at the other end (cids=N, repeatable)", id);
        return;
    }
    if (!link_check_cids(id, "cids", l->cids, l->n_cids, errp) ||
        !link_check_cids(id, "relay-cids", l->relay_cids, l->n_relay, errp)) {
        return;
    }
    for (unsigned i = 0; i < l->n_relay; i++) {
        if (vsock_link_carries(l, l->relay_cids[i])) {
            error_setg(errp, "vsock-user-link '%s': relay-cids=%" PRIu32
                       " is in this link's own cids; relay-cids names "
                       "CIDs of the device's other links", id,
                       l->relay_cids[i]);
            return;
        }
    }
    if (l->max_queued < LINK_MIN_QUEUED) {
        error_setg(errp, "vsock-user-link '%s': max-queued %" PRIu32 " is "
                   "below one packet (%u bytes)", id, l->max_queued,
                   LINK_MIN_QUEUED);
        return;
    }
    if (l->reconnect_ms < 1) {
        error_setg(errp, "vsock-user-link '%s': reconnect-ms must be at "
                   "least 1", id);
        return;
    }
    if (l->hello_timeout_ms < 1 ||
        l->hello_timeout_ms > LINK_MAX_HELLO_TIMEOUT_MS) {
        error_setg(errp, "vsock-user-link '%s': hello-timeout-ms %" PRIu32
                   " is out of range: 1 to %u (a peer that connects and "
                   "never completes its hello is dropped after it)", id,
                   l->hello_timeout_ms, LINK_MAX_HELLO_TIMEOUT_MS);
        return;
    }
    l->addr = socket_parse(l->addr_str, errp);
    if (!l->addr) {
        error_prepend(errp, "vsock-user-link '%s': addr: ", id);
        return;
    }
    if (l->addr->type == SOCKET_ADDRESS_TYPE_UNIX &&
        !vsock_unix_path_fits(l->addr->u.q_unix.path, errp)) {
        error_prepend(errp, "vsock-user-link '%s': addr: ", id);
        return;
    }
    /*
     * A connected fd:N (server=off, the link's only connection, no
     * reconnect) is resolved now, so that a bad descriptor stops QEMU
     * here and a name given with getfd is looked up while the monitor
     * command that adds the link runs, not later when the link connects.
     * A listening one (server=on) is resolved by the listener, below and
     * in the same command: resolving it twice would look the number up as
     * a monitor name.
     */
    if (l->addr->type == SOCKET_ADDRESS_TYPE_FD && !l->server &&
        socket_address_parse_named_fd(l->addr, errp) < 0) {
        error_prepend(errp, "vsock-user-link '%s': addr: ", id);
        return;
    }
    if (l->tls_creds_id) {
        Object *creds = object_resolve_path_component(
            object_get_objects_root(), l->tls_creds_id);

        l->tls_creds = (QCryptoTLSCreds *)
            object_dynamic_cast(creds, TYPE_QCRYPTO_TLS_CREDS);
        if (!l->tls_creds) {
            error_setg(errp, "vsock-user-link '%s': tls-creds '%s' is not a "
                       "tls-creds-x509 or tls-creds-psk object", id,
                       l->tls_creds_id);
            return;
        }
        if (!qcrypto_tls_creds_check_endpoint(l->tls_creds, l->server ?
                QCRYPTO_TLS_CREDS_ENDPOINT_SERVER :
                QCRYPTO_TLS_CREDS_ENDPOINT_CLIENT, errp)) {
            error_prepend(errp, "vsock-user-link '%s': ", id);
            l->tls_creds = NULL;
            return;
        }
        object_ref(OBJECT(l->tls_creds));
    }
    if (l->server) {
        l->listener = qio_net_listener_new();
        qio_net_listener_set_name(l->listener, "vsock-user-link");
        if (qio_net_listener_open_sync(l->listener, l->addr, 1, errp) < 0) {
            error_prepend(errp, "vsock-user-link '%s': ", id);
            object_unref(OBJECT(l->listener));
            l->listener = NULL;
            return;
        }
        qio_net_listener_set_client_func(l->listener, vsock_link_accept, l,
                                         NULL);
    }
    l->reconnect_timer = timer_new_ms(QEMU_CLOCK_REALTIME,
                                      vsock_link_reconnect_cb, l);
    l->vm_state = qemu_add_vm_change_state_handler(link_vm_state_change, l);
    l->hello_timer = timer_new_ms(QEMU_CLOCK_REALTIME,
                                  vsock_link_hello_timeout_cb, l);
    l->refusal_timer = timer_new_ms(QEMU_CLOCK_REALTIME,
                                    vsock_link_refusal_summary_cb, l);
    l->complete = true;
    trace_vsock_user_link_new(id, l->server ? "listen" : "connect",
                              l->addr_str);
    l->attach.attach = link_attach;
    virtio_vsock_user_attach_when_ready(&l->attach, errp);
}

/* object-del: the link leaves its device at once */
static void link_unparent(Object *obj)
{
    VsockUserLink *l = VSOCK_USER_LINK(obj);

    virtio_vsock_user_attach_cancel(&l->attach);
    link_detach(l);
}

static bool link_settable(VsockUserLink *l, Error **errp)
{
    if (l->complete) {
        error_setg(errp, "vsock-user-link properties cannot change");
        return false;
    }
    return true;
}

#define LINK_STR_PROP(name, field)                                        \
    static char *link_get_##name(Object *obj, Error **errp)               \
    {                                                                     \
        return g_strdup(VSOCK_USER_LINK(obj)->field);                     \
    }                                                                     \
    static void link_set_##name(Object *obj, const char *v, Error **errp) \
    {                                                                     \
        VsockUserLink *l = VSOCK_USER_LINK(obj);                          \
        if (link_settable(l, errp)) {                                     \
            g_free(l->field);                                             \
            l->field = g_strdup(v);                                       \
        }                                                                 \
    }

LINK_STR_PROP(vsock, vsock)
LINK_STR_PROP(addr, addr_str)
LINK_STR_PROP(tls_creds, tls_creds_id)

static bool link_get_server(Object *obj, Error **errp)
{
    return VSOCK_USER_LINK(obj)->server;
}

static void link_set_server(Object *obj, bool v, Error **errp)
{
    VsockUserLink *l = VSOCK_USER_LINK(obj);

    if (link_settable(l, errp)) {
        l->server = v;
    }
}

/* @opaque: NULL for cids, non-NULL for relay-cids */
static uint32_t *link_cid_list(VsockUserLink *l, void *opaque, unsigned **n)
{
    if (opaque) {
        *n = &l->n_relay;
        return l->relay_cids;
    }
    *n = &l->n_cids;
    return l->cids;
}

static void link_get_cids(Object *obj, Visitor *v, const char *name,
                          void *opaque, Error **errp)
{
    VsockUserLink *l = VSOCK_USER_LINK(obj);
    uint32List *list = NULL, **tail = &list;
    unsigned *cnt;
    uint32_t *cids = link_cid_list(l, opaque, &cnt);

    for (unsigned i = 0; i < *cnt; i++) {
        QAPI_LIST_APPEND(tail, cids[i]);
    }
    visit_type_uint32List(v, name, &list, errp);
    qapi_free_uint32List(list);
}

static void link_set_cids(Object *obj, Visitor *v, const char *name,
                          void *opaque, Error **errp)
{
    VsockUserLink *l = VSOCK_USER_LINK(obj);
    uint32List *list = NULL;
    unsigned n = 0, *cnt;
    uint32_t *cids = link_cid_list(l, opaque, &cnt);

    if (!link_settable(l, errp) ||
        !visit_type_uint32List(v, name, &list, errp)) {
        return;
    }
    for (uint32List *e = list; e; e = e->next) {
        if (n == LINK_MAX_CIDS) {
            error_setg(errp, "vsock-user-link: at most %d %s",
                       LINK_MAX_CIDS, name);
            qapi_free_uint32List(list);
            return;
        }
        cids[n++] = e->value;
    }
    *cnt = n;
    qapi_free_uint32List(list);
}

/* @opaque: the field's offset in VsockUserLink */
static void link_get_u32(Object *obj, Visitor *v, const char *name,
                         void *opaque, Error **errp)
{
    uint32_t *field = (uint32_t *)((char *)obj + (uintptr_t)opaque);

    visit_type_uint32(v, name, field, errp);
}

static void link_set_u32(Object *obj, Visitor *v, const char *name,
                         void *opaque, Error **errp)
{
    uint32_t value;

    if (link_settable(VSOCK_USER_LINK(obj), errp) &&
        visit_type_uint32(v, name, &value, errp)) {
        *(uint32_t *)((char *)obj + (uintptr_t)opaque) = value;
    }
}

static const char *const link_state_names[] = {
    [LINK_DOWN] = "down",
    [LINK_CONNECTING] = "connecting",
    [LINK_HELLO] = "hello",
    [LINK_UP] = "up",
};

static char *link_get_state(Object *obj, Error **errp)
{
    return g_strdup(link_state_names[VSOCK_USER_LINK(obj)->state]);
}

typedef struct LinkStat {
    const char *name;
    const char *description;
    size_t offset;
} LinkStat;

#define LINK_STAT(n, f, d) { n, d, offsetof(LinkStats, f) }

static const LinkStat link_stats[] = {
    LINK_STAT("tx-packets", tx_pkts, "guest packets sent over the link"),
    LINK_STAT("tx-bytes", tx_bytes, "guest payload bytes sent over the link"),
    LINK_STAT("rx-packets", rx_pkts, "packets from the link for the guest"),
    LINK_STAT("rx-bytes", rx_bytes, "payload bytes from the link for the "
              "guest"),
    LINK_STAT("refused", refused, "packets from the link dropped: src_cid "
              "not in cids, or dst_cid neither this guest's nor relayed "
              "(relay-cids; those get an RST back)"),
    LINK_STAT("garbage", garbage, "times the link was closed for a "
              "malformed frame from the other end"),
    LINK_STAT("resets", resets, "connections the link reset (over "
              "max-queued, link down, guest reset, max-connections)"),
    LINK_STAT("reconnects", reconnects, "times the link came up again "
              "after it was down"),
    LINK_STAT("guest-errors", guest_errors, "malformed guest packets for "
              "the link"),
    LINK_STAT("hello-timeouts", hello_timeouts, "connections dropped "
              "because the other end did not complete TLS and its hello "
              "within hello-timeout-ms"),
    LINK_STAT("tls-failures", tls_failures, "TLS sessions that failed "
              "(handshake refused: wrong key or certificate)"),
    LINK_STAT("relayed", relayed, "packets from the link relayed onward "
              "to another link of the device (relay-cids)"),
    LINK_STAT("hellos-refused", hellos_refused, "hellos from the other end "
              "refused (a CID the link does not carry, the guest's own, "
              "cids without the guest's); the log reports a few per "
              "minute"),
};

static void link_get_stat(Object *obj, Visitor *v, const char *name,
                          void *opaque, Error **errp)
{
    const LinkStat *st = opaque;
    uint64_t value = *(uint64_t *)((char *)&VSOCK_USER_LINK(obj)->stats +
                                   st->offset);

    visit_type_uint64(v, name, &value, errp);
}

static void link_get_conns(Object *obj, Visitor *v, const char *name,
                           void *opaque, Error **errp)
{
    GHashTableIter it;
    gpointer c;
    uint64_t value = 0;

    g_hash_table_iter_init(&it, VSOCK_USER_LINK(obj)->conns);
    while (g_hash_table_iter_next(&it, NULL, &c)) {
        value += ((LinkConn *)c)->established;
    }
    visit_type_uint64(v, name, &value, errp);
}

static void link_instance_init(Object *obj)
{
    VsockUserLink *l = VSOCK_USER_LINK(obj);

    l->max_queued = LINK_DEFAULT_QUEUED;
    l->reconnect_ms = 1000;
    l->hello_timeout_ms = LINK_DEFAULT_HELLO_TIMEOUT_MS;
    l->backend.ops = &vsock_link_backend_ops;
    g_queue_init(&l->rxq);
    g_queue_init(&l->txq);
    qemu_guest_getrandom_nofail(&l->hash_key, sizeof(l->hash_key));
    l->conns = g_hash_table_new_full(vsock_link_key_hash,
                                     vsock_link_key_equal, g_free, g_free);
}

static void link_finalize(Object *obj)
{
    VsockUserLink *l = VSOCK_USER_LINK(obj);

    link_unparent(obj);
    vsock_link_candidates_clear(l);
    vsock_link_close_channel(l);
    vsock_link_rxq_clear(l);
    g_hash_table_destroy(l->conns);
    if (l->listener) {
        qio_net_listener_disconnect(l->listener);
        object_unref(OBJECT(l->listener));
    }
    if (l->reconnect_timer) {
        timer_free(l->reconnect_timer);
    }
    if (l->vm_state) {
        qemu_del_vm_change_state_handler(l->vm_state);
    }
    if (l->hello_timer) {
        timer_free(l->hello_timer);
    }
    if (l->refusal_timer) {
        timer_free(l->refusal_timer);
    }
    if (l->tls_creds) {
        object_unref(OBJECT(l->tls_creds));
    }
    qapi_free_SocketAddress(l->addr);
    g_free(l->vsock);
    g_free(l->addr_str);
    g_free(l->tls_creds_id);
    g_free(l->last_refusal);
}

static void link_class_init(ObjectClass *oc, const void *data)
{
    UserCreatableClass *ucc = USER_CREATABLE_CLASS(oc);

    ucc->complete = link_complete;
    oc->unparent = link_unparent;
    object_class_property_add_str(oc, "addr", link_get_addr, link_set_addr);
    object_class_property_set_description(oc, "addr",
        "socket address to listen on (server=on) or connect to: unix:PATH, "
        "HOST:PORT, fd:N (an inherited socket: listening with server=on, "
        "connected with server=off, then used once)");
    object_class_property_add_bool(oc, "server", link_get_server,
                                   link_set_server);
    object_class_property_set_description(oc, "server",
        "listen on addr (on) or connect to it and reconnect after the "
        "other QEMU restarts (off, the default)");
    object_class_property_add(oc, "cids", "uint32List", link_get_cids,
                              link_set_cids, NULL, NULL);
    object_class_property_set_description(oc, "cids",
        "CIDs reachable through the link, the other guest's (repeat "
        "cids=N for several); packets from other CIDs are dropped");
    object_class_property_add(oc, "relay-cids", "uint32List", link_get_cids,
                              link_set_cids, NULL, (void *)1);
    object_class_property_set_description(oc, "relay-cids",
        "CIDs carried by other links of the same device that packets from "
        "this link may be relayed to (repeat for several; default none: "
        "such packets are refused with RST)");
    object_class_property_add_str(oc, "vsock", link_get_vsock,
                                  link_set_vsock);
    object_class_property_set_description(oc, "vsock",
        "id of the virtio-vsock-user device or of its PCI proxy (default: "
        "the only one)");
    object_class_property_add_str(oc, "tls-creds", link_get_tls_creds,
                                  link_set_tls_creds);
    object_class_property_set_description(oc, "tls-creds",
        "id of a tls-creds-x509 or tls-creds-psk object: the link runs over "
        "TLS, the other end authenticated by it");
    object_class_property_add(oc, "max-queued", "uint32", link_get_u32,
        link_set_u32, NULL,
        (void *)(uintptr_t)offsetof(VsockUserLink, max_queued));
    object_class_property_set_description(oc, "max-queued",
        "bytes queued each way (towards the socket, towards the guest) "
        "before the link takes no more; guest data over it resets its "
        "connection (default 4194304)");
    object_class_property_add(oc, "reconnect-ms", "uint32", link_get_u32,
        link_set_u32, NULL,
        (void *)(uintptr_t)offsetof(VsockUserLink, reconnect_ms));
    object_class_property_set_description(oc, "reconnect-ms",
        "with server=off, milliseconds between connect attempts "
        "(default 1000)");
    object_class_property_add(oc, "hello-timeout-ms", "uint32", link_get_u32,
        link_set_u32, NULL,
        (void *)(uintptr_t)offsetof(VsockUserLink, hello_timeout_ms));
    object_class_property_set_description(oc, "hello-timeout-ms",
        "milliseconds a connected peer has to complete the TLS handshake "
        "and its hello before it is dropped (default 10000, 1 to 3600000)");
    object_class_property_add_str(oc, "state", link_get_state, NULL);
    object_class_property_set_description(oc, "state",
        "down, connecting, hello (waiting for the other end's) or up "
        "(read-only)");
    object_class_property_add(oc, "connections", "uint64", link_get_conns,
                              NULL, NULL, NULL);
    object_class_property_set_description(oc, "connections",
        "connections established across the link now (read-only "
        "counter)");
    for (size_t i = 0; i < ARRAY_SIZE(link_stats); i++) {
        g_autofree char *desc = g_strdup_printf("%s (read-only counter)",
                                                link_stats[i].description);

        object_class_property_add(oc, link_stats[i].name, "uint64",
                                  link_get_stat, NULL, NULL,
                                  (void *)&link_stats[i]);
        object_class_property_set_description(oc, link_stats[i].name, desc);
    }
}

static const TypeInfo link_info = {
    .name = TYPE_VSOCK_USER_LINK,
    .parent = TYPE_OBJECT,
    .instance_size = sizeof(VsockUserLink),
    .instance_init = link_instance_init,
    .instance_finalize = link_finalize,
    .class_init = link_class_init,
    .interfaces = (const InterfaceInfo[]) {
        { TYPE_USER_CREATABLE },
        { }
    },
};

static void link_register_types(void)
{
    type_register_static(&link_info);
}

type_init(link_register_types)
