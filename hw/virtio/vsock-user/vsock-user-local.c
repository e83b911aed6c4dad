/*
 * virtio-vsock-user: the endpoints of one device, put together
 *
 * The device's realize hands its properties over once; from then on the
 * endpoints run on their own: the engine calls them for guest packets,
 * the device's epoll set for their host sockets.
 *
 * Copyright (c) 2026 The virtio-vsock-user authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "vsock-user-endpoints.h"
#include "vsock-user-forward.h"
#include "vsock-user-heartbeat.h"

struct VsockEndpoints {
    VsockEndpointsConfig cfg;   /* uds_path is an owned copy */
    VsockLinks *links;
    VsockHeartbeat *heartbeat;
    VsockHost *host;
    bool forwards;              /* vsock_user_forward_attach_all() held */
};

/* Every started VsockEndpoints, for vsock_endpoints_find_host() */
static GSList *vsock_endpoints_started;

VsockEndpoints *vsock_endpoints_new(const VsockEndpointsConfig *cfg)
{
    VsockEndpoints *ep = g_new0(VsockEndpoints, 1);

    ep->cfg = *cfg;
    ep->cfg.uds_path = g_strdup(cfg->uds_path);
    return ep;
}

bool vsock_endpoints_start(VsockEndpoints *ep, Error **errp)
{
    const VsockEndpointsConfig *cfg = &ep->cfg;
    VsockLinkOwner owner = {
        .dev = cfg->dev,
        .guest_cid = cfg->guest_cid,
        .max_conns = cfg->max_conns,
        .wakeup = cfg->wakeup,
        .opaque = cfg->opaque,
    };

    ep->links = vsock_links_attach(&owner, errp);
    if (!ep->links) {
        return false;
    }
    /* a linked parent CID is a real guest, which answers for itself */
    if (cfg->heartbeat == ON_OFF_AUTO_ON ||
        (cfg->heartbeat == ON_OFF_AUTO_AUTO &&
         cfg->parent_cid == VSOCK_CID_PARENT &&
         !vsock_links_carry(ep->links, cfg->parent_cid))) {
        ep->heartbeat = vsock_heartbeat_new(cfg->engine, cfg->parent_cid,
                                            VSOCK_HEARTBEAT_PORT);
    }
    ep->host = vsock_host_new(cfg->engine, cfg->poll, cfg->parent_cid,
                              cfg->max_conns, cfg->max_pending);
    if (cfg->uds_path &&
        !vsock_host_set_uds(ep->host, cfg->uds_path, cfg->uds_timeout_ms,
                            cfg->uds_max_handshakes, cfg->uds_seqpacket,
                            errp)) {
        return false;
    }
    if (!vsock_user_forward_attach_all(ep->host, cfg->dev, errp)) {
        return false;
    }
    ep->forwards = true;
    vsock_endpoints_started = g_slist_append(vsock_endpoints_started, ep);
    return true;
}

void vsock_endpoints_stop(VsockEndpoints *ep)
{
    if (!ep) {
        return;
    }
    vsock_endpoints_started = g_slist_remove(vsock_endpoints_started, ep);
    vsock_heartbeat_free(ep->heartbeat);
    ep->heartbeat = NULL;
    if (ep->forwards) {
        vsock_user_forward_detach_all(ep->host);
        ep->forwards = false;
    }
    vsock_links_detach(ep->links);
    ep->links = NULL;
}

void vsock_endpoints_free(VsockEndpoints *ep)
{
    if (!ep) {
        return;
    }
    vsock_host_free(ep->host);
    g_free((char *)ep->cfg.uds_path);
    g_free(ep);
}

VsockLinks *vsock_endpoints_links(const VsockEndpoints *ep)
{
    return ep->links;
}

bool vsock_endpoints_heartbeat(const VsockEndpoints *ep)
{
    return ep->heartbeat;
}

const VsockHostStats *vsock_endpoints_host_stats(const VsockEndpoints *ep)
{
    return vsock_host_get_stats(ep->host);
}

VsockHost *vsock_endpoints_find_host(VsockEndpointsMatchFn *match,
                                     void *opaque)
{
    for (GSList *l = vsock_endpoints_started; l; l = l->next) {
        VsockEndpoints *ep = l->data;

        if (match(ep->cfg.dev, opaque)) {
            return ep->host;
        }
    }
    return NULL;
}
