/*
 * virtio-vsock-user: QMP query-vsock-user and HMP info vsock-user
 *
 * Every device with its counters and one entry per connection, from the
 * engine's snapshots (vsock_engine_foreach_conn()), so that a user whose
 * guest program hangs can see whether the connection is there, in which
 * state, who holds the data and whether either side is out of credit.
 *
 * Copyright (c) 2026 The virtio-vsock-user authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qapi/qapi-commands-vsock-user.h"
#include "qapi/util.h"
#include "qobject/qdict.h"
#include "monitor/hmp.h"
#include "monitor/monitor.h"
#include "hw/qdev-core.h"
#include "hw/virtio/virtio.h"
#include "hw/virtio/virtio-vsock-user.h"
#include "vsock-user-backend.h"
#include "standard-headers/linux/virtio_vsock.h"

typedef struct QueryCtx {
    const char *device;         /* NULL: every device */
    bool has_port;
    uint32_t port;
    bool found;
    VsockUserInfoList **tail;
} QueryCtx;

static bool vsock_user_matches(VirtIOVsockUser *s, const char *device)
{
    BusState *bus = qdev_get_parent_bus(DEVICE(s));
    const char *id = virtio_vsock_user_id(s);
    g_autofree char *path = object_get_canonical_path(OBJECT(s));
    g_autofree char *proxy = bus && bus->parent ?
        object_get_canonical_path(OBJECT(bus->parent)) : NULL;

    return !device || g_strcmp0(device, id) == 0 ||
           g_strcmp0(device, path) == 0 || g_strcmp0(device, proxy) == 0;
}

static VsockUserShutdown *shutdown_info(uint32_t flags)
{
    VsockUserShutdown *sh = g_new0(VsockUserShutdown, 1);

    sh->receive = flags & VIRTIO_VSOCK_SHUTDOWN_RCV;
    sh->send = flags & VIRTIO_VSOCK_SHUTDOWN_SEND;
    return sh;
}

static VsockUserConnState conn_state(VsockConnState st)
{
    switch (st) {
    case VSOCK_CONN_CONNECTING:
        return VSOCK_USER_CONN_STATE_CONNECTING;
    case VSOCK_CONN_ACCEPTING:
        return VSOCK_USER_CONN_STATE_ACCEPTING;
    case VSOCK_CONN_ESTABLISHED:
        return VSOCK_USER_CONN_STATE_ESTABLISHED;
    case VSOCK_CONN_CLOSING:
        return VSOCK_USER_CONN_STATE_CLOSING;
    case VSOCK_CONN_CLOSED:
    default:
        return VSOCK_USER_CONN_STATE_CLOSED;
    }
}

static void add_conn(const VsockConnInfo *ci, void *opaque)
{
    GPtrArray *conns = opaque;
    VsockUserConnInfo *info = g_new0(VsockUserConnInfo, 1);

    info->type = ci->type == VIRTIO_VSOCK_TYPE_SEQPACKET ?
                 VSOCK_USER_SOCKET_TYPE_SEQPACKET :
                 VSOCK_USER_SOCKET_TYPE_STREAM;
    info->state = conn_state(ci->state);
    info->local_cid = ci->local_cid;
    info->local_port = ci->local_port;
    info->peer_cid = ci->peer_cid;
    info->peer_port = ci->peer_port;
    info->host_initiated = ci->host_initiated;
    info->endpoint = ci->endpoint.kind ?
        qapi_enum_parse(&VsockUserEndpointKind_lookup, ci->endpoint.kind,
                        VSOCK_USER_ENDPOINT_KIND_NONE, NULL) :
        VSOCK_USER_ENDPOINT_KIND_NONE;
    info->endpoint_id = g_strdup(ci->endpoint.id);
    info->endpoint_address = g_strdup(ci->endpoint.address);
    info->tx_bytes = ci->stats.tx_bytes;
    info->tx_packets = ci->stats.tx_pkts;
    info->rx_bytes = ci->stats.rx_bytes;
    info->rx_packets = ci->stats.rx_pkts;
    info->peer_buf_alloc = ci->peer_buf_alloc;
    info->peer_fwd_cnt = ci->peer_fwd_cnt;
    info->fwd_cnt = ci->fwd_cnt;
    info->credit_to_guest = ci->credit_to_peer;
    info->credit_from_guest = ci->credit_from_peer;
    info->buffered = ci->buffered;
    info->shutdown_from_guest = shutdown_info(ci->peer_shutdown);
    info->shutdown_to_guest = shutdown_info(ci->local_shutdown);
    info->age_ms = ci->age_ns / 1000000;
    g_ptr_array_add(conns, info);
}

static gint conn_cmp(gconstpointer a, gconstpointer b)
{
    const VsockUserConnInfo *x = *(VsockUserConnInfo *const *)a;
    const VsockUserConnInfo *y = *(VsockUserConnInfo *const *)b;

    if (x->local_port != y->local_port) {
        return x->local_port < y->local_port ? -1 : 1;
    }
    if (x->peer_port != y->peer_port) {
        return x->peer_port < y->peer_port ? -1 : 1;
    }
    return 0;
}

static VsockUserInfo *device_info(VirtIOVsockUser *s, QueryCtx *q)
{
    VirtIODevice *vdev = VIRTIO_DEVICE(s);
    VsockUserInfo *info = g_new0(VsockUserInfo, 1);
    g_autoptr(GPtrArray) conns = g_ptr_array_new();
    VsockUserSocketTypeList **ft = &info->features;
    VsockUserCounterList **ct = &info->counters;
    VsockUserConnInfoList **cn = &info->connections;

    info->qom_path = object_get_canonical_path(OBJECT(s));
    info->id = g_strdup(virtio_vsock_user_id(s));
    info->guest_cid = s->guest_cid;
    info->parent_cid = s->parent_cid;
    QAPI_LIST_APPEND(ft, VSOCK_USER_SOCKET_TYPE_STREAM);
    if (virtio_vdev_has_feature(vdev, VIRTIO_VSOCK_F_SEQPACKET)) {
        QAPI_LIST_APPEND(ft, VSOCK_USER_SOCKET_TYPE_SEQPACKET);
    }
    for (size_t i = 0; i < virtio_vsock_user_n_stats; i++) {
        VsockUserCounter *c = g_new0(VsockUserCounter, 1);

        c->name = g_strdup(virtio_vsock_user_stats[i].name);
        c->value = virtio_vsock_user_stats[i].get(s);
        QAPI_LIST_APPEND(ct, c);
    }
    vsock_backends_foreach_conn(s->backends, q->has_port, q->port, add_conn,
                                conns);
    g_ptr_array_sort(conns, conn_cmp);
    for (guint i = 0; i < conns->len; i++) {
        QAPI_LIST_APPEND(cn, (VsockUserConnInfo *)conns->pdata[i]);
    }
    return info;
}

static int query_one(Object *obj, void *opaque)
{
    QueryCtx *q = opaque;
    VirtIOVsockUser *s = (VirtIOVsockUser *)
        object_dynamic_cast(obj, TYPE_VIRTIO_VSOCK_USER);

    if (!s || !DEVICE(s)->realized || !s->local ||
        !vsock_user_matches(s, q->device)) {
        return 0;
    }
    q->found = true;
    QAPI_LIST_APPEND(q->tail, device_info(s, q));
    return 0;
}

VsockUserInfoList *qmp_query_vsock_user(const char *device, bool has_port,
                                        uint32_t port, Error **errp)
{
    VsockUserInfoList *head = NULL;
    QueryCtx q = {
        .device = device,
        .has_port = has_port,
        .port = port,
        .tail = &head,
    };

    object_child_foreach_recursive(object_get_root(), query_one, &q);
    if (device && !q.found) {
        error_set(errp, ERROR_CLASS_DEVICE_NOT_FOUND,
                  "'%s' is not a virtio-vsock-user device", device);
    }
    return head;
}

/* A byte count in at most 4 characters: 999, 9999, 12K, 1.2M */
static void fmt_size(char *buf, size_t len, uint64_t n)
{
    static const char units[] = "KMGTPE";
    double v = n;
    int u = -1;

    if (n < 10000) {
        snprintf(buf, len, "%" PRIu64, n);
        return;
    }
    while (v >= 999.5 && u < 5) {
        v /= 1024;
        u++;
    }
    snprintf(buf, len, v < 9.95 ? "%.1f%c" : "%.0f%c", v, units[u]);
}

/* An age in at most 4 characters: 12s, 59m, 23h, 999d */
static void fmt_age(char *buf, size_t len, uint64_t ms)
{
    uint64_t s = ms / 1000;

    if (s < 1000) {
        snprintf(buf, len, "%" PRIu64 "s", s);
    } else if (s < 60 * 1000) {
        snprintf(buf, len, "%" PRIu64 "m", s / 60);
    } else if (s < 3600 * 100) {
        snprintf(buf, len, "%" PRIu64 "h", s / 3600);
    } else {
        snprintf(buf, len, "%" PRIu64 "d", MIN(s / 86400, 999));
    }
}

static const char *const hmp_states[] = {
    [VSOCK_USER_CONN_STATE_CONNECTING] = "CONNECT",
    [VSOCK_USER_CONN_STATE_ACCEPTING] = "ACCEPT",
    [VSOCK_USER_CONN_STATE_ESTABLISHED] = "ESTAB",
    [VSOCK_USER_CONN_STATE_CLOSING] = "CLOSING",
    [VSOCK_USER_CONN_STATE_CLOSED] = "CLOSED",
};

/* "RS": receive and send shut down, "-S": send only, "--": none */
static void fmt_shutdown(char *buf, const VsockUserShutdown *sh)
{
    buf[0] = sh->receive ? 'R' : '-';
    buf[1] = sh->send ? 'S' : '-';
    buf[2] = '\0';
}

/*
 * What serves the connection in @width characters: the heartbeat, "uds"
 * (uds-path) or the forward's id, then the host socket's address (a Unix
 * socket by its file name), cut from the left if it does not fit.
 */
static char *fmt_endpoint(const VsockUserConnInfo *c, int width)
{
    const char *who = c->endpoint_id ? c->endpoint_id :
                      c->endpoint == VSOCK_USER_ENDPOINT_KIND_HYBRID ? "uds" :
                      VsockUserEndpointKind_str(c->endpoint);
    const char *addr = c->endpoint_address;
    int room;
    size_t len;

    if (!addr) {
        return g_strdup(who);
    }
    if (g_str_has_prefix(addr, "unix:") && strrchr(addr, '/')) {
        addr = strrchr(addr, '/') + 1;
    }
    room = width - (int)strlen(who) - 1;
    len = strlen(addr);
    if (room > 2 && len > room) {
        return g_strdup_printf("%s ..%s", who, addr + len - (room - 2));
    }
    return g_strdup_printf("%s %s", who, addr);
}

#define HMP_WIDTH 80
/*
 * One connection per line, like ss: type (s: stream, q: seqpacket),
 * state, QEMU's port, the guest's port, bytes received from and sent to
 * the guest, credit towards the guest and the guest's towards QEMU,
 * guest bytes QEMU holds, SHUTDOWN flags from/to the guest, age, and
 * what serves the connection.
 */
#define HMP_COLUMNS "%c %-7s %5s %10s %4s %4s %4s %4s %4s %-5s %4s "

void hmp_info_vsock_user(Monitor *mon, const QDict *qdict)
{
    const char *device = qdict_get_try_str(qdict, "device");
    bool has_port = qdict_haskey(qdict, "port");
    uint32_t port = has_port ? qdict_get_int(qdict, "port") : 0;
    Error *err = NULL;
    VsockUserInfoList *list = qmp_query_vsock_user(device, has_port, port,
                                                   &err);

    if (hmp_handle_error(mon, err)) {
        return;
    }
    if (!list) {
        monitor_printf(mon, "no virtio-vsock-user device\n");
    }
    for (VsockUserInfoList *l = list; l; l = l->next) {
        VsockUserInfo *d = l->value;
        unsigned n = 0;

        for (VsockUserConnInfoList *c = d->connections; c; c = c->next) {
            n++;
        }
        monitor_printf(mon, "%s: guest-cid %" PRIu64 ", parent-cid %" PRIu64
                       ", %u connection%s%s\n", d->id ? d->id : d->qom_path,
                       d->guest_cid, d->parent_cid, n, n == 1 ? "" : "s",
                       has_port ? " on that port" : "");
        if (!n) {
            continue;
        }
        monitor_printf(mon, HMP_COLUMNS "Endpoint\n", 'T', "State",
                       "Local", "Guest", "Rcvd", "Sent", "Cr>g", "Cr<g",
                       "Held", "Shut", "Age");
        for (VsockUserConnInfoList *c = d->connections; c; c = c->next) {
            VsockUserConnInfo *ci = c->value;
            char rcvd[8], sent[8], crg[8], crh[8], held[8], age[8];
            char sh_g[3], sh_h[3], shut[8], lport[16], gport[16];
            char line[HMP_WIDTH * 2];
            g_autofree char *ep = NULL;
            int len;

            snprintf(lport, sizeof(lport), "%" PRIu32, ci->local_port);
            snprintf(gport, sizeof(gport), "%" PRIu32, ci->peer_port);
            fmt_size(rcvd, sizeof(rcvd), ci->tx_bytes);
            fmt_size(sent, sizeof(sent), ci->rx_bytes);
            fmt_size(crg, sizeof(crg), ci->credit_to_guest);
            fmt_size(crh, sizeof(crh), ci->credit_from_guest);
            fmt_size(held, sizeof(held), ci->buffered);
            fmt_age(age, sizeof(age), ci->age_ms);
            fmt_shutdown(sh_g, ci->shutdown_from_guest);
            fmt_shutdown(sh_h, ci->shutdown_to_guest);
            snprintf(shut, sizeof(shut), "%s/%s", sh_g, sh_h);
            len = snprintf(line, sizeof(line), HMP_COLUMNS,
                           ci->type == VSOCK_USER_SOCKET_TYPE_STREAM ?
                           's' : 'q', hmp_states[ci->state], lport, gport,
                           rcvd, sent, crg, crh, held, shut, age);
            ep = fmt_endpoint(ci, HMP_WIDTH - 1 - len);
            monitor_printf(mon, "%s%s\n", line, ep);
        }
    }
    qapi_free_VsockUserInfoList(list);
}
