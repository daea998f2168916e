// Plan: who connects in a run, what each publisher publishes to and which subscribers
// receive it. Built from BenchOptions before any socket is opened, so the accounting (which
// streams exist, how many deliveries each message should make) is known up front and can be
// tested without a broker. Pure data and functions, safe from any thread.
//
// The streams of every scenario are contiguous ranges: subscriber j receives from publishers
// [publisher_first, publisher_first + publisher_count), publisher i reaches subscribers
// [subscriber_first, subscriber_first + subscriber_count).
#pragma once
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "bench/bench_options.h"

namespace mqbase::bench {

struct PublisherPlan {
  uint32_t id = 0;
  std::string topic;
  uint32_t subscriber_first = 0;
  uint32_t subscriber_count = 0;
};

struct SubscriberPlan {
  uint32_t id = 0;
  std::string filter;
  uint32_t publisher_first = 0;
  uint32_t publisher_count = 0;  // 0 with streams_known == false: learnt from the payloads
};

// The storm: short-lived clients that connect, subscribe and disconnect while the scenario's
// publishers publish. Their filters live under `prefix` and match no topic of the run.
struct StormPlan {
  double clients_per_sec = 0;  // 0 = no storm
  uint32_t filters = 0;        // per client, in one SUBSCRIBE
  std::string prefix;          // "bench/<run token>/storm"
};

struct Plan {
  std::vector<PublisherPlan> publishers;
  std::vector<SubscriberPlan> subscribers;
  uint32_t idle_connections = 0;  // conn
  StormPlan storm;
  // True when publishers and subscribers are both in this run, so every stream starts at
  // sequence 0 and the expected deliveries are known; false for `sub` (publishers elsewhere).
  bool streams_known = true;
  // True when publishers wait for their subscribers (end-to-end flow control).
  bool end_to_end = true;

  size_t connections() const { return publishers.size() + subscribers.size() + idle_connections; }
};

// Thrown for options that make no plan (a topic pattern the default filter cannot be derived
// from, a payload too small for the header, ...). what() is the message for the user.
struct PlanError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// `run_token` makes the default topics of one run unique ("bench/<token>/..."), so two runs
// against one broker do not see each other's messages.
Plan make_plan(const BenchOptions& o, std::string_view run_token);

// The pattern with every %i replaced by `index`.
std::string expand_topic(std::string_view pattern, uint32_t index);

// A filter matching every expansion of `pattern`: the topic levels holding %i become "+".
// Throws PlanError when %i is only part of a level ("dev%i/temp").
std::string filter_for_pattern(std::string_view pattern);

// Deliveries the run should make: each publisher's sent count times its subscriber count.
uint64_t expected_deliveries(const Plan& plan, std::span<const uint64_t> sent_per_publisher);

// What one subscriber received from one publisher, counting each message once.
struct StreamReceipt {
  uint32_t publisher = 0;
  uint64_t received_once = 0;
};

// Deliveries lost after the broker acknowledged them (QoS 1/2): over the streams, the
// publisher's acknowledged count minus what the stream's subscriber received once, never below
// 0. A broker acknowledges QoS 1/2 in the order it received the messages, so at the end of a
// drained run these are messages the broker took responsibility for and then dropped.
uint64_t lost_after_ack(std::span<const uint64_t> acked_per_publisher, std::span<const StreamReceipt> streams);

// The filters storm client `client` subscribes to: `plan.storm.filters` of them under the storm
// prefix, unique to the client, some with '+' and '#' so wildcard nodes of the broker's index
// change too. None matches a topic the run publishes to.
std::vector<std::string> storm_filters(const Plan& plan, uint64_t client);

// The scenario's default for BenchOptions::count.
uint32_t default_count(Scenario s);

}  // namespace mqbase::bench
