/* File: homing/homing.h
 *
 * The C ABI of homing (C99): route each client's requests to the one backend
 * instance that owns the client. Everything the C++ core offers that an
 * embedder needs, behind opaque handles: configuration loading, route
 * tables, placement, load balancers, the DNS cache, the affinity lookup, the
 * router pipeline and stats. Link with `pkg-config --cflags --libs homing`.
 *
 * Example:
 *
 *   homing_config_t *config = NULL;
 *   char *err = NULL;
 *   if (homing_config_load_file("proxy.yaml", &config, &err) != HOMING_OK) {
 *     fprintf(stderr, "%s\n", err);   (the message names the path and line)
 *     homing_free(err);
 *   }
 *
 * docs/c-api.md walks through every function with a tested example.
 *
 * ------------------------------------------------------------------------
 * Contract (applies to every declaration below)
 * ------------------------------------------------------------------------
 *
 * Handles.  Every type is opaque. What a `homing_X_new()` (or the named
 *   constructor) creates is released with `homing_X_free()`; every `_free()`
 *   accepts NULL and does nothing then.
 *
 * Errors.  Fallible calls return a `homing_status`: HOMING_OK (0) or one of
 *   the HOMING_ERR_* codes, whose numbers never change and are never reused;
 *   `homing_strerror()` names them. Many also take a trailing `char **errmsg`
 *   (may be NULL): on failure `*errmsg` receives a message (malloc()ed; free
 *   it with `homing_free()`); a non-NULL `*errmsg` left from an earlier call
 *   is freed first, so initialise it to NULL once and reuse it. On success
 *   `*errmsg` is left alone. Output parameters are written only on success.
 *
 * Strings in.  Text arguments come as (pointer, length) pairs; a length of
 *   HOMING_NUL_TERMINATED means "NUL-terminated, use strlen()". Names, hosts
 *   and patterns that cannot contain NUL bytes are plain `const char *`.
 *   homing copies what it keeps; the caller's buffers may be reused as soon
 *   as a call returns.
 *
 * Strings out.  `const char *` results are NUL-terminated and owned by the
 *   object they came from: valid until that object is freed (or changed, where
 *   a setter says so). Never free them. Memory handed over through a
 *   `char **out` is yours; free it with `homing_free()`.
 *
 * Results out.  A function that hands over an object or text through
 *   `T **out` sets `*out` to NULL (and an `out_len` to 0) before anything
 *   else: when it fails, `*out` is NULL, never a stale value (leveldb's rule).
 *
 * Numbers.  Booleans are `int` (0 or 1). Enumerated arguments are `int`
 *   holding one of the named constants; any other value is
 *   HOMING_ERR_INVALID_ARGUMENT. Durations are milliseconds.
 *
 * Callbacks.  Every callback receives the `void *user_data` given with it.
 *   Objects passed to a callback (`const homing_decision_t *`, ...) are
 *   borrowed: valid for the duration of the callback only (copy what you
 *   keep, e.g. with homing_decision_copy()).
 *
 * Exceptions.  No C++ exception ever crosses this boundary: every entry
 *   point catches and converts (allocation failure is HOMING_ERR_NO_MEMORY).
 *
 * Threads and loops.  See "Loops and engines" below. In short: objects that
 *   do I/O (DNS cache, affinity lookup, router) live on a loop. An external
 *   loop belongs to the thread that created it: call it and its objects from
 *   that thread only (other threads get HOMING_ERR_WRONG_THREAD). An engine
 *   runs its loop on a thread of its own: its objects may be called from any
 *   thread (calls are carried to the engine thread and wait for it), and their
 *   callbacks run on the engine thread. Objects without a loop: configs, route
 *   tables, decisions, DNS host snapshots and stats are safe to read from any
 *   thread; requests, placements (while changing members) and load balancers
 *   need one thread at a time.
 */

#ifndef HOMING_HOMING_H_
#define HOMING_HOMING_H_

#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__) && __GNUC__ >= 4
#define HOMING_EXTERN __attribute__((visibility("default")))
#else
#define HOMING_EXTERN
#endif

/* HOMING_DEPRECATED_FOR(since, replacement): marks a declaration that stays
 * for compatibility; the compiler names the release and the replacement. */
#if defined(__GNUC__)
#define HOMING_DEPRECATED_FOR(since, replacement) \
  __attribute__((deprecated("since homing " #since ": use " #replacement)))
#else
#define HOMING_DEPRECATED_FOR(since, replacement)
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* ======================================================================== */
/* Version                                                                  */
/* ======================================================================== */

/* The version of this header. The build checks it against the project's. */
#define HOMING_VERSION_MAJOR 0
#define HOMING_VERSION_MINOR 1
#define HOMING_VERSION_PATCH 0
#define HOMING_VERSION_STRING "0.1.0"
#define HOMING_VERSION_NUM                                          \
  ((HOMING_VERSION_MAJOR << 16) | (HOMING_VERSION_MINOR << 8) | \
   (HOMING_VERSION_PATCH))
/* True when this header is at least version x.y.z. */
#define HOMING_AT_LEAST_VERSION(x, y, z) \
  (HOMING_VERSION_NUM >= (((x) << 16) | ((y) << 8) | (z)))

/**
 * homing_version() - the version of the library loaded at run time.
 * @return "MAJOR.MINOR.PATCH", static. Compare with HOMING_VERSION_STRING to
 *         detect a header/library mismatch.
 * Since: 0.1
 */
HOMING_EXTERN const char *homing_version(void);

/**
 * homing_version_num() - the run-time version as HOMING_VERSION_NUM encodes
 * it: (major << 16) | (minor << 8) | patch.
 * Since: 0.1
 */
HOMING_EXTERN uint32_t homing_version_num(void);

/* ======================================================================== */
/* Status codes and memory                                                  */
/* ======================================================================== */

typedef enum homing_status {
  HOMING_OK = 0,
  HOMING_ERR_INVALID_ARGUMENT = 1,   /* bad argument or configuration (since 0.1) */
  HOMING_ERR_NOT_FOUND = 2,          /* no such file, name or entry (since 0.1) */
  HOMING_ERR_UNAVAILABLE = 3,        /* a server or host cannot be reached (since 0.1) */
  HOMING_ERR_TIMEOUT = 4,            /* a deadline passed (since 0.1) */
  HOMING_ERR_OVERFLOW = 5,           /* a configured bound is reached (since 0.1) */
  HOMING_ERR_CANCELLED = 6,          /* the operation was cancelled (since 0.1) */
  HOMING_ERR_PERMISSION_DENIED = 7,  /* refused by policy, e.g. an allow-list (since 0.1) */
  HOMING_ERR_FAILED_PRECONDITION = 8, /* not possible in this state, e.g. the
                                        object's loop is gone (since 0.1) */
  HOMING_ERR_WRONG_THREAD = 9,       /* called from a thread that may not (since 0.1) */
  HOMING_ERR_REENTRANT = 10,         /* a process call from inside a callback (since 0.1) */
  HOMING_ERR_NO_MEMORY = 11,         /* allocation failed (since 0.1) */
  HOMING_ERR_INTERNAL = 12           /* a bug in homing; the message says more (since 0.1) */
} homing_status;

/**
 * homing_strerror() - a short description of a status code.
 * @status: a homing_status value (any int is accepted).
 * @return static text; "unknown status" for numbers homing does not define.
 * Since: 0.1
 */
HOMING_EXTERN const char *homing_strerror(int status);

/**
 * homing_free() - releases memory homing handed over: error messages and
 * rendered text. Use it, not free(): the library may use another allocator.
 * @ptr: may be NULL.
 * Since: 0.1
 */
HOMING_EXTERN void homing_free(void *ptr);

/* Length argument meaning "the string is NUL-terminated". */
#define HOMING_NUL_TERMINATED ((size_t)-1)

/* ======================================================================== */
/* Logging                                                                  */
/* ======================================================================== */

enum {
  HOMING_LOG_TRACE = 0,
  HOMING_LOG_DEBUG = 1,
  HOMING_LOG_INFO = 2,
  HOMING_LOG_WARN = 3,
  HOMING_LOG_ERROR = 4,
  HOMING_LOG_OFF = 5
};

/**
 * homing_log_cb - receives one log message. May be called from any thread
 * that logs, concurrently; `message` (NUL-terminated, `message_len` bytes) is
 * valid during the call only.
 */
typedef void (*homing_log_cb)(int level, const char *message,
                              size_t message_len, void *user_data);

/**
 * homing_set_log_level() - messages below @level are dropped (default
 * HOMING_LOG_INFO). Thread-safe.
 * @return HOMING_OK, or HOMING_ERR_INVALID_ARGUMENT for an unknown level.
 * Since: 0.1
 */
HOMING_EXTERN homing_status homing_set_log_level(int level);

/**
 * homing_log_level() - the current level. Thread-safe.
 * Since: 0.1
 */
HOMING_EXTERN int homing_log_level(void);

/**
 * homing_set_log_callback() - sends log messages to @cb instead of stderr;
 * NULL restores stderr. Thread-safe; process-wide.
 * Since: 0.1
 */
HOMING_EXTERN void homing_set_log_callback(homing_log_cb cb, void *user_data);

/* ======================================================================== */
/* Loops and engines                                                        */
/* ======================================================================== */
/*
 * The DNS cache, the affinity lookup and the router do I/O. They never block
 * and own no thread: they run on a loop, which comes in two kinds.
 *
 * (a) External loop: the host drives homing, the way c-ares and curl multi
 *     are driven. homing says which descriptors to watch (homing_watch_cb)
 *     and when to wake up (homing_timer_cb); the host calls
 *     homing_loop_process_fd() when a descriptor is ready and
 *     homing_loop_process_timers() when the timer expires. Everything of the
 *     loop runs inside those calls (and inside the calls that start work,
 *     e.g. homing_router_route()), on the thread that created the loop.
 *     No re-entry: never call homing from inside homing_watch_cb or
 *     homing_timer_cb, and never call homing_loop_process_*() from inside any
 *     homing callback (HOMING_ERR_REENTRANT). Other homing calls, such as
 *     routing another request or freeing a pending handle, are fine from
 *     decision, DNS and lookup callbacks.
 *
 * (b) Engine: homing runs its own libuv loop on a thread of its own
 *     (homing_engine_start()). Objects created on homing_engine_loop() may be
 *     called from any thread: each call is carried to the engine thread and
 *     returns when it has run there (blocking calls wait for their result).
 *     Callbacks run on the engine thread; do not block in them.
 *
 * Watches are level-triggered, like poll() and libuv's uv_poll: homing does
 * not promise to read or write a descriptor until it would block (c-ares and
 * libcurl do not), so the host reports a descriptor each time it polls ready
 * while the interest lasts. A host whose loop is edge-triggered (epoll with
 * EPOLLET, nginx) adds homing's descriptors in level mode, or calls
 * homing_loop_process_fd() again for as long as poll() says ready.
 *
 * fork(): loops and engines, and every object created on one (DNS caches,
 * lookups, routers), belong to the process that created them: an engine's
 * thread does not survive fork(), and a loop's sockets would be shared with
 * the child. Create them in the process that uses them (a pre-forking server
 * creates them in each worker, after fork()). Objects that do no I/O may be
 * created before fork() and used on either side: configs, route tables,
 * placements, balancers, stats stores, requests, and the log settings.
 *
 * Objects outlive nothing: freeing a loop (or stopping an engine) first shuts
 * down every object still created on it. Their handles stay valid but inert:
 * calls return HOMING_ERR_FAILED_PRECONDITION, pending operations end without
 * a callback, and each handle must still be freed. A `_free()` of an object
 * on an external loop from another thread is refused (and logged): the object
 * stays valid. An object may be freed from inside its own callback; its
 * insides go once the callback has returned.
 */

typedef struct homing_loop_t homing_loop_t;
typedef struct homing_engine_t homing_engine_t;

/* Event bits for watches and homing_loop_process_fd(). */
enum {
  HOMING_EV_READ = 1,
  HOMING_EV_WRITE = 2,
  HOMING_EV_ERROR = 4 /* only as input to homing_loop_process_fd() */
};

/**
 * homing_watch_cb - homing's interest in @fd changed: watch it for @events
 * (HOMING_EV_READ and/or HOMING_EV_WRITE), replacing any earlier interest; 0
 * means stop watching it (homing may close it right after). Called only when
 * the interest actually changes, on the loop's thread.
 */
typedef void (*homing_watch_cb)(int fd, int events, void *user_data);

/**
 * homing_watch2_cb - homing_watch_cb with a place for the host's own
 * per-descriptor state, as curl_multi_assign() gives: @fd_data points to a
 * pointer homing keeps for @fd while it is watched. It is NULL at the first
 * call for a descriptor; whatever the host stores there (its epoll record,
 * an nginx connection) comes back on every later call for @fd. With @events
 * 0 the watch ends: release what the slot points to; homing forgets the slot
 * when the callback returns.
 */
typedef void (*homing_watch2_cb)(int fd, int events, void **fd_data,
                                 void *user_data);

/**
 * homing_timer_cb - (re)arm the host's single one-shot timer to call
 * homing_loop_process_timers() in @timeout_ms milliseconds; 0 means as soon
 * as possible (but not from inside this callback); -1 means disarm it. Each
 * call replaces the previous one. Called on the loop's thread.
 */
typedef void (*homing_timer_cb)(int timeout_ms, void *user_data);

/**
 * homing_loop_new_external() - creates a loop that the calling thread drives.
 * @watch_cb, @timer_cb: required. @watch_cb is called before this returns
 *   (homing watches one descriptor of its own, through which other threads
 *   wake the loop).
 * @return HOMING_OK; HOMING_ERR_INVALID_ARGUMENT for a missing callback;
 *   HOMING_ERR_UNAVAILABLE when no descriptor can be created.
 * Since: 0.1
 */
HOMING_EXTERN homing_status homing_loop_new_external(
    homing_watch_cb watch_cb, homing_timer_cb timer_cb, void *user_data,
    homing_loop_t **out, char **errmsg);

/**
 * homing_loop_new_external2() - homing_loop_new_external() with a
 * homing_watch2_cb, which keeps a pointer of the host's per descriptor.
 * Since: 0.1
 */
HOMING_EXTERN homing_status homing_loop_new_external2(
    homing_watch2_cb watch_cb, homing_timer_cb timer_cb, void *user_data,
    homing_loop_t **out, char **errmsg);

/**
 * homing_loop_free() - shuts down the objects still on the loop (see above),
 * stops watching every descriptor (homing_watch_cb with 0) and frees the
 * loop. Called from inside a homing callback, the loop is freed when the
 * homing call that ran the callback returns. Does nothing for the loop of an
 * engine (stop the engine instead).
 * Since: 0.1
 */
HOMING_EXTERN void homing_loop_free(homing_loop_t *loop);

/**
 * homing_loop_process_fd() - @fd is ready: @events is what poll/epoll
 * reported, as HOMING_EV_* bits (HOMING_EV_ERROR for errors and hang-ups).
 * Runs the work that was waiting for it, then the tasks queued so far.
 * A descriptor homing no longer watches is ignored.
 * @return HOMING_OK; HOMING_ERR_INVALID_ARGUMENT (NULL loop, negative fd, an
 *   engine's loop); HOMING_ERR_WRONG_THREAD; HOMING_ERR_REENTRANT.
 * Since: 0.1
 */
HOMING_EXTERN homing_status homing_loop_process_fd(homing_loop_t *loop, int fd,
                                                   int events);

/**
 * homing_loop_process_timers() - runs the timers that are due and the tasks
 * queued so far. Call it when the timer set by homing_timer_cb expires;
 * calling it early is harmless.
 * @return as homing_loop_process_fd().
 * Since: 0.1
 */
HOMING_EXTERN homing_status homing_loop_process_timers(homing_loop_t *loop);

/**
 * homing_loop_timeout_ms() - milliseconds until homing_loop_process_timers()
 * has work (0: now), or -1 when nothing is scheduled. For hosts that poll
 * with a timeout instead of keeping a timer. -1 for NULL, an engine's loop,
 * or a call from another thread than the loop's.
 * Since: 0.1
 */
HOMING_EXTERN int homing_loop_timeout_ms(const homing_loop_t *loop);

/**
 * homing_engine_start() - starts a thread running homing's own libuv loop.
 * @return HOMING_OK, or HOMING_ERR_UNAVAILABLE when the loop cannot be set up.
 * Since: 0.1
 */
HOMING_EXTERN homing_status homing_engine_start(homing_engine_t **out,
                                                char **errmsg);

/**
 * homing_engine_loop() - the engine's loop, for creating objects on it. Owned
 * by the engine (homing_loop_free() ignores it). NULL for NULL.
 * Since: 0.1
 */
HOMING_EXTERN homing_loop_t *homing_engine_loop(homing_engine_t *engine);

/**
 * homing_engine_stop() - shuts down the objects on the engine's loop, stops
 * and joins its thread and frees the engine. NULL: HOMING_OK.
 * @return HOMING_OK; HOMING_ERR_WRONG_THREAD when called on the engine thread
 *   itself (from a callback); the engine keeps running then.
 * Since: 0.1
 */
HOMING_EXTERN homing_status homing_engine_stop(homing_engine_t *engine);

/* ======================================================================== */
/* Pending operations                                                       */
/* ======================================================================== */
/*
 * Asynchronous calls (homing_router_route(), homing_dns_cache_load(),
 * homing_lookup_owner()) call their callback exactly once, unless cancelled:
 * before they return when the answer is at hand (then `*pending` is set to
 * NULL), otherwise later from the loop (then `*pending`, if you asked for one
 * by passing a non-NULL `pending`, receives a handle). The handle is yours:
 * free it with homing_pending_free(), after the callback (even from inside
 * it) or instead of it. Passing NULL for `pending` means "I will not cancel".
 *
 * One cleanup path (c-ares' rule): register homing_pending_on_cancel() and
 * exactly one of the operation's callback and the cancel callback runs,
 * whether the operation completes, is cancelled, or ends with its object,
 * loop or engine.
 */

typedef struct homing_pending_t homing_pending_t;

/**
 * homing_pending_cancel() - no callback follows once this returns (on an
 * engine it waits for a callback already running on the engine thread).
 * Harmless after the callback. The handle must still be freed.
 * @return HOMING_OK; HOMING_ERR_INVALID_ARGUMENT for NULL;
 *   HOMING_ERR_WRONG_THREAD for an external loop's handle used elsewhere.
 * Since: 0.1
 */
HOMING_EXTERN homing_status homing_pending_cancel(homing_pending_t *pending);

/**
 * homing_cancel_cb - an operation ended without its callback: @status is
 * HOMING_ERR_CANCELLED (homing_pending_cancel(), homing_pending_free(), or
 * the object, loop or engine it ran on shut down).
 */
typedef void (*homing_cancel_cb)(homing_status status, void *user_data);

/**
 * homing_pending_on_cancel() - calls @cb once if the operation ends without
 * its callback: from inside homing_pending_cancel() / homing_pending_free(),
 * or while its object, loop or engine shuts down (on the loop's thread). An
 * operation cancelled before the registration gets @cb at once, on the
 * calling thread; one whose callback has run never gets it. A second
 * registration replaces the first. @cb frees what the host keeps for the
 * operation, never @pending itself (free it after homing_pending_cancel()
 * returns, or let homing_pending_free() be the call that cancels).
 * @return HOMING_OK; HOMING_ERR_INVALID_ARGUMENT without @pending or @cb;
 *   HOMING_ERR_WRONG_THREAD for an external loop's handle used elsewhere.
 * Since: 0.1
 */
HOMING_EXTERN homing_status homing_pending_on_cancel(homing_pending_t *pending,
                                                     homing_cancel_cb cb,
                                                     void *user_data);

/**
 * homing_pending_done() - 1 once the callback has run or the operation was
 * cancelled, else 0 (also 0 for NULL). Thread-safe.
 * Since: 0.1
 */
HOMING_EXTERN int homing_pending_done(const homing_pending_t *pending);

/**
 * homing_pending_free() - cancels (as homing_pending_cancel()) if still
 * pending, then frees the handle.
 * Since: 0.1
 */
HOMING_EXTERN void homing_pending_free(homing_pending_t *pending);

/* ======================================================================== */
/* Stats                                                                    */
/* ======================================================================== */
/*
 * A stats store holds the counters, gauges and histograms (Envoy's names:
 * "dns_cache.<name>.dns_query_attempt", "cluster.<name>.upstream_rq_total",
 * ...) of the objects created with it. Objects keep the store alive, so it
 * may be freed before them. Thread-safe.
 */

typedef struct homing_stats_t homing_stats_t;

enum {
  HOMING_STATS_TEXT = 0,       /* "name: value" lines, Envoy's /stats */
  HOMING_STATS_JSON = 1,       /* {"stats":[{"name":...,"value":...}]} */
  HOMING_STATS_PROMETHEUS = 2  /* text exposition 0.0.4, names prefixed homing_ */
};

/**
 * homing_stats_new() - an empty store. NULL only when out of memory.
 * Since: 0.1
 */
HOMING_EXTERN homing_stats_t *homing_stats_new(void);

/**
 * homing_stats_free() - drops the caller's reference.
 * Since: 0.1
 */
HOMING_EXTERN void homing_stats_free(homing_stats_t *stats);

/**
 * homing_stats_render() - renders every stat whose name matches @filter (an
 * RE2 regex, partial match as Envoy's /stats?filter=; NULL or "" for all),
 * sorted by name.
 * @format: HOMING_STATS_TEXT, _JSON or _PROMETHEUS.
 * @out, @out_len: receive the text (NUL-terminated; free with homing_free());
 *   @out_len may be NULL.
 * @return HOMING_OK; HOMING_ERR_INVALID_ARGUMENT for an unknown format or a
 *   regex that does not compile (the message says why).
 * Since: 0.1
 */
HOMING_EXTERN homing_status homing_stats_render(const homing_stats_t *stats,
                                                int format, const char *filter,
                                                char **out, size_t *out_len,
                                                char **errmsg);

/**
 * homing_stats_counter() / homing_stats_gauge() - the value of one stat.
 * @return HOMING_OK; HOMING_ERR_NOT_FOUND when there is no stat of that name;
 *   HOMING_ERR_INVALID_ARGUMENT when it is of another type.
 * Since: 0.1
 */
HOMING_EXTERN homing_status homing_stats_counter(const homing_stats_t *stats,
                                                 const char *name,
                                                 uint64_t *value,
                                                 char **errmsg);
HOMING_EXTERN homing_status homing_stats_gauge(const homing_stats_t *stats,
                                               const char *name, int64_t *value,
                                               char **errmsg);

/* ======================================================================== */
/* Configuration                                                            */
/* ======================================================================== */
/*
 * The Envoy v3 bootstrap subset homing runs (docs/configuration.md), in YAML
 * or JSON. Loading validates everything; errors name the path and line:
 *
 *   static_resources.clusters[1].lb_policy (line 42): unknown value "FOO" ...
 *
 * A config is immutable: share it across threads.
 */

typedef struct homing_config_t homing_config_t;

/**
 * homing_config_parse() - parses and validates YAML or JSON text.
 * @source_name: used in YAML syntax errors ("name:line:column: ..."); NULL
 *   for "config".
 * @return HOMING_OK, or HOMING_ERR_INVALID_ARGUMENT with the error.
 * Since: 0.1
 */
HOMING_EXTERN homing_status homing_config_parse(const char *text,
                                                size_t text_len,
                                                const char *source_name,
                                                homing_config_t **out,
                                                char **errmsg);

/**
 * homing_config_load_file() - reads and parses a file.
 * @return HOMING_OK; HOMING_ERR_NOT_FOUND when it cannot be read;
 *   HOMING_ERR_INVALID_ARGUMENT for an invalid config.
 * Since: 0.1
 */
HOMING_EXTERN homing_status homing_config_load_file(const char *path,
                                                    homing_config_t **out,
                                                    char **errmsg);

HOMING_EXTERN void homing_config_free(homing_config_t *config);

/**
 * homing_config_listener_count() / homing_config_listener_name() - the
 * listeners, in configuration order (a router and a route table take a
 * listener's index). The name is NULL for an index out of range.
 * Since: 0.1
 */
HOMING_EXTERN size_t homing_config_listener_count(const homing_config_t *config);
HOMING_EXTERN const char *homing_config_listener_name(
    const homing_config_t *config, size_t index);

/**
 * homing_config_cluster_count() / homing_config_cluster_name() - the
 * clusters, in configuration order.
 * Since: 0.1
 */
HOMING_EXTERN size_t homing_config_cluster_count(const homing_config_t *config);
HOMING_EXTERN const char *homing_config_cluster_name(
    const homing_config_t *config, size_t index);

/* ======================================================================== */
/* Requests                                                                 */
/* ======================================================================== */
/*
 * What routing looks at: method, authority (Host, maybe with a port), path
 * (with its query string) and headers. Build one, route it, reset it and
 * reuse it: the buffers are kept. One thread at a time.
 */

typedef struct homing_request_t homing_request_t;

/**
 * homing_request_new() - an empty request. NULL only when out of memory.
 * Since: 0.1
 */
HOMING_EXTERN homing_request_t *homing_request_new(void);
HOMING_EXTERN void homing_request_free(homing_request_t *request);

/**
 * homing_request_reset() - clears every field and header, keeping buffers.
 * Since: 0.1
 */
HOMING_EXTERN void homing_request_reset(homing_request_t *request);

/**
 * homing_request_set_method() / _set_authority() / _set_path() - replace a
 * field. @len may be HOMING_NUL_TERMINATED.
 * @return HOMING_OK; HOMING_ERR_INVALID_ARGUMENT for a NULL request, or a
 *   NULL value with a non-zero length.
 * Since: 0.1
 */
HOMING_EXTERN homing_status homing_request_set_method(homing_request_t *request,
                                                      const char *method,
                                                      size_t len);
HOMING_EXTERN homing_status homing_request_set_authority(
    homing_request_t *request, const char *authority, size_t len);
HOMING_EXTERN homing_status homing_request_set_path(homing_request_t *request,
                                                    const char *path,
                                                    size_t len);

/**
 * homing_request_add_header() - appends a header (names compare
 * case-insensitively; a repeated header is matched as its values joined
 * with ',').
 * @return as the setters above; an empty name is HOMING_ERR_INVALID_ARGUMENT.
 * Since: 0.1
 */
HOMING_EXTERN homing_status homing_request_add_header(homing_request_t *request,
                                                      const char *name,
                                                      size_t name_len,
                                                      const char *value,
                                                      size_t value_len);

/* ======================================================================== */
/* Route tables                                                             */
/* ======================================================================== */
/*
 * A listener's virtual hosts and routes, compiled once, with Envoy's
 * matching (first match wins). Immutable: match from any thread.
 */

typedef struct homing_route_table_t homing_route_table_t;
typedef struct homing_route_t homing_route_t;

/* Where an affinity key comes from. */
enum { HOMING_KEY_NONE = -1, HOMING_KEY_QUERY_PARAMETER = 0, HOMING_KEY_HEADER = 1 };

/**
 * homing_route_table_new() - compiles the route table of listener
 * @listener_index of @config.
 * @return HOMING_OK; HOMING_ERR_INVALID_ARGUMENT for a NULL config or an
 *   index out of range.
 * Since: 0.1
 */
HOMING_EXTERN homing_status homing_route_table_new(
    const homing_config_t *config, size_t listener_index,
    homing_route_table_t **out, char **errmsg);
HOMING_EXTERN void homing_route_table_free(homing_route_table_t *table);

/**
 * homing_route_table_route_count() / homing_route_table_route() - every
 * route, in virtual host order then route order. Routes belong to the table.
 * NULL for an index out of range.
 * Since: 0.1
 */
HOMING_EXTERN size_t homing_route_table_route_count(
    const homing_route_table_t *table);
HOMING_EXTERN const homing_route_t *homing_route_table_route(
    const homing_route_table_t *table, size_t index);

/**
 * homing_route_table_match() - the first route that matches @request, or
 * NULL when none does (a 404). Allocates nothing.
 * Since: 0.1
 */
HOMING_EXTERN const homing_route_t *homing_route_table_match(
    const homing_route_table_t *table, const homing_request_t *request);

/**
 * Route getters. NULL route: NULL / 0 / HOMING_KEY_NONE.
 *  - homing_route_name(): the configured name, or "<virtual host>/<index>".
 *  - homing_route_virtual_host(): the name of its virtual host.
 *  - homing_route_cluster(): the cluster it sends to.
 *  - homing_route_timeout_ms(): the route timeout (0: none).
 *  - homing_route_has_affinity(): 1 when the affinity filter decides the
 *    target; then the affinity getters return its settings, else NULL or
 *    HOMING_KEY_NONE.
 * Since: 0.1
 */
HOMING_EXTERN const char *homing_route_name(const homing_route_t *route);
HOMING_EXTERN const char *homing_route_virtual_host(const homing_route_t *route);
HOMING_EXTERN const char *homing_route_cluster(const homing_route_t *route);
HOMING_EXTERN int64_t homing_route_timeout_ms(const homing_route_t *route);
HOMING_EXTERN int homing_route_has_affinity(const homing_route_t *route);
HOMING_EXTERN const char *homing_route_affinity_lookup_cluster(
    const homing_route_t *route);
HOMING_EXTERN const char *homing_route_affinity_lookup_path(
    const homing_route_t *route);
HOMING_EXTERN int homing_route_affinity_key_source(const homing_route_t *route);
HOMING_EXTERN const char *homing_route_affinity_key_name(
    const homing_route_t *route);

/**
 * homing_route_affinity_key() - extracts the affinity key of an affinity
 * route from @request (query parameters are percent-decoded), as the router
 * does. @key receives a copy (NUL-terminated, @key_len bytes; free with
 * homing_free()).
 * @return HOMING_OK; HOMING_ERR_NOT_FOUND when the key is absent;
 *   HOMING_ERR_INVALID_ARGUMENT when it is empty, too long, or the route has
 *   no affinity (the message says which).
 * Since: 0.1
 */
HOMING_EXTERN homing_status homing_route_affinity_key(
    const homing_route_t *route, const homing_request_t *request, char **key,
    size_t *key_len, char **errmsg);

/**
 * homing_route_hash() - the request hash of the route's hash policies
 * (Envoy's), as consistent-hash load balancers use it.
 * @return HOMING_OK; HOMING_ERR_NOT_FOUND when no policy found its header or
 *   query parameter (or the route has none); HOMING_ERR_INVALID_ARGUMENT for
 *   NULL arguments.
 * Since: 0.1
 */
HOMING_EXTERN homing_status homing_route_hash(const homing_route_t *route,
                                              const homing_request_t *request,
                                              uint64_t *hash);

/* ======================================================================== */
/* Placement                                                                */
/* ======================================================================== */
/*
 * owner(key, members): which member of an ordered membership owns a key.
 * Deterministic across processes and platforms (XXH64 of the key, seed 0).
 * homing_placement_owner() may run on several threads at once;
 * homing_placement_set_members() needs the object to itself.
 */

typedef struct homing_placement_t homing_placement_t;

enum {
  HOMING_PLACEMENT_JUMP = 0,        /* jump consistent hash over ordinals */
  HOMING_PLACEMENT_RENDEZVOUS = 1,  /* highest random weight over names */
  HOMING_PLACEMENT_MAGLEV = 2,      /* Maglev table over names */
  HOMING_PLACEMENT_MODULO = 3       /* hash % n, for comparison */
};

/**
 * homing_key_hash() - XXH64(key, seed 0): the hash every strategy and
 * consistent-hash balancer starts from.
 * Since: 0.1
 */
HOMING_EXTERN uint64_t homing_key_hash(const char *key, size_t key_len);

/**
 * homing_placement_strategy_name() - "jump", "rendezvous", "maglev",
 * "modulo"; NULL for an unknown strategy.
 * homing_placement_strategy_from_name() - the reverse;
 * HOMING_ERR_INVALID_ARGUMENT for an unknown name.
 * Since: 0.1
 */
HOMING_EXTERN const char *homing_placement_strategy_name(int strategy);
HOMING_EXTERN homing_status homing_placement_strategy_from_name(
    const char *name, int *strategy);

/**
 * homing_placement_new() - a placement over @members (NUL-terminated
 * names, e.g. "server-0.server-headless:8081", in ordinal order).
 * @return HOMING_OK; HOMING_ERR_INVALID_ARGUMENT for an unknown strategy, an
 *   empty membership, an empty or duplicate name.
 * Since: 0.1
 */
HOMING_EXTERN homing_status homing_placement_new(int strategy,
                                                 const char *const *members,
                                                 size_t member_count,
                                                 homing_placement_t **out,
                                                 char **errmsg);
HOMING_EXTERN void homing_placement_free(homing_placement_t *placement);

/**
 * homing_placement_set_members() - replaces the membership; on error the old
 * one stays. Invalidates member names returned earlier.
 * @return as homing_placement_new().
 * Since: 0.1
 */
HOMING_EXTERN homing_status homing_placement_set_members(
    homing_placement_t *placement, const char *const *members,
    size_t member_count, char **errmsg);

/**
 * homing_placement_owner() - the member owning @key: its ordinal in @index
 * and its name in @member (either may be NULL).
 * @return HOMING_OK, or HOMING_ERR_INVALID_ARGUMENT for NULL arguments.
 * Since: 0.1
 */
HOMING_EXTERN homing_status homing_placement_owner(
    const homing_placement_t *placement, const char *key, size_t key_len,
    size_t *index, const char **member);

/**
 * homing_placement_member_count() / homing_placement_member() /
 * homing_placement_strategy() - the membership (NULL out of range) and the
 * strategy (-1 for NULL).
 * Since: 0.1
 */
HOMING_EXTERN size_t homing_placement_member_count(
    const homing_placement_t *placement);
HOMING_EXTERN const char *homing_placement_member(
    const homing_placement_t *placement, size_t index);
HOMING_EXTERN int homing_placement_strategy(const homing_placement_t *placement);

/* ======================================================================== */
/* Load balancers                                                           */
/* ======================================================================== */
/*
 * A fixed set of hosts ("ip:port") with a load balancer and passive health:
 * consecutive failures eject a host for a while (Envoy's outlier detection).
 * Every pick must be matched by one homing_lb_report() (LEAST_REQUEST counts
 * requests in flight). One thread at a time.
 */

typedef struct homing_lb_t homing_lb_t;

enum {
  HOMING_LB_ROUND_ROBIN = 0,
  HOMING_LB_LEAST_REQUEST = 1,
  HOMING_LB_RANDOM = 2,
  HOMING_LB_RING_HASH = 3,
  HOMING_LB_MAGLEV = 4
};

/* How a request to a host ended. */
enum {
  HOMING_OUTCOME_SUCCESS = 0,          /* any non-5xx answer */
  HOMING_OUTCOME_SERVER_ERROR = 1,     /* a 5xx answer */
  HOMING_OUTCOME_CONNECT_FAILURE = 2,  /* connect refused or timed out */
  HOMING_OUTCOME_RESET = 3,            /* connection reset mid-request */
  HOMING_OUTCOME_TIMEOUT = 4           /* no answer in time */
};

/**
 * homing_lb_new() - a balancer over @hosts ("ip:port", IPv6 as "[::1]:80").
 * @name: names its stats ("cluster.<name>.upstream_rq_total", ...).
 * @weights: one weight >= 1 per host, or NULL for all 1.
 * @stats: where its stats go; NULL for a private store.
 * Outlier detection uses Envoy's defaults (5 consecutive 5xx or local-origin
 * failures eject a host for 30 s, growing with each ejection).
 * @return HOMING_OK; HOMING_ERR_INVALID_ARGUMENT for an unknown policy, a
 *   host that is not "ip:port", a zero weight, an empty name or host list.
 * Since: 0.1
 */
HOMING_EXTERN homing_status homing_lb_new(const char *name, int policy,
                                          const char *const *hosts,
                                          const uint32_t *weights,
                                          size_t host_count,
                                          homing_stats_t *stats,
                                          homing_lb_t **out, char **errmsg);

/**
 * homing_lb_new_from_config() - a balancer for STATIC cluster @cluster_name
 * of @config, with its policy, weights, parameters and outlier detection.
 * @return HOMING_OK; HOMING_ERR_NOT_FOUND for an unknown cluster;
 *   HOMING_ERR_INVALID_ARGUMENT for a cluster that is not STATIC.
 * Since: 0.1
 */
HOMING_EXTERN homing_status homing_lb_new_from_config(
    const homing_config_t *config, const char *cluster_name,
    homing_stats_t *stats, homing_lb_t **out, char **errmsg);
HOMING_EXTERN void homing_lb_free(homing_lb_t *lb);

/**
 * homing_lb_pick() - picks a host: its index and address ("ip:port", owned by
 * the balancer); either output may be NULL. @hash_key (NULL: none) feeds
 * RING_HASH and MAGLEV, which hash it as homing_key_hash() does; without a
 * key they fall back to round robin.
 * @return HOMING_OK; HOMING_ERR_INVALID_ARGUMENT for a NULL balancer;
 *   HOMING_ERR_UNAVAILABLE for a config cluster without endpoints.
 * Since: 0.1
 */
HOMING_EXTERN homing_status homing_lb_pick(homing_lb_t *lb,
                                           const char *hash_key,
                                           size_t hash_key_len, size_t *index,
                                           const char **address);

/**
 * homing_lb_report() - how the request sent to host @index ended (a
 * HOMING_OUTCOME_*). Feeds passive health and the stats.
 * @return HOMING_OK; HOMING_ERR_INVALID_ARGUMENT for an index out of range
 *   or an unknown outcome.
 * Since: 0.1
 */
HOMING_EXTERN homing_status homing_lb_report(homing_lb_t *lb, size_t index,
                                             int outcome);

/**
 * homing_lb_host_count() / homing_lb_host() / homing_lb_host_healthy() - the
 * hosts (NULL out of range) and whether a host is in service (0 while
 * ejected, and for an index out of range).
 * Since: 0.1
 */
HOMING_EXTERN size_t homing_lb_host_count(const homing_lb_t *lb);
HOMING_EXTERN const char *homing_lb_host(const homing_lb_t *lb, size_t index);
HOMING_EXTERN int homing_lb_host_healthy(const homing_lb_t *lb, size_t index);

/* ======================================================================== */
/* DNS cache                                                                */
/* ======================================================================== */
/*
 * Envoy's dynamic-forward-proxy DNS cache on c-ares: entries keyed
 * "host:port", refreshed at max(min refresh rate, TTL), a failed refresh
 * keeps the last good address, unused hosts are evicted after host_ttl,
 * bounded by max_hosts. Lives on a loop.
 */

typedef struct homing_dns_cache_options_t homing_dns_cache_options_t;
typedef struct homing_dns_cache_t homing_dns_cache_t;
typedef struct homing_dns_host_t homing_dns_host_t;

enum {
  HOMING_DNS_V4_ONLY = 0,
  HOMING_DNS_V6_ONLY = 1,
  HOMING_DNS_V4_PREFERRED = 2,
  HOMING_DNS_AUTO = 3, /* AAAA, else A (Envoy's default) */
  HOMING_DNS_ALL = 4
};

/**
 * homing_dns_cache_options_new() - Envoy's DnsCacheConfig defaults: no name
 * (required), AUTO, refresh 60 s before the first answer, min refresh 5 s,
 * host_ttl 5 min, max_hosts 1024, max pending 1024, query timeout 5 s, the
 * system's resolvers. NULL only when out of memory.
 * Since: 0.1
 */
HOMING_EXTERN homing_dns_cache_options_t *homing_dns_cache_options_new(void);
HOMING_EXTERN void homing_dns_cache_options_free(
    homing_dns_cache_options_t *options);

/**
 * DNS cache option setters. Each returns HOMING_OK, or
 * HOMING_ERR_INVALID_ARGUMENT for NULL arguments, an unknown family or a
 * negative duration; the remaining checks (Envoy's) happen in
 * homing_dns_cache_new().
 *  - set_name: stats go under "dns_cache.<name>.".
 *  - add_resolver: a name server "ip" or "ip:port"; none: resolv.conf.
 *  - set_failure_refresh_rate_ms: jittered backoff between base and max
 *    after a failed resolution (default: retry at the refresh rate).
 *  - add_preresolve_hostname: "host:port" resolved at creation.
 * Since: 0.1
 */
HOMING_EXTERN homing_status homing_dns_cache_options_set_name(
    homing_dns_cache_options_t *options, const char *name);
HOMING_EXTERN homing_status homing_dns_cache_options_set_lookup_family(
    homing_dns_cache_options_t *options, int family);
HOMING_EXTERN homing_status homing_dns_cache_options_add_resolver(
    homing_dns_cache_options_t *options, const char *address);
HOMING_EXTERN homing_status homing_dns_cache_options_set_refresh_rate_ms(
    homing_dns_cache_options_t *options, int64_t ms);
HOMING_EXTERN homing_status homing_dns_cache_options_set_min_refresh_rate_ms(
    homing_dns_cache_options_t *options, int64_t ms);
HOMING_EXTERN homing_status homing_dns_cache_options_set_failure_refresh_rate_ms(
    homing_dns_cache_options_t *options, int64_t base_ms, int64_t max_ms);
HOMING_EXTERN homing_status homing_dns_cache_options_set_host_ttl_ms(
    homing_dns_cache_options_t *options, int64_t ms);
HOMING_EXTERN homing_status homing_dns_cache_options_set_max_hosts(
    homing_dns_cache_options_t *options, uint32_t max_hosts);
HOMING_EXTERN homing_status homing_dns_cache_options_set_max_pending_requests(
    homing_dns_cache_options_t *options, uint32_t max_pending);
HOMING_EXTERN homing_status homing_dns_cache_options_set_query_timeout_ms(
    homing_dns_cache_options_t *options, int64_t ms);
HOMING_EXTERN homing_status homing_dns_cache_options_add_preresolve_hostname(
    homing_dns_cache_options_t *options, const char *host_port);

/**
 * homing_dns_cache_new() - a DNS cache on @loop (the options are copied).
 * @stats: NULL for a private store.
 * @return HOMING_OK; HOMING_ERR_INVALID_ARGUMENT for invalid options (the
 *   message names the field); HOMING_ERR_FAILED_PRECONDITION when the loop
 *   is gone; HOMING_ERR_WRONG_THREAD.
 * Since: 0.1
 */
HOMING_EXTERN homing_status homing_dns_cache_new(
    homing_loop_t *loop, const homing_dns_cache_options_t *options,
    homing_stats_t *stats, homing_dns_cache_t **out, char **errmsg);
HOMING_EXTERN void homing_dns_cache_free(homing_dns_cache_t *cache);

/**
 * homing_dns_cb - the entry after its first resolution; check
 * homing_dns_host_address_count() (a failed resolution has none, and
 * homing_dns_host_status() says why).
 */
typedef void (*homing_dns_cb)(const homing_dns_host_t *host, void *user_data);

/**
 * homing_dns_cache_load() - the entry for @host ("name", "name:port",
 * "[::1]:80"; @default_port applies when it has no port). Calls @cb as the
 * "Pending operations" section says: at once for a cached entry (also a
 * cached failure, an IP literal, or an invalid name), else after the first
 * resolution.
 * @return HOMING_OK; HOMING_ERR_OVERFLOW (no callback) when max_hosts or
 *   max_pending_requests is reached; HOMING_ERR_INVALID_ARGUMENT for NULL
 *   arguments; HOMING_ERR_FAILED_PRECONDITION; HOMING_ERR_WRONG_THREAD.
 * Since: 0.1
 */
HOMING_EXTERN homing_status homing_dns_cache_load(
    homing_dns_cache_t *cache, const char *host, size_t host_len,
    uint16_t default_port, homing_dns_cb cb, void *user_data,
    homing_pending_t **pending, char **errmsg);

/**
 * homing_dns_cache_find() - a snapshot of the entry for "host:port" (as
 * load keys it) without loading or touching it; free it with
 * homing_dns_host_free().
 * @return HOMING_OK; HOMING_ERR_NOT_FOUND; the loop errors above.
 * Since: 0.1
 */
HOMING_EXTERN homing_status homing_dns_cache_find(homing_dns_cache_t *cache,
                                                  const char *host_port,
                                                  size_t host_port_len,
                                                  homing_dns_host_t **out);

/**
 * homing_dns_cache_host_count() - the number of entries.
 * Since: 0.1
 */
HOMING_EXTERN homing_status homing_dns_cache_host_count(
    homing_dns_cache_t *cache, size_t *count);

/**
 * DNS entry getters (an immutable snapshot; thread-safe):
 *  - homing_dns_host_name(): the host as loaded, without port.
 *  - homing_dns_host_port().
 *  - homing_dns_host_address_count() / homing_dns_host_address(): resolved
 *    addresses with the port ("ip:port"), preferred first; NULL out of range.
 *  - homing_dns_host_status() / homing_dns_host_error(): the outcome of the
 *    latest resolution (HOMING_ERR_NOT_FOUND for NXDOMAIN,
 *    HOMING_ERR_TIMEOUT, HOMING_ERR_UNAVAILABLE, ...) and its message ("" for
 *    HOMING_OK). A failed refresh keeps the last good addresses.
 *  - homing_dns_host_ttl_ms(): the answer's TTL (0 when unknown).
 * Since: 0.1
 */
HOMING_EXTERN const char *homing_dns_host_name(const homing_dns_host_t *host);
HOMING_EXTERN uint16_t homing_dns_host_port(const homing_dns_host_t *host);
HOMING_EXTERN size_t homing_dns_host_address_count(
    const homing_dns_host_t *host);
HOMING_EXTERN const char *homing_dns_host_address(const homing_dns_host_t *host,
                                                  size_t index);
HOMING_EXTERN homing_status homing_dns_host_status(
    const homing_dns_host_t *host);
HOMING_EXTERN const char *homing_dns_host_error(const homing_dns_host_t *host);
HOMING_EXTERN int64_t homing_dns_host_ttl_ms(const homing_dns_host_t *host);

/**
 * homing_dns_host_free() - frees a snapshot from homing_dns_cache_find()
 * (never one passed to a callback).
 * Since: 0.1
 */
HOMING_EXTERN void homing_dns_host_free(homing_dns_host_t *host);

/* ======================================================================== */
/* Affinity lookup                                                          */
/* ======================================================================== */
/*
 * "Which instance owns this key?", asked of a resolver service with
 * `GET <path>?<param>=<key>` and cached with gRPC RLS's semantics: fresh
 * until max_age, served stale (one background refresh) until stale_age, LRU
 * bounded, one lookup in flight per key, failure backoff, optional default
 * target. max_age 0 (with stale_age 0) turns the cache off: every request
 * asks the resolver. Answers must pass the allow-list. Lives on a loop.
 */

typedef struct homing_lookup_options_t homing_lookup_options_t;
typedef struct homing_lookup_t homing_lookup_t;
typedef struct homing_lookup_result_t homing_lookup_result_t;

/* Where an answer came from. */
enum {
  HOMING_SOURCE_NONE = -1,          /* no owner known (decisions only) */
  HOMING_SOURCE_CACHE = 0,
  HOMING_SOURCE_STALE = 1,
  HOMING_SOURCE_RESOLVER = 2,
  HOMING_SOURCE_DEFAULT_TARGET = 3
};

/* Why a lookup failed. */
enum {
  HOMING_LOOKUP_OK = 0,
  HOMING_LOOKUP_RESOLVER_UNAVAILABLE = 1, /* no host, connect failure, 5xx */
  HOMING_LOOKUP_RESOLVER_TIMEOUT = 2,
  HOMING_LOOKUP_BAD_ANSWER = 3,           /* not 200, not JSON, no field */
  HOMING_LOOKUP_HOSTPORT_REJECTED = 4,    /* outside the allow-list */
  HOMING_LOOKUP_OVERFLOW = 5              /* too many lookups or waiters */
};

/**
 * homing_lookup_options_new() - defaults of homing.filters.http.affinity:
 * path /where, key query parameter "client_id", field "hostport", timeout
 * 1 s, max_age = stale_age = 30 s, 100000 entries, keys up to 256 bytes,
 * 1024 pending lookups and 1024 waiters per key, nothing allowed. NULL only
 * when out of memory.
 * Since: 0.1
 */
HOMING_EXTERN homing_lookup_options_t *homing_lookup_options_new(void);
HOMING_EXTERN void homing_lookup_options_free(homing_lookup_options_t *options);

/**
 * Lookup option setters. Each returns HOMING_OK, or
 * HOMING_ERR_INVALID_ARGUMENT for NULL arguments, an unknown key source or a
 * negative duration; the remaining checks happen in homing_lookup_new().
 *  - set_lookup_cluster: names the resolver cluster (required; its stats go
 *    under "cluster.<name>.", the lookup's under "affinity.<name>.").
 *  - add_lookup_host: a resolver endpoint "ip:port" (round robin; one retry
 *    on another host after a connect failure). At least one.
 *  - set_key: where the key comes from; the resolver request carries it as a
 *    query parameter of that name.
 *  - add_allowed_hostport: "host:port" or "*.suffix:port".
 *  - set_default_target: a hostport used while a key has no usable answer;
 *    NULL clears it.
 * Since: 0.1
 */
HOMING_EXTERN homing_status homing_lookup_options_set_lookup_cluster(
    homing_lookup_options_t *options, const char *name);
HOMING_EXTERN homing_status homing_lookup_options_add_lookup_host(
    homing_lookup_options_t *options, const char *address);
HOMING_EXTERN homing_status homing_lookup_options_set_lookup_path(
    homing_lookup_options_t *options, const char *path);
HOMING_EXTERN homing_status homing_lookup_options_set_key(
    homing_lookup_options_t *options, int source, const char *name);
HOMING_EXTERN homing_status homing_lookup_options_set_hostport_field(
    homing_lookup_options_t *options, const char *field);
HOMING_EXTERN homing_status homing_lookup_options_set_lookup_timeout_ms(
    homing_lookup_options_t *options, int64_t ms);
HOMING_EXTERN homing_status homing_lookup_options_set_max_age_ms(
    homing_lookup_options_t *options, int64_t ms);
HOMING_EXTERN homing_status homing_lookup_options_set_stale_age_ms(
    homing_lookup_options_t *options, int64_t ms);
HOMING_EXTERN homing_status homing_lookup_options_set_max_entries(
    homing_lookup_options_t *options, size_t max_entries);
HOMING_EXTERN homing_status homing_lookup_options_set_max_key_length(
    homing_lookup_options_t *options, size_t max_key_length);
HOMING_EXTERN homing_status homing_lookup_options_set_max_pending_lookups(
    homing_lookup_options_t *options, size_t max_pending);
HOMING_EXTERN homing_status homing_lookup_options_set_max_waiters_per_key(
    homing_lookup_options_t *options, size_t max_waiters);
HOMING_EXTERN homing_status homing_lookup_options_add_allowed_hostport(
    homing_lookup_options_t *options, const char *pattern);
HOMING_EXTERN homing_status homing_lookup_options_set_default_target(
    homing_lookup_options_t *options, const char *hostport);

/**
 * homing_lookup_new() - an affinity lookup on @loop (the options are copied).
 * @stats: NULL for a private store.
 * @return HOMING_OK; HOMING_ERR_INVALID_ARGUMENT for invalid options (no
 *   cluster name or host, a host that is not "ip:port", a bad pattern,
 *   stale_age below max_age, a path not starting with '/', ...);
 *   HOMING_ERR_FAILED_PRECONDITION; HOMING_ERR_WRONG_THREAD.
 * Since: 0.1
 */
HOMING_EXTERN homing_status homing_lookup_new(
    homing_loop_t *loop, const homing_lookup_options_t *options,
    homing_stats_t *stats, homing_lookup_t **out, char **errmsg);
HOMING_EXTERN void homing_lookup_free(homing_lookup_t *lookup);

/**
 * homing_lookup_cb - how a lookup ended.
 */
typedef void (*homing_lookup_cb)(const homing_lookup_result_t *result,
                                 void *user_data);

/**
 * homing_lookup_owner() - the owner of @key: from cache (the callback runs
 * before this returns), or from the resolver (later). Failures arrive as a
 * result too (homing_lookup_result_ok() == 0).
 * @return HOMING_OK; HOMING_ERR_INVALID_ARGUMENT for NULL arguments;
 *   HOMING_ERR_FAILED_PRECONDITION; HOMING_ERR_WRONG_THREAD.
 * Since: 0.1
 */
HOMING_EXTERN homing_status homing_lookup_owner(homing_lookup_t *lookup,
                                                const char *key,
                                                size_t key_len,
                                                homing_lookup_cb cb,
                                                void *user_data,
                                                homing_pending_t **pending,
                                                char **errmsg);

/**
 * homing_lookup_invalidate() - forgets @key's answer (the target answered 421
 * Misdirected Request): the next homing_lookup_owner() asks the resolver.
 * Since: 0.1
 */
HOMING_EXTERN homing_status homing_lookup_invalidate(homing_lookup_t *lookup,
                                                     const char *key,
                                                     size_t key_len);

/**
 * homing_lookup_size() - the number of cached keys.
 * Since: 0.1
 */
HOMING_EXTERN homing_status homing_lookup_size(homing_lookup_t *lookup,
                                               size_t *size);

/**
 * Lookup result getters:
 *  - homing_lookup_result_ok(): 1 when an owner is known.
 *  - homing_lookup_result_hostport(): the owner "host:port" ("" when none).
 *  - homing_lookup_result_source(): a HOMING_SOURCE_* (HOMING_SOURCE_NONE
 *    when no owner is known).
 *  - homing_lookup_result_failure(): a HOMING_LOOKUP_*; with
 *    HOMING_SOURCE_DEFAULT_TARGET it says why the resolver's answer was not
 *    used.
 *  - homing_lookup_result_status() / homing_lookup_result_error(): the
 *    failure as a status and message (HOMING_OK and "" on success).
 * Since: 0.1
 */
HOMING_EXTERN int homing_lookup_result_ok(const homing_lookup_result_t *result);
HOMING_EXTERN const char *homing_lookup_result_hostport(
    const homing_lookup_result_t *result);
HOMING_EXTERN int homing_lookup_result_source(
    const homing_lookup_result_t *result);
HOMING_EXTERN int homing_lookup_result_failure(
    const homing_lookup_result_t *result);
HOMING_EXTERN homing_status homing_lookup_result_status(
    const homing_lookup_result_t *result);
HOMING_EXTERN const char *homing_lookup_result_error(
    const homing_lookup_result_t *result);

/* ======================================================================== */
/* Router                                                                   */
/* ======================================================================== */
/*
 * The pipeline of one listener of a config: route match, then for affinity
 * routes the affinity lookup and the DNS cache, else the cluster's load
 * balancer; the result is a decision: forward to an address, or answer
 * locally (404 no_route, 400 missing_key / empty_key / invalid_key,
 * 503 resolver_unavailable / resolver_timeout / lookup_overflow /
 * dns_resolution_failed / dns_overflow / no_healthy_upstream,
 * 502 bad_resolver_answer / hostport_rejected).
 *
 * A router owns the clusters and DNS caches of its config (STRICT_DNS
 * clusters start resolving at creation) and lives on a loop.
 */

typedef struct homing_router_t homing_router_t;
typedef struct homing_decision_t homing_decision_t;

/**
 * homing_router_new() - a router for listener @listener_index of @config on
 * @loop. The config may be freed afterwards.
 * @stats: NULL for a private store. Stats: "http.<stat_prefix>.*",
 *   "cluster.<name>.*", "dns_cache.<name>.*".
 * @return HOMING_OK; HOMING_ERR_INVALID_ARGUMENT (NULL config, index out of
 *   range, a config the router cannot run); HOMING_ERR_FAILED_PRECONDITION;
 *   HOMING_ERR_WRONG_THREAD.
 * Since: 0.1
 */
HOMING_EXTERN homing_status homing_router_new(homing_loop_t *loop,
                                              const homing_config_t *config,
                                              size_t listener_index,
                                              homing_stats_t *stats,
                                              homing_router_t **out,
                                              char **errmsg);
HOMING_EXTERN void homing_router_free(homing_router_t *router);

/**
 * homing_router_ready() - 1 once every STRICT_DNS cluster has had its first
 * DNS answer (the admin /ready). Thread-safe.
 * Since: 0.1
 */
HOMING_EXTERN int homing_router_ready(const homing_router_t *router);

/**
 * homing_ready_cb - @router has become ready (homing_router_ready() is 1).
 */
typedef void (*homing_ready_cb)(homing_router_t *router, void *user_data);

/**
 * homing_router_on_ready() - calls @cb once, when the router is ready: before
 * this returns if it already is, otherwise from the loop (inside
 * homing_loop_process_*() on an external loop, on the engine thread on an
 * engine). The host-driven loop's way to hold traffic until the resolver
 * cluster has hosts. A second registration replaces a waiting first; the
 * callback is never called after homing_router_free().
 * @return HOMING_OK; HOMING_ERR_INVALID_ARGUMENT without @router or @cb;
 *   HOMING_ERR_FAILED_PRECONDITION once the loop is gone;
 *   HOMING_ERR_WRONG_THREAD.
 * Since: 0.1
 */
HOMING_EXTERN homing_status homing_router_on_ready(homing_router_t *router,
                                                   homing_ready_cb cb,
                                                   void *user_data,
                                                   char **errmsg);

/**
 * homing_router_wait_ready() - blocks until ready or @timeout_ms passes
 * (negative: no limit). Engine routers only, not on the engine thread.
 * @return HOMING_OK; HOMING_ERR_TIMEOUT; HOMING_ERR_FAILED_PRECONDITION for
 *   a router on an external loop or a stopped engine; HOMING_ERR_WRONG_THREAD.
 * Since: 0.1
 */
HOMING_EXTERN homing_status homing_router_wait_ready(homing_router_t *router,
                                                     int timeout_ms,
                                                     char **errmsg);

/**
 * homing_decision_cb - where a request goes. @decision is borrowed (valid
 * during the call; homing_decision_copy() keeps it).
 */
typedef void (*homing_decision_cb)(const homing_decision_t *decision,
                                   void *user_data);

/**
 * homing_router_route() - decides where @request goes; @cb receives the
 * decision as the "Pending operations" section says: before this returns
 * when everything needed is cached, else later. A local reply is a decision
 * too, not an error.
 * @return HOMING_OK; HOMING_ERR_INVALID_ARGUMENT for NULL arguments;
 *   HOMING_ERR_FAILED_PRECONDITION; HOMING_ERR_WRONG_THREAD.
 * Since: 0.1
 */
HOMING_EXTERN homing_status homing_router_route(homing_router_t *router,
                                                const homing_request_t *request,
                                                homing_decision_cb cb,
                                                void *user_data,
                                                homing_pending_t **pending,
                                                char **errmsg);

/**
 * homing_router_route_sync() - the blocking form, for simple embedders:
 * waits up to @timeout_ms (negative: until decided; lookups and DNS queries
 * have timeouts of their own) and hands over the decision (free it with
 * homing_decision_free()). Engine routers only, not on the engine thread.
 * @return HOMING_OK; HOMING_ERR_TIMEOUT (the request is cancelled);
 *   HOMING_ERR_CANCELLED when the engine stops while it waits;
 *   HOMING_ERR_FAILED_PRECONDITION for a router on an external loop or a
 *   stopped engine; HOMING_ERR_WRONG_THREAD; HOMING_ERR_INVALID_ARGUMENT.
 * Since: 0.1
 */
HOMING_EXTERN homing_status homing_router_route_sync(
    homing_router_t *router, const homing_request_t *request, int timeout_ms,
    homing_decision_t **out, char **errmsg);

/**
 * homing_router_report() - how the forwarded request ended (a
 * HOMING_OUTCOME_*): feeds the passive health (outlier detection, host and
 * cluster stats) of the decision's host, the load-balanced pick or the
 * key's owner. For an affinity route, HOMING_OUTCOME_CONNECT_FAILURE also
 * forgets the key's owner (it may have left without answering 421), so the
 * next request for the key asks the resolver again. A forwarded decision
 * counts as a request in flight (the cluster's max_requests, the host's
 * rq_active) until it is reported or its last copy is freed; an outcome
 * counts once, whichever copy reports it. Nothing to do for local replies.
 * @return HOMING_OK; HOMING_ERR_INVALID_ARGUMENT for an unknown outcome or a
 *   decision of another router; the loop errors.
 * Since: 0.1
 */
HOMING_EXTERN homing_status homing_router_report(
    homing_router_t *router, const homing_decision_t *decision, int outcome,
    char **errmsg);

/**
 * homing_router_retry() - the attempt on @decision's upstream ended with
 * response @status, or with none (@status 0; then @outcome says why:
 * HOMING_OUTCOME_CONNECT_FAILURE, _RESET or _TIMEOUT). For a response pass
 * HOMING_OUTCOME_SERVER_ERROR for a 5xx, else HOMING_OUTCOME_SUCCESS. When
 * the route's retry_policy covers that (Envoy's retry_on: 5xx,
 * gateway-error, reset, connect-failure, retriable-4xx) and retries are
 * left, reports the attempt's outcome as homing_router_report() would,
 * moves @decision to the next host (another of the cluster's, avoiding the
 * one that failed; an affinity route's owner again) and sets @retry to 1:
 * send the request again to the decision's upstream. Otherwise sets @retry
 * to 0 and changes nothing; report the outcome. Whether the request can be
 * sent again (its body kept) is the caller's to know.
 * @decision: one the caller owns (homing_decision_copy(),
 *   homing_router_route_sync()); no other thread may read it meanwhile.
 * @return HOMING_OK; HOMING_ERR_INVALID_ARGUMENT for NULL arguments, an
 *   unknown outcome or a decision of another router; the loop errors.
 * Since: 0.1
 */
HOMING_EXTERN homing_status homing_router_retry(homing_router_t *router,
                                                homing_decision_t *decision,
                                                int status, int outcome,
                                                int *retry, char **errmsg);

/**
 * homing_router_misdirected() - the target answered 421 Misdirected Request:
 * the next request for the decision's key asks the resolver again. Takes
 * the place of homing_router_report() (the host answered: a success) unless
 * the outcome was already reported.
 * @return as homing_router_report().
 * Since: 0.1
 */
HOMING_EXTERN homing_status homing_router_misdirected(
    homing_router_t *router, const homing_decision_t *decision, char **errmsg);

/**
 * homing_router_misdirected_to() - homing_router_misdirected() for a 421
 * that names the key's new owner (homing-server's `x-homing-owner`
 * header, the route's `owner_header`): when @owner passes the route's
 * allow-list it becomes the key's answer and the next request goes there
 * without asking the resolver; otherwise the resolver is asked, as by
 * homing_router_misdirected().
 * @owner, @owner_len: the hostport (@owner_len may be
 *   HOMING_NUL_TERMINATED); NULL or empty: as homing_router_misdirected().
 * @return as homing_router_report().
 * Since: 0.1
 */
HOMING_EXTERN homing_status homing_router_misdirected_to(
    homing_router_t *router, const homing_decision_t *decision,
    const char *owner, size_t owner_len, char **errmsg);

/**
 * homing_decision_copy() - an owned copy of a decision (e.g. of one passed to
 * a callback), for homing_router_report() later. NULL for NULL or when out
 * of memory.
 * Since: 0.1
 */
HOMING_EXTERN homing_decision_t *homing_decision_copy(
    const homing_decision_t *decision);
HOMING_EXTERN void homing_decision_free(homing_decision_t *decision);

/**
 * Decision getters (thread-safe; strings owned by the decision):
 *  - homing_decision_forward(): 1 to forward, 0 for a local reply.
 *  - homing_decision_status(): the local reply's HTTP status (0 when
 *    forwarding).
 *  - homing_decision_error(): the local reply's code ("no_route", ...; "").
 *  - homing_decision_detail(): a human-readable reason ("" when forwarding).
 *  - homing_decision_upstream(): the address to connect to, "ip:port"
 *    ("[v6]:port"); "" for a local reply.
 *  - homing_decision_authority(): the Host to send ("" keeps the client's).
 *  - homing_decision_key(): the affinity key (arbitrary bytes; @len may be
 *    NULL); "" for other routes.
 *  - homing_decision_lookup_source(): where the owner came from, or
 *    HOMING_SOURCE_NONE.
 *  - homing_decision_route_name(), homing_decision_cluster(): "" for
 *    no_route.
 * Since: 0.1
 */
HOMING_EXTERN int homing_decision_forward(const homing_decision_t *decision);
HOMING_EXTERN int homing_decision_status(const homing_decision_t *decision);
HOMING_EXTERN const char *homing_decision_error(
    const homing_decision_t *decision);
HOMING_EXTERN const char *homing_decision_detail(
    const homing_decision_t *decision);
HOMING_EXTERN const char *homing_decision_upstream(
    const homing_decision_t *decision);
HOMING_EXTERN const char *homing_decision_authority(
    const homing_decision_t *decision);
HOMING_EXTERN const char *homing_decision_key(const homing_decision_t *decision,
                                              size_t *len);
HOMING_EXTERN int homing_decision_lookup_source(
    const homing_decision_t *decision);
HOMING_EXTERN const char *homing_decision_route_name(
    const homing_decision_t *decision);
HOMING_EXTERN const char *homing_decision_cluster(
    const homing_decision_t *decision);

/**
 * homing_decision_upstream_sockaddr() - where to connect, as a sockaddr a
 * gateway hands to connect() or to its own upstream peer (nginx's
 * `ngx_peer_connection_t`) without parsing homing_decision_upstream().
 * @decision: a decision.
 * @len: set to the address's length (a sockaddr_in's or sockaddr_in6's), 0
 *   for a local reply; may be NULL.
 * @return an AF_INET or AF_INET6 address owned by the decision; NULL for a
 *   local reply.
 * Since: 0.1
 */
HOMING_EXTERN const struct sockaddr *homing_decision_upstream_sockaddr(
    const homing_decision_t *decision, size_t *len);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* HOMING_HOMING_H_ */
