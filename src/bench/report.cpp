#include "bench/report.h"

#include <fmt/format.h>

namespace mqbase::bench {
namespace {

std::string json_string(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          out += fmt::format("\\u{:04x}", static_cast<unsigned>(c));
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

std::string si(double v) {
  if (v >= 1e6) return fmt::format("{:.2f} M", v / 1e6);
  if (v >= 1e3) return fmt::format("{:.1f} k", v / 1e3);
  return fmt::format("{:.0f} ", v);
}

}  // namespace

std::string to_json(const Report& r) {
  std::string s = fmt::format(
      "{{\"scenario\": \"{}\", \"qos\": {}, \"size\": {}, \"publishers\": {}, \"subscribers\": {}, "
      "\"sent\": {}, \"received\": {}, \"expected\": {}, \"lost\": {}, \"duplicates\": {}, \"reordered\": {}, "
      "\"msgs_per_sec\": {:.1f}, \"p50_us\": {:.1f}, \"p99_us\": {:.1f}, \"p999_us\": {:.1f}, \"duration_s\": {:.3f}",
      scenario_name(r.scenario), r.qos, r.size, r.publishers, r.subscribers, r.sent, r.received, r.expected, r.lost,
      r.duplicates, r.reordered, r.msgs_per_sec, r.p50_us, r.p99_us, r.p999_us, r.duration_s);
  s += fmt::format(
      ", \"protocol\": {}, \"sent_per_sec\": {:.1f}, \"acked\": {}, \"lost_acked\": {}, \"foreign\": {}, \"max_us\": {:.1f}, "
      "\"mean_us\": {:.1f}, \"connections\": {}, \"connected\": {}, \"connect_failures\": {}, \"disconnects\": {}, "
      "\"connect_p50_us\": {:.1f}, \"connect_p99_us\": {:.1f}, \"connect_max_us\": {:.1f}, "
      "\"connects_per_sec\": {:.1f}",
      r.protocol, r.sent_per_sec, r.acked, r.lost_acked, r.foreign, r.max_us, r.mean_us, r.connections, r.connected,
      r.connect_failures, r.disconnects, r.connect_p50_us, r.connect_p99_us, r.connect_max_us, r.connects_per_sec);
  if (r.bench_cpu_pct >= 0) s += fmt::format(", \"bench_cpu_pct\": {:.1f}", r.bench_cpu_pct);
  if (r.broker_cpu_pct >= 0)
    s += fmt::format(", \"broker_cpu_pct\": {:.1f}, \"broker_cpu_s\": {:.3f}", r.broker_cpu_pct, r.broker_cpu_s);
  s += fmt::format(", \"stalls\": {}, \"ack_errors\": {}, \"interrupted\": {}", r.stalls, r.ack_errors,
                   r.interrupted ? "true" : "false");
  if (r.storm_rate > 0) {
    s += fmt::format(
        ", \"storm_rate\": {:.1f}, \"storm_filters\": {}, \"storm_clients\": {}, \"storm_failures\": {}, "
        "\"storm_clients_per_sec\": {:.1f}, \"storm_subscribe_p50_us\": {:.1f}, \"storm_subscribe_p99_us\": {:.1f}, "
        "\"calm_msgs_per_sec\": {:.1f}, \"storm_msgs_per_sec\": {:.1f}, \"storm_ratio\": {:.4f}",
        r.storm_rate, r.storm_filters, r.storm_clients, r.storm_failures, r.storm_clients_per_sec,
        r.storm_subscribe_p50_us, r.storm_subscribe_p99_us, r.calm_msgs_per_sec, r.storm_msgs_per_sec,
        r.storm_ratio());
    if (r.calm_bench_cpu_pct >= 0)
      s += fmt::format(", \"calm_bench_cpu_pct\": {:.1f}, \"storm_bench_cpu_pct\": {:.1f}", r.calm_bench_cpu_pct,
                       r.storm_bench_cpu_pct);
    if (r.calm_broker_cpu_pct >= 0)
      s += fmt::format(", \"calm_broker_cpu_pct\": {:.1f}, \"storm_broker_cpu_pct\": {:.1f}", r.calm_broker_cpu_pct,
                       r.storm_broker_cpu_pct);
  }
  s += ", \"error\": " + json_string(r.error) + "}";
  return s;
}

std::string to_text(const Report& r) {
  std::string s = fmt::format("{} QoS {} MQTT level {}: {} publisher(s), {} subscriber(s), {} B payloads\n",
                              scenario_name(r.scenario), r.qos, r.protocol, r.publishers, r.subscribers, r.size);
  s += fmt::format(
      "  connections  {} of {} up, {} failed, {} lost later; connect p50 {:.0f} us, p99 {:.0f} us; {:.0f} set up per s\n",
      r.connected, r.connections, r.connect_failures, r.disconnects, r.connect_p50_us, r.connect_p99_us,
      r.connects_per_sec);
  if (r.scenario != Scenario::conn) {
    s += fmt::format("  throughput   {}msg/s delivered, {}msg/s sent over {:.2f} s\n", si(r.msgs_per_sec),
                     si(r.sent_per_sec), r.duration_s);
    s += fmt::format("  messages     sent {}, received {} of {} expected: lost {}, duplicates {}, reordered {}\n",
                     r.sent, r.received, r.expected, r.lost, r.duplicates, r.reordered);
    if (r.qos > 0)
      s += fmt::format("  acks         {} of {} sent acknowledged by the broker; {} acknowledged but never received\n",
                       r.acked, r.sent, r.lost_acked);
    if (r.storm_rate > 0) {
      s += fmt::format("  storm        {} clients/s asked, {:.0f}/s done: {} clients of {} filters, {} failed; "
                       "connect to SUBACK p50 {:.0f} us, p99 {:.0f} us\n",
                       r.storm_rate, r.storm_clients_per_sec, r.storm_clients, r.storm_filters, r.storm_failures,
                       r.storm_subscribe_p50_us, r.storm_subscribe_p99_us);
      s += fmt::format("  calm, storm  {}msg/s undisturbed, {}msg/s under the storm: {:.0f} % of the undisturbed rate\n",
                       si(r.calm_msgs_per_sec), si(r.storm_msgs_per_sec), r.storm_ratio() * 100.0);
    }
    s += fmt::format("  latency      p50 {:.1f} us, p99 {:.1f} us, p99.9 {:.1f} us, max {:.1f} us\n", r.p50_us,
                     r.p99_us, r.p999_us, r.max_us);
  } else {
    s += fmt::format("  held         {:.2f} s\n", r.duration_s);
  }
  if (r.bench_cpu_pct >= 0) s += fmt::format("  cpu          bench {:.0f} %", r.bench_cpu_pct);
  if (r.broker_cpu_pct >= 0) s += fmt::format(", broker {:.0f} %", r.broker_cpu_pct);
  if (r.bench_cpu_pct >= 0) s += "\n";
  if (r.storm_rate > 0 && r.calm_bench_cpu_pct >= 0) {
    s += fmt::format("  cpu by half  bench {:.0f} % calm, {:.0f} % storm", r.calm_bench_cpu_pct, r.storm_bench_cpu_pct);
    if (r.calm_broker_cpu_pct >= 0)
      s += fmt::format("; broker {:.0f} % calm, {:.0f} % storm", r.calm_broker_cpu_pct, r.storm_broker_cpu_pct);
    s += "\n";
  }
  if (!r.error.empty()) s += "  error        " + r.error + "\n";
  return s;
}

}  // namespace mqbase::bench
