/* A log shipper in miniature: connects to HOST PORT and writes a line every
 * 100 ms forever. It never reads, so a server that closed (FIN) or vanished
 * goes unnoticed: exactly the client ghostpeer is for. Like most real
 * clients it has reconnect logic, which runs only when a write fails: it
 * logs the error, resolves HOST again (a restarted server has a new
 * address) and reconnects. With ghostpeer's remediation on, the write that
 * fails is the first one after the agent destroyed the ghost socket
 * (ECONNABORTED); without it, only the kernel's retransmission timeout
 * (about 15 min) would end the loss. Built static for the demo image. */
#include <errno.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* "HH:MM:SS" (UTC) for the log lines, which people compare with
 * ghostpeer's. */
static const char* now_text(void) {
  static char text[16];
  time_t now = time(NULL);
  struct tm tm;
  gmtime_r(&now, &tm);
  strftime(text, sizeof text, "%H:%M:%S", &tm);
  return text;
}

/* A connected socket to host:port, or -1 after 300 attempts (5 min). The
 * name resolves once the server's task is up: wait for it. */
static int connect_to(const char* host, const char* port) {
  for (int attempt = 0; attempt < 300; ++attempt) {
    if (attempt > 0) sleep(1);
    struct addrinfo hints = {0}, *found = NULL;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(host, port, &hints, &found) != 0) continue;
    int fd = socket(found->ai_family, SOCK_STREAM, 0);
    if (fd >= 0 && connect(fd, found->ai_addr, found->ai_addrlen) == 0) {
      freeaddrinfo(found);
      return fd;
    }
    if (fd >= 0) close(fd);
    freeaddrinfo(found);
  }
  return -1;
}

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: logc HOST PORT\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  long line_number = 0;
  for (int connection = 1;; ++connection) {
    int fd = connect_to(argv[1], argv[2]);
    if (fd < 0) {
      fprintf(stderr, "%s logc: cannot connect to %s:%s\n", now_text(),
              argv[1], argv[2]);
      return 1;
    }
    fprintf(stderr, "%s logc: connected to %s:%s%s\n", now_text(), argv[1],
            argv[2], connection > 1 ? " again" : "");
    char line[64];
    for (;; ++line_number) {
      int n = snprintf(line, sizeof line, "log_data %ld\n", line_number);
      if (write(fd, line, (size_t)n) < 0) {
        fprintf(stderr, "%s logc: write: %s; reconnecting\n", now_text(),
                strerror(errno));
        close(fd);
        break;
      }
      usleep(100000);
    }
  }
}
