/*
 * LD_PRELOAD shim for the throughput bench (scripts/bench-throughput.sh
 * compiles it): after a successful or EINPROGRESS connect() on an
 * AF_INET/AF_INET6 SOCK_STREAM socket, set TCP_NODELAY. It lets a client
 * library whose API cannot set TCP_NODELAY (lettre) be measured without
 * Nagle's algorithm holding its small writes back. With NODELAY_SHIM_REPORT
 * set in the environment it says on stderr each time it set the option, so
 * the bench can show that it took effect.
 *
 *   gcc -O2 -shared -fPIC -o nodelay_shim.so nodelay_shim.c -ldl
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>

typedef int (*connect_fn)(int, const struct sockaddr *, socklen_t);

int connect(int fd, const struct sockaddr *addr, socklen_t len) {
    static connect_fn real;
    if (!real) {
        real = (connect_fn)dlsym(RTLD_NEXT, "connect");
        if (!real) {
            errno = ENOSYS;
            return -1;
        }
    }
    int rc = real(fd, addr, len);
    int saved = errno;
    if ((rc == 0 || (rc == -1 && saved == EINPROGRESS)) && addr != NULL &&
        (addr->sa_family == AF_INET || addr->sa_family == AF_INET6)) {
        int type = 0;
        socklen_t type_len = sizeof type;
        if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &type_len) == 0 && type == SOCK_STREAM) {
            int one = 1;
            if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) == 0 &&
                getenv("NODELAY_SHIM_REPORT") != NULL) {
                fprintf(stderr, "nodelay-shim: TCP_NODELAY set on fd %d\n", fd);
            }
        }
    }
    errno = saved;
    return rc;
}
