// Report: the outcome of one `mqbase bench` run, and its two renderings: one JSON line for
// scripts (bench/compare.sh) and a short text summary for people. Plain data; the format
// functions are pure.
#pragma once
#include <cstdint>
#include <string>

#include "bench/bench_options.h"

namespace mqbase::bench {

struct Report {
  Scenario scenario = Scenario::fanin;
  int qos = 0;
  uint32_t size = 0;
  int protocol = 4;  // MQTT protocol level: 3, 4 or 5
  uint32_t publishers = 0;
  uint32_t subscribers = 0;
  uint32_t connections = 0;  // attempted (all roles)
  uint32_t connected = 0;    // reached CONNACK (and SUBACK for subscribers)
  uint32_t connect_failures = 0;
  uint32_t disconnects = 0;  // connections lost after they were up
  uint64_t sent = 0;         // PUBLISH packets written by the publishers (warm-up included)
  uint64_t acked = 0;        // PUBACK / PUBCOMP received (QoS 1 / 2)
  uint64_t lost_acked = 0;   // deliveries the broker acknowledged (QoS 1 / 2) that never arrived
  uint64_t received = 0;     // PUBLISH packets the subscribers received, duplicates included
  uint64_t expected = 0;     // deliveries that should have happened
  uint64_t lost = 0;         // expected - received once
  uint64_t duplicates = 0;
  uint64_t reordered = 0;
  uint64_t foreign = 0;      // received messages without a bench payload header
  double msgs_per_sec = 0;   // deliveries per second in the measured window (pub: sent per second)
  double sent_per_sec = 0;   // messages published per second in the measured window
  double p50_us = 0, p99_us = 0, p999_us = 0, max_us = 0, mean_us = 0;
  double connect_p50_us = 0, connect_p99_us = 0, connect_max_us = 0;
  double connects_per_sec = 0;  // connections set up per second, from the first socket to the last CONNACK
  double duration_s = 0;     // the measured window
  double bench_cpu_pct = -1;   // this process's CPU over the window (100 = one core)
  double broker_cpu_pct = -1;  // --broker-pid's CPU over the window; < 0 when not sampled
  double broker_cpu_s = -1;
  uint64_t stalls = 0;       // publisher windows given up after a second without deliveries
  uint64_t ack_errors = 0;   // MQTT 5 acknowledgements carrying a failure reason code
  bool interrupted = false;  // ended early by SIGINT / SIGTERM

  // The storm (storm_rate > 0): the measured window is an undisturbed (calm) half followed by
  // a half under the storm, each --duration long; the other figures cover both halves.
  double storm_rate = 0;             // clients per second asked for
  uint32_t storm_filters = 0;        // filters per client
  uint64_t storm_clients = 0;        // connected, subscribed and disconnected
  uint64_t storm_failures = 0;       // refused, or lost before their SUBACK and close
  double storm_clients_per_sec = 0;  // clients done within the storm half, per second
  double storm_subscribe_p50_us = 0, storm_subscribe_p99_us = 0;  // TCP connect -> SUBACK
  double calm_msgs_per_sec = 0, storm_msgs_per_sec = 0;           // delivered per second, per half
  double calm_bench_cpu_pct = -1, storm_bench_cpu_pct = -1;
  double calm_broker_cpu_pct = -1, storm_broker_cpu_pct = -1;     // with --broker-pid
  // storm_msgs_per_sec / calm_msgs_per_sec (0 when nothing was delivered undisturbed).
  double storm_ratio() const { return calm_msgs_per_sec > 0 ? storm_msgs_per_sec / calm_msgs_per_sec : 0; }
  std::string error;         // the first problem worth telling the user, "" when none

  // Exit status: 0 when the run did what it was asked (every connection up, none lost).
  bool ok() const { return connect_failures == 0 && disconnects == 0 && error.empty(); }
};

// One line, no trailing newline. Always has scenario, qos, size, publishers, subscribers,
// sent, received, expected, lost, duplicates, reordered, msgs_per_sec, p50_us, p99_us,
// p999_us, duration_s; more keys after those (the storm_* and calm_* keys with a storm only).
std::string to_json(const Report& r);

// A few lines for a terminal.
std::string to_text(const Report& r);

}  // namespace mqbase::bench
