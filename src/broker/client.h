// Client: the MQTT protocol of one network connection, packet by packet — CONNECT admission,
// PUBLISH in (QoS 0/1/2), acknowledgements of PUBLISH out, SUBSCRIBE/UNSUBSCRIBE, PINGREQ,
// DISCONNECT, the will, and the keep-alive and connect deadlines. It owns no socket: it is
// given decoded packets and answers through a ClientLink, so tests drive it in memory.
//
// Thread-safety: not thread-safe. A Client is used only from the event loop that owns its
// connection. (Its Session and the Broker are shared and do their own locking.)
#pragma once
#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "broker/broker.h"
#include "broker/client_link.h"
#include "mqtt/decoder.h"
#include "mqtt/packet.h"

namespace mqbase::broker {

class Client {
 public:
  using Clock = std::chrono::steady_clock;

  Client(Broker& broker, std::shared_ptr<ClientLink> link, Clock::time_point now);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Handles one decoded packet received at `now`.
  void on_packet(mqtt::Packet& packet, Clock::time_point now);

  // The connection sent bytes that do not decode: closes it (the will is published).
  void on_decode_error(const mqtt::DecodeResult& error);

  // The connection sent a packet larger than the limit.
  void on_packet_too_large();

  // The connection is gone (for whatever reason). Publishes the will unless the client sent
  // DISCONNECT, and detaches from the session. Call exactly once.
  void on_closed();

  // True when the connection has outlived its deadline at `now`: no CONNECT within the
  // connect timeout, or nothing received within 1.5 times the keep-alive ([MQTT-3.1.2-24]).
  bool deadline_passed(Clock::time_point now) const;

  // The server is shutting down: close without publishing the will.
  void on_server_shutdown();

  // The deadline passed: close the connection (the will is published).
  void on_deadline();

  bool connected() const { return session_ != nullptr; }
  mqtt::Version version() const { return version_; }
  const std::string& client_id() const { return client_id_; }

 private:
  struct OwnedWill {
    std::string topic;
    std::string payload;
    uint8_t qos;
    bool retain;
  };

  void handle_connect(const mqtt::Connect& c);
  void handle_publish(const mqtt::Publish& p);
  void handle_ack(const mqtt::PubAck& a);
  void handle_subscribe(const mqtt::Subscribe& s);
  void handle_unsubscribe(const mqtt::Unsubscribe& u);
  void handle_disconnect(const mqtt::Disconnect& d);

  void send(const mqtt::Packet& p);
  void close();  // close without DISCONNECT from the client: the will stays armed
  void refuse_connect(mqtt::ReasonCode reason);

  Broker& broker_;
  std::shared_ptr<ClientLink> link_;
  mqtt::Version version_ = mqtt::Version::v311;
  std::string client_id_;
  std::shared_ptr<Session> session_;
  uint64_t generation_ = 0;
  std::optional<OwnedWill> will_;
  Clock::time_point last_received_;
  Clock::time_point deadline_;
  uint64_t keep_alive_ms_ = 0;
  bool closing_ = false;
};

}  // namespace mqbase::broker
