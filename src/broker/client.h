// Client: the MQTT protocol of one network connection, packet by packet — CONNECT admission
// (and MQTT 5 enhanced authentication), PUBLISH in (QoS 0/1/2, topic aliases, payload format),
// acknowledgements of PUBLISH out, SUBSCRIBE/UNSUBSCRIBE, PINGREQ, DISCONNECT, AUTH, the
// will, and the keep-alive and connect deadlines. It owns no socket: it is given decoded
// packets and answers through a ClientLink, so tests drive it in memory. One file per packet
// family: client_connect.cpp, client_publish.cpp, client_subscribe.cpp, client_auth.cpp.
//
// Thread-safety: not thread-safe. A Client is used only from the event loop that owns its
// connection. (Its Session and the Broker are shared and do their own locking.)
#pragma once
#include <chrono>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>

#include "auth/enhanced_auth.h"
#include "broker/broker.h"
#include "broker/client_link.h"
#include "broker/ring.h"
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

  // The connection sent bytes that do not decode: closes it (v5: DISCONNECT with the reason
  // first; the will is published).
  void on_decode_error(const mqtt::DecodeResult& error);

  // The connection sent a packet larger than the limit (v5: DISCONNECT 0x95).
  void on_packet_too_large();

  // The server ends this connection for `reason` (takeover, shutdown, ...): v5 clients get a
  // DISCONNECT with it. The will is published except on shutdown.
  void on_server_disconnect(mqtt::ReasonCode reason);

  // The server is shutting down: DISCONNECT 0x8B for v5, no will.
  void on_server_shutdown();

  // The connection is gone (for whatever reason). Publishes the will unless the client sent
  // DISCONNECT (normal), or schedules it after its Will Delay Interval, and detaches from
  // the session. Call exactly once.
  void on_closed();

  // True when the connection has outlived its deadline at `now`: no CONNECT within the
  // connect timeout, or nothing received within 1.5 times the keep-alive ([MQTT-3.1.2-24]).
  bool deadline_passed(Clock::time_point now) const;

  // The deadline passed: close the connection (v5: DISCONNECT 0x8D; the will is published).
  void on_deadline();

  // The connection has room to write again (after ClientLink::request_writable_notice()).
  void on_writable();

  // The store's durable LSN has reached `durable` (after ClientLink::await_durable()): the
  // packets held for records now on disk go out, in order.
  void on_durable(Lsn durable);

  bool connected() const { return session_ != nullptr; }
  mqtt::Version version() const { return version_; }
  // The client id while connected (the session's, so an assigned id once CONNACK is sent);
  // empty before CONNECT is accepted and after the connection has closed.
  const std::string& client_id() const;
  // The client id for log lines: "(not connected)" when there is no session.
  std::string_view log_id() const;

 private:
  // A CONNECT held while its enhanced authentication runs (the packet's views die with the
  // read buffer, so what is needed is copied).
  struct PendingConnect {
    ConnectRequest request;
    uint16_t keep_alive = 0;
    bool keep_alive_clamped = false;
    std::string username;  // the CONNECT's (empty: none), for the exchange
    bool problem_information = true;
    // A login by token: when the connection must end (its expiry plus the leeway).
    std::optional<std::chrono::system_clock::time_point> valid_until;
  };

  // client_connect.cpp
  // The v5 message properties of a PUBLISH or a will, copied into an owned Message.
  static void copy_message_properties(const mqtt::Properties& props, Message& m);
  void handle_connect(const mqtt::Connect& c);
  // Checks who the client is (the listener's policy, the password file or a token) and sets
  // p.request.username (and a token's grants and expiry). Returns false once it has refused
  // the CONNECT (its CONNACK maybe held back: a throttled address).
  bool admit(const mqtt::Connect& c, PendingConnect& p);
  // The will's topic against the ACL, once the user is known. Refuses the CONNECT and returns
  // false when the client may not write there.
  bool will_permitted(const PendingConnect& p);
  void refuse_login(mqtt::ReasonCode reason, std::chrono::milliseconds delay, std::string_view why,
                    std::string_view client_id, std::string_view listener);
  void finish_connect(PendingConnect& p, std::string_view auth_data);
  void refuse_connect(mqtt::ReasonCode reason, std::string_view why = {});
  // The client's login, and the client as the ACL knows it.
  auth::Identity login() const { return {username_, rare_ ? rare_->grants : nullptr}; }
  auth::AclSubject subject() const {
    return auth::AclSubject::of(client_id(), username_.get(), rare_ ? rare_->grants.get() : nullptr);
  }
  // client_publish.cpp
  void handle_publish(const mqtt::Publish& p);
  void handle_ack(const mqtt::PubAck& a);
  // `stamp`: set Message::received_ns (a sink takes it).
  MessagePtr make_routed_message(const mqtt::Publish& p, std::string_view topic, bool stamp) const;
  // A 3.x publisher whose message the store refused: closed unacknowledged.
  void refuse_unstored();
  // client_subscribe.cpp
  void handle_subscribe(const mqtt::Subscribe& s);
  void handle_unsubscribe(const mqtt::Unsubscribe& u);
  // Sends the retained messages still owed to the client's SUBSCRIBEs, while the connection
  // and the session's queue have room; the rest waits for on_writable() or an acknowledgement.
  void send_retained();
  // client_auth.cpp
  void handle_auth(const mqtt::Auth& a);
  void start_auth(std::string_view method, std::string_view data);
  void on_auth_step(const auth::AuthStep& step);
  // Ends the connection at `valid_until` (a token's expiry): v5 DISCONNECT 0xA0, 3.x closed.
  // A later call (re-authentication) replaces the earlier one's timer.
  void arm_token_expiry(std::chrono::system_clock::time_point valid_until);
  // client.cpp
  void handle_disconnect(const mqtt::Disconnect& d);
  void send(const mqtt::Packet& p, MessagePtr gate = nullptr);
  // Sends `bytes`, or holds them (and everything sent after them) until the records this
  // packet's handling wrote are on disk (sync mode; Persistence::tracker()). `gate`: the QoS 1
  // message this PUBACK acknowledges; it may then also go once every copy that counts in
  // gate->unsettled has been acknowledged by its subscriber, those copies' records on disk or not.
  void send_durable(std::string_view bytes, MessagePtr gate = nullptr);
  // The LSN what this packet's handling wrote must reach before its answer goes out (0: none,
  // or already durable; always 0 unless the store is in sync mode). `what`: which of the
  // tracker's LSNs (settled_by_ack: the copies an acknowledgement may make moot).
  Lsn durable_needed(Lsn Persistence::Tracker::*what = &Persistence::Tracker::needed) const;
  // What waits in the gate: packet bytes, the start of the session (its CONNACK), or the close
  // that follows a DISCONNECT.
  enum class Held : uint8_t { bytes, start_session, close };
  // Holds `what` until the durable LSN reaches `lsn`; with a `gate`, also once it reaches
  // `hard` and gate->unsettled is 0.
  void hold(Lsn lsn, Held what, std::string_view bytes = {}, MessagePtr gate = nullptr, Lsn hard = 0);
  // Closes once what this packet's handling wrote is on disk (after DISCONNECT: a crash must
  // not bring back the will or the session the client has just discarded).
  void close_when_durable();
  // Sends a CONNACK / DISCONNECT that may carry a Reason String, leaving the string out when
  // the packet would exceed the client's Maximum Packet Size ([MQTT-3.1.2-24/25]).
  template <typename P>
  void send_with_reason_string(P packet, std::string_view why);
  void close();  // close without DISCONNECT from the client: the will stays armed
  // Ends the connection for `reason`: v5 gets a DISCONNECT first.
  void disconnect_with(mqtt::ReasonCode reason, std::string_view why = {});
  void arm_keep_alive(Clock::time_point now);
  bool v5() const { return version_ == mqtt::Version::v5; }


  // State most connections never use, allocated on first use so an idle connection stays
  // small: incoming topic aliases (v5) and enhanced authentication.
  struct Rare {
    std::unordered_map<uint16_t, std::string> topic_aliases;  // bounded by Limits::topic_alias_maximum
    std::string auth_method;                                  // set once AUTH is in use
    std::unique_ptr<auth::AuthExchange> auth_exchange;        // an exchange in progress
    std::optional<PendingConnect> pending_connect;            // CONNECT held during its AUTH
    std::shared_ptr<const auth::TokenGrants> grants;          // a token's grants (null: none)
    uint64_t token_timer = 0;  // the expiry timer in force: an older one firing does nothing
    std::deque<Undelivered> retained_backlog;                 // retained messages not yet sent
    // Packets waiting for their records to be on disk, in send order (sync mode).
    struct Waiting {
      Lsn lsn;
      Held what;
      std::string bytes;
      Lsn hard = 0;      // with a gate: what it needs once its copies are all acknowledged
      MessagePtr gate;   // a QoS 1 PUBACK that may go early (send_durable)
      bool ready(Lsn durable) const {
        return lsn <= durable || (gate && hard <= durable && gate->unsettled.n.load(std::memory_order_acquire) == 0);
      }
    };
    Ring<Waiting> held;  // a ring keeps its buffer: a deque allocated a block every few acks
    Lsn held_lsn = 0;         // the highest LSN a held packet waits for
    Lsn held_hard = 0;        // ... not counting records that acknowledged copies make moot
    bool input_held = false;  // ClientLink::hold_input(true) is in force
  };
  Rare& rare() {
    if (!rare_) rare_ = std::make_unique<Rare>();
    return *rare_;
  }
  bool connect_pending() const { return rare_ && rare_->pending_connect; }
  std::string_view auth_method() const { return rare_ ? std::string_view(rare_->auth_method) : std::string_view(); }

  // One Client per connection, most of them idle: members are ordered largest alignment first
  // so there is no padding between them.
  Broker& broker_;
  std::shared_ptr<ClientLink> link_;
  std::shared_ptr<Session> session_;  // set once CONNECT is accepted; holds the client id
  std::shared_ptr<const std::string> username_;  // as authenticated (null: none)
  uint64_t generation_ = 0;
  // The will of this connection (msg null: none in CONNECT, or discarded). Its session keeps
  // a copy for its record on disk; this one decides what happens when the connection ends,
  // taken over or not.
  Will will_;
  Clock::time_point deadline_;  // CONNECT timeout, then 1.5 keep-alives after the last packet
  std::unique_ptr<Rare> rare_;
  uint32_t peer_max_packet_size_ = 0;  // v5 client's Maximum Packet Size, 0 = none
  uint32_t connect_session_expiry_ = 0;
  uint16_t keep_alive_ = 0;  // seconds, as granted; 0 = none
  mqtt::Version version_ = mqtt::Version::v311;
  bool problem_information_ = true;  // v5 Request Problem Information
  bool closing_ = false;
};

}  // namespace mqbase::broker
