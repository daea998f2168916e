// BenchOptions: everything one `mqbase bench` run is told on the command line. Plain data,
// filled by src/app/bench_command.cpp and read by Plan and Runner.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "mqtt/types.h"

namespace mqbase::bench {

enum class Scenario {
  conn,     // N connections opened at --rate per second, held for --duration
  pub,      // P publishers, no subscribers in this process
  sub,      // N subscribers to --filter, publishers elsewhere
  fanin,    // P publishers -> 1 subscriber
  fanout,   // 1 publisher -> N subscribers
  p2p,      // P pairs: publisher i -> subscriber i on its own topic
  latency,  // like p2p at a fixed --rate; the figure of merit is the latency percentiles
};

std::string_view scenario_name(Scenario s);
std::optional<Scenario> scenario_from_name(std::string_view name);

struct BenchOptions {
  Scenario scenario = Scenario::fanin;
  std::string host = "127.0.0.1";
  uint16_t port = 1883;
  mqtt::Version version = mqtt::Version::v311;
  std::string username;
  std::string password;
  uint8_t qos = 0;
  uint32_t size = 64;       // payload bytes, >= kPayloadHeaderSize
  uint32_t count = 0;       // the scenario's main number (see Plan); 0 = the scenario's default
  double rate = 0;          // total messages/s over all publishers (conn: connections/s); 0 = unlimited
  uint32_t inflight = 32;   // flow-control window per publisher
  double duration_s = 10;   // measured time (conn: how long connections are held)
  double warmup_s = 0;      // publishing before the measurement starts
  double drain_s = 10;      // at most this long waiting for outstanding messages after the end
  double connect_timeout_s = 30;
  unsigned threads = 1;     // event loops
  uint32_t max_pending_connects = 256;  // handshakes in progress at once, over all loops
  uint16_t keep_alive_s = 60;
  std::string topic;        // publish topic pattern, %i = publisher index ("" = scenario default)
  std::string filter;       // subscription filter ("" = scenario default)
  bool json = false;        // one JSON line on stdout instead of the text report
  bool quiet = false;       // no progress lines on stderr
  int broker_pid = 0;       // > 0: sample this process's CPU time over the measured window
  std::string ready_file;   // written once every connection is up (or failed)
  // The storm (combined scenarios only): > 0 doubles the measured window: --duration
  // undisturbed, then --duration while this many clients per second connect, subscribe to
  // storm_filters filters each and disconnect (clean session), so the two rates can be compared.
  double storm_rate = 0;
  uint32_t storm_filters = 10;
  // Subscribers keep their session (3.x clean session 0, MQTT 5 Session Expiry 300 s), so a
  // durable broker stores what it routes to them before acknowledging it.
  bool persistent_subscribers = false;
  // MQTT over TLS: every connection does a full handshake first (no session resumption, as a
  // fleet of devices coming up would). cafile: verify the broker's certificate against it (and
  // its name against host); empty with tls: no verification.
  bool tls = false;
  std::string cafile;
};

}  // namespace mqbase::bench
