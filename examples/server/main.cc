// homing-server: the seed's backend instance. Owns the keys that placement
// gives its ordinal, answers /where for any key, /join for its own keys (421
// for the others) and /health. See affinity_handler.h for the endpoints and
// Usage() for the flags.
//
// Signals: SIGHUP re-reads --members-file (a bad file is logged and the old
// membership stays); SIGTERM and SIGINT drain open requests and exit. With
// --members-dns the membership follows the headless service's DNS records
// (homing::DnsMembers) and changes are logged as they are seen.

#include <uv.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "command_line.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "affinity_handler.h"
#include "homing/address.h"
#include "homing/dns_members.h"
#include "homing/http_server.h"
#include "homing/libuv_dispatcher.h"
#include "homing/log.h"
#include "homing/placement.h"
#include "membership.h"

namespace homing::server {
namespace {

constexpr char kUsage[] =
    "usage: homing-server --listen IP:PORT\n"
    "         (--members H:P,H:P,... | --members-file FILE |\n"
    "          --replicas N --member-template 'server-{i}.svc:8081' |\n"
    "          --members-dns SERVICE [--members-port P] [--dns-server IP:PORT]\n"
    "                                [--members-refresh-ms MS])\n"
    "         [--self I] [--placement jump|rendezvous|maglev|modulo]\n"
    "  Members are ordered; a member's index is its ordinal (with\n"
    "  --members-dns: its place among the members DNS names, by ordinal).\n"
    "  --self defaults to the trailing -N of $HOSTNAME (a StatefulSet pod).\n"
    "  --members-dns follows a headless service: SRV _http._tcp.SERVICE, else\n"
    "  its A records named by PTR, with --members-port (default: the listen\n"
    "  port), re-resolved every --members-refresh-ms (default 5000) or the\n"
    "  records' TTL; DNS from --dns-server, else /etc/resolv.conf.\n";

struct Config {
  SocketAddress listen;
  std::vector<std::string> members;
  std::string members_file;  // empty unless --members-file
  // --members-dns: the members come from DNS, after startup.
  std::optional<DnsMembers::Options> members_dns;
  std::string dns_server;  // empty: resolv.conf
  size_t self = 0;
  PlacementStrategy strategy = PlacementStrategy::kJump;
};

absl::StatusOr<size_t> ParseCount(std::string_view flag, std::string_view text) {
  size_t value = 0;
  if (text.empty() || text.size() > 9) {
    return absl::InvalidArgumentError(
        absl::StrCat(std::string(flag), " takes a number, got \"",
                     std::string(text), "\""));
  }
  for (char c : text) {
    if (c < '0' || c > '9') {
      return absl::InvalidArgumentError(
          absl::StrCat(std::string(flag), " takes a number, got \"",
                       std::string(text), "\""));
    }
    value = value * 10 + static_cast<size_t>(c - '0');
  }
  return value;
}

// "ip:port" or "[ip6]:port"; port 0 lets the kernel pick one (the log line
// at startup names it).
absl::StatusOr<SocketAddress> ParseListenAddress(std::string_view text) {
  if (text.size() > 2 && text.substr(text.size() - 2) == ":0") {
    std::string_view ip = text.substr(0, text.size() - 2);
    if (ip.size() > 2 && ip.front() == '[' && ip.back() == ']') {
      ip = ip.substr(1, ip.size() - 2);
    }
    return SocketAddress::FromIp(ip, 0);
  }
  return SocketAddress::Parse(text);
}

absl::StatusOr<Config> ParseArgs(const examples::CommandLine& line) {
  std::optional<std::string> listen = line.value("--listen");
  std::optional<std::string> members = line.value("--members");
  std::optional<std::string> members_file = line.value("--members-file");
  std::optional<std::string> replicas = line.value("--replicas");
  std::optional<std::string> member_template = line.value("--member-template");
  std::optional<std::string> members_dns = line.value("--members-dns");
  std::optional<std::string> members_port = line.value("--members-port");
  std::optional<std::string> dns_server = line.value("--dns-server");
  std::optional<std::string> refresh_ms = line.value("--members-refresh-ms");
  std::optional<std::string> self = line.value("--self");
  std::optional<std::string> placement = line.value("--placement");

  Config config;
  if (!listen) return absl::InvalidArgumentError("--listen is required");
  absl::StatusOr<SocketAddress> address = ParseListenAddress(*listen);
  if (!address.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--listen: ", address.status().message()));
  }
  config.listen = *address;

  const int sources = members.has_value() + members_file.has_value() +
                      replicas.has_value() + members_dns.has_value();
  if (sources != 1) {
    return absl::InvalidArgumentError(
        "give exactly one of --members, --members-file, --replicas and "
        "--members-dns");
  }
  if (!members_dns && (members_port || dns_server || refresh_ms)) {
    return absl::InvalidArgumentError(
        "--members-port, --dns-server and --members-refresh-ms go with "
        "--members-dns");
  }
  if (replicas.has_value() != member_template.has_value()) {
    return absl::InvalidArgumentError(
        "--replicas and --member-template go together");
  }
  absl::StatusOr<std::vector<std::string>> list =
      absl::InvalidArgumentError("no members");
  if (members_dns) {
    DnsMembers::Options options;
    options.service = *members_dns;
    options.port = config.listen.port();
    if (members_port) {
      absl::StatusOr<size_t> port = ParseCount("--members-port", *members_port);
      if (!port.ok()) return port.status();
      if (*port == 0 || *port > 65535) {
        return absl::InvalidArgumentError("--members-port must be 1-65535");
      }
      options.port = static_cast<uint16_t>(*port);
    }
    if (refresh_ms) {
      absl::StatusOr<size_t> ms = ParseCount("--members-refresh-ms", *refresh_ms);
      if (!ms.ok()) return ms.status();
      options.refresh = std::chrono::milliseconds(*ms);
      options.min_refresh = std::min(options.min_refresh, options.refresh);
    }
    if (options.port == 0) {
      return absl::InvalidArgumentError(
          "--members-dns with --listen port 0 needs --members-port");
    }
    config.members_dns = std::move(options);
    config.dns_server = dns_server.value_or("");
    list = std::vector<std::string>();  // known once DNS answers
  } else if (members) {
    list = ParseMemberList(*members);
    if (!list.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--members: ", list.status().message()));
    }
  } else if (members_file) {
    list = ReadMembersFile(*members_file);
    if (!list.ok()) return list.status();
    config.members_file = *members_file;
  } else {
    absl::StatusOr<size_t> count = ParseCount("--replicas", *replicas);
    if (!count.ok()) return count.status();
    list = ExpandMemberTemplate(*member_template, *count);
    if (!list.ok()) return list.status();
  }
  config.members = *std::move(list);

  if (self) {
    absl::StatusOr<size_t> ordinal = ParseCount("--self", *self);
    if (!ordinal.ok()) return ordinal.status();
    config.self = *ordinal;
  } else {
    const char* hostname = std::getenv("HOSTNAME");
    std::optional<size_t> ordinal =
        hostname != nullptr ? OrdinalFromHostname(hostname) : std::nullopt;
    if (!ordinal) {
      return absl::InvalidArgumentError(absl::StrCat(
          "cannot tell which member this is: HOSTNAME \"",
          hostname != nullptr ? hostname : "",
          "\" does not end in -<ordinal>; pass --self"));
    }
    config.self = *ordinal;
  }
  if (!config.members_dns && config.self >= config.members.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("self ordinal ", config.self, " is not a member (",
                     config.members.size(), " members)"));
  }

  if (placement) {
    absl::StatusOr<PlacementStrategy> strategy =
        ParsePlacementStrategy(*placement);
    if (!strategy.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--placement: ", strategy.status().message()));
    }
    config.strategy = *strategy;
  }
  return config;
}

absl::Status SetMembership(Membership* membership, PlacementStrategy strategy,
                           std::vector<std::string> members, size_t self) {
  std::string self_assigned =
      self < members.size() ? AssignedName(members[self]) : std::string();
  absl::StatusOr<std::unique_ptr<Placement>> placement =
      Placement::Create(strategy, std::move(members));
  if (!placement.ok()) return placement.status();
  membership->placement = *std::move(placement);
  membership->self = self;
  membership->self_assigned = std::move(self_assigned);
  return absl::OkStatus();
}

// Everything the signal handlers reach.
struct App {
  Config config;
  Membership membership;
  std::unique_ptr<LibuvDispatcher> dispatcher;
  StatsStore stats;                         // membership.* (--members-dns)
  std::unique_ptr<DnsMembers> members_dns;  // --members-dns
  std::unique_ptr<HttpServer> server;
  uv_signal_t hangup;
  uv_signal_t terminate;
  uv_signal_t interrupt;
};

// A membership seen in DNS: this instance is the member whose pod ordinal is
// its own (the list's index is the placement's).
void ApplyDnsMembers(App& app, const std::vector<std::string>& members) {
  size_t self = members.size();
  for (size_t i = 0; i < members.size(); ++i) {
    if (PodOrdinal(members[i]) == app.config.self) self = i;
  }
  if (absl::Status status =
          SetMembership(&app.membership, app.config.strategy, members, self);
      !status.ok()) {
    Log(LogLevel::kError, absl::StrCat("membership from DNS not applied: ",
                                       status.message()));
    return;
  }
  Log(LogLevel::kInfo,
      absl::StrCat("membership changed (DNS): ", members.size(), " members",
                   self < members.size() ? absl::StrCat(", this instance is member ", self)
                                         : ", this instance is not one of them"));
}

// Follows --members-dns; returns once the first membership is known.
absl::Status StartDnsMembers(App& app) {
  DnsResolverConfig resolver_config;
  if (!app.config.dns_server.empty()) resolver_config.resolvers = {app.config.dns_server};
  absl::StatusOr<std::unique_ptr<DnsResolver>> resolver =
      DnsResolver::CreateAres(*app.dispatcher, resolver_config, std::chrono::seconds(2));
  if (!resolver.ok()) return resolver.status();
  absl::StatusOr<std::unique_ptr<DnsMembers>> members = DnsMembers::Create(
      *app.dispatcher, *app.config.members_dns, *std::move(resolver), app.stats.Scope("membership."),
      [&app](const std::vector<std::string>& now) { ApplyDnsMembers(app, now); });
  if (!members.ok()) return members.status();
  app.members_dns = *std::move(members);
  app.members_dns->Start();
  if (!app.dispatcher->RunUntil([&app] { return app.membership.placement != nullptr; },
                                std::chrono::seconds(30))) {
    return absl::UnavailableError(absl::StrCat(
        "no members of ", app.config.members_dns->service, " found in DNS within 30s"));
  }
  return absl::OkStatus();
}

void Reload(App& app) {
  if (app.config.members_file.empty()) {
    Log(LogLevel::kWarn, "SIGHUP ignored: no --members-file to re-read");
    return;
  }
  absl::StatusOr<std::vector<std::string>> members =
      ReadMembersFile(app.config.members_file);
  absl::Status status = members.ok()
                            ? SetMembership(&app.membership, app.config.strategy,
                                            *std::move(members), app.config.self)
                            : members.status();
  const size_t count = app.membership.placement->members().size();
  if (!status.ok()) {
    Log(LogLevel::kError,
        absl::StrCat("members file reload failed, keeping ", count,
                     " members: ", status.message()));
    return;
  }
  Log(LogLevel::kInfo,
      absl::StrCat("membership reloaded: ", count, " members",
                   app.membership.self_assigned.empty()
                       ? ", this instance is no longer one of them"
                       : ""));
}

void OnSignal(uv_signal_t* handle, int signum) {
  App& app = *static_cast<App*>(handle->data);
  if (signum == SIGHUP) {
    Reload(app);
    return;
  }
  Log(LogLevel::kInfo, "draining, then exiting");
  uv_signal_stop(&app.terminate);
  uv_signal_stop(&app.interrupt);
  app.server->Drain([&app] { app.dispatcher->Stop(); });
}

int Main(int argc, char** argv) {
  absl::StatusOr<examples::CommandLine> line = examples::CommandLine::Parse(
      argc, argv,
      {"--listen", "--members", "--members-file", "--replicas",
       "--member-template", "--members-dns", "--members-port", "--dns-server",
       "--members-refresh-ms", "--self", "--placement"});
  if (line.ok() && line->help()) {
    std::fputs(kUsage, stdout);
    return 0;
  }
  App app;
  absl::StatusOr<Config> config =
      line.ok() ? ParseArgs(*line) : absl::StatusOr<Config>(line.status());
  if (!config.ok()) {
    std::fprintf(stderr, "homing-server: %s\n%s",
                 std::string(config.status().message()).c_str(), kUsage);
    return 2;
  }
  app.config = *std::move(config);
  if (absl::Status status =
          app.config.members_dns
              ? absl::OkStatus()
              : SetMembership(&app.membership, app.config.strategy,
                              app.config.members, app.config.self);
      !status.ok()) {
    std::fprintf(stderr, "homing-server: %s\n",
                 std::string(status.message()).c_str());
    return 2;
  }

  std::signal(SIGPIPE, SIG_IGN);
  auto dispatcher = LibuvDispatcher::Create();
  if (!dispatcher.ok()) {
    std::fprintf(stderr, "homing-server: %s\n",
                 std::string(dispatcher.status().message()).c_str());
    return 1;
  }
  app.dispatcher = *std::move(dispatcher);
  uv_loop_t* loop = app.dispatcher->loop();
  if (app.config.members_dns) {
    if (absl::Status status = StartDnsMembers(app); !status.ok()) {
      std::fprintf(stderr, "homing-server: %s\n",
                   std::string(status.message()).c_str());
      return 1;
    }
  }

  HttpServerOptions options;
  options.listen_address = app.config.listen;
  auto server = HttpServer::Create(*app.dispatcher, options, [&app] {
    return std::make_unique<AffinityHandler>(app.membership, stdout);
  });
  if (!server.ok()) {
    std::fprintf(stderr, "homing-server: %s\n",
                 std::string(server.status().message()).c_str());
    return 1;
  }
  app.server = *std::move(server);

  for (auto [handle, signum] : {std::pair{&app.hangup, SIGHUP},
                                std::pair{&app.terminate, SIGTERM},
                                std::pair{&app.interrupt, SIGINT}}) {
    uv_signal_init(loop, handle);
    handle->data = &app;
    uv_signal_start(handle, &OnSignal, signum);
    uv_unref(reinterpret_cast<uv_handle_t*>(handle));
  }

  Log(LogLevel::kInfo,
      absl::StrCat("homing-server listening on ",
                   app.server->local_address().ToString(), " as member ",
                   app.membership.self, " of ",
                   app.membership.placement->members().size(), " (",
                   app.membership.self_assigned, ", placement ",
                   std::string(PlacementStrategyName(app.config.strategy)),
                   ")"));
  app.dispatcher->Run();

  app.server.reset();
  app.members_dns.reset();
  for (uv_signal_t* handle : {&app.hangup, &app.terminate, &app.interrupt}) {
    uv_close(reinterpret_cast<uv_handle_t*>(handle), nullptr);
  }
  app.dispatcher.reset();  // runs the loop once more: handles finish closing
  return 0;
}

}  // namespace
}  // namespace homing::server

int main(int argc, char** argv) { return homing::server::Main(argc, argv); }
