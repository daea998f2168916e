#include "bench/runner.h"

#include <fmt/format.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

#include "bench/clock.h"
#include "bench/plan.h"
#include "bench/process_stats.h"
#include "bench/run_context.h"
#include "bench/worker.h"

namespace mqbase::bench {
namespace {

std::atomic<bool> g_interrupted{false};

void on_signal(int) { g_interrupted.store(true); }

void sleep_until_ns(int64_t when) {
  while (!g_interrupted.load()) {
    int64_t left = when - now_ns();
    if (left <= 0) return;
    std::this_thread::sleep_for(std::chrono::nanoseconds(std::min<int64_t>(left, 10'000'000)));
  }
}

std::string run_token() {
  return fmt::format("{:x}{:x}", ::getpid() & 0xFFFFF, static_cast<uint64_t>(now_ns() / 1000) & 0xFFFF);
}

// Resolves host:port into ctx.addr. Returns "" or the error text.
std::string resolve(const BenchOptions& o, RunContext& ctx) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  int rc = ::getaddrinfo(o.host.c_str(), std::to_string(o.port).c_str(), &hints, &res);
  if (rc != 0 || res == nullptr) return fmt::format("cannot resolve '{}': {}", o.host, ::gai_strerror(rc));
  std::memcpy(&ctx.addr, res->ai_addr, res->ai_addrlen);
  ctx.addr_len = res->ai_addrlen;
  ::freeaddrinfo(res);
  ctx.addr_text = fmt::format("{}:{}", o.host, o.port);
  return "";
}

// The client side of MQTT over TLS: TLS 1.2 or later, the broker's certificate verified
// against o.cafile when given. Null with *error on failure.
SSL_CTX* make_tls_context(const BenchOptions& o, std::string* error) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  if (!ctx) {
    *error = "TLS: cannot create a context";
    return nullptr;
  }
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  // The output buffer may move between a partial write and its retry.
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
  if (!o.cafile.empty()) {
    if (SSL_CTX_load_verify_locations(ctx, o.cafile.c_str(), nullptr) != 1) {
      char buf[256];
      ERR_error_string_n(ERR_get_error(), buf, sizeof buf);
      *error = fmt::format("--cafile {}: {}", o.cafile, buf);
      SSL_CTX_free(ctx);
      return nullptr;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  } else {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
  }
  return ctx;
}

std::string si(double v) {
  if (v >= 1e6) return fmt::format("{:.2f} M", v / 1e6);
  if (v >= 1e3) return fmt::format("{:.1f} k", v / 1e3);
  return fmt::format("{:.0f} ", v);
}

struct LiveSums {
  uint64_t sent = 0, acked = 0, received = 0, unique = 0, expected = 0, delivered = 0, sent_in_window = 0,
           storm_clients = 0;
  bool operator==(const LiveSums&) const = default;
};

LiveSums live_sums(const std::vector<std::unique_ptr<Worker>>& workers) {
  LiveSums s;
  for (const auto& w : workers) {
    s.sent += w->live_sent.load(std::memory_order_relaxed);
    s.acked += w->live_acked.load(std::memory_order_relaxed);
    s.received += w->live_received.load(std::memory_order_relaxed);
    s.unique += w->live_unique.load(std::memory_order_relaxed);
    s.expected += w->live_expected.load(std::memory_order_relaxed);
    s.delivered += w->live_delivered_in_window.load(std::memory_order_relaxed);
    s.sent_in_window += w->live_sent_in_window.load(std::memory_order_relaxed);
    s.storm_clients += w->live_storm_clients.load(std::memory_order_relaxed);
  }
  return s;
}

void write_ready_file(const std::string& path, uint32_t ready, uint32_t failed) {
  std::string tmp = path + ".tmp";
  std::ofstream(tmp) << fmt::format("{{\"pid\": {}, \"connected\": {}, \"failed\": {}}}\n", ::getpid(), ready, failed);
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
}

}  // namespace

unsigned long raise_open_file_limit() {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) return 0;
  if (rl.rlim_cur < rl.rlim_max) {
    rlimit want = rl;
    want.rlim_cur = rl.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &want) == 0) rl = want;
  }
  return static_cast<unsigned long>(rl.rlim_cur);
}

Report Runner::run() {
  const BenchOptions& o = options_;
  Plan plan = make_plan(o, run_token());
  Report report;
  report.scenario = o.scenario;
  report.qos = o.qos;
  report.size = o.size;
  report.protocol = static_cast<int>(o.version);
  report.publishers = static_cast<uint32_t>(plan.publishers.size());
  report.subscribers = static_cast<uint32_t>(plan.subscribers.size());
  report.connections = static_cast<uint32_t>(plan.connections());
  report.storm_rate = plan.storm.clients_per_sec;
  report.storm_filters = plan.storm.filters;
  const bool storm = plan.storm.clients_per_sec > 0;

  unsigned long nofile = raise_open_file_limit();
  if (plan.connections() + 64 > nofile) {
    report.error = fmt::format(
        "{} connections need more open files than this process may have ({}): run them over several processes",
        plan.connections(), nofile);
    report.connect_failures = report.connections;
    return report;
  }

  RunContext ctx(o, plan);
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> tls(nullptr, SSL_CTX_free);
  std::string err = resolve(o, ctx);
  if (err.empty() && (o.tls || !o.cafile.empty())) {
    tls.reset(make_tls_context(o, &err));
    ctx.tls = tls.get();
  }
  if (!err.empty()) {
    report.error = err;
    report.connect_failures = report.connections;
    return report;
  }
  ctx.subscribers.resize(plan.subscribers.size());
  for (const auto& s : plan.subscribers) {
    auto& streams = ctx.subscribers[s.id];
    streams.first = s.publisher_first;
    streams.known = plan.streams_known;
    for (uint32_t i = 0; i < s.publisher_count; ++i) streams.streams.push_back(std::make_unique<Stream>(true));
  }

  unsigned threads = std::max(1u, std::min<unsigned>(o.threads, static_cast<unsigned>(std::max<size_t>(1, plan.connections()))));
  std::vector<std::unique_ptr<Worker>> workers;
  for (unsigned t = 0; t < threads; ++t) {
    workers.push_back(std::make_unique<Worker>(ctx, t));
    ctx.workers.push_back(workers.back().get());
  }
  // Subscribers first, so they are subscribed before the publishers' turn comes.
  size_t k = 0;
  for (const auto& s : plan.subscribers) workers[k++ % threads]->add_subscriber(s);
  for (const auto& p : plan.publishers) workers[k++ % threads]->add_publisher(p);
  for (uint32_t i = 0; i < plan.idle_connections; ++i) workers[k++ % threads]->add_idle(i);

  g_interrupted.store(false);
  auto old_int = std::signal(SIGINT, on_signal);
  auto old_term = std::signal(SIGTERM, on_signal);
  bool progress = !o.json && !o.quiet;
  for (auto& w : workers) w->start();

  // Connect.
  const uint32_t total = report.connections;
  const int64_t connect_begin = now_ns();
  int64_t connect_deadline = connect_begin + static_cast<int64_t>(o.connect_timeout_s * 1e9);
  int64_t next_line = now_ns() + 1'000'000'000;
  while (!g_interrupted.load()) {
    uint32_t done = ctx.ready.load() + ctx.failed.load();
    if (done >= total) {
      // How fast the broker sets connections up (with --tls: full handshakes per second).
      double secs = static_cast<double>(now_ns() - connect_begin) / 1e9;
      if (secs > 0) report.connects_per_sec = ctx.ready.load() / secs;
      break;
    }
    int64_t now = now_ns();
    if (now >= connect_deadline) {
      ctx.note_error(fmt::format("{} of {} connections were not up after {:.0f} s", total - done, total,
                                 o.connect_timeout_s));
      break;
    }
    if (progress && now >= next_line) {
      std::fprintf(stderr, "connecting: %u of %u up, %u failed\n", ctx.ready.load(), total, ctx.failed.load());
      next_line += 1'000'000'000;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  uint32_t ready = ctx.ready.load();
  bool setup_ok = ready == total;
  if (!o.ready_file.empty()) write_ready_file(o.ready_file, ready, total - ready);

  // Publish (or hold) for warm-up + duration.
  int64_t start = now_ns();
  ctx.start_ns = start;
  ctx.measure_begin_ns = start + static_cast<int64_t>(o.warmup_s * 1e9);
  // With a storm the window is two halves of --duration: undisturbed, then under the storm.
  const auto half_ns = static_cast<int64_t>(o.duration_s * 1e9);
  ctx.storm_begin_ns = ctx.measure_begin_ns + half_ns;  // == end_ns without a storm
  ctx.end_ns = ctx.measure_begin_ns + (storm ? 2 * half_ns : half_ns);
  bool run_it = !g_interrupted.load() && (setup_ok || (o.scenario == Scenario::conn && ready > 0));
  int64_t stop_at = start;
  double broker_cpu0 = -1, self_cpu0 = 0;
  double broker_cpu_storm = -1, self_cpu_storm = -1;  // at storm_begin_ns
  bool window_started = false;
  if (run_it) {
    ctx.phase.store(Phase::running, std::memory_order_release);
    for (auto& w : workers) w->wake();
    sleep_until_ns(ctx.measure_begin_ns);
    if (!g_interrupted.load()) {
      window_started = true;
      if (o.broker_pid > 0) broker_cpu0 = process_cpu_seconds(o.broker_pid).value_or(-1);
      self_cpu0 = self_cpu_seconds();
    }
    LiveSums last = live_sums(workers);
    int64_t line_at = now_ns() + 1'000'000'000;
    int64_t last_line_at = now_ns();
    bool storm_sampled = !storm || !window_started;
    while (!g_interrupted.load() && now_ns() < ctx.end_ns) {
      sleep_until_ns(std::min({ctx.end_ns, line_at, storm_sampled ? ctx.end_ns : ctx.storm_begin_ns}));
      if (!storm_sampled && now_ns() >= ctx.storm_begin_ns) {
        storm_sampled = true;
        self_cpu_storm = self_cpu_seconds();
        if (broker_cpu0 >= 0) broker_cpu_storm = process_cpu_seconds(o.broker_pid).value_or(-1);
      }
      if (now_ns() < line_at) continue;
      line_at += 1'000'000'000;
      if (progress && now_ns() < ctx.end_ns) {
        LiveSums now = live_sums(workers);
        double secs = static_cast<double>(now_ns() - ctx.start_ns) / 1e9;
        if (o.scenario == Scenario::conn) {
          std::fprintf(stderr, "%5.1f s  %u connections up\n", secs, ctx.ready.load());
        } else {
          std::string storm_note;  // of the second since the last line
          if (storm && last_line_at < ctx.storm_begin_ns) storm_note = "  (undisturbed)";
          if (storm && last_line_at >= ctx.storm_begin_ns)
            storm_note = fmt::format("  storm {}clients/s", si(static_cast<double>(now.storm_clients - last.storm_clients)));
          std::fprintf(stderr, "%5.1f s  sent %smsg/s  received %smsg/s%s\n", secs,
                       si(static_cast<double>(now.sent - last.sent)).c_str(),
                       si(static_cast<double>(now.received - last.received)).c_str(), storm_note.c_str());
        }
        last = now;
        last_line_at = now_ns();
      }
    }
    stop_at = std::min(now_ns(), ctx.end_ns);
    if (window_started) {
      double window = static_cast<double>(stop_at - ctx.measure_begin_ns) / 1e9;
      if (window > 0) {
        double self_cpu1 = self_cpu_seconds();
        report.bench_cpu_pct = (self_cpu1 - self_cpu0) / window * 100.0;
        double cpu1 = broker_cpu0 >= 0 ? process_cpu_seconds(o.broker_pid).value_or(-1) : -1;
        if (cpu1 >= 0) {
          report.broker_cpu_s = cpu1 - broker_cpu0;
          report.broker_cpu_pct = report.broker_cpu_s / window * 100.0;
        }
        double calm_s = static_cast<double>(ctx.storm_begin_ns - ctx.measure_begin_ns) / 1e9;
        double storm_s = static_cast<double>(stop_at - ctx.storm_begin_ns) / 1e9;
        if (self_cpu_storm >= 0 && calm_s > 0 && storm_s > 0) {
          report.calm_bench_cpu_pct = (self_cpu_storm - self_cpu0) / calm_s * 100.0;
          report.storm_bench_cpu_pct = (self_cpu1 - self_cpu_storm) / storm_s * 100.0;
          if (broker_cpu_storm >= 0 && cpu1 >= 0) {
            report.calm_broker_cpu_pct = (broker_cpu_storm - broker_cpu0) / calm_s * 100.0;
            report.storm_broker_cpu_pct = (cpu1 - broker_cpu_storm) / storm_s * 100.0;
          }
        }
      }
    }

    // Drain: wait for what is still in flight, until complete, quiet for a second, or --drain.
    ctx.phase.store(Phase::draining, std::memory_order_release);
    bool needs_drain = (!plan.subscribers.empty() && plan.streams_known) || (o.qos > 0 && !plan.publishers.empty());
    if (needs_drain && !g_interrupted.load()) {
      int64_t deadline = now_ns() + static_cast<int64_t>(o.drain_s * 1e9);
      LiveSums prev = live_sums(workers);
      int64_t changed_at = now_ns();
      int complete_checks = 0;
      while (!g_interrupted.load() && now_ns() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
        LiveSums s = live_sums(workers);
        bool complete = (plan.subscribers.empty() || !plan.streams_known || s.unique >= s.expected) &&
                        (o.qos == 0 || s.acked >= s.sent);
        complete_checks = complete ? complete_checks + 1 : 0;
        if (complete_checks >= 3) break;
        if (!(s == prev)) {
          prev = s;
          changed_at = now_ns();
        } else if (now_ns() - changed_at > 1'000'000'000) {
          break;
        }
      }
    }
  }

  ctx.phase.store(Phase::closing, std::memory_order_release);
  for (auto& w : workers) w->wake();
  for (auto& w : workers) w->join();
  std::signal(SIGINT, old_int);
  std::signal(SIGTERM, old_term);

  // Aggregate.
  std::vector<uint64_t> sent(plan.publishers.size()), acked(plan.publishers.size());
  LatencyHistogram latency, connect_latency;
  LatencyHistogram storm_latency;
  uint64_t delivered = 0, sent_in_window = 0, ack_errors = 0, stalls = 0, delivered_in_storm = 0, storm_clients_in_window = 0;
  for (auto& w : workers) {
    w->collect(sent, acked);
    const WorkerTotals& t = w->totals();
    report.received += t.received;
    report.foreign += t.foreign;
    report.connected += t.connected;
    report.disconnects += t.disconnects;
    delivered += t.delivered_in_window;
    sent_in_window += t.sent_in_window;
    ack_errors += t.ack_errors;
    stalls += t.stalls;
    latency.merge(t.latency);
    connect_latency.merge(t.connect_latency);
    delivered_in_storm += t.delivered_in_storm;
    report.storm_clients += t.storm_clients;
    storm_clients_in_window += t.storm_clients_in_window;
    report.storm_failures += t.storm_failures;
    storm_latency.merge(t.storm_latency);
  }
  for (size_t i = 0; i < sent.size(); ++i) {
    report.sent += sent[i];
    report.acked += acked[i];
  }
  uint64_t unique = 0, span = 0;
  std::vector<StreamReceipt> receipts;
  for (const auto& s : ctx.subscribers) {
    for (size_t k = 0; k < s.streams.size(); ++k) {
      const auto& st = s.streams[k];
      if (!st) continue;
      if (plan.streams_known) receipts.push_back({static_cast<uint32_t>(s.first + k), st->tracker.unique()});
      unique += st->tracker.unique();
      span += st->tracker.span();
      report.duplicates += st->tracker.duplicates();
      report.reordered += st->tracker.reordered();
    }
  }
  report.expected = plan.streams_known ? expected_deliveries(plan, sent) : span;
  report.lost = report.expected > unique ? report.expected - unique : 0;
  if (o.qos > 0) report.lost_acked = lost_after_ack(acked, receipts);
  report.connect_failures = total - std::min(total, ready);
  double window = run_it ? static_cast<double>(stop_at - ctx.measure_begin_ns) / 1e9 : 0.0;
  if (o.scenario == Scenario::conn) window = run_it ? static_cast<double>(stop_at - start) / 1e9 : 0.0;
  report.duration_s = std::max(0.0, window);
  if (report.duration_s > 0) {
    report.sent_per_sec = static_cast<double>(sent_in_window) / report.duration_s;
    report.msgs_per_sec = plan.subscribers.empty() ? report.sent_per_sec : static_cast<double>(delivered) / report.duration_s;
  }
  if (storm && run_it) {
    double calm_s = static_cast<double>(std::min(stop_at, ctx.storm_begin_ns) - ctx.measure_begin_ns) / 1e9;
    double storm_s = static_cast<double>(stop_at - ctx.storm_begin_ns) / 1e9;
    if (calm_s > 0) report.calm_msgs_per_sec = static_cast<double>(delivered - delivered_in_storm) / calm_s;
    if (storm_s > 0) {
      report.storm_msgs_per_sec = static_cast<double>(delivered_in_storm) / storm_s;
      report.storm_clients_per_sec = static_cast<double>(storm_clients_in_window) / storm_s;
    }
  }
  report.storm_subscribe_p50_us = static_cast<double>(storm_latency.percentile(50)) / 1e3;
  report.storm_subscribe_p99_us = static_cast<double>(storm_latency.percentile(99)) / 1e3;
  report.p50_us = static_cast<double>(latency.percentile(50)) / 1e3;
  report.p99_us = static_cast<double>(latency.percentile(99)) / 1e3;
  report.p999_us = static_cast<double>(latency.percentile(99.9)) / 1e3;
  report.max_us = static_cast<double>(latency.max()) / 1e3;
  report.mean_us = latency.mean() / 1e3;
  report.connect_p50_us = static_cast<double>(connect_latency.percentile(50)) / 1e3;
  report.connect_p99_us = static_cast<double>(connect_latency.percentile(99)) / 1e3;
  report.connect_max_us = static_cast<double>(connect_latency.max()) / 1e3;
  report.stalls = stalls;
  report.ack_errors = ack_errors;
  std::string error = ctx.first_error();
  if (report.connect_failures > 0 && !error.empty())
    error = fmt::format("{} of {} connections failed; first: {}", report.connect_failures, total, error);
  report.error = error;
  report.interrupted = g_interrupted.load();
  return report;
}

}  // namespace mqbase::bench
