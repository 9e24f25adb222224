#include "process/signals.hpp"

#include <pthread.h>
#include <signal.h>

namespace cohort::process {

namespace {

sigset_t termination_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGUSR1);  // used to wake the watcher when it is destroyed
  return set;
}

}  // namespace

void block_termination_signals() {
  sigset_t set = termination_signals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

int wait_for_termination_signal() {
  sigset_t set = termination_signals();
  int signal = 0;
  while (sigwait(&set, &signal) == 0 && signal == SIGUSR1) {
  }
  return signal;
}

SignalWatcher::SignalWatcher(std::function<void(int)> on_signal) {
  thread_ = std::thread([on_signal = std::move(on_signal)] {
    sigset_t set = termination_signals();
    while (true) {
      int signal = 0;
      if (sigwait(&set, &signal) != 0) return;
      if (signal == SIGUSR1) return;
      on_signal(signal);
    }
  });
}

SignalWatcher::~SignalWatcher() {
  pthread_kill(thread_.native_handle(), SIGUSR1);
  thread_.join();
}

}  // namespace cohort::process
