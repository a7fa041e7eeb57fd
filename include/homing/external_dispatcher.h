// File: homing/external_dispatcher.h
//
// `ExternalDispatcher` is the `homing::Dispatcher` of a loop the host drives,
// the c-ares / curl-multi way: a gateway with an event loop of its own (epoll,
// nginx's, asyncio's) runs homing's components on it without a thread. The
// dispatcher reports descriptor interest through `Host::watch` and its next
// deadline through `Host::set_timer`, and does its work when the host calls
// `ProcessFd()` / `ProcessTimers()`. The C ABI's external loop
// (homing_loop_new_external) is this class behind C callbacks.
//
// Reports. Interest changes are reported at once (the descriptor may be
// closed right after a "stop watching"). Interest is level-triggered: while
// a descriptor stays ready, the host calls ProcessFd() again. Deadline changes
// are reported at once, or, inside a `CallScope`, when the outermost scope
// closes, so a burst of timer re-arms costs the host one report.
//
// Posted tasks run at the end of the process calls, one batch per call (tasks
// posted by a task wait for the next call, as on any loop). A task posted on
// the loop thread asks for an immediate wake-up (`set_timer` with zero); one
// posted from another thread writes to an eventfd the host watches like any
// other descriptor.
//
// Never call ProcessFd()/ProcessTimers() or create homing objects from inside
// `Host::watch` or `Host::set_timer`: record what they say and act on it from
// the host's loop.
//
// Example (one epoll loop):
//
//   homing::ExternalDispatcher::Host host;
//   host.watch = [&](int fd, uint32_t events, void** /*fd_data*/) {
//     Epoll(fd, events);  // EPOLL_CTL_ADD/MOD/DEL; 0 stops watching
//   };
//   host.set_timer = [&](std::optional<homing::Duration> timeout) {
//     next_timeout = timeout;  // the next epoll_wait's timeout
//   };
//   auto dispatcher = homing::ExternalDispatcher::Create(std::move(host));
//   ...  // create a DnsCache, ClusterManager, Router on **dispatcher
//   for (;;) {
//     for (const epoll_event& event : Wait(next_timeout)) {
//       (*dispatcher)->ProcessFd(event.data.fd, ToFdEvents(event.events));
//     }
//     if (TimedOut()) (*dispatcher)->ProcessTimers();
//   }
//
// Thread safety: the dispatcher belongs to the thread that created it;
// `Post()`, `Now()` and `IsLoopThread()` may be called from any thread.

#ifndef HOMING_EXTERNAL_DISPATCHER_H_
#define HOMING_EXTERNAL_DISPATCHER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>

#include "absl/status/statusor.h"
#include "homing/dispatcher.h"

namespace homing {

class ExternalDispatcher final : public Dispatcher {
 public:
  // Host
  //
  // The host's side of the loop.
  struct Host {
    // Watch `fd` for `events` (kFdRead | kFdWrite); 0 stops watching.
    // `fd_data` is a slot the host may set to a pointer of its own for the
    // descriptor (curl_multi_assign's idea); it is passed back with every
    // report for `fd` and forgotten when the watch stops.
    std::function<void(int fd, uint32_t events, void** fd_data)> watch;
    // Call ProcessTimers() once `timeout` has passed (zero: as soon as
    // possible); nullopt: no timer is needed.
    std::function<void(std::optional<Duration> timeout)> set_timer;
  };

  // ExternalDispatcher::Create()
  //
  // Reports the wake-up eventfd to `host.watch` before returning.
  // InvalidArgument without both callbacks; Unavailable when the eventfd
  // cannot be created.
  static absl::StatusOr<std::unique_ptr<ExternalDispatcher>> Create(Host host);

  ExternalDispatcher(const ExternalDispatcher&) = delete;
  ExternalDispatcher& operator=(const ExternalDispatcher&) = delete;

  // Destroys unrun tasks first (they may still use the dispatcher), then
  // makes straggling watches and timers inert, cancels the host's timer and
  // stops watching the eventfd.
  ~ExternalDispatcher() override;

  // ExternalDispatcher::ProcessFd()
  //
  // Delivers `ready` (kFdRead/kFdWrite/kFdError bits) to the watch of `fd`,
  // then runs a batch of posted tasks. Unknown descriptors are ignored.
  void ProcessFd(int fd, uint32_t ready);

  // ExternalDispatcher::ProcessTimers()
  //
  // Fires the timers due now (not those armed while firing), then runs a
  // batch of posted tasks.
  void ProcessTimers();

  // ExternalDispatcher::NextTimeout()
  //
  // How long until ProcessTimers() has work: zero while tasks wait, nullopt
  // when nothing is scheduled.
  std::optional<Duration> NextTimeout() const;

  // CallScope
  //
  // Brackets a batch of calls into homing (the C ABI opens one per entry
  // point); deadline reports wait for the outermost scope to close.
  class CallScope {
   public:
    explicit CallScope(ExternalDispatcher& dispatcher);
    ~CallScope();
    CallScope(const CallScope&) = delete;
    CallScope& operator=(const CallScope&) = delete;

   private:
    ExternalDispatcher& dispatcher_;
  };

  // Dispatcher
  MonotonicTime Now() const override;
  std::unique_ptr<FdWatch> WatchFd(int fd, uint32_t events,
                                   FdCallback callback) override;
  std::unique_ptr<Timer> CreateTimer(TimerCallback callback) override;
  void Post(PostedTask task) override;
  bool IsLoopThread() const override;

 private:
  struct State;
  class ExternalWatch;

  explicit ExternalDispatcher(std::unique_ptr<State> state);

  std::unique_ptr<State> state_;
};

}  // namespace homing

#endif  // HOMING_EXTERNAL_DISPATCHER_H_
