// homing-proxy: the seed's Envoy, natively. Reads an Envoy-style config,
// serves its listeners with N worker threads (homing::ProxyService) and an
// admin listener (homing::AdminServer). See Usage below and
// docs/operations.md.
//
// Signals: SIGHUP reloads the config (a bad one is reported and the old one
// keeps serving); SIGTERM and SIGINT drain in-flight requests and exit 0 (a
// second one exits at once).

#include <fcntl.h>
#include <unistd.h>
#include <uv.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "command_line.h"
#include "homing/admin.h"
#include "homing/config.h"
#include "homing/libuv_dispatcher.h"
#include "homing/log.h"
#include "homing/proxy.h"

namespace homing::proxy_main {
namespace {

constexpr char kUsage[] =
    "usage: homing-proxy --config FILE [--check] [--log-level LEVEL]\n"
    "                    [--concurrency N] [--drain-timeout DURATION]\n"
    "                    [--access-log FILE]\n"
    "  --config FILE         Envoy v3 bootstrap (YAML or JSON)\n"
    "  --check               validate the config and exit: 0 \"configuration "
    "OK\", 1 on error\n"
    "  --log-level LEVEL     trace, debug, info (default), warn, error, off\n"
    "  --concurrency N       worker threads (default 1), each with its own "
    "caches\n"
    "  --drain-timeout D     how long SIGTERM waits for in-flight requests "
    "(default 10s)\n"
    "  --access-log FILE     where access log lines go: - (stdout, the "
    "default),\n"
    "                        a file (appended to), or off\n";

constexpr size_t kMaxConcurrency = 256;

struct Options {
  std::string config_path;
  bool check = false;
  LogLevel log_level = LogLevel::kInfo;
  size_t concurrency = 1;
  Duration drain_timeout = std::chrono::seconds(10);
  std::string access_log = "-";  // "-": stdout; "off": none
};

absl::Status Invalid(std::string_view flag, std::string_view message) {
  return absl::InvalidArgumentError(
      absl::StrCat(std::string(flag), ": ", std::string(message)));
}

absl::StatusOr<Options> ParseArgs(const examples::CommandLine& line) {
  Options options;
  options.check = line.has("--check");
  std::optional<std::string> config = line.value("--config");
  std::optional<std::string> log_level = line.value("--log-level");
  std::optional<std::string> concurrency = line.value("--concurrency");
  std::optional<std::string> drain_timeout = line.value("--drain-timeout");
  std::optional<std::string> access_log = line.value("--access-log");
  if (!config) return absl::InvalidArgumentError("--config is required");
  options.config_path = *config;
  if (access_log) {
    if (access_log->empty()) return Invalid("--access-log", "needs a file, - or off");
    options.access_log = *access_log;
  }
  if (log_level) {
    absl::StatusOr<LogLevel> level = ParseLogLevel(*log_level);
    if (!level.ok()) return Invalid("--log-level", std::string(level.status().message()));
    options.log_level = *level;
  }
  if (concurrency) {
    if (!absl::SimpleAtoi(*concurrency, &options.concurrency) ||
        options.concurrency < 1 || options.concurrency > kMaxConcurrency) {
      return Invalid("--concurrency",
                     absl::StrCat("takes a number from 1 to ", kMaxConcurrency,
                                  ", got \"", *concurrency, "\""));
    }
  }
  if (drain_timeout) {
    absl::StatusOr<Duration> timeout = ParseDuration(*drain_timeout);
    if (!timeout.ok()) return Invalid("--drain-timeout", std::string(timeout.status().message()));
    options.drain_timeout = *timeout;
  }
  return options;
}

// "<file>: <message>", unless the loader already named the file.
std::string ConfigError(const Options& options, const absl::Status& status) {
  const std::string message(status.message());
  if (message.find(options.config_path) != std::string::npos) return message;
  return absl::StrCat(options.config_path, ": ", message);
}

// Envoy's admin.v3.ConfigDump around the bootstrap.
std::string ConfigDump(const Bootstrap& config) {
  std::string bootstrap = DumpConfigJson(config);
  if (!bootstrap.empty() && bootstrap.back() == '\n') bootstrap.pop_back();
  return absl::StrCat(
      "{\"configs\":[{\"@type\":\"type.googleapis.com/"
      "envoy.admin.v3.BootstrapConfigDump\",\"bootstrap\":",
      bootstrap, "}]}\n");
}

// Everything the signal handlers reach.
struct App {
  Options options;
  std::unique_ptr<LibuvDispatcher> dispatcher;
  StatsStore stats;
  int access_log_fd = -1;  // a file opened for --access-log, else -1
  std::unique_ptr<AccessLog> access_log;
  std::unique_ptr<ProxyService> proxy;
  std::unique_ptr<AdminServer> admin;
  uv_signal_t hangup;
  uv_signal_t terminate;
  uv_signal_t interrupt;
  bool draining = false;
};

void OnSignal(uv_signal_t* handle, int signum) {
  App& app = *static_cast<App*>(handle->data);
  if (signum == SIGHUP) {
    Log(LogLevel::kInfo, absl::StrCat("SIGHUP: reloading ", app.options.config_path));
    app.proxy->Reload(LoadConfigFile(app.options.config_path));
    return;
  }
  if (app.draining) {
    Log(LogLevel::kWarn, "second stop signal: exiting without waiting");
    app.dispatcher->Stop();
    return;
  }
  app.draining = true;
  Log(LogLevel::kInfo,
      absl::StrCat(signum == SIGTERM ? "SIGTERM" : "SIGINT",
                   ": draining in-flight requests (at most ",
                   std::chrono::duration_cast<std::chrono::milliseconds>(
                       app.options.drain_timeout)
                       .count(),
                   "ms)"));
  app.proxy->Drain(app.options.drain_timeout, [&app] {
    Log(LogLevel::kInfo, "drained, exiting");
    app.dispatcher->Stop();
  });
}

int Main(int argc, char** argv) {
  absl::StatusOr<examples::CommandLine> line = examples::CommandLine::Parse(
      argc, argv,
      {"--config", "--log-level", "--concurrency", "--drain-timeout", "--access-log"},
      {"--check"});
  if (line.ok() && line->help()) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  App app;
  absl::StatusOr<Options> options =
      line.ok() ? ParseArgs(*line) : absl::StatusOr<Options>(line.status());
  if (!options.ok()) {
    std::fprintf(stderr, "homing-proxy: %s\n%s",
                 std::string(options.status().message()).c_str(), kUsage);
    return 2;
  }
  app.options = *std::move(options);
  SetLogLevel(app.options.log_level);

  absl::StatusOr<Bootstrap> config = LoadConfigFile(app.options.config_path);
  absl::Status valid = config.ok() ? ValidateConfig(*config) : config.status();
  if (!valid.ok()) {
    std::fprintf(stderr, "homing-proxy: %s\n",
                 ConfigError(app.options, valid).c_str());
    return 1;
  }
  if (app.options.check) {
    std::puts("configuration OK");
    return 0;
  }

  std::signal(SIGPIPE, SIG_IGN);
  auto dispatcher = LibuvDispatcher::Create();
  if (!dispatcher.ok()) {
    std::fprintf(stderr, "homing-proxy: %s\n",
                 std::string(dispatcher.status().message()).c_str());
    return 1;
  }
  app.dispatcher = *std::move(dispatcher);
  if (app.options.access_log == "-") {
    app.access_log = std::make_unique<AccessLog>(STDOUT_FILENO);
  } else if (app.options.access_log != "off") {
    app.access_log_fd = open(app.options.access_log.c_str(),
                             O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (app.access_log_fd < 0) {
      std::fprintf(stderr, "homing-proxy: cannot open access log %s: %s\n",
                   app.options.access_log.c_str(), std::strerror(errno));
      return 1;
    }
    app.access_log = std::make_unique<AccessLog>(app.access_log_fd);
  }
  auto shared_config = std::make_shared<const Bootstrap>(*std::move(config));
  auto proxy = ProxyService::Start(
      *app.dispatcher, shared_config, app.stats,
      {.concurrency = app.options.concurrency,
       .access_log = app.access_log.get()});
  if (!proxy.ok()) {
    std::fprintf(stderr, "homing-proxy: %s\n",
                 std::string(proxy.status().message()).c_str());
    return 1;
  }
  app.proxy = *std::move(proxy);

  AdminSources sources;
  sources.stats = &app.stats;
  sources.state = [&app] { return app.proxy->state(); };
  sources.clusters = [&app] { return app.proxy->Clusters(); };
  sources.config_dump = [&app] { return ConfigDump(*app.proxy->config()); };
  const SocketAddressSpec& admin_spec = shared_config->admin.address;
  auto admin = AdminServer::Create(
      *app.dispatcher,
      *SocketAddress::FromIp(admin_spec.address, admin_spec.port),
      std::move(sources));
  if (!admin.ok()) {
    std::fprintf(stderr, "homing-proxy: admin listener: %s\n",
                 std::string(admin.status().message()).c_str());
    return 1;
  }
  app.admin = *std::move(admin);

  uv_loop_t* loop = app.dispatcher->loop();
  for (auto [handle, signum] : {std::pair{&app.hangup, SIGHUP},
                                std::pair{&app.terminate, SIGTERM},
                                std::pair{&app.interrupt, SIGINT}}) {
    uv_signal_init(loop, handle);
    handle->data = &app;
    uv_signal_start(handle, &OnSignal, signum);
    uv_unref(reinterpret_cast<uv_handle_t*>(handle));
  }

  for (size_t i = 0; i < shared_config->listeners.size(); ++i) {
    Log(LogLevel::kInfo,
        absl::StrCat("listener ", shared_config->listeners[i].name,
                     " listening on ",
                     app.proxy->listen_addresses()[i].ToString()));
  }
  Log(LogLevel::kInfo,
      absl::StrCat("admin listening on ", app.admin->local_address().ToString()));
  Log(LogLevel::kInfo,
      absl::StrCat("homing-proxy started: ", app.options.concurrency,
                   " workers, config ", app.options.config_path));
  app.dispatcher->RunUntilStopped();

  app.admin.reset();
  app.proxy.reset();  // joins the workers; the access log is flushed
  for (uv_signal_t* handle : {&app.hangup, &app.terminate, &app.interrupt}) {
    uv_close(reinterpret_cast<uv_handle_t*>(handle), nullptr);
  }
  app.dispatcher.reset();  // runs the loop once more: handles finish closing
  if (app.access_log_fd >= 0) close(app.access_log_fd);
  return 0;
}

}  // namespace
}  // namespace homing::proxy_main

int main(int argc, char** argv) { return homing::proxy_main::Main(argc, argv); }
