// Tests for LibuvDispatcher and LoopThread on a real libuv loop. Nothing here
// asserts elapsed wall-clock time except the contract that a timer never
// fires before its delay has passed on Now().

#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "homing/libuv_dispatcher.h"
#include "homing/log.h"
#include "homing/loop_thread.h"

namespace homing {
namespace {

using std::chrono::hours;
using std::chrono::milliseconds;

std::unique_ptr<LibuvDispatcher> MakeDispatcher() {
  auto dispatcher = LibuvDispatcher::Create();
  REQUIRE(dispatcher.ok());
  return *std::move(dispatcher);
}

// A connected pair of non-blocking stream sockets, closed on destruction.
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

void WriteByte(int fd) { REQUIRE(write(fd, "x", 1) == 1); }

TEST_CASE("a one-shot timer fires once, never before its delay on Now()") {
  auto dispatcher = MakeDispatcher();
  int fired = 0;
  MonotonicTime fired_at;
  auto timer = dispatcher->CreateTimer([&] {
    ++fired;
    fired_at = dispatcher->Now();
  });
  CHECK_FALSE(timer->armed());
  const MonotonicTime armed_at = dispatcher->Now();
  timer->Arm(milliseconds(15));
  CHECK(timer->armed());
  dispatcher->Run();  // returns once nothing is armed
  CHECK(fired == 1);
  CHECK_FALSE(timer->armed());
  CHECK(fired_at - armed_at >= milliseconds(15));
}

TEST_CASE("a timer armed after a slow callback still waits its full delay") {
  // libuv computes timeouts from the time cached when the iteration began;
  // after a slow callback that time is stale, and once anything wakes the
  // loop (here a posted task), a bare libuv timer would fire early. The
  // dispatcher's deadline check must hold it back.
  auto dispatcher = MakeDispatcher();
  MonotonicTime armed_at;
  MonotonicTime fired_at;
  auto timer = dispatcher->CreateTimer([&] { fired_at = dispatcher->Now(); });
  auto slow = dispatcher->CreateTimer([&] {
    std::this_thread::sleep_for(milliseconds(30));
    armed_at = dispatcher->Now();
    timer->Arm(milliseconds(20));
    dispatcher->Post([] {});
  });
  slow->Arm(Duration::zero());
  dispatcher->Run();
  CHECK(fired_at - armed_at >= milliseconds(20));
}

TEST_CASE("a repeating timer keeps firing until disarmed from its callback") {
  auto dispatcher = MakeDispatcher();
  int fired = 0;
  bool armed_inside = false;
  std::unique_ptr<Timer> timer;
  timer = dispatcher->CreateTimer([&] {
    armed_inside = timer->armed();
    if (++fired == 5) timer->Disarm();
  });
  timer->ArmRepeating(milliseconds(1));
  dispatcher->Run();
  CHECK(fired == 5);
  CHECK(armed_inside);
  CHECK_FALSE(timer->armed());
}

TEST_CASE("re-arming replaces the deadline, and a disarmed timer stays quiet") {
  auto dispatcher = MakeDispatcher();
  std::vector<std::string> fired;
  auto replaced = dispatcher->CreateTimer([&] { fired.push_back("replaced"); });
  auto cancelled =
      dispatcher->CreateTimer([&] { fired.push_back("cancelled"); });
  replaced->Arm(hours(1));
  replaced->Arm(milliseconds(2));  // Run() could not return with 1 h pending
  cancelled->Arm(milliseconds(1));
  cancelled->Disarm();
  cancelled->Disarm();  // harmless on a disarmed timer
  dispatcher->Run();
  CHECK(fired == std::vector<std::string>{"replaced"});

  // A repeating timer re-armed as one-shot stops repeating.
  int ticks = 0;
  auto timer = dispatcher->CreateTimer([&] { ++ticks; });
  timer->ArmRepeating(milliseconds(1));
  timer->Arm(milliseconds(1));
  dispatcher->Run();
  CHECK(ticks == 1);
}

TEST_CASE("a timer may destroy itself from its callback") {
  auto dispatcher = MakeDispatcher();
  int fired = 0;
  std::unique_ptr<Timer> one_shot;
  std::unique_ptr<Timer> repeating;
  one_shot = dispatcher->CreateTimer([&] {
    ++fired;
    one_shot.reset();
  });
  repeating = dispatcher->CreateTimer([&] {
    ++fired;
    repeating.reset();
  });
  one_shot->Arm(milliseconds(1));
  repeating->ArmRepeating(milliseconds(1));
  dispatcher->Run();
  CHECK(fired == 2);
  CHECK(one_shot == nullptr);
  CHECK(repeating == nullptr);
}

TEST_CASE("a zero-delay timer never fires inside Arm()") {
  auto dispatcher = MakeDispatcher();
  bool fired = false;
  auto timer = dispatcher->CreateTimer([&] { fired = true; });
  timer->Arm(Duration::zero());
  CHECK_FALSE(fired);
  CHECK(timer->armed());
  dispatcher->Run();
  CHECK(fired);

  // Nor inside Arm() called from another timer's callback.
  bool fired_inside_arm = true;
  fired = false;
  auto outer = dispatcher->CreateTimer([&] {
    timer->Arm(milliseconds(-5));  // negative counts as zero
    fired_inside_arm = fired;
  });
  outer->Arm(milliseconds(1));
  dispatcher->Run();
  CHECK_FALSE(fired_inside_arm);
  CHECK(fired);
}

TEST_CASE("a timer re-arming itself with zero delay lets IO run") {
  auto dispatcher = MakeDispatcher();
  SocketPair pair;
  WriteByte(pair.fd[1]);
  bool readable = false;
  int spins = 0;
  std::unique_ptr<FdWatch> watch =
      dispatcher->WatchFd(pair.fd[0], kFdRead, [&](uint32_t) {
        readable = true;
        watch.reset();
      });
  std::unique_ptr<Timer> spinner;
  spinner = dispatcher->CreateTimer([&] {
    if (!readable && ++spins < 1000) spinner->Arm(Duration::zero());
  });
  spinner->Arm(Duration::zero());
  dispatcher->Run();
  CHECK(readable);
  CHECK(spins < 1000);
}

TEST_CASE("timers fire in deadline order") {
  auto dispatcher = MakeDispatcher();
  std::vector<int> order;
  auto t30 = dispatcher->CreateTimer([&] { order.push_back(30); });
  auto t10 = dispatcher->CreateTimer([&] { order.push_back(10); });
  auto t20 = dispatcher->CreateTimer([&] { order.push_back(20); });
  t30->Arm(milliseconds(30));
  t10->Arm(milliseconds(10));
  t20->Arm(milliseconds(20));
  dispatcher->Run();
  CHECK(order == std::vector<int>{10, 20, 30});
}

TEST_CASE("an fd watch reports read readiness and may destroy itself") {
  auto dispatcher = MakeDispatcher();
  SocketPair pair;
  std::vector<uint32_t> ready;
  std::unique_ptr<FdWatch> watch =
      dispatcher->WatchFd(pair.fd[0], kFdRead, [&](uint32_t events) {
        ready.push_back(events);
        char byte;
        CHECK(read(pair.fd[0], &byte, 1) == 1);
        watch.reset();
      });
  CHECK(dispatcher->RunNoWait());  // the active watch is work left
  CHECK(ready.empty());            // nothing written yet
  WriteByte(pair.fd[1]);
  dispatcher->Run();
  CHECK(ready == std::vector<uint32_t>{kFdRead});
  CHECK(watch == nullptr);
}

TEST_CASE("SetEvents switches between write and read interest and pauses") {
  auto dispatcher = MakeDispatcher();
  SocketPair pair;
  std::vector<uint32_t> ready;
  std::unique_ptr<FdWatch> watch =
      dispatcher->WatchFd(pair.fd[0], kFdRead, [&](uint32_t events) {
        ready.push_back(events);
        watch->SetEvents(0);
      });
  dispatcher->RunNoWait();
  CHECK(ready.empty());  // writable, but only read interest

  watch->SetEvents(kFdWrite);
  dispatcher->RunNoWait();
  CHECK(ready == std::vector<uint32_t>{kFdWrite});

  WriteByte(pair.fd[1]);  // readable and writable, but paused
  CHECK_FALSE(dispatcher->RunNoWait());
  CHECK(ready.size() == 1);

  watch->SetEvents(kFdRead);
  dispatcher->RunNoWait();
  CHECK(ready == std::vector<uint32_t>{kFdWrite, kFdRead});

  watch->SetEvents(kFdRead | kFdWrite);
  dispatcher->RunNoWait();
  CHECK(ready.back() == (kFdRead | kFdWrite));
}

TEST_CASE("a destroyed watch is never called, even if ready in the same turn") {
  auto dispatcher = MakeDispatcher();
  SocketPair pair;  // both ends writable: both watches ready at once
  int calls = 0;
  std::unique_ptr<FdWatch> first;
  std::unique_ptr<FdWatch> second;
  auto destroy_both = [&](uint32_t) {
    ++calls;
    first.reset();
    second.reset();
  };
  first = dispatcher->WatchFd(pair.fd[0], kFdWrite, destroy_both);
  second = dispatcher->WatchFd(pair.fd[1], kFdWrite, destroy_both);
  dispatcher->Run();
  CHECK(calls == 1);
}

TEST_CASE("a descriptor libuv cannot watch is reported with kFdError") {
  std::vector<std::string> logged;
  SetLogSink([&](LogLevel, std::string_view message) {
    logged.emplace_back(message);
  });
  auto dispatcher = MakeDispatcher();
  FILE* file = std::tmpfile();  // regular files cannot be polled
  REQUIRE(file != nullptr);
  const int fd = fileno(file);
  std::vector<uint32_t> ready;
  auto watch = dispatcher->WatchFd(
      fd, kFdRead, [&](uint32_t events) { ready.push_back(events); });
  CHECK(ready.empty());  // reported from the loop, not from WatchFd()
  dispatcher->Run();
  CHECK(ready == std::vector<uint32_t>{kFdRead | kFdError});  // once
  watch->SetEvents(kFdWrite);
  dispatcher->Run();
  CHECK(ready.back() == (kFdWrite | kFdError));
  watch.reset();
  std::fclose(file);
  SetLogSink(nullptr);
  REQUIRE(logged.size() == 1);
  CHECK(logged[0] == "cannot watch fd " + std::to_string(fd) +
                         ": operation not permitted; reporting it as failed");
}

TEST_CASE("watching one descriptor twice is logged as an error") {
  std::vector<std::string> logged;
  SetLogSink([&](LogLevel level, std::string_view message) {
    if (level == LogLevel::kError) logged.emplace_back(message);
  });
  auto dispatcher = MakeDispatcher();
  SocketPair pair;
  auto first = dispatcher->WatchFd(pair.fd[0], kFdRead, [](uint32_t) {});
  CHECK(logged.empty());
  auto second = dispatcher->WatchFd(pair.fd[0], kFdWrite, [](uint32_t) {});
  REQUIRE(logged.size() == 1);
  CHECK(logged[0] == "fd " + std::to_string(pair.fd[0]) +
                         " is watched twice on one dispatcher; the first "
                         "watch stops receiving events");
  second.reset();
  first.reset();
  // Once the watches are gone the descriptor may be watched again.
  auto again = dispatcher->WatchFd(pair.fd[0], kFdRead, [](uint32_t) {});
  CHECK(logged.size() == 1);
  SetLogSink(nullptr);
}

TEST_CASE("a socket error is reported with kFdError and the watch resumes") {
  auto dispatcher = MakeDispatcher();
  // A UDP port with nobody listening: sending to it earns an ICMP error.
  const int peer = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
  const int client = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
  REQUIRE(peer >= 0);
  REQUIRE(client >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  REQUIRE(bind(peer, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
  REQUIRE(getsockname(peer, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  sockaddr_in dead = addr;
  {
    const int closed = socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in any = addr;
    any.sin_port = 0;
    REQUIRE(bind(closed, reinterpret_cast<sockaddr*>(&any), sizeof(any)) == 0);
    REQUIRE(getsockname(closed, reinterpret_cast<sockaddr*>(&dead), &len) == 0);
    close(closed);
  }
  REQUIRE(connect(client, reinterpret_cast<sockaddr*>(&dead), sizeof(dead)) ==
          0);

  std::vector<uint32_t> ready;
  std::unique_ptr<FdWatch> watch =
      dispatcher->WatchFd(client, kFdRead, [&](uint32_t events) {
        ready.push_back(events);
        char buf[8];
        const ssize_t n = recv(client, buf, sizeof(buf), 0);
        if (events & kFdError) {
          CHECK(n < 0);
          CHECK(errno == ECONNREFUSED);
          // Now talk to a live peer instead.
          REQUIRE(connect(client, reinterpret_cast<sockaddr*>(&addr),
                          sizeof(addr)) == 0);
          sockaddr_in self{};
          socklen_t self_len = sizeof(self);
          REQUIRE(getsockname(client, reinterpret_cast<sockaddr*>(&self),
                              &self_len) == 0);
          REQUIRE(sendto(peer, "y", 1, 0, reinterpret_cast<sockaddr*>(&self),
                         self_len) == 1);
        } else {
          CHECK(n == 1);
          watch.reset();
        }
      });
  REQUIRE(send(client, "x", 1, 0) == 1);
  dispatcher->Run();
  CHECK(ready == std::vector<uint32_t>{kFdRead | kFdError, kFdRead});
  close(client);
  close(peer);
}

TEST_CASE("tasks posted from many threads all run, in order per thread") {
  auto dispatcher = MakeDispatcher();
  constexpr int kThreads = 8;
  constexpr int kTasksPerThread = 2000;
  std::vector<std::vector<int>> seen(kThreads);
  int total = 0;
  bool all_on_loop_thread = true;
  std::vector<std::thread> posters;
  for (int t = 0; t < kThreads; ++t) {
    posters.emplace_back([&, t] {
      for (int i = 0; i < kTasksPerThread; ++i) {
        dispatcher->Post([&, t, i] {
          all_on_loop_thread &= dispatcher->IsLoopThread();
          seen[t].push_back(i);
          if (++total == kThreads * kTasksPerThread) dispatcher->Stop();
        });
      }
    });
  }
  dispatcher->RunUntilStopped();
  for (std::thread& poster : posters) poster.join();
  CHECK(total == kThreads * kTasksPerThread);
  CHECK(all_on_loop_thread);
  for (int t = 0; t < kThreads; ++t) {
    REQUIRE(seen[t].size() == kTasksPerThread);
    bool in_order = true;
    for (int i = 0; i < kTasksPerThread; ++i) in_order &= seen[t][i] == i;
    CHECK(in_order);
  }
}

TEST_CASE("Run() runs tasks posted before it and the tasks they post") {
  auto dispatcher = MakeDispatcher();
  std::vector<int> order;
  dispatcher->Post([&] {
    order.push_back(1);
    dispatcher->Post([&] { order.push_back(3); });
    order.push_back(2);  // the nested task waits for a later batch
  });
  dispatcher->Run();  // nothing else keeps the loop alive
  CHECK(order == std::vector<int>{1, 2, 3});
}

TEST_CASE("a task re-posting itself does not starve IO") {
  auto dispatcher = MakeDispatcher();
  SocketPair pair;
  WriteByte(pair.fd[1]);
  bool readable = false;
  int reposts = 0;
  std::unique_ptr<FdWatch> watch =
      dispatcher->WatchFd(pair.fd[0], kFdRead, [&](uint32_t) {
        readable = true;
        watch.reset();
      });
  std::function<void()> task = [&] {
    if (!readable && ++reposts < 1000) dispatcher->Post(task);
  };
  dispatcher->Post(task);
  dispatcher->Run();
  CHECK(readable);
  CHECK(reposts < 1000);
}

TEST_CASE("Stop() from another thread ends the run and leaves timers armed") {
  auto dispatcher = MakeDispatcher();
  auto timer = dispatcher->CreateTimer([] {});
  timer->Arm(hours(1));
  std::thread stopper([&] { dispatcher->Stop(); });
  dispatcher->Run();  // would wait an hour without Stop()
  stopper.join();
  CHECK(timer->armed());

  // Tasks posted before Stop() run before the loop returns.
  bool ran = false;
  std::thread poster([&] {
    dispatcher->Post([&] { ran = true; });
    dispatcher->Stop();
  });
  dispatcher->RunUntilStopped();
  poster.join();
  CHECK(ran);
}

TEST_CASE("RunUntil waits for a result, up to a limit, without keep-alives") {
  auto dispatcher = MakeDispatcher();
  bool done = false;
  auto timer = dispatcher->CreateTimer([&] { done = true; });
  timer->Arm(milliseconds(5));
  CHECK(dispatcher->RunUntil([&] { return done; }, hours(1)));

  // Nothing else alive on the loop: the limit alone ends the wait.
  const MonotonicTime start = dispatcher->Now();
  CHECK_FALSE(dispatcher->RunUntil([] { return false; }, milliseconds(10)));
  CHECK(dispatcher->Now() - start >= milliseconds(10));

  // A result from another thread arrives through Post().
  std::atomic<bool> posted{false};
  std::thread poster([&] { dispatcher->Post([&] { posted = true; }); });
  CHECK(dispatcher->RunUntil([&] { return posted.load(); }, hours(1)));
  poster.join();

  // Stop() ends the wait too.
  std::thread stopper([&] { dispatcher->Stop(); });
  CHECK_FALSE(dispatcher->RunUntil([] { return false; }, hours(1)));
  stopper.join();
}

TEST_CASE("IsLoopThread follows the thread that runs the loop") {
  auto dispatcher = MakeDispatcher();
  CHECK(dispatcher->IsLoopThread());  // the creating thread, until a run
  std::atomic<bool> inside{false};
  std::thread runner([&] {
    dispatcher->Post([&] {
      inside = dispatcher->IsLoopThread();
      dispatcher->Stop();
    });
    dispatcher->RunUntilStopped();
  });
  runner.join();
  CHECK(inside);
  CHECK_FALSE(dispatcher->IsLoopThread());
}

TEST_CASE("a dispatcher can share the embedder's loop") {
  CHECK(LibuvDispatcher::Create(nullptr).status().message() ==
        "LibuvDispatcher: loop is null");

  uv_loop_t loop;
  REQUIRE(uv_loop_init(&loop) == 0);
  {
    auto created = LibuvDispatcher::Create(&loop);
    REQUIRE(created.ok());
    LibuvDispatcher& dispatcher = **created;
    CHECK(dispatcher.loop() == &loop);
    int fired = 0;
    bool ran = false;
    auto timer = dispatcher.CreateTimer([&] { ++fired; });
    timer->Arm(milliseconds(1));
    dispatcher.Post([&] { ran = true; });
    uv_run(&loop, UV_RUN_DEFAULT);  // the embedder drives its own loop
    CHECK(fired == 1);
    CHECK(ran);
  }
  uv_run(&loop, UV_RUN_NOWAIT);  // finishes closing the dispatcher's handles
  CHECK(uv_loop_close(&loop) == 0);
}

TEST_CASE("watches and timers outliving their dispatcher go inert") {
  SocketPair pair;
  auto dispatcher = MakeDispatcher();
  int calls = 0;
  auto timer = dispatcher->CreateTimer([&] { ++calls; });
  auto watch =
      dispatcher->WatchFd(pair.fd[0], kFdWrite, [&](uint32_t) { ++calls; });
  timer->Arm(Duration::zero());
  auto shared = std::make_shared<int>(0);
  dispatcher->Post([shared, &calls] { ++calls; });
  dispatcher.reset();  // also destroys the unrun task
  CHECK(shared.use_count() == 1);
  CHECK_FALSE(timer->armed());
  timer->Arm(milliseconds(1));
  timer->ArmRepeating(milliseconds(1));
  CHECK_FALSE(timer->armed());
  watch->SetEvents(kFdRead);
  timer.reset();
  watch.reset();
  CHECK(calls == 0);
}

TEST_CASE(
    "LoopThread runs work on its own thread and refuses it once stopped") {
  auto started = LoopThread::Start();
  REQUIRE(started.ok());
  LoopThread& worker = **started;
  CHECK_FALSE(worker.dispatcher().IsLoopThread());

  bool on_loop_thread = false;
  bool nested_inline = false;
  CHECK(worker
            .RunSync([&] {
              on_loop_thread = worker.dispatcher().IsLoopThread();
              // RunSync() on the loop thread itself runs inline.
              CHECK(worker.RunSync([&] { nested_inline = true; }).ok());
            })
            .ok());
  CHECK(on_loop_thread);
  CHECK(nested_inline);

  // A timer created and armed on the loop thread fires there.
  std::atomic<bool> fired{false};
  std::unique_ptr<Timer> timer;
  CHECK(worker
            .RunSync([&] {
              timer = worker.dispatcher().CreateTimer([&] { fired = true; });
              timer->Arm(milliseconds(1));
            })
            .ok());
  bool seen = false;
  absl::Status polled;
  while (!seen && polled.ok()) {
    polled = worker.RunSync([&] { seen = fired.load(); });
  }
  CHECK(polled.ok());
  CHECK(worker.RunSync([&] { timer.reset(); }).ok());

  worker.Stop();
  worker.Stop();  // idempotent
  const absl::Status refused = worker.RunSync([] {});
  CHECK(refused.code() == absl::StatusCode::kFailedPrecondition);
  CHECK(refused.message() == "LoopThread::RunSync: the loop thread is stopped");
  worker.Join();
  started->reset();
}

}  // namespace
}  // namespace homing
