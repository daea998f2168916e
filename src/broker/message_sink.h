// MessageSink: what takes a PUBLISH besides its subscribers: the ingest of telemetry into
// tables (ingest/ingest.h). The broker asks wants() of every PUBLISH it receives from a client
// (cheaply: a topic prefix) and, for those wanted, calls take() on the publisher's event loop
// before routing the message to subscribers, who still receive it as from any broker.
//
// take() writes what it keeps through the store; each record it writes raises
// Persistence::tracker() (and a refusal sets its `refused`), so the publisher's PUBACK or
// PUBREC waits for the rows as it waits for the broker's own records. An error it reports goes
// back to an MQTT 5 publisher as the acknowledgement's reason code and reason string.
//
// Thread-safety: wants() and take() are called from every event loop at once.
#pragma once
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "broker/message.h"
#include "mqtt/reason_code.h"

namespace mqbase::broker {

class MessageSink {
 public:
  struct Publisher {
    std::string_view client_id;
    uint8_t protocol = 4;  // 3, 4 or 5
  };
  struct Outcome {
    mqtt::ReasonCode reason = mqtt::ReasonCode::success;  // an error: the acknowledgement's code (v5)
    std::string reason_string;                            // why, for the publisher
  };

  virtual ~MessageSink() = default;
  virtual bool wants(std::string_view topic) const = 0;
  virtual Outcome take(const Message& m, const Publisher& publisher) = 0;
  // Figures for $SYS/broker/<name> (e.g. {"ingest/rows", "1200"}), published with the broker's.
  virtual std::vector<std::pair<std::string, std::string>> sys_figures() const { return {}; }
};

}  // namespace mqbase::broker
