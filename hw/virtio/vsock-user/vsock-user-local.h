/*
 * virtio-vsock-user: the endpoints of one device, put together
 *
 * Everything a device's guest reaches besides the device itself is set up
 * here, from the device's properties: the vsock-user-link objects that
 * carry other CIDs, the Nitro Enclaves heartbeat, the host endpoints (the
 * fallback listener and uds-path) and the vsock-user-forward objects that
 * name the device.  The device holds them through one VsockEndpoints and
 * sees only the links (it routes packets to them) and the counters.
 *
 * Copyright (c) 2026 The virtio-vsock-user authors
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef HW_VIRTIO_VSOCK_USER_ENDPOINTS_H
#define HW_VIRTIO_VSOCK_USER_ENDPOINTS_H

#include "vsock-user-host.h"
#include "vsock-user-link.h"
#include "vsock-user-poll.h"
#include "qapi/qapi-types-common.h"

typedef struct VsockEndpoints VsockEndpoints;

typedef struct VsockEndpointsConfig {
    Object *dev;                /* links and forwards name it */
    VsockEngine *engine;
    VsockPoll *poll;            /* the device's epoll set for host sockets */
    uint64_t guest_cid;
    uint64_t parent_cid;        /* the engine's local CID */
    OnOffAuto heartbeat;        /* auto: parent CID 3, not linked */
    uint32_t max_conns;
    uint32_t max_pending;       /* host-initiated, not accepted yet */
    const char *uds_path;       /* NULL: no hybrid listener */
    int64_t uds_timeout_ms;
    uint32_t uds_max_handshakes;
    bool uds_seqpacket;         /* also <uds_path>.seqpacket */
    /* The links' packets for the guest became pending. */
    void (*wakeup)(void *opaque);
    void *opaque;
} VsockEndpointsConfig;

/* Nothing starts yet; @cfg is copied (uds_path too). */
VsockEndpoints *vsock_endpoints_new(const VsockEndpointsConfig *cfg);
/*
 * Attach the links, then start the heartbeat, the host endpoints and the
 * forwards.  False with @errp set if one cannot start; the caller then
 * tears down as after success: vsock_endpoints_stop(), the engine's
 * vsock_engine_free(), vsock_endpoints_free().
 */
bool vsock_endpoints_start(VsockEndpoints *ep, Error **errp);
/*
 * Before vsock_engine_free(): the heartbeat goes, forwards and links are
 * detached, and the host endpoints can no longer be looked up.
 */
void vsock_endpoints_stop(VsockEndpoints *ep);
/*
 * After vsock_engine_free(), which closed every connection: the host
 * sockets and listeners go.  Free the epoll set after this.
 */
void vsock_endpoints_free(VsockEndpoints *ep);

VsockLinks *vsock_endpoints_links(const VsockEndpoints *ep);
bool vsock_endpoints_heartbeat(const VsockEndpoints *ep);
const VsockHostStats *vsock_endpoints_host_stats(const VsockEndpoints *ep);

/*
 * The host endpoints of the first started device that @match(dev,
 * @opaque) accepts, or NULL: how a vsock-user-forward created at run time
 * finds its device's.
 */
typedef bool VsockEndpointsMatchFn(Object *dev, void *opaque);
VsockHost *vsock_endpoints_find_host(VsockEndpointsMatchFn *match,
                                     void *opaque);

#endif
