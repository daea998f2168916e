// BlockingClient: a small synchronous MQTT 3.1/3.1.1/5 client over a plain TCP socket, used by
// `mqbase pub` and `mqbase sub`. It speaks the same codec as the server. Every error the
// server reports (a refused CONNACK, a DISCONNECT, a PUBACK/PUBREC/PUBCOMP or SUBACK with a
// failure code, a closed connection) is thrown as a ClientError that names it. One thread only.
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

// What went wrong, for a person to read, and the exit status a command should end with:
// the CONNACK return / reason code when the server refused the connection (as mosquitto_pub
// and mosquitto_sub do), 1 for everything else.
class ClientError : public std::runtime_error {
 public:
  explicit ClientError(const std::string& what, int exit_status = 1)
      : std::runtime_error(what), exit_status_(exit_status) {}
  int exit_status() const { return exit_status_; }

 private:
  int exit_status_;
};

class BlockingClient {
 public:
  explicit BlockingClient(ClientOptions options);
  ~BlockingClient();
  BlockingClient(const BlockingClient&) = delete;
  BlockingClient& operator=(const BlockingClient&) = delete;

  // Connects and waits for CONNACK. Throws ClientError with the refusal reason, its exit
  // status the CONNACK code.
  void connect();
  // Publishes and, for QoS 1/2, waits for the end of the acknowledgement flow. Throws
  // ClientError, before sending, on a topic that is not a valid topic name, and on an
  // acknowledgement with an error reason code (v5; 0x10 No matching subscribers is success).
  void publish(const std::string& topic, const std::string& payload, uint8_t qos, bool retain,
               const PublishProperties& props = {});
  // Subscribes to each filter at `qos`; returns the granted codes. Throws ClientError, before
  // sending, on an invalid filter, and when the SUBACK refuses any filter (a code >= 0x80).
  std::vector<uint8_t> subscribe(const std::vector<std::string>& filters, uint8_t qos);
  // Waits until the server has handled everything sent so far: sends PINGREQ and waits for
  // PINGRESP. The server handles a connection's packets in order, so an error it found in an
  // earlier packet (a QoS 0 PUBLISH has no acknowledgement of its own) comes first, as a
  // DISCONNECT or a closed connection, and throws ClientError.
  void sync();
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
  // Reads until one packet is decoded or `deadline` passes; returns false on timeout, or when
  // `extra_fd` is readable (then *extra_ready is set). What the server sent is read before
  // extra_fd is looked at, so its DISCONNECT is seen even while extra_fd is always ready.
  // Throws ClientError on a DISCONNECT, a closed connection or a malformed packet.
  bool read_packet(mqtt::Packet& out, std::chrono::steady_clock::time_point deadline, int extra_fd = -1,
                   bool* extra_ready = nullptr);
  // Decodes the next whole packet already in rbuf_; false when there is none yet.
  bool next_buffered_packet(mqtt::Packet& out);
  // A send failed with `err`: the server has closed the connection. Throws its DISCONNECT
  // when one is waiting in the socket (it says why), or else a "connection closed" error.
  [[noreturn]] void throw_send_failure(int err);
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
