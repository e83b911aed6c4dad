/*
 * vsock-diag: list this guest's AF_VSOCK sockets via sock_diag netlink
 * (CONFIG_VSOCKETS_DIAG), like "ss --vsock".
 *
 * usage: vsock-diag
 *
 * Prints one line per socket
 *   SOCK type=T state=S src=CID:PORT dst=CID:PORT shutdown=N
 * and then "SOCKETS total=N listening=N other=N".  Exit code 0, or 1 when
 * the diag interface is unavailable.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <unistd.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <linux/vm_sockets_diag.h>
#include "vsock-util.h"

#define TCP_LISTEN_STATE 10

int main(void)
{
    struct {
        struct nlmsghdr nlh;
        struct vsock_diag_req req;
    } msg;
    struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
    static char buf[65536];
    int fd, total = 0, listening = 0, done = 0;

    fd = socket(AF_NETLINK, SOCK_DGRAM, NETLINK_SOCK_DIAG);
    if (fd < 0) {
        fprintf(stderr, "vsock-diag: socket: %s\n", strerror(errno));
        return 1;
    }
    memset(&msg, 0, sizeof(msg));
    msg.nlh.nlmsg_len = sizeof(msg);
    msg.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
    msg.nlh.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    msg.req.sdiag_family = AF_VSOCK;
    msg.req.vdiag_states = ~0U;
    if (sendto(fd, &msg, sizeof(msg), 0, (struct sockaddr *)&sa,
               sizeof(sa)) < 0) {
        fprintf(stderr, "vsock-diag: sendto: %s\n", strerror(errno));
        return 1;
    }
    while (!done) {
        ssize_t n = recv(fd, buf, sizeof(buf), 0);
        struct nlmsghdr *h = (struct nlmsghdr *)buf;

        if (n < 0) {
            fprintf(stderr, "vsock-diag: recv: %s\n", strerror(errno));
            return 1;
        }
        for (; NLMSG_OK(h, n); h = NLMSG_NEXT(h, n)) {
            struct vsock_diag_msg *m = NLMSG_DATA(h);

            if (h->nlmsg_type == NLMSG_DONE) {
                done = 1;
                break;
            }
            if (h->nlmsg_type == NLMSG_ERROR) {
                struct nlmsgerr *e = NLMSG_DATA(h);

                fprintf(stderr, "vsock-diag: netlink error: %s\n",
                        strerror(-e->error));
                return 1;
            }
            total++;
            if (m->vdiag_state == TCP_LISTEN_STATE) {
                listening++;
            }
            printf("SOCK type=%u state=%u src=%u:%u dst=%u:%u "
                   "shutdown=%u\n", m->vdiag_type, m->vdiag_state,
                   m->vdiag_src_cid, m->vdiag_src_port, m->vdiag_dst_cid,
                   m->vdiag_dst_port, m->vdiag_shutdown);
        }
    }
    printf("SOCKETS total=%d listening=%d other=%d\n", total, listening,
           total - listening);
    close(fd);
    return 0;
}
