/*
 * The UDP side of the benchmarks' sender (bench/sender.ts builds the datagrams and runs this).
 * Sends the datagrams of FILE (each a 4-byte big-endian length, then its bytes) to 127.0.0.1:PORT
 * at RATE a second (0: at once), one send() a datagram as rsyslog's omfwd does: what is due each
 * millisecond goes out at once, and it sleeps in between. Node's dgram.send spent about three
 * times rsyslog's CPU a datagram, on the same two cores as the daemon it measured. Prints `ready`
 * before the first, then JSON: sent, seconds, perSecond, cpuSeconds (its own, user + system).
 */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

/* The length written before a datagram at `at`: 4 bytes, big-endian. */
static uint32_t length_at(const unsigned char *data, long at) {
  return (uint32_t)data[at] << 24 | (uint32_t)data[at + 1] << 16 | (uint32_t)data[at + 2] << 8 | data[at + 3];
}

int main(int argc, char **argv) {
  if (argc != 4) { fprintf(stderr, "usage: udp-sender FILE PORT RATE\n"); return 2; }
  FILE *file = fopen(argv[1], "rb");
  if (!file) { perror(argv[1]); return 1; }
  fseek(file, 0, SEEK_END);
  long size = ftell(file);
  rewind(file);
  unsigned char *data = malloc(size);
  if (!data || fread(data, 1, size, file) != (size_t)size) { perror("read"); return 1; }
  fclose(file);
  long count = 0;
  for (long at = 0; at + 4 <= size; count++) at += 4 + length_at(data, at);
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(atoi(argv[2])) };
  inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
  if (fd < 0 || connect(fd, (struct sockaddr *)&to, sizeof to) < 0) { perror("socket"); return 1; }
  double rate = atof(argv[3]);
  printf("ready\n");
  fflush(stdout);
  double started = now();
  long sent = 0, at = 0;
  while (sent < count) {
    long due = rate > 0 ? (long)((now() - started) * rate) : count;
    if (due > count) due = count;
    for (; sent < due; sent++) {
      uint32_t length = length_at(data, at);
      send(fd, data + at + 4, length, 0);
      at += 4 + length;
    }
    if (sent < count) usleep(1000);
  }
  double seconds = now() - started;
  struct rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  double cpu = usage.ru_utime.tv_sec + usage.ru_utime.tv_usec / 1e6 + usage.ru_stime.tv_sec + usage.ru_stime.tv_usec / 1e6;
  printf("{\"sent\":%ld,\"seconds\":%.3f,\"perSecond\":%ld,\"cpuSeconds\":%.3f}\n", sent, seconds, (long)(sent / seconds), cpu);
  return 0;
}
