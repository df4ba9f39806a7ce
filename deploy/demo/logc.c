/* A log shipper in miniature: connects to HOST PORT and writes a line every
 * 100 ms forever, reporting any error. It never reads, so a server that
 * closed (FIN) or vanished goes unnoticed: exactly the client ghostpeer is
 * for. Built static for the demo image. */
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: logc HOST PORT\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  struct addrinfo hints = {0}, *found = NULL;
  hints.ai_socktype = SOCK_STREAM;
  /* The server's name resolves once its task is up: wait for it (bounded). */
  for (int attempt = 0; getaddrinfo(argv[1], argv[2], &hints, &found) != 0; ++attempt) {
    if (attempt == 300) {
      fprintf(stderr, "logc: cannot resolve %s\n", argv[1]);
      return 1;
    }
    sleep(1);
  }
  int fd = -1;
  for (int attempt = 0; attempt < 300; ++attempt) {
    fd = socket(found->ai_family, SOCK_STREAM, 0);
    if (connect(fd, found->ai_addr, found->ai_addrlen) == 0) break;
    close(fd);
    fd = -1;
    sleep(1);
  }
  if (fd < 0) {
    perror("logc: connect");
    return 1;
  }
  fprintf(stderr, "logc: connected to %s:%s\n", argv[1], argv[2]);
  char line[64];
  for (long i = 0;; ++i) {
    int n = snprintf(line, sizeof line, "log_data %ld\n", i);
    if (write(fd, line, (size_t)n) < 0) {
      perror("logc: write");
      return 3;
    }
    usleep(100000);
  }
}
