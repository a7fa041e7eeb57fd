// ExternalDispatcher driven the way a host drives it: poll(2) on the
// descriptors it reports, ProcessFd()/ProcessTimers() when they are ready.

#include "homing/external_dispatcher.h"

#include <doctest/doctest.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <optional>
#include <thread>
#include <vector>

namespace homing {
namespace {

using std::chrono::milliseconds;

// The host: what the dispatcher asked for so far.
struct FakeHost {
  std::map<int, uint32_t> interest;        // fd -> events
  std::map<int, void*> slot_seen;          // fd -> *fd_data when reported
  std::vector<std::optional<Duration>> timer_reports;

  ExternalDispatcher::Host Callbacks() {
    ExternalDispatcher::Host host;
    host.watch = [this](int fd, uint32_t events, void** fd_data) {
      slot_seen[fd] = *fd_data;
      if (events == 0) {
        interest.erase(fd);
      } else {
        if (!interest.contains(fd)) *fd_data = this;  // the host's own pointer
        interest[fd] = events;
      }
    };
    host.set_timer = [this](std::optional<Duration> timeout) {
      timer_reports.push_back(timeout);
    };
    return host;
  }

  // One poll over the reported descriptors; delivers what is ready.
  void PollOnce(ExternalDispatcher& dispatcher, int timeout_ms = 1000) {
    std::vector<pollfd> fds;
    for (const auto& [fd, events] : interest) {
      fds.push_back({fd, static_cast<short>(((events & kFdRead) ? POLLIN : 0) |
                                            ((events & kFdWrite) ? POLLOUT : 0)),
                     0});
    }
    REQUIRE(poll(fds.data(), fds.size(), timeout_ms) >= 0);
    for (const pollfd& p : fds) {
      uint32_t ready = ((p.revents & POLLIN) ? kFdRead : 0) |
                       ((p.revents & POLLOUT) ? kFdWrite : 0) |
                       ((p.revents & (POLLERR | POLLHUP)) ? kFdError : 0);
      if (ready != 0) dispatcher.ProcessFd(p.fd, ready);
    }
  }
};

std::unique_ptr<ExternalDispatcher> Make(FakeHost& host) {
  auto created = ExternalDispatcher::Create(host.Callbacks());
  REQUIRE_MESSAGE(created.ok(), created.status().ToString());
  return *std::move(created);
}

TEST_CASE("a host without callbacks is refused") {
  auto created = ExternalDispatcher::Create({});
  REQUIRE_FALSE(created.ok());
  CHECK(created.status().code() == absl::StatusCode::kInvalidArgument);
}

TEST_CASE("watches are reported with the host's slot and delivered level-triggered") {
  FakeHost host;
  auto dispatcher = Make(host);
  CHECK(host.interest.size() == 1);  // the wake-up eventfd

  int pair[2];
  REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, pair) == 0);
  int reads = 0;
  auto watch = dispatcher->WatchFd(pair[0], kFdRead, [&](uint32_t ready) {
    CHECK(ready == kFdRead);
    ++reads;
  });
  REQUIRE(host.interest.at(pair[0]) == kFdRead);
  CHECK(host.slot_seen.at(pair[0]) == nullptr);

  REQUIRE(write(pair[1], "x", 1) == 1);
  host.PollOnce(*dispatcher);
  host.PollOnce(*dispatcher);  // still readable: delivered again
  CHECK(reads == 2);

  watch->SetEvents(kFdRead | kFdWrite);
  CHECK(host.interest.at(pair[0]) == (kFdRead | kFdWrite));
  CHECK(host.slot_seen.at(pair[0]) == &host);  // the pointer the host set

  watch.reset();
  CHECK_FALSE(host.interest.contains(pair[0]));
  dispatcher->ProcessFd(pair[0], kFdRead);  // a stale report is ignored
  CHECK(reads == 2);
  close(pair[0]);
  close(pair[1]);
}

TEST_CASE("deadlines are reported, and timers fire in ProcessTimers()") {
  FakeHost host;
  auto dispatcher = Make(host);
  bool fired = false;
  auto timer = dispatcher->CreateTimer([&] { fired = true; });
  timer->Arm(milliseconds(2));
  REQUIRE(host.timer_reports.size() == 1);
  REQUIRE(host.timer_reports.back().has_value());
  CHECK(*host.timer_reports.back() <= milliseconds(2));
  CHECK(dispatcher->NextTimeout().has_value());

  while (*dispatcher->NextTimeout() > Duration::zero()) {
    std::this_thread::sleep_for(milliseconds(1));
  }
  dispatcher->ProcessTimers();
  CHECK(fired);
  CHECK_FALSE(dispatcher->NextTimeout().has_value());

  timer->Arm(std::chrono::seconds(5));
  timer->Disarm();
  CHECK(host.timer_reports.back() == std::nullopt);
}

TEST_CASE("a host that only follows set_timer reaches every timer") {
  FakeHost host;
  auto dispatcher = Make(host);
  bool first = false;
  bool second = false;
  auto early = dispatcher->CreateTimer([&] { first = true; });
  auto late = dispatcher->CreateTimer([&] { second = true; });
  early->Arm(milliseconds(1));
  late->Arm(milliseconds(3));
  for (int round = 0; !second; ++round) {
    REQUIRE(round < 100);
    // A host told nothing would wait forever.
    REQUIRE_FALSE(host.timer_reports.empty());
    REQUIRE(host.timer_reports.back().has_value());
    std::this_thread::sleep_for(*host.timer_reports.back());
    host.timer_reports.clear();  // its one-shot timer fired
    dispatcher->ProcessTimers();
  }
  CHECK(first);
  CHECK_FALSE(dispatcher->NextTimeout().has_value());  // nothing left
}

TEST_CASE("inside a CallScope a burst of re-arms is one report") {
  FakeHost host;
  auto dispatcher = Make(host);
  auto first = dispatcher->CreateTimer([] {});
  auto second = dispatcher->CreateTimer([] {});
  {
    ExternalDispatcher::CallScope scope(*dispatcher);
    first->Arm(std::chrono::seconds(3));
    second->Arm(std::chrono::seconds(1));
    first->Arm(std::chrono::seconds(2));
    CHECK(host.timer_reports.empty());
  }
  REQUIRE(host.timer_reports.size() == 1);
  CHECK(*host.timer_reports[0] <= std::chrono::seconds(1));
  CHECK(*host.timer_reports[0] > std::chrono::milliseconds(900));
}

TEST_CASE("a task posted on the loop asks for an immediate wake-up") {
  FakeHost host;
  auto dispatcher = Make(host);
  bool ran = false;
  dispatcher->Post([&] { ran = true; });
  REQUIRE_FALSE(host.timer_reports.empty());
  CHECK(host.timer_reports.back() == Duration::zero());
  CHECK(dispatcher->NextTimeout() == Duration::zero());
  dispatcher->ProcessTimers();
  CHECK(ran);
}

TEST_CASE("a task posted from another thread wakes the host through the eventfd") {
  FakeHost host;
  auto dispatcher = Make(host);
  bool ran = false;
  std::thread([&] { dispatcher->Post([&] { ran = true; }); }).join();
  CHECK(host.timer_reports.empty());  // the other thread cannot call the host
  host.PollOnce(*dispatcher);         // the eventfd is readable
  CHECK(ran);
}

TEST_CASE("destroying the dispatcher stops every watch and the timer") {
  FakeHost host;
  auto dispatcher = Make(host);
  auto timer = dispatcher->CreateTimer([] {});
  timer->Arm(std::chrono::seconds(1));
  dispatcher.reset();
  CHECK(host.interest.empty());
  CHECK(host.timer_reports.back() == std::nullopt);
  timer->Arm(std::chrono::seconds(1));  // inert
}

}  // namespace
}  // namespace homing
