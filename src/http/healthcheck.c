/*
 * healthcheck.c — `anomalog healthcheck`: asks the running service whether it
 * is ready, for container health checks (the image has no curl).
 *
 * A plain HTTP/1.0 GET over a socket with a 5 s timeout; reads only the
 * status line.
 */
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "anomalog/http.h"

int http_healthcheck(const char *listen, char *err, size_t errlen)
{
    const char *colon = strrchr(listen, ':');
    char host[256];
    size_t hl = (size_t)(colon - listen);
    if (listen[0] == '[')
        snprintf(host, sizeof host, "%.*s", (int)hl - 2, listen + 1);
    else
        snprintf(host, sizeof host, "%.*s", (int)hl, listen);
    if (strcmp(host, "0.0.0.0") == 0 || !*host)
        snprintf(host, sizeof host, "127.0.0.1");
    else if (strcmp(host, "::") == 0)
        snprintf(host, sizeof host, "::1");

    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai;
    int gai = getaddrinfo(host, colon + 1, &hints, &ai);
    if (gai) {
        snprintf(err, errlen, "%s: %s", listen, gai_strerror(gai));
        return -1;
    }
    int fd = socket(ai->ai_family, SOCK_STREAM, 0);
    struct timeval tv = {.tv_sec = 5};
    if (fd >= 0) {
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    }
    if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        snprintf(err, errlen, "cannot connect to %s", listen);
        freeaddrinfo(ai);
        if (fd >= 0)
            close(fd);
        return -1;
    }
    freeaddrinfo(ai);
    const char req[] = "GET /readyz HTTP/1.0\r\nHost: localhost\r\n\r\n";
    char buf[64] = "";
    ssize_t n = write(fd, req, sizeof req - 1) == (ssize_t)(sizeof req - 1) ? read(fd, buf, sizeof buf - 1) : -1;
    close(fd);
    if (n < 12 || strncmp(buf, "HTTP/1.", 7) != 0) {
        snprintf(err, errlen, "no HTTP answer from %s", listen);
        return -1;
    }
    buf[n] = '\0';
    if (strncmp(buf + 9, "200", 3) != 0) {
        snprintf(err, errlen, "/readyz answered %.3s", buf + 9);
        return -1;
    }
    return 0;
}
