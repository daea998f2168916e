// Session: the state MQTT keeps for one client id across connections: its subscriptions,
// the QoS 1/2 messages in flight to it or queued for it, and the QoS 2 packet ids it has
// sent us and not yet released. A connection attaches to it on CONNECT and detaches on close;
// a persistent session outlives its connections.
//
// Thread-safety: every public method is safe from any thread (one mutex per session).
// Deliveries arrive from the publishers' event loops; acknowledgements from the loop of the
// attached connection. Each attachment gets a generation number: calls made on behalf of a
// connection carry it, so a connection that has been taken over can no longer change the
// session.
#pragma once
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "broker/client_link.h"
#include "broker/limits.h"
#include "broker/message.h"
#include "broker/stats.h"
#include "broker/subscription_index.h"
#include "mqtt/types.h"

namespace mqbase::broker {

class Session {
 public:
  Session(std::string client_id, bool clean, const Limits& limits, Stats& stats);
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  const std::string& client_id() const { return client_id_; }
  bool clean() const;

  // Attaches `link` as the connection of this session, sends `connack` on it first, then
  // resends every unacknowledged message (PUBLISH with DUP, or PUBREL) in their original
  // order, then as much of the queue as the in-flight window allows. Returns the generation
  // that identifies this attachment. Any previous link must have been released.
  uint64_t attach(std::shared_ptr<ClientLink> link, mqtt::Version version, bool clean, std::string_view connack);

  // Releases the link for a takeover and returns it (null when none); the old connection's
  // later calls no longer match the generation.
  std::shared_ptr<ClientLink> release_link();

  // Detaches the connection of generation `gen`. Returns false when `gen` is not current
  // (the session was taken over), in which case nothing changes.
  bool detach(uint64_t gen);

  bool is_current(uint64_t gen) const;
  bool connected() const;

  // Routes `msg` to this session at `qos` (already the minimum of the message's and the
  // subscription's). `retain_flag` is the RETAIN bit to send: set for retained messages sent
  // on subscribe. QoS 0 goes out at once or is dropped when the connection is backed up or
  // absent; QoS 1/2 go out when the in-flight window has room, else wait in the queue, which
  // drops (and counts) the newest message when full.
  void deliver(const MessagePtr& msg, uint8_t qos, bool retain_flag);

  // Outgoing acknowledgements from the client of generation `gen`.
  void on_puback(uint64_t gen, uint16_t packet_id);   // QoS 1 done
  void on_pubrec(uint64_t gen, uint16_t packet_id);   // QoS 2 step 1: answers PUBREL
  void on_pubcomp(uint64_t gen, uint16_t packet_id);  // QoS 2 done

  // Incoming QoS 2: returns true the first time `packet_id` is seen (the message must be
  // routed), false for a resend before PUBREL (it must not be routed again).
  bool begin_incoming_qos2(uint16_t packet_id);
  // PUBREL received: forgets `packet_id`.
  void release_incoming_qos2(uint16_t packet_id);

  // Subscriptions as the session remembers them (the index holds the routing copy).
  void remember_subscription(const std::string& filter, SubscriptionOptions opts);
  void forget_subscription(const std::string& filter);
  std::map<std::string, SubscriptionOptions> take_subscriptions();

  size_t queued() const;
  size_t inflight() const;

 private:
  enum class InflightState : uint8_t { publish_sent, pubrel_sent };
  struct Inflight {
    uint16_t packet_id;
    InflightState state;
    uint8_t qos;
    bool retain;
    MessagePtr msg;
  };
  struct Queued {
    MessagePtr msg;
    uint8_t qos;
    bool retain;
  };

  uint16_t next_packet_id();
  void send_publish(const Inflight& f, bool dup);
  void send_pubrel(uint16_t packet_id);
  void pump();  // moves queued messages into the window while it has room
  size_t window() const;

  const std::string client_id_;
  const Limits& limits_;
  Stats& stats_;

  mutable std::mutex mutex_;
  bool clean_;
  std::shared_ptr<ClientLink> link_;
  mqtt::Version version_ = mqtt::Version::v311;
  uint64_t generation_ = 0;
  uint16_t last_packet_id_ = 0;
  std::vector<Inflight> inflight_;  // in send order
  std::deque<Queued> queue_;
  std::unordered_set<uint16_t> incoming_qos2_;
  std::map<std::string, SubscriptionOptions> subscriptions_;
};

}  // namespace mqbase::broker
