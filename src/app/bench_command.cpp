// `mqbase bench <scenario>`: the load generator (src/bench), in the spirit of emqtt-bench.
// Each scenario is a sub-subcommand with the same flags; the run itself is bench::Runner.
#include <cstdio>
#include <memory>

#include "app/commands.h"
#include "bench/plan.h"
#include "bench/runner.h"

namespace mqbase::app {
namespace {

struct BenchFlags {
  bench::BenchOptions opt;
  std::string version = "4";
  int qos = 0;
};

const char* kFooter = R"(Examples:
  mqbase bench conn -c 5000 --rate 2000 --duration 30      hold 5000 connections
  mqbase bench pub -c 8 --rate 80000 --qos 1 -t 'bench/%i' 8 publishers, 10k msg/s each
  mqbase bench sub -c 4 --filter 'bench/#'                  4 subscribers, loss per publisher
  mqbase bench fanin -c 16 --size 64                        16 publishers -> 1 subscriber
  mqbase bench fanin -c 16 --storm 5000                     the same, undisturbed, then while 5000
                                                            clients/s connect, subscribe, disconnect
  mqbase bench fanout -c 16                                 1 publisher -> 16 subscribers
  mqbase bench p2p -c 100 --qos 1 --inflight 32             100 publisher -> subscriber pairs
  mqbase bench latency --rate 10000 --json                  p50/p99/p99.9 at 10k msg/s

Each run prints a summary (or, with --json, one JSON line) and exits 1 if a connection
failed or was lost. See docs/benchmarks.md.)";

struct ScenarioHelp {
  bench::Scenario scenario;
  const char* name;
  const char* description;
  const char* count_help;
};

const ScenarioHelp kScenarios[] = {
    {bench::Scenario::conn, "conn", "Open N connections at --rate per second and hold them for --duration",
     "Connections (default 1000)"},
    {bench::Scenario::pub, "pub", "P publishers at --rate msg/s in total, or as fast as they may",
     "Publishers (default 1)"},
    {bench::Scenario::sub, "sub", "N subscribers to --filter; loss and order per publisher seen",
     "Subscribers (default 1)"},
    {bench::Scenario::fanin, "fanin", "P publishers -> 1 subscriber", "Publishers (default 16)"},
    {bench::Scenario::fanout, "fanout", "1 publisher -> N subscribers", "Subscribers (default 16)"},
    {bench::Scenario::p2p, "p2p", "P pairs: publisher i -> subscriber i on its own topic", "Pairs (default 16)"},
    {bench::Scenario::latency, "latency", "Pairs at a fixed --rate; reports p50/p99/p99.9 latency",
     "Pairs (default 1)"},
};

int run_bench(BenchFlags& f) {
  const std::string& v = f.version;
  if (v == "3" || v == "31" || v == "mqttv31") {
    f.opt.version = mqtt::Version::v31;
  } else if (v == "5" || v == "mqttv5") {
    f.opt.version = mqtt::Version::v5;
  } else {
    f.opt.version = mqtt::Version::v311;
  }
  f.opt.qos = static_cast<uint8_t>(f.qos);
  if (f.opt.scenario == bench::Scenario::latency && f.opt.rate <= 0) f.opt.rate = 1000;
  try {
    bench::Runner runner(f.opt);
    bench::Report report = runner.run();
    if (f.opt.json) {
      std::printf("%s\n", bench::to_json(report).c_str());
    } else {
      std::printf("%s", bench::to_text(report).c_str());
    }
    std::fflush(stdout);
    if (!report.error.empty() && f.opt.json) std::fprintf(stderr, "mqbase bench: %s\n", report.error.c_str());
    return report.ok() ? 0 : 1;
  } catch (const bench::PlanError& e) {
    std::fprintf(stderr, "mqbase bench: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mqbase bench: %s\n", e.what());
    return 1;
  }
}

void add_flags(CLI::App* cmd, BenchFlags& f, const ScenarioHelp& s) {
  auto& o = f.opt;
  cmd->set_help_flag("--help", "Print this help");
  cmd->add_option("-h,--host", o.host, "Broker host (default 127.0.0.1)");
  cmd->add_option("-p,--port", o.port, "Broker port (default 1883)");
  cmd->add_option("-V,--protocol-version", f.version, "MQTT version: 3 (3.1), 4 (3.1.1, default) or 5")
      ->check(CLI::IsMember({"3", "4", "5", "31", "311", "mqttv31", "mqttv311", "mqttv5"}));
  cmd->add_option("-u,--username", o.username, "User name");
  cmd->add_option("-P,--password", o.password, "Password");
  cmd->add_flag("--tls", o.tls, "MQTT over TLS, without verifying the broker's certificate");
  cmd->add_option("--cafile", o.cafile, "MQTT over TLS, the broker's certificate verified against this CA file")
      ->check(CLI::ExistingFile);
  cmd->add_option("-c,--count", o.count, s.count_help)->check(CLI::Range(1u, 10'000'000u));
  cmd->add_option("--rate", o.rate,
                  s.scenario == bench::Scenario::conn
                      ? "Connections opened per second (default: as fast as --max-pending allows)"
                      : "Messages per second over all publishers (default: as fast as the window allows;"
                        " latency: 1000)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("-d,--duration", o.duration_s, "Seconds measured (conn: seconds held), default 10")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--threads", o.threads, "Event loops (threads), default 1")->check(CLI::Range(1u, 256u));
  cmd->add_option("--connect-timeout", o.connect_timeout_s, "Seconds allowed to set up every connection (30)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--max-pending", o.max_pending_connects, "Connection handshakes in progress at once (256)")
      ->check(CLI::Range(1u, 100'000u));
  cmd->add_option("-k,--keepalive", o.keep_alive_s, "Keep-alive seconds (60); PINGREQ at half of it");
  cmd->add_flag("--json", o.json, "Print one JSON line instead of the summary");
  cmd->add_flag("--quiet", o.quiet, "No progress lines on stderr");
  cmd->add_option("--ready-file", o.ready_file, "Write {\"pid\", \"connected\", \"failed\"} here once all are up");
  cmd->add_option("--broker-pid", o.broker_pid, "Also measure this process's CPU over the run (same machine)");
  if (s.scenario == bench::Scenario::conn) return;
  cmd->add_option("-q,--qos", f.qos, "QoS of publications and subscriptions: 0, 1 or 2")->check(CLI::Range(0, 2));
  cmd->add_option("-w,--warmup", o.warmup_s, "Seconds of publishing before the measurement (default 0)")
      ->check(CLI::NonNegativeNumber);
  if (s.scenario != bench::Scenario::sub) {
    cmd->add_option("-s,--size", o.size, "Payload bytes, at least 16 (default 64)")->check(CLI::Range(16u, 256u << 20));
    cmd->add_option("--inflight", o.inflight,
                    "Window per publisher: unacknowledged QoS 1/2 messages, and messages not yet received by"
                    " its subscribers (default 32)")
        ->check(CLI::Range(1u, 65535u));
    cmd->add_option("-t,--topic", o.topic, "Topic pattern, %i = publisher index (default bench/<run>/%i)");
    cmd->add_option("--drain", o.drain_s, "At most this many seconds waiting for messages in flight (10)")
        ->check(CLI::NonNegativeNumber);
  }
  if (s.scenario != bench::Scenario::pub) {
    cmd->add_flag("--persistent", o.persistent_subscribers,
                  "Subscribers keep their session (clean session 0 / Session Expiry 300 s): a durable broker "
                  "then stores every message before acknowledging it");
    cmd->add_option("--filter", o.filter, "Subscription filter (default: derived from the topic; sub: bench/#)");
  }
  if (s.scenario != bench::Scenario::pub && s.scenario != bench::Scenario::sub) {
    cmd->add_option("--storm", o.storm_rate,
                    "After --duration undisturbed, --duration more while this many clients per second connect,"
                    " subscribe and disconnect (clean session); reports both rates")
        ->check(CLI::PositiveNumber);
    cmd->add_option("--storm-filters", o.storm_filters, "Filters each storm client subscribes to (default 10)")
        ->check(CLI::Range(1u, 1000u));
  }
}

}  // namespace

void add_bench_command(CLI::App& app) {
  auto* bench_cmd = app.add_subcommand("bench", "Load generator: connections, throughput, latency, loss");
  bench_cmd->set_help_flag("--help", "Print this help");
  bench_cmd->require_subcommand(1);
  bench_cmd->footer(kFooter);
  for (const auto& s : kScenarios) {
    auto flags = std::make_shared<BenchFlags>();
    flags->opt.scenario = s.scenario;
    auto* cmd = bench_cmd->add_subcommand(s.name, s.description);
    add_flags(cmd, *flags, s);
    cmd->callback([flags] { set_exit_code(run_bench(*flags)); });
  }
}

}  // namespace mqbase::app
