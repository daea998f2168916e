// SysTopics: the broker's $SYS/broker/... tree, named as mosquitto names it so existing
// dashboards work. publish() routes the current figures as retained messages; the server
// calls it every sys.interval and, through Broker::refresh_sys(), when a client subscribes
// to $SYS, so a new reader never gets values older than its SUBSCRIBE.
// Thread-safety: publish() from any thread (one mutex: calls are rare and short).
#pragma once
#include <mutex>
#include <string>
#include <unordered_map>

#include "broker/broker.h"

namespace mqbase::broker {

class SysTopics {
 public:
  explicit SysTopics(Broker& broker) : broker_(broker) {}
  // Publishes every $SYS topic whose value changed since the last call (all on the first).
  void publish();

 private:
  void put(const std::string& topic, std::string value);
  Broker& broker_;
  std::mutex mutex_;  // serialises publish(): last_, and the order of the values routed
  std::unordered_map<std::string, std::string> last_;
};

}  // namespace mqbase::broker
