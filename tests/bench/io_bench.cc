// Costs of the event-loop seam: what a component pays per posted task, per
// timer (re)arm, and per zero-delay firing on a real libuv loop.

#include <benchmark/benchmark.h>

#include <chrono>
#include <cstdlib>
#include <memory>

#include "homing/libuv_dispatcher.h"
#include "homing/loop_thread.h"
#include "homing/manual_dispatcher.h"

namespace homing {
namespace {

std::unique_ptr<LibuvDispatcher> MakeDispatcher() {
  auto dispatcher = LibuvDispatcher::Create();
  if (!dispatcher.ok()) std::abort();
  return *std::move(dispatcher);
}

// Post() from the loop thread, then one iteration runs the batch.
void BM_PostOnLoopThread(benchmark::State& state) {
  auto dispatcher = MakeDispatcher();
  const int64_t batch = state.range(0);
  int64_t ran = 0;
  for (auto _ : state) {
    for (int64_t i = 0; i < batch; ++i) dispatcher->Post([&ran] { ++ran; });
    dispatcher->RunNoWait();
  }
  if (ran != state.iterations() * batch) state.SkipWithError("tasks lost");
  state.SetItemsProcessed(ran);
}
BENCHMARK(BM_PostOnLoopThread)->Arg(1)->Arg(64);

// Post() from another thread to a LoopThread; waits for the last task.
void BM_PostCrossThread(benchmark::State& state) {
  auto worker = LoopThread::Start();
  if (!worker.ok()) std::abort();
  LibuvDispatcher& dispatcher = (*worker)->dispatcher();
  const int64_t batch = state.range(0);
  int64_t ran = 0;  // loop thread only
  for (auto _ : state) {
    for (int64_t i = 0; i < batch; ++i) dispatcher.Post([&ran] { ++ran; });
    if (!(*worker)->RunSync([] {}).ok()) std::abort();
  }
  state.SetItemsProcessed(state.iterations() * batch);
}
BENCHMARK(BM_PostCrossThread)->Arg(1)->Arg(64)->UseRealTime();

// Re-arming a pending timer, the pattern of a refresh or timeout timer.
void BM_TimerRearm(benchmark::State& state) {
  auto dispatcher = MakeDispatcher();
  auto timer = dispatcher->CreateTimer([] {});
  int64_t n = 0;
  for (auto _ : state) timer->Arm(std::chrono::seconds(60 + (++n & 7)));
  timer->Disarm();
}
BENCHMARK(BM_TimerRearm);

// Arm(0) and the loop iteration that fires it (curl's "call me asap").
void BM_ZeroDelayFire(benchmark::State& state) {
  auto dispatcher = MakeDispatcher();
  int64_t fired = 0;
  auto timer = dispatcher->CreateTimer([&fired] { ++fired; });
  for (auto _ : state) {
    timer->Arm(Duration::zero());
    dispatcher->RunNoWait();
  }
  if (fired != state.iterations()) state.SkipWithError("firings lost");
}
BENCHMARK(BM_ZeroDelayFire);

// ManualDispatcher: a second of simulated time over 100 repeating timers.
void BM_ManualAdvance(benchmark::State& state) {
  ManualDispatcher dispatcher;
  std::vector<std::unique_ptr<Timer>> timers;
  int64_t fired = 0;
  for (int i = 0; i < 100; ++i) {
    timers.push_back(dispatcher.CreateTimer([&fired] { ++fired; }));
    timers.back()->ArmRepeating(std::chrono::milliseconds(100 + i));
  }
  for (auto _ : state) dispatcher.AdvanceBy(std::chrono::seconds(1));
  state.SetItemsProcessed(fired);
}
BENCHMARK(BM_ManualAdvance);

}  // namespace
}  // namespace homing

BENCHMARK_MAIN();
