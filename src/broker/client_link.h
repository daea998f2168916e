// The broker's view of a network connection: bytes out and a way to close it. net::Connection
// implements it; tests implement it in memory. The broker never includes net.
// Thread-safety: every method may be called from any thread.
#pragma once
#include <chrono>
#include <cstddef>
#include <functional>
#include <string>
#include <cstdint>
#include <string_view>

#include "mqtt/reason_code.h"
#include "mqtt/types.h"

namespace mqbase::broker {

// How a send may be treated.
enum class SendMode : uint8_t {
  reliable,   // never dropped (acknowledgements, QoS 1/2, CONNACK, ...)
  droppable,  // QoS 0: dropped when the connection is backed up
  // QoS 0 whose bytes stand alone (no topic alias set up by an earlier packet): dropped when
  // backed up, and may be batched by the calling thread, so it keeps its order only with the
  // other sends of that thread.
  droppable_batched,
};

// What the connected client allows us to send (MQTT 5 CONNECT properties; 3.x: defaults).
struct PeerLimits {
  mqtt::Version version = mqtt::Version::v311;
  uint16_t receive_maximum = 65535;
  uint32_t maximum_packet_size = 0;  // 0 = no limit beyond the protocol's
  uint16_t topic_alias_maximum = 0;
};

// What the listener a link came in through says about its clients, for authentication.
struct LinkSecurity {
  // The listener lets a client connect without credentials (docs/security.md: by default
  // only a loopback listener does).
  bool allow_anonymous = true;
  std::string transport = "tcp";  // "tcp", "tls", "ws" or "wss"
  // The identity a TLS client certificate proved (its subject CN, else its first SAN); "" when
  // the client sent none or the transport is not TLS.
  std::string cert_identity;
  // The listener's use_identity_as_username: cert_identity is the client's user name, and a
  // client without a certificate is refused.
  bool identity_as_username = false;
  std::string listener;  // the listener's address ("127.0.0.1:1883"), for logs
};

class ClientLink {
 public:
  virtual ~ClientLink() = default;

  // What the client on this link accepts. Set once by Session::attach before the link is
  // shared with other threads and constant afterwards, so it is read without a lock.
  PeerLimits peer;

  // Queues `bytes` (one or more whole packets) for sending, in call order (but see
  // droppable_batched). A droppable send on a connection that already holds more unsent bytes
  // than its limit queues nothing and returns false (QoS 0 to a slow reader). Returns false
  // too once the link is closed.
  virtual bool send(std::string_view bytes, SendMode mode) = 0;

  // Closes the connection once the bytes queued so far are written. Idempotent.
  virtual void close() = 0;

  // The server ends the connection for `reason`: an MQTT 5 client is sent DISCONNECT with
  // it first (takeover 0x8E, shutdown 0x8B, ...). Idempotent.
  virtual void disconnect(mqtt::ReasonCode reason) { close(); }

  // Backpressure. The client on this link published into a session that is over its queue
  // limit: stop handling its PUBLISH (and everything after it) until resume_reading(), while
  // its acknowledgements keep being handled, so a client that feeds itself, or two that feed
  // each other, do not wait on each other forever. pause_reading() from the link's own event
  // loop; resume_reading() from any thread (it takes effect on the link's loop, after any
  // pause_reading() already made there).
  virtual void pause_reading() {}
  virtual void resume_reading() {}

  // Bytes queued on this link and not yet written, for pacing a long series of sends to the
  // speed of the client. Any thread; a hint, not exact.
  virtual size_t unsent_bytes() const { return 0; }
  // Asks for Client::on_writable() on the link's loop once the unsent bytes have fallen below
  // half of Limits::max_write_buffer. Any thread (from another one it is posted to the loop).
  virtual void request_writable_notice() {}

  // Durability (sync mode). Asks for Client::on_durable() on the link's loop once the store's
  // durable LSN has reached `lsn`. From any thread (from another loop it is posted).
  virtual void await_durable(uint64_t lsn) {}
  // Asks for Client::on_durable() on the link's loop soon, whatever the durable LSN: a held
  // PUBACK may go because its message reached every subscriber (Message::unsettled). From any
  // thread; wakes that come while one is pending are one.
  virtual void wake_durable() {}
  // While on, the client's packets other than acknowledgements are not handled (too many of
  // its acknowledgements wait for the disk). From the link's loop.
  virtual void hold_input(bool on) {}
  // The peer's address ("127.0.0.1:50522", "[::1]:50522"), for views of the clients; "" when
  // there is none (tests, in-memory links).
  virtual std::string peer_address() const { return {}; }
  // The listener's authentication settings and what the transport proved. Called on the
  // link's loop, once the client has sent CONNECT (after any TLS handshake).
  virtual LinkSecurity security() const { return {}; }
  // Runs `fn` on the link's loop after `delay` (a throttled CONNACK for a failed login), unless
  // the link has closed by then. Called from the link's loop. The default (in-memory links)
  // runs it at once.
  virtual void defer(std::chrono::milliseconds delay, std::function<void()> fn) {
    (void)delay;
    fn();
  }
};

}  // namespace mqbase::broker
