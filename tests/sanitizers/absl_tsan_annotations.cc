// ThreadSanitizer cannot see absl::Mutex in Debian's libabsl: the library is
// built without -fsanitize=thread, so its locks are atomics and futexes TSan
// never observes, and every access guarded by an absl::Mutex, ours and
// gRPC's, would look like a race. Linked into every executable of a
// GHOSTPEER_SANITIZE=thread build (the top-level CMakeLists.txt), this file
// defines the lock entry points of absl::Mutex, CondVar and Notification
// itself: each tells TSan what the call does to the lock, with the
// annotations absl makes when it is built with TSan, and calls the library's
// own function, found with dlsym(RTLD_NEXT). An executable's definitions win
// over a shared library's, for our calls and for gRPC's alike.
//
// Between a __tsan_mutex_pre_* and its __tsan_mutex_post_* TSan ignores
// memory accesses, so the library's evaluation of Await/LockWhen conditions
// (by whichever thread releases the mutex) is not checked; it runs under the
// mutex anyway. Await and CondVar::Wait are annotated as writer locks.
#include <dlfcn.h>
#include <sanitizer/tsan_interface.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <type_traits>

#include "absl/base/options.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"

#if !defined(__SANITIZE_THREAD__)
#error "only for builds with -fsanitize=thread (GHOSTPEER_SANITIZE=thread)"
#endif
static_assert(ABSL_OPTION_USE_INLINE_NAMESPACE == 1,
              "the mangled names below assume absl's inline namespace");

namespace {

#define GHOSTPEER_STRINGIFY_INNER(x) #x
#define GHOSTPEER_STRINGIFY(x) GHOSTPEER_STRINGIFY_INNER(x)

// The library's definition of absl::<inline namespace>::<member>, where
// `member` is the rest of its Itanium mangled name ("5Mutex4LockEv") and
// `is_const` says whether it is a const member function.
template <typename Fn>
Fn Real(const char* member, bool is_const = false) {
  const std::string inline_namespace =
      GHOSTPEER_STRINGIFY(ABSL_OPTION_INLINE_NAMESPACE_NAME);
  const std::string name = std::string(is_const ? "_ZNK4absl" : "_ZN4absl") +
                           std::to_string(inline_namespace.size()) +
                           inline_namespace + member;
  void* symbol = dlsym(RTLD_NEXT, name.c_str());
  if (symbol == nullptr) {
    std::fprintf(stderr, "absl_tsan_annotations: %s not found: %s\n",
                 name.c_str(), dlerror());
    std::abort();
  }
  return reinterpret_cast<Fn>(symbol);
}

constexpr unsigned kWrite = 0;
constexpr unsigned kRead = __tsan_mutex_read_lock;

// The library calls its own entry points too (AwaitWithTimeout calls
// AwaitWithDeadline, through the PLT, so here): only the outermost call of a
// thread is annotated.
thread_local int library_depth = 0;

// Marks this thread as inside the library for the lifetime of the object.
class LibraryCall {
 public:
  LibraryCall() { ++library_depth; }
  ~LibraryCall() { --library_depth; }
};

template <typename Call>
auto InLibrary(Call call) {
  LibraryCall inside;
  return call();
}

// A call that takes the mutex, blocking until it has it unless `flags` (the
// __tsan_mutex_* flags: read, try) say try; then `call` returns whether it
// took it.
template <typename Call>
auto Locking(void* mu, unsigned flags, Call call) {
  const bool outermost = library_depth == 0;
  if (outermost) __tsan_mutex_pre_lock(mu, flags);
  auto result = InLibrary(call);
  if (outermost) {
    bool locked = true;
    if constexpr (std::is_same_v<decltype(result), bool>) {
      if (flags & __tsan_mutex_try_lock) locked = result;
    }
    __tsan_mutex_post_lock(
        mu, flags | (locked ? 0 : __tsan_mutex_try_lock_failed), 0);
  }
  return result;
}

void Unlocking(void* mu, unsigned flags, void (*real)(absl::Mutex*)) {
  const bool outermost = library_depth == 0;
  if (outermost) __tsan_mutex_pre_unlock(mu, flags);
  InLibrary([&] { return (real(static_cast<absl::Mutex*>(mu)), 0); });
  if (outermost) __tsan_mutex_post_unlock(mu, flags);
}

// A call that releases the mutex (held by this thread) and takes it again
// before returning: Await, CondVar::Wait.
template <typename Call>
auto Reacquiring(void* mu, Call call) {
  if (library_depth == 0) {
    __tsan_mutex_pre_unlock(mu, kWrite);
    __tsan_mutex_post_unlock(mu, kWrite);
  }
  return Locking(mu, kWrite, call);
}

bool TryLocking(void* mu, unsigned flags, bool (*real)(absl::Mutex*)) {
  return Locking(mu, flags | __tsan_mutex_try_lock,
                 [&] { return real(static_cast<absl::Mutex*>(mu)); });
}

using Plain = void (*)(absl::Mutex*);
using Try = bool (*)(absl::Mutex*);
using When = void (*)(absl::Mutex*, const absl::Condition&);
using WhenFor = bool (*)(absl::Mutex*, const absl::Condition&, absl::Duration);
using WhenUntil = bool (*)(absl::Mutex*, const absl::Condition&, absl::Time);

}  // namespace

namespace absl {
ABSL_NAMESPACE_BEGIN

void Mutex::Lock() {
  static const auto real = Real<Plain>("5Mutex4LockEv");
  Locking(this, kWrite, [&] { return (real(this), 0); });
}

void Mutex::Unlock() {
  static const auto real = Real<Plain>("5Mutex6UnlockEv");
  Unlocking(this, kWrite, real);
}

bool Mutex::TryLock() {
  static const auto real = Real<Try>("5Mutex7TryLockEv");
  return TryLocking(this, kWrite, real);
}

void Mutex::ReaderLock() {
  static const auto real = Real<Plain>("5Mutex10ReaderLockEv");
  Locking(this, kRead, [&] { return (real(this), 0); });
}

void Mutex::ReaderUnlock() {
  static const auto real = Real<Plain>("5Mutex12ReaderUnlockEv");
  Unlocking(this, kRead, real);
}

bool Mutex::ReaderTryLock() {
  static const auto real = Real<Try>("5Mutex13ReaderTryLockEv");
  return TryLocking(this, kRead, real);
}

void Mutex::LockWhen(const Condition& cond) {
  static const auto real = Real<When>("5Mutex8LockWhenERKNS0_9ConditionE");
  Locking(this, kWrite, [&] { return (real(this, cond), 0); });
}

bool Mutex::LockWhenWithTimeout(const Condition& cond, Duration timeout) {
  static const auto real = Real<WhenFor>(
      "5Mutex19LockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE");
  return Locking(this, kWrite, [&] { return real(this, cond, timeout); });
}

bool Mutex::LockWhenWithDeadline(const Condition& cond, Time deadline) {
  static const auto real = Real<WhenUntil>(
      "5Mutex20LockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE");
  return Locking(this, kWrite, [&] { return real(this, cond, deadline); });
}

void Mutex::ReaderLockWhen(const Condition& cond) {
  static const auto real =
      Real<When>("5Mutex14ReaderLockWhenERKNS0_9ConditionE");
  Locking(this, kRead, [&] { return (real(this, cond), 0); });
}

bool Mutex::ReaderLockWhenWithTimeout(const Condition& cond, Duration timeout) {
  static const auto real = Real<WhenFor>(
      "5Mutex25ReaderLockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE");
  return Locking(this, kRead, [&] { return real(this, cond, timeout); });
}

bool Mutex::ReaderLockWhenWithDeadline(const Condition& cond, Time deadline) {
  static const auto real = Real<WhenUntil>(
      "5Mutex26ReaderLockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE");
  return Locking(this, kRead, [&] { return real(this, cond, deadline); });
}

void Mutex::Await(const Condition& cond) {
  static const auto real = Real<When>("5Mutex5AwaitERKNS0_9ConditionE");
  Reacquiring(this, [&] { return (real(this, cond), 0); });
}

bool Mutex::AwaitWithTimeout(const Condition& cond, Duration timeout) {
  static const auto real =
      Real<WhenFor>("5Mutex16AwaitWithTimeoutERKNS0_9ConditionENS0_8DurationE");
  return Reacquiring(this, [&] { return real(this, cond, timeout); });
}

bool Mutex::AwaitWithDeadline(const Condition& cond, Time deadline) {
  static const auto real =
      Real<WhenUntil>("5Mutex17AwaitWithDeadlineERKNS0_9ConditionENS0_4TimeE");
  return Reacquiring(this, [&] { return real(this, cond, deadline); });
}

void CondVar::Wait(Mutex* mu) {
  static const auto real =
      Real<void (*)(CondVar*, Mutex*)>("7CondVar4WaitEPNS0_5MutexE");
  Reacquiring(mu, [&] { return (real(this, mu), 0); });
}

bool CondVar::WaitWithTimeout(Mutex* mu, Duration timeout) {
  static const auto real = Real<bool (*)(CondVar*, Mutex*, Duration)>(
      "7CondVar15WaitWithTimeoutEPNS0_5MutexENS0_8DurationE");
  return Reacquiring(mu, [&] { return real(this, mu, timeout); });
}

bool CondVar::WaitWithDeadline(Mutex* mu, Time deadline) {
  static const auto real = Real<bool (*)(CondVar*, Mutex*, Time)>(
      "7CondVar16WaitWithDeadlineEPNS0_5MutexENS0_4TimeE");
  return Reacquiring(mu, [&] { return real(this, mu, deadline); });
}

// A waiter that finds the notification already given returns without
// taking the mutex: Notify -> return is an edge of its own.
void Notification::Notify() {
  static const auto real =
      Real<void (*)(Notification*)>("12Notification6NotifyEv");
  __tsan_release(this);
  real(this);
}

void Notification::WaitForNotification() const {
  static const auto real = Real<void (*)(const Notification*)>(
      "12Notification19WaitForNotificationEv", /*is_const=*/true);
  real(this);
  __tsan_acquire(const_cast<Notification*>(this));
}

bool Notification::WaitForNotificationWithTimeout(Duration timeout) const {
  static const auto real = Real<bool (*)(const Notification*, Duration)>(
      "12Notification30WaitForNotificationWithTimeoutENS0_8DurationE",
      /*is_const=*/true);
  const bool notified = real(this, timeout);
  if (notified) __tsan_acquire(const_cast<Notification*>(this));
  return notified;
}

bool Notification::WaitForNotificationWithDeadline(Time deadline) const {
  static const auto real = Real<bool (*)(const Notification*, Time)>(
      "12Notification31WaitForNotificationWithDeadlineENS0_4TimeE",
      /*is_const=*/true);
  const bool notified = real(this, deadline);
  if (notified) __tsan_acquire(const_cast<Notification*>(this));
  return notified;
}

ABSL_NAMESPACE_END
}  // namespace absl
