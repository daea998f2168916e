#include "broker/sys_topics.h"

#include <fmt/format.h>

namespace mqbase::broker {

void SysTopics::put(const std::string& topic, std::string value) {
  auto& last = last_[topic];
  if (last == value) return;
  last = value;
  broker_.publish(make_message(topic, std::move(value), 0, true));
}

void SysTopics::publish() {
  std::lock_guard lock(mutex_);
  auto& s = broker_.stats();
  auto uptime = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - broker_.started());
  uint64_t connected = Stats::get(s.clients_connected);
  uint64_t total = Stats::get(s.clients_total);
  put("$SYS/broker/version", "mqbase " MQBASE_VERSION);
  put("$SYS/broker/uptime", fmt::format("{} seconds", uptime.count()));
  // Totals before "connected", so a reader that waits for "connected" sees the same cycle's total.
  put("$SYS/broker/clients/total", std::to_string(total));
  put("$SYS/broker/clients/disconnected", std::to_string(total > connected ? total - connected : 0));
  put("$SYS/broker/clients/connected", std::to_string(connected));
  put("$SYS/broker/clients/active", std::to_string(connected));
  put("$SYS/broker/messages/received", std::to_string(Stats::get(s.messages_received)));
  put("$SYS/broker/messages/sent", std::to_string(Stats::get(s.messages_sent)));
  put("$SYS/broker/publish/messages/received", std::to_string(s.publish_received_total()));
  put("$SYS/broker/publish/messages/sent", std::to_string(s.publish_sent_total()));
  put("$SYS/broker/publish/messages/dropped", std::to_string(Stats::get(s.publish_dropped)));
  put("$SYS/broker/auth/login_failures", std::to_string(Stats::get(s.login_failures)));
  put("$SYS/broker/auth/acl_denied", std::to_string(Stats::get(s.acl_denied)));
  put("$SYS/broker/bytes/received", std::to_string(Stats::get(s.bytes_received)));
  put("$SYS/broker/bytes/sent", std::to_string(Stats::get(s.bytes_sent)));
  put("$SYS/broker/subscriptions/count", std::to_string(broker_.subscriptions().size()));
  put("$SYS/broker/retained messages/count", std::to_string(broker_.retained().size()));
  put("$SYS/broker/retained messages/refused", std::to_string(broker_.retained().refused()));
  if (const MessageSink* sink = broker_.sink())
    for (auto& [name, value] : sink->sys_figures()) put("$SYS/broker/" + name, value);
}

}  // namespace mqbase::broker
