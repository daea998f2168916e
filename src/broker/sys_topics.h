// SysTopics: the broker's $SYS/broker/... tree, named as mosquitto names it so existing
// dashboards work. publish() routes the current figures as retained messages.
// Thread-safety: publish() from one thread at a time (the server's $SYS timer).
#pragma once
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
  std::unordered_map<std::string, std::string> last_;
};

}  // namespace mqbase::broker
