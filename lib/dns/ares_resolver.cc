// The c-ares resolver, driven entirely through a Dispatcher: c-ares reports
// the sockets it wants watched through its socket-state callback, the
// dispatcher calls back when they are ready (ares_process_fd), and one timer
// is re-armed after every processing step for the nearer of c-ares' own
// retransmission timeout (ares_timeout) and the earliest per-query deadline.
// c-ares 1.18 has no event thread and no per-query cancel: a query whose
// deadline passed, or whose handle was destroyed, is answered (or dropped) at
// once and its late c-ares completion ignored.

#include "dns/ares_resolver.h"

#include <ares.h>
#include <netdb.h>

#include <algorithm>
#include <cassert>
#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "common/string_util.h"
#include "dns/host_key.h"
#include "homing/address.h"
#include "homing/dns_cache.h"

namespace homing {
namespace internal {
namespace {

// c-ares' retry settings when the caller leaves timeouts to c-ares, and the
// number of tries a bounded query gets within its deadline. c-ares doubles
// the per-try timeout each round, so with kTries tries of timeout/kTries
// the deadline fires during the third try.
constexpr int kTries = 4;
constexpr auto kDefaultTryTimeout = std::chrono::seconds(5);

absl::StatusOr<SocketAddress> ParseResolver(std::string_view text) {
  if (auto bare = SocketAddress::FromIp(text, 53); bare.ok()) return bare;
  if (auto hostport = ParseHostPort(text); hostport.ok()) {
    if (auto address = SocketAddress::FromIp(hostport->host, hostport->port);
        address.ok()) {
      return address;
    }
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "\"", ToAbsl(text), "\" is not an IP address with an optional port"));
}

}  // namespace

absl::StatusOr<std::string> AresServersCsv(const DnsResolverConfig& config) {
  std::vector<std::string> servers;
  for (size_t i = 0; i < config.resolvers.size(); ++i) {
    absl::StatusOr<SocketAddress> address = ParseResolver(config.resolvers[i]);
    if (!address.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "resolvers[", i, "]: ", address.status().message()));
    }
    servers.push_back(address->ToString());
  }
  return absl::StrJoin(servers, ",");
}

absl::Status AresStatusToStatus(int ares_status, std::string_view name) {
  std::string message = absl::StrCat("DNS lookup of \"", ToAbsl(name),
                                     "\" failed: ", ares_strerror(ares_status));
  switch (ares_status) {
    case ARES_ENOTFOUND:
    case ARES_ENODATA:
      return absl::NotFoundError(message);
    case ARES_ETIMEOUT:
      return absl::DeadlineExceededError(message);
    case ARES_ECONNREFUSED:
    case ARES_ESERVFAIL:
    case ARES_EREFUSED:
    case ARES_EFORMERR:
    case ARES_EBADRESP:
    case ARES_ENOTIMP:
      return absl::UnavailableError(message);
    case ARES_ENOMEM:
      return absl::ResourceExhaustedError(message);
    case ARES_EBADNAME:
    case ARES_EBADFAMILY:
    case ARES_EBADQUERY:
      return absl::InvalidArgumentError(message);
    case ARES_ECANCELLED:
    case ARES_EDESTRUCTION:
      return absl::CancelledError(message);
    default:
      return absl::UnknownError(message);
  }
}

namespace {

int AresFamily(DnsLookupFamily family) {
  switch (family) {
    case DnsLookupFamily::kV4Only: return AF_INET;
    case DnsLookupFamily::kV6Only: return AF_INET6;
    default: return AF_UNSPEC;
  }
}

// Applies the family preference of dns_config.h to the addresses of one
// AF_UNSPEC (or single-family) answer.
std::vector<SocketAddress> SelectFamilies(DnsLookupFamily family,
                                          std::vector<SocketAddress> v4,
                                          std::vector<SocketAddress> v6) {
  switch (family) {
    case DnsLookupFamily::kV4Only: return v4;
    case DnsLookupFamily::kV6Only: return v6;
    case DnsLookupFamily::kV4Preferred: return v4.empty() ? v6 : v4;
    case DnsLookupFamily::kAuto: return v6.empty() ? v4 : v6;
    case DnsLookupFamily::kAll:
      v4.insert(v4.end(), v6.begin(), v6.end());
      return v4;
  }
  return {};
}

DnsAnswer AnswerFromAddresses(std::string_view name, DnsLookupFamily family,
                              std::vector<SocketAddress> v4,
                              std::vector<SocketAddress> v6) {
  DnsAnswer answer;
  answer.addresses = WithPortDeduplicated(
      SelectFamilies(family, std::move(v4), std::move(v6)), 0);
  if (answer.addresses.empty()) {
    answer.status = absl::NotFoundError(absl::StrCat(
        "DNS lookup of \"", ToAbsl(name), "\" returned no ",
        ToAbsl(DnsLookupFamilyName(family)), " address"));
  }
  return answer;
}

DnsAnswer AnswerFromAddrinfo(std::string_view name, DnsLookupFamily family,
                             const ares_addrinfo* info) {
  std::vector<SocketAddress> v4;
  std::vector<SocketAddress> v6;
  // The answer's TTL is the smallest among the records of the families kept.
  std::optional<int> v4_ttl;
  std::optional<int> v6_ttl;
  for (const ares_addrinfo_node* node = info != nullptr ? info->nodes : nullptr;
       node != nullptr; node = node->ai_next) {
    std::optional<SocketAddress> address =
        SocketAddress::FromSockaddr(node->ai_addr);
    if (!address) continue;
    const bool is_v4 = address->family() == AF_INET;
    (is_v4 ? v4 : v6).push_back(address->WithPort(0));
    std::optional<int>& ttl = is_v4 ? v4_ttl : v6_ttl;
    ttl = std::min(ttl.value_or(node->ai_ttl), node->ai_ttl);
  }
  DnsAnswer answer =
      AnswerFromAddresses(name, family, std::move(v4), std::move(v6));
  std::optional<int> ttl;
  for (const SocketAddress& address : answer.addresses) {
    const int family_ttl = *(address.family() == AF_INET ? v4_ttl : v6_ttl);
    ttl = std::min(ttl.value_or(family_ttl), family_ttl);
  }
  answer.ttl = std::chrono::seconds(std::max(0, ttl.value_or(0)));
  return answer;
}

class AresResolver final : public DnsResolver {
 public:
  AresResolver(Dispatcher& dispatcher, Duration query_timeout)
      : dispatcher_(dispatcher),
        query_timeout_(query_timeout),
        timer_(dispatcher.CreateTimer([this] { OnTimer(); })) {}

  ~AresResolver() override {
    // Completions already posted must not run once the owner is gone.
    alive_.reset();
    // ares_destroy() completes every query with ARES_EDESTRUCTION, which
    // OnAddrinfo() drops, and reports each socket closed.
    if (channel_ != nullptr) ares_destroy(channel_);
  }

  absl::Status Init(const DnsResolverConfig& config) {
    absl::StatusOr<std::string> servers = AresServersCsv(config);
    if (!servers.ok()) return servers.status();

    static std::once_flag library_init;
    std::call_once(library_init, [] { ares_library_init(ARES_LIB_INIT_ALL); });

    ares_options options{};
    options.sock_state_cb = &AresResolver::OnSocketState;
    options.sock_state_cb_data = this;
    Duration try_timeout = query_timeout_ > Duration::zero()
                               ? query_timeout_ / kTries
                               : Duration(kDefaultTryTimeout);
    options.timeout = static_cast<int>(std::max<int64_t>(
        1, std::chrono::ceil<std::chrono::milliseconds>(try_timeout).count()));
    options.tries = kTries;
    const int mask = ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES;
    if (int rc = ares_init_options(&channel_, &options, mask);
        rc != ARES_SUCCESS) {
      channel_ = nullptr;
      return absl::InternalError(
          absl::StrCat("c-ares initialization failed: ", ares_strerror(rc)));
    }
    if (!servers->empty()) {
      if (int rc = ares_set_servers_ports_csv(channel_, servers->c_str());
          rc != ARES_SUCCESS) {
        return absl::InvalidArgumentError(absl::StrCat(
            "c-ares rejected resolvers \"", *servers, "\": ", ares_strerror(rc)));
      }
    }
    return absl::OkStatus();
  }

  std::unique_ptr<Cancelable> Resolve(std::string_view name,
                                      DnsLookupFamily family,
                                      Callback callback) override {
    assert(dispatcher_.IsLoopThread());
    std::shared_ptr<Query> query = NewQuery(name);
    query->family = family;
    query->callback = std::move(callback);

    // An IP literal is its own answer. (c-ares 1.18 would send an AF_UNSPEC
    // lookup of an IPv4 literal to the DNS server.)
    if (absl::StatusOr<SocketAddress> literal = SocketAddress::FromIp(name, 0);
        literal.ok()) {
      std::vector<SocketAddress> v4;
      std::vector<SocketAddress> v6;
      (literal->family() == AF_INET ? v4 : v6).push_back(*literal);
      Complete(query,
               AnswerFromAddresses(name, family, std::move(v4), std::move(v6)));
      return std::make_unique<Handle>(query);
    }

    ares_addrinfo_hints hints{};
    hints.ai_family = AresFamily(family);
    hints.ai_flags = ARES_AI_NOSORT;
    // c-ares may complete synchronously (numeric names, /etc/hosts, errors);
    // Complete() posts the callback, so it never runs inside Resolve().
    ares_getaddrinfo(channel_, query->name.c_str(), nullptr, &hints,
                     &AresResolver::OnAddrinfo, new QueryRef{this, query});
    RearmTimer();
    return std::make_unique<Handle>(query);
  }

  absl::StatusOr<std::unique_ptr<Cancelable>> ResolveSrv(
      std::string_view name, SrvCallback callback) override {
    assert(dispatcher_.IsLoopThread());
    std::shared_ptr<Query> query = NewQuery(name);
    query->srv_callback = std::move(callback);
    ares_query(channel_, query->name.c_str(), /*C_IN=*/1, /*T_SRV=*/33,
               &AresResolver::OnSrv, new QueryRef{this, query});
    RearmTimer();
    return std::make_unique<Handle>(query);
  }

  absl::StatusOr<std::unique_ptr<Cancelable>> ReverseLookup(
      const SocketAddress& address, NameCallback callback) override {
    assert(dispatcher_.IsLoopThread());
    std::shared_ptr<Query> query = NewQuery(address.ToString());
    query->name_callback = std::move(callback);
    const sockaddr* raw = address.sockaddr_ptr();
    const void* ip = raw->sa_family == AF_INET
                         ? static_cast<const void*>(
                               &reinterpret_cast<const sockaddr_in*>(raw)->sin_addr)
                         : static_cast<const void*>(
                               &reinterpret_cast<const sockaddr_in6*>(raw)->sin6_addr);
    const int length = raw->sa_family == AF_INET ? sizeof(in_addr) : sizeof(in6_addr);
    ares_gethostbyaddr(channel_, ip, length, raw->sa_family,
                       &AresResolver::OnHostByAddr, new QueryRef{this, query});
    RearmTimer();
    return std::make_unique<Handle>(query);
  }

 private:
  // One query of any kind: exactly one callback is set until the query is
  // answered or cancelled.
  struct Query {
    std::string name;
    DnsLookupFamily family = DnsLookupFamily::kAuto;
    Callback callback;
    SrvCallback srv_callback;
    NameCallback name_callback;
    bool done = false;  // answered (or timed out); late c-ares results ignored
    bool has_deadline = false;
    std::multimap<MonotonicTime, std::shared_ptr<Query>>::iterator deadline;

    bool waiting() const { return callback || srv_callback || name_callback; }
    void Cancel() {
      callback = nullptr;
      srv_callback = nullptr;
      name_callback = nullptr;
    }
  };

  // The `arg` c-ares hands back to OnAddrinfo(); freed there.
  struct QueryRef {
    AresResolver* resolver;
    std::shared_ptr<Query> query;
  };

  class Handle final : public Cancelable {
   public:
    explicit Handle(std::shared_ptr<Query> query) : query_(std::move(query)) {}
    ~Handle() override { query_->Cancel(); }

   private:
    std::shared_ptr<Query> query_;
  };

  static void OnSocketState(void* data, ares_socket_t fd, int readable,
                            int writable) {
    auto* self = static_cast<AresResolver*>(data);
    const uint32_t events =
        (readable ? kFdRead : 0u) | (writable ? kFdWrite : 0u);
    auto it = self->watches_.find(fd);
    if (events == 0) {
      // c-ares closes the socket right after this call; stop watching now.
      if (it != self->watches_.end()) self->watches_.erase(it);
      return;
    }
    if (it != self->watches_.end()) {
      it->second->SetEvents(events);
      return;
    }
    self->watches_.emplace(
        fd, self->dispatcher_.WatchFd(fd, events, [self, fd](uint32_t ready) {
          self->OnSocketReady(fd, ready);
        }));
  }

  static void OnAddrinfo(void* arg, int status, int /*timeouts*/,
                         ares_addrinfo* result) {
    std::unique_ptr<QueryRef> ref(static_cast<QueryRef*>(arg));
    std::unique_ptr<ares_addrinfo, void (*)(ares_addrinfo*)> info(
        result, &ares_freeaddrinfo);
    if (status == ARES_EDESTRUCTION || ref->query->done) return;
    Query& query = *ref->query;
    DnsAnswer answer;
    if (status == ARES_SUCCESS) {
      answer = AnswerFromAddrinfo(query.name, query.family, info.get());
    } else {
      answer.status = AresStatusToStatus(status, query.name);
    }
    ref->resolver->Complete(ref->query, std::move(answer));
  }

  static void OnSrv(void* arg, int status, int /*timeouts*/, unsigned char* abuf,
                    int alen) {
    std::unique_ptr<QueryRef> ref(static_cast<QueryRef*>(arg));
    if (status == ARES_EDESTRUCTION || ref->query->done) return;
    DnsSrvAnswer answer;
    ares_srv_reply* reply = nullptr;
    if (status == ARES_SUCCESS) status = ares_parse_srv_reply(abuf, alen, &reply);
    if (status == ARES_SUCCESS) {
      for (const ares_srv_reply* r = reply; r != nullptr; r = r->next) {
        std::string_view target = r->host;
        if (!target.empty() && target.back() == '.') target.remove_suffix(1);
        answer.records.push_back(
            {std::string(target), r->port, r->priority, r->weight});
      }
      ares_free_data(reply);
    } else {
      answer.status = AresStatusToStatus(status, ref->query->name);
    }
    ref->resolver->Deliver(ref->query, [answer = std::move(answer)](Query& query) mutable {
      std::exchange(query.srv_callback, nullptr)(std::move(answer));
    });
  }

  static void OnHostByAddr(void* arg, int status, int /*timeouts*/,
                           hostent* host) {
    std::unique_ptr<QueryRef> ref(static_cast<QueryRef*>(arg));
    if (status == ARES_EDESTRUCTION || ref->query->done) return;
    absl::StatusOr<std::string> name;
    if (status == ARES_SUCCESS && host != nullptr && host->h_name != nullptr) {
      std::string_view text = host->h_name;
      if (!text.empty() && text.back() == '.') text.remove_suffix(1);
      name = std::string(text);
    } else {
      name = AresStatusToStatus(status == ARES_SUCCESS ? ARES_ENODATA : status,
                                ref->query->name);
    }
    ref->resolver->Deliver(ref->query, [name = std::move(name)](Query& query) mutable {
      std::exchange(query.name_callback, nullptr)(std::move(name));
    });
  }

  // A query for `name`, with its deadline when queries have one.
  std::shared_ptr<Query> NewQuery(std::string_view name) {
    auto query = std::make_shared<Query>();
    query->name = std::string(name);
    if (query_timeout_ > Duration::zero()) {
      query->deadline = deadlines_.emplace(dispatcher_.Now() + query_timeout_, query);
      query->has_deadline = true;
    }
    return query;
  }

  void OnSocketReady(int fd, uint32_t ready) {
    ares_process_fd(channel_, (ready & kFdRead) ? fd : ARES_SOCKET_BAD,
                    (ready & kFdWrite) ? fd : ARES_SOCKET_BAD);
    RearmTimer();
  }

  void OnTimer() {
    ares_process_fd(channel_, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
    ExpireDeadlines();
    RearmTimer();
  }

  void ExpireDeadlines() {
    const MonotonicTime now = dispatcher_.Now();
    while (!deadlines_.empty() && deadlines_.begin()->first <= now) {
      std::shared_ptr<Query> query = deadlines_.begin()->second;
      absl::Status status = absl::DeadlineExceededError(absl::StrCat(
          "DNS lookup of \"", query->name, "\" timed out after ",
          absl::FormatDuration(absl::FromChrono(query_timeout_))));
      Fail(query, std::move(status));
    }
  }

  // Answers `query`, whatever its kind, with the failure `status`.
  void Fail(const std::shared_ptr<Query>& query, absl::Status status) {
    Deliver(query, [status = std::move(status)](Query& waiting) mutable {
      if (waiting.callback) {
        DnsAnswer answer;
        answer.status = std::move(status);
        std::exchange(waiting.callback, nullptr)(std::move(answer));
      } else if (waiting.srv_callback) {
        DnsSrvAnswer answer;
        answer.status = std::move(status);
        std::exchange(waiting.srv_callback, nullptr)(std::move(answer));
      } else {
        std::exchange(waiting.name_callback, nullptr)(std::move(status));
      }
    });
  }

  void Complete(const std::shared_ptr<Query>& query, DnsAnswer answer) {
    Deliver(query, [answer = std::move(answer)](Query& waiting) mutable {
      std::exchange(waiting.callback, nullptr)(std::move(answer));
    });
  }

  // Marks `query` answered and posts `deliver` (which calls its callback),
  // unless the query is cancelled by then.
  template <typename Deliverer>
  void Deliver(const std::shared_ptr<Query>& query, Deliverer deliver) {
    query->done = true;
    if (query->has_deadline) {
      deadlines_.erase(query->deadline);
      query->has_deadline = false;
    }
    if (!query->waiting()) return;
    dispatcher_.Post([alive = std::weak_ptr<bool>(alive_), query,
                      deliver = std::move(deliver)]() mutable {
      if (alive.expired() || !query->waiting()) return;
      deliver(*query);
    });
  }

  void RearmTimer() {
    std::optional<Duration> next;
    timeval tv{};
    if (ares_timeout(channel_, nullptr, &tv) != nullptr) {
      next = std::chrono::seconds(tv.tv_sec) + std::chrono::microseconds(tv.tv_usec);
    }
    if (!deadlines_.empty()) {
      Duration until_deadline = std::max(
          Duration::zero(), deadlines_.begin()->first - dispatcher_.Now());
      next = next ? std::min(*next, until_deadline) : until_deadline;
    }
    if (!next) {
      timer_->Disarm();
      return;
    }
    // Whole milliseconds, rounded up: a timer that fires before c-ares'
    // deadline would only re-arm itself for the remainder.
    timer_->Arm(std::chrono::ceil<std::chrono::milliseconds>(*next));
  }

  Dispatcher& dispatcher_;
  const Duration query_timeout_;
  ares_channel channel_ = nullptr;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  std::unique_ptr<Timer> timer_;
  absl::flat_hash_map<int, std::unique_ptr<FdWatch>> watches_;
  std::multimap<MonotonicTime, std::shared_ptr<Query>> deadlines_;
};

}  // namespace
}  // namespace internal

absl::StatusOr<std::unique_ptr<Cancelable>> DnsResolver::ResolveSrv(
    std::string_view name, SrvCallback) {
  return absl::UnimplementedError(absl::StrCat(
      "this DNS resolver cannot look up SRV records (of \"", internal::ToAbsl(name), "\")"));
}

absl::StatusOr<std::unique_ptr<Cancelable>> DnsResolver::ReverseLookup(
    const SocketAddress& address, NameCallback) {
  return absl::UnimplementedError(absl::StrCat(
      "this DNS resolver cannot look up PTR records (of ", address.ToString(), ")"));
}

absl::StatusOr<std::unique_ptr<DnsResolver>> DnsResolver::CreateAres(
    Dispatcher& dispatcher, const DnsResolverConfig& config,
    Duration query_timeout) {
  auto resolver =
      std::make_unique<internal::AresResolver>(dispatcher, query_timeout);
  if (absl::Status status = resolver->Init(config); !status.ok()) return status;
  return resolver;
}

}  // namespace homing
