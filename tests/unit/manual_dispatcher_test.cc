// Tests for ManualDispatcher: simulated time, rounds, and real fd polling.

#include "homing/manual_dispatcher.h"

#include <doctest/doctest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace homing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// What fired, and the simulated time it saw.
struct Firing {
  std::string name;
  Duration at;  // since the dispatcher's start
  bool operator==(const Firing&) const = default;
};

struct Recorder {
  explicit Recorder(ManualDispatcher& dispatcher)
      : dispatcher(dispatcher), start(dispatcher.Now()) {}

  std::function<void()> Record(std::string name) {
    return [this, name] { log.push_back({name, dispatcher.Now() - start}); };
  }

  ManualDispatcher& dispatcher;
  MonotonicTime start;
  std::vector<Firing> log;
};

struct SocketPair {
  SocketPair() {
    REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fd) == 0);
  }
  ~SocketPair() {
    close(fd[0]);
    close(fd[1]);
  }
  int fd[2];
};

TEST_CASE("the clock starts at a fixed point and moves only when told") {
  ManualDispatcher dispatcher;
  CHECK(dispatcher.Now() == ManualDispatcher::kDefaultStartTime);
  ManualDispatcher custom(MonotonicTime(seconds(5)));
  CHECK(custom.Now() == MonotonicTime(seconds(5)));
  custom.AdvanceBy(milliseconds(1500));
  CHECK(custom.Now() == MonotonicTime(milliseconds(6500)));
  custom.AdvanceBy(seconds(-3));  // never backwards
  custom.AdvanceTo(MonotonicTime(seconds(1)));
  CHECK(custom.Now() == MonotonicTime(milliseconds(6500)));
}

TEST_CASE(
    "AdvanceBy fires exactly the due timers in order, at their deadlines") {
  ManualDispatcher dispatcher;
  Recorder recorder(dispatcher);
  auto t3 = dispatcher.CreateTimer(recorder.Record("3s"));
  auto t1 = dispatcher.CreateTimer(recorder.Record("1s"));
  auto t5 = dispatcher.CreateTimer(recorder.Record("5s"));
  auto t2 = dispatcher.CreateTimer(recorder.Record("2s"));
  t3->Arm(seconds(3));
  t1->Arm(seconds(1));
  t5->Arm(seconds(5));
  t2->Arm(seconds(2));
  CHECK(dispatcher.armed_timer_count() == 4);

  CHECK(dispatcher.AdvanceBy(milliseconds(2999)) == 2);
  CHECK(dispatcher.AdvanceBy(milliseconds(1)) == 1);
  CHECK(recorder.log == std::vector<Firing>{{"1s", seconds(1)},
                                            {"2s", seconds(2)},
                                            {"3s", seconds(3)}});
  CHECK(dispatcher.Now() - recorder.start == seconds(3));
  CHECK(dispatcher.NextTimerDeadline() == recorder.start + seconds(5));
  CHECK(t5->armed());
  CHECK_FALSE(t3->armed());
}

TEST_CASE("timers with one deadline fire in arming order") {
  ManualDispatcher dispatcher;
  Recorder recorder(dispatcher);
  auto b = dispatcher.CreateTimer(recorder.Record("b"));
  auto a = dispatcher.CreateTimer(recorder.Record("a"));
  b->Arm(seconds(1));
  a->Arm(seconds(1));
  dispatcher.AdvanceBy(seconds(1));
  REQUIRE(recorder.log.size() == 2);
  CHECK(recorder.log[0].name == "b");
  CHECK(recorder.log[1].name == "a");
}

TEST_CASE("a repeating timer fires once per interval") {
  ManualDispatcher dispatcher;
  Recorder recorder(dispatcher);
  auto timer = dispatcher.CreateTimer(recorder.Record("tick"));
  timer->ArmRepeating(seconds(1));
  CHECK(dispatcher.AdvanceBy(seconds(10)) == 10);
  REQUIRE(recorder.log.size() == 10);
  CHECK(recorder.log.front().at == seconds(1));
  CHECK(recorder.log.back().at == seconds(10));
  CHECK(dispatcher.AdvanceBy(milliseconds(500)) == 0);
  CHECK(dispatcher.AdvanceBy(milliseconds(500)) == 1);
  CHECK(timer->armed());
  timer->Disarm();
  CHECK(dispatcher.AdvanceBy(seconds(10)) == 0);
  CHECK(dispatcher.NextTimerDeadline() == std::nullopt);
}

TEST_CASE("timers armed by callbacks fire if they fall within the window") {
  ManualDispatcher dispatcher;
  Recorder recorder(dispatcher);
  auto inside = dispatcher.CreateTimer(recorder.Record("inside"));
  auto outside = dispatcher.CreateTimer(recorder.Record("outside"));
  auto now = dispatcher.CreateTimer(recorder.Record("zero-delay"));
  auto first = dispatcher.CreateTimer([&] {
    recorder.Record("first")();
    inside->Arm(seconds(1));
    outside->Arm(seconds(5));
    now->Arm(Duration::zero());
  });
  first->Arm(seconds(1));
  dispatcher.AdvanceBy(seconds(3));
  CHECK(recorder.log == std::vector<Firing>{{"first", seconds(1)},
                                            {"zero-delay", seconds(1)},
                                            {"inside", seconds(2)}});
  CHECK(outside->armed());
  CHECK(dispatcher.NextTimerDeadline() == recorder.start + seconds(6));
}

TEST_CASE(
    "a zero-delay timer waits for the loop, and a timer may destroy itself") {
  ManualDispatcher dispatcher;
  int fired = 0;
  std::unique_ptr<Timer> timer;
  timer = dispatcher.CreateTimer([&] {
    ++fired;
    timer.reset();
  });
  timer->Arm(Duration::zero());
  CHECK(fired == 0);
  CHECK(timer->armed());
  CHECK(dispatcher.RunUntilIdle() == 1);
  CHECK(fired == 1);
  CHECK(timer == nullptr);
  CHECK(dispatcher.armed_timer_count() == 0);
}

TEST_CASE(
    "a zero-delay timer re-armed by its callback lets tasks run between") {
  ManualDispatcher dispatcher;
  bool task_ran = false;
  int fired = 0;
  std::unique_ptr<Timer> timer;
  timer = dispatcher.CreateTimer([&] {
    if (!task_ran && ++fired < 1000) timer->Arm(Duration::zero());
  });
  timer->Arm(Duration::zero());
  dispatcher.Post([&] { task_ran = true; });
  dispatcher.RunUntilIdle();
  CHECK(task_ran);
  CHECK(fired == 1);  // the re-armed firing came after the task
  CHECK_FALSE(timer->armed());
}

TEST_CASE(
    "RunPosted runs tasks in order; tasks they post wait for the next call") {
  ManualDispatcher dispatcher;
  std::vector<int> order;
  dispatcher.Post([&] {
    order.push_back(1);
    dispatcher.Post([&] { order.push_back(3); });
  });
  dispatcher.Post([&] { order.push_back(2); });
  std::thread other([&] { dispatcher.Post([&] { order.push_back(4); }); });
  other.join();
  CHECK(dispatcher.RunPosted() == 3);
  CHECK(order == std::vector<int>{1, 2, 4});
  CHECK(dispatcher.RunPosted() == 1);
  CHECK(order == std::vector<int>{1, 2, 4, 3});
  CHECK(dispatcher.RunPosted() == 0);
}

TEST_CASE(
    "RunUntilIdle settles tasks and zero-delay timers without moving time") {
  ManualDispatcher dispatcher;
  const MonotonicTime start = dispatcher.Now();
  std::vector<std::string> order;
  auto later = dispatcher.CreateTimer([&] { order.push_back("later"); });
  auto soon = dispatcher.CreateTimer([&] {
    order.push_back("timer");
    dispatcher.Post([&] { order.push_back("task from timer"); });
  });
  dispatcher.Post([&] {
    order.push_back("task");
    soon->Arm(Duration::zero());
    later->Arm(seconds(1));
  });
  CHECK(dispatcher.RunUntilIdle() == 3);
  CHECK(order == std::vector<std::string>{"task", "timer", "task from timer"});
  CHECK(dispatcher.Now() == start);
  CHECK(later->armed());
  CHECK(dispatcher.RunUntilIdle() == 0);
}

TEST_CASE("tasks posted by a timer run at the timer's simulated time") {
  ManualDispatcher dispatcher;
  Recorder recorder(dispatcher);
  auto early =
      dispatcher.CreateTimer([&] { dispatcher.Post(recorder.Record("task")); });
  auto late = dispatcher.CreateTimer(recorder.Record("late"));
  early->Arm(seconds(1));
  late->Arm(seconds(2));
  CHECK(dispatcher.AdvanceBy(seconds(2)) == 3);
  CHECK(recorder.log ==
        std::vector<Firing>{{"task", seconds(1)}, {"late", seconds(2)}});
}

TEST_CASE("PollFds delivers real readiness to watches") {
  ManualDispatcher dispatcher;
  SocketPair pair;
  std::vector<uint32_t> ready;
  std::unique_ptr<FdWatch> watch = dispatcher.WatchFd(
      pair.fd[0], kFdRead, [&](uint32_t events) { ready.push_back(events); });
  CHECK(dispatcher.PollFds() == 0);
  REQUIRE(write(pair.fd[1], "x", 1) == 1);
  CHECK(dispatcher.PollFds() == 1);
  CHECK(ready == std::vector<uint32_t>{kFdRead});

  watch->SetEvents(0);
  CHECK(dispatcher.PollFds() == 0);
  watch->SetEvents(kFdRead | kFdWrite);
  CHECK(dispatcher.PollFds() == 1);
  CHECK(ready.back() == (kFdRead | kFdWrite));

  // The peer hanging up reads as readable (read() then returns 0).
  char byte;
  REQUIRE(read(pair.fd[0], &byte, 1) == 1);
  watch->SetEvents(kFdRead);
  CHECK(dispatcher.PollFds() == 0);
  shutdown(pair.fd[1], SHUT_WR);
  CHECK(dispatcher.PollFds() == 1);
  CHECK(ready.back() == kFdRead);
}

TEST_CASE("PollFds reports errors with kFdError and skips destroyed watches") {
  ManualDispatcher dispatcher;
  int pipe_fds[2];
  REQUIRE(pipe(pipe_fds) == 0);
  close(pipe_fds[0]);  // writing now fails: POLLERR on the write end
  std::vector<uint32_t> ready;
  auto broken = dispatcher.WatchFd(
      pipe_fds[1], kFdWrite, [&](uint32_t events) { ready.push_back(events); });
  CHECK(dispatcher.PollFds() == 1);
  CHECK(ready == std::vector<uint32_t>{kFdWrite | kFdError});
  broken.reset();
  close(pipe_fds[1]);

  SocketPair pair;  // both ends writable: both watches ready in one poll
  int calls = 0;
  std::unique_ptr<FdWatch> first;
  std::unique_ptr<FdWatch> second;
  auto destroy_both = [&](uint32_t) {
    ++calls;
    first.reset();
    second.reset();
  };
  first = dispatcher.WatchFd(pair.fd[0], kFdWrite, destroy_both);
  second = dispatcher.WatchFd(pair.fd[1], kFdWrite, destroy_both);
  CHECK(dispatcher.PollFds() == 1);
  CHECK(calls == 1);
}

TEST_CASE("RunUntilIdle polls fds until nothing is ready") {
  ManualDispatcher dispatcher;
  SocketPair pair;
  std::string received;
  std::unique_ptr<FdWatch> reader =
      dispatcher.WatchFd(pair.fd[0], kFdRead, [&](uint32_t) {
        char buf[16];
        const ssize_t n = read(pair.fd[0], buf, sizeof(buf));
        if (n > 0) received.append(buf, static_cast<size_t>(n));
      });
  std::unique_ptr<FdWatch> writer;
  writer = dispatcher.WatchFd(pair.fd[1], kFdWrite, [&](uint32_t) {
    REQUIRE(write(pair.fd[1], "ping", 4) == 4);
    writer->SetEvents(0);  // nothing more to write
  });
  CHECK(dispatcher.RunUntilIdle() == 2);
  CHECK(received == "ping");
}

TEST_CASE("watches, timers and tasks outliving the dispatcher go inert") {
  SocketPair pair;
  auto dispatcher = std::make_unique<ManualDispatcher>();
  int calls = 0;
  auto timer = dispatcher->CreateTimer([&] { ++calls; });
  auto watch =
      dispatcher->WatchFd(pair.fd[0], kFdWrite, [&](uint32_t) { ++calls; });
  timer->Arm(seconds(1));
  auto shared = std::make_shared<int>(0);
  dispatcher->Post([shared, &calls] { ++calls; });
  dispatcher.reset();
  CHECK(shared.use_count() == 1);
  CHECK_FALSE(timer->armed());
  timer->Arm(seconds(1));
  CHECK_FALSE(timer->armed());
  watch->SetEvents(kFdRead);
  timer.reset();
  watch.reset();
  CHECK(calls == 0);
}

TEST_CASE("IsLoopThread is the thread driving the dispatcher") {
  ManualDispatcher dispatcher;
  CHECK(dispatcher.IsLoopThread());
  bool other_is_loop = true;
  std::thread other([&] { other_is_loop = dispatcher.IsLoopThread(); });
  other.join();
  CHECK_FALSE(other_is_loop);
}

}  // namespace
}  // namespace homing
