// ghostpeer: query the aggregator (see `ghostpeer --help`). Everything but
// signal handling lives in ghostpeer_cli.
#include <signal.h>
#include <unistd.h>

#include <iostream>
#include <thread>

#include "cli/cli.h"
#include "cli/stop_signal.h"

int main(int argc, char** argv) {
  // SIGINT/SIGTERM are taken by one thread with sigwait(), so that stopping
  // `watch` cancels its call cleanly rather than killing the process
  // mid-line. Blocked here, before any thread starts, so that every gRPC
  // thread inherits the mask. A second signal ends the process at once.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  // Output piped to a closed reader ends the process quietly.
  signal(SIGPIPE, SIG_DFL);

  ghostpeer::cli::StopSignal stop;
  std::thread([&stop, signals] {
    for (int received = 0; received < 2;) {
      int signal_number = 0;
      if (sigwait(&signals, &signal_number) != 0) continue;
      if (++received == 1) {
        stop.Stop();
      } else {
        _exit(128 + signal_number);
      }
    }
  }).detach();

  ghostpeer::cli::CliEnvironment env = ghostpeer::cli::ProcessEnvironment();
  env.stop = &stop;
  const int code =
      ghostpeer::cli::RunCli(argc, argv, std::cout, std::cerr, env);
  std::cout.flush();
  // Skip static destructors: the detached signal thread still uses `stop`.
  _exit(code);
}
