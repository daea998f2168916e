// The broker's view of a network connection: bytes out and a way to close it. net::Connection
// implements it; tests implement it in memory. The broker never includes net.
// Thread-safety: every method may be called from any thread.
#pragma once
#include <cstddef>
#include <string_view>

#include "mqtt/reason_code.h"

namespace mqbase::broker {

class ClientLink {
 public:
  virtual ~ClientLink() = default;

  // Queues `bytes` (one or more whole packets) for sending, in call order. When `droppable`
  // and the connection already holds more unsent bytes than its limit, nothing is queued and
  // false is returned (QoS 0 to a slow reader). Returns false too once the link is closed.
  virtual bool send(std::string_view bytes, bool droppable) = 0;

  // Closes the connection once the bytes queued so far are written. Idempotent.
  virtual void close() = 0;

  // The server ends the connection for `reason`: an MQTT 5 client is sent DISCONNECT with
  // it first (takeover 0x8E, shutdown 0x8B, ...). Idempotent.
  virtual void disconnect(mqtt::ReasonCode reason) { close(); }
};

}  // namespace mqbase::broker
