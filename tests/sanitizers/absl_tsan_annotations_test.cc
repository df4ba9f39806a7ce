// Only in GHOSTPEER_SANITIZE=thread builds: without the annotations of
// absl_tsan_annotations.cc, ThreadSanitizer reports each of these correctly
// synchronised programs as a data race (and halt_on_error fails the test).
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace {

struct HandOff {
  std::string name;
  // Runs on two threads at once; must leave `value` at 2000.
  std::function<void(absl::Mutex&, int&)> body;
};

TEST(AbslTsanAnnotationsTest, GuardedAccessIsNoRace) {
  const std::vector<HandOff> cases = {
      {"MutexLock",
       [](absl::Mutex& mu, int& value) {
         for (int i = 0; i < 1000; ++i) {
           absl::MutexLock lock(&mu);
           ++value;
         }
       }},
      {"ReaderLock then Lock",
       [](absl::Mutex& mu, int& value) {
         for (int i = 0; i < 1000; ++i) {
           {
             absl::ReaderMutexLock lock(&mu);
             EXPECT_GE(value, 0);
           }
           absl::MutexLock lock(&mu);
           ++value;
         }
       }},
      {"TryLock",
       [](absl::Mutex& mu, int& value) {
         for (int i = 0; i < 1000;) {
           if (!mu.TryLock()) continue;
           ++value;
           ++i;
           mu.Unlock();
         }
       }},
      {"Await",
       [](absl::Mutex& mu, int& value) {
         for (int i = 0; i < 1000; ++i) {
           absl::MutexLock lock(&mu);
           mu.AwaitWithTimeout(absl::Condition(
                                   +[](int* v) { return *v >= 0; }, &value),
                               absl::Seconds(1));
           ++value;
         }
       }},
  };
  for (const HandOff& test : cases) {
    SCOPED_TRACE(test.name);
    absl::Mutex mu;
    int value = 0;
    std::thread other([&] { test.body(mu, value); });
    test.body(mu, value);
    other.join();
    EXPECT_EQ(value, 2000);
  }
}

TEST(AbslTsanAnnotationsTest, CondVarWaitHandsOver) {
  absl::Mutex mu;
  absl::CondVar changed;
  int turn = 0;  // guarded by mu: even -> main thread, odd -> other
  std::thread other([&] {
    for (int i = 0; i < 100; ++i) {
      absl::MutexLock lock(&mu);
      while (turn % 2 == 0) changed.Wait(&mu);
      ++turn;
      changed.SignalAll();
    }
  });
  for (int i = 0; i < 100; ++i) {
    absl::MutexLock lock(&mu);
    while (turn % 2 == 1) changed.WaitWithTimeout(&mu, absl::Seconds(1));
    ++turn;
    changed.SignalAll();
  }
  other.join();
  EXPECT_EQ(turn, 200);
}

TEST(AbslTsanAnnotationsTest, NotificationPublishes) {
  std::string published;  // written before Notify, read after the wait
  absl::Notification ready;
  std::thread writer([&] {
    published = "hello";
    ready.Notify();
  });
  writer.join();  // so the waiter takes the already-notified fast path
  ready.WaitForNotification();
  EXPECT_EQ(published, "hello");
}

}  // namespace
