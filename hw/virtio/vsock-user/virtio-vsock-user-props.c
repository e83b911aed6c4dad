/*
 * virtio-vsock-user: the device's properties and counters
 *
 * What a user sets (the properties, their defaults, limits and help) and
 * reads (the read-only counters, also listed by query-vsock-user), apart
 * from the device's work in virtio-vsock-user.c.
 *
 * Copyright (c) 2026 The virtio-vsock-user authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qapi/visitor.h"
#include "qemu/error-report.h"
#include "qemu/units.h"
#include "hw/qdev-properties.h"
#include "hw/virtio/virtio.h"
#include "hw/virtio/virtio-vsock-user.h"
#include "vsock-user-engine.h"
#include "vsock-user-local.h"
#include "vsock-user-unix.h"
#include "standard-headers/linux/virtio_ids.h"

/* VSOCK_CID_FIRST_GUEST..VSOCK_CID_MAX_GUEST, for messages */
#define VSOCK_CID_RANGE "3..4294967294"

/* Limits of the tunables */
#define VSOCK_USER_MAX_CONNECTIONS 65536
#define VSOCK_USER_MIN_BUF_SIZE (4 * KiB)
#define VSOCK_USER_MAX_BUF_SIZE (64 * MiB)

/*
 * Without guest-cid the guest is a Nitro enclave's first CID when its
 * parent is CID 3 (as on -M nitro-enclave), otherwise the first guest CID.
 * No host-wide CID space exists for it to collide in.
 */
static uint64_t vsock_user_guest_cid(VirtIOVsockUser *s)
{
    if (s->guest_cid_set) {
        return s->guest_cid;
    }
    return s->parent_cid == VSOCK_CID_PARENT ?
           VSOCK_CID_FIRST_ENCLAVE : VSOCK_CID_FIRST_GUEST;
}

/* guest-cid: a uint64 that knows whether it was given */
static void vsock_user_get_guest_cid(Object *obj, Visitor *v,
                                     const char *name, void *opaque,
                                     Error **errp)
{
    uint64_t value = vsock_user_guest_cid(VIRTIO_VSOCK_USER(obj));

    visit_type_uint64(v, name, &value, errp);
}

static void vsock_user_set_guest_cid(Object *obj, Visitor *v,
                                     const char *name, void *opaque,
                                     Error **errp)
{
    VirtIOVsockUser *s = VIRTIO_VSOCK_USER(obj);
    uint64_t value;

    if (visit_type_uint64(v, name, &value, errp)) {
        s->guest_cid = value;
        s->guest_cid_set = true;
    }
}

static const PropertyInfo vsock_user_prop_guest_cid = {
    .type = "uint64",
    .get = vsock_user_get_guest_cid,
    .set = vsock_user_set_guest_cid,
};

static bool vsock_user_cid_reserved(uint64_t cid)
{
    return cid < VSOCK_CID_FIRST_GUEST || cid == VSOCK_CID_ANY;
}

/* A count of connections or sockets: 1..VSOCK_USER_MAX_CONNECTIONS. */
static bool vsock_user_check_count(const char *name, uint32_t v,
                                   Error **errp)
{
    if (v < 1 || v > VSOCK_USER_MAX_CONNECTIONS) {
        error_setg(errp, "%s %" PRIu32 " is out of range 1..%u", name, v,
                   VSOCK_USER_MAX_CONNECTIONS);
        return false;
    }
    return true;
}

static bool vsock_user_check_values(VirtIOVsockUser *s, Error **errp)
{
    if (s->guest_cid > VSOCK_CID_ANY) {
        error_setg(errp, "guest-cid %" PRIu64 " is out of range; CIDs are "
                   "32-bit, use " VSOCK_CID_RANGE, s->guest_cid);
        return false;
    }
    if (vsock_user_cid_reserved(s->guest_cid)) {
        error_setg(errp, "guest-cid %" PRIu64 " is reserved (0, 1 and 2 "
                   "are the hypervisor, local and host CIDs, 4294967295 "
                   "is any); use " VSOCK_CID_RANGE, s->guest_cid);
        return false;
    }
    if (s->parent_cid == VSOCK_CID_ANY) {
        error_setg(errp, "parent-cid 4294967295 is reserved (any)");
        return false;
    }
    if (s->parent_cid == s->guest_cid) {
        error_setg(errp, "parent-cid and guest-cid are both %" PRIu32
                   "; they must differ", s->parent_cid);
        return false;
    }
    if (!vsock_user_check_count("max-connections", s->max_connections,
                                errp)) {
        return false;
    }
    if (s->uds_path && !s->uds_path[0]) {
        error_setg(errp, "uds-path must not be empty");
        return false;
    }
    if (s->uds_path && !vsock_unix_path_fits(s->uds_path, errp)) {
        error_prepend(errp, "uds-path: ");
        return false;
    }
    if (s->uds_path && s->seqpacket == ON_OFF_AUTO_ON &&
        !vsock_unix_has_seqpacket()) {
        error_setg(errp, "seqpacket=on with uds-path needs Unix "
                   "SOCK_SEQPACKET sockets for <uds-path>.seqpacket, which "
                   "this host does not have; use seqpacket=auto");
        return false;
    }
    if (s->uds_timeout_ms < 1) {
        error_setg(errp, "uds-connect-timeout must be at least 1 ms");
        return false;
    }
    if (!vsock_user_check_count("uds-max-handshakes", s->uds_max_handshakes,
                                errp)) {
        return false;
    }
    if (!vsock_user_check_count("host-max-pending", s->host_max_pending,
                                errp)) {
        return false;
    }
    if (s->buf_size < VSOCK_USER_MIN_BUF_SIZE ||
        s->buf_size > VSOCK_USER_MAX_BUF_SIZE) {
        error_setg(errp, "buf-size %" PRIu32 " is out of range "
                   "%llu..%llu", s->buf_size,
                   (unsigned long long)VSOCK_USER_MIN_BUF_SIZE,
                   (unsigned long long)VSOCK_USER_MAX_BUF_SIZE);
        return false;
    }
    return true;
}

static int vsock_user_count_other(Object *obj, void *opaque)
{
    VirtIODevice *vdev = (VirtIODevice *)
        object_dynamic_cast(obj, TYPE_VIRTIO_DEVICE);

    if (vdev && DEVICE(vdev)->realized &&
        vdev->device_id == VIRTIO_ID_VSOCK) {
        (*(unsigned *)opaque)++;
    }
    return 0;
}

/*
 * A Linux guest drives the first virtio-vsock device it finds and leaves
 * the others unused, which is easy to miss: say so once, unless the user
 * says the guest uses several (allow-multiple=on).
 */
static void vsock_user_warn_multiple(VirtIOVsockUser *s)
{
    unsigned others = 0;

    if (s->allow_multiple) {
        return;
    }
    /* this device is not realized yet, so it does not count itself */
    object_child_foreach_recursive(object_get_root(), vsock_user_count_other,
                                   &others);
    if (others) {
        warn_report_once("this guest has %u virtio-vsock devices; a Linux "
                         "guest drives only the first it finds (set "
                         "allow-multiple=on on a device meant for a guest "
                         "that uses several)", others + 1);
    }
}

bool virtio_vsock_user_check_props(VirtIOVsockUser *s, Error **errp)
{
    s->guest_cid = vsock_user_guest_cid(s);
    if (!vsock_user_check_values(s, errp)) {
        return false;
    }
    vsock_user_warn_multiple(s);
    return true;
}

/* The read-only counters, as QOM properties of the device */

static uint64_t stat_connections(VirtIOVsockUser *s)
{
    return vsock_engine_conn_count(vsock_local_engine(s->local));
}

#define ENGINE_STAT(fn, field)                                        \
    static uint64_t fn(VirtIOVsockUser *s)                            \
    {                                                                 \
        return vsock_engine_get_stats(vsock_local_engine(s->local))->field; \
    }
#define HOST_STAT(fn, field)                                          \
    static uint64_t fn(VirtIOVsockUser *s)                            \
    {                                                                 \
        return vsock_host_get_stats(vsock_local_host(s->local))->field; \
    }

ENGINE_STAT(stat_rst_sent, rst_sent)
ENGINE_STAT(stat_rst_received, rst_received)
ENGINE_STAT(stat_tx_packets, tx_pkts)
ENGINE_STAT(stat_rx_packets, rx_pkts)
ENGINE_STAT(stat_spoofed, results[VSOCK_TX_BAD_SRC_CID])
HOST_STAT(stat_host_sockets, bridges)
HOST_STAT(stat_host_refused, refused)
HOST_STAT(stat_host_connect_failed, connect_failed)
HOST_STAT(stat_host_bad_connect, bad_connect)
HOST_STAT(stat_host_handshakes, handshakes)
HOST_STAT(stat_host_handshake_refused, handshake_refused)
HOST_STAT(stat_host_pending, pending)
HOST_STAT(stat_host_pending_refused, pending_refused)

const VirtIOVsockUserStat virtio_vsock_user_stats[] = {
    { "connections", "connections open now", stat_connections },
    { "rst-sent", "RST packets sent to the guest", stat_rst_sent },
    { "rst-received", "RST packets from the guest", stat_rst_received },
    { "tx-packets", "packets from the guest", stat_tx_packets },
    { "rx-packets", "packets to the guest", stat_rx_packets },
    { "spoofed-packets", "guest packets with a src_cid not the guest's, "
      "dropped", stat_spoofed },
    { "host-sockets", "host sockets bridged to guest connections",
      stat_host_sockets },
    { "host-refused", "host connections refused at max-connections",
      stat_host_refused },
    { "host-connect-failed", "guest connections to host sockets that could "
      "not connect", stat_host_connect_failed },
    { "host-bad-connect", "host clients on uds-path with a malformed "
      "CONNECT line", stat_host_bad_connect },
    { "host-handshakes", "uds-path clients sending their CONNECT line now",
      stat_host_handshakes },
    { "host-handshake-refused", "uds-path clients closed at once because "
      "uds-max-handshakes were in the handshake", stat_host_handshake_refused },
    { "host-pending", "host connections waiting for the guest to accept now",
      stat_host_pending },
    { "host-pending-refused", "host connections closed at once because "
      "host-max-pending were waiting", stat_host_pending_refused },
};
const size_t virtio_vsock_user_n_stats = ARRAY_SIZE(virtio_vsock_user_stats);

static void vsock_user_get_stat(Object *obj, Visitor *v, const char *name,
                                void *opaque, Error **errp)
{
    VirtIOVsockUser *s = VIRTIO_VSOCK_USER(obj);
    const VirtIOVsockUserStat *stat = opaque;
    uint64_t value = s->local ? stat->get(s) : 0;

    visit_type_uint64(v, name, &value, errp);
}

static const Property vsock_user_properties[] = {
    /* no default value: see vsock_user_guest_cid() */
    DEFINE_PROP("guest-cid", VirtIOVsockUser, guest_cid,
                vsock_user_prop_guest_cid, uint64_t),
    DEFINE_PROP_UINT32("parent-cid", VirtIOVsockUser, parent_cid,
                       VSOCK_CID_HOST),
    DEFINE_PROP_ON_OFF_AUTO("heartbeat", VirtIOVsockUser, heartbeat,
                            ON_OFF_AUTO_AUTO),
    DEFINE_PROP_UINT32("max-connections", VirtIOVsockUser, max_connections,
                       1024),
    DEFINE_PROP_UINT32("buf-size", VirtIOVsockUser, buf_size, 256 * KiB),
    DEFINE_PROP_STRING("uds-path", VirtIOVsockUser, uds_path),
    DEFINE_PROP_UINT32("uds-connect-timeout", VirtIOVsockUser, uds_timeout_ms,
                       VSOCK_CONNECT_TIMEOUT_MS),
    DEFINE_PROP_UINT32("uds-max-handshakes", VirtIOVsockUser,
                       uds_max_handshakes, VSOCK_MAX_HANDSHAKES),
    DEFINE_PROP_UINT32("host-max-pending", VirtIOVsockUser, host_max_pending,
                       VSOCK_MAX_PENDING),
    DEFINE_PROP_BOOL("allow-multiple", VirtIOVsockUser, allow_multiple, false),
    DEFINE_PROP_ON_OFF_AUTO("seqpacket", VirtIOVsockUser, seqpacket,
                            ON_OFF_AUTO_AUTO),
};

static const struct {
    const char *name;
    const char *description;
} vsock_user_property_help[] = {
    { "guest-cid", "the guest's CID, " VSOCK_CID_RANGE " (default: 16 when "
      "parent-cid is 3, otherwise 3)" },
    { "parent-cid", "the CID whose connections end in QEMU: heartbeat, "
      "uds-path, vsock-user-forward objects, vsock-user chardevs" },
    { "heartbeat", "answer the Nitro Enclaves heartbeat on the parent's port "
      "9000 once per boot, with nitro-heartbeat on a vsock-user chardev "
      "(auto: when parent-cid is 3 and no vsock-user-link carries it)" },
    { "max-connections", "connections at once, 1..65536; a REQUEST beyond "
      "them gets RST" },
    { "buf-size", "receive buffer per connection (buf_alloc announced to the "
      "guest), 4096..67108864 bytes" },
    { "uds-path", "hybrid vsock Unix socket: a host client sends \"CONNECT "
      "<port>\\n\"; guest connections to port P go to <uds-path>_P; "
      "SOCK_SEQPACKET clients use <uds-path>.seqpacket" },
    { "uds-connect-timeout", "milliseconds a host client on uds-path has to "
      "send its CONNECT line" },
    { "seqpacket", "offer SOCK_SEQPACKET (VIRTIO_VSOCK_F_SEQPACKET); auto "
      "means on" },
    { "allow-multiple", "the guest drives several virtio-vsock devices: no "
      "warning when there is more than one (Linux drives only the first)" },
    { "uds-max-handshakes", "uds-path clients that may be sending their "
      "CONNECT line at once (1..65536); more are closed at once, counted in "
      "host-handshake-refused" },
    { "host-max-pending", "host connections (uds-path CONNECTs, listen= "
      "forwards) that may wait at once for the guest to accept (1..65536); "
      "more are closed at once, counted in host-pending-refused" },
};

void virtio_vsock_user_class_add_props(ObjectClass *klass)
{
    device_class_set_props(DEVICE_CLASS(klass), vsock_user_properties);
    for (size_t i = 0; i < ARRAY_SIZE(vsock_user_property_help); i++) {
        object_class_property_set_description(klass,
            vsock_user_property_help[i].name,
            vsock_user_property_help[i].description);
    }
    for (size_t i = 0; i < virtio_vsock_user_n_stats; i++) {
        const VirtIOVsockUserStat *stat = &virtio_vsock_user_stats[i];
        g_autofree char *desc = g_strdup_printf("%s (read-only counter)",
                                                stat->description);

        object_class_property_add(klass, stat->name, "uint64",
                                  vsock_user_get_stat, NULL, NULL,
                                  (void *)stat);
        object_class_property_set_description(klass, stat->name, desc);
    }
}
