// BlockingClient: a small synchronous MQTT 3.1/3.1.1 client over a plain TCP socket, used by
// `mqbase pub` and `mqbase sub`. It speaks the same codec as the server. One thread only.
#pragma once
#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "mqtt/packet.h"

namespace mqbase::client {

struct ClientOptions {
  std::string host = "127.0.0.1";
  uint16_t port = 1883;
  std::string client_id;  // empty: let the server assign one
  bool clean_session = true;
  uint16_t keep_alive = 60;
  std::optional<std::string> username;
  std::optional<std::string> password;
  std::optional<std::string> will_topic;
  std::string will_payload;
  uint8_t will_qos = 0;
  bool will_retain = false;
  mqtt::Version version = mqtt::Version::v311;
  uint32_t session_expiry = 0;  // v5 Session Expiry Interval
};

// MQTT 5 properties of a PUBLISH (ignored at 3.x).
struct PublishProperties {
  std::vector<std::pair<std::string, std::string>> user;
  std::optional<std::string> response_topic;
  std::optional<std::string> correlation_data;
  std::optional<std::string> content_type;
  std::optional<uint32_t> message_expiry;
  bool empty() const { return user.empty() && !response_topic && !correlation_data && !content_type && !message_expiry; }
};

struct ReceivedMessage {
  std::string topic;
  std::string payload;
  uint8_t qos = 0;
  bool retain = false;
  PublishProperties props;              // v5
  std::vector<uint32_t> subscription_ids;  // v5
};

class ClientError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class BlockingClient {
 public:
  explicit BlockingClient(ClientOptions options);
  ~BlockingClient();
  BlockingClient(const BlockingClient&) = delete;
  BlockingClient& operator=(const BlockingClient&) = delete;

  // Connects and waits for CONNACK. Throws ClientError with the refusal reason.
  void connect();
  // Publishes and, for QoS 1/2, waits for the end of the acknowledgement flow.
  void publish(const std::string& topic, const std::string& payload, uint8_t qos, bool retain,
               const PublishProperties& props = {});
  // Subscribes to each filter at `qos`; returns the granted codes. Throws on a 0x80.
  std::vector<uint8_t> subscribe(const std::vector<std::string>& filters, uint8_t qos);
  // Waits up to `timeout` for an application message, answering acknowledgements and keeping
  // the connection alive meanwhile. nullopt on timeout. Throws ClientError when the
  // connection ends.
  std::optional<ReceivedMessage> receive(std::chrono::milliseconds timeout);
  // Keeps the connection alive while the caller waits on `fd` (e.g. stdin); returns when fd
  // is readable. Messages arriving meanwhile are discarded.
  void wait_readable(int fd);
  void disconnect();

 private:
  void send_packet(const mqtt::Packet& p);
  // Reads until one packet is decoded or `deadline` passes; returns false on timeout.
  bool read_packet(mqtt::Packet& out, std::chrono::steady_clock::time_point deadline, int extra_fd = -1,
                   bool* extra_ready = nullptr);
  void ping_if_due();
  uint16_t next_id();
  void handle_incoming_publish(const mqtt::Publish& p, std::optional<ReceivedMessage>& out);

  ClientOptions opt_;
  std::deque<ReceivedMessage> early_;  // messages that arrived while waiting for an ack
  int fd_ = -1;
  std::string rbuf_;
  size_t consumed_ = 0;  // bytes of rbuf_ belonging to the packet last returned
  uint16_t last_id_ = 0;
  std::chrono::steady_clock::time_point last_sent_;
};

}  // namespace mqbase::client
