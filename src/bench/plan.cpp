#include "bench/plan.h"

#include <stdexcept>

#include "bench/payload_header.h"

namespace mqbase::bench {

std::string_view scenario_name(Scenario s) {
  switch (s) {
    case Scenario::conn: return "conn";
    case Scenario::pub: return "pub";
    case Scenario::sub: return "sub";
    case Scenario::fanin: return "fanin";
    case Scenario::fanout: return "fanout";
    case Scenario::p2p: return "p2p";
    case Scenario::latency: return "latency";
  }
  return "?";
}

std::optional<Scenario> scenario_from_name(std::string_view name) {
  for (auto s : {Scenario::conn, Scenario::pub, Scenario::sub, Scenario::fanin, Scenario::fanout, Scenario::p2p,
                 Scenario::latency})
    if (scenario_name(s) == name) return s;
  return std::nullopt;
}

uint32_t default_count(Scenario s) {
  switch (s) {
    case Scenario::conn: return 1000;
    case Scenario::pub: return 1;
    case Scenario::sub: return 1;
    case Scenario::fanin: return 16;
    case Scenario::fanout: return 16;
    case Scenario::p2p: return 16;
    case Scenario::latency: return 1;
  }
  return 1;
}

std::string expand_topic(std::string_view pattern, uint32_t index) {
  std::string out;
  out.reserve(pattern.size() + 8);
  for (size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] == '%' && i + 1 < pattern.size() && pattern[i + 1] == 'i') {
      out += std::to_string(index);
      ++i;
    } else {
      out += pattern[i];
    }
  }
  return out;
}

std::string filter_for_pattern(std::string_view pattern) {
  std::string out;
  size_t start = 0;
  while (true) {
    size_t end = pattern.find('/', start);
    std::string_view level = pattern.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
    if (level.find("%i") != std::string_view::npos) {
      if (level != "%i")
        throw PlanError("cannot derive a subscription filter from topic pattern '" + std::string(pattern) +
                        "' (%i is only part of a level): give --filter");
      out += '+';
    } else {
      out += level;
    }
    if (end == std::string_view::npos) break;
    out += '/';
    start = end + 1;
  }
  return out;
}

Plan make_plan(const BenchOptions& o, std::string_view run_token) {
  if (o.scenario != Scenario::conn && o.scenario != Scenario::sub && o.size < kPayloadHeaderSize)
    throw PlanError("--size must be at least " + std::to_string(kPayloadHeaderSize) +
                    " bytes (the payload carries publisher id, sequence number and send time)");
  uint32_t n = o.count ? o.count : default_count(o.scenario);
  std::string prefix = "bench/" + std::string(run_token);
  Plan plan;
  auto add_publisher = [&](uint32_t id, std::string topic, uint32_t sub_first, uint32_t sub_count) {
    plan.publishers.push_back({id, std::move(topic), sub_first, sub_count});
  };
  auto add_subscriber = [&](uint32_t id, std::string filter, uint32_t pub_first, uint32_t pub_count) {
    plan.subscribers.push_back({id, std::move(filter), pub_first, pub_count});
  };
  switch (o.scenario) {
    case Scenario::conn:
      plan.idle_connections = n;
      break;
    case Scenario::pub: {
      std::string pattern = o.topic.empty() ? "bench/%i" : o.topic;
      for (uint32_t i = 0; i < n; ++i) add_publisher(i, expand_topic(pattern, i), 0, 0);
      plan.end_to_end = false;
      break;
    }
    case Scenario::sub: {
      std::string filter = o.filter.empty() ? "bench/#" : o.filter;
      for (uint32_t j = 0; j < n; ++j) add_subscriber(j, filter, 0, 0);
      plan.streams_known = false;
      plan.end_to_end = false;
      break;
    }
    case Scenario::fanin: {
      std::string pattern = o.topic.empty() ? prefix + "/%i" : o.topic;
      std::string filter = o.filter.empty() ? filter_for_pattern(pattern) : o.filter;
      for (uint32_t i = 0; i < n; ++i) add_publisher(i, expand_topic(pattern, i), 0, 1);
      add_subscriber(0, filter, 0, n);
      break;
    }
    case Scenario::fanout: {
      std::string topic = expand_topic(o.topic.empty() ? prefix + "/fanout" : o.topic, 0);
      std::string filter = o.filter.empty() ? topic : o.filter;
      add_publisher(0, topic, 0, n);
      for (uint32_t j = 0; j < n; ++j) add_subscriber(j, filter, 0, 1);
      break;
    }
    case Scenario::p2p:
    case Scenario::latency: {
      std::string pattern = o.topic.empty() ? prefix + "/%i" : o.topic;
      if (n > 1 && pattern.find("%i") == std::string::npos)
        throw PlanError("--topic needs %i with more than one pair, so each pair has its own topic");
      for (uint32_t i = 0; i < n; ++i) {
        std::string topic = expand_topic(pattern, i);
        add_publisher(i, topic, i, 1);
        add_subscriber(i, topic, i, 1);
      }
      break;
    }
  }
  if (o.storm_rate > 0) {
    if (o.scenario != Scenario::fanin && o.scenario != Scenario::fanout && o.scenario != Scenario::p2p &&
        o.scenario != Scenario::latency)
      throw PlanError("--storm needs publishers and subscribers in the run: fanin, fanout, p2p or latency");
    if (o.storm_filters == 0) throw PlanError("--storm-filters must be at least 1");
    plan.storm = {o.storm_rate, o.storm_filters, prefix + "/storm"};
  }
  return plan;
}

std::vector<std::string> storm_filters(const Plan& plan, uint64_t client) {
  std::string base = plan.storm.prefix + "/" + std::to_string(client) + "/";
  std::vector<std::string> out;
  out.reserve(plan.storm.filters);
  for (uint32_t k = 0; k < plan.storm.filters; ++k) {
    std::string n = std::to_string(k);
    switch (k % 5) {
      case 3: out.push_back(base + "+/s" + n); break;
      case 4: out.push_back(base + "f" + n + "/#"); break;
      default: out.push_back(base + "t" + n); break;
    }
  }
  return out;
}

uint64_t lost_after_ack(std::span<const uint64_t> acked_per_publisher, std::span<const StreamReceipt> streams) {
  uint64_t lost = 0;
  for (const auto& s : streams) {
    uint64_t acked = s.publisher < acked_per_publisher.size() ? acked_per_publisher[s.publisher] : 0;
    if (acked > s.received_once) lost += acked - s.received_once;
  }
  return lost;
}

uint64_t expected_deliveries(const Plan& plan, std::span<const uint64_t> sent_per_publisher) {
  uint64_t total = 0;
  for (size_t i = 0; i < plan.publishers.size() && i < sent_per_publisher.size(); ++i)
    total += sent_per_publisher[i] * plan.publishers[i].subscriber_count;
  return total;
}

}  // namespace mqbase::bench
