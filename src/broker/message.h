// An application message as the broker routes it: immutable once built and shared by
// reference count between every subscriber, queue and the retained store (never copied per
// subscriber). Safe to read from any thread.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

namespace mqbase::broker {

struct Message {
  std::string topic;
  std::string payload;
  uint8_t qos = 0;      // QoS the publisher sent it with
  bool retain = false;  // the publisher's retain flag
};

using MessagePtr = std::shared_ptr<const Message>;

inline MessagePtr make_message(std::string topic, std::string payload, uint8_t qos, bool retain) {
  return std::make_shared<const Message>(Message{std::move(topic), std::move(payload), qos, retain});
}

}  // namespace mqbase::broker
